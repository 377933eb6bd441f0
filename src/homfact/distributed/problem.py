"""Distributed certified matrix completion through the core loop :func:`homfact.meta.grow`.

* :func:`distributed_completion_problem`: the :class:`homfact.meta.Problem` of
  ``min ½‖P_Ω(Y − UVᵀ)‖² + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` on a :class:`~homfact.distributed.BlockedEntries`:
  :class:`~homfact.losses.SquaredLoss` of the data as a
  :class:`~homfact.distributed.BlockVector`, the map
  :class:`~homfact.distributed.DaskMaskedBilinear`, ℓ2 gauges, the polar
  :class:`~homfact.polar.OperatorNuclearPolar` (the Gram of the residual summed on the
  workers for ``min(m, n) ≤ gram_max_dim``: deterministic and tight; else Lanczos with a
  deterministic upper bound, and the Kuczyński–Woźniakowski bound only with
  ``allow_probabilistic=True``) and the local solver
  ``"dask-als-exact"``.
* The local solver ``"dask-als-exact"`` (registered with
  :func:`homfact.meta.register_local_solver`): :func:`homfact.distributed.als_exact`, the
  sweeps and stopping rule of the single-machine ``"als-exact"``
  (``als_masked(method="exact")``: stop when the relative decrease ``(f_old − f)/f`` of a sweep
  is ``≤ tol``, or past ``deadline``, or after ``max_sweeps``).
* :func:`fit_completion`: what :meth:`homfact.MatrixCompletion.fit` runs on a dask DataFrame.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from ..gauges import L2
from ..losses import SquaredLoss
from ..meta import Problem, register_local_solver
from ..polar import OperatorNuclearPolar
from ..problems import check_lam
from .blocks import BlockedEntries
from .maps import DaskMaskedBilinear
from .ops import als_exact
from .outputs import BlockVector

__all__ = ["completion_lam_max", "distributed_completion_problem", "fit_completion"]

LOCAL_SOLVER = "dask-als-exact"


def _descend_dask_als_exact(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Exact row-wise ALS sweeps on the workers (:func:`homfact.distributed.als_exact`)."""
    U, V = factors
    res, resid = als_exact(problem.mapping.entries, U, V, problem.lam, max_sweeps=max_sweeps,
                           tol=tol, deadline=deadline)
    if resid is not None:
        resid.release()
    return res.factors, res.n_sweeps


def _applies(problem: Problem) -> bool:
    """Squared loss of the map's own data, a :class:`DaskMaskedBilinear` and ℓ2 gauges: the
    sweeps read ``y`` from the blocks, so the loss must hold exactly those values."""
    y = getattr(problem.loss, "y", None)
    return (type(problem.loss) is SquaredLoss and isinstance(problem.mapping, DaskMaskedBilinear)
            and isinstance(y, BlockVector) and y.data_of is problem.mapping.entries
            and all(type(g) is L2 for g in problem.gauges))


register_local_solver(LOCAL_SOLVER, _descend_dask_als_exact, requires=_applies,
                      requirement="dask-als-exact needs a DaskMaskedBilinear map, the squared "
                                  "loss of its entries' values and L2/L2 gauges")


def distributed_completion_problem(entries: BlockedEntries, lam: float, *, polar=None,
                                   allow_probabilistic: bool = False, delta: float = 1e-9,
                                   gram_max_dim: int = 2048,
                                   layout: str | None = None) -> Problem:
    """``min ½‖P_Ω(Y − UVᵀ)‖² + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` on the observed entries held by ``entries``.

    ``polar``: any :class:`homfact.interfaces.PolarSolver` taking a
    :class:`~homfact.distributed.BlockOperator`; default
    ``OperatorNuclearPolar(allow_probabilistic=allow_probabilistic, delta=delta,
    gram_max_dim=gram_max_dim)``: the Gram of the residual summed on the workers when
    ``min(m, n) ≤ gram_max_dim`` (deterministic, tight), else Lanczos (``allow_probabilistic``,
    ``delta`` and ``gram_max_dim`` are ignored when ``polar`` is given).  ``layout``:
    the side holding the output vectors (default: :class:`DaskMaskedBilinear`'s).
    """
    if not isinstance(entries, BlockedEntries):
        raise TypeError(f"entries must be a BlockedEntries, got {type(entries).__name__}")
    lam = check_lam(lam)
    if polar is None:
        polar = OperatorNuclearPolar(allow_probabilistic=allow_probabilistic, delta=delta,
                                     gram_max_dim=gram_max_dim)
    mapping = DaskMaskedBilinear(entries, layout)
    return Problem(SquaredLoss(mapping.data()), mapping, (L2(), L2()), lam, polar=polar,
                   local_solver=LOCAL_SOLVER)


