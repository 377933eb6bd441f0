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
* Defaults from the data (:class:`SparseDictionaryLearning`): the noise level ``σ̂`` from the
  low end of the covariance spectrum of the signals (:func:`estimate_signal_noise_level`),
  the per-entry code threshold ``λγ = σ̂√(2 log n_features)`` (Donoho-Johnstone) and ``λ``
  twice the polar level of Gaussian noise of level ``σ̂`` (:func:`noise_polar_level`), so that
  noise alone enters no atom; many signals are handled by online mini-batch learning of the
  atoms (Mairal et al. 2010) before the final certified ``grow``; ``transform`` offers the
  model's own codes and debiased ones (error-target OMP, support refit) and scikit-learn's
  codings.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import sparse_encode
from sklearn.linear_model import orthogonal_mp_gram
from sklearn.utils.validation import check_is_fitted, validate_data

from .._progress import progress
from .._threads import single_blas_thread
from ..gauges import L2, ElasticNet, soft_threshold
from ..losses import SquaredLoss
from ..maps import Bilinear
from ..meta import Problem, certify_factors, grow
from ..noise import estimate_signal_noise_level, universal_threshold
from ..polar.dictionary import ElasticNetL2Polar, elastic_net_dual_columns
from ..problems import check_fit_params, check_lam, check_lam_or_auto
from ..solvers.als import LocalResult
from ..solvers.online_dictionary import online_dictionary_epochs
from ..tolerance import relative_to
from .low_rank import _check_real_matrix

__all__ = [
    "ElasticNetL2Polar",
    "SparseDictionaryLearning",
    "dictionary_problem",
    "elastic_net_bcd",
    "elastic_net_dual_columns",
    "noise_polar_level",
    "sparse_encode_elastic_net",
]


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
# noise level and the automatic λ, γ


