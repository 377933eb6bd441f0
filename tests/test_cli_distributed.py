"""``homfact fit completion TRIPLETS --scheduler local:N | ADDRESS`` (issue 13).

The fits run on ``local:2`` (a ``LocalCluster`` of 2 worker processes, one thread each, started
and closed by the command) on small Parquet and CSV triplet files, and are compared with the
one-machine ``homfact fit completion`` of the same CSV file.  The errors need no cluster
(except the unreachable address, which waits ``SCHEDULER_TIMEOUT``, set to 1 s here).
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from homfact.cli import fit as cli_fit  # noqa: E402
from homfact.cli import main  # noqa: E402

M, N, NNZ, LAM = 400, 20, 4_000, 4.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Rank 2 + noise on NNZ distinct entries: Parquet, CSV with a header, CSV without one."""
    rng = np.random.default_rng(7)
    idx = rng.choice(M * N, NNZ, replace=False)
    rows, cols = idx // N, idx % N
    A, B = rng.standard_normal((M, 2)), rng.standard_normal((N, 2))
    vals = np.einsum("ij,ij->i", A[rows], B[cols]) + 0.1 * rng.standard_normal(NNZ)
    df = pd.DataFrame({"row": rows, "col": cols, "value": vals})
    d = tmp_path_factory.mktemp("triplets")
    df.to_parquet(d / "t.parquet")
    df.to_csv(d / "t.csv", index=False)
    df.to_csv(d / "nohead.csv", index=False, header=False)
    df.rename(columns={"value": "v"}).to_parquet(d / "bad.parquet")
    np.save(d / "dense.npy", np.ones((3, 3)))
    return d


def _read(out) -> dict:
    return json.loads((out / "certificate.json").read_text())


@pytest.fixture(scope="module")
def one_machine(files, tmp_path_factory):
    """The one-machine CLI fit of the same CSV file (exact polar, status "global")."""
    out = tmp_path_factory.mktemp("one")
    assert main(["fit", "completion", str(files / "t.csv"), "--lam", str(LAM), "--tol", "1e-9",
                 "--output", str(out), "--no-plot", "-q"]) == 0
    return _read(out)


