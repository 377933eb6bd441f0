"""Robustness family "low rank": randomized low-rank + Gaussian noise, ``LowRankApproximation()``.

Generator (parameters drawn from ``np.random.default_rng(seed)``; differs from
``examples/denoise_lowrank.py`` and ``bench_denoise.py``, which use fixed shapes):

* shape ``m × n``, ``m, n`` uniform integers in ``[40, 700]`` (``small``: ``[40, 120]``);
* rank ``r`` uniform in ``[1, max(1, min(m, n)//8)]`` (``small``: ``[1, 4]``);
* noise level ``σ = 10^u``, ``u`` uniform in ``[−2, 0]`` (the scale of the data varies);
* ``X* = U diag(s) Vᵀ`` with Haar-random orthonormal ``U``, ``V`` and singular values
  ``s_k = ρ_k σ (mn)^{1/4}``, ``ρ_k`` log-uniform in ``[2.5, 20]``: every component is above
  the detection threshold ``σ(mn)^{1/4}`` of the spiked model (Benaych-Georges & Nadakuditi
  2012), the weakest ones only by a factor 2.5;
* ``Y = X* + σE``, ``E`` i.i.d. N(0, 1).

homfact: ``hf.LowRankApproximation(random_state=0)`` — the default ``lam="auto"`` (noise rule
``λ = 1.1·σ̂(√m + √n)``) and ``debias="auto"`` (on): the certified soft-thresholded fit selects
the rank, the reported ``U_ @ V_.T`` shrinks the top singular values of ``Y`` by the
Gavish–Donoho (2017) Frobenius-optimal rule.  ``error_certified`` / ``error_ratio_certified``
report the certified solution (``certified_U_ @ certified_V_.T``) as well.  Peer: the oracle
truncated SVD of ``Y`` at the true rank ``r``
(``numpy.linalg.svd``), which a user cannot run without knowing ``r``.  Both in the same
process under one BLAS thread, peer first; times are single runs (noisy on a shared machine).

Success: the selected rank equals ``r`` within ±10 % (``|r̂ − r| ≤ 0.1r``) and the relative
error ``‖X̂ − X*‖_F/‖X*‖_F`` is at most **2×** the oracle's.  The factor was stated from seeds
0–9 when the reported estimate was the soft-thresholded one (every kept singular value shrunk
by ``λ``; worst 1.77×, still the worst ``error_ratio_certified``); with the debiasing the
worst ratio is 0.98× on seeds 0–9 and on held-out seeds 100–119 (the optimal shrinkage beats
the hard truncation at the true rank).  The criterion is unchanged.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from benchutil import blas_threads  # noqa: E402

import homfact as hf  # noqa: E402

FAMILY = "low rank"
PEER = "truncated SVD at the true rank (oracle)"
#: success needs error <= ERROR_FACTOR x the oracle's (module doc)
ERROR_FACTOR = 2.0


def draw(seed: int, small: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """One instance ``(Y, X*, params)`` of the family (module doc)."""
    rng = np.random.default_rng(seed)
    lo, hi = (40, 120) if small else (40, 700)
    m, n = (int(v) for v in rng.integers(lo, hi + 1, size=2))
    r = int(rng.integers(1, 5) if small else rng.integers(1, max(1, min(m, n) // 8) + 1))
    sigma = float(10 ** rng.uniform(-2, 0))
    rho = np.exp(rng.uniform(np.log(2.5), np.log(20.0), r))
    s = sigma * (m * n) ** 0.25 * rho
    U = np.linalg.qr(rng.standard_normal((m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    X = (U * s) @ V.T
    Y = X + sigma * rng.standard_normal((m, n))
    return Y, X, {"m": m, "n": n, "rank": r, "sigma": sigma, "min_snr": float(rho.min())}


def _rel(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def trial(seed: int, small: bool = False) -> dict:
    """One draw, fit with homfact's defaults and with the oracle truncated SVD (module doc)."""
    Y, X, params = draw(seed, small)
    r = params["rank"]
    with blas_threads(1):
        t0 = time.perf_counter()
        U, s, Vt = np.linalg.svd(Y, full_matrices=False)
        Xp = (U[:, :r] * s[:r]) @ Vt[:r]
        t_peer = time.perf_counter() - t0
        t0 = time.perf_counter()
        est = hf.LowRankApproximation(random_state=0).fit(Y)
        t_hf = time.perf_counter() - t0
    err, err_peer = _rel(est.U_ @ est.V_.T, X), _rel(Xp, X)
    # the certified (soft-thresholded) solution, which the default reported before debiasing
    err_certified = _rel(est.certified_U_ @ est.certified_V_.T, X)
    rank_ok = abs(est.rank_ - r) <= 0.1 * r
    success = bool(rank_ok and err <= ERROR_FACTOR * err_peer)
    return {"success": success, "error": err, "error_peer": err_peer, "time": t_hf,
            "time_peer": t_peer, "params": params, "rank": int(est.rank_), "rank_ok": rank_ok,
            "noise_level": est.noise_level_, "noise_ratio": est.noise_level_ / params["sigma"],
            "lam": est.lam_, "status": est.certificate_.status, "debiased": est.debiased_,
            "error_certified": err_certified, "error_ratio_certified": err_certified / err_peer}
