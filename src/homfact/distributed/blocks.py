"""Observed entries partitioned once into row and column blocks, persisted on Dask workers.

Layout (Spark MLlib ALS's "in-blocks"/"out-blocks", Das et al. 2017; Spark's
``ALS.makeBlocks``): with ``B`` blocks, entry ``(i, j, y_ij)`` of the ``m×n`` matrix ``Y`` is
stored twice,

* in **row block** ``b = i mod B`` as local row ``i div B`` of a CSR matrix ``M_b`` (the rows
  ``b, b+B, b+2B, …`` of ``Y``);
* in **column block** ``c = j mod B`` as local row ``j div B`` of the CSR matrix of ``Yᵀ``
  (the columns ``c, c+B, …`` of ``Y``).

Both are the same structure, :class:`SideBlock`, on one *side*: the row side is ``M = Y``, the
column side ``M = Yᵀ``.  A block's CSR column indices are *compact*: position ``k`` stands for
the global id ``ref_cols[k]`` of the other side, and ``ref_cols`` lists the referenced ids
grouped by the other side's block (block ``c``'s ids ``ref_cols[ref_ptr[c]:ref_ptr[c+1]]``,
ascending).  Within a row the entries keep ascending *global* column order, the order of
:class:`homfact.maps.MaskedBilinear`'s CSR, so every sparse product sums in the same order as on
one machine.  Each block also knows, for every block ``c`` of the other side, which of its own
local rows that block references (``served_rows(c)``): the factor rows it must send there.

Construction runs on the workers (one task per block builds the CSR); the client keeps only
per-block metadata: local row counts, ``nnz`` and the ``B×B`` matrix of referenced-row counts
(``ref_counts``: how many factor rows each block pair exchanges in a sweep).  The sets of
referenced ids themselves (``O(B·n)`` integers in all) stay on the workers and are fetched on
demand by :meth:`BlockedEntries.referenced`.

Loss of a worker: every block is the result of a task (never only ``client.scatter``), so the
scheduler keeps the recipe and recomputes a lost block from its inputs — the files for
:func:`read_triplets` and :meth:`BlockedEntries.from_dask_dataframe`; for
:meth:`BlockedEntries.from_triplets` / :meth:`BlockedEntries.from_scipy` the inputs are the
client's arrays embedded in the graph, so the scheduler holds one copy of them.

Duplicate ``(row, col)`` entries are rejected (``ValueError``), as by
:func:`homfact.problems.observed_entries`: two observations of one entry contribute
``½(y₁ − z)² + ½(y₂ − z)²``, which neither their sum nor any single value reproduces.
"""

from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["BlockedEntries", "SideBlock", "read_triplets"]

SIDES = ("rows", "cols")

#: the columns a triplet dataframe must have
COLUMNS = ("row", "col", "value")


# --------------------------------------------------------------------------------------------
# worker-side block


@dataclass(eq=False)
class SideBlock:
    """Block ``index`` of one side: rows ``index + n_blocks·l`` (``l < n_rows``) of ``M``.

    ``M = Y`` on side ``"rows"``, ``M = Yᵀ`` on side ``"cols"``.  CSR ``(indptr, compact,
    values)`` with compact column ``k`` ↦ global other-side id ``ref_cols[k]``; ``ref_ptr``
    (``B+1``) splits ``ref_cols`` by other-side block; ``out_rows[out_ptr[c]:out_ptr[c+1]]`` are
    the local rows referenced by other-side block ``c`` (ascending).
    """

    side: str
    index: int
    n_blocks: int
    n_rows: int
    n_other: int
    indptr: np.ndarray
    compact: np.ndarray
    values: np.ndarray
    ref_cols: np.ndarray
    ref_ptr: np.ndarray
    out_rows: np.ndarray
    out_ptr: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_ref(self) -> int:
        return int(self.ref_cols.shape[0])

    def matrix(self, data: np.ndarray | None = None) -> sp.csr_matrix:
        """``M_b`` (``n_rows × n_ref``, compact columns) with ``data`` (default the values)."""
        data = self.values if data is None else data
        return sp.csr_matrix((data, self.compact, self.indptr), shape=(self.n_rows, self.n_ref),
                             copy=False)

    def pattern(self) -> sp.csr_matrix:
        """The 0/1 pattern of ``M_b``, as ``als_masked``'s ``mapping.operator(ones)``."""
        return self.matrix(np.ones(self.nnz))

    def entry_rows(self) -> np.ndarray:
        """Local row of every stored entry."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def served_rows(self, other: int) -> np.ndarray:
        """Local rows of this block referenced by block ``other`` of the other side."""
        return self.out_rows[self.out_ptr[other]:self.out_ptr[other + 1]]

    def global_rows(self) -> np.ndarray:
        return self.index + self.n_blocks * np.arange(self.n_rows, dtype=np.int64)

    def info(self) -> BlockInfo:
        return BlockInfo(self.n_rows, self.nnz, np.diff(self.ref_ptr).astype(np.int64))

    def triplets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(global row of M, global col of M, value)`` of every entry, in storage order."""
        return (self.global_rows()[self.entry_rows()], self.ref_cols[self.compact],
                self.values.copy())


