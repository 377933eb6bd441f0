"""Data-driven inputs of the ``λ`` rules that do not live in :mod:`homfact.noise`: the ``λ_max``
rules (the smallest ``λ`` with the zero solution) of the models with a problem builder, how many
singular values exceed the noise edge (the guard of the non-negative factorization's noise
rule), the noise level of a tensor, and the bracket on the CP model's ``λ_max``.

Every ``λ_max`` rule read by :mod:`homfact.registry` returns one ``float``:

* exact (``λ ≥ value`` gives the zero solution, and no smaller ``λ`` does):
  :func:`low_rank_lam_max`, :func:`completion_lam_max`, :func:`split_lam_max` /
  :func:`rpca_lam_max` (all :func:`zero_solution_lam_max` of their problem at ``λ = 0``), and
  :func:`nonnegative_lam_max` (``‖X‖₂``, the rigorous upper end of a
  ``10⁻⁵`` bracket);
* a rigorous upper bound (``λ ≥ value`` certainly gives the zero solution, a smaller ``λ``
  may too; the exact value is NP-hard): :func:`cp_lam_max_upper` (a tensor spectral norm) and
  :func:`dictionary_lam_max` (a sparse-PCA value).

Every rule of every model lives here (the estimators re-export theirs); this module imports
no model.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as sp

from .gauges import L2
from .losses import SquaredLoss
from .noise import (
    estimate_noise_level,
    estimate_signal_noise_level,
    noise_spectral_norm,
    robust_scale,
    universal_threshold,
)
from .polar import CPGrowthPolar, PolarBound, sigma_max_upper
from .polar.dictionary import ElasticNetL2Polar, noise_polar_level
from .polar.nonnegative import _sigma_max
from .problems import (
    ObservedMatrix,
    _check_gamma,
    completion_problem,
    cp_problem,
    low_rank_problem,
)
from .validation import _check_nonnegative_matrix, _check_real_matrix

__all__ = ["completion_lam_max", "cp_lam_max", "cp_lam_max_upper", "low_rank_lam_max",
           "rpca_lam_max", "split_lam_max", "tensor_noise_level", "zero_solution_lam_max"]


def zero_solution_lam_max(problem) -> float:
    """``λ_max = Ω°(−∇ℓ(0))``, the polar of the negative loss gradient at the zero factors.

    For the low-rank and completion models ``∇ℓ(0) = −Y`` (resp. ``−P_Ω Y``) and the ℓ2/ℓ2
    polar is the spectral norm; the value is an exact top singular value (dense SVD or ARPACK
    to tolerance), so the polar's lower bound is the value.
    """
    g = problem.loss.neg_gradient(problem.mapping.forward(
        [np.zeros((n, 0)) for n in problem.mapping.block_sizes]))
    return float(problem.polar(problem.mapping.operator(g)).lower)


def low_rank_lam_max(Y) -> float:
    """Exact ``λ_max = ‖Y‖₂`` of ``½‖Y − UVᵀ‖² + λΣ‖uᵢ‖‖vᵢ‖`` (:func:`zero_solution_lam_max`)."""
    return zero_solution_lam_max(low_rank_problem(Y, 0.0))


def completion_lam_max(obs) -> float:
    """Exact ``λ_max = ‖P_Ω Y‖₂`` of the completion model on the observed entries ``obs``
    (:func:`zero_solution_lam_max`)."""
    return zero_solution_lam_max(completion_problem(obs, 0.0))


def split_lam_max(obs: ObservedMatrix, gamma: float) -> float:
    """Smallest split-form ``λ`` with the zero solution: ``‖γ·clip(P_Ω Y, ±1/γ)‖₂``.

    Minimized over ``E``, the split objective is ``γ Σ_Ω h_{1/γ}(Y − UVᵀ) + λ Σ‖uᵢ‖‖vᵢ‖``; its
    negative gradient at ``L = 0`` is ``γ·clip(P_Ω Y, ±1/γ)`` and the ℓ2/ℓ2 polar is the
    spectral norm, so ``L = 0`` is optimal exactly when ``λ`` is at least that value (as
    :func:`homfact.lam_max` for the squared loss).  Exact.
    """
    return zero_solution_lam_max(
        completion_problem(obs, 1.0, loss="huber", delta=1.0 / gamma, weight=gamma))


def _count_above(X: np.ndarray, threshold: float, random_state=0) -> int:
    """Number of singular values of ``X`` above ``threshold`` (sides longer than 2000 are
    subsampled at random as in :func:`homfact.noise.estimate_noise_level`, the threshold
    scaled by the square root of the kept fraction of each side)."""
    rng = np.random.default_rng(random_state)
    A, scale = X, 1.0
    for axis in (0, 1):
        n = A.shape[axis]
        if n > 2000:
            keep = np.sort(rng.choice(n, 2000, replace=False))
            A = A[keep] if axis == 0 else A[:, keep]
            scale *= np.sqrt(2000 / n)
    gram = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    ev = np.linalg.eigvalsh(gram)
    return int(np.sum(ev > (threshold * scale) ** 2))


def tensor_noise_level(Y: np.ndarray) -> float:
    """Gavish–Donoho noise estimate of a fully observed tensor from its largest unfolding.

    The mode-``k`` unfolding ``Y₍ₖ₎`` (``nₖ × Π_{j≠k} nⱼ``) of ``T + σE`` is the unfolding of
    a CP tensor of rank ``r`` (a matrix of rank ``≤ r``) plus an i.i.d. matrix, so
    :func:`homfact.noise.estimate_noise_level` applies; the mode with the largest ``nₖ`` (the
    squarest unfolding) is used.
    """
    k = int(np.argmax(Y.shape))
    return estimate_noise_level(np.moveaxis(Y, k, 0).reshape(Y.shape[k], -1))


def cp_lam_max(Y, *, gauges=None, nonnegative=False, random_state=None,
               quick: bool = False) -> PolarBound:
    """Bracket on ``λ_max = Ω°(P_Ω Y)``, the smallest ``λ`` whose solution is zero.

    ``lower`` (a HOPM value) is attained; any ``λ ≥ upper`` certainly gives the zero solution.
    ``quick=True`` (all-ℓ2 gauges) runs HOPM from the HOSVD start only (no restarts): the
    same rigorous ``upper``, a ``lower`` that may be a smaller local maximum.
    """
    problem = cp_problem(Y, 0.0, gauges=gauges, nonnegative=nonnegative)
    G = problem.mapping.operator(problem.loss.y)
    if quick and all(type(g) is L2 for g in problem.gauges):
        return CPGrowthPolar(problem.gauges, math.inf).quick(G)
    return problem.polar(G, rng=np.random.default_rng(random_state))


def rpca_lam_max(obs: ObservedMatrix, *, gamma: float) -> float:
    """Exact ``λ_max`` of robust PCA's split form at a given ``γ`` (:func:`split_lam_max`).

    ``γ`` is required: the estimator's ``gamma="auto"`` comes from a noise-estimating pilot
    path (:class:`homfact.RobustPCA`), not from a closed-form rule of the data.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise TypeError(f"gamma must be a real number, got {type(gamma).__name__}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    return split_lam_max(obs, float(gamma))


def cp_lam_max_upper(Y, *, gauges=None, nonnegative=False) -> float:
    """A rigorous upper bound on the CP model's ``λ_max``: the ``upper`` end of
    :func:`cp_lam_max` (``quick=True``, seed 0).  Any ``λ`` at least this value certainly gives
    the zero solution; the exact ``λ_max`` (a tensor spectral norm) is NP-hard, and lies in
    ``[lower, upper]`` of :func:`cp_lam_max`."""
    return float(cp_lam_max(Y, gauges=gauges, nonnegative=nonnegative, random_state=0,
                            quick=True).upper)


# ---------------------------------------------------------------- low rank: the automatic λ
# (moved unchanged from homfact.models.low_rank, which re-exports these names)
__all__ += ["LOW_RANK_AUTO_LAM_FACTOR", "LOW_RANK_AUTO_LAM_FLOOR", "low_rank_auto_lam"]

#: ``c`` of the automatic ``λ = c·σ̂(√m + √n)`` of :class:`homfact.LowRankApproximation`
#: (see :func:`low_rank_auto_lam`)
LOW_RANK_AUTO_LAM_FACTOR = 1.1
#: floor of that automatic ``λ`` relative to ``‖Y‖_F`` (noise-free data: ``σ̂`` is roundoff)
LOW_RANK_AUTO_LAM_FLOOR = 1e-8


def low_rank_auto_lam(Y: np.ndarray,
                      factor: float = LOW_RANK_AUTO_LAM_FACTOR) -> tuple[float, float]:
    """``(λ, σ̂)`` with ``λ = max(c·σ̂(√m + √n), 10⁻⁸‖Y‖_F)``, ``c = 1.1`` by default.

    ``σ̂`` is the Gavish–Donoho estimate of the noise level (:func:`homfact.noise.
    estimate_noise_level`: median singular value over the Marchenko–Pastur median).  The
    singular values of an ``m×n`` matrix of i.i.d. ``N(0, σ²)`` entries concentrate below
    ``σ(√m + √n)`` (Davidson & Szarek 2001; Vershynin 2012, Thm 5.32; the top one fluctuates
    above it on the Tracy–Widom scale ``σ(1/√m + 1/√n)^{1/3}``, Johnstone 2001), and the
    solution of ``½‖Y − Z‖² + λ‖Z‖_*`` keeps exactly the singular values of ``Y`` above ``λ``
    (singular-value soft-thresholding, Cai, Candès & Shen 2010), so ``λ`` just above the bulk
    edge removes every noise direction and keeps each signal direction whose singular value
    clears the edge.  The factor ``c = 1.1`` was chosen on random draws (seeds 0–9 of
    ``benchmarks/robust_lowrank.py`` and pure-noise matrices): the top noise singular value
    stayed below ``1.1·σ̂(√m + √n)`` in at least 99 % of pure-noise draws of size 40×40 and
    above (96 % at 20×20, where the Tracy–Widom fluctuations are larger).  The floor makes
    noise-free data (``σ̂`` at roundoff) keep the singular values above ``10⁻⁸‖Y‖_F``.

    Valid for i.i.d. noise and a signal of rank well below ``min(m, n)/2``; a high-rank signal
    inflates ``σ̂`` (a larger ``λ``, hence a conservative, smaller rank).  Heavy-tailed or
    heteroscedastic noise is outside the model.  (docs: models/low-rank.)
    """

    m, n = Y.shape
    if min(m, n) < 2:
        raise ValueError(f"lam='auto' estimates the noise level from the singular values and "
                         f"needs at least 2 rows and 2 columns; got {m} sample(s) and {n} "
                         f"feature(s) (n_samples = {m}, n_features = {n}): pass a numeric lam")
    sigma = estimate_noise_level(Y)
    lam = factor * noise_spectral_norm(sigma, (m, n))
    return max(lam, LOW_RANK_AUTO_LAM_FLOOR * float(np.linalg.norm(Y))), sigma


# ---------------------------------------------------------------- non-negative factorization: λ_max
# (moved unchanged from homfact.models.nmf, which re-exports it)
__all__ += ["nonnegative_lam_max"]


def nonnegative_lam_max(X) -> float:
    """``λ_max = Ω°(X) = max_{u,v ≥ 0} uᵀXv/(‖u‖‖v‖)`` for ``X ≥ 0``: the smallest ``λ`` with the
    zero solution.  For a non-negative matrix this is exactly ``‖X‖₂`` (Perron–Frobenius: the top
    singular pair can be taken non-negative), returned as the rigorous bound of
    :func:`homfact.polar.nonnegative._sigma_max` (the polar's upper bound at ``G = X``).
    ``ValueError`` naming ``X`` when it has a negative, NaN or infinite entry (the rule holds
    for ``X ≥ 0`` only).  (docs: models/nmf.)"""


    _check_nonnegative_matrix(X)
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    return float(_sigma_max(X, 1e-5, np.random.default_rng(0))[2])


# ---------------------------------------------------------------- structured: the automatic λ
# (moved unchanged from StructuredFactorization._auto_lam; docs: models/structured)
__all__ += ["STRUCTURED_AUTO_LAM_SEEDS", "structured_auto_lam"]

#: seeds of the noise-polar estimate behind :class:`homfact.StructuredFactorization`'s
#: ``lam="auto"``
STRUCTURED_AUTO_LAM_SEEDS = 8


def structured_auto_lam(Y: np.ndarray, loss, mapping, polar, lam_scale: float,
                        random_state=None) -> tuple[float, float, float]:
    """``(λ, σ̂, Ω̂°)`` with ``λ = lam_scale·Ω̂°(σ̂E)`` for the structured factorization.

    ``σ̂``: the Gavish–Donoho noise level of ``Y`` (:func:`homfact.noise.estimate_noise_level`,
    seed 0); a single row or column has no spectrum: the MAD scale of its entries
    (:func:`homfact.noise.robust_scale`); ``σ̂ = 0`` falls back to ``std(Y)``.  ``E``: one draw
    of i.i.d. ``N(0, 1)`` entries from ``random_state``; the gradient is ``σ̂E`` for the squared
    loss, ``−∇ℓ`` at ``Y − σ̂E`` otherwise (e.g. projected off the intercept basis), mapped by
    ``mapping.operator``.  ``Ω̂°``: the median, over the 8 starts with the largest
    ``polar.seed_scores``, of the value the polar's alternating-LMO ascent reaches from that
    start (:class:`homfact.polar.structured.StructuredPolar`: the same search that later
    proposes atoms).  The rule (Negahban, Ravikumar, Wainwright & Yu 2012, Thm 1, with
    ``lam_scale`` in place of 2) and its tuning: docs: models/structured, 'Automatic λ'.
    """

    # Gavish-Donoho; a single row or column has no spectrum: the MAD scale of its entries
    sigma = (estimate_noise_level(Y, random_state=0) if min(Y.shape) >= 2
             else robust_scale(Y))
    if sigma == 0.0:
        sigma = float(np.std(Y))
    rng = np.random.default_rng(random_state)
    noise = sigma * rng.standard_normal(Y.shape)
    g = noise if isinstance(loss, SquaredLoss) else loss.neg_gradient(Y - noise)
    A = np.asarray(mapping.operator(g))
    # the polar's own search on the noise: its best-scored seeds (StructuredPolar)
    best = np.argsort(-polar.seed_scores(A), kind="stable")[:STRUCTURED_AUTO_LAM_SEEDS]
    vals = [polar._ascend(A, polar.seed_start(p, A.shape[0]))[2] for p in best]
    noise_polar = float(np.median(vals))
    return float(lam_scale) * noise_polar, sigma, noise_polar


# ---------------------------------------------------------------- sparse dictionary learning
# (moved unchanged from homfact.models.dictionary, which re-exports dictionary_lam_max;
# docs: models/dictionary)
__all__ += ["DICTIONARY_LAM_FLOOR", "dictionary_auto_lam_gamma", "dictionary_lam_floor",
            "dictionary_lam_max", "dictionary_threshold"]

#: floor of the automatic ``λ`` of :class:`homfact.SparseDictionaryLearning`, relative to the
#: lower end of its ``λ_max`` bracket (noise-free data: keeps the number of atoms finite)
DICTIONARY_LAM_FLOOR = 1e-3


def dictionary_threshold(sigma: float, n_features: int) -> float:
    """The per-entry code threshold ``t = σ̂√(2 log n_features)`` (the universal threshold,
    :func:`homfact.noise.universal_threshold`; ``t = σ̂`` for a single feature)."""

    return universal_threshold(sigma, n_features) if n_features >= 2 else sigma


def dictionary_lam_max(X, gamma="auto") -> float:
    """A rigorous upper bound on ``λ_max`` of ``½‖X − CD‖² + λΣᵢ‖Dᵢ‖₂(‖Cᵢ‖₂ + γ‖Cᵢ‖₁)``: every
    ``λ`` at least this value gives the zero solution (no atom).  Not exact: ``λ_max =
    Ω°_γ(X)`` is a sparse-PCA value, NP-hard; :attr:`SparseDictionaryLearning.lam_max_` is
    the ``(lower, upper)`` bracket the estimator reports.

    Numeric ``γ >= 0``: the upper bound ``min(σ_max(X)/(1 + γ), maxⱼ‖X_{j,:}‖₂/(γ + 1/√n))``
    of :class:`ElasticNetL2Polar` (``n`` signals).  ``γ = "auto"`` (the estimator's default,
    ``γ = t/λ`` with ``t = σ̂√(2 log n_features)``): the zero solution holds when
    ``Ω°_{t/λ}(X) ≤ λ``, and each of the two bounds at ``γ = t/λ`` is ``≤ λ`` exactly when
    ``λ ≥ σ_max(X) − t``, resp. ``λ ≥ √n·(maxⱼ‖X_{j,:}‖₂ − t)``; the smaller of the two
    (at least 0) is returned, with ``σ̂``, ``t`` computed as in the estimator.
    """


    _check_real_matrix(X, "X")
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    if X.ndim != 2 or X.size == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if not (isinstance(gamma, str) and gamma == "auto"):
        _check_gamma(gamma)
        return float(ElasticNetL2Polar(float(gamma)).upper_bound(X)[0])
    n, p = X.shape
    sigma = estimate_signal_noise_level(X)
    t = dictionary_threshold(sigma, p)
    sig = float(sigma_max_upper(X)[0])
    rows = float(np.sqrt(np.max(np.einsum("ij,ij->i", X, X)))) * (1 + 1e-12)
    return float(max(min(sig - t, math.sqrt(n) * (rows - t)), 0.0))


def dictionary_auto_lam_gamma(sigma: float, n: int, p: int, lam, gamma,
                              random_state=None) -> tuple[float, float, float]:
    """``(λ, γ, t)`` of the full-data dictionary problem (``n`` signals of ``p`` features) from
    the noise level ``σ̂``; ``lam``, ``gamma``: a number or ``"auto"``.

    ``t = σ̂√(2 log p)`` (:func:`dictionary_threshold`).  ``lam="auto"``: ``λ = 2·ρ(σ̂E)``
    (:func:`homfact.polar.dictionary.noise_polar_level` on one Gaussian ``n × p`` draw, seed
    ``random_state`` when it is an integer, else 0): ``ρ_t`` at the threshold ``t`` with
    ``gamma="auto"``, the model's polar ``Ω°_γ`` with a numeric ``gamma``.  ``gamma="auto"``:
    ``γ = t/λ`` (0 when ``λ = 0``).  Sources (Negahban et al. 2012; Donoho & Johnstone 1994):
    docs: models/dictionary, 'Automatic λ and γ'.
    """

    t = dictionary_threshold(sigma, p)
    seed = 0 if not isinstance(random_state, numbers.Integral) else int(random_state)
    if isinstance(lam, str):
        if isinstance(gamma, str):
            lam = 2.0 * noise_polar_level(sigma, n, p, threshold=t, random_state=seed)
        else:
            lam = 2.0 * noise_polar_level(sigma, n, p, gamma=float(gamma), random_state=seed)
    else:
        lam = float(lam)
    gamma = (t / lam if lam > 0 else 0.0) if isinstance(gamma, str) else float(gamma)
    return lam, gamma, t


def dictionary_lam_floor(lam: float, gamma: float, t: float, lam_max_lower: float, *,
                         auto_lam: bool, auto_gamma: bool) -> tuple[float, float]:
    """``(λ, γ)`` after the floor ``λ ≥ 10⁻³·lam_max_lower`` of an automatic ``λ`` (noise-free
    data: ``σ̂`` at roundoff would let every direction in); ``γ = t/λ`` is recomputed when it
    is automatic.  A numeric ``λ`` is returned unchanged."""
    if auto_lam and lam < DICTIONARY_LAM_FLOOR * lam_max_lower:
        lam = DICTIONARY_LAM_FLOOR * lam_max_lower
        if auto_gamma:
            gamma = t / lam
    return lam, gamma
