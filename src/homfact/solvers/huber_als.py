"""Block coordinate descent for the Huber loss with ℓ2/ℓ2 atoms (robust PCA).

The Huber loss is the Moreau envelope of the ℓ1 norm,

    w·Σ h_δ(Y − Z) = min_E  w·(δ‖E‖₁ + ½‖Y − Z − E‖²),

so ``min_{U,V} w Σ h_δ(Y − UVᵀ) + (λ/2)(‖U‖² + ‖V‖²)`` is solved exactly block by block:
``E ← soft(Y − UVᵀ, δ)`` (closed form), then one ridge-ALS sweep on the cleaned data ``Y − E``
with ridge ``λ/w``.  With ``w = γ`` and ``δ = 1/γ`` this is the split robust-PCA objective
``‖E‖₁ + λΣ‖uᵢ‖‖vᵢ‖ + (γ/2)‖Y − UVᵀ − E‖²``.  Every step is an exact block minimization,
so the objective never increases.
"""

from __future__ import annotations

import time

import numpy as np

from ..gauges import soft_threshold
from ..maps import MaskedBilinear, masked_dot
from ..tolerance import relative_to
from .als import LocalResult, als_dense, als_masked

__all__ = ["als_huber"]


def als_huber(mapping, y: np.ndarray, U: np.ndarray, V: np.ndarray, lam: float, *,
              delta: float, weight: float = 1.0, max_sweeps: int = 500, tol: float = 1e-9,
              deadline: float = np.inf) -> LocalResult:
    """Alternate ``E ← soft(y − z, δ)`` and a ridge-ALS sweep on ``y − E`` (see module doc)."""
    masked = isinstance(mapping, MaskedBilinear)
    f_old = np.inf
    rel = np.inf
    sweeps = 0
    f = np.inf
    ridge = lam / weight
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        z = masked_dot(U, V, mapping.rows, mapping.cols) if masked else U @ V.T
        E = soft_threshold(y - z, delta)
        target = y - E
        if masked:
            res = als_masked(mapping, target, U, V, ridge, method="exact", max_sweeps=1, tol=0.0)
        else:
            res = als_dense(target, U, V, ridge, max_sweeps=1, tol=0.0)
        U, V = res.factors
        z = masked_dot(U, V, mapping.rows, mapping.cols) if masked else U @ V.T
        a = np.abs(y - z)
        loss = float(np.sum(np.where(a <= delta, 0.5 * a * a, delta * a - 0.5 * delta * delta)))
        f = weight * loss + 0.5 * lam * float(np.vdot(U, U) + np.vdot(V, V))
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([U, V], sweeps, float(rel), float(f))
