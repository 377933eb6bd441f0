"""Robustness family "CP": randomized noisy low-rank 3- and 4-way tensors, defaults.

Generator (parameters drawn from ``np.random.default_rng(seed)``; differs from
``examples/cp_tensor.py`` and ``bench_cp.py``, which use cubes of fixed size and rank):

* order ``K = 3`` with probability 0.7, else ``K = 4``; sides uniform in ``[15, 70)`` (``K =
  3``) or ``[8, 22)`` (``K = 4``) (``small``: ``K = 3``, sides in ``[10, 20)``);
* rank ``r`` uniform in ``[1, 8]`` (``small``: ``[1, 3]``); factor columns i.i.d. Gaussian,
  normalized (random, hence mildly correlated, directions);
* weights ``wᵢ`` log-uniform in ``[1, S]``, spread ``S`` uniform in ``[1, 3]``, scaled so the
  smallest is 1;
* noise ``σ = 1/(ρ√(Σₖ nₖ))``, ``ρ`` log-uniform in ``[3, 10]``: the weakest component is
  ``ρ`` times the scale ``σ√(Σₖ nₖ)`` of the noise's spectral norm;
* ``Y = Σᵢ wᵢ aᵢ∘bᵢ∘cᵢ(∘dᵢ) + σE``.

homfact: ``hf.CPTensorFactorization(random_state=0)`` — defaults (noise rule
``λ = 1.8·σ̂√(Σₖ nₖ)``, debiasing refit; the error is that of ``to_tensor()``, the refit).
Peer: TensorLy ``parafac(Y, rank=r, init="svd", n_iter_max=500, tol=1e-8)`` told the true
rank.  Both in the same process under one BLAS thread, peer first; single runs (noisy on a
shared machine).

Success: the selected rank equals ``r`` within ±10 % (``|r̂ − r| ≤ 0.1r``) and the relative
error ``‖T̂ − T*‖_F/‖T*‖_F`` is at most **1.05×** the peer's (both are unregularized CP-ALS at
the true rank when the rank is right; the factor allows another local solution, stated from
seeds 0–9).
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
from homfact.models.cp import factor_match_score  # noqa: E402

FAMILY = "CP"
PEER = "TensorLy parafac told the true rank"
#: success needs error <= ERROR_FACTOR x the peer's (module doc)
ERROR_FACTOR = 1.05


def _cp_tensor(weights: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
    T = weights[None, :] * factors[0]
    for F in factors[1:]:
        T = (T[..., None, :] * F.reshape((1,) * (T.ndim - 1) + F.shape))
    return T.sum(axis=-1)


def draw(seed: int, small: bool = False):
    """One instance ``(Y, T*, factors, params)`` of the family (module doc)."""
    rng = np.random.default_rng(seed)
    if small:
        shape = tuple(int(v) for v in rng.integers(10, 20, 3))
        r = int(rng.integers(1, 4))
    else:
        K = 3 if rng.random() < 0.7 else 4
        shape = tuple(int(v) for v in (rng.integers(15, 70, 3) if K == 3
                                       else rng.integers(8, 22, 4)))
        r = int(rng.integers(1, 9))
    factors = [rng.standard_normal((n, r)) for n in shape]
    factors = [F / np.linalg.norm(F, axis=0) for F in factors]
    spread = float(rng.uniform(1.0, 3.0))
    w = np.exp(rng.uniform(0.0, np.log(spread), r))
    w = w / w.min()
    rho = float(np.exp(rng.uniform(np.log(3.0), np.log(10.0))))
    sigma = 1.0 / (rho * np.sqrt(sum(shape)))
    T = _cp_tensor(w, factors)
    Y = T + sigma * rng.standard_normal(shape)
    return Y, T, factors, {"shape": list(shape), "rank": r, "snr": rho, "spread": spread,
                           "sigma": sigma}


def _rel(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def trial(seed: int, small: bool = False) -> dict:
    """One draw, fit with homfact's defaults and with TensorLy parafac (module doc)."""
    import tensorly as tl
    from tensorly.decomposition import parafac

    Y, T, factors, params = draw(seed, small)
    r = params["rank"]
    with blas_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        cp = parafac(tl.tensor(Y), rank=r, init="svd", n_iter_max=500, tol=1e-8)
        Tp = tl.cp_to_tensor(cp)
        t_peer = time.perf_counter() - t0
        t0 = time.perf_counter()
        est = hf.CPTensorFactorization(random_state=0).fit(Y)
        That = est.to_tensor()
        t_hf = time.perf_counter() - t0
    err, err_peer = _rel(That, T), _rel(np.asarray(Tp), T)
    rank_ok = abs(est.rank_ - r) <= 0.1 * r
    success = bool(rank_ok and err <= ERROR_FACTOR * err_peer)
    fac = est.factors_  # the debiased refit when it ran (README's naming rule)
    return {"success": success, "error": err, "error_peer": err_peer, "time": t_hf,
            "time_peer": t_peer, "params": params, "rank": int(est.rank_), "rank_ok": rank_ok,
            "noise_level": est.noise_level_, "noise_ratio": (est.noise_level_ or np.nan)
            / params["sigma"], "lam": est.lam_, "lam_rule": est.lam_rule_,
            "fms": factor_match_score(factors, fac) if est.rank_ else 0.0,
            "fms_peer": factor_match_score(factors, cp), "status": est.certificate_.status}
