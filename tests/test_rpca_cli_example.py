"""Robust PCA end to end: ``homfact fit rpca``, the video example and the benchmark smoke run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from homfact.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rpca_input(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A tiny low-rank matrix with 5% gross errors, saved as .npy."""
    d = tmp_path_factory.mktemp("rpca_cli")
    rng = np.random.default_rng(0)
    L = rng.standard_normal((30, 2)) @ rng.standard_normal((2, 20))
    S = np.zeros_like(L)
    idx = rng.choice(L.size, size=30, replace=False)
    S.flat[idx] = rng.choice([-10.0, 10.0], size=30)
    np.save(d / "y.npy", L + S)
    return d / "y.npy", L, S


def _one_line_error(stderr: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("homfact: error: "), stderr


def test_fit_rpca_subprocess_outputs(rpca_input, tmp_path):
    path, L, S = rpca_input
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "homfact.cli", "fit", "rpca", str(path),
                           "--gamma", "1000", "--output", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "status=global" in proc.stdout.splitlines()[-1]
    for name in ("U.npy", "V.npy", "sparse.npy", "certificate.json", "history.json",
                 "convergence.png"):
        assert (out / name).is_file(), name
    U, V, E = (np.load(out / f) for f in ("U.npy", "V.npy", "sparse.npy"))
    assert U.shape[0] == 30 and V.shape[0] == 20 and E.shape == (30, 20)
    assert np.linalg.norm(U @ V.T - L) / np.linalg.norm(L) < 1e-2
    assert np.linalg.norm(E - S) / np.linalg.norm(S) < 1e-2
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "global" and cert["model"] == "rpca"
    assert cert["lam"] == pytest.approx(np.sqrt(30))
    assert cert["rpca"]["gamma"] == 1000.0 and cert["rpca"]["loss"] == "split"
    assert isinstance(json.loads((out / "history.json").read_text()), list)


def test_fit_rpca_huber_in_process(rpca_input, tmp_path, capsys):
    path, _, _ = rpca_input
    rc = main(["fit", "rpca", str(path), "--loss", "huber", "--delta", "0.05", "--lam", "3",
               "--no-plot", "--quiet", "--output", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("homfact: status=")
    cert = json.loads((tmp_path / "certificate.json").read_text())
    assert cert["rpca"]["loss"] == "huber" and cert["rpca"]["delta"] == 0.05
    assert cert["lam"] == 3.0
    assert not (tmp_path / "convergence.png").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--gamma", "0"], "gamma"),
    (["--gamma", "-1"], "gamma"),
    (["--gamma", "abc"], "gamma"),
    (["--gamma", "nan"], "gamma"),
    (["--loss", "l2"], "loss"),
    (["--loss", "huber", "--delta", "0"], "delta"),
    (["--loss", "huber", "--gamma", "10"], "gamma"),
    (["--delta", "0.1"], "delta"),
    (["--lam-ratio", "0.1"], "lam-ratio"),
])
def test_fit_rpca_bad_options_exit_2(rpca_input, capsys, extra, needle):
    path, _, _ = rpca_input
    assert main(["fit", "rpca", str(path), *extra]) == 2
    err = capsys.readouterr().err
    _one_line_error(err)
    assert needle in err


def test_rpca_options_refused_for_other_models(rpca_input, capsys):
    path, _, _ = rpca_input
    assert main(["fit", "lowrank", str(path), "--gamma", "10"]) == 2
    err = capsys.readouterr().err
    _one_line_error(err)
    assert "only apply to the rpca model" in err


def test_fit_rpca_bad_gamma_subprocess(rpca_input):
    path, _, _ = rpca_input
    proc = subprocess.run([sys.executable, "-m", "homfact.cli", "fit", "rpca", str(path),
                           "--gamma", "-3"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2
    _one_line_error(proc.stderr)
    assert "Traceback" not in proc.stderr


def test_fit_rpca_missing_file_and_inf(tmp_path, capsys):
    assert main(["fit", "rpca", str(tmp_path / "nope.npy")]) == 2
    _one_line_error(capsys.readouterr().err)
    Y = np.ones((5, 4))
    Y[0, 0] = np.inf
    np.save(tmp_path / "inf.npy", Y)
    assert main(["fit", "rpca", str(tmp_path / "inf.npy")]) == 2
    _one_line_error(capsys.readouterr().err)


def test_rpca_video_example_quick(tmp_path, capsys):
    res = _load(ROOT / "examples" / "rpca_video.py", "homfact_example_rpca_video").main(
        quick=True, output=str(tmp_path))
    assert res["certificate"].status == "global"
    assert res["rank"] == 2
    assert res["error_background"] < 0.5 * res["error_median_background"]
    assert res["precision"] > 0.9 and res["recall"] > 0.9
    assert (tmp_path / "rpca_video.png").stat().st_size > 0
    assert "precision" in capsys.readouterr().out


def test_inexact_alm_recovers_pcp_instance():
    ialm = _load(ROOT / "benchmarks" / "inexact_alm.py", "_bench_inexact_alm")
    bench = _load(ROOT / "benchmarks" / "bench_rpca.py", "_bench_rpca_for_ialm")
    D, A, _ = bench.make_instance(120, 100, 3, seed=1)
    # one BLAS thread, as in the benchmark (many small SVDs; see benchmarks/README.md)
    with threadpool_limits(limits=1, user_api="blas"):
        for svd in ("partial", "full"):
            for order in ("paper", "code"):
                res = ialm.inexact_alm_rpca(D, svd=svd, order=order)
                assert res.converged and res.stop_criterion < 1e-7
                assert res.rank == 3
                assert np.linalg.norm(res.A - A) / np.linalg.norm(A) < 1e-5
    with pytest.raises(ValueError):
        ialm.inexact_alm_rpca(D, svd="lanczos")


def test_rpca_benchmark_quick(tmp_path):
    res = _load(ROOT / "benchmarks" / "bench_rpca.py", "_bench_rpca").main(quick=True,
                                                                          out_dir=tmp_path)
    assert res["ialm"]["converged"]
    assert res["ialm"]["error_lowrank"] < 1e-4
    for row in res["homfact"]:
        assert row["status"] == "global"
        assert row["rank"] == res["true_rank"]
        assert np.isfinite(row["ratio_time_over_ialm"])
        assert np.isfinite(row["ratio_error_over_ialm"])
        # the reported (debiased) error is the refit's; the certified one is reported apart
        assert row["debiased"] and row["error_lowrank"] < row["error_lowrank_certified"]
    assert len(res["instances"]) == 1 and res["instances"][0]["seed"] == 0
    assert "time_s" in res["tensorly"] or "skipped" in res["tensorly"]
    assert (tmp_path / "rpca_quick.json").is_file()
