"""Block prox-linear descent with extrapolation and restart (Xu & Yin 2013).

Theory: docs: theory/descent-and-growth, 'Block prox-linear descent'.

Minimizes the product form ``F(X) = ℓ(Φ(X)) + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` for any map and gauges.  Block
``k`` takes an extrapolated gradient step with its Lipschitz constant ``L_k``, then the column-wise
prox of ``κₖ`` with weights ``λ Π_{j≠k} κⱼ(xᵢʲ) / L_k``.  A sweep that increases ``F`` is
discarded and redone without extrapolation.  After each sweep slices with a zero block are
zeroed entirely and every slice is rebalanced so that ``κₖ(xᵢᵏ) = θᵢ^{1/K}`` (no change in ``F``).
"""

from __future__ import annotations

import time

import numpy as np

from ..gauges import Gauge
from ..losses import Loss
from ..tolerance import relative_to
from .als import LocalResult

__all__ = ["objective", "prox_linear", "rebalance_columns"]


def _penalty_terms(gauges: list[Gauge], factors: list[np.ndarray]) -> np.ndarray:
    vals = np.ones(factors[0].shape[1])
    for g, X in zip(gauges, factors, strict=True):
        vals = vals * g.value(X)
    return vals


def objective(loss: Loss, mapping, gauges: list[Gauge], lam: float,
              factors: list[np.ndarray]) -> float:
    """``ℓ(Φ(X)) + λ Σᵢ Πₖ κₖ(xᵢᵏ)``."""
    pen = float(np.sum(_penalty_terms(gauges, factors))) if factors[0].shape[1] else 0.0
    return loss.value(mapping.forward(factors)) + lam * pen


def rebalance_columns(gauges: list[Gauge], factors: list[np.ndarray]) -> tuple[list, np.ndarray]:
    """Scale each slice so every block has gauge ``θᵢ^{1/K}``; zero slices with a zero block.

    Returns the new factors and the per-block column scales applied (shape ``(K, r)``).
    """
    K = len(factors)
    norms = np.array([g.value(X) for g, X in zip(gauges, factors, strict=True)])  # (K, r)
    theta = np.prod(norms, axis=0)
    target = theta ** (1.0 / K)
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = np.where(norms > 0, target / norms, 0.0)
    scales[:, theta == 0] = 0.0
    return [X * scales[k] for k, X in enumerate(factors)], scales


def prox_linear(loss: Loss, mapping, gauges: list[Gauge], lam: float, factors: list[np.ndarray],
                *, max_sweeps: int = 500, tol: float = 1e-9, delta_w: float = 0.9999,
                deadline: float = np.inf) -> LocalResult:
    """Run block prox-linear sweeps until the relative decrease of ``F`` is ``≤ tol``."""
    K = len(factors)
    X = [np.array(f, dtype=float, copy=True) for f in factors]
    if X[0].shape[1] == 0:
        return LocalResult(X, 0, 0.0, objective(loss, mapping, gauges, lam, X))
    X, _ = rebalance_columns(gauges, X)
    X_prev = [x.copy() for x in X]
    L_prev = [0.0] * K
    t_prev = 1.0
    f_old = objective(loss, mapping, gauges, lam, X)
    rel = np.inf
    sweeps = 0
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        t = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_prev * t_prev))
        w_hat = (t_prev - 1.0) / t
        for extrapolate in (True, False):
            new = [x.copy() for x in X]
            L_now = list(L_prev)
            for k in range(K):
                Lk = loss.lipschitz * mapping.block_lipschitz(new, k)
                if Lk <= 0:
                    continue
                use = extrapolate and L_prev[k] > 0
                w = min(w_hat, delta_w * np.sqrt(L_prev[k] / Lk)) if use else 0.0
                xhat = new[k] + w * (X[k] - X_prev[k]) if w > 0 else new[k]
                trial = [*new[:k], xhat, *new[k + 1:]]
                g = loss.neg_gradient(mapping.forward(trial))
                step = xhat + mapping.block_gradient(g, trial, k) / Lk
                others = np.ones(new[k].shape[1])
                for j in range(K):
                    if j != k:
                        others = others * gauges[j].value(new[j])
                new[k] = gauges[k].prox(step, lam * others / Lk)
                L_now[k] = Lk
            new, scales = rebalance_columns(gauges, new)
            f_new = objective(loss, mapping, gauges, lam, new)
            if f_new <= f_old or not extrapolate:
                break
            t = 1.0  # restart: redo the sweep without extrapolation
        # keep the previous iterate consistent with the rebalanced columns
        X_prev = [X[k] * scales[k] for k in range(K)]
        X, L_prev, t_prev = new, L_now, t
        rel = relative_to(f_old - f_new, f_new)
        f_old = f_new
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult(X, sweeps, float(rel), float(f_old))
