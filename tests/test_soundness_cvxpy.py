"""DESIGN §7 soundness: a certificate never claims more than CVXPY's nuclear-norm optimum allows.

Many small random instances (shapes up to 8×6), dense low-rank approximation and completion with
random masks, λ from tiny (1e-3) to above λ_max.  Whatever the status, the lower bound must not
exceed the CVXPY optimum and the objective must not fall below it (beyond solver tolerance); and
these convex-equivalent problems must certify ("global").
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cvx_nuclear, random_mask, requires_cvxpy, sigma_max

import homfact as hf

pytestmark = requires_cvxpy

SEEDS = range(30)
LAMS = ["tiny", "0.3max", "0.8max", "max", "1.5max"]


def _instance(seed: int):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 9)), int(rng.integers(1, 7))
    Y = rng.standard_normal((m, n)) * rng.uniform(0.3, 3.0)
    if seed % 3 == 0 and min(m, n) > 1:  # some instances with a clear low-rank signal
        Y += 2 * np.outer(rng.standard_normal(m), rng.standard_normal(n))
    mask = random_mask(rng, (m, n), 0.6)
    return Y, mask


def _lam(label: str, top: float) -> float:
    if label == "tiny":
        return 1e-3
    return float(label.removesuffix("max") or 1.0) * top


def _check(cert, opt: float):
    tol = 1e-6 * max(1.0, abs(opt))
    # soundness holds whatever the status
    assert cert.lower_bound <= opt + tol, (cert, opt)
    assert cert.objective >= opt - tol, (cert, opt)
    assert cert.gap >= 0
    # and these easy convex-equivalent problems certify
    assert cert.status == "global", cert
    assert cert.lower_bound <= opt + tol
    assert cert.objective <= opt + cert.gap + tol


@pytest.mark.parametrize("lam_label", LAMS)
@pytest.mark.parametrize("seed", SEEDS)
def test_low_rank_soundness_vs_cvxpy(seed, lam_label):
    Y, _ = _instance(seed)
    top = sigma_max(Y)
    lam = _lam(lam_label, top)
    opt, _ = cvx_nuclear(Y, lam)
    est = hf.LowRankApproximation(lam=lam, random_state=0).fit(Y)
    _check(est.certificate_, opt)
    if lam >= top:
        assert est.rank_ == 0


@pytest.mark.parametrize("lam_label", LAMS)
@pytest.mark.parametrize("seed", SEEDS)
def test_completion_soundness_vs_cvxpy(seed, lam_label):
    Y, mask = _instance(seed)
    top = sigma_max(np.where(mask, Y, 0.0))
    lam = _lam(lam_label, top)
    opt, _ = cvx_nuclear(Y, lam, mask=mask)
    est = hf.MatrixCompletion(lam=lam, random_state=0).fit(np.where(mask, Y, np.nan))
    _check(est.certificate_, opt)
    if lam >= top:
        assert est.rank_ == 0
