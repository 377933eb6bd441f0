"""Polar problems ``Ω°(G) = sup_{κ_u(u) ≤ 1, κ_v(v) ≤ 1} uᵀ G v`` for bilinear atoms.

Every solver returns a :class:`PolarBound` ``(lower, upper, maximizer, method)`` with
``lower ≤ Ω°(G) ≤ upper``:

* ``lower`` is always the value ``⟨G, φ(x*)⟩`` of the returned feasible maximizer ``x*``;
* ``upper`` is a valid upper bound, or ``inf`` when none is available.  A heuristic value is
  never reported as an upper bound (docs: theory/polars, 'Brackets').

Solvers: :class:`NuclearPolar` (ℓ2/ℓ2, ``‖G‖₂``: dense SVD, exact to roundoff, or ARPACK Lanczos,
exact to its tolerance), :class:`RowSparsePolar` (ℓ1 on one side: exact row/column maximum) and
:class:`AlternatingPolar` (any gauges: alternating LMOs for the lower bound, the upper bound
``σ_max(G)/(c_u c_v)``, ``σ_max(G₊)`` when both sides are non-negative; as valid as the
``σ_max`` it uses: rigorous from a dense SVD, exact to tolerance from ARPACK).

Every solver follows :class:`homfact.interfaces.PolarSolver` (the call signature
``solver(op, *, n_candidates=1, rng=None, warm_start=None) -> PolarBound``).

This module is the matrix core of :mod:`homfact.polar`: the bracket type, the spectral-norm
kernels and the generic bilinear solvers that the family modules build on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, svds
from sklearn.utils.extmath import randomized_svd

from ..gauges import L1, L2, Gauge

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

    Optional probabilistic end (operator polars, :mod:`homfact.polar.operator_bounds`):
    ``upper_probabilistic`` is an upper bound that holds with probability at least
    ``1 − delta`` over the solver's own random start (``inf`` and ``None`` when there is none;
    ``upper`` stays the deterministic bound), and ``allow_probabilistic`` records that the
    user opted in to a status resting on it (``"global_probabilistic"``,
    :mod:`homfact.certificate`).  Solvers that do not set them are unaffected.
    """

    lower: float
    upper: float
    maximizer: tuple[np.ndarray, ...]
    method: str
    candidates: tuple[tuple[tuple[np.ndarray, ...], float], ...] = field(default=(), repr=False)
    upper_probabilistic: float = float("inf")
    delta: float | None = None
    allow_probabilistic: bool = False

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


#: rounding-up factor of the evaluated bound (step 4 of :func:`sigma_max_upper`)
_ROUND_UP = 1.0 + 8.0 * float(np.finfo(float).eps)


def _gram_allowance(p: int, k: int, fro2: float) -> float:
    """Roundoff allowance ``(p + 8k + 1)·eps·‖B‖²_F`` of :func:`sigma_max_upper` (its docstring
    derives it); ``fro2`` is the computed ``‖B‖²_F``, inflated here by ``(1 + 2pk·eps)`` for
    its own rounding."""
    eps = float(np.finfo(float).eps)
    return (p + 8 * k + 1) * eps * fro2 * (1.0 + 2.0 * p * k * eps)


def sigma_max_upper(A) -> tuple[float, np.ndarray, np.ndarray]:
    """``(upper, u, v)`` of :func:`sigma_max_bracket`: the upper bound on ``σ_max(A)`` and the
    top pair."""
    _, upper, u, v = sigma_max_bracket(A)
    return upper, u, v


