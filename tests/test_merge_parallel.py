"""One merge of parallel atoms per map (issue 14): the bilinear maps' rank-one merge
(:func:`homfact.maps.merge_bilinear_parallel`, hook ``Bilinear.merge_parallel``) and the CP
map's own, reached through :func:`homfact.interfaces.merge_parallel`."""

from __future__ import annotations

import numpy as np
import pytest

from homfact import interfaces
from homfact.gauges import L1, L2, NonNegative
from homfact.maps import (
    Bilinear,
    CPMap,
    DictionaryBilinear,
    MaskedBilinear,
    merge_bilinear_parallel,
    parallel_groups,
    rank_one_merge,
)
from homfact.problems import StructuredProblem
from homfact.solvers.nmf_merge import merge_parallel_columns
from homfact.solvers.refit import _merge_parallel


def _penalty(gauges, factors) -> float:
    return float(np.sum(gauges[0].value(factors[0]) * gauges[1].value(factors[1])))


def _with_duplicates(rng, m: int, n: int, nonneg: bool):
    """Five slices: 0, 2 and 4 the same atom (scales 1, 2.5, 0.3), 1 and 3 distinct."""
    U, V = rng.standard_normal((m, 3)), rng.standard_normal((n, 3))
    if nonneg:
        U, V = np.abs(U), np.abs(V)
    U = np.column_stack([U[:, 0], U[:, 1], 2.0 * U[:, 0], U[:, 2], 0.6 * U[:, 0]])
    V = np.column_stack([V[:, 0], V[:, 1], 1.25 * V[:, 0], V[:, 2], 0.5 * V[:, 0]])
    return U, V


@pytest.mark.parametrize("gauges", [(L2(), L2()), (L1(), L2()),
                                    (NonNegative(L2()), NonNegative(L2())),
                                    (NonNegative(L1()), NonNegative(L2()))],
                         ids=["l2", "l1-l2", "nn-l2", "nn-l1-l2"])
def test_exact_duplicates_keep_output_and_do_not_raise_penalty(gauges):
    rng = np.random.default_rng(0)
    nonneg = gauges[0].nonnegative
    U, V = _with_duplicates(rng, 7, 6, nonneg)
    mapping = Bilinear((7, 6), merge_tol=1e-9)
    out = interfaces.merge_parallel(mapping, [U, V])
    assert out[0].shape[1] == 3
    np.testing.assert_allclose(mapping.forward(out), mapping.forward([U, V]), atol=1e-12)
    assert _penalty(gauges, out) <= _penalty(gauges, [U, V]) * (1 + 1e-12)
    if nonneg:
        assert np.all(out[0] >= 0) and np.all(out[1] >= 0)
    # the merged column is balanced in l2
    nu, nv = np.linalg.norm(out[0], axis=0), np.linalg.norm(out[1], axis=0)
    assert nu[0] == pytest.approx(nv[0], rel=1e-12)


def test_antiparallel_duplicates_cancel():
    """``u vᵀ + (−u)(0.4v)ᵀ = 0.6 u vᵀ``: one slice, penalty ``0.6 κ(u)κ(v)`` (not 1.4)."""
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(5), rng.standard_normal(4)
    U, V = np.column_stack([u, -u]), np.column_stack([v, 0.4 * v])
    out = merge_bilinear_parallel([U, V], 1e-9)
    assert out[0].shape[1] == 1
    np.testing.assert_allclose(out[0] @ out[1].T, 0.6 * np.outer(u, v), atol=1e-12)
    g = (L2(), L2())
    assert _penalty(g, out) == pytest.approx(0.6 * _penalty(g, [U[:, :1], V[:, :1]]))


def test_masked_and_dictionary_maps_inherit_the_merge():
    rng = np.random.default_rng(2)
    m, n, p = 6, 8, 5
    U, A = _with_duplicates(rng, m, p, nonneg=False)
    D = rng.standard_normal((n, p))
    dmap = DictionaryBilinear((m, n), D, merge_tol=1e-9)
    out = interfaces.merge_parallel(dmap, [U, A])
    assert out[0].shape[1] == 3
    np.testing.assert_allclose(dmap.forward(out), dmap.forward([U, A]), atol=1e-11)
    rows, cols = np.nonzero(rng.random((m, p)) < 0.5)
    mmap = MaskedBilinear((m, p), rows, cols, merge_tol=1e-9)
    out = interfaces.merge_parallel(mmap, [U, A])
    assert out[0].shape[1] == 3
    np.testing.assert_allclose(mmap.forward(out), mmap.forward([U, A]), atol=1e-12)


