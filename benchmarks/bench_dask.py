"""Benchmark 11 — scale-out on Dask: one machine vs a LocalCluster, vs Spark MLlib ALS, on paper.

Instances as ``bench_scaling``: density 0.5 %, ``m = 5n``, rank 10 + noise 0.1 (10⁶ entries:
31625×6325, 10⁷: 100000×20000; quick mode 10⁵: 10000×2000), ``λ = 0.05 λ_max`` with
``λ_max = ‖P_Ω(Y)‖₂``.

1. **Against one machine** (each configuration in its own process, so the peak RSS is its own):
   ``single`` = ``homfact.solvers.als.als_masked(method="exact")`` in this process; ``dask1`` /
   ``dask2`` = ``homfact.distributed.exact_sweep`` on a ``LocalCluster`` of 1 / 2 worker
   processes with one thread each.  Reported: time per sweep (single: ``(t(1+k) − t(1))/k``, as
   bench_scaling; dask: the median of ``k`` timed sweeps after one warm-up, the blocking reported
   apart), time per Gram product ``Gᵀ(G x)`` (one Lanczos step of the polar), the time to a
   relative gap of 1e-5 through ``homfact.meta.grow`` (single machine: the exact polar of
   ``completion_problem``; cluster: ``OperatorNuclearPolar`` with ``allow_probabilistic=True``,
   default steps) with the status and the gap each reached, and the peak RSS of the client
   process (the scheduler runs in it) and of every worker (``VmHWM`` via ``client.run``).
1b. **Certified** (``--part certified``): a tall instance whose Gram side ``n = 2000`` is at
   most ``gram_max_dim = 2048`` (20000×2000, 10⁶ entries, 50 per row; quick: 1000×100,
   4·10⁴, 2 s cap), ``homfact.meta.grow(tol=1e-5)`` capped at 180 s: ``single``
   (``completion_problem``, local solver als-exact, the exact polar), ``dask2``
   (``distributed_completion_problem`` with its default polar: the residual's 2000×2000 Gram
   summed on the workers, deterministic, no probabilistic opt-in; its next eigenvectors are
   the growth candidates).  Reported: status, gap, rank, sweeps, the time
   spent in the descent and in the certificates (``problem.descend`` and
   ``homfact.meta.certify_factors`` timed), and from the history the time at which the
   certified relative gap first fell to 1e-3, 1e-4, 1e-5.
1c. **Dense** (``--part dense``): ``hf.LowRankApproximation(λ)``, ``λ = 0.05‖Y‖₂``, on a
   ``dask.array`` (LocalCluster 2×1, chunks of 50000 rows) against the same on NumPy, for
   10⁵×100 and 10⁶×100 (rank 10 + noise 0.1; ``--dense-m`` to change the rows): time per
   ridge-ALS sweep (``als_dense_blocks`` vs ``homfact.solvers.als.als_dense``), the whole fit,
   rank, status, the objectives' relative difference, client and worker peak RSS.
2. **Against Spark** (``pyspark``, optional: not a dependency of homfact; prints
   ``skipped: <reason>`` without it or without a JVM): ``pyspark.ml.recommendation.ALS``,
   ``local[2]``, rank 10: time per sweep from ``maxIter = 1`` and ``1 + k`` fits; held-out RMSE
   with each method's λ chosen on a validation split (80/10/10 split of the observed entries,
   4 values each: Spark's ``regParam``, homfact's ``lam`` as fractions of ``λ_max``).
3. **On paper** for 10⁹ entries on 16 nodes, from the measured per-block costs (formulas in
   ``paper()`` and benchmarks/README.md section 11).

Timings on a shared 2-core machine are noisy: medians of repeats, load average recorded.
Worker peak RSS is ``VmHWM`` (``ru_maxrss`` is carried over from the spawning client).
Run ``python benchmarks/bench_dask.py [--quick] [--part all|sweeps|certified|dense|spark]
[--no-spark] [--no-certify] [--sizes N ...] [--time-limit S] [--cert-time-limit S]
[--dense-m M ...] [--name NAME]`` (results ``results/dask.json`` or ``dask_<part>.json``);
``main(quick=True)`` runs every part but Spark at toy sizes in this process (well under a
minute) and returns the results dict.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from bench_scaling import make_instance, masked_instance, shape_for  # noqa: E402
from benchutil import bench_argparser, environment, print_table, write_results  # noqa: E402

RANK = 10
LAM_FRAC = 0.05
TOL = 1e-5
DELTA = 1e-9
CONFIGS = ("single", "dask1", "dask2")
#: Spark regParam grid and homfact lam grid (fractions of lam_max): same size
SPARK_GRID = (0.01, 0.03, 0.1, 0.3)
HOMFACT_GRID = (0.005, 0.01, 0.02, 0.05)
#: the paper instance of the issue: 10^7 x 10^6, 10^9 entries, 16 nodes
PAPER = {"m": 10_000_000, "n": 1_000_000, "nnz": 1_000_000_000, "nodes": 16, "rank": RANK}


def missing_dask() -> str | None:
    """``None`` when dask, distributed and dask.dataframe import, else the reason."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        return f"dask is not installed ({exc.name}); pip install 'homfact[dask]'"
    return None


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lam_max(mapping, y) -> float:
    from scipy.sparse.linalg import svds
    Y = mapping.operator(y)
    return float(svds(Y, k=1, return_singular_vectors=False, random_state=0)[0])


def _median(xs) -> float:
    return float(np.median(np.asarray(xs, dtype=float)))


# --------------------------------------------------------------------------------------------
# part 1: one configuration at one size (run in its own process)


