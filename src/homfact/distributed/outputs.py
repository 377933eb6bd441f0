"""The output representation of a distributed completion problem: one piece per block.

:class:`BlockVector` holds a vector indexed by the observed entries ``Ω`` of a
:class:`~homfact.distributed.BlockedEntries` (the model values ``z_t = (UVᵀ)[i_t, j_t]``, the
data ``y``, the negative gradient ``G = y − z``) as one future per block of one *layout*
(``"rows"`` or ``"cols"``, a side of the partition); piece ``b`` is aligned with the stored
entries of block ``b`` of that side, in its storage order.  It implements the output protocol
of the core loop (docs: theory/problem-class, 'The output representation'): ``+``, ``−``,
unary ``−``, ``*`` by a number (each ``B`` tasks, one per block, on the worker holding the
pieces) and :meth:`BlockVector.vdot` (``B`` tasks and a sum of ``B`` floats on the client), so
:class:`homfact.losses.SquaredLoss` and the certificate run on it unchanged.

**Which layout.**  Either side stores every entry once, so either can hold the pieces; the
map (:class:`homfact.distributed.DaskMaskedBilinear`) picks the side on which the polar's
Gram product is *one* reduction: the row blocks when ``n ≤ m`` (the polar runs Lanczos on
``GᵀG``, and ``Gᵀ(G x) = Σ_b G_bᵀ(G_b x)`` needs only block ``b``'s own rows of ``G x``), the
column blocks when ``m < n`` (``GGᵀ``).  On the row side the pieces are also in
:class:`homfact.maps.MaskedBilinear`'s CSR order restricted to the block, so
:meth:`BlockVector.to_numpy` reassembles the single-machine vector.  The sweep's own residual
(column blocks, :func:`homfact.distributed.als_exact`) is not reused: the loop evaluates the
output at the pruned factors (rotated by :func:`homfact.solvers.orthogonalize_l2`), not at the
sweep's.
"""

from __future__ import annotations

import numbers

import numpy as np

from .blocks import SIDES, BlockedEntries, SideBlock, gather_or_cancel

__all__ = ["BlockVector"]

#: vectors longer than this many floats go to the workers once, as a task result, instead of
#: inline in every task's message (``B`` copies)
INLINE_FLOATS = 1 << 17

_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------------------------
# worker-side tasks


def _values(block: SideBlock) -> np.ndarray:
    return block.values


def _zeros(block: SideBlock) -> np.ndarray:
    return np.zeros(block.nnz)


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def _sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a - b


def _neg(a: np.ndarray) -> np.ndarray:
    return -a


def _scale(a: np.ndarray, c: float) -> np.ndarray:
    return a * c


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele, Lea & Flood 2014) on ``uint64`` (wrapping arithmetic):
    a bijection of 64-bit words whose output bits each depend on every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def entry_hash(block: SideBlock, values: np.ndarray | None) -> int:
    """``Σ_t h(i_t, j_t, v_t) mod 2⁶⁴`` over the block's entries (``(i, j)`` the global
    ``(row, col)`` of ``Y``; without ``values`` only the pattern is hashed).

    The sum is order independent, so blocks combine by adding their hashes and the total does
    not depend on the number of blocks; ``h`` mixes the ids and the value's bits (a change of
    any one entry changes the total unless two 64-bit hashes collide)."""
    r, c, _ = block.triplets()
    if block.side == "cols":
        r, c = c, r
    with np.errstate(over="ignore"):
        x = _mix64(r.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                   + c.astype(np.uint64))
        if values is not None:
            x = _mix64(x ^ np.ascontiguousarray(values, dtype=np.float64).view(np.uint64))
        return int(np.sum(x, dtype=np.uint64))


def _positions(block: SideBlock, shape_n: int) -> np.ndarray:
    """Row-major position key ``i·n + j`` of each stored entry (for reassembly on the client)."""
    r, c, _ = block.triplets()
    if block.side == "cols":
        r, c = c, r
    return r * shape_n + c


# --------------------------------------------------------------------------------------------
# client side


def check_layout(layout) -> str:
    if layout not in SIDES:
        raise ValueError(f"layout must be 'rows' or 'cols', got {layout!r}")
    return layout


class BlockArithmetic:
    """``+``, ``−``, unary ``−`` and ``*`` by a real number, block by block on the workers, for
    the block outputs (:class:`BlockVector`, :class:`homfact.distributed.dense.DenseBlocks`).

    A subclass provides ``parts`` (one future per block), ``_map(func, *args)`` (one task per
    block, a list argument indexed by block, the result a new output of the same layout) and
    ``_check_other(other)`` (``False`` for a foreign type, an error for a mismatched layout)."""

    def __add__(self, other):
        if not self._check_other(other):
            return NotImplemented
        return self._map(_add, self.parts, other.parts)

    def __sub__(self, other):
        if not self._check_other(other):
            return NotImplemented
        return self._map(_sub, self.parts, other.parts)

    def __neg__(self):
        return self._map(_neg, self.parts)

    def __mul__(self, c):
        if isinstance(c, bool) or not isinstance(c, numbers.Real):
            return NotImplemented
        return self._map(_scale, self.parts, float(c))

    __rmul__ = __mul__


