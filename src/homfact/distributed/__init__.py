"""Certified matrix completion on a Dask cluster: the data layer and the distributed sweeps.

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
    The residual ``R = P_Ω(Y − UVᵀ)`` kept on the workers: products ``R x``, ``Rᵀ y``,
    ``Rᵀ(R x)``, ``R(Rᵀ y)`` (tree reductions over the blocks) and the exact norms
    ``‖R‖_F²``, ``‖R‖₁``, ``‖R‖_∞`` behind a deterministic bound on ``σ_max(R)``.
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
from .ops import BlockResidual, als_exact, exact_sweep, half_sweep, residual

__all__ = ["BlockResidual", "BlockedEntries", "SideBlock", "als_exact", "exact_sweep",
           "half_sweep", "read_triplets", "residual"]
