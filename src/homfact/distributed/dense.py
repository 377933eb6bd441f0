"""Dense low-rank approximation on a Dask cluster: row blocks, the map and the polar's operator.

The data ``Y`` (``m×n``, dense, possibly larger than one machine's memory) is held on the
workers as ``B`` *row blocks*: block ``b`` is the contiguous range of rows
``bounds[b]:bounds[b+1]``, one future per block (:class:`DenseBlocks`, built from a
``dask.array.Array`` by :meth:`DenseBlocks.from_dask_array`).  The factors ``U`` (``m×r``) and
``V`` (``n×r``) stay NumPy arrays on the client.  The map assumes ``n ≤ m`` (the row blocks are
the long side): the polar's Gram matrix ``GᵀG = Σ_b G_bᵀG_b`` is ``n×n`` and one reduction, and a
wide ``Y`` is fitted through its transpose (:func:`homfact.distributed.dense_problem.fit_low_rank`
does it, the problem being symmetric under transposition).

Public names
------------
:class:`DenseBlocks`
    The output representation of the core loop (docs: theory/problem-class, 'The output
    representation'): an ``m×n`` matrix as one future per row block, with ``+``, ``−``,
    unary ``−``, ``*`` by a real number (``B`` tasks each, on the worker holding the block),
    :meth:`DenseBlocks.vdot` (``B`` dot products summed on the client in block order),
    :meth:`DenseBlocks.fingerprint` (independent of the blocking), :meth:`DenseBlocks.release`
    and :meth:`DenseBlocks.to_numpy` (tests).
:class:`DaskBilinear`
    :class:`homfact.maps.Bilinear` (atoms ``u vᵀ``, the output the dense ``UVᵀ``) on row blocks,
    with its semantics method by method (equal to rounding: sums over blocks add in another
    order).
:class:`DenseBlockOperator`
    ``G`` for :class:`homfact.polar.OperatorNuclearPolar`: ``matvec``, ``rmatvec``, ``matmat``,
    ``rmatmat``, the exact norms ``‖G‖_F``, ``‖G‖₁``, ``‖G‖_∞`` and :meth:`~DenseBlockOperator.
    gram_matrix` (the ``n×n`` Gram summed on the workers, with a rounding allowance stated for
    :func:`homfact.polar.core.gram_sigma_max_top`).
:func:`als_dense_blocks`
    The ridge ALS of :func:`homfact.solvers.als.als_dense` (same sweeps, same stopping rule,
    same objective formula) with the products against ``Y`` on the workers: one round trip
    per sweep.
:func:`plan_row_blocks`
    How the user's row chunks become blocks (kept, merged or split; see its docstring).

Sums over blocks are pairwise tree reductions (:func:`homfact.distributed.maps._reduce`): the
client receives one result, or, below ``GATHER_FLOATS`` floats in all, the pieces summed on
the client in the same pairing.  Every operation submits a fixed number of tasks and keeps no
reference to earlier ones, so the scheduler's graph does not grow over sweeps.
"""

from __future__ import annotations

import itertools
import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from ..solvers.als import LocalResult, _ridge_right
from ..tolerance import relative_to
from .blocks import _get_client, gather_or_cancel
from .maps import BilinearGradients, _ship, gram_pair
from .maps import _reduce as _maps_reduce
from .ops import _check_factor, _check_lam, as_vector
from .outputs import BlockArithmetic, _add, _mix64

__all__ = ["DaskBilinear", "DenseBlockOperator", "DenseBlocks", "RowLayout", "als_dense_blocks",
           "plan_row_blocks"]

_EPS = float(np.finfo(float).eps)
_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

#: a block's target size in bytes when the user's row chunks are merged (:func:`plan_row_blocks`)
TARGET_BLOCK_BYTES = 1 << 27

#: entries hashed at once by :func:`dense_hash` (bounds its temporaries)
_HASH_SLAB = 1 << 20


# --------------------------------------------------------------------------------------------
# worker-side tasks


def _aligned(x):
    """``x`` itself, or a C-ordered copy when it is a NumPy array without NumPy's *aligned*
    flag (recursively inside tuples and lists).

    Why: an array deserialized from a network message (a block or a vector moved to another
    worker, a result gathered on the client) may start at any byte offset (measured: address
    ``≡ 19 mod 64``); NumPy then bypasses BLAS for ``@`` and ``vdot`` and sums in another
    order, so the same task gave different last bits on the worker that held the block and on
    one that received a copy.  Realigned, every product is BLAS's, whatever the placement, and
    a fit is reproducible bit for bit (checkpoint/resume relies on it)."""
    if isinstance(x, np.ndarray):
        return x if x.flags.aligned and x.flags.c_contiguous else np.array(x, order="C")
    if isinstance(x, tuple | list):
        return type(x)(_aligned(v) for v in x)
    return x


