"""Independent soundness review of the certificates of the newer models.

Every test here checks that a certificate never claims more than was proved: a polar upper
bound must be ≥ the true polar (exact enumeration or brute force on tiny instances), a lower
bound on the optimum must be ≤ a CVXPY optimum or the objective of feasible points, and
``"global"`` must never be reported when the brute-force polar exceeds ``λ(1+1e-3)``.
The oracles are written here from the definitions (no homfact code in the reference values).
"""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pytest
import torch
from conftest import cvx_solve, requires_cvxpy

from homfact.gauges import L1, L2, ElasticNet, NonNegative
from homfact.losses import SquaredLoss
from homfact.maps import CPMap
from homfact.meta import Problem, grow
from homfact.models.dictionary import (
    ElasticNetL2Polar,
    SparseDictionaryLearning,
    elastic_net_bcd,
    elastic_net_dual_columns,
)
from homfact.models.nmf import NonnegativeFactorization, NonnegativePolar
from homfact.models.robust_pca import RobustPCA
from homfact.models.structured import (
    DictionaryBilinear,
    InterceptSquaredLoss,
    StructuredPolar,
    StructuredProblem,
)
from homfact.nn.losses import make_loss
from homfact.nn.polar import relu_unit_polar
from homfact.polar import TensorPolar, tensor_polar_upper, unfolding_spectral_bounds
from homfact.polar.nonnegative import _sigma_max
from homfact.solvers.hals import hals
from homfact.tv import L1TVL2