def sigma_max_bracket(A) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(lower, upper, u, v)``: an upper bound on ``σ_max(A)`` of a dense matrix, rigorous up
    to the eigensolver's backward-error constant assumed in step 2 below, and a unit pair
    ``(u, v)`` with ``lower`` a lower bound on its value ``uᵀAv`` (hence on ``σ_max``).

    The one bound on a dense largest singular value that every polar uses (matrix,
    non-negative, dictionary and network polars).

    **Computation.** The input is converted to float64 (integer or long-double input is
    rounded entrywise to relative ``u``, covered by the allowance below).
    ``B = 2^{-e}A`` with ``e`` chosen so that ``max|B| ∈ [1/2, 1)``: a power of two, exact
    except for entries pushed below the normal range, which then err by at most ``η`` each
    (covered like the underflow in step 1), so ``‖B‖²_F ∈ [1/4, mn)`` neither under- nor
    overflows.  With ``k`` the
    smaller and ``p`` the larger dimension, ``M̂ = fl(BᵀB)`` (or ``fl(BBᵀ)``) is ``k × k`` and
    its top eigenpair ``(λ̂, x)`` comes from LAPACK's symmetric eigensolver (``syevr`` through
    :func:`scipy.linalg.eigh`, top index only).

    **Roundoff analysis** (``u = eps/2``, ``γ_p = pu/(1 − pu)``):

    1. *Forming the Gram matrix*: ``|M̂ − BᵀB| ≤ γ_p·|B|ᵀ|B|`` entrywise (dot products of
       length ``p``; Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.5),
       so ``‖M̂ − BᵀB‖₂ ≤ γ_p‖|B|ᵀ|B|‖_F ≤ γ_p‖B‖²_F``.  Gradual underflow adds at most ``p·η``
       per entry (``η`` the smallest subnormal), far below ``u·‖B‖²_F ≥ u/4``.
    2. *Eigensolver*: ``λ̂`` is an exact eigenvalue of ``M̂ + E`` with
       ``‖E‖₂ ≤ c·k·u·‖M̂‖₂`` (backward stability of Householder tridiagonalization and of the
       tridiagonal eigensolver; Demmel, *Applied Numerical Linear Algebra*, §5.3).  The
       published analyses give a modest polynomial in ``k`` with unspecified constants (worst
       case ``O(k²u)``); ``c = 8``, linear in ``k``, is an **assumption** that holds by a wide
       margin in practice (the tests probe it), not a theorem — the one assumed constant of
       this bound.  ``‖M̂‖₂ ≤ (1 + γ_p)‖B‖²_F``.
    3. *Weyl*: ``σ_max(B)² = λ_max(BᵀB) ≤ λ̂ + ‖M̂ − BᵀB‖₂ + ‖E‖₂
       ≤ λ̂ + (p + 8k + 1)·eps·‖B‖²_F`` (for ``pu ≤ 1/4``, ``γ_p ≤ 2pu = p·eps`` and
       ``8ku(1 + γ_p) ≤ (4k + 1)·eps``: the constant is generous), evaluated by
       :func:`_gram_allowance` with ``‖B‖²_F`` inflated for its own rounding.
    4. *Evaluation*: the sum and the square root are rounded up by the factor ``1 + 8·eps``
       (four correctly rounded operations err by less), the result is at least the pair's
       computed value, and the scaling back by ``2^e`` is exact unless it overflows (then
       ``inf``) or lands below the normal range, where it is rounded to nearest: the upper end
       is then moved one subnormal step up (and the lower end one step down).

    The lower end is the computed value ``uᵀBv`` of the returned unit pair minus its rounding
    allowance ``(m + n + 4)·eps·‖B‖_F``, scaled back (so extreme scales neither overflow nor
    underflow it).

    Non-finite entries raise ``ValueError``; the zero matrix gives ``0`` and a unit pair.
    ``tests/test_sigma_max_upper.py`` checks the bound against 50-digit singular values on
    adversarial small matrices, and that the same check catches a weakened bound (no
    allowance, an allowance 1000x too small, or the bound 1e-12 too low: mutation tests).
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"A must be a 2-D array, got shape {A.shape}")
    m, n = A.shape
    if m == 0 or n == 0:
        return 0.0, 0.0, np.zeros(m), np.zeros(n)
    if not np.all(np.isfinite(A)):
        raise ValueError("A contains NaN or infinite values")
    amax = float(np.max(np.abs(A)))
    if amax == 0.0:
        u, v = np.zeros(m), np.zeros(n)
        u[0] = v[0] = 1.0
        return 0.0, 0.0, u, v
    e = int(np.frexp(amax)[1])                       # amax = f·2^e, f ∈ [1/2, 1)
    B = np.ldexp(A, -e)
    left = m <= n                                   # the Gram matrix of the smaller side
    M = B @ B.T if left else B.T @ B
    k, p = M.shape[0], max(m, n)
    w, X = sla.eigh(M, subset_by_index=[k - 1, k - 1])
    lam = max(float(w[-1]), 0.0)
    fro2 = float(np.einsum("ij,ij->", B, B))
    bound = np.sqrt(lam + _gram_allowance(p, k, fro2)) * _ROUND_UP
    x = X[:, -1]
    if left:                                        # the other side from B (no overflow)
        u, v = x, B.T @ x
        nv = float(np.linalg.norm(v))
        v = v / nv if nv > 0 else v
    else:
        v, u = x, B @ x
        nu = float(np.linalg.norm(u))
        u = u / nu if nu > 0 else u
    # the pair's value in B's scale, rounded down: the computed uᵀ(Bv) errs by at most
    # γ_{m+n}|u|ᵀ|B||v| ≤ (m + n)·u·‖B‖_F (unit u, v; Higham §3.5), normalization aside
    value = float(u @ (B @ v))
    value = max(value - (m + n + 4) * float(np.finfo(float).eps) * np.sqrt(fro2), 0.0)
    tiny = float(np.finfo(float).tiny)              # smallest normal number
    with np.errstate(over="ignore", under="ignore"):
        upper = float(np.ldexp(max(bound, value), e))
        lower = float(np.ldexp(value, e))
    if upper < tiny:                                # rounded to nearest below the normal range
        upper = float(np.nextafter(upper, np.inf))
    if 0.0 < lower < tiny:
        lower = float(np.nextafter(lower, 0.0))
    return min(lower, upper), upper, u, v


def _is_small(shape: tuple[int, int]) -> bool:
    return shape[0] * shape[1] <= DENSE_SVD_MAX_ENTRIES or min(shape) <= 2


