"""Unregularized refits and merges of fitted atoms (no penalty, no certificate).

* :func:`_merge_parallel` — replace groups of nearly parallel slices ``(u, a)`` by the best
  rank-one approximation of their sum: a thin wrapper over the bilinear maps' one merge,
  :func:`homfact.maps.merge_bilinear_parallel` (:func:`_rank_one_merge` is
  :func:`homfact.maps.rank_one_merge`); kept for old imports.
* :func:`merge_correlated` — CNMF's merge of components with touching supports and correlated
  traces.
* :func:`debias_refit` — HALS refit of ``Y ≈ U Vᵀ + W Bᵀ`` without penalty, each footprint
  confined to its support (:func:`_dilate` grows the supports along a graph given by
  :func:`_adjacency`).

Moved unchanged from ``homfact.models.structured``, which re-exports every name.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..maps import _unit_columns as _unit_columns  # re-exported by models.structured
from ..maps import merge_bilinear_parallel, rank_one_merge

__all__ = ["debias_refit", "merge_correlated"]


# --------------------------------------------------------------------------------------------
# merging of parallel slices: the one bilinear merge lives on the map


#: the balanced best rank-one approximation of a group's sum (also CNMF's merge below)
_rank_one_merge = rank_one_merge


def _merge_parallel(gauges, factors: list[np.ndarray], cos: float,
                    mapping=None) -> list[np.ndarray] | None:
    """The bilinear merge (``mapping.merge_parallel``; without a map or hook
    :func:`homfact.maps.merge_bilinear_parallel`) with per-side threshold ``cos``
    (``tol = 1 − cos``), heads in decreasing penalty ``κ_u(uᵢ)κ_a(aᵢ)`` and each side clipped
    when its gauge is non-negative; ``None`` when no pair qualifies."""
    U, A = factors
    merge = getattr(mapping, "merge_parallel", None) or merge_bilinear_parallel
    merged = merge(factors, 1.0 - cos,
                   nonnegative=(gauges[0].nonnegative, gauges[1].nonnegative),
                   priority=gauges[0].value(U) * gauges[1].value(A))
    return None if merged is factors else merged


# --------------------------------------------------------------------------------------------
# debiasing refit


def _dilate(mask: np.ndarray, adjacency: sp.csr_matrix | None, steps: int) -> np.ndarray:
    """Grow boolean columns of ``mask`` (nodes × k) by ``steps`` graph neighbourhoods."""
    if adjacency is None or steps <= 0:
        return mask
    out = mask.copy()
    for _ in range(steps):
        out = out | (adjacency @ out.astype(np.float64) > 0)
    return out


def _adjacency(edges, n_nodes: int) -> sp.csr_matrix | None:
    if edges is None:
        return None
    E = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if E.size == 0:
        return None
    ones = np.ones(E.shape[0])
    A = sp.coo_matrix((ones, (E[:, 0], E[:, 1])), shape=(n_nodes, n_nodes))
    return sp.csr_matrix(A + A.T)


def merge_correlated(U: np.ndarray, V: np.ndarray, support: np.ndarray,
                     threshold: float = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge components whose supports intersect and whose traces correlate (CNMF's merge).

    Components ``i``, ``j`` are linked when ``support[:, i] ∩ support[:, j] ≠ ∅`` and the
    Pearson correlation of ``V[:, i]`` and ``V[:, j]`` is at least ``threshold``; each
    connected group is replaced by the best rank-one approximation ``σ x yᵀ`` of
    ``Σ_g u_g v_gᵀ`` (non-negative by Perron–Frobenius: use it for non-negative factors), on
    the union of the group's supports.  This is the merging step of
    CNMF (Pnevmatikakis et al., Neuron 89(2), 2016, "merging of overlapping components";
    CaImAn's ``merge_thr = 0.8``): one neuron fitted as two pieces (a core and the rim the
    penalty cut off, found later by the polar) becomes one component again.

    Returns ``(U, V, support)`` with merged columns (groups in order of their first member).
    """
    r = U.shape[1]
    if r < 2:
        return U, V, support
    S = support.astype(np.float64)
    touch = (S.T @ S) > 0
    Vc = V - V.mean(axis=0)
    nrm = np.linalg.norm(Vc, axis=0)
    corr = (Vc.T @ Vc) / np.outer(np.where(nrm > 0, nrm, 1.0), np.where(nrm > 0, nrm, 1.0))
    link = touch & (corr >= threshold)
    np.fill_diagonal(link, False)
    if not link.any():
        return U, V, support
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(sp.csr_matrix(link), directed=False)
    cols_u, cols_v, cols_s = [], [], []
    for lab in dict.fromkeys(labels.tolist()):
        g = np.flatnonzero(labels == lab)
        if g.size == 1:
            cols_u.append(U[:, g[0]])
            cols_v.append(V[:, g[0]])
            cols_s.append(support[:, g[0]])
            continue
        u, v = _rank_one_merge(U[:, g], V[:, g], True, True)
        cols_u.append(u)
        cols_v.append(v)
        cols_s.append(support[:, g].any(axis=1))
    return np.column_stack(cols_u), np.column_stack(cols_v), np.column_stack(cols_s)