RTOL = 1e-9


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one torch thread (thread spin-up dominated on a loaded 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------------------------
# oracles
# --------------------------------------------------------------------------------------------
def nonneg_polar_exact(G: np.ndarray) -> float:
    """``max_{u,v ≥ 0, ‖u‖=‖v‖=1} uᵀGv`` by enumerating the supports ``(S, T)``.

    At a maximizer with supports ``S, T`` the pair is a strictly positive local maximum of
    ``uᵀG_{ST}v`` on the spheres, i.e. the top singular pair of ``G_{ST}`` (bilinear forms on
    spheres have no other local maxima).  Every ``(|u₁|, |v₁|)`` is feasible, so the maximum of
    their values over all supports is the polar (and 0 from ``u = 0``)."""
    m, n = G.shape
    best = 0.0
    for a in range(1, m + 1):
        for S in itertools.combinations(range(m), a):
            for b in range(1, n + 1):
                for T in itertools.combinations(range(n), b):
                    B = G[np.ix_(S, T)]
                    U, _, Vt = np.linalg.svd(B)
                    best = max(best, float(np.abs(U[:, 0]) @ B @ np.abs(Vt[0])))
    return best


def en_value(u: np.ndarray, gamma: float) -> float:
    return float(np.linalg.norm(u) + gamma * np.abs(u).sum())


# --------------------------------------------------------------------------------------------
# 1. NMF: NonnegativePolar bracket, Gram-eigenvalue σ_max, certified factors
# --------------------------------------------------------------------------------------------
def test_nmf_gram_sigma_max_is_an_upper_bound():
    rng = np.random.default_rng(0)
    for shape in [(1, 7), (7, 1), (30, 4), (4, 30), (60, 60)]:
        for scale in (1e-300, 1e-170, 1e-158, 1e-150, 1.0, 1e150):
            for kind in ("gauss", "lowrank", "graded"):
                A = rng.standard_normal(shape)
                if kind == "lowrank":
                    A = np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
                    A += 1e-9 * rng.standard_normal(shape)
                elif kind == "graded":
                    A = A * np.logspace(0, -12, shape[1])
                A = A * scale
                up = _sigma_max(A, 1e-3, rng)[2]
                assert up >= np.linalg.norm(A, 2), (shape, scale, kind)
                if scale >= 1.0:  # (tiny scales: the underflow allowance is absolute)
                    assert up <= np.linalg.norm(A, 2) * (1 + 1e-6)
                # the CP unfolding bounds share the Gram construction
                T3 = A.reshape(shape[0], 1, shape[1])
                ub = unfolding_spectral_bounds(T3)[0]
                assert ub[0] >= np.linalg.norm(A, 2) and ub[2] >= np.linalg.norm(A, 2)


@pytest.mark.parametrize("seed", range(12))
def test_nmf_polar_bracket_contains_exact_polar(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    G = rng.standard_normal((m, n)) + rng.uniform(-1.0, 0.5)
    exact = nonneg_polar_exact(G)
    # lam=None: upper = σ_max(G₊); lam = exact: the σ_max(G) branch can be taken too
    for lam in (None, exact, 0.5 * exact, 2.0 * exact + 1.0):
        b = NonnegativePolar(lam=lam)(G, n_candidates=3)
        assert b.upper >= exact * (1 - RTOL), (lam, b.upper, exact)
        assert b.upper >= np.linalg.norm(np.maximum(G, 0), 2) * (1 - 1e-9) or (
            b.upper >= min(np.linalg.norm(np.maximum(G, 0), 2), np.linalg.norm(G, 2))
            * (1 - 1e-9))
        assert b.lower <= exact * (1 + RTOL) + 1e-12
        u, v = b.maximizer
        assert np.all(u >= 0) and np.all(v >= 0)
        if b.lower > 0:
            assert abs(u @ G @ v - b.lower) <= 1e-9 * max(1.0, b.lower)
            assert np.linalg.norm(u) <= 1 + 1e-9 and np.linalg.norm(v) <= 1 + 1e-9


def _nmf_objective(X, U, V, lam):
    return 0.5 * np.linalg.norm(X - U @ V.T) ** 2 + lam * float(
        np.sum(np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)))


@pytest.mark.parametrize("seed", range(4))
def test_nmf_certificate_describes_certified_factors_and_is_sound(seed):
    rng = np.random.default_rng(100 + seed)
    m, n = 5, 4
    X = np.abs(rng.standard_normal((m, 2))) @ np.abs(rng.standard_normal((2, n)))
    X += 0.3 * np.abs(rng.standard_normal((m, n)))
    for ratio in (0.15, 0.4):
        est = NonnegativeFactorization(lam_ratio=ratio, tol=1e-6, random_state=seed).fit(X)
        c, lam = est.certificate_, est.lam_
        U, V = est.certified_W_, est.certified_components_.T
        assert np.all(U >= 0) and np.all(V >= 0)
        # the certificate's objective is that of the certified factors (not of the refit)
        assert abs(c.objective - _nmf_objective(X, U, V, lam)) <= 1e-9 * max(1, c.objective)
        # the polar bracket is valid for the residual of the certified factors
        exact = nonneg_polar_exact(X - U @ V.T)
        assert c.polar_upper >= exact * (1 - RTOL)
        if c.status == "global":
            assert exact <= lam * (1 + 1e-3)
        # the lower bound is below every feasible objective found by long local searches
        best = c.objective
        for r in (1, 2, 3):
            for _ in range(6):
                res = hals(X, np.abs(rng.standard_normal((m, r))),
                           np.abs(rng.standard_normal((n, r))), lam, max_sweeps=2000, tol=1e-13)
                best = min(best, _nmf_objective(X, *res.factors, lam))
        assert c.lower_bound <= best + 1e-9 * max(1.0, best)


# --------------------------------------------------------------------------------------------
# 2. dictionary learning: ElasticNetL2Polar (codes = rows of G under ‖·‖₂ + γ‖·‖₁)
# --------------------------------------------------------------------------------------------
@requires_cvxpy
def test_elastic_net_dual_norm_matches_cvxpy():
    rng = np.random.default_rng(1)
    for gamma in (0.0, 0.3, 1.0, 4.0):
        W = rng.standard_normal((6, 3)) * np.array([1.0, 0.01, 10.0])
        W[0, 1] = 0.0
        got = elastic_net_dual_columns(W, gamma)
        for j in range(W.shape[1]):
            u = cp.Variable(W.shape[0])
            prob = cp.Problem(cp.Maximize(W[:, j] @ u),
                              [cp.norm(u, 2) + gamma * cp.norm(u, 1) <= 1])
            ref = -cvx_solve(cp.Problem(cp.Minimize(-(W[:, j] @ u)), prob.constraints))
            assert abs(got[j] - ref) <= 1e-6 * max(1.0, abs(ref)), (gamma, j)
            assert abs(ElasticNet(gamma).dual_value(W[:, j]) - ref) <= 1e-6 * max(1.0, ref)


def _en_polar_brute(G: np.ndarray, gamma: float, n_grid: int = 4000) -> float:
    """Lower estimate of ``sup_{κ(u) ≤ 1, ‖v‖ ≤ 1} uᵀGv`` for ``G`` with 2 columns: for each
    ``v`` on a fine circle grid, the exact dual norm by bisection on ``‖soft(Gv, γμ)‖ = μ``
    (written independently here), a feasible ``u`` (κ checked) and its exact value."""
    t = np.linspace(0, 2 * np.pi, n_grid, endpoint=False)
    W = G @ np.stack([np.cos(t), np.sin(t)])  # one column per grid point
    lo, hi = np.zeros(n_grid), np.linalg.norm(W, axis=0) + 1e-300
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        s = np.sign(W) * np.maximum(np.abs(W) - gamma * mid, 0.0)
        big = np.linalg.norm(s, axis=0) > mid
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    S = np.sign(W) * np.maximum(np.abs(W) - gamma * lo, 0.0)
    k = np.linalg.norm(S, axis=0) + gamma * np.abs(S).sum(axis=0)  # κ of each point
    ok = k > 0
    best = float(np.max(np.sum(S[:, ok] * W[:, ok], axis=0) / k[ok], initial=0.0))
    return best


def test_elastic_net_polar_upper_bound_valid_and_uses_the_code_side():
    g = np.array([3.0, -1.0])
    for gamma in (0.0, 0.2, 1.0, 3.0):
        for n in (1, 4, 9):
            # all rows equal: u = 1/(√n + γn) attains ‖g‖/(γ + 1/√n) — the row bound is tight;
            # the √n must be that of the code side (rows of G, n_samples)
            G = np.tile(g, (n, 1))
            exact = np.linalg.norm(g) / (gamma + 1.0 / np.sqrt(n))
            b = ElasticNetL2Polar(gamma)(G)
            assert b.upper >= exact * (1 - RTOL), (gamma, n, b.upper, exact)
            # the bound itself, not rescued by max(upper, lower)
            assert ElasticNetL2Polar(gamma).upper_bound(G)[0] >= exact * (1 - RTOL)
            assert b.lower <= exact * (1 + RTOL)
            assert b.lower >= exact * (1 - 1e-6)
            # one non-zero row: κ(u) ≥ (1+γ)‖u‖ is tight at u = e₁/(1+γ)
            G1 = np.zeros((n, 2))
            G1[0] = g
            b1 = ElasticNetL2Polar(gamma)(G1)
            ex1 = np.linalg.norm(g) / (1 + gamma)
            assert b1.upper >= ex1 * (1 - RTOL) and b1.lower <= ex1 * (1 + RTOL)
    rng = np.random.default_rng(2)
    for seed in range(6):
        n = int(rng.integers(1, 7))
        G = rng.standard_normal((n, 2)) * rng.uniform(0.1, 5)
        for gamma in (0.0, 0.5, 2.0):
            b = ElasticNetL2Polar(gamma)(G)
            brute = _en_polar_brute(G, gamma)
            assert b.upper >= brute * (1 - RTOL), (seed, gamma)
            assert ElasticNetL2Polar(gamma).upper_bound(G)[0] >= brute * (1 - RTOL)
            assert b.lower <= brute * (1 + 1e-5) + 1e-12  # grid error O(h²) only
            u, v = b.maximizer
            assert en_value(u, gamma) <= 1 + 1e-9 and np.linalg.norm(v) <= 1 + 1e-9


def test_dictionary_lower_bound_below_feasible_objectives():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 4))
    X[:, 0] += 2 * X[:, 1]
    for gamma in (0.5, 2.0):
        est = SparseDictionaryLearning(lam=0.6, gamma=gamma, tol=1e-6, random_state=0).fit(X)
        c = est.certificate_
        U, V = est.U_, est.V_
        obj = 0.5 * np.linalg.norm(X - U @ V.T) ** 2 + est.lam_ * sum(
            en_value(U[:, i], gamma) * np.linalg.norm(V[:, i]) for i in range(U.shape[1]))
        assert abs(obj - c.objective) <= 1e-9 * max(1.0, obj)
        best = obj
        for r in (1, 2, 3):
            for _ in range(3):
                res = elastic_net_bcd(X, rng.standard_normal((6, r)), rng.standard_normal((4, r)),
                                      est.lam_, gamma, max_sweeps=1500, tol=1e-13)
                Ur, Vr = res.factors
                best = min(best, 0.5 * np.linalg.norm(X - Ur @ Vr.T) ** 2 + est.lam_ * sum(
                    en_value(Ur[:, i], gamma) * np.linalg.norm(Vr[:, i]) for i in range(r)))
        assert c.lower_bound <= best + 1e-9 * max(1.0, best)


