"""CP tensor factorization: map, polar bracket, MM CP-ALS, estimator, certify, interop, inputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import homfact as hf
from homfact.gauges import L1, L2, NonNegative
from homfact.maps import CPMap, MaskedCPMap, mttkrp
from homfact.meta import Problem, certify_factors
from homfact.models.cp import CPGrowthPolar, cp_lam_max, factor_match_score
from homfact.polar import TensorPolar, tensor_polar_upper
from homfact.problems import cp_factors, cp_problem
from homfact.solvers.cp_als import cp_als, cp_objective, cp_refit

ROOT = Path(__file__).resolve().parents[1]


def _instance(shape, rank, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    F = [rng.standard_normal((n, rank)) for n in shape]
    T = CPMap(shape).forward(F)
    s = np.linalg.norm(T)
    F[0] = F[0] / s
    N = rng.standard_normal(T.shape)
    return T / s + noise * N / np.linalg.norm(N), F


# -- map -------------------------------------------------------------------------------------
def test_cp_map_forward_mttkrp_lipschitz():
    rng = np.random.default_rng(0)
    shape = (3, 4, 5, 2)
    F = [rng.standard_normal((n, 3)) for n in shape]
    m = CPMap(shape)
    assert np.allclose(m.forward(F), np.einsum("ia,ja,ka,la->ijkl", *F))
    T = rng.standard_normal(shape)
    subs = "ijkl"
    for k in range(4):
        others = [F[j] for j in range(4) if j != k]
        spec = "ijkl," + ",".join(subs[j] + "a" for j in range(4) if j != k) + f"->{subs[k]}a"
        assert np.allclose(mttkrp(T, F, k), np.einsum(spec, T, *others))
        # ∇_k of ½‖Y − [[X]]‖² is Lipschitz with the Hadamard-Gram constant
        L = m.block_lipschitz(F, k)
        D = rng.standard_normal(F[k].shape)
        F2 = [*F[:k], F[k] + D, *F[k + 1:]]
        g1 = m.block_gradient(T - m.forward(F), F, k)
        g2 = m.block_gradient(T - m.forward(F2), F2, k)
        assert np.linalg.norm(g1 - g2) <= L * np.linalg.norm(D) * (1 + 1e-10)
    cols = [f[:, 0] for f in F]
    assert np.isclose(m.atom_inner(T, cols), np.sum(T * m.atom(cols)))
    assert np.isclose(m.atom_sqnorm(cols), np.sum(m.atom(cols) ** 2))
    G = T.copy()
    assert np.allclose(m.subtract_atom(G, 0.7, cols), T - 0.7 * m.atom(cols))


def test_masked_cp_map_matches_dense():
    rng = np.random.default_rng(1)
    shape = (4, 3, 5)
    mask = rng.random(shape) < 0.6
    F = [rng.standard_normal((n, 2)) for n in shape]
    d, mm = CPMap(shape), MaskedCPMap(shape, mask)
    assert np.allclose(mm.forward(F), d.forward(F)[mask])
    g = rng.standard_normal(mm.nnz)
    G = np.zeros(shape)
    G[mask] = g
    for k in range(3):
        assert np.allclose(mm.block_gradient(g, F, k), d.block_gradient(G, F, k))
    cols = [f[:, 1] for f in F]
    assert np.isclose(mm.atom_inner(g, cols), d.atom_inner(G, cols))
    assert np.isclose(mm.atom_sqnorm(cols), np.sum(d.atom(cols)[mask] ** 2))


# -- polar -----------------------------------------------------------------------------------
def _unit(rng, n, k):
    X = rng.standard_normal((k, n))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _brute_l2(G, n_samples=40000, seed=0):
    """max over sampled unit u, v of ‖G ×₁ u ×₂ v‖ (exact over the last mode)."""
    rng = np.random.default_rng(seed)
    U = _unit(rng, G.shape[0], n_samples)
    V = _unit(rng, G.shape[1], n_samples)
    return float(np.max(np.linalg.norm(np.einsum("ijk,si,sj->sk", G, U, V), axis=1)))


def _grid_222(G, m=721):
    th = np.linspace(0, np.pi, m)
    C = np.stack([np.cos(th), np.sin(th)], 1)
    W = np.einsum("ijk,si,tj->stk", G, C, C)
    return float(np.linalg.norm(W, axis=2).max())


def test_polar_rank_one_known_value():
    rng = np.random.default_rng(2)
    cols = [v / np.linalg.norm(v) for v in (rng.standard_normal(5), rng.standard_normal(4),
                                            rng.standard_normal(3))]
    T = 2.5 * CPMap((5, 4, 3)).atom(cols)
    b = TensorPolar((L2(),) * 3)(T)
    assert b.lower == pytest.approx(2.5, rel=1e-9)
    assert 2.5 <= b.upper <= 2.5 * (1 + 1e-8)
    assert np.prod([abs(u @ c) for u, c in zip(b.maximizer, cols, strict=True)]) > 1 - 1e-8


@pytest.mark.parametrize("seed", range(4))
def test_polar_upper_valid_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((2, 2, 2))
    grid = _grid_222(G)
    b = TensorPolar((L2(),) * 3)(G)
    assert b.upper >= grid * (1 - 1e-9)
    assert b.lower <= b.upper
    assert b.lower >= grid * (1 - 1e-4)  # HOPM finds the maximum on a 2×2×2 tensor
    G = rng.standard_normal((3, 3, 2))
    brute = _brute_l2(G)
    b = TensorPolar((L2(),) * 3)(G)
    assert b.upper >= brute
    assert b.lower <= b.upper
    assert b.lower >= brute * (1 - 1e-3)


def test_polar_l1_and_nonnegative_upper_bounds():
    rng = np.random.default_rng(5)
    G = rng.standard_normal((3, 3, 2))
    # ℓ1 on mode 0: exact by vertex enumeration, Ω° = max_{i,±} ‖G[i]‖₂ (matrix spectral norm)
    exact = max(np.linalg.norm(G[i], 2) for i in range(3))
    b = TensorPolar((L1(), L2(), L2()))(G)
    assert b.upper == pytest.approx(exact, rel=1e-9)
    assert b.lower <= b.upper
    # non-negative: sampled feasible points never exceed the upper bound
    gs = (NonNegative(),) * 3
    b = TensorPolar(gs)(G)
    n = 20000
    U, V = (np.abs(_unit(rng, 3, n)) for _ in range(2))
    vals = np.linalg.norm(np.maximum(np.einsum("ijk,si,sj->sk", G, U, V), 0), axis=1)
    assert b.upper >= vals.max()
    assert b.lower <= b.upper
    assert all(np.all(x >= 0) for x in b.maximizer)


gauge_choices = st.sampled_from(["l2", "l1", "nn-l2", "nn-l1"])


def _make(g):
    return {"l2": L2(), "l1": L1(), "nn-l2": NonNegative(L2()), "nn-l1": NonNegative(L1())}[g]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=4),
       gauges=st.lists(gauge_choices, min_size=4, max_size=4),
       seed=st.integers(0, 2**31 - 1), rank1=st.booleans())
def test_polar_bracket_property(shape, gauges, seed, rank1):
    rng = np.random.default_rng(seed)
    K = len(shape)
    gs = tuple(_make(g) for g in gauges[:K])
    if rank1:
        G = CPMap(shape).atom([rng.standard_normal(n) for n in shape])
    else:
        G = rng.standard_normal(shape)
    b = TensorPolar(gs, n_random=2)(G, rng=rng)
    assert 0 <= b.lower <= b.upper
    # the lower bound is attained by the returned feasible maximizer
    x = list(b.maximizer)
    assert all(g.value(v) <= 1 + 1e-9 for g, v in zip(gs, x, strict=True))
    assert CPMap(shape).atom_inner(G, x) == pytest.approx(b.lower, abs=1e-9 * (1 + b.lower))
    # random feasible points never beat the upper bound
    for _ in range(20):
        pts = []
        for g, n in zip(gs, shape, strict=True):
            v = rng.standard_normal(n)
            v = np.abs(v) if g.nonnegative else v
            pts.append(v / g.value(v))
        assert CPMap(shape).atom_inner(G, pts) <= b.upper * (1 + 1e-12) + 1e-12


def test_tensor_polar_upper_is_exact_for_vectors():
    g = np.array([1.0, -3.0, 2.0])
    assert tensor_polar_upper(g, (L2(),))[0] == pytest.approx(np.linalg.norm(g))
    assert tensor_polar_upper(g, (NonNegative(),))[0] == pytest.approx(np.sqrt(5.0))


# -- local descent -------------------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
def test_cp_als_monotone_on_product_form(masked):
    Y, _ = _instance((8, 7, 6), 3, noise=0.1, seed=3)
    rng = np.random.default_rng(3)
    if masked:
        mask = rng.random(Y.shape) < 0.7
        mapping, y = MaskedCPMap(Y.shape, mask), Y[mask]
    else:
        mapping, y = CPMap(Y.shape), Y
    X = [0.3 * rng.standard_normal((n, 4)) for n in Y.shape]
    lam = 0.02
    vals = [cp_objective(mapping, y, X, lam)]
    for _ in range(25):
        X = cp_als(mapping, y, X, lam, max_sweeps=1, tol=0).factors
        vals.append(cp_objective(mapping, y, X, lam))
    assert np.all(np.diff(vals) <= 1e-12 * max(vals))
    assert vals[-1] < 0.9 * vals[0]
    # at a (near) stationary point every slice attains ⟨G, φ(xᵢ)/θᵢ⟩ = λ
    X = cp_als(mapping, y, X, lam, max_sweeps=200, tol=1e-13).factors
    g = y - mapping.forward(X)
    theta = np.prod([np.linalg.norm(F, axis=0) for F in X], axis=0)
    for i in np.flatnonzero(theta > 1e-3 * theta.max()):
        unit = [F[:, i] / np.linalg.norm(F[:, i]) for F in X]
        assert mapping.atom_inner(g, unit) == pytest.approx(lam, rel=1e-3)


def test_cp_als_nonnegative_modes_monotone():
    rng = np.random.default_rng(12)
    F = [np.abs(rng.standard_normal((n, 2))) for n in (7, 6, 5)]
    Y = CPMap((7, 6, 5)).forward(F) + 0.05 * rng.standard_normal((7, 6, 5))
    mapping = CPMap(Y.shape)
    X = [np.abs(rng.standard_normal((n, 3))) for n in Y.shape]
    nn = (True, False, True)
    vals = [cp_objective(mapping, Y, X, 0.1)]
    for _ in range(20):
        X = cp_als(mapping, Y, X, 0.1, max_sweeps=1, tol=0, nonnegative=nn).factors
        vals.append(cp_objective(mapping, Y, X, 0.1))
    assert np.all(np.diff(vals) <= 1e-12 * max(vals))
    assert np.all(X[0] >= 0) and np.all(X[2] >= 0)
    with pytest.raises(ValueError, match="dense"):
        cp_als(MaskedCPMap(Y.shape, np.ones(Y.shape, bool)), Y.ravel(), X, 0.1,
               nonnegative=nn)


def test_problem_picks_cp_als_and_tensor_polar():
    Y, _ = _instance((5, 4, 3), 2)
    p = cp_problem(Y, 0.1)
    assert p.local_solver == "cp-als" and isinstance(p.polar, TensorPolar)
    assert cp_problem(Y, 0.1, nonnegative=True).local_solver == "cp-als"
    Ym = Y.copy()
    Ym[0, 0, 0] = np.nan
    assert cp_problem(Ym, 0.1, nonnegative=True).local_solver == "prox_linear"
    assert cp_problem(Y, 0.1, gauges=[L1(), L2(), L2()]).local_solver == "prox_linear"
    with pytest.raises(ValueError, match="cp-als"):
        Problem(p.loss, p.mapping, (L1(), L2(), L2()), 0.1, local_solver="cp-als")


# -- estimator -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_rank_recovery_fms_and_refit_vs_parafac(seed):
    from tensorly.cp_tensor import CPTensor, cp_to_tensor
    from tensorly.decomposition import parafac

    Y, F = _instance((20, 18, 16), 3, noise=0.01, seed=seed)
    lm = cp_lam_max(Y)
    for frac in (0.05, 0.1, 0.3):
        m = hf.CPTensorFactorization(lam=frac * lm.lower, random_state=0).fit(Y)
        assert m.rank_ == 3, frac
        assert factor_match_score(F, m.certified_factors_) >= 0.95
        assert m.debiased_ and factor_match_score(F, m.factors_) >= 0.99
        assert m.certificate_.polar_lower <= m.certificate_.polar_upper
        assert np.all(np.diff(m.certified_weights_) <= 0)
    err = np.linalg.norm(Y - m.to_tensor()) / np.linalg.norm(Y)
    err_cert = np.linalg.norm(Y - m.to_tensor("certified")) / np.linalg.norm(Y)
    cp = parafac(Y, 3, init="svd", tol=1e-8)
    err_tl = np.linalg.norm(Y - cp_to_tensor(cp)) / np.linalg.norm(Y)
    assert err <= 1.02 * err_tl
    assert err < err_cert  # the refit undoes the shrinkage
    tl_cp = m.to_tensorly()
    assert isinstance(tl_cp, CPTensor)
    assert np.allclose(cp_to_tensor(tl_cp), m.to_tensor())


def test_global_only_with_certifying_upper_bound():
    rng = np.random.default_rng(4)
    cols = [v / np.linalg.norm(v) for v in (rng.standard_normal(6), rng.standard_normal(5),
                                            rng.standard_normal(4))]
    Y = 3.0 * CPMap((6, 5, 4)).atom(cols)  # exact rank one: optimum is (3 − λ)·atom
    m = hf.CPTensorFactorization(lam=0.5, debias=False).fit(Y)
    c = m.certificate_
    assert c.status == "global"
    assert c.polar_upper <= c.lam * (1 + 1e-3) and c.relative_gap <= m.tol
    assert m.rank_ == 1 and m.weights_[0] == pytest.approx(2.5, rel=1e-5)
    # noisy data: the unfolding bound exceeds λ, so the fit must not claim "global"
    Y2, _ = _instance((10, 9, 8), 2, noise=0.05, seed=4)
    m2 = hf.CPTensorFactorization(lam=0.05, debias=False).fit(Y2)
    c2 = m2.certificate_
    assert c2.polar_upper > c2.lam * (1 + 1e-3)
    assert c2.status != "global"
    # the reported bracket contains what random feasible atoms attain on the final residual
    G = Y2 - m2.to_tensor("certified")
    for _ in range(50):
        pts = [v / np.linalg.norm(v) for v in (rng.standard_normal(n) for n in G.shape)]
        assert CPMap(G.shape).atom_inner(G, pts) <= c2.polar_upper


def test_missing_entries_rank_recovery():
    Y, F = _instance((15, 14, 12), 3, noise=0.01, seed=5)
    rng = np.random.default_rng(5)
    Ym = Y.copy()
    Ym[rng.random(Y.shape) < 0.25] = np.nan
    lm = cp_lam_max(Ym)
    m = hf.CPTensorFactorization(lam=0.1 * lm.lower, random_state=0).fit(Ym)
    assert m.rank_ == 3
    assert m.debiased_ and factor_match_score(F, m.factors_) >= 0.95
    # the refit imputes: the model fits the held-out entries about as well as the observed ones
    miss = np.isnan(Ym)
    Z = m.to_tensor()
    assert np.linalg.norm((Z - Y)[miss]) / np.linalg.norm(Y[miss]) < 0.05


def test_nonnegative_and_l1_fits():
    rng = np.random.default_rng(6)
    F = [np.abs(rng.standard_normal((n, 2))) for n in (8, 7, 6)]
    Y = CPMap((8, 7, 6)).forward(F) + 0.01 * rng.standard_normal((8, 7, 6))
    m = hf.CPTensorFactorization(lam=0.5, nonnegative=True, max_iter=8, time_limit=2).fit(Y)
    assert m.rank_ >= 1 and all(np.all(X >= 0) for X in m.certified_factors_)
    assert m.debiased_ and all(np.all(X >= 0) for X in m.factors_)
    assert m.certificate_.polar_lower <= m.certificate_.polar_upper
    m1 = hf.CPTensorFactorization(lam=0.5, gauge=["l1", "l2", "l2"], max_iter=8,
                                  time_limit=2).fit(Y)
    assert m1.rank_ >= 1
    assert m1.certificate_.objective >= m1.certificate_.lower_bound
    # the ℓ1 mode's zero pattern is kept by the refit
    z = m1.certified_factors_[0] == 0
    assert np.all(m1.factors_[0][z] == 0)


def test_certify_cp_from_tensorly_parafac():
    from tensorly.decomposition import parafac

    Y, _ = _instance((10, 9, 8), 2, noise=0.01, seed=7)
    cp = parafac(Y, 2, init="svd")
    lam = 0.05
    c1 = hf.certify("cp", Y, cp, lam)
    folded = cp_factors(cp)
    c2 = hf.certify("cp", Y, folded, lam)
    assert c1.objective == pytest.approx(c2.objective)
    penalty = float(np.sum(np.prod([np.linalg.norm(F, axis=0) for F in folded], axis=0)))
    resid = Y - CPMap(Y.shape).forward(folded)
    assert c1.objective == pytest.approx(0.5 * np.sum(resid ** 2) + lam * penalty)
    assert c1.lower_bound <= c1.objective
    # init from a CPTensor, weights folded in
    m = hf.CPTensorFactorization(lam=lam, init=cp, debias=False, max_iter=20).fit(Y)
    assert m.certificate_.objective <= c1.objective * (1 + 1e-9)


def test_refit_matches_unregularized_als_fixed_point():
    Y, F = _instance((9, 8, 7), 2, noise=0.0, seed=8)
    rng = np.random.default_rng(8)
    X0 = [f + 0.05 * rng.standard_normal(f.shape) for f in F]
    _, info = cp_refit(Y, X0, max_iter=200, tol=1e-14)
    assert info["rel_error"] < 1e-6


# -- inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad,match", [
    (np.ones(5), "K >= 3"),
    (np.ones((4, 5)), "K >= 3"),
    ([[[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0, 4.0]]], "ragged"),
    (np.full((3, 3, 3), np.nan), "no observed"),
    (np.ones((3, 0, 2)), "non-empty"),
])
def test_bad_tensors(bad, match):
    with pytest.raises(ValueError, match="Y") as e:
        hf.CPTensorFactorization(lam=0.1).fit(bad)
    assert e.match(match)


def test_all_missing_slice_and_bad_params():
    Y = np.ones((3, 4, 5))
    Y[:, 2, :] = np.nan
    with pytest.raises(ValueError, match="mode 1"):
        hf.CPTensorFactorization(lam=0.1).fit(Y)
    Y = np.ones((3, 4, 5))
    Y[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        hf.CPTensorFactorization(lam=0.1).fit(Y)
    Y = np.ones((3, 4, 5))
    for kwargs, name in [({"lam": -1.0}, "lam"), ({"lam": 0.0}, "lam"), ({"gauge": "l3"}, "gauge"),
                         ({"gauge": ["l2", "l2"]}, "gauge"), ({"nonnegative": [True]},
                                                              "nonnegative"),
                         ({"tol": 2.0}, "tol"), ({"max_rank": 0}, "max_rank"),
                         ({"rank_rtol": 1.5}, "rank_rtol"), ({"init": "svd"}, "init"),
                         ({"init": [np.ones((3, 2)), np.ones((4, 2))]}, "init"),
                         ({"init": [np.ones((3, 2)), np.ones((4, 2)), np.ones((6, 2))]},
                          "init")]:
        with pytest.raises(ValueError, match=name):
            hf.CPTensorFactorization(**{"lam": 0.1, **kwargs}).fit(Y)
    with pytest.raises(ValueError, match="factors"):
        hf.certify("cp", Y, [np.ones((3, 1)), np.ones((4, 2)), np.ones((5, 1))], 0.1)


def test_lam_max_gives_zero_solution():
    Y, _ = _instance((6, 5, 4), 2, seed=9)
    lm = cp_lam_max(Y)
    m = hf.CPTensorFactorization(lam=lm.upper * 1.01).fit(Y)
    assert m.rank_ == 0 and m.certificate_.status == "global"
    cert, *_ = certify_factors(cp_problem(Y, lm.upper * 1.01), [np.zeros((n, 0))
                                                                for n in Y.shape])
    assert cert.status == "global"


# -- example and benchmark smoke ----------------------------------------------------------------
def _load(path: Path, name: str):
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("frac", [0.05, 1.5])
def test_growth_polar_bracket_is_sound(frac):
    # frac < 1: the cheap stage (HOSVD-start HOPM + deflation); frac > 1: the careful bracket
    Y, _ = _instance((14, 12, 10), 3, noise=0.05, seed=3)
    ref = TensorPolar((L2(),) * 3)(Y, rng=np.random.default_rng(0))
    P = CPGrowthPolar((L2(),) * 3, frac * ref.lower)
    b = P(Y, n_candidates=8, rng=np.random.default_rng(0))
    cpmap = CPMap(Y.shape)
    assert b.lower <= b.upper
    assert b.upper == pytest.approx(tensor_polar_upper(Y, (L2(),) * 3)[0], rel=1e-12)
    assert b.lower == pytest.approx(cpmap.atom_inner(Y, list(b.maximizer)), rel=1e-10, abs=1e-14)
    assert all(abs(np.linalg.norm(u) - 1) < 1e-10 for u in b.maximizer)
    for cols, val in b.candidates:
        assert val == pytest.approx(cpmap.atom_inner(Y, list(cols)), rel=1e-10, abs=1e-14)
        assert val <= b.upper
    if frac < 1:
        assert "deflated" in b.method
    else:
        assert "deflated" not in b.method and b.lower >= 0.99 * ref.lower


def test_growth_polar_deflation_finds_each_component_once():
    Y, F = _instance((30, 30, 30), 4, noise=0.01, seed=1)
    lam = 0.05 * cp_lam_max(Y, quick=True).lower
    b = CPGrowthPolar((L2(),) * 3, lam)(Y, n_candidates=16)
    atoms = [b.maximizer] + [c for c, _ in b.candidates]
    assert len(atoms) == 4  # deflation stops at the first ghost of an earlier atom
    est = [np.column_stack([a[k] for a in atoms]) for k in range(3)]
    assert factor_match_score(F, est) >= 0.9


def test_fit_grows_true_rank_in_one_polar_call():
    Y, F = _instance((30, 30, 30), 4, noise=0.01, seed=1)
    m = hf.CPTensorFactorization(random_state=0).fit(Y)
    assert m.history_[0]["added"] == 4
    assert m.n_iter_ <= 3
    assert m.rank_ == 4 and factor_match_score(F, m.certified_factors_) >= 0.99
    assert m.certificate_.polar_lower <= m.certificate_.polar_upper
    assert m.certificate_.status != "global"  # 1 % noise: the upper bound cannot certify


def test_bench_cp_size_rank_options(tmp_path):
    res = _load(ROOT / "benchmarks" / "bench_cp.py", "_bench_cp2").main(
        quick=True, out_dir=tmp_path, size=12, rank=2, seed=1)
    assert res["instance"]["shape"] == [12, 12, 12] and res["instance"]["rank"] == 2
    assert res["homfact"][0]["rank"] == 2
    assert (tmp_path / "cp_n12_r2_s1_quick.json").exists()


def test_bench_cp_quick(tmp_path):
    res = _load(ROOT / "benchmarks" / "bench_cp.py", "_bench_cp").main(quick=True,
                                                                       out_dir=tmp_path)
    h = res["homfact"][0]
    assert h["rank"] == res["instance"]["rank"]
    assert h["fms_refit"] >= 0.95
    assert h["ratio_error_over_parafac"] <= 1.02


def test_example_cp_tensor_quick(capsys):
    res = _load(ROOT / "examples" / "cp_tensor.py", "_example_cp").main(quick=True)
    assert res["rank"] >= 1
    assert res["error_refit"] <= res["error_certified"] + 1e-12
    assert res["certificate"].polar_lower <= res["certificate"].polar_upper
    assert "selected rank" in capsys.readouterr().out


def test_fms_permutation_and_missing_components():
    rng = np.random.default_rng(10)
    F = [rng.standard_normal((n, 3)) for n in (5, 4, 3)]
    perm = [f[:, [2, 0, 1]] * np.array([2.0, -1.0, 0.5]) for f in F]
    assert factor_match_score(F, perm) == pytest.approx(1.0)
    assert factor_match_score(F, [f[:, :2] for f in F]) == pytest.approx(2 / 3)
    assert factor_match_score(F, (np.ones(3), F)) == pytest.approx(1.0)


def test_merge_parallel_keeps_output_and_lowers_penalty():
    rng = np.random.default_rng(11)
    shape = (5, 4, 3)
    F = [rng.standard_normal((n, 2)) for n in shape]
    # a third slice parallel to slice 0 (negative scale on one mode), a fourth parallel to 1
    X = [np.column_stack([f, f[:, 0] * (-2.0 if k == 1 else 1.0), 0.5 * f[:, 1]])
         for k, f in enumerate(F)]
    m = CPMap(shape)
    Xm = m.merge_parallel(X)
    assert Xm[0].shape[1] == 2
    assert np.allclose(m.forward(Xm), m.forward(X))
    pen = [np.sum(np.prod([np.linalg.norm(f, axis=0) for f in Z], axis=0)) for Z in (X, Xm)]
    assert pen[1] <= pen[0] + 1e-12


def test_naming_rule_certified_and_debiased_factors():
    """README's naming rule: ``factors_`` are the reported (debiased) factors,
    ``certified_factors_`` the certified ones that ``certificate_`` describes; the former
    ``refit_*`` names still work with a FutureWarning."""
    Y, _ = _instance((8, 7, 6), 2, noise=0.02, seed=3)
    m = hf.CPTensorFactorization(random_state=0).fit(Y)
    assert m.debiased_ and m.debias_info_["n_iter"] >= 1
    obj = m.certificate_.objective
    assert obj == pytest.approx(hf.CPTensorFactorization(random_state=0, debias=False).fit(Y)
                                .certificate_.objective)
    with pytest.warns(FutureWarning, match="refit_factors_"):
        old = m.refit_factors_
    assert all(a is b for a, b in zip(old, m.factors_, strict=True))
    with pytest.warns(FutureWarning, match="refit_weights_"):
        assert m.refit_weights_ is m.weights_
    with pytest.warns(FutureWarning, match="refit_info_"):
        assert m.refit_info_ is m.debias_info_
    np.testing.assert_allclose(m.to_tensor("certified"),
                               CPMap(Y.shape).forward(m.certified_factors_))
    m0 = hf.CPTensorFactorization(random_state=0, debias=False).fit(Y)
    assert not m0.debiased_ and m0.factors_ is m0.certified_factors_
    with pytest.warns(FutureWarning):
        assert m0.refit_factors_ is None