def test_parquet_on_local_cluster(files, one_machine, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["fit", "completion", str(files / "t.parquet"), "--scheduler", "local:2",
               "--lam", str(LAM), "--tol", "1e-9", "--allow-probabilistic",
               "--gram-max-dim", "0", "--output", str(out), "--no-plot"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "2 workers" in text and "status=global_probabilistic" in text
    assert {p.name for p in out.iterdir()} == {"U.npy", "V.npy", "certificate.json",
                                               "history.json"}
    cert = _read(out)
    assert cert["scheduler"]["scheduler"] == "local:2"
    assert cert["scheduler"]["n_workers"] == 2 and cert["scheduler"]["n_threads"] == 2
    assert cert["status"] == "global_probabilistic" and cert["delta"] == 1e-9
    assert cert["allow_probabilistic"] is True and cert["data"]["shape"] == [M, N]
    assert cert["gram_max_dim"] == 0
    assert cert["data"]["observed_entries"] == NNZ
    # the one-machine fit of the same data: both pin the optimum
    assert one_machine["status"] == "global"
    assert cert["objective"] == pytest.approx(one_machine["objective"], rel=1e-8)
    assert cert["rank"] == one_machine["rank"] == 2
    U, V = np.load(out / "U.npy"), np.load(out / "V.npy")
    assert U.shape == (M, 2) and V.shape == (N, 2)
    history = json.loads((out / "history.json").read_text())
    assert len(history) == cert["n_iter"]


def test_default_polar_forms_the_gram_and_certifies_global(files, one_machine, tmp_path,
                                                           capsys):
    """No opt-in, ``n = 20 ≤ gram_max_dim``: the workers sum the residual's Gram, and the
    deterministic bound certifies the same optimum as one machine with status "global"."""
    out = tmp_path / "out"
    rc = main(["fit", "completion", str(files / "t.parquet"), "--scheduler", "local:2",
               "--lam", str(LAM), "--tol", "1e-9", "--output", str(out), "--no-plot", "-q"])
    assert rc == 0 and "status=global " in capsys.readouterr().out
    cert = _read(out)
    assert cert["status"] == "global" and cert["allow_probabilistic"] is False
    assert cert["gram_max_dim"] == 2048 and "summed on the workers" in cert["method"]
    assert cert["objective"] == pytest.approx(one_machine["objective"], rel=1e-8)
    assert cert["rank"] == one_machine["rank"]


def test_lam_ratio_computes_lam_max_on_the_cluster(files, tmp_path, capsys):
    """``--lam-ratio R``: ``λ_max = ‖P_Ω Y‖₂`` computed on the workers (formed Gram, tight)
    equals the one-machine value, and ``λ = R·λ_max`` is recorded."""
    import scipy.sparse as sp

    from homfact.lam_rules import completion_lam_max

    df = pd.read_csv(files / "t.csv")
    Y = sp.csr_matrix((df["value"], (df["row"], df["col"])), shape=(M, N))
    top = completion_lam_max(Y)
    out = tmp_path / "out"
    rc = main(["fit", "completion", str(files / "t.csv"), "--scheduler", "local:2",
               "--lam-ratio", "0.1", "--max-iter", "2", "--output", str(out), "--no-plot"])
    assert rc == 0 and "computed on the cluster" in capsys.readouterr().out
    cert = _read(out)
    assert cert["lam_max"] == pytest.approx(top, rel=1e-10)
    assert cert["lam"] == pytest.approx(0.1 * top, rel=1e-10) and cert["lam_ratio"] == 0.1


def test_csv_without_header_shape_and_delta(files, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["fit", "completion", str(files / "nohead.csv"), "--scheduler", "local:2",
               "--lam", str(LAM), "--tol", "1e-4", "--shape", f"{M + 5},{N}", "--delta",
               "1e-6", "--max-iter", "3", "--output", str(out), "--no-plot", "-q"])
    capsys.readouterr()
    assert rc == 0
    cert = _read(out)
    assert cert["data"]["shape"] == [M + 5, N] and cert["delta"] == 1e-6
    assert cert["allow_probabilistic"] is False
    # no opt-in: never probabilistic; "global" only on the deterministic formed-Gram bound
    assert cert["status"] in ("global", "unverified", "not_optimal")
    if cert["status"] == "global":
        assert cert["method"].startswith("gram(") and "Kuczynski" not in cert["method"]
    assert np.load(out / "U.npy").shape[0] == M + 5


@pytest.mark.parametrize(("argv", "message"), [
    (["low_rank", "t.parquet", "--scheduler", "local:2", "--lam", "1"],
     "apply to completion only"),
    (["completion", "dense.npy", "--scheduler", "local:2", "--lam", "1"],
     "row,col,value triplets from .parquet or .csv"),
    (["completion", "bad.parquet", "--scheduler", "local:2", "--lam", "1"],
     r"not a triplet file: missing the column\(s\) \['value'\]"),
    (["completion", "missing.csv", "--scheduler", "local:2", "--lam", "1"], "no such file"),
    (["completion", "t.csv", "--scheduler", "local:0", "--lam", "1"],
     "local:N needs a positive number"),
    (["completion", "t.csv", "--scheduler", "local:2"], "--scheduler needs --lam VALUE"),
    (["completion", "t.csv", "--scheduler", "local:2", "--lam", "cv"],
     "--lam cv is not available with --scheduler"),
    (["completion", "t.csv", "--scheduler", "local:2", "--lam", "1", "--delta", "1.5"],
     r"--delta must lie in \(0, 1\)"),
    (["completion", "t.csv", "--lam", "1", "--allow-probabilistic"],
     "--allow-probabilistic applies with --scheduler only"),
    (["completion", "t.csv", "--lam", "1", "--delta", "0.01"], "applies with --scheduler only"),
    (["completion", "t.csv", "--lam", "1", "--gram-max-dim", "5"],
     "--gram-max-dim applies with --scheduler only"),
    (["completion", "t.csv", "--scheduler", "local:2", "--lam", "1", "--gram-max-dim", "-1"],
     "--gram-max-dim must be an integer >= 0"),
    (["completion", "t.csv", "--scheduler", "nowhere", "--lam", "1"],
     "--scheduler nowhere: not a scheduler address"),
])
def test_errors(files, capsys, argv, message):
    argv = [argv[0], str(files / argv[1]), *argv[2:]]
    assert main(["fit", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("homfact: error: ")
    assert re.search(message, err), err


def test_unreachable_scheduler(files, capsys, monkeypatch):
    monkeypatch.setattr(cli_fit, "SCHEDULER_TIMEOUT", 1.0)
    rc = main(["fit", "completion", str(files / "t.csv"), "--scheduler", "tcp://127.0.0.1:1",
               "--lam", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--scheduler tcp://127.0.0.1:1: no Dask scheduler answered within 1 s" in err


def test_dask_missing(files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed fails
    rc = main(["fit", "completion", str(files / "t.csv"), "--scheduler", "local:2",
               "--lam", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--scheduler needs Dask: pip install 'homfact[dask]'" in err


def test_parquet_on_one_machine(files):
    """Without --scheduler a Parquet triplet file is read into one process, as the CSV."""
    from homfact.io import read_matrix

    a, b = read_matrix(files / "t.parquet"), read_matrix(files / "t.csv")
    assert a.shape == b.shape == (M, N) and (a != b).nnz == 0
    assert read_matrix(files / "t.parquet", (M + 1, N)).shape == (M + 1, N)
    with pytest.raises(ValueError, match=r"missing the column\(s\) \['value'\]"):
        read_matrix(files / "bad.parquet")
    with pytest.raises(ValueError, match="indices need shape at least"):
        read_matrix(files / "t.parquet", (M - 1, N))
