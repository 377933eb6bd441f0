"""Noise-level estimates and the thresholds derived from them (the ``lam="auto"`` rules).

Every estimator's automatic ``λ`` is a multiple of an estimated noise level ``σ̂`` (stored as
``noise_level_``) through a published rule; this module holds the estimates and the rules so
that each formula lives in one place.

* :func:`marchenko_pastur_median` — median ``μ_β`` of the Marchenko–Pastur law (ratio ``β``).
* :func:`estimate_noise_level` — Gavish & Donoho (2014) ``σ̂ = s_med / √(n_max · μ_β)``: for
  ``Y = X + σE`` with ``X`` of low rank and ``E`` i.i.d. of unit variance, the median singular
  value of ``Y`` is (almost) that of ``σE``, whose squared singular values divided by
  ``n_max`` follow the Marchenko–Pastur law.  Robust to the low-rank signal (it moves only a
  few singular values), consistent as the matrix grows.
* :func:`robust_scale` — ``1.4826·MAD``, the normal-consistent scale of entries.
* :func:`noise_spectral_norm` — ``σ(√m + √n)`` (Gaussian matrix, e.g. Vershynin 2012,
  Thm 5.32), times ``√p`` when each entry is observed with probability ``p``: the typical
  spectral norm of ``P_Ω(σE)``, the gradient of the (masked) squared loss at the truth.  A
  nuclear-norm ``λ`` at or above it removes the noise directions (Negahban & Wainwright 2012;
  Koltchinskii, Lounici & Tsybakov 2011; Candès & Plan 2010).
* :func:`universal_threshold` — ``σ√(2 log n)`` (Donoho & Johnstone 1994): the level that
  ``n`` i.i.d. ``N(0, σ²)`` values exceed with vanishing probability, the ``λ`` of sparse codes.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.sparse as sp
from scipy import integrate, optimize

__all__ = [
    "estimate_noise_level",
    "marchenko_pastur_median",
    "noise_spectral_norm",
    "robust_scale",
    "universal_threshold",
]

#: larger matrices are estimated on a random submatrix of at most this many rows and columns
_MAX_SIDE = 2000


@functools.lru_cache(maxsize=256)
def _mp_median_cached(beta: float) -> float:
    lo, hi = (1.0 - math.sqrt(beta)) ** 2, (1.0 + math.sqrt(beta)) ** 2

    def density(x: float) -> float:
        return math.sqrt(max((hi - x) * (x - lo), 0.0)) / (2.0 * math.pi * beta * x)

    def cdf_minus_half(x: float) -> float:
        return integrate.quad(density, lo, x, limit=200)[0] - 0.5

    return float(optimize.brentq(cdf_minus_half, lo, hi, xtol=1e-12))


def marchenko_pastur_median(beta: float) -> float:
    """Median ``μ_β`` of the Marchenko–Pastur law with ratio ``β ∈ (0, 1]`` and unit variance.

    The law is that of the eigenvalues of ``EEᵀ/n`` for an ``m×n`` matrix ``E`` of i.i.d.
    unit-variance entries with ``m/n → β``; its density is
    ``√((b − x)(x − a)) / (2πβx)`` on ``[a, b] = [(1 − √β)², (1 + √β)²]``.  Computed by
    quadrature and root finding (cached; ``β`` rounded to 6 digits).
    """
    beta = float(beta)
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"beta must lie in (0, 1], got {beta!r}")
    if beta < 1e-6:  # the law concentrates at 1
        return 1.0
    return _mp_median_cached(round(beta, 6))


def robust_scale(values: np.ndarray) -> float:
    """``1.4826·median|y − median(y)|``, the normal-consistent MAD; the RMS if that is 0."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        return 0.0
    mad = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return mad if mad > 0 else float(np.sqrt(np.mean(values * values)))


def estimate_noise_level(Y, *, random_state=0) -> float:
    """Gavish–Donoho estimate ``σ̂ = s_med(Y) / √(n_max · μ_β)`` of i.i.d. noise in a matrix.

    ``s_med`` is the median singular value of ``Y`` (``m×n``, ``β = min(m,n)/max(m,n)``,
    ``n_max = max(m, n)``), ``μ_β`` the Marchenko–Pastur median
    (:func:`marchenko_pastur_median`).  Reference: M. Gavish & D. L. Donoho, "The optimal hard
    threshold for singular values is 4/√3", IEEE Trans. Inf. Theory 60(8), 2014, eq. (9).

    The estimate assumes ``Y = X + σE`` with ``X`` of rank well below ``min(m, n)/2``; a
    signal of high rank inflates it.  Sides longer than 2000 are subsampled at random (the law
    holds for any submatrix), so the cost is at most one 2000×2000 singular-value computation.
    ``Y`` must be dense and finite with at least 2 rows and 2 columns.
    """
    if sp.issparse(Y):
        raise TypeError("Y must be a dense array for the noise estimate (missing entries have "
                        "no Marchenko-Pastur law: select lam by cross-validation instead)")
    A = np.asarray(Y, dtype=float)
    if A.ndim != 2 or min(A.shape) < 2:
        raise ValueError(f"Y must be a 2-D array with at least 2 rows and 2 columns, got "
                         f"shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("Y contains NaN or infinite values")
    rng = np.random.default_rng(random_state)
    if A.shape[0] > _MAX_SIDE:
        A = A[np.sort(rng.choice(A.shape[0], _MAX_SIDE, replace=False))]
    if A.shape[1] > _MAX_SIDE:
        A = A[:, np.sort(rng.choice(A.shape[1], _MAX_SIDE, replace=False))]
    m, n = A.shape
    # singular values directly (a Gram matrix would lose half the digits: a noise-free matrix
    # would read σ̂ ≈ √eps·‖Y‖ instead of eps·‖Y‖)
    s_med = float(np.median(np.linalg.svd(A, compute_uv=False)))
    return s_med / math.sqrt(max(m, n) * marchenko_pastur_median(min(m, n) / max(m, n)))


def noise_spectral_norm(sigma: float, shape: tuple[int, int], fraction: float = 1.0) -> float:
    """Typical ``‖P_Ω(σE)‖₂ ≈ σ√p(√m + √n)`` for i.i.d. unit noise observed with probability p.

    For ``p = 1`` this is the edge of the Marchenko–Pastur bulk, ``σ(√m + √n)``.
    """
    m, n = shape
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    return float(sigma) * math.sqrt(fraction) * (math.sqrt(m) + math.sqrt(n))


def universal_threshold(sigma: float, n: int) -> float:
    """Donoho–Johnstone universal threshold ``σ√(2 log n)`` (``n ≥ 2``)."""
    return float(sigma) * math.sqrt(2.0 * math.log(max(int(n), 2)))
