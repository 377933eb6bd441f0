"""Exact two-layer ReLU polar for a rank-one gradient, in any input dimension (small ``N``).

When ``G = g uᵀ`` has rank one (one output; or a binary softmax, whose rows sum to zero),
``‖Gᵀ(Vw)₊‖ = ‖u‖ |gᵀ(Vw)₊|``.  On the closure of each cell ``K_s = {w : sₚ aₚᵀw ≥ 0}`` of the
central arrangement of the planes ``aₚᵀw = 0`` (one per distinct row direction of ``V``) the
pattern ``D`` is fixed and ``gᵀ(Vw)₊ = cᵀw`` with ``c = VᵀDg`` is linear, so

    max_{w ∈ K_s, ‖w‖ ≤ 1} ±cᵀw = ‖P_{K_s}(±c)‖,

the norm of the projection onto the polyhedral cone (Moreau).  With ``A = diag(s)·[aₚᵀ]`` and any
``μ ≥ 0``, ``cᵀw ≤ (c + Aᵀμ)ᵀw ≤ ‖c + Aᵀμ‖`` on ``K_s ∩ ball``, so the NNLS solution
``μ* = argmin_{μ≥0} ‖c + Aᵀμ‖`` gives both the maximizer ``w = (c + Aᵀμ*)/‖·‖`` (evaluated
exactly: a lower bound that is attained) and a valid upper bound ``‖c + Aᵀμ*‖`` per cell.
docs: theory/families, 'Networks', lists this as the exact polar for scalar output ("one small
SOCP per activation pattern"): the SOCP is this cone projection.

The cells come from the extreme rays of the arrangement (:func:`cells_from_rays`, no LPs); inputs
whose rows do not span ``ℝᵈ`` are first reduced to their row space, where the arrangement is
essential.  The number of cells is at most ``2 Σ_{i<d} C(m−1, i)`` for ``m`` planes in ``ℝᵈ``
(exponential in ``d``), so this is for small instances; :func:`cell_count_bound` lets callers
decide.  :func:`arrangement_cells` enumerates the cells incrementally with one LP (HiGHS) per cell
and new plane; cells thinner than the LP's feasibility tolerance can be missed, so the bounds never
rest on it (with too many planes through one ray the exact polar declines instead).  Written by
hand: no library enumerates the cells of a hyperplane arrangement (``scipy`` gives the LP and NNLS
it is built from).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog, nnls

__all__ = ["arrangement_cells", "cell_count_bound", "relu_unit_exact_rank_one"]


def distinct_planes(V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normals ``aₚ`` of the distinct planes ``vₙᵀw = 0``, the plane of each row (``−1``
    for zero rows) and the orientation ``oₙ = ±1`` with ``vₙ = oₙ‖vₙ‖aₚ``."""
    nrm = np.linalg.norm(V, axis=1)
    live = nrm > 0
    U = V[live] / nrm[live, None]
    sgn = np.sign(U[np.arange(U.shape[0]), np.abs(U).argmax(1)])
    key = np.round(U * sgn[:, None], 12)
    planes, inv = np.unique(key, axis=0, return_inverse=True)
    planes /= np.linalg.norm(planes, axis=1, keepdims=True)
    plane_of_row = np.full(V.shape[0], -1)
    plane_of_row[live] = inv.reshape(-1)
    orient = np.zeros(V.shape[0])
    orient[live] = sgn
    return planes, plane_of_row, orient


def cell_count_bound(m: int, d: int) -> int:
    """Upper bound ``2 Σ_{i<d} C(m−1, i)`` on the cells of ``m`` central planes in ``ℝᵈ``."""
    if m == 0:
        return 1
    return 2 * sum(math.comb(m - 1, i) for i in range(min(d, m)))


def _other_side(A: np.ndarray) -> np.ndarray | None:
    """A point with ``A w ≥ 1`` (interior of the open cone ``A w > 0``), or ``None``."""
    d = A.shape[1]
    res = linprog(np.zeros(d), A_ub=-A, b_ub=-np.ones(A.shape[0]), bounds=[(None, None)] * d,
                  method="highs")
    if res.status == 0 and np.all(A @ res.x >= 1 - 1e-7):
        return res.x
    return None


