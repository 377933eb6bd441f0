"""Cost of the Jacobian regularizer's value and weight gradient on ReLU chains, three ways.

For three-layer bias-free ReLU chains (``relu_chain(d, C, depth=3, width=h)``, ``s``
subnetworks, ``N`` points) one evaluation of ``Σᵢₙ ‖∂φ(xₙ; Xᵢ)/∂x‖_F`` plus its backward pass is
timed with

* ``quadratic`` — the masks' quadratic form ``uᵀTu`` (one batched matmul;
  ``regularizers._chain3_quadratic_sq``),
* ``right_to_left`` — ``B = W₃D₂W₂D₁`` formed right to left (``regularizers._chain_jacobian_sq``),
* ``double_backprop`` — the peer: ``C`` reverse passes with ``create_graph=True``
  (``JacobianRegularizer(method="autograd")``, what a PyTorch user writes by hand),

and the ratios to ``double_backprop`` are printed, with the form ``method="auto"`` picks
(``_prefer_chain3_quadratic``: ``h₁h₂ ≤ 144``).  The rule was set on the first eight shapes
(``TUNED``; a first rule in ``C·h`` flops, set on the ``C = 10`` rows alone, picked the slower
form on three of the others); the ``CHECK`` shapes were run only after it was fixed.

    python benchmarks/bench_nn_jacobian.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import homfact.nn as hn
from homfact.nn import regularizers as R

TUNED = [  # (s, N, d, C, h): the MNIST study's fc3 shape (64 subnetworks) first
    (64, 1024, 784, 10, 8), (64, 512, 784, 10, 12), (64, 512, 784, 10, 16),
    (64, 512, 784, 10, 24), (64, 512, 784, 1, 8), (64, 512, 784, 3, 6),
    (64, 512, 100, 10, 10), (32, 128, 784, 100, 8),
]
CHECK = [  # not looked at when the rule was set
    (64, 512, 784, 1, 16), (64, 512, 784, 50, 12), (64, 512, 300, 10, 14),
    (128, 512, 784, 10, 11), (64, 512, 784, 5, 13), (32, 2048, 784, 2, 4),
]
CASES = TUNED + CHECK


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_case(s: int, N: int, d: int, C: int, h: int, repeats: int) -> dict:
    torch.manual_seed(0)
    model = hn.ParallelSubnetworks(hn.relu_chain(d, C, depth=3, width=h), s,
                                   dtype=torch.float32)
    x = torch.rand(N, d)
    ps = list(model.params)
    peer = hn.JacobianRegularizer(x, method="autograd")
    forms = {
        "quadratic": lambda: R._safe_sqrt(R._chain3_quadratic_sq(ps, x)),
        "right_to_left": lambda: R._safe_sqrt(R._chain_jacobian_sq(ps, x)),
        "double_backprop": lambda: peer.jacobian_norms(model),
    }
    times = {}
    for name, f in forms.items():
        def step(f=f):
            model.zero_grad(set_to_none=True)
            f().sum().backward()
        times[name] = _time(step, repeats)
    auto = "quadratic" if R._prefer_chain3_quadratic(ps) else "right_to_left"
    return {"s": s, "N": N, "d": d, "C": C, "h": h, "seconds": times, "auto": auto}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", type=int, default=len(CASES), help="run the first CASES shapes")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'s':>5} {'N':>5} {'d':>4} {'C':>4} {'h':>3}  {'quadratic':>10} {'right→left':>10} "
          f"{'2×backprop':>10}  ratios to 2×backprop   auto picks (fastest)")
    for case in CASES[: args.cases]:
        row = run_case(*case, repeats=args.repeats)
        t = row["seconds"]
        fastest = min(("quadratic", "right_to_left"), key=t.get)
        print(f"{row['s']:>5} {row['N']:>5} {row['d']:>4} {row['C']:>4} {row['h']:>3}  "
              f"{t['quadratic']:>9.3f}s {t['right_to_left']:>9.3f}s {t['double_backprop']:>9.3f}s"
              f"  {t['quadratic'] / t['double_backprop']:.2f} / "
              f"{t['right_to_left'] / t['double_backprop']:.2f}           "
              f"{row['auto']} ({fastest})  {'check' if case in CHECK else ''}", flush=True)
        row["set"] = "tuned" if case in TUNED else "check"
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
