"""Baseline: rank-restricted softImpute-ALS (Hastie, Mazumder, Lee & Zadeh 2015, Algorithm 3.1).

T. Hastie, R. Mazumder, J. D. Lee, R. Zadeh, "Matrix completion and low-rank SVD via fast
alternating least squares", JMLR 16 (2015) 3367–3402, Algorithm 3.1.  It solves

    minimize_{A, B}  ½‖P_Ω(X − ABᵀ)‖²_F + (λ/2)(‖A‖²_F + ‖B‖²_F),   A: m×r, B: n×r,

whose solutions with ``r ≥ rank`` are those of ``½‖P_Ω(X − Z)‖² + λ‖Z‖_*``.  The iterate is kept in
the orthogonalized form ``A = U D``, ``B = V D`` (``U``, ``V`` orthonormal columns, ``D`` diagonal):

1. ``U`` random with orthonormal columns, ``D = I``, ``V = 0``.
2. B-step: ``X* = P_Ω(X) − P_Ω(ABᵀ) + ABᵀ`` is held as *sparse + low rank* (never dense);
   ``B̃ᵀ = (D² + λI)⁻¹ D Uᵀ X* = (D² + λI)⁻¹ D Uᵀ S + (D² + λI)⁻¹ D² Bᵀ`` with the sparse residual
   ``S = P_Ω(X − ABᵀ)``; then the SVD ``B̃ D = Ũ D̃² Ṽᵀ`` gives ``V ← Ũ``, ``D ← D̃`` and
   ``U ← U Ṽ`` (so that ``A Bᵀ`` equals ``A B̃ᵀ``, as in the authors' R package ``softImpute``).
3. A-step: the same with ``Xᵀ`` and the roles of ``A`` and ``B`` swapped.
4. Repeat 2–3; the paper's convergence ratio ``‖ABᵀ − A₀B₀ᵀ‖²_F / ‖A₀B₀ᵀ‖²_F`` is computed from
   ``r×r`` products (``rel_change``).
5. Final step: ``M = X* V = S V + U D²``, SVD ``M = Ũ D_σ Rᵀ``, output ``U ← Ũ``, ``V ← V R`` and
   ``(D_σ − λI)₊`` (:meth:`SoftImputeALS.finalize`).

One iteration (steps 2 + 3) costs ``O(|Ω| r + (m + n) r²)``: two masked products for ``S`` and two
sparse-times-dense products.  Only numpy/scipy are used; nothing is shared with ``homfact`` so the
baseline stands on its own.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["SoftImputeALS"]

_CHUNK = 1 << 18


def _masked_dot(A: np.ndarray, B: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                out: np.ndarray) -> np.ndarray:
    """``out[t] = (A Bᵀ)[rows[t], cols[t]]`` in chunks (``O(|Ω| r)``, bounded temporaries)."""
    for start in range(0, rows.shape[0], _CHUNK):
        sl = slice(start, start + _CHUNK)
        out[sl] = np.einsum("ij,ij->i", A[rows[sl]], B[cols[sl]])
    return out


class SoftImputeALS:
    """Rank-restricted softImpute-ALS on the observed entries of a sparse matrix.

    Parameters
    ----------
    X : scipy.sparse matrix whose stored entries are the observed set ``Ω``.
    lam : the ``λ`` of the nuclear-norm problem.
    rank_max : ``r``, the number of columns (should exceed the solution's rank).
    random_state : seed for the random orthonormal start.
    """

    def __init__(self, X, lam: float, rank_max: int, random_state=0):
        X = sp.csr_matrix(X, dtype=float)
        X.sum_duplicates()
        X.sort_indices()
        self.shape = X.shape
        self.lam = float(lam)
        self.r = int(rank_max)
        self.x = X.data.copy()
        self.rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        self.cols = X.indices.astype(np.int64)
        # CSR containers sharing Ω's index structure: only .data changes between iterations
        self._S = sp.csr_matrix((np.zeros_like(self.x), X.indices, X.indptr), shape=X.shape)
        self._ST = self._S.T.tocsr()  # Sᵀ in CSR; its data follows the permutation below
        perm = sp.csr_matrix((np.arange(len(self.x), dtype=float), X.indices, X.indptr),
                             shape=X.shape).T.tocsr().data
        self._perm_t = perm.astype(np.int64)
        self._buf = np.empty_like(self.x)
        rng = np.random.default_rng(random_state)
        self.U, _ = np.linalg.qr(rng.standard_normal((self.shape[0], self.r)))
        self.V = np.zeros((self.shape[1], self.r))
        self.d = np.ones(self.r)  # D (diagonal)
        self.n_iter = 0
        self.rel_change = np.inf

    # -- sparse residual S = P_Ω(X − ABᵀ) with ABᵀ = U D² Vᵀ
    def _residual(self) -> np.ndarray:
        fit = _masked_dot(self.U * (self.d ** 2), self.V, self.rows, self.cols, self._buf)
        np.subtract(self.x, fit, out=fit)
        return fit

    def _b_step(self) -> None:
        lam, d = self.lam, self.d
        s = self._residual()
        self._ST.data[:] = s[self._perm_t]
        # B̃ = Sᵀ U D (D² + λ)⁻¹ + V D³ (D² + λ)⁻¹    (n × r)
        Bt = (self._ST @ self.U) * (d / (d ** 2 + lam)) + self.V * (d ** 3 / (d ** 2 + lam))
        W, sig, Qt = np.linalg.svd(Bt * d, full_matrices=False)  # B̃ D = Ũ D̃² Ṽᵀ
        self.V = W
        self.d = np.sqrt(sig)
        self.U = self.U @ Qt.T

    def _a_step(self) -> None:
        lam, d = self.lam, self.d
        s = self._residual()
        self._S.data[:] = s
        At = (self._S @ self.V) * (d / (d ** 2 + lam)) + self.U * (d ** 3 / (d ** 2 + lam))
        W, sig, Qt = np.linalg.svd(At * d, full_matrices=False)
        self.U = W
        self.d = np.sqrt(sig)
        self.V = self.V @ Qt.T

    def step(self) -> None:
        """One iteration of Algorithm 3.1 (steps 2 and 3), then the paper's convergence ratio."""
        U0, V0, d0 = self.U, self.V, self.d
        self._b_step()
        self._a_step()
        self.n_iter += 1
        # ‖U₀D₀²V₀ᵀ − UD²Vᵀ‖² / ‖U₀D₀²V₀ᵀ‖² from r×r products
        d0s, ds = d0 ** 2, self.d ** 2
        old = float(np.sum(d0s ** 2))
        new = float(np.sum(ds ** 2))
        cross = float(np.sum((U0.T @ self.U) * np.outer(d0s, ds) * (V0.T @ self.V)))
        self.rel_change = (old + new - 2 * cross) / old if old > 0 else np.inf

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """The current ``(A, B) = (U D, V D)``: balanced, ``Σ‖aᵢ‖‖bᵢ‖ = ‖ABᵀ‖_*``."""
        return self.U * self.d, self.V * self.d

    def finalize(self) -> tuple[np.ndarray, np.ndarray]:
        """Step 5: ``M = X* V``, ``M = Ũ D_σ Rᵀ``; factors of ``Ũ (D_σ − λ)₊ (V R)ᵀ``."""
        s = self._residual()
        self._S.data[:] = s
        M = self._S @ self.V + self.U * self.d ** 2
        W, sig, Rt = np.linalg.svd(M, full_matrices=False)
        root = np.sqrt(np.maximum(sig - self.lam, 0.0))
        return W * root, (self.V @ Rt.T) * root