@dataclass(frozen=True)
class BlockInfo:
    """Client-side metadata of one block: local rows, entries, referenced ids per other block."""

    n_rows: int
    nnz: int
    ref_counts: np.ndarray


def n_local_rows(index: int, n_blocks: int, total: int) -> int:
    """``|{l ≥ 0 : index + n_blocks·l < total}|``."""
    return max(0, (total - index + n_blocks - 1) // n_blocks)


def build_block(triplets: tuple[np.ndarray, np.ndarray, np.ndarray], side: str, index: int,
                n_blocks: int, n_rows_total: int, n_other: int) -> SideBlock:
    """Build block ``index`` of ``side`` from its entries ``(row of M, col of M, value)``.

    The rows must all satisfy ``row mod n_blocks == index``.  Sorts by (local row, global col),
    rejects duplicates, and compacts the columns into ``ref_cols`` grouped by other-side block.
    """
    rows, cols, vals = triplets
    B = n_blocks
    local = rows // B
    order = np.lexsort((cols, local))
    local, cols, vals = local[order], cols[order], np.ascontiguousarray(vals[order], dtype=float)
    if local.size > 1:
        dup = (np.diff(local) == 0) & (np.diff(cols) == 0)
        if dup.any():
            t = int(np.flatnonzero(dup)[0])
            i, j = int(index + B * local[t]), int(cols[t])
            if side == "cols":
                i, j = j, i
            raise ValueError(f"duplicate entries: (row, col) = ({i}, {j}) is stored more than "
                             "once; sum or drop duplicates first")
    n_rows = n_local_rows(index, B, n_rows_total)
    uniq, inverse = np.unique(cols, return_inverse=True)
    perm = np.argsort(uniq % B, kind="stable")          # group by other block, ascending within
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    ref_cols = uniq[perm]
    big = max(vals.size, ref_cols.size, n_rows) >= 2**31 - 1
    itype = np.int64 if big else np.int32
    indptr = np.zeros(n_rows + 1, dtype=itype)
    np.cumsum(np.bincount(local, minlength=n_rows), out=indptr[1:])
    ref_ptr = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(np.bincount(ref_cols % B, minlength=B), out=ref_ptr[1:])
    # local rows referenced by each other-side block c: unique (c, local) pairs
    key = np.unique((cols % B) * max(n_rows, 1) + local)
    out_block, out_rows = np.divmod(key, max(n_rows, 1))
    out_ptr = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_block, minlength=B), out=out_ptr[1:])
    return SideBlock(side, int(index), B, n_rows, int(n_other), indptr,
                     rank[inverse].astype(itype), vals, ref_cols, ref_ptr,
                     out_rows.astype(np.int64), out_ptr)


def block_info(block: SideBlock) -> BlockInfo:
    return block.info()


