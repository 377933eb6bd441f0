"""Sparse dictionary learning with a certified duality-gap bracket.

One signal per row of ``X`` (``n_samples × n_features``), ``X ≈ C D`` with codes ``C``
(``n_samples × r``) and atoms ``D`` (``r × n_features``, one atom per row)::

    min_{C, D, r}  ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)

(``Dᵢ`` the i-th atom, ``Cᵢ`` the i-th code column: the codes of every signal on atom ``i``).
In homfact terms this is the bilinear model ``X ≈ U Vᵀ`` with ``U = C`` under the gauge
:class:`~homfact.gauges.ElasticNet` ``(γ)`` and ``V = Dᵀ`` under :class:`~homfact.gauges.L2`,
squared loss; the number of atoms ``r`` is chosen by the regularizer and the polar, not given.

* The polar ``Ω°(G) = sup_{κ(u) ≤ 1, ‖v‖₂ ≤ 1} uᵀGv = sup_{κ(u) ≤ 1} ‖Gᵀu‖₂`` (``κ = ‖·‖₂ +
  γ‖·‖₁``) is a sparse-PCA-type problem, NP-hard in general, so the certificate is a bracket
  (:class:`ElasticNetL2Polar`): a lower bound by multistart alternating maximization and the
  rigorous upper bound ``min(σ_max(G)/(1 + γ), maxⱼ‖G_{j,:}‖₂/(γ + 1/√n))``.
* Local descent is exact block-coordinate minimization over one column at a time
  (:func:`elastic_net_bcd`; closed-form elastic-net / group-shrinkage proxes), so the objective
  never increases; block prox-linear descent (``local_solver="prox_linear"``) is available.
* Columns are appended from the polar and pruned by :func:`homfact.grow` as for every model.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._progress import progress
from .._threads import single_blas_thread
from ..gauges import L2, ElasticNet, soft_threshold
from ..losses import SquaredLoss
from ..maps import Bilinear
from ..meta import Problem, certify_factors, grow
from ..polar import PolarBound
from ..problems import check_fit_params, check_lam, check_lam_or_auto
from ..solvers.als import LocalResult
from .low_rank import _check_real_matrix

__all__ = [
    "ElasticNetL2Polar",
    "SparseDictionaryLearning",
    "dictionary_problem",
    "elastic_net_bcd",
    "elastic_net_dual_columns",
    "sparse_encode_elastic_net",
]


# --------------------------------------------------------------------------------------------
# elastic-net dual norm, column-wise


def elastic_net_dual_columns(W: np.ndarray, gamma: float) -> np.ndarray:
    """Exact ``κ°(wⱼ)`` for every column ``wⱼ`` of ``W``, ``κ = ‖·‖₂ + γ‖·‖₁``.

    ``κ°(w)`` is the root ``μ`` of ``‖soft(w, γμ)‖₂ = μ``.  With ``a = |w|`` sorted decreasingly,
    ``Sₖ¹ = Σ_{j≤k} aⱼ`` and ``Sₖ² = Σ_{j≤k} aⱼ²``, the root lies where exactly ``s`` entries are
    active, ``s`` found from the (monotone) signs at the breakpoints ``μ = aₖ/γ``; it then solves
    ``(sγ² − 1)μ² − 2γS¹μ + S² = 0``, whose relevant root is ``S²/(γS¹ + √(γ²S¹² − (sγ² − 1)S²))``.
    Vectorized version of :meth:`homfact.gauges.ElasticNet.dual_value`.
    """
    W = np.asarray(W, dtype=float)
    if W.ndim == 1:
        W = W[:, None]
    n, s_cols = W.shape
    if n == 0:
        return np.zeros(s_cols)
    if gamma == 0:
        return np.linalg.norm(W, axis=0)
    a = -np.sort(-np.abs(W), axis=0)
    S1 = np.cumsum(a, axis=0)
    S2 = np.cumsum(a * a, axis=0)
    S1p = np.vstack([np.zeros((1, s_cols)), S1[:-1]])
    S2p = np.vstack([np.zeros((1, s_cols)), S2[:-1]])
    k = np.arange(n, dtype=float)[:, None]  # number of entries strictly before index
    f = np.sqrt(np.maximum(S2p - 2.0 * a * S1p + k * a * a, 0.0)) - a / gamma
    pos = f >= 0
    has = pos.any(axis=0)
    support = np.where(has, pos.argmax(axis=0), n)  # active entries at the root
    support = np.maximum(support, 1)
    cols = np.arange(s_cols)
    s1 = S1[support - 1, cols]
    s2 = S2[support - 1, cols]
    disc = np.maximum(gamma * gamma * s1 * s1 - (support * gamma * gamma - 1.0) * s2, 0.0)
    denom = gamma * s1 + np.sqrt(disc)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(denom > 0, s2 / np.where(denom > 0, denom, 1.0), 0.0)
    hi = a[support - 1, cols] / gamma
    lo = np.where(support < n, a[np.minimum(support, n - 1), cols] / gamma, 0.0)
    return np.clip(mu, lo, hi)


def _elastic_net_lmo_columns(W: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise LMO of the elastic-net ball: ``(U, μ)`` with ``κ(Uⱼ) = 1`` (or ``Uⱼ = 0``)."""
    mu = elastic_net_dual_columns(W, gamma)
    U = soft_threshold(W, gamma * mu)
    kap = np.linalg.norm(U, axis=0) + gamma * np.abs(U).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        U = np.where(kap > 0, U / np.where(kap > 0, kap, 1.0), 0.0)
    return U, mu