def _single(mapping, y, U0, V0, lam: float, sweeps: int, repeat: int, certify: bool,
            time_limit: float) -> dict:
    """``als_masked(method="exact")`` sweeps, Gram products and the certified fit, one process."""
    from homfact.meta import grow
    from homfact.problems import completion_problem
    from homfact.solvers.als import als_masked

    def call(k: int) -> float:
        t = time.perf_counter()
        res = als_masked(mapping, y, U0, V0, lam, method="exact", max_sweeps=k, tol=0.0)
        assert res.n_sweeps == k
        return time.perf_counter() - t

    per = []
    for _ in range(repeat):
        t1, tk = call(1), call(1 + sweeps)
        per.append((tk - t1) / sweeps)
    out = {"per_sweep_s": _median(per), "per_sweep_all_s": per}
    R = mapping.operator(y - 0.0)
    x = np.random.default_rng(0).standard_normal(R.shape[1])
    gram = []
    for _ in range(10):
        t = time.perf_counter()
        R.T @ (R @ x)
        gram.append(time.perf_counter() - t)
    out["gram_product_s"] = _median(gram)
    if certify:
        t = time.perf_counter()
        res = grow(completion_problem(_csr(mapping, y), lam, local_solver="als-exact"), tol=TOL,
                   random_state=0, time_limit=time_limit)
        out["certify"] = _grow_record(res, time.perf_counter() - t)
    return out


def _csr(mapping, y):
    import scipy.sparse as sp
    return sp.csr_matrix((y, (mapping.rows, mapping.cols)), shape=mapping.shape)


def _grow_record(res, elapsed: float, tol: float = TOL) -> dict:
    c = res.certificate
    return {"time_s": elapsed, "status": c.status, "relative_gap": c.relative_gap,
            "relative_gap_probabilistic": c.relative_gap_probabilistic, "rank": res.rank,
            "n_iter": res.n_iter, "stop_reason": res.stop_reason, "method": c.method,
            "sweeps": int(sum(h.get("sweeps", 0) for h in res.history)),
            "gaps": [h.get("relative_gap") for h in res.history],
            "status_relative_gap": c.status_relative_gap,
            "reached": bool(c.is_certified and c.status_relative_gap <= tol)}


def _worker_rss() -> float:
    """Current resident set of this process (Linux ``/proc/self/statm``), MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker_maxrss() -> float:
    """Peak resident set of this worker process, MiB: ``VmHWM`` of ``/proc/self/status``, the
    high-water mark of this process's own address space.  Not ``ru_maxrss``: Linux carries
    ``ru_maxrss`` over ``fork``/``exec``, so a worker spawned by a client holding 800 MB
    reports at least 800 MB (measured); the results before 2026-12-03 had that flaw."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@contextlib.contextmanager
def _client_for(workers: int, client=None):
    """``client`` itself when given (quick mode shares one cluster), else a Client on a new
    :func:`_local_cluster` of ``workers``, closed on exit."""
    if client is not None:
        yield client
        return
    import distributed
    with _local_cluster(workers) as cluster, distributed.Client(cluster) as new:
        yield new


def _local_cluster(workers: int):
    """A LocalCluster of ``workers`` processes with one thread each, no memory limit, the
    scheduler's HTTP routes on a free port."""
    import distributed
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, memory_limit=0,
                                    scheduler_kwargs={"dashboard_address": ":0"})


def _dask(mapping, y, U0, V0, lam: float, workers: int, sweeps: int, certify: bool,
          time_limit: float) -> dict:
    """Exact sweeps, Gram products and the certified fit on a LocalCluster of ``workers``."""
    import distributed

    from homfact.distributed import BlockedEntries, distributed_completion_problem, exact_sweep
    from homfact.meta import grow
    from homfact.polar import OperatorNuclearPolar

    out: dict = {"workers": workers}
    t = time.perf_counter()
    with _local_cluster(workers) as cluster, distributed.Client(cluster) as client:
        out["cluster_start_s"] = time.perf_counter() - t
        out["worker_idle_rss_mib"] = sorted(client.run(_worker_rss).values())
        t = time.perf_counter()
        entries = BlockedEntries.from_triplets(mapping.rows, mapping.cols, y, mapping.shape,
                                               client=client)
        out["blocking_s"] = time.perf_counter() - t
        out["n_blocks"] = entries.n_blocks
        out["factor_rows_per_sweep"] = entries.factor_rows_per_sweep()
        out["ref_counts"] = {s: entries.ref_counts[s].tolist() for s in ("rows", "cols")}
        U, V = U0, V0
        per = []
        for _ in range(1 + sweeps):
            t = time.perf_counter()
            res = exact_sweep(entries, U, V, lam)
            per.append(time.perf_counter() - t)
            res.residual.release()
        out["first_sweep_s"] = per[0]
        out["per_sweep_s"] = _median(per[1:])
        out["per_sweep_all_s"] = per[1:]
        problem = distributed_completion_problem(entries, lam, allow_probabilistic=True,
                                                 delta=DELTA)
        G = problem.loss.y - problem.mapping.forward([U0, V0])
        op = problem.mapping.operator(G)
        x = np.random.default_rng(0).standard_normal(op.shape[1])
        gram = []
        for _ in range(10):
            t = time.perf_counter()
            op.rmatvec(op.matvec(x))
            gram.append(time.perf_counter() - t)
        out["gram_product_s"] = _median(gram)
        polar = problem.polar
        d = min(mapping.shape)
        out["lanczos_default_steps"] = polar.steps_for(d) if isinstance(
            polar, OperatorNuclearPolar) else None
        del G, op
        if certify:
            t = time.perf_counter()
            res = grow(problem, tol=TOL, random_state=0, time_limit=time_limit)
            out["certify"] = _grow_record(res, time.perf_counter() - t)
        out["worker_maxrss_mib"] = sorted(client.run(_worker_maxrss).values())
        entries.release()
    return out


