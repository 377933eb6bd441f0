"""Benchmark 4 — robust PCA: certified split model (debiased) versus inexact ALM and tensorly.

Instance (the setup of Lin, Chen & Ma 2010, section 5): ``D = A* + E*`` with
``A* = L Rᵀ`` (``L``, ``R`` m×r and n×r, i.i.d. N(0, 1); 1000×1000, rank 20) and ``E*``
supported on a uniformly random 5 % of the entries with values uniform in ``[−500, 500]``.
The full run uses several instances (seeds, and a 500×800 rank-10 one) so that the ratios are
not those of one instance.

Methods, in one process, each under the same BLAS thread limit:

* **IALM** (``inexact_alm.py``): Algorithm 5 of Lin, Chen & Ma 2010 for principal component
  pursuit ``min ‖A‖_* + λ‖E‖₁ s.t. D = A + E``, ``λ = 1/√max(m, n)``, ``μ₀ = 1.25/‖D‖₂``,
  ``ρ = 1.5``, stop at ``‖D − A − E‖_F/‖D‖_F < 1e-7``, the authors' partial-SVD scheme with
  PROPACK.  The baseline; best of ``repeat``, interleaved with homfact.  The code's update
  order (E before A) is run once for information (first instance).
* **homfact** ``hf.RobustPCA(lam="auto", gamma=γ, tol=1e-6)`` (defaults otherwise, so
  ``debias=True``; the primary ``γ`` is ``"auto"``, the estimator's default: ``γ = 1/(cσ̂)``
  from the estimated noise level, floored for noise-free data): certifies the split objective
  ``‖E‖₁ + λΣ‖uᵢ‖‖vᵢ‖ + (γ/2)‖D − UVᵀ − E‖²`` with ``λ = √max(m, n)`` — PCP's weighting
  divided by ``1/√max(m, n)`` — then refits the low-rank part at the certified rank by least
  squares on the detected inliers (the reported ``low_rank_``).  The certified solution's own
  error (``certified_low_rank_``, biased by about ``λ/γ`` per singular value) is reported too.
* **tensorly** ``tensorly.decomposition.robust_pca`` (optional; ``pip install tensorly``): ALM for
  ``Σₖ reg_J‖A₍ₖ₎‖_* + reg_E‖E‖₁`` over the unfoldings; a matrix has two (``A`` and ``Aᵀ``), so
  ``reg_J = 1``, ``reg_E = 2/√max(m, n)`` is PCP.  Its other parameters are its defaults
  (``mu_init = 1e-4``, ``learning_rate = 1.1``, ``n_iter_max = 100``, absolute ``tol = 1e-6``),
  two full SVDs per iteration (minutes at 1000×1000: first instance only by default).

Reported per instance: relative recovery error ``‖Â − A*‖_F/‖A*‖_F`` (and of ``E``), rank, time,
homfact's certificate, and the ratios ``t_homfact/t_ialm`` (target ≤ 1) and
``err_homfact/err_ialm`` (target ≤ 1.5); then a summary over the instances.  ``profile=True``
(``--profile``) times the parts of homfact's fit (continuation, certification, refit).

Run ``python benchmarks/bench_rpca.py [--quick] [--profile] [--seeds 0 1] [--tensorly all]``;
``main(quick=True)`` takes a few seconds.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from benchutil import bench_argparser, best_of, blas_threads, print_table, write_results  # noqa: E402
from inexact_alm import inexact_alm_rpca  # noqa: E402

import homfact as hf  # noqa: E402

TARGET_TIME_RATIO = 1.0
TARGET_ERROR_RATIO = 1.5


def make_instance(m: int, n: int, rank: int, frac: float = 0.05, magnitude: float = 500.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``D = A + E``: ``A = L Rᵀ`` (N(0, 1) factors), ``E`` ``frac`` sparse, uniform ±magnitude."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    E = np.zeros((m, n))
    k = round(frac * m * n)
    idx = rng.choice(m * n, size=k, replace=False)
    E.flat[idx] = rng.uniform(-magnitude, magnitude, size=k)
    return A + E, A, E


def _rel(X: np.ndarray, X0: np.ndarray) -> float:
    return float(np.linalg.norm(X - X0) / np.linalg.norm(X0))


def _numerical_rank(X: np.ndarray, rel: float = 1e-6) -> int:
    s = np.linalg.svd(X, compute_uv=False)
    return int(np.sum(s > rel * s[0])) if s.size and s[0] > 0 else 0


def _fit_homfact(D: np.ndarray, gamma, tol: float):
    return hf.RobustPCA(lam="auto", gamma=gamma, tol=tol, random_state=0).fit(D)


def _g(gamma) -> str:
    """``auto`` or the number, for the tables."""
    return gamma if isinstance(gamma, str) else f"{gamma:g}"


def _homfact_row(model, t: float, A: np.ndarray, E: np.ndarray, times: list[float]) -> dict:
    cert = model.certificate_
    info = model.debias_info_ or {}
    gamma = model.gamma if isinstance(model.gamma, str) else float(model.gamma)
    return {"gamma": gamma, "gamma_used": float(model.gamma_),
            "noise_level": model.noise_level_, "time_s": t, "times_s": times,
            "error_lowrank": _rel(model.low_rank_, A), "error_sparse": _rel(model.sparse_, E),
            "error_lowrank_certified": _rel(model.certified_low_rank_, A),
            "error_sparse_certified": _rel(model.certified_sparse_, E),
            "debiased": bool(model.debiased_), "debias": {k: v for k, v in info.items()},
            "rank": int(model.rank_), "status": cert.status,
            "relative_gap": float(cert.relative_gap), "n_iter": int(model.n_iter_),
            "continuation_stages": len(model.continuation_),
            "continuation_iterations": int(sum(c["n_iter"] for c in model.continuation_)),
            "stage_deltas": [c["delta"] for c in model.continuation_]}


def _run_tensorly(D: np.ndarray, A: np.ndarray, E: np.ndarray, n_iter_max: int) -> dict:
    try:
        from tensorly.decomposition import robust_pca
    except Exception as exc:  # any import problem means "skipped"
        return {"skipped": f"{type(exc).__name__}: {exc}".strip()}
    lam = 1.0 / np.sqrt(max(D.shape))
    t0 = time.perf_counter()
    Ahat, Ehat, errs = robust_pca(D, reg_E=2.0 * lam, reg_J=1.0, n_iter_max=n_iter_max,
                                  return_errors=True, verbose=0)
    t = time.perf_counter() - t0
    Ahat, Ehat = np.asarray(Ahat), np.asarray(Ehat)
    import tensorly

    return {"version": tensorly.__version__, "time_s": t, "n_iter": len(errs),
            "n_iter_max": n_iter_max, "final_residual": float(errs[-1]),
            "error_lowrank": _rel(Ahat, A), "error_sparse": _rel(Ehat, E),
            "rank": _numerical_rank(Ahat), "reg_E": 2.0 * lam, "reg_J": 1.0}


def profile_homfact(D: np.ndarray, gamma, tol: float) -> dict:
    """Where homfact's time goes, per part of the fit (cProfile, cumulative seconds)."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    _fit_homfact(D, gamma, tol)
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    wanted = {"_continuation": "warm start: FISTA continuation (not certified)",
              "__call__": "  of which: warm-started SVT (subspace iteration)",
              "grow": "certification: grow (descent + polar + gap)",
              "descend": "  of which: local descent (Huber ALS sweeps)",
              "certify_factors": "  of which: certificates (polar + bounds)",
              "_append_atoms": "  of which: growth steps (atom line searches)",
              "_debias": "debiasing refit (EM / exact ALS on the inliers)"}
    parts = {}
    for (fname, _, func), (_, ncalls, _, cum, _) in stats.items():
        if func in wanted and "homfact" in fname and (func != "__call__"
                                                      or fname.endswith("robust_pca.py")):
            key = wanted[func]
            calls, secs = parts.get(key, (0, 0.0))
            parts[key] = (calls + ncalls, secs + cum)
    order = list(wanted.values())
    return {"gamma": gamma, "total_s": total,
            "parts": {k: {"calls": parts[k][0], "seconds": parts[k][1]}
                      for k in order if k in parts}}