def spectral_norm(op, *, k: int = 1, tol: float = 1e-5, v0: np.ndarray | None = None,
                  rng: np.random.Generator | None = None, ncv: int | None = None):
    """Top-``k`` singular triplets of a dense or sparse matrix, with a bound on ``σ_max``.

    Returns ``(U, s, V, upper, method)`` with ``s`` in decreasing order.  For small matrices
    ``upper`` is :func:`sigma_max_bracket`'s (the one dense bound); with ``k = 1`` its pair is
    returned too (``s[0]`` = the pair's value), otherwise the triplets come from a dense SVD.
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
        lower, upper, u, v = sigma_max_bracket(A)  # the one dense bound (and the top pair)
        if k == 1:
            return u[:, None], np.array([lower]), v[:, None], upper, "dense-gram-eigh"
        try:
            U, s, Vt = sla.svd(A, full_matrices=False, lapack_driver="gesdd")
        except np.linalg.LinAlgError:  # gesdd occasionally fails to converge; gesvd is robust
            U, s, Vt = sla.svd(A, full_matrices=False, lapack_driver="gesvd")
        return (U[:, :k], s[:k], Vt[:k].T, max(upper, float(s[0])),
                "dense-svd; upper: dense-gram-eigh")
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


def gram_sigma_max_top(S, fro2: float, length: int) -> tuple[float, np.ndarray]:
    """``(upper, x)``: an upper bound on ``σ_max(B) = √λ_max(BᵀB)`` from a Gram matrix ``S``
    computed by the caller, for a ``B`` too large to hold (the network polars' stack of
    per-sample patch matrices, held as the sum of their ``q × q`` Grams:
    :mod:`homfact.nn.polar`; a distributed residual, whose Gram the workers sum:
    :class:`homfact.polar.OperatorNuclearPolar`), and the computed unit top eigenvector ``x``
    of ``S`` (the right singular direction the bound is about; ``e₁`` when ``S = 0``).

    Steps 2–4 of :func:`sigma_max_bracket` with its constants (:func:`_gram_allowance`,
    ``_ROUND_UP``) and its eigensolver (LAPACK ``syevr``, top index only), so the one assumed
    constant stays the eigensolver's; step 1, forming the Gram, is the caller's, who must
    guarantee what :func:`sigma_max_bracket` proves for its own ``fl(BᵀB)``:

    * ``|S − BᵀB| ≤ γ_length·|B|ᵀ|B|`` entrywise (every entry of ``S`` computed from products
      of entries of ``B`` with at most ``length`` roundings on any path, any order), so
      ``‖S − BᵀB‖₂ ≤ γ_length·‖B‖²_F``;
    * ``fro2`` is a computed ``‖B‖²_F`` within relative ``γ_{2·length·k}`` of it (``k × k`` the
      size of ``S``); the allowance inflates it by ``1 + 2·length·k·eps``.

    Then ``σ_max(B)² ≤ λ̂ + (length + 8k + 1)·eps·‖B‖²_F`` as in step 3.  ``S`` and ``fro2``
    are scaled by the same power of four first (exact up to entries pushed below the normal
    range, ``η`` each, far below ``eps·fro2``; ``max(max|S|, fro2) ∈ [1/4, 1)`` after it, so
    neither the eigensolver nor the allowance under- or overflows), and the result is scaled
    back by the power of two, ``inf`` on overflow and one subnormal step up below the normal
    range.  Why a variant: :func:`sigma_max_bracket` needs ``B`` itself (``(N·L) × q``, too
    large for convolution patches), while ``S`` is ``q × q``.
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square 2-D array, got shape {S.shape}")
    if not (np.all(np.isfinite(S)) and np.isfinite(fro2) and fro2 >= 0):
        raise ValueError(f"S must be finite and fro2 a finite number >= 0, got fro2={fro2!r}")
    if not (isinstance(length, int | np.integer) and length >= 1):
        raise ValueError(f"length must be an integer >= 1, got {length!r}")
    k = S.shape[0]
    amax = float(np.max(np.abs(S))) if k else 0.0
    if k == 0 or (amax == 0.0 and fro2 == 0.0):
        x = np.zeros(k)
        if k:
            x[0] = 1.0
        return 0.0, x
    e = (int(np.frexp(max(amax, float(fro2)))[1]) + 1) // 2   # max(amax, fro2)·4^{-e} < 1
    Ss = np.ldexp(S, -2 * e)
    f2 = float(np.ldexp(float(fro2), -2 * e))
    w, X = sla.eigh(Ss, subset_by_index=[k - 1, k - 1])
    lam = max(float(w[-1]), 0.0)
    bound = np.sqrt(lam + _gram_allowance(int(length), k, f2)) * _ROUND_UP
    with np.errstate(over="ignore", under="ignore"):
        upper = float(np.ldexp(bound, e))
    if upper < float(np.finfo(float).tiny):
        upper = float(np.nextafter(upper, np.inf))
    return upper, X[:, -1]


def gram_sigma_max_upper(S, fro2: float, length: int) -> float:
    """The upper bound of :func:`gram_sigma_max_top` alone (same hypotheses, same value)."""
    return gram_sigma_max_top(S, fro2, length)[0]
