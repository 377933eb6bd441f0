"""Robustness family "NMF": randomized non-negative low-rank + clipped Gaussian noise, defaults.

Generator (parameters drawn from ``np.random.default_rng(seed)``; differs from
``examples/nmf_mnist_parts.py`` and ``bench_nmf.py``, which use MNIST and fixed sizes):

* shape ``m × n``: ``m`` uniform in ``[100, 600]``, ``n`` in ``[60, 400]`` (``small``:
  ``[60, 120] × [40, 90]``); rank ``k`` uniform in ``[2, 15]`` (``small``: ``[2, 4]``);
* ``W`` (``m×k``) and ``H`` (``k×n``) with i.i.d. Gamma(2, 0.5) entries, each zeroed with
  probability ``1 − d``, density ``d`` uniform in ``[0.5, 1]`` (every component kept
  non-zero); ``X* = WH``;
* noise level ``σ = s_k(X*)/(ρ(√m + √n))``, ``ρ`` log-uniform in ``[1.5, 6]``: the ``k``-th
  singular value of the signal is ``ρ`` times the noise's spectral norm;
* ``Y = max(X* + σE, 0)`` (``E`` i.i.d. N(0, 1); clipping keeps the data non-negative, as
  NMF requires, and biases the entries near 0: up to ~30 % of entries are clipped in sparse
  draws — a departure from the i.i.d. noise model that the rule has to survive).

homfact: ``hf.NonnegativeFactorization(random_state=0)`` — defaults (``λ = σ̂(√m + √n)``,
debiasing refit, noise-based pruning).  Peer: scikit-learn ``NMF(n_components=k,
init="nndsvda", max_iter=1000, random_state=0)`` told the true ``k``.  Both in the same
process under one BLAS thread, peer first; single runs (noisy on a shared machine).

Success: the selected rank ``n_components_`` equals ``k`` within ±10 % (``|k̂ − k| ≤
0.1k``) and the relative error ``‖WH − X*‖_F/‖X*‖_F`` of the fitted factors (``transform``
codes times ``components_``) is at most **1.15×** the peer's (the refit solves the same
non-convex problem as the peer at the selected rank, from another start; stated from seeds
0–9, where the worst ratio with the right rank was 1.04).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from benchutil import blas_threads  # noqa: E402

import homfact as hf  # noqa: E402

FAMILY = "NMF"
PEER = "scikit-learn NMF told the true k"
#: success needs error <= ERROR_FACTOR x the peer's (module doc)
ERROR_FACTOR = 1.15


def draw(seed: int, small: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """One instance ``(Y, X*, params)`` of the family (module doc)."""
    rng = np.random.default_rng(seed)
    if small:
        m, n, k = int(rng.integers(60, 121)), int(rng.integers(40, 91)), int(rng.integers(2, 5))
    else:
        m, n, k = int(rng.integers(100, 601)), int(rng.integers(60, 401)), int(rng.integers(2, 16))
    density = float(rng.uniform(0.5, 1.0))
    W = rng.gamma(2.0, 0.5, (m, k)) * (rng.random((m, k)) < density)
    H = rng.gamma(2.0, 0.5, (k, n)) * (rng.random((k, n)) < density)
    for i in range(k):
        if not W[:, i].any():
            W[rng.integers(m), i] = 1.0
        if not H[i].any():
            H[i, rng.integers(n)] = 1.0
    X = W @ H
    sk = float(np.linalg.svd(X, compute_uv=False)[k - 1])
    rho = float(np.exp(rng.uniform(np.log(1.5), np.log(6.0))))
    sigma = sk / (rho * (np.sqrt(m) + np.sqrt(n)))
    Y0 = X + sigma * rng.standard_normal((m, n))
    Y = np.maximum(Y0, 0.0)
    return Y, X, {"m": m, "n": n, "rank": k, "density": density, "snr": rho, "sigma": sigma,
                  "clipped_fraction": float(np.mean(Y0 < 0))}


def _rel(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def trial(seed: int, small: bool = False) -> dict:
    """One draw, fit with homfact's defaults and with scikit-learn NMF (module doc)."""
    from sklearn.decomposition import NMF

    Y, X, params = draw(seed, small)
    k = params["rank"]
    with blas_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning
        t0 = time.perf_counter()
        peer = NMF(n_components=k, init="nndsvda", max_iter=1000, random_state=0)
        Wp = peer.fit_transform(Y)
        t_peer = time.perf_counter() - t0
        t0 = time.perf_counter()
        est = hf.NonnegativeFactorization(random_state=0).fit(Y)
        W = est.transform(Y)
        t_hf = time.perf_counter() - t0
    err, err_peer = _rel(W @ est.components_, X), _rel(Wp @ peer.components_, X)
    rank_ok = abs(est.n_components_ - k) <= 0.1 * k
    success = bool(rank_ok and err <= ERROR_FACTOR * err_peer)
    return {"success": success, "error": err, "error_peer": err_peer, "time": t_hf,
            "time_peer": t_peer, "params": params, "rank": int(est.n_components_),
            "certified_rank": int(est.certified_rank_), "rank_ok": rank_ok,
            "noise_level": est.noise_level_, "noise_ratio": est.noise_level_ / params["sigma"],
            "lam": est.lam_, "status": est.certificate_.status}