def _prepare(a) -> np.ndarray:
    """A C-ordered float64 copy of a block (integers and booleans converted)."""
    return np.ascontiguousarray(a, dtype=np.float64)


def _block_stats(a: np.ndarray) -> tuple[int, float]:
    """``(number of NaN/inf entries, ⟨a, a⟩)`` (the inner product as :func:`_dot` computes
    it, so a cached ``‖Y‖²`` equals ``Y.vdot(Y)`` bit for bit)."""
    a = _aligned(a)
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    return bad, (_dot(a, a) if bad == 0 else float("nan"))


def _zeros(rows: int, cols: int) -> np.ndarray:
    return np.zeros((rows, cols))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``⟨a, b⟩ = Σ_ij a_ij b_ij`` (``np.vdot`` on the flattened blocks)."""
    return float(np.vdot(_aligned(a), _aligned(b)))


def dense_hash(a: np.ndarray, row0: int) -> int:
    """``Σ_{i,j} h(i, j, a_ij) mod 2⁶⁴`` over a block whose first row is global row ``row0``.

    ``h`` mixes the global ``(i, j)`` and the bits of the value with SplitMix64's finalizer
    (as :func:`homfact.distributed.outputs.entry_hash`); the sum is order independent, so the
    total over the blocks does not depend on the blocking, and a change of any one entry
    changes it unless two 64-bit hashes collide.  Hashed by slabs of about 2²⁰ entries."""
    rows_total, n = a.shape
    cols = np.arange(n, dtype=np.uint64)[None, :]
    step = max(1, _HASH_SLAB // max(n, 1))
    total = 0
    with np.errstate(over="ignore"):
        for lo in range(0, rows_total, step):
            hi = min(rows_total, lo + step)
            rows = np.arange(row0 + lo, row0 + hi, dtype=np.uint64)[:, None]
            x = _mix64(rows * _GOLDEN + cols)
            x = _mix64(x ^ np.ascontiguousarray(a[lo:hi], dtype=np.float64).view(np.uint64))
            total = (total + int(np.sum(x, dtype=np.uint64))) & _MASK64
    return total


def _forward(u_rows: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``U_b Vᵀ`` (the block's rows of ``UVᵀ``)."""
    return _aligned(u_rows) @ _aligned(V).T


