"""Input validation and problem builders: the 'validate → problem' end of the data flow.

* :func:`check_lam`, :func:`check_dense_matrix` — argument checks with errors naming the argument.
* :class:`ObservedMatrix` / :func:`observed_entries` — the observed entries of a partially known
  matrix (scipy.sparse: every *stored* entry is observed, stored zeros included; ndarray: NaN
  marks a missing entry), sorted in CSR order.
* :func:`low_rank_problem`, :func:`completion_problem` — the two core problems.
* :class:`StructuredProblem` — pruning that also merges parallel slices (structured
  factorization); :class:`DictionaryProblem` / :func:`dictionary_problem` — sparse
  dictionary learning with exact block-coordinate descent.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .gauges import L2, ElasticNet
from .losses import HuberLoss, SquaredLoss
from .maps import Bilinear, MaskedBilinear
from .meta import Problem, register_local_solver
from .polar.dictionary import ElasticNetL2Polar
from .solvers.elastic_net import elastic_net_bcd
from .solvers.refit import _merge_parallel

__all__ = [
    "ObservedMatrix",
    "check_dense_matrix",
    "check_lam",
    "completion_problem",
    "low_rank_problem",
    "observed_entries",
]


def check_lam(lam, name: str = "lam") -> float:
    """Return ``lam`` as a float, or raise if it is not a finite number ``>= 0``."""
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(lam).__name__}")
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {lam!r}")
    return lam


def check_lam_or_auto(lam, name: str = "lam") -> float | str:
    """``"auto"`` as is (the estimator picks ``λ`` from the data), else :func:`check_lam`."""
    if isinstance(lam, str):
        if lam != "auto":
            raise ValueError(f"{name} must be 'auto' or a number >= 0, got {lam!r}")
        return lam
    return check_lam(lam, name)


def check_fit_params(est, *, integers: tuple[str, ...] = ("max_iter",)) -> None:
    """Check an estimator's common fit parameters, raising ``ValueError`` naming the one at fault.

    ``tol`` must lie in ``(0, 1)``; each attribute named in ``integers`` must be an integer
    ``>= 1``; ``max_rank`` ``None`` or an integer ``>= 1``; ``time_limit`` ``None`` or ``> 0``.
    """
    if isinstance(est.tol, bool) or not (isinstance(est.tol, numbers.Real) and 0 < est.tol < 1):
        raise ValueError(f"tol must be a number in (0, 1), got {est.tol!r}")
    for name in integers:
        v = getattr(est, name)
        if isinstance(v, bool) or not (isinstance(v, numbers.Integral) and v >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if est.max_rank is not None and (isinstance(est.max_rank, bool) or not (
            isinstance(est.max_rank, numbers.Integral) and est.max_rank >= 1)):
        raise ValueError(f"max_rank must be None or an integer >= 1, got {est.max_rank!r}")
    if est.time_limit is not None and (isinstance(est.time_limit, bool) or not (
            isinstance(est.time_limit, numbers.Real) and est.time_limit > 0)):
        raise ValueError(f"time_limit must be None or a positive number, got "
                         f"{est.time_limit!r}")


def check_dense_matrix(Y, name: str = "Y", *, missing: bool = False) -> np.ndarray:
    """Return ``Y`` as a finite 2-D float array (sparse input is densified); with
    ``missing=True`` NaN entries are allowed (they mark missing entries) and sparse input is
    refused (its zeros would be read as observed)."""
    if sp.issparse(Y):
        if missing:
            raise TypeError(f"{name} must be a dense array (NaN marks a missing entry), got a "
                            f"sparse matrix")
        Y = Y.toarray()
    try:
        Y = np.asarray(Y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric 2-D array: {exc}") from None
    if Y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {Y.ndim} dimension(s)")
    if Y.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {Y.shape}")
    if missing and np.any(np.isinf(Y)):
        raise ValueError(f"{name} contains infinite values (use NaN for missing entries)")
    if not missing and not np.all(np.isfinite(Y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return Y


@dataclass(frozen=True)
class ObservedMatrix:
    """Observed entries ``(rows[t], cols[t]) ↦ values[t]`` of an ``m×n`` matrix, in CSR order."""

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])


def observed_entries(Y, name: str = "Y") -> ObservedMatrix:
    """Extract the observed entries of ``Y`` (scipy.sparse or ndarray with NaN for missing)."""
    if sp.issparse(Y):
        coo = sp.coo_matrix(Y)
        if coo.ndim != 2:
            raise ValueError(f"{name} must be a 2-D matrix")
        rows = coo.row.astype(np.int64)
        cols = coo.col.astype(np.int64)
        try:
            vals = coo.data.astype(float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numeric values: {exc}") from None
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"{name} has NaN or infinite stored entries")
        shape = coo.shape
    else:
        try:
            A = np.asarray(Y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a numeric 2-D array or scipy.sparse matrix: "
                            f"{exc}") from None
        if A.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array, got {A.ndim} dimension(s)")
        if np.any(np.isinf(A)):
            raise ValueError(f"{name} contains infinite values (use NaN for missing entries)")
        rows, cols = np.nonzero(~np.isnan(A))
        vals = A[rows, cols]
        shape = A.shape
    if len(vals) == 0:
        raise ValueError(f"{name} has no observed entries")
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    key = rows * shape[1] + cols
    if np.any(np.diff(key) == 0):
        raise ValueError(f"{name} has duplicate stored entries; sum or drop them first")
    return ObservedMatrix((int(shape[0]), int(shape[1])), rows, cols, vals)


def low_rank_problem(Y, lam: float, *, loss: str = "squared", delta: float = 1.0,
                     weight: float = 1.0, gauges=None, local_solver: str = "auto",
                     polar=None) -> Problem:
    """``min ℓ(Y − UVᵀ) + λ Σᵢ κ_u(uᵢ)κ_v(vᵢ)`` with a dense output (default: nuclear norm)."""
    Y = check_dense_matrix(Y)
    lam = check_lam(lam)
    loss_obj = _make_loss(Y, loss, delta, weight)
    gauges = (L2(), L2()) if gauges is None else tuple(gauges)
    return Problem(loss_obj, Bilinear(Y.shape), gauges, lam, polar=polar,
                   local_solver=local_solver)


def completion_problem(Y, lam: float, *, loss: str = "squared", delta: float = 1.0,
                       weight: float = 1.0, gauges=None, local_solver: str = "auto",
                       polar=None) -> Problem:
    """``min ℓ(P_Ω(Y − UVᵀ)) + λ Σᵢ κ_u(uᵢ)κ_v(vᵢ)`` on the observed entries of ``Y``."""
    obs = Y if isinstance(Y, ObservedMatrix) else observed_entries(Y)
    lam = check_lam(lam)
    mapping = MaskedBilinear(obs.shape, obs.rows, obs.cols)
    gauges = (L2(), L2()) if gauges is None else tuple(gauges)
    return Problem(_make_loss(obs.values, loss, delta, weight), mapping, gauges, lam, polar=polar,
                   local_solver=local_solver)


def _make_loss(y: np.ndarray, loss: str, delta: float, weight: float = 1.0):
    """``"squared"``: ½‖y − z‖²; ``"huber"``: ``weight·Σ h_delta(y − z)``."""
    if loss == "squared":
        if weight != 1.0:
            raise ValueError("weight applies to the Huber loss only")
        return SquaredLoss(y)
    if loss == "huber":
        return HuberLoss(y, delta, weight)
    raise ValueError(f"loss must be 'squared' or 'huber', got {loss!r}")


def check_tensor(Y, name: str = "Y", *, allow_missing: bool = True,
                 min_ndim: int = 3) -> np.ndarray:
    """Return ``Y`` as a float ``K``-way array (``K >= min_ndim``); NaN marks a missing entry.

    Raises ``ValueError`` naming ``name`` for ragged nested sequences, arrays with fewer than
    ``min_ndim`` dimensions, empty modes, infinite values, NaN when ``allow_missing`` is false,
    no observed entry, and any slice (an index of one mode) with no observed entry (its factor
    row would be undetermined).
    """
    if sp.issparse(Y):
        raise TypeError(f"{name} must be a dense {min_ndim}-way (or higher) array, got a "
                        "scipy.sparse matrix")
    try:
        A = np.asarray(Y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric K-way array with K >= {min_ndim} "
                         f"(ragged or non-numeric input?): {exc}") from None
    if A.ndim < min_ndim:
        raise ValueError(f"{name} must be a K-way array with K >= {min_ndim} dimensions, got "
                         f"{A.ndim} dimension(s) with shape {A.shape}")
    if min(A.shape) == 0:
        raise ValueError(f"{name} must have non-empty modes, got shape {A.shape}")
    if np.any(np.isinf(A)):
        raise ValueError(f"{name} contains infinite values (use NaN for missing entries)")
    missing = np.isnan(A)
    if missing.any():
        if not allow_missing:
            raise ValueError(f"{name} contains NaN values")
        if missing.all():
            raise ValueError(f"{name} has no observed entries (all values are NaN)")
        for k in range(A.ndim):
            axes = tuple(j for j in range(A.ndim) if j != k)
            empty = np.flatnonzero(missing.all(axis=axes))
            if empty.size:
                raise ValueError(f"{name} has slices with no observed entry along mode {k} "
                                 f"(indices {empty[:10].tolist()}"
                                 f"{', ...' if empty.size > 10 else ''}); drop them first")
    return A


def cp_problem(Y, lam: float, *, gauges=None, nonnegative=False, local_solver: str = "auto",
               polar=None) -> Problem:
    """``min ½‖P_Ω(Y − [[X¹,…,Xᴷ]])‖² + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` for a ``K``-way array ``Y``.

    NaN entries of ``Y`` are missing (masked loss over the observed set ``Ω``; a dense map when
    nothing is missing).  ``gauges``: one gauge per mode (default ``L2`` each); ``nonnegative``:
    a bool or one bool per mode, wrapping that mode's gauge in :class:`NonNegative`.
    """
    from .gauges import NonNegative
    from .maps import CPMap, MaskedCPMap

    A = check_tensor(Y)
    lam = check_lam(lam)
    K = A.ndim
    gs = [L2() for _ in range(K)] if gauges is None else list(gauges)
    if len(gs) != K:
        raise ValueError(f"gauges must hold one gauge per mode ({K}), got {len(gs)}")
    nn = [bool(nonnegative)] * K if isinstance(nonnegative, bool | np.bool_) else \
        [bool(v) for v in nonnegative]
    if len(nn) != K:
        raise ValueError(f"nonnegative must be a bool or {K} bools, got {len(nn)}")
    gs = [NonNegative(g) if n and not g.nonnegative else g for g, n in zip(gs, nn, strict=True)]
    observed = ~np.isnan(A)
    if observed.all():
        mapping, y = CPMap(A.shape), A
    else:
        mapping, y = MaskedCPMap(A.shape, observed), A[observed]
    return Problem(SquaredLoss(y), mapping, tuple(gs), lam, polar=polar,
                   local_solver=local_solver)


__all__ += ["check_fit_params", "check_lam_or_auto", "check_tensor", "cp_problem"]


def cp_factors(factors, shape: tuple[int, ...] | None = None,
               name: str = "factors") -> list[np.ndarray]:
    """CP factors from any source as ``K`` float arrays ``n_k × r`` with the weights folded in.

    Accepts a list/tuple of ``K`` 2-D arrays, a ``(weights, factors)`` pair, or a TensorLy
    ``CPTensor`` (anything with ``.weights`` and ``.factors``, e.g. a ``parafac`` result; no
    tensorly import is needed).  A weight ``wᵢ`` is folded in as ``|wᵢ|^{1/K}`` on every mode
    (balanced columns, so the product-form penalty is not inflated by the split) and its sign
    on the first mode: the represented tensor ``Σᵢ wᵢ aᵢ¹∘…∘aᵢᴷ`` is unchanged.
    """
    weights = None
    if hasattr(factors, "factors") and hasattr(factors, "weights"):
        weights, fs = factors.weights, factors.factors
    elif (isinstance(factors, tuple | list) and len(factors) == 2
          and isinstance(factors[1], tuple | list) and np.ndim(factors[0]) <= 1):
        weights, fs = factors
    else:
        fs = factors
    if not isinstance(fs, tuple | list) or len(fs) < 2:
        raise ValueError(f"{name} must be a sequence of K >= 2 factor matrices, a "
                         f"(weights, factors) pair or a tensorly CPTensor")
    out = []
    for k, F in enumerate(fs):
        try:
            F = np.array(F, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}[{k}] must be a numeric 2-D array: {exc}") from None
        if F.ndim == 1:
            F = F[:, None]
        if F.ndim != 2:
            raise ValueError(f"{name}[{k}] must be a 2-D array, got shape {F.shape}")
        if not np.all(np.isfinite(F)):
            raise ValueError(f"{name}[{k}] contains NaN or infinite values")
        out.append(F)
    r = out[0].shape[1]
    if any(F.shape[1] != r for F in out):
        raise ValueError(f"all {name} must have the same number of columns, got "
                         f"{[F.shape[1] for F in out]}")
    if shape is not None:
        if len(out) != len(shape):
            raise ValueError(f"{name} must hold {len(shape)} factor matrices, got {len(out)}")
        for k, (F, n) in enumerate(zip(out, shape, strict=True)):
            if F.shape[0] != n:
                raise ValueError(f"{name}[{k}] must have {n} rows, got shape {F.shape}")
    if weights is not None:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != (r,) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights of {name} must be {r} finite numbers, got {w.shape}")
        K = len(out)
        mag = np.abs(w) ** (1.0 / K)
        out = [F * mag for F in out]
        out[0] = out[0] * np.where(w < 0, -1.0, 1.0)
    return out


__all__ += ["cp_factors"]


# --------------------------------------------------------------------------------------------
# structured factorization: pruning merges parallel slices


class StructuredProblem(Problem):
    """:class:`homfact.meta.Problem` whose ``prune`` also merges parallel slices.

    Growth can append an atom ``(u', a')`` nearly parallel to an existing slice ``(u, a)`` (the
    polar maximizer on the residual of a shrunken component); local descent never merges the
    two.  After the usual rebalance-and-drop, the map's one bilinear merge
    (``mapping.merge_parallel``, :func:`homfact.maps.merge_bilinear_parallel`) runs with
    ``tol = 1 − merge_cos``: every group of slices with ``|cos(u, u')| ≥ merge_cos`` and
    ``|cos(a, a')| ≥ merge_cos`` (heads in decreasing penalty ``κ_u(u)κ_a(a)``) is replaced by
    the best rank-one approximation of its sum ``Σ u aᵀ`` (exact when one side is parallel:
    then the penalty is unchanged or smaller and the fit identical), clipped on a non-negative
    gauge's side.  The merged factorization is kept only if the objective does not increase
    by more than ``1e-10·max(1, F)``.  Since ``prune`` runs before every certificate, the
    certificate is always computed for the merged factors.
    """

    merge_cos: float = 0.95

    def prune(self, factors: list[np.ndarray], rtol: float = 1e-10) -> list[np.ndarray]:
        factors = super().prune(factors, rtol)
        if factors[0].shape[1] < 2:
            return factors
        merged = _merge_parallel(list(self.gauges), factors, self.merge_cos, self.mapping)
        if merged is None:
            return factors
        merged = super().prune(merged, rtol)
        f_old, f_new = self.objective(factors), self.objective(merged)
        return merged if f_new <= f_old + 1e-10 * max(1.0, abs(f_old)) else factors


# --------------------------------------------------------------------------------------------
# sparse dictionary learning


def _descend_elastic_net_bcd(problem: DictionaryProblem, factors, *, tol, max_sweeps,
                             deadline):
    """Exact block-coordinate descent of sparse dictionary learning (:func:`elastic_net_bcd`)."""
    res = elastic_net_bcd(problem.loss.y, factors[0], factors[1], problem.lam, problem.gamma,
                          max_sweeps=max_sweeps, tol=tol, deadline=deadline)
    return res.factors, res.n_sweeps


register_local_solver("bcd", _descend_elastic_net_bcd,
                      requires=lambda p: isinstance(p, DictionaryProblem),
                      requirement="bcd needs a DictionaryProblem (elastic-net codes with L2 "
                                  "atoms, squared loss)")


@dataclass
class DictionaryProblem(Problem):
    """:class:`~homfact.meta.Problem` of sparse dictionary learning (elastic-net codes ``U``,
    ℓ2 atoms ``V``, weight ``gamma`` of the ℓ1 part).

    ``local_solver="bcd"`` (what ``"auto"`` stands for here) is exact block-coordinate descent,
    :func:`elastic_net_bcd`, registered under that name; any other registered name or callable
    is handled as in the base class (``"prox_linear"``: block prox-linear).
    """

    gamma: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.local_solver, str) and self.local_solver == "auto":
            self.local_solver = "bcd"
        super().__post_init__()

    @property
    def use_bcd(self) -> bool:
        """Whether descent is the exact block-coordinate descent (``local_solver == "bcd"``)."""
        return self.local_solver == "bcd"


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
                             local_solver=local_solver, gamma=gamma)


__all__ += ["DictionaryProblem", "StructuredProblem", "dictionary_problem"]
