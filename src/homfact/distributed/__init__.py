"""Certified matrix completion and low-rank approximation on a Dask cluster: data layers and sweeps.

Needs the ``dask`` extra (``pip install 'homfact[dask]'``: ``dask[dataframe]``,
``distributed``, ``pyarrow``).  The observed entries stay on the Dask workers; the factors
``U`` (m×r) and ``V`` (n×r) stay on the client as NumPy arrays.

Public names
------------
:class:`BlockedEntries`
    The observed entries ``(row, col, value)`` of an ``m×n`` matrix, hash-partitioned once into
    ``B`` row blocks (entry ``(i, j)`` in block ``i mod B``, local row ``i div B``) and ``B``
    column blocks (block ``j mod B``, local row ``j div B`` of ``Yᵀ``), each entry stored twice
    as CSR on the workers, as Spark MLlib's ALS does.  Constructors
    :meth:`BlockedEntries.from_triplets`, :meth:`BlockedEntries.from_scipy`,
    :meth:`BlockedEntries.from_dask_dataframe`.
:func:`read_triplets`
    Parquet or CSV files of ``row, col, value`` triplets through ``dask.dataframe`` (nothing is
    loaded into one process).
:func:`exact_sweep`, :func:`half_sweep`, :func:`als_exact`
    The exact row-wise ridge ALS sweeps of :func:`homfact.solvers.als.als_masked`
    (``method="exact"``), equal to the single-machine sweep to rounding.
:func:`residual`, :class:`BlockResidual`
    The residual ``R = P_Ω(Y − UVᵀ)`` kept on the workers by the sweep: a
    :class:`BlockOperator` (products ``R x``, ``Rᵀ y``, ``Rᵀ(R x)``, ``R(Rᵀ y)`` by tree
    reductions over the blocks, exact norms, the formed Gram).
:class:`BlockVector`
    The output representation of the core loop on the cluster: a vector over the observed
    entries, one future per block (``+``, ``−``, ``*`` by a number, ``vdot``, ``fingerprint``).
:class:`DaskMaskedBilinear`, :class:`BlockOperator`
    :class:`homfact.maps.MaskedBilinear` on the blocks (same semantics, method by method), and
    the operator ``G`` its polar (:class:`homfact.polar.OperatorNuclearPolar`) reads: products
    by tree reductions (one per Lanczos step), exact norms.
:func:`distributed_completion_problem`, :func:`fit_completion`, :func:`completion_lam_max`
    The :class:`homfact.meta.Problem` that :func:`homfact.meta.grow` runs unchanged (local
    solver ``"dask-als-exact"``), and what ``MatrixCompletion().fit(dask_dataframe)`` runs.
:class:`DenseBlocks`, :class:`DaskBilinear`, :class:`DenseBlockOperator`, :func:`als_dense_blocks`
    A dense ``dask.array`` ``Y`` as row blocks persisted on the workers, the map ``UVᵀ`` on
    them, the operator its polar reads (products by tree reductions, the formed Gram), and
    the ridge ALS sweeps with the products on the workers.
:func:`distributed_low_rank_problem`, :func:`fit_low_rank`, :func:`low_rank_auto_lam_dask`
    The low-rank approximation problem on those blocks (local solver ``"dask-als-dense"``),
    what ``LowRankApproximation().fit(dask_array)`` runs, and its ``lam="auto"`` rule (the
    one-machine noise estimate on the same sampled submatrix).
"""

from __future__ import annotations

try:
    import dask
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "homfact.distributed needs Dask: pip install 'homfact[dask]' "
        f"(missing: {exc.name})") from exc

from .blocks import BlockedEntries, SideBlock, read_triplets
from .dense import DaskBilinear, DenseBlockOperator, DenseBlocks, als_dense_blocks
from .dense_problem import distributed_low_rank_problem, fit_low_rank, low_rank_auto_lam_dask
from .maps import BlockOperator, BlockResidual, DaskMaskedBilinear
from .ops import als_exact, exact_sweep, half_sweep, residual
from .outputs import BlockVector
from .problem import completion_lam_max, distributed_completion_problem, fit_completion

__all__ = ["BlockOperator", "BlockResidual", "BlockVector", "BlockedEntries", "DaskBilinear",
           "DaskMaskedBilinear", "DenseBlockOperator", "DenseBlocks", "SideBlock",
           "als_dense_blocks", "als_exact", "completion_lam_max",
           "distributed_completion_problem", "distributed_low_rank_problem",
           "exact_sweep", "fit_completion", "fit_low_rank", "half_sweep",
           "low_rank_auto_lam_dask", "read_triplets", "residual"]
