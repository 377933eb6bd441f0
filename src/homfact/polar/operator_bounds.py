"""Certified polar brackets for the nuclear-norm polar ``σ_max(A)`` of a LARGE operator.

For an operator known only through products ``x ↦ Ax`` and ``y ↦ Aᵀy`` (a distributed
residual, a big sparse matrix) no Ritz value is ever reported as an upper bound.  This module
gives (docs: theory/polars, 'Operator polars'):

* :func:`lanczos_top_ritz`: plain Lanczos with full reorthogonalization on the PSD Gram operator
  ``x ↦ Aᵀ(Ax)`` from a start vector uniform on the unit sphere, drawn from its own ``rng``;
  the largest Ritz value ``ξ_k ≤ λ₁ = σ_max²`` and its vector (a rigorous *lower* bound);
* :func:`norm_sigma_upper`: the deterministic upper bound ``min(‖A‖_F, √(‖A‖₁‖A‖_∞))`` from exact
  norm information, rounded up;
* :func:`lanczos_failure_probability`, :func:`lanczos_epsilon`, :func:`lanczos_steps_for_accuracy`:
  the random-start bound of Kuczyński & Woźniakowski (1992) in the explicit form proved in
  :func:`lanczos_failure_probability`, which gives ``σ_max ≤ √(ξ_k/(1 − ε))`` with probability
  at least ``1 − δ``;
* :class:`OperatorNuclearPolar`: the :class:`homfact.interfaces.PolarSolver` that puts them
  together (deterministic ``upper``; the probabilistic one in
  :attr:`PolarBound.upper_probabilistic`, with ``δ``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from .core import PolarBound, gram_sigma_max_top

__all__ = [
    "KW92_CONSTANT",
    "LanczosResult",
    "OperatorNuclearPolar",
    "exact_norms",
    "lanczos_epsilon",
    "lanczos_failure_probability",
    "lanczos_failure_probability_kw92",
    "lanczos_steps_for_accuracy",
    "lanczos_top_ritz",
    "norm_sigma_upper",
]

_EPS = float(np.finfo(float).eps)
#: the smallest positive subnormal double: an upper bound on the absolute rounding error of
#: a product or sum whose exact result lies below the normal range
_ETA = float(np.nextafter(0.0, 1.0))
#: the constant of the published form ``1.648·√n·e^{−√ε(2k−1)}`` (Kuczyński & Woźniakowski
#: 1992, as quoted in the literature; 1.648 ≈ √e).  Kept for comparison only: the bound
#: used here is :func:`lanczos_failure_probability`, proved in its docstring.
KW92_CONSTANT = 1.648


# ------------------------------------------------------------------------------------------
# Lanczos on the Gram operator
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LanczosResult:
    """Output of :func:`lanczos_top_ritz`.

    ``ritz_value`` is the computed largest eigenvalue ``ξ̂`` of the ``k × k`` tridiagonal
    ``T_k`` (``k = n_steps`` the Krylov dimension actually built), ``ritz_vector`` its unit Ritz
    vector ``Q_k y``, ``n_products`` the number of calls of ``apply_gram``, ``residual`` the
    Lanczos residual ``|β_k y_k|`` (``‖Gx − ξ̂x‖`` in exact arithmetic; a diagnostic, never a
    bound here), ``invariant`` whether the Krylov space became invariant (``β_j = 0`` up to
    rounding: ``ξ̂`` is then an exact eigenvalue of the Gram operator up to rounding).
    """

    ritz_value: float
    ritz_vector: np.ndarray
    n_steps: int
    n_products: int
    residual: float
    invariant: bool


def lanczos_top_ritz(apply_gram: Callable[[np.ndarray], np.ndarray], dim: int, n_steps: int,
                     rng: np.random.Generator) -> LanczosResult:
    """Largest Ritz value of ``k = n_steps`` steps of Lanczos on a PSD operator ``x ↦ Gx``.

    ``apply_gram`` computes ``Gx`` for ``x ∈ ℝ^dim`` (for ``G = AᵀA``: ``Aᵀ(Ax)``; each call may
    be a distributed tree reduction, so the calls are counted: exactly one per step).  The
    start vector is ``b = g/‖g‖`` with ``g ~ N(0, I_dim)`` drawn from ``rng``: uniform on the
    unit sphere (the Gaussian is rotation invariant).  Nothing else is drawn from ``rng`` and
    nothing else (no warm start) enters ``b``: the random-start bound
    (:func:`lanczos_failure_probability`) needs ``b`` independent of ``G``.

    Each step ``w = G q_j`` is orthogonalized against *all* previous Lanczos vectors by
    classical Gram–Schmidt applied twice ("twice is enough": Giraud, Langou & Rozložník,
    *Comput. Math. Appl.* 50 (2005)), which keeps ``Q_k`` orthonormal to working precision; the
    coefficients of the first pass give ``α_j`` (and ``T_k`` is symmetrized from the three-term
    recurrence, ``β_j = ‖w‖``).  A step with ``β_j ≤ 64·eps·‖T‖`` ends the run: the Krylov
    space is invariant (an event of probability zero in exact arithmetic unless ``G`` has fewer
    than ``k`` distinct eigenvalues in the span of ``b``), and the Ritz value is then an
    eigenvalue.  The largest eigenpair of ``T_k`` comes from LAPACK (``stemr`` through
    :func:`scipy.linalg.eigh_tridiagonal`).

    Memory: ``dim × k`` floats for ``Q_k`` (``10⁶ × 315`` is 2.5 GB).
    """
    if not isinstance(dim, int | np.integer) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    k_max = int(min(n_steps, dim))
    g = rng.standard_normal(int(dim))
    q = g / np.linalg.norm(g)
    Q = np.empty((int(dim), k_max))
    alpha, beta = [], []
    n_products, invariant, tnorm = 0, False, 0.0
    for j in range(k_max):
        Q[:, j] = q
        w = np.asarray(apply_gram(q), dtype=float).reshape(-1)
        n_products += 1
        if w.shape[0] != dim or not np.all(np.isfinite(w)):
            raise ValueError("apply_gram must return a finite vector of length dim")
        Qj = Q[:, : j + 1]
        c = Qj.T @ w
        w = w - Qj @ c
        c2 = Qj.T @ w
        w = w - Qj @ c2
        alpha.append(float(c[j] + c2[j]))
        b = float(np.linalg.norm(w))
        tnorm = max(tnorm, abs(alpha[-1]) + b + (beta[-1] if beta else 0.0))
        if j + 1 == k_max:
            beta.append(b)
            break
        if b <= 64.0 * _EPS * tnorm:
            invariant = True
            beta.append(b)
            break
        beta.append(b)
        q = w / b
    k = len(alpha)
    a = np.asarray(alpha)
    off = np.asarray(beta[: k - 1])
    if k == 1:
        theta, y = float(a[0]), np.ones(1)
    else:
        ws, Y = sla.eigh_tridiagonal(a, off, select="i", select_range=(k - 1, k - 1))
        theta, y = float(ws[-1]), Y[:, -1]
    x = Q[:, :k] @ y
    x /= np.linalg.norm(x)
    return LanczosResult(ritz_value=theta, ritz_vector=x, n_steps=k, n_products=n_products,
                         residual=abs(beta[k - 1] * float(y[-1])), invariant=invariant)


# ------------------------------------------------------------------------------------------
# deterministic bound from exact norms
# ------------------------------------------------------------------------------------------
def _sum_factor(n_terms: int) -> float:
    """``1 + (N + 1)·eps``: an exact sum ``s`` of ``N`` non-negative terms, each a correctly
    rounded product or absolute value, satisfies ``s ≤ ŝ·(1 + (N + 1)·eps) + N·η`` for its
    computed value ``ŝ`` in any summation order (any tree): ``|ŝ − s| ≤ γ_N·s`` with
    ``γ_N = Nu/(1 − Nu) ≤ 2Nu = N·eps`` for ``Nu ≤ 1/4`` (Higham, *Accuracy and Stability of
    Numerical Algorithms*, 2nd ed., §4.2 and §3.1; ``u = eps/2``), the extra ``eps`` covering
    the terms' own rounding, and each term that lands below the normal range errs by at most
    ``η`` (the smallest subnormal).  ``inf`` when ``Nu > 1/4``."""
    n = max(int(n_terms), 1)
    return math.inf if n * _EPS / 2 > 0.25 else 1.0 + (n + 1) * _EPS


def norm_sigma_upper(fro: float | None = None, one: float | None = None,
                     inf: float | None = None, *, n_fro: int = 1, n_one: int = 1,
                     n_inf: int = 1) -> float:
    """Deterministic upper bound ``min(‖A‖_F, √(‖A‖₁‖A‖_∞))`` on ``σ_max(A)``, rounded up.

    Inputs are the *computed* ``‖A‖_F``, ``‖A‖₁ = max_j Σ_i|a_ij|``, ``‖A‖_∞ = max_i Σ_j|a_ij|``
    (any may be ``None``: unknown; ``inf``: overflowed) and the number of terms of the sum
    behind each one (``n_fro`` squares, ``n_one`` entries per column sum, ``n_inf`` entries per
    row sum).

    Why each inequality holds:

    * ``σ_max(A) ≤ ‖A‖_F``: ``‖A‖²_F = Σᵢσᵢ²``;
    * ``σ_max(A)² ≤ ‖A‖₁‖A‖_∞``: ``σ_max² = ρ(AᵀA) ≤ ‖AᵀA‖₁ ≤ ‖Aᵀ‖₁‖A‖₁ = ‖A‖_∞‖A‖₁``
      (a spectral radius is at most any induced norm, which is submultiplicative; Golub & Van
      Loan, *Matrix Computations*, 4th ed., §2.3.3, Corollary 2.3.2).

    Rounding (:func:`_sum_factor` for each sum): the computed ``‖A‖_F = fl(√ŝ)`` gives
    ``‖A‖_F ≤ √(ŝ·f + Nη) ≤ fro·(1 + 2·eps)·√f + √(Nη)`` (``√(a+b) ≤ √a + √b``); the 1-∞ bound is
    evaluated as ``√one·√inf`` (no overflow or underflow of the product), each factor
    inflated by ``√f_·`` and the absolute ``√(Nη)``; every result is multiplied by
    ``1 + 8·eps`` for the few roundings of the evaluation itself.  Returns ``inf`` when no
    norm is known.  Negative or NaN inputs raise ``ValueError``.
    """
    for name, val in (("fro", fro), ("one", one), ("inf", inf)):
        if val is not None and not (val >= 0):
            raise ValueError(f"{name} must be a number >= 0 or None, got {val!r}")

    def up(value: float, n_terms: int) -> float:      # bound on the exact square root
        return (float(value) * (1.0 + 2.0 * _EPS) * math.sqrt(_sum_factor(n_terms))
                + math.sqrt((max(int(n_terms), 1) + 1) * _ETA))

    best = math.inf
    if fro is not None:
        best = min(best, up(fro, n_fro) * (1.0 + 8.0 * _EPS))
    if one is not None and inf is not None:
        root_one = up(math.sqrt(float(one)), n_one)
        root_inf = up(math.sqrt(float(inf)), n_inf)
        best = min(best, root_one * root_inf * (1.0 + 8.0 * _EPS))
    return float(best)


def exact_norms(op) -> tuple[float | None, float | None, float | None, int, int, int]:
    """``(fro, one, inf, n_fro, n_one, n_inf)`` for :func:`norm_sigma_upper`.

    If ``op`` has methods ``fro_norm()``, ``one_norm()``, ``inf_norm()`` (a distributed
    operator computing them by exact-data reductions) they are used, with term counts
    ``op.nnz`` (or ``m·n``), ``m`` and ``n``; otherwise they are computed from a scipy.sparse
    matrix or a dense array; otherwise (a bare ``LinearOperator``) they are ``None``.
    """
    m, n = (int(s) for s in op.shape)
    nnz = int(getattr(op, "nnz", m * n) or 0) or 1
    counts = (nnz, m, n)
    if any(hasattr(op, name) for name in ("fro_norm", "one_norm", "inf_norm")):
        vals = tuple(float(getattr(op, name)()) if hasattr(op, name) else None
                     for name in ("fro_norm", "one_norm", "inf_norm"))
        return (*vals, *counts)
    if sp.issparse(op):
        A = sp.csr_array(op, dtype=float)
        data = np.abs(A.data)
        fro = float(np.sqrt(np.sum(data * data)))
        absA = abs(A)
        one = float(np.max(absA.sum(axis=0), initial=0.0))
        inf = float(np.max(absA.sum(axis=1), initial=0.0))
        return fro, one, inf, max(A.nnz, 1), m, n
    if isinstance(op, np.ndarray):
        A = np.abs(np.asarray(op, dtype=float))
        return (float(np.sqrt(np.sum(A * A))), float(np.max(A.sum(axis=0), initial=0.0)),
                float(np.max(A.sum(axis=1), initial=0.0)), max(m * n, 1), m, n)
    return None, None, None, *counts


# ------------------------------------------------------------------------------------------
# the random-start bound
# ------------------------------------------------------------------------------------------
def lanczos_failure_probability(eps: float, k: int, n: int) -> float:
    """``P{ξ_k < (1 − ε)λ₁} ≤ √(2(n−1)/π) / sinh((2k − 1)·artanh √ε)`` (capped at 1).

    **Statement.**  ``G`` an ``n × n`` symmetric positive semi-definite matrix with largest
    eigenvalue ``λ₁``, ``b`` uniform on the unit sphere of ``ℝⁿ``, ``ξ_k`` the largest
    eigenvalue of ``G`` restricted to the Krylov space ``K_k = span{b, Gb, …, G^{k−1}b}``
    (exact arithmetic; ``k`` products with ``G``), ``ε ∈ (0, 1)``.  This is the
    Kuczyński–Woźniakowski bound for the Lanczos algorithm with a random start (J. Kuczyński,
    H. Woźniakowski, *SIAM J. Matrix Anal. Appl.* 13(4):1094–1122, 1992; tech. report
    CUCS-465-89, Columbia University, 1989, abstract: "the probabilistic relative failure ...
    goes to zero ... at most as √n e^{−(2k−1)√ε} for the Lanczos algorithm"; the paper's form
    is usually quoted as ``1.648·√n·e^{−√ε(2k−1)}``, :func:`lanczos_failure_probability_kw92`),
    re-derived here with explicit constants, so that the bound used rests on the proof below:

    **Proof.**  Scale ``λ₁ = 1`` (the event is scale invariant).  ``ξ_k ≥`` the Rayleigh quotient
    of ``p(G)b`` for every polynomial ``p`` of degree ``≤ k − 1`` with ``p(G)b ≠ 0``.  With
    eigen-coordinates ``β_i`` of ``b``, ``R(p) ≥ 1 − ε`` iff
    ``Σ_i β_i² p(λ_i)² (λ_i − 1 + ε) ≥ 0``; terms with ``λ_i ≥ 1 − ε`` are ``≥ 0``, so it suffices
    that ``β₁² p(1)² ε ≥ Σ_{λ_i < 1−ε} β_i² p(λ_i)² (1 − ε − λ_i)``.  Take
    ``s(x) = √((1 − ε − x)/(1 − ε))`` and ``p(x) = T_{2k−1}(s)/s`` (``T_m`` the Chebyshev
    polynomial; ``T_{2k−1}(s)/s`` is even of degree ``2k − 2`` in ``s``, hence a real polynomial
    of degree ``k − 1`` in ``x``).  For ``x ∈ [0, 1 − ε]``, ``s ∈ [0, 1]`` and
    ``p(x)²(1 − ε − x) = (1 − ε)T_{2k−1}(s)² ≤ 1 − ε`` (here ``G ⪰ 0`` is used).  At ``x = 1``,
    ``s = iσ`` with ``σ = √(ε/(1−ε))`` and ``|T_m(iσ)| = sinh(m·arsinh σ)`` for odd ``m``, so
    ``p(1)² ε = (1 − ε) S²`` with ``S = sinh((2k − 1)·arsinh σ) = sinh((2k − 1)·artanh √ε)``.
    Hence failure implies ``β₁² S² < Σ_{i≥2} β_i²``.  With ``b = g/‖g‖``, ``g ~ N(0, Iₙ)``, this
    is ``|g₁| < χ/S`` with ``χ = ‖(g₂,…,gₙ)‖`` independent of ``g₁``; the density of ``g₁`` is at
    most ``1/√(2π)``, so the probability is at most ``E[2χ/(S√(2π))] ≤ √(2/π)·√(n − 1)/S``
    (Jensen: ``E χ ≤ √(n − 1)``).  ∎

    For ``(2k − 1)√ε ≥ 1.72`` this is at most the published ``1.648·√n·e^{−√ε(2k−1)}``
    (``sinh y ≥ e^y(1 − e^{−2y})/2`` and ``artanh t ≥ t``; checked in the tests).

    Assumed: exact arithmetic (floating point is covered separately, by the allowance of
    :class:`OperatorNuclearPolar`), ``b`` exactly uniform on the sphere and independent of ``G``.
    """
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    if k < 1 or n < 1:
        raise ValueError(f"k and n must be >= 1, got k={k!r}, n={n!r}")
    if n == 1:
        return 0.0
    y = (2 * k - 1) * math.atanh(math.sqrt(eps))
    if y > 700:
        return 0.0
    return min(1.0, math.sqrt(2.0 * (n - 1) / math.pi) / math.sinh(y))


def lanczos_failure_probability_kw92(eps: float, k: int, n: int) -> float:
    """The published form ``min(1, 1.648·√n·e^{−√ε(2k−1)})`` (for comparison and tests only)."""
    return min(1.0, KW92_CONSTANT * math.sqrt(n) * math.exp(-math.sqrt(eps) * (2 * k - 1)))


def lanczos_epsilon(delta: float, k: int, n: int) -> float:
    """The smallest ``ε`` with ``lanczos_failure_probability(ε, k, n) ≤ δ``, rounded up.

    Solving ``√(2(n−1)/π)/sinh((2k − 1)·artanh √ε) = δ``:
    ``ε = tanh²(arsinh(√(2(n−1)/π)/δ)/(2k − 1))``; ``0`` for ``n = 1`` (the Krylov space is the
    whole space).  The computed value is inflated by ``1 + 64·eps`` (``tanh``, ``arsinh`` and the
    divisions are accurate to a few ulps), so the probability at the returned ``ε`` is ``≤ δ``.
    Then ``λ₁ ≤ ξ_k/(1 − ε)`` with probability ``≥ 1 − δ``.
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if k < 1 or n < 1:
        raise ValueError(f"k and n must be >= 1, got k={k!r}, n={n!r}")
    if n == 1:
        return 0.0
    c = math.sqrt(2.0 * (n - 1) / math.pi)
    t = math.tanh(math.asinh(c / delta) / (2 * k - 1))
    return min(t * t * (1.0 + 64.0 * _EPS), 1.0)


