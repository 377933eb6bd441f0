"""Polar of sparse-coding atoms (elastic-net codes, ℓ2 atoms): :class:`ElasticNetL2Polar`.

``Ω°(G) = sup_{κ(u) ≤ 1, ‖v‖₂ ≤ 1} uᵀGv`` with ``κ = ‖·‖₂ + γ‖·‖₁``, bracketed for
:class:`homfact.models.dictionary.SparseDictionaryLearning`; with it the column-wise elastic-net
dual norm :func:`elastic_net_dual_columns`, its LMO and the Gram-based rigorous ``σ_max`` bound
that the bracket uses.

:func:`noise_polar_level` is the polar value that Gaussian noise alone reaches (the level of
the automatic ``λ``), with :func:`_thresholded_polar` for the thresholded polar test
``ρ_t(G) = sup_{‖v‖=1} ‖soft(Gv, t)‖₂`` of the zero solution.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .._threads import single_blas_thread
from ..gauges import soft_threshold
from .core import PolarBound, sigma_max_upper

__all__ = ["ElasticNetL2Polar", "elastic_net_dual_columns"]


# --------------------------------------------------------------------------------------------
# elastic-net dual norm, column-wise


def elastic_net_dual_columns(W: np.ndarray, gamma: float) -> np.ndarray:
    """Exact ``κ°(wⱼ)`` for every column ``wⱼ`` of ``W``, ``κ = ‖·‖₂ + γ‖·‖₁``.

    ``κ°(w)`` is the root ``μ`` of ``‖soft(w, γμ)‖₂ = μ``.  With ``a = |w|`` sorted decreasingly,
    ``Sₖ¹ = Σ_{j≤k} aⱼ`` and ``Sₖ² = Σ_{j≤k} aⱼ²``, the root lies where exactly ``s`` entries are
    active, ``s`` found from the (monotone) signs at the breakpoints ``μ = aₖ/γ``; it then solves
    ``(sγ² − 1)μ² − 2γS¹μ + S² = 0``, whose relevant root is ``S²/(γS¹ + √(γ²S¹² − (sγ² − 1)S²))``.
    Vectorized version of :meth:`homfact.gauges.ElasticNet.dual_value`.
    """
    W = np.asarray(W, dtype=float)
    if W.ndim == 1:
        W = W[:, None]
    n, s_cols = W.shape
    if n == 0:
        return np.zeros(s_cols)
    if gamma == 0:
        return np.linalg.norm(W, axis=0)
    a = -np.sort(-np.abs(W), axis=0)
    S1 = np.cumsum(a, axis=0)
    S2 = np.cumsum(a * a, axis=0)
    S1p = np.vstack([np.zeros((1, s_cols)), S1[:-1]])
    S2p = np.vstack([np.zeros((1, s_cols)), S2[:-1]])
    k = np.arange(n, dtype=float)[:, None]  # number of entries strictly before index
    f = np.sqrt(np.maximum(S2p - 2.0 * a * S1p + k * a * a, 0.0)) - a / gamma
    pos = f >= 0
    has = pos.any(axis=0)
    support = np.where(has, pos.argmax(axis=0), n)  # active entries at the root
    support = np.maximum(support, 1)
    cols = np.arange(s_cols)
    s1 = S1[support - 1, cols]
    s2 = S2[support - 1, cols]
    disc = np.maximum(gamma * gamma * s1 * s1 - (support * gamma * gamma - 1.0) * s2, 0.0)
    denom = gamma * s1 + np.sqrt(disc)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(denom > 0, s2 / np.where(denom > 0, denom, 1.0), 0.0)
    hi = a[support - 1, cols] / gamma
    lo = np.where(support < n, a[np.minimum(support, n - 1), cols] / gamma, 0.0)
    return np.clip(mu, lo, hi)


def _elastic_net_lmo_columns(W: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise LMO of the elastic-net ball: ``(U, μ)`` with ``κ(Uⱼ) = 1`` (or ``Uⱼ = 0``)."""
    mu = elastic_net_dual_columns(W, gamma)
    U = soft_threshold(W, gamma * mu)
    kap = np.linalg.norm(U, axis=0) + gamma * np.abs(U).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        U = np.where(kap > 0, U / np.where(kap > 0, kap, 1.0), 0.0)
    return U, mu


# --------------------------------------------------------------------------------------------
# polar


