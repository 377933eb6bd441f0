"""Hierarchical alternating least squares (HALS) for non-negative ℓ2/ℓ2 atoms.

Sum form ``½‖Y − UVᵀ‖² + (λ/2)(‖U‖² + ‖V‖²)`` with ``U, V ≥ 0``: each column is an exact
block minimizer (Cichocki & Phan 2009's HALS with a ridge term),

    u_k ← max(0, Y v_k − Σ_{j≠k} u_j (v_jᵀ v_k)) / (‖v_k‖² + λ),

so the objective never increases.  A sweep costs two ``m×n×r`` products plus ``O((m+n) r²)``.
Its minima coincide with the product form ``λ Σ‖uᵢ‖‖vᵢ‖`` after per-column rebalancing.
"""

from __future__ import annotations

import time

import numpy as np

from ..tolerance import relative_to
from .als import LocalResult

__all__ = ["hals", "nnls_hals"]


def _update_columns(A: np.ndarray, YB: np.ndarray, BtB: np.ndarray, ridge: float,
                    linear: np.ndarray | None = None) -> None:
    """In place: ``a_k ← max(0, (YB)_k − A (BᵀB)_k + a_k (BᵀB)_kk − c_k) / ((BᵀB)_kk + ridge)``."""
    for k in range(A.shape[1]):
        denom = BtB[k, k] + ridge
        if denom <= 0:
            A[:, k] = 0.0
            continue
        num = YB[:, k] - A @ BtB[:, k] + A[:, k] * BtB[k, k]
        if linear is not None:
            num = num - linear[k]
        A[:, k] = np.maximum(num, 0.0) / denom


def hals(Y: np.ndarray, U: np.ndarray, V: np.ndarray, lam: float, *, max_sweeps: int = 500,
         tol: float = 1e-9, deadline: float = np.inf) -> LocalResult:
    """HALS sweeps until the relative decrease of the sum-form objective is ``≤ tol``."""
    U = np.maximum(np.array(U, dtype=float, copy=True), 0.0)
    V = np.maximum(np.array(V, dtype=float, copy=True), 0.0)
    yy = float(np.vdot(Y, Y))
    f_old = np.inf
    rel = np.inf
    sweeps = 0
    f = np.inf
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        _update_columns(U, Y @ V, V.T @ V, lam)
        YtU = Y.T @ U
        UtU = U.T @ U
        _update_columns(V, YtU, UtU, lam)
        f = 0.5 * (yy - 2 * np.vdot(YtU, V) + np.vdot(UtU, V.T @ V)) + 0.5 * lam * (
            np.vdot(U, U) + np.vdot(V, V))
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([U, V], sweeps, float(rel), float(f))


def nnls_hals(Y: np.ndarray, H: np.ndarray, *, linear: np.ndarray | None = None,
              n_sweeps: int = 200, tol: float = 1e-8, W0: np.ndarray | None = None) -> np.ndarray:
    """Codes ``W ≥ 0`` minimizing ``½‖Y − W H‖² + Σ_k c_k Σ_i W_ik`` for fixed ``H`` (``r×n``).

    ``linear`` holds the ``c_k ≥ 0`` (product-form penalty ``λ‖h_k‖`` for regularized
    components, zero for a debiased refit).  HALS on ``W`` alone: a convex problem.
    """
    r = H.shape[0]
    W = np.zeros((Y.shape[0], r)) if W0 is None else np.maximum(np.array(W0, float), 0.0)
    YH = Y @ H.T
    HHt = H @ H.T
    prev = None
    for _ in range(n_sweeps):
        _update_columns(W, YH, HHt, 0.0, linear)
        if prev is not None and np.linalg.norm(W - prev) <= tol * max(1.0, np.linalg.norm(W)):
            break
        prev = W.copy()
    return W