def measure_config(nnz: int, config: str, sweeps: int = 3, repeat: int = 3,
                   certify: bool = True, time_limit: float = 600.0, seed: int = 0) -> dict:
    """One configuration (``single``, ``dask1``, ``dask2``) at one size, in this process."""
    t = time.perf_counter()
    mapping, y, U0, V0 = make_instance(nnz, RANK, seed)
    out = {"nnz": int(nnz), "shape": list(mapping.shape), "config": config,
           "instance_build_s": time.perf_counter() - t}
    lam = LAM_FRAC * _lam_max(mapping, y)
    out["lam"] = lam
    if config == "single":
        out.update(_single(mapping, y, U0, V0, lam, sweeps, repeat, certify, time_limit))
    else:
        out.update(_dask(mapping, y, U0, V0, lam, int(config[-1]), sweeps * repeat, certify,
                         time_limit))
    out["client_maxrss_mib"] = _maxrss_mib()
    out["loadavg_1min"] = os.getloadavg()[0]
    return out


def _in_subprocess(kind: str, cfg: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(
        {"kind": kind, **cfg})]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {**cfg, "error": f"timed out after {timeout:g}s"}
    if proc.returncode != 0:
        return {**cfg, "error": proc.stderr.strip().splitlines()[-3:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one_machine(sizes, sweeps: int, repeat: int, certify_sizes, time_limit: float) -> list:
    points = []
    for nnz in sizes:
        for config in CONFIGS:
            cfg = {"nnz": nnz, "config": config, "sweeps": sweeps, "repeat": repeat,
                   "certify": nnz in certify_sizes, "time_limit": time_limit}
            p = _in_subprocess("config", cfg, timeout=4 * time_limit + 1200)
            points.append(p)
            print(f"  {config} nnz={nnz:.0e}: "
                  f"{p.get('per_sweep_s', p.get('error'))} s/sweep", flush=True)
    return points


# --------------------------------------------------------------------------------------------
# part 1b: certified completion on a tall instance (the Gram side n <= gram_max_dim)

#: 10^6 entries on 20000x2000: 50 entries per row (5x rank 10), 500 per column, density 2.5 %;
#: r(m + n - r) = 2.2e5 degrees of freedom, 4.5x oversampled (the section-3 instance at 10^6:
#: 32 per row, 2.6x).  n = 2000 <= gram_max_dim = 2048: the workers sum the 2000x2000 Gram.
TALL = {"m": 20_000, "n": 2_000, "nnz": 1_000_000}
TALL_QUICK = {"m": 1_000, "n": 100, "nnz": 40_000}
CERT_TOLS = (1e-3, 1e-4, 1e-5)


def make_tall(m: int, n: int, nnz: int, rank: int = RANK, seed: int = 0):
    """``bench_scaling.make_instance``'s recipe (rank ``rank`` + noise 0.1, uniform entries)
    on a given ``m×n``."""
    mapping, y, _ = masked_instance(m, n, nnz, rank, seed)
    return mapping, y


def _timed_grow(problem, tol: float, time_limit: float) -> tuple:
    """``grow(problem, tol)`` with the time spent in the local descent (the sweeps) and in
    ``certify_factors`` (residual, polar, certificate) summed: the benchmark wraps
    ``problem.descend`` and ``homfact.meta.certify_factors`` (timing only)."""
    import homfact.meta as meta
    spent = {"descend_s": 0.0, "certify_s": 0.0, "n_certify": 0}
    descend = problem.descend

    def timed_descend(*a, **k):
        t = time.perf_counter()
        try:
            return descend(*a, **k)
        finally:
            spent["descend_s"] += time.perf_counter() - t

    orig = meta.certify_factors

    def timed_certify(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            spent["certify_s"] += time.perf_counter() - t
            spent["n_certify"] += 1

    problem.descend = timed_descend
    meta.certify_factors = timed_certify
    try:
        t = time.perf_counter()
        res = meta.grow(problem, tol=tol, random_state=0, time_limit=time_limit)
        elapsed = time.perf_counter() - t
    finally:
        meta.certify_factors = orig
        del problem.descend
    return res, elapsed, spent


def _time_to_gaps(res, lam: float, tols=CERT_TOLS) -> dict:
    """For each ``τ``: the first outer iteration whose certified relative gap is ``≤ τ`` (its
    ``elapsed``, rank, sweeps so far, and the status that record would carry at ``tol = τ``);
    ``None`` when never reached.  The gap of a record is a valid bound whenever its
    ``polar_upper`` is finite (deterministic)."""
    from homfact.certificate import decide_status
    from homfact.meta import DEFAULT_POLAR_RTOL
    out, sweeps = {}, 0
    recs = []
    for h in res.history:
        sweeps += int(h.get("sweeps", 0))
        recs.append((h, sweeps))
    for tau in tols:
        hit = None
        for h, sw in recs:
            if np.isfinite(h["polar_upper"]) and h["relative_gap"] <= tau:
                hit = {"time_s": h["elapsed"], "iteration": h["iteration"], "rank": h["rank"],
                       "sweeps": sw, "relative_gap": h["relative_gap"],
                       "status_at_tau": decide_status(h["polar_lower"], h["polar_upper"], lam,
                                                      h["relative_gap"], tau,
                                                      DEFAULT_POLAR_RTOL)}
                break
        out[f"{tau:g}"] = hit
    return out


def measure_certified(config: str, m: int, n: int, nnz: int, tol: float = 1e-5,
                      time_limit: float = 180.0, seed: int = 0, client=None) -> dict:
    """Time to certified relative gaps on the tall instance: ``single`` (``completion_problem``,
    als-exact, the exact polar) or ``dask2`` (``distributed_completion_problem``, default
    polar: the Gram summed on the workers when ``min(m, n) <= 2048``, no probabilistic opt-in)."""
    t = time.perf_counter()
    mapping, y = make_tall(m, n, nnz, RANK, seed)
    out: dict = {"config": config, "shape": [m, n], "nnz": int(nnz), "tol": tol,
                 "time_limit": time_limit, "instance_build_s": time.perf_counter() - t,
                 "entries_per_row": nnz / m, "entries_per_col": nnz / n}
    lam = LAM_FRAC * _lam_max(mapping, y)
    out["lam"] = lam
    if config == "single":
        from homfact.problems import completion_problem
        problem = completion_problem(_csr(mapping, y), lam, local_solver="als-exact")
        out["polar"] = type(problem.polar).__name__
        res, el, spent = _timed_grow(problem, tol, time_limit)
        out["certify"] = {**_grow_record(res, el, tol), **spent}
    else:
        from homfact.distributed import BlockedEntries, distributed_completion_problem
        with _client_for(int(config[4]), client) as client:
            t = time.perf_counter()
            entries = BlockedEntries.from_triplets(mapping.rows, mapping.cols, y,
                                                   mapping.shape, client=client)
            out["blocking_s"] = time.perf_counter() - t
            problem = distributed_completion_problem(entries, lam)
            out["polar"] = type(problem.polar).__name__
            res, el, spent = _timed_grow(problem, tol, time_limit)
            out["certify"] = {**_grow_record(res, el, tol), **spent}
            out["worker_maxrss_mib"] = sorted(client.run(_worker_maxrss).values())
            entries.release()
    out["time_to_gap"] = _time_to_gaps(res, lam)
    out["history"] = [{k: h.get(k) for k in ("iteration", "rank", "sweeps", "relative_gap",
                                              "status", "elapsed", "polar_upper", "polar_lower",
                                              "objective")} for h in res.history]
    out["client_maxrss_mib"] = _maxrss_mib()
    out["loadavg_1min"] = os.getloadavg()[0]
    return out


# --------------------------------------------------------------------------------------------
# part 1c: dense low-rank approximation, dask.array vs NumPy

#: (m, n, rows per chunk); rank 10 + noise 0.1; 10^6 x 100 is 800 MB
DENSE = ((100_000, 100, 50_000), (1_000_000, 100, 50_000))
DENSE_QUICK = ((4_000, 50, 1_000),)


def dense_instance(m: int, n: int, chunk_rows: int, rank: int = RANK, seed: int = 0):
    """``Y = A Bᵀ + 0.1 N`` as a dask array (``A``, ``N`` from ``dask.array.random`` with a
    fixed seed and chunks of ``chunk_rows`` rows, so every scheduler computes the same
    numbers; ``B`` a small NumPy array)."""
    import dask.array as da
    rs = da.random.RandomState(seed)
    A = rs.standard_normal((m, rank), chunks=(chunk_rows, rank))
    N = rs.standard_normal((m, n), chunks=(chunk_rows, n))
    B = np.random.default_rng(seed).standard_normal((n, rank))
    return A @ B.T + 0.1 * N


def measure_dense(config: str, m: int, n: int, chunk_rows: int, sweeps: int = 3,
                  repeat: int = 3, time_limit: float = 300.0, seed: int = 0,
                  client=None) -> dict:
    """``LowRankApproximation(λ)`` with ``λ = 0.05‖Y‖₂`` on NumPy (``numpy``) or on the dask
    array with a LocalCluster of 2 workers × 1 thread (``dask2``); time per ridge-ALS sweep
    (``als_dense`` / ``als_dense_blocks``, ``(t(1+k) − t(1))/k`` from the same random start)."""
    import homfact as hf
    Yda = dense_instance(m, n, chunk_rows, RANK, seed)
    out: dict = {"config": config, "shape": [m, n], "chunk_rows": chunk_rows,
                 "bytes": 8 * m * n, "sweeps": sweeps, "repeat": repeat}
    rng = np.random.default_rng(seed + 1)
    U0, V0 = rng.standard_normal((m, RANK)), rng.standard_normal((n, RANK))
    if config == "numpy":
        from homfact.solvers.als import als_dense
        t = time.perf_counter()
        Y = Yda.compute(scheduler="synchronous")
        out["generate_s"] = time.perf_counter() - t
        lam = LAM_FRAC * float(np.sqrt(np.linalg.eigvalsh(Y.T @ Y)[-1]))

        def call(k: int) -> float:
            t = time.perf_counter()
            res = als_dense(Y, U0, V0, lam, max_sweeps=k, tol=0.0)
            assert res.n_sweeps == k
            return time.perf_counter() - t
        fit_data = Y
    else:
        from homfact.distributed import DenseBlocks, als_dense_blocks
        stack = contextlib.ExitStack()
        client = stack.enter_context(_client_for(int(config[-1]), client))
        t = time.perf_counter()
        data = DenseBlocks.from_dask_array(Yda, client=client)
        out["blocks_s"] = time.perf_counter() - t     # generation on the workers included
        out["n_blocks"] = data.n_blocks
        from homfact.distributed.dense import DenseBlockOperator
        G, _, _ = DenseBlockOperator(data).gram_matrix()
        lam = LAM_FRAC * float(np.sqrt(np.linalg.eigvalsh(G)[-1]))

        def call(k: int) -> float:
            t = time.perf_counter()
            res = als_dense_blocks(data, U0, V0, lam, max_sweeps=k, tol=0.0)
            assert res.n_sweeps == k
            return time.perf_counter() - t
        fit_data = Yda
    out["lam"] = lam
    per = []
    for _ in range(repeat):
        t1, tk = call(1), call(1 + sweeps)
        per.append((tk - t1) / sweeps)
    out["per_sweep_s"] = _median(per)
    out["per_sweep_all_s"] = per
    if config != "numpy":
        data.release()
    t = time.perf_counter()
    est = hf.LowRankApproximation(lam, time_limit=time_limit, random_state=0).fit(fit_data)
    out["fit_s"] = time.perf_counter() - t
    c = est.certificate_
    out.update(rank=int(est.rank_), status=c.status, relative_gap=c.relative_gap,
               objective=c.objective, n_iter=int(est.n_iter_), stop_reason=est.stop_reason_,
               fit_sweeps=int(sum(h.get("sweeps", 0) for h in est.history_)),
               tol=est.tol)
    if config != "numpy":
        out["worker_maxrss_mib"] = sorted(client.run(_worker_maxrss).values())
        stack.close()
    out["client_maxrss_mib"] = _maxrss_mib()
    out["loadavg_1min"] = os.getloadavg()[0]
    return out


def certified_part(inst: dict, time_limit: float, quick: bool,
                   configs=("single", "dask2"), client=None) -> dict:
    out = {"instance": inst, "lam_frac": LAM_FRAC, "tols": list(CERT_TOLS), "points": []}
    for config in configs:
        cfg = {"config": config, **inst, "tol": CERT_TOLS[-1], "time_limit": time_limit}
        p = (measure_certified(**cfg, client=None if config == "single" else client) if quick
             else _in_subprocess("certified", cfg, timeout=time_limit + 900))
        out["points"].append(p)
        print(f"  certified {config}: {p.get('certify', {}).get('status', p.get('error'))}",
              flush=True)
    return out


def dense_part(instances, sweeps: int, repeat: int, time_limit: float, quick: bool,
               client=None) -> dict:
    out: dict = {"rank": RANK, "lam_frac": LAM_FRAC, "points": []}
    for m, n, c in instances:
        for config in ("numpy", "dask2"):
            cfg = {"config": config, "m": m, "n": n, "chunk_rows": c, "sweeps": sweeps,
                   "repeat": repeat, "time_limit": time_limit}
            p = (measure_dense(**cfg, client=None if config == "numpy" else client) if quick
                 else _in_subprocess("dense", cfg, timeout=time_limit + 900))
            out["points"].append(p)
            print(f"  dense {m}x{n} {config}: {p.get('per_sweep_s', p.get('error'))} s/sweep",
                  flush=True)
        pts = [q for q in out["points"][-2:] if "error" not in q]
        if len(pts) == 2:
            a, b = pts
            pts[1]["objective_rel_diff_vs_numpy"] = abs(b["objective"] - a["objective"]) / abs(
                a["objective"])
    return out


# --------------------------------------------------------------------------------------------
# part 2: Spark MLlib ALS


def missing_spark() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (optional, benchmark only: pip install pyspark)"
    try:
        subprocess.run(["java", "-version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no Java runtime ({exc})"
    return None


def _split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """80/10/10 train/validation/test split of the observed entries (indices)."""
    perm = np.random.default_rng(seed + 1).permutation(n)
    a, b = int(0.8 * n), int(0.9 * n)
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])


def _rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def measure_spark(nnz: int, sweeps: int = 3, repeat: int = 3, seed: int = 0,
                  max_iter: int = 20) -> dict:
    """Spark ALS (``local[2]``, rank 10): time per sweep and the tuned held-out RMSE."""
    import pandas as pd
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession

    mapping, y, _, _ = make_instance(nnz, RANK, seed)
    rows, cols = mapping.rows.astype(np.int64), mapping.cols.astype(np.int64)
    out: dict = {"nnz": int(nnz), "shape": list(mapping.shape), "rank": RANK}
    t = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("homfact-bench")
             .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    # without a checkpoint directory ALS cannot cut its lineage (checkpointInterval 10) and
    # overflows the JVM stack at 20 iterations
    import tempfile
    ckpt = tempfile.mkdtemp(prefix="homfact_spark_ckpt_")
    spark.sparkContext.setCheckpointDir(ckpt)
    out["spark_start_s"] = time.perf_counter() - t
    out["spark_version"] = spark.version
    try:
        def frame(idx):
            df = spark.createDataFrame(pd.DataFrame({"row": rows[idx], "col": cols[idx],
                                                     "value": y[idx]}))
            return df.repartition(4).cache()

        full = frame(np.arange(nnz))
        full.count()

        def fit(df, k: int, reg: float):
            als = ALS(rank=RANK, maxIter=k, regParam=reg, userCol="row", itemCol="col",
                      ratingCol="value", seed=0, coldStartStrategy="drop",
                      numUserBlocks=2, numItemBlocks=2)
            t = time.perf_counter()
            model = als.fit(df)
            model.userFactors.count()
            model.itemFactors.count()
            return time.perf_counter() - t, model

        fit(full, 1, 0.1)       # JIT warm-up
        per, firsts = [], []
        for _ in range(repeat):
            t1, _ = fit(full, 1, 0.1)
            tk, _ = fit(full, 1 + sweeps, 0.1)
            per.append((tk - t1) / sweeps)
            firsts.append(t1)
        out["per_sweep_s"] = _median(per)
        out["per_sweep_all_s"] = per
        out["t_1_iter_fit_s"] = _median(firsts)
        full.unpersist()
        tr, va, te = _split(nnz, seed)
        dtr, dva, dte = frame(tr), frame(va), frame(te)
        dtr.count()
        grid = []
        for reg in SPARK_GRID:
            el, model = fit(dtr, max_iter, reg)
            pv = model.transform(dva).select("value", "prediction").toPandas()
            grid.append({"regParam": reg, "fit_s": el, "val_rmse": _rmse(
                pv["prediction"].to_numpy(), pv["value"].to_numpy()),
                "val_predicted": len(pv)})
        best = min(grid, key=lambda g: g["val_rmse"])
        _, model = fit(dtr, max_iter, best["regParam"])
        pt = model.transform(dte).select("value", "prediction").toPandas()
        out["grid"] = grid
        out["best_regParam"] = best["regParam"]
        out["max_iter"] = max_iter
        out["test_rmse"] = _rmse(pt["prediction"].to_numpy(), pt["value"].to_numpy())
        out["test_predicted"] = len(pt)
        out["test_size"] = int(te.size)
    finally:
        spark.stop()
        import shutil
        shutil.rmtree(ckpt, ignore_errors=True)
    out["loadavg_1min"] = os.getloadavg()[0]
    return out


def measure_homfact_rmse(nnz: int, seed: int = 0, tol: float = 1e-4,
                         time_limit: float = 120.0) -> dict:
    """homfact ``MatrixCompletion`` (als-exact) on the same split, lam tuned on validation."""
    import scipy.sparse as sp

    import homfact as hf
    from homfact.maps import MaskedBilinear

    mapping, y, _, _ = make_instance(nnz, RANK, seed)
    rows, cols = mapping.rows, mapping.cols
    tr, va, te = _split(nnz, seed)
    m, n = mapping.shape
    Ytr = sp.csr_matrix((y[tr], (rows[tr], cols[tr])), shape=(m, n))
    lam_max = _lam_max(MaskedBilinear((m, n), rows[tr], cols[tr]), y[tr])
    grid = []
    for frac in HOMFACT_GRID:
        t = time.perf_counter()
        est = hf.MatrixCompletion(frac * lam_max, tol=tol, local_solver="als-exact",
                                  random_state=0, time_limit=time_limit).fit(Ytr)
        el = time.perf_counter() - t
        grid.append({"lam_frac": frac, "lam": frac * lam_max, "fit_s": el, "rank": est.rank_,
                     "status": est.certificate_.status,
                     "val_rmse": _rmse(est.predict(rows[va], cols[va]), y[va])})
    best = min(grid, key=lambda g: g["val_rmse"])
    est = hf.MatrixCompletion(best["lam"], tol=tol, local_solver="als-exact",
                              random_state=0, time_limit=time_limit).fit(Ytr)
    return {"nnz": int(nnz), "lam_max": lam_max, "tol": tol, "grid": grid,
            "best_lam_frac": best["lam_frac"], "rank": est.rank_, "time_limit": time_limit,
            "test_rmse": _rmse(est.predict(rows[te], cols[te]), y[te]),
            "noise_floor_rmse": 0.1, "loadavg_1min": os.getloadavg()[0]}


def against_spark(nnz: int, sweeps: int, repeat: int, timeout: float) -> dict:
    reason = missing_spark()
    if reason:
        print(f"spark: skipped: {reason}")
        return {"skipped": reason}
    sp_res = _in_subprocess("spark", {"nnz": nnz, "sweeps": sweeps, "repeat": repeat},
                            timeout)
    if "error" in sp_res:
        print(f"spark: skipped: {sp_res['error']}")
        return {"skipped": f"Spark failed: {sp_res['error']}"}
    hf_res = _in_subprocess("rmse", {"nnz": nnz}, timeout)
    return {"spark": sp_res, "homfact": hf_res}


# --------------------------------------------------------------------------------------------
# part 3: on paper


def expected_refs(counts: np.ndarray, B: int) -> float:
    """``E Σ_b |ref_b| = Σ_j B(1 − (1 − 1/B)^{c_j})`` for other-side ids ``j`` of ``c_j``
    entries each, hashed uniformly into ``B`` blocks (a block references ``j`` iff one of its
    entries does)."""
    c = np.asarray(counts, dtype=float)
    return float(np.sum(B * (1.0 - (1.0 - 1.0 / B) ** c)))


def paper(points: list, target: dict = PAPER) -> dict:
    """Bytes per sweep, memory per worker and Lanczos products for ``target``.

    * factor rows moved per sweep: ``E_rows = n·B(1 − (1 − 1/B)^{nnz/n})`` (row blocks receive
      rows of ``V``; column counts ``≈ nnz/n`` each) plus ``m·B(1 − (1 − 1/B)^{nnz/m})`` (column
      blocks receive rows of ``U``), each ``8r`` bytes; the formula is checked against
      ``BlockedEntries.factor_rows_per_sweep()`` on the measured instances;
    * time per sweep per node: measured dask2 ``s/sweep`` / (nnz / 2 workers) × (nnz / nodes);
    * memory per worker: idle worker RSS + (peak worker RSS − idle) / (entries per worker) ×
      nnz/nodes, measured on the largest dask2 point (the blocks, the factor rows received,
      the solve buffers: all grow with the entries held); the factors ``8r(m + n)`` sit on the
      client;
    * Lanczos products: ``lanczos_steps_for_accuracy(τ, δ, d)`` with ``d = min(m, n)``,
      ``δ = 1e-9``; the relative gap the bound supports is about ``τ`` (``ε ≈ 2τ``, the dual
      scaling costs ``(ε/2)λ‖Z‖_* ≤ (ε/2)·objective``).
    """
    from homfact.polar.operator_bounds import lanczos_epsilon, lanczos_steps_for_accuracy

    m, n, nnz, B, r = target["m"], target["n"], target["nnz"], target["nodes"], target["rank"]
    out: dict = {"target": target}
    checks = []
    for p in points:
        if p.get("config") != "dask2" or "error" in p:
            continue
        mm, nn = p["shape"]
        pred = (expected_refs(np.full(nn, p["nnz"] / nn), p["n_blocks"])
                + expected_refs(np.full(mm, p["nnz"] / mm), p["n_blocks"]))
        checks.append({"nnz": p["nnz"], "B": p["n_blocks"],
                       "measured_factor_rows": p["factor_rows_per_sweep"],
                       "formula_factor_rows": pred,
                       "ratio": p["factor_rows_per_sweep"] / pred})
    out["factor_rows_formula_check"] = checks
    rows_moved = (expected_refs(np.full(n, nnz / n), B) + expected_refs(np.full(m, nnz / m), B))
    local_frac = 1.0 / B      # a referenced row of a block held by the same node is not sent
    out["factor_rows_per_sweep"] = rows_moved
    out["bytes_per_sweep"] = rows_moved * (1 - local_frac) * 8 * r
    # through the client: V out as B root pieces, U and V gathered back (exact_sweep)
    out["bytes_client_per_sweep"] = 8 * r * (m + 2 * n)
    d2 = [p for p in points if p.get("config") == "dask2" and "error" not in p]
    if d2:
        top = max(d2, key=lambda p: p["nnz"])
        ns = top["per_sweep_s"] / (top["nnz"] / 2) * 1e9
        out["measured_from_nnz"] = top["nnz"]
        out["ns_per_entry_per_worker"] = ns
        out["sweep_s_per_node"] = ns * 1e-9 * nnz / B
        base = max(top["worker_idle_rss_mib"]) * 2**20
        per_entry = (max(top["worker_maxrss_mib"]) * 2**20 - base) / (top["nnz"] / 2)
        out["worker_bytes_per_entry"] = per_entry
        out["worker_base_mib"] = base / 2**20
        out["worker_gib"] = (base + per_entry * nnz / B) / 2**30
        gram_ns = top["gram_product_s"] / (top["nnz"] / 2) * 1e9
        out["gram_ns_per_entry_per_worker"] = gram_ns
    out["client_factor_gib"] = 8 * r * (m + n) / 2**30
    d = min(m, n)
    lz = {}
    for tau in (1e-3, 1e-4, 1e-5):
        k = lanczos_steps_for_accuracy(tau, DELTA, d)
        lz[f"{tau:g}"] = {"steps": k, "eps": lanczos_epsilon(DELTA, k, d),
                          "lanczos_vectors_gib": 8.0 * k * d / 2**30}
        if "gram_ns_per_entry_per_worker" in out:
            lz[f"{tau:g}"]["products_s"] = k * out["gram_ns_per_entry_per_worker"] * 1e-9 * (
                nnz / B)
    out["lanczos"] = lz
    return out


# --------------------------------------------------------------------------------------------


PARTS = ("sweeps", "certified", "dense")


def run(quick: bool, spark: bool = True, certify: bool = True, time_limit: float = 600.0,
        sizes: list[int] | None = None, parts=PARTS, cert_time_limit: float = 180.0,
        dense_m: list[int] | None = None,
        cert_configs=("single", "dask2")) -> dict:
    if quick:
        sizes, sweeps, repeat, certify_sizes = [100_000], 2, 1, []
        spark_nnz, spark_sweeps, spark_repeat = 100_000, 2, 1
        tall, dense, cert_time_limit = TALL_QUICK, DENSE_QUICK, min(cert_time_limit, 2.0)
    else:
        sizes, sweeps, repeat = sizes or [1_000_000, 10_000_000], 3, 3
        certify_sizes = [s for s in sizes if s <= 1_000_000] if certify else []
        spark_nnz, spark_sweeps, spark_repeat = 1_000_000, 3, 3
        tall = TALL
        dense = DENSE if dense_m is None else tuple((m, 100, 50_000) for m in dense_m)
    res: dict = {"parts": list(parts), "rank": RANK, "lam_frac": LAM_FRAC, "tol": TOL,
                 "delta": DELTA, "loadavg_start": list(os.getloadavg())}
    reason = missing_dask()
    if reason:
        print(f"dask: skipped: {reason}")
        res["skipped"] = reason
        return res
    if "sweeps" in parts:
        res.update(sizes=sizes, shapes={str(s): shape_for(s) for s in sizes})
        if quick:   # in this process: seconds
            res["points"] = [measure_config(s, c, sweeps, repeat, False) for s in sizes
                             for c in CONFIGS]
        else:
            res["points"] = one_machine(sizes, sweeps, repeat, certify_sizes, time_limit)
        res["paper"] = paper(res["points"])
    with contextlib.ExitStack() as stack:
        # quick mode: one 2-worker cluster for the certified and dense parts (seconds saved)
        shared = (stack.enter_context(_client_for(2)) if quick and (
            {"certified", "dense"} & set(parts)) else None)
        if "certified" in parts:
            res["certified"] = certified_part(tall, cert_time_limit, quick,
                                              tuple(cert_configs), shared)
        if "dense" in parts:
            res["dense"] = dense_part(dense, sweeps, repeat, 300.0 if not quick else 30.0,
                                      quick, shared)
    if spark:
        res["spark"] = against_spark(spark_nnz, spark_sweeps, spark_repeat,
                                     timeout=1800 if not quick else 600)
    elif "sweeps" in parts:
        res["spark"] = {"skipped": "--no-spark"}
    res["loadavg_end"] = list(os.getloadavg())
    return res


def report(res: dict) -> None:
    if "skipped" in res:
        return
    if "points" in res:
        report_sweeps(res)
    if "certified" in res:
        report_certified(res["certified"])
    if "dense" in res:
        report_dense(res["dense"])


def report_certified(cres: dict) -> None:
    rows = []
    for p in cres["points"]:
        if "error" in p:
            rows.append([p["config"], "error", str(p["error"])[:60]] + [""] * 9)
            continue
        c = p["certify"]
        ttg = p["time_to_gap"]
        rows.append([p["config"], c["status"], c["relative_gap"], c["rank"], c["sweeps"],
                     c["n_iter"], c["time_s"], c["descend_s"], c["certify_s"],
                     *[(ttg[f"{t:g}"] or {}).get("time_s") for t in CERT_TOLS]])
    inst = cres["instance"]
    print_table(f"certified completion {inst['m']}x{inst['n']}, {inst['nnz']:.0e} entries, "
                f"grow(tol=1e-5)", ["config", "status", "rel gap", "rank", "sweeps", "iters",
                                    "time [s]", "descend [s]", "certify [s]",
                                    *[f"t(gap<={t:g}) [s]" for t in CERT_TOLS]], rows)


def report_dense(dres: dict) -> None:
    rows = []
    for p in dres["points"]:
        if "error" in p:
            rows.append([p.get("m"), p["config"], "error", str(p["error"])[:60]] + [""] * 6)
            continue
        rows.append(["x".join(map(str, p["shape"])), p["config"], p["per_sweep_s"],
                     p["fit_s"], p["rank"], p["status"], p.get("objective_rel_diff_vs_numpy"),
                     p["client_maxrss_mib"], max(p.get("worker_maxrss_mib", [0]) or [0])])
    print_table("LowRankApproximation: dask.array (2 workers) vs NumPy",
                ["shape", "config", "s/sweep", "fit [s]", "rank", "status", "obj rel diff",
                 "client RSS [MiB]", "worker RSS [MiB]"], rows)


def report_sweeps(res: dict) -> None:
    rows = []
    base = {p["nnz"]: p for p in res["points"] if p.get("config") == "single" and "error" not in p}
    for p in res["points"]:
        if "error" in p:
            rows.append([p["nnz"], p["config"], "error", str(p["error"])[:60]] + [""] * 7)
            continue
        b = base.get(p["nnz"])
        ratio = p["per_sweep_s"] / b["per_sweep_s"] if b else None
        cert = p.get("certify", {})
        rows.append([p["nnz"], p["config"], p["per_sweep_s"], ratio, p["gram_product_s"],
                     cert.get("time_s"), cert.get("status"),
                     cert.get("relative_gap"), cert.get("relative_gap_probabilistic"),
                     p["client_maxrss_mib"], max(p.get("worker_maxrss_mib", [0]) or [0])])
    print_table("one machine vs LocalCluster (exact ALS sweeps, rank 10, density 0.5%)",
                ["nnz", "config", "s/sweep", "x single", "s/Gram product", "t_cert [s]",
                 "status", "rel gap", "rel gap (prob.)", "client RSS [MiB]",
                 "worker RSS [MiB]"], rows)
    sp_ = res.get("spark", {})
    if "skipped" in sp_:
        print(f"spark: skipped: {sp_['skipped']}")
    else:
        s, h = sp_["spark"], sp_["homfact"]
        print_table(f"Spark MLlib ALS {s.get('spark_version')} local[2] vs homfact, "
                    f"nnz={s['nnz']:.0e}", ["method", "s/sweep", "best reg", "test RMSE"],
                    [["spark ALS", s["per_sweep_s"], s["best_regParam"], s["test_rmse"]],
                     ["homfact (1 process)", next((p["per_sweep_s"] for p in res["points"]
                                                   if p.get("config") == "single"
                                                   and p["nnz"] == s["nnz"]), None),
                      f"{h['best_lam_frac']:g} lam_max", h["test_rmse"]]])
    pa = res["paper"]
    print(f"\non paper (10^9 entries, {pa['target']['nodes']} nodes): factor rows/sweep "
          f"{pa['factor_rows_per_sweep']:.3g}, bytes/sweep {pa['bytes_per_sweep']:.3g}; "
          f"worker {pa.get('worker_gib', float('nan')):.3g} GiB; Lanczos steps "
          + ", ".join(f"tau {k}: {v['steps']}" for k, v in pa["lanczos"].items()))


def main(quick: bool = True, out_dir=None, blas: int | None = 1, spark: bool | None = None,
         certify: bool = True, time_limit: float = 600.0, sizes: list[int] | None = None,
         name: str = "dask", parts=PARTS, cert_time_limit: float = 180.0,
         dense_m: list[int] | None = None,
         cert_configs=("single", "dask2")) -> dict:
    """Run the Dask benchmark and return the results (``quick``: toy sizes in this process,
    seconds; ``spark``: default off in quick mode, on otherwise; ``parts``: any of
    ``"sweeps"``, ``"certified"``, ``"dense"``); ``blas`` is accepted for run_all's signature
    (every process here runs with one BLAS thread)."""
    del blas
    spark = (not quick) if spark is None else spark
    t0 = time.perf_counter()
    res = run(quick, spark=spark, certify=certify, time_limit=time_limit, sizes=sizes,
              parts=tuple(parts), cert_time_limit=cert_time_limit, dense_m=dense_m,
              cert_configs=cert_configs)
    res["wall_s"] = time.perf_counter() - t0
    res["environment_start"] = environment()
    report(res)
    path = write_results(name, res, quick, out_dir)
    print(f"results -> {path}")
    return res


def _worker_main(cfg: dict) -> None:
    kind = cfg.pop("kind")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        if kind == "config":
            out = measure_config(**cfg)
        elif kind == "certified":
            out = measure_certified(**cfg)
        elif kind == "dense":
            out = measure_dense(**cfg)
        elif kind == "spark":
            out = measure_spark(**cfg)
        else:
            out = measure_homfact_rmse(**cfg)
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    ap = bench_argparser(__doc__)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--no-spark", action="store_true", help="skip the Spark comparison")
    ap.add_argument("--no-certify", action="store_true",
                    help="sweeps part: skip the time to gap 1e-5")
    ap.add_argument("--part", choices=("all", "spark", *PARTS), default="all",
                    help="all: sweeps, certified, dense (and Spark unless --no-spark)")
    ap.add_argument("--sizes", type=int, nargs="+", help="nnz values (sweeps part)")
    ap.add_argument("--dense-m", type=int, nargs="+",
                    help="rows of the dense instances (100 columns; default 1e5 and 1e6)")
    ap.add_argument("--time-limit", type=float, default=600.0,
                    help="cap of each fit to gap 1e-5 in the sweeps part [s]")
    ap.add_argument("--cert-time-limit", type=float, default=180.0,
                    help="cap of each fit in the certified part [s]")
    ap.add_argument("--cert-configs", nargs="+", choices=("single", "dask2"),
                    default=["single", "dask2"], help="configs of the certified part")
    ap.add_argument("--name", help="results/<name>.json (default dask, or dask_<part>)")
    a = ap.parse_args()
    if a.worker:
        _worker_main(json.loads(a.worker))
    elif a.part == "spark":
        sp_res = against_spark(100_000 if a.quick else 1_000_000, 2 if a.quick else 3,
                               1 if a.quick else 3, 1800)
        print(json.dumps(sp_res, default=float, indent=1))
        print(f"results -> {write_results('dask_spark', sp_res, a.quick)}")
    else:
        parts = PARTS if a.part == "all" else (a.part,)
        name = a.name or ("dask" if a.part in ("all", "sweeps") else f"dask_{a.part}")
        main(quick=a.quick,
             spark=False if (a.no_spark or a.part != "all") else None,
             certify=not a.no_certify, time_limit=a.time_limit, sizes=a.sizes, name=name,
             parts=parts, cert_time_limit=a.cert_time_limit, dense_m=a.dense_m,
             cert_configs=a.cert_configs)
