"""Fixed bases of the unfactorized (intercept) blocks: slow Fourier atoms for a background.

A fixed basis ``B`` (``n × q``) enters a model as ``W Bᵀ`` with free maps ``W``; the loss then
minimizes ``W`` out exactly (:class:`homfact.losses.InterceptSquaredLoss`).  This module builds
``B`` from the data length and the user's specification; it knows nothing of the estimator.
Moved unchanged from :mod:`homfact.models.structured` (which re-exports :func:`fourier_basis`);
the model is in docs: models/structured.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["AUTO_INTERCEPT_PAIRS", "fourier_basis", "intercept_basis"]

#: slow cos/sin pairs of ``intercept="auto"``
AUTO_INTERCEPT_PAIRS = 2


def fourier_basis(n: int, n_freq: int) -> np.ndarray:
    """Slow background basis of CODE's ``MakeFourierD(n, n_freq + 1)``-style: ``n × (2k + 1)``.

    Columns: the constant, then ``cos(2πjt/n)``, ``sin(2πjt/n)`` for ``j = 1..n_freq``, each of
    unit ℓ2 norm.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(n_freq, bool) or not isinstance(n_freq, numbers.Integral) or n_freq < 0:
        raise ValueError(f"n_freq must be an integer >= 0, got {n_freq!r}")
    if 2 * n_freq >= n:  # sin(2πjt/n) vanishes at j = n/2; j > n/2 aliases lower frequencies
        raise ValueError(f"n_freq must be < n/2 (independent, non-zero columns), got "
                         f"n_freq={n_freq} for n={n}")
    t = np.arange(n) / n
    cols = [np.ones(n)]
    for j in range(1, n_freq + 1):
        cols += [np.cos(2 * np.pi * j * t), np.sin(2 * np.pi * j * t)]
    B = np.stack(cols, axis=1)
    return B / np.linalg.norm(B, axis=0)


def intercept_basis(intercept, n: int) -> np.ndarray | None:
    """The basis ``B`` (``n × q``) named by ``intercept``; errors name the argument ``intercept``.

    ``None``: no intercept.  ``"auto"``: the constant plus ``k = min(2, (n − 1) // 2)`` slow
    cos/sin pairs (a slowly varying background, as in imaging; the constant alone when
    ``n < 5``).  ``"constant"``: one constant column.  An int ``k ≥ 0``: the constant plus ``k``
    pairs (:func:`fourier_basis`; needs ``n ≥ 2k + 1``).  An array: that basis (a 1-D array is
    one column), ``n`` rows, finite.
    """
    b = intercept
    if b is None:
        return None
    if isinstance(b, str):
        if b == "auto":
            return fourier_basis(n, min(AUTO_INTERCEPT_PAIRS, (n - 1) // 2))
        if b != "constant":
            raise ValueError(f"intercept must be None, 'auto', 'constant', an int or an "
                             f"(n, q) array, got {b!r}")
        return fourier_basis(n, 0)
    if isinstance(b, numbers.Integral) and not isinstance(b, bool):
        if b < 0:
            raise ValueError(f"intercept must be an int >= 0 (number of cos/sin pairs), "
                             f"got {b!r}")
        if 2 * b >= n:
            raise ValueError(f"intercept={b} needs Y with at least {2 * b + 1} columns "
                             f"(frames), got n_features = {n}")
        return fourier_basis(n, int(b))
    B = np.asarray(b, dtype=float)
    if B.ndim == 1:
        B = B[:, None]
    if B.ndim != 2 or B.shape[0] != n:
        raise ValueError(f"intercept must have shape ({n}, q) (one row per column of Y), "
                         f"got {B.shape}")
    if not np.all(np.isfinite(B)):
        raise ValueError("intercept contains NaN or infinite values")
    return B
