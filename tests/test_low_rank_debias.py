"""Debiased output of LowRankApproximation (issue 12): Gavish-Donoho optimal shrinkage of the
singular values along the certified rank, the certificate kept for the certified factors.

The draws use seeds outside the tuning seeds 0-9 of ``benchmarks/robust_lowrank.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone

import homfact as hf
from homfact.noise import estimate_noise_level, optimal_singular_value_shrinkage


def _spiked(seed: int, m: int = 300, n: int = 200, r: int = 5, sigma: float = 0.2):
    """``Y = X + σE`` with ``r`` spikes ``ρ σ (mn)^{1/4}``, ``ρ`` in ``[2.5, 12]``."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    s = sigma * (m * n) ** 0.25 * np.linspace(2.5, 12.0, r)
    X = (U * s) @ V.T
    return X + sigma * rng.standard_normal((m, n)), X


def _rel(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


# ------------------------------------------------------------------------------ the shrinker
def test_shrinker_matches_hand_computation():
    # m = 50, n = 200: beta = 1/4, bulk edge 1 + sqrt(beta) = 3/2 in noise units y = s/(σ√n).
    # At y² = 5/2: (y² − β − 1)² − 4β = (5/4)² − 1 = 9/16, so η(y) = (3/4)/√(5/2).
    sigma, shape = 0.5, (50, 200)
    tau = sigma * math.sqrt(200)
    y = np.array([0.0, 1.0, 1.4, 1.5, math.sqrt(2.5), 4.0])
    eta = optimal_singular_value_shrinkage(tau * y, sigma, shape)
    expected_y = [0.0, 0.0, 0.0, 0.0, 0.75 / math.sqrt(2.5),
                  math.sqrt((16.0 - 1.25) ** 2 - 1.0) / 4.0]
    np.testing.assert_allclose(eta, tau * np.array(expected_y), rtol=1e-12, atol=1e-12)
    # only the aspect ratio matters, not the orientation
    np.testing.assert_array_equal(optimal_singular_value_shrinkage(tau * y, sigma, (200, 50)),
                                  eta)
    # square case beta = 1: edge y = 2, η(y) = √(y⁴ − 4y²)/y = √(y² − 4)
    np.testing.assert_allclose(optimal_singular_value_shrinkage([3.0 * 7.0], 1.0, (49, 49)),
                               [7.0 * math.sqrt(5.0)], rtol=1e-12)
    # no noise: no shrinkage; always 0 <= η <= s
    s = np.array([0.0, 1e-300, 1.0, 1e200])
    np.testing.assert_array_equal(optimal_singular_value_shrinkage(s, 0.0, (3, 4)), s)
    grid = np.linspace(0.0, 50.0, 501)
    out = optimal_singular_value_shrinkage(grid, 1.0, (30, 90))
    assert np.all(out >= 0) and np.all(out <= grid)


def test_shrinker_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        optimal_singular_value_shrinkage([1.0], -1.0, (3, 3))
    with pytest.raises(ValueError, match=r"\bs\b"):
        optimal_singular_value_shrinkage([-1.0], 1.0, (3, 3))
    with pytest.raises(ValueError, match="shape"):
        optimal_singular_value_shrinkage([1.0], 1.0, (0, 3))


# ----------------------------------------------------------------------------- the estimator
@pytest.mark.parametrize("seed", [1234, 4321])
def test_debias_beats_soft_threshold_and_is_near_the_oracle(seed):
    Y, X = _spiked(seed)
    est = hf.LowRankApproximation(random_state=0).fit(Y)
    assert est.debiased_ and est.rank_ == 5 and est.U_.shape == (300, 5)
    err = _rel(est.U_ @ est.V_.T, X)
    err_certified = _rel(est.certified_U_ @ est.certified_V_.T, X)
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    err_oracle = _rel((U[:, :5] * s[:5]) @ Vt[:5], X)
    # measured on these draws: err/err_certified ≈ 0.6, err/err_oracle ≈ 0.95; on the 20
    # held-out draws of benchmarks/robust_lowrank.py at most 0.98x the oracle
    assert err <= 0.8 * err_certified
    assert err <= 1.1 * err_oracle


def test_debiased_factors_are_the_shrunk_top_svd():
    Y, _ = _spiked(2718)
    est = hf.LowRankApproximation(random_state=0).fit(Y)
    r = est.rank_
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    np.testing.assert_allclose(est.debias_info_["singular_values"], s[:r], rtol=1e-8)
    eta = optimal_singular_value_shrinkage(s[:r], est.noise_level_, Y.shape)
    np.testing.assert_allclose(est.debias_info_["shrunk_singular_values"], eta, rtol=1e-8)
    np.testing.assert_allclose(est.U_ @ est.V_.T, (U[:, :r] * eta) @ Vt[:r],
                               atol=1e-8 * np.linalg.norm(Y))
    assert est.debias_info_["noise_level"] == est.noise_level_ == estimate_noise_level(Y)
    assert est.debias_info_["dropped"] == 0
    # balanced, orthogonal columns, ‖uᵢ‖² = ηᵢ
    np.testing.assert_allclose(np.sum(est.U_ ** 2, axis=0), eta, rtol=1e-10)
    np.testing.assert_allclose(est.V_.T @ est.V_, np.diag(eta), atol=1e-10 * eta.max())


def test_certificate_is_that_of_the_certified_fit():
    Y, _ = _spiked(99)
    on = hf.LowRankApproximation(random_state=0).fit(Y)
    off = hf.LowRankApproximation(debias=False, random_state=0).fit(Y)
    assert on.debiased_ and not off.debiased_ and off.debias_info_ is None
    assert on.certificate_.to_dict() == off.certificate_.to_dict()
    np.testing.assert_array_equal(on.certified_U_, off.U_)
    np.testing.assert_array_equal(on.certified_V_, off.V_)
    assert off.certified_U_ is off.U_ and off.certified_V_ is off.V_
    assert on.rank_ == off.rank_ and on.lam_ == off.lam_


def test_numeric_lam_keeps_the_certified_solution_unless_forced():
    Y, X = _spiked(555, m=120, n=90, r=3, sigma=0.1)
    lam = 1.1 * estimate_noise_level(Y) * (math.sqrt(120) + math.sqrt(90))
    plain = hf.LowRankApproximation(lam=lam).fit(Y)
    assert not plain.debiased_ and plain.noise_level_ is None and plain.U_ is plain.certified_U_
    forced = hf.LowRankApproximation(lam=lam, debias=True).fit(Y)
    assert forced.debiased_ and forced.noise_level_ == estimate_noise_level(Y)
    assert forced.certificate_.to_dict() == plain.certificate_.to_dict()
    assert _rel(forced.U_ @ forced.V_.T, X) < _rel(plain.U_ @ plain.V_.T, X)


def test_components_below_the_noise_edge_are_dropped():
    # a small numeric λ keeps noise directions; their shrunk values are 0 and they go
    Y, _ = _spiked(777, m=120, n=90, r=3, sigma=0.1)
    est = hf.LowRankApproximation(lam=0.3 * 0.1 * (math.sqrt(120) + math.sqrt(90)),
                                  debias=True).fit(Y)
    k = est.U_.shape[1]
    assert est.rank_ > 3 and k == 3 and est.debias_info_["dropped"] == est.rank_ - 3
    assert est.components_.shape == (3, 90)
    assert est.transform(Y).shape == (120, 3)
    assert est.inverse_transform(np.zeros((2, 3))).shape == (2, 90)
    with pytest.raises(ValueError, match="codes"):
        est.inverse_transform(np.zeros((2, est.rank_)))


def test_transform_reproduces_the_reported_factors():
    Y, _ = _spiked(31, m=80, n=60, r=2, sigma=0.05)
    for debias in (True, False):
        est = hf.LowRankApproximation(debias=debias, random_state=0).fit(Y)
        assert est.debiased_ is debias
        codes = est.transform(Y)
        np.testing.assert_allclose(codes, est.U_, atol=1e-6 * np.abs(est.U_).max())
        np.testing.assert_allclose(est.inverse_transform(codes), est.U_ @ est.V_.T,
                                   atol=1e-6 * np.abs(Y).max())


def test_pure_noise_and_noise_free():
    noise = np.random.default_rng(11).standard_normal((100, 70))
    est = hf.LowRankApproximation().fit(noise)
    assert est.rank_ == 0 and not est.debiased_ and est.U_.shape == (100, 0)
    rng = np.random.default_rng(12)
    X = rng.standard_normal((60, 4)) @ rng.standard_normal((4, 50))
    est = hf.LowRankApproximation().fit(X)
    assert est.debiased_ and est.rank_ == 4
    assert np.linalg.norm(est.U_ @ est.V_.T - X) <= 1e-6 * np.linalg.norm(X)


def test_debias_parameter():
    est = hf.LowRankApproximation(debias=False)
    assert est.get_params()["debias"] is False
    assert clone(est).debias is False
    assert hf.LowRankApproximation().get_params()["debias"] == "auto"
    Y = np.random.default_rng(3).standard_normal((10, 8))
    with pytest.raises(ValueError, match=r"\bdebias\b"):
        hf.LowRankApproximation(debias="x").fit(Y)
    for bad in (1, None, 0.5):
        with pytest.raises(TypeError, match=r"\bdebias\b"):
            hf.LowRankApproximation(debias=bad).fit(Y)
