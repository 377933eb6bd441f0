"""The distributed masked bilinear map and the operator its polar sees.

:class:`DaskMaskedBilinear` is :class:`homfact.maps.MaskedBilinear` (atoms ``P_Ω(u vᵀ)``,
output = the values at the observed entries) on a :class:`~homfact.distributed.BlockedEntries`:
its output representation is a :class:`~homfact.distributed.BlockVector`, the factors ``U``
(``m×r``) and ``V`` (``n×r``) stay NumPy arrays on the client, and it follows
:class:`homfact.interfaces.MapProtocol` with ``MaskedBilinear``'s semantics method by method
(equal to rounding: sums over blocks add in another order).

:class:`BlockOperator` is ``G`` (``m×n``, supported on ``Ω``) for
:class:`homfact.polar.OperatorNuclearPolar`: ``shape``, ``nnz``, ``matvec`` (``G x``),
``rmatvec`` (``Gᵀ y``), and the exact ``fro_norm``, ``one_norm``, ``inf_norm`` behind the
deterministic bound on ``σ_max(G)``.  Write ``M = G`` on row blocks and ``M = Gᵀ`` on column
blocks (the vector's layout); ``M`` is the stack of the block rows ``M_b``, so ``M x`` is local
to the blocks and ``Mᵀ y = Σ_b M_bᵀ y_b`` a tree reduction (pairwise, ``⌈log₂ B⌉`` levels,
each level where its inputs are; below :data:`GATHER_FLOATS` floats in all the ``B`` pieces are
summed on the client in the same pairing instead, :func:`_reduce`).

**One reduction per Lanczos step.**  The polar's Gram product is ``bwd(fwd(x))`` with ``fwd``
the local product ``M x`` (the layout is chosen so, see :mod:`homfact.distributed.outputs`).
Each block computes ``t_b = M_b x`` *and* ``M_bᵀ t_b`` in one task; a tree of pair tasks
carries the pieces ``t_b`` along and adds the ``M_bᵀ t_b``, and the client receives both
``M x`` and ``Mᵀ(M x)`` in one round trip.  ``fwd`` returns ``M x``; when ``bwd`` is then
called on that same vector (equal bitwise) it returns the ``Mᵀ(M x)`` already computed — the
same floating-point operations in the same order as a separate ``Mᵀ y`` pass, so the answer
is identical, and a Lanczos step costs one reduction instead of two round trips.
"""

from __future__ import annotations

import numpy as np

from ..maps import masked_dot
from .blocks import BlockedEntries, SideBlock, _hold, gather_or_cancel
from .ops import _holders, _other_pieces, as_vector
from .outputs import INLINE_FLOATS, BlockVector, check_layout, entry_hash

__all__ = ["BlockOperator", "BlockResidual", "DaskMaskedBilinear"]

#: below this many floats in all (``B`` pieces), a reduction's pieces are summed on the client
GATHER_FLOATS = 1 << 20


# --------------------------------------------------------------------------------------------
# worker-side tasks


def forward_block(block: SideBlock, own: np.ndarray, *pieces: np.ndarray) -> np.ndarray:
    """``(F_own F_otherᵀ)`` at the block's entries (``masked_dot``, as ``MaskedBilinear``)."""
    return masked_dot(own, np.concatenate(pieces, axis=0), block.entry_rows(), block.compact)


def zeros_block(block: SideBlock) -> np.ndarray:
    return np.zeros(block.nnz)


def subtract_atom_block(block: SideBlock, g: np.ndarray, s: float, own: np.ndarray,
                        other: np.ndarray) -> np.ndarray:
    """``g − s·(a_own[l]·a_other[k])`` at the block's entries (``g − s·u[rows]·v[cols]``)."""
    return g - s * (own[block.entry_rows()] * other[block.ref_cols[block.compact]])


