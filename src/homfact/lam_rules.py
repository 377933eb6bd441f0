"""Data-driven inputs of the automatic ``λ`` rules that do not live in :mod:`homfact.noise` or
:mod:`homfact.path` yet: how many singular values exceed the noise edge (the guard of the
non-negative factorization's noise rule), the noise level of a tensor, and the bracket on the
CP model's ``λ_max``."""

from __future__ import annotations

import math

import numpy as np

from .gauges import L2
from .noise import estimate_noise_level
from .polar import CPGrowthPolar, PolarBound
from .problems import cp_problem

__all__ = ["cp_lam_max", "tensor_noise_level"]


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