# --------------------------------------------------------------------------------------------
# 3. CP tensors: tensor_polar_upper / TensorPolar for ℓ2, ℓ1 and (mixed) non-negative modes
# --------------------------------------------------------------------------------------------
def _sphere_grid(k: int, nonneg: bool) -> np.ndarray:
    t = np.linspace(0, np.pi / 2 if nonneg else 2 * np.pi, k)
    return np.stack([np.cos(t), np.sin(t)], 1)


def _polar_2x2x2_brute(A: np.ndarray, nonneg: tuple[bool, bool, bool]) -> float:
    """``max ⟨A, x∘y∘z⟩`` over unit 2-vectors (quarter circle where non-negative): grid on
    ``x, y``, ``z`` optimal in closed form (``z = w/‖w‖`` or ``w₊/‖w₊‖``)."""
    X, Y = _sphere_grid(361, nonneg[0]), _sphere_grid(361, nonneg[1])
    W = np.einsum("ijk,ai,bj->abk", A, X, Y)
    if nonneg[2]:
        W = np.maximum(W, 0.0)
    return float(np.linalg.norm(W, axis=2).max())


def test_tensor_polar_upper_l2_and_mixed_nonnegative_modes():
    rng = np.random.default_rng(4)
    for seed in range(4):
        A = rng.standard_normal((2, 2, 2)) - (0.8 if seed % 2 else 0.0)
        for nn in [(False,) * 3, (True,) * 3, (True, False, False), (True, True, False),
                   (False, True, True)]:
            gauges = tuple(NonNegative(L2()) if f else L2() for f in nn)
            brute = _polar_2x2x2_brute(A, nn)
            up, _ = tensor_polar_upper(A, gauges)
            assert up >= brute * (1 - RTOL), (seed, nn, up, brute)
            b = TensorPolar(gauges)(A)
            assert b.upper >= brute * (1 - RTOL) and b.lower <= brute * (1 + 1e-4) + 1e-12
    # all entries negative: G₊ = 0, yet with one signed mode the polar is positive
    A = -np.abs(rng.standard_normal((2, 2, 2))) - 0.1
    gauges = (NonNegative(L2()), NonNegative(L2()), L2())
    assert _polar_2x2x2_brute(A, (True, True, False)) > 0.1
    assert tensor_polar_upper(A, gauges)[0] >= _polar_2x2x2_brute(A, (True, True, False))


