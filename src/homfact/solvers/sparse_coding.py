"""Coding signals on fixed atoms: error-target OMP and scikit-learn's codings.

:meth:`homfact.SparseDictionaryLearning.transform` (and its online phase) code signals ``X``
(one per row) on the learned atoms ``V`` (one atom per column).  The atoms are normalized to
unit norm for the coding, and the codes are returned in the scale of ``V``, so that
``codes @ V.T`` reconstructs.  Moved unchanged from :mod:`homfact.models.dictionary`; the
choice of the codings and their measured PSNRs: docs: models/dictionary, 'Coding new signals'.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.decomposition import sparse_encode
from sklearn.linear_model import orthogonal_mp_gram

from .elastic_net import _omp_codes

__all__ = ["OMP_ERROR_FACTOR", "omp_encoder", "omp_error_target", "unit_atom_codes"]

#: K-SVD error-target factor of the default OMP coding (Elad & Aharon 2006)
OMP_ERROR_FACTOR = 1.15


def omp_error_target(sigma: float, n_features: int) -> float:
    """Squared error target ``(1.15·σ̂)²·n_features`` of error-target OMP (the K-SVD denoising
    rule, Elad & Aharon, IEEE TIP 15(12), 2006): a code stops once its residual is at the noise
    level."""
    return (OMP_ERROR_FACTOR * sigma) ** 2 * n_features


def omp_encoder(error_target: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``encode(X_b, D) → C_b``: error-target OMP codes of the signals ``X_b`` (rows) on the atoms
    ``D`` (rows) with the squared error target ``error_target``
    (:func:`homfact.solvers.elastic_net._omp_codes`), e.g. for the online phase."""

    def encode(Xb: np.ndarray, D: np.ndarray) -> np.ndarray:
        return _omp_codes(Xb, D, error_target)

    return encode


def unit_atom_codes(X: np.ndarray, V: np.ndarray, algorithm: str, *, alpha: float | None,
                    n_nonzero_coefs: int | None, error_target: float, default_alpha: float,
                    max_iter: int) -> np.ndarray:
    """Codes ``(n_samples, r)`` of ``X`` on the atoms ``V`` (``n_features × r``) by ``algorithm``.

    The non-zero atoms are normalized to unit norm (a zero atom gets zero codes) and the codes
    divided by the atoms' norms.  ``"omp"``: :func:`sklearn.linear_model.orthogonal_mp_gram`
    with ``n_nonzero_coefs`` when given without ``alpha``, otherwise with the squared error
    target ``alpha`` (default ``error_target``), or, when that target is 0, with at most
    ``min(r, n_features)`` atoms.  Otherwise (``"lasso_lars"``, ``"lasso_cd"``, ``"lars"``,
    ``"threshold"``): :func:`sklearn.decomposition.sparse_encode` with ``alpha`` (default
    ``default_alpha``), ``n_nonzero_coefs`` and ``max_iter``.  OMP's "ended prematurely"
    warning (an unreachable target) is silenced.
    """
    r = V.shape[1]
    norms = np.linalg.norm(V, axis=0)
    keep = norms > 0
    D = (V[:, keep] / norms[keep]).T
    p = X.shape[1]
    alpha_, k = alpha, n_nonzero_coefs
    with warnings.catch_warnings():  # OMP: "ended prematurely" when the target is unreachable
        warnings.simplefilter("ignore", RuntimeWarning)
        if algorithm == "omp":
            if k is not None and alpha_ is None:
                C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                       n_nonzero_coefs=min(int(k), D.shape[0])).T
            else:
                tol = error_target if alpha_ is None else float(alpha_)
                if tol > 0:
                    C = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=tol,
                                           norms_squared=np.einsum("ij,ij->i", X, X)).T
                else:
                    C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                           n_nonzero_coefs=min(D.shape[0], p)).T
        else:
            if alpha_ is None:  # the model's per-entry threshold on unit atoms
                alpha_ = default_alpha
            C = sparse_encode(X, D, algorithm=algorithm, alpha=float(alpha_),
                              n_nonzero_coefs=None if k is None else int(k),
                              max_iter=int(max_iter))
    C = np.asarray(C).reshape(X.shape[0], -1)
    codes = np.zeros((X.shape[0], r))
    codes[:, keep] = C / norms[keep]
    return codes
