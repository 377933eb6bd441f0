"""Polar solvers: brackets ``lower ≤ Ω°(G) ≤ upper`` against dense SVD and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import independent_dual, l1_extreme_polar, nmf_polar_bruteforce, sigma_max
from scipy.sparse.linalg import ArpackNoConvergence

import homfact as hf
from homfact.polar import (
    DENSE_SVD_MAX_ENTRIES,
    AlternatingPolar,
    NuclearPolar,
    PolarBound,
    RowSparsePolar,
    polar_solver_for,
    spectral_norm,
)


def _apply(op, v):
    return np.asarray(op @ v).ravel()


def check_bracket(bound: PolarBound, op, gauge_u, gauge_v, true_value: float | None = None,
                  rel: float = 1e-12):
    """Generic bracket invariants, and the true value inside the bracket when known."""
    assert bound.lower <= bound.upper * (1 + 1e-12)
    u, v = bound.maximizer
    assert u.shape == (op.shape[0],) and v.shape == (op.shape[1],)
    if bound.lower > 0:
        # the maximizer is feasible and attains the lower bound
        assert gauge_u.value(u) <= 1 + 1e-9
        assert gauge_v.value(v) <= 1 + 1e-9
        assert float(u @ _apply(op, v)) == pytest.approx(bound.lower, rel=1e-9)
    if true_value is not None:
        assert bound.lower <= true_value * (1 + rel) + 1e-12
        assert bound.upper >= true_value * (1 - rel) - 1e-12


# ----------------------------------------------------------------------------------------------
# NuclearPolar: exact σ_max
# ----------------------------------------------------------------------------------------------
def _random_op(rng, shape, kind):
    if kind == "dense":
        return rng.standard_normal(shape)
    return sp.random(*shape, density=0.05, random_state=int(rng.integers(1 << 30)),
                     format="csr", data_rvs=rng.standard_normal)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize(("shape", "path"), [((30, 20), "dense"), ((7, 1), "dense"),
                                             ((700, 600), "lanczos"), ((600, 700), "lanczos"),
                                             ((2, 5000), "dense")])
def test_nuclear_polar_vs_dense_svd(kind, shape, path, rng):
    assert (shape[0] * shape[1] > DENSE_SVD_MAX_ENTRIES) == (path == "lanczos" and min(shape) > 2)
    op = _random_op(rng, shape, kind)
    smax = sigma_max(op)
    b = NuclearPolar()(op)
    assert b.method.startswith(path)
    assert b.has_upper
    check_bracket(b, op, hf.L2(), hf.L2(), smax)
    # tight: both ends within 1e-8 relative of the exact value
    assert b.lower == pytest.approx(smax, rel=1e-8)
    assert b.upper == pytest.approx(smax, rel=1e-8)
    u, v = b.maximizer
    assert np.linalg.norm(u) == pytest.approx(1.0, rel=1e-10)
    assert np.linalg.norm(v) == pytest.approx(1.0, rel=1e-10)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_nuclear_polar_low_rank_large(kind, rng):
    """A clustered spectrum (rank-5 signal plus small noise) on the ARPACK path."""
    G = rng.standard_normal((700, 5)) @ rng.standard_normal((5, 600))
    G += 0.01 * rng.standard_normal(G.shape)
    op = sp.csr_matrix(G) if kind == "sparse" else G
    smax = sigma_max(G)
    b = NuclearPolar()(op)
    assert b.method.startswith("lanczos")
    check_bracket(b, op, hf.L2(), hf.L2(), smax)
    assert b.lower == pytest.approx(smax, rel=1e-8)
    assert b.upper == pytest.approx(smax, rel=1e-8)


@pytest.mark.parametrize("shape", [(12, 9), (700, 600)])
def test_nuclear_polar_candidates(shape, rng):
    G = rng.standard_normal((shape[0], 6)) @ np.diag([9, 7, 5, 3, 2, 1.0]) @ rng.standard_normal(
        (6, shape[1])) / 10
    s = np.linalg.svd(G, compute_uv=False)
    b = NuclearPolar()(G, n_candidates=4)
    assert b.lower == pytest.approx(s[0], rel=1e-8)
    assert len(b.candidates) == 3
    prev = b.lower
    for (u, v), val in b.candidates:
        # every candidate is a feasible atom whose stated value is its true value
        assert np.linalg.norm(u) == pytest.approx(1.0, rel=1e-8)
        assert np.linalg.norm(v) == pytest.approx(1.0, rel=1e-8)
        assert float(u @ G @ v) == pytest.approx(val, rel=1e-8)
        assert val <= prev * (1 + 1e-10)
        prev = val
    # Ritz values never exceed the true singular values
    for j, (_, val) in enumerate(b.candidates, start=1):
        assert val <= s[j] * (1 + 1e-10)


def test_nuclear_polar_empty():
    b = NuclearPolar()(np.zeros((0, 3)))
    assert b.lower == 0.0 and b.upper == 0.0


@pytest.mark.parametrize("shape", [(30, 20), (700, 600)])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_nuclear_polar_zero_matrix(shape, kind):
    """``G = 0`` (e.g. a perfect fit or ``Y = 0``) has polar 0 on both paths."""
    op = sp.csr_matrix(shape) if kind == "sparse" else np.zeros(shape)
    b = NuclearPolar()(op)
    assert b.lower == 0.0
    assert 0.0 <= b.upper <= 1e-12


@pytest.mark.parametrize("n_candidates", [1, 4])
def test_nuclear_polar_survives_arpack_non_convergence(monkeypatch, rng, n_candidates):
    """Clustered top singular values (the norm near a nuclear-norm optimum) can make ARPACK stop
    without convergence; the solver must still return a valid bracket instead of raising."""
    import homfact.polar.core as polar_mod  # where spectral_norm looks svds up

    def failing_svds(*args, **kwargs):
        raise ArpackNoConvergence("simulated: no convergence", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(polar_mod, "svds", failing_svds)
    G = sp.random(700, 600, density=0.02, random_state=3, format="csr",
                  data_rvs=rng.standard_normal)
    b = NuclearPolar()(G, n_candidates=n_candidates)
    check_bracket(b, G, hf.L2(), hf.L2(), sigma_max(G), rel=1e-12)


def test_spectral_norm_topk_dense(rng):
    A = rng.standard_normal((15, 10))
    U, s, V, upper, _ = spectral_norm(A, k=3)
    ref = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(s, ref[:3], rtol=1e-12)
    assert upper >= ref[0]
    for j in range(3):
        assert float(U[:, j] @ A @ V[:, j]) == pytest.approx(s[j], rel=1e-10)


# ----------------------------------------------------------------------------------------------
# RowSparsePolar: exact
# ----------------------------------------------------------------------------------------------
OTHERS = [hf.L2(), hf.L1(), hf.ElasticNet(0.5), hf.NonNegative(hf.L2()),
          hf.NonNegative(hf.ElasticNet(1.0))]


@pytest.mark.parametrize("other", OTHERS, ids=repr)
@pytest.mark.parametrize("side", ["u", "v"])
@pytest.mark.parametrize("seed", range(4))
def test_row_sparse_polar_exact_vs_brute_force(other, side, seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((6, 5))
    A = G if side == "u" else G.T
    # brute force over the ℓ1 ball's extreme points ±e_i, with the other gauge's dual computed
    # from its definition (not by the library's LMO)
    brute = l1_extreme_polar(A, lambda row: independent_dual(other, row))
    b = RowSparsePolar(other, side=side)(sp.csr_matrix(G) if seed % 2 else G)
    assert b.lower == pytest.approx(brute, rel=1e-12)
    assert b.upper == b.lower
    gu, gv = (hf.L1(), other) if side == "u" else (other, hf.L1())
    check_bracket(b, G, gu, gv, brute)


def test_row_sparse_polar_l1_l2_is_max_row_norm(rng):
    G = rng.standard_normal((8, 5))
    b = polar_solver_for(hf.L1(), hf.L2())(G)
    assert b.lower == pytest.approx(np.linalg.norm(G, axis=1).max(), rel=1e-13)
    b = polar_solver_for(hf.L2(), hf.L1())(G)
    assert b.lower == pytest.approx(np.linalg.norm(G, axis=0).max(), rel=1e-13)
    b = polar_solver_for(hf.L1(), hf.L1())(G)
    assert b.lower == pytest.approx(np.abs(G).max(), rel=1e-13)


def test_row_sparse_polar_rejects_bad_side():
    with pytest.raises(ValueError, match="side"):
        RowSparsePolar(hf.L2(), side="w")


# ----------------------------------------------------------------------------------------------
# AlternatingPolar: bracket
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_nmf_bracket_vs_support_enumeration(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    G = rng.standard_normal((m, n)) + (0.5 if seed % 3 == 0 else 0.0)
    gu = gv = hf.NonNegative(hf.L2())
    exact = nmf_polar_bruteforce(G)
    b = AlternatingPolar(gu, gv)(G)
    check_bracket(b, G, gu, gv, exact, rel=1e-10)
    assert b.has_upper
    assert b.upper == pytest.approx(sigma_max(np.maximum(G, 0)), rel=1e-10)
    assert np.all(b.maximizer[0] >= 0) and np.all(b.maximizer[1] >= 0)


def test_nmf_bracket_is_tight_for_nonnegative_matrix(rng):
    G = np.abs(rng.standard_normal((5, 4)))
    gu = gv = hf.NonNegative(hf.L2())
    b = polar_solver_for(gu, gv)(G)
    assert isinstance(polar_solver_for(gu, gv), AlternatingPolar)
    # Perron pair of G ≥ 0: ρ_lo = ρ_up = σ_max(G)
    assert b.lower == pytest.approx(sigma_max(G), rel=1e-9)
    assert b.upper == pytest.approx(sigma_max(G), rel=1e-9)


def test_nmf_bracket_all_negative(rng):
    G = -np.abs(rng.standard_normal((4, 3)))
    gu = gv = hf.NonNegative(hf.L2())
    b = AlternatingPolar(gu, gv)(G)
    assert b.lower == 0.0
    assert b.upper == pytest.approx(0.0, abs=1e-300)


@pytest.mark.parametrize("seed", range(6))
def test_alternating_nonneg_l1_vs_extreme_points(seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((5, 4))
    gu, gv = hf.NonNegative(hf.L1()), hf.NonNegative(hf.L2())
    exact = l1_extreme_polar(G, lambda row: float(np.linalg.norm(np.maximum(row, 0))),
                             nonneg_u=True)
    b = polar_solver_for(gu, gv)(G)
    check_bracket(b, G, gu, gv, exact, rel=1e-10)


def _elastic_ball_sample_2d(gamma: float, n_angles: int = 200_001) -> np.ndarray:
    """Boundary points of {v ∈ R²: ‖v‖₂ + γ‖v‖₁ ≤ 1} on a fine angle grid (axes included)."""
    t = np.linspace(0, 2 * np.pi, n_angles)
    t = np.concatenate([t, [0, np.pi / 2, np.pi, 3 * np.pi / 2]])
    d = np.stack([np.cos(t), np.sin(t)])
    return d / (np.linalg.norm(d, axis=0) + gamma * np.abs(d).sum(axis=0))


@pytest.mark.parametrize("gamma", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_alternating_dictionary_bracket_vs_dense_sampling(gamma, seed):
    """ℓ2 / (ℓ2 + γℓ1) with n = 2: Ω° = sup_v ‖Gv‖ over the boundary, sampled densely."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((4, 2))
    gu, gv = hf.L2(), hf.ElasticNet(gamma)
    sampled = float(np.linalg.norm(G @ _elastic_ball_sample_2d(gamma), axis=0).max())
    b = polar_solver_for(gu, gv)(G)
    assert isinstance(polar_solver_for(gu, gv), AlternatingPolar)
    check_bracket(b, G, gu, gv)
    assert b.upper >= sampled * (1 - 1e-12)
    # the sample is within ~1e-9 of the true sup, so the lower bound cannot exceed it by more
    assert b.lower <= sampled * (1 + 1e-8)
    # the alternating ascent finds the maximum on these tiny problems
    assert b.lower == pytest.approx(sampled, rel=1e-6)


