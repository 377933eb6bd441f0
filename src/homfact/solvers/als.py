"""Alternating least squares for ℓ2/ℓ2 atoms and the squared loss.

Theory: docs: theory/descent-and-growth, 'Alternating least squares'.

Both solvers minimize the *sum form*

    f(U, V) = ½‖A(Y − U Vᵀ)‖² + (λ/2)(‖U‖²_F + ‖V‖²_F),

whose minima coincide with those of the product form ``λ Σᵢ ‖uᵢ‖‖vᵢ‖`` after rebalancing
(:func:`orthogonalize_l2` makes the two equal, ``Σᵢ‖uᵢ‖‖vᵢ‖ = ‖U Vᵀ‖_*``).

* :func:`als_dense` — exact block minimization, ``U ← Y V (VᵀV + λI)⁻¹``.
* :func:`als_masked` — completion.  ``method="softimpute"`` is the soft-impute-ALS majorization
  step of Hastie, Mazumder, Lee & Zadeh (2015): ``U ← (P_Ω(R) V + U VᵀV)(VᵀV + λI)⁻¹``, cost
  ``O(|Ω| r + (m+n) r²)`` a sweep; ``method="exact"`` solves each row's ridge problem over its
  observed entries, cost ``O(|Ω| r² + (m+n) r³)`` a sweep but far fewer sweeps when few entries
  are observed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .._threads import single_blas_thread
from ..maps import MaskedBilinear, masked_dot
from ..tolerance import relative_to

__all__ = ["LocalResult", "als_dense", "als_masked", "orthogonalize_l2"]

@dataclass
class LocalResult:
    """Outcome of a local solver: factors, number of sweeps, last relative decrease."""

    factors: list[np.ndarray]
    n_sweeps: int
    rel_change: float
    objective: float


@single_blas_thread
def _ridge_right(B: np.ndarray, gram: np.ndarray, lam: float) -> np.ndarray:
    """Return ``B (gram + λI)⁻¹`` for a symmetric PSD ``gram``."""
    r = gram.shape[0]
    if r == 0:
        return B
    M = gram + lam * np.eye(r)
    if lam == 0:
        return np.linalg.lstsq(M, B.T, rcond=None)[0].T
    return sla.solve(M, B.T, assume_a="pos", check_finite=False).T


@single_blas_thread
def orthogonalize_l2(U: np.ndarray, V: np.ndarray, prune_rtol: float = 1e-10,
                     prune_atol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rebalance ℓ2/ℓ2 factors so that ``Σᵢ ‖uᵢ‖‖vᵢ‖ = ‖U Vᵀ‖_*`` and prune dead columns.

    With ``U = Q_u R_u``, ``V = Q_v R_v`` and ``R_u R_vᵀ = A S Bᵀ``: ``U ← Q_u A S^½``,
    ``V ← Q_v B S^½``; the product ``U Vᵀ`` is unchanged.  Columns with
    ``s_i ≤ max(prune_rtol·s_1, prune_atol)`` are removed (a whole slice at a time).
    Cost ``O((m+n) r²)``.
    """
    r = U.shape[1]
    if r == 0:
        return U, V
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    A, s, Bt = np.linalg.svd(Ru @ Rv.T, full_matrices=False)
    keep = s > max(prune_rtol * (s[0] if s.size else 0.0), prune_atol, 0.0)
    root = np.sqrt(s[keep])
    return (Qu @ A[:, keep]) * root, (Qv @ Bt.T[:, keep]) * root