def run(m: int, n: int, rank: int, gammas: list, primary, repeat: int,
        tol: float = 1e-6, tensorly_iter: int = 100, seed: int = 0, tensorly: bool = True,
        code_order: bool = True, frac: float = 0.05, magnitude: float = 500.0) -> dict:
    """One instance: IALM and homfact (primary γ) interleaved ``repeat`` times, then the rest."""
    D, A, E = make_instance(m, n, rank, frac=frac, magnitude=magnitude, seed=seed)
    ialm_times, hf_primary_times = [], []
    ialm = primary_model = None
    for _ in range(repeat):  # interleaved, so load drift hits both alike
        t, _, ialm = best_of(lambda: inexact_alm_rpca(D, tol=1e-7), 1)
        ialm_times.append(t)
        t, _, primary_model = best_of(lambda: _fit_homfact(D, primary, tol), 1)
        hf_primary_times.append(t)
    ialm_row = {"time_s": min(ialm_times), "times_s": ialm_times,
                "error_lowrank": _rel(ialm.A, A), "error_sparse": _rel(ialm.E, E),
                "rank": int(ialm.rank), "n_iter": ialm.n_iter, "n_svd": ialm.n_svd,
                "n_partial_svd": ialm.n_partial_svd, "converged": ialm.converged,
                "stop_criterion": ialm.stop_criterion, "order": "paper (A, then E)",
                "svd": "partial (PROPACK) by choosvd, else gesdd", "rho": 1.5, "tol": 1e-7}
    ialm_code = None
    if code_order:
        t, _, code = best_of(lambda: inexact_alm_rpca(D, tol=1e-7, order="code"), 1)
        ialm_code = {"time_s": t, "error_lowrank": _rel(code.A, A),
                     "error_sparse": _rel(code.E, E), "rank": int(code.rank),
                     "n_iter": code.n_iter, "converged": code.converged}
    rows = []
    for g in gammas:
        if g == primary:
            rows.append(_homfact_row(primary_model, min(hf_primary_times), A, E,
                                     hf_primary_times))
        else:
            t, _, model = best_of(lambda g=g: _fit_homfact(D, g, tol), 1)
            rows.append(_homfact_row(model, t, A, E, [t]))
    for r in rows:
        r["ratio_time_over_ialm"] = r["time_s"] / ialm_row["time_s"]
        r["ratio_error_over_ialm"] = r["error_lowrank"] / ialm_row["error_lowrank"]
        r["ratio_error_certified_over_ialm"] = (r["error_lowrank_certified"]
                                                / ialm_row["error_lowrank"])
        r["meets_time"] = bool(r["ratio_time_over_ialm"] <= TARGET_TIME_RATIO)
        r["meets_error"] = bool(r["ratio_error_over_ialm"] <= TARGET_ERROR_RATIO)
    tl = (_run_tensorly(D, A, E, tensorly_iter) if tensorly
          else {"skipped": "not run on this instance (see --tensorly)"})
    if "time_s" in tl:
        tl["ratio_time_over_ialm"] = tl["time_s"] / ialm_row["time_s"]
        tl["ratio_error_over_ialm"] = tl["error_lowrank"] / ialm_row["error_lowrank"]
    prim = next(r for r in rows if r["gamma"] == primary)
    return {"shape": [m, n], "true_rank": rank, "seed": seed, "corruption": frac,
            "magnitude": magnitude,
            "lam_homfact": float(np.sqrt(max(m, n))), "lam_pcp": float(1 / np.sqrt(max(m, n))),
            "tol_homfact": tol, "ialm": ialm_row, "ialm_code_order": ialm_code,
            "homfact": rows, "primary_gamma": primary, "tensorly": tl,
            "ratio_time_homfact_over_ialm": prim["ratio_time_over_ialm"],
            "ratio_error_homfact_over_ialm": prim["ratio_error_over_ialm"],
            "meets_target": bool(prim["meets_time"] and prim["meets_error"]),
            "any_gamma_meets_target": any(r["meets_time"] and r["meets_error"] for r in rows),
            "target_time_ratio": TARGET_TIME_RATIO, "target_error_ratio": TARGET_ERROR_RATIO}


