"""The one normalization of "relative" in the project: amounts relative to the objective.

The relative duality gap (:mod:`homfact.certificate`), the relative decrease that stops the
local solvers and the growth stop of :func:`homfact.meta.grow` all divide by the objective
itself, so every tolerance means the same thing at every scale of the data.  This module sits
below every other one (it imports nothing of the package).
"""

from __future__ import annotations

import numpy as np

__all__ = ["OBJECTIVE_FLOOR", "relative_to"]

#: the smallest positive normal float64: the last resort scale of :func:`relative_to`
OBJECTIVE_FLOOR = float(np.finfo(np.float64).tiny)
_EPS = float(np.finfo(np.float64).eps)


def relative_to(amount: float, objective: float, scale: float = 0.0) -> float:
    """``amount / max(|objective|, eps·|scale|, OBJECTIVE_FLOOR)``: relative to the objective.

    This is the one normalization of the project: the relative duality gap, the relative
    decrease tested by the local solvers and the growth stop all use it.  A status ``"global"``
    at ``tol`` therefore means ``P − P* ≤ gap ≤ tol·max(|P|, eps·ℓ(0))`` for an objective of
    any scale (the
    normalization ``max(1, |P|)`` used before made it an absolute ``tol`` for ``|P| < 1``, as
    with mean losses).

    The floor: ``scale`` is the objective of the zero model, ``ℓ(0)`` (the size of the data in
    the objective's units; 0 when unknown).  An objective below ``eps·ℓ(0)`` (``eps`` = 2⁻⁵²)
    is rounding error of the data (an exact fit, ``λ = 0``) and is measured on that floor
    instead of on itself; an objective of exactly 0 with ``scale = 0`` is measured on
    ``OBJECTIVE_FLOOR``, so a zero amount stays 0 and a positive one becomes huge (never
    "within tolerance").
    """
    floor = max(_EPS * abs(float(scale)), OBJECTIVE_FLOOR)
    return float(amount) / max(abs(float(objective)), floor)
