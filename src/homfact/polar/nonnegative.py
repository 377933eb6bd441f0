"""Polar of non-negative rank-one atoms (NMF): :class:`NonnegativePolar`.

``Ω°(G) = max_{u,v ≥ 0, ‖u‖₂=‖v‖₂=1} uᵀGv`` is NP-hard in general and is bracketed:

* lower bound: the exact value ``uᵀGv`` of the best feasible pair found by alternating
  maximization ``v ← (Gᵀu)₊/‖·‖``, ``u ← (Gv)₊/‖·‖`` from several starts;
* upper bound: ``min(‖max(G, 0)‖₂, ‖G‖₂)``.  Both are valid: for ``u, v ≥ 0`` of unit norm,
  ``uᵀGv ≤ uᵀG₊v ≤ ‖G₊‖₂`` and ``uᵀGv ≤ ‖G‖₂``.  Up to ``DENSE_SVD_MAX_ENTRIES`` entries the
  spectral norms come from a Gram eigenproblem with an explicit roundoff (and underflow)
  allowance (:func:`_sigma_max`), i.e. rigorous; above it from ARPACK with its residual added
  (:func:`homfact.polar.spectral_norm`), exact *to tolerance*.

Used by :class:`homfact.models.nmf.NonnegativeFactorization` (the model: docs: models/nmf).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ..gauges import L2, NonNegative
from ..solvers.hals import hals
from .core import (
    DENSE_SVD_MAX_ENTRIES,
    AlternatingPolar,
    PolarBound,
    sigma_max_upper,
    spectral_norm,
)

__all__ = ["NonnegativePolar"]


def _unit_columns(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns of ``A`` scaled to unit ℓ2 norm, zero columns dropped; returns ``(B, kept)``."""
    nrm = np.linalg.norm(A, axis=0)
    keep = nrm > 0
    return A[:, keep] / nrm[keep], keep


