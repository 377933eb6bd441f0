"""The relaxed (debiased) refit of a nuclear-norm fit at its rank, on observed entries.

Moved unchanged from :mod:`homfact.models.cv`, which re-exports :func:`relaxed_refit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..maps import MaskedBilinear
from .als import als_masked

if TYPE_CHECKING:  # the solver layer sits below problems: no run-time import
    from ..problems import ObservedMatrix

__all__ = ["relaxed_refit"]


def relaxed_refit(obs: ObservedMatrix, U: np.ndarray, V: np.ndarray, lam: float, *,
                  relax: float, max_sweeps: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed (debiased) refit at the rank of ``(U, V)``: ALS on the observed entries for
    ``½‖P_Ω(Y − UVᵀ)‖² + (φλ/2)(‖U‖² + ‖V‖²)`` with ``φ = relax``, started from ``(U, V)``.

    The relaxed lasso of Meinshausen (2007) carried over to the nuclear norm: the rank (the
    "model") comes from the path at ``λ``, the values from a fit with the penalty relaxed to
    ``φλ``, which removes most of the shrinkage.  ``φ > 0`` keeps each row's ridge system
    determined when the row has fewer observed entries than the rank.  Exact row-wise ALS
    (:func:`homfact.solvers.als.als_masked`), at most ``max_sweeps`` sweeps.
    """
    if U.shape[1] == 0:
        return U, V
    mapping = MaskedBilinear(obs.shape, obs.rows, obs.cols)
    res = als_masked(mapping, obs.values, U, V, relax * lam, method="exact",
                     max_sweeps=max_sweeps, tol=tol)
    return res.factors[0], res.factors[1]
