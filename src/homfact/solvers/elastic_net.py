"""Exact block-coordinate solvers of the sparse dictionary-learning objective.

``½‖X − UVᵀ‖² + λ Σᵢ (‖uᵢ‖₂ + γ‖uᵢ‖₁)‖vᵢ‖₂`` (``U`` codes, ``V`` atoms as columns):

* :func:`elastic_net_bcd` — local descent over codes and atoms (closed-form elastic-net /
  group-shrinkage proxes per column, :func:`_update_codes`, :func:`_update_atoms`).
* :func:`sparse_encode_elastic_net` — the convex code problem for fixed atoms (working sets
  :class:`_WorkingSet`, Anderson extrapolation).
* :func:`_omp_codes`, :func:`_refit_on_support` — debiased codings (error-target OMP, least
  squares on a code's support).

Moved unchanged from ``homfact.models.dictionary``, which re-exports every name.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas
from sklearn.linear_model import orthogonal_mp_gram

from .._threads import single_blas_thread
from ..gauges import soft_threshold
from ..tolerance import relative_to
from .als import LocalResult

__all__ = ["elastic_net_bcd", "sparse_encode_elastic_net"]


# --------------------------------------------------------------------------------------------
# local solver


def _objective(xx: float, XV: np.ndarray, U: np.ndarray, V: np.ndarray, lam: float,
               gamma: float) -> float:
    """``½‖X − UVᵀ‖² + λ Σᵢ κ(uᵢ)‖vᵢ‖`` from ``xx = ‖X‖²`` and ``XV = X V``."""
    fit = xx - 2.0 * float(np.vdot(XV, U)) + float(np.vdot(U.T @ U, V.T @ V))
    kap = np.linalg.norm(U, axis=0) + gamma * np.abs(U).sum(axis=0)
    return 0.5 * max(fit, 0.0) + lam * float(np.dot(kap, np.linalg.norm(V, axis=0)))


def _update_codes(U: np.ndarray, XV: np.ndarray, VtV: np.ndarray, weights: np.ndarray,
                  gamma: float) -> None:
    """In place, column by column: ``uᵢ ← prox_{(wᵢ/‖vᵢ‖²)κ}((XV)ᵢ − Σ_{j≠i} uⱼ(VᵀV)ⱼᵢ)/‖vᵢ‖²)``,
    the exact minimizer of ``½‖R_i − uᵢvᵢᵀ‖² + wᵢκ(uᵢ)`` (``κ = ‖·‖₂ + γ‖·‖₁``).

    ``S = U VᵀV`` is kept up to date with the sparse change of each column (cost
    ``O(n + nnz(Δuᵢ)·r)`` per column instead of ``O(n r)``: codes are sparse).
    """
    S = np.ascontiguousarray(U @ VtV)  # row-major: the sparse row updates dominate
    for i in range(U.shape[1]):
        d2 = VtV[i, i]
        old = U[:, i].copy()
        if d2 <= 0:
            new = np.zeros_like(old)
        else:
            z = (XV[:, i] - S[:, i] + old * d2) / d2
            t = weights[i] / d2
            z = soft_threshold(z, gamma * t)
            nz = math.sqrt(float(z @ z))
            new = z * (1.0 - t / nz) if nz > t else np.zeros_like(z)
        delta = new - old
        rows = np.flatnonzero(delta)
        if rows.size:
            U[:, i] = new
            if rows.size > 0.1 * delta.size:
                blas.dger(1.0, VtV[i], delta, a=S.T, overwrite_a=True)  # S += δ ⊗ (VᵀV)ᵢ
            else:
                S[rows] += np.outer(delta[rows], VtV[i])


def _update_atoms(V: np.ndarray, XtU: np.ndarray, UtU: np.ndarray, weights: np.ndarray) -> None:
    """In place: ``vᵢ ← shrink₂((XᵀU)ᵢ − Σ_{j≠i} vⱼ(UᵀU)ⱼᵢ, wᵢ)/‖uᵢ‖²``, the exact minimizer of
    ``½‖R_i − uᵢvᵢᵀ‖² + wᵢ‖vᵢ‖₂``."""
    for i in range(V.shape[1]):
        c2 = UtU[i, i]
        if c2 <= 0:
            V[:, i] = 0.0
            continue
        z = XtU[:, i] - V @ UtU[:, i] + V[:, i] * c2
        nz = math.sqrt(float(z @ z))
        V[:, i] = z * ((1.0 - weights[i] / nz) / c2) if nz > weights[i] else 0.0


def _rebalance(U: np.ndarray, V: np.ndarray, gamma: float) -> None:
    """In place: scale so ``κ(uᵢ) = ‖vᵢ‖ = √θᵢ``; zero the slices with a zero block."""
    ku = np.linalg.norm(U, axis=0) + gamma * np.abs(U).sum(axis=0)
    kv = np.linalg.norm(V, axis=0)
    theta = ku * kv
    t = np.sqrt(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        su = np.where(theta > 0, t / np.where(ku > 0, ku, 1.0), 0.0)
        sv = np.where(theta > 0, t / np.where(kv > 0, kv, 1.0), 0.0)
    U *= su
    V *= sv


@single_blas_thread
def elastic_net_bcd(X: np.ndarray, U: np.ndarray, V: np.ndarray, lam: float, gamma: float, *,
                    max_sweeps: int = 500, tol: float = 1e-9,
                    deadline: float = math.inf) -> LocalResult:
    """Exact block-coordinate descent on ``½‖X − UVᵀ‖² + λ Σᵢ (‖uᵢ‖₂ + γ‖uᵢ‖₁)‖vᵢ‖₂``.

    One sweep minimizes exactly over each code column ``uᵢ`` (elastic-net prox, see
    :func:`_update_codes`) and then over each atom ``vᵢ`` (group shrinkage, see
    :func:`_update_atoms`), then rebalances every slice (no change in the objective), so the
    objective never increases.  A sweep costs two ``n×m×r`` products plus ``O((n+m) r²)``.
    Stops when the relative decrease ``(F_old − F)/|F|`` (:func:`homfact.tolerance.relative_to`)
    is ``≤ tol``.
    """
    U = np.array(U, dtype=float, copy=True, order="F")
    V = np.array(V, dtype=float, copy=True, order="F")
    xx = float(np.vdot(X, X))
    if U.shape[1] == 0:
        return LocalResult([U, V], 0, 0.0, 0.5 * xx)
    _rebalance(U, V, gamma)
    f_old = _objective(xx, X @ V, U, V, lam, gamma)
    rel, f, sweeps = math.inf, f_old, 0
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        XV = X @ V
        _update_codes(U, XV, V.T @ V, lam * np.linalg.norm(V, axis=0), gamma)
        XtU = X.T @ U
        UtU = U.T @ U
        ku = np.linalg.norm(U, axis=0) + gamma * np.abs(U).sum(axis=0)
        _update_atoms(V, XtU, UtU, lam * ku)
        fit = xx - 2.0 * float(np.vdot(XtU, V)) + float(np.vdot(UtU, V.T @ V))
        f = 0.5 * max(fit, 0.0) + lam * float(np.dot(ku, np.linalg.norm(V, axis=0)))
        _rebalance(U, V, gamma)
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([U, V], sweeps, float(rel), float(f))


class _WorkingSet:
    """The non-zeros ``W`` of ``U`` (entries ordered column by column) and the Hessian of the
    codes problem restricted to them: ``H[e, e'] = (VᵀV)_{col e, col e'}`` when entries ``e``,
    ``e'`` lie in the same row of ``U`` (signal), 0 otherwise (``½‖X − UVᵀ‖²`` couples only
    the codes of one signal).  ``nnz(H) = Σⱼ |supp Uⱼ|²``: tiny for sparse codes."""

    def __init__(self, U: np.ndarray, XV: np.ndarray, VtV: np.ndarray):
        r = U.shape[1]
        rows = [np.flatnonzero(U[:, i]) for i in range(r)]
        self.ptr = np.concatenate([[0], np.cumsum([E.size for E in rows])])
        self.row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.intp)
        self.col = np.repeat(np.arange(r), np.diff(self.ptr))
        nw = self.row.size
        order = np.argsort(self.row, kind="stable")  # entries grouped by signal
        _, start, counts = np.unique(self.row[order], return_index=True, return_counts=True)
        g = np.repeat(counts, counts)  # group size of every entry (in row order)
        st = np.repeat(start, counts)  # group start
        a_pos = np.repeat(np.arange(nw), g)
        offs = np.arange(a_pos.size) - np.repeat(np.cumsum(g) - g, g)
        A = order[a_pos]
        B = order[np.repeat(st, g) + offs]
        vals = VtV[self.col[A], self.col[B]]
        self.H = sp.csr_matrix((vals, (A, B)), shape=(nw, nw))
        # per column block, the pairs sorted by their first entry: H[block] @ u is
        # add.reduceat(val·u[B], starts) (every entry pairs with itself: no empty segment)
        srt = np.argsort(A, kind="stable")
        A, B, vals = A[srt], B[srt], vals[srt]
        seg = np.searchsorted(A, np.arange(nw + 1))
        self.blocks = []
        for i in range(r):
            lo, hi = seg[self.ptr[i]], seg[self.ptr[i + 1]]
            self.blocks.append((B[lo:hi], vals[lo:hi], seg[self.ptr[i]:self.ptr[i + 1]] - lo))
        self.xv = XV[self.row, self.col]
        self.u = U[self.row, self.col].copy()

    def sweep(self, d2: np.ndarray, weights: np.ndarray, gamma: float) -> float:
        """One exact cyclic pass over the columns, restricted to ``W`` (the other entries held
        at zero); the same update as :func:`_update_codes`.  Returns ``‖Δu‖²``."""
        u, xv, ptr, change2 = self.u, self.xv, self.ptr.tolist(), 0.0
        for i, (cols, vals, starts) in enumerate(self.blocks):
            lo, hi = ptr[i], ptr[i + 1]
            if hi == lo or d2[i] <= 0:
                continue
            t = weights[i] / d2[i]
            old = u[lo:hi]
            z = (xv[lo:hi] - np.add.reduceat(vals * u[cols], starts)) / d2[i] + old
            a = np.abs(z)
            a -= gamma * t
            np.maximum(a, 0.0, out=a)
            nz = math.sqrt(float(a @ a))
            if nz > t:
                new = np.copysign(a, z)
                new *= 1.0 - t / nz
            else:
                new = np.zeros_like(z)
            delta = new - old
            change2 += float(delta @ delta)
            u[lo:hi] = new
        return change2

    def objective(self, u: np.ndarray, weights: np.ndarray, gamma: float) -> float:
        """``½‖X − UVᵀ‖² − ½‖X‖² + Σᵢ wᵢ(‖uᵢ‖₂ + γ‖uᵢ‖₁)`` for ``U`` supported on ``W``."""
        col_sq = np.bincount(self.col, u * u, minlength=weights.size)
        col_l1 = np.bincount(self.col, np.abs(u), minlength=weights.size)
        kap = np.sqrt(col_sq) + gamma * col_l1
        return float(u @ (0.5 * (self.H @ u) - self.xv)) + float(weights @ kap)

    def write(self, U: np.ndarray) -> None:
        U[self.row, self.col] = self.u


@single_blas_thread
def sparse_encode_elastic_net(X: np.ndarray, V: np.ndarray, lam: float, gamma: float, *,
                              U0: np.ndarray | None = None, max_sweeps: int = 1000,
                              tol: float = 1e-8, anderson: int = 5) -> tuple[np.ndarray, int]:
    """Codes for fixed atoms: ``argmin_U ½‖X − UVᵀ‖² + λ Σᵢ ‖vᵢ‖₂(‖uᵢ‖₂ + γ‖uᵢ‖₁)``.

    ``V`` holds one atom per column (``n_features × r``).  Convex in ``U`` (a sparse-group lasso
    whose groups are the code columns); solved by exact cyclic coordinate descent over the
    columns (:func:`_update_codes`).  Stops after a *full* sweep (over every entry) whose change
    is ``‖ΔU‖_F ≤ tol·max(1, ‖U‖_F)``.  Returns ``(U, n_sweeps)``.

    Speed-ups that leave that stopping rule (and the limit) unchanged:

    * working sets: after each full sweep, the same exact column updates run only over the
      current non-zeros ``W`` of ``U`` (:class:`_WorkingSet`; the other entries held at zero),
      with the restricted Hessian as a sparse matrix (``Σⱼ |supp Uⱼ|²`` non-zeros instead of
      ``O(n r)`` work per column), until their change is ``≤ tol/4``; the next full sweep
      admits new entries and checks the rule on the whole problem.
    * Anderson extrapolation (Bertrand & Massias, 2021) of the working-set iterates every
      ``anderson`` sweeps (``0``: off), accepted only when it lowers the objective.

    ``n_sweeps`` counts full and working-set sweeps.
    """
    r = V.shape[1]
    U = np.zeros((X.shape[0], r), order="F") if U0 is None else np.array(
        U0, dtype=float, copy=True, order="F")
    if r == 0:
        return U, 0
    XV = np.asfortranarray(X @ V)
    VtV = V.T @ V
    d2 = np.diag(VtV).copy()
    w = lam * np.linalg.norm(V, axis=0)
    K = int(anderson)
    sweeps = 0
    while sweeps < max_sweeps:
        prev = U.copy()
        _update_codes(U, XV, VtV, w, gamma)
        sweeps += 1
        if np.linalg.norm(U - prev) <= tol * max(1.0, float(np.linalg.norm(U))):
            break
        if np.count_nonzero(U) > 0.25 * U.size:
            continue  # dense codes: full sweeps are as cheap
        ws = _WorkingSet(U, XV, VtV)
        hist: list[np.ndarray] = []
        while sweeps < max_sweeps:
            change2 = ws.sweep(d2, w, gamma)
            sweeps += 1
            scale = max(1.0, float(np.linalg.norm(ws.u)))
            if math.sqrt(change2) <= 0.25 * tol * scale:
                break
            if K <= 0:
                continue
            hist.append(ws.u.copy())
            if len(hist) <= K:
                continue
            Xh = np.array(hist)  # (K+1) × |W|
            hist = []
            D = np.diff(Xh, axis=0)
            G = D @ D.T
            try:
                z = np.linalg.solve(G + 1e-12 * np.trace(G) * np.eye(K), np.ones(K))
            except np.linalg.LinAlgError:
                continue
            if not (np.all(np.isfinite(z)) and abs(z.sum()) > 0):
                continue
            u_ex = (z / z.sum()) @ Xh[1:]
            if ws.objective(u_ex, w, gamma) < ws.objective(ws.u, w, gamma):
                ws.u[:] = u_ex
        ws.write(U)
    return U, sweeps


# --------------------------------------------------------------------------------------------
# debiased codings


def _omp_codes(X: np.ndarray, D: np.ndarray, tol: float) -> np.ndarray:
    """Error-target OMP codes of the rows of ``X`` on the unit-norm rows of ``D``:
    ``‖x − c D‖² ≤ tol`` (or ``min(r, n_features)`` atoms when ``tol = 0``)."""
    with warnings.catch_warnings():  # "ended prematurely": the target is unreachable
        warnings.simplefilter("ignore", RuntimeWarning)
        if tol > 0:
            C = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=tol,
                                   norms_squared=np.einsum("ij,ij->i", X, X)).T
        else:
            C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                   n_nonzero_coefs=min(D.shape[0], X.shape[1])).T
    return np.asarray(C).reshape(X.shape[0], D.shape[0])


def _refit_on_support(X: np.ndarray, V: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Least squares of each signal on the atoms of its code's support: ``cₛ = argmin
    ‖x − V_S c‖₂`` (signals with the same support are solved together)."""
    out = np.zeros_like(U)
    S = U != 0
    if not np.any(S):
        return out
    keys, inverse = np.unique(S, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    for g, key in enumerate(keys):
        if not key.any():
            continue
        idx = np.flatnonzero(inverse == g)
        sol, *_ = np.linalg.lstsq(V[:, key], X[idx].T, rcond=None)
        out[np.ix_(idx, np.flatnonzero(key))] = sol.T
    return out
