"""Merging nearly parallel rank-one terms ``wᵢvᵢᵀ`` of a non-negative factorization.

:func:`merge_parallel_columns` joins duplicate columns of the certified factors (they cost
nothing in the objective but inflate the rank); :func:`_merge_into_partner` and
:func:`_merge_rise` start and bound the trial removals of the pruning
(:mod:`homfact.solvers.nmf_prune`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["merge_parallel_columns"]


def merge_parallel_columns(U: np.ndarray, V: np.ndarray, cos_tol: float = 1e-6):
    """Merge columns ``i, j`` whose atoms are parallel: ``cos(uᵢ,uⱼ)·cos(vᵢ,vⱼ) ≥ 1 − cos_tol``.

    Such duplicates cost nothing in the objective (the penalty is positively homogeneous) but
    inflate the rank.  A group ``g`` becomes one balanced column ``√σ û, √σ v̂`` with
    ``û ∝ Σ_g uᵢ``, ``v̂ ∝ Σ_g vᵢ`` and ``σ = Σ_g ‖uᵢ‖‖vᵢ‖ (ûᵀûᵢ)(v̂ᵀv̂ᵢ)``.  Returns
    ``(U, V, merged)``; the caller re-certifies the result.
    """
    r = U.shape[1]
    if r < 2:
        return U, V, False
    nu, nv = np.linalg.norm(U, axis=0), np.linalg.norm(V, axis=0)
    Uh, Vh = U / np.where(nu > 0, nu, 1.0), V / np.where(nv > 0, nv, 1.0)
    C = (Uh.T @ Uh) * (Vh.T @ Vh)
    group = -np.ones(r, dtype=int)
    for i in range(r):
        if group[i] < 0:
            group[i] = i
            group[(np.arange(r) > i) & (group < 0) & (C[i] >= 1.0 - cos_tol)] = i
    heads = np.unique(group)
    if heads.size == r:
        return U, V, False
    cols_u, cols_v = [], []
    for h in heads:
        g = group == h
        uh, vh = U[:, g].sum(axis=1), V[:, g].sum(axis=1)
        uh, vh = uh / np.linalg.norm(uh), vh / np.linalg.norm(vh)
        sig = float(np.sum(nu[g] * nv[g] * (uh @ Uh[:, g]) * (vh @ Vh[:, g])))
        cols_u.append(np.sqrt(max(sig, 0.0)) * uh)
        cols_v.append(np.sqrt(max(sig, 0.0)) * vh)
    return np.column_stack(cols_u), np.column_stack(cols_v), True


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
