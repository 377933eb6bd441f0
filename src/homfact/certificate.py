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
``"global_probabilistic"`` when only a probabilistic polar bound (valid with probability
``≥ 1 − δ``, :attr:`homfact.polar.PolarBound.upper_probabilistic`) certifies and the polar was
built with ``allow_probabilistic=True`` (opt-in; ``δ`` is recorded);
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

#: ``"global_probabilistic"``: certified with probability ``≥ 1 − δ`` only (opt-in, see
#: :func:`decide_status` and docs: theory/duality-gap-and-status, 'Probabilistic status')
STATUSES = ("global", "global_probabilistic", "unverified", "not_optimal")



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
    status : ``"global"``, ``"global_probabilistic"``, ``"unverified"`` or ``"not_optimal"``.
    method : how the polar bounds were obtained (and, for ``"global_probabilistic"``, that the
        status rests on the Kuczyński–Woźniakowski bound and its ``δ``).
    tol : relative-gap tolerance used to decide the status.
    polar_upper_probabilistic : an upper bound on ``Ω°(G)`` valid with probability
        ``≥ 1 − delta`` over the polar's random start (``inf`` if none).
    lower_bound_probabilistic, relative_gap_probabilistic : ``L`` and the relative gap of the
        dual point scaled by ``polar_upper_probabilistic``; computed only when the polar was
        built with ``allow_probabilistic=True`` (else ``−inf`` and ``inf``).  **They hold with
        probability ≥ 1 − delta only**: with ``ρ_up`` below ``Ω°(G)`` the dual point is
        infeasible.  ``lower_bound``, ``gap`` and ``relative_gap`` always come from the
        deterministic ``polar_upper`` and hold with certainty.
    delta : the failure probability ``δ`` of the probabilistic bound (``None`` if none).
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
    polar_upper_probabilistic: float = math.inf
    lower_bound_probabilistic: float = -math.inf
    relative_gap_probabilistic: float = math.inf
    delta: float | None = None

    @property
    def is_global(self) -> bool:
        """Certified with certainty (status ``"global"``)."""
        return self.status == "global"

    @property
    def is_certified(self) -> bool:
        """Status ``"global"`` or, opted in, ``"global_probabilistic"`` (probability
        ``≥ 1 − delta``)."""
        return self.status in ("global", "global_probabilistic")

    @property
    def status_relative_gap(self) -> float:
        """The relative gap the status rests on: ``relative_gap_probabilistic`` for
        ``"global_probabilistic"``, else ``relative_gap``."""
        return (self.relative_gap_probabilistic if self.status == "global_probabilistic"
                else self.relative_gap)

    def to_dict(self) -> dict:
        """JSON-friendly dictionary (``inf`` becomes ``None``)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        text = (
            f"status={self.status}  objective={self.objective:.10g}  "
            f"lower_bound={self.lower_bound:.10g}  relative_gap={self.relative_gap:.3e}  "
            f"polar∈[{self.polar_lower:.6g}, {self.polar_upper:.6g}]  lam={self.lam:.6g}"
        )
        if self.delta is not None:
            text += (f"  polar_upper_probabilistic={self.polar_upper_probabilistic:.6g}"
                     f"  relative_gap_probabilistic={self.relative_gap_probabilistic:.3e}"
                     f"  delta={self.delta:.3g}")
        return text


def decide_status(polar_lower: float, polar_upper: float, lam: float, relative_gap: float,
                  tol: float, polar_rtol: float, *,
                  polar_upper_probabilistic: float = math.inf,
                  relative_gap_probabilistic: float = math.inf) -> str:
    """Status rule of docs: theory/duality-gap-and-status, 'The status rule'.

    ``"global"`` needs a finite (valid) ``polar_upper``.  ``"global_probabilistic"`` needs the
    deterministic rule to fail and ``polar_upper_probabilistic ≤ λ(1+ε)`` with
    ``relative_gap_probabilistic ≤ tol``; callers pass these two only when the user opted in
    (their defaults never certify).
    """
    thresh = lam * (1.0 + polar_rtol)
    if math.isfinite(polar_upper) and polar_upper <= thresh and relative_gap <= tol:
        return "global"
    if polar_lower > thresh:
        return "not_optimal"
    if (math.isfinite(polar_upper_probabilistic) and polar_upper_probabilistic <= thresh
            and relative_gap_probabilistic <= tol):
        return "global_probabilistic"
    return "unverified"


def assemble_certificate(objective: float, lower_bound: float, dual_scale: float,
                         bound: PolarBound, lam: float, *, tol: float, polar_rtol: float,
                         scale: float = 0.0, degree_matched: bool = True,
                         lower_bound_probabilistic: float = -math.inf) -> Certificate:
    """The certificate from its parts: ``gap = max(P − L, 0)``, the relative gap and the status.

    ``objective`` is ``P``, ``lower_bound`` the dual value ``L`` of ``Λ = dual_scale·G`` (or
    ``−inf`` when no dual point is claimed), ``bound`` the polar bracket, ``scale`` the
    objective of the zero model ``ℓ(0)`` (the floor of :func:`relative_to`).  With
    ``degree_matched=False`` (a map and regularizer of different degrees, where the polar says
    nothing about optimality) the bracket is reported but the status is decided as if it were
    ``[−inf, inf]``: never ``"global"`` nor ``"not_optimal"``.  Every family (matrix, tensor,
    network) builds its certificate here.

    ``lower_bound_probabilistic`` is the dual value of the point scaled by
    ``bound.upper_probabilistic`` (valid with probability ``≥ 1 − δ``); it enters the status
    (``"global_probabilistic"``) only when ``bound.allow_probabilistic`` is set, and the method
    then says so and states ``δ``.
    """
    gap = max(float(objective) - float(lower_bound), 0.0)
    rel = relative_to(gap, objective, scale)
    judged = (bound.lower, bound.upper) if degree_matched else (-math.inf, math.inf)
    opted = bool(bound.allow_probabilistic) and degree_matched and bound.delta is not None
    rel_p = math.inf
    if opted and lower_bound_probabilistic > -math.inf:
        rel_p = relative_to(max(float(objective) - float(lower_bound_probabilistic), 0.0),
                            objective, scale)
    up_p = float(bound.upper_probabilistic) if opted else math.inf
    status = decide_status(*judged, lam, rel, tol, polar_rtol, polar_upper_probabilistic=up_p,
                           relative_gap_probabilistic=rel_p)
    method = bound.method
    if status == "global_probabilistic":
        method += (f"; status rests on the Kuczynski-Wozniakowski bound, delta={bound.delta:g} "
                   f"(holds with probability >= 1 - delta)")
    return Certificate(
        objective=float(objective), lower_bound=float(lower_bound), gap=float(gap),
        relative_gap=float(rel), polar_lower=float(bound.lower), polar_upper=float(bound.upper),
        lam=float(lam), dual_scale=float(dual_scale), status=status, method=method,
        tol=float(tol), polar_upper_probabilistic=float(bound.upper_probabilistic),
        lower_bound_probabilistic=float(lower_bound_probabilistic) if opted else -math.inf,
        relative_gap_probabilistic=float(rel_p), delta=bound.delta,
    )


def certificate_from_bound(loss: Loss, z: np.ndarray, g: np.ndarray, bound: PolarBound,
                           penalty: float, lam: float, *, tol: float,
                           polar_rtol: float = 1e-3) -> Certificate:
    """Build the certificate of an iterate from its output ``z``, ``G = −∇ℓ(z)`` and a polar bound.

    ``penalty`` is ``Σθ(Xᵢ)`` of the factorization (product form, after rebalancing).
    ``z`` and ``g`` may be distributed outputs supporting ``*`` by a float (the zero output is
    ``z * 0.0``).  The dual point uses the deterministic ``bound.upper`` (``lower_bound`` always
    valid); when the polar opted in (``bound.allow_probabilistic``) a second dual point scaled
    by ``bound.upper_probabilistic`` gives ``lower_bound_probabilistic`` (valid with
    probability ``≥ 1 − δ`` only).
    """
    objective = loss.value(z) + lam * penalty
    if bound.has_upper:
        c, lower = _dual_point(loss, g, bound.upper, lam)
    else:
        c, lower = 0.0, -math.inf
    lower_p = -math.inf
    if (bound.allow_probabilistic and bound.delta is not None
            and math.isfinite(bound.upper_probabilistic)):
        lower_p = lower if bound.upper_probabilistic >= bound.upper else \
            _dual_point(loss, g, bound.upper_probabilistic, lam)[1]
    scale = loss.value(z * 0.0)
    return assemble_certificate(objective, lower, c, bound, lam, tol=tol, polar_rtol=polar_rtol,
                                scale=scale, lower_bound_probabilistic=lower_p)


def _dual_point(loss: Loss, g, rho: float, lam: float) -> tuple[float, float]:
    """``(c, L)``: the best dual scale ``c ≤ c_max = min(1, λ/ρ)`` and its dual value; the point
    ``cG`` is feasible whenever ``ρ ≥ Ω°(G)``."""
    c_max = 1.0 if rho <= lam else lam / rho
    c = loss.best_dual_scale(g, c_max)
    return c, loss.dual_value(c * g)
