"""Timing of the graph-TV prox and LMO of :mod:`homfact.tv` on the calcium-imaging problem size.

Measures, on the 48×48 pixel 8-connected grid (2304 nodes, 9024 edges):

* ``prox``: ``L1TVL2(0.1, 0.5, 1.0, 2304, grid_edges((48, 48), 8), nonnegative=True,
  prox_tol=1e-7)._prox`` on a ``2304 × 30`` random (seed 0) input with per-column weights
  ``w ∈ [0.5, 2]``: the cold call, then a warm call (same gauge, input perturbed by 1 %);
* ``lmo``: :func:`homfact.tv.lmo_l1_tv_l2` with ``tol=3e-2, prox_tol=1e-3`` (the structured
  model's setting) on 10 random directions (seeds 0-9): time, TV proxes per LMO (``bisections``)
  and their FISTA iterations;
* ``fit`` (unless ``--no-fit``): ``StructuredFactorization(image_shape=(48, 48),
  random_state=0).fit(Y)`` on ``blob_calcium_video((48, 48), 400, 18, noise=0.25, seed=0).Y``:
  time, ``rank_``, certificate status and objective, and the found fractions of the 18 true
  footprints under the two rules of ``robust_calcium.py``.

Run with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_tv_prox.py``.
Times are process CPU seconds (best of ``--repeat``; the fit also reports wall-clock seconds):
on a loaded shared machine CPU time is the less noisy of the two, but still noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from robust_calcium import match_rates  # noqa: E402

import homfact  # noqa: E402
from homfact.datasets import blob_calcium_video  # noqa: E402
from homfact.tv import L1TVL2, grid_edges, lmo_l1_tv_l2  # noqa: E402


def bench_prox(gauge: L1TVL2, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((gauge.n_nodes, 30))
    w = rng.uniform(0.5, 2.0, size=30)
    cols2 = cols + 0.01 * rng.standard_normal(cols.shape)
    cold, warm = [], []
    for _ in range(repeat):
        gauge._warm = None
        t0 = time.process_time()
        gauge._prox(cols, w)
        cold.append(time.process_time() - t0)
        t0 = time.process_time()
        gauge._prox(cols2, w)
        warm.append(time.process_time() - t0)
    return {"prox_cold_s": min(cold), "prox_warm_s": min(warm)}


def bench_lmo(gauge: L1TVL2, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal(gauge.n_nodes) for _ in range(10)]
    times, calls, iters, widths = [], [], [], []
    for _ in range(repeat):
        calls, iters, widths = [], [], []
        t0 = time.process_time()
        for g in gs:
            _, _, info = lmo_l1_tv_l2(g, gauge.k1, gauge.k2, gauge.k3, gauge.graph, None,
                                      gauge.nonnegative, 3e-2, return_info=True, prox_tol=1e-3)
            calls.append(info["bisections"])
            iters.append(info["prox_iterations"])
            widths.append((info["upper"] - info["lower"]) / info["upper"])
        times.append(time.process_time() - t0)
    return {"lmo_10_s": min(times), "lmo_prox_calls": calls, "lmo_prox_iterations": iters,
            "lmo_max_rel_width": max(widths)}


def bench_fit() -> dict:
    data = blob_calcium_video((48, 48), 400, 18, noise=0.25, seed=0)
    Y = data.Y
    t0, c0 = time.perf_counter(), time.process_time()
    est = homfact.StructuredFactorization(image_shape=(48, 48), random_state=0).fit(Y)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    cert = est.certificate_
    out = {"fit_wall_s": elapsed, "fit_cpu_s": cpu, "rank": int(est.rank_),
           "status": cert.status, "objective": float(cert.objective),
           "relative_gap": float(cert.relative_gap),
           "found_rates": match_rates(est.U_, data.spatial)}
    stats = getattr(est.gauges_[0], "_lmo_stats", None)  # (LMO calls, TV proxes in them)
    if stats is not None:
        out["fit_lmo_calls"], out["fit_lmo_prox_calls"] = stats
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-fit", action="store_true")
    args = ap.parse_args()
    gauge = L1TVL2(0.1, 0.5, 1.0, 2304, grid_edges((48, 48), 8), nonnegative=True,
                   prox_tol=1e-7)
    _ = gauge.graph.lipschitz  # one-off eigenvalue estimate, not timed
    out = {**bench_prox(gauge, args.repeat), **bench_lmo(gauge, args.repeat)}
    if not args.no_fit:
        out.update(bench_fit())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
