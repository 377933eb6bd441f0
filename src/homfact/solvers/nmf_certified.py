"""The certified part of :class:`homfact.NonnegativeFactorization` around the growth: its problem
(``½‖X − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂`` over ``U, V ≥ 0``, HALS descent, the bracketed polar of
:class:`homfact.polar.NonnegativePolar`) and the final certificate of the grown factors (the
careful bracket after a lazy last polar, the merge of parallel duplicate columns).

Unlike the local solvers of this layer it certifies (:func:`homfact.meta.certify_factors`);
nothing that :mod:`homfact.meta` imports imports it.  The mathematics is on the page
docs: models/nmf.
"""

from __future__ import annotations

import numpy as np

from ..certificate import Certificate
from ..gauges import L2, NonNegative
from ..losses import SquaredLoss
from ..maps import Bilinear
from ..meta import Problem, certify_factors
from ..polar.nonnegative import NonnegativePolar
from .nmf_merge import merge_parallel_columns

__all__ = ["certify_grown_nmf", "nonnegative_problem"]

#: atoms offered per outer iteration of the growth at least (``NonnegativePolar.min_candidates``):
#: on MNIST at ``λ = 0.1·λ_max`` one atom per iteration in the tail made the growth 2x slower
_MIN_GROWTH_BLOCK = 4


def nonnegative_problem(X: np.ndarray, lam: float) -> tuple[Problem, NonnegativePolar]:
    """The certified NMF problem at ``λ = lam`` and its polar, which is lazy during the growth
    (``lazy_upper=True``: a polar whose lower bound already exceeds ``λ(1+ε)`` skips the
    spectral-norm upper bound on large matrices) and asks for at least ``_MIN_GROWTH_BLOCK``
    candidate atoms per outer iteration."""
    gauges = (NonNegative(L2()), NonNegative(L2()))
    polar = NonnegativePolar(lam=lam, min_candidates=_MIN_GROWTH_BLOCK, lazy_upper=True)
    problem = Problem(SquaredLoss(X), Bilinear(X.shape), gauges, lam, polar=polar,
                      local_solver="hals")
    return problem, polar


def certify_grown_nmf(problem: Problem, polar: NonnegativePolar, U: np.ndarray, V: np.ndarray,
                      cert: Certificate, *, tol: float, random_state
                      ) -> tuple[np.ndarray, np.ndarray, Certificate]:
    """``(U, V, certificate)`` reported for the grown factors ``U Vᵀ`` and their certificate.

    1. When the last bracket of the growth took the cheap upper bound ``‖G₊‖_F``
       (``polar.last_lazy``), the factors are certified again with the careful bracket
       (``σ_max`` bounds), its lower bound warm-started from the same maximizer.
    2. The polar is made careful for good (``lazy_upper = False``).
    3. Parallel duplicate columns (they cost nothing in the objective) are merged
       (:func:`homfact.solvers.nmf_merge.merge_parallel_columns`) and the result certified;
       the merged, smaller factorization is kept unless its objective is larger by more than
       ``10⁻⁹·max(1, |objective|)``.
    """
    if polar.last_lazy:
        polar.lazy_upper = False
        cert, *_ = certify_factors(problem, [U, V], tol=tol,
                                   rng=np.random.default_rng(random_state),
                                   warm_start=polar.last_maximizer)
    polar.lazy_upper = False
    U2, V2, merged = merge_parallel_columns(U, V)
    if merged:
        cert2, *_ = certify_factors(problem, [U2, V2], tol=tol,
                                    rng=np.random.default_rng(random_state))
        if cert2.objective <= cert.objective + 1e-9 * max(1.0, abs(cert.objective)):
            U, V, cert = U2, V2, cert2
    return U, V, cert
