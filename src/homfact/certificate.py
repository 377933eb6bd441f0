"""The optimality certificate (docs: theory/duality-gap-and-status).

Given an iterate ``X`` with output ``Z``, ``G = −∇ℓ(Z)`` and a polar bracket
``ρ_lo ≤ Ω°(G) ≤ ρ_up``:

* dual point ``Λ = c·G`` with ``0 ≤ c ≤ c_max = min(1, λ/ρ_up)`` (feasible: ``Ω°(Λ) ≤ λ``),
  ``c`` chosen to maximize the dual value;
* lower bound ``L = −ℓ*(−Λ) ≤ P*``;
* upper bound ``P = ℓ(Z) + λΣθ(Xᵢ) ≥ P*`` (the factorized objective);
* ``gap = P − L ≥ P − P* ≥ 0`` and ``relative_gap = gap / |P|``: relative to the objective
  itself, whatever its scale, floored at rounding level ``eps·ℓ(0)`` (:func:`relative_to`).

Status: ``"global"`` only with a valid ``ρ_up ≤ λ(1+ε)`` and ``relative_gap ≤ tol``;
``"not_optimal"`` when ``ρ_lo > λ(1+ε)`` (a descent direction exists); ``"unverified"`` otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from .losses import Loss
from .polar import PolarBound
from .tolerance import OBJECTIVE_FLOOR, relative_to

__all__ = [
    "OBJECTIVE_FLOOR",
    "STATUSES",
    "Certificate",
    "assemble_certificate",
    "certificate_from_bound",
    "decide_status",
    "relative_to",
]

STATUSES = ("global", "unverified", "not_optimal")



@dataclass(frozen=True)
class Certificate:
    """Bounds on the optimum and an honest optimality status.

    Attributes
    ----------
    objective : factorized objective ``P = ℓ(Z) + λΣθ(Xᵢ)`` (an upper bound on the optimum).
    lower_bound : ``L = −ℓ*(−cG)``, a lower bound on the optimum (``−inf`` if none).
    gap, relative_gap : ``P − L`` and ``(P − L)/|P|`` (:func:`relative_to`; an objective
        below the rounding level ``eps·ℓ(0)`` of the data is floored there).  The gap is a
        rigorous bound on ``P − P*``, so ``relative_gap ≤ tol`` means the objective is within
        ``tol·max(|P|, eps·ℓ(0))`` of the optimum, at any scale of the data.
    polar_lower, polar_upper : bracket on ``Ω°(G)`` (``polar_upper = inf`` if no valid bound).
    lam : regularization weight ``λ``.
    dual_scale : the ``c`` of the dual point ``Λ = cG``.
    status : ``"global"``, ``"unverified"`` or ``"not_optimal"``.
    method : how the polar bounds were obtained.
    tol : relative-gap tolerance used to decide the status.
    """

    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    polar_lower: float
    polar_upper: float
    lam: float
    dual_scale: float
    status: str
    method: str
    tol: float

    @property
    def is_global(self) -> bool:
        return self.status == "global"

    def to_dict(self) -> dict:
        """JSON-friendly dictionary (``inf`` becomes ``None``)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return (
            f"status={self.status}  objective={self.objective:.10g}  "
            f"lower_bound={self.lower_bound:.10g}  relative_gap={self.relative_gap:.3e}  "
            f"polar∈[{self.polar_lower:.6g}, {self.polar_upper:.6g}]  lam={self.lam:.6g}"
        )


def decide_status(polar_lower: float, polar_upper: float, lam: float, relative_gap: float,
                  tol: float, polar_rtol: float) -> str:
    """Status rule of docs: theory/duality-gap-and-status, 'The status rule'.

    ``"global"`` needs a finite (valid) ``polar_upper``.
    """
    thresh = lam * (1.0 + polar_rtol)
    if math.isfinite(polar_upper) and polar_upper <= thresh and relative_gap <= tol:
        return "global"
    if polar_lower > thresh:
        return "not_optimal"
    return "unverified"


def assemble_certificate(objective: float, lower_bound: float, dual_scale: float,
                         bound: PolarBound, lam: float, *, tol: float, polar_rtol: float,
                         scale: float = 0.0, degree_matched: bool = True) -> Certificate:
    """The certificate from its parts: ``gap = max(P − L, 0)``, the relative gap and the status.

    ``objective`` is ``P``, ``lower_bound`` the dual value ``L`` of ``Λ = dual_scale·G`` (or
    ``−inf`` when no dual point is claimed), ``bound`` the polar bracket, ``scale`` the
    objective of the zero model ``ℓ(0)`` (the floor of :func:`relative_to`).  With
    ``degree_matched=False`` (a map and regularizer of different degrees, where the polar says
    nothing about optimality) the bracket is reported but the status is decided as if it were
    ``[−inf, inf]``: never ``"global"`` nor ``"not_optimal"``.  Every family (matrix, tensor,
    network) builds its certificate here.
    """
    gap = max(float(objective) - float(lower_bound), 0.0)
    rel = relative_to(gap, objective, scale)
    judged = (bound.lower, bound.upper) if degree_matched else (-math.inf, math.inf)
    status = decide_status(*judged, lam, rel, tol, polar_rtol)
    return Certificate(
        objective=float(objective), lower_bound=float(lower_bound), gap=float(gap),
        relative_gap=float(rel), polar_lower=float(bound.lower), polar_upper=float(bound.upper),
        lam=float(lam), dual_scale=float(dual_scale), status=status, method=bound.method,
        tol=float(tol),
    )


def certificate_from_bound(loss: Loss, z: np.ndarray, g: np.ndarray, bound: PolarBound,
                           penalty: float, lam: float, *, tol: float,
                           polar_rtol: float = 1e-3) -> Certificate:
    """Build the certificate of an iterate from its output ``z``, ``G = −∇ℓ(z)`` and a polar bound.

    ``penalty`` is ``Σθ(Xᵢ)`` of the factorization (product form, after rebalancing).
    """
    objective = loss.value(z) + lam * penalty
    if bound.has_upper:
        rho = bound.upper
        c_max = 1.0 if rho <= lam else lam / rho
        c = loss.best_dual_scale(g, c_max)
        lower = loss.dual_value(c * g)
    else:
        c, lower = 0.0, -math.inf
    scale = loss.value(np.zeros_like(z))
    return assemble_certificate(objective, lower, c, bound, lam, tol=tol, polar_rtol=polar_rtol,
                                scale=scale)