def test_tensor_polar_upper_l1_modes_exact():
    rng = np.random.default_rng(5)
    for _ in range(6):
        A = rng.standard_normal((3, 2, 2)) - 0.5
        # NonNegative(ℓ1) on mode 0, ℓ2 on the others: polar = max_i ‖A[i]‖₂ (and ≥ 0)
        ex = max(0.0, max(np.linalg.norm(A[i], 2) for i in range(3)))
        up, _ = tensor_polar_upper(A, (NonNegative(L1()), L2(), L2()))
        assert up >= ex * (1 - RTOL)
        # signed ℓ1 on mode 0, non-negative ℓ2 on the others: both signs of every slice
        ex2 = max(nonneg_polar_exact(s * A[i]) for i in range(3) for s in (1.0, -1.0))
        up2, _ = tensor_polar_upper(A, (L1(), NonNegative(L2()), NonNegative(L2())))
        assert up2 >= ex2 * (1 - RTOL)
        # ℓ1 on mode 0, non-negative on mode 1, signed ℓ2 on mode 2
        X = _sphere_grid(2001, True)
        ex3 = max(float(np.linalg.norm(np.einsum("jk,aj->ak", s * A[i], X), axis=1).max())
                  for i in range(3) for s in (1.0, -1.0))
        up3, _ = tensor_polar_upper(A, (L1(), NonNegative(L2()), L2()))
        assert up3 >= ex3 * (1 - RTOL)


def test_cp_merge_parallel_never_changes_output_or_raises_penalty():
    rng = np.random.default_rng(6)
    cp_map = CPMap((3, 4, 2))
    a, b, c = rng.standard_normal(3), rng.standard_normal(4), rng.standard_normal(2)
    F = [np.column_stack([a, -2 * a, rng.standard_normal(3)]),
         np.column_stack([b, -b, rng.standard_normal(4)]),
         np.column_stack([c, 0.5 * c, rng.standard_normal(2)])]
    out = cp_map.merge_parallel(F)
    assert out[0].shape[1] == 2
    assert np.allclose(cp_map.forward(out), cp_map.forward(F), atol=1e-12)
    pen = lambda fs: float(np.sum(np.prod([np.linalg.norm(x, axis=0) for x in fs], 0)))  # noqa
    assert pen(out) <= pen(F) * (1 + 1e-12)


# --------------------------------------------------------------------------------------------
# 4. structured: L1TVL2 floor, InterceptSquaredLoss conjugate, polar on G·D, G₊ only if both
# --------------------------------------------------------------------------------------------
def test_l1tvl2_l2_floor_holds():
    rng = np.random.default_rng(7)
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]])
    for k1, k2, k3 in [(1, 0.5, 1), (0.3, 2, 0), (0, 1, 2), (2, 0, 0.5)]:
        g = L1TVL2(k1, k2, k3, 5, edges)
        X = rng.standard_normal((5, 200)) * rng.uniform(0.01, 10, 200)
        X[:, :5] = np.eye(5)  # ‖x‖₁ = ‖x‖₂, TV of a spike > 0
        X[:, 5] = 1.0  # TV = 0
        assert np.all(g.value(X) >= g.l2_floor * np.linalg.norm(X, axis=0) * (1 - 1e-12))


