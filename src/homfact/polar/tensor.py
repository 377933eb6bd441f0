"""CP tensor polars: ``Ω°(G) = sup_{κₖ(xᵏ) ≤ 1} ⟨G, x¹∘…∘xᴷ⟩`` (NP-hard for ``K ≥ 3``: a bracket).

Holds the unfolding spectral bounds and :func:`tensor_polar_upper` (the rigorous upper end),
the multistart HOPM bracket :class:`TensorPolar`, and :class:`CPGrowthPolar` (TensorPolar with
a cheap deflation path while the rank is clearly growing, used by
:class:`homfact.models.cp.CPTensorFactorization`).
"""

from __future__ import annotations

import math

import numpy as np

from ..gauges import L1, L2, Gauge, NonNegative
from ..maps import CPMap
from .core import PolarBound

__all__ = ["CPGrowthPolar", "TensorPolar", "tensor_polar_upper", "unfolding_spectral_bounds"]


def _contract(A: np.ndarray, u: np.ndarray, mode: int) -> np.ndarray:
    """``A ×_mode uᵀ`` (the mode is removed)."""
    return np.tensordot(A, u, axes=([mode], [0]))


def _tensor_mttkrp_vec(A: np.ndarray, us: list[np.ndarray], k: int) -> np.ndarray:
    """``A ×_{j≠k} uʲ`` as a vector of length ``n_k`` (contracting the other modes).

    Trailing modes are contracted by matrix–vector products on the last axis, leading modes by
    vector–matrix products on the first axis: no transposed copy of ``A`` is made.
    """
    t = A
    for j in range(A.ndim - 1, k, -1):
        t = t @ us[j]
    for j in range(k):
        t = (us[j] @ t.reshape(t.shape[0], -1)).reshape(t.shape[1:])
    return np.asarray(t, dtype=float)


def _multilinear(A: np.ndarray, us: list[np.ndarray]) -> float:
    """``⟨A, u¹∘…∘uᴷ⟩``."""
    t = A
    for u in reversed(us):
        t = t @ u
    return float(t)