def lanczos_steps_for_accuracy(rel_accuracy: float, delta: float, n: int) -> int:
    """Steps ``k`` so that ``√(ξ_k/(1 − ε)) ≤ (1 + rel_accuracy)·σ_max`` at confidence ``1 − δ``.

    Since ``ξ_k ≤ λ₁``, the probabilistic bound overestimates ``σ_max`` by at most the factor
    ``1/√(1 − ε)``; it is ``≤ 1 + τ`` for ``ε ≤ 1 − 1/(1 + τ)²``, and
    :func:`lanczos_epsilon` reaches that ``ε`` once
    ``2k − 1 ≥ arsinh(√(2(n−1)/π)/δ)/artanh √ε``.  For ``n = 10⁶``, ``δ = 10⁻⁹``,
    ``τ = 10⁻³``: ``k = 315`` products with ``AᵀA`` (the floating-point allowance of
    :class:`OperatorNuclearPolar` comes on top).
    """
    if not rel_accuracy > 0:
        raise ValueError(f"rel_accuracy must be > 0, got {rel_accuracy!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if n <= 1:
        return 1
    eps = 1.0 - 1.0 / (1.0 + rel_accuracy) ** 2
    c = math.sqrt(2.0 * (n - 1) / math.pi)
    m = math.asinh(c / delta) / math.atanh(math.sqrt(eps))
    k = max(1, math.ceil((m + 1.0) / 2.0))
    while lanczos_epsilon(delta, k, n) > eps:      # the inflation of lanczos_epsilon
        k += 1
    return k


# ------------------------------------------------------------------------------------------
# the polar solver
# ------------------------------------------------------------------------------------------
def _as_operator(op) -> LinearOperator:
    if hasattr(op, "matvec") and hasattr(op, "rmatvec") and hasattr(op, "shape"):
        return op
    if sp.issparse(op) or isinstance(op, np.ndarray):
        return aslinearoperator(sp.csr_array(op, dtype=float) if sp.issparse(op)
                                else np.asarray(op, dtype=float))
    raise TypeError("op must have .shape, .matvec and .rmatvec (a scipy LinearOperator), or be "
                    f"a scipy.sparse matrix or a numpy array; got {type(op).__name__}")


class OperatorNuclearPolar:
    """Nuclear-norm polar ``σ_max(A)`` of a large operator, with no Ritz value as upper bound.

    Called as ``polar(op, n_candidates=1, rng=None, warm_start=None)`` (the
    :class:`homfact.interfaces.PolarSolver` protocol) with ``op`` an object with ``.shape``,
    ``.matvec(x)``, ``.rmatvec(y)`` (a scipy ``LinearOperator``), a scipy.sparse matrix or an
    array.  Runs :func:`lanczos_top_ritz` on the Gram operator of the smaller side
    (``d = min(m, n)``; each step one ``matvec`` and one ``rmatvec``) and returns a
    :class:`PolarBound` with

    * ``lower``: a rigorous lower bound on ``σ_max``: for the unit Ritz vector ``x̂`` (computed)
      and ``ŵ = fl(Ax̂)``, ``‖ŵ − Ax̂‖ ≤ γ_p‖A‖_F‖x̂‖ ≤ γ_p√d·σ_max‖x̂‖`` (each entry a dot
      product of at most ``p = max(m, n)`` terms, any summation order; Higham §3.5), so
      ``σ_max ≥ ‖ŵ‖/(‖x̂‖(1 + γ_p√d))``, evaluated with the norms' own rounding
      (``(d + 2)·eps``) and rounded down.  It is the value ``uᵀAx̂`` of the returned unit pair
      ``(u, v) = (ŵ/‖ŵ‖, x̂)`` (or swapped) up to that same relative allowance;
    * ``upper``: the deterministic :func:`norm_sigma_upper` from :func:`exact_norms`
      (``inf`` for a bare ``LinearOperator``), at least ``lower``;
    * ``upper_probabilistic``: ``√((ξ̂ + η)/(1 − ε))`` rounded up, with ``ε`` =
      :func:`lanczos_epsilon` ``(δ, k, d)``, valid with probability ``≥ 1 − δ`` over the start
      vector, capped at ``upper`` (then valid with certainty) and raised to ``lower``
      (``ε = 0`` when ``k = d``: the Krylov space is then the whole space and ``T_d`` is
      similar to the Gram matrix, whatever the start);
    * ``delta`` = ``δ`` and ``allow_probabilistic`` as given.

    **Floating point (an assumption, not a theorem).**  The random-start bound is about the
    exact-arithmetic Ritz value ``ξ_k(b)``.  With full reorthogonalization the computed
    ``ξ̂`` is assumed to satisfy ``ξ̂ ≥ ξ_k(b) − η`` with
    ``η = (p_G + 8k + 1)·eps·‖A‖²_F``, ``p_G = m + n`` the length of a Gram product's longest
    chain of roundings: the same form and constant as the one assumed constant of
    :func:`homfact.polar.sigma_max_bracket` (each product errs by at most ``γ_{p_G}‖A‖²_F``; the
    tridiagonal eigensolver and the reorthogonalization are backward stable).  ``‖A‖²_F`` is
    the deterministic Frobenius bound when known, else ``d·λ₁`` (``rank ≤ d``), which gives
    ``λ₁ ≤ ξ̂/(1 − ε − (p_G + 8k + 1)·eps·d)``.  ``tests/test_operator_bounds.py`` probes it.

    **Small Gram side: a deterministic, tight bound instead.**  When ``d ≤ gram_max_dim``
    and the Gram matrix can be formed — ``op`` has a method ``gram_matrix()`` returning
    ``(S, fro2, length)`` (a distributed operator sums its blocks' Grams on the workers:
    :meth:`homfact.distributed.BlockOperator.gram_matrix`), or ``op`` is a scipy.sparse matrix
    or an array — no Lanczos run is made: ``S`` is the ``d × d`` Gram ``AᵀA`` (or ``AAᵀ``)
    with ``|S − exact| ≤ γ_length·|A|ᵀ|A|`` entrywise and ``fro2`` a computed ``‖A‖²_F``, the
    hypotheses of :func:`homfact.polar.core.gram_sigma_max_top`, whose bound (the one audited
    dense bound: top eigenvalue of ``S`` plus the roundoff allowance, with the eigensolver's
    one assumed constant) is ``upper`` (its minimum with the norm bound) and whose top
    eigenvector gives the pair and ``lower`` as above.  ``upper_probabilistic = upper``
    (nothing is probabilistic).  Cost: one pass over ``A`` and a ``d × d`` eigenproblem
    (``d = 2048``: 32 MB per block piece, about 1 s), against ``k`` products for Lanczos.

    Options: ``n_steps`` (Lanczos steps ``k``; default from ``rel_accuracy`` by
    :func:`lanczos_steps_for_accuracy`, capped at ``max_steps`` and ``d``), ``delta``
    (default ``1e-9``), ``allow_probabilistic`` (default ``False``: the certificate never
    rests on the probabilistic bound unless the user opts in).  ``rng``: the start vector's
    generator; ``None`` draws fresh OS entropy (the guarantee is over that draw); a given
    generator must not have been used to build ``op`` from its own future draws (any
    ``numpy`` generator passed along a fit is fine: ``op`` is fixed before the draw).
    ``gram_max_dim`` (default 2048; ``0`` turns the Gram path off): the largest Gram side
    ``d`` formed as a dense matrix.
    ``warm_start`` is ignored (a start that depends on ``op`` voids the bound).
    ``n_candidates``: on the Gram path, the next ``n_candidates − 1`` eigenvectors of the
    formed Gram give further candidate pairs (:func:`_gram_candidates`; one block product
    where the operator has ``matmat``);
    on the Lanczos path it is ignored (only the top pair is returned).
    """

    def __init__(self, n_steps: int | None = None, *, rel_accuracy: float = 1e-3,
                 delta: float = 1e-9, allow_probabilistic: bool = False, max_steps: int = 400,
                 gram_max_dim: int = 2048):
        if n_steps is not None and (not isinstance(n_steps, int | np.integer) or n_steps < 1):
            raise ValueError(f"n_steps must be an integer >= 1 or None, got {n_steps!r}")
        if not (isinstance(rel_accuracy, int | float) and rel_accuracy > 0):
            raise ValueError(f"rel_accuracy must be a number > 0, got {rel_accuracy!r}")
        if not (isinstance(delta, int | float) and 0 < delta < 1):
            raise ValueError(f"delta must be a number in (0, 1), got {delta!r}")
        if not isinstance(allow_probabilistic, bool):
            raise TypeError(f"allow_probabilistic must be a bool, got {allow_probabilistic!r}")
        if not isinstance(max_steps, int | np.integer) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        if not isinstance(gram_max_dim, int | np.integer) or isinstance(gram_max_dim, bool) \
                or gram_max_dim < 0:
            raise ValueError(f"gram_max_dim must be an integer >= 0, got {gram_max_dim!r}")
        self.gram_max_dim = int(gram_max_dim)
        self.n_steps, self.rel_accuracy, self.delta = n_steps, float(rel_accuracy), float(delta)
        self.allow_probabilistic, self.max_steps = allow_probabilistic, int(max_steps)
        self.last_result: LanczosResult | None = None

    def steps_for(self, d: int) -> int:
        """The Lanczos steps used on a Gram operator of size ``d``."""
        k = self.n_steps if self.n_steps is not None else min(
            lanczos_steps_for_accuracy(self.rel_accuracy, self.delta, d), self.max_steps)
        return int(min(k, d))

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        A = _as_operator(op)
        norms = exact_norms(op)
        m, n = (int(s) for s in A.shape)
        if m == 0 or n == 0:
            return PolarBound(0.0, 0.0, (np.zeros(m), np.zeros(n)), "empty operator")
        rng = np.random.default_rng() if rng is None else rng
        upper = norm_sigma_upper(norms[0], norms[1], norms[2], n_fro=norms[3], n_one=norms[4],
                                 n_inf=norms[5])
        right = n <= m                                   # Gram side: ℝⁿ (AᵀA) or ℝᵐ (AAᵀ)
        d, p = (n, m) if right else (m, n)
        fwd, bwd = (A.matvec, A.rmatvec) if right else (A.rmatvec, A.matvec)

        def gram(x: np.ndarray) -> np.ndarray:
            return np.asarray(bwd(np.asarray(fwd(x), dtype=float).reshape(-1)),
                              dtype=float).reshape(-1)

        gram_bound = self._gram_bound(op, right, d, p) if d <= self.gram_max_dim else None
        if gram_bound is not None:
            res = None
            x = gram_bound[1]
            cands = _gram_candidates(A, gram_bound[3], right, int(n_candidates))
        else:
            res = lanczos_top_ritz(gram, d, self.steps_for(d), rng)
            x = res.ritz_vector
        self.last_result = res
        w = np.asarray(fwd(x), dtype=float).reshape(-1)
        nw, nx = float(np.linalg.norm(w)), float(np.linalg.norm(x))
        gam = p * _EPS                                    # ≥ γ_p (u = eps/2, pu ≤ 1/4)
        lower = 0.0
        if nw > 0:
            lower = (nw * (1.0 - (p + 2) * _EPS)
                     / (nx * (1.0 + (d + 2) * _EPS) * (1.0 + gam * math.sqrt(d)))) * (1 - 4 * _EPS)
            lower = max(lower, 0.0)
            u = w / nw
        else:
            u = np.zeros(p)
            u[0] = 1.0
        pair = (u, x) if right else (x, u)
        if gram_bound is not None:
            upper = max(min(upper, gram_bound[0]), lower)
            return PolarBound(float(lower), float(upper), pair,
                              f"gram(d={d}, {gram_bound[2]}): upper: top eigenvalue of the "
                              f"formed Gram + roundoff allowance (deterministic); lower: its "
                              f"eigenvector's pair", candidates=cands,
                              upper_probabilistic=float(upper),
                              delta=self.delta, allow_probabilistic=self.allow_probabilistic)
        upper = max(upper, lower)
        # k = d: Q_d is square and T_d = Q_dᵀ G Q_d is similar to G, so ξ = λ₁ for any start
        eps_kw = 0.0 if res.n_steps >= d else lanczos_epsilon(self.delta, res.n_steps, d)
        a = (m + n + 8 * res.n_steps + 1) * _EPS
        xi = max(res.ritz_value, 0.0)
        cands = []
        fro_bound = _fro_only(norms)
        if math.isfinite(fro_bound) and eps_kw < 1.0:      # η with ‖A‖²_F known
            cands.append((xi + a * fro_bound ** 2 * (1.0 + 4.0 * _EPS)) / (1.0 - eps_kw))
        denom = 1.0 - eps_kw - a * d                       # η with ‖A‖²_F ≤ d·λ₁
        if denom > 0:
            cands.append(xi / denom)
        # the few roundings of the quotient, the square root and 1 − ε: factor 1 + 8·eps
        lam_up = min(cands) * (1.0 + 8.0 * _EPS) if cands else math.inf
        prob = math.sqrt(lam_up) * (1.0 + 4.0 * _EPS) if math.isfinite(lam_up) else math.inf
        prob = min(max(prob, lower), upper)
        method = (f"lanczos(k={res.n_steps}, products={res.n_products + 1}, full reorth); "
                  f"lower: ritz pair; upper: min(fro, sqrt(one*inf))"
                  f"{'' if math.isfinite(upper) else ' unavailable'}; probabilistic upper: "
                  f"Kuczynski-Wozniakowski random start, delta={self.delta:g}, "
                  f"eps={eps_kw:.3g}")
        return PolarBound(float(lower), float(upper), pair, method,
                          upper_probabilistic=float(prob), delta=self.delta,
                          allow_probabilistic=self.allow_probabilistic)


    @staticmethod
    def _gram_bound(op, right: bool, d: int, p: int
                    ) -> tuple[float, np.ndarray, str, np.ndarray] | None:
        """``(upper, x, how, S)`` of :func:`gram_sigma_max_top` on the formed ``d × d`` Gram
        ``S``, or ``None`` when ``op`` offers no way to form it.

        ``op.gram_matrix()`` states its own ``length``; for a scipy.sparse matrix or an array
        the Gram is ``fl(AᵀA)`` (or ``fl(AAᵀ)``): each entry a sum of ``p`` products, so at
        most ``p`` roundings on any path (any order), and ``fro2 = fl(Σ a²)`` over at most
        ``p·d ≤ 2·p·d`` terms, the hypotheses of :func:`gram_sigma_max_top` with
        ``length = p``.
        """
        if callable(getattr(op, "gram_matrix", None)):
            S, fro2, length = op.gram_matrix()
            how = "summed on the workers"
        elif sp.issparse(op):
            A = sp.csr_array(op, dtype=float)
            S = ((A.T @ A) if right else (A @ A.T)).toarray()
            fro2, length, how = float(A.data @ A.data), p, "scipy.sparse"
        elif isinstance(op, np.ndarray):
            A = np.asarray(op, dtype=float)
            S = A.T @ A if right else A @ A.T
            fro2, length, how = float(np.vdot(A, A)), p, "dense"
        else:
            return None
        S = np.asarray(S, dtype=float)
        if S.shape != (d, d):
            raise ValueError(f"gram_matrix() must return the {d}x{d} Gram of the smaller side, "
                             f"got shape {S.shape}")
        upper, x = gram_sigma_max_top(S, float(fro2), int(length))
        return upper, x, how, S


def _gram_candidates(A, S: np.ndarray, right: bool, n_candidates: int
                     ) -> tuple[tuple[tuple[np.ndarray, np.ndarray], float], ...]:
    """Further growth candidates from the formed Gram: the eigenvectors ``x₂, …, x_k`` of ``S``
    after the top one (``k = n_candidates``, decreasing eigenvalue) and their pairs
    ``(Ax_j/‖Ax_j‖, x_j)`` (or swapped) of value ``‖Ax_j‖``, with one block product where the
    operator has ``matmat``/``rmatmat`` (one pass, a tree reduction on a cluster), else
    ``k − 1`` products.  A second ``eigh`` on the Gram :func:`gram_sigma_max_top` already
    decomposed (its top vector only): a cost, not a correctness matter.  They only steer
    growth (feasible unit pairs; no bound rests on them)."""
    d = S.shape[0]
    k = min(int(n_candidates), d)
    if k <= 1:
        return ()
    _, X = sla.eigh(S, subset_by_index=[d - k, d - 2])    # ascending: reversed below
    X = np.ascontiguousarray(X[:, ::-1])
    name = "matmat" if right else "rmatmat"
    if callable(getattr(A, name, None)):
        W = np.asarray(getattr(A, name)(X), dtype=float).reshape(-1, k - 1)
    else:                                                  # a bare matvec/rmatvec object
        one = A.matvec if right else A.rmatvec
        W = np.column_stack([np.asarray(one(x), dtype=float).reshape(-1) for x in X.T])
    out = []
    for j in range(k - 1):
        nw = float(np.linalg.norm(W[:, j]))
        if nw > 0:
            u = W[:, j] / nw
            out.append(((u, X[:, j]) if right else (X[:, j], u), nw))
    return tuple(sorted(out, key=lambda c: -c[1]))


def _fro_only(norms) -> float:
    """The deterministic Frobenius bound alone (``inf`` when unknown)."""
    return norm_sigma_upper(norms[0], n_fro=norms[3]) if norms[0] is not None else math.inf
