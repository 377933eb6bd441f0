"""Data-driven inputs of the ``λ`` rules that do not live in :mod:`homfact.noise`: the ``λ_max``
rules (the smallest ``λ`` with the zero solution) of the models with a problem builder, how many
singular values exceed the noise edge (the guard of the non-negative factorization's noise
rule), the noise level of a tensor, and the bracket on the CP model's ``λ_max``.

Every ``λ_max`` rule read by :mod:`homfact.registry` returns one ``float``:

* exact (``λ ≥ value`` gives the zero solution, and no smaller ``λ`` does):
  :func:`low_rank_lam_max`, :func:`completion_lam_max`, :func:`split_lam_max` /
  :func:`rpca_lam_max` (all :func:`zero_solution_lam_max` of their problem at ``λ = 0``), and
  :func:`homfact.models.nmf.nonnegative_lam_max` (``‖X‖₂``, the rigorous upper end of a
  ``10⁻⁵`` bracket);
* a rigorous upper bound (``λ ≥ value`` certainly gives the zero solution, a smaller ``λ``
  may too; the exact value is NP-hard): :func:`cp_lam_max_upper` (a tensor spectral norm) and
  :func:`homfact.models.dictionary.dictionary_lam_max` (a sparse-PCA value).

The model-layer rules (NMF, dictionary) stay beside their estimators; this module imports no
model.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .gauges import L2
from .noise import estimate_noise_level
from .polar import CPGrowthPolar, PolarBound
from .problems import ObservedMatrix, completion_problem, cp_problem, low_rank_problem

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