def report(res: dict) -> None:
    m, n = res["shape"]
    threads = res.get("blas_threads")
    threads = "library default" if threads is None else threads
    ia, ic, tl = res["ialm"], res["ialm_code_order"], res["tensorly"]
    rows = [["IALM (Lin et al. Alg. 5, PROPACK, rho 1.5)  [baseline]", ia["time_s"],
             ia["error_lowrank"], ia["error_sparse"], ia["rank"], 1.0, 1.0,
             f"{ia['n_iter']} iters, {ia['n_partial_svd']}/{ia['n_svd']} partial SVDs"]]
    if ic is not None:
        rows.append(["IALM, code order (E then A)", ic["time_s"], ic["error_lowrank"],
                     ic["error_sparse"], ic["rank"], ic["time_s"] / ia["time_s"],
                     ic["error_lowrank"] / ia["error_lowrank"], f"{ic['n_iter']} iters"])
    for r in res["homfact"]:
        star = " *" if r["gamma"] == res["primary_gamma"] else ""
        rows.append([f"homfact RobustPCA gamma={_g(r['gamma'])}{star}", r["time_s"],
                     r["error_lowrank"], r["error_sparse"], r["rank"],
                     r["ratio_time_over_ialm"], r["ratio_error_over_ialm"],
                     f"{r['status']}, gap {r['relative_gap']:.1e}; "
                     f"{'debiased' if r['debiased'] else 'certified'} "
                     f"({r['continuation_iterations']} FISTA its, "
                     f"{r['continuation_stages']} stages)"])
        rows.append([f"  same fit, certified solution (gamma={r['gamma_used']:.4g})", "-",
                     r["error_lowrank_certified"], r["error_sparse_certified"], r["rank"], "-",
                     r["ratio_error_certified_over_ialm"], "certificate_ describes this one"])
    if "time_s" in tl:
        rows.append([f"tensorly {tl['version']} robust_pca", tl["time_s"], tl["error_lowrank"],
                     tl["error_sparse"], tl["rank"], tl["ratio_time_over_ialm"],
                     tl["ratio_error_over_ialm"], f"{tl['n_iter']}/{tl['n_iter_max']} iters"])
    print_table(f"robust PCA {m}x{n}, rank {res['true_rank']}, seed {res['seed']}, "
                f"{res['corruption']:.0%} gross errors in [-{res['magnitude']:g}, "
                f"{res['magnitude']:g}] (BLAS threads: {threads})",
                ["method", "time [s]", "err A", "err E", "rank", "t/t_ialm", "errA/errA_ialm",
                 "note"], rows)
    if "skipped" in tl:
        print(f"tensorly: skipped: {tl['skipped']}")
    print(f"ratio t_homfact/t_ialm       = {res['ratio_time_homfact_over_ialm']:.3f}  "
          f"(gamma {_g(res['primary_gamma'])}; target <= {TARGET_TIME_RATIO:g})")
    print(f"ratio err_homfact/err_ialm   = {res['ratio_error_homfact_over_ialm']:.3g}  "
          f"(target <= {TARGET_ERROR_RATIO:g})")
    print(f"targets: {'met' if res['meets_target'] else 'NOT met'} at gamma "
          f"{_g(res['primary_gamma'])}; met at some gamma: {res['any_gamma_meets_target']}")


