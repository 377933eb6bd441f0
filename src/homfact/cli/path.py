"""``homfact path``: regularization path from lam_max down."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from ..registry import get_model
from ._common import (
    _EPILOG,
    _add_fit_options,
    _add_io_options,
    _add_quiet,
    _describe,
    _fmt,
    _load_input,
    _number,
    _Printer,
    _wrap,
)


def cmd_path(args) -> int:
    """Regularization path from lam_max down."""
    import homfact as hf

    say = _Printer(args.quiet)
    spec = get_model(args.model)
    data = _load_input(args.input, spec, args.shape)
    say(f"homfact path {args.model}: {args.input}: {_describe(data)}")
    t0 = time.perf_counter()
    res = hf.regularization_path(data, spec.name, n_lams=args.n_lams,
                                 lam_min_ratio=args.lam_min_ratio, tol=args.tol,
                                 max_iter=args.max_iter, max_rank=args.max_rank,
                                 time_limit=args.time_limit, random_state=args.seed)
    elapsed = time.perf_counter() - t0
    say(f"  lam_max = {res.lam_max:.6g}; {len(res.lams)} values down to "
        f"{args.lam_min_ratio:g} x lam_max; {elapsed:.2f} s")
    say(f"{'lam':>12} {'lam/lam_max':>11} {'rank':>5} {'objective':>15} {'rel. gap':>10}  status")
    rows = []
    for lam, rank, cert in zip(res.lams, res.ranks, res.certificates, strict=True):
        ratio = lam / res.lam_max if res.lam_max > 0 else math.nan
        say(f"{lam:>12.6g} {ratio:>11.4f} {rank:>5d} {_fmt(cert.objective, '.9g'):>15} "
            f"{_fmt(cert.relative_gap, '.2e'):>10}  {cert.status}")
        rows.append({"lam_ratio": ratio, **cert.to_dict(), "rank": int(rank)})
    if args.output is not None:
        from ..io import write_json

        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        written = [write_json(out / "path.json", {
            "model": args.model, "input": str(args.input), "lam_max": res.lam_max,
            "seconds": round(elapsed, 3), "points": rows})]
        if not args.no_plot:
            from ..plotting import plot_path

            plot_path(res, path=out / "path.png", title=f"{args.model} regularization path")
            written.append(out / "path.png")
        say("wrote " + ", ".join(str(p) for p in written))
    n_global = sum(c.status == "global" for c in res.certificates)
    _Printer.always(f"homfact: {len(res.lams)} points, {n_global} global, ranks "
                    f"{min(res.ranks)}..{max(res.ranks)}, lam_max={res.lam_max:.6g}, "
                    f"time={elapsed:.2f}s")
    return 0


def add_parser(sub) -> None:
    """The ``path`` subcommand."""
    path = sub.add_parser(
        "path", help="regularization path from lam_max down", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Fit a geometric grid of lam from lam_max (rank 0) down to "
                          "lam-min-ratio x lam_max with warm starts and print lam, rank, "
                          "objective, relative gap and status for each point.  With --output "
                          "write path.json and path.png."))
    _add_io_options(path)
    path.add_argument("--n-lams", type=_number(int, "n-lams", low=1), default=10,
                      help="number of lam values (default 10)")
    path.add_argument("--lam-min-ratio", type=_number(float, "lam-min-ratio", low=0, high=1,
                                                      low_open=True, high_open=True),
                      default=0.05, help="smallest lam as a fraction of lam_max (default 0.05)")
    _add_fit_options(path)
    path.add_argument("--output", metavar="DIR", default=None, help="output folder")
    path.add_argument("--no-plot", action="store_true", help="do not write path.png")
    _add_quiet(path)
    path.set_defaults(func=cmd_path)