def cells_from_rays(planes: np.ndarray, *, max_on: int = 10) -> np.ndarray | None:
    """Sign vectors covering every cell of an essential arrangement (normals spanning ``ℝᵈ``),
    from its extreme rays, without LPs; ``None`` if the arrangement is not essential or more than
    ``max_on`` planes pass through one ray.

    Every cell of an essential central arrangement is a pointed cone, so it has an extreme ray:
    the line ``r`` where ``d−1`` independent planes meet.  Near ``±r`` the planes not through it
    keep the sign of ``aₚᵀr`` and those through it take every combination of signs (a superset
    of the cells there; a pattern whose open cell is empty still describes a closed face on
    which the pattern's linear form equals ``gᵀ(Vw)₊``, so it never invalidates the bounds).
    """
    from itertools import combinations, product

    m, d = planes.shape
    if m < d - 1 or np.linalg.matrix_rank(planes) < d:
        return None
    out = set()
    for sub in combinations(range(m), d - 1):
        A = planes[list(sub)]
        _, sv, vt = np.linalg.svd(A)
        if sv[-1] < 1e-9 * sv[0]:
            continue  # these planes meet in more than a line: not a ray
        r = vt[-1]
        proj = planes @ r
        on = np.flatnonzero(np.abs(proj) <= 1e-10)
        if on.size > max_on:
            return None
        for ray_sign in (1.0, -1.0):
            base = np.sign(ray_sign * proj)
            for combo in product((1.0, -1.0), repeat=on.size):
                sv_ = base.copy()
                sv_[on] = combo
                out.add(tuple(sv_))
    return np.array(sorted(out)).reshape(len(out), m)


def arrangement_cells(planes: np.ndarray, *, max_cells: int = 4096,
                      rng: np.random.Generator | None = None) -> np.ndarray | None:
    """Sign vectors ``s ∈ {±1}ᵐ`` of every full-dimensional cell of ``{aₚᵀw = 0}`` (incremental,
    one LP per cell and new plane), or ``None`` once more than ``max_cells`` cells appear."""
    rng = np.random.default_rng(0) if rng is None else rng
    m, d = planes.shape
    cells: list[tuple[list[float], np.ndarray]] = [([], rng.standard_normal(d))]
    for p in range(m):
        a = planes[p]
        new = []
        for signs, wit in cells:
            rows = np.asarray(signs)[:, None] * planes[:p] if p else np.zeros((0, d))
            side = float(np.sign(a @ wit))
            if side == 0.0:  # witness on the new plane: both sides need an LP
                for sd in (1.0, -1.0):
                    w = _other_side(np.vstack([rows, sd * a]))
                    if w is not None:
                        new.append(([*signs, sd], w))
                continue
            new.append(([*signs, side], wit))
            # cheap certificate first: step straight across the plane; if the point stays
            # strictly inside the other constraints, the other side is non-empty (no LP)
            cross = wit - 1.001 * float(a @ wit) * a
            if p and np.all(rows @ cross > 1e-9 * np.linalg.norm(cross)):
                new.append(([*signs, -side], cross))
                continue
            w = _other_side(np.vstack([rows, -side * a]))
            if w is not None:
                new.append(([*signs, -side], w))
        cells = new
        if len(cells) > max_cells:
            return None
    return np.array([s for s, _ in cells]).reshape(len(cells), m)


def rank_one_part(G: np.ndarray) -> tuple[np.ndarray, float]:
    """``(g, σ₂)`` with ``g = σ₁u₁``: ``G = g v₁ᵀ + E``, ``‖E‖₂ = σ₂``, so
    ``|gᵀh| − σ₂‖h‖ ≤ ‖Gᵀh‖ ≤ |gᵀh| + σ₂‖h‖``."""
    U, S, _ = np.linalg.svd(G, full_matrices=False)
    s2 = float(S[1]) if S.size > 1 else 0.0
    return U[:, 0] * S[0], s2