def test_near_parallel_group_is_its_best_rank_one_approximation():
    """Three nearly parallel slices (noise 1%) and one distinct: rank 2, the merged slice the
    best rank-one approximation of the group's sum, non-negative sides kept non-negative."""
    rng = np.random.default_rng(3)
    m, n = 30, 20
    u, v = np.abs(rng.standard_normal(m)), np.abs(rng.standard_normal(n))
    cols_u = [s * (u + 0.01 * np.abs(rng.standard_normal(m))) for s in (1.0, 0.7, 0.4)]
    cols_v = [v + 0.01 * np.abs(rng.standard_normal(n)) for _ in range(3)]
    U = np.column_stack([*cols_u, np.abs(rng.standard_normal(m))])
    V = np.column_stack([*cols_v, np.abs(rng.standard_normal(n))])
    out = merge_bilinear_parallel([U, V], 1e-3)
    assert out[0].shape[1] == 2
    assert np.all(out[0] >= 0) and np.all(out[1] >= 0)  # inferred non-negative sides
    S = U[:, :3] @ V[:, :3].T
    s = np.linalg.svd(S, compute_uv=False)
    merged = np.outer(out[0][:, 0], out[1][:, 0])
    assert np.linalg.norm(merged - S) == pytest.approx(np.sqrt(np.sum(s[1:] ** 2)), rel=1e-9)
    np.testing.assert_array_equal(out[0][:, 1], U[:, 3])  # the distinct slice is untouched


@pytest.mark.parametrize("tol", [1e-4, 1e-2, 0.05])
def test_near_parallel_pair_moves_the_output_within_the_stated_bound(tol):
    """A pair at side cosines just above ``1 − tol``: the output moves by at most
    ``(tᵢ + tⱼ)(tol(2 − tol))^{1/2}/2`` (the docstring's bound)."""
    rng = np.random.default_rng(8)
    m, n = 12, 9
    moved_any = False
    for _ in range(20):
        U, V = rng.standard_normal((m, 2)), rng.standard_normal((n, 2))
        for F in (U, V):  # rotate column 1 towards column 0 until |cos| ≥ 1 − tol
            d = F[:, 1] - (F[:, 1] @ F[:, 0]) / (F[:, 0] @ F[:, 0]) * F[:, 0]
            d *= np.linalg.norm(F[:, 0]) / np.linalg.norm(d)
            angle = 0.98 * np.arccos(1 - tol)
            F[:, 1] = 1.3 * (np.cos(angle) * F[:, 0] + np.sin(angle) * d)
        out = merge_bilinear_parallel([U, V], tol)
        assert out[0].shape[1] == 1
        t = np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)
        moved = np.linalg.norm(out[0] @ out[1].T - U @ V.T)
        assert moved <= (t[0] + t[1]) * np.sqrt(tol * (2 - tol)) / 2
        moved_any |= moved > 0
    assert moved_any


def test_per_side_rule_one_parallel_side_is_not_enough():
    """The rule needs both sides parallel: same ``u``, orthogonal ``v`` → no merge."""
    u = np.array([1.0, 2.0, 0.5])
    U = np.column_stack([u, 3 * u])
    V = np.array([[1.0, 0.0], [0.0, 1.0]])
    fac = [U, V]
    assert merge_bilinear_parallel(fac, 0.2) is fac
    # tol = 1 links every pair: the sum shares its u side, so the merge is output-exact
    out = merge_bilinear_parallel(fac, 1.0)
    assert out[0].shape[1] == 1
    np.testing.assert_allclose(out[0] @ out[1].T, U @ V.T, atol=1e-12)


def test_nothing_merges_when_no_pair_qualifies():
    rng = np.random.default_rng(4)
    U, V = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    X = [U, V]
    assert merge_bilinear_parallel(X, 1e-6) is X
    assert Bilinear((6, 5), merge_tol=1e-6).merge_parallel(X) is X
    assert merge_parallel_columns(np.abs(U), np.abs(V))[2] is False
    gauges = [L2(), L2()]
    assert _merge_parallel(gauges, X, 0.95) is None
    F = [rng.standard_normal((k, 3)) for k in (4, 3, 5)]
    assert interfaces.merge_parallel(CPMap((4, 3, 5)), F) is F
    # one slice or none
    one = [U[:, :1], V[:, :1]]
    assert merge_bilinear_parallel(one, 1.0) is one


