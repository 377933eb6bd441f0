"""Smoke tests: every benchmark runs at a small size, so the benchmarks cannot rot.

Speed targets are not asserted here (timings belong to ``make bench``); only that each benchmark
runs end to end and that homfact certifies what it is benchmarked on.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_denoise_benchmark_quick(tmp_path):
    res = _load("bench_denoise").main(quick=True, out_dir=tmp_path)
    assert res["homfact"]["status"] == "global"
    assert res["objective_rel_diff"] < 1e-6


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_completion_benchmark_quick(tmp_path):
    res = _load("bench_completion").main(quick=True, out_dir=tmp_path)
    assert res["homfact_als_exact"]["reached"]
    assert res["softimpute_als"]["reached"]


def test_scaling_benchmark_quick(tmp_path):
    res = _load("bench_scaling").main(quick=True, out_dir=tmp_path)
    assert res["points"]
    assert not any("error" in p for p in res["points"])


def test_dask_benchmark_quick(tmp_path):
    """bench_dask quick mode (10⁵ entries, LocalClusters of 1 and 2 workers, no Spark)."""
    pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    res = _load("bench_dask").main(quick=True, out_dir=tmp_path, spark=False)
    points = res["points"]
    assert [p["config"] for p in points] == ["single", "dask1", "dask2"]
    assert all(p["per_sweep_s"] > 0 and p["gram_product_s"] > 0 for p in points)
    assert all(len(p["worker_maxrss_mib"]) == int(p["config"][-1]) for p in points[1:])
    assert res["paper"]["lanczos"]["0.001"]["steps"] == 315
    assert res["paper"]["factor_rows_formula_check"]
