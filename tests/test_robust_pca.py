"""RobustPCA: the split objective equals the Huber form, certified against CVXPY; recovery."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import homfact as hf


def _instance(seed: int, m: int = 10, n: int = 8, rank: int = 2, frac: float = 0.1):
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    E = np.zeros((m, n))
    mask = rng.random((m, n)) < frac
    E[mask] = rng.uniform(-10, 10, mask.sum())
    return L, E, L + E + 0.01 * rng.standard_normal((m, n))


def _cvx_split(Y, lam, gamma, observed=None):
    L = cp.Variable(Y.shape)
    E = cp.Variable(Y.shape)
    W = np.ones(Y.shape) if observed is None else observed.astype(float)
    Yf = np.where(W > 0, Y, 0.0)
    obj = (cp.sum(cp.abs(cp.multiply(W, E))) + lam * cp.normNuc(L)
           + gamma / 2 * cp.sum_squares(cp.multiply(W, Yf - L - E)))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver="CLARABEL")
    return prob.value


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma", [1.0, 10.0])
def test_split_objective_certified_against_cvxpy(seed, gamma):
    _, _, Y = _instance(seed)
    lam = 2.0
    est = hf.RobustPCA(lam=lam, gamma=gamma, random_state=0).fit(Y)
    cert = est.certificate_
    opt = _cvx_split(Y, lam, gamma)
    tol = 1e-5 * max(1.0, abs(opt))
    assert cert.lower_bound <= opt + tol
    assert cert.objective >= opt - tol
    assert cert.status == "global", est.stop_reason_
    assert cert.objective == pytest.approx(opt, rel=1e-4)
    # the reported objective is the split objective of the returned (L, E)
    R = Y - est.low_rank_ - est.sparse_
    theta = np.sum(np.linalg.norm(est.U_, axis=0) * np.linalg.norm(est.V_, axis=0))
    split = np.abs(est.sparse_).sum() + lam * theta + gamma / 2 * np.sum(R * R)
    assert split == pytest.approx(cert.objective, rel=1e-9)


def test_missing_entries_certified_against_cvxpy():
    _, _, Y = _instance(7)
    observed = np.random.default_rng(1).random(Y.shape) < 0.8
    Ym = np.where(observed, Y, np.nan)
    est = hf.RobustPCA(lam=1.5, gamma=5.0, random_state=0).fit(Ym)
    opt = _cvx_split(Y, 1.5, 5.0, observed)
    assert est.certificate_.lower_bound <= opt + 1e-5 * max(1.0, abs(opt))
    assert est.certificate_.status == "global"
    assert np.all(est.sparse_[~observed] == 0)


def test_recovers_low_rank_part_from_gross_errors():
    rng = np.random.default_rng(0)
    m, n, r = 120, 100, 4
    L = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    E = np.where(rng.random((m, n)) < 0.05, rng.uniform(-30, 30, (m, n)), 0.0)
    est = hf.RobustPCA(gamma=100.0, random_state=0).fit(L + E)
    assert est.certificate_.status == "global"
    assert est.rank_ == r
    assert np.linalg.norm(est.low_rank_ - L) / np.linalg.norm(L) < 1e-2
    # plain PCA (nuclear norm, squared loss) is ruined by the same errors
    plain = hf.LowRankApproximation(lam=np.sqrt(max(m, n))).fit(L + E)
    assert np.linalg.norm(plain.U_ @ plain.V_.T - L) > 10 * np.linalg.norm(est.low_rank_ - L)


def test_huber_variant_certified():
    _, _, Y = _instance(3)
    est = hf.RobustPCA(lam=1.0, loss="huber", delta=0.5, random_state=0).fit(Y)
    M = cp.Variable(Y.shape)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum(cp.huber(Y - M, 0.5)) + cp.normNuc(M)))
    prob.solve(solver="CLARABEL")
    assert est.certificate_.status == "global"
    assert est.certificate_.lower_bound <= prob.value + 1e-6 * max(1, prob.value)
    assert est.certificate_.objective == pytest.approx(prob.value, rel=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"gamma": -1.0}, "gamma"),
    ({"gamma": float("nan")}, "gamma"),
    ({"delta": 0.0, "loss": "huber"}, "delta"),
    ({"loss": "l1"}, "loss"),
    ({"lam": -2.0}, "lam"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        hf.RobustPCA(**kwargs).fit(np.ones((4, 3)))


def test_bad_data():
    with pytest.raises(ValueError, match="Y"):
        hf.RobustPCA().fit(np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="Y"):
        hf.RobustPCA().fit(np.ones(5))