# --------------------------------------------------------------------------------------------
# polar


def _sigma_max(A: np.ndarray) -> tuple[float, np.ndarray]:
    """``(upper, v)``: a rigorous upper bound on ``σ_max(A)`` and a top right singular vector.

    From the eigen-decomposition of the small Gram matrix ``AᵀA`` (``n_features²``); the bound
    adds the roundoff allowance ``4(n + m)·eps·‖A‖_F²`` to the largest eigenvalue before the
    square root: forming ``AᵀA`` errs by at most ``n·eps·‖|A|‖₂² ≤ n·eps·‖A‖_F²`` in spectral
    norm and the symmetric eigensolver by ``O(m·eps·‖AᵀA‖₂)`` (backward stable).
    """
    M = A.T @ A
    w, Q = np.linalg.eigh(M)
    fro2 = float(np.trace(M))
    lam_top = max(float(w[-1]), 0.0)
    allowance = 4.0 * (A.shape[0] + A.shape[1]) * np.finfo(float).eps * fro2
    return math.sqrt(lam_top + allowance + 1e-300), Q[:, -1]


class ElasticNetL2Polar:
    """Polar bracket for codes ``u`` under ``‖·‖₂ + γ‖·‖₁`` and atoms ``v`` under ``‖·‖₂``.

    ``Ω°(G) = sup_{κ(u) ≤ 1, ‖v‖₂ ≤ 1} uᵀGv = sup_{κ(u)≤1} ‖Gᵀu‖₂``, ``G`` of shape
    ``(n_samples, n_features)``.

    * lower: alternating maximization ``u ← lmo_κ(Gv)``, ``v ← Gᵀu/‖Gᵀu‖₂`` (each step never
      decreases ``uᵀGv``; every iterate is feasible), run as one batch from the warm start, the
      top right singular vector of ``G``, the ``n_starts/2`` rows of ``G`` with the largest norms
      and random directions.  The value is that of the returned feasible pair.
    * upper: ``κ(u) ≥ (1 + γ)‖u‖₂`` gives ``σ_max(G)/(1 + γ)`` and ``κ(u) ≥ (γ + 1/√n)‖u‖₁``
      gives ``maxⱼ‖G_{j,:}‖₂/(γ + 1/√n)``; the minimum of the two is reported (THEORY §b.4).
      ``σ_max`` comes from the Gram matrix's eigenvalues plus a roundoff allowance (see
      :func:`_sigma_max`).
    """

    def __init__(self, gamma: float, n_starts: int = 8, max_iter: int = 50,
                 tol: float = 1e-7):
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
        self.gamma = float(gamma)
        self.n_starts, self.max_iter, self.tol = int(n_starts), int(max_iter), float(tol)

    def upper_bound(self, G: np.ndarray) -> tuple[float, np.ndarray, str]:
        """``(upper, v_top, method)`` — the rigorous bound and the top right singular vector."""
        n = G.shape[0]
        sig, v_top = _sigma_max(G)
        ub_spec = sig / (1.0 + self.gamma)
        ub_rows = float(np.sqrt(np.max(np.einsum("ij,ij->i", G, G)))) * (1 + 1e-12) / (
            self.gamma + 1.0 / math.sqrt(n))
        if ub_rows < ub_spec:
            return ub_rows, v_top, "max row norm/(gamma + 1/sqrt(n))"
        return ub_spec, v_top, "sigma_max/(1 + gamma) (Gram eigenvalues)"

    def ascend(self, G: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch alternating maximization from the unit columns of ``V``; returns ``(U, V, val)``
        with ``val[j] = U[:, j]ᵀ G V[:, j]`` exactly."""
        prev = np.full(V.shape[1], -np.inf)
        U = np.zeros((G.shape[0], V.shape[1]))
        for _ in range(self.max_iter):
            U, _ = _elastic_net_lmo_columns(G @ V, self.gamma)
            Z = G.T @ U
            val = np.linalg.norm(Z, axis=0)
            V = np.where(val > 0, Z / np.where(val > 0, val, 1.0), V)
            if np.all(val <= prev + self.tol * np.maximum(np.abs(val), 1e-300)):
                break
            prev = val
        return U, V, np.einsum("ij,ij->j", U, G @ V)

    @single_blas_thread
    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        G = op.toarray() if sp.issparse(op) else np.asarray(op, dtype=float)
        n, m = G.shape
        upper, v_top, method = self.upper_bound(G)
        starts = [v_top]
        if warm_start is not None and np.linalg.norm(warm_start[1]) > 0:
            starts.append(np.asarray(warm_start[1], dtype=float))
        n_rows = max(self.n_starts // 2, int(n_candidates))
        rn = np.einsum("ij,ij->i", G, G)
        top = np.argsort(rn)[::-1][: min(n_rows, n)]
        starts += [G[j] for j in top if rn[j] > 0]
        n_rand = max(self.n_starts - len(starts), 2)
        starts += list(rng.standard_normal((n_rand, m)))
        V0 = np.column_stack(starts)
        V0 = V0 / np.maximum(np.linalg.norm(V0, axis=0), 1e-300)
        U, V, val = self.ascend(G, V0)
        order = np.argsort(val)[::-1]
        best = order[0]
        if not val[best] > 0:
            u0 = np.zeros(n)
            v0 = np.zeros(m)
            v0[0] = 1.0
            return PolarBound(0.0, max(upper, 0.0), (u0, v0), self._method(method, len(starts)))
        chosen = [best]
        for j in order[1:]:
            if len(chosen) >= n_candidates or val[j] <= 0:
                break
            if all(abs(V[:, j] @ V[:, c]) < 0.95 for c in chosen):
                chosen.append(j)
        cands = tuple(((U[:, j].copy(), V[:, j].copy()), float(val[j])) for j in chosen[1:])
        lower = float(val[best])
        return PolarBound(lower, float(max(upper, lower)), (U[:, best].copy(), V[:, best].copy()),
                          self._method(method, len(starts)), cands)

    @staticmethod
    def _method(upper_method: str, n_starts: int) -> str:
        return f"lower: alternating LMOs ({n_starts} starts); upper: {upper_method}"


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
    Stops when the relative decrease ``(F_old − F)/max(1, |F|)`` is ``≤ tol``.
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
        rel = (f_old - f) / max(1.0, abs(f))
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
# problem


@dataclass
class DictionaryProblem(Problem):
    """:class:`~homfact.meta.Problem` whose descent is :func:`elastic_net_bcd` when
    ``local_solver == "bcd"`` (every other solver name is handled by the base class)."""

    gamma: float = 1.0
    use_bcd: bool = True

    def descend(self, factors, *, tol, max_sweeps, deadline):
        if not self.use_bcd or factors[0].shape[1] == 0:
            return super().descend(factors, tol=tol, max_sweeps=max_sweeps, deadline=deadline)
        res = elastic_net_bcd(self.loss.y, factors[0], factors[1], self.lam, self.gamma,
                              max_sweeps=max_sweeps, tol=tol, deadline=deadline)
        return res.factors, res.n_sweeps


def _check_gamma(gamma) -> float:
    """``γ`` as a float; the same rule as ``lam`` (a finite real number ``>= 0``)."""
    return check_lam(gamma, "gamma")


def dictionary_problem(X: np.ndarray, lam: float, gamma: float, *, local_solver: str = "bcd",
                       n_starts: int = 8) -> DictionaryProblem:
    """``½‖X − UVᵀ‖² + λ Σᵢ (‖uᵢ‖₂ + γ‖uᵢ‖₁)‖vᵢ‖₂`` (``U`` codes, ``V`` atoms as columns)."""
    gamma = _check_gamma(gamma)
    lam = check_lam(lam)
    if local_solver not in ("bcd", "prox_linear"):
        raise ValueError(f"local_solver must be 'bcd' or 'prox_linear', got {local_solver!r}")
    X = np.asarray(X, dtype=float)
    return DictionaryProblem(SquaredLoss(X), Bilinear(X.shape), (ElasticNet(gamma), L2()), lam,
                             polar=ElasticNetL2Polar(gamma, n_starts=n_starts),
                             local_solver="prox_linear", gamma=gamma,
                             use_bcd=local_solver == "bcd")


# --------------------------------------------------------------------------------------------
# estimator


class SparseDictionaryLearning(TransformerMixin, BaseEstimator):
    """Sparse dictionary learning ``X ≈ codes @ components_`` with a certified gap bracket.

    Solves, over the number of atoms ``r`` as well::

        min ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)

    (``Dᵢ`` = row ``i`` of ``D`` = atom ``i``; ``Cᵢ`` = column ``i`` of ``C`` = every signal's code
    on atom ``i``).  With atoms rescaled to unit norm (``C D`` and the penalty are unchanged by
    ``Cᵢ ← ‖Dᵢ‖Cᵢ``, ``Dᵢ ← Dᵢ/‖Dᵢ‖``) the penalty reads ``λγ‖C‖₁ + λ Σᵢ ‖Cᵢ‖₂``: a lasso on the
    codes with per-entry threshold ``λγ`` plus a group term that charges each atom ``λ`` per unit
    of code energy, which is what limits the number of atoms.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ >= 0``.  ``"auto"`` is ``0.05·ρ`` with ``ρ`` the polar lower bound of ``X``
        (``ρ ≤ λ_max = Ω°(X)``, the smallest ``λ`` giving the zero solution, which is NP-hard
        to compute exactly; any ``λ`` above the reported ``lam_max_`` upper bound gives zero).
    gamma : float, default=1.0
        ``γ >= 0``, weight of the ℓ1 part of the code gauge (``γ = 0``: nuclear norm).
    max_rank : int, optional
        Cap on the number of atoms; the certificate stays honest when it binds.
    tol : float, default=1e-4
        Relative duality gap required for the ``"global"`` status.
    max_iter : int, default=100
        Outer (grow) iterations, one certificate each.
    time_limit : float, optional
        Wall-clock budget in seconds for the fit.
    growth_rtol : float or None, default=1e-5
        Stop growing once the best atom the polar finds would lower the objective by at most
        ``growth_rtol·max(1, |P|)`` (see :func:`homfact.grow`); the certificate then reports
        honestly how far from optimal the fit may be.  ``None``: grow while any atom is found.
    local_solver : {"bcd", "prox_linear"}, default="bcd"
        Exact block-coordinate descent over columns, or block prox-linear descent.
    n_starts : int, default=8
        Starts of the alternating polar maximization (lower bound).
    transform_tol : float, default=1e-6
        Stopping tolerance of :meth:`transform`: a full coordinate-descent sweep changes the
        codes by ``≤ transform_tol·max(1, ‖C‖_F)``.
    transform_max_iter : int, default=1000
        Cap on the coordinate-descent sweeps of :meth:`transform` (full and working-set).
    random_state : int, Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        The atoms ``D`` (rows), balanced with the codes (``‖Dᵢ‖ = ‖Cᵢ‖₂ + γ‖Cᵢ‖₁``); these and
        ``codes_`` are the certified solution (no debiasing is applied).
    codes_ : ndarray of shape (n_samples, n_components_)
        Fitted codes ``C`` of the training signals.
    n_components_, rank_ : int
        Number of atoms selected.
    U_, V_ : ndarray
        ``codes_`` and ``components_.T`` in homfact's bilinear convention ``X ≈ U_ @ V_.T``.
    lam_ : float
        The ``λ`` used.
    lam_max_ : (float, float)
        Bracket on ``λ_max = Ω°(X)``.
    certificate_ : homfact.Certificate
        Bracket certificate of the fitted factors: ``"global"`` only when the rigorous polar
        upper bound is ``≤ λ(1+ε)`` and the gap is ``≤ tol``.
    history_, n_iter_, stop_reason_, n_features_in_

    Notes
    -----
    :meth:`transform` solves the same objective with the atoms fixed, for the given batch::

        argmin_C ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁),

    a convex sparse-group lasso, by exact cyclic coordinate descent over the code columns with
    working sets and Anderson extrapolation (:func:`sparse_encode_elastic_net`; it stops after
    a full sweep over every entry that changes the codes by ``≤ transform_tol·max(1, ‖C‖_F)``).
    The group term couples the signals of one batch (each atom's group is its code column over
    the batch), so ``transform(X_train)`` reproduces ``codes_`` (up to solver tolerances) and the
    codes of a signal depend mildly on the rest of its batch (scikit-learn's subset-invariance
    check is an expected failure for that reason); for a batch of one signal the group term is an
    extra ℓ2 shrinkage per atom.

    **Which codes to use for denoising: OMP re-coding on the learned atoms, not**
    :meth:`transform`.  The model's codes (``codes_`` and :meth:`transform`) are the minimizers
    of the penalized objective, so they carry the ``λ`` shrinkage: with unit atoms every entry
    is soft-thresholded by ``λγ`` and every code column shrunk by ``λ`` in ℓ2 norm, which biases
    the reconstructions toward zero and removes signal detail along with the noise.  That is
    what makes ``λ`` select the atoms, and it is what the certificate is about, but for
    reconstruction the learned ``components_`` are the product; re-code each signal on them with
    a least-squares fit on a greedily selected support, stopped at the noise level (error-target
    OMP, the K-SVD denoising rule ``‖x − c D‖² ≤ (C·σ)²·n_features``, ``C ≈ 1.15``, ``σ`` the
    noise level; ``X`` holds the signals, e.g. patches with their means removed)::

        from sklearn.linear_model import orthogonal_mp_gram
        D = model.components_ / np.linalg.norm(model.components_, axis=1, keepdims=True)
        codes = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=(1.15 * sigma) ** 2 * X.shape[1],
                                   norms_squared=np.einsum("ij,ij->i", X, X)).T
        denoised = codes @ D

    (``examples/denoise_camera_dictionary.py``, :func:`omp_code`, does this).  On the camera
    patches of ``benchmarks/bench_dictionary.py`` this OMP re-coding gave 1.2–1.8 dB higher PSNR
    than :meth:`transform` with the same atoms, and it is what the PSNR comparison with
    scikit-learn's ``MiniBatchDictionaryLearning`` (also coded by OMP) uses.  No debiasing is
    applied to the certified factors themselves.
    """

    def __init__(self, lam="auto", gamma=1.0, *, max_rank=None, tol=1e-4, max_iter=100,
                 time_limit=None, growth_rtol=1e-5, local_solver="bcd", n_starts=8,
                 transform_tol=1e-6, transform_max_iter=1000, random_state=None,
                 verbose=False):
        self.lam = lam
        self.gamma = gamma
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.growth_rtol = growth_rtol
        self.local_solver = local_solver
        self.n_starts = n_starts
        self.transform_tol = transform_tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose

    # -- checks --------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_lam_or_auto(self.lam)
        _check_gamma(self.gamma)
        check_fit_params(self, integers=("max_iter", "n_starts", "transform_max_iter"))
        if not (isinstance(self.transform_tol, numbers.Real) and self.transform_tol > 0):
            raise ValueError(f"transform_tol must be a number > 0, got {self.transform_tol!r}")
        if self.local_solver not in ("bcd", "prox_linear"):
            raise ValueError(f"local_solver must be 'bcd' or 'prox_linear', got "
                             f"{self.local_solver!r}")
        if self.growth_rtol is not None and not (
                isinstance(self.growth_rtol, numbers.Real) and self.growth_rtol >= 0):
            raise ValueError(f"growth_rtol must be None or a number >= 0, got "
                             f"{self.growth_rtol!r}")

    def _validate(self, X, reset: bool) -> np.ndarray:
        _check_real_matrix(X, "X")
        X = validate_data(self, X, reset=reset, accept_sparse=("csr", "csc", "coo"),
                          dtype=np.float64)
        return X.toarray() if sp.issparse(X) else np.asarray(X)

    # -- fit -----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (``n_samples × n_features``, one signal per row)."""
        self._check_params()
        X = self._validate(X, reset=True)
        gamma = float(self.gamma)
        polar = ElasticNetL2Polar(gamma, n_starts=int(self.n_starts))
        rng = np.random.default_rng(self.random_state)
        b0 = polar(X, rng=rng)
        self.lam_max_ = (float(b0.lower), float(b0.upper))
        self.lam_ = 0.05 * b0.lower if isinstance(self.lam, str) else float(self.lam)
        problem = dictionary_problem(X, self.lam_, gamma, local_solver=self.local_solver,
                                     n_starts=int(self.n_starts))
        with progress(bool(self.verbose), "SparseDictionaryLearning") as callback:
            res = grow(problem, None, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=self.time_limit,
                       random_state=rng, callback=callback,
                       growth_rtol=None if self.growth_rtol is None else float(self.growth_rtol))
        self.U_, self.V_ = res.factors
        self.rank_ = res.rank
        self.certificate_ = res.certificate
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        return self

    @property
    def components_(self) -> np.ndarray:
        check_is_fitted(self, "V_")
        return self.V_.T

    @property
    def codes_(self) -> np.ndarray:
        check_is_fitted(self, "U_")
        return self.U_

    @property
    def n_components_(self) -> int:
        check_is_fitted(self, "V_")
        return int(self.V_.shape[1])

    def transform(self, X):
        """Codes of the signals ``X`` with the learned atoms (see Notes): ``n_samples × r``."""
        check_is_fitted(self, "V_")
        X = self._validate(X, reset=False)
        U, _ = sparse_encode_elastic_net(X, self.V_, self.lam_, float(self.gamma),
                                         max_sweeps=int(self.transform_max_iter),
                                         tol=float(self.transform_tol))
        return U

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # accepted and densified
        return tags

    def inverse_transform(self, codes):
        """Signals ``codes @ components_``."""
        check_is_fitted(self, "V_")
        codes = np.asarray(codes, dtype=float)
        if codes.ndim != 2 or codes.shape[1] != self.n_components_:
            raise ValueError(f"codes must have shape (n, {self.n_components_}), got "
                             f"{codes.shape}")
        return codes @ self.V_.T

    def certify(self, X):
        """Recompute the certificate (:class:`homfact.Certificate`) of the fitted factors on the
        training data ``X``."""
        check_is_fitted(self, "V_")
        X = self._validate(X, reset=False)
        if X.shape[0] != self.U_.shape[0]:
            raise ValueError(f"X must be the training data ({self.U_.shape[0]} rows), got "
                             f"{X.shape[0]} rows")
        problem = dictionary_problem(X, self.lam_, float(self.gamma),
                                     n_starts=int(self.n_starts))
        cert, *_ = certify_factors(problem, [self.U_, self.V_], tol=self.tol)
        return cert
