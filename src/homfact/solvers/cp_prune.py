"""Slice pruning and ordering of the certified CP factors of
:class:`homfact.CPTensorFactorization` (docs: models/cp, 'Pruning small slices').

After the growth, negligible slices and an outlying small slice are removed when that neither
raises the objective nor worsens the certificate status.  Unlike the local solvers of this
layer it certifies (:func:`homfact.meta.certify_factors`); nothing that :mod:`homfact.meta`
imports imports it.
"""

from __future__ import annotations

import numpy as np

from ..certificate import Certificate
from ..meta import Problem, certify_factors

__all__ = ["cp_weights", "prune_small_slices", "sorted_by_weight"]

#: order of certificate statuses (a pruning step never makes it worse)
_STATUS_RANK = {"global": 3, "global_probabilistic": 2, "unverified": 1, "not_optimal": 0}


def cp_weights(X: list[np.ndarray]) -> np.ndarray:
    """``Πₖ‖xᵢᵏ‖₂``: the Frobenius norm of each rank-one term ``xᵢ¹∘…∘xᵢᴷ``."""
    return np.prod([np.linalg.norm(F, axis=0) for F in X], axis=0)


def sorted_by_weight(X: list[np.ndarray]) -> list[np.ndarray]:
    """The factors with their columns in decreasing :func:`cp_weights` order (stable)."""
    order = np.argsort(-cp_weights(X), kind="stable")
    return [F[:, order] for F in X]


def prune_small_slices(problem: Problem, X: list[np.ndarray], cert: Certificate, *,
                       rank_rtol: float, tol: float, random_state
                       ) -> tuple[list[np.ndarray], Certificate]:
    """Remove negligible slices, then try dropping an outlying smallest slice.

    ``θᵢ`` is the penalty of slice ``i`` (``problem.slice_penalties``).

    1. Slices with ``θᵢ < rank_rtol·max θ`` are removed and the rest polished (local descent
       to ``1e-6``, at most 200 sweeps, then ``problem.prune``) and certified.
    2. While at least 3 slices remain and the smallest slice is below half the next smallest
       (an outlier, e.g. a mixture atom grown early when components are correlated: the
       objective is then nearly flat between that representation and one without it), it is
       removed and the rest polished (to ``1e-10``, at most 300 sweeps); the result is kept
       only if its objective is not larger.

    A candidate is also rejected when its certificate status is worse than the current one
    (``"global"`` > ``"unverified"`` > ``"not_optimal"``).  Returns ``(X, certificate)``.
    """
    rng = np.random.default_rng(random_state)
    theta = problem.slice_penalties(X)
    small = theta < rank_rtol * theta.max(initial=0.0)
    if np.any(small):
        X2 = [F[:, ~small] for F in X]
        X2, _ = problem.descend(X2, tol=1e-6, max_sweeps=200, deadline=np.inf)
        X2 = problem.prune(X2)
        cert2, *_ = certify_factors(problem, X2, tol=tol, rng=rng)
        if _STATUS_RANK[cert2.status] >= _STATUS_RANK[cert.status]:
            X, cert = X2, cert2
    while X[0].shape[1] >= 3:
        theta = problem.slice_penalties(X)
        order = np.argsort(theta)
        if theta[order[0]] >= 0.5 * theta[order[1]]:
            break
        X2 = [F[:, order[1:]] for F in X]
        X2, _ = problem.descend(X2, tol=1e-10, max_sweeps=300, deadline=np.inf)
        X2 = problem.prune(X2)
        if problem.objective(X2) > cert.objective:
            break
        cert2, *_ = certify_factors(problem, X2, tol=tol, rng=rng)
        if _STATUS_RANK[cert2.status] < _STATUS_RANK[cert.status]:
            break
        X, cert = X2, cert2
    return X, cert