def report_summary(instances: list[dict]) -> None:
    rows = [[f"{r['shape'][0]}x{r['shape'][1]} r{r['true_rank']} seed {r['seed']}",
             r["ialm"]["time_s"], next(h["time_s"] for h in r["homfact"]
                                       if h["gamma"] == r["primary_gamma"]),
             r["ratio_time_homfact_over_ialm"], r["ialm"]["error_lowrank"],
             next(h["error_lowrank"] for h in r["homfact"] if h["gamma"] == r["primary_gamma"]),
             r["ratio_error_homfact_over_ialm"], "met" if r["meets_target"] else "NOT met"]
            for r in instances]
    print_table(f"summary over instances (homfact gamma {_g(instances[0]['primary_gamma'])}, "
                f"debiased)", ["instance", "t IALM", "t homfact", "t/t_ialm", "err IALM",
                               "err homfact", "err/err_ialm", "targets"], rows)


def main(quick: bool = True, out_dir=None, blas: int | None = 1, profile: bool = False,
         seeds: list[int] | None = None, sizes: list[tuple[int, int, int]] | None = None,
         primary=None, tensorly: str = "first", frac: float = 0.05,
         magnitude: float = 500.0) -> dict:
    """Run the robust-PCA benchmark and return its results.

    ``quick``: one 150×150 rank-5 instance.  Full: ``sizes`` (default 1000×1000 rank 20 and
    500×800 rank 10) × ``seeds`` (default 0, 1); the primary γ (default ``"auto"``, the
    estimator's default) on every instance, and γ = 1e2, 1e3, 1e4 too on the first; ``frac``
    and ``magnitude`` set the gross errors (5 %, uniform in ±500).  ``tensorly``:
    ``"first"`` (first instance only: minutes per run), ``"all"`` or ``"none"``.  ``blas``
    limits BLAS/LAPACK threads for every method (``None``: library default); ``profile`` adds
    a cProfile breakdown of homfact's fit on the first instance.  The top-level keys describe
    the first instance; ``instances`` holds all.
    """
    if tensorly not in ("first", "all", "none"):
        raise ValueError(f"tensorly must be 'first', 'all' or 'none', got {tensorly!r}")
    t0 = time.perf_counter()
    primary = "auto" if primary is None or primary == "auto" else float(primary)
    if quick:
        sizes = sizes or [(150, 150, 5)]
        seeds = seeds or [0]
        cfg = {"gammas": [primary], "repeat": 1, "tensorly_iter": 20}
    else:
        sizes = sizes or [(1000, 1000, 20), (500, 800, 10)]
        seeds = seeds or [0, 1]
        gammas = [primary] + [g for g in (1e2, 1e3, 1e4) if g != primary]
        cfg = {"gammas": gammas, "repeat": 2, "tensorly_iter": 100}
    instances = []
    with blas_threads(blas):
        for i, (m, n, rank) in enumerate(sizes):
            for j, seed in enumerate(seeds):
                first = i == 0 and j == 0
                res = run(m, n, rank, cfg["gammas"] if first else [primary], primary,
                          cfg["repeat"], tensorly_iter=cfg["tensorly_iter"], seed=seed,
                          tensorly=tensorly == "all" or (tensorly == "first" and first),
                          code_order=first, frac=frac, magnitude=magnitude)
                res["blas_threads"] = blas
                report(res)
                instances.append(res)
        if profile:
            m, n, rank = sizes[0]
            D, _, _ = make_instance(m, n, rank, frac=frac, magnitude=magnitude, seed=seeds[0])
            prof = profile_homfact(D, primary, 1e-6)
    out = {**instances[0], "instances": instances}
    if len(instances) > 1:
        report_summary(instances)
    out["meets_target_all_instances"] = all(r["meets_target"] for r in instances)
    if profile:
        out["profile"] = prof
        print(f"\nprofile of homfact, gamma {_g(prof['gamma'])}: {prof['total_s']:.2f} s under "
              f"cProfile")
        for k, v in prof["parts"].items():
            print(f"  {k:<55} {v['seconds']:7.2f} s  ({v['calls']} calls)")
    out["blas_threads"] = blas
    out["wall_s"] = time.perf_counter() - t0
    path = write_results("rpca", out, quick, out_dir)
    print(f"results -> {path}")
    return out


