"""Benchmark 3 — scaling of the completion local solvers with the number of observed entries.

``homfact.solvers.als.als_masked`` runs a fixed number of sweeps (``tol=0``) from a random rank-10
start, for both methods (``"softimpute"``: the majorization sweep behind ``local_solver="als"``;
``"exact"``: row-wise ridge, ``local_solver="als-exact"``), at nnz = 1e5, 1e6, 1e7 (synthetic,
density 0.5 %, aspect 5:1, 100k×20k at the top, rank 10).

Per point (each in its own process, so the peak RSS is that point's):

* time per sweep = ``(t(1 + k sweeps) − t(1 sweep)) / k`` — the per-call setup (for ``"exact"``
  the CSR copies of the pattern) is reported apart as ``setup``;
* ``ns/nnz`` = time per sweep / nnz: flat means linear in nnz;
* peak memory of one 2-sweep call under ``tracemalloc`` (numpy buffers allocated by the solver,
  over and above the instance), and the process's peak RSS (``ru_maxrss``, instance included).

Run ``python benchmarks/bench_scaling.py [--quick]``; ``main(quick=True)`` takes a few seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from benchutil import bench_argparser, blas_threads, print_table, write_results  # noqa: E402

from homfact.maps import MaskedBilinear, masked_dot  # noqa: E402
from homfact.solvers.als import als_masked  # noqa: E402

MACHINE_MEMORY_GIB = 24.0
DENSITY = 0.005
ASPECT = 5.0
METHODS = ("softimpute", "exact")


def shape_for(nnz: int) -> tuple[int, int]:
    """``m×n`` with ``m = 5n`` and ``nnz / (m n) = 0.5 %`` (1e7 → 100000×20000)."""
    n = round(float(np.sqrt(nnz / DENSITY / ASPECT)))
    return round(ASPECT * n), n


def masked_instance(m: int, n: int, nnz: int, rank: int = 10, seed: int = 0):
    """``(mapping, y, rng)``: ``nnz`` distinct uniform entries of an ``m×n`` rank-``rank``
    matrix ``ABᵀ`` (standard normal factors) plus noise ``0.1·N(0, 1)``; ``rng`` continues
    the stream (callers draw their starts from it)."""
    rng = np.random.default_rng(seed)
    key = np.sort(rng.choice(m * n, size=nnz, replace=False))
    rows, cols = key // n, key % n
    del key
    mapping = MaskedBilinear((m, n), rows, cols)
    A = rng.standard_normal((m, rank))
    B = rng.standard_normal((n, rank))
    y = masked_dot(A, B, mapping.rows, mapping.cols) + 0.1 * rng.standard_normal(nnz)
    return mapping, y, rng


def make_instance(nnz: int, rank: int = 10, seed: int = 0):
    m, n = shape_for(nnz)
    mapping, y, rng = masked_instance(m, n, nnz, rank, seed)
    U0 = rng.standard_normal((m, rank))
    V0 = rng.standard_normal((n, rank))
    return mapping, y, U0, V0


def _instance_bytes(mapping, y) -> int:
    arrays = [y, mapping.rows, mapping.cols, mapping._indices, mapping._indptr, mapping.indptr,
              mapping.csc_order, mapping.col_indptr, mapping.row_counts, mapping.col_counts]
    return int(sum(a.nbytes for a in arrays))


def measure_point(nnz: int, rank: int = 10, extra_sweeps: int = 3, lam: float = 1.0,
                  seed: int = 0) -> dict:
    """Time per sweep and memory of both ALS methods at one size (in this process)."""
    t0 = time.perf_counter()
    mapping, y, U0, V0 = make_instance(nnz, rank, seed)
    build = time.perf_counter() - t0
    out = {"nnz": int(nnz), "shape": list(mapping.shape), "rank": rank, "lam": lam,
           "instance_build_s": build, "instance_mib": _instance_bytes(mapping, y) / 2**20,
           "extra_sweeps": extra_sweeps}
    for method in METHODS:
        def call(sweeps, method=method):
            t = time.perf_counter()
            res = als_masked(mapping, y, U0, V0, lam, method=method, max_sweeps=sweeps, tol=0.0)
            el = time.perf_counter() - t
            assert res.n_sweeps == sweeps, (res.n_sweeps, sweeps)
            return el
        t1 = call(1)
        tk = call(1 + extra_sweeps)
        per = (tk - t1) / extra_sweeps
        tracemalloc.start()
        call(2)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[method] = {"t_1_sweep_s": t1, f"t_{1 + extra_sweeps}_sweeps_s": tk,
                       "per_sweep_s": per, "setup_s": max(t1 - per, 0.0),
                       "ns_per_nnz": per / nnz * 1e9, "tracemalloc_peak_mib": peak / 2**20}
    out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _measure_in_subprocess(cfg: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"nnz": cfg["nnz"], "error": f"timed out after {timeout:g}s"}
    if proc.returncode != 0:
        return {"nnz": cfg["nnz"], "error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["subprocess_wall_s"] = time.perf_counter() - t0
    return res


def run(quick: bool, blas: int | None) -> dict:
    if quick:
        sizes, extra = [10_000, 100_000], 2
        with blas_threads(blas):
            points = [measure_point(s, extra_sweeps=extra) for s in sizes]
    else:
        sizes = [100_000, 1_000_000, 10_000_000]
        points = []
        for s in sizes:
            cfg = {"nnz": s, "extra_sweeps": 3 if s < 10_000_000 else 2, "blas": blas}
            points.append(_measure_in_subprocess(cfg, timeout=900))
    ok = [p for p in points if "error" not in p]
    summary = {}
    if len(ok) >= 2:
        for method in METHODS:
            x = np.log([p["nnz"] for p in ok])
            t = np.log([p[method]["per_sweep_s"] for p in ok])
            slope = float(np.polyfit(x, t, 1)[0])
            ns = [p[method]["ns_per_nnz"] for p in ok]
            summary[method] = {"loglog_slope_time_vs_nnz": slope,
                               "ns_per_nnz_max_over_min": max(ns) / min(ns)}
    top = ok[-1] if ok else None
    mem = {"machine_gib": MACHINE_MEMORY_GIB,
           "top_maxrss_gib": top["maxrss_mib"] / 1024 if top else None}
    if top:
        mem["fits"] = bool(mem["top_maxrss_gib"] < MACHINE_MEMORY_GIB)
    return {"sizes": sizes, "points": points, "summary": summary, "memory": mem}


def report(res: dict) -> None:
    rows = []
    for p in res["points"]:
        if "error" in p:
            rows.append([p["nnz"], "-", "error", p["error"], "", "", "", "", ""])
            continue
        for method in METHODS:
            q = p[method]
            rows.append([p["nnz"], f"{p['shape'][0]}x{p['shape'][1]}", method, q["per_sweep_s"],
                         q["ns_per_nnz"], q["setup_s"], q["tracemalloc_peak_mib"],
                         p["instance_mib"], p["maxrss_mib"]])
    print_table("completion ALS sweep scaling (rank 10, density 0.5%)",
                ["nnz", "shape", "method", "s/sweep", "ns/nnz", "setup [s]",
                 "solver peak [MiB]", "instance [MiB]", "proc maxRSS [MiB]"], rows)
    for method, s in res["summary"].items():
        print(f"{method}: log-log slope of time/sweep vs nnz = {s['loglog_slope_time_vs_nnz']:.3f}"
              f" (1 = linear); ns/nnz max/min = {s['ns_per_nnz_max_over_min']:.2f}")
    mem = res["memory"]
    if mem.get("top_maxrss_gib") is not None:
        print(f"top point peak RSS {mem['top_maxrss_gib']:.2f} GiB of {mem['machine_gib']:g} GiB"
              f" -> {'fits' if mem['fits'] else 'DOES NOT FIT'}")


def main(quick: bool = True, out_dir=None, blas: int | None = 1) -> dict:
    """Run the scaling benchmark (``quick``: nnz 1e4 and 1e5, in-process) and return results."""
    t0 = time.perf_counter()
    res = run(quick, blas)
    res["blas_threads"] = blas
    res["wall_s"] = time.perf_counter() - t0
    report(res)
    path = write_results("scaling", res, quick, out_dir)
    print(f"results -> {path}")
    return res


if __name__ == "__main__":
    ap = bench_argparser(__doc__)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        cfg = json.loads(a.worker)
        with blas_threads(cfg.pop("blas", None)):
            print(json.dumps(measure_point(**cfg)))
    else:
        main(quick=a.quick, blas=a.blas_threads or None)
