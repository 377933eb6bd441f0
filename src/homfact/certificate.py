"""The optimality certificate (DESIGN §2, THEORY §f).

Given an iterate ``X`` with output ``Z``, ``G = −∇ℓ(Z)`` and a polar bracket
``ρ_lo ≤ Ω°(G) ≤ ρ_up``:

* dual point ``Λ = c·G`` with ``0 ≤ c ≤ c_max = min(1, λ/ρ_up)`` (feasible: ``Ω°(Λ) ≤ λ``),
  ``c`` chosen to maximize the dual value;
* lower bound ``L = −ℓ*(−Λ) ≤ P*``;
* upper bound ``P = ℓ(Z) + λΣθ(Xᵢ) ≥ P*`` (the factorized objective);
* ``gap = P − L ≥ P − P* ≥ 0`` and ``relative_gap = gap / max(1, |P|)``.

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

__all__ = ["STATUSES", "Certificate", "certificate_from_bound", "decide_status"]

STATUSES = ("global", "unverified", "not_optimal")


@dataclass(frozen=True)
class Certificate:
    """Bounds on the optimum and an honest optimality status.

    Attributes
    ----------
    objective : factorized objective ``P = ℓ(Z) + λΣθ(Xᵢ)`` (an upper bound on the optimum).
    lower_bound : ``L = −ℓ*(−cG)``, a lower bound on the optimum (``−inf`` if none).
    gap, relative_gap : ``P − L`` and ``(P − L)/max(1, |P|)`` (DESIGN §2).  The gap is a
        rigorous bound on ``P − P*``; note the normalization: for objectives below 1 the
        "relative" gap is an absolute one, so rescale tiny data (or read ``gap``) when that
        matters.
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
    """Status rule of DESIGN §2; ``"global"`` needs a finite (valid) ``polar_upper``."""
    thresh = lam * (1.0 + polar_rtol)
    if math.isfinite(polar_upper) and polar_upper <= thresh and relative_gap <= tol:
        return "global"
    if polar_lower > thresh:
        return "not_optimal"
    return "unverified"


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
    gap = max(objective - lower, 0.0)
    rel = gap / max(1.0, abs(objective))
    status = decide_status(bound.lower, bound.upper, lam, rel, tol, polar_rtol)
    return Certificate(
        objective=float(objective), lower_bound=float(lower), gap=float(gap),
        relative_gap=float(rel), polar_lower=float(bound.lower), polar_upper=float(bound.upper),
        lam=float(lam), dual_scale=float(c), status=status, method=bound.method, tol=float(tol),
    )