def als_dense(Y: np.ndarray, U: np.ndarray, V: np.ndarray, lam: float, *, max_sweeps: int = 100,
              tol: float = 1e-9, deadline: float = np.inf) -> LocalResult:
    """Ridge ALS on ``½‖Y − UVᵀ‖² + (λ/2)(‖U‖² + ‖V‖²)`` until the relative decrease is ``≤ tol``.

    The objective is tracked without forming ``U Vᵀ``:
    ``‖Y − UVᵀ‖² = ‖Y‖² − 2⟨YᵀU, V⟩ + ⟨UᵀU, VᵀV⟩``.
    """
    yy = float(np.vdot(Y, Y))
    f_old = np.inf
    rel = np.inf
    sweeps = 0
    f = np.inf
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        U = _ridge_right(Y @ V, V.T @ V, lam)
        YtU = Y.T @ U
        UtU = U.T @ U
        V = _ridge_right(YtU, UtU, lam)
        f = 0.5 * (yy - 2 * np.vdot(YtU, V) + np.vdot(UtU, V.T @ V)) + 0.5 * lam * (
            np.vdot(U, U) + np.vdot(V, V))
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([U, V], sweeps, float(rel), float(f))


def _row_grams(F: np.ndarray, pattern) -> np.ndarray:
    """``Gram_i = Σ_{j : pattern_ij = 1} f_j f_jᵀ`` for every row ``i`` of a 0/1 sparse pattern.

    One sparse-times-dense product with the ``n × r(r+1)/2`` matrix of the upper triangles of
    the outer products ``f_j f_jᵀ``: cost ``O(|Ω| r²/2)`` with no ``|Ω| × r²`` temporary.
    """
    r = F.shape[1]
    iu, ju = np.triu_indices(r)
    packed = np.asarray(pattern @ (F[:, iu] * F[:, ju]))  # symmetric: r(r+1)/2 columns only
    out = np.empty((pattern.shape[0], r, r))
    out[:, iu, ju] = packed
    out[:, ju, iu] = packed
    return out


@single_blas_thread
def _exact_rows(rhs: np.ndarray, F: np.ndarray, pattern, lam: float) -> np.ndarray:
    """Row-wise ridge: ``x_i = (Σ_{j ∈ Ω_i} f_j f_jᵀ + λI)⁻¹ rhs_i``.

    ``rhs_i = Σ_{j ∈ Ω_i} y_ij f_j`` is passed in (one sparse product).  ``λ = 0`` uses a
    ``1e-12`` ridge so rows without observations stay at zero.
    """
    r = F.shape[1]
    grams = _row_grams(F, pattern)
    grams += max(lam, 1e-12) * np.eye(r)
    return np.linalg.solve(grams, rhs[..., None])[..., 0]


def als_masked(mapping: MaskedBilinear, y: np.ndarray, U: np.ndarray, V: np.ndarray, lam: float,
               *, method: str = "softimpute", max_sweeps: int = 200, tol: float = 1e-9,
               deadline: float = np.inf) -> LocalResult:
    """ALS for ``½‖P_Ω(Y − UVᵀ)‖² + (λ/2)(‖U‖² + ‖V‖²)`` (see module docstring)."""
    if method not in ("softimpute", "exact"):
        raise ValueError(f"method must be 'softimpute' or 'exact', got {method!r}")
    rows, cols = mapping.rows, mapping.cols
    f_old = np.inf
    rel = np.inf
    sweeps = 0
    f = np.inf
    if method == "exact":
        Ay = mapping.operator(y)
        pattern = mapping.operator(np.ones_like(y))
        pattern_t = pattern.T.tocsr()
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        if method == "softimpute":
            R = y - masked_dot(U, V, rows, cols)
            VtV = V.T @ V
            U = _ridge_right(mapping.operator(R) @ V + U @ VtV, VtV, lam)
            R = y - masked_dot(U, V, rows, cols)
            UtU = U.T @ U
            V = _ridge_right(mapping.operator(R).T @ U + V @ UtU, UtU, lam)
        else:
            U = _exact_rows(Ay @ V, V, pattern, lam)
            V = _exact_rows(Ay.T @ U, U, pattern_t, lam)
        R = y - masked_dot(U, V, rows, cols)
        f = 0.5 * float(R @ R) + 0.5 * lam * float(np.vdot(U, U) + np.vdot(V, V))
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([U, V], sweeps, float(rel), float(f))
