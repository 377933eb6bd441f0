"""Degree mismatch: weight decay vs the degree-matched regularizer on a 3-layer parallel network.

Proposition (talk): if the network has degree ``p = 3`` and the regularizer degree 2 (weight decay),
``ℓ + λΘ`` has spurious local minima (the origin among them: near 0 a new subnetwork costs ``t²``
and gains only ``t³``).  With a degree-3 regularizer ``Σᵢ Πₖ‖Wᵢᵏ‖`` a stationary point is either
certified by the polar or improved along the polar maximizer.

Protocol: a small problem (``N`` Gaussian inputs, labels from a random teacher network,
cross-entropy); ``--starts`` random initializations of 4 parallel subnetworks 5-2-2-3, scaled by
log-uniform factors in ``[0.02, 1.5]``; each start is trained to stationarity (float64 L-BFGS)
once with weight decay and once with the product of norms (same ``λ``).  For every final point
the polar check (:func:`homfact.nn.polar_check`) tells whether it is provably not optimal:
matched degree — polar lower bound ``> λ``; weight decay — a finite step along the polar
maximizer lowers the objective.  The matched runs are then repaired by growth (append the
maximizer, retrain; at most ``--repairs`` times).  Prints the distribution of final objectives.

    python examples/nn_degree_mismatch.py --quick
    python examples/nn_degree_mismatch.py --starts 40
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import homfact.nn as hn


def problem(seed: int = 0, n: int = 60, d: int = 5, c: int = 3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    W1 = torch.randn(d, 6, generator=g, dtype=torch.float64)
    W2 = torch.randn(6, c, generator=g, dtype=torch.float64)
    y = (torch.relu(X @ W1) @ W2).argmax(1)
    return X, y


def run_start(X, y, reg_name: str, lam: float, scale: float, seed: int, iters: int,
              repairs: int, polar_starts: int) -> dict:
    torch.manual_seed(seed)
    fac = hn.relu_chain(X.shape[1], int(y.max()) + 1, depth=3, width=2)
    model = hn.ParallelSubnetworks(fac, 4, dtype=torch.float64)
    with torch.no_grad():
        for p in model.params:
            p.mul_(scale)
    loss = hn.make_loss("cross_entropy")
    reg = hn.make_regularizer(reg_name)
    obj = hn.train_full_batch(model, X, y, loss, reg, lam, max_iter=iters)
    chk = hn.polar_check(model, X, y, loss, reg, lam, n_starts=polar_starts, n_iter=80)
    out = {"reg": reg_name, "scale": scale, "objective": obj, "flagged": chk["flagged"],
           "polar_lower": chk["polar_lower"], "decrease": chk["decrease"],
           "collapsed": bool(float(model.layer_norms().detach().prod(1).sum()) < 1e-6)}
    if reg_name == "product_of_norms":
        k = 0
        while chk["flagged"] and k < repairs:
            model.add_subnetworks(chk["step"])
            obj = hn.train_full_batch(model, X, y, loss, reg, lam, max_iter=iters)
            chk = hn.polar_check(model, X, y, loss, reg, lam, n_starts=polar_starts, n_iter=80)
            k += 1
        out.update(repaired_objective=obj, repaired_flagged=chk["flagged"], repairs=k,
                   repaired_width=model.width)
    return out


def describe(vals) -> str:
    v = np.asarray(vals)
    q = np.quantile(v, [0, 0.25, 0.5, 0.75, 1])
    return (f"min {q[0]:.5f}  q25 {q[1]:.5f}  median {q[2]:.5f}  q75 {q[3]:.5f}  "
            f"max {q[4]:.5f}  (best+1%: {np.mean(v <= q[0] * 1.01 + 1e-12) * 100:.0f}% of runs)")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--starts", type=int, default=30)
    ap.add_argument("--lam", type=float, default=1e-2)
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--repairs", type=int, default=3)
    ap.add_argument("--polar-starts", type=int, default=16)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write results JSON here")
    args = ap.parse_args(argv)
    if args.quick:
        args.starts, args.iters, args.repairs, args.polar_starts = 2, 30, 1, 4
    torch.set_num_threads(args.threads)
    X, y = problem()
    rng = np.random.default_rng(0)
    scales = np.exp(rng.uniform(np.log(0.02), np.log(1.5), args.starts))
    runs = []
    t0 = time.perf_counter()
    for i, s in enumerate(scales):
        for reg in ("weight_decay", "product_of_norms"):
            runs.append(run_start(X, y, reg, args.lam, float(s), i, args.iters, args.repairs,
                                  args.polar_starts))
        print(f"[{time.perf_counter() - t0:6.1f}s] start {i} scale {s:.3f}: "
              f"WD {runs[-2]['objective']:.5f} flagged={runs[-2]['flagged']}  "
              f"PN {runs[-1]['objective']:.5f} flagged={runs[-1]['flagged']} -> "
              f"{runs[-1]['repaired_objective']:.5f}", flush=True)
    summary = {}
    for reg in ("weight_decay", "product_of_norms"):
        rr = [r for r in runs if r["reg"] == reg]
        summary[reg] = {
            "objectives": [r["objective"] for r in rr],
            "flagged": sum(r["flagged"] for r in rr), "collapsed": sum(r["collapsed"]
                                                                        for r in rr),
            "runs": len(rr)}
        print(f"\n{reg} (degree {'2, network 3: mismatched' if reg == 'weight_decay' else '3'})"
              f": {describe(summary[reg]['objectives'])}")
        print(f"  flagged not optimal by the polar check: {summary[reg]['flagged']}/{len(rr)};"
              f" collapsed to zero: {summary[reg]['collapsed']}/{len(rr)}")
        if reg == "product_of_norms":
            rep = [r["repaired_objective"] for r in rr]
            summary[reg]["repaired_objectives"] = rep
            summary[reg]["still_flagged_after_repair"] = sum(r["repaired_flagged"] for r in rr)
            print(f"  after polar-guided growth: {describe(rep)}; still flagged "
                  f"{summary[reg]['still_flagged_after_repair']}/{len(rr)}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "runs": runs,
                                              "summary": summary}, indent=1, default=str))
    return summary


if __name__ == "__main__":
    main()
