"""Polar problems ``Ω°(G) = sup_{κ_u(u) ≤ 1, κ_v(v) ≤ 1} uᵀ G v`` for bilinear atoms.

Every solver returns a :class:`PolarBound` ``(lower, upper, maximizer, method)`` with
``lower ≤ Ω°(G) ≤ upper``:

* ``lower`` is always the value ``⟨G, φ(x*)⟩`` of the returned feasible maximizer ``x*``;
* ``upper`` is a valid upper bound, or ``inf`` when none is available.  A heuristic value is
  never reported as an upper bound (THEORY §f.4).

Solvers: :class:`NuclearPolar` (ℓ2/ℓ2, ``‖G‖₂``: dense SVD, exact to roundoff, or ARPACK Lanczos,
exact to its tolerance), :class:`RowSparsePolar` (ℓ1 on one side: exact row/column maximum) and
:class:`AlternatingPolar` (any gauges: alternating LMOs for the lower bound, the upper bound
``σ_max(G)/(c_u c_v)``, ``σ_max(G₊)`` when both sides are non-negative; as valid as the
``σ_max`` it uses: rigorous from a dense SVD, exact to tolerance from ARPACK).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, svds
from sklearn.utils.extmath import randomized_svd

from .gauges import L1, L2, Gauge, NonNegative

__all__ = [
    "AlternatingPolar",
    "NuclearPolar",
    "PolarBound",
    "RowSparsePolar",
    "polar_solver_for",
    "spectral_norm",
]

#: problems with at most this many entries get a dense SVD (rigorous up to roundoff)
DENSE_SVD_MAX_ENTRIES = 250_000


@dataclass(frozen=True)
class PolarBound:
    """A bracket ``lower ≤ Ω°(G) ≤ upper`` with the maximizer attaining ``lower``.

    ``maximizer`` holds one unit-gauge column per factor block, ``method`` says how each bound was
    obtained and ``candidates`` optionally lists further feasible atoms ``(columns, value)`` in
    decreasing value (the next singular pairs for ℓ2/ℓ2), usable for growing several columns.
    """

    lower: float
    upper: float
    maximizer: tuple[np.ndarray, ...]
    method: str
    candidates: tuple[tuple[tuple[np.ndarray, ...], float], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.lower <= self.upper * (1 + 1e-9) + 1e-300:
            raise ValueError(f"invalid polar bracket: lower={self.lower} > upper={self.upper}")

    @property
    def has_upper(self) -> bool:
        return bool(np.isfinite(self.upper))


def svd_roundoff(m: int, n: int, fro: float) -> float:
    """Margin ``2·m·n·eps·‖A‖_F`` covering the rounding error of a computed ``σ_max(A)``.

    LAPACK's SVD is backward stable: the computed ``σ̂`` are exact for ``A + E`` and, by Weyl,
    ``|σ̂₁ − σ₁| ≤ ‖E‖₂``.  The Householder backward-error analysis (Higham, *Accuracy and
    Stability*, ch. 19) applied to the bidiagonalization gives ``‖E‖_F ≤ c·m·n·u·‖A‖_F``
    (``u = eps/2``) with a modest ``c``; ``4·m·n·u`` is taken (about 1e-10 relative at the
    dense cutoff).
    """
    return 2.0 * m * n * float(np.finfo(float).eps) * fro


def _is_small(shape: tuple[int, int]) -> bool:
    return shape[0] * shape[1] <= DENSE_SVD_MAX_ENTRIES or min(shape) <= 2


def spectral_norm(op, *, k: int = 1, tol: float = 1e-5, v0: np.ndarray | None = None,
                  rng: np.random.Generator | None = None, ncv: int | None = None):
    """Top-``k`` singular triplets of a dense or sparse matrix, with a bound on ``σ_max``.

    Returns ``(U, s, V, upper, method)`` with ``s`` in decreasing order.  For small matrices a
    dense SVD is used and ``upper = s[0]·(1 + 1e-12) +`` :func:`svd_roundoff` covers roundoff.
    Otherwise ARPACK runs on ``GᵀG`` with eigenvalue tolerance ``tol²`` (scipy's ``svds``
    convention), so a converged run is exact to about ``tol²`` relative;
    ``upper = s[0] + max(residual, tol²·s[0])`` with the residual ``max(‖Gv − σu‖, ‖Gᵀu − σv‖)``
    of the returned pair.

    ``ncv`` is the number of Lanczos vectors of the first attempt (default: scipy's,
    ``max(2k + 1, 20)``).  A cluster of top singular values larger than that (at a certified
    optimum the residual has one singular value ``≈ λ`` per atom) makes ARPACK crawl, so the
    first attempt is capped at 300 restarts and the next one uses
    ``max(80, 4k + 1)`` vectors (measured: a rank-28 robust PCA polar took 8,691 restarts with
    20 vectors, 9.8 s, and 1.8 s in all with 80).  The method string names the ``ncv`` that
    converged, so a caller can start there next time (:class:`NuclearPolar` does).
    """
    m, n = op.shape
    k = max(1, min(k, min(m, n)))
    if min(m, n) == 0:
        return np.zeros((m, 1)), np.zeros(1), np.zeros((n, 1)), 0.0, "empty"
    if _is_small(op.shape) or k >= min(m, n) - 1:
        A = op.toarray() if sp.issparse(op) else np.asarray(op)
        try:
            U, s, Vt = sla.svd(A, full_matrices=False, lapack_driver="gesdd")
        except np.linalg.LinAlgError:  # gesdd occasionally fails to converge; gesvd is robust
            U, s, Vt = sla.svd(A, full_matrices=False, lapack_driver="gesvd")
        roundoff = svd_roundoff(m, n, float(np.linalg.norm(A)))
        return U[:, :k], s[:k], Vt[:k].T, float(s[0]) * (1 + 1e-12) + roundoff, "dense-svd"
    fro = float(sp.linalg.norm(op)) if sp.issparse(op) else float(np.linalg.norm(op))
    if fro == 0.0:
        U, V = np.zeros((m, k)), np.zeros((n, k))
        U[0, 0] = V[0, 0] = 1.0  # any unit pair attains the value 0
        return U, np.zeros(k), V, 0.0, "zero-matrix"
    if v0 is None:
        rng = np.random.default_rng(0) if rng is None else rng
        v0 = rng.standard_normal(min(m, n))
    dim = min(m, n)
    first = min(dim, max(2 * k + 1, 20, int(ncv or 0)))
    wide = min(dim, max(80, 4 * k + 1, first))
    attempts = [(tol, first, 300 if first < wide else None)]
    if first < wide:
        attempts.append((tol, wide, None))
    attempts.append((max(tol, 1e-3), min(dim, max(64, 4 * k + 1, wide)), 20000))
    for att_tol, att_ncv, maxiter in attempts:
        if att_ncv <= k:  # ARPACK needs ncv > k
            continue
        try:
            U, s, Vt = svds(op, k=k, tol=att_tol, v0=v0, solver="arpack", ncv=att_ncv,
                            maxiter=maxiter)
            break
        except ArpackNoConvergence:
            continue
    else:
        if k > 1:
            # extra candidates sat in a cluster: fall back to the top pair alone
            return spectral_norm(op, k=1, tol=tol, v0=v0, rng=rng)
        return _power_bracket(op, v0, fro)
    order = np.argsort(s)[::-1]
    U, s, V = U[:, order], s[order], Vt[order].T
    u, v, sig = U[:, 0], V[:, 0], float(s[0])
    res = max(np.linalg.norm(op @ v - sig * u), np.linalg.norm(op.T @ u - sig * v))
    upper = min(sig + max(float(res), att_tol * att_tol * sig), fro)
    return U, s, V, upper, f"lanczos(arpack, tol={att_tol * att_tol:g}, ncv={att_ncv})"


def _power_bracket(op, v0: np.ndarray, fro: float, n_iter: int = 300):
    """Last resort when ARPACK fails: power iteration for a feasible pair (lower bound) and the
    rigorous but loose upper bound ``‖G‖_F``."""
    n = op.shape[1]
    v = np.asarray(v0, dtype=float)
    if v.shape[0] != n:
        v = op.T @ v
    v /= np.linalg.norm(v) or 1.0
    for _ in range(n_iter):
        u = op @ v
        u /= np.linalg.norm(u) or 1.0
        v = op.T @ u
        v /= np.linalg.norm(v) or 1.0
    u = op @ v
    sig = float(np.linalg.norm(u))
    u = u / sig if sig > 0 else u
    method = "power-iteration; upper: frobenius"
    return u[:, None], np.array([sig]), v[:, None], max(fro, sig), method


class NuclearPolar:
    """Exact polar of ℓ2/ℓ2 atoms: ``Ω°(G) = σ_max(G)``, maximizer = top singular pair.

    The top pair comes from :func:`spectral_norm` (dense SVD or ARPACK to ``tol``).  When more
    than one candidate is asked for on a large matrix, the next pairs come from a randomized
    block SVD (Halko, Martinsson & Tropp 2011; sklearn's ``randomized_svd``) whose top vector
    also warm-starts ARPACK.  Candidates only steer growth; the bound uses the ARPACK value.
    """

    def __init__(self, tol: float = 1e-5, power_iterations: int = 2):
        self.tol = tol
        self.power_iterations = power_iterations
        self.ncv: int | None = None  # Lanczos vectors that last converged (see spectral_norm)

    def _top(self, op, k: int, **kwargs):
        U, s, V, upper, method = spectral_norm(op, k=k, tol=self.tol, ncv=self.ncv, **kwargs)
        if "ncv=" in method:  # the next polar (the next iterate) sees the same cluster
            self.ncv = int(method.rsplit("ncv=", 1)[1].rstrip(")"))
        return U, s, V, upper, method

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        k = max(1, min(int(n_candidates), min(op.shape)))
        if k == 1 or _is_small(op.shape):
            U, s, V, upper, method = self._top(op, k, rng=rng)
            cands = tuple(((U[:, j], V[:, j]), float(s[j])) for j in range(1, s.shape[0]))
            return PolarBound(float(s[0]), upper, (U[:, 0], V[:, 0]), method, cands)
        Ur, sr, Vtr = randomized_svd(op, k, n_iter=self.power_iterations,
                                     random_state=int(rng.integers(2**31 - 1)))
        v0 = Vtr[0] if op.shape[1] <= op.shape[0] else Ur[:, 0]
        U, s, V, upper, method = self._top(op, 1, v0=v0)
        cands = tuple(((Ur[:, j], Vtr[j]), float(sr[j])) for j in range(1, k))
        return PolarBound(float(s[0]), upper, (U[:, 0], V[:, 0]), method, cands)


def _dense_rows(op) -> np.ndarray:
    return op.toarray() if sp.issparse(op) else np.asarray(op)


class RowSparsePolar:
    """Exact polar when one side's gauge is ℓ1: ``Ω°(G) = max_{i, ±} κ_v°(±G_{i,:})``.

    The ℓ1 ball's extreme points are ``±e_i``, so the supremum is attained at ``u = ±e_i``.
    With ``side="v"`` the roles are swapped (columns of ``G``).
    """

    def __init__(self, other: Gauge, side: str = "u"):
        if side not in ("u", "v"):
            raise ValueError(f"side must be 'u' or 'v', got {side!r}")
        self.other, self.side = other, side

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        A = _dense_rows(op)
        if self.side == "v":
            A = A.T
        best, best_i, best_sign, best_x = -np.inf, 0, 1.0, None
        for i in range(A.shape[0]):
            for sign in (1.0, -1.0):
                x, val = self.other.lmo(sign * A[i])
                if val > best:
                    best, best_i, best_sign, best_x = val, i, sign, x
        e = np.zeros(A.shape[0])
        e[best_i] = best_sign
        pair = (e, best_x) if self.side == "u" else (best_x, e)
        val = max(float(best), 0.0)
        return PolarBound(val, val, pair, "exact(l1-rows)")


class AlternatingPolar:
    """Bracket for general bilinear gauges.

    Lower bound: alternating maximization ``v ← lmo_v(Gᵀu)``, ``u ← lmo_u(G v)`` from the top
    singular pair (of ``G₊`` when both sides are non-negative) and ``n_starts − 1`` random starts;
    each sweep never decreases ``uᵀGv`` and every iterate is feasible.
    Upper bound: ``κ(x) ≥ c‖x‖₂`` gives ``Ω°(G) ≤ σ_max(G)/(c_u c_v)``, and for ``u, v ≥ 0``,
    ``uᵀGv ≤ uᵀG₊v`` gives ``σ_max(G₊)/(c_u c_v)``; ``σ_max`` comes from :func:`spectral_norm`
    (dense SVD: rigorous up to roundoff; ARPACK: exact to its tolerance).  Gauges that state no
    ``l2_floor`` give ``upper = inf``.
    """

    def __init__(self, gauge_u: Gauge, gauge_v: Gauge, n_starts: int = 8, max_iter: int = 200,
                 tol: float = 1e-10):
        self.gauge_u, self.gauge_v = gauge_u, gauge_v
        self.n_starts, self.max_iter, self.tol = n_starts, max_iter, tol

    def _ascend(self, A, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        val = -np.inf
        v = np.zeros(A.shape[1])
        for _ in range(self.max_iter):
            v, _ = self.gauge_v.lmo(A.T @ u)
            u, new = self.gauge_u.lmo(A @ v)
            if new <= val + self.tol * max(abs(new), 1.0):
                val = max(val, new)
                break
            val = new
        # the exact value of the returned feasible pair (never a heuristic estimate)
        return u, v, float(u @ (A @ v))

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        rng = np.random.default_rng(0) if rng is None else rng
        both_nonneg = self.gauge_u.nonnegative and self.gauge_v.nonnegative
        if both_nonneg:
            A_up = op.maximum(0) if sp.issparse(op) else np.maximum(op, 0.0)
        else:
            A_up = op
        U, _, _, sig_upper, method = spectral_norm(A_up, k=1, rng=rng)
        floor = self.gauge_u.l2_floor * self.gauge_v.l2_floor
        # a gauge without a stated floor gives no upper bound (never a guessed one)
        upper = sig_upper / floor if np.isfinite(floor) and floor > 0 else np.inf
        starts = [U[:, 0], -U[:, 0]]
        if warm_start is not None:
            starts.insert(0, np.asarray(warm_start[0], dtype=float))
        m = op.shape[0]
        for _ in range(max(self.n_starts - 2, 0)):
            g = rng.standard_normal(m)
            starts.append(np.abs(g) if self.gauge_u.nonnegative else g)
        found = []
        for u0 in starts:
            u, _ = self.gauge_u.lmo(u0)
            if not np.any(u):
                continue
            found.append(self._ascend(op, u))
        found.sort(key=lambda t: -t[2])
        best = found[0] if found else (np.zeros(m), np.zeros(op.shape[1]), 0.0)
        # distinct local maxima with a positive value are further growth candidates
        cands = []
        for u, v, val in found[1:]:
            if len(cands) + 1 >= n_candidates or val <= 0:
                break
            if all(abs(u @ c[0][0]) * abs(v @ c[0][1]) < 0.95 for c in cands) and \
                    abs(u @ best[0]) * abs(v @ best[1]) < 0.95:
                cands.append(((u, v), float(val)))
        lower = max(best[2], 0.0)
        upper = max(upper, lower)
        return PolarBound(lower, float(upper), (best[0], best[1]),
                          f"lower: alternating LMOs ({len(starts)} starts); "
                          f"upper: sigma_max/(c_u c_v) via {method}", tuple(cands))


def polar_solver_for(gauge_u: Gauge, gauge_v: Gauge, **kwargs):
    """Pick the tightest polar solver for a pair of bilinear gauges."""
    if type(gauge_u) is L2 and type(gauge_v) is L2:
        return NuclearPolar(**kwargs)
    if type(gauge_u) is L1:
        return RowSparsePolar(gauge_v, side="u")
    if type(gauge_v) is L1:
        return RowSparsePolar(gauge_u, side="v")
    return AlternatingPolar(gauge_u, gauge_v, **kwargs)


# --------------------------------------------------------------------------------------------
# CP tensor atoms: Ω°(G) = sup_{κₖ(xᵏ) ≤ 1} ⟨G, x¹∘…∘xᴷ⟩ (NP-hard for K ≥ 3: a bracket)
# --------------------------------------------------------------------------------------------

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
