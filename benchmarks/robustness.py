"""Held-out robustness suite: every family's *defaults* on randomized data, against its peer.

Each family module ``robust_<family>.py`` beside this file draws one random problem per seed
(``trial(seed, small=False)``), fits it with homfact's defaults and with the family's peer, and
returns ``success`` (the family's criterion, stated in its module docstring), ``error`` and
``error_peer`` (each ``≥ 0``, lower is better: a relative error or an RMSE, so that their
ratio means "times worse"), ``time`` and ``time_peer``, and the drawn ``params``.

The defaults were tuned on seeds 0-9 only; the suite reports seeds 100 and up, so the numbers
it prints are not the tuned ones.  Per family it prints the success rate, the **worst** error
ratio (homfact / peer) and the **worst** time ratio over the draws, and the seed behind each
worst case, so a reader can rerun it (``--seeds 137 --families rpca --verbose``).

    python benchmarks/robustness.py                      # 20 held-out draws per family
    python benchmarks/robustness.py --draws 5 --families rpca lowrank
    python benchmarks/robustness.py --tune               # seeds 0-9 (what the defaults saw)
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from benchutil import blas_threads, print_table, write_results  # noqa: E402

#: the family modules, in the order of the table (``robust_<name>.py``)
FAMILIES = ("lowrank", "completion", "rpca", "nmf", "dictionary", "calcium", "cp")
#: first held-out seed (seeds 0-9 are the tuning seeds)
HELD_OUT_START = 100


def load_family(name: str):
    """Import ``robust_<name>`` (raises ``ModuleNotFoundError`` if the family has none)."""
    return importlib.import_module(f"robust_{name}")


def run_family(name: str, seeds, small: bool = False, verbose: bool = False) -> dict:
    """Run one family's trials; a trial that raises counts as a failure with its error text.

    ``verbose`` prints one line per trial (seed, outcome, ratios, drawn parameters)."""
    module = load_family(name)
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        try:
            out = dict(module.trial(int(seed), small=small))
        except Exception as exc:  # a crash is a failed draw, reported, never hidden
            out = {"success": False, "error": math.nan, "error_peer": math.nan,
                   "time": time.perf_counter() - t0, "time_peer": math.nan,
                   "crash": "".join(traceback.format_exception_only(exc)).strip()}
        out["seed"] = int(seed)
        rows.append(out)
        if verbose:
            print(f"{name} seed {seed}: {'OK' if out.get('success') else 'FAIL'}  error ratio "
                  f"{_ratio(out.get('error'), out.get('error_peer')):.3g}  time ratio "
                  f"{_ratio(out.get('time'), out.get('time_peer')):.3g}  "
                  f"{out.get('params', out.get('crash'))}", flush=True)
    return {"family": name, "peer": module.PEER, "trials": rows, **summarize(rows)}


def _ratio(a, b) -> float:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return math.nan
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.nan
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def summarize(rows: list[dict]) -> dict:
    """Success rate, worst (largest) error and time ratios homfact/peer, and their seeds."""
    n = len(rows)
    ok = sum(bool(r.get("success")) for r in rows)
    out = {"n": n, "successes": ok, "success_rate": ok / n if n else math.nan}
    for key, num, den in (("error_ratio", "error", "error_peer"),
                          ("time_ratio", "time", "time_peer")):
        ratios = [(_ratio(r.get(num), r.get(den)), r["seed"]) for r in rows]
        finite = [(v, s) for v, s in ratios if not math.isnan(v)]
        worst = max(finite) if finite else (math.nan, None)
        out[f"worst_{key}"], out[f"worst_{key}_seed"] = worst
        out[f"median_{key}"] = (sorted(v for v, _ in finite)[len(finite) // 2] if finite
                                else math.nan)
    out["crashes"] = sum("crash" in r for r in rows)
    return out


def main(families=FAMILIES, seeds=None, small: bool = False, blas: int | None = 1,
         out_dir=None, quick_name: bool = False, verbose: bool = False) -> dict:
    """Run the suite and print one table row per family; returns the results."""
    seeds = list(range(HELD_OUT_START, HELD_OUT_START + 20)) if seeds is None else list(seeds)
    results = {}
    with blas_threads(blas):
        for name in families:
            results[name] = run_family(name, seeds, small=small, verbose=verbose)
    rows = [[name, r["peer"], f"{r['successes']}/{r['n']}", r["worst_error_ratio"],
             r["worst_error_ratio_seed"], r["median_error_ratio"], r["worst_time_ratio"],
             r["worst_time_ratio_seed"], r["median_time_ratio"], r["crashes"]]
            for name, r in results.items()]
    print_table(f"robustness: defaults on seeds {seeds[0]}..{seeds[-1]} "
                f"({'small' if small else 'full'} sizes)",
                ["family", "peer", "success", "worst err ratio", "seed", "median err",
                 "worst time ratio", "seed", "median time", "crashes"], rows)
    name = "robustness_" + "_".join(families)  # one file per run: parallel runs keep theirs
    write_results(name, {"seeds": seeds, "small": small, "families": results},
                  quick=quick_name, out_dir=out_dir)
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--draws", type=int, default=20, help="draws per family (default 20)")
    ap.add_argument("--seeds", type=int, nargs="+", help="explicit seeds (overrides --draws)")
    ap.add_argument("--tune", action="store_true", help="the tuning seeds 0-9 instead")
    ap.add_argument("--small", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS/LAPACK threads for every method (0: library default)")
    ap.add_argument("--verbose", action="store_true", help="one line per trial")
    args = ap.parse_args()
    if args.seeds:
        chosen = args.seeds
    elif args.tune:
        chosen = range(10)
    else:
        chosen = range(HELD_OUT_START, HELD_OUT_START + args.draws)
    main(args.families, chosen, small=args.small,
         blas=None if args.blas_threads == 0 else args.blas_threads,
         quick_name=args.small, verbose=args.verbose)