class BlockVector(BlockArithmetic):
    """A vector over the observed entries, one future per block of ``layout``.

    ``entries``: the :class:`~homfact.distributed.BlockedEntries` it is indexed by;
    ``layout``: ``"rows"`` or ``"cols"``; ``parts``: ``B`` futures of 1-D float arrays
    (piece ``b`` aligned with the stored entries of block ``b`` of ``layout``);
    ``data_of``: the entries when this is their data vector ``y`` (:meth:`data`), else
    ``None`` (the distributed local solver checks it: its sweeps read ``y`` from the blocks).

    Operations return new vectors (nothing is updated in place); each submits ``B`` tasks.
    Two vectors combine only when they share the entries and the layout.
    """

    #: NumPy defers to the reflected operators (``np.float64(2.0) * v`` calls ``v.__rmul__``)
    __array_ufunc__ = None

    def __init__(self, entries: BlockedEntries, layout: str, parts: list, *,
                 data_of: BlockedEntries | None = None):
        check_layout(layout)
        if len(parts) != entries.n_blocks:
            raise ValueError(f"parts must hold one future per block ({entries.n_blocks}), "
                             f"got {len(parts)}")
        self.entries = entries
        self.layout = layout
        self.parts = list(parts)
        self.data_of = data_of

    # ---- constructors

    @classmethod
    def data(cls, entries: BlockedEntries, layout: str = "rows") -> BlockVector:
        """The observed values ``y`` as a vector (the blocks' own values; no copy)."""
        check_layout(layout)
        client = entries.client
        parts = [client.submit(_values, blk, pure=False) for blk in entries.blocks[layout]]
        return cls(entries, layout, parts, data_of=entries)

    @classmethod
    def zeros(cls, entries: BlockedEntries, layout: str = "rows") -> BlockVector:
        client = entries.client
        return cls(entries, layout, [client.submit(_zeros, blk, pure=False)
                                     for blk in entries.blocks[check_layout(layout)]])

    # ---- protocol

    @property
    def shape(self) -> tuple[int]:
        return (self.entries.nnz,)

    @property
    def client(self):
        return self.entries.client

    def _map(self, func, *args) -> BlockVector:
        client = self.client
        return BlockVector(self.entries, self.layout,
                           [client.submit(func, *(a[b] if isinstance(a, list) else a
                                                  for a in args), pure=False)
                            for b in range(self.entries.n_blocks)])

    def _check_other(self, other) -> bool:
        if not isinstance(other, BlockVector):
            return False
        if other.entries is not self.entries or other.layout != self.layout:
            raise ValueError("BlockVectors combine only on the same entries and layout "
                             f"(got layouts {self.layout!r} and {other.layout!r})")
        return True

    def vdot(self, other: BlockVector) -> float:
        """``⟨self, other⟩ = Σ_b ⟨self_b, other_b⟩`` (``B`` dot products on the workers,
        summed on the client in block order)."""
        if not self._check_other(other):
            raise TypeError(f"vdot needs a BlockVector, got {type(other).__name__}")
        client = self.client
        futs = [client.submit(_dot, a, b, pure=False)
                for a, b in zip(self.parts, other.parts, strict=True)]
        return float(sum(gather_or_cancel(client, futs)))

    # ---- identity and inspection

    def fingerprint(self) -> dict:
        """``{"shape", "nnz", "hash"}``: ``hash`` is the order-independent
        :func:`entry_hash` of the ``(row, col, value)`` triplets, summed over the blocks mod
        ``2⁶⁴`` (so it does not depend on the number of blocks or the layout)."""
        client = self.client
        futs = [client.submit(entry_hash, blk, part, pure=False)
                for blk, part in zip(self.entries.blocks[self.layout], self.parts, strict=True)]
        total = sum(gather_or_cancel(client, futs)) & _MASK64
        return {"shape": list(self.entries.shape), "nnz": int(self.entries.nnz),
                "hash": f"{total:016x}"}

    def to_numpy(self) -> np.ndarray:
        """The vector gathered on the client in row-major (CSR) order of the entries — the
        order of :class:`homfact.maps.MaskedBilinear`; for tests and small data only."""
        client, n = self.client, self.entries.shape[1]
        keys = client.gather([client.submit(_positions, blk, n, pure=False)
                              for blk in self.entries.blocks[self.layout]])
        vals = client.gather(self.parts)
        key, val = np.concatenate(keys), np.concatenate(vals)
        return val[np.argsort(key, kind="stable")]

    def release(self) -> None:
        """Drop the futures (the workers free the pieces)."""
        self.parts = []

    def __repr__(self) -> str:
        return (f"BlockVector(nnz={self.entries.nnz}, layout={self.layout!r}, "
                f"n_blocks={self.entries.n_blocks})")
