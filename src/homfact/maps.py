"""Atom maps: how factor columns combine into the model output.

A map fixes the *output representation* that losses act on and provides what the solvers need::

    forward(factors)              Z = Σ_i φ(x_i) in output representation
    atom(columns)                 φ(x) for one slice x = (x¹, …, xᴷ)
    block_gradient(G, factors, k) ∂/∂Xᵏ ⟨G, Φ(X)⟩  (so ∇_k(ℓ∘Φ) = −block_gradient(−∇ℓ, X, k))
    block_lipschitz(factors, k)   a Lipschitz constant of ∇_k(ℓ∘Φ) for a loss with ∇ℓ 1-Lipschitz
    operator(G)                   G as a matrix (dense or scipy.sparse) for the polar solvers

together with ``n_blocks``, ``degree``, ``block_sizes``, ``atom_inner``, ``atom_sqnorm`` and
``subtract_atom``: the full interface is :class:`homfact.interfaces.MapProtocol`, which also
documents the optional hooks ``growth_margin`` and ``merge_parallel``.  Every map here has a
``merge_parallel``, one per kind of atom: :meth:`Bilinear.merge_parallel` (inherited by the
masked and dictionary maps) replaces a group of parallel rank-one matrices by the best rank-one
approximation of their sum, :meth:`CPMap.merge_parallel` (K-way atoms have no closed-form best
rank-one approximation) sums signed magnitudes along the group's direction; both group slices
with :func:`parallel_groups`.

:class:`Bilinear` is the dense ``u vᵀ`` map (output = the full ``m×n`` array).
:class:`MaskedBilinear` is ``P_Ω(u vᵀ)``: the output is the vector of values at the observed
entries, and no ``m×n`` array is ever formed.
:class:`DictionaryBilinear` is ``u (D a)ᵀ`` with a fixed right dictionary ``D``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

__all__ = ["Bilinear", "MaskedBilinear", "masked_dot", "merge_bilinear_parallel", "parallel_groups",
           "rank_one_merge"]

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


def _unit_columns(X: np.ndarray) -> np.ndarray:
    """``X`` with every non-zero column scaled to unit ℓ2 norm (zero columns stay zero)."""
    n = np.linalg.norm(X, axis=0)
    return X / np.where(n > 0, n, 1.0)


def _side_cosines(factors: list[np.ndarray]) -> list[np.ndarray]:
    """``|cos(xᵢᵏ, xⱼᵏ)|`` for every block ``k`` (``r×r`` each; 0 against a zero column)."""
    out = []
    for F in factors:
        Fh = _unit_columns(F)
        out.append(np.abs(Fh.T @ Fh))
    return out


def parallel_groups(linked: np.ndarray, priority: np.ndarray,
                    eligible: np.ndarray | None = None) -> list[np.ndarray]:
    """Greedy groups of linked slices: heads in decreasing ``priority``, each with its links.

    Slices are visited in decreasing ``priority`` (stable: ties by index); an unassigned
    ``eligible`` slice ``i`` becomes a head and takes every unassigned eligible ``j`` with
    ``linked[i, j]`` (the diagonal is ignored).  Returns the groups in the order they are formed,
    each an index array with its head first; ineligible slices are in no group.  "Linked to
    the head" rather than connected components: a chain of small angles never joins two
    atoms far apart.
    """
    r = linked.shape[0]
    done = np.zeros(r, dtype=bool) if eligible is None else ~np.asarray(eligible, dtype=bool)
    groups = []
    for i in np.argsort(-np.asarray(priority, dtype=float), kind="stable"):
        if done[i]:
            continue
        done[i] = True
        members = np.flatnonzero(~done & linked[i])
        done[members] = True
        groups.append(np.concatenate([[i], members]).astype(np.intp))
    return groups


def rank_one_merge(U: np.ndarray, V: np.ndarray, nonneg_u: bool,
                   nonneg_v: bool) -> tuple[np.ndarray, np.ndarray]:
    """Balanced best rank-one approximation ``√σ₁·(x, y)`` of ``Σ_g u_g v_gᵀ`` (``U @ V.T``).

    Eckart–Young through thin QRs ``U = Q₁R₁``, ``V = Q₂R₂`` and the SVD of the small
    ``R₁R₂ᵀ`` (no ``m×n`` product): ``x = Q₁ x₁``, ``y = Q₂ y₁`` for its top singular pair.  The
    sign makes ``Σx + Σy ≥ 0``; a side marked non-negative is then clipped at 0 (when both sides
    of every column are non-negative the sum is an entrywise non-negative matrix whose top
    singular vectors are non-negative by Perron–Frobenius, so the clip removes rounding only).
    """
    Q1, R1 = np.linalg.qr(U)
    Q2, R2 = np.linalg.qr(V)
    x, sv, yt = np.linalg.svd(R1 @ R2.T)
    u, v = Q1 @ x[:, 0], Q2 @ yt[0]
    if u.sum() + v.sum() < 0:
        u, v = -u, -v
    if nonneg_u:
        u = np.maximum(u, 0.0)
    if nonneg_v:
        v = np.maximum(v, 0.0)
    root = np.sqrt(sv[0])
    return root * u, root * v


def _check_merge_tol(tol, name: str = "tol") -> float:
    """``tol`` as a float in ``[0, 1]``, else ``ValueError``/``TypeError`` naming ``name``."""
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(tol).__name__}")
    tol = float(tol)
    if not 0.0 <= tol <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {tol!r}")
    return tol


def merge_bilinear_parallel(factors: list[np.ndarray], tol: float, *,
                            nonnegative: tuple[bool, bool] | None = None,
                            priority: np.ndarray | None = None) -> list[np.ndarray]:
    """Merge groups of parallel bilinear slices, each into the best rank-one approx. of its sum.

    Rule: slices ``i, j`` are parallel when ``|cos(uᵢ, uⱼ)| ≥ 1 − tol`` *and*
    ``|cos(vᵢ, vⱼ)| ≥ 1 − tol`` (each factor block; with a dictionary map the codes, as the
    penalty sees them).  Groups are formed by :func:`parallel_groups` (heads in decreasing
    ``priority``, default the slice magnitudes ``‖uᵢ‖‖vᵢ‖``); a group ``g`` of two or more
    slices becomes the balanced best rank-one approximation of ``Σ_g uᵢvᵢᵀ``
    (:func:`rank_one_merge`, clipped on a side marked in ``nonnegative``; ``None``: a side is
    clipped when every column of the group is ``≥ 0`` there, as under a non-negative gauge).
    Output columns are the groups in the order formed; the input list itself is returned when
    no pair qualifies.

    Why: a sum of rank-one matrices that share one side exactly is rank one, so the merge is
    output-exact, and for norm gauges its penalty does not exceed ``Σ_g κ(uᵢ)κ(vᵢ)`` (triangle
    inequality along the shared side).  With both sides only nearly parallel (side sines
    ``sᵤ, sᵥ``, magnitudes ``tᵢ, tⱼ``) a pair's sum has ``σ₁σ₂ = tᵢtⱼsᵤsᵥ``, so the output moves
    by ``σ₂ ≤ (tᵢtⱼsᵤsᵥ)^{1/2} ≤ (tᵢ + tⱼ)(tol(2 − tol))^{1/2}/2``; callers with a loose
    ``tol`` guard the objective (:class:`homfact.problems.StructuredProblem`, ``tol = 0.05``)
    or re-certify (:func:`homfact.solvers.nmf_merge.merge_parallel_columns`, ``1e-6``).  The
    rule is per side, not the CP rule on the product of the cosines, so that the structured
    model keeps the pairs it was tuned with (a product ``≥ 0.95²`` would also take a pair
    with one side at cosine 0.91).
    """
    tol = _check_merge_tol(tol)
    U, V = factors
    if U.shape[1] < 2:
        return factors
    cu, cv = _side_cosines([U, V])
    linked = (cu >= 1.0 - tol) & (cv >= 1.0 - tol)
    np.fill_diagonal(linked, False)
    if not linked.any():
        return factors
    if priority is None:
        priority = np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)
    cols_u, cols_v = [], []
    for g in parallel_groups(linked, priority):
        if g.size == 1:
            cols_u.append(U[:, g[0]])
            cols_v.append(V[:, g[0]])
            continue
        nn_u, nn_v = ((not np.any(U[:, g] < 0), not np.any(V[:, g] < 0))
                      if nonnegative is None else nonnegative)
        u, v = rank_one_merge(U[:, g], V[:, g], nn_u, nn_v)
        cols_u.append(u)
        cols_v.append(v)
    return [np.column_stack(cols_u), np.column_stack(cols_v)]


class Bilinear:
    """Dense bilinear atoms ``φ(u, v) = u vᵀ`` on an ``m×n`` output (degree 2)."""

    n_blocks = 2
    degree = 2

    def __init__(self, shape: tuple[int, int], *, merge_tol: float | None = None):
        self.shape = (int(shape[0]), int(shape[1]))
        #: tolerance of the merge that :meth:`homfact.meta.Problem.prune` runs through the
        #: ``merge_parallel`` hook; ``None`` (default): that merge is off (see
        #: :meth:`merge_parallel`)
        self.merge_tol = None if merge_tol is None else _check_merge_tol(merge_tol, "merge_tol")

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

    def merge_parallel(self, factors: list[np.ndarray], tol: float | None = None, *,
                       nonnegative: tuple[bool, bool] | None = None,
                       priority: np.ndarray | None = None) -> list[np.ndarray]:
        """The ``merge_parallel`` hook: :func:`merge_bilinear_parallel` at ``tol``.

        ``tol=None`` uses the map's ``merge_tol``; when that is ``None`` too (default) the
        factors are returned unchanged, so :meth:`homfact.meta.Problem.prune` merges bilinear
        slices only on a map built with ``merge_tol``.  Reason for the opt-in: ℓ2 pruning
        already collapses parallel slices (SVD of ``UVᵀ``), and the NMF and structured models
        merge with their own guards (re-certification, objective check), so a merge on by
        default would change every other bilinear problem.
        """
        if tol is None:
            tol = self.merge_tol
            if tol is None:
                return factors
        return merge_bilinear_parallel(factors, tol, nonnegative=nonnegative, priority=priority)


# shared by the masked maps, whose output is the vector of model values on an observed set Ω
# (``atom`` gives ``P_Ω φ(x)``): bound as their ``atom_sqnorm`` and ``subtract_atom``


def _observed_atom_sqnorm(self, columns: list[np.ndarray]) -> float:
    """``‖P_Ω φ(x)‖²`` over the observed set (not the dense ``‖φ(x)‖²``)."""
    d = self.atom(columns)
    return float(d @ d)


def _observed_subtract_atom(self, g: np.ndarray, s: float,
                            columns: list[np.ndarray]) -> np.ndarray:
    """``g − s·P_Ω φ(x)``, in place."""
    g -= s * self.atom(columns)
    return g


class MaskedBilinear(Bilinear):
    """Bilinear atoms observed on a set ``Ω`` of entries: output ``z_t = (U Vᵀ)[i_t, j_t]``.

    The entries are stored in CSR order (row-major, sorted), so a gradient vector ``g`` over
    ``Ω`` *is* the data array of a CSR matrix sharing this map's index structure and
    :meth:`operator` costs no copy.  Every product is ``O(|Ω|·r)``.
    """

    def __init__(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, *,
                 merge_tol: float | None = None):
        super().__init__(shape, merge_tol=merge_tol)
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

    atom_sqnorm = _observed_atom_sqnorm
    subtract_atom = _observed_subtract_atom

    def operator(self, g: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((g, self._indices, self._indptr), shape=self.shape, copy=False)

    def adjoint(self, g: np.ndarray) -> sp.csr_matrix:
        return self.operator(g)

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        # ‖P_Ω(Δ Vᵀ)‖ ≤ ‖Δ Vᵀ‖ ≤ ‖V‖₂ ‖Δ‖: the dense constant is a valid bound.
        return super().block_lipschitz(factors, k)


# --------------------------------------------------------------------------------------------
# bilinear map through a fixed right dictionary


class DictionaryBilinear(Bilinear):
    """Atoms ``φ(u, a) = u (D a)ᵀ`` with a fixed ``n × p`` dictionary ``D`` (degree 2).

    Output ``U Aᵀ Dᵀ`` (``m × n``); ``operator(G) = G D`` (``m × p``) is what the polar sees;
    block Lipschitz constants ``‖AᵀDᵀDA‖₂`` (U) and ``‖D‖₂²‖UᵀU‖₂`` (A) (docs:
    theory/descent-and-growth, 'Lipschitz constants').
    """

    def __init__(self, shape: tuple[int, int], dictionary: np.ndarray, *,
                 merge_tol: float | None = None):
        super().__init__(shape, merge_tol=merge_tol)
        D = np.asarray(dictionary, dtype=float)
        if D.ndim != 2 or D.shape[0] != self.shape[1]:
            raise ValueError(f"temporal_dictionary must have shape ({self.shape[1]}, p), got "
                             f"{D.shape}")
        if D.shape[1] < 1 or not np.all(np.isfinite(D)):
            raise ValueError("temporal_dictionary must be finite with at least one column")
        self.D = D
        self.D_norm2 = float(np.linalg.norm(D, 2)) ** 2

    @property
    def block_sizes(self) -> tuple[int, int]:
        return (self.shape[0], self.D.shape[1])

    def forward(self, factors: list[np.ndarray]) -> np.ndarray:
        U, A = factors
        return U @ (self.D @ A).T

    def atom(self, columns: list[np.ndarray]) -> np.ndarray:
        u, a = columns
        return np.outer(u, self.D @ a)

    def adjoint(self, G: np.ndarray) -> np.ndarray:
        return G @ self.D

    def operator(self, G: np.ndarray) -> np.ndarray:
        return G @ self.D

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        U, A = factors
        if U.shape[1] == 0:
            return 0.0
        if k == 0:
            DA = self.D @ A
            return float(np.linalg.norm(DA.T @ DA, 2))
        return self.D_norm2 * float(np.linalg.norm(U.T @ U, 2))

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        u, a = columns
        v = self.D @ a
        return float(u @ u) * float(v @ v)

    def subtract_atom(self, G: np.ndarray, s: float, columns: list[np.ndarray]) -> np.ndarray:
        u, a = columns
        return G - s * np.outer(u, self.D @ a)


__all__ += ["DictionaryBilinear"]


# --------------------------------------------------------------------------------------------
# CP (canonical polyadic) tensor atoms
# --------------------------------------------------------------------------------------------

def khatri_rao(factors: list[np.ndarray], r: int | None = None) -> np.ndarray:
    """Row-major Khatri–Rao product: ``KR[(j₁,…,j_m), c] = Πₗ Fₗ[jₗ, c]``, shape ``(Π nₗ, r)``.

    The row index runs in C (row-major) order, matching ``T.reshape`` of a C-ordered tensor.
    An empty list gives a ``1 × r`` array of ones.
    """
    if not factors:
        return np.ones((1, 0 if r is None else r))
    out = np.asarray(factors[0], dtype=float)
    for F in factors[1:]:
        out = (out[:, None, :] * F[None, :, :]).reshape(-1, F.shape[1])
    return out


def mttkrp(T: np.ndarray, factors: list[np.ndarray], k: int) -> np.ndarray:
    """Matricized tensor times Khatri–Rao product ``T₍ₖ₎ (⊙_{j≠k} Fⱼ)``, shape ``(n_k, r)``.

    ``M[i, c] = Σ_{j: jₖ = i} T[j] Π_{l≠k} F_l[j_l, c]``, i.e. the gradient of
    ``⟨T, Σ_c f¹_c∘…∘fᴷ_c⟩`` with respect to block ``k``.  No unfolding copy is made: the
    modes after ``k`` are contracted by one matrix product, the modes before ``k`` by a
    second (cost ``O(N r)`` for ``N = T.size`` entries).
    """
    K = T.ndim
    r = factors[(k + 1) % K].shape[1]
    nk = T.shape[k]
    a = int(np.prod(T.shape[:k], dtype=np.int64))
    b = int(np.prod(T.shape[k + 1:], dtype=np.int64))
    if k == 0:
        return T.reshape(nk, b) @ khatri_rao(list(factors[1:]), r)
    if k == K - 1:
        return T.reshape(a, nk).T @ khatri_rao(list(factors[:k]), r)
    right = khatri_rao(list(factors[k + 1:]), r)
    left = khatri_rao(list(factors[:k]), r)
    T1 = (T.reshape(a * nk, b) @ right).reshape(a, nk, r)
    return np.einsum("aic,ac->ic", T1, left)


def _hadamard_gram(factors: list[np.ndarray], skip: int | None = None) -> np.ndarray:
    """``∗_{j≠skip} FⱼᵀFⱼ`` (Hadamard product of Gram matrices)."""
    r = factors[0].shape[1]
    out = np.ones((r, r))
    for j, F in enumerate(factors):
        if j != skip:
            out = out * (F.T @ F)
    return out


class CPMap:
    """Dense CP atoms ``φ(x¹,…,xᴷ) = x¹∘x²∘…∘xᴷ`` on an ``n₁×…×n_K`` output (degree ``K``).

    ``forward(X) = Σᵢ xᵢ¹∘…∘xᵢᴷ = [[X¹,…,Xᴷ]]`` (the CP / PARAFAC model); the gradient of
    ``⟨G, Φ(X)⟩`` in block ``k`` is the MTTKRP ``G₍ₖ₎(⊙_{j≠k} Xʲ)`` and its Lipschitz constant
    (squared loss) is ``‖∗_{j≠k} XʲᵀXʲ‖₂`` (docs: theory/descent-and-growth, 'Lipschitz
    constants').  The output representation is the
    dense tensor itself; :meth:`operator` hands the tensor ``G`` to the polar solver
    (:class:`homfact.polar.TensorPolar`).
    """

    #: :func:`homfact.meta.grow` appends a polar maximizer only when its value exceeds
    #: ``λ(1 + growth_margin)``: at a stationary point every existing atom attains
    #: ``⟨G, φ(xᵢ)⟩ = λ``, and HOPM returns such an atom with a value ``λ(1 + δ)``, ``δ`` of the
    #: order of the descent tolerance; appending it would only split an existing component.
    #: An atom with polar value ``≤ λ(1 + growth_margin)`` lowers ``F`` by at most
    #: ``(growth_margin·λ)²/(2‖φ‖²)``.
    growth_margin = 1e-3

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) < 2 or min(self.shape) < 1:
            raise ValueError(f"shape must have at least 2 positive dimensions, got {shape!r}")
        self.n_blocks = len(self.shape)
        self.degree = len(self.shape)

    @property
    def block_sizes(self) -> tuple[int, ...]:
        return self.shape

    def forward(self, factors: list[np.ndarray]) -> np.ndarray:
        """``[[X¹,…,Xᴷ]] = reshape(X¹ (⊙_{j>1} Xʲ)ᵀ)`` as a dense tensor."""
        r = factors[0].shape[1]
        if r == 0:
            return np.zeros(self.shape)
        return (factors[0] @ khatri_rao(list(factors[1:]), r).T).reshape(self.shape)

    def atom(self, columns: list[np.ndarray]) -> np.ndarray:
        out = np.asarray(columns[0], dtype=float)
        for c in columns[1:]:
            out = np.multiply.outer(out, c)
        return out

    def adjoint(self, G: np.ndarray) -> np.ndarray:
        return G

    def operator(self, G: np.ndarray) -> np.ndarray:
        """The gradient tensor itself (input of the tensor polar)."""
        return G

    def block_gradient(self, G: np.ndarray, factors: list[np.ndarray], k: int) -> np.ndarray:
        return mttkrp(self.operator(G), factors, k)

    def block_lipschitz(self, factors: list[np.ndarray], k: int) -> float:
        if factors[0].shape[1] == 0:
            return 0.0
        return float(np.linalg.norm(_hadamard_gram(factors, skip=k), 2))

    def atom_inner(self, G: np.ndarray, columns: list[np.ndarray]) -> float:
        """``⟨G, x¹∘…∘xᴷ⟩ = G ×₁ x¹ ⋯ ×_K xᴷ`` (contracted from the last mode, ``O(N)``)."""
        t = self.operator(G)
        for c in reversed(columns):
            t = t @ np.asarray(c, dtype=float)
        return float(t)

    def atom_sqnorm(self, columns: list[np.ndarray]) -> float:
        """``‖x¹∘…∘xᴷ‖² = Πₖ ‖xᵏ‖²``."""
        out = 1.0
        for c in columns:
            out *= float(np.dot(c, c))
        return out

    def merge_parallel(self, factors: list[np.ndarray], tol: float = 1e-6) -> list[np.ndarray]:
        """Merge slices that are parallel in every mode into one (never increases ``F``).

        Slices ``i, j`` with ``Πₖ|cos(xᵢᵏ, xⱼᵏ)| ≥ 1 − tol`` (the cosine of the two atoms,
        grouped by :func:`parallel_groups`, heads in decreasing magnitude; zero slices are
        dropped when anything merges) are the same rank-one direction
        ``d¹∘…∘dᴷ`` with signed magnitudes ``tᵢ, tⱼ``; one slice of magnitude ``tᵢ + tⱼ`` gives
        the same output (up to the ``tol`` mismatch) and, for any norm gauges, a penalty
        ``|tᵢ + tⱼ|Πκ(dᵏ) ≤ (|tᵢ| + |tⱼ|)Πκ(dᵏ)``.  Growth appends the polar maximizer, which at
        a near-stationary point is often an existing direction: without merging, the rank
        would count such copies.  The merged slice is balanced in ℓ2.
        """
        r = factors[0].shape[1]
        if r < 2:
            return factors
        norms = np.array([np.linalg.norm(F, axis=0) for F in factors])
        live = np.all(norms > 0, axis=0)
        units = [F / np.where(n > 0, n, 1.0) for F, n in zip(factors, norms, strict=True)]
        S = np.ones((r, r))
        for U in units:
            S = S * (U.T @ U)
        t = np.prod(norms, axis=0)
        keep = np.zeros(r, dtype=bool)
        mag = t.copy()
        # mode that carries a negative merged magnitude: one holding a negative entry in the
        # group (hence a signed mode, as every input slice is feasible); a negative sum needs
        # some S < 0, i.e. such a mode exists.  Mode 0 could be a non-negative one.
        sign_mode = np.zeros(r, dtype=int)
        for grp in parallel_groups(np.abs(S) >= 1 - tol, t, eligible=live):
            i, par = grp[0], grp[1:]
            keep[i] = True
            if par.size:
                mag[i] = t[i] + float(np.sum(np.sign(S[i, par]) * t[par]))
                neg = [k for k, F in enumerate(factors) if np.any(F[:, grp] < 0)]
                sign_mode[i] = neg[0] if neg else 0
        if keep.sum() == int(live.sum()):
            return factors
        K = len(factors)
        out = []
        for k, U in enumerate(units):
            scale = np.abs(mag) ** (1.0 / K)
            scale = scale * np.where((mag < 0) & (sign_mode == k), -1.0, 1.0)
            out.append((U * scale)[:, keep])
        return out

    def subtract_atom(self, G: np.ndarray, s: float, columns: list[np.ndarray]) -> np.ndarray:
        """``G − s·φ(x)`` (in place for a float64 array)."""
        d = self.atom(columns)
        if isinstance(G, np.ndarray) and G.dtype == np.float64 and G.flags.writeable:
            G -= s * d
            return G
        return G - s * d


class MaskedCPMap(CPMap):
    """CP atoms observed on a boolean mask ``Ω`` (``True`` = observed): output ``P_Ω([[X]])``.

    The output representation is the vector of model values at the observed entries in C order
    (``Z[mask]``), so :class:`homfact.losses.SquaredLoss` on ``Y[mask]`` is the masked loss
    ``½‖P_Ω(Y − [[X]])‖²``.  :meth:`operator` scatters a gradient vector into a dense tensor
    that is zero off ``Ω``; the dense Lipschitz constant stays valid (``‖P_Ω‖ ≤ 1``).
    """

    def __init__(self, shape: tuple[int, ...], mask: np.ndarray):
        super().__init__(shape)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(f"mask must have shape {self.shape}, got {mask.shape}")
        self.mask = mask

    @property
    def nnz(self) -> int:
        return int(self.mask.sum())

    def forward(self, factors: list[np.ndarray]) -> np.ndarray:
        return super().forward(factors)[self.mask]

    def atom(self, columns: list[np.ndarray]) -> np.ndarray:
        return super().atom(columns)[self.mask]

    def operator(self, g: np.ndarray) -> np.ndarray:
        T = np.zeros(self.shape)
        T[self.mask] = g
        return T

    def adjoint(self, g: np.ndarray) -> np.ndarray:
        return self.operator(g)

    def atom_inner(self, g: np.ndarray, columns: list[np.ndarray]) -> float:
        return float(np.dot(g, self.atom(columns)))

    atom_sqnorm = _observed_atom_sqnorm
    subtract_atom = _observed_subtract_atom


__all__ += ["CPMap", "MaskedCPMap", "khatri_rao", "mttkrp"]
