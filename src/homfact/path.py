"""Regularization path: ``λ_max = Ω°(−∇ℓ(0))`` down a geometric grid, warm-started, certified."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .certificate import Certificate
from .lam_rules import zero_solution_lam_max as zero_solution_lam_max  # re-export
from .meta import grow
from .problems import check_lam
from .registry import get_model

__all__ = ["PathResult", "lam_max", "regularization_path"]


def lam_max(model: str, Y, **params) -> float:
    """``λ_max`` of a model of :mod:`homfact.registry`, one ``float`` for every model.

    ``λ ≥ λ_max`` gives the zero solution.  Exact (the smallest such ``λ``) for ``"low_rank"``
    (``‖Y‖₂``, alias ``"lowrank"``), ``"completion"`` (``‖P_Ω Y‖₂``), ``"rpca"``
    (``‖γ·clip(P_Ω Y, ±1/γ)‖₂``, needs ``gamma=``) and ``"nmf"`` (``‖X‖₂`` for ``X ≥ 0``, to
    the rigorous upper end of a ``10⁻⁵`` bracket); a rigorous upper bound for ``"dictionary"``
    (``gamma=``, default ``"auto"`` as the estimator) and ``"cp"`` (``gauges=``,
    ``nonnegative=``), whose exact values are NP-hard.  ``params`` are passed to the model's
    rule (:attr:`homfact.registry.ModelSpec.lam_max_rule`).
    """
    return get_model(model, need="lam_max").lam_max(Y, **params)


@dataclass
class PathResult:
    """One certified fit per ``λ`` (decreasing)."""

    lams: np.ndarray
    ranks: list[int] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    factors: list[list[np.ndarray]] = field(default_factory=list)
    lam_max: float = 0.0

    @property
    def objectives(self) -> np.ndarray:
        return np.array([c.objective for c in self.certificates])

    @property
    def statuses(self) -> list[str]:
        return [c.status for c in self.certificates]


def regularization_path(Y, model: str = "low_rank", *, lams=None, n_lams: int = 10,
                        lam_min_ratio: float = 0.05, tol: float = 1e-6, max_iter: int = 200,
                        max_rank: int | None = None, time_limit: float | None = None,
                        random_state=None) -> PathResult:
    """Fit a decreasing grid of ``λ`` with warm starts; every point carries its certificate.

    Without ``lams`` the grid is ``n_lams`` geometric values from ``λ_max`` (zero solution,
    included as the first point) down to ``lam_min_ratio·λ_max``.
    """
    spec = get_model(model, need="path")
    Y = spec.prepare_data(Y)  # once, not per lam (e.g. the observed entries of a completion)
    top = spec.lam_max(Y)
    if lams is None:
        if not (isinstance(n_lams, int) and n_lams >= 1):
            raise ValueError(f"n_lams must be an integer >= 1, got {n_lams!r}")
        if not 0 < lam_min_ratio < 1:
            raise ValueError(f"lam_min_ratio must be in (0, 1), got {lam_min_ratio!r}")
        lams = top * np.geomspace(1.0, lam_min_ratio, n_lams)
    else:
        lams = np.array([check_lam(v, "lams") for v in np.atleast_1d(lams)], dtype=float)
        lams = np.sort(lams)[::-1]
    result = PathResult(np.asarray(lams, dtype=float), lam_max=top)
    factors = None
    for lam in result.lams:
        res = grow(spec.build(Y, float(lam)), factors, tol=tol, max_iter=max_iter,
                   max_rank=max_rank, time_limit=time_limit, random_state=random_state)
        factors = res.factors
        result.ranks.append(res.rank)
        result.certificates.append(res.certificate)
        result.factors.append([f.copy() for f in res.factors])
    return result
