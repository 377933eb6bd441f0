"""Optimal singular-value shrinkage along fitted factors: the debiasing step of
:class:`homfact.LowRankApproximation` (docs: models/low-rank, "Debiasing").

Moved unchanged from :mod:`homfact.models.low_rank` (``_shrunk_triplets``, still importable
there under that name).
"""

from __future__ import annotations

import numpy as np

from ..noise import optimal_singular_value_shrinkage

__all__ = ["shrunk_triplets"]


def shrunk_triplets(Y: np.ndarray, V: np.ndarray, sigma: float):
    """Singular triplets of ``Y`` along the row space of ``V``, values shrunk optimally.

    ``Q = orth(V)``; the SVD ``Y Q = P diag(s) Wᵀ`` gives the top singular triplets
    ``(P, s, Q W)`` of ``Y`` restricted to ``span(V)`` — exactly the top ``r`` triplets of
    ``Y`` when ``V`` spans its top-``r`` right singular subspace, as the certified factors of
    the soft-thresholded SVD do.  ``s`` is then shrunk by
    :func:`homfact.noise.optimal_singular_value_shrinkage` (Gavish & Donoho 2017, the
    Frobenius-optimal shrinker).  Returns ``(P, s, Q W, η)``.
    """
    Q = np.linalg.qr(V)[0]
    P, s, Wt = np.linalg.svd(Y @ Q, full_matrices=False)
    return P, s, Q @ Wt.T, optimal_singular_value_shrinkage(s, sigma, Y.shape)
