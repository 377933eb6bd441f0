"""Smoke runs of the scripts in examples/ (``main(quick=True)``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module without running its ``__main__`` block."""
    spec = importlib.util.spec_from_file_location(f"homfact_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_have_main():
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert {"completion_mnist", "denoise_lowrank"} <= set(scripts)
    for name in scripts:
        assert callable(getattr(load_example(name), "main", None)), name


def test_denoise_lowrank_quick(capsys):
    res = load_example("denoise_lowrank").main(quick=True)
    assert res["certificate"].status == "global"
    assert res["rank"] == 5
    assert res["error_denoised"] < res["error_noisy"]
    assert "fitted rank" in capsys.readouterr().out


def test_completion_mnist_quick(tmp_path, capsys):
    res = load_example("completion_mnist").main(quick=True, output=str(tmp_path / "c.png"))
    assert res["certificate"].status == "global"
    assert res["rank"] >= 1
    assert 0 < res["test_rmse"] < 0.35
    assert (tmp_path / "c.png").is_file()
    assert "test RMSE" in capsys.readouterr().out
