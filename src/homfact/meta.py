"""The meta-algorithm: descend → prune/rebalance → polar → certify → grow.

Theory: docs: theory/descent-and-growth, 'The meta-algorithm' and 'Checkpoint and resume'.

:class:`Problem` bundles a loss, a map, one gauge per factor block, ``λ`` and a polar solver.
:func:`grow` runs the loop from any start (rank 0 included) and always returns factors together
with the certificate computed *for those factors*.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _checkpoint as _ckpt
from .certificate import Certificate, certificate_from_bound
from .gauges import L2, Gauge, NonNegative
from .interfaces import LocalSolver, MapProtocol, PolarSolver, growth_margin, merge_parallel
from .interfaces import min_candidates as polar_min_candidates
from .losses import HuberLoss, Loss, SquaredLoss, _vdot
from .maps import Bilinear, CPMap, MaskedBilinear
from .polar import PolarBound, TensorPolar, polar_solver_for
from .solvers import als_dense, als_masked, orthogonalize_l2, prox_linear
from .solvers.cp_als import cp_als
from .solvers.hals import hals
from .solvers.huber_als import als_huber
from .solvers.prox_linear import rebalance_columns

__all__ = ["LOCAL_SOLVERS", "GrowResult", "Problem", "certify_factors", "grow",
           "register_local_solver"]

#: ε of the status rule ``ρ_up ≤ λ(1+ε)``; soundness rests on the gap, whose dual point is
#: scaled by ``c ≤ λ/ρ_up`` and so stays feasible for any ``ρ_up``.
DEFAULT_POLAR_RTOL = 1e-3

#: local descent is never asked for a relative decrease below this multiple of ``tol``
_INNER_TOL_FLOOR = 1e-6


#: the local solvers chosen by name (``Problem(local_solver=name)``), see :class:`LocalSolver`
LOCAL_SOLVERS: dict[str, LocalSolver] = {}

#: ``name -> (predicate on the problem, message)``: when a registered solver applies
_SOLVER_REQUIREMENTS: dict[str, tuple[Callable[[Problem], bool], str]] = {}


def register_local_solver(name: str, solver: LocalSolver, *,
                          requires: Callable[[Problem], bool] | None = None,
                          requirement: str = "") -> None:
    """Register ``solver`` under ``name``; ``requires(problem)`` false raises ``ValueError``
    with the message ``requirement`` when a problem asks for it."""
    if not isinstance(name, str) or not name or name == "auto":
        raise ValueError(f"name must be a non-empty string other than 'auto', got {name!r}")
    if not callable(solver):
        raise TypeError(f"solver must be callable, got {type(solver).__name__}")
    LOCAL_SOLVERS[name] = solver
    if requires is not None:
        _SOLVER_REQUIREMENTS[name] = (requires, requirement)
    else:
        _SOLVER_REQUIREMENTS.pop(name, None)


def _descend_als(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Ridge ALS (:func:`als_dense`), soft-impute ALS on a masked map (:func:`als_masked`)."""
    if isinstance(problem.mapping, MaskedBilinear):
        res = als_masked(problem.mapping, problem.loss.y, *factors, problem.lam,
                         method="softimpute", max_sweeps=max_sweeps, tol=tol, deadline=deadline)
    else:
        res = als_dense(problem.loss.y, *factors, problem.lam, max_sweeps=max_sweeps, tol=tol,
                        deadline=deadline)
    return res.factors, res.n_sweeps