def block_triplets(block: SideBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return block.triplets()


def block_referenced(block: SideBlock) -> np.ndarray:
    return block.ref_cols.copy()


# --------------------------------------------------------------------------------------------
# validation (client and workers)


def check_shape(shape) -> tuple[int, int] | None:
    """``None`` or a pair of positive ints, else ``TypeError``/``ValueError`` naming ``shape``."""
    if shape is None:
        return None
    try:
        m, n = shape
    except (TypeError, ValueError):
        raise TypeError(f"shape must be a pair of positive integers, got {shape!r}") from None
    for s in (m, n):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"shape must be a pair of positive integers, got {shape!r}")
        if s < 1:
            raise ValueError(f"shape must be a pair of positive integers, got {shape!r}")
    return int(m), int(n)


def check_n_blocks(n_blocks) -> int:
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, numbers.Integral):
        raise TypeError(f"n_blocks must be a positive integer, got {type(n_blocks).__name__}")
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be a positive integer, got {n_blocks}")
    return int(n_blocks)


def check_triplets(rows, cols, values, shape: tuple[int, int] | None,
                   names: tuple[str, str, str] = ("rows", "cols", "values")
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ids (integers, ``≥ 0``, inside ``shape``) and values (real, finite).

    Returns int64 ids and float64 values; errors name the offending argument via ``names``.
    """
    out = []
    for arr, name in zip((rows, cols), names[:2], strict=True):
        a = np.asarray(arr)
        if a.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must hold integer ids, got dtype {a.dtype}")
        a = a.astype(np.int64, copy=False)
        if a.size and a.min() < 0:
            raise ValueError(f"{name} has negative ids (min {int(a.min())})")
        out.append(a)
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"{names[2]} must be one-dimensional, got shape {v.shape}")
    if v.size and (v.dtype == bool or not (np.issubdtype(v.dtype, np.integer)
                                           or np.issubdtype(v.dtype, np.floating))):
        raise TypeError(f"{names[2]} must hold real numbers, got dtype {v.dtype}")
    v = v.astype(float, copy=False)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{names[2]} has NaN or infinite values")
    if not out[0].size == out[1].size == v.size:
        raise ValueError(f"{names[0]}, {names[1]} and {names[2]} must have the same length, got "
                         f"{out[0].size}, {out[1].size}, {v.size}")
    if shape is not None:
        for a, name, s in zip(out, names[:2], shape, strict=True):
            if a.size and a.max() >= s:
                raise ValueError(f"{name} has ids outside the shape {shape}: max id "
                                 f"{int(a.max())} >= {s}")
    return out[0], out[1], v


# --------------------------------------------------------------------------------------------
# dataframe partition tasks


def split_partition(df, n_blocks: int, shape: tuple[int, int] | None) -> tuple:
    """Validate one dataframe partition and split it into ``2·n_blocks`` triplet pieces.

    Piece ``b`` (``b < B``): the entries with ``row mod B = b`` as ``(row, col, value)``; piece
    ``B + c``: the entries with ``col mod B = c`` as ``(col, row, value)`` (the transpose).
    """
    rows, cols, vals = check_triplets(df["row"].to_numpy(), df["col"].to_numpy(),
                                      df["value"].to_numpy(), shape,
                                      ("column 'row'", "column 'col'", "column 'value'"))
    return (*_split_side(rows, cols, vals, n_blocks), *_split_side(cols, rows, vals, n_blocks))


def _split_side(rows, cols, vals, n_blocks: int) -> list[tuple]:
    """Entries grouped by ``rows mod n_blocks`` (one stable sort, no per-block pass)."""
    key = rows % n_blocks
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(n_blocks + 1))
    rows, cols, vals = rows[order], cols[order], vals[order]
    return [(rows[lo:hi], cols[lo:hi], vals[lo:hi])
            for lo, hi in itertools.pairwise(bounds)]


def concat_pieces(*pieces: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate triplet pieces (one block's entries from every partition)."""
    if not pieces:
        return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    return tuple(np.concatenate([p[k] for p in pieces]) for k in range(3))


def max_ids(triplets: tuple) -> tuple[int, int, int]:
    """``(max row id, max col id, number of entries)`` of a triplet piece (``-1`` when empty)."""
    rows, cols, _ = triplets
    if rows.size == 0:
        return -1, -1, 0
    return int(rows.max()), int(cols.max()), int(rows.size)


def _hold(x):
    """Identity: a task whose argument is client data, so the data is recomputable."""
    return x


# --------------------------------------------------------------------------------------------
# client-side object


def gather_or_cancel(client, futures: list, *others: list) -> list:
    """``client.gather(futures)``; on error cancel them and ``others`` before re-raising.

    Why: an erred future's state (held by the client until its futures are dropped) keeps the
    exception, whose traceback keeps the caller's frames and so the futures themselves — a
    cycle through the client that would pin the failed graph on the scheduler forever.
    """
    try:
        return client.gather(futures)
    except BaseException:
        client.cancel([f for group in (futures, *others) for f in group])
        raise


def _get_client(client):
    if client is not None:
        return client
    from distributed import get_client
    try:
        return get_client()
    except ValueError:
        raise ValueError("no Dask client: pass client= or create a distributed.Client "
                         "first") from None


def submit_spread(client, calls: list[tuple]) -> list:
    """Submit ``calls`` (``(func, *args)``), call ``k`` placed on worker ``k mod W``.

    The placement is a loose restriction (a lost result is rebuilt on any worker), and calls
    go in rounds of ``W``, each waited for: with more queued tasks than threads, work stealing
    moves loosely restricted tasks (7 of 8 blocks landed on one of 2 workers in our runs), and
    every half-sweep runs where its blocks are, so an even spread is worth one wait per round.
    """
    from distributed import wait

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    W = max(len(workers), 1)
    out = []
    for start in range(0, len(calls), W):
        batch = [client.submit(*call, pure=False,
                               **({"workers": [workers[(start + k) % W]],
                                   "allow_other_workers": True} if workers else {}))
                 for k, call in enumerate(calls[start:start + W])]
        wait(batch)
        out.extend(batch)
    return out


def _default_blocks(client) -> int:
    """One block per worker thread.

    Why not more: a block's factor rows, the row solves' temporaries (``_exact_rows``) and the
    extraction tasks grow with ``Σ_b |ref_b|`` (up to ``B·n`` when rows are short) and ``B²``;
    at 10⁶ entries, r = 10 on 2 workers, ``B = 2`` swept in 0.48 s and ``B = 4`` in 0.54 s
    (medians of 5, shared machine).  Fewer blocks than threads would leave threads idle.
    """
    return max(1, sum(client.nthreads().values()))


class BlockedEntries:
    """Observed entries of an ``m×n`` matrix partitioned into row and column blocks on a cluster.

    Attributes: ``shape``, ``n_blocks`` (``B``), ``nnz``, ``client``; ``blocks["rows"]`` and
    ``blocks["cols"]`` (lists of ``B`` futures of :class:`SideBlock`); ``info[side]`` (per-block
    :class:`BlockInfo`); ``ref_counts[side]`` (``B×B``: row ``b`` counts the ids of each
    other-side block referenced by block ``b``, i.e. the factor rows block ``b`` receives in a
    half-sweep).  Build with :meth:`from_triplets`, :meth:`from_scipy`,
    :meth:`from_dask_dataframe` or :func:`read_triplets`.
    """

    def __init__(self, client, shape: tuple[int, int], n_blocks: int,
                 blocks: dict[str, list], info: dict[str, list[BlockInfo]]):
        self.client = client
        self.shape = shape
        self.n_blocks = n_blocks
        self.blocks = blocks
        self.info = info
        self.nnz = int(sum(i.nnz for i in info["rows"]))
        if self.nnz != sum(i.nnz for i in info["cols"]):  # pragma: no cover - internal check
            raise RuntimeError("row and column blocks disagree on the number of entries")
        self.ref_counts = {s: np.array([i.ref_counts for i in info[s]]) for s in SIDES}

    # ---- constructors

    @classmethod
    def from_triplets(cls, rows, cols, values, shape=None, *, n_blocks: int | None = None,
                      client=None) -> BlockedEntries:
        """From NumPy arrays of row ids, col ids and values (``shape`` default: max ids + 1).

        The client splits the entries by block; one task per block (its arguments in the graph,
        hence recomputable) sorts them and builds the CSR on a worker.
        """
        client = _get_client(client)
        shape = check_shape(shape)
        n_blocks = _default_blocks(client) if n_blocks is None else check_n_blocks(n_blocks)
        rows, cols, vals = check_triplets(rows, cols, values, shape)
        if vals.size == 0:
            raise ValueError("values is empty: no observed entries")
        if shape is None:
            shape = (int(rows.max()) + 1, int(cols.max()) + 1)
        calls = []
        for s, (a, b) in zip(SIDES, ((rows, cols), (cols, rows)), strict=True):
            pieces = _split_side(a, b, vals, n_blocks)
            total, other = (shape[0], shape[1]) if s == "rows" else (shape[1], shape[0])
            calls += [(build_block, pieces[k], s, k, n_blocks, total, other)
                      for k in range(n_blocks)]
        built = submit_spread(client, calls)
        futures = {"rows": built[:n_blocks], "cols": built[n_blocks:]}
        return cls._finish(client, shape, n_blocks, futures)

    @classmethod
    def from_scipy(cls, Y, *, n_blocks: int | None = None, client=None) -> BlockedEntries:
        """From the stored entries of a ``scipy.sparse`` matrix (explicit zeros are entries)."""
        if not sp.issparse(Y) or Y.ndim != 2:
            raise TypeError(f"Y must be a 2-D scipy.sparse matrix, got {type(Y).__name__}")
        coo = sp.coo_matrix(Y)
        if not (np.issubdtype(coo.dtype, np.integer) or np.issubdtype(coo.dtype, np.floating)):
            raise TypeError(f"Y must hold real numbers, got dtype {coo.dtype}")
        return cls.from_triplets(coo.row.astype(np.int64), coo.col.astype(np.int64),
                                 coo.data.astype(float), coo.shape, n_blocks=n_blocks,
                                 client=client)

    @classmethod
    def from_dask_dataframe(cls, ddf, shape=None, *, n_blocks: int | None = None,
                            client=None) -> BlockedEntries:
        """From a ``dask.dataframe.DataFrame`` with integer columns ``row``, ``col`` and a real
        column ``value``, without loading the data into one process.

        Graph: one split task per partition (validates it and cuts it into ``2B`` pieces by
        ``row mod B`` and ``col mod B``), one concatenation task per block, one CSR task per
        block.  With ``shape=None`` the shape is ``(max row + 1, max col + 1)``, from one small
        task per row block.
        """
        import dask
        import dask.dataframe as dd

        if not isinstance(ddf, dd.DataFrame):
            raise TypeError(f"ddf must be a dask.dataframe.DataFrame, got {type(ddf).__name__}")
        missing = [c for c in COLUMNS if c not in ddf.columns]
        if missing:
            raise ValueError(f"ddf is missing the column(s) {missing}; it needs 'row', 'col' "
                             f"and 'value', has {list(ddf.columns)}")
        for c in ("row", "col"):
            if not np.issubdtype(np.dtype(ddf.dtypes[c]), np.integer):
                raise TypeError(f"column {c!r} of ddf must hold integer ids, got dtype "
                                f"{ddf.dtypes[c]}")
        client = _get_client(client)
        shape = check_shape(shape)
        B = _default_blocks(client) if n_blocks is None else check_n_blocks(n_blocks)
        parts = ddf[list(COLUMNS)].to_delayed()
        split = [dask.delayed(split_partition, nout=2 * B, pure=True)(p, B, shape)
                 for p in parts]
        concat = [dask.delayed(concat_pieces, pure=True)(*[s[k] for s in split])
                  for k in range(2 * B)]
        pieces = client.compute(concat)
        if shape is None:
            maxima = gather_or_cancel(
                client, [client.submit(max_ids, f, pure=False) for f in pieces[:B]], pieces)
            if sum(t[2] for t in maxima) == 0:
                raise ValueError("ddf has no rows: no observed entries")
            shape = (max(t[0] for t in maxima) + 1, max(t[1] for t in maxima) + 1)
        calls = []
        for k, s in enumerate(SIDES):
            total, other = (shape[0], shape[1]) if s == "rows" else (shape[1], shape[0])
            calls += [(build_block, pieces[k * B + b], s, b, B, total, other) for b in range(B)]
        try:
            built = submit_spread(client, calls)
            futures = {"rows": built[:B], "cols": built[B:]}
            out = cls._finish(client, shape, B, futures)
        except BaseException:
            client.cancel(pieces)
            raise
        if out.nnz == 0:
            raise ValueError("ddf has no rows: no observed entries")
        return out

    @classmethod
    def _finish(cls, client, shape, n_blocks, futures) -> BlockedEntries:
        """Wait for the blocks (raising the workers' validation errors) and fetch metadata."""
        blocks = futures["rows"] + futures["cols"]
        infos = gather_or_cancel(client, [client.submit(block_info, f, pure=False)
                                          for f in blocks], blocks)
        B = n_blocks
        info = {"rows": infos[:B], "cols": infos[B:]}
        return cls(client, shape, n_blocks, futures, info)

    # ---- queries

    def other(self, side: str) -> str:
        if side not in SIDES:
            raise ValueError(f"side must be 'rows' or 'cols', got {side!r}")
        return "cols" if side == "rows" else "rows"

    def size(self, side: str) -> int:
        """Number of rows of ``M`` on ``side``: ``m`` for ``"rows"``, ``n`` for ``"cols"``."""
        return self.shape[0] if side == "rows" else self.shape[1]

    def referenced(self, index: int, side: str = "rows") -> np.ndarray:
        """Global other-side ids referenced by block ``index`` of ``side`` (fetched)."""
        self.other(side)
        return self.client.submit(block_referenced, self.blocks[side][index],
                                  pure=False).result()

    def factor_rows_per_sweep(self) -> int:
        """Factor rows sent block-to-block in one full sweep: ``Σ ref_counts`` of both sides
        (times ``8r`` bytes; a row already on the receiving worker is not moved)."""
        return int(self.ref_counts["rows"].sum() + self.ref_counts["cols"].sum())

    def to_triplets(self, side: str = "rows") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All entries ``(row, col, value)`` of ``Y`` gathered on the client, in CSR order
        (row-major) — for tests and small data only."""
        self.other(side)
        parts = self.client.gather([self.client.submit(block_triplets, f, pure=False)
                                    for f in self.blocks[side]])
        r, c, v = (np.concatenate([p[k] for p in parts]) for k in range(3))
        if side == "cols":
            r, c = c, r
        order = np.lexsort((c, r))
        return r[order], c[order], v[order]

    def release(self) -> None:
        """Drop the block futures (the workers free the blocks)."""
        self.blocks = {s: [] for s in SIDES}

    def __repr__(self) -> str:
        return (f"BlockedEntries(shape={self.shape}, nnz={self.nnz}, "
                f"n_blocks={self.n_blocks})")


def read_triplets(path, *, format: str | None = None, shape=None, n_blocks: int | None = None,
                  client=None, **read_kwargs) -> BlockedEntries:
    """Read ``row, col, value`` triplets from Parquet or CSV files through ``dask.dataframe``.

    ``format``: ``"parquet"`` or ``"csv"`` (default: from the extension of ``path``; a
    directory is Parquet).  ``read_kwargs`` go to ``dask.dataframe.read_parquet`` /
    ``read_csv``.  Nothing is loaded into one process: see
    :meth:`BlockedEntries.from_dask_dataframe`.
    """
    import os

    import dask.dataframe as dd

    p = os.fspath(path)
    if format is None:
        low = p.lower().rstrip("/")
        if low.endswith((".csv", ".csv.gz", ".txt")):
            format = "csv"
        elif low.endswith((".parquet", ".pq")) or os.path.isdir(p):
            format = "parquet"
        else:
            raise ValueError(f"format of path {p!r} is unknown: pass format='parquet' or 'csv'")
    if format == "parquet":
        ddf = dd.read_parquet(p, columns=list(COLUMNS), **read_kwargs)
    elif format == "csv":
        read_kwargs.setdefault("dtype", {"row": "int64", "col": "int64", "value": "float64"})
        read_kwargs.setdefault("usecols", list(COLUMNS))
        ddf = dd.read_csv(p, **read_kwargs)
    else:
        raise ValueError(f"format must be 'parquet' or 'csv', got {format!r}")
    return BlockedEntries.from_dask_dataframe(ddf, shape, n_blocks=n_blocks, client=client)