def _diverse_rows(Ap: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` rows of ``Ap`` (as columns), picked greedily for a large norm *outside* the
    span of those already picked (pivoted Gram–Schmidt on the rows, cost ``k`` products)."""
    resid = np.einsum("ij,ij->i", Ap, Ap)
    top = float(resid.max(initial=0.0))
    basis: list[np.ndarray] = []
    chosen: list[int] = []
    for _ in range(min(k, Ap.shape[0])):
        i = int(np.argmax(resid))
        if resid[i] <= 1e-12 * top:
            break
        b = Ap[i].copy()
        for q in basis:
            b -= (q @ b) * q
        nb = np.linalg.norm(b)
        if nb == 0:
            break
        b /= nb
        basis.append(b)
        chosen.append(i)
        resid = resid - (Ap @ b) ** 2
        resid[chosen] = 0.0
    return Ap[chosen].T


def _sigma_max(A: np.ndarray, tol: float, rng):
    """``(u, v, upper, method)``: top singular pair of ``A`` and a rigorous bound on ``σ_max``.

    Small matrices (at most ``DENSE_SVD_MAX_ENTRIES`` entries):
    :func:`homfact.polar.sigma_max_upper` (the top eigenpair of the smaller Gram matrix with the
    audited roundoff allowance).  Larger
    matrices: :func:`homfact.polar.spectral_norm` (ARPACK with its residual added).
    """
    m, n = A.shape
    if m * n > DENSE_SVD_MAX_ENTRIES or min(m, n) == 0:
        U, _, V, upper, method = spectral_norm(A, k=1, tol=tol, rng=rng)
        return U[:, 0], V[:, 0], float(upper), method
    upper, u, v = sigma_max_upper(A)
    return u, v, upper, "gram-eigh (dense)"


class NonnegativePolar(AlternatingPolar):
    """Bracket on ``Ω°(G) = max_{u,v ≥ 0, ‖u‖₂=‖v‖₂=1} uᵀGv`` with growth candidates.

    * ``upper = min(σ_max(G₊), σ_max(G))`` (rigorous, see the module docstring).  ``σ_max(G)`` is
      computed only when ``lam`` is set and it can change the status (the lower bound is at most
      ``λ(1+ε)`` and ``σ_max(G₊)`` is above it); otherwise ``upper = σ_max(G₊)``.  On large
      matrices ARPACK runs to ``sigma_tol`` and the bound adds its residual (see
      :func:`homfact.polar.spectral_norm`), so a loose ``sigma_tol`` only loosens the bound.
    * ``lower``: alternating maximization, run as a block over ``n_starts`` starts at once (the
      top singular vector of ``G₊``, which is non-negative, the previous maximizer, and the
      leading candidates below), until the values rise by less than ``tol`` (relative) or
      ``max_iter`` sweeps; ``lower`` is the exact value of the best returned feasible pair.
    * ``candidates`` (when more than one is asked for and ``lam`` is set): the unit-normalized
      columns of a few HALS sweeps of ``min_{P,Q ≥ 0} ½‖G − PQᵀ‖² + (λ/2)(‖P‖² + ‖Q‖²)`` of rank
      ``n_candidates``, started from the rows of ``G₊`` that are largest outside each other's
      span.  Distinct parts of the residual thus compete rather than all climbing to the same
      maximum; :func:`homfact.meta.grow` line-searches each one and keeps only those that lower
      the objective.
    * ``min_candidates``: :func:`homfact.meta.grow` asks for at least this many atoms per outer
      iteration (block growth).  On real data the regularized optimum has a long tail of atoms
      barely above ``λ``; with one atom per outer iteration (``grow``'s own rule once a block is
      not fully accepted) the tail costs one descent and one polar per atom.  Only candidates
      that lower the objective are appended, so this changes the path, not the problem.
    * ``lazy_upper`` (for matrices above ``DENSE_SVD_MAX_ENTRIES`` entries, when ``lam`` and a
      warm start are given): the lower bound is computed first, from the warm start and the
      candidates; when it already exceeds ``λ(1+polar_rtol)·(1+lazy_margin)`` the status is
      decided (``"not_optimal"``, whatever the upper bound) and the ARPACK run is skipped: the
      upper bound is then the cheap, rigorous but loose ``‖G₊‖_F ≥ σ_max(G₊)`` (the gap of such
      an intermediate certificate is larger, never smaller, than with ``σ_max``).  Otherwise
      the careful bracket above is computed as usual.  ``last_lazy`` tells whether the last
      call took the cheap path, ``last_maximizer`` holds its best pair: the estimator
      re-certifies its final factors with ``lazy_upper`` off, warm-started from that pair.
    """

    def __init__(self, lam: float | None = None, n_starts: int = 4, max_iter: int = 40,
                 tol: float = 1e-4, candidate_sweeps: int = 8, polar_rtol: float = 1e-3,
                 sigma_tol: float = 1e-3, min_candidates: int = 1, lazy_upper: bool = False,
                 lazy_margin: float = 1e-2):
        super().__init__(NonNegative(L2()), NonNegative(L2()), n_starts=n_starts,
                         max_iter=max_iter, tol=tol)
        if isinstance(min_candidates, bool) or not (
                isinstance(min_candidates, numbers.Integral) and min_candidates >= 1):
            raise ValueError(f"min_candidates must be an integer >= 1, got {min_candidates!r}")
        if isinstance(lazy_margin, bool) or not (
                isinstance(lazy_margin, numbers.Real) and 0 <= lazy_margin < np.inf):
            raise ValueError(f"lazy_margin must be a finite number >= 0, got {lazy_margin!r}")
        self.min_candidates = int(min_candidates)
        self.lazy_upper = bool(lazy_upper)
        self.lazy_margin = float(lazy_margin)
        self.lazy_power_steps = 3
        self.last_lazy = False
        self.last_maximizer = None
        self._perron: np.ndarray | None = None
        self.lam = lam
        self.candidate_sweeps = candidate_sweeps
        self.polar_rtol = polar_rtol
        self.sigma_tol = sigma_tol

    def _candidates(self, A: np.ndarray, Ap: np.ndarray, k: int) -> list:
        Q0 = _diverse_rows(Ap, 2 * k)
        if Q0.shape[1] == 0:
            return []
        Q0, _ = _unit_columns(Q0)
        P0 = np.maximum(A @ Q0, 0.0)
        P, Q = hals(A, P0, Q0, float(self.lam), max_sweeps=self.candidate_sweeps,
                    tol=1e-4).factors
        keep = (np.linalg.norm(P, axis=0) > 0) & (np.linalg.norm(Q, axis=0) > 0)
        P, _ = _unit_columns(P[:, keep])
        Q, _ = _unit_columns(Q[:, keep])
        vals = np.einsum("ij,ij->j", P, A @ Q)
        order = np.argsort(vals)[::-1]
        # only atoms above λ can lower the objective (line search step > 0)
        return [((P[:, j], Q[:, j]), float(vals[j])) for j in order if vals[j] > self.lam]

    def _ascend_block(self, A: np.ndarray, U: np.ndarray):
        """Block alternating maximization; returns unit ``U, V ≥ 0`` and the exact values.

        The sweeps run in single precision (they are memory-bound; only the ascent direction
        depends on them); the returned pairs are renormalized and their values ``uᵀAv``
        recomputed in double precision, so the lower bound is the exact value of a feasible pair.
        """
        A64, A = A, A.astype(np.float32)
        U = U.astype(np.float32)
        prev = None
        V = np.zeros((A.shape[1], 0))
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            V, keep = _unit_columns(np.maximum(A.T @ U, 0.0))
            AV = np.maximum(A @ V, 0.0)
            vals = np.linalg.norm(AV, axis=0)  # = max_u uᵀAv for these v (u = lmo(Av))
            U, keep = _unit_columns(AV)
            V, vals = V[:, keep], vals[keep]
            if U.shape[1] == 0:
                break
            if prev is not None and prev.shape == vals.shape and np.all(
                    vals - prev <= self.tol * np.maximum(vals, 1e-300)):
                break
            # far above λ the exact maximum is not needed (growth and status are decided):
            # a few sweeps give a good atom
            if self.lam is not None and n_iter >= 5 and vals.max() > 1.1 * self.lam:
                break
            prev = vals
        U, keep = _unit_columns(np.maximum(U.astype(np.float64), 0.0))
        V, keep2 = _unit_columns(np.maximum(V[:, keep].astype(np.float64), 0.0))
        U = U[:, keep2]
        exact = np.einsum("ij,ij->j", U, A64 @ V) if U.shape[1] else np.zeros(0)
        return U, V, exact, n_iter

    def _lazy_bound(self, A: np.ndarray, Ap: np.ndarray, n_candidates: int,
                    warm_start) -> tuple[PolarBound | None, list]:
        """``(bound, candidates)``: the cheap bracket of ``lazy_upper``, or ``None`` when the
        status is not decided by the lower bound (the caller then computes the careful bracket,
        reusing the candidates)."""
        cands = self._candidates(A, Ap, n_candidates) if n_candidates > 1 else []
        starts = [np.maximum(np.asarray(warm_start[0], dtype=float), 0.0)]
        if self._perron is not None and self._perron.shape[0] == A.shape[0]:
            # stand-in for the careful path's Perron start: a few power steps on G₊ from the
            # last Perron vector (single precision: only a start)
            Ap32 = Ap.astype(np.float32)
            u = self._perron.astype(np.float32)
            for _ in range(self.lazy_power_steps):
                u = Ap32 @ (Ap32.T @ u)
                nu = float(np.linalg.norm(u))
                if nu == 0:
                    break
                u /= nu
            else:
                self._perron = u.astype(np.float64)
                starts.append(self._perron)
        starts += [c[0][0] for c in cands[:max(self.n_starts - 1, 0)]]
        U, V, vals, n_iter = self._ascend_block(A, np.column_stack(starts))
        if not vals.size:
            return None, cands
        j = int(np.argmax(vals))
        lower = float(vals[j])
        if not lower > float(self.lam) * (1 + self.polar_rtol) * (1 + self.lazy_margin):
            return None, cands
        # ‖G₊‖_F ≥ σ_max(G₊) ≥ Ω°(G); the factor covers the roundoff of the computed norm
        upper = float(np.linalg.norm(Ap)) * (1 + 1e-10)
        self.last_lazy = True
        self.last_maximizer = (U[:, j], V[:, j])
        return PolarBound(lower, max(upper, lower), (U[:, j], V[:, j]),
                          f"lower: block alternating LMOs ({len(starts)} starts, {n_iter} "
                          f"sweeps); upper: ||G+||_F (cheap: the lower bound exceeds "
                          f"lam(1+eps) and decides the status)",
                          tuple(cands[:max(n_candidates - 1, 0)])), cands

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        A = op.toarray() if sp.issparse(op) else np.asarray(op, dtype=float)
        Ap = np.maximum(A, 0.0)
        self.last_lazy = False
        cands = None
        if (self.lazy_upper and self.lam is not None and warm_start is not None
                and A.size > DENSE_SVD_MAX_ENTRIES):
            bound, cands = self._lazy_bound(A, Ap, int(n_candidates), warm_start)
            if bound is not None:
                return bound
        u1, v1, upper, method = _sigma_max(Ap, self.sigma_tol, rng)
        u_top = np.abs(u1)  # Perron vector of G₊ (non-negative up to sign)
        self._perron = u_top
        if cands is None:
            cands = []
            if n_candidates > 1 and self.lam is not None:
                cands = self._candidates(A, Ap, int(n_candidates))
        starts = [u_top]
        if warm_start is not None:
            starts.append(np.maximum(np.asarray(warm_start[0], dtype=float), 0.0))
        starts += [c[0][0] for c in cands[:max(self.n_starts - len(starts), 0)]]
        U, V, vals, n_iter = self._ascend_block(A, np.column_stack(starts))
        if vals.size:
            j = int(np.argmax(vals))
            best = (U[:, j], V[:, j], float(vals[j]))
        else:  # G₊ = 0: every feasible pair has value ≤ 0; any unit pair is a maximizer of 0
            v = np.abs(v1)
            best = (u_top, v, float(u_top @ (A @ v)))
        lower = max(best[2], 0.0)
        how = f"upper: sigma_max(G+) via {method}"
        if self.lam is not None and upper > self.lam * (1 + self.polar_rtol) >= lower:
            _, _, up_g, method_g = _sigma_max(A, self.sigma_tol, rng)
            if up_g < upper:
                upper, how = up_g, f"upper: sigma_max(G) via {method_g}"
        cands = cands[:max(int(n_candidates) - 1, 0)]
        self.last_maximizer = (best[0], best[1])
        return PolarBound(lower, max(float(upper), lower), (best[0], best[1]),
                          f"lower: block alternating LMOs ({len(starts)} starts, {n_iter} sweeps)"
                          f"; {how}", tuple(cands))