def _sigma_max(A: np.ndarray) -> tuple[float, np.ndarray]:
    """``(upper, v)``: a rigorous upper bound on ``σ_max(A)`` and a top right singular vector,
    from :func:`homfact.polar.sigma_max_upper` (the audited dense bound)."""
    upper, _, v = sigma_max_upper(A)
    return upper, v


class ElasticNetL2Polar:
    """Polar bracket for codes ``u`` under ``‖·‖₂ + γ‖·‖₁`` and atoms ``v`` under ``‖·‖₂``.

    ``Ω°(G) = sup_{κ(u) ≤ 1, ‖v‖₂ ≤ 1} uᵀGv = sup_{κ(u)≤1} ‖Gᵀu‖₂``, ``G`` of shape
    ``(n_samples, n_features)``.

    * lower: alternating maximization ``u ← lmo_κ(Gv)``, ``v ← Gᵀu/‖Gᵀu‖₂`` (each step never
      decreases ``uᵀGv``; every iterate is feasible), run as one batch from the warm start, the
      top right singular vector of ``G``, the ``n_starts/2`` rows of ``G`` with the largest norms
      and random directions.  The value is that of the returned feasible pair.
    * upper: ``κ(u) ≥ (1 + γ)‖u‖₂`` gives ``σ_max(G)/(1 + γ)`` and ``κ(u) ≥ (γ + 1/√n)‖u‖₁``
      gives ``maxⱼ‖G_{j,:}‖₂/(γ + 1/√n)``; the minimum of the two is reported (docs:
      theory/families, 'Dictionary elastic net').
      ``σ_max`` comes from the Gram matrix's eigenvalues plus a roundoff allowance (see
      :func:`_sigma_max`).
    """

    def __init__(self, gamma: float, n_starts: int = 8, max_iter: int = 50,
                 tol: float = 1e-7):
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
        self.gamma = float(gamma)
        self.n_starts, self.max_iter, self.tol = int(n_starts), int(max_iter), float(tol)

    def upper_bound(self, G: np.ndarray) -> tuple[float, np.ndarray, str]:
        """``(upper, v_top, method)`` — the rigorous bound and the top right singular vector."""
        n = G.shape[0]
        sig, v_top = _sigma_max(G)
        ub_spec = sig / (1.0 + self.gamma)
        ub_rows = float(np.sqrt(np.max(np.einsum("ij,ij->i", G, G)))) * (1 + 1e-12) / (
            self.gamma + 1.0 / math.sqrt(n))
        if ub_rows < ub_spec:
            return ub_rows, v_top, "max row norm/(gamma + 1/sqrt(n))"
        return ub_spec, v_top, "sigma_max/(1 + gamma) (Gram eigenvalues)"

    def ascend(self, G: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch alternating maximization from the unit columns of ``V``; returns ``(U, V, val)``
        with ``val[j] = U[:, j]ᵀ G V[:, j]`` exactly."""
        prev = np.full(V.shape[1], -np.inf)
        U = np.zeros((G.shape[0], V.shape[1]))
        for _ in range(self.max_iter):
            U, _ = _elastic_net_lmo_columns(G @ V, self.gamma)
            Z = G.T @ U
            val = np.linalg.norm(Z, axis=0)
            V = np.where(val > 0, Z / np.where(val > 0, val, 1.0), V)
            if np.all(val <= prev + self.tol * np.maximum(np.abs(val), 1e-300)):
                break
            prev = val
        return U, V, np.einsum("ij,ij->j", U, G @ V)

    @single_blas_thread
    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        G = op.toarray() if sp.issparse(op) else np.asarray(op, dtype=float)
        n, m = G.shape
        upper, v_top, method = self.upper_bound(G)
        starts = [v_top]
        if warm_start is not None and np.linalg.norm(warm_start[1]) > 0:
            starts.append(np.asarray(warm_start[1], dtype=float))
        n_rows = max(self.n_starts // 2, int(n_candidates))
        rn = np.einsum("ij,ij->i", G, G)
        top = np.argsort(rn)[::-1][: min(n_rows, n)]
        starts += [G[j] for j in top if rn[j] > 0]
        n_rand = max(self.n_starts - len(starts), 2)
        starts += list(rng.standard_normal((n_rand, m)))
        V0 = np.column_stack(starts)
        V0 = V0 / np.maximum(np.linalg.norm(V0, axis=0), 1e-300)
        U, V, val = self.ascend(G, V0)
        order = np.argsort(val)[::-1]
        best = order[0]
        if not val[best] > 0:
            u0 = np.zeros(n)
            v0 = np.zeros(m)
            v0[0] = 1.0
            return PolarBound(0.0, max(upper, 0.0), (u0, v0), self._method(method, len(starts)))
        chosen = [best]
        for j in order[1:]:
            if len(chosen) >= n_candidates or val[j] <= 0:
                break
            if all(abs(V[:, j] @ V[:, c]) < 0.95 for c in chosen):
                chosen.append(j)
        cands = tuple(((U[:, j].copy(), V[:, j].copy()), float(val[j])) for j in chosen[1:])
        lower = float(val[best])
        return PolarBound(lower, float(max(upper, lower)), (U[:, best].copy(), V[:, best].copy()),
                          self._method(method, len(starts)), cands)

    @staticmethod
    def _method(upper_method: str, n_starts: int) -> str:
        return f"lower: alternating LMOs ({n_starts} starts); upper: {upper_method}"


# --------------------------------------------------------------------------------------------
# the polar level of noise (automatic λ, γ)


def _thresholded_polar(E: np.ndarray, t: float, n_starts: int, max_iter: int,
                       rng: np.random.Generator) -> float:
    """Lower bound on ``ρ_t(E) = sup_{‖v‖₂=1} ‖soft(E v, t)‖₂`` by alternating maximization
    ``v ← Eᵀ soft(Ev, t)/‖·‖`` (each step does not decrease the value) from random starts and
    the largest rows of ``E``."""
    rn = np.einsum("ij,ij->i", E, E)
    top = np.argsort(rn)[::-1][: n_starts // 2]
    V = np.column_stack([E[top].T, rng.standard_normal((E.shape[1], n_starts - top.size))])
    V /= np.maximum(np.linalg.norm(V, axis=0), 1e-300)
    best = 0.0
    for _ in range(max_iter):
        W = soft_threshold(E @ V, t)
        val = np.linalg.norm(W, axis=0)
        best = max(best, float(val.max()))
        Z = E.T @ W
        nz = np.linalg.norm(Z, axis=0)
        if not np.any(nz > 0):
            break
        V = np.where(nz > 0, Z / np.where(nz > 0, nz, 1.0), V)
    return best


#: rows of the simulated noise matrix of the λ rule (larger ``n``: scaled by ``√(n/this)``)
_NOISE_SIM_ROWS = 8192


def noise_polar_level(sigma: float, n_samples: int, n_features: int, *, threshold=None,
                      gamma=None, random_state=0) -> float:
    """The polar value that Gaussian noise alone reaches: ``Ω°(σE)``, ``E`` i.i.d. ``N(0, 1)``
    of shape ``n_samples × n_features``, estimated on one simulated draw.

    With ``threshold=t`` it is ``ρ_t(σE) = sup_{‖v‖=1} ‖soft(σEv, t)‖₂`` — the value of the
    zero solution's polar test for per-entry code threshold ``t = λγ`` (``Ω°(G) ≤ λ`` iff
    ``ρ_{λγ}(G) ≤ λ``); with ``gamma`` it is the polar ``Ω°_γ(σE)`` of the model's gauge
    (the :class:`ElasticNetL2Polar` lower bound).  Both are lower bounds by alternating
    maximization on one draw (they concentrate: the spread over draws is a few percent).  For
    ``n_samples > 8192`` the draw has 8192 rows and the value is scaled by
    ``√(n_samples/8192)``; ``ρ²/n`` decreases with ``n`` (a supremum of an average), so this
    over-estimates the noise level of the larger matrix (a larger, conservative ``λ``).
    """
    if (threshold is None) == (gamma is None):
        raise ValueError("give exactly one of threshold and gamma")
    n_sim = min(int(n_samples), _NOISE_SIM_ROWS)
    if sigma <= 0 or n_sim < 1:
        return 0.0
    rng = np.random.default_rng(random_state)
    E = rng.standard_normal((n_sim, int(n_features)))
    if threshold is not None:
        val = sigma * _thresholded_polar(E, float(threshold) / sigma, 16, 30, rng)
    else:
        val = sigma * ElasticNetL2Polar(float(gamma), n_starts=8, max_iter=30)(E, rng=rng).lower
    return float(val * math.sqrt(n_samples / n_sim))


__all__ += ["noise_polar_level"]