def test_alternating_l2_l2_finds_sigma_max(rng):
    G = rng.standard_normal((9, 7))
    b = AlternatingPolar(hf.L2(), hf.L2())(G)
    check_bracket(b, G, hf.L2(), hf.L2(), sigma_max(G), rel=1e-10)
    assert b.lower == pytest.approx(sigma_max(G), rel=1e-8)


def test_alternating_warm_start_is_used(rng):
    G = np.abs(rng.standard_normal((5, 4)))
    gu = gv = hf.NonNegative(hf.L2())
    best = polar_solver_for(gu, gv)(G)
    b = AlternatingPolar(gu, gv, n_starts=0)(G, warm_start=best.maximizer)
    assert b.lower == pytest.approx(best.lower, rel=1e-9)


def test_polar_solver_dispatch():
    assert isinstance(polar_solver_for(hf.L2(), hf.L2()), NuclearPolar)
    assert isinstance(polar_solver_for(hf.L1(), hf.L2()), RowSparsePolar)
    assert isinstance(polar_solver_for(hf.L2(), hf.L1()), RowSparsePolar)
    assert isinstance(polar_solver_for(hf.NonNegative(), hf.NonNegative()), AlternatingPolar)
    assert isinstance(polar_solver_for(hf.ElasticNet(0.0), hf.L2()), AlternatingPolar)


def test_polar_bound_rejects_inverted_bracket():
    with pytest.raises(ValueError, match="bracket"):
        PolarBound(2.0, 1.0, (np.zeros(1), np.zeros(1)), "x")
    b = PolarBound(1.0, np.inf, (np.zeros(1), np.zeros(1)), "x")
    assert not b.has_upper
