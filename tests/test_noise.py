"""Noise-level estimates behind every ``lam="auto"`` (``homfact.noise``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from homfact.noise import (
    estimate_noise_level,
    marchenko_pastur_median,
    noise_spectral_norm,
    robust_scale,
    universal_threshold,
)


def test_marchenko_pastur_median_known_value_and_monte_carlo():
    # Gavish & Donoho (2014): μ_1 ≈ 0.6528 for square matrices
    assert marchenko_pastur_median(1.0) == pytest.approx(0.6528, abs=1e-4)
    rng = np.random.default_rng(0)
    for beta in (0.25, 0.5):
        n = 2000
        m = int(beta * n)
        ev = np.linalg.eigvalsh((lambda E: E @ E.T / n)(rng.standard_normal((m, n))))
        assert np.median(ev) == pytest.approx(marchenko_pastur_median(m / n), rel=0.01)
    assert marchenko_pastur_median(1e-9) == 1.0
    with pytest.raises(ValueError, match="beta"):
        marchenko_pastur_median(1.5)


@pytest.mark.parametrize("shape,rank,sigma", [((300, 200), 5, 0.1), ((150, 400), 10, 2.0),
                                              ((2500, 60), 3, 0.05)])
def test_estimate_noise_level_recovers_sigma_under_a_low_rank_signal(shape, rank, sigma):
    rng = np.random.default_rng(1)
    m, n = shape
    signal = 10 * sigma * rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    Y = signal + sigma * rng.standard_normal(shape)
    assert estimate_noise_level(Y) == pytest.approx(sigma, rel=0.05)


def test_estimate_noise_level_is_zero_without_noise_and_checks_input():
    rng = np.random.default_rng(2)
    Y = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
    assert estimate_noise_level(Y) < 1e-10
    with pytest.raises(ValueError, match="NaN"):
        estimate_noise_level(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="2 rows"):
        estimate_noise_level(np.ones(5))
    with pytest.raises(TypeError, match="dense"):
        estimate_noise_level(sp.eye(4))


def test_spectral_and_universal_thresholds():
    rng = np.random.default_rng(3)
    m, n, sigma = 400, 300, 0.7
    E = sigma * rng.standard_normal((m, n))
    edge = noise_spectral_norm(sigma, (m, n))
    assert np.linalg.norm(E, 2) == pytest.approx(edge, rel=0.03)
    mask = rng.random((m, n)) < 0.3
    assert np.linalg.norm(E * mask, 2) == pytest.approx(
        noise_spectral_norm(sigma, (m, n), 0.3), rel=0.05)
    with pytest.raises(ValueError, match="fraction"):
        noise_spectral_norm(1.0, (3, 3), 0.0)
    x = sigma * rng.standard_normal(100_000)
    t = universal_threshold(sigma, x.size)
    assert np.abs(x).max() <= t * 1.05 and t == pytest.approx(sigma * np.sqrt(2 * np.log(1e5)))
    assert robust_scale(x) == pytest.approx(sigma, rel=0.02)
    assert robust_scale(np.zeros(3)) == 0.0
