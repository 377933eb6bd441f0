"""Input and parameter checks shared by the estimators and the ``λ`` rules, raising errors
that name the argument.

The matrix checks run before scikit-learn's ``validate_data`` (which calls every input ``X``),
so the common mistakes (NaN/inf, a wrong number of dimensions, negative entries where the model
needs ``X ≥ 0``) are reported with the caller's own name for the argument; the per-mode parser
does the same for the options of a ``K``-way model, and renamed parameters keep working
for one release.  This module imports nothing from
:mod:`homfact`, so the core layers (:mod:`homfact.lam_rules`) may use it.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DEPRECATED",
    "_check_nonnegative_matrix",
    "_check_real_matrix",
    "_is_given",
    "_parse_per_mode",
    "_renamed_params",
    "random_init_rank",
]


def _check_real_matrix(Y, name: str) -> None:
    """Name the argument in the errors for the common mistakes (NaN/inf, wrong dimension).

    scikit-learn's ``validate_data`` (run afterwards for everything else) calls every input
    ``X``; this check runs first so the messages say ``Y``.
    """
    if sp.issparse(Y):
        data = Y.data if isinstance(getattr(Y, "data", None), np.ndarray) else Y.tocoo().data
        if data.dtype.kind in "fiu" and not np.all(np.isfinite(data)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return
    A = np.asarray(Y) if isinstance(Y, np.ndarray | list | tuple) else None
    if A is None or A.dtype.kind not in "fiub":
        return
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {A.ndim} dimension(s). Reshape your "
                         f"data with {name}.reshape(1, -1) if it is a single row")
    if A.dtype.kind == "f" and not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_nonnegative_matrix(X, name: str = "X") -> None:
    """Errors naming the argument for NaN/inf, wrong dimension (:func:`_check_real_matrix`)
    and negative entries."""
    _check_real_matrix(X, name)
    if sp.issparse(X):
        data = X.data if isinstance(getattr(X, "data", None), np.ndarray) else X.tocoo().data
    elif isinstance(X, np.ndarray | list | tuple):
        data = np.asarray(X)
    else:
        return
    if data.dtype.kind in "fiub" and data.size and data.min() < 0:
        raise ValueError(f"Negative values in data passed to NonnegativeFactorization: "
                         f"{name} must be non-negative; its smallest entry is "
                         f"{data.min():g}")


def _parse_per_mode(value, K: int, name: str, allowed: tuple) -> list:
    """One entry of ``allowed`` per mode of a ``K``-way model: ``value`` itself repeated ``K``
    times when it is a single entry (a string or a bool), else the ``K`` entries of the
    sequence ``value``; ``ValueError`` naming ``name`` otherwise.  An entry matches when it is
    an allowed value or equal to one of the same type (so ``1`` is not ``True``)."""
    if isinstance(value, str | bool | np.bool_):
        vals = [value] * K
    else:
        try:
            vals = list(value)
        except TypeError:
            raise ValueError(f"{name} must be one of {allowed} or a sequence of {K} of them, "
                             f"got {value!r}") from None
    if len(vals) != K:
        raise ValueError(f"{name} needs one entry per mode ({K}), got {len(vals)}")
    for v in vals:
        if not any(v is a or (type(v) is type(a) and v == a) for a in allowed):
            raise ValueError(f"{name} entries must be one of {allowed}, got {v!r}")
    return vals


#: default of a renamed constructor parameter (scikit-learn's convention): "not given"
DEPRECATED = "deprecated"


def _is_given(value) -> bool:
    """Whether a renamed parameter was given (its default is :data:`DEPRECATED`)."""
    return not (isinstance(value, str) and value == DEPRECATED)


def _renamed_params(est, renamed: dict[str, str]) -> dict:
    """``{new: value}`` for each ``old → new`` of ``renamed``: ``getattr(est, new)``, or the
    former parameter's value when the user set it (scikit-learn's deprecation: the old name
    keeps working for one release, with a ``FutureWarning`` attributed to the caller of
    ``fit``, which must call this directly)."""
    values = {}
    for old, new in renamed.items():
        values[new] = getattr(est, new)
        if _is_given(getattr(est, old)):
            warnings.warn(f"{type(est).__name__}'s parameter {old!r} was renamed {new!r} and "
                          f"will be removed in the next release; pass {new} instead (the value "
                          f"given as {old} is used)", FutureWarning, stacklevel=3)
            values[new] = getattr(est, old)
    return values


def random_init_rank(rank) -> int:
    """The rank of ``init="random"``: ``rank`` (an integer ``>= 1``; bools rejected), 10 when
    ``None``; a ``ValueError`` naming ``rank`` otherwise."""
    rank = 10 if rank is None else rank
    if isinstance(rank, bool) or not (isinstance(rank, numbers.Integral) and rank >= 1):
        raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
    return int(rank)