def test_intercept_loss_conjugate_is_a_lower_bound():
    """Fenchel–Young: ``−ℓ̃*(−Λ) ≤ ℓ̃(Z) + ⟨Λ, Z⟩`` for all ``Z``, and ``ℓ̃`` = min over ``W``."""
    rng = np.random.default_rng(8)
    m, n, q = 4, 7, 2
    Y = rng.standard_normal((m, n))
    B = rng.standard_normal((n, q))
    for mu in (0.0, 0.5, 3.0):
        loss = InterceptSquaredLoss(Y, B, mu)
        for _ in range(20):
            Z = rng.standard_normal((m, n))
            # ℓ̃(Z) = min_W ½‖Y − Z − WBᵀ‖² + (μ/2)‖W‖²
            R = Y - Z
            W = np.linalg.solve(B.T @ B + mu * np.eye(q), B.T @ R.T).T
            ref = 0.5 * np.linalg.norm(R - W @ B.T) ** 2 + 0.5 * mu * np.linalg.norm(W) ** 2
            assert abs(loss.value(Z) - ref) <= 1e-10 * max(1.0, ref)
            G = loss.neg_gradient(rng.standard_normal((m, n)))
            for c in (0.0, 0.3, 1.0, 2.5):
                L = c * G + (rng.standard_normal((m, n)) * 1e-3 if mu > 0 else 0.0)
                d = loss.dual_value(L)
                assert d <= loss.value(Z) + float(np.vdot(L, Z)) + 1e-9
        # exactness: inf_Z ℓ̃(Z) + ⟨Λ, Z⟩ = ⟨Λ, Y⟩ − ½⟨Λ, Λ M⁺⟩ (μ > 0: M invertible; μ = 0: on
        # ΛB = 0, attained at Z = Y − Λ with value ⟨Λ, Y⟩ − ½‖Λ‖²)
        M = np.eye(n) - B @ np.linalg.solve(B.T @ B + mu * np.eye(q), B.T)
        L = rng.standard_normal((m, n))
        if mu == 0.0:
            L = L @ M  # M is the projector off range(B) here
            ref = float(np.vdot(L, Y)) - 0.5 * float(np.vdot(L, L))
            Zs = Y - L
            assert abs(loss.value(Zs) + np.vdot(L, Zs) - ref) <= 1e-9 * max(1.0, abs(ref))
        else:
            ref = float(np.vdot(L, Y)) - 0.5 * float(np.vdot(L, L @ np.linalg.inv(M)))
        assert abs(loss.dual_value(L) - ref) <= 1e-9 * max(1.0, abs(ref))
        if mu == 0.0:  # off the domain ΛB = 0: no bound claimed
            assert loss.dual_value(rng.standard_normal((m, n))) == -np.inf


@pytest.mark.parametrize("seed", range(3))
@requires_cvxpy
def test_structured_dictionary_intercept_certificate_vs_cvxpy(seed):
    """ℓ2/ℓ2 gauges (k1=k2=0, k3=1): the problem is ``min ℓ̃(Z Dᵀ) + λ‖Z‖_*``, solvable by
    CVXPY; the certificate through DictionaryBilinear (polar on G·D) and InterceptSquaredLoss
    must bracket its optimum."""
    rng = np.random.default_rng(20 + seed)
    m, n, p, q = 5, 7, 3, 2
    D = rng.standard_normal((n, p))
    B = rng.standard_normal((n, q))
    Y = rng.standard_normal((m, n)) + 2 * np.outer(rng.standard_normal(m), D @ rng.random(p))
    mu = [0.0, 0.7, 0.0][seed]
    loss = InterceptSquaredLoss(Y, B, mu)
    lam = 0.5 * float(np.linalg.norm(loss.neg_gradient(np.zeros((m, n))) @ D, 2))
    gu, gv = L1TVL2(0, 0, 1, m), L1TVL2(0, 0, 1, p)
    prob = StructuredProblem(loss, DictionaryBilinear((m, n), D), (gu, gv), lam,
                             polar=StructuredPolar(gu, gv), local_solver="prox_linear")
    res = grow(prob, None, tol=1e-7, max_iter=60, max_sweeps=3000, random_state=0)
    cert = res.certificate
    Z, W = cp.Variable((m, p)), cp.Variable((m, q))
    fit = 0.5 * cp.sum_squares(Y - Z @ D.T - W @ B.T) + 0.5 * mu * cp.sum_squares(W)
    pstar = cvx_solve(cp.Problem(cp.Minimize(fit + lam * cp.normNuc(Z))))
    tol = 1e-6 * max(1.0, abs(pstar))
    assert cert.lower_bound <= pstar + tol
    assert cert.objective >= pstar - tol
    # the polar upper bound is ≥ the exact polar σ_max(G D) of the final residual
    z = prob.mapping.forward(res.factors)
    assert cert.polar_upper >= np.linalg.norm(loss.neg_gradient(z) @ D, 2) * (1 - 1e-9)


