"""The extension interfaces of :func:`homfact.meta.grow`, as :class:`typing.Protocol` classes.

Three kinds of object plug into a :class:`homfact.meta.Problem`:

* a *map* (:class:`MapProtocol`): how factor columns combine into the model output;
* a *polar solver* (:class:`PolarSolver`): a bracket on ``Ω°(G)`` with a feasible maximizer;
* a *local solver* (:class:`LocalSolver`): descent on the factors at a fixed rank.

The protocols are ``runtime_checkable``: ``isinstance(obj, MapProtocol)`` checks that every
member is present (not their signatures or what they compute; the docstrings state that).

Optional hooks (read with a default when absent, see :func:`growth_margin`,
:func:`merge_parallel` and :func:`min_candidates`):

* ``mapping.growth_margin: float`` (default ``0.0``): growth appends a polar maximizer only when
  its value exceeds ``λ(1 + growth_margin)`` (CP maps: ``1e-3``, see :class:`homfact.maps.CPMap`);
* ``mapping.merge_parallel(factors) -> factors`` (default: factors unchanged): called by
  :meth:`homfact.meta.Problem.prune` first, folds slices that are the same atom into one
  without increasing the objective (up to the hook's tolerance), and returns ``factors``
  itself when nothing merges.  One merge per kind of map: :meth:`homfact.maps.CPMap.merge_parallel`
  (on, ``Πₖ|cos| ≥ 1 − 1e-6``) and :meth:`homfact.maps.Bilinear.merge_parallel` (masked and
  dictionary maps inherit it: best rank-one approximation of each group's sum, both sides
  ``|cos| ≥ 1 − tol``; off unless the map is built with ``merge_tol``).  Models call the
  bilinear merge with their own ``tol`` (NMF ``1e-6``, re-certified; structured ``0.05``,
  objective-guarded);
* ``polar.min_candidates: int`` (default ``1``): a floor on the candidates asked of the polar
  per outer iteration (capped by ``block_size``; NMF and CP growth polars use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from .meta import Problem
    from .polar import PolarBound

__all__ = [
    "LocalSolver",
    "MapProtocol",
    "PolarSolver",
    "growth_margin",
    "merge_parallel",
    "min_candidates",
]


@runtime_checkable
class MapProtocol(Protocol):
    """An atom map ``Φ(X) = Σᵢ φ(xᵢ¹,…,xᵢᴷ)``, ``φ`` positively homogeneous of degree ``p``.

    ``factors`` is a list of ``K = n_blocks`` arrays ``n_k × r`` (slice ``i`` = column ``i`` of
    every block); ``columns`` is one slice, a list of ``K`` vectors.  ``G`` is an array in the
    *output representation* (what :meth:`forward` returns and the loss acts on), usually the
    negative loss gradient ``−∇ℓ(z)``.  Specialised local solvers may need more (the observed
    index set of a masked map, the tensor shape of a CP map); they check their map type.
    """

    #: ``K``, the number of factor blocks
    n_blocks: int
    #: ``p`` with ``φ(t x) = tᵖ φ(x)`` when every block is scaled by ``t ≥ 0`` (growth scales
    #: an appended unit atom by ``s^{1/p}`` in every block)
    degree: int

    @property
    def block_sizes(self) -> tuple[int, ...]:
        """``(n₁, …, n_K)``: the number of rows of each factor block."""
        ...

    def forward(self, factors: list[np.ndarray]) -> Any:
        """``Z = Σᵢ φ(xᵢ)`` in the output representation (zero output for ``r = 0``)."""
        ...

    def atom(self, columns: list[np.ndarray]) -> Any:
        """``φ(x)`` for one slice, in the output representation."""
        ...

    def operator(self, G: Any) -> Any:
        """``A*(G)``, the input of the polar solver (a matrix, sparse matrix or tensor) with
        ``⟨G, φ(x)⟩ = A*(G)[x¹,…,xᴷ]`` (the multilinear form of the slice)."""
        ...

    def block_gradient(self, G: Any, factors: list[np.ndarray], k: int) -> np.ndarray:
        """``∂/∂Xᵏ ⟨G, Φ(X)⟩`` (``n_k × r``), so ``∇_k(ℓ∘Φ) = −block_gradient(−∇ℓ, X, k)``."""
        ...

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        """A Lipschitz constant of ``Xᵏ ↦ ∇_k(ℓ∘Φ)`` for a loss whose gradient is 1-Lipschitz
        (an upper bound is valid; prox-linear steps use ``1/(L_ℓ · this)``)."""
        ...

    def atom_inner(self, G: Any, columns: list[np.ndarray]) -> float:
        """``⟨G, φ(x)⟩`` (exact; the closed-form growth step of the squared loss uses it)."""
        ...

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        """``‖φ(x)‖²`` in the output representation (masked maps: over the observed set)."""
        ...

    def subtract_atom(self, G: Any, s: float, columns: list[np.ndarray]) -> Any:
        """``G − s·φ(x)``; may update ``G`` in place and must return the result."""
        ...


@runtime_checkable
class PolarSolver(Protocol):
    """``Ω°(G) = sup_{κ₁(x¹) ≤ 1, …, κ_K(xᴷ) ≤ 1} ⟨G, φ(x)⟩`` as a certified bracket.

    Called with ``op = mapping.operator(G)``; returns a :class:`homfact.polar.PolarBound` with
    ``lower`` the value attained by the returned feasible ``maximizer`` (one unit-gauge column
    per block), ``upper`` a *valid* upper bound (``inf`` when none is available; a heuristic
    value is never an upper bound), and up to ``n_candidates − 1`` further feasible atoms in
    ``candidates`` (decreasing value).  ``rng`` is a ``numpy.random.Generator`` (or ``None``);
    ``warm_start`` is the previous maximizer (or ``None``), a hint only.  Optional attribute:
    ``min_candidates`` (see :func:`min_candidates`).
    """

    def __call__(self, op: Any, *, n_candidates: int = 1, rng: Any = None,
                 warm_start: Any = None) -> PolarBound:
        ...


@runtime_checkable
class LocalSolver(Protocol):
    """Local descent on ``F(X) = ℓ(Φ(X)) + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` at fixed rank (no growth).

    Called as ``solver(problem, factors, tol=..., max_sweeps=..., deadline=...)`` with
    ``factors`` of rank ``r ≥ 1``; returns ``(new_factors, n_sweeps)`` with the same number of
    columns (a zero column is allowed; pruning removes it), ``F(new) ≤ F(factors)``, after at
    most ``max_sweeps`` sweeps, stopping once the relative decrease of a sweep is below
    ``tol`` or ``time.perf_counter()`` passes ``deadline``.  The new factors must stay in the
    gauges' domain.  Register one under a name with
    :func:`homfact.meta.register_local_solver`, or pass it as ``Problem(local_solver=...)``.
    """

    def __call__(self, problem: Problem, factors: list[np.ndarray], *, tol: float,
                 max_sweeps: int, deadline: float) -> tuple[list[np.ndarray], int]:
        ...


def growth_margin(mapping: MapProtocol) -> float:
    """The map's optional ``growth_margin`` hook, ``0.0`` when absent."""
    return float(getattr(mapping, "growth_margin", 0.0))


def merge_parallel(mapping: MapProtocol, factors: list[np.ndarray]) -> list[np.ndarray]:
    """The map's optional ``merge_parallel`` hook applied to ``factors`` at its own default
    tolerance (``factors`` itself if absent or if nothing merges)."""
    hook = getattr(mapping, "merge_parallel", None)
    return factors if hook is None else hook(factors)


def min_candidates(polar: PolarSolver) -> int:
    """The polar's optional ``min_candidates`` hook, ``1`` when absent."""
    return int(getattr(polar, "min_candidates", 1))
