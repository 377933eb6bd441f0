"""Merging nearly parallel rank-one terms ``wᵢvᵢᵀ`` of a non-negative factorization.

:func:`merge_parallel_columns` joins duplicate columns of the certified factors (they cost
nothing in the objective but inflate the rank; a thin wrapper over the bilinear maps' one merge,
:func:`homfact.maps.merge_bilinear_parallel`); :func:`_merge_into_partner` and
:func:`_merge_rise` start and bound the trial removals of the pruning
(:mod:`homfact.solvers.nmf_prune`).
"""

from __future__ import annotations

import numpy as np

from ..maps import merge_bilinear_parallel

__all__ = ["merge_parallel_columns"]


def merge_parallel_columns(U: np.ndarray, V: np.ndarray, cos_tol: float = 1e-6):
    """Merge duplicate columns: the bilinear maps' one merge at per-side cosine ``1 − cos_tol``.

    Columns ``i, j`` with ``cos(uᵢ,uⱼ) ≥ 1 − cos_tol`` and ``cos(vᵢ,vⱼ) ≥ 1 − cos_tol`` are the
    same atom up to ``cos_tol``; such duplicates cost nothing in the objective (the penalty is
    positively homogeneous) but inflate the rank.  Each group (heads in index order) becomes the
    balanced best rank-one approximation of its sum, clipped at 0 on non-negative sides
    (:func:`homfact.maps.merge_bilinear_parallel`; for exactly parallel columns this is the sum
    direction with the summed magnitude).  After a merge every column is balanced,
    ``‖uᵢ‖ = ‖vᵢ‖`` (the output and the ℓ2 penalty are unchanged).  Returns
    ``(U, V, merged)``; the caller re-certifies the result.
    """
    r = U.shape[1]
    out = merge_bilinear_parallel([U, V], cos_tol, priority=-np.arange(r, dtype=float))
    if out[0] is U and out[1] is V:
        return U, V, False
    U2, V2 = out
    nu, nv = np.linalg.norm(U2, axis=0), np.linalg.norm(V2, axis=0)
    live = (nu > 0) & (nv > 0)
    scale = np.sqrt(np.where(live, nv, 1.0) / np.where(live, nu, 1.0))
    return U2 * scale, V2 / scale, True


def _term_cosines(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``C_ij = cos(wᵢ, wⱼ)·cos(vᵢ, vⱼ)``, the cosine of the rank-one terms ``wᵢvᵢᵀ`` and
    ``wⱼvⱼᵀ`` (diagonal set to ``−∞``, so that ``argmax`` of a row is the partner)."""
    nw = np.linalg.norm(W, axis=0)
    nv = np.linalg.norm(V, axis=0)
    Wh, Vh = W / np.where(nw > 0, nw, 1.0), V / np.where(nv > 0, nv, 1.0)
    C = (Wh.T @ Wh) * (Vh.T @ Vh)
    np.fill_diagonal(C, -np.inf)
    return C


def _merged_pair(W: np.ndarray, V: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """``(w, v)``, ``wvᵀ`` the best rank-one approximation of ``P = wᵢvᵢᵀ + wⱼvⱼᵀ`` (balanced).

    With ``L = [wᵢ wⱼ]``, ``M = [vᵢ vⱼ]`` and the Gram matrices ``G_L, G_M``: ``PᵀP = M G_L Mᵀ``,
    so the top right singular vector is ``My/‖My‖`` for the Perron eigenvector ``y`` of the
    non-negative 2×2 matrix ``G_L G_M`` (eigenvalue ``s²``), and the left one is
    ``L G_M y/(s‖My‖)``; both are non-negative (Perron–Frobenius).
    """
    L, M = W[:, [i, j]], V[:, [i, j]]
    GL, GM = L.T @ L, M.T @ M
    ev, vecs = np.linalg.eig(GL @ GM)
    k = int(np.argmax(ev.real))
    s2, y = float(ev[k].real), np.abs(vecs[:, k].real)
    my = float(np.sqrt(max(y @ GM @ y, 0.0)))
    if not (s2 > 0 and my > 0):
        return np.zeros(W.shape[0]), np.zeros(V.shape[0])
    s = np.sqrt(s2)
    return np.sqrt(s) * (L @ (GM @ y)) / (s * my), np.sqrt(s) * (M @ y) / my


def _merge_into_partner(W: np.ndarray, V: np.ndarray, i: int,
                        j: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Columns of ``W, V`` without ``i``, its mass merged into its most parallel partner.

    The partner ``j`` (unless given) maximizes ``cos(wᵢ, wⱼ)·cos(vᵢ, vⱼ)``
    (:func:`_term_cosines`); it is replaced by the best rank-one approximation of
    ``wᵢvᵢᵀ + wⱼvⱼᵀ`` (:func:`_merged_pair`).  Reason: an atom split in two (two nearly
    parallel columns, the regularized fit's way of spreading a component) is one column
    again, so the trial refit that measures the rise of removing ``i`` starts where its few
    sweeps can converge; for a column with no parallel partner the rank-one approximation is
    close to the larger term and this is about plain removal.
    """
    if j is None:
        j = int(np.argmax(_term_cosines(W, V)[i]))
    w, v = _merged_pair(W, V, i, j)
    W2, V2 = W.copy(), V.copy()
    W2[:, j], V2[:, j] = w, v
    keep = np.arange(W.shape[1]) != i
    return W2[:, keep], V2[:, keep]


def _merge_rise(R: np.ndarray, RV: np.ndarray, W: np.ndarray, V: np.ndarray, i: int,
                j: int) -> float:
    """``‖R + Δ‖²_F − ‖R‖²_F`` for ``Δ = WVᵀ − W'V'ᵀ``, ``(W', V')`` the factors of
    :func:`_merge_into_partner` (``i`` merged into ``j``) and ``R = Z − WVᵀ``: the exact rise of
    the loss of that merge before any refit (so an upper bound on the rise after one).

    ``Δ = LMᵀ`` with ``L = [wᵢ, wⱼ, −w']``, ``M = [vᵢ, vⱼ, v']``, and the rise is
    ``2⟨R, LMᵀ⟩ + ‖LMᵀ‖²_F = 2Σ L∘(RM) + Σ (LᵀL)∘(MᵀM)`` (no cancellation against ``‖R‖²``);
    ``RV = R V`` is shared by all ``i``, so only ``Rv'`` is computed here.
    """
    w, v = _merged_pair(W, V, i, j)
    L = np.column_stack([W[:, i], W[:, j], -w])
    M = np.column_stack([V[:, i], V[:, j], v])
    RM = np.column_stack([RV[:, i], RV[:, j], R @ v])
    return 2.0 * float(np.sum(L * RM)) + float(np.sum((L.T @ L) * (M.T @ M)))