def test_hook_is_found_for_bilinear_and_cp_maps():
    rng = np.random.default_rng(5)
    U, V = _with_duplicates(rng, 4, 3, nonneg=True)
    X = [U, V]
    # bilinear: the hook exists on every bilinear map; off unless the map has a merge_tol
    for mapping in (Bilinear((4, 3)), DictionaryBilinear((4, 6), rng.standard_normal((6, 3))),
                    MaskedBilinear((4, 3), np.array([0, 1]), np.array([1, 2]))):
        assert callable(getattr(mapping, "merge_parallel", None))
        assert interfaces.merge_parallel(mapping, X) is X
        mapping.merge_tol = 1e-9
        assert interfaces.merge_parallel(mapping, X)[0].shape[1] == 3
    # CP: on by default
    shape = (4, 3, 2)
    F = [np.abs(rng.standard_normal((k, 2))) for k in shape]
    Fd = [np.column_stack([f, 2.0 * f[:, 0]]) for f in F]
    cp_map = CPMap(shape)
    out = interfaces.merge_parallel(cp_map, Fd)
    assert out[0].shape[1] == 2
    np.testing.assert_allclose(cp_map.forward(out), cp_map.forward(Fd), atol=1e-12)


def test_wrappers_call_the_one_merge():
    """NMF's and the structured model's merges are the bilinear merge with their thresholds."""
    rng = np.random.default_rng(6)
    U, V = _with_duplicates(rng, 6, 5, nonneg=True)
    U2, V2, merged = merge_parallel_columns(U, V)
    ref = merge_bilinear_parallel([U, V], 1e-6)
    assert merged
    np.testing.assert_allclose(U2 @ V2.T, ref[0] @ ref[1].T, atol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(U2, axis=0), np.linalg.norm(V2, axis=0))
    gauges = [NonNegative(L1()), NonNegative(L2())]
    got = _merge_parallel(gauges, [U, V], 0.95)
    theta = gauges[0].value(U) * gauges[1].value(V)
    want = merge_bilinear_parallel([U, V], 1 - 0.95, nonnegative=(True, True), priority=theta)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    # old names stay importable
    from homfact.models.nmf import merge_parallel_columns as nmf_name
    from homfact.solvers.refit import _merge_parallel as s_merge
    from homfact.solvers.refit import _rank_one_merge as s_rank_one

    assert nmf_name is merge_parallel_columns and s_merge is _merge_parallel
    assert s_rank_one is rank_one_merge


def test_structured_prune_goes_through_the_map_hook():
    rng = np.random.default_rng(7)
    m, n = 8, 6
    U, V = _with_duplicates(rng, m, n, nonneg=True)
    calls = []

    class SpyBilinear(Bilinear):
        def merge_parallel(self, factors, tol=None, **kw):
            calls.append(tol)
            return super().merge_parallel(factors, tol, **kw)

    from homfact.losses import SquaredLoss

    problem = StructuredProblem(SquaredLoss(U @ V.T), SpyBilinear((m, n)),
                                (NonNegative(L2()), NonNegative(L2())), 0.1)
    f0 = problem.objective([U, V])
    out = problem.prune([U, V])
    assert out[0].shape[1] == 3 and problem.objective(out) <= f0 + 1e-12
    assert any(t == pytest.approx(1 - problem.merge_cos) for t in calls)


def test_parallel_groups_are_head_centred_not_chains():
    # 0~1 and 1~2 but not 0~2: the head of highest priority takes its links only
    linked = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    groups = parallel_groups(linked, np.array([1.0, 3.0, 2.0]))
    assert [g.tolist() for g in groups] == [[1, 0, 2]]
    groups = parallel_groups(linked, np.array([3.0, 1.0, 2.0]))
    assert [g.tolist() for g in groups] == [[0, 1], [2]]
    groups = parallel_groups(linked, np.zeros(3), eligible=np.array([True, False, True]))
    assert [g.tolist() for g in groups] == [[0], [2]]


def test_merge_tol_is_checked():
    with pytest.raises(ValueError, match="merge_tol"):
        Bilinear((3, 3), merge_tol=-0.1)
    with pytest.raises(TypeError, match="merge_tol"):
        Bilinear((3, 3), merge_tol="1e-6")
    with pytest.raises(ValueError, match="tol"):
        merge_bilinear_parallel([np.ones((3, 2)), np.ones((3, 2))], 1.5)