def _descend_als_exact(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Row-wise exact ALS on a masked map, ridge ALS (:func:`als_dense`) on a dense one."""
    if isinstance(problem.mapping, MaskedBilinear):
        res = als_masked(problem.mapping, problem.loss.y, *factors, problem.lam, method="exact",
                         max_sweeps=max_sweeps, tol=tol, deadline=deadline)
    else:
        res = als_dense(problem.loss.y, *factors, problem.lam, max_sweeps=max_sweeps, tol=tol,
                        deadline=deadline)
    return res.factors, res.n_sweeps


def _descend_als_huber(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """IRLS-majorized ALS for the Huber loss (:func:`als_huber`)."""
    res = als_huber(problem.mapping, problem.loss.y, *factors, problem.lam,
                    delta=problem.loss.delta, weight=problem.loss.weight,
                    max_sweeps=max_sweeps, tol=tol, deadline=deadline)
    return res.factors, res.n_sweeps


def _descend_hals(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Non-negative HALS (:func:`hals`)."""
    res = hals(problem.loss.y, *factors, problem.lam, max_sweeps=max_sweeps, tol=tol,
               deadline=deadline)
    return res.factors, res.n_sweeps


def _descend_cp_als(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Majorize–minimize CP-ALS on the product form (:func:`cp_als`)."""
    res = cp_als(problem.mapping, problem.loss.y, factors, problem.lam, max_sweeps=max_sweeps,
                 tol=tol, deadline=deadline,
                 nonnegative=tuple(g.nonnegative for g in problem.gauges))
    return res.factors, res.n_sweeps


def _descend_prox_linear(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Block prox-linear descent, any loss, map and gauges (:func:`prox_linear`)."""
    res = prox_linear(problem.loss, problem.mapping, list(problem.gauges), problem.lam, factors,
                      max_sweeps=max_sweeps, tol=tol, deadline=deadline)
    return res.factors, res.n_sweeps


_ALS_NEEDS = "ALS needs the squared loss with L2/L2 bilinear atoms"
register_local_solver("als", _descend_als, requires=lambda p: p.is_nuclear_squared,
                      requirement=_ALS_NEEDS)
register_local_solver("als-exact", _descend_als_exact, requires=lambda p: p.is_nuclear_squared,
                      requirement=_ALS_NEEDS)
register_local_solver("als-huber", _descend_als_huber, requires=lambda p: p.is_nuclear_huber,
                      requirement="als-huber needs the Huber loss with L2/L2 bilinear atoms")
register_local_solver("hals", _descend_hals, requires=lambda p: p.is_nonnegative_squared,
                      requirement="hals needs the squared loss with NonNegative(L2) dense "
                                  "bilinear atoms")
register_local_solver("prox_linear", _descend_prox_linear)
register_local_solver("cp-als", _descend_cp_als, requires=lambda p: p.is_cp_l2_squared,
                      requirement="cp-als needs the squared loss with CP atoms and L2 gauges "
                                  "(NonNegative(L2) allowed on a dense map)")


@dataclass
class Problem:
    """``min_X ℓ(Φ(X)) + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` with its polar solver.

    ``mapping`` follows :class:`homfact.interfaces.MapProtocol`, ``polar``
    :class:`homfact.interfaces.PolarSolver`.  ``local_solver`` is a name registered in
    :data:`LOCAL_SOLVERS` (:func:`register_local_solver`), ``"auto"``, or a callable following
    :class:`homfact.interfaces.LocalSolver`.  Built-in names: ``"als"`` (ridge ALS;
    soft-impute ALS for completion), ``"als-exact"`` (row-wise exact ALS for completion),
    ``"als-huber"``, ``"hals"``, ``"cp-als"``, ``"prox_linear"`` (block prox-linear, any
    problem); :mod:`homfact.problems` adds ``"bcd"`` (sparse dictionary learning).
    ``"auto"`` picks ALS for the squared loss with ℓ2/ℓ2 bilinear atoms, ``"als-huber"`` for
    the Huber loss with ℓ2/ℓ2 atoms, ``"hals"`` for NonNegative(ℓ2) dense atoms, ``"cp-als"``
    (majorize–minimize CP-ALS on the product form) for CP tensor atoms
    (:class:`homfact.maps.CPMap`) with the squared loss and ℓ2 gauges, and block prox-linear
    otherwise; CP atoms get the :class:`homfact.polar.TensorPolar` bracket when no polar is
    given.  After construction ``local_solver`` holds the name of the solver that runs (a
    callable's ``__name__``) and :attr:`local_step` the callable itself.
    """

    loss: Loss
    mapping: MapProtocol
    gauges: tuple[Gauge, ...]
    lam: float
    polar: PolarSolver | None = None
    local_solver: str | LocalSolver = "auto"

    def __post_init__(self) -> None:
        if not (isinstance(self.lam, int | float | np.floating | np.integer)
                and math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        self.lam = float(self.lam)
        if len(self.gauges) != self.mapping.n_blocks:
            raise ValueError(f"need {self.mapping.n_blocks} gauges, got {len(self.gauges)}")
        if self.polar is None and isinstance(self.mapping, CPMap):
            self.polar = TensorPolar(tuple(self.gauges))
        if self.polar is None:
            self.polar = polar_solver_for(*self.gauges)
        self.local_solver, self._local_step = self._resolve_local_solver(self.local_solver)

    def _auto_local_solver(self) -> str:
        """The solver ``"auto"`` stands for (see the class docstring)."""
        if self.is_cp_l2_squared:
            return "cp-als"
        if self.is_nuclear_squared:
            return "als"
        if self.is_nuclear_huber:
            return "als-huber"
        if self.is_nonnegative_squared:
            return "hals"
        return "prox_linear"

    def _resolve_local_solver(self, spec) -> tuple[str, LocalSolver]:
        """``(name, callable)`` for a registered name, ``"auto"`` or a callable; raises
        ``ValueError`` naming ``local_solver`` for an unknown name or an unmet requirement."""
        if not isinstance(spec, str) and callable(spec):
            return getattr(spec, "__name__", type(spec).__name__), spec
        if isinstance(spec, str) and spec == "auto":
            spec = self._auto_local_solver()
        if not isinstance(spec, str) or spec not in LOCAL_SOLVERS:
            raise ValueError(f"local_solver must be one of {tuple(LOCAL_SOLVERS)} or a callable, "
                             f"got {spec!r}")
        requires, message = _SOLVER_REQUIREMENTS.get(spec, (None, ""))
        if requires is not None and not requires(self):
            raise ValueError(f"{message} (local_solver={spec!r})")
        return spec, LOCAL_SOLVERS[spec]

    @property
    def local_step(self) -> LocalSolver:
        """The local solver that :meth:`descend` runs."""
        return self._local_step

    @property
    def is_cp_l2_squared(self) -> bool:
        """Squared loss and CP atoms with an ``L2`` gauge on every mode (dense or masked map),
        or ``L2``/``NonNegative(L2)`` gauges on a dense map (MM CP-ALS handles both)."""
        if not (type(self.loss) is SquaredLoss and isinstance(self.mapping, CPMap)):
            return False
        if all(type(g) is L2 for g in self.gauges):
            return True
        return type(self.mapping) is CPMap and all(
            type(g) is L2 or (type(g) is NonNegative and type(g.base) is L2)
            for g in self.gauges)

    @property
    def is_nuclear_squared(self) -> bool:
        return (type(self.loss) is SquaredLoss and isinstance(self.mapping, Bilinear)
                and all(type(g) is L2 for g in self.gauges))

    @property
    def is_nuclear_huber(self) -> bool:
        return (type(self.loss) is HuberLoss and isinstance(self.mapping, Bilinear)
                and all(type(g) is L2 for g in self.gauges))

    @property
    def is_nonnegative_squared(self) -> bool:
        return (type(self.loss) is SquaredLoss and type(self.mapping) is Bilinear
                and all(type(g) is NonNegative and type(g.base) is L2 for g in self.gauges))

    @property
    def degree(self) -> int:
        return self.mapping.degree

    @property
    def negligible_penalty(self) -> float:
        """Slices with ``θᵢ`` below ``1e-12·‖y‖`` are numerically zero and pruned
        (``‖y‖ = √⟨y, y⟩`` through :func:`homfact.losses._vdot`, so an output representation
        that is not a NumPy array computes it itself)."""
        if not hasattr(self, "_negligible"):
            self._negligible = 1e-12 * math.sqrt(max(_vdot(self.loss.y, self.loss.y), 0.0))
        return self._negligible

    def slice_penalties(self, factors: list[np.ndarray]) -> np.ndarray:
        """``θᵢ = Πₖ κₖ(xᵢᵏ)`` for every slice ``i``."""
        vals = np.ones(factors[0].shape[1])
        for g, X in zip(self.gauges, factors, strict=True):
            vals = vals * g.value(X)
        return vals

    def penalty(self, factors: list[np.ndarray]) -> float:
        """``Σᵢ θᵢ`` (product form)."""
        return float(self.slice_penalties(factors).sum())

    def objective(self, factors: list[np.ndarray]) -> float:
        return self.loss.value(self.mapping.forward(factors)) + self.lam * self.penalty(factors)

    def descend(self, factors: list[np.ndarray], *, tol: float, max_sweeps: int,
                deadline: float):
        """Local descent from ``factors`` (no growth)."""
        if factors[0].shape[1] == 0:
            return factors, 0
        return self._local_step(self, factors, tol=tol, max_sweeps=max_sweeps,
                                deadline=deadline)

    def prune(self, factors: list[np.ndarray], rtol: float = 1e-10) -> list[np.ndarray]:
        """Rebalance every slice and drop slices whose ``θᵢ`` is negligible (whole slices)."""
        if factors[0].shape[1] == 0:
            return factors
        factors = merge_parallel(self.mapping, factors)  # CP: fold copies of one atom together
        if all(type(g) is L2 for g in self.gauges) and len(factors) == 2:
            return list(orthogonalize_l2(*factors, prune_rtol=rtol,
                                         prune_atol=self.negligible_penalty))
        factors, _ = rebalance_columns(list(self.gauges), factors)
        theta = self.slice_penalties(factors)
        keep = theta > max(rtol * theta.max(initial=0.0), self.negligible_penalty)
        return [X[:, keep] for X in factors]


@dataclass
class GrowResult:
    """Result of :func:`grow`: factors, their certificate, the per-iteration history."""

    factors: list[np.ndarray]
    certificate: Certificate
    history: list[dict] = field(default_factory=list)
    n_iter: int = 0
    stop_reason: str = ""
    elapsed: float = 0.0
    #: outer iterations restored from a checkpoint (``grow(resume=True)``; 0: a fresh start)
    resumed_from: int = 0

    @property
    def rank(self) -> int:
        return int(self.factors[0].shape[1])


def check_tol(tol) -> float:
    """``tol`` must be a number in (0, 1): a relative gap of 1 certifies nothing."""
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    return float(tol)


def _empty_factors(problem: Problem) -> list[np.ndarray]:
    return [np.zeros((n, 0)) for n in problem.mapping.block_sizes]


def certify_factors(problem: Problem, factors: list[np.ndarray], *, tol: float = 1e-6,
                    polar_rtol: float = DEFAULT_POLAR_RTOL, rng=None, n_candidates: int = 1,
                    warm_start=None) -> tuple[Certificate, PolarBound, np.ndarray, np.ndarray]:
    """Certificate of given factors (no descent): ``(certificate, polar bound, z, G)``."""
    z = problem.mapping.forward(factors)
    g = problem.loss.neg_gradient(z)
    bound = problem.polar(problem.mapping.operator(g), n_candidates=n_candidates, rng=rng,
                          warm_start=warm_start)
    cert = certificate_from_bound(problem.loss, z, g, bound, problem.penalty(factors),
                                  problem.lam, tol=tol, polar_rtol=polar_rtol)
    return cert, bound, z, g


def _append_atoms(problem: Problem, factors: list[np.ndarray], z: np.ndarray, g: np.ndarray,
                  bound: PolarBound, room: int) -> tuple[list[np.ndarray], int]:
    """Append the polar maximizer (and further candidates) with an exact line search each.

    Atom ``x`` has ``θ(x) = 1``; the step minimizes ``ℓ(z + s φ(x)) + λ s`` over ``s ≥ 0`` and the
    slice ``s^{1/p} x`` is appended (every block scaled by ``s^{1/p}``).  Each candidate is
    searched at the output updated by the previous ones, so every append decreases ``F``.
    For the squared loss the step is closed-form, ``s = (⟨G, A(φ)⟩ − λ)/‖A(φ)‖²``, and ``G`` is
    updated in place (``g`` is consumed).
    """
    atoms = [(bound.maximizer, bound.lower), *bound.candidates]
    new_cols: list[list[np.ndarray]] = [[] for _ in factors]
    p = problem.degree
    mapping, lam = problem.mapping, problem.lam
    quadratic = type(problem.loss) is SquaredLoss
    # maps with a growth margin (CP) skip atoms whose value is within it of λ (see grow)
    grow_thresh = lam * (1.0 + growth_margin(mapping))
    for cols, _ in atoms[:room]:
        cols = [np.asarray(c, dtype=float) for c in cols]
        if quadratic:
            nrm2 = mapping.atom_sqnorm(cols)
            inner = mapping.atom_inner(g, cols)
            s = max(0.0, (inner - lam) / nrm2) if nrm2 > 0 and inner > grow_thresh else 0.0
            if s > 0:
                g = mapping.subtract_atom(g, s, cols)
        else:
            d = mapping.atom(cols)
            s = problem.loss.line_search(z, d, lam)
            if s > 0:
                z = z + s * d
        if s <= 0:
            continue
        scale = s ** (1.0 / p)
        for k, c in enumerate(cols):
            new_cols[k].append(scale * c)
    n_added = len(new_cols[0])
    if n_added:
        factors = [np.column_stack([X, *cols]) for X, cols in zip(factors, new_cols, strict=True)]
    return factors, n_added


def _as_strong(status: str, reference: str) -> bool:
    """``status`` certifies at least as much as ``reference`` (a certified one): ``"global"``
    always, ``"global_probabilistic"`` only against itself."""
    return status == "global" or (status == reference and _certified(status))


def _drop_negligible(problem: Problem, X: list[np.ndarray], cert: Certificate, record: dict, *,
                     tol: float, polar_rtol: float, rng, inner_tol: float, deadline: float,
                     rtol: float = 1e-3, polish_sweeps: int = 50):
    """Try removing slices with ``θᵢ ≤ rtol·maxⱼ θⱼ`` from a certified point.

    Local descent only shrinks such slices geometrically (ridge ALS never reaches zero), so
    they would inflate the reported rank.  They are removed and the rest is recertified as it
    stands, then, if needed, after a short polish (at most ``polish_sweeps`` sweeps).  The smaller
    factorization is kept only if it is certified at least as strongly (``"global"``, or
    ``"global_probabilistic"`` when the point was); otherwise the original point and its
    certificate are returned unchanged.
    """
    theta = problem.slice_penalties(X)
    small = theta <= max(rtol * theta.max(initial=0.0), problem.negligible_penalty)
    if not np.any(small):
        return X, cert, record
    X2 = problem.prune([F[:, ~small] for F in X])
    cert2, *_ = certify_factors(problem, X2, tol=tol, polar_rtol=polar_rtol, rng=rng)
    sweeps = 0
    if not _as_strong(cert2.status, cert.status):
        X2, sweeps = problem.descend(X2, tol=inner_tol, max_sweeps=polish_sweeps,
                                     deadline=deadline)
        X2 = problem.prune(X2)
        cert2, *_ = certify_factors(problem, X2, tol=tol, polar_rtol=polar_rtol, rng=rng)
    if not _as_strong(cert2.status, cert.status):
        return X, cert, record
    record = {**record, "objective": cert2.objective, "lower_bound": cert2.lower_bound,
              "rank": int(X2[0].shape[1]), "polar_lower": cert2.polar_lower,
              "polar_upper": cert2.polar_upper, "gap": cert2.gap,
              "relative_gap": cert2.relative_gap, "status": cert2.status,
              "sweeps": record["sweeps"] + sweeps, "dropped": int(small.sum())}
    return X2, cert2, record


# --------------------------------------------------------------------------------------------
# the steps of grow: start, history record, stop rules, growth, block size, tolerance schedule


def _start_factors(problem: Problem, factors: list[np.ndarray] | None) -> list[np.ndarray]:
    """The starting factors as float arrays (rank 0 for ``None``); raises ``ValueError`` when
    a slice lies outside the gauges' domain."""
    X = _empty_factors(problem) if factors is None else [np.asarray(f, float) for f in factors]
    if X[0].shape[1] and not np.all(np.isfinite(problem.slice_penalties(X))):
        raise ValueError("factors lie outside the gauges' domain (e.g. negative entries for a "
                         "NonNegative gauge, or NaN/inf values)")
    return X


def _history_record(problem: Problem, cert: Certificate, *, iteration: int, rank: int,
                    sweeps: int, inner_tol: float, t0: float) -> dict:
    """The history record of one outer iteration (``"added"`` is filled in by growth).

    With a probabilistic polar bound the record also holds ``polar_upper_probabilistic``,
    ``relative_gap_probabilistic`` and ``delta``: each certificate's ``δ`` covers that
    certificate alone, so a fit that stopped at the first of ``T`` such certificates holds
    with probability ``≥ 1 − Tδ`` (``T`` = the records with a ``delta``).
    """
    record = {
        "iteration": iteration, "lam": problem.lam, "objective": cert.objective,
        "lower_bound": cert.lower_bound,
        "rank": rank, "polar_lower": cert.polar_lower, "polar_upper": cert.polar_upper,
        "gap": cert.gap, "relative_gap": cert.relative_gap, "status": cert.status,
        "sweeps": sweeps, "inner_tol": inner_tol, "added": 0,
        "elapsed": time.perf_counter() - t0,
    }
    if cert.delta is not None:
        record.update(polar_upper_probabilistic=cert.polar_upper_probabilistic,
                      relative_gap_probabilistic=cert.relative_gap_probabilistic,
                      delta=cert.delta)
    return record


def _negligible_growth(problem: Problem, cert: Certificate, bound: PolarBound,
                       growth_rtol: float | None) -> bool:
    """``growth_rtol`` rule (squared loss): the polar atom (``ρ_lo > λ``) would lower ``F`` by
    ``(ρ_lo − λ)²/(2‖A(φ)‖²) ≤ growth_rtol·|P|`` with its exact line search; it is then treated
    as no atom (descent polishes, then the loop stops)."""
    return (growth_rtol is not None and cert.polar_lower > problem.lam
            and type(problem.loss) is SquaredLoss
            and (cert.polar_lower - problem.lam) ** 2 / (
                2.0 * problem.mapping.atom_sqnorm(list(bound.maximizer)))
            <= growth_rtol * abs(cert.objective))


def _certified(status: str) -> bool:
    """The statuses that end the loop as ``"certified"``: ``"global"``, and
    ``"global_probabilistic"``, which a polar only reports when the user opted in to
    probabilistic upper bounds (it holds with probability ``≥ 1 − δ``, δ recorded in the
    certificate's method)."""
    return status in ("global", "global_probabilistic")


def _stop_before_growth(problem: Problem, cert: Certificate, *, iteration: int, max_iter: int,
                        deadline: float, rank: int, max_rank: float) -> str | None:
    """Stop rules checked on each certificate, in order: ``"certified"`` (status
    ``"global"``, or ``"global_probabilistic"``), ``"time_limit"``, ``"max_iter"`` (also past
    it: a resumed fit runs at least one iteration), ``"max_rank"`` (an atom above ``λ`` but
    no room); ``None`` to go on growing."""
    if _certified(cert.status):
        return "certified"
    if time.perf_counter() > deadline:
        return "time_limit"
    if iteration >= max_iter:
        return "max_iter"
    if cert.polar_lower > problem.lam and rank >= max_rank:
        return "max_rank"
    return None


def _grow_along_polar(problem: Problem, X: list[np.ndarray], z: np.ndarray, g: np.ndarray,
                      bound: PolarBound, cert: Certificate, *, negligible: bool,
                      room: int) -> tuple[list[np.ndarray], int]:
    """Append up to ``room`` polar atoms when ``ρ_lo > λ(1 + growth_margin)`` and the growth is
    not negligible: a descent direction exists (status ``"not_optimal"``, or ``"unverified"``
    when the polar exceeds ``λ`` by less than the status rule's ε).  Maps may ask for a margin
    (CP: an existing atom attains ``⟨G, φ⟩ ≈ λ`` at stationarity, so a bracket polar would
    append near-duplicates)."""
    if cert.polar_lower > problem.lam * (1.0 + growth_margin(problem.mapping)) and not negligible:
        return _append_atoms(problem, X, z, g, bound, room)
    return X, 0


def _opted_in(cert: Certificate) -> bool:
    """The user opted in to probabilistic polar bounds (the certificate then carries the
    probabilistic dual value, docs: theory/duality-gap-and-status, 'Probabilistic status')."""
    return cert.delta is not None and cert.lower_bound_probabilistic > -math.inf


def _working_upper(cert: Certificate) -> float:
    """The polar upper bound that steers the loop: the deterministic one, or, opted in, the
    smaller of it and the probabilistic one (steering only; the status has its own rule)."""
    return min(cert.polar_upper, cert.polar_upper_probabilistic) if _opted_in(cert) \
        else cert.polar_upper


def _working_gap(cert: Certificate) -> float:
    """The relative gap that steers the loop (as :func:`_working_upper`)."""
    return min(cert.relative_gap, cert.relative_gap_probabilistic) if _opted_in(cert) \
        else cert.relative_gap


def _exact_polar(cert: Certificate) -> bool:
    """The polar bracket is tight (``ρ_up ≤ ρ_lo(1 + 1e-6)``)."""
    return _working_upper(cert) <= cert.polar_lower * (1 + 1e-6)


def _growth_regime(problem: Problem, cert: Certificate, *, n_added: int, prev_gap: float,
                   polar_rtol: float) -> str:
    """Classify an iteration that did not stop before growth.

    * ``"progress"``: atoms were added, status ``"not_optimal"``, and the gap does not stagnate
      (a stagnating gap, ``> 0.9×`` the previous one, counts only with an exact polar; with a
      bracket the gap is dominated by the loose upper bound);
    * ``"slow"``: atoms were added but growth steps are tiny or the gap stagnates;
    * ``"bracket"``: no atom found above ``λ``, yet ``ρ_up > λ(1+ε)`` (NP-hard polars);
    * ``"no_direction"``: no usable descent direction.
    """
    stagnating = _exact_polar(cert) and _working_gap(cert) > 0.9 * prev_gap
    if n_added and cert.status == "not_optimal" and not stagnating:
        return "progress"
    if n_added:
        return "slow"
    if _working_upper(cert) > problem.lam * (1 + polar_rtol):
        return "bracket"
    return "no_direction"


def _next_block_size(regime: str, *, n_added: int, k_cand: int, block_size: int) -> int:
    """Candidates asked of the polar next: doubled (up to ``block_size``) while every candidate
    is accepted, else the number accepted; ``1`` when growth is slow; unchanged otherwise."""
    if regime == "progress":
        return min(2 * k_cand, block_size) if n_added == k_cand else n_added
    if regime == "slow":
        return 1
    return k_cand


def _schedule_stop(regime: str, *, inner_tol: float, tol: float) -> str | None:
    """Stop rules after growth: ``"polar_inconclusive"`` when a bracket polar cannot certify
    after a polish at ``1e-2·tol`` (descent cannot close that part of the gap); ``"stalled"``
    when no descent direction is left and descent already ran to the floor."""
    if regime == "bracket" and inner_tol <= 1e-2 * tol:
        return "polar_inconclusive"
    if regime == "no_direction" and inner_tol <= _INNER_TOL_FLOOR * tol:
        return "stalled"
    return None


def _next_inner_tol(regime: str, problem: Problem, cert: Certificate, *, inner_tol: float,
                    tol: float) -> float:
    """The tolerance schedule of local descent (never above the current ``inner_tol``).

    * ``"progress"``: ``min(tol_in, max(1e-2·e, 1e-3·tol))`` with ``e`` the relative gap for an
      exact polar (or ``λ = 0``), else ``1e-2·(ρ_lo/λ − 1)`` (with a bracket polar the gap says
      little about descent: descend harder as the polar nears ``λ``);
    * ``"slow"``: ``max(tol_in/100, floor·tol)`` (the gap is now mostly descent's to close);
    * ``"bracket"``: ``1e-2·tol`` (polish once to a tight tolerance);
    * ``"no_direction"``: ``max(min(tol_in, 1e-2·gap)/100, floor·tol)``.
    """
    if regime == "progress":
        excess = _working_gap(cert) if _exact_polar(cert) or problem.lam == 0 else (
            1e-2 * (cert.polar_lower / problem.lam - 1.0))
        return min(inner_tol, max(1e-2 * excess, 1e-3 * tol))
    if regime == "slow":
        return max(inner_tol / 100, _INNER_TOL_FLOOR * tol)
    if regime == "bracket":
        return 1e-2 * tol
    return max(min(inner_tol, 1e-2 * _working_gap(cert)) / 100, _INNER_TOL_FLOOR * tol)


def _grow_step(problem: Problem, X: list[np.ndarray], z, g, bound: PolarBound,
               cert: Certificate, *, negligible: bool, room: int, prev_gap: float,
               polar_rtol: float, k_cand: int, block_size: int, inner_tol: float,
               tol: float) -> tuple[list[np.ndarray], int, int, float, str | None]:
    """Growth and what follows it, ``(X, n_added, k_cand, inner_tol, stop)``: growth along
    the polar (:func:`_grow_along_polar`), the regime (:func:`_growth_regime`), the block size
    (:func:`_next_block_size`), the stop rules after growth (:func:`_schedule_stop`) and the
    tolerance schedule (:func:`_next_inner_tol`, unchanged when the loop stops)."""
    X, n_added = _grow_along_polar(problem, X, z, g, bound, cert, negligible=negligible,
                                   room=room)
    regime = _growth_regime(problem, cert, n_added=n_added, prev_gap=prev_gap,
                            polar_rtol=polar_rtol)
    k_cand = _next_block_size(regime, n_added=n_added, k_cand=k_cand, block_size=block_size)
    stop = _schedule_stop(regime, inner_tol=inner_tol, tol=tol)
    if stop is None:
        inner_tol = _next_inner_tol(regime, problem, cert, inner_tol=inner_tol, tol=tol)
    if negligible and stop in ("polar_inconclusive", "stalled"):
        stop = "negligible_growth"
    return X, n_added, k_cand, inner_tol, stop


class _Checkpointer:
    """Writes the loop state every ``every`` outer iterations and at the end
    (:mod:`homfact._checkpoint`: format, atomic write, fingerprint)."""

    def __init__(self, path: Path, every: int, problem: Problem, settings: dict):
        self.path, self.every, self.problem, self.settings = path, int(every), problem, settings
        self.fingerprint = _ckpt.fingerprint(problem)

    def due(self, iteration: int, stop: str | None) -> bool:
        return stop is not None or iteration % self.every == 0

    def save(self, state: _ckpt.LoopState, rng: np.random.Generator) -> None:
        state.rng = _ckpt.rng_state(rng)
        state.polar = _ckpt.polar_state(self.problem.polar)
        _ckpt.save(self.path, state, self.fingerprint, self.settings)

    def load(self) -> _ckpt.LoopState | None:
        """The saved state, ``None`` when there is no file (a fresh start)."""
        if not self.path.exists():
            return None
        return _ckpt.load(self.path, self.fingerprint)


def grow(problem: Problem, factors: list[np.ndarray] | None = None, *, tol: float = 1e-6,
         max_rank: int | None = None, max_iter: int = 200, time_limit: float | None = None,
         polar_rtol: float | None = None, max_sweeps: int = 500, block_size: int = 16,
         random_state=None, callback: Callable[[dict], None] | None = None,
         growth_rtol: float | None = None, initial_inner_tol: float = 1e-3,
         checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
         resume: bool = False) -> GrowResult:
    """Descend → prune → polar → certify → grow, until certified or a budget runs out.

    Each outer iteration: local descent and pruning, a certificate (:func:`certify_factors`)
    and its record (:func:`_history_record`), the stop rules (:func:`_stop_before_growth`;
    a certified point first drops negligible slices, :func:`_drop_negligible`), growth along the
    polar (:func:`_grow_along_polar`), then the block size (:func:`_next_block_size`), the
    stop rules after growth (:func:`_schedule_stop`) and the tolerance schedule
    (:func:`_next_inner_tol`), all keyed by :func:`_growth_regime` (:func:`_grow_step`), and
    last the checkpoint (:class:`_Checkpointer`, :mod:`homfact._checkpoint`).

    Parameters
    ----------
    problem : the problem to solve.
    factors : starting factors (one ``n_k × r`` array per block); ``None`` starts from rank 0.
    tol : target relative duality gap for the ``"global"`` status.
    max_rank : cap on the number of slices (``None``: no cap).
    max_iter : cap on outer iterations (one certificate each); after a resume it counts the
        iterations before the checkpoint too (a resumed fit runs at least one).
    time_limit : wall-clock budget in seconds (after a resume: the time before the checkpoint
        counts, as its records' ``"elapsed"`` do).
    polar_rtol : ``ε`` of the status rule ``ρ_up ≤ λ(1+ε)`` (default ``1e-3``; the gap accounts
        exactly for any excess of ``ρ_up`` over ``λ`` through the dual scaling ``c ≤ λ/ρ_up``).
    max_sweeps : cap on local sweeps per outer iteration.
    block_size : largest number of atoms appended per outer iteration when the polar solver
        offers several candidates (ℓ2/ℓ2: the next singular pairs).  It doubles while every
        candidate is accepted and drops to 1 otherwise.
    callback : called with each history record.
    growth_rtol : optional (squared loss only): an atom found by the polar (value ``ρ_lo > λ``)
        that would lower the objective by at most ``growth_rtol·|P|`` when appended
        with its exact line search, ``(ρ_lo − λ)²/(2‖A(φ)‖²)``, is not appended: the loop
        polishes by descent as when no atom is found, then stops with
        ``stop_reason="negligible_growth"``.  The status stays as certified (``"not_optimal"``
        when ``ρ_lo > λ(1+ε)``: a descent direction exists, but a negligible one).  ``None``
        (the default) keeps the original behaviour.
    initial_inner_tol : relative-decrease tolerance of the first local descents (tightened
        as the loop proceeds); smaller values trade descent sweeps for outer iterations.
    checkpoint : path of a checkpoint file (``None``: none).  Every ``checkpoint_every``
        outer iterations and when the loop ends, the state the loop would go on from (the
        factors, the polar warm start, the tolerance schedule and block size, the random
        generator's and the polar solver's state, the history, the iteration count, the
        elapsed time and the problem's fingerprint) is written there atomically, as a NumPy
        ``.npz`` without pickle (:mod:`homfact._checkpoint`).  After a ``max_iter`` or
        ``time_limit`` stop it holds the state *after* that iteration's growth, which an
        uninterrupted fit would have gone on from; the returned factors are, as always, the
        certified ones.  A ``KeyboardInterrupt`` also writes it (the iterations completed).
    checkpoint_every : outer iterations between two checkpoints (an integer ``>= 1``).
    resume : go on from ``checkpoint`` when the file exists (``factors`` is then ignored);
        start afresh, like ``resume=False``, when it does not (``GrowResult.resumed_from``
        is then 0).  ``ValueError`` naming ``checkpoint`` when the file was written for
        another problem (fingerprint: :func:`homfact._checkpoint.fingerprint`).  A checkpoint
        of a fit that ended certified is returned as it stands, its certificate recomputed on
        the data at hand (a certificate is never read from the file); any other goes on.
        With the same settings and the same data, the resumed fit ends at the same factors
        as an uninterrupted one.

    """
    if not (isinstance(max_iter, int | np.integer) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    check_tol(tol)
    path = _ckpt.check_args(checkpoint, checkpoint_every, resume)
    rng = np.random.default_rng(random_state)
    polar_rtol = DEFAULT_POLAR_RTOL if polar_rtol is None else polar_rtol
    max_rank = math.inf if max_rank is None else int(max_rank)
    X = _start_factors(problem, factors)
    history: list[dict] = []
    inner_tol = float(initial_inner_tol)
    k_cand = min(8, block_size)
    # a polar may ask for a floor on the candidates per iteration (NMF: block growth in the tail)
    min_cand = max(1, min(polar_min_candidates(problem.polar), block_size))
    prev_gap = math.inf
    warm = None  # the previous polar maximizer (warm start)
    stop: str | None = None  # set when the loop must end
    cert = None
    it = done = 0  # the current and the last completed outer iteration
    saver = saved = None
    if path is not None:
        saver = _Checkpointer(path, checkpoint_every, problem, {
            "tol": tol, "polar_rtol": polar_rtol, "max_iter": int(max_iter),
            "max_rank": None if max_rank == math.inf else max_rank, "max_sweeps": max_sweeps,
            "block_size": block_size, "growth_rtol": growth_rtol,
            "initial_inner_tol": initial_inner_tol, "local_solver": problem.local_solver,
            "polar": type(problem.polar).__name__})
        saved = saver.load() if resume else None
    elapsed0 = 0.0
    if saved is not None:
        X, history, it = saved.factors, saved.history, saved.iteration
        inner_tol, k_cand, prev_gap, warm = (saved.inner_tol, saved.k_cand, saved.prev_gap,
                                             saved.warm)
        rng = _ckpt.restore_rng(rng, saved.rng)
        _ckpt.restore_polar(problem.polar, saved.polar)
        done, elapsed0 = it, saved.elapsed
    t0 = time.perf_counter() - elapsed0
    deadline = t0 + time_limit if time_limit is not None else math.inf
    if saved is not None and saved.stop_reason == "certified":
        cert, *_ = certify_factors(problem, X, tol=tol, polar_rtol=polar_rtol, rng=rng,
                                   n_candidates=max(k_cand, min_cand), warm_start=warm)
        if _certified(cert.status):
            return GrowResult(X, cert, history, it, "certified", time.perf_counter() - t0,
                              resumed_from=it)
    start = it + 1
    try:
        for it in range(start, max(max_iter, start) + 1):
            X, sweeps = problem.descend(X, tol=inner_tol, max_sweeps=max_sweeps,
                                        deadline=deadline)
            X = problem.prune(X)
            cert, bound, z, g = certify_factors(problem, X, tol=tol, polar_rtol=polar_rtol,
                                                rng=rng, n_candidates=max(k_cand, min_cand),
                                                warm_start=warm)
            warm = list(bound.maximizer)
            rank = int(X[0].shape[1])
            record = _history_record(problem, cert, iteration=it, rank=rank, sweeps=sweeps,
                                     inner_tol=inner_tol, t0=t0)
            history.append(record)
            negligible = _negligible_growth(problem, cert, bound, growth_rtol)
            if negligible:
                record["negligible_growth"] = True
            stop = _stop_before_growth(problem, cert, iteration=it, max_iter=max_iter,
                                       deadline=deadline, rank=rank, max_rank=max_rank)
            room = int(min(max(k_cand, min_cand), max_rank - rank))
            step = dict(negligible=negligible, room=room, prev_gap=prev_gap,
                        polar_rtol=polar_rtol, k_cand=k_cand, block_size=block_size,
                        inner_tol=inner_tol, tol=tol)
            state = None  # the state to checkpoint when it is not the loop's own
            if stop == "certified":
                X, cert, record = _drop_negligible(problem, X, cert, record, tol=tol,
                                                   polar_rtol=polar_rtol, rng=rng,
                                                   inner_tol=inner_tol, deadline=deadline)
                record["elapsed"] = time.perf_counter() - t0
                history[-1] = record
            elif stop is None:
                X, record["added"], k_cand, inner_tol, stop = _grow_step(
                    problem, X, z, g, bound, cert, **step)
            elif saver is not None and stop in ("max_iter", "time_limit"):
                # the state an uninterrupted fit goes on from: this iteration's growth
                Xc, n_added, kc, tol_c, stop_c = _grow_step(problem, X, z, g, bound, cert,
                                                            **step)
                state = _ckpt.LoopState(Xc, it, [*history[:-1], {**record, "added": n_added}],
                                        time.perf_counter() - t0, tol_c, kc,
                                        _working_gap(cert), warm, stop_c or stop)
            prev_gap = _working_gap(cert)
            done = it
            if callback is not None:
                callback(record)
            if saver is not None and saver.due(it, stop):
                saver.save(state or _ckpt.LoopState(
                    X, it, history, time.perf_counter() - t0, inner_tol, k_cand, prev_gap,
                    warm, stop or ""), rng)
            if stop is not None:
                break
    except KeyboardInterrupt:
        # never lose work: certify whatever factors we hold and hand them back
        stop = "interrupted"
        if saver is not None:  # first: the iterations completed and the factors held
            saver.save(_ckpt.LoopState(X, done, history[:done], time.perf_counter() - t0,
                                       inner_tol, k_cand, prev_gap, warm, stop), rng)
        X = problem.prune(X)
        cert, *_ = certify_factors(problem, X, tol=tol, polar_rtol=polar_rtol, rng=rng)
    return GrowResult(X, cert, history, it, stop or "max_iter", time.perf_counter() - t0,
                      resumed_from=0 if saved is None else saved.iteration)
