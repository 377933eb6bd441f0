"""Atom maps: how factor columns combine into the model output.

A map fixes the *output representation* that losses act on and provides what the solvers need::

    forward(factors)              Z = Σ_i φ(x_i) in output representation
    atom(columns)                 φ(x) for one slice x = (x¹, …, xᴷ)
    block_gradient(G, factors, k) ∂/∂Xᵏ ⟨G, Φ(X)⟩  (so ∇_k(ℓ∘Φ) = −block_gradient(−∇ℓ, X, k))
    block_lipschitz(factors, k)   a Lipschitz constant of ∇_k(ℓ∘Φ) for a loss with ∇ℓ 1-Lipschitz
    operator(G)                   G as a matrix (dense or scipy.sparse) for the polar solvers

:class:`Bilinear` is the dense ``u vᵀ`` map (output = the full ``m×n`` array).
:class:`MaskedBilinear` is ``P_Ω(u vᵀ)``: the output is the vector of values at the observed
entries, and no ``m×n`` array is ever formed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

__all__ = ["Bilinear", "MaskedBilinear", "masked_dot"]

#: entries processed at once in masked products (bounds temporary memory to chunk·r floats)
_CHUNK = 1 << 18


def masked_dot(U: np.ndarray, V: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Return ``(U Vᵀ)[rows[t], cols[t]]`` for every t: ``O(len(rows)·r)`` time, chunked memory."""
    out = np.empty(rows.shape[0], dtype=float)
    for start in range(0, rows.shape[0], _CHUNK):
        sl = slice(start, start + _CHUNK)
        # np.take gathers rows about 2x faster than fancy indexing
        out[sl] = np.einsum("ij,ij->i", np.take(U, rows[sl], axis=0), np.take(V, cols[sl], axis=0))
    return out


class Bilinear:
    """Dense bilinear atoms ``φ(u, v) = u vᵀ`` on an ``m×n`` output (degree 2)."""

    n_blocks = 2
    degree = 2

    def __init__(self, shape: tuple[int, int]):
        self.shape = (int(shape[0]), int(shape[1]))

    @property
    def block_sizes(self) -> tuple[int, int]:
        return self.shape

    def forward(self, factors: list[np.ndarray]) -> np.ndarray:
        U, V = factors
        return U @ V.T

    def atom(self, columns: list[np.ndarray]) -> np.ndarray:
        u, v = columns
        return np.outer(u, v)

    def adjoint(self, G: np.ndarray) -> np.ndarray:
        """``A*(G)`` as an ``m×n`` matrix (identity map: ``G`` itself)."""
        return G

    def operator(self, G: np.ndarray) -> np.ndarray:
        return G

    def block_gradient(self, G: np.ndarray, factors: list[np.ndarray], k: int) -> np.ndarray:
        U, V = factors
        A = self.adjoint(G)
        return A @ V if k == 0 else A.T @ U

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        other = factors[1 - k]
        if other.shape[1] == 0:
            return 0.0
        return float(np.linalg.norm(other.T @ other, 2))

    def atom_inner(self, G: np.ndarray, columns: list[np.ndarray]) -> float:
        """``⟨G, φ(x)⟩ = uᵀ A*(G) v`` without forming the atom."""
        u, v = columns
        return float(u @ (self.operator(G) @ v))

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        """``‖φ(x)‖² = ‖u‖²‖v‖²``."""
        u, v = columns
        return float(u @ u) * float(v @ v)

    def subtract_atom(self, G: np.ndarray, s: float, columns: list[np.ndarray]) -> np.ndarray:
        """``G − s·φ(x)`` in the output representation (in place for a C-ordered dense ``G``)."""
        u, v = columns
        if G.flags.c_contiguous and G.dtype == np.float64:
            # G is C-ordered, so Gᵀ is Fortran-ordered: BLAS dger updates it in place.
            blas.dger(-s, v, u, a=G.T, overwrite_a=True)
            return G
        return G - s * np.outer(u, v)


class MaskedBilinear(Bilinear):
    """Bilinear atoms observed on a set ``Ω`` of entries: output ``z_t = (U Vᵀ)[i_t, j_t]``.

    The entries are stored in CSR order (row-major, sorted), so a gradient vector ``g`` over
    ``Ω`` *is* the data array of a CSR matrix sharing this map's index structure and
    :meth:`operator` costs no copy.  Every product is ``O(|Ω|·r)``.
    """

    def __init__(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray):
        super().__init__(shape)
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        key = rows * self.shape[1] + cols
        if key.size > 1 and np.any(np.diff(key) <= 0):
            raise ValueError("MaskedBilinear expects unique entries in CSR (row-major) order")
        self.rows = rows
        self.cols = cols
        self.indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.shape[0]), out=self.indptr[1:])
        self._indices = cols.astype(np.int32 if self.shape[1] < 2**31 else np.int64)
        self._indptr = self.indptr.astype(self._indices.dtype)
        self.row_counts = np.diff(self.indptr)
        self.col_counts = np.bincount(cols, minlength=self.shape[1])
        #: permutation of the entries into column-major (CSC) order, and its column pointers
        self.csc_order = np.lexsort((rows, cols))
        self.col_indptr = np.zeros(self.shape[1] + 1, dtype=np.int64)
        np.cumsum(self.col_counts, out=self.col_indptr[1:])

    @property
    def nnz(self) -> int:
        return int(self.rows.shape[0])

    def forward(self, factors: list[np.ndarray]) -> np.ndarray:
        U, V = factors
        return masked_dot(U, V, self.rows, self.cols)

    def atom(self, columns: list[np.ndarray]) -> np.ndarray:
        u, v = columns
        return u[self.rows] * v[self.cols]

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        """``‖P_Ω(u vᵀ)‖²`` (not ``‖u‖²‖v‖²``)."""
        d = self.atom(columns)
        return float(d @ d)

    def subtract_atom(self, g: np.ndarray, s: float, columns: list[np.ndarray]) -> np.ndarray:
        g -= s * self.atom(columns)
        return g

    def operator(self, g: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((g, self._indices, self._indptr), shape=self.shape, copy=False)

    def adjoint(self, g: np.ndarray) -> sp.csr_matrix:
        return self.operator(g)

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        # ‖P_Ω(Δ Vᵀ)‖ ≤ ‖Δ Vᵀ‖ ≤ ‖V‖₂ ‖Δ‖: the dense constant is a valid bound.
        return super().block_lipschitz(factors, k)
