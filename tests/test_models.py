"""Estimators (LowRankApproximation, MatrixCompletion), hf.certify and hf.regularization_path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_low_rank, random_mask, sigma_max, squared_dual_value, svt
from sklearn.base import clone
from sklearn.decomposition import TruncatedSVD
from sklearn.utils.estimator_checks import parametrize_with_checks

import homfact as hf
from homfact.meta import DEFAULT_POLAR_RTOL


# ----------------------------------------------------------------------------------------------
# scikit-learn API
# ----------------------------------------------------------------------------------------------
@parametrize_with_checks([hf.LowRankApproximation()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_get_set_params_and_clone():
    est = hf.LowRankApproximation(lam=0.3, max_rank=4, tol=1e-7, random_state=3)
    params = est.get_params()
    assert params["lam"] == 0.3 and params["max_rank"] == 4 and params["tol"] == 1e-7
    assert set(params) == {"lam", "debias", "init", "rank", "max_rank", "tol", "max_iter",
                           "time_limit", "random_state", "verbose", "checkpoint",
                           "checkpoint_every", "resume"}
    est.set_params(lam=2.0, init="random", rank=3)
    assert est.lam == 2.0 and est.init == "random" and est.rank == 3
    c = clone(est)
    assert c.get_params() == est.get_params()
    mc = hf.MatrixCompletion(lam=0.5, local_solver="als")
    assert mc.get_params()["local_solver"] == "als"
    assert clone(mc).set_params(lam=0.1).lam == 0.1
    with pytest.raises(ValueError):
        est.set_params(nonexistent=1)


def test_fitted_attributes_and_transforms(rng):
    Y = random_low_rank(rng, 20, 12, 3, noise=0.1)
    lam = 0.3 * sigma_max(Y)
    m = hf.LowRankApproximation(lam=lam).fit(Y)
    Ub, _, Z_star, _ = svt(Y, lam)
    r = Ub.shape[1]
    assert m.rank_ == r
    assert m.U_.shape == (20, r) and m.V_.shape == (12, r)
    assert m.components_.shape == (r, 12)
    np.testing.assert_array_equal(m.components_, m.V_.T)
    assert m.n_features_in_ == 12
    assert isinstance(m.certificate_, hf.Certificate)
    assert isinstance(m.history_, list) and len(m.history_) == m.n_iter_ >= 1
    assert m.stop_reason_ == "certified"
    # balanced, orthogonal columns (documented attribute contract)
    np.testing.assert_allclose(np.linalg.norm(m.U_, axis=0), np.linalg.norm(m.V_, axis=0),
                               rtol=1e-8)
    G = m.V_.T @ m.V_
    np.testing.assert_allclose(G - np.diag(np.diag(G)), 0, atol=1e-8 * np.abs(G).max())
    # transform: the ridge step that defines U_ (a fixed point at the optimum)
    codes = m.transform(Y)
    assert codes.shape == (20, r)
    np.testing.assert_allclose(codes, m.U_, atol=1e-6 * np.abs(m.U_).max())
    recon = m.inverse_transform(codes)
    assert recon.shape == Y.shape
    np.testing.assert_allclose(recon, Z_star, atol=1e-5 * np.abs(Z_star).max())
    assert m.transform(Y[:3]).shape == (3, r)
    assert m.fit_transform(Y).shape == (20, r)
    with pytest.raises(ValueError, match="codes"):
        m.inverse_transform(np.ones((2, r + 1)))
    with pytest.raises(ValueError, match="features"):
        m.transform(np.ones((3, 11)))


def test_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        hf.LowRankApproximation().transform(np.ones((2, 2)))
    with pytest.raises(NotFittedError):
        hf.MatrixCompletion().predict([0], [0])


def test_sparse_input_matches_dense(rng):
    Y = random_low_rank(rng, 15, 10, 2, noise=0.1)
    Y[np.abs(Y) < 0.5] = 0.0
    lam = 0.2 * sigma_max(Y)
    a = hf.LowRankApproximation(lam=lam).fit(Y)
    b = hf.LowRankApproximation(lam=lam).fit(sp.csr_matrix(Y))
    assert b.certificate_.status == "global"
    assert b.certificate_.objective == pytest.approx(a.certificate_.objective, rel=1e-9)
    np.testing.assert_allclose(b.U_ @ b.V_.T, a.U_ @ a.V_.T, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# low-rank approximation = singular-value soft-thresholding, from any start
# ----------------------------------------------------------------------------------------------
def _inits(rng, m, n):
    return {
        "zero": {"init": "zero"},
        "rank_one": {"init": (rng.standard_normal((m, 1)), rng.standard_normal((n, 1)))},
        "random10": {"init": "random", "rank": 10, "random_state": 0},
        "oversized_random": {"init": "random", "rank": 50, "random_state": 1},
        "oversized_arrays": {"init": (rng.standard_normal((m, 50)), rng.standard_normal((n, 50)))},
    }


INIT_NAMES = ["zero", "rank_one", "random10", "oversized_random", "oversized_arrays"]


@pytest.mark.parametrize("init_name", INIT_NAMES)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("lam_frac", [0.05, 0.3, 0.8, 1.2])
def test_low_rank_equals_svt_from_any_start(init_name, seed, lam_frac):
    rng = np.random.default_rng(seed)
    m, n = [(20, 15), (12, 30), (25, 25)][seed]
    Y = random_low_rank(rng, m, n, 4, noise=0.3) * rng.uniform(0.2, 5)
    lam = lam_frac * sigma_max(Y)
    *_, Z_star, P_star = svt(Y, lam)
    kwargs = _inits(rng, m, n)[init_name]
    est = hf.LowRankApproximation(lam=lam, **kwargs).fit(Y)
    cert = est.certificate_
    assert cert.status == "global", (est.stop_reason_, cert)
    assert cert.objective == pytest.approx(P_star, rel=1e-6)
    assert cert.lower_bound <= P_star * (1 + 1e-12) + 1e-12
    # the factorized objective is the true objective of the returned factors
    Z = est.U_ @ est.V_.T
    pen = float(np.sum(np.linalg.norm(est.U_, axis=0) * np.linalg.norm(est.V_, axis=0)))
    assert cert.objective == pytest.approx(0.5 * float(np.sum((Y - Z) ** 2)) + lam * pen,
                                           rel=1e-12)
    # strong convexity: ‖Z − Z*‖² ≤ 2(F − P*)
    assert np.linalg.norm(Z - Z_star) <= np.sqrt(
        2 * (max(cert.objective - P_star, 0) + 1e-12 * max(1.0, P_star)))
    if lam_frac > 1:  # zero solution: exact from "zero"; leftovers are negligible otherwise
        assert lam * pen <= 1e-6 * max(1.0, P_star)
        if init_name == "zero":
            assert est.rank_ == 0


@pytest.mark.parametrize("init", ["random", "oversized"])
@pytest.mark.parametrize("seed", range(3))
def test_far_above_lam_max_returns_rank_zero(init, seed):
    """λ = 3λ_max: the solution is Z = 0; numerically dead slices left by a non-zero start
    (θᵢ ~ 1e-14 here) must not be reported as rank."""
    rng = np.random.default_rng(seed)
    Y = random_low_rank(rng, 20, 15, 4, noise=0.3)
    lam = 3.0 * sigma_max(Y)
    kwargs = {"init": "random", "rank": 10 if init == "random" else 50, "random_state": seed}
    est = hf.LowRankApproximation(lam=lam, **kwargs).fit(Y)
    assert est.certificate_.status == "global"
    assert est.rank_ == 0, np.linalg.norm(est.U_, axis=0) * np.linalg.norm(est.V_, axis=0)
    assert est.certificate_.objective == pytest.approx(0.5 * float(np.sum(Y**2)), rel=1e-12)


def test_zero_data_on_the_lanczos_path():
    """Y = 0 (or all observed values 0) on matrices large enough for ARPACK: rank 0, global."""
    est = hf.LowRankApproximation(lam=1.0).fit(np.zeros((700, 600)))
    assert est.rank_ == 0 and est.certificate_.status == "global"
    k = np.arange(2000)
    S = sp.csr_matrix((np.zeros(2000), (k % 700, (7 * k) % 600)), shape=(700, 600))
    assert S.nnz == 2000
    est = hf.MatrixCompletion(lam=1.0).fit(S)
    assert est.rank_ == 0 and est.certificate_.status == "global"


def test_max_rank_in_estimator_is_honest(rng):
    Y = random_low_rank(rng, 20, 15, 5, noise=0.1)
    lam = 0.05 * sigma_max(Y)
    est = hf.LowRankApproximation(lam=lam, max_rank=2).fit(Y)
    assert est.rank_ <= 2
    assert est.certificate_.polar_upper > lam
    assert est.certificate_.status == "not_optimal"
    assert est.stop_reason_ == "max_rank"
    *_, P_star = svt(Y, lam)
    assert est.certificate_.lower_bound <= P_star <= est.certificate_.objective


# ----------------------------------------------------------------------------------------------
# matrix completion
# ----------------------------------------------------------------------------------------------
def _independent_completion_gap(Y_obs_dense, mask, U, V, lam):
    """Gap recomputed from scratch: residual on Ω, exact SVD, best c, Fenchel dual value."""
    Z = U @ V.T
    R = np.where(mask, Y_obs_dense - Z, 0.0)
    P = 0.5 * float(np.sum(R**2)) + lam * float(
        np.sum(np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)))
    rho = float(np.linalg.svd(R, compute_uv=False)[0])
    L, _ = squared_dual_value(R[mask], Y_obs_dense[mask], rho, lam)
    return P, L, P - L, rho


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("input_kind", ["nan", "sparse"])
def test_completion_certified_and_gap_recomputed(seed, input_kind):
    rng = np.random.default_rng(seed)
    m, n = [(30, 20), (20, 30), (25, 25), (40, 15), (15, 35)][seed]
    Y = random_low_rank(rng, m, n, 3, noise=0.1)
    mask = random_mask(rng, (m, n), 0.5)
    if input_kind == "nan":
        data = np.where(mask, Y, np.nan)
    else:
        rows, cols = np.nonzero(mask)
        data = sp.coo_matrix((Y[rows, cols], (rows, cols)), shape=(m, n)).tocsr()
    lam = [0.05, 0.1, 0.2, 0.4, 0.7][seed] * sigma_max(np.where(mask, Y, 0.0))
    est = hf.MatrixCompletion(lam=lam, random_state=0).fit(data)
    cert = est.certificate_
    assert cert.status == "global", (est.stop_reason_, cert)
    assert cert.relative_gap <= 1e-5
    assert est.shape_ == (m, n)
    P, L, gap, rho = _independent_completion_gap(np.where(mask, Y, 0.0), mask, est.U_, est.V_, lam)
    assert cert.objective == pytest.approx(P, rel=1e-12)
    assert cert.polar_upper == pytest.approx(rho, rel=1e-9)
    assert cert.lower_bound == pytest.approx(L, rel=1e-9, abs=1e-10)
    assert cert.gap == pytest.approx(gap, rel=1e-6, abs=1e-9 * max(1.0, P))
    assert rho <= lam * (1 + DEFAULT_POLAR_RTOL)
    # predictions are the completed matrix
    full = est.to_dense()
    np.testing.assert_allclose(full, est.U_ @ est.V_.T)
    r_idx, c_idx = rng.integers(0, m, 17), rng.integers(0, n, 17)
    np.testing.assert_allclose(est.predict(r_idx, c_idx), full[r_idx, c_idx], rtol=1e-12)
    grid_r, grid_c = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    assert est.predict(grid_r, grid_c).shape == (3, 2)
    np.testing.assert_allclose(est.predict(np.array([0.0, 1.0]), np.array([1, 0])),
                               full[[0, 1], [1, 0]])


def test_completion_sparse_stored_zeros_are_observed(rng):
    m, n = 12, 10
    Y = random_low_rank(rng, m, n, 2, noise=0.1)
    mask = random_mask(rng, (m, n), 0.5)
    rows, cols = np.nonzero(mask)
    vals = Y[rows, cols]
    vals[:5] = 0.0  # explicit zeros are observations
    S = sp.csr_matrix((vals, (rows, cols)), shape=(m, n))
    assert S.nnz == len(vals)
    Ynan = np.full((m, n), np.nan)
    Ynan[rows, cols] = vals
    lam = 0.2 * sigma_max(S.toarray())
    a = hf.MatrixCompletion(lam=lam).fit(S)
    b = hf.MatrixCompletion(lam=lam).fit(Ynan)
    assert a.certificate_.status == b.certificate_.status == "global"
    assert a.certificate_.objective == pytest.approx(b.certificate_.objective, rel=1e-6)


def test_completion_large_sparse_lanczos_path():
    """600×500 with 3% observed: the polar goes through ARPACK on the sparse residual."""
    rng = np.random.default_rng(0)
    m, n = 600, 500
    A = rng.standard_normal((m, 3)) @ rng.standard_normal((3, n))
    S = sp.random(m, n, density=0.03, random_state=1, format="csr")
    S.data = A[S.nonzero()] + 0.1 * rng.standard_normal(S.nnz)
    top = hf.lam_max("completion", S)
    assert top == pytest.approx(sigma_max(S), rel=1e-8)
    est = hf.MatrixCompletion(lam=0.3 * top, random_state=0).fit(S)
    cert = est.certificate_
    assert cert.method.startswith("lanczos")
    assert cert.status == "global"
    assert cert.relative_gap <= 1e-5
    # independent check of the polar on the final residual (dense SVD of the sparse residual)
    rows, cols = S.nonzero()
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    resid = np.asarray(S[rows, cols]).ravel() - np.einsum("ij,ij->i", est.U_[rows], est.V_[cols])
    R = sp.csr_matrix((resid, (rows, cols)), shape=(m, n))
    assert cert.polar_upper >= sigma_max(R) * (1 - 1e-12)
    assert cert.polar_upper == pytest.approx(sigma_max(R), rel=1e-8)


@pytest.mark.parametrize("solver", ["auto", "als-exact", "als"])
def test_completion_local_solvers(solver, rng):
    Y = random_low_rank(rng, 15, 12, 2, noise=0.05)
    mask = random_mask(rng, Y.shape, 0.6)
    lam = 0.3 * sigma_max(np.where(mask, Y, 0.0))
    est = hf.MatrixCompletion(lam=lam, local_solver=solver, max_iter=500).fit(
        np.where(mask, Y, np.nan))
    assert est.certificate_.status == "global", est.certificate_


@pytest.mark.parametrize("init_kind", ["random", "arrays"])
def test_completion_inits(init_kind, rng):
    Y = random_low_rank(rng, 14, 11, 2, noise=0.05)
    mask = random_mask(rng, Y.shape, 0.6)
    lam = 0.3 * sigma_max(np.where(mask, Y, 0.0))
    ref = hf.MatrixCompletion(lam=lam).fit(np.where(mask, Y, np.nan)).certificate_
    init = "random" if init_kind == "random" else (rng.standard_normal((14, 20)),
                                                     rng.standard_normal((11, 20)))
    est = hf.MatrixCompletion(lam=lam, init=init, rank=6, random_state=0).fit(
        np.where(mask, Y, np.nan))
    assert est.certificate_.status == "global"
    assert est.certificate_.objective == pytest.approx(ref.objective, rel=1e-5)


# ----------------------------------------------------------------------------------------------
# hf.certify with factors from elsewhere
# ----------------------------------------------------------------------------------------------
def test_certify_truncated_svd_and_svt(rng):
    Y = random_low_rank(rng, 20, 15, 4, noise=0.2)
    lam = 0.2 * sigma_max(Y)
    Ub, Vb, _, P_star = svt(Y, lam)
    k = Ub.shape[1]
    assert k >= 2
    cert = hf.certify("low_rank", Y, (Ub, Vb), lam)
    assert cert.status == "global"
    assert cert.objective == pytest.approx(P_star, rel=1e-10)
    # plain truncated SVD of too low a rank: a descent direction exists
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    low = (U[:, : k - 1] * s[: k - 1], Vt[: k - 1].T)
    cert = hf.certify("lowrank", Y, low, lam)
    assert cert.status == "not_optimal"
    assert cert.polar_lower == pytest.approx(s[k - 1], rel=1e-10)
    assert cert.lower_bound <= P_star <= cert.objective
    # sklearn TruncatedSVD factors (unbalanced: U Σ and V), rank too low
    tsvd = TruncatedSVD(n_components=k - 1, algorithm="arpack", random_state=0)
    codes = tsvd.fit_transform(Y)
    cert = hf.certify("low_rank", Y, (codes, tsvd.components_.T), lam)
    assert cert.status == "not_optimal"
    assert cert.lower_bound <= P_star <= cert.objective
    # even the right rank is not optimal without shrinkage
    tsvd = TruncatedSVD(n_components=k, algorithm="arpack", random_state=0)
    codes = tsvd.fit_transform(Y)
    cert = hf.certify("low_rank", Y, (codes, tsvd.components_.T), lam)
    assert cert.status != "global"
    assert cert.lower_bound <= P_star <= cert.objective


def test_certify_uses_penalty_of_factors_as_given(rng):
    Y = random_low_rank(rng, 10, 8, 3, noise=0.1)
    lam = 0.3 * sigma_max(Y)
    Ub, Vb, Z_star, P_star = svt(Y, lam)
    k = Ub.shape[1]
    # per-column rescaling leaves the product-form penalty unchanged
    scale = np.linspace(0.2, 5, k)
    cert = hf.certify("low_rank", Y, (Ub * scale, Vb / scale), lam)
    assert cert.status == "global"
    assert cert.objective == pytest.approx(P_star, rel=1e-10)
    # a non-orthogonal mixing keeps U Vᵀ but raises Σ‖uᵢ‖‖vᵢ‖ above ‖Z‖_*: penalized as given
    M = np.eye(k) + 0.5 * np.triu(np.ones((k, k)), 1)
    Um, Vm = Ub @ M, Vb @ np.linalg.inv(M).T
    np.testing.assert_allclose(Um @ Vm.T, Z_star, atol=1e-10)
    pen = float(np.sum(np.linalg.norm(Um, axis=0) * np.linalg.norm(Vm, axis=0)))
    nuc = float(np.linalg.svd(Z_star, compute_uv=False).sum())
    assert pen > nuc * (1 + 1e-3)
    cert = hf.certify("low_rank", Y, (Um, Vm), lam)
    assert cert.objective == pytest.approx(0.5 * float(np.sum((Y - Z_star) ** 2)) + lam * pen,
                                           rel=1e-12)
    assert cert.gap == pytest.approx(cert.objective - P_star, rel=1e-8)
    assert cert.status == "unverified"  # polar ≤ λ but the gap is real


def test_certify_completion_and_vectors(rng):
    Y = random_low_rank(rng, 12, 9, 2, noise=0.05)
    mask = random_mask(rng, Y.shape, 0.6)
    Ynan = np.where(mask, Y, np.nan)
    lam = 0.3 * sigma_max(np.where(mask, Y, 0.0))
    est = hf.MatrixCompletion(lam=lam).fit(Ynan)
    cert = hf.certify("completion", Ynan, (est.U_, est.V_), lam)
    assert cert.status == "global"
    assert cert.objective == pytest.approx(est.certificate_.objective, rel=1e-12)
    # 1-D factors are a single column
    u, v = rng.standard_normal(12), rng.standard_normal(9)
    c1 = hf.certify("completion", Ynan, (u, v), lam)
    c2 = hf.certify("completion", Ynan, (u[:, None], v[:, None]), lam)
    assert c1.objective == pytest.approx(c2.objective, rel=1e-14)


# ----------------------------------------------------------------------------------------------
# regularization path
# ----------------------------------------------------------------------------------------------
def test_lam_max(rng):
    Y = rng.standard_normal((9, 7))
    assert hf.lam_max("low_rank", Y) == pytest.approx(sigma_max(Y), rel=1e-10)
    mask = random_mask(rng, Y.shape, 0.5)
    assert hf.lam_max("completion", np.where(mask, Y, np.nan)) == pytest.approx(
        sigma_max(np.where(mask, Y, 0.0)), rel=1e-10)
    with pytest.raises(ValueError, match="model"):
        hf.lam_max("nope", Y)


@pytest.mark.parametrize("model", ["low_rank", "completion"])
def test_regularization_path(model, rng):
    Y = random_low_rank(rng, 16, 12, 4, noise=0.2)
    mask = random_mask(rng, Y.shape, 0.6)
    data = Y if model == "low_rank" else np.where(mask, Y, np.nan)
    path = hf.regularization_path(data, model, n_lams=6, lam_min_ratio=0.1)
    top = sigma_max(Y if model == "low_rank" else np.where(mask, Y, 0.0))
    assert path.lam_max == pytest.approx(top, rel=1e-10)
    assert path.lams[0] == pytest.approx(top, rel=1e-10)
    assert len(path.lams) == len(path.ranks) == len(path.certificates) == len(path.factors) == 6
    assert np.all(np.diff(path.lams) < 0)
    assert path.ranks[0] == 0
    assert path.certificates[0].status == "global"
    assert all(b >= a for a, b in zip(path.ranks, path.ranks[1:], strict=False))
    assert path.ranks[-1] >= 1
    assert path.statuses == ["global"] * 6
    assert path.objectives.shape == (6,)
    for lam, cert, (U, V) in zip(path.lams, path.certificates, path.factors, strict=True):
        assert cert.lam == pytest.approx(lam)
        assert cert.relative_gap <= 1e-6
        if model == "low_rank":
            *_, P_star = svt(Y, lam)
            assert cert.objective == pytest.approx(P_star, rel=1e-6)
        again = hf.certify(model, data, (U, V), lam)
        assert again.objective == pytest.approx(cert.objective, rel=1e-10)


def test_regularization_path_explicit_lams(rng):
    Y = rng.standard_normal((8, 6))
    path = hf.regularization_path(Y, lams=[0.5, 2.0, 1.0])
    np.testing.assert_allclose(path.lams, [2.0, 1.0, 0.5])
    assert path.statuses == ["global"] * 3
