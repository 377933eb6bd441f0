"""Distributed certified dense low-rank approximation through the core loop
:func:`homfact.meta.grow`.

* :func:`distributed_low_rank_problem`: the :class:`homfact.meta.Problem` of
  ``min ½‖Y − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` on a :class:`~homfact.distributed.dense.DenseBlocks`:
  :class:`~homfact.losses.SquaredLoss` of the data blocks, the map
  :class:`~homfact.distributed.dense.DaskBilinear`, ℓ2 gauges, the polar
  :class:`~homfact.polar.OperatorNuclearPolar` (which reads the operator's
  ``gram_matrix()`` when the Gram side is small, else runs Lanczos; the Kuczyński–Woźniakowski
  bound only with ``allow_probabilistic=True``) and the local solver ``"dask-als-dense"``.
* The local solver ``"dask-als-dense"`` (registered with
  :func:`homfact.meta.register_local_solver`):
  :func:`~homfact.distributed.dense.als_dense_blocks`, the sweeps and stopping rule of the
  single-machine ``"als"`` on a dense map (:func:`homfact.solvers.als.als_dense`).
* :func:`noise_level` and :func:`low_rank_auto_lam_dask`: the Gavish–Donoho noise estimate and
  ``lam="auto"`` of :func:`homfact.lam_rules.low_rank_auto_lam` for a dask array, equal to the
  one-machine values.
* :func:`fit_low_rank`: what :meth:`homfact.LowRankApproximation.fit` runs on a dask array.
"""

from __future__ import annotations

import math

import numpy as np

from ..gauges import L2
from ..lam_rules import LOW_RANK_AUTO_LAM_FACTOR, LOW_RANK_AUTO_LAM_FLOOR
from ..losses import SquaredLoss
from ..meta import Problem, register_local_solver
from ..noise import estimate_noise_level, noise_sample_indices, noise_spectral_norm
from ..polar import OperatorNuclearPolar
from ..problems import check_fit_params, check_lam, check_lam_or_auto
from .blocks import gather_or_cancel
from .dense import (
    DaskBilinear,
    DenseBlockOperator,
    DenseBlocks,
    als_dense_blocks,
    check_dask_matrix,
)
from .problem import active_client

__all__ = ["distributed_low_rank_problem", "fit_low_rank", "low_rank_auto_lam_dask",
           "noise_level"]

LOCAL_SOLVER = "dask-als-dense"


def _descend_dask_als_dense(problem: Problem, factors, *, tol, max_sweeps, deadline):
    """Ridge ALS sweeps with the products on the workers
    (:func:`~homfact.distributed.dense.als_dense_blocks`)."""
    U, V = factors
    res = als_dense_blocks(problem.mapping.data, U, V, problem.lam, max_sweeps=max_sweeps,
                           tol=tol, deadline=deadline)
    return res.factors, res.n_sweeps


def _applies(problem: Problem) -> bool:
    """Squared loss of the map's own data, a :class:`DaskBilinear` and ℓ2 gauges: the sweeps
    read ``Y`` from the map's blocks, so the loss must hold exactly that matrix."""
    return (type(problem.loss) is SquaredLoss and isinstance(problem.mapping, DaskBilinear)
            and problem.loss.y is problem.mapping.data
            and all(type(g) is L2 for g in problem.gauges))


register_local_solver(LOCAL_SOLVER, _descend_dask_als_dense, requires=_applies,
                      requirement="dask-als-dense needs a DaskBilinear map, the squared loss of "
                                  "its own data blocks and L2/L2 gauges")


