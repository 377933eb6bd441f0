"""Small helpers shared by the benchmark scripts: timing, tables, JSON results, environment."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, list[float], object]:
    """Run ``fn`` ``repeat`` times; return (best wall time, all times, last return value)."""
    times = []
    out = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, out


def fmt(v, digits: int = 4) -> str:
    """Compact cell formatting for the tables."""
    if v is None:
        return "-"
    if isinstance(v, bool | str):
        return str(v)
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.{max(digits - 2, 1)}e}"
        return f"{v:.{digits}g}"
    return str(v)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Print a plain-text table with a title line."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def environment() -> dict:
    """What the numbers were measured on."""
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "numpy": np.__version__}
    try:
        import scipy
        info["scipy"] = scipy.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads",
                                               "architecture")} for d in threadpool_info()]
    except ImportError:  # pragma: no cover
        pass
    try:
        info["loadavg_1min"] = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        pass
    return info


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, float | np.floating):
        o = float(o)
        return o if math.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, np.bool_):
        return bool(o)
    if o is None or isinstance(o, str | int | bool):
        return o
    # anything else (e.g. threadpoolctl reports a *function* as the version of scipy's
    # fast_matrix_market pool once scipy.io.mmread has run) is recorded as text
    return str(o)


def write_results(name: str, data: dict, quick: bool, out_dir: Path | None = None) -> Path:
    """Write ``data`` to ``results/<name>[_quick].json`` and return the path."""
    out_dir = RESULTS_DIR if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}{'_quick' if quick else ''}.json"
    payload = {"benchmark": name, "quick": quick, "environment": environment(),
               "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), **data}
    path.write_text(json.dumps(_jsonable(payload), indent=2))
    return path


def blas_threads(n: int | None):
    """Context manager limiting BLAS/LAPACK threads to ``n`` (``None``: library default)."""
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=int(n), user_api="blas")


def bench_argparser(doc: str) -> argparse.ArgumentParser:
    """Command-line parser shared by the benchmark scripts: ``--quick`` and ``--blas-threads``."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS/LAPACK threads for every method (0: library default)")
    return ap