def _unfolding_gram(A: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Gram matrix of the mode-``k`` unfolding ``A₍ₖ₎`` on its smaller side.

    Returns ``(M, A₍ₖ₎, left)`` with ``M = A₍ₖ₎A₍ₖ₎ᵀ`` (``left=True``) or ``A₍ₖ₎ᵀA₍ₖ₎``.
    """
    Ak = np.moveaxis(A, k, 0).reshape(A.shape[k], -1)
    if Ak.shape[0] <= Ak.shape[1]:
        return Ak @ Ak.T, Ak, True
    return Ak.T @ Ak, Ak, False


def unfolding_spectral_bounds(A: np.ndarray, *, want_vectors: bool = False):
    """Rigorous upper bounds on ``‖A₍ₖ₎‖₂`` for every mode ``k`` (and optional HOSVD bases).

    ``σ_max(A₍ₖ₎)² = λ_max(A₍ₖ₎A₍ₖ₎ᵀ)`` is computed from the Gram matrix of the unfolding on its
    smaller side and a symmetric eigensolver.  Floating-point error is bounded explicitly:
    ``|fl(MMᵀ) − MMᵀ| ≤ γ_J |M||M|ᵀ`` entrywise (``γ_J = J u/(1 − J u)``, ``J`` the inner
    dimension, ``u`` the unit roundoff), whose spectral norm is ``≤ γ_J ‖A‖_F²``, and the
    backward-stable eigensolver adds ``≤ c·n·u·‖M‖₂``; both are added before the square root,
    so each returned value is ``≥ σ_max(A₍ₖ₎)`` (not merely close to it).

    Returns ``(bounds, bases)``: ``bases[k]`` holds the left singular vectors of ``A₍ₖ₎`` in
    decreasing order of singular value when ``want_vectors`` (else ``None``).
    """
    u = np.finfo(float).eps / 2
    fro2 = float(np.vdot(A, A))
    bounds, bases = [], []
    for k in range(A.ndim):
        M, Ak, left = _unfolding_gram(A, k)
        J = Ak.shape[1] if left else Ak.shape[0]
        n = M.shape[0]
        if want_vectors:
            w, V = np.linalg.eigh(M)
        else:
            w, V = np.linalg.eigvalsh(M), None
        lam_max = float(max(w[-1], 0.0))
        gamma = J * u / (1 - J * u)
        margin = gamma * fro2 + 8.0 * (n + 1) * u * max(lam_max, float(np.abs(w).max()))
        # absolute allowance for gradual underflow (entries below ~1e-154 square to
        # subnormals, whose errors no relative term covers)
        margin += (J + n) * n * np.finfo(float).tiny
        bounds.append(float(np.sqrt(lam_max + margin)) * (1 + 4 * u))
        if want_vectors:
            V = V[:, ::-1]
            if not left:  # right singular vectors: map to the left side, U = A V / σ
                s = np.sqrt(np.maximum(w[::-1], 0.0))
                keep = s > s[0] * 1e-12 if s.size and s[0] > 0 else np.zeros(s.shape, bool)
                V = (Ak @ V[:, keep]) / s[keep] if np.any(keep) else np.eye(Ak.shape[0])[:, :1]
            bases.append(V)
        else:
            bases.append(None)
    return bounds, bases


def _is_l1(g: Gauge) -> bool:
    base = g.base if isinstance(g, NonNegative) else g
    return type(base) is L1


def tensor_polar_upper(A: np.ndarray, gauges: tuple[Gauge, ...], *,
                       _bounds: list[float] | None = None) -> tuple[float, str]:
    """A rigorous upper bound on ``Ω°(A) = sup_{κₖ(xᵏ) ≤ 1} ⟨A, x¹∘…∘xᴷ⟩``.

    * ``K = 1``: exact, the dual gauge ``κ°(A)`` (the LMO value).
    * A mode with an ℓ1 gauge (possibly non-negative): the ℓ1 ball is the convex hull of
      ``±e_i`` (``e_i`` only with ``≥ 0``) and a multilinear form is maximized at an extreme
      point of each block, so ``Ω°(A) = max_{i, ±} Ω°_{others}(±A[…, i, …])``: recurse on the
      ``(K−1)``-way slices (both signs only when every other block is non-negative; otherwise
      flipping a sign-symmetric block maps one sign to the other).
    * Otherwise ``κₖ(x) ≥ cₖ‖x‖₂`` (``cₖ = l2_floor``) puts the feasible set inside the product of
      ℓ2 balls of radii ``1/cₖ``, and ``⟨A, x¹∘…∘xᴷ⟩ = x^{kᵀ} A₍ₖ₎ (⊗_{j≠k} xʲ)`` with
      ``‖⊗ xʲ‖ = Π‖xʲ‖`` gives ``Ω°(A) ≤ minₖ ‖A₍ₖ₎‖₂ / Πⱼ cⱼ``.  When every block is
      non-negative, ``⟨A, x⟩ ≤ ⟨A₊, x⟩`` for ``x ≥ 0`` (entries of an outer product of
      non-negative vectors are non-negative), so ``A₊ = max(A, 0)`` replaces ``A`` (as for NMF).
      ``‖A₍ₖ₎‖₂`` comes with an explicit roundoff margin (:func:`unfolding_spectral_bounds`).

    Returns ``(upper, description)``; ``upper = inf`` when a gauge states no ``l2_floor``.
    """
    K = A.ndim
    if K == 1:
        return float(gauges[0].lmo(A)[1]) * (1 + 1e-12), "exact dual gauge"
    for k, g in enumerate(gauges):
        if _is_l1(g):
            others = tuple(gauges[:k] + gauges[k + 1:])
            both = (not g.nonnegative) and all(o.nonnegative for o in others)
            signs = (1.0, -1.0) if both else (1.0,)
            best = 0.0
            desc = ""
            for i in range(A.shape[k]):
                sl = np.take(A, i, axis=k)
                for s in signs:
                    val, desc = tensor_polar_upper(s * sl if s < 0 else sl, others)
                    best = max(best, val)
            return best, f"max over l1 vertices of mode {k} ({desc})"
    floors = np.array([g.l2_floor for g in gauges], dtype=float)
    if not np.all(np.isfinite(floors)) or np.any(floors <= 0):
        return math.inf, "no l2 floor"
    all_nonneg = all(g.nonnegative for g in gauges)
    if _bounds is None:  # (callers may pass the bounds of B computed already)
        _bounds, _ = unfolding_spectral_bounds(np.maximum(A, 0.0) if all_nonneg else A)
    bounds = _bounds
    return float(min(bounds) / np.prod(floors)), (
        "min_k ||unfold_k(G+)||_2" if all_nonneg else "min_k ||unfold_k(G)||_2")


class TensorPolar:
    """Bracket on the CP polar ``Ω°(G) = sup_{κₖ(xᵏ) ≤ 1} ⟨G, x¹∘…∘xᴷ⟩`` (tensor spectral norm
    for ℓ2 gauges; NP-hard for ``K ≥ 3``, Hillar & Lim 2013).

    Lower bound: the higher-order power method (HOPM), i.e. alternating LMOs
    ``xᵏ ← lmoₖ(G ×_{j≠k} xʲ)`` (for ℓ2: the normalized MTTKRP), each step maximizing the
    multilinear form in one block so the value never decreases, every iterate feasible.
    Starts: the HOSVD start (leading left singular vector of each unfolding), seeds built from
    the next singular vectors of the largest mode (the other blocks from the leading singular
    vectors of the contracted tensor), ``n_random`` random starts and the previous maximizer.
    For all-ℓ2 gauges HOPM first runs on the HOSVD-compressed core
    ``G ×ₖ Qₖᵀ`` (``Qₖ`` = leading ``p`` left singular vectors of ``G₍ₖ₎``; a unit ``x`` of the
    core maps to the unit ``Qₖx``, so its value is attained by a feasible atom of ``G``), then
    the best points are refined on ``G`` itself.  ``lower`` is the exact value
    ``⟨G, x¹∘…∘xᴷ⟩`` of the returned feasible maximizer.

    Upper bound: :func:`tensor_polar_upper` (``minₖ ‖G₍ₖ₎‖₂ / Πcₖ``, with ``G₊`` when every
    block is non-negative, exact ℓ1-vertex enumeration for ℓ1 blocks), rigorous including
    roundoff.  Distinct local maxima with a positive value are returned as ``candidates``.
    """

    def __init__(self, gauges: tuple[Gauge, ...], *, n_random: int = 3, max_iter: int = 100,
                 tol: float = 1e-7, core_rank: int | None = None, refine_iter: int = 30):
        self.gauges = tuple(gauges)
        if len(self.gauges) < 2:
            raise ValueError("TensorPolar needs at least 2 gauges")
        self.n_random, self.max_iter, self.tol = int(n_random), int(max_iter), float(tol)
        self.core_rank, self.refine_iter = core_rank, int(refine_iter)
        self.all_l2 = all(type(g) is L2 for g in self.gauges)

    # -- HOPM -------------------------------------------------------------------------------
    def _hopm(self, A: np.ndarray, us: list[np.ndarray], max_iter: int):
        us = [np.asarray(u, dtype=float) for u in us]
        val = -np.inf
        for _ in range(max_iter):
            new = val
            for k, g in enumerate(self.gauges):
                us[k], new = g.lmo(_tensor_mttkrp_vec(A, us, k))
                if new == 0.0:
                    return us, 0.0
            if new <= val + self.tol * max(abs(new), 1e-300):
                break
            val = new
        return us, _multilinear(A, us)

    def _seed(self, A: np.ndarray, first: np.ndarray, mode: int) -> list[np.ndarray]:
        """Block ``mode`` := ``first``; the others from the leading singular vectors of
        ``A ×_mode first`` (exactly optimal given ``first`` when ``K = 3`` and gauges are ℓ2)."""
        B = _contract(A, first, mode)
        if B.ndim == 1:
            rest = [B]
        elif B.ndim == 2:  # K = 3: the top singular pair of the contracted matrix
            try:
                Ub, _, Vbt = np.linalg.svd(B, full_matrices=False)
                rest = [Ub[:, 0], Vbt[0]]
            except np.linalg.LinAlgError:
                _, bases = unfolding_spectral_bounds(B, want_vectors=True)
                rest = [b[:, 0] for b in bases]
        else:
            _, bases = unfolding_spectral_bounds(B, want_vectors=True)
            rest = [b[:, 0] for b in bases]
        out = []
        j = 0
        for k, g in enumerate(self.gauges):
            v = first if k == mode else rest[j]
            if k != mode:
                j += 1
            if g.nonnegative and v.sum() < 0:
                v = -v
            x, _ = g.lmo(v)
            if not np.any(x):  # e.g. a non-negative gauge and a non-positive direction
                x, _ = g.lmo(np.abs(v) + 1e-300)
            out.append(x)
        return out

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None,
                 _spectral=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        G = np.asarray(op, dtype=float)
        if G.ndim != len(self.gauges):
            raise ValueError(f"TensorPolar got a {G.ndim}-way tensor for {len(self.gauges)} "
                             "gauges")
        all_nonneg = all(g.nonnegative for g in self.gauges)
        B = np.maximum(G, 0.0) if all_nonneg else G
        # (subclasses may pass unfolding_spectral_bounds(B, want_vectors=True) computed already)
        sbounds, bases = (unfolding_spectral_bounds(B, want_vectors=True)
                          if _spectral is None else _spectral)
        upper, up_desc = tensor_polar_upper(G, self.gauges, _bounds=sbounds)
        n_candidates = max(1, int(n_candidates))
        main = int(np.argmax(G.shape))
        p_default = max(2 * n_candidates + 8, 12) if self.core_rank is None else self.core_rank
        use_core = self.all_l2 and any(
            b.shape[1] > p_default for b in bases) and G.size > 4096
        if use_core:
            Q = [b[:, :p_default] for b in bases]
            A = G
            for k in range(G.ndim - 1, -1, -1):
                A = np.moveaxis(np.tensordot(A, Q[k], axes=([k], [0])), -1, k)
            seeds_basis = [np.eye(q.shape[1]) for q in Q]
        else:
            Q, A = None, G
            seeds_basis = bases
        starts = [self._seed(A, seeds_basis[main][:, 0], main)]
        for j in range(1, min(seeds_basis[main].shape[1], n_candidates // 2 + 2)):
            starts.append(self._seed(A, seeds_basis[main][:, j], main))
        for _ in range(self.n_random):
            v = rng.standard_normal(A.shape[main])
            starts.append(self._seed(A, np.abs(v) if self.gauges[main].nonnegative else v,
                                     main))
        found = [(*self._hopm(A, s, self.max_iter), Q is not None) for s in starts]
        if Q is not None:  # back to the full tensor (unit core vectors map to unit vectors)
            found = [([q @ u for q, u in zip(Q, us, strict=True)], v, f)
                     for us, v, f in found]
        if warm_start is not None and len(warm_start) == G.ndim and all(
                np.shape(w) == (n,) for w, n in zip(warm_start, G.shape, strict=True)):
            found.append(([np.asarray(w, float) for w in warm_start], np.inf, True))
        found.sort(key=lambda t: -t[1])
        refined: list[tuple[list[np.ndarray], float]] = []
        n_refine = 0
        for us, val, needs in found:
            if needs:
                if n_refine > n_candidates + 1:
                    continue
                its = self.refine_iter if n_refine < 2 else max(3, self.refine_iter // 6)
                us, val = self._hopm(G, us, its)
                n_refine += 1
            refined.append((us, float(val)))
        refined.sort(key=lambda t: -t[1])
        best_us, best_val = refined[0]
        cands = []
        for us, val in refined[1:]:
            if len(cands) + 1 >= n_candidates or val <= 0:
                break
            if all(np.prod([abs(a @ b) for a, b in zip(us, c[0], strict=True)]) < 0.95
                   for c in [(best_us, best_val), *cands]):
                cands.append((tuple(us), float(val)))
        lower = max(float(best_val), 0.0)
        method = (f"lower: HOPM ({len(starts)} starts"
                  f"{', HOSVD core ' + str(p_default) if Q is not None else ''}); "
                  f"upper: {up_desc}")
        return PolarBound(lower, float(upper), tuple(best_us), method, tuple(cands))


__all__ += ["TensorPolar", "tensor_polar_upper", "unfolding_spectral_bounds"]


class CPGrowthPolar(TensorPolar):
    """:class:`homfact.polar.TensorPolar` with a cheap path while the rank is clearly growing.

    Knowing ``λ``, the bracket is computed in two stages (all-ℓ2 gauges; other gauges use the
    plain :class:`~homfact.polar.TensorPolar`):

    1. The unfolding spectral norms (rigorous upper bound ``minₖ‖G₍ₖ₎‖₂`` and HOSVD bases) and
       one HOPM run from the HOSVD start.  If its attained value exceeds ``λ(1 + growth_rtol)``
       the iterate is certainly not optimal, and the restarts that only sharpen the lower end
       are skipped.  Further atoms come from *deflation*, mirroring the exact line search of
       :func:`homfact.meta.grow`: with ``φ₁`` (unit, value ``ρ₁``) appended at step
       ``s₁ = ρ₁ − λ`` the residual becomes ``G − s₁φ₁``, whose HOSVD-start HOPM maximizer is
       the next candidate, and so on while the value exceeds ``λ(1 + growth_rtol)``.  The
       leading eigenvector of the deflated unfolding Gram matrix
       ``(G − A S Bᵀ)₍ₘ₎(…)ᵀ = M₀ − W S Aᵀ − A S Wᵀ + A S H S Aᵀ`` (``W = G₍ₘ₎(⊙ other
       blocks)``, ``H = ∗_{k≠m} UₖᵀUₖ``) is updated in ``O(n²r + N r)`` per atom.
       Deflation stops at the first atom whose every block has ``|cos| > ghost_cos`` with the
       same earlier atom: once the components are exhausted, the deflated residual (each
       component shrunk to ``λ``, plus the bias of the early, slightly mixed atoms) yields such
       "ghosts" of earlier atoms, which would only be merged or shrunk away by descent.
       Stopping the batch early never affects soundness: the next outer iteration searches
       the residual of the descended factors again.
    2. Otherwise (the lower end is near ``λ``: the certificate's case) the full multistart
       bracket of :class:`~homfact.polar.TensorPolar` runs, reusing the spectral bounds.

    ``lower`` is always the exact value of the returned feasible maximizer and ``upper`` the
    rigorous unfolding bound, so the bracket is as sound as TensorPolar's.  Candidates are
    listed in the order they were found (deflation order), with their value on ``G``.
    HOPM for ℓ2 gauges normalizes in place (same iterates as the LMO form, less overhead).
    """

    def __init__(self, gauges, lam: float, *, growth_rtol: float = 1e-2, ghost_cos: float = 0.4,
                 careful_candidates: int = 1, min_candidates: int = 16, **kwargs):
        super().__init__(gauges, **kwargs)
        self.lam = float(lam)
        self.growth_rtol = float(growth_rtol)
        self.ghost_cos = float(ghost_cos)
        self.careful_candidates = int(careful_candidates)
        # homfact.meta.grow asks for at least this many candidates per iteration (capped by
        # its block_size); deflation stops by itself, so a large batch costs nothing extra
        self.min_candidates = int(min_candidates)

    def _hopm(self, A: np.ndarray, us: list[np.ndarray], max_iter: int):
        if not self.all_l2:
            return super()._hopm(A, us, max_iter)
        us = [np.asarray(u, dtype=float) for u in us]
        val = -np.inf
        if A.ndim == 3:  # B = A ×₃ u³ serves the updates of blocks 1 and 2: two passes, not 3
            A = np.ascontiguousarray(A, dtype=float)
            n0, n1, n2 = A.shape
            A2, A0 = A.reshape(n0 * n1, n2), A.reshape(n0, n1 * n2)
            u0, u1, u2 = us
            for _ in range(max_iter):
                B = (A2 @ u2).reshape(n0, n1)
                v = B @ u1
                new = math.sqrt(float(v @ v))
                if new == 0.0:
                    return [u * 0.0 for u in us], 0.0
                u0 = v / new
                v = u0 @ B
                new = math.sqrt(float(v @ v))
                if new == 0.0:
                    return [u * 0.0 for u in us], 0.0
                u1 = v / new
                v = u1 @ (u0 @ A0).reshape(n1, n2)
                new = math.sqrt(float(v @ v))
                if new == 0.0:
                    return [u * 0.0 for u in us], 0.0
                u2 = v / new
                if new <= val + self.tol * max(abs(new), 1e-300):
                    break
                val = new
            us = [u0, u1, u2]
            return us, _multilinear(A, us)
        for _ in range(max_iter):
            new = val
            for k in range(A.ndim):
                v = _tensor_mttkrp_vec(A, us, k)
                new = math.sqrt(float(v @ v))
                if new == 0.0:
                    return [u * 0.0 for u in us], 0.0
                us[k] = v / new
            if new <= val + self.tol * max(abs(new), 1e-300):
                break
            val = new
        return us, _multilinear(A, us)

    def _hosvd_start(self, G: np.ndarray, first: np.ndarray, main: int):
        return self._hopm(G, self._seed(G, first, main), self.max_iter)

    def _stage1(self, G: np.ndarray):
        """Unfolding bounds/bases and the HOSVD-start HOPM; the last result is kept so that the
        same tensor (``λ_max`` of ``lam="auto"``, then the first outer iteration at rank 0,
        where ``G = Y``) is not processed twice."""
        c = getattr(self, "_last", None)
        if c is not None and c[0].shape == G.shape and np.array_equal(c[0], G):
            return c[1:]
        spectral = unfolding_spectral_bounds(G, want_vectors=True)
        main = int(np.argmax(G.shape))
        us, val = self._hosvd_start(G, spectral[1][main][:, 0], main)
        self._last = (G.copy(), spectral, main, us, val)
        return spectral, main, us, val

    def quick(self, op) -> PolarBound:
        """Stage 1 only: the HOSVD-start HOPM value and the unfolding upper bound."""
        G = np.asarray(op, dtype=float)
        (sbounds, _), _, us, val = self._stage1(G)
        upper, desc = tensor_polar_upper(G, self.gauges, _bounds=sbounds)
        return PolarBound(max(val, 0.0), float(upper), tuple(us),
                          f"lower: HOPM (HOSVD start); upper: {desc}")

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        G = np.asarray(op, dtype=float)
        if not self.all_l2 or G.ndim != len(self.gauges) or not self.lam > 0:
            return super().__call__(G, n_candidates=n_candidates, rng=rng,
                                    warm_start=warm_start)
        spectral, main, us, val = self._stage1(G)
        sbounds = spectral[0]
        clear = self.lam * (1.0 + self.growth_rtol)
        if not val > clear:  # near λ: the careful bracket
            return super().__call__(G, n_candidates=min(n_candidates, self.careful_candidates),
                                    rng=rng, warm_start=warm_start, _spectral=spectral)
        upper, desc = tensor_polar_upper(G, self.gauges, _bounds=sbounds)
        cands: list[tuple[tuple[np.ndarray, ...], float]] = []
        n_more = max(1, int(n_candidates)) - 1
        if n_more:
            M0, _, left = _unfolding_gram(G, main)
            Gd = G.copy()
            atoms, steps, W = [us], [val - self.lam], [_tensor_mttkrp_vec(G, us, main)]
            for _ in range(n_more):
                cur, s = atoms[-1], steps[-1]
                Gd -= s * CPMap(G.shape).atom(list(cur))
                if left:
                    Am = np.column_stack([a[main] for a in atoms])
                    Wm = np.column_stack(W)
                    S = np.diag(steps)
                    H = np.ones((len(atoms), len(atoms)))
                    for k in range(G.ndim):
                        if k != main:
                            Uk = np.column_stack([a[k] for a in atoms])
                            H = H * (Uk.T @ Uk)
                    WSA = Wm @ S @ Am.T
                    Md = M0 - WSA - WSA.T + Am @ S @ H @ S @ Am.T
                    first = np.linalg.eigh(Md)[1][:, -1]
                else:
                    first = unfolding_spectral_bounds(Gd, want_vectors=True)[1][main][:, 0]
                nus, nval = self._hosvd_start(Gd, first, main)
                if not nval > clear or any(
                        min(abs(float(u @ a)) for u, a in zip(nus, prev, strict=True))
                        > self.ghost_cos for prev in atoms):
                    break
                atoms.append(nus)
                steps.append(nval - self.lam)
                W.append(_tensor_mttkrp_vec(G, nus, main))
                cands.append((tuple(nus), _multilinear(G, nus)))
        method = (f"lower: HOPM (HOSVD start, {len(cands)} deflated candidates); "
                  f"upper: {desc}")
        return PolarBound(float(val), float(upper), tuple(us), method, tuple(cands))
