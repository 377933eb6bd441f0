"""Polar of structured bilinear atoms (ℓ1 + TV + ℓ2 gauges): :class:`StructuredPolar`.

Holds the bracket used by :class:`homfact.models.structured.StructuredFactorization` (the upper
end ``σ_max(G̃)/(c_u c_v)`` of :class:`~homfact.polar.core.AlternatingPolar`, a seeded
multistart lower end) and :func:`_l1l2_dual_rows`, the row-wise dual norm of
``k1‖·‖₁ + k3‖·‖₂`` that scores its seeds.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ..tv import L1TVL2
from .core import AlternatingPolar, PolarBound, spectral_norm

__all__ = ["StructuredPolar"]


def _l1l2_dual_rows(G: np.ndarray, k1: float, k3: float) -> np.ndarray:
    """Dual norm of ``κ = k1‖·‖₁ + k3‖·‖₂`` at every row of ``G ≥ 0`` (pass ``|G|`` or
    ``G₊``): ``κ°(g) = sup_{κ(x) ≤ 1} ⟨g, x⟩``.

    ``κ°(g) = t*/k1`` where ``t*`` is the root of ``f(t) = ‖(g − t)₊‖₂ − t·k3/k1`` (the LMO
    equation ``‖soft(g, μk1)‖₂ = μk3`` of :func:`homfact.tv.lmo_l1_tv_l2` without TV, with
    ``t = μk1``).  ``f`` is decreasing; with each row sorted, ``f`` at the breakpoints
    ``t = g₍ⱼ₎`` comes from prefix sums, which locates the segment holding the root (support
    size ``J``), and the root there is found by bisection on the segment's smooth
    ``f(t) = sqrt(S₂ − 2tS₁ + Jt²) − t·k3/k1``.  ``k3 = 0``: ``‖g‖_∞/k1``; ``k1 = 0``:
    ``‖g‖₂/k3``.  Written here because the library's LMO takes one vector at a time; this
    evaluates the same equation for all rows with ``O(mn log n)`` work.  Accuracy: the prefix
    sums cancel when ``k3 ≪ k1`` (relative error about ``1e-10`` at ``k3/k1 = 1e-6``, either
    sign), and entries beyond about ``1e±150`` over- or underflow their squares; the values
    only rank seeds (:meth:`StructuredPolar.seed_scores`), never bound a polar.
    """
    G = np.asarray(G, dtype=float)
    m, n = G.shape
    if n == 0:
        return np.zeros(m)
    if k3 == 0:
        return G.max(axis=1) / k1
    if k1 == 0:
        return np.linalg.norm(G, axis=1) / k3
    r = k3 / k1
    Gs = -np.sort(-G, axis=1)                                   # each row descending
    S1 = np.concatenate([np.zeros((m, 1)), np.cumsum(Gs, axis=1)], axis=1)
    S2 = np.concatenate([np.zeros((m, 1)), np.cumsum(Gs * Gs, axis=1)], axis=1)
    j = np.arange(n)
    # f at t = g_(j) (support: the j larger entries)
    f = np.sqrt(np.maximum(S2[:, :n] - 2 * Gs * S1[:, :n] + j * Gs * Gs, 0.0)) - r * Gs
    pos = f > 0
    J = np.where(pos.any(axis=1), pos.argmax(axis=1), n)        # first breakpoint with f > 0
    rows = np.arange(m)
    hi = Gs[rows, np.maximum(J - 1, 0)]                         # f(hi) ≤ 0
    lo = np.where(J < n, Gs[rows, np.minimum(J, n - 1)], 0.0)   # f(lo) > 0 (or t = 0)
    s1, s2 = S1[rows, J], S2[rows, J]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        fm = np.sqrt(np.maximum(s2 - 2 * mid * s1 + J * mid * mid, 0.0)) - r * mid
        up = fm > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return np.where(Gs[:, 0] > 0, hi / k1, 0.0)


class StructuredPolar(AlternatingPolar):
    """Bracket on ``Ω°(G) = sup_{κ_u(u) ≤ 1, κ_v(v) ≤ 1} uᵀ G v`` for structured gauges.

    Upper bound exactly as :class:`homfact.polar.AlternatingPolar`:
    ``σ_max(G̃)/(c_u c_v)`` (``G̃ = G₊`` when both gauges are non-negative, ``c`` = the gauges'
    ``l2_floor``).  Lower bound: alternating LMOs (``v ← lmo_v(Gᵀu)``, ``u ← lmo_u(Gv)``) from

    * the warm start (previous maximizer) and the top left singular vector of ``G̃`` (both signs
      unless ``u ≥ 0``);
    * ``n_seeds`` seed starts ``s_p`` (:meth:`seed_start`: the row ``p`` of an averaging
      operator ``seed_smoothing = S`` when one is set — a node's neighbourhood — else
      ``e_p``) at the rows of largest :meth:`seed_scores` (the value ``κ_v°(Gᵀs_p)/κ_u(s_p)``
      that the start's first half-step attains), skipping rows inside the support of an
      earlier maximizer (so each seed explores another part of the image — for calcium
      imaging, another neuron); with ``threshold`` set, seeding stops after ``patience``
      consecutive seeds whose value is ``≤ threshold``.

    Every start returns a feasible pair and its exact value ``uᵀGv``; the best is the lower
    bound, and the other pairs with positive value whose ``u`` has cosine ``< max_overlap``
    with every kept ``u`` are returned as growth candidates (candidates only steer growth; the
    bracket does not depend on them).  ``max_iter`` and ``tol`` bound each ascent.
    """

    def __init__(self, gauge_u, gauge_v, n_seeds: int = 8, max_iter: int = 15,
                 tol: float = 1e-3, max_overlap: float = 0.5):
        super().__init__(gauge_u, gauge_v, n_starts=2, max_iter=max_iter, tol=tol)
        self.max_overlap = float(max_overlap)
        #: optional: stop seeding after ``patience`` seeds in a row end at most ``threshold``
        #: (set to λ by the estimator: such atoms are no growth directions)
        self.threshold: float | None = None
        self.patience = 3
        #: optional ``m × m`` sparse averaging operator applied to ``G`` before ranking the seed
        #: rows by energy (the estimator sets the normalized ``I + adjacency`` of the spatial
        #: graph); ``None`` ranks the rows of ``G`` itself
        self.seed_smoothing = None
        if isinstance(n_seeds, bool) or not isinstance(n_seeds, numbers.Integral) or n_seeds < 0:
            raise ValueError(f"n_seeds must be an integer >= 0, got {n_seeds!r}")
        self.n_seeds = int(n_seeds)

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        A = op.toarray() if sp.issparse(op) else np.asarray(op, dtype=float)
        m = A.shape[0]
        both_nonneg = self.gauge_u.nonnegative and self.gauge_v.nonnegative
        A_up = np.maximum(A, 0.0) if both_nonneg else A
        U, _, _, sig_upper, method = spectral_norm(A_up, k=1, rng=rng)
        floor = self.gauge_u.l2_floor * self.gauge_v.l2_floor
        upper = sig_upper / floor if np.isfinite(floor) and floor > 0 else np.inf
        starts = []
        if warm_start is not None:
            starts.append(np.asarray(warm_start[0], dtype=float))
        starts.append(U[:, 0])
        if not self.gauge_u.nonnegative:
            starts.append(-U[:, 0])
        found = []
        for u0 in starts:
            u, _ = self.gauge_u.lmo(u0)
            if np.any(u):
                found.append(self._ascend(A, u))
        # seeds at high-energy rows, away from the supports of the maxima found so far; with a
        # smoothing graph the energy is that of the neighbourhood average (a matched filter:
        # a blob's rows add up coherently, the noise does not)
        score = self.seed_scores(A)
        covered = np.zeros(m, dtype=bool)
        for u, _, val in found:
            if val > 0:
                covered |= u != 0
        order = np.argsort(-score, kind="stable")
        n_done = misses = 0
        for p in order:
            if n_done >= self.n_seeds or score[p] <= 0 or misses >= self.patience:
                break
            if covered[p]:
                continue
            u, v, val = self._ascend(A, self.seed_start(p, m))
            n_done += 1
            covered[p] = True
            below = self.threshold is not None and val <= self.threshold
            misses = misses + 1 if below else 0
            if val > 0:
                covered |= u != 0
                found.append((u, v, val))
        found.sort(key=lambda t: -t[2])
        best = found[0] if found else (np.zeros(m), np.zeros(A.shape[1]), 0.0)
        cands = []
        kept = [best[0]]
        for u, v, val in found[1:]:
            if len(cands) + 1 >= n_candidates or val <= 0:
                break
            # candidates must differ from every kept atom in their u-side (spatial) map: two
            # seeds ascending to nearly the same blob would be appended as duplicates
            if all(abs(u @ w) < self.max_overlap * np.linalg.norm(u) * np.linalg.norm(w)
                   for w in kept):
                cands.append(((u, v), float(val)))
                kept.append(u)
        lower = max(best[2], 0.0)
        upper = max(upper, lower)
        return PolarBound(lower, float(upper), (best[0], best[1]),
                          f"lower: alternating LMOs ({len(starts)} starts + {n_done} seeds); "
                          f"upper: sigma_max/(c_u c_v) via {method}", tuple(cands))

    def seed_start(self, p: int, m: int) -> np.ndarray:
        """The spatial start of seed row ``p``: row ``p`` of ``seed_smoothing`` (the averaging
        neighbourhood of node ``p``), or the unit vector ``e_p`` without one."""
        if self.seed_smoothing is None:
            e = np.zeros(m)
            e[p] = 1.0
            return e
        return np.asarray(self.seed_smoothing[p].toarray()).ravel()

    def seed_scores(self, A: np.ndarray) -> np.ndarray:
        """Score of every row ``p`` as a seed: the value of the atom its start reaches in one
        half-step, ``κ_v°(Aᵀs_p)/κ_u(s_p)`` (``s_p`` = :meth:`seed_start`).

        Up to rounding (:func:`_l1l2_dual_rows`) it is the value of a feasible pair
        (``s_p/κ_u(s_p)``, ``lmo_v(Aᵀs_p)``), hence a lower bound on ``Ω°(A)`` on the same scale
        as ``λ``; it only orders the seeds (the bracket uses the exact values of the pairs the
        ascents reach).  Unlike the ``ℓ2`` energy of
        the row, it does not rank a rarely active component below the ``≈ λ`` residual left
        on every fitted component: the ``ℓ1`` part of ``κ_v`` thresholds the noise frames away.
        Computed for ``κ_v = k1‖·‖₁ + k3‖·‖₂`` (no TV) by :func:`_l1l2_dual_rows`; with a temporal
        TV term it falls back to the ``ℓ2`` energy ``‖(Aᵀs_p)₊‖`` (an ordering only).
        """
        gv = self.gauge_v
        S = self.seed_smoothing
        A_seed = A if S is None else np.asarray(S @ A)
        pos = np.maximum(A_seed, 0.0) if gv.nonnegative else np.abs(A_seed)
        if not isinstance(gv, L1TVL2) or gv.has_tv:
            return np.linalg.norm(pos, axis=1)
        return _l1l2_dual_rows(pos, gv.k1, gv.k3) / self._seed_norms(A.shape[0])

    def _seed_norms(self, m: int) -> np.ndarray:
        """``κ_u(s_p)`` for every seed start (cached): sparse sums over each start's support
        for an :class:`~homfact.tv.L1TVL2` gauge (``k1‖s‖₁ + k2‖W D s‖₁ + k3‖s‖₂``), else
        the gauge's own ``value`` column by column."""
        S = self.seed_smoothing
        cache = getattr(self, "_seed_norm_cache", None)
        if cache is not None and cache[0] is S and cache[1].shape[0] == m:
            return cache[1]
        St = sp.eye(m, format="csc") if S is None else sp.csc_matrix(S.T)
        gu = self.gauge_u
        if isinstance(gu, L1TVL2):
            vals = (gu.k1 * np.asarray(abs(St).sum(axis=0)).ravel()
                    + gu.k3 * np.sqrt(np.asarray(St.multiply(St).sum(axis=0)).ravel()))
            if gu.has_tv:
                g = gu.graph
                diffs = abs(sp.diags(g.weights) @ (g.D @ St))
                vals = vals + gu.k2 * np.asarray(diffs.sum(axis=0)).ravel()
        else:
            vals = np.array([float(np.atleast_1d(gu.value(St[:, [p]].toarray()))[0])
                             for p in range(m)])
        self._seed_norm_cache = (S, vals)
        return vals

    def _ascend(self, A, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        val = -np.inf
        v = np.zeros(A.shape[1])
        best = (u, v, -np.inf)
        for _ in range(self.max_iter):
            v, _ = self.gauge_v.lmo(A.T @ u)
            if not np.any(v):
                break
            u, _ = self.gauge_u.lmo(A @ v)
            if not np.any(u):
                break
            new = float(u @ (A @ v))  # exact value of the feasible pair
            if new > best[2]:
                best = (u, v, new)
            if new <= val + self.tol * max(abs(new), 1e-300):
                break
            val = new
        if best[2] == -np.inf:
            return np.zeros(A.shape[0]), np.zeros(A.shape[1]), 0.0
        return best
