"""Robust PCA separating a static background from moving foreground objects in a synthetic video.

Each frame of a ``h×w`` grey-level video is a column of ``Y`` (``h·w × T``).  The background is a
fixed scene under a slowly varying global illumination — rank 2 across frames — and a few bright
and dark squares move across it: they cover a small fraction of the pixels of each frame, so
they are sparse gross errors for the low-rank model.  A little Gaussian sensor noise is added.

:class:`homfact.RobustPCA` (split loss, ``lam = √max(m, n)``) recovers the background as the
low-rank part ``U Vᵀ`` and the objects as the sparse part ``E``, with a certificate of global
optimality of its convex objective; the reported background is the debiasing refit at the
certified rank (``RobustPCA(debias=True)``, the default; ``certified_low_rank_`` is the
certified one, shrunk by the nuclear norm).  Reported: fitted rank, the background's relative
error (refit and certified), and how well ``|E| > 0.1`` finds the moving objects (precision /
recall against the true masks).

Run ``python examples/rpca_video.py [--quick] [--output DIR]``; with ``--output`` a figure
``rpca_video.png`` (frames / recovered background / recovered foreground / true foreground) is
saved there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import homfact as hf


def synthetic_video(h: int, w: int, n_frames: int, n_objects: int = 3, size: int | None = None,
                    noise: float = 0.01, seed: int = 0):
    """``(Y, background, foreground_mask)``, frames as columns (pixel index = row·w + col)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    scene = (0.45 + 0.25 * np.sin(6.0 * xx) * np.cos(4.0 * yy) + 0.15 * xx
             + 0.05 * rng.standard_normal((h, w)))
    shade = 0.1 * (yy - 0.5)  # a second, independent spatial pattern
    t = np.arange(n_frames)
    light = 1.0 + 0.2 * np.sin(2 * np.pi * t / n_frames)
    tilt = np.cos(2 * np.pi * t / n_frames)
    background = np.outer(scene.ravel(), light) + np.outer(shade.ravel(), tilt)
    size = size or max(2, min(h, w) // 6)
    frames = background.copy()
    mask = np.zeros_like(background, dtype=bool)
    for k in range(n_objects):
        # each object moves on a straight line (bouncing off the borders) at its own speed
        y0, x0 = rng.uniform(0, h - size), rng.uniform(0, w - size)
        vy, vx = rng.uniform(-1.0, 1.0, size=2) * max(h, w) / n_frames * 2.0
        level = 1.2 if k % 2 == 0 else -0.2  # bright and dark objects
        for f in range(n_frames):
            py = int(abs((y0 + vy * f) % (2 * (h - size))))
            px = int(abs((x0 + vx * f) % (2 * (w - size))))
            py = py if py <= h - size else 2 * (h - size) - py
            px = px if px <= w - size else 2 * (w - size) - px
            box = np.zeros((h, w), dtype=bool)
            box[py:py + size, px:px + size] = True
            frames[box.ravel(), f] = level
            mask[box.ravel(), f] = True
    Y = frames + noise * rng.standard_normal(frames.shape)
    return Y, background, mask


def _figure(Y, L, E, mask, shape, frames, path: Path) -> None:
    from matplotlib.figure import Figure

    h, w = shape
    rows = [("frame", Y, "gray"), ("background (low rank)", L, "gray"),
            ("foreground |E|", np.abs(E), "magma"), ("true foreground", mask, "magma")]
    fig = Figure(figsize=(2.2 * len(frames), 1.9 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(frames), squeeze=False)
    for i, (name, M, cmap) in enumerate(rows):
        for j, f in enumerate(frames):
            ax = axes[i][j]
            ax.imshow(np.asarray(M[:, f], dtype=float).reshape(h, w), cmap=cmap,
                      vmin=0.0, vmax=1.2 if cmap == "gray" else 1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            if i == 0:
                ax.set_title(f"frame {f}", fontsize=8)
    fig.suptitle("homfact RobustPCA: background / foreground separation", fontsize=10)
    fig.savefig(path, dpi=100)


def main(quick: bool = False, output: str | None = None) -> dict:
    """Run the example; return the certificate, rank, background error and detection scores.

    Parameters
    ----------
    quick : a 24×32 video of 30 frames (a smoke run of about a second) instead of 48×64 × 120.
    output : folder for the figure ``rpca_video.png`` (created if needed); none if ``None``.
    """
    h, w, n_frames = (24, 32, 30) if quick else (48, 64, 120)
    Y, background, mask = synthetic_video(h, w, n_frames)
    # one BLAS thread: the fit works on small blocks, and on a shared 2-core machine BLAS
    # thread contention made it many times slower (benchmarks/README.md)
    with threadpool_limits(limits=1, user_api="blas"):
        model = hf.RobustPCA(lam="auto", gamma=100.0, tol=1e-6 if not quick else 1e-5,
                             random_state=0).fit(Y)
    L, E = model.low_rank_, model.sparse_
    err_bg = float(np.linalg.norm(L - background) / np.linalg.norm(background))
    err_cert = float(np.linalg.norm(model.certified_low_rank_ - background)
                     / np.linalg.norm(background))
    err_naive = float(np.linalg.norm(np.median(Y, axis=1, keepdims=True) - background)
                      / np.linalg.norm(background))
    detected = np.abs(E) > 0.1
    tp = int(np.sum(detected & mask))
    precision = tp / max(int(detected.sum()), 1)
    recall = tp / max(int(mask.sum()), 1)
    print(f"video {h}x{w}, {n_frames} frames -> Y {Y.shape[0]}x{Y.shape[1]}; foreground covers "
          f"{mask.mean():.1%} of the pixels; lam = {model.lam_:.4g}, gamma = {model.gamma:g}")
    print(model.certificate_)
    print(f"fitted rank {model.rank_} (background rank 2); background relative error "
          f"{err_bg:.4f} after the debiasing refit, {err_cert:.4f} for the certified solution "
          f"(per-pixel median over frames: {err_naive:.4f})")
    print(f"foreground |E| > 0.1: precision {precision:.3f}, recall {recall:.3f}")
    figure = None
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        figure = out / "rpca_video.png"
        picks = list(np.linspace(0, n_frames - 1, 4).round().astype(int))
        _figure(Y, L, E, mask, (h, w), picks, figure)
        print(f"wrote {figure}")
    return {"certificate": model.certificate_, "rank": int(model.rank_),
            "error_background": err_bg, "error_background_certified": err_cert,
            "error_median_background": err_naive,
            "precision": precision, "recall": recall, "figure": figure}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--output", default=None, metavar="DIR", help="folder for the figure")
    a = parser.parse_args()
    main(quick=a.quick, output=a.output)