def distributed_low_rank_problem(data: DenseBlocks, lam: float, *, polar=None,
                                 allow_probabilistic: bool = False,
                                 delta: float = 1e-9) -> Problem:
    """``min ½‖Y − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` on the row blocks ``data`` of ``Y`` (``n ≤ m``).

    ``data``: the data matrix from :meth:`DenseBlocks.from_dask_array` (its ``‖Y‖²`` is known;
    a wide ``Y`` is passed transposed, ``transpose=True``, and the factors swapped after).
    ``polar``: any :class:`homfact.interfaces.PolarSolver` taking a
    :class:`~homfact.distributed.dense.DenseBlockOperator`; default
    ``OperatorNuclearPolar(allow_probabilistic=allow_probabilistic, delta=delta)``
    (``allow_probabilistic`` and ``delta`` are ignored when ``polar`` is given).
    """
    if not isinstance(data, DenseBlocks):
        raise TypeError(f"data must be a DenseBlocks, got {type(data).__name__}")
    if data.sqnorm is None:
        raise ValueError("data must be the data matrix (DenseBlocks.from_dask_array), not a "
                         "derived one")
    lam = check_lam(lam)
    if polar is None:
        polar = OperatorNuclearPolar(allow_probabilistic=allow_probabilistic, delta=delta)
    mapping = DaskBilinear(data)
    return Problem(SquaredLoss(data), mapping, (L2(), L2()), lam, polar=polar,
                   local_solver=LOCAL_SOLVER)


# --------------------------------------------------------------------------------------------
# the automatic λ


def noise_level(Y, *, client=None) -> float:
    """:func:`homfact.noise.estimate_noise_level` of a dask array ``Y`` (``m×n``), equal to the
    one-machine value.

    The Gavish–Donoho estimate reads the median singular value of ``Y``, or, when a side is
    longer than 2000, of a random submatrix with at most 2000 rows and 2000 columns.  The same
    rows and columns are drawn here (:func:`homfact.noise.noise_sample_indices` with
    ``estimate_noise_level``'s default ``random_state=0``), the submatrix (at most
    2000 × 2000 floats, 32 MB) is cut out on the workers and gathered, and
    ``estimate_noise_level`` itself runs on it (its sides are then at most 2000, so it draws
    nothing): the same entries and the same LAPACK call as on one machine, hence the same
    value.  ``client``: the Dask client (default: the active one).
    """
    check_dask_matrix(Y)
    m, n = (int(s) for s in Y.shape)
    if min(m, n) < 2:
        raise ValueError(f"Y must have at least 2 rows and 2 columns for the noise estimate, "
                         f"got shape {(m, n)}")
    rows, cols = noise_sample_indices((m, n))
    A = Y
    if rows is not None:
        A = A[rows]
    if cols is not None:
        A = A[:, cols]
    if client is None:
        from distributed import get_client

        client = get_client()
    fut = client.compute(A)
    sub = np.asarray(gather_or_cancel(client, [fut])[0], dtype=float)
    return estimate_noise_level(sub)


def _check_auto_lam_shape(m: int, n: int) -> None:
    """The one-machine error of ``lam="auto"`` on a matrix with fewer than 2 rows or columns."""
    if min(m, n) < 2:
        raise ValueError(f"lam='auto' estimates the noise level from the singular values and "
                         f"needs at least 2 rows and 2 columns; got {m} sample(s) and {n} "
                         f"feature(s) (n_samples = {m}, n_features = {n}): pass a numeric lam")


def low_rank_auto_lam_dask(Y, data: DenseBlocks, *, client=None,
                           factor: float = LOW_RANK_AUTO_LAM_FACTOR) -> tuple[float, float]:
    """``(λ, σ̂)`` of :func:`homfact.lam_rules.low_rank_auto_lam` for a dask array ``Y``:
    ``λ = max(c·σ̂(√m + √n), 10⁻⁸‖Y‖_F)`` with ``σ̂`` = :func:`noise_level` and ``‖Y‖_F`` from
    the blocks ``data`` of ``Y`` or ``Yᵀ`` (their ``‖·‖²``, computed once)."""
    m, n = (int(s) for s in Y.shape)
    _check_auto_lam_shape(m, n)
    sigma = noise_level(Y, client=client if client is not None else data.client)
    lam = factor * noise_spectral_norm(sigma, (m, n))
    return max(lam, LOW_RANK_AUTO_LAM_FLOOR * math.sqrt(data.sqnorm)), sigma


# --------------------------------------------------------------------------------------------
# the estimator


