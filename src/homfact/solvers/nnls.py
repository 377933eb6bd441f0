"""Exact row-wise non-negative least squares ``min_{W ≥ 0} ½‖X − WH‖²_F`` (active-set NNLS,
with an optional guess of the supports checked by the KKT conditions)."""

from __future__ import annotations

import numpy as np

__all__ = ["nnls_rows"]


def _nnls_from_support(M: np.ndarray, B: np.ndarray, S: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Rows ``w`` with ``M_SS w_S = b_S`` on a guessed support ``S`` (``w = 0`` elsewhere), and a
    mask of the rows where that ``w`` satisfies the KKT conditions of
    ``min_{w ≥ 0} ½wᵀMw − bᵀw`` (``w_S > 0`` and ``(Mw − b)_k ≥ 0`` off ``S``): for ``M ≻ 0``
    such a ``w`` is the unique minimizer.  The systems are solved in batches, each as the
    ``r×r`` system ``(M ∘ ssᵀ + diag(1 − s)) w = b ∘ s`` (identity off the support)."""
    m, r = B.shape
    W = np.zeros((m, r))
    eye = np.eye(r)
    chunk = max(1, 2_000_000 // max(r * r, 1))
    for a in range(0, m, chunk):
        s = S[a:a + chunk].astype(float)
        A = M[None] * s[:, :, None] * s[:, None, :] + eye[None] * (1.0 - s)[:, None, :]
        W[a:a + chunk] = np.linalg.solve(A, (B[a:a + chunk] * s)[:, :, None])[:, :, 0]
    grad = W @ M - B
    ok = np.all(np.where(S, W > 0, grad >= 0), axis=1)
    return W, ok


def nnls_rows(X: np.ndarray, H: np.ndarray, W0: np.ndarray | None = None) -> np.ndarray:
    """``W = argmin_{W ≥ 0} ½‖X − W H‖²_F``, row by row and exactly (active-set NNLS).

    With ``HHᵀ = LLᵀ`` (Cholesky), ``‖x − Hᵀw‖² = ‖Lᵀw − L⁻¹Hx‖² + const``, so each row is an
    ``r×r`` problem for :func:`scipy.optimize.nnls` (Lawson–Hanson); a singular ``HHᵀ`` falls
    back to the ``n_features×r`` form.  ``W0`` (optional, e.g. HALS codes for a nearby ``H``)
    guesses the supports: rows whose solution on that support passes the KKT test
    (:func:`_nnls_from_support`) are taken from it, only the others go to Lawson–Hanson.
    """
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    m, r = X.shape[0], H.shape[0]
    W = np.zeros((m, r))
    if r == 0:
        return W
    B = X @ H.T
    try:
        L = cholesky(H @ H.T, lower=True)
        ok = np.all(np.diag(L) > 1e-6 * max(float(np.abs(L).max()), 1e-300))
    except np.linalg.LinAlgError:
        ok = False
    if ok:
        todo = np.arange(m)
        if W0 is not None and np.shape(W0) == (m, r):
            W, good = _nnls_from_support(H @ H.T, B, np.asarray(W0) > 0)
            W[~good] = 0.0
            todo = np.flatnonzero(~good)
        C = solve_triangular(L, B[todo].T, lower=True)  # r × len(todo)
        Lt = np.ascontiguousarray(L.T)
        for j, i in enumerate(todo):
            W[i] = nnls(Lt, C[:, j])[0]
    else:
        Ht = np.ascontiguousarray(H.T)
        for i in range(m):
            W[i] = nnls(Ht, X[i])[0]
    return W
