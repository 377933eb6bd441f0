"""One MNIST-study cell without λ selection: does the regularizer help when trained longer?

No λ selection: ``none`` and the product of norms at every λ of the study's grid are trained on the
whole training set of one seed (the study's split, initial weights and batched Adam), and scored
on the fixed test set, for each number of Adam steps.  Used to explain the cross-entropy fc cells
of the study (``benchmarks/README.md`` §8); results of 5 seeds of fc3 / cross-entropy / 512 digits
at 400 and 1,600 steps are in ``nn_mnist/oracle_fc3_ce512_steps.json``.

    python benchmarks/nn_oracle_steps.py --seed 0 --arch fc3 --n 512 --steps 400 1600 \\
        --data benchmarks/results/nn_data/mnist5k.npz --out oracle_seed0.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(_EXAMPLES) not in sys.path:
    sys.path.insert(0, str(_EXAMPLES))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default="fc3", choices=["fc2", "fc3", "conv"])
    ap.add_argument("--loss", default="cross_entropy", choices=["hinge", "cross_entropy"])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--steps", type=int, nargs="+", default=[400, 1600])
    ap.add_argument("--data", required=True, help="npz with X (uint8 pixels) and y")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import nn_mnist_study as st  # the study's splits, batched training and scoring

    grid = st.PROTOCOL_DEFAULTS["grid"]
    with np.load(args.data) as f:
        X, y = f["X"].astype(np.float64) / 255.0, f["y"].astype(np.int64)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    tr, te = st.splits(y, args.n, args.seed)
    specs = [("none", 0.0)] + [("pn", lam) for lam in grid]
    out = {}
    for steps in args.steps:
        _, fwd = st.train_groups(args.arch, args.loss, specs, Xt[tr], yt[tr], steps, 2e-3,
                                 torch.device("cpu"), args.seed)
        out[str(steps)] = [100 * a for a in st.accuracies(fwd, Xt[te], yt[te])]
        print(args.seed, args.arch, steps, "none, PN at", grid,
              [f"{a:.2f}" for a in out[str(steps)]], flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