def test_structured_polar_uses_g_plus_only_when_both_sides_nonnegative():
    rng = np.random.default_rng(9)
    G = -np.abs(rng.standard_normal((5, 4))) - 0.1  # G₊ = 0
    for nn_u, nn_v in [(True, False), (False, True), (False, False), (True, True)]:
        gu = L1TVL2(1.0, 0.5, 1.0, 5, np.array([[0, 1], [1, 2]]), nonnegative=nn_u)
        gv = L1TVL2(0.0, 0.0, 1.0, 4, nonnegative=nn_v)
        b = StructuredPolar(gu, gv)(G)
        # random feasible pairs scaled to κ = 1 (κ computed directly): values ≤ upper
        Uc, Vc = rng.standard_normal((5, 3000)), rng.standard_normal((4, 3000))
        Uc, Vc = (np.abs(Uc) if nn_u else Uc), (np.abs(Vc) if nn_v else Vc)
        Uc, Vc = Uc / gu.value(Uc), Vc / gv.value(Vc)
        best = max(0.0, float(np.einsum("ij,ik,kj->j", Uc, G, Vc).max()))
        assert b.upper >= best * (1 - RTOL), (nn_u, nn_v)
        # the upper bound alone (no ascent, so max(upper, lower) cannot rescue it)
        b0 = StructuredPolar(gu, gv, n_seeds=0, max_iter=0)(G)
        assert b0.upper >= best * (1 - RTOL), (nn_u, nn_v)
        if nn_u and nn_v:
            assert b.upper == 0.0 and best <= 0.0
        else:
            assert best > 0


# --------------------------------------------------------------------------------------------
# 5. robust PCA: certificate_ describes the certified factors, lower bound ≤ CVXPY optimum
# --------------------------------------------------------------------------------------------
@requires_cvxpy
def test_robust_pca_certificate_is_for_certified_factors():
    rng = np.random.default_rng(10)
    m, n = 8, 7
    L = np.outer(rng.standard_normal(m), rng.standard_normal(n)) * 2
    S = np.where(rng.random((m, n)) < 0.1, 5 * rng.standard_normal((m, n)), 0.0)
    Y = L + S + 0.05 * rng.standard_normal((m, n))
    gamma = 4.0
    est = RobustPCA(lam=1.0, gamma=gamma, tol=1e-6, random_state=0).fit(Y)
    assert est.debiased_  # the refit replaced U_, V_, sparse_
    U, V, E = est.certified_U_, est.certified_V_, est.certified_sparse_
    lam = est.lam_
    obj = (np.abs(E).sum() + lam * float(np.sum(np.linalg.norm(U, axis=0)
                                                  * np.linalg.norm(V, axis=0)))
           + 0.5 * gamma * np.linalg.norm(Y - U @ V.T - E) ** 2)
    c = est.certificate_
    assert abs(obj - c.objective) <= 1e-8 * max(1.0, obj)
    Lv, Ev = cp.Variable((m, n)), cp.Variable((m, n))
    pstar = cvx_solve(cp.Problem(cp.Minimize(cp.sum(cp.abs(Ev)) + lam * cp.normNuc(Lv) + 0.5
                                             * gamma * cp.sum_squares(Y - Lv - Ev))))
    assert c.lower_bound <= pstar + 1e-6 * max(1.0, pstar)
    assert c.objective >= pstar - 1e-6 * max(1.0, pstar)


# --------------------------------------------------------------------------------------------
# 6. networks: exact 2-D ReLU polar, loss duals (Fenchel–Young)
# --------------------------------------------------------------------------------------------
def test_relu_unit_polar_bracket_vs_angle_grid():
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(11)
    t = np.linspace(0, 2 * np.pi, 40_001)
    Wg = torch.tensor(np.stack([np.cos(t), np.sin(t)], 1))
    for seed in range(5):
        N, C = int(rng.integers(3, 12)), int(rng.integers(1, 3))
        V = torch.tensor(rng.standard_normal((N, 2)))
        if seed % 2:
            V[:, 1] = 1.0  # 1-D input plus the bias column
        G = torch.tensor(rng.standard_normal((N, C)))
        grid = float((G.T @ torch.relu(V @ Wg.T)).norm(dim=0).max())
        b = relu_unit_polar(V, G, generator=gen)
        assert b.upper >= grid * (1 - 1e-12)
        assert b.lower >= grid * (1 - 1e-6)  # exact enumeration finds the maximum
        # the multistart bracket (no enumeration) must still bound the truth from above
        b2 = relu_unit_polar(V, G, exact=False, generator=gen)
        assert b2.upper >= grid * (1 - 1e-12)
        # 3 input columns: the crude ‖G‖₂‖V‖₂ bound vs brute-force random sampling
        V3 = torch.tensor(rng.standard_normal((N, 3)))
        W3 = torch.nn.functional.normalize(torch.randn(20000, 3, generator=gen,
                                                       dtype=torch.float64), dim=1)
        brute3 = float((G.T @ torch.relu(V3 @ W3.T)).norm(dim=0).max())
        assert relu_unit_polar(V3, G, generator=gen).upper >= brute3 * (1 - 1e-12)


