"""``homfact fit nmf|dictionary|structured|cp``: the generic estimator path of the CLI.

Each model is fitted on a tiny input in-process; the written arrays and certificate.json are
checked against the estimator fitted directly with the same parameters, and bad options end
with one error line (exit status 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import homfact as hf
from homfact.cli import GENERIC_MODELS, main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli_models")
    rng = np.random.default_rng(1)
    X = np.abs(rng.standard_normal((30, 2))) @ np.abs(rng.standard_normal((2, 16)))
    np.save(d / "nonneg.npy", X + 0.01 * rng.random(X.shape))
    np.save(d / "signed.npy", X - X.mean())
    np.save(d / "negative.npy", X - 2 * X.max())
    A, B, C = (rng.standard_normal((n, 2)) for n in (8, 7, 6))
    T = np.einsum("ir,jr,kr->ijk", A, B, C) + 0.01 * rng.standard_normal((8, 7, 6))
    np.save(d / "tensor.npy", T)
    return d


def test_every_generic_model_names_an_exported_estimator():
    for spec in GENERIC_MODELS.values():
        assert hasattr(hf, spec.estimator), spec.estimator


def _run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_cp_writes_factors_and_certificate(inputs, tmp_path, capsys):
    out_dir = tmp_path / "cp"
    code, out, err = _run(capsys, "fit", "cp", str(inputs / "tensor.npy"), "--lam", "0.5",
                          "--set", "debias=False", "--output", str(out_dir), "--no-plot",
                          "--quiet")
    assert code == 0, err
    assert out.startswith("homfact: status=")
    cert = json.loads((out_dir / "certificate.json").read_text())
    assert cert["estimator"] == "CPTensorFactorization"
    assert cert["params"]["lam"] == 0.5 and cert["params"]["debias"] is False
    factors = [np.load(out_dir / f"factors_{k}.npy") for k in range(3)]
    assert [F.shape[0] for F in factors] == [8, 7, 6]
    assert len({F.shape[1] for F in factors}) == 1 and cert["rank"] == factors[0].shape[1]
    # the same fit through the estimator gives the same certificate
    est = hf.CPTensorFactorization(lam=0.5, debias=False, random_state=0)
    est.fit(np.load(inputs / "tensor.npy"))
    assert est.certificate_.objective == pytest.approx(cert["objective"], rel=1e-9)
    assert est.certificate_.status == cert["status"]
    hist = json.loads((out_dir / "history.json").read_text())
    assert len(hist) == len(est.history_)


def test_fit_cp_with_refit_writes_certified_factors_beside(inputs, tmp_path, capsys):
    """With the refit (the default), ``factors_k.npy`` are the refit and
    ``certified_factors_k.npy`` the certified factors the certificate describes."""
    out_dir = tmp_path / "cp"
    code, _, err = _run(capsys, "fit", "cp", str(inputs / "tensor.npy"), "--lam", "0.5",
                        "--output", str(out_dir), "--no-plot", "--quiet")
    assert code == 0, err
    cert = json.loads((out_dir / "certificate.json").read_text())
    assert "refit" in cert
    est = hf.CPTensorFactorization(lam=0.5, random_state=0).fit(np.load(inputs / "tensor.npy"))
    for k in range(3):
        np.testing.assert_allclose(np.load(out_dir / f"certified_factors_{k}.npy"),
                                   est.certified_factors_[k])
        np.testing.assert_allclose(np.load(out_dir / f"factors_{k}.npy"), est.factors_[k])
    assert est.certificate_.objective == pytest.approx(cert["objective"], rel=1e-9)


@pytest.mark.parametrize("model, data", [("nmf", "nonneg.npy"), ("dictionary", "signed.npy"),
                                         ("structured", "signed.npy")])
def test_fit_matrix_models(model, data, inputs, tmp_path, capsys):
    out_dir = tmp_path / model
    code, out, err = _run(capsys, "fit", model, str(inputs / data), "--lam", "1.0",
                          "--time-limit", "30", "--output", str(out_dir), "--no-plot")
    assert code == 0, err
    assert "certificate:" in out and out.rstrip().splitlines()[-1].startswith("homfact: ")
    cert = json.loads((out_dir / "certificate.json").read_text())
    assert cert["status"] in ("global", "unverified", "not_optimal")
    assert cert["lower_bound"] <= cert["objective"] * (1 + 1e-9) + 1e-12
    assert any(p.suffix == ".npy" for p in out_dir.iterdir())


def test_nmf_rejects_negative_input(inputs, capsys):
    code, _, err = _run(capsys, "fit", "nmf", str(inputs / "negative.npy"), "--lam", "1")
    assert code == 2
    assert err.startswith("homfact: error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--set", "no_such_parameter=1"], "has no parameter 'no_such_parameter'"),
    (["--set", "lam"], "NAME=VALUE"),
    (["--gamma", "3"], "only apply to rpca"),
    (["--shape", "3,4"], "--shape does not apply"),
])
def test_generic_option_errors(args, message, inputs, capsys):
    code, _, err = _run(capsys, "fit", "cp", str(inputs / "tensor.npy"), "--lam", "1", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_cp_needs_a_tensor(inputs, capsys):
    code, _, err = _run(capsys, "fit", "cp", str(inputs / "signed.npy"), "--lam", "1")
    assert code == 2 and "at least 3 modes" in err


def test_set_is_refused_for_core_models(inputs, capsys):
    code, _, err = _run(capsys, "fit", "lowrank", str(inputs / "signed.npy"), "--set", "x=1")
    assert code == 2 and "--set only applies" in err


def test_fit_lowrank_lam_auto_and_completion_lam_cv(tmp_path, capsys):
    """``--lam auto`` uses the estimator's noise rule, ``--lam cv`` MatrixCompletionCV; both
    write the λ they chose and the noise level."""
    rng = np.random.default_rng(5)
    Y = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
    Y += 0.1 * rng.standard_normal(Y.shape)
    np.save(tmp_path / "Y.npy", Y)
    out = tmp_path / "auto"
    assert main(["fit", "lowrank", str(tmp_path / "Y.npy"), "--lam", "auto", "--no-plot",
                 "--quiet", "--output", str(out)]) == 0
    info = json.loads((out / "certificate.json").read_text())
    direct = hf.LowRankApproximation().fit(Y)
    assert info["lam_rule"] == "auto"
    assert info["lam"] == pytest.approx(direct.lam_)
    assert info["noise_level"] == pytest.approx(direct.noise_level_)
    assert info["rank"] == direct.rank_ == 3
    Z = Y.copy()
    Z[rng.random(Z.shape) < 0.3] = np.nan
    np.save(tmp_path / "Z.npy", Z)
    out = tmp_path / "cv"
    assert main(["fit", "completion", str(tmp_path / "Z.npy"), "--lam", "cv", "--no-plot",
                 "--quiet", "--output", str(out)]) == 0
    info = json.loads((out / "certificate.json").read_text())
    assert info["lam_rule"] == "cv" and info["lam"] > 0 and info["rank"] == 3
    capsys.readouterr()
    assert main(["fit", "lowrank", str(tmp_path / "Y.npy"), "--lam", "cv"]) == 2
    assert "--lam cv does not apply to lowrank" in capsys.readouterr().err
    assert main(["fit", "completion", str(tmp_path / "Z.npy"), "--lam", "bad"]) == 2


def test_fit_rpca_lam_cv_runs_robust_pca_cv(tmp_path, capsys):
    """``fit rpca --lam cv`` is :class:`RobustPCACV`: the CV-chosen λ, ``lam_cv``, ``lam_max``
    and γ go to certificate.json, and the same fit in Python gives the same λ and rank."""
    rng = np.random.default_rng(2)
    Y = rng.standard_normal((50, 2)) @ rng.standard_normal((2, 40))
    Y += (rng.random(Y.shape) < 0.05) * rng.uniform(-5, 5, Y.shape)
    Y += 0.02 * rng.standard_normal(Y.shape)
    np.save(tmp_path / "Y.npy", Y)
    out = tmp_path / "cv"
    assert main(["fit", "rpca", str(tmp_path / "Y.npy"), "--lam", "cv", "--seed", "0",
                 "--no-plot", "--quiet", "--output", str(out)]) == 0
    info = json.loads((out / "certificate.json").read_text())
    direct = hf.RobustPCACV(random_state=0).fit(Y)
    assert info["lam_rule"] == "cv"
    assert info["lam"] == pytest.approx(direct.lam_)
    assert info["lam_cv"] == pytest.approx(direct.lam_cv_)
    assert info["lam_max"] == pytest.approx(direct.lam_max_)
    assert info["rpca"]["gamma"] == pytest.approx(direct.gamma_)
    assert info["rank"] == direct.rank_ == 2
    capsys.readouterr()
    assert main(["fit", "rpca", str(tmp_path / "Y.npy"), "--lam", "cv", "--loss", "huber"]) == 2
    assert "needs the split loss" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["nmf", "structured"])
def test_fit_writes_the_certified_factors_beside_the_refit(model, inputs, tmp_path, capsys):
    """The written factors of a debiasing model are the refit; the certificate is about the
    certified ones, which are written too (certified_*.npy) and whose rank it reports."""
    extra = ["--set", "image_shape=(6,5)"] if model == "structured" else []
    X = np.load(inputs / "nonneg.npy")
    np.save(tmp_path / "X.npy", X)
    assert main(["fit", model, str(tmp_path / "X.npy"), "--no-plot", "--quiet", "--output",
                 str(tmp_path / "o"), *extra]) == 0
    info = json.loads((tmp_path / "o" / "certificate.json").read_text())
    names = sorted(p.name for p in (tmp_path / "o").glob("certified_*.npy"))
    assert names and "refit" in info
    key = "certified_components.npy" if model == "nmf" else "certified_U.npy"
    certified = np.load(tmp_path / "o" / key)
    rank = certified.shape[0] if model == "nmf" else certified.shape[1]
    assert info["rank"] == rank
    assert f"rank={rank} " in capsys.readouterr().out
