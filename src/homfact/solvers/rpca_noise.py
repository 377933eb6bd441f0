"""The automatic Huber threshold ``δ = 1/γ`` of robust PCA (class doc of
:class:`homfact.RobustPCA`): the noise level and gross-error fraction from the residual of a
warm-start stage, and the smallest factor ``c`` with ``γ‖∇‖₂ ≤ λ/κ`` for ``δ = cσ̂``."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from ..noise import noise_spectral_norm, robust_scale

#: automatic δ = cσ̂: c is searched in [_C_MIN, _C_MAX] (√2: Zhou et al.'s μ = √(2n)σ)
_C_MIN, _C_MAX = math.sqrt(2.0), 8.0
#: safety factor κ of the rule γ‖∇‖₂ ≤ λ/κ (finite-size fluctuations, error of σ̂)
_MARGIN = 1.25
#: the noise estimate uses a uniform sample of at most this many observed entries
_NOISE_SAMPLE = 50_000


def _clipped_second_moment(c: float) -> float:
    """``E min(z², c²)`` for ``z ~ N(0, 1)``: ``(2Φ(c) − 1) − 2cφ(c) + 2c²(1 − Φ(c))``."""
    phi = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    tail = 0.5 * math.erfc(c / math.sqrt(2.0))  # 1 − Φ(c)
    return (1.0 - 2.0 * tail) - 2.0 * c * phi + 2.0 * c * c * tail


def _gradient_norm_per_gamma_sigma(c: float, rho: float, shape: tuple[int, int],
                                   fraction: float) -> float:
    """Typical ``γ‖P_Ω(clip_δ(Y − L*))‖₂`` at the truth for ``δ = 1/γ = cσ``.

    Entries of ``clip_δ(Y − L*)``: ``clip(σz, ±cσ)`` on inliers (second moment ``σ²s(c)²``,
    :func:`_clipped_second_moment`), ``±cσ`` on the fraction ``ρ`` of gross errors; so the
    matrix has entry RMS ``σ√((1 − ρ)s(c)² + ρc²)`` and, times ``γ = 1/(cσ)``, spectral norm
    ``noise_spectral_norm(√((1 − ρ)s(c)² + ρc²)/c, shape, fraction)``.
    """
    rms = math.sqrt((1.0 - rho) * _clipped_second_moment(c) + rho * c * c) / c
    return noise_spectral_norm(rms, shape, fraction)


def _noise_factor(lam_split: float, rho: float, shape: tuple[int, int],
                  fraction: float) -> tuple[float, bool]:
    """Smallest ``c ∈ [√2, _C_MAX]`` with ``γ‖∇‖₂ ≤ λ/κ`` (class doc of :class:`RobustPCA`).

    Returns ``(c, feasible)``; ``feasible`` is false when even ``_C_MAX`` misses the condition
    (then ``c = _C_MAX``: too many gross errors for the weight ``λ``).
    """
    target = lam_split / _MARGIN

    def excess(c: float) -> float:
        return _gradient_norm_per_gamma_sigma(c, rho, shape, fraction) - target

    if excess(_C_MIN) <= 0:
        return _C_MIN, True
    if excess(_C_MAX) > 0:
        return _C_MAX, False
    return float(optimize.brentq(excess, _C_MIN, _C_MAX, xtol=1e-6)), True


def _residual_noise(values: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    shape: tuple[int, int], U: np.ndarray, s: np.ndarray,
                    V: np.ndarray) -> tuple[float, float]:
    """Noise level and gross-error fraction from the residual of the unshrunk fit ``U diag(s) Vᵀ``.

    ``R = Y − U diag(s) Vᵀ`` on the given observed entries ``(rows, cols)`` with values
    ``values`` (a uniform sample of at most ``_NOISE_SAMPLE`` of them: the MAD's relative
    standard error is then about ``1.17/√k``, 0.5 %); ``σ₀ = robust_scale(R)`` (1.4826·MAD,
    breakdown 50 %), then ``σ₁ = robust_scale(R[|R − med R| ≤ 5σ₀])`` (the gross errors,
    which inflate the MAD by about 13 % at 10 %, removed), times the degrees-of-freedom
    correction ``√(mn / ((m − r)(n − r)))`` (a rank-``r`` fit removes that share of the
    noise's variance).  ``ρ̂`` is the fraction of the entries with ``|R − med R| > 5σ₁``.
    """
    m, n = shape
    if values.size == 0:
        return 0.0, 0.0
    r = s.shape[0]
    R = values - np.einsum("ij,ij->i", U[rows] * s, V[cols]) if r else values
    dev = np.abs(R - np.median(R))
    s0 = robust_scale(R)
    kept = R[dev <= 5.0 * s0]
    s1 = robust_scale(kept) if kept.size else s0
    dof = math.sqrt(m * n / max((m - r) * (n - r), 1)) if r < min(m, n) else 1.0
    rho = float(np.count_nonzero(dev > 5.0 * s1)) / R.size
    return s1 * dof, rho


class _NoiseRule:
    """The automatic ``δ = 1/γ`` of the split model (class doc of :class:`RobustPCA`).

    Called by :func:`_continuation` after each warm-start stage with the unshrunk fit; returns
    ``δ* = max(c·σ̂, floor)`` with ``σ̂, ρ̂`` from :func:`_residual_noise` (on a fixed uniform
    sample of the observed entries), ``c`` from :func:`_noise_factor` for the weight
    ``lam_rule``, and the record of the estimate.
    """

    def __init__(self, Y0: np.ndarray, obs: np.ndarray | None, lam_rule: float,
                 pilot_lam: float, floor: float, rng: np.random.Generator):
        self.shape = Y0.shape
        self.lam_rule, self.pilot_lam, self.floor = lam_rule, pilot_lam, floor
        flat = np.flatnonzero(obs) if obs is not None else None
        n_obs = Y0.size if flat is None else flat.size
        self.fraction = n_obs / Y0.size
        if n_obs > _NOISE_SAMPLE:
            pick = rng.choice(n_obs, _NOISE_SAMPLE, replace=False)
            flat = pick if flat is None else flat[pick]
        elif flat is None:
            flat = np.arange(Y0.size)
        self.rows, self.cols = np.divmod(flat, Y0.shape[1])
        self.values = Y0.ravel()[flat]
        self.last: dict | None = None

    def __call__(self, U: np.ndarray, s: np.ndarray, V: np.ndarray) -> tuple[float, dict]:
        sigma, rho = _residual_noise(self.values, self.rows, self.cols, self.shape, U, s, V)
        c, feasible = _noise_factor(self.lam_rule, rho, self.shape, self.fraction)
        target = max(c * sigma, self.floor)
        self.last = {"noise_level": sigma, "outlier_fraction": rho, "noise_factor": c,
                     "rule_feasible": feasible, "target_delta": target,
                     "floored": bool(c * sigma < self.floor)}
        return target, dict(self.last)
