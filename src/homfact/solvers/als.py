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


#: rows are solved in chunks of at most this many floats of gathered factor rows and Grams
#: (``rows·max(k, r)·r``): 32 MB
_CHUNK_FLOATS = 1 << 22
#: below this rank the primal rows (``k ≥ r``) use the packed sparse Grams (:func:`_packed_rows`;
#: measured at 20000×5000: 2× faster at r = 5, equal at r = 10–16, 3× slower at r = 24)
_PACKED_MAX_RANK = 12


def _packed_rows(A, F: np.ndarray, rows: np.ndarray, ridge: float) -> np.ndarray:
    """The primal solution ``x_i = (F_iᵀF_i + ridge·I)⁻¹ F_iᵀ y_i`` for the given rows of
    ``A``, the Grams ``F_iᵀF_i = Σ_j f_j f_jᵀ`` as one sparse product with the upper triangles
    of the ``f_j f_jᵀ`` (``r(r+1)/2`` columns, formed once), in chunks of at most
    ``_CHUNK_FLOATS / r²`` rows.  Faster than gathering for small ranks (``r <
    _PACKED_MAX_RANK``), where the per-``k`` batches are too small for BLAS."""
    r = F.shape[1]
    out = np.empty((rows.size, r))
    step = max(1, _CHUNK_FLOATS // max(r * r, 1))
    eye = ridge * np.eye(r)
    iu, ju = np.triu_indices(r)
    packed = F[:, iu] * F[:, ju]
    for s in range(0, rows.size, step):
        sub = A[rows[s:s + step]]
        pattern = sub.copy()
        pattern.data = np.ones_like(pattern.data)
        tri = np.asarray(pattern @ packed)
        grams = np.empty((sub.shape[0], r, r))
        grams[:, iu, ju] = tri
        grams[:, ju, iu] = tri
        grams += eye
        out[s:s + step] = np.linalg.solve(grams, np.asarray(sub @ F)[..., None])[..., 0]
    return out


def _gathered_rows(A, F: np.ndarray, rows: np.ndarray, k: int, ridge: float) -> np.ndarray:
    """``x_i = (F_iᵀF_i + ridge·I)⁻¹ F_iᵀ y_i`` for rows of ``A`` with exactly ``k`` observed
    entries, ``F_i`` (``k×r``) the gathered factor rows of row ``i``'s columns.

    ``k < r``: the dual form ``x_i = F_iᵀ (F_iF_iᵀ + ridge·I_k)⁻¹ y_i`` (push-through identity
    ``(FᵀF + λI_r)⁻¹Fᵀ = Fᵀ(FFᵀ + λI_k)⁻¹``: a ``k×k`` system instead of ``r×r``); ``k ≥ r``:
    the primal ``r×r`` system.  Batched BLAS over rows of equal ``k``, in chunks of at most
    ``_CHUNK_FLOATS`` floats of gathered rows and Grams."""
    r = F.shape[1]
    out = np.empty((rows.size, r))
    step = max(1, _CHUNK_FLOATS // max(k * r, r * r, 1))
    dual = k < r
    eye = ridge * np.eye(k if dual else r)
    offsets = np.arange(k)
    for s in range(0, rows.size, step):
        pos = A.indptr[rows[s:s + step], None] + offsets           # (rows, k) entry positions
        Fk = F[A.indices[pos]]                                     # (rows, k, r)
        FkT = Fk.transpose(0, 2, 1)
        y = A.data[pos][..., None]                                 # (rows, k, 1)
        if dual:
            K = Fk @ FkT
            K += eye
            out[s:s + step] = (FkT @ np.linalg.solve(K, y))[..., 0]
        else:
            K = FkT @ Fk
            K += eye
            out[s:s + step] = np.linalg.solve(K, FkT @ y)[..., 0]
    return out


@single_blas_thread
def _exact_rows(A, F: np.ndarray, lam: float) -> np.ndarray:
    """Row-wise ridge: ``x_i = (Σ_{j ∈ Ω_i} f_j f_jᵀ + λI)⁻¹ Σ_{j ∈ Ω_i} y_ij f_j``.

    ``A``: the observed values as a CSR matrix (``y_ij`` at the stored entries, explicit zeros
    included: its structure *is* ``Ω``); ``F``: the other side's factor (one row per column of
    ``A``).  Rows are grouped by their number ``k`` of observed entries and solved by batched
    BLAS on their gathered factor rows (:func:`_gathered_rows`): the dual ``k×k`` form when
    ``k < r`` — the same minimizer at a fraction of the cost when rows have fewer
    observations than the rank — and the primal ``r×r`` form otherwise (for ``r < 12`` by
    :func:`_packed_rows`, faster at small rank).  Rows without
    observations are zero.  ``λ = 0`` uses a ``1e-12`` ridge.
    """
    A = A.tocsr()
    if not A.has_sorted_indices:
        A = A.sorted_indices()       # a canonical order: the same sums on every machine
    m, r = A.shape[0], F.shape[1]
    ridge = max(lam, 1e-12)
    out = np.zeros((m, r))
    counts = np.diff(A.indptr)
    gathered = counts > 0
    if r < _PACKED_MAX_RANK:
        primal = np.flatnonzero(counts >= r)
        if primal.size:
            out[primal] = _packed_rows(A, F, primal, ridge)
        gathered &= counts < r
    for k in np.unique(counts[gathered]):
        rows = np.flatnonzero(counts == k)
        out[rows] = _gathered_rows(A, F, rows, int(k), ridge)
    return out


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
        Ay_t = Ay.T.tocsr()
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
            U = _exact_rows(Ay, V, lam)
            V = _exact_rows(Ay_t, U, lam)
        R = y - masked_dot(U, V, rows, cols)
        f = 0.5 * float(R @ R) + 0.5 * lam * float(np.vdot(U, U) + np.vdot(V, V))
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([U, V], sweeps, float(rel), float(f))