class _DataProduct:
    """``Y`` as far as :func:`homfact.solvers.shrinkage.shrunk_triplets` uses it: ``shape``
    and ``Y @ Q`` (``Q``: ``n×r`` on the client), computed on the blocks of ``Y`` (``G Q``,
    local) or of ``Yᵀ`` (``(Yᵀ)ᵀ Q``, a reduction); the result, ``m×r``, is on the client."""

    def __init__(self, data: DenseBlocks, shape: tuple[int, int], transposed: bool):
        self.op = DenseBlockOperator(data)
        self.shape = shape
        self.transposed = transposed

    def __matmul__(self, Q: np.ndarray) -> np.ndarray:
        return self.op.rmatmat(Q) if self.transposed else self.op.matmat(Q)


def fit_low_rank(est, Y) -> None:
    """Fit a :class:`homfact.LowRankApproximation` to a dask array ``Y`` on a Dask cluster.

    Runs on the active ``dask.distributed`` client, or on a ``LocalCluster`` started for the
    fit and closed after it.  ``Y`` (``m×n``) is persisted as row blocks
    (:meth:`DenseBlocks.from_dask_array`; ``Yᵀ`` when ``m < n``, so the Gram side of the polar
    is the smaller one, and the factors are swapped at the end); NaN/inf raise ``ValueError``.
    ``lam="auto"`` is :func:`low_rank_auto_lam_dask` (equal to the one-machine ``lam_`` and
    ``noise_level_``); the problem is :func:`distributed_low_rank_problem` and the loop the
    estimator's own ``_run`` (:func:`homfact.meta.grow`), so the fitted attributes are those
    of the one-machine fit, ``U_`` and ``V_`` NumPy arrays on the client.  Debiasing (on by
    default with ``lam="auto"``) is the one-machine ``_debias``: ``Y Q`` (``Q`` an orthonormal
    basis of the certified ``V``) is computed on the blocks and the ``m×r`` SVD on the client.
    """
    if isinstance(est.lam, str) and est.lam != "auto":
        raise TypeError(f"lam must be a real number >= 0 or 'auto', got the string {est.lam!r}")
    check_lam_or_auto(est.lam)
    debias = est._debias_enabled()
    check_fit_params(est)
    import dask.array as da

    if not isinstance(Y, da.Array):
        raise TypeError(f"Y must be a dask.array.Array for a distributed LowRankApproximation, "
                        f"got {type(Y).__name__} (row, col, value triplets in a dask DataFrame "
                        f"are matrix completion: use MatrixCompletion)")
    check_dask_matrix(Y)
    m, n = (int(s) for s in Y.shape)
    if isinstance(est.lam, str):
        _check_auto_lam_shape(m, n)  # before any work on the cluster
    with active_client() as client:
        data = DenseBlocks.from_dask_array(Y, transpose=m < n, client=client)
        try:
            _fit_blocks(est, Y, data, m < n, debias, client)
        finally:
            data.release()


def _fit_blocks(est, Y, data: DenseBlocks, transposed: bool, debias: bool, client) -> None:
    """The estimator's fit on the blocks (see :func:`fit_low_rank`)."""
    m, n = (int(s) for s in Y.shape)
    if isinstance(est.lam, str):
        est.lam_, est.noise_level_ = low_rank_auto_lam_dask(Y, data, client=client)
    else:
        est.lam_, est.noise_level_ = float(est.lam), None
    problem = distributed_low_rank_problem(data, est.lam_)
    rms = math.sqrt(max(data.sqnorm, 0.0) / (m * n))
    init = est._initial_factors((m, n), rms)
    if transposed and init is not None:
        init = [init[1], init[0]]
    est._run(problem, init, "LowRankApproximation")
    U, V = (np.asarray(F, dtype=float) for F in (est.U_, est.V_))
    est.U_, est.V_ = (V, U) if transposed else (U, V)
    est.n_features_in_ = n
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.certified_U_, est.certified_V_ = est.U_, est.V_
    est.debiased_, est.debias_info_ = False, None
    if debias and est.rank_ > 0:
        if est.noise_level_ is None:
            est.noise_level_ = noise_level(Y, client=client)
        est._debias(_DataProduct(data, (m, n), transposed))
