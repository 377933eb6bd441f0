"""Robustness family "robust PCA": randomized low-rank + gross errors + dense noise, defaults.

Generator (parameters drawn from ``np.random.default_rng(seed)``; differs from
``examples/rpca_video.py`` and ``bench_rpca.py``, which use fixed shapes and ±500 errors):

* shape ``m × n``, ``m, n`` uniform integers in ``[300, 2000]`` (``small``: ``[100, 200]``);
* ``L* = A Bᵀ``, ``A``, ``B`` i.i.d. N(0, 1) of rank ``r`` uniform in ``[5, 30]``
  (``small``: ``[3, 6]``);
* gross errors on a uniformly random fraction ``ρ ∈ [0.01, 0.10]`` of the entries, values
  uniform in ``[−a, a]`` with ``a`` uniform in ``[2, 10]``;
* dense Gaussian noise of level ``σ``: 0 with probability 1/5, else uniform in ``[0.005, 0.05]``.

homfact: ``hf.RobustPCA(random_state=0)`` — defaults (``lam``, ``gamma`` automatic, debiased).
Peer: inexact ALM (``inexact_alm.py``, Lin, Chen & Ma 2010, Algorithm 5, PCP's
``λ = 1/√max(m, n)``, stop at ``1e-7``).  Both run in the same process under one BLAS
thread, peer first; times are single runs (noisy on a shared machine).

Success (issue 12, item 3): the selected rank is within ±10 % of ``r`` (``|r̂ − r| ≤ 0.1r``),
the relative error ``‖L̂ − L*‖_F/‖L*‖_F`` is at most the peer's, and the time at most the
peer's; noise-free draws must in addition be exact to ``1e-6``.
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
from inexact_alm import inexact_alm_rpca  # noqa: E402

import homfact as hf  # noqa: E402

FAMILY = "robust PCA"
PEER = "inexact ALM (Lin, Chen & Ma 2010)"


def draw(seed: int, small: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """One instance ``(Y, L*, params)`` of the family (module doc)."""
    rng = np.random.default_rng(seed)
    lo, hi = (100, 200) if small else (300, 2000)
    m, n = (int(v) for v in rng.integers(lo, hi + 1, size=2))
    rank = int(rng.integers(3, 7) if small else rng.integers(5, 31))
    frac = float(rng.uniform(0.01, 0.10))
    magnitude = float(rng.uniform(2.0, 10.0))
    sigma = 0.0 if rng.random() < 0.2 else float(rng.uniform(0.005, 0.05))
    L = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    k = round(frac * m * n)
    idx = rng.choice(m * n, size=k, replace=False)
    Y = L.copy()
    Y.flat[idx] += rng.uniform(-magnitude, magnitude, size=k)
    if sigma > 0:
        Y += sigma * rng.standard_normal((m, n))
    params = {"m": m, "n": n, "rank": rank, "gross_fraction": frac,
              "gross_magnitude": magnitude, "sigma": sigma}
    return Y, L, params


def _rel(X: np.ndarray, X0: np.ndarray) -> float:
    return float(np.linalg.norm(X - X0) / np.linalg.norm(X0))


def trial(seed: int, small: bool = False) -> dict:
    """One draw, fit with homfact's defaults and with inexact ALM (module doc)."""
    Y, L, params = draw(seed, small)
    with blas_threads(1):
        t0 = time.perf_counter()
        peer = inexact_alm_rpca(Y)
        t_peer = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = hf.RobustPCA(random_state=0).fit(Y)
        t_hf = time.perf_counter() - t0
    err, err_peer = _rel(est.low_rank_, L), _rel(peer.A, L)
    rank, r = int(est.rank_), params["rank"]
    rank_ok = abs(rank - r) <= 0.1 * r
    exact_ok = params["sigma"] > 0 or err <= 1e-6
    success = bool(rank_ok and err <= err_peer and t_hf <= t_peer and exact_ok)
    return {"success": success, "error": err, "error_peer": err_peer, "time": t_hf,
            "time_peer": t_peer, "params": params, "rank": rank, "rank_peer": int(peer.rank),
            "rank_ok": bool(rank_ok), "exact_ok": bool(exact_ok),
            "noise_level": est.noise_level_, "gamma": est.gamma_,
            "status": est.certificate_.status, "debiased": bool(est.debiased_),
            "error_certified": _rel(est.certified_low_rank_, L),
            "warnings": [str(w.message) for w in caught]}
