"""Checkpoint and resume of the core loop (homfact.meta.grow) and of the estimators that fit
through it: atomic writes, bit-identical resume, fingerprint checks, the file format."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import scipy.sparse as sp

import homfact as hf
from homfact import _checkpoint
from homfact.cli import main
from homfact.meta import grow
from homfact.problems import completion_problem, low_rank_problem, observed_entries


def _low_rank_data(seed: int = 1, m: int = 120, n: int = 80, r: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, r)) @ rng.standard_normal((r, n)) + 0.3 * rng.standard_normal(
        (m, n))


def _completion_data(seed: int = 1, m: int = 150, n: int = 100, r: int = 8) -> sp.csr_matrix:
    Y = _low_rank_data(seed, m, n, r)
    mask = np.random.default_rng(seed + 1).random((m, n)) < 0.3
    return sp.coo_matrix((Y[mask], np.nonzero(mask)), shape=(m, n)).tocsr()


def _strip(history: list[dict]) -> list[dict]:
    """History records without the wall-clock times (the only fields that may differ)."""
    return [{k: v for k, v in rec.items() if k != "elapsed"} for rec in history]


LAM = 8.0


@pytest.fixture(scope="module")
def full_low_rank():
    Y = _low_rank_data()
    return Y, grow(low_rank_problem(Y, LAM), random_state=0)


def test_resume_low_rank_is_bit_identical(tmp_path, full_low_rank):
    Y, full = full_low_rank
    assert full.n_iter >= 3 and full.stop_reason == "certified"
    for k in (1, full.n_iter - 1):
        path = tmp_path / f"k{k}.npz"
        first = grow(low_rank_problem(Y, LAM), random_state=0, max_iter=k, checkpoint=path)
        assert first.stop_reason == "max_iter" and first.n_iter == k
        res = grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=path, resume=True)
        assert res.resumed_from == k
        assert res.rank == full.rank and res.n_iter == full.n_iter
        assert res.stop_reason == full.stop_reason
        for a, b in zip(res.factors, full.factors, strict=True):
            np.testing.assert_array_equal(a, b)
        assert res.certificate == full.certificate
        assert _strip(res.history) == _strip(full.history)


def test_resume_completion_estimator_is_bit_identical(tmp_path):
    S = _completion_data(1, 80, 60, 5)
    kw = dict(lam=3.0, random_state=0)
    full = hf.MatrixCompletion(**kw).fit(S)
    assert full.n_iter_ >= 3
    path = tmp_path / "mc.npz"
    k = full.n_iter_ // 2
    hf.MatrixCompletion(**kw, max_iter=k, checkpoint=path).fit(S)
    res = hf.MatrixCompletion(**kw, checkpoint=str(path), resume=True).fit(S)
    assert res.resumed_from_ == k and full.resumed_from_ == 0
    assert res.rank_ == full.rank_ and res.n_iter_ == full.n_iter_
    np.testing.assert_array_equal(res.U_, full.U_)
    np.testing.assert_array_equal(res.V_, full.V_)
    assert res.certificate_ == full.certificate_
    assert _strip(res.history_) == _strip(full.history_)


def test_resume_low_rank_estimator_auto_lam(tmp_path):
    Y = _low_rank_data(2)
    full = hf.LowRankApproximation(random_state=0).fit(Y)
    path = tmp_path / "lr.npz"
    hf.LowRankApproximation(random_state=0, max_iter=1, checkpoint=path).fit(Y)
    res = hf.LowRankApproximation(random_state=0, checkpoint=path, resume=True).fit(Y)
    assert res.resumed_from_ == 1 and res.rank_ == full.rank_
    np.testing.assert_array_equal(res.certified_U_, full.certified_U_)
    np.testing.assert_array_equal(res.U_, full.U_)
    assert res.certificate_.objective == full.certificate_.objective


def test_interrupt_saves_and_resumes(tmp_path, full_low_rank):
    Y, full = full_low_rank
    path = tmp_path / "int.npz"

    def interrupt(record):
        if record["iteration"] == 2:
            raise KeyboardInterrupt

    cut = grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=path, callback=interrupt)
    assert cut.stop_reason == "interrupted"
    res = grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=path, resume=True)
    assert res.resumed_from == 2
    for a, b in zip(res.factors, full.factors, strict=True):
        np.testing.assert_array_equal(a, b)
    assert _strip(res.history) == _strip(full.history)


def test_resume_of_a_certified_checkpoint_returns_it(tmp_path, full_low_rank):
    Y, full = full_low_rank
    path = tmp_path / "done.npz"
    grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=path)
    res = grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=path, resume=True)
    assert res.stop_reason == "certified" and res.n_iter == full.n_iter
    assert res.resumed_from == full.n_iter
    for a, b in zip(res.factors, full.factors, strict=True):
        np.testing.assert_array_equal(a, b)
    assert res.certificate.status == "global"  # recomputed on the data, not read


def test_resume_without_file_starts_fresh(tmp_path, full_low_rank):
    Y, full = full_low_rank
    path = tmp_path / "new.npz"
    res = grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=path, resume=True)
    assert res.resumed_from == 0 and path.exists()
    for a, b in zip(res.factors, full.factors, strict=True):
        np.testing.assert_array_equal(a, b)


def test_file_format_is_npz_without_pickle(tmp_path, full_low_rank):
    Y, _ = full_low_rank
    path = tmp_path / "fmt.npz"
    grow(low_rank_problem(Y, LAM), random_state=0, max_iter=2, checkpoint=path)
    with np.load(path, allow_pickle=False) as f:
        names = set(f.files)
        state = json.loads(str(f["state"][()]))
        U = f["factor_0"]
    assert {"state", "factor_0", "factor_1", "warm_0", "warm_1"} <= names
    assert state["format"] == _checkpoint.FORMAT and state["version"] == _checkpoint.VERSION
    assert state["iteration"] == 2 and len(state["history"]) == 2
    assert state["fingerprint"]["lam"] == LAM
    assert state["fingerprint"]["block_sizes"] == list(Y.shape)
    assert U.dtype == np.float64 and U.shape[0] == Y.shape[0]
    assert state["rng"]["bit_generator"] == "PCG64"


def test_fingerprint_mismatch_names_checkpoint(tmp_path):
    Y = _low_rank_data()
    path = tmp_path / "fp.npz"
    grow(low_rank_problem(Y, LAM), random_state=0, max_iter=1, checkpoint=path)
    with pytest.raises(ValueError, match=r"checkpoint.*different problem.*lam"):
        grow(low_rank_problem(Y, 2 * LAM), checkpoint=path, resume=True)
    Y2 = Y.copy()
    Y2[0, 0] += 1.0  # a sampled entry
    with pytest.raises(ValueError, match=r"checkpoint.*different problem"):
        grow(low_rank_problem(Y2, LAM), checkpoint=path, resume=True)
    sampled = np.unique(np.linspace(0, Y.size - 1, _checkpoint.SAMPLE_SIZE).astype(np.int64))
    hidden = int(np.setdiff1d(np.arange(Y.size), sampled)[0])
    Y3 = Y.copy()
    Y3.flat[hidden] += 1e-3 * np.abs(Y).max()  # not sampled: caught by the sum and norm
    with pytest.raises(ValueError, match=r"checkpoint.*different problem"):
        grow(low_rank_problem(Y3, LAM), checkpoint=path, resume=True)
    with pytest.raises(ValueError, match=r"checkpoint.*different problem"):
        grow(low_rank_problem(Y[:, :-1], LAM), checkpoint=path, resume=True)
    # completion: the observed positions are part of the problem
    S = _completion_data()
    cpath = tmp_path / "fp_mc.npz"
    grow(completion_problem(observed_entries(S), 3.0), max_iter=1, checkpoint=cpath)
    coo = S.tocoo()
    row, col = coo.row.copy(), coo.col.copy()
    free = np.flatnonzero(S[row[-1]].toarray().ravel() == 0)[0]  # unobserved in that row
    col[-1] = free  # same values, one entry observed elsewhere
    moved = sp.coo_matrix((coo.data, (row, col)), shape=S.shape).tocsr()
    with pytest.raises(ValueError, match=r"checkpoint.*different problem"):
        grow(completion_problem(observed_entries(moved), 3.0), checkpoint=cpath, resume=True)
    # a resume=False run overwrites a mismatching file
    grow(low_rank_problem(Y, 2 * LAM), max_iter=1, checkpoint=path)
    grow(low_rank_problem(Y, 2 * LAM), checkpoint=path, resume=True)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"checkpoint.*not a readable homfact checkpoint"):
        grow(low_rank_problem(_low_rank_data(), LAM), checkpoint=path, resume=True)


def test_atomic_write_keeps_old_checkpoint(tmp_path, monkeypatch, full_low_rank):
    Y, _ = full_low_rank
    path = tmp_path / "atomic.npz"
    grow(low_rank_problem(Y, LAM), random_state=0, max_iter=1, checkpoint=path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        grow(low_rank_problem(Y, LAM), random_state=0, max_iter=3, checkpoint=path,
             resume=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.npz"]  # no temp file left
    with np.load(path, allow_pickle=False) as f:
        assert json.loads(str(f["state"][()]))["iteration"] == 1


def test_checkpoint_every(tmp_path, monkeypatch, full_low_rank):
    Y, full = full_low_rank
    seen: list[int] = []
    save = _checkpoint.save

    def spy(path, state, fp, settings):
        seen.append(state.iteration)
        save(path, state, fp, settings)

    monkeypatch.setattr(_checkpoint, "save", spy)
    grow(low_rank_problem(Y, LAM), random_state=0, checkpoint=tmp_path / "e.npz",
         checkpoint_every=2)
    n = full.n_iter
    assert seen == ([*range(2, n, 2), n] if n % 2 else list(range(2, n + 1, 2)))
    assert n >= 3


def test_argument_checks(tmp_path):
    problem = low_rank_problem(_low_rank_data(), LAM)
    with pytest.raises(ValueError, match="checkpoint"):
        grow(problem, resume=True)
    with pytest.raises(ValueError, match="checkpoint_every"):
        grow(problem, checkpoint=tmp_path / "a.npz", checkpoint_every=0)
    with pytest.raises(ValueError, match="checkpoint"):
        grow(problem, checkpoint=tmp_path / "missing_dir" / "a.npz")
    with pytest.raises(ValueError, match="checkpoint"):
        grow(problem, checkpoint=tmp_path)
    with pytest.raises(TypeError, match="checkpoint"):
        grow(problem, checkpoint=3)
    with pytest.raises(TypeError, match="resume"):
        grow(problem, checkpoint=tmp_path / "a.npz", resume="yes")
    with pytest.raises(ValueError, match="checkpoint"):
        hf.LowRankApproximation(lam=1.0, resume=True).fit(_low_rank_data())


def test_cli_checkpoint_and_resume(tmp_path, capsys):
    Y = _low_rank_data(3)
    data = tmp_path / "Y.npy"
    np.save(data, Y)
    ck = tmp_path / "fit.npz"
    args = ["fit", "low_rank", str(data), "--lam", "8", "--checkpoint", str(ck)]
    assert main([*args, "--max-iter", "1", "--quiet"]) == 0 and ck.exists()
    assert main([*args, "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert main(["fit", "low_rank", str(data), "--resume", "--quiet"]) != 0
    assert main(["fit", "nmf", str(data), "--checkpoint", str(ck), "--quiet"]) != 0