def completion_lam_max(entries: BlockedEntries, *, gram_max_dim: int = 2048,
                       random_state=0) -> float:
    """``λ_max = ‖P_Ω Y‖₂`` of the entries on the cluster: the smallest ``λ`` whose solution
    is zero (:func:`homfact.lam_rules.zero_solution_lam_max` on
    :func:`distributed_completion_problem`), so that ``λ = ratio·λ_max`` can be set as on one
    machine (``homfact fit completion --lam-ratio`` with ``--scheduler``).

    The value is the polar's rigorous *lower* end: tight to rounding when
    ``min(m, n) ≤ gram_max_dim`` (the Gram summed on the workers), otherwise the Ritz pair of
    :class:`~homfact.polar.OperatorNuclearPolar`'s Lanczos run (about 300 steps, from a start
    drawn from ``random_state``), within its ``rel_accuracy`` (1e-3) of ``‖P_Ω Y‖₂`` with
    probability ``≥ 1 − 10⁻⁹`` — a choice of ``λ``, not a certificate.
    """
    from ..lam_rules import zero_solution_lam_max

    problem = distributed_completion_problem(
        entries, 0.0, polar=_LamMaxPolar(gram_max_dim, np.random.default_rng(random_state)))
    return zero_solution_lam_max(problem)


class _LamMaxPolar(OperatorNuclearPolar):
    """:class:`OperatorNuclearPolar` whose start vector comes from a fixed generator (the
    ``λ_max`` of a CLI run is then reproducible)."""

    def __init__(self, gram_max_dim: int, rng: np.random.Generator):
        super().__init__(gram_max_dim=gram_max_dim)
        self._rng = rng

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None):
        return super().__call__(op, n_candidates=n_candidates, rng=self._rng)


@contextlib.contextmanager
def active_client():
    """The active ``dask.distributed`` client, or a ``LocalCluster`` (and client) started for
    the block and closed after it.

    The ``get_client`` lookup stays outside any ``try`` around the ``yield``: an exception
    raised by the block itself (a ``ValueError`` for bad data) must reach the caller as it
    is, not be taken for "no client" (which ``contextlib`` would report as
    ``RuntimeError: generator didn't stop after throw()``)."""
    import distributed

    try:
        client = distributed.get_client()
    except ValueError:
        client = None
    if client is not None:
        yield client
        return
    # no dashboard; the scheduler's HTTP routes on a free port (8787 may be held by another
    # cluster on the machine: a UserWarning)
    with distributed.LocalCluster(dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": ":0"}) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def fit_completion(est, data) -> None:
    """Fit a :class:`homfact.MatrixCompletion` on a Dask cluster.

    ``data``: a dask DataFrame with columns ``row``, ``col`` and ``value``, fitted on the
    active Dask client (or a ``LocalCluster`` started for it; the entries are partitioned into
    blocks on the workers by :meth:`BlockedEntries.from_dask_dataframe`, the shape is
    ``(max row + 1, max col + 1)``); or a :class:`BlockedEntries` already on a cluster (e.g.
    from :func:`homfact.distributed.read_triplets`, with its own shape), fitted on its client
    and left to the caller.  The problem is :func:`distributed_completion_problem` with the
    estimator's ``λ``, ``allow_probabilistic``, ``delta`` and ``gram_max_dim``, and the loop
    is the estimator's own ``_run`` (:func:`homfact.meta.grow`): the fitted attributes are
    those of the one-machine fit, the factors NumPy arrays on the client.  ``local_solver``
    must be ``"auto"`` or ``"als-exact"`` (the sweeps are exact row-wise ALS).
    """
    if isinstance(est.lam, str):
        raise TypeError(f"lam must be a real number >= 0, got {est.lam!r}")
    est._check_params()
    if est.local_solver not in ("auto", "als-exact"):
        raise ValueError(f"local_solver must be 'auto' or 'als-exact' for a dask DataFrame "
                         f"(the distributed sweeps are exact row-wise ALS), got "
                         f"{est.local_solver!r}")
    if isinstance(data, BlockedEntries):
        _fit_entries(est, data)
        return
    with active_client() as client:
        entries = BlockedEntries.from_dask_dataframe(data, client=client)
        try:
            _fit_entries(est, entries)
        finally:
            entries.release()


def _fit_entries(est, entries: BlockedEntries) -> None:
    """Run the estimator's loop on the blocked entries (see :func:`fit_completion`)."""
    problem = distributed_completion_problem(
        entries, est.lam, allow_probabilistic=est.allow_probabilistic, delta=est.delta,
        gram_max_dim=est.gram_max_dim)
    y = problem.loss.y
    rms = math.sqrt(max(y.vdot(y), 0.0) / entries.nnz)
    est.shape_ = entries.shape
    est._run(problem, est._initial_factors(entries.shape, rms), "MatrixCompletion")
    est.U_, est.V_ = (np.asarray(F) for F in (est.U_, est.V_))