def debias_refit(Y: np.ndarray, U: np.ndarray, V: np.ndarray, *, support: np.ndarray,
                 basis: np.ndarray | None = None, mu: float = 0.0,
                 spatial_nonnegative: bool = True, temporal_nonnegative: bool = True,
                 dictionary: np.ndarray | None = None, max_sweeps: int = 30,
                 tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Unregularized refit of ``Y ≈ U Vᵀ + W Bᵀ`` with each ``uᵢ`` confined to ``support[:, i]``.

    Block coordinate descent (HALS, Cichocki & Phan 2009) on
    ``½‖Y − U Vᵀ − W Bᵀ‖² + (μ/2)‖W‖²`` subject to ``U_{p,i} = 0`` off ``support[:, i]`` and the
    sign constraints of each side: per sweep, every column ``uᵢ`` is the exact constrained
    least-squares minimizer with the others fixed (non-negative part of
    ``(R_i vᵢ)/‖vᵢ‖²`` on its support), then every ``vᵢ`` likewise (with a temporal dictionary
    ``D`` the codes ``aᵢ`` are fixed: ``V = D A`` is not refit), then ``W`` exactly
    (``W = (Y − UVᵀ) B (BᵀB + μI)⁻¹``).  Every step is an exact block minimization, so the
    objective never increases.  Stops when it decreases by less than ``tol`` (relative) in a
    sweep, or after ``max_sweeps``.  A column whose ``uᵢ`` or ``vᵢ`` becomes 0 is dropped.

    Returns ``(U, V, W, info)`` (``W`` is ``m × q``, ``q = 0`` without a basis) with ``info``
    holding ``n_sweeps``, ``objective`` (initial and final) and ``dropped``.
    """
    Y = np.asarray(Y, dtype=float)
    m, n = Y.shape
    U = np.where(support, U, 0.0).astype(float, copy=True)
    V = np.array(V, dtype=float, copy=True)
    B = np.zeros((n, 0)) if basis is None else np.asarray(basis, dtype=float)
    solve_w = None
    if B.shape[1]:
        G = B.T @ B + mu * np.eye(B.shape[1])
        solve_w = np.linalg.pinv(G) @ B.T  # q × n: W = R (B pinv(G))ᵀ … as (solve_w @ Rᵀ)ᵀ

    def intercept(Z_resid: np.ndarray) -> np.ndarray:
        if solve_w is None:
            return np.zeros((m, 0))
        return (solve_w @ Z_resid.T).T

    def objective(U, V, W) -> float:
        R = Y - U @ V.T - W @ B.T
        return 0.5 * float(np.vdot(R, R)) + 0.5 * mu * float(np.vdot(W, W))

    W = intercept(Y - U @ V.T)
    f0 = f = objective(U, V, W)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        Yw = Y - W @ B.T
        # spatial columns
        H, P = V.T @ V, Yw @ V
        for i in range(U.shape[1]):
            if H[i, i] <= 0:
                continue
            col = (P[:, i] - U @ H[:, i] + U[:, i] * H[i, i]) / H[i, i]
            if spatial_nonnegative:
                col = np.maximum(col, 0.0)
            U[:, i] = np.where(support[:, i], col, 0.0)
        # temporal columns (not with a fixed dictionary)
        if dictionary is None:
            H, P = U.T @ U, Yw.T @ U
            for i in range(V.shape[1]):
                if H[i, i] <= 0:
                    continue
                col = (P[:, i] - V @ H[:, i] + V[:, i] * H[i, i]) / H[i, i]
                V[:, i] = np.maximum(col, 0.0) if temporal_nonnegative else col
        W = intercept(Y - U @ V.T)
        f_new = objective(U, V, W)
        done = f - f_new <= tol * max(f_new, 1e-300)
        f = f_new
        if done:
            break
    alive = (np.abs(U).sum(axis=0) > 0) & (np.abs(V).sum(axis=0) > 0)
    info = {"n_sweeps": sweeps, "objective": (f0, f), "dropped": int((~alive).sum()),
            "kept": alive}
    return U[:, alive], V[:, alive], W, info