def relu_unit_exact_rank_one(V: np.ndarray, G: np.ndarray, *, max_cells: int = 4096,
                             ) -> tuple[float, float, np.ndarray] | None:
    """Bracket ``(lower, upper, w*)`` on ``max_{‖w‖≤1} ‖Gᵀ(Vw)₊‖`` for a rank-one ``G``.

    ``lower = ‖Gᵀ(Vw*)₊‖`` is attained; ``upper`` is the largest per-cell dual bound plus
    ``σ₂(G)‖V‖₂`` for the part of ``G`` off its top rank-one term.  ``None`` when the
    arrangement may have more than ``max_cells`` cells, or more than 10 of its planes meet in
    one ray.
    """
    V = np.asarray(V, dtype=float)
    G = np.asarray(G, dtype=float).reshape(V.shape[0], -1)
    d = V.shape[1]
    if d == 1:
        # w ∈ [−1, 1]: ‖Gᵀ(Vw)₊‖ = |w|·‖Gᵀ(±V)₊‖, so the maximum is at w = ±1
        vals = [float(np.linalg.norm(G.T @ np.maximum(sgn * V[:, 0], 0.0))) for sgn in (1, -1)]
        j = int(np.argmax(vals))
        return vals[j], vals[j], np.array([1.0 if j == 0 else -1.0])
    _, sv, vt = np.linalg.svd(V, full_matrices=False)
    k = int(np.sum(sv > 1e-12 * sv[0])) if sv.size and sv[0] > 0 else 0
    if 0 < k < d:
        # rows spanning a k-dim subspace Q: Vw = VQQᵀw, so the max over ‖w‖ ≤ 1 is the max over
        # ‖u‖ ≤ 1 of the reduced problem (w = Qu); the dropped part moves ‖Gᵀ(Vw)₊‖ by at most
        # ‖G‖₂ σ_{k+1}(V) (ReLU is 1-Lipschitz)
        res = relu_unit_exact_rank_one(V @ vt[:k].T, G, max_cells=max_cells)
        if res is None:
            return None
        _, up, u = res
        w = vt[:k].T @ u
        lo = float(np.linalg.norm(G.T @ np.maximum(V @ w, 0.0)))
        tail = float(np.linalg.norm(G, 2)) * (float(sv[k]) if k < sv.size else 0.0)
        return lo, max(up + tail * (1 + 1e-10), lo), w
    g, s2 = rank_one_part(G)
    planes, plane_of_row, orient = distinct_planes(V)
    if planes.shape[0] == 0 or not np.any(g):
        w = np.zeros(d)
        w[0] = 1.0
        return 0.0, s2 * float(np.linalg.norm(V, 2)), w
    if cell_count_bound(planes.shape[0], d) > max_cells:
        return None
    signs = cells_from_rays(planes)
    if signs is None or signs.shape[0] > 4 * max_cells:
        return None  # too many planes through one ray: no exact enumeration is claimed
    live = plane_of_row >= 0
    best_lo, best_up, best_w = -1.0, 0.0, None
    for s in signs:
        D = np.zeros(V.shape[0])
        D[live] = (s[plane_of_row[live]] * orient[live] > 0).astype(float)
        c = V.T @ (D * g)
        A = s[:, None] * planes
        for cc in (c, -c):
            mu, _ = nnls(A.T, -cc)
            r = cc + A.T @ np.maximum(mu, 0.0)
            up = float(np.linalg.norm(r))
            best_up = max(best_up, up)
            if up > 0:
                w = r / up
                lo = float(np.linalg.norm(G.T @ np.maximum(V @ w, 0.0)))
                if lo > best_lo:
                    best_lo, best_w = lo, w
    if best_w is None:
        best_w = np.eye(d)[0]
        best_lo = float(np.linalg.norm(G.T @ np.maximum(V @ best_w, 0.0)))
    upper = (best_up + s2 * float(np.linalg.norm(V, 2))) * (1 + 1e-10) + 1e-300
    return best_lo, max(upper, best_lo), best_w