def _conjugate_infimum(loss, z0: torch.Tensor, T: torch.Tensor, lam: torch.Tensor) -> float:
    """``inf_Z ℓ(Z) + ⟨Λ, Z⟩`` (convex) by L-BFGS from ``z0``: an upper estimate of it."""
    zp = z0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([zp], max_iter=60, tolerance_grad=1e-12, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = loss.value(zp, T) + (lam * zp).sum()
        f.backward()
        return f

    opt.step(closure)
    with torch.no_grad():
        return float(loss.value(zp, T) + (lam * zp).sum())


@pytest.mark.parametrize("name", ["squared", "cross_entropy", "squared_hinge"])
def test_network_loss_duals_are_lower_bounds(name):
    """``−ℓ*(−cG) ≤ ℓ(Z') + ⟨cG, Z'⟩`` for every ``Z'`` (Fenchel–Young), at the returned ``c``."""
    torch.manual_seed(0)
    loss = make_loss(name)
    N, C = 9, 3
    y = np.arange(N) % C
    T = (loss.targets(y, C, "cpu", torch.float64) if name != "squared"
         else torch.randn(N, C, dtype=torch.float64))
    for trial in range(3):
        z = torch.randn(N, C, dtype=torch.float64) * (0.3 + trial)
        g = loss.neg_gradient(z, T)
        for c_max in (1.0, 0.05):
            c, dval = loss.dual(z, T, g, c_max)
            assert 0.0 <= c <= c_max + 1e-15
            for _ in range(20):
                zp = torch.randn(N, C, dtype=torch.float64) * 3
                rhs = float(loss.value(zp, T)) + c * float((g * zp).sum())
                assert dval <= rhs + 1e-10
            # the infimum of ℓ(Z') + ⟨cG, Z'⟩ itself (convex; L-BFGS from Z): the dual value
            # must not exceed it (an overestimated conjugate would)
            inf_val = _conjugate_infimum(loss, z, T, c * g)
            assert dval <= inf_val + 1e-10
            assert dval >= inf_val - 1e-5 * max(1.0, abs(inf_val))  # and it is tight


@pytest.mark.parametrize("loss", ["squared", "cross_entropy", "squared_hinge"])
def test_growing_network_global_only_below_brute_force_polar(loss):
    """Two-layer ReLU units on 1-D inputs plus a bias column (exact polar): the certificate's
    polar bracket must contain the angle-grid polar of the final ``G``, and ``"global"`` is
    allowed only if that brute-force polar is ``≤ λ(1+1e-3)``."""
    from homfact.nn import GrowingClassifier, GrowingRegressor

    rng = np.random.default_rng(12)
    X = rng.uniform(-2, 2, (24, 1))
    if loss == "squared":
        est = GrowingRegressor(lam=0.02, fit_bias=True, max_growth=8, descent_iter=100,
                               random_state=0)
        y = np.abs(X[:, 0]) - 0.5 + 0.05 * rng.standard_normal(24)
    else:
        est = GrowingClassifier(loss=loss, lam=0.01, fit_bias=True, max_growth=12,
                                descent_iter=100, random_state=0)
        y = (np.abs(X[:, 0]) > 1).astype(int)
    est.fit(X, y)
    c = est.certificate_
    V = est._inputs(X)
    lossf = make_loss(loss)
    n_cls = None if loss == "squared" else 2
    T = lossf.targets(y, n_cls, "cpu", torch.float64)
    with torch.no_grad():
        z = est.model_(V)
    G = lossf.neg_gradient(z, T)
    # fine angle grid plus the kinks (angles where some vₙᵀw = 0): the value is smooth between
    # kinks, so the grid misses the maximum by O(h²) only
    Vn = V.numpy()
    kinks = np.arctan2(Vn[:, 1], Vn[:, 0])
    t = np.concatenate([np.linspace(0, 2 * np.pi, 40_001), kinks + np.pi / 2, kinks - np.pi / 2])
    Wg = torch.tensor(np.stack([np.cos(t), np.sin(t)], 1))
    brute = float((G.T @ torch.relu(V @ Wg.T)).norm(dim=0).max())
    assert c.polar_upper >= brute * (1 - 1e-9)
    assert c.polar_lower <= brute * (1 + 1e-6)
    if c.status == "global":
        assert brute <= c.lam * (1 + 1e-3)
        assert c.relative_gap <= c.tol
    assert c.lower_bound <= c.objective + 1e-12


def test_cp_merge_parallel_keeps_nonnegative_modes_feasible():
    """Opposite copies whose sum is negative: the sign must go to a signed mode (here mode 1),
    not to the non-negative mode 0 (which made the merged slice infeasible, so pruning dropped
    it and silently changed the model output)."""
    rng = np.random.default_rng(13)
    a, b, c = np.abs(rng.standard_normal(3)), rng.standard_normal(4), np.abs(rng.standard_normal(2))
    F = [np.column_stack([3 * a, 2 * a, 2 * a]), np.column_stack([b, -b, -b]),
         np.column_stack([c, c, c])]
    cp_map = CPMap((3, 4, 2))
    prob = Problem(SquaredLoss(rng.standard_normal((3, 4, 2))), cp_map,
                   (NonNegative(L2()), L2(), NonNegative(L2())), 0.1)
    out = prob.prune(F)
    assert out[0].shape[1] == 1 and np.all(out[0] >= 0) and np.all(out[2] >= 0)
    assert np.allclose(cp_map.forward(out), cp_map.forward(F), atol=1e-12)
    assert prob.objective(out) <= prob.objective(F)


def test_nmf_merge_parallel_columns_keeps_output():
    from homfact.models.nmf import merge_parallel_columns

    rng = np.random.default_rng(14)
    u, v = np.abs(rng.standard_normal(5)), np.abs(rng.standard_normal(4))
    U = np.column_stack([u, 2 * u, np.abs(rng.standard_normal(5))])
    V = np.column_stack([v, 0.5 * v, np.abs(rng.standard_normal(4))])
    U2, V2, merged = merge_parallel_columns(U, V)
    assert merged and U2.shape[1] == 2 and np.all(U2 >= 0) and np.all(V2 >= 0)
    assert np.allclose(U2 @ V2.T, U @ V.T, atol=1e-12)
    pen = lambda A, B: float(np.sum(np.linalg.norm(A, axis=0) * np.linalg.norm(B, axis=0)))  # noqa
    assert pen(U2, V2) <= pen(U, V) * (1 + 1e-12)


def test_structured_factorization_end_to_end_tv_nonnegative():
    """TV + ℓ1 + ℓ2 non-negative spatial maps, non-negative ℓ2 traces, constant intercept:
    the bracket must contain sampled feasible values of the final residual's polar, ``"global"``
    only below ``λ(1+1e-3)``, and the lower bound below the objective of other feasible fits."""
    from homfact.models.structured import StructuredFactorization

    rng = np.random.default_rng(15)
    h, w, n = 4, 4, 10
    U0 = np.zeros((h * w, 2))
    U0[[0, 1, 4, 5], 0] = 1
    U0[[10, 11, 14, 15], 1] = 1
    Y = U0 @ np.abs(rng.standard_normal((2, n))) + 0.05 * rng.standard_normal((h * w, n)) + 1.0
    for lam in (0.3, 3.0):
        # the configuration this test describes (plain ℓ2 traces, constant intercept), and
        # the certified solution itself (the certificate is about it, not the refit)
        fits = [StructuredFactorization(lam=lam, image_shape=(h, w), init=init, rank=r,
                                        temporal="l2", intercept="constant", debias=False,
                                        random_state=s).fit(Y)
                for init, r, s in (("zero", None, 0), ("random", 1, 1), ("random", 4, 2))]
        est = fits[0]
        c = est.certificate_
        gu, gv = est.gauges_
        loss = InterceptSquaredLoss(Y, np.ones((n, 1)))
        G = loss.neg_gradient(est.U_ @ est.V_.T)
        # feasible u ≥ 0 (dense and sparse), κ computed directly; the best v ≥ 0 under ℓ2 is
        # (Gᵀu)₊/‖·‖ (the temporal gauge is plain ℓ2 here), value ‖(Gᵀu)₊‖ / κ_s(u)
        Uc = np.abs(rng.standard_normal((h * w, 20000)))
        Uc *= rng.random((h * w, 20000)) < rng.uniform(0.05, 1.0, 20000)
        Uc = Uc[:, np.any(Uc > 0, axis=0)]
        vals = np.linalg.norm(np.maximum(G.T @ Uc, 0.0), axis=0) / gu.value(Uc)
        brute = float(vals.max())
        assert gv.k1 == 0 and gv.k2 == 0 and gv.k3 == 1 and gv.nonnegative
        assert c.polar_upper >= brute * (1 - RTOL)
        if c.status == "global":
            assert brute <= lam * (1 + 1e-3)
        objs = [f.certificate_.objective for f in fits]
        assert c.lower_bound <= min(objs) + 1e-9 * max(1.0, min(objs))