def _subtract_atom(g: np.ndarray, s: float, u_rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``g − (s·u_b) vᵀ`` (a new array; the operand order of ``Bilinear.subtract_atom``'s
    ``dger``: ``g_ij + (−s·u_i)·v_j``)."""
    return g + np.outer(-s * _aligned(u_rows), _aligned(v))


def _matvec(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``G_b x`` (``x``: a vector or an ``n×r`` array)."""
    return _aligned(g) @ _aligned(x)


def _rmatvec(g: np.ndarray, y_rows: np.ndarray) -> np.ndarray:
    """``G_bᵀ y_b`` (``y_b``: the block's rows of a vector or an ``m×r`` array)."""
    return _aligned(g).T @ _aligned(y_rows)


def _gram_leaf(g: np.ndarray, x: np.ndarray) -> tuple[list, np.ndarray]:
    """``([G_b x], G_bᵀ(G_b x))`` in one task (the fused Lanczos step, as
    :func:`homfact.distributed.maps.gram_leaf`)."""
    g = _aligned(g)
    t = g @ _aligned(x)
    return [t], g.T @ t


def _norm_leaf(g: np.ndarray) -> tuple[float, np.ndarray, float]:
    """``(‖G_b‖_F², Σ_i |G_b[i, ·]|, max_i Σ_j |G_b[i, j]|)``."""
    g = _aligned(g)
    a = np.abs(g)
    row_max = float(a.sum(axis=1).max()) if g.shape[0] and g.shape[1] else 0.0
    return _dot(g, g), a.sum(axis=0), row_max


def _norm_pair(a: tuple, b: tuple) -> tuple[float, np.ndarray, float]:
    return a[0] + b[0], a[1] + b[1], max(a[2], b[2])


def _gram_block(g: np.ndarray) -> tuple[np.ndarray, float]:
    """``(G_bᵀG_b, ‖G_b‖_F²)``: each entry of ``G_bᵀG_b`` a dot product of ``m_b`` terms."""
    g = _aligned(g)
    return g.T @ g, _dot(g, g)


def _pair_add(a: tuple, b: tuple) -> tuple:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _atom_inner(g: np.ndarray, u_rows: np.ndarray, v: np.ndarray) -> float:
    """``u_bᵀ (G_b v)``."""
    return float(_aligned(u_rows) @ (_aligned(g) @ _aligned(v)))


def _als_rows(y: np.ndarray, V: np.ndarray, VtV: np.ndarray, lam: float) -> np.ndarray:
    """The block's rows of ``U = Y V (VᵀV + λI)⁻¹`` (:func:`homfact.solvers.als._ridge_right`
    on the block's rows of ``Y V``; the solve is row by row, so the rows are those of the
    one-machine ``U``)."""
    return _ridge_right(_aligned(y) @ _aligned(V), _aligned(VtV), lam)


def _als_stats(y: np.ndarray, u_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(Y_bᵀU_b, U_bᵀU_b, ‖U_b‖²)``: the block's terms of ``YᵀU``, ``UᵀU`` and ``‖U‖²``."""
    y, u_rows = _aligned(y), _aligned(u_rows)
    return y.T @ u_rows, u_rows.T @ u_rows, _dot(u_rows, u_rows)


def _reduce(client, futures: list, combine, floats: int):
    """:func:`homfact.distributed.maps._reduce` (tree on the workers, or the same pairing on
    the client), its result realigned on the client (:func:`_aligned`)."""
    return _aligned(_maps_reduce(client, futures, combine, floats))


# --------------------------------------------------------------------------------------------
# blocking


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _even_split(total: int, parts: int) -> tuple[int, ...]:
    q, r = divmod(total, parts)
    return tuple(q + (k < r) for k in range(parts))


def plan_row_blocks(chunks, n_cols: int, n_threads: int, *,
                    target_bytes: int = TARGET_BLOCK_BYTES) -> tuple[int, ...]:
    """Row counts of the blocks made from the row chunks ``chunks`` of an ``m × n_cols`` array.

    The user's chunking is kept unless it is absurd for this use:

    * fewer chunks than ``min(n_threads, m)``: split evenly into that many blocks (every worker
      thread gets a block; the blocks are smaller than the user's chunks, so memory is fine);
    * chunks much smaller than ``target_bytes`` (128 MiB): consecutive chunks are merged into
      ``max(n_threads, ⌈8·m·n_cols / target_bytes⌉)`` groups of about equal rows, cut at chunk
      edges (every operation is one task per block, and every reduction ``B`` pieces of
      ``n_cols`` to ``n_cols²`` floats, so thousands of tiny blocks cost more than the data);
    * otherwise kept as they are (chunks at or above the target: the user sized them for the
      workers' memory).
    """
    chunks = tuple(int(c) for c in chunks)
    m = sum(chunks)
    if m < 1:
        raise ValueError("the array has no rows")
    want = min(_check_positive_int(n_threads, "n_threads"), m)
    if len(chunks) < want:
        return _even_split(m, want)
    max_rows = max(1, int(target_bytes) // max(8 * int(n_cols), 1))
    groups = max(want, math.ceil(m / max_rows))
    if groups >= len(chunks):
        return tuple(c for c in chunks if c > 0)
    edges = np.concatenate([[0], np.cumsum(chunks)])
    cuts = sorted({int(edges[int(np.argmin(np.abs(edges - k * m / groups)))])
                   for k in range(1, groups)} - {0, m})
    bounds = [0, *cuts, m]
    return tuple(b - a for a, b in itertools.pairwise(bounds))


def _n_threads(client) -> int:
    return max(1, sum(client.nthreads().values()))


def check_dask_matrix(Y, name: str = "Y"):
    """``Y`` must be a 2-D ``dask.array.Array`` of real numbers with known, non-zero sides;
    ``TypeError``/``ValueError`` naming ``name`` otherwise (NaN/inf are found on the workers
    by :meth:`DenseBlocks.from_dask_array`)."""
    import dask.array as da

    if not isinstance(Y, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(Y).__name__}")
    if Y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {Y.ndim} dimension(s). Reshape your "
                         f"data with {name}.reshape(1, -1) if it is a single row")
    if any(isinstance(s, float) and math.isnan(s) for s in Y.shape):
        raise ValueError(f"{name} has unknown chunk sizes (shape {Y.shape}): call "
                         f"{name}.compute_chunk_sizes() first")
    kind = np.dtype(Y.dtype).kind
    if kind == "c":
        raise TypeError(f"{name} must hold real numbers, got the complex dtype {Y.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {Y.dtype}")
    if min(Y.shape) < 1:
        raise ValueError(f"{name} is empty: shape {Y.shape}")
    return Y


# --------------------------------------------------------------------------------------------
# the output representation


@dataclass(frozen=True)
class RowLayout:
    """Shape ``(m, n)`` and row bounds (``B + 1`` offsets) of a row-blocked matrix."""

    shape: tuple[int, int]
    bounds: tuple[int, ...]

    @property
    def n_blocks(self) -> int:
        return len(self.bounds) - 1

    def rows(self, b: int) -> slice:
        return slice(self.bounds[b], self.bounds[b + 1])

    @property
    def max_rows(self) -> int:
        return max(b - a for a, b in itertools.pairwise(self.bounds))


class DenseBlocks(BlockArithmetic):
    """An ``m×n`` float matrix held as one future per row block (block ``b``: rows
    ``layout.rows(b)``, a C-ordered float64 NumPy array on a worker).

    Operations return new matrices (nothing is updated in place; each submits ``B`` tasks)
    and combine only matrices of the same :class:`RowLayout`.  ``sqnorm`` is ``⟨Y, Y⟩`` when
    known (the data, from :meth:`from_dask_array`), else ``None``.
    """

    #: NumPy defers to the reflected operators (``np.float64(2.0) * G`` calls ``G.__rmul__``)
    __array_ufunc__ = None

    def __init__(self, client, layout: RowLayout, parts: list, *, sqnorm: float | None = None):
        if not isinstance(layout, RowLayout):
            raise TypeError(f"layout must be a RowLayout, got {type(layout).__name__}")
        if len(parts) != layout.n_blocks:
            raise ValueError(f"parts must hold one future per block ({layout.n_blocks}), got "
                             f"{len(parts)}")
        self.client = client
        self.layout = layout
        self.parts = list(parts)
        self.sqnorm = sqnorm

    # ---- constructors

    @classmethod
    def from_dask_array(cls, Y, *, transpose: bool = False, n_blocks: int | None = None,
                        client=None) -> DenseBlocks:
        """``Y`` (or ``Yᵀ`` with ``transpose=True``) persisted on the workers as row blocks.

        ``Y``: a 2-D ``dask.array.Array`` of real numbers (integers and booleans are converted
        to float64).  The rows keep the user's chunking unless :func:`plan_row_blocks` says
        otherwise (``n_blocks``: split into that many blocks of about equal rows instead); the
        columns are one chunk (``rechunk({1: -1})``).  Each block is the result of a task of
        ``Y``'s own graph, so a lost block is recomputed from its recipe.  One task per block
        then counts the NaN/inf entries and computes ``‖Y_b‖²``: ``ValueError`` when any entry
        is not finite (the blocks are released first), else ``sqnorm = Σ_b ‖Y_b‖²``.
        """
        import dask

        check_dask_matrix(Y)
        client = _get_client(client)
        A = Y.T if transpose else Y
        m, n = (int(s) for s in A.shape)
        if n_blocks is None:
            rows = plan_row_blocks(A.chunks[0], n, _n_threads(client))
        else:
            rows = _even_split(m, min(_check_positive_int(n_blocks, "n_blocks"), m))
        A = A.rechunk({0: rows, 1: -1})
        pieces = A.to_delayed().ravel().tolist()
        parts = client.compute([dask.delayed(_prepare, pure=True)(p) for p in pieces])
        stats = gather_or_cancel(client, [client.submit(_block_stats, p, pure=False)
                                          for p in parts], parts)
        if any(bad for bad, _ in stats):
            client.cancel(parts)
            raise ValueError("Y contains NaN or infinite values "
                             f"({sum(bad for bad, _ in stats)} entries)")
        bounds = (0, *(int(b) for b in np.cumsum(rows)))
        return cls(client, RowLayout((m, n), bounds), parts,
                   sqnorm=float(sum(s for _, s in stats)))

    @classmethod
    def from_numpy(cls, Y: np.ndarray, *, n_blocks: int | None = None, client=None
                   ) -> DenseBlocks:
        """A NumPy matrix split into row blocks (tests, small data): ``from_dask_array`` of
        ``dask.array.from_array(Y)``."""
        import dask.array as da

        Y = np.asarray(Y)
        if Y.ndim != 2:
            raise ValueError(f"Y must be a 2-D array, got {Y.ndim} dimension(s)")
        return cls.from_dask_array(da.from_array(Y, chunks=(max(Y.shape[0], 1), -1)),
                                   n_blocks=n_blocks, client=client)

    def zeros_like(self) -> DenseBlocks:
        bounds, n = self.layout.bounds, self.layout.shape[1]
        return self._new([self.client.submit(_zeros, bounds[b + 1] - bounds[b], n, pure=False)
                          for b in range(self.layout.n_blocks)])

    def _new(self, parts: list) -> DenseBlocks:
        return DenseBlocks(self.client, self.layout, parts)

    # ---- protocol

    @property
    def shape(self) -> tuple[int, int]:
        return self.layout.shape

    @property
    def n_blocks(self) -> int:
        return self.layout.n_blocks

    def _map(self, func, *args) -> DenseBlocks:
        client = self.client
        return self._new([client.submit(func, *(a[b] if isinstance(a, list) else a
                                                for a in args), pure=False)
                          for b in range(self.n_blocks)])

    def _check_other(self, other) -> bool:
        if not isinstance(other, DenseBlocks):
            return False
        if other.layout != self.layout:
            raise ValueError("DenseBlocks combine only on the same shape and row blocks (got "
                             f"{self.layout} and {other.layout})")
        return True

    def vdot(self, other: DenseBlocks) -> float:
        """``⟨self, other⟩ = Σ_b ⟨self_b, other_b⟩`` (``B`` tasks, summed on the client in
        block order; ``⟨Y, Y⟩`` of the data is the cached ``sqnorm``, computed so)."""
        if not self._check_other(other):
            raise TypeError(f"vdot needs a DenseBlocks, got {type(other).__name__}")
        if other is self and self.sqnorm is not None:
            return self.sqnorm
        client = self.client
        futs = [client.submit(_dot, a, b, pure=False)
                for a, b in zip(self.parts, other.parts, strict=True)]
        return float(sum(gather_or_cancel(client, futs)))

    # ---- identity and inspection

    def fingerprint(self) -> dict:
        """``{"shape", "hash"}``: ``hash`` is :func:`dense_hash` summed over the blocks mod
        ``2⁶⁴``, so it does not depend on the number of blocks."""
        client = self.client
        futs = [client.submit(dense_hash, p, self.layout.bounds[b], pure=False)
                for b, p in enumerate(self.parts)]
        total = sum(gather_or_cancel(client, futs)) & _MASK64
        return {"shape": list(self.shape), "hash": f"{total:016x}"}

    def to_numpy(self) -> np.ndarray:
        """The matrix gathered on the client (tests and small data only)."""
        return np.vstack(self.client.gather(self.parts))

    def release(self) -> None:
        """Drop the futures (the workers free the blocks)."""
        self.parts = []

    def __repr__(self) -> str:
        return f"DenseBlocks(shape={self.shape}, n_blocks={self.n_blocks})"


# --------------------------------------------------------------------------------------------
# the operator


class DenseBlockOperator:
    """``G`` (``m×n``) held as :class:`DenseBlocks`, for :class:`homfact.polar.
    OperatorNuclearPolar`.

    ``matvec``/``rmatvec`` take and return NumPy vectors, :meth:`matmat`/:meth:`rmatmat`
    ``n×r``/``m×r`` arrays.  ``G x`` is local to the blocks, ``Gᵀ y = Σ_b G_bᵀ y_b`` a tree
    reduction.  ``matvec`` also computes ``Gᵀ(G x)`` in the same tasks (the pieces and the Gram
    terms travel up one tree, as :class:`homfact.distributed.BlockOperator` does), and
    ``rmatvec`` of that same vector (equal bitwise) returns it: one round trip per Lanczos
    step.  The norms and the Gram matrix are computed once and cached (the operator is
    immutable).
    """

    def __init__(self, blocks: DenseBlocks):
        if not isinstance(blocks, DenseBlocks):
            raise TypeError(f"blocks must be a DenseBlocks, got {type(blocks).__name__}")
        self.blocks = blocks
        self.layout = blocks.layout
        self.shape = tuple(int(s) for s in blocks.shape)
        self.nnz = self.shape[0] * self.shape[1]
        self.dtype = np.dtype(float)
        self._fused: tuple[np.ndarray, np.ndarray] | None = None
        self._norms: tuple[float, float, float] | None = None
        self._gram: tuple[np.ndarray, float, int] | None = None
        #: local products and reductions run (for tests and benchmarks)
        self.n_local = self.n_reductions = 0

    @property
    def client(self):
        return self.blocks.client

    def _stack(self, pieces: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(pieces, axis=0)

    def _local(self, x: np.ndarray) -> np.ndarray:
        """``G x`` (``B`` tasks, pieces gathered in block order)."""
        client = self.client
        xs = _ship(client, x)
        futs = [client.submit(_matvec, g, xs, pure=False) for g in self.blocks.parts]
        self.n_local += 1
        return self._stack(gather_or_cancel(client, futs))

    def _reduced(self, y: np.ndarray) -> np.ndarray:
        """``Gᵀ y = Σ_b G_bᵀ y_b`` (tree reduction)."""
        client, lay = self.client, self.layout
        futs = [client.submit(_rmatvec, g, np.ascontiguousarray(y[lay.rows(b)]), pure=False)
                for b, g in enumerate(self.blocks.parts)]
        self.n_reductions += 1
        width = int(np.prod(y.shape[1:], dtype=np.int64))
        return _reduce(client, futs, _add, self.shape[1] * width)

    def _local_with_gram(self, x: np.ndarray) -> np.ndarray:
        client = self.client
        xs = _ship(client, x)
        leaves = [client.submit(_gram_leaf, g, xs, pure=False) for g in self.blocks.parts]
        self.n_reductions += 1
        pieces, gram = _reduce(client, leaves, gram_pair, self.shape[1] + self.layout.max_rows)
        t = self._stack(pieces)
        self._fused = (t.copy(), gram)
        return t

    # ---- products with G

    def matvec(self, x) -> np.ndarray:
        """``G x`` (``x`` of length n); ``Gᵀ(G x)`` is kept for :meth:`rmatvec`."""
        return self._local_with_gram(as_vector(x, self.shape[1], "x"))

    def rmatvec(self, y) -> np.ndarray:
        """``Gᵀ y`` (``y`` of length m): the kept Gram product when ``y`` is the last
        ``G x`` (bitwise), else a reduction."""
        y = as_vector(y, self.shape[0], "y")
        if self._fused is not None and np.array_equal(self._fused[0], y):
            return self._fused[1].copy()
        return self._reduced(y)

    def matmat(self, X) -> np.ndarray:
        """``G X`` (``X``: ``n×r``)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"X must have shape ({self.shape[1]}, r), got {X.shape}")
        return self._local(X)

    def rmatmat(self, Y) -> np.ndarray:
        """``Gᵀ Y`` (``Y``: ``m×r``)."""
        Y = np.asarray(Y, dtype=float)
        if Y.ndim != 2 or Y.shape[0] != self.shape[0]:
            raise ValueError(f"Y must have shape ({self.shape[0]}, r), got {Y.shape}")
        return self._reduced(Y)

    # ---- exact norms and the Gram matrix

    def _all_norms(self) -> tuple[float, float, float]:
        """``(‖G‖_F², ‖G‖₁, ‖G‖_∞)`` in one pass over the blocks (cached)."""
        if self._norms is None:
            client = self.client
            leaves = [client.submit(_norm_leaf, g, pure=False) for g in self.blocks.parts]
            sq, col, row_max = _reduce(client, leaves, _norm_pair, self.shape[1])
            self._norms = (float(sq), float(col.max()) if col.size else 0.0, float(row_max))
        return self._norms

    def fro_norm(self) -> float:
        """``‖G‖_F = √(Σ_b ‖G_b‖²)`` (a sum of ``m·n`` squares)."""
        return math.sqrt(self._all_norms()[0])

    def one_norm(self) -> float:
        """``‖G‖₁ = max_j Σ_i |G_ij|`` (column sums of ``m`` terms, reduced over blocks)."""
        return self._all_norms()[1]

    def inf_norm(self) -> float:
        """``‖G‖_∞ = max_i Σ_j |G_ij|`` (row sums of ``n`` terms, local to a block)."""
        return self._all_norms()[2]

    def gram_matrix(self) -> tuple[np.ndarray, float, int]:
        """``(S, fro2, length)``: the ``n×n`` Gram ``S ≈ GᵀG = Σ_b G_bᵀG_b``, a computed
        ``‖G‖²_F`` and the rounding length, for :func:`homfact.polar.core.gram_sigma_max_top`.

        Requires ``n ≤ m`` (the smaller side is ``n``; :class:`DaskBilinear` ensures it).
        Each block computes ``G_bᵀG_b`` (BLAS: every entry a dot product of ``m_b`` terms,
        ``|error| ≤ γ_{m_b}·(|G_b|ᵀ|G_b|)`` entrywise in any summation order, Higham 2002,
        §3.1) and ``‖G_b‖²`` (``m_b·n`` terms); the ``B`` pieces are added by a pairwise tree,
        at most ``⌈log₂ B⌉ ≤ B`` further roundings on any path.  So every entry of ``S`` carries
        at most ``length = max_b m_b + B`` roundings on any path: ``|S − GᵀG| ≤
        γ_length·|G|ᵀ|G|``.  ``fro2`` has at most ``m_b·n + B ≤ 2·length·n`` roundings on any
        path, so it is within relative ``γ_{2·length·n}`` (a sum of non-negative terms).
        """
        if self._gram is None:
            m, n = self.shape
            if n > m:
                raise ValueError(f"gram_matrix needs n <= m (the Gram side is the smaller one), "
                                 f"got shape {self.shape}: transpose the data")
            client = self.client
            leaves = [client.submit(_gram_block, g, pure=False) for g in self.blocks.parts]
            S, fro2 = _reduce(client, leaves, _pair_add, n * n)
            self._gram = (np.asarray(S, dtype=float), float(fro2),
                          int(self.layout.max_rows + self.layout.n_blocks))
        S, fro2, length = self._gram
        return S.copy(), fro2, length

    def to_numpy(self) -> np.ndarray:
        """``G`` gathered on the client (tests, small data)."""
        return self.blocks.to_numpy()


# --------------------------------------------------------------------------------------------
# the map


class DaskBilinear(BilinearGradients):
    """``Φ(U, V) = UVᵀ`` (dense, ``m×n``, degree 2) with outputs as :class:`DenseBlocks`.

    The distributed counterpart of :class:`homfact.maps.Bilinear`, with the same semantics
    method by method; its output lives on the row blocks of ``data`` (the data matrix ``Y``,
    whose layout every output shares).  Needs ``n ≤ m`` (fit a wide matrix through its
    transpose).  Factors and slices are NumPy arrays on the client; a method sends each block
    its own rows of ``U`` (or ``u``) and the whole ``V`` (or ``v``).  ``fingerprint()`` is the
    shape (the map holds no data; the loss's data fingerprint covers ``Y``).
    """

    n_blocks = 2
    degree = 2

    def __init__(self, data: DenseBlocks):
        if not isinstance(data, DenseBlocks):
            raise TypeError(f"data must be a DenseBlocks, got {type(data).__name__}")
        m, n = data.shape
        if n > m:
            raise ValueError(f"data must have n <= m (row blocks on the long side), got shape "
                             f"{data.shape}: use DenseBlocks.from_dask_array(Y, transpose=True) "
                             f"and swap the factors")
        self.data = data
        self.layout = data.layout
        self.shape = (int(m), int(n))

    @property
    def block_sizes(self) -> tuple[int, int]:
        return self.shape

    @property
    def client(self):
        return self.data.client

    def _check_output(self, G) -> None:
        if not isinstance(G, DenseBlocks):
            raise TypeError(f"G must be a DenseBlocks, got {type(G).__name__}")
        if G.layout != self.layout:
            raise ValueError(f"G has the layout {G.layout}, the map {self.layout}")

    def _columns(self, columns) -> tuple[np.ndarray, np.ndarray]:
        u, v = (np.asarray(c, dtype=float).reshape(-1) for c in columns)
        if u.shape != (self.shape[0],) or v.shape != (self.shape[1],):
            raise ValueError(f"columns must have lengths {self.shape}, got {u.shape[0]} and "
                             f"{v.shape[0]}")
        return u, v

    # ---- outputs

    def forward(self, factors: list[np.ndarray]) -> DenseBlocks:
        """``UVᵀ``: block ``b`` is ``U_b Vᵀ`` (zeros for ``r = 0``)."""
        U, V = self._check_factors(factors)
        if U.shape[1] == 0:
            return self.data.zeros_like()
        client, lay = self.client, self.layout
        Vs = _ship(client, V)
        return self.data._new([client.submit(_forward, np.ascontiguousarray(U[lay.rows(b)]), Vs,
                                             pure=False) for b in range(lay.n_blocks)])

    def atom(self, columns: list[np.ndarray]) -> DenseBlocks:
        """``u vᵀ`` (each entry one product, as ``np.outer``)."""
        u, v = self._columns(columns)
        return self.forward([u[:, None], v[:, None]])

    def subtract_atom(self, G: DenseBlocks, s: float, columns: list[np.ndarray]
                      ) -> DenseBlocks:
        """``G − s·u vᵀ`` (a new matrix: ``B`` tasks; ``G`` is not modified)."""
        self._check_output(G)
        u, v = self._columns(columns)
        client, lay = self.client, self.layout
        vs = _ship(client, v)
        return G._new([client.submit(_subtract_atom, g, float(s),
                                     np.ascontiguousarray(u[lay.rows(b)]), vs, pure=False)
                       for b, g in enumerate(G.parts)])

    # ---- the polar's input and the gradients

    def operator(self, G: DenseBlocks) -> DenseBlockOperator:
        """``A*(G) = G`` as the operator the polar reads (:class:`DenseBlockOperator`)."""
        self._check_output(G)
        return DenseBlockOperator(G)

    adjoint = operator

    def atom_inner(self, G: DenseBlocks, columns: list[np.ndarray]) -> float:
        """``⟨G, u vᵀ⟩ = uᵀ G v = Σ_b u_bᵀ(G_b v)`` (``B`` tasks, summed in block order)."""
        self._check_output(G)
        u, v = self._columns(columns)
        client, lay = self.client, self.layout
        vs = _ship(client, v)
        futs = [client.submit(_atom_inner, g, np.ascontiguousarray(u[lay.rows(b)]), vs,
                              pure=False) for b, g in enumerate(G.parts)]
        return float(sum(gather_or_cancel(client, futs)))

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        """``‖u vᵀ‖² = ‖u‖²‖v‖²`` (on the client)."""
        u, v = self._columns(columns)
        return float(u @ u) * float(v @ v)

    # ---- identity

    def fingerprint(self) -> dict:
        """``{"shape"}``: the map is fixed by its shape (the data enters through the loss)."""
        return {"shape": list(self.shape)}

    def __repr__(self) -> str:
        return f"DaskBilinear(shape={self.shape}, n_blocks={self.layout.n_blocks})"


# --------------------------------------------------------------------------------------------
# the local solver's sweeps


def als_dense_blocks(data: DenseBlocks, U, V, lam: float, *, max_sweeps: int = 100,
                     tol: float = 1e-9, deadline: float = math.inf) -> LocalResult:
    """:func:`homfact.solvers.als.als_dense` on the row blocks of ``Y``: the same sweeps, the
    same stopping rule (relative decrease ``(f_old − f)/f ≤ tol``, the deadline, ``max_sweeps``)
    and the same objective formula, equal to the one-machine run to rounding.

    A sweep, from ``V`` on the client:

    1. every block computes its rows ``U_b = Y_b V (VᵀV + λI)⁻¹`` (kept on its worker) and
       ``(Y_bᵀU_b, U_bᵀU_b, ‖U_b‖²)``; a tree reduction brings ``YᵀU``, ``UᵀU`` and ``‖U‖²``
       to the client (one round trip, ``n·r + r² + 1`` floats per piece);
    2. the client solves ``V = YᵀU (UᵀU + λI)⁻¹`` and evaluates
       ``f = ½(‖Y‖² − 2⟨YᵀU, V⟩ + ⟨UᵀU, VᵀV⟩) + (λ/2)(‖U‖² + ‖V‖²)`` (``‖Y‖²`` computed once,
       when the blocks were built).

    ``U`` is gathered once, after the last sweep (``m·r`` floats).  ``U`` is only checked for
    its shape (the first sweep overwrites it).
    """
    m, n = data.shape
    lam = _check_lam(lam)
    V = _check_factor(V, n, "V")
    r = V.shape[1]
    U = _check_factor(U, m, "U", r)
    if data.sqnorm is None:
        raise ValueError("data must be the data matrix (DenseBlocks.from_dask_array), whose "
                         "squared norm is known")
    yy = float(data.sqnorm)
    client = data.client
    f_old = rel = f = math.inf
    sweeps = 0
    rows_futs: list | None = None
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        Vs = _ship(client, V)
        VtV = V.T @ V
        rows_futs = [client.submit(_als_rows, y, Vs, VtV, lam, pure=False)
                     for y in data.parts]
        stats = [client.submit(_als_stats, y, u, pure=False)
                 for y, u in zip(data.parts, rows_futs, strict=True)]
        YtU, UtU, uu = _reduce(client, stats, _pair_add, n * r + r * r + 1)
        V = _ridge_right(YtU, UtU, lam)
        f = 0.5 * (yy - 2 * np.vdot(YtU, V) + np.vdot(UtU, V.T @ V)) + 0.5 * lam * (
            float(uu) + np.vdot(V, V))
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    if rows_futs is not None:
        U = np.concatenate(gather_or_cancel(client, rows_futs), axis=0)
    return LocalResult([np.asarray(U, float), np.asarray(V, float)], sweeps, float(rel),
                       float(f))
