"""Certificate formulas (DESIGN §2, THEORY §f): conjugate lower bounds, identities, status rule."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import (
    cvx_nuclear,
    random_low_rank,
    random_mask,
    requires_cvxpy,
    sigma_max,
    squared_dual_value,
    svt,
)

import homfact as hf
from homfact.certificate import STATUSES, certificate_from_bound, decide_status
from homfact.meta import certify_factors
from homfact.polar import PolarBound
from homfact.problems import completion_problem, low_rank_problem


def _factors_from(Z: np.ndarray, tol: float = 0.0):
    """Balanced factors of a matrix from its SVD (``Σ‖uᵢ‖‖vᵢ‖ = ‖Z‖_*``)."""
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    keep = s > tol
    r = np.sqrt(s[keep])
    return [U[:, keep] * r, Vt[keep].T * r]


def _penalty(factors) -> float:
    U, V = factors
    return float(np.sum(np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)))


# ----------------------------------------------------------------------------------------------
# status rule
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lo", "up", "lam", "rel", "expected"),
    [
        (0.9, 0.95, 1.0, 1e-9, "global"),
        (0.9, 1.0 + 5e-7, 1.0, 1e-9, "global"),  # within λ(1+ε), ε = 1e-6
        (0.9, 1.0 + 2e-6, 1.0, 1e-9, "unverified"),  # upper above λ(1+ε), lower below
        (0.9, 0.95, 1.0, 1e-3, "unverified"),  # polar fine but the gap is too large
        (1.5, 1.6, 1.0, 1e-9, "not_optimal"),  # a descent direction is proven
        (1.5, math.inf, 1.0, 0.0, "not_optimal"),
        (0.5, math.inf, 1.0, 0.0, "unverified"),  # never "global" without an upper bound
        (0.0, 0.0, 0.0, 0.0, "global"),
    ],
)
def test_decide_status(lo, up, lam, rel, expected):
    assert decide_status(lo, up, lam, rel, tol=1e-6, polar_rtol=1e-6) == expected
    assert expected in STATUSES


# ----------------------------------------------------------------------------------------------
# certificate_from_bound formulas
# ----------------------------------------------------------------------------------------------
def test_certificate_formulas_squared(rng):
    Y = rng.standard_normal((6, 5))
    z = 0.5 * Y + 0.1 * rng.standard_normal(Y.shape)
    loss = hf.SquaredLoss(Y)
    g = loss.neg_gradient(z)
    rho = sigma_max(g)
    lam, penalty = 0.7, 1.9
    bound = PolarBound(rho, rho, (np.zeros(6), np.zeros(5)), "test")
    cert = certificate_from_bound(loss, z, g, bound, penalty, lam, tol=1e-6)
    P = 0.5 * float(np.sum((Y - z) ** 2)) + lam * penalty
    L, c = squared_dual_value(g, Y, rho, lam)
    assert cert.objective == pytest.approx(P, rel=1e-14)
    assert cert.lower_bound == pytest.approx(L, rel=1e-12)
    assert cert.dual_scale == pytest.approx(c, rel=1e-12)
    assert cert.gap == pytest.approx(P - L, rel=1e-12)
    assert cert.relative_gap == pytest.approx((P - L) / abs(P), rel=1e-12)
    assert cert.polar_lower == rho and cert.polar_upper == rho and cert.lam == lam
    assert cert.method == "test" and cert.tol == 1e-6
    assert cert.status == ("not_optimal" if rho > lam * (1 + 1e-3) else "unverified")


def test_certificate_without_upper_bound_is_never_global(rng):
    Y = rng.standard_normal((4, 3))
    loss = hf.SquaredLoss(Y)
    z = Y.copy()  # perfect fit: the gap would be 0 if an upper bound existed
    g = loss.neg_gradient(z)
    bound = PolarBound(0.0, math.inf, (np.zeros(4), np.zeros(3)), "heuristic")
    cert = certificate_from_bound(loss, z, g, bound, 0.0, 1.0, tol=1e-6)
    assert cert.lower_bound == -math.inf
    assert cert.status == "unverified"
    assert not cert.is_global
    d = cert.to_dict()
    assert d["polar_upper"] is None and d["lower_bound"] is None
    assert json.loads(cert.to_json())["status"] == "unverified"
    assert "unverified" in str(cert)


def test_certificate_serialization_roundtrip(rng):
    Y = rng.standard_normal((5, 4))
    cert = hf.LowRankApproximation(lam=1.0).fit(Y).certificate_
    d = json.loads(cert.to_json())
    for key in ("objective", "lower_bound", "gap", "relative_gap", "polar_lower", "polar_upper",
                "lam", "status", "method"):
        assert key in d
    assert d["objective"] == pytest.approx(cert.objective)
    assert d["status"] == cert.status == "global"
    assert cert.is_global


# ----------------------------------------------------------------------------------------------
# squared loss: L ≤ P* ≤ P, equality at the SVT optimum, THEORY f.3 identities
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(10))
def test_squared_lower_bound_sound_at_random_factors(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    Y = rng.standard_normal((m, n)) * rng.uniform(0.3, 3)
    lam = float(rng.uniform(0.05, 1.5)) * sigma_max(Y)
    *_, P_star = svt(Y, lam)
    problem = low_rank_problem(Y, lam)
    for _ in range(5):
        r = int(rng.integers(0, 6))
        factors = [rng.standard_normal((m, r)) * rng.uniform(0, 2),
                   rng.standard_normal((n, r)) * rng.uniform(0, 2)]
        cert, bound, _, g = certify_factors(problem, factors)
        assert cert.lower_bound <= P_star + 1e-10 * max(1.0, P_star)
        assert cert.objective >= P_star - 1e-10 * max(1.0, P_star)
        # the certificate's objective is the product-form factorized objective
        Z = factors[0] @ factors[1].T
        assert cert.objective == pytest.approx(
            0.5 * float(np.sum((Y - Z) ** 2)) + lam * _penalty(factors), rel=1e-12)
        np.testing.assert_allclose(g, Y - Z, atol=1e-12)
        assert bound.upper == pytest.approx(sigma_max(Y - Z), rel=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_squared_gap_vanishes_at_svt_solution(seed):
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 9, 7, 3, noise=0.3)
    lam = float(rng.uniform(0.1, 0.9)) * sigma_max(Y)
    Ub, Vb, _, P_star = svt(Y, lam)
    cert, *_ = certify_factors(low_rank_problem(Y, lam), [Ub, Vb])
    assert cert.objective == pytest.approx(P_star, rel=1e-12)
    assert cert.lower_bound == pytest.approx(P_star, rel=1e-10)
    assert cert.relative_gap <= 1e-10
    assert cert.status == "global"


@pytest.mark.parametrize("seed", range(6))
def test_stationarity_gap_identity(seed):
    """THEORY f.3: at a scaling-stationary point with ρ > λ, c = s = λ/ρ and
    gap = (1 − s)λΘ + (1 − s)²‖R‖²/2."""
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 10, 8, 5, noise=0.2)
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    lam = float(0.5 * (s[3] + s[4]))  # four singular values above λ
    k = int(rng.integers(1, 4))  # keep only k < 4 of the SVT components: stationary, not optimal
    t = s[:k] - lam
    factors = [U[:, :k] * np.sqrt(t), Vt[:k].T * np.sqrt(t)]
    Z = factors[0] @ factors[1].T
    R = Y - Z
    # scaling stationarity: ⟨R, u_i v_iᵀ⟩ = λθ_i for every column
    for i in range(k):
        ui, vi = factors[0][:, i], factors[1][:, i]
        assert float(ui @ R @ vi) == pytest.approx(lam * np.linalg.norm(ui) * np.linalg.norm(vi),
                                                   rel=1e-10)
    cert, *_ = certify_factors(low_rank_problem(Y, lam), factors)
    rho = s[k]
    assert cert.polar_upper == pytest.approx(rho, rel=1e-10)
    assert rho > lam
    sc = lam / rho
    Theta = float(t.sum())
    expected = (1 - sc) * lam * Theta + (1 - sc) ** 2 * float(np.sum(R**2)) / 2
    assert cert.dual_scale == pytest.approx(sc, rel=1e-10)
    assert cert.gap == pytest.approx(expected, rel=1e-9)
    assert cert.status == "not_optimal"


@pytest.mark.parametrize("seed", range(4))
def test_gap_equals_stationarity_violation_when_polar_below_lam(seed):
    """THEORY f.3, c = 1: gap = λΘ − ⟨R, Z⟩ when ρ_up ≤ λ (and the best c is 1)."""
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 8, 6, 2, noise=0.1)
    lam = 0.6 * sigma_max(Y)
    Ub, Vb, _, _ = svt(Y, lam)
    # over-scaled optimal columns: Z = 1.05 Z*, so ρ = σ_max(R) ≤ λ still holds, ⟨R, Z⟩ > 0
    # makes the best scale c* ≥ 1 (hence c = 1), and scaling stationarity is violated
    factors = [Ub * 1.05, Vb]
    Z = factors[0] @ factors[1].T
    R = Y - Z
    cert, *_ = certify_factors(low_rank_problem(Y, lam), factors)
    assert cert.polar_upper <= lam
    assert cert.dual_scale == 1.0
    expected = lam * _penalty(factors) - float(np.sum(R * Z))
    assert expected > 0
    assert cert.gap == pytest.approx(expected, rel=1e-9)


# ----------------------------------------------------------------------------------------------
# masked squared (completion) and Huber: L ≤ P* at random points, L = P* at the optimum
# ----------------------------------------------------------------------------------------------
def _completion_instance(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(3, 8)), int(rng.integers(3, 7))
    Y = random_low_rank(rng, m, n, 2, noise=0.3)
    mask = random_mask(rng, (m, n), 0.6)
    Ynan = np.where(mask, Y, np.nan)
    lam = float(rng.uniform(0.1, 0.6)) * sigma_max(np.where(mask, Y, 0.0))
    return rng, Y, mask, Ynan, lam


@requires_cvxpy
@pytest.mark.parametrize("seed", range(6))
def test_masked_squared_bounds_vs_cvxpy(seed):
    rng, Y, mask, Ynan, lam = _completion_instance(seed)
    P_star, Z_star = cvx_nuclear(Y, lam, mask=mask)
    problem = completion_problem(Ynan, lam)
    tol = 1e-6 * max(1.0, abs(P_star))
    for _ in range(6):
        r = int(rng.integers(0, 5))
        factors = [rng.standard_normal((Y.shape[0], r)), rng.standard_normal((Y.shape[1], r))]
        cert, _, z, g = certify_factors(problem, factors)
        assert cert.lower_bound <= P_star + tol
        assert cert.objective >= P_star - tol
        Z = factors[0] @ factors[1].T
        np.testing.assert_allclose(z, Z[mask], atol=1e-12)  # CSR (row-major) order
        np.testing.assert_allclose(g, (Y - Z)[mask], atol=1e-12)  # G = P_Ω(Y − Z)
        assert cert.objective == pytest.approx(
            0.5 * float(np.sum((Y - Z)[mask] ** 2)) + lam * _penalty(factors), rel=1e-12)
    # at the (CVXPY) optimum the dual bound is tight
    cert, *_ = certify_factors(problem, _factors_from(Z_star, 1e-9))
    assert cert.lower_bound == pytest.approx(P_star, rel=1e-6, abs=1e-6)
    assert cert.objective == pytest.approx(P_star, rel=1e-6, abs=1e-6)


def _huber_instance(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(3, 8)), int(rng.integers(3, 7))
    Y = random_low_rank(rng, m, n, 2, noise=0.2)
    # gross outliers so that the linear part of the Huber loss is active
    idx = rng.choice(m * n, size=3, replace=False)
    Y.flat[idx] += rng.choice([-8.0, 8.0], size=3)
    delta = float(rng.choice([0.3, 1.0, 2.0]))
    G0 = np.clip(Y, -delta, delta)
    lam = float(rng.uniform(0.1, 0.7)) * sigma_max(G0)
    return rng, Y, delta, lam


@requires_cvxpy
@pytest.mark.parametrize("seed", range(6))
def test_huber_bounds_vs_cvxpy(seed):
    rng, Y, delta, lam = _huber_instance(seed)
    P_star, Z_star = cvx_nuclear(Y, lam, loss="huber", delta=delta)
    problem = low_rank_problem(Y, lam, loss="huber", delta=delta)
    tol = 1e-6 * max(1.0, abs(P_star))
    for _ in range(6):
        r = int(rng.integers(0, 5))
        factors = [rng.standard_normal((Y.shape[0], r)) * 2,
                   rng.standard_normal((Y.shape[1], r)) * 2]
        cert, _, _, g = certify_factors(problem, factors)
        assert cert.lower_bound <= P_star + tol
        assert cert.objective >= P_star - tol
        # the dual point stays in the Huber dual domain |Λ| ≤ δ
        assert np.max(np.abs(cert.dual_scale * g)) <= delta * (1 + 1e-12)
    cert, *_ = certify_factors(problem, _factors_from(Z_star, 1e-9))
    assert cert.lower_bound == pytest.approx(P_star, rel=1e-6, abs=1e-6)
    assert cert.objective == pytest.approx(P_star, rel=1e-6, abs=1e-6)
