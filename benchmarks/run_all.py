"""Run every homfact benchmark in one process and print the ratios measured in this run.

    python benchmarks/run_all.py            # full sizes (about 10–15 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # small sizes (seconds)
    python benchmarks/run_all.py --only completion,scaling --blas-threads 0

Every method of a benchmark runs under the same BLAS/LAPACK thread limit (default 1, see
README.md: on a 2-core machine shared with other work, multi-threaded OpenBLAS is dominated by
thread contention on the small dense operations all these solvers use); ``--blas-threads 0``
keeps the library default.  Results go to ``benchmarks/results/*.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import bench_completion  # noqa: E402
import bench_cp  # noqa: E402
import bench_denoise  # noqa: E402
import bench_dictionary  # noqa: E402
import bench_nmf  # noqa: E402
import bench_rpca  # noqa: E402
import bench_scaling  # noqa: E402
from benchutil import environment, print_table, write_results  # noqa: E402

BENCHMARKS = {"denoise": bench_denoise, "completion": bench_completion, "scaling": bench_scaling,
              "rpca": bench_rpca, "cp": bench_cp, "nmf": bench_nmf}
BENCHMARKS["dictionary"] = bench_dictionary


def summarize(results: dict) -> list[list]:
    """Rows ``[benchmark, quantity, value, target/comment]`` for the final summary."""
    rows: list[list] = []
    d = results.get("denoise")
    if d:
        h = d["homfact"]
        rows += [
            ["denoise", "t_homfact / t_svds(k=11)", d["ratio_homfact_over_svds"],
             f"target <= {d['target_ratio_svds']:g}: {'met' if d['meets_target'] else 'NOT met'}"],
            ["denoise", "t_homfact / t_full-SVD SVT", d["ratio_homfact_over_fullsvd"], ""],
            ["denoise", "objective rel diff vs SVT", d["objective_rel_diff"],
             f"homfact {h['status']}, gap {h['relative_gap']:.1e}"],
        ]
        alt = d.get("default_threads")
        if alt:
            rows += [["denoise", "t_homfact / t_svds, default BLAS threads",
                      alt["ratio_homfact_over_svds"], "informational"],
                     ["denoise", "t_homfact / t_full-SVD, default BLAS threads",
                      alt["ratio_homfact_over_fullsvd"], "informational"]]
    c = results.get("completion")
    if c:
        he, ha, sa = c["homfact_als_exact"], c["homfact_als"], c["softimpute_als"]
        r = c["ratio_softimpute_als_over_homfact"]
        rows += [
            ["completion", "t_softImpute-ALS / t_homfact (gap 1e-5)", r,
             f"target >= 1: {'met' if r >= 1 else 'NOT met'}"
             f"{'' if sa['reached'] else ' (baseline capped)'}"],
            ["completion", "t_homfact[als] / t_homfact[als-exact]",
             ha["time_s"] / he["time_s"],
             "reached" if ha["reached"] else f"NOT reached in {ha['time_limit']:g}s "
                                              f"(gap {ha['relative_gap']:.1e})"],
            ["completion", "objective rel diff softImpute-ALS vs homfact",
             c["objective_rel_diff_homfact_vs_softimpute_als"], ""],
        ]
        fz = c["fancyimpute"]
        if "ratio_fancyimpute_over_homfact" in fz:
            fi = fz["fancyimpute"]
            inst = fz["instance"]
            rows.append(["completion", f"t_fancyimpute / t_homfact ({inst['m']}x{inst['n']})",
                         fz["ratio_fancyimpute_over_homfact"],
                         "reached" if fi["reached"] else
                         f"fancyimpute capped, gap {fi.get('relative_gap', float('nan')):.1e}"])
        else:
            rows.append(["completion", "fancyimpute", "-",
                         f"skipped: {fz['fancyimpute'].get('skipped')}"])
        cz = c["cvxpy"]
        if "ratio_cvxpy_over_homfact" in cz:
            inst = cz["instance"]
            rows += [["completion", f"t_cvxpy / t_homfact ({inst['m']}x{inst['n']})",
                      cz["ratio_cvxpy_over_homfact"], cz["cvxpy"]["solver"]],
                     ["completion", "objective rel diff cvxpy vs homfact",
                      cz["cvxpy"]["objective_rel_diff"], ""]]
        else:
            rows.append(["completion", "cvxpy", "-", f"skipped: {cz['cvxpy'].get('skipped')}"])
    s = results.get("scaling")
    if s:
        for method, v in s["summary"].items():
            rows.append(["scaling", f"{method}: slope log t/sweep vs log nnz",
                         v["loglog_slope_time_vs_nnz"],
                         f"ns/nnz max/min {v['ns_per_nnz_max_over_min']:.2f}"])
        mem = s["memory"]
        if mem.get("top_maxrss_gib") is not None:
            rows.append(["scaling", f"peak RSS at nnz={s['sizes'][-1]:.0e} [GiB]",
                         mem["top_maxrss_gib"],
                         f"{'fits' if mem['fits'] else 'DOES NOT FIT'} {mem['machine_gib']:g} GiB"])
    r = results.get("rpca")
    if r:
        g = r["primary_gamma"]
        t_ok = r["ratio_time_homfact_over_ialm"] <= r["target_time_ratio"]
        e_ok = r["ratio_error_homfact_over_ialm"] <= r["target_error_ratio"]
        rows += [
            ["rpca", f"t_homfact / t_IALM (gamma {g:g})", r["ratio_time_homfact_over_ialm"],
             f"target <= {r['target_time_ratio']:g}: {'met' if t_ok else 'NOT met'}"],
            ["rpca", f"err_homfact / err_IALM (gamma {g:g})", r["ratio_error_homfact_over_ialm"],
             f"target <= {r['target_error_ratio']:g}: {'met' if e_ok else 'NOT met'}"],
        ]
        for h in r["homfact"]:
            if h["gamma"] != g:
                rows.append(["rpca", f"t / err ratios vs IALM, gamma {h['gamma']:g}",
                             h["ratio_time_over_ialm"],
                             f"error ratio {h['ratio_error_over_ialm']:.3g}, {h['status']}"])
        tl = r["tensorly"]
        if "time_s" in tl:
            rows.append(["rpca", "t_tensorly / t_IALM", tl["ratio_time_over_ialm"],
                         f"error ratio {tl['ratio_error_over_ialm']:.3g}"])
        else:
            rows.append(["rpca", "tensorly", "-", f"skipped: {tl.get('skipped')}"])
    cp = results.get("cp")
    if cp and "time_s" in cp.get("parafac", {}):
        for h in cp["homfact"]:
            t_ok = h["ratio_time_over_parafac"] <= cp["target_time_ratio"]
            e_ok = h["ratio_error_over_parafac"] <= cp["target_error_ratio"]
            rows += [["cp", f"t_homfact / t_parafac (lam={h['frac']:g} lam_max)",
                      h["ratio_time_over_parafac"],
                      f"target <= {cp['target_time_ratio']:g}: {'met' if t_ok else 'NOT met'}"],
                     ["cp", f"err_homfact / err_parafac (lam={h['frac']:g} lam_max)",
                      h["ratio_error_over_parafac"],
                      f"target <= {cp['target_error_ratio']:g}: {'met' if e_ok else 'NOT met'}; "
                      f"rank {h['rank']}, FMS {h['fms_refit']:.4f}, {h['status']}"]]
    elif cp:
        rows.append(["cp", "parafac", "-", f"skipped: {cp['parafac'].get('skipped')}"])
    nm = results.get("nmf")
    if nm:
        for run in nm["runs"]:
            rows += [
                ["nmf", f"err_homfact / err_sklearn ({run['instance']}, rank {run['rank']})",
                 run["ratio_error"], f"target <= {nm['target_error_ratio']:g}: "
                 f"{'met' if run['ratio_error'] <= nm['target_error_ratio'] else 'NOT met'}"],
                ["nmf", f"t_homfact / t_sklearn ({run['instance']})", run["ratio_time"],
                 f"target <= {nm['target_time_ratio']:g}: "
                 f"{'met' if run['ratio_time'] <= nm['target_time_ratio'] else 'NOT met'}"
                 f"; certified status {run['status']}"],
            ]
    dl = results.get("dictionary")
    if dl:
        for c in dl["cases"]:
            name = f"sigma {c['sigma']:g}, crop ({c['crop']['top']},{c['crop']['left']})"
            rows += [
                ["dictionary", f"PSNR homfact - sklearn [dB] ({name})", c["psnr_diff_db"],
                 f"target >= {dl['target_psnr_diff_db']:g}: "
                 f"{'met' if c['meets_target'] else 'NOT met'}; "
                 f"{c['homfact']['n_components']} atoms"],
                ["dictionary", f"t_homfact / t_sklearn ({name})", c["time_ratio"],
                 f"status {c['homfact']['status']}"],
            ]
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="Run all homfact benchmarks.")
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--only", default=",".join(BENCHMARKS),
                    help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS/LAPACK threads for every method (0: library default)")
    ap.add_argument("--also-default-threads", action="store_true",
                    help="denoise: repeat with the library's default BLAS threads (slow)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
    blas = args.blas_threads or None
    env = environment()
    print(f"homfact benchmarks ({'quick' if args.quick else 'full'}); BLAS threads: "
          f"{blas or 'library default'}; load average {env.get('loadavg_1min', '?')}")
    t0 = time.perf_counter()
    results, walls = {}, {}
    for name in names:
        t = time.perf_counter()
        print(f"\n######## {name}")
        kwargs = {"also_default_threads": True} if (
            name == "denoise" and args.also_default_threads) else {}
        results[name] = BENCHMARKS[name].main(quick=args.quick, blas=blas, **kwargs)
        walls[name] = time.perf_counter() - t
    rows = summarize(results)
    total = time.perf_counter() - t0
    print_table(f"summary (one run, {total:.0f} s: "
                + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()) + ")",
                ["benchmark", "quantity", "value", "target / note"], rows)
    path = write_results("summary", {"rows": rows, "wall_s": walls, "total_s": total,
                                     "blas_threads": blas}, args.quick)
    print(f"results -> {path}")
    return results


if __name__ == "__main__":
    main()