def m_product(block: SideBlock, g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``M_b x`` (``x`` over the other side; 1-D or 2-D)."""
    return block.matrix(g) @ x[block.ref_cols]


def mt_product(block: SideBlock, g: np.ndarray, y_local: np.ndarray) -> np.ndarray:
    """``M_bᵀ y_b`` as a dense array over the other side."""
    out = np.zeros((block.n_other, *y_local.shape[1:]))
    out[block.ref_cols] = block.matrix(g).T @ y_local
    return out


def gram_leaf(block: SideBlock, g: np.ndarray, x: np.ndarray) -> tuple[list, np.ndarray]:
    """``([M_b x], M_bᵀ(M_b x))``: the local product and its Gram term, in one task."""
    t = m_product(block, g, x)
    return [t], mt_product(block, g, t)


def gram_pair(a: tuple[list, np.ndarray], b: tuple[list, np.ndarray]
              ) -> tuple[list, np.ndarray]:
    """Combine two subtrees: pieces in block order, Gram terms added."""
    return a[0] + b[0], a[1] + b[1]


def gram_block(block: SideBlock, g: np.ndarray) -> np.ndarray:
    """``M_bᵀM_b`` as a dense ``n_other × n_other`` array (zero outside the referenced
    columns): each entry a sum over the block's rows of products, formed by scipy's sparse
    product."""
    Mb = block.matrix(g)
    out = np.zeros((block.n_other, block.n_other))
    out[np.ix_(block.ref_cols, block.ref_cols)] = (Mb.T @ Mb).toarray()
    return out


def atom_inner_block(block: SideBlock, g: np.ndarray, own: np.ndarray,
                     other: np.ndarray) -> float:
    """``a_ownᵀ (M_b a_other)`` for block ``b`` (``own``: its own rows of the vector)."""
    return float(own @ (block.matrix(g) @ other[block.ref_cols]))


def abs_row_max(block: SideBlock, g: np.ndarray) -> float:
    """``max_l Σ_k |M_b[l, k]|`` (0 for an empty block)."""
    if block.nnz == 0:
        return 0.0
    starts = block.indptr[:-1][np.diff(block.indptr) > 0]
    return float(np.max(np.add.reduceat(np.abs(g), starts)))


def abs_col_sums(block: SideBlock, g: np.ndarray) -> np.ndarray:
    """``Σ_l |M_b[l, ·]|`` as a dense vector over the other side."""
    out = np.zeros(block.n_other)
    out[block.ref_cols] = np.bincount(block.compact, weights=np.abs(g), minlength=block.n_ref)
    return out


def _add(a, b):
    return a + b


def _vector_max(v: np.ndarray) -> float:
    return float(v.max()) if v.size else 0.0


# --------------------------------------------------------------------------------------------
# client helpers


def _tree(client, futures: list, combine):
    """Pairwise tree of ``combine`` tasks over ``futures`` (left to right); returns a future."""
    level = list(futures)
    while len(level) > 1:
        nxt = [client.submit(combine, level[k], level[k + 1], pure=False)
               for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _pairwise(values: list, combine):
    """The same pairing as :func:`_tree`, on the client (hence the same floating-point sums)."""
    level = list(values)
    while len(level) > 1:
        nxt = [combine(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _reduce(client, futures: list, combine, floats: int):
    """``combine``-reduce the results of ``futures`` (each about ``floats`` floats).

    A tree of tasks on the workers (the client receives one result) when the pieces are
    large; gathered and combined on the client in the same pairing when all ``B`` of them
    together hold at most :data:`GATHER_FLOATS` floats: one network hop fewer per product
    (measured at 10⁴ × 10³, B = 2: 16-21 ms against 26-28 ms per Gram step, shared machine),
    and the same numbers either way."""
    if len(futures) * floats <= GATHER_FLOATS:
        return _pairwise(gather_or_cancel(client, futures), combine)
    return gather_or_cancel(client, [_tree(client, futures, combine)], futures)[0]


def _ship(client, x: np.ndarray):
    """``x`` inline when small, else as one task result every block task reads."""
    x = np.ascontiguousarray(x, dtype=float)
    return x if x.size <= INLINE_FLOATS else client.submit(_hold, x, pure=False)


def _stack(parts: list[np.ndarray], size: int, B: int) -> np.ndarray:
    """Interleave block pieces: rows ``b, b+B, …`` of the result from piece ``b``."""
    out = np.empty((size, *parts[0].shape[1:])) if parts else np.empty(size)
    for b, p in enumerate(parts):
        out[b::B] = p
    return out


# --------------------------------------------------------------------------------------------
# the operator


class BlockOperator:
    """``G`` (``m×n``, values on ``Ω``) held as a :class:`BlockVector`; see the module docstring.

    ``matvec``/``rmatvec`` accept and return NumPy vectors; :meth:`matmat`/:meth:`rmatmat`
    take ``n×r`` / ``m×r`` arrays (the map's block gradients).  Norms are computed once and
    cached (the operator is immutable).
    """

    def __init__(self, vector: BlockVector):
        if not isinstance(vector, BlockVector):
            raise TypeError(f"vector must be a BlockVector, got {type(vector).__name__}")
        self.vector = vector
        self.entries = vector.entries
        self.layout = vector.layout
        self.shape = tuple(int(s) for s in self.entries.shape)
        self.nnz = int(self.entries.nnz)
        self.dtype = np.dtype(float)
        self._gram: tuple[np.ndarray, np.ndarray] | None = None
        self._norms: dict[str, float] = {}
        #: local products and reductions run (for tests and benchmarks)
        self.n_local = self.n_reductions = 0

    # ---- M and Mᵀ on the layout's blocks

    def _own(self) -> int:
        return self.entries.size(self.layout)

    def _other(self) -> int:
        return self.entries.size(self.entries.other(self.layout))

    def _blocks(self):
        return zip(self.entries.blocks[self.layout], self.vector.parts, strict=True)

    def _m(self, x: np.ndarray) -> np.ndarray:
        """``M x`` (``B`` local tasks, pieces gathered)."""
        client = self.entries.client
        xs = _ship(client, x)
        futs = [client.submit(m_product, blk, g, xs, pure=False) for blk, g in self._blocks()]
        self.n_local += 1
        return _stack(gather_or_cancel(client, futs), self._own(), self.entries.n_blocks)

    def _mt(self, y: np.ndarray) -> np.ndarray:
        """``Mᵀ y = Σ_b M_bᵀ y_b`` (tree reduction)."""
        client, B = self.entries.client, self.entries.n_blocks
        y = np.asarray(y, dtype=float)
        futs = [client.submit(mt_product, blk, g, np.ascontiguousarray(y[b::B]), pure=False)
                for b, (blk, g) in enumerate(self._blocks())]
        self.n_reductions += 1
        width = int(np.prod(y.shape[1:], dtype=np.int64))
        return _reduce(client, futs, _add, self._other() * width)

    def _m_with_gram(self, x: np.ndarray) -> np.ndarray:
        """``M x``, with ``Mᵀ(M x)`` computed in the same tasks and kept for :meth:`_mt_of`."""
        client = self.entries.client
        xs = _ship(client, x)
        leaves = [client.submit(gram_leaf, blk, g, xs, pure=False) for blk, g in self._blocks()]
        self.n_reductions += 1
        pieces, gram = _reduce(client, leaves, gram_pair, self._other() + self._own())
        t = _stack(pieces, self._own(), self.entries.n_blocks)
        self._gram = (t.copy(), gram)
        return t

    def _mt_of(self, y: np.ndarray) -> np.ndarray:
        """``Mᵀ y``: the kept Gram product when ``y`` is the last ``M x`` (bitwise), else a
        reduction."""
        if self._gram is not None and np.array_equal(self._gram[0], y):
            return self._gram[1].copy()
        return self._mt(y)

    _vec = staticmethod(as_vector)

    # ---- products with G

    def matvec(self, x) -> np.ndarray:
        """``G x`` (``x`` of length n)."""
        x = self._vec(x, self.shape[1], "x")
        return self._m_with_gram(x) if self.layout == "rows" else self._mt_of(x)

    def rmatvec(self, y) -> np.ndarray:
        """``Gᵀ y`` (``y`` of length m)."""
        y = self._vec(y, self.shape[0], "y")
        return self._mt_of(y) if self.layout == "rows" else self._m_with_gram(y)

    def matmat(self, X: np.ndarray) -> np.ndarray:
        """``G X`` (``X``: ``n×r``)."""
        X = np.asarray(X, dtype=float)
        return self._m(X) if self.layout == "rows" else self._mt(X)

    def rmatmat(self, Y: np.ndarray) -> np.ndarray:
        """``Gᵀ Y`` (``Y``: ``m×r``)."""
        Y = np.asarray(Y, dtype=float)
        return self._mt(Y) if self.layout == "rows" else self._m(Y)

    # ---- the formed Gram (the tight deterministic bound of OperatorNuclearPolar)

    def gram_matrix(self) -> tuple[np.ndarray, float, int]:
        """``(S, fro2, length)``: ``S = MᵀM = Σ_b M_bᵀM_b`` (``d × d``, ``d`` the other side:
        ``GᵀG`` on row blocks, ``GGᵀ`` on column blocks — the smaller side, as the map picks
        the layout), one task per block and a tree reduction of the ``B`` dense pieces;
        ``fro2 = ⟨g, g⟩``.

        Rounding, the hypotheses of :func:`homfact.polar.core.gram_sigma_max_top`: an entry
        ``S_jk = Σ_l M_lj M_lk`` is a sum of at most ``p_b`` products inside block ``b``
        (``p_b`` its rows; any order) and then of ``B`` pieces, so at most
        ``length = p + B`` roundings on any path (``p`` the own side's size); ``fro2`` sums
        ``nnz ≤ p·d`` squares in ``B`` pieces, within ``γ_{nnz + B} ≤ γ_{2·length·d}``.
        Memory: ``d²`` floats per block piece (``OperatorNuclearPolar`` calls it only for
        ``d ≤ gram_max_dim``).
        """
        client = self.entries.client
        futs = [client.submit(gram_block, blk, g, pure=False) for blk, g in self._blocks()]
        self.n_reductions += 1
        d = self._other()
        S = _reduce(client, futs, _add, d * d)
        if "fro2" not in self._norms:
            self._norms["fro2"] = float(self.vector.vdot(self.vector))
        return S, self._norms["fro2"], self._own() + self.entries.n_blocks

    # ---- exact norms (the deterministic bound of OperatorNuclearPolar)

    def fro_norm(self) -> float:
        """``‖G‖_F = √⟨g, g⟩``."""
        if "fro" not in self._norms:
            self._norms["fro"] = float(np.sqrt(self.vector.vdot(self.vector)))
        return self._norms["fro"]

    def _own_abs_max(self) -> float:
        client = self.entries.client
        futs = [client.submit(abs_row_max, blk, g, pure=False) for blk, g in self._blocks()]
        return max(gather_or_cancel(client, futs))

    def _other_abs_max(self) -> float:
        client = self.entries.client
        futs = [client.submit(abs_col_sums, blk, g, pure=False) for blk, g in self._blocks()]
        return _vector_max(_reduce(client, futs, _add, self._other()))

    def one_norm(self) -> float:
        """``‖G‖₁ = max_j Σ_i |G_ij|`` (max column abs sum)."""
        if "one" not in self._norms:
            self._norms["one"] = (self._other_abs_max() if self.layout == "rows"
                                  else self._own_abs_max())
        return self._norms["one"]

    def inf_norm(self) -> float:
        """``‖G‖_∞ = max_i Σ_j |G_ij|`` (max row abs sum)."""
        if "inf" not in self._norms:
            self._norms["inf"] = (self._own_abs_max() if self.layout == "rows"
                                  else self._other_abs_max())
        return self._norms["inf"]

    def to_scipy(self):
        """``G`` as a ``scipy.sparse.csr_matrix`` on the client (tests, small data)."""
        import scipy.sparse as sp

        r, c, _ = self.entries.to_triplets()
        return sp.csr_matrix((self.vector.to_numpy(), (r, c)), shape=self.shape)


def residual_of(state) -> np.ndarray:
    """The residual a solve task kept (:class:`homfact.distributed.ops.BlockState`)."""
    return state.residual


class BlockResidual(BlockOperator):
    """The residual ``R = P_Ω(Y − UVᵀ)`` that the sweep's solve tasks kept on the blocks of
    ``side``: a :class:`BlockOperator` on those pieces (no copy, no new pass), with the
    sweep-side names of its products and norms.

    ``rtr_matvec`` (``Rᵀ(R x)``) and ``rrt_matvec`` (``R(Rᵀ y)``) are one reduction on the side
    where the Gram is local (row blocks for ``RᵀR``, column blocks for ``RRᵀ``), two passes on
    the other; :meth:`sigma_max_upper` is the audited deterministic bound
    :func:`homfact.polar.norm_sigma_upper` on the exact norms (:func:`exact_norms`).
    """

    def __init__(self, entries: BlockedEntries, side: str, states: list):
        entries.other(side)                                   # validates side
        client = entries.client
        parts = [client.submit(residual_of, st, pure=False) for st in states]
        super().__init__(BlockVector(entries, side, parts))
        self.side = side
        self.states = list(states)

    def rtr_matvec(self, x) -> np.ndarray:
        """``Rᵀ(R x)``."""
        return self.rmatvec(self.matvec(x))

    def rrt_matvec(self, y) -> np.ndarray:
        """``R(Rᵀ y)``."""
        return self.matvec(self.rmatvec(y))

    def sq_frobenius(self) -> float:
        """``‖R‖_F² = ⟨r, r⟩``."""
        if "fro2" not in self._norms:
            self._norms["fro2"] = float(self.vector.vdot(self.vector))
        return self._norms["fro2"]

    def norm_1(self) -> float:
        """``‖R‖₁`` (max column abs sum)."""
        return self.one_norm()

    def norm_inf(self) -> float:
        """``‖R‖_∞`` (max row abs sum)."""
        return self.inf_norm()

    def sigma_max_upper(self) -> float:
        """Deterministic ``σ_max(R) ≤ min(‖R‖_F, √(‖R‖₁‖R‖_∞))``, rounded up
        (:func:`homfact.polar.norm_sigma_upper`, the bound of the operator polar)."""
        from ..polar.operator_bounds import exact_norms, norm_sigma_upper

        fro, one, inf, n_fro, n_one, n_inf = exact_norms(self)
        return norm_sigma_upper(fro, one, inf, n_fro=n_fro, n_one=n_one, n_inf=n_inf)

    def release(self) -> None:
        """Drop the futures of the residual (the workers free it)."""
        self.states = []
        self.vector.release()


# --------------------------------------------------------------------------------------------
# the map


class BilinearGradients:
    """The gradients of a distributed bilinear map ``(U, V) ↦ UVᵀ`` (observed or dense): a
    subclass provides ``shape`` and ``operator(G)`` (``G`` as the ``m×n`` operator, with
    ``matmat`` and ``rmatmat``)."""

    def _check_factors(self, factors) -> tuple[np.ndarray, np.ndarray]:
        if len(factors) != 2:
            raise ValueError(f"factors must be [U, V], got {len(factors)} arrays")
        U, V = (np.asarray(F, dtype=float) for F in factors)
        m, n = self.shape
        if U.ndim != 2 or V.ndim != 2 or U.shape[0] != m or V.shape[0] != n \
                or U.shape[1] != V.shape[1]:
            raise ValueError(f"factors must have shapes ({m}, r) and ({n}, r), got {U.shape} "
                             f"and {V.shape}")
        return U, V

    def block_gradient(self, G, factors: list[np.ndarray], k: int) -> np.ndarray:
        """``G V`` (``k = 0``) or ``Gᵀ U`` (``k = 1``), as :class:`homfact.maps.Bilinear`."""
        U, V = self._check_factors(factors)
        op = self.operator(G)
        if k == 0:
            return op.matmat(V)
        if k == 1:
            return op.rmatmat(U)
        raise ValueError(f"k must be 0 or 1, got {k!r}")

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        """``‖XᵀX‖₂`` of the other factor ``X``: ``‖(Δ Vᵀ)‖ ≤ ‖Δ‖‖V‖₂``, and the mask of an
        observed map only lowers it (as ``MaskedBilinear``)."""
        other = np.asarray(factors[1 - k], dtype=float)
        if other.shape[1] == 0:
            return 0.0
        return float(np.linalg.norm(other.T @ other, 2))


class DaskMaskedBilinear(BilinearGradients):
    """``Φ(U, V) = P_Ω(UVᵀ)`` on a :class:`~homfact.distributed.BlockedEntries` (degree 2).

    The distributed counterpart of :class:`homfact.maps.MaskedBilinear`, with the same
    semantics method by method; outputs are :class:`~homfact.distributed.BlockVector` on
    ``layout`` (default: ``"rows"`` when ``n ≤ m``, else ``"cols"``: the side where the polar's
    Gram product is one reduction, :mod:`homfact.distributed.outputs`).  Factors and slices
    are NumPy arrays on the client.  ``fingerprint()`` identifies the observed pattern (for
    checkpoints) independently of the number of blocks.
    """

    n_blocks = 2
    degree = 2

    def __init__(self, entries: BlockedEntries, layout: str | None = None):
        if not isinstance(entries, BlockedEntries):
            raise TypeError(f"entries must be a BlockedEntries, got {type(entries).__name__}")
        m, n = entries.shape
        self.entries = entries
        self.layout = ("rows" if n <= m else "cols") if layout is None else check_layout(layout)
        self.shape = (int(m), int(n))
        self._fingerprint: dict | None = None

    @property
    def block_sizes(self) -> tuple[int, int]:
        return self.shape

    @property
    def nnz(self) -> int:
        return int(self.entries.nnz)

    @property
    def client(self):
        return self.entries.client

    def data(self) -> BlockVector:
        """The observed values ``y`` in this map's layout."""
        return BlockVector.data(self.entries, self.layout)

    def _own_other(self, pair):
        """``(own side, other side)`` of a ``(U-side, V-side)`` pair for the layout."""
        a, b = pair
        return (a, b) if self.layout == "rows" else (b, a)

    # ---- outputs

    def forward(self, factors: list[np.ndarray]) -> BlockVector:
        """``z_t = (UVᵀ)[i_t, j_t]`` on every block (``masked_dot``: the same products and
        order as ``MaskedBilinear.forward``)."""
        U, V = self._check_factors(factors)
        entries, client, B = self.entries, self.client, self.entries.n_blocks
        blocks = entries.blocks[self.layout]
        if U.shape[1] == 0:
            return BlockVector(entries, self.layout, [client.submit(zeros_block, blk,
                                                                    pure=False)
                                                      for blk in blocks])
        own, other = self._own_other((U, V))
        pieces = _other_pieces(entries, self.layout, other, other.shape[1], _holders(entries))
        parts = [client.submit(forward_block, blocks[b], np.ascontiguousarray(own[b::B]),
                               *pieces[b], pure=False) for b in range(B)]
        return BlockVector(entries, self.layout, parts)

    def atom(self, columns: list[np.ndarray]) -> BlockVector:
        """``P_Ω(u vᵀ)``: ``u_i v_j`` at every observed ``(i, j)``."""
        u, v = (np.asarray(c, dtype=float).reshape(-1) for c in columns)
        return self.forward([u[:, None], v[:, None]])

    def subtract_atom(self, G: BlockVector, s: float, columns: list[np.ndarray]) -> BlockVector:
        """``G − s·P_Ω(u vᵀ)`` (a new vector: ``B`` tasks, ``G`` is not modified)."""
        self._check_output(G)
        u, v = (np.asarray(c, dtype=float).reshape(-1) for c in columns)
        own, other = self._own_other((u, v))
        client, B = self.client, self.entries.n_blocks
        others = _ship(client, other)
        parts = [client.submit(subtract_atom_block, blk, g, float(s),
                               np.ascontiguousarray(own[b::B]), others, pure=False)
                 for b, (blk, g) in enumerate(zip(self.entries.blocks[self.layout], G.parts,
                                                  strict=True))]
        return BlockVector(self.entries, self.layout, parts)

    def _check_output(self, G) -> None:
        if not isinstance(G, BlockVector) or G.entries is not self.entries:
            raise TypeError("G must be a BlockVector on this map's entries, got "
                            f"{type(G).__name__}")
        if G.layout != self.layout:
            raise ValueError(f"G has layout {G.layout!r}, the map {self.layout!r}")

    # ---- the polar's input and the gradients

    def operator(self, G: BlockVector) -> BlockOperator:
        """``A*(G)``: ``G`` as the ``m×n`` operator the polar reads (:class:`BlockOperator`)."""
        self._check_output(G)
        return BlockOperator(G)

    adjoint = operator

    def atom_inner(self, G: BlockVector, columns: list[np.ndarray]) -> float:
        """``⟨G, P_Ω(u vᵀ)⟩ = uᵀ G v`` (``B`` tasks, summed in block order)."""
        self._check_output(G)
        u, v = (np.asarray(c, dtype=float).reshape(-1) for c in columns)
        own, other = self._own_other((u, v))
        client, B = self.client, self.entries.n_blocks
        others = _ship(client, other)
        futs = [client.submit(atom_inner_block, blk, g, np.ascontiguousarray(own[b::B]),
                              others, pure=False)
                for b, (blk, g) in enumerate(zip(self.entries.blocks[self.layout], G.parts,
                                                 strict=True))]
        return float(sum(gather_or_cancel(client, futs)))

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        """``‖P_Ω(u vᵀ)‖²`` over the observed set."""
        d = self.atom(columns)
        return d.vdot(d)

    # ---- identity

    def fingerprint(self) -> dict:
        """``{"shape", "nnz", "pattern"}`` (``pattern``: the order-independent hash of the
        observed ``(row, col)`` pairs; computed once)."""
        if self._fingerprint is None:
            client = self.client
            futs = [client.submit(entry_hash, blk, None, pure=False)
                    for blk in self.entries.blocks["rows"]]
            total = sum(gather_or_cancel(client, futs)) & ((1 << 64) - 1)
            self._fingerprint = {"shape": list(self.shape), "nnz": self.nnz,
                                 "pattern": f"{total:016x}"}
        return dict(self._fingerprint)

    def __repr__(self) -> str:
        return (f"DaskMaskedBilinear(shape={self.shape}, nnz={self.nnz}, "
                f"n_blocks={self.entries.n_blocks}, layout={self.layout!r})")