if __name__ == "__main__":
    ap = bench_argparser(__doc__)
    ap.add_argument("--profile", action="store_true",
                    help="time the parts of homfact's fit (cProfile)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="instance seeds (default: 0 1; quick: 0)")
    ap.add_argument("--size", type=int, nargs=3, action="append", metavar=("M", "N", "RANK"),
                    help="instance size, repeatable (default: 1000 1000 20 and 500 800 10)")
    ap.add_argument("--gamma", type=lambda v: v if v == "auto" else float(v), default=None,
                    help="homfact's primary gamma: a number or 'auto' (default 'auto', the "
                         "estimator's default)")
    ap.add_argument("--tensorly", choices=("first", "all", "none"), default="first",
                    help="instances on which tensorly runs (default: the first)")
    ap.add_argument("--frac", type=float, default=0.05,
                    help="fraction of grossly corrupted entries (default 0.05)")
    ap.add_argument("--magnitude", type=float, default=500.0,
                    help="gross errors are uniform in [-magnitude, magnitude] (default 500)")
    a = ap.parse_args()
    main(quick=a.quick, blas=a.blas_threads or None, profile=a.profile, seeds=a.seeds,
         sizes=[tuple(s) for s in a.size] if a.size else None, primary=a.gamma,
         tensorly=a.tensorly, frac=a.frac, magnitude=a.magnitude)
