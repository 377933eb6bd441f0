"""The ``homfact`` command line: every command, every input format, errors without tracebacks.

Most cases call :func:`homfact.cli.main` in-process (fast); the entry point itself is exercised
end to end through ``python -m homfact.cli`` subprocesses for each model, the demo and the
required error cases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from homfact.cli import main

M, N, RANK = 30, 20, 3


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m homfact.cli ARGS`` and capture its output."""
    return subprocess.run([sys.executable, "-m", "homfact.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def assert_one_line_error(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("homfact: error: "), stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Tiny inputs in every format: a dense low-rank matrix and its half-observed version."""
    d = tmp_path_factory.mktemp("cli_inputs")
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((M, RANK)) @ rng.standard_normal((RANK, N))
    Y += 0.01 * rng.standard_normal((M, N))
    mask = rng.random((M, N)) < 0.5
    mask[0, 0] = mask[M - 1, N - 1] = True  # so the inferred CSV shape is (M, N)
    Y[0, 0] = 0.0  # an observed zero: must stay observed in every sparse format
    rows, cols = np.nonzero(mask)
    S = sp.csr_matrix(sp.coo_matrix((Y[rows, cols], (rows, cols)), shape=(M, N)))
    assert S.nnz == mask.sum()
    np.save(d / "dense.npy", Y)
    Ynan = np.where(mask, Y, np.nan)
    np.save(d / "nan.npy", Ynan)
    np.savez(d / "dense.npz", Y=Y)
    sp.save_npz(d / "sparse.npz", S)
    scipy.io.mmwrite(d / "sparse.mtx", S)
    with open(d / "triplets.csv", "w") as fh:
        fh.write("row,col,value\n")
        for i, j in zip(rows, cols, strict=True):
            fh.write(f"{i},{j},{float(Y[i, j])!r}\n")
    with open(d / "noheader.csv", "w") as fh:
        for i, j in zip(rows, cols, strict=True):
            fh.write(f"{i},{j},{float(Y[i, j])!r}\n")
    (d / "bad.csv").write_text("row,col,value\n0,0,1.0\n1,abc,2.0\n")
    (d / "words.npy").write_text("not an array\n")
    np.save(d / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(d / "vector.npy", np.arange(5.0))
    np.savez(d / "two.npz", a=Y, b=Y)
    return d


# ------------------------------------------------------------------------------------------
# fit: every format, both models (in-process)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,fname", [
    ("lowrank", "dense.npy"), ("lowrank", "dense.npz"), ("lowrank", "sparse.npz"),
    ("lowrank", "sparse.mtx"), ("lowrank", "triplets.csv"),
    ("completion", "nan.npy"), ("completion", "sparse.npz"), ("completion", "sparse.mtx"),
    ("completion", "triplets.csv"), ("completion", "noheader.csv"),
])
def test_fit_every_format(data_dir, capsys, model, fname):
    rc = main(["fit", model, str(data_dir / fname), "--lam-ratio", "0.2", "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1  # --quiet: only the summary
    assert lines[0].startswith("homfact: status=global")


def test_sparse_formats_agree(data_dir, capsys):
    """The same observed entries give the same certified objective whatever the file format."""
    objs = []
    for fname in ("nan.npy", "sparse.npz", "sparse.mtx", "triplets.csv"):
        out_dir = data_dir / f"agree_{fname.replace('.', '_')}"
        assert main(["fit", "completion", str(data_dir / fname), "--lam", "0.5", "--quiet",
                     "--output", str(out_dir), "--no-plot"]) == 0
        objs.append(json.loads((out_dir / "certificate.json").read_text())["objective"])
    capsys.readouterr()
    assert np.allclose(objs, objs[0], rtol=1e-6)


def test_fit_writes_outputs(data_dir, tmp_path, capsys):
    out = tmp_path / "fit_out"
    rc = main(["fit", "lowrank", str(data_dir / "dense.npy"), "--lam", "2.0", "--output",
               str(out), "--tol", "1e-8", "--max-iter", "50"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "certificate:" in text and "iter" in text
    for name in ("U.npy", "V.npy", "certificate.json", "history.json", "convergence.png"):
        assert (out / name).is_file(), name
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "global" and cert["lam"] == 2.0 and cert["model"] == "lowrank"
    U, V = np.load(out / "U.npy"), np.load(out / "V.npy")
    assert U.shape == (M, cert["rank"]) and V.shape == (N, cert["rank"])
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["status"] == "global"
    assert (out / "convergence.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_no_plot_and_options(data_dir, tmp_path, capsys):
    out = tmp_path / "np"
    rc = main(["fit", "completion", str(data_dir / "sparse.npz"), "--lam", "0.3", "--output",
               str(out), "--no-plot", "--max-rank", "2", "--time-limit", "30", "--quiet"])
    capsys.readouterr()
    assert rc == 0
    assert not (out / "convergence.png").exists()
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["rank"] <= 2


def test_csv_shape_option(data_dir, tmp_path, capsys):
    out = tmp_path / "shape"
    rc = main(["fit", "completion", str(data_dir / "triplets.csv"), "--shape", f"{M + 5},{N}",
               "--lam", "0.5", "--output", str(out), "--no-plot", "--quiet"])
    capsys.readouterr()
    assert rc == 0
    assert np.load(out / "U.npy").shape[0] == M + 5


# ------------------------------------------------------------------------------------------
# certify and path
# ------------------------------------------------------------------------------------------
def test_certify_roundtrip(data_dir, tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(["fit", "lowrank", str(data_dir / "dense.npy"), "--lam", "1.5", "--output",
                 str(out), "--no-plot", "--quiet", "--tol", "1e-8"]) == 0
    cert_file = tmp_path / "sub" / "cert.json"
    rc = main(["certify", "lowrank", str(data_dir / "dense.npy"), "--factors",
               str(out / "U.npy"), str(out / "V.npy"), "--lam", "1.5", "--output",
               str(cert_file)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "status          global" in text
    cert = json.loads(cert_file.read_text())
    assert cert["status"] == "global" and cert["rank"] >= 1
    # the same factors at a much smaller lam are not optimal (a descent direction exists)
    rc = main(["certify", "lowrank", str(data_dir / "dense.npy"), "--factors",
               str(out / "U.npy"), str(out / "V.npy"), "--lam", "0.01", "--quiet",
               "--output", str(tmp_path / "dir")])
    summary = capsys.readouterr().out.strip()
    assert rc == 0 and summary.startswith("homfact: status=not_optimal")
    assert (tmp_path / "dir" / "certificate.json").is_file()


def test_path_command(data_dir, tmp_path, capsys):
    out = tmp_path / "path"
    rc = main(["path", "completion", str(data_dir / "sparse.mtx"), "--n-lams", "4",
               "--lam-min-ratio", "0.1", "--output", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    table = [line for line in text.splitlines() if line.strip().endswith(
        ("global", "unverified", "not_optimal"))]
    assert len(table) == 4
    res = json.loads((out / "path.json").read_text())
    assert len(res["points"]) == 4 and res["points"][0]["rank"] == 0
    assert (out / "path.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------------------------
# errors (in-process): exit status 2 and one line on stderr
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["fit", "completion", "{d}/bad.csv", "--lam", "1"],
    ["fit", "lowrank", "{d}/missing.npy", "--lam", "1"],
    ["fit", "lowrank", "{d}/dense.npy", "--lam", "-1"],
    ["fit", "lowrank", "{d}/dense.npy", "--lam", "nan"],
    ["fit", "lowrank", "{d}/dense.npy", "--lam-ratio", "0"],
    ["fit", "tensor", "{d}/dense.npy", "--lam", "1"],
    ["fit", "lowrank", "{d}/words.npy"],
    ["fit", "lowrank", "{d}/strings.npy"],
    ["fit", "lowrank", "{d}/vector.npy"],
    ["fit", "lowrank", "{d}/two.npz"],
    ["fit", "lowrank", "{d}/nan.npy"],
    ["fit", "lowrank", "{d}/triplets.csv", "--shape", "3,3"],
    ["fit", "lowrank", "{d}/triplets.csv", "--shape", "three"],
    ["fit", "lowrank", "{d}/dense.npy", "--tol", "0"],
    ["fit", "lowrank", "{d}", "--lam", "1"],
    ["fit", "lowrank", "{d}/dense.txt2", "--lam", "1"],
    ["fit", "lowrank", "{d}/dense.npy", "--lam", "1", "--lam-ratio", "0.5"],
    ["certify", "lowrank", "{d}/dense.npy", "--factors", "{d}/dense.npy", "{d}/dense.npy",
     "--lam", "1"],
    ["certify", "lowrank", "{d}/dense.npy", "--lam", "1"],
    ["path", "lowrank", "{d}/dense.npy", "--n-lams", "0"],
    ["demo", "--observed", "1.5"],
    ["frobnicate"],
    [],
])
def test_errors_in_process(data_dir, capsys, args):
    argv = [a.format(d=data_dir) for a in args]
    if args[:1] == ["fit"] and args[2:3] == ["{d}/dense.txt2"]:
        (data_dir / "dense.txt2").write_text("1,2,3\n")
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert_one_line_error(err)


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--help"])
    assert info.value.code == 0
    assert "--lam-ratio" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# end to end through the module entry point (subprocesses)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,fname,plot", [("lowrank", "sparse.mtx", True),
                                              ("completion", "triplets.csv", False)])
def test_subprocess_fit(data_dir, tmp_path, model, fname, plot):
    out = tmp_path / "out"
    proc = run_cli("fit", model, str(data_dir / fname), "--lam-ratio", "0.3", "--output",
                   str(out), *([] if plot else ["--no-plot"]))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("homfact: status=global")
    expected = {"U.npy", "V.npy", "certificate.json", "history.json"}
    assert {p.name for p in out.iterdir()} == expected | ({"convergence.png"} if plot else set())


@pytest.mark.parametrize("args", [
    ["fit", "completion", "{d}/bad.csv", "--lam", "1"],        # non-numeric CSV
    ["fit", "lowrank", "{d}/no_such_file.npy", "--lam", "1"],  # missing file
    ["fit", "lowrank", "{d}/dense.npy", "--lam", "-2.5"],      # negative lam
    ["fit", "svd", "{d}/dense.npy", "--lam", "1"],             # unknown model
])
def test_subprocess_errors(data_dir, args):
    proc = run_cli(*[a.format(d=data_dir) for a in args])
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr)


def test_subprocess_demo(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("demo", "--output", str(out), "--n-samples", "300", "--lam-ratio", "0.4",
                   "--tol", "1e-3")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    assert "rank growth:" in text and "certificate:" in text and "test RMSE" in text
    for name in ("U.npy", "V.npy", "certificate.json", "history.json", "convergence.png",
                 "completion.png"):
        assert (out / name).is_file(), name
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["status"] == "global"
    assert cert["data"]["n_samples"] == 300
    assert cert["data"]["n_observed"] == round(0.3 * 300 * 784)
    assert 0 < cert["test_rmse"] < cert["baseline_rmse_pixel_mean"] + 0.05
    assert cert["lam"] == pytest.approx(0.4 * cert["lam_max"])
    U = np.load(out / "U.npy")
    assert U.shape == (300, cert["rank"])
    history = json.loads((out / "history.json").read_text())
    assert [h["iteration"] for h in history] == list(range(1, len(history) + 1))


def test_demo_quiet_in_process(tmp_path, capsys):
    rc = main(["demo", "--output", str(tmp_path / "q"), "--n-samples", "40", "--lam-ratio",
               "0.5", "--tol", "1e-3", "--quiet", "--no-plot"])
    out, _ = capsys.readouterr()
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("homfact: status=")
    assert "test_rmse=" in lines[0]
    assert (tmp_path / "q" / "certificate.json").is_file()
    assert not (tmp_path / "q" / "convergence.png").exists()