def _thresholded_polar(E: np.ndarray, t: float, n_starts: int, max_iter: int,
                       rng: np.random.Generator) -> float:
    """Lower bound on ``ρ_t(E) = sup_{‖v‖₂=1} ‖soft(E v, t)‖₂`` by alternating maximization
    ``v ← Eᵀ soft(Ev, t)/‖·‖`` (each step does not decrease the value) from random starts and
    the largest rows of ``E``."""
    rn = np.einsum("ij,ij->i", E, E)
    top = np.argsort(rn)[::-1][: n_starts // 2]
    V = np.column_stack([E[top].T, rng.standard_normal((E.shape[1], n_starts - top.size))])
    V /= np.maximum(np.linalg.norm(V, axis=0), 1e-300)
    best = 0.0
    for _ in range(max_iter):
        W = soft_threshold(E @ V, t)
        val = np.linalg.norm(W, axis=0)
        best = max(best, float(val.max()))
        Z = E.T @ W
        nz = np.linalg.norm(Z, axis=0)
        if not np.any(nz > 0):
            break
        V = np.where(nz > 0, Z / np.where(nz > 0, nz, 1.0), V)
    return best


#: rows of the simulated noise matrix of the λ rule (larger ``n``: scaled by ``√(n/this)``)
_NOISE_SIM_ROWS = 8192


def noise_polar_level(sigma: float, n_samples: int, n_features: int, *, threshold=None,
                      gamma=None, random_state=0) -> float:
    """The polar value that Gaussian noise alone reaches: ``Ω°(σE)``, ``E`` i.i.d. ``N(0, 1)``
    of shape ``n_samples × n_features``, estimated on one simulated draw.

    With ``threshold=t`` it is ``ρ_t(σE) = sup_{‖v‖=1} ‖soft(σEv, t)‖₂`` — the value of the
    zero solution's polar test for per-entry code threshold ``t = λγ`` (``Ω°(G) ≤ λ`` iff
    ``ρ_{λγ}(G) ≤ λ``); with ``gamma`` it is the polar ``Ω°_γ(σE)`` of the model's gauge
    (the :class:`ElasticNetL2Polar` lower bound).  Both are lower bounds by alternating
    maximization on one draw (they concentrate: the spread over draws is a few percent).  For
    ``n_samples > 8192`` the draw has 8192 rows and the value is scaled by
    ``√(n_samples/8192)``; ``ρ²/n`` decreases with ``n`` (a supremum of an average), so this
    over-estimates the noise level of the larger matrix (a larger, conservative ``λ``).
    """
    if (threshold is None) == (gamma is None):
        raise ValueError("give exactly one of threshold and gamma")
    n_sim = min(int(n_samples), _NOISE_SIM_ROWS)
    if sigma <= 0 or n_sim < 1:
        return 0.0
    rng = np.random.default_rng(random_state)
    E = rng.standard_normal((n_sim, int(n_features)))
    if threshold is not None:
        val = sigma * _thresholded_polar(E, float(threshold) / sigma, 16, 30, rng)
    else:
        val = sigma * ElasticNetL2Polar(float(gamma), n_starts=8, max_iter=30)(E, rng=rng).lower
    return float(val * math.sqrt(n_samples / n_sim))


# --------------------------------------------------------------------------------------------
# estimator


#: signals above which ``batch_size="auto"`` learns the atoms by online mini-batch descent
_ONLINE_MIN_SAMPLES = 4000
#: the online path starts from this many random signals per feature as atoms
_INIT_ATOMS_PER_FEATURE = 2
#: cap on the descent sweeps per outer iteration of the final grow after the online phase
_FINAL_MAX_SWEEPS = 10
#: alternating steps of the polar lower bound reported in ``lam_max_``
_LAM_MAX_ASCENT = 3
#: K-SVD error-target factor of the default OMP transform (Elad & Aharon 2006)
_OMP_ERROR_FACTOR = 1.15
_TRANSFORM_ALGORITHMS = ("omp", "elastic_net", "refit", "lasso_lars", "lasso_cd", "lars",
                         "threshold")


class SparseDictionaryLearning(TransformerMixin, BaseEstimator):
    """Sparse dictionary learning ``X ≈ codes @ components_`` with a certified gap bracket.

    Solves, over the number of atoms ``r`` as well::

        min ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)

    (``Dᵢ`` = row ``i`` of ``D`` = atom ``i``; ``Cᵢ`` = column ``i`` of ``C`` = every signal's code
    on atom ``i``).  With atoms rescaled to unit norm (``C D`` and the penalty are unchanged by
    ``Cᵢ ← ‖Dᵢ‖Cᵢ``, ``Dᵢ ← Dᵢ/‖Dᵢ‖``) the penalty reads ``λγ‖C‖₁ + λ Σᵢ ‖Cᵢ‖₂``: a lasso on the
    codes with per-entry threshold ``t = λγ`` plus a group term that charges each atom ``λ`` per
    unit of code energy, which is what limits the number of atoms.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ >= 0``.  ``"auto"``: twice the level that noise alone reaches in the polar test of
        the zero solution, ``λ = 2·ρ(σ̂E)`` (Negahban, Ravikumar, Wainwright & Yu, "A unified
        framework for high-dimensional analysis of M-estimators with decomposable
        regularizers", Statist. Sci. 27(4), 2012: ``λ ≥ 2·R°(∇ℓ(truth))``, and the gradient
        of the squared loss at the truth is the noise).  ``σ̂ = noise_level_`` is estimated
        from the covariance spectrum of the rows (:func:`estimate_signal_noise_level`, Chen,
        Zhu & Heng 2015) and ``ρ(σ̂E)`` is computed on one simulated Gaussian matrix of the
        shape of ``X`` (:func:`noise_polar_level`): with ``gamma="auto"`` it is
        ``ρ_t(σ̂E) = sup_{‖v‖=1}‖soft(σ̂Ev, t)‖₂`` at the threshold ``t`` below, with a
        numeric ``gamma`` the model's polar ``Ω°_γ(σ̂E)``.  A floor ``λ ≥ 1e-3·lam_max_[0]``
        keeps the number of atoms finite on noise-free data.  Pure noise then gives the zero
        solution (no atom), and an atom enters only when its code energy beats twice the noise.
    gamma : float or "auto", default="auto"
        ``γ >= 0``, weight of the ℓ1 part of the code gauge (``γ = 0``: nuclear norm).
        ``"auto"``: ``γ = t/λ`` so that the per-entry code threshold of unit atoms is the
        universal threshold ``t = σ̂√(2 log n_features)`` (Donoho & Johnstone, "Ideal spatial
        adaptation by wavelet shrinkage", Biometrika 81, 1994; n_features coefficients of an
        orthonormal basis; :func:`homfact.noise.universal_threshold`).
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
        ``growth_rtol·|P|`` (see :func:`homfact.grow`); the certificate then reports
        honestly how far from optimal the fit may be.  ``None``: grow while any atom is found.
    local_solver : {"bcd", "prox_linear"}, default="bcd"
        Exact block-coordinate descent over columns, or block prox-linear descent.
    n_starts : int, default=8
        Starts of the alternating polar maximization (lower bound).
    batch_size : int, "auto" or None, default="auto"
        Online learning of the atoms (Mairal, Bach, Ponce & Sapiro, "Online learning for matrix
        factorization and sparse coding", JMLR 11, 2010; :mod:`homfact.solvers.online_dictionary`):
        starting from ``2·n_features`` random signals as atoms, mini-batches of ``batch_size``
        signals are coded, folded into the sufficient statistics ``A = ΣCᵀC``, ``B = ΣXᵀC`` and
        the atoms updated by block-coordinate descent on the surrogate; working memory
        ``O(r² + r·n_features + b·n_features)`` besides ``X``.  The batch codes are error-target
        OMP codes at ``σ̂`` (as ``transform``; an ℓ0 coding, much cheaper than the model's
        group-coupled code problem, whose role is taken by the final step).  The final step is a
        ``grow`` of the model's objective on the certified data (below), warm-started from these
        atoms and the codes of the last pass, with ``online_final_iter`` outer iterations of at
        most 10 descent sweeps each: the descent prunes the atoms the group term rejects, later
        iterations may add atoms from the polar, and the returned factors are certified (the
        certificate, as always, is that of the factors returned; with the default single
        iteration ``stop_reason_`` is ``"max_iter"`` and the status says how far from optimal
        the fit may be).  ``"auto"``: 256 when ``n_samples > 4000``, otherwise ``None``
        (``grow`` on all the data from rank 0, up to ``max_iter`` outer iterations).
    online_epochs : float, default=1.0
        Passes over the data of the online phase.
    online_final_iter : int, default=1
        Outer ``grow`` iterations after the online phase (see ``batch_size``).
    certify_max_samples : int, default=50000
        The final ``grow`` and its certificate run on all the signals when there are at most
        this many, otherwise on a random subsample of this size with ``λ_S = λ√(m/n)`` and
        ``γ_S = γ√(n/m)`` (the same problem per signal); the certificate's ``method`` then
        says so and ``certified_samples_`` holds the rows used.
    transform_algorithm : str, default="omp"
        Coding of new signals by :meth:`transform` (the atoms normalized to unit norm, the codes
        returned in the scale of ``components_`` so that ``codes @ components_`` reconstructs):

        * ``"omp"``: orthogonal matching pursuit (:func:`sklearn.linear_model.orthogonal_mp_gram`);
          by default error-target OMP, ``‖x − c D‖² ≤ (1.15·σ̂)²·n_features`` (the K-SVD
          denoising rule, Elad & Aharon, IEEE TIP 15(12), 2006): a debiased code (least
          squares on the selected support) stopped at the noise level.
          ``transform_n_nonzero_coefs`` or ``transform_alpha`` (the squared error target)
          override it.
        * ``"elastic_net"``: the model's own code problem with the atoms fixed (see Notes):
          shrunk, certified-objective codes; ``transform`` of the training signals reproduces
          ``codes_`` when the certificate is on all of them (not on a subsample: there the
          scaled ``λ`` of the subsample problem gives other codes).
        * ``"refit"``: the ``"elastic_net"`` codes, then a least-squares refit of each signal on
          its support (removes the shrinkage, keeps the model's choice of atoms).
        * ``"lasso_lars"``, ``"lasso_cd"``, ``"lars"``, ``"threshold"``: scikit-learn's
          :func:`~sklearn.decomposition.sparse_encode` on the unit atoms, with its meaning of
          ``transform_alpha`` (the lasso solvers minimize ``½‖x − cD‖² + α‖c‖₁``;
          ``"threshold"`` is ``soft(x Dᵀ, α)``; default ``α``: the model's per-entry
          threshold ``λγ``) and of ``transform_n_nonzero_coefs`` (``"lars"``; default
          ``n_features/10``).
    transform_alpha : float, optional
    transform_n_nonzero_coefs : int, optional
    transform_tol : float, default=1e-6
        Stopping tolerance of the ``"elastic_net"``/``"refit"`` coding: a full
        coordinate-descent sweep changes the codes by ``≤ transform_tol·max(1, ‖C‖_F)``.
    transform_max_iter : int, default=1000
        Cap on the coordinate-descent sweeps of that coding (full and working-set).
    random_state : int, Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        The atoms ``D`` (rows), balanced with the codes (``‖Dᵢ‖ = ‖Cᵢ‖₂ + γ‖Cᵢ‖₁``); these and
        ``codes_`` are the certified solution (no debiasing is applied to them).
    codes_ : ndarray of shape (n_certified, n_components_)
        Fitted codes ``C`` of the certified signals (all of ``X``, or ``X[certified_samples_]``).
    n_components_, rank_ : int
        Number of atoms selected.
    U_, V_ : ndarray
        ``codes_`` and ``components_.T`` in homfact's bilinear convention ``X ≈ U_ @ V_.T``.
    noise_level_ : float
        ``σ̂`` (:func:`estimate_signal_noise_level`).
    lam_, gamma_ : float
        The ``λ`` and ``γ`` of the full-data problem.
    lam_max_ : (float, float)
        Bracket on ``λ_max = Ω°`` of the certified problem's data (the smallest ``λ`` giving the
        zero solution), in the scale of ``lam_``, for the ``γ`` of the rule (``gamma="auto"``
        ties ``γ`` to ``λ``); the lower end is the value of a feasible point after 3
        alternating steps, the upper end the rigorous bound of :class:`ElasticNetL2Polar`.
    certificate_ : homfact.Certificate
        Bracket certificate of the fitted factors: ``"global"`` only when the rigorous polar
        upper bound is ``≤ λ(1+ε)`` and the gap is ``≤ tol``.  Above ``certify_max_samples``
        signals it certifies the problem on the random subsample ``certified_samples_`` (with
        ``λ`` scaled by ``√(m/n)``, so its ``lam`` differs from ``lam_``), not the problem on
        all of ``X``; its ``method`` says so.
    certified_samples_ : ndarray or None
        Rows of ``X`` of the certified problem when it is a subsample (``None``: all rows).
    n_samples_fit_ : int
        Number of training signals.
    n_online_batches_ : int
        Mini-batches processed by the online phase (0 when it did not run).
    history_, n_iter_, stop_reason_, n_features_in_

    Notes
    -----
    ``transform_algorithm="elastic_net"`` solves the same objective with the atoms fixed, for
    the given batch::

        argmin_C ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁),

    a convex sparse-group lasso, by exact cyclic coordinate descent over the code columns with
    working sets and Anderson extrapolation (:func:`sparse_encode_elastic_net`).  The group term
    couples the signals of one batch (each atom's group is its code column over the batch), so
    its codes of a signal depend mildly on the rest of its batch.  These codes carry the ``λ``
    shrinkage (every entry soft-thresholded by ``λγ``, every column shrunk by ``λ``), which is
    what makes ``λ`` select the atoms but biases reconstructions toward zero; the default
    ``"omp"`` (and ``"refit"``) remove it.  On the camera case of
    ``benchmarks/bench_dictionary.py`` (seed 100, default fit, 70 atoms) the PSNRs of the
    codings were: ``"omp"`` 29.36 dB (3.2 s for 62,001 patches), ``"refit"`` 29.38 dB (12 s),
    ``"elastic_net"`` 27.35 dB, ``"lasso_lars"`` 27.77 dB, ``"threshold"`` 16.6 dB (noisy
    input: 22.1 dB).
    """

    def __init__(self, lam="auto", gamma="auto", *, max_rank=None, tol=1e-4, max_iter=100,
                 time_limit=None, growth_rtol=1e-5, local_solver="bcd", n_starts=8,
                 batch_size="auto", online_epochs=1.0, online_final_iter=1,
                 certify_max_samples=50000,
                 transform_algorithm="omp", transform_alpha=None,
                 transform_n_nonzero_coefs=None, transform_tol=1e-6, transform_max_iter=1000,
                 random_state=None, verbose=False):
        self.lam = lam
        self.gamma = gamma
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.growth_rtol = growth_rtol
        self.local_solver = local_solver
        self.n_starts = n_starts
        self.batch_size = batch_size
        self.online_epochs = online_epochs
        self.online_final_iter = online_final_iter
        self.certify_max_samples = certify_max_samples
        self.transform_algorithm = transform_algorithm
        self.transform_alpha = transform_alpha
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_tol = transform_tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose

    # -- checks --------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_lam_or_auto(self.lam)
        check_lam_or_auto(self.gamma, "gamma")
        check_fit_params(self, integers=("max_iter", "n_starts", "transform_max_iter",
                                         "certify_max_samples", "online_final_iter"))
        if not (isinstance(self.transform_tol, numbers.Real) and self.transform_tol > 0):
            raise ValueError(f"transform_tol must be a number > 0, got {self.transform_tol!r}")
        if self.local_solver not in ("bcd", "prox_linear"):
            raise ValueError(f"local_solver must be 'bcd' or 'prox_linear', got "
                             f"{self.local_solver!r}")
        if self.growth_rtol is not None and not (
                isinstance(self.growth_rtol, numbers.Real) and self.growth_rtol >= 0):
            raise ValueError(f"growth_rtol must be None or a number >= 0, got "
                             f"{self.growth_rtol!r}")
        bs = self.batch_size
        if not (bs is None or bs == "auto" or (isinstance(bs, numbers.Integral)
                                                and not isinstance(bs, bool) and bs >= 1)):
            raise ValueError(f"batch_size must be 'auto', None or an integer >= 1, got {bs!r}")
        if isinstance(self.online_epochs, bool) or not (
                isinstance(self.online_epochs, numbers.Real) and 0 < self.online_epochs < np.inf):
            raise ValueError(f"online_epochs must be a finite number > 0, got "
                             f"{self.online_epochs!r}")
        if self.certify_max_samples < 2:
            raise ValueError(f"certify_max_samples must be an integer >= 2, got "
                             f"{self.certify_max_samples!r}")
        self._check_transform_params()

    def _check_transform_params(self) -> None:
        if self.transform_algorithm not in _TRANSFORM_ALGORITHMS:
            raise ValueError(f"transform_algorithm must be one of {_TRANSFORM_ALGORITHMS}, got "
                             f"{self.transform_algorithm!r}")
        a = self.transform_alpha
        if a is not None and (isinstance(a, bool) or not (
                isinstance(a, numbers.Real) and math.isfinite(a) and a >= 0)):
            raise ValueError(f"transform_alpha must be None or a finite number >= 0, got {a!r}")
        k = self.transform_n_nonzero_coefs
        if k is not None and (isinstance(k, bool) or not (
                isinstance(k, numbers.Integral) and k >= 1)):
            raise ValueError(f"transform_n_nonzero_coefs must be None or an integer >= 1, got "
                             f"{k!r}")

    def _validate(self, X, reset: bool) -> np.ndarray:
        _check_real_matrix(X, "X")
        X = validate_data(self, X, reset=reset, accept_sparse=("csr", "csc", "coo"),
                          dtype=np.float64)
        return X.toarray() if sp.issparse(X) else np.asarray(X)

    # -- automatic λ, γ --------------------------------------------------------------------
    def _auto_lam_gamma(self, sigma: float, n: int, p: int) -> tuple[float, float, float]:
        """``(λ, γ, t)`` of the full-data problem from ``σ̂`` (see ``lam`` and ``gamma``)."""
        t = universal_threshold(sigma, p) if p >= 2 else sigma
        seed = 0 if not isinstance(self.random_state, numbers.Integral) else int(
            self.random_state)
        if isinstance(self.lam, str):
            if isinstance(self.gamma, str):
                lam = 2.0 * noise_polar_level(sigma, n, p, threshold=t, random_state=seed)
            else:
                lam = 2.0 * noise_polar_level(sigma, n, p, gamma=float(self.gamma),
                                              random_state=seed)
        else:
            lam = float(self.lam)
        if isinstance(self.gamma, str):
            gamma = t / lam if lam > 0 else 0.0
        else:
            gamma = float(self.gamma)
        return lam, gamma, t

    # -- fit -----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (``n_samples × n_features``, one signal per row)."""
        self._check_params()
        X = self._validate(X, reset=True)
        t0 = time.perf_counter()
        deadline = math.inf if self.time_limit is None else t0 + float(self.time_limit)
        n, p = X.shape
        rng = np.random.default_rng(self.random_state)
        self.noise_level_ = estimate_signal_noise_level(X)
        lam, gamma, t = self._auto_lam_gamma(self.noise_level_, n, p)
        # the certified problem: all rows, or a random subsample (λ, γ rescaled per signal)
        m = min(n, int(self.certify_max_samples))
        if m < n:
            rows = np.sort(rng.choice(n, m, replace=False))
            Xc = X[rows]
            scale = math.sqrt(m / n)
        else:
            rows, Xc, scale = None, X, 1.0
        # bracket on λ_max: the rigorous upper bound and the value of the best start after
        # _LAM_MAX_ASCENT alternating steps (a feasible value: a valid lower bound)
        polar = ElasticNetL2Polar(gamma / scale, n_starts=int(self.n_starts),
                                  max_iter=_LAM_MAX_ASCENT)
        b0 = polar(Xc, rng=rng)
        self.lam_max_ = (float(b0.lower) / scale, float(b0.upper) / scale)
        if isinstance(self.lam, str) and lam < 1e-3 * self.lam_max_[0]:
            lam = 1e-3 * self.lam_max_[0]  # (almost) noise-free data: keep r finite
            if isinstance(self.gamma, str):
                gamma = t / lam
        self.lam_, self.gamma_ = float(lam), float(gamma)
        lam_c, gamma_c = lam * scale, gamma / scale
        bs = self.batch_size
        if bs == "auto":
            bs = 256 if n > _ONLINE_MIN_SAMPLES else None
        factors = None
        self.n_online_batches_ = 0
        with progress(bool(self.verbose), "SparseDictionaryLearning") as callback:
            if bs is not None and lam < self.lam_max_[1]:
                factors = self._online_atoms(X, Xc, int(bs), rng, deadline)
            problem = dictionary_problem(Xc, lam_c, gamma_c, local_solver=self.local_solver,
                                         n_starts=int(self.n_starts))
            left = None if self.time_limit is None else max(deadline - time.perf_counter(),
                                                            1e-3)
            res = grow(problem, factors, tol=self.tol, max_rank=self.max_rank,
                       max_iter=int(self.max_iter) if factors is None else int(
                           self.online_final_iter), time_limit=left,
                       random_state=rng,
                       max_sweeps=500 if factors is None else _FINAL_MAX_SWEEPS,
                       callback=callback,
                       growth_rtol=None if self.growth_rtol is None else float(self.growth_rtol))
        self.U_, self.V_ = res.factors
        self.rank_ = res.rank
        cert = res.certificate
        self.certified_samples_ = rows
        self.n_samples_fit_ = n
        if rows is not None:
            cert = dataclasses.replace(
                cert, method=f"{cert.method}; computed on a random subsample of {m} of {n} "
                             f"signals (lam scaled by sqrt({m}/{n}) = {scale:.4g}, the same "
                             f"per-entry threshold), not on all of X")
        self.certificate_ = cert
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        return self

    def _online_atoms(self, X, Xc, b, rng, deadline):
        """Online epochs over ``X`` from ``2·n_features`` random signals as atoms, then codes of
        ``Xc``: the starting factors ``[U, V]`` of the final ``grow`` (``None`` if no atom is
        used).  Codes are error-target OMP codes at ``σ̂`` (see ``batch_size``)."""
        n, p = X.shape
        r0 = min(n, _INIT_ATOMS_PER_FEATURE * p)
        if self.max_rank is not None:
            r0 = min(r0, int(self.max_rank))
        D = np.array(X[np.sort(rng.choice(n, r0, replace=False))], dtype=float)
        nd = np.linalg.norm(D, axis=1)
        D = D[nd > 0] / nd[nd > 0, None]
        if D.shape[0] == 0:
            return None
        omp_tol = (_OMP_ERROR_FACTOR * self.noise_level_) ** 2 * p

        def encode(Xb, D):
            return _omp_codes(Xb, D, omp_tol)

        # with all rows certified, the codes of the last pass start the final grow
        reuse = Xc is X and float(self.online_epochs) >= 1.0
        codes = np.zeros((n, D.shape[0])) if reuse else None
        D, _, done = online_dictionary_epochs(X, D, encode, batch_size=b,
                                              n_epochs=float(self.online_epochs), rng=rng,
                                              deadline=deadline, codes_out=codes)
        self.n_online_batches_ = int(done)
        keep = np.linalg.norm(D, axis=1) > 0
        Vc = np.asfortranarray(D[keep].T)
        if reuse and done * b >= n:  # every row coded (on the atoms of its batch's step)
            U = codes[:, keep]
        else:
            U = _omp_codes(Xc, Vc.T, omp_tol)
        used = np.any(U != 0, axis=0)
        if not np.any(used):
            return None
        return [np.asfortranarray(U[:, used]), np.asfortranarray(Vc[:, used])]

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

    # -- transform -----------------------------------------------------------------------
    def transform(self, X):
        """Codes of the signals ``X`` on the learned atoms (``n_samples × n_components_``) by
        ``transform_algorithm`` (see the parameter); ``codes @ components_`` reconstructs."""
        check_is_fitted(self, "V_")
        self._check_transform_params()
        X = self._validate(X, reset=False)
        r = self.n_components_
        alg = self.transform_algorithm
        if r == 0:
            return np.zeros((X.shape[0], 0))
        if alg in ("elastic_net", "refit"):
            U, _ = sparse_encode_elastic_net(X, self.V_, self.lam_, self.gamma_,
                                             max_sweeps=int(self.transform_max_iter),
                                             tol=float(self.transform_tol))
            return U if alg == "elastic_net" else _refit_on_support(X, self.V_, U)
        norms = np.linalg.norm(self.V_, axis=0)
        keep = norms > 0
        D = (self.V_[:, keep] / norms[keep]).T
        p = X.shape[1]
        alpha, k = self.transform_alpha, self.transform_n_nonzero_coefs
        with warnings.catch_warnings():  # OMP: "ended prematurely" when the target is unreachable
            warnings.simplefilter("ignore", RuntimeWarning)
            if alg == "omp":
                if k is not None and alpha is None:
                    C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                           n_nonzero_coefs=min(int(k), D.shape[0])).T
                else:
                    tol = (_OMP_ERROR_FACTOR * self.noise_level_) ** 2 * p if alpha is None \
                        else float(alpha)
                    if tol > 0:
                        C = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=tol,
                                               norms_squared=np.einsum("ij,ij->i", X, X)).T
                    else:
                        C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                               n_nonzero_coefs=min(D.shape[0], p)).T
            else:
                if alpha is None:  # the model's per-entry threshold on unit atoms
                    alpha = self.lam_ * self.gamma_
                C = sparse_encode(X, D, algorithm=alg, alpha=float(alpha),
                                  n_nonzero_coefs=None if k is None else int(k),
                                  max_iter=int(self.transform_max_iter))
        C = np.asarray(C).reshape(X.shape[0], -1)
        codes = np.zeros((X.shape[0], r))
        codes[:, keep] = C / norms[keep]
        return codes

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
        training data ``X`` (on its certified subsample when the fit used one)."""
        check_is_fitted(self, "V_")
        X = self._validate(X, reset=False)
        rows = getattr(self, "certified_samples_", None)
        n_fit = self.U_.shape[0] if rows is None else None
        if rows is not None:
            if X.shape[0] != self.n_samples_fit_:
                raise ValueError(f"X must be the training data ({self.n_samples_fit_} rows), "
                                 f"got {X.shape[0]} rows")
            scale = math.sqrt(rows.size / X.shape[0])
            X = X[rows]
        else:
            scale = 1.0
            if X.shape[0] != n_fit:
                raise ValueError(f"X must be the training data ({n_fit} rows), got "
                                 f"{X.shape[0]} rows")
        problem = dictionary_problem(X, self.lam_ * scale, self.gamma_ / scale,
                                     n_starts=int(self.n_starts))
        cert, *_ = certify_factors(problem, [self.U_, self.V_], tol=self.tol)
        return cert


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
