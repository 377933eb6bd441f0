"""Input validation and problem builders: the 'validate → problem' end of the data flow.

* :func:`check_lam`, :func:`check_dense_matrix` — argument checks with errors naming the argument.
* :class:`ObservedMatrix` / :func:`observed_entries` — the observed entries of a partially known
  matrix (scipy.sparse: every *stored* entry is observed, stored zeros included; ndarray: NaN
  marks a missing entry), sorted in CSR order.
* :func:`low_rank_problem`, :func:`completion_problem` — the two core problems.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .gauges import L2
from .losses import HuberLoss, SquaredLoss
from .maps import Bilinear, MaskedBilinear
from .meta import Problem

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


def check_dense_matrix(Y, name: str = "Y") -> np.ndarray:
    """Return ``Y`` as a finite 2-D float array (sparse input is densified)."""
    if sp.issparse(Y):
        Y = Y.toarray()
    try:
        Y = np.asarray(Y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric 2-D array: {exc}") from None
    if Y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {Y.ndim} dimension(s)")
    if Y.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {Y.shape}")
    if not np.all(np.isfinite(Y)):
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
