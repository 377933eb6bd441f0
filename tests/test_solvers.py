"""Local solvers (ALS, block prox-linear) and the convex optima they reach inside ``grow``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    cvx_nuclear,
    random_low_rank,
    random_mask,
    requires_cvxpy,
    row_group_objective,
    row_group_shrink,
    sigma_max,
    svt,
)

import homfact as hf
from homfact.maps import Bilinear, MaskedBilinear
from homfact.meta import Problem, grow
from homfact.problems import completion_problem, low_rank_problem
from homfact.solvers import als_dense, als_masked, orthogonalize_l2, prox_linear
from homfact.solvers.prox_linear import objective, rebalance_columns


def _sum_form(Y, U, V, lam, mask=None):
    R = Y - U @ V.T
    if mask is not None:
        R = np.where(mask, R, 0.0)
    return 0.5 * float(np.sum(R**2)) + 0.5 * lam * float(np.sum(U**2) + np.sum(V**2))


def _prod_penalty(U, V):
    return float(np.sum(np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)))


# ----------------------------------------------------------------------------------------------
# rebalancing
# ----------------------------------------------------------------------------------------------
def test_orthogonalize_l2_preserves_product_and_gives_nuclear_norm(rng):
    U, V = rng.standard_normal((8, 4)), rng.standard_normal((6, 4))
    U2, V2 = orthogonalize_l2(U, V)
    np.testing.assert_allclose(U2 @ V2.T, U @ V.T, atol=1e-12)
    nuc = float(np.linalg.svd(U @ V.T, compute_uv=False).sum())
    assert _prod_penalty(U2, V2) == pytest.approx(nuc, rel=1e-12)
    assert _prod_penalty(U, V) >= nuc * (1 - 1e-12)  # the product form bounds the nuclear norm
    np.testing.assert_allclose(np.linalg.norm(U2, axis=0), np.linalg.norm(V2, axis=0), rtol=1e-12)
    # orthogonal columns
    gram = U2.T @ U2
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-10)


def test_orthogonalize_l2_prunes_dependent_columns(rng):
    u, v = rng.standard_normal((8, 1)), rng.standard_normal((6, 1))
    U = np.hstack([u, 2 * u, rng.standard_normal((8, 1))])
    V = np.hstack([v, -0.5 * v, rng.standard_normal((6, 1))])  # columns 0 and 1 cancel
    U2, V2 = orthogonalize_l2(U, V)
    assert U2.shape[1] == V2.shape[1] == 1
    np.testing.assert_allclose(U2 @ V2.T, U @ V.T, atol=1e-12)
    E = np.zeros((8, 0))
    assert orthogonalize_l2(E, np.zeros((6, 0)))[0].shape == (8, 0)


@pytest.mark.parametrize("gauges", [(hf.L2(), hf.L2()), (hf.L1(), hf.ElasticNet(0.5)),
                                    (hf.NonNegative(), hf.NonNegative(hf.L1()))], ids=repr)
def test_rebalance_columns(gauges, rng):
    U = np.abs(rng.standard_normal((7, 3)))
    V = np.abs(rng.standard_normal((5, 3)))
    U[:, 1] *= 100
    V[:, 2] = 0.0  # a slice with one zero block: zeroed entirely
    (U2, V2), _ = rebalance_columns(list(gauges), [U, V])
    gu, gv = gauges
    th = gu.value(U) * gv.value(V)
    np.testing.assert_allclose(gu.value(U2), np.sqrt(th), rtol=1e-12)
    np.testing.assert_allclose(gv.value(V2), np.sqrt(th), rtol=1e-12)
    np.testing.assert_allclose(U2 @ V2.T, U @ V.T, atol=1e-12)
    np.testing.assert_array_equal(U2[:, 2], 0.0)


# ----------------------------------------------------------------------------------------------
# ALS
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_als_dense_reaches_svt_optimum(seed):
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 12, 9, 3, noise=0.2)
    lam = 0.3 * sigma_max(Y)
    *_, P_star = svt(Y, lam)
    r = 9
    res = als_dense(Y, rng.standard_normal((12, r)), rng.standard_normal((9, r)), lam,
                    max_sweeps=5000, tol=1e-15)
    U, V = res.factors
    assert res.objective == pytest.approx(_sum_form(Y, U, V, lam), rel=1e-10)
    U, V = orthogonalize_l2(U, V)
    F = 0.5 * float(np.sum((Y - U @ V.T) ** 2)) + lam * _prod_penalty(U, V)
    assert F == pytest.approx(P_star, rel=1e-6)
    assert F >= P_star * (1 - 1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_als_dense_sweeps_are_monotone(seed):
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((10, 8))
    lam = 0.5
    U, V = rng.standard_normal((10, 4)), rng.standard_normal((8, 4))
    prev = _sum_form(Y, U, V, lam)
    for _ in range(20):
        res = als_dense(Y, U, V, lam, max_sweeps=1)
        U, V = res.factors
        cur = _sum_form(Y, U, V, lam)
        assert cur <= prev * (1 + 1e-13)
        prev = cur


@pytest.mark.parametrize("method", ["softimpute", "exact"])
@pytest.mark.parametrize("seed", range(3))
def test_als_masked_monotone_and_consistent(method, seed):
    rng = np.random.default_rng(seed)
    m, n = 9, 7
    Y = random_low_rank(rng, m, n, 2, noise=0.1)
    mask = random_mask(rng, (m, n), 0.5)
    problem = completion_problem(np.where(mask, Y, np.nan), 0.3)
    mapping = problem.mapping
    U, V = rng.standard_normal((m, 3)), rng.standard_normal((n, 3))
    prev = _sum_form(Y, U, V, 0.3, mask)
    for _ in range(15):
        res = als_masked(mapping, problem.loss.y, U, V, 0.3, method=method, max_sweeps=1)
        U, V = res.factors
        cur = _sum_form(Y, U, V, 0.3, mask)
        assert res.objective == pytest.approx(cur, rel=1e-10)
        assert cur <= prev * (1 + 1e-12)
        prev = cur


def test_als_masked_rejects_bad_method(rng):
    mapping = MaskedBilinear((2, 2), np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="method"):
        als_masked(mapping, np.ones(2), np.ones((2, 1)), np.ones((2, 1)), 0.1, method="x")


def test_masked_bilinear_requires_csr_order():
    with pytest.raises(ValueError, match="CSR"):
        MaskedBilinear((3, 3), np.array([1, 0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="unique"):
        MaskedBilinear((3, 3), np.array([0, 0]), np.array([1, 1]))


# ----------------------------------------------------------------------------------------------
# block prox-linear
# ----------------------------------------------------------------------------------------------
def _problem(Y, gauges, lam, loss=None):
    loss = hf.SquaredLoss(Y) if loss is None else loss
    return Problem(loss, Bilinear(Y.shape), tuple(gauges), lam, local_solver="prox_linear")


GAUGE_PAIRS = [(hf.L2(), hf.L2()), (hf.L1(), hf.L2()), (hf.ElasticNet(0.5), hf.L2()),
               (hf.NonNegative(), hf.NonNegative()), (hf.NonNegative(hf.L1()), hf.L2())]


@pytest.mark.parametrize("gauges", GAUGE_PAIRS, ids=repr)
@pytest.mark.parametrize("loss_kind", ["squared", "huber"])
def test_prox_linear_decreases_objective(gauges, loss_kind, rng):
    Y = rng.standard_normal((8, 6))
    loss = hf.SquaredLoss(Y) if loss_kind == "squared" else hf.HuberLoss(Y, 0.5)
    lam = 0.4
    X0 = [np.abs(rng.standard_normal((8, 4))), np.abs(rng.standard_normal((6, 4)))]
    f0 = objective(loss, Bilinear(Y.shape), list(gauges), lam, X0)
    prev = f0
    X = X0
    for _ in range(5):
        res = prox_linear(loss, Bilinear(Y.shape), list(gauges), lam, X, max_sweeps=3)
        X = res.factors
        cur = objective(loss, Bilinear(Y.shape), list(gauges), lam, X)
        assert res.objective == pytest.approx(cur, rel=1e-12)
        assert cur <= prev * (1 + 1e-12)
        prev = cur
    assert prev < f0
    # every slice is balanced after a run
    gu, gv = gauges
    np.testing.assert_allclose(gu.value(X[0]), gv.value(X[1]), rtol=1e-9, atol=1e-300)
    if gu.nonnegative:
        assert np.all(X[0] >= 0)


def test_prox_linear_rank_zero_is_a_no_op():
    Y = np.ones((3, 2))
    res = prox_linear(hf.SquaredLoss(Y), Bilinear(Y.shape), [hf.L2(), hf.L2()], 0.1,
                      [np.zeros((3, 0)), np.zeros((2, 0))])
    assert res.factors[0].shape == (3, 0) and res.objective == pytest.approx(3.0)


@pytest.mark.parametrize("seed", range(4))
def test_prox_linear_grow_reaches_nuclear_optimum(seed):
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 9, 7, 3, noise=0.3)
    lam = float(rng.uniform(0.1, 0.8)) * sigma_max(Y)
    *_, Z_star, P_star = svt(Y, lam)
    res = grow(_problem(Y, (hf.L2(), hf.L2()), lam), random_state=0)
    cert = res.certificate
    assert cert.status == "global"
    assert cert.objective == pytest.approx(P_star, rel=1e-6)
    Z = res.factors[0] @ res.factors[1].T
    # 1-strong convexity: ‖Z − Z*‖² ≤ 2(F − P*)
    assert np.linalg.norm(Z - Z_star) <= np.sqrt(
        2 * (max(cert.objective - P_star, 0) + 1e-12 * max(1.0, P_star)))


@pytest.mark.parametrize("side", ["u", "v"])
@pytest.mark.parametrize("seed", range(3))
def test_prox_linear_l1_side_reaches_group_shrinkage(side, seed):
    """THEORY b.3: ℓ1 on one side → Ω = Σ row (or column) ℓ2 norms; solution = group shrinkage."""
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((7, 5)) * 1.5
    axis = 1 if side == "u" else 0
    norms = np.linalg.norm(Y, axis=axis)
    lam = float(np.quantile(norms, 0.4))  # some rows/columns die, some survive
    gauges = (hf.L1(), hf.L2()) if side == "u" else (hf.L2(), hf.L1())
    Z_star = row_group_shrink(Y, lam, axis=axis)
    P_star = row_group_objective(Y, Z_star, lam, axis=axis)
    res = grow(_problem(Y, gauges, lam), random_state=0)
    cert = res.certificate
    assert cert.status == "global"
    assert cert.method == "exact(l1-rows)"
    assert cert.objective == pytest.approx(P_star, rel=1e-6)
    assert cert.lower_bound <= P_star * (1 + 1e-12)
    Z = res.factors[0] @ res.factors[1].T
    assert np.linalg.norm(Z - Z_star) <= np.sqrt(
        2 * (max(cert.objective - P_star, 0) + 1e-12 * max(1.0, P_star)))
    np.testing.assert_allclose(Z, Z_star, atol=1e-3)


def test_l1_l1_is_entrywise_lasso(rng):
    Y = rng.standard_normal((5, 4))
    lam = 0.6
    Z_star = np.sign(Y) * np.maximum(np.abs(Y) - lam, 0)
    P_star = 0.5 * float(np.sum((Y - Z_star) ** 2)) + lam * float(np.abs(Z_star).sum())
    res = grow(_problem(Y, (hf.L1(), hf.L1()), lam), random_state=0)
    assert res.certificate.status == "global"
    assert res.certificate.objective == pytest.approx(P_star, rel=1e-6)


@requires_cvxpy
@pytest.mark.parametrize("local_solver", ["auto", "prox_linear"])
@pytest.mark.parametrize("seed", range(4))
def test_huber_low_rank_certified_and_matches_cvxpy(seed, local_solver):
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 8, 6, 2, noise=0.2)
    Y.flat[rng.choice(48, size=4, replace=False)] += 6.0  # outliers
    delta = [0.5, 1.0, 2.0, 0.3][seed]
    lam = 0.4 * sigma_max(np.clip(Y, -delta, delta))
    problem = low_rank_problem(Y, lam, loss="huber", delta=delta, local_solver=local_solver)
    res = grow(problem, random_state=0)
    cert = res.certificate
    P_star, _ = cvx_nuclear(Y, lam, loss="huber", delta=delta)
    assert cert.status == "global"
    assert cert.relative_gap <= 1e-6
    assert cert.lower_bound <= P_star + 1e-6 * max(1.0, P_star)
    assert cert.objective >= P_star - 1e-6 * max(1.0, P_star)
    assert cert.objective == pytest.approx(P_star, rel=2e-6)


def test_problem_rejects_bad_configuration(rng):
    Y = rng.standard_normal((3, 2))
    with pytest.raises(ValueError, match="local_solver"):
        Problem(hf.SquaredLoss(Y), Bilinear(Y.shape), (hf.L2(), hf.L2()), 0.1, local_solver="x")
    with pytest.raises(ValueError, match="ALS"):
        Problem(hf.HuberLoss(Y), Bilinear(Y.shape), (hf.L2(), hf.L2()), 0.1, local_solver="als")
    with pytest.raises(ValueError, match="gauges"):
        Problem(hf.SquaredLoss(Y), Bilinear(Y.shape), (hf.L2(),), 0.1)
    for bad in (-1.0, np.nan, np.inf, "1"):
        with pytest.raises(ValueError, match="lam"):
            Problem(hf.SquaredLoss(Y), Bilinear(Y.shape), (hf.L2(), hf.L2()), bad)
    assert Problem(hf.SquaredLoss(Y), Bilinear(Y.shape), (hf.L2(), hf.L2()),
                   0.1).local_solver == "als"


@pytest.mark.parametrize("r", [3, 11, 12, 20])
@pytest.mark.parametrize("lam", [0.0, 1e-3, 2.0])
def test_exact_rows_equal_each_rows_ridge_solution(r, lam):
    """``_exact_rows`` (dual ``k×k`` solves for rows with ``k < r`` observations, primal
    ``r×r`` otherwise, packed or gathered) against each row's ridge problem solved by least
    squares on the stacked system ``[F_i; √λ I] x = [y_i; 0]`` — rows with no, few (< r), as
    many and more observations than the rank, explicit zeros and unsorted column indices."""
    import scipy.sparse as sp

    from homfact.solvers.als import _exact_rows

    rng = np.random.default_rng(r)
    m, n = 60, 3 * r + 7
    counts = rng.integers(0, 3 * r, size=m)
    counts[:3] = (0, 1, r)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.concatenate([rng.permutation(n)[:k] for k in counts])  # unsorted
    data = rng.standard_normal(indices.size)
    data[::7] = 0.0                                                       # explicit zeros
    A = sp.csr_matrix((data, indices, indptr), shape=(m, n))
    F = rng.standard_normal((n, r))
    X = _exact_rows(A, F, lam)
    ridge = max(lam, 1e-12)
    for i in range(m):
        cols, y = indices[indptr[i]:indptr[i + 1]], data[indptr[i]:indptr[i + 1]]
        if cols.size == 0:
            assert np.all(X[i] == 0.0)
            continue
        # the stacked least-squares system is well conditioned even where F_iᵀF_i is singular
        M = np.vstack([F[cols], np.sqrt(ridge) * np.eye(r)])
        x = np.linalg.lstsq(M, np.concatenate([y, np.zeros(r)]), rcond=None)[0]
        scale = max(np.linalg.norm(x), 1e-300)
        tol = 1e-9 if lam > 0 or cols.size >= r + 2 else 1e-4  # λ = 0, k ≈ r: cond up to 1e6
        assert np.linalg.norm(X[i] - x) <= tol * scale, (i, cols.size)
