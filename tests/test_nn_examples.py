"""Smoke tests of the homfact.nn study scripts at tiny size (CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

torch.set_num_threads(1)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str, folder: Path = EXAMPLES):
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_digits(path: Path, seed: int):
    """A stand-in for the 5,000 digits, written as the npz the study reads with ``--data`` (like
    the GPU run does): 2,500 noisy 784-pixel rows whose class lights every tenth pixel."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), 250)
    X = (rng.random((y.size, 784)) * 40 + 20 * (np.arange(784) % 10 == y[:, None]))
    np.savez(path, X=np.clip(X, 0, 255).astype(np.uint8), y=y)
    return y


def test_mnist_study_quick(tmp_path):
    import numpy as np

    y = _fake_digits(tmp_path / "d.npz", seed=0)
    mod = _load("nn_mnist_study")
    summary = mod.main(["--quick", "--archs", "fc2", "fc3", "--losses", "cross_entropy",
                        "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path)])
    assert set(summary) == {"fc2|cross_entropy|64", "fc3|cross_entropy|64"}
    for cell in summary.values():
        for reg in ("none", "wd", "pn"):
            assert 0.0 <= cell[reg][0] <= 100.0
    # two layers: weight decay and the balanced product of norms are the same objective
    assert summary["fc2|cross_entropy|64"]["wd"] == summary["fc2|cross_entropy|64"]["pn"]
    assert (tmp_path / "table.md").read_text().count("| cross_entropy |") >= 2
    # λ chosen by stratified 3-fold cross-validation instead of one split, shifted copies
    summary = mod.main(["--quick", "--archs", "fc2", "--losses", "hinge", "--folds", "3",
                        "--augment", "1",
                        "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "cv")])
    assert set(summary) == {"fc2|hinge|64"}
    folds = mod.selection_splits(y[:60], 3, seed=0)
    assert len(folds) == 3
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(60))
    for fit, val in folds:
        assert not set(fit) & set(val)
    # shifted training copies: 1 + 4·shift copies, labels repeated, pixels moved by one
    Xs = torch.arange(2 * 784, dtype=torch.float32).reshape(2, 784)
    Xa, ya = mod.augmented(Xs, torch.tensor([3, 7]), 1)
    assert Xa.shape == (10, 784) and ya.tolist() == [3, 7] * 5
    assert torch.equal(Xa[:2], Xs)
    assert torch.equal(Xa[2].reshape(28, 28)[1:], Xs[0].reshape(28, 28)[:-1])
    assert mod.augmented(Xs, torch.tensor([3, 7]), 0)[0] is Xs
    assert json.loads((tmp_path / "table.json").read_text())["results"]
    assert (tmp_path / "accuracy.png").stat().st_size > 0


def test_mnist_study_merge_pools_seeds_and_refuses_mismatches(tmp_path):
    import numpy as np
    import pytest

    _fake_digits(tmp_path / "d.npz", seed=1)
    mod = _load("nn_mnist_study")
    base = ["--quick", "--archs", "fc2", "--losses", "hinge", "--data", str(tmp_path / "d.npz")]
    s0 = mod.main([*base, "--out", str(tmp_path / "a")])
    s1 = mod.main([*base, "--first-seed", "1", "--out", str(tmp_path / "b")])
    rows = [json.loads((tmp_path / d / "table.json").read_text())["results"] for d in "ab"]
    assert [r["seed"] for r in rows[0]] == [0] and [r["seed"] for r in rows[1]] == [1]
    merged = mod.main(["--merge", str(tmp_path / "a" / "table.json"),
                       str(tmp_path / "b" / "table.json"), "--out", str(tmp_path / "m")])
    cell = "fc2|hinge|64"
    for reg in ("none", "wd", "pn"):
        vals = [s0[cell][reg][0], s1[cell][reg][0]]
        assert merged[cell][reg][0] == pytest.approx(np.mean(vals))
        assert merged[cell][reg][1] == pytest.approx(np.std(vals))
    # the paired difference over seeds and its standard error s/√k
    d = [s0[cell]["pn"][0] - s0[cell]["none"][0], s1[cell]["pn"][0] - s1[cell]["none"][0]]
    assert merged[cell]["pn-none"] == pytest.approx((np.mean(d), np.std(d, ddof=1) / np.sqrt(2)))
    assert np.isnan(s0[cell]["pn-none"][1])
    info = json.loads((tmp_path / "m" / "table.json").read_text())
    assert info["seeds_by_arch"] == {"fc2": "cpu: [0, 1]"}
    assert "fc2: cpu: [0, 1]" in (tmp_path / "m" / "table.md").read_text()
    # another network with its own seeds joins the table, its seeds stated beside the first's
    mod.main(["--quick", "--archs", "fc3", "--losses", "hinge", "--first-seed", "5",
              "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "f3")])
    both = mod.main(["--merge", str(tmp_path / "m" / "table.json"),
                     str(tmp_path / "f3" / "table.json"), "--out", str(tmp_path / "m2")])
    assert set(both) == {cell, "fc3|hinge|64"} and both[cell] == merged[cell]
    assert json.loads((tmp_path / "m2" / "table.json").read_text())["seeds_by_arch"] == {
        "fc2": "cpu: [0, 1]", "fc3": "cpu: [5]"}
    # the same seed twice, a different protocol, or cells over unequal seeds: refused
    with pytest.raises(ValueError, match="appears twice"):
        mod.main(["--merge", str(tmp_path / "a" / "table.json"),
                  str(tmp_path / "a" / "table.json"), "--out", str(tmp_path / "x")])
    mod.main([*base, "--first-seed", "2", "--grid", "1e-4", "1e-3", "1e-2",
              "--out", str(tmp_path / "c")])
    with pytest.raises(ValueError, match="grid"):
        mod.main(["--merge", str(tmp_path / "a" / "table.json"),
                  str(tmp_path / "c" / "table.json"), "--out", str(tmp_path / "x")])
    partial = json.loads((tmp_path / "b" / "table.json").read_text())
    partial["results"][0]["n"] = 128
    partial["args"]["sizes"] = [64]
    (tmp_path / "p.json").write_text(json.dumps(partial))
    with pytest.raises(ValueError, match="same seeds"):
        mod.main(["--merge", str(tmp_path / "a" / "table.json"), str(tmp_path / "p.json"),
                  "--out", str(tmp_path / "x")])


def test_mnist_study_chain3_forward_matches_forward_each():
    """The study's fc3 forward is ParallelSubnetworks.forward_each (its Jacobian is the
    library's, tested in test_nn_jacobian)."""
    import homfact.nn as hn

    mod = _load("nn_mnist_study")
    torch.manual_seed(0)
    model = hn.ParallelSubnetworks(hn.relu_chain(20, 4, depth=3, width=5), 6,
                                   dtype=torch.float64)
    X = torch.randn(30, 20, dtype=torch.float64)
    out = mod.chain3_forward(list(model.params), X)
    assert out.abs().max() > 0
    assert torch.allclose(out, model.forward_each(X), rtol=0, atol=1e-12)


def test_mnist_study_batched_groups_are_independent_runs(tmp_path):
    """Groups of one batched run (per-group rows for the loss and the Jacobian points, per-group
    λ) train exactly as separate runs on their own rows; fc2's PN fits are its WD fits."""
    import numpy as np

    y = _fake_digits(tmp_path / "d.npz", seed=4)
    X = np.load(tmp_path / "d.npz")["X"].astype(np.float64) / 255.0
    mod = _load("nn_mnist_study")
    pick = np.concatenate([np.flatnonzero(y == c)[:4] for c in range(10)])
    Xt = torch.as_tensor(X[pick], dtype=torch.float32)
    yt = torch.as_tensor(y[pick])
    rows = torch.zeros((3, 40), dtype=torch.bool)
    rows[0, :30], rows[1, 10:], rows[2, ::2] = True, True, True
    cpu = torch.device("cpu")
    for arch, loss in (("fc2", "hinge"), ("fc3", "cross_entropy"), ("conv", "hinge")):
        # conv: the library's double-backprop Jacobian (the GPU cells' path)
        specs = [("jac", 1e-2), ("wd", 1e-3), ("jac", 1e-1)]
        _, fwd = mod.train_groups(arch, loss, specs, Xt, yt, 4, 1e-2, cpu, 0, rows=rows)
        together = fwd(Xt)
        for g, spec in enumerate(specs):
            _, alone = mod.train_groups(arch, loss, [spec], Xt[rows[g]], yt[rows[g]], 4,
                                        1e-2, cpu, 0)
            assert torch.allclose(together[g], alone(Xt)[0], rtol=1e-4, atol=1e-5), (arch, g)
        # the regularizer changes the fit (the Jacobian term is not silently zero)
        _, plain = mod.train_groups(arch, loss, [("none", 0.0)], Xt[rows[2]], yt[rows[2]], 4,
                                    1e-2, cpu, 0)
        assert not torch.allclose(together[2], plain(Xt)[0], rtol=1e-4, atol=1e-5)
    # two layers: weight decay and the balanced product of norms are one objective
    _, fwd = mod.train_groups("fc2", "hinge", [("wd", 1e-2), ("pn", 1e-2)], Xt, yt, 4, 1e-2,
                              cpu, 0)
    both = fwd(Xt)
    assert torch.equal(both[0], both[1])


def test_mnist_study_jacobian_cv_quick(tmp_path):
    """The protocol's path at tiny size: four regularizers, λ by stratified 4-fold CV in the
    training subset, raw rows per (size, seed), the table with paired 95% t-intervals, and a
    merge that marks the networks without results."""
    import numpy as np
    import pytest
    from scipy import stats

    _fake_digits(tmp_path / "d.npz", seed=5)
    mod = _load("nn_mnist_study")
    base = ["--quick", "--archs", "fc2", "fc3", "--losses", "hinge", "--folds", "4",
            "--data", str(tmp_path / "d.npz")]
    mod.main([*base, "--out", str(tmp_path / "a")])
    mod.main([*base, "--first-seed", "1", "--out", str(tmp_path / "b")])
    raw = json.loads((tmp_path / "a" / "n64_seed0.json").read_text())
    assert raw["args"]["folds"] == 4 and raw["args"]["regs"] == ["none", "wd", "pn", "jac"]
    assert [(r["arch"], r["loss"]) for r in raw["results"]] == [("fc2", "hinge"),
                                                                 ("fc3", "hinge")]
    for row in raw["results"]:
        for reg in ("none", "wd", "pn", "jac"):
            assert 0.0 <= row[reg] <= 100.0
        assert row["jac_lam"] in row["grids"]["jac"] and row["wd_lam"] in row["grids"]["wd"]
        # the Jacobian grid is the PN grid times a power of ten
        ratio = np.asarray(row["grids"]["jac"]) / np.asarray(row["grids"]["pn"])
        assert np.allclose(ratio, row["jac_grid_factor"])
        assert np.log10(row["jac_grid_factor"]) == round(np.log10(row["jac_grid_factor"]))
        # CV: every (reg, λ) scored on the 4 folds (accuracy summed over folds)
        assert set(row["cv_val_acc_sum"]) == {"wd", "pn", "jac"}
        assert all(0.0 <= v <= 4.0 for d in row["cv_val_acc_sum"].values() for v in d.values())
        n_trained = 2 if row["arch"] == "fc2" else 3  # fc2: PN's fits are WD's
        assert row["n_groups_cv"] == 4 * n_trained * len(row["grids"]["wd"])
    assert raw["results"][0]["pn"] == raw["results"][0]["wd"]
    merged = mod.main(["--merge", str(tmp_path / "a" / "n64_seed0.json"),
                       str(tmp_path / "b" / "n64_seed1.json"), "--not-run",
                       "conv=not run (no GPU)", "--out", str(tmp_path / "m")])
    rows = [json.loads((tmp_path / d / f"n64_seed{k}.json").read_text())["results"][1]
            for d, k in (("a", 0), ("b", 1))]
    cell = merged["fc3|hinge|64"]
    d = np.array([r["jac"] - r["none"] for r in rows])
    half = stats.t.ppf(0.975, 1) * d.std(ddof=1) / np.sqrt(2)
    assert cell["jac-none"] == pytest.approx((d.mean(), d.std(ddof=1) / np.sqrt(2)))
    assert cell["jac-none_ci95"] == pytest.approx((d.mean() - half, d.mean() + half))
    assert cell["seeds"] == [0, 1]
    md = (tmp_path / "m" / "table.md").read_text()
    assert "Jacobian − none [95% CI]" in md and "No augmentation" in md
    assert "| hinge | conv (3) | 64 | 0 | not run (no GPU) |" in md
    # the talk's row of the same loss and layer count beside a measured cell
    talk = mod.table_markdown({"fc2|hinge|256": merged["fc2|hinge|64"]},
                              argparse_ns(mod, sizes=[256]))
    assert "| 88.37 | 89.88 | 93.83 |" in talk
    # every row of a table has the header's column count, also with no regularized column
    cell = {k: v for k, v in merged["fc2|hinge|64"].items() if k in ("none", "seeds")}
    for regs in (["none", "wd", "pn", "jac"], ["none"]):
        md = mod.table_markdown({"fc2|hinge|256": cell if regs == ["none"] else
                                 merged["fc2|hinge|64"]}, argparse_ns(mod, sizes=[256],
                                                                     regs=regs))
        tables = [t for t in md.split("\n\n") if t.startswith("|")]
        assert len(tables) == (2 if "wd" in regs else 1)
        for table in tables:
            assert len({line.count("|") for line in table.splitlines()}) == 1, table
    # runs saved before --regs (none/WD/PN only) do not pool with these
    old = json.loads((tmp_path / "b" / "n64_seed1.json").read_text())
    del old["args"]["regs"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="regs"):
        mod.main(["--merge", str(tmp_path / "a" / "n64_seed0.json"), str(tmp_path / "old.json"),
                  "--out", str(tmp_path / "x")])


def argparse_ns(mod, **kw):
    import argparse

    base = {"archs": ["fc2"], "losses": ["hinge"], "sizes": [64], "regs": list(mod.REGS),
            "augment": 0}
    return argparse.Namespace(**{**base, **kw})


def test_oracle_steps_benchmark_runs(tmp_path):
    _fake_digits(tmp_path / "d.npz", seed=2)
    mod = _load("nn_oracle_steps", EXAMPLES.parent / "benchmarks")
    out = mod.main(["--n", "64", "--arch", "fc2", "--steps", "3", "6", "--data",
                    str(tmp_path / "d.npz"), "--out", str(tmp_path / "o.json")])
    assert set(out) == {"3", "6"} and all(len(v) == 5 for v in out.values())
    assert json.loads((tmp_path / "o.json").read_text()) == out


def test_mnist_splits_are_fixed_balanced_and_disjoint():
    import numpy as np

    mod = _load("nn_mnist_study")
    y = np.repeat(np.arange(10), 500)
    tr, te = mod.splits(y, 256, seed=1)
    tr2, te2 = mod.splits(y, 256, seed=2)
    assert np.array_equal(te, te2) and np.intersect1d(tr, te).size == 0
    counts = np.bincount(y[tr], minlength=10)
    assert tr.size == 256 and counts.max() - counts.min() <= 1
    assert not np.array_equal(np.sort(tr), np.sort(tr2))
    fit, val = mod.stratified_val(y[tr], 0.2, 0)
    assert np.intersect1d(fit, val).size == 0 and fit.size + val.size == 256


def test_degree_mismatch_quick(tmp_path):
    mod = _load("nn_degree_mismatch")
    out = tmp_path / "mm.json"
    summary = mod.main(["--quick", "--out", str(out)])
    assert summary["weight_decay"]["runs"] == summary["product_of_norms"]["runs"] == 2
    assert len(summary["product_of_norms"]["repaired_objectives"]) == 2
    assert json.loads(out.read_text())["runs"]


def test_growth_vs_fixed_quick():
    mod = _load("nn_growth_vs_fixed")
    res = mod.main(["--quick"])
    assert res["grown_width"] <= res["fixed_width"]
    assert res["ratio"] <= 1.01


def test_polar_bounds_benchmark_runs(tmp_path):
    _fake_digits(tmp_path / "d.npz", seed=3)
    mod = _load("nn_polar_bounds", EXAMPLES.parent / "benchmarks")
    out = mod.main(["--n", "60", "--lam", "1e-2", "--max-growth", "1", "--data",
                    str(tmp_path / "d.npz")])
    (two,), deep = out["two_layer"], out["deep"]
    assert two["ascent"] <= two["new"] <= two["plain"] * (1 + 1e-9)
    assert len(deep) == 2 and all(r["new"] <= r["classical"] * (1 + 1e-9) for r in deep)


def test_jacobian_forms_benchmark_runs():
    mod = _load("bench_nn_jacobian", EXAMPLES.parent / "benchmarks")
    narrow, wide = mod.run_case(3, 8, 6, 2, 3, repeats=1), mod.run_case(3, 8, 6, 2, 13, repeats=1)
    assert set(narrow["seconds"]) == {"quadratic", "right_to_left", "double_backprop"}
    assert all(t > 0 for t in narrow["seconds"].values())
    assert (narrow["auto"], wide["auto"]) == ("quadratic", "right_to_left")
