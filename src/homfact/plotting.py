"""Plots of fits: convergence (relative gap and rank), regularization paths, completed images.

Every function returns the :class:`matplotlib.figure.Figure` it drew on and, given ``path``,
saves it there (any format matplotlib knows from the extension, e.g. ``.png``, ``.pdf``).

Figures are created without touching pyplot's global state unless pyplot is already in use
(then ``plt.show()`` works as usual), so plotting works on machines without a display: the Agg
canvas is used for saving.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .path import PathResult

__all__ = ["plot_completion_examples", "plot_convergence", "plot_path"]

_STATUS_COLORS = {"global": "tab:green", "global_probabilistic": "tab:olive",
                  "unverified": "tab:orange", "not_optimal": "tab:red"}
#: relative gaps are clipped to this floor on log axes (a gap of exactly 0 is possible)
_GAP_FLOOR = 1e-16


def _use_headless_backend() -> None:
    """Select Agg when pyplot is not yet imported and there is no display (Linux/BSD)."""
    if "matplotlib.pyplot" in sys.modules:
        return
    if sys.platform.startswith(("linux", "freebsd")) and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        import matplotlib

        matplotlib.use("Agg")


def _new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.4, 4.0)):
    """A figure with a grid of axes: through pyplot if the caller uses it, else a bare Figure."""
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
        return fig, axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _titled_and_saved(fig: Figure, title: str | None, *, own_figure: bool,
                      path: str | os.PathLike | None) -> Figure:
    """Add the figure title (re-laying out a figure this module created), save, return it."""
    if title:
        fig.suptitle(title)
        if own_figure:
            fig.tight_layout()
    _save(fig, path)
    return fig


def _save(fig: Figure, path: str | os.PathLike | None) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=120, bbox_inches="tight")


def _records(history) -> list[Mapping]:
    """Accept a list of history records, an estimator (``history_``) or a GrowResult."""
    if hasattr(history, "history_"):
        history = history.history_
    elif hasattr(history, "history") and not isinstance(history, Sequence):
        history = history.history
    records = list(history)
    if not records:
        raise ValueError("history is empty: nothing to plot")
    for rec in records:
        if not isinstance(rec, Mapping) or "relative_gap" not in rec or "rank" not in rec:
            raise ValueError("history records must be dicts with 'relative_gap' and 'rank'")
    return records


def _finite_gap(values) -> np.ndarray:
    """Relative gaps for a log axis: clipped to ``_GAP_FLOOR``, ``None``/``inf`` become NaN."""
    out = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    out[~np.isfinite(out)] = np.nan
    return np.maximum(out, _GAP_FLOOR)


def _draw_convergence(ax: Axes, records: list[Mapping], x: str, tol: float | None) -> Axes:
    if x == "time":
        xs = np.array([float(r.get("elapsed", np.nan)) for r in records])
        ax.set_xlabel("time (s)")
    else:
        xs = np.array([float(r.get("iteration", i + 1)) for i, r in enumerate(records)])
        ax.set_xlabel("outer iteration")
    gaps = _finite_gap(r["relative_gap"] for r in records)
    ax.semilogy(xs, gaps, "o-", color="tab:blue", label="relative gap")
    for status, color in _STATUS_COLORS.items():
        sel = np.array([r.get("status") == status for r in records])
        if sel.any():
            ax.scatter(xs[sel], gaps[sel], color=color, zorder=3, s=28, label=status)
    if tol is not None and tol > 0:
        ax.axhline(tol, color="0.5", ls="--", lw=1, label=f"tol = {tol:g}")
    ax.set_ylabel("relative duality gap")
    ax.grid(True, which="major", alpha=0.3)
    twin = ax.twinx()
    ranks = np.array([int(r["rank"]) for r in records])
    twin.step(xs, ranks, where="post", color="tab:purple", alpha=0.8, label="rank")
    twin.set_ylabel("rank", color="tab:purple")
    twin.tick_params(axis="y", colors="tab:purple")
    twin.set_ylim(0, max(1, ranks.max()) * 1.15)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=len(labels) + len(l2), fontsize=8, frameon=False)
    return ax


def plot_convergence(history, ax: Axes | None = None, path: str | os.PathLike | None = None, *,
                     x: str = "both", tol: float | None = None,
                     title: str | None = None) -> Figure:
    """Relative duality gap (log scale) and rank of a fit against iteration and/or time.

    Parameters
    ----------
    history : list of dict, fitted estimator or GrowResult
        The per-iteration records (``relative_gap``, ``rank``, ``status``, ``iteration``,
        ``elapsed``), e.g. ``model.history_``.
    ax : matplotlib Axes, optional
        Draw one panel on this axes (``x="both"`` then means ``"iteration"``).
    path : file to save the figure to.
    x : ``"iteration"``, ``"time"`` or ``"both"`` (two panels, the default without ``ax``).
    tol : draw the target relative gap as a dashed line.
    title : figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if x not in ("iteration", "time", "both"):
        raise ValueError(f"x must be 'iteration', 'time' or 'both', got {x!r}")
    records = _records(history)
    if ax is not None:
        _draw_convergence(ax, records, "iteration" if x == "both" else x, tol)
        fig = ax.figure
    else:
        _use_headless_backend()
        kinds = ["iteration", "time"] if x == "both" else [x]
        fig, axes = _new_figure(1, len(kinds), figsize=(6.5 * len(kinds), 4.6))
        for a, kind in zip(axes[0], kinds, strict=True):
            _draw_convergence(a, records, kind, tol)
        fig.tight_layout()
    return _titled_and_saved(fig, title, own_figure=ax is None, path=path)


def plot_path(path_result: PathResult, ax: Axes | None = None,
              path: str | os.PathLike | None = None, *, title: str | None = None) -> Figure:
    """Rank and relative gap along a regularization path (``λ`` on a log axis, decreasing).

    Points are coloured by certificate status.  ``path_result`` is what
    :func:`homfact.regularization_path` returns.  With ``ax`` only the rank panel (with the
    objective on a twin axis) is drawn there.
    """
    lams = np.asarray(path_result.lams, dtype=float)
    certs = list(path_result.certificates)
    if lams.size == 0 or not certs:
        raise ValueError("the path is empty: nothing to plot")
    ranks = np.asarray(path_result.ranks, dtype=float)
    statuses = [c.status for c in certs]
    colors = [_STATUS_COLORS.get(s, "k") for s in statuses]
    if ax is None:
        _use_headless_backend()
        fig, axes = _new_figure(1, 2, figsize=(12.0, 4.2))
        ax_rank, ax_gap = axes[0]
    else:
        fig, ax_rank, ax_gap = ax.figure, ax, None
    ax_rank.plot(lams, ranks, "-", color="0.6", zorder=1)
    ax_rank.scatter(lams, ranks, c=colors, zorder=2)
    ax_rank.set_xscale("log")
    ax_rank.invert_xaxis()
    ax_rank.set_xlabel("λ")
    ax_rank.set_ylabel("rank")
    ax_rank.grid(True, alpha=0.3)
    lam_top = float(getattr(path_result, "lam_max", 0.0) or 0.0)
    if lam_top > 0 and math.isfinite(lam_top):
        ax_rank.axvline(lam_top, color="0.5", ls="--", lw=1, label=f"λ_max = {lam_top:.4g}")
    twin = ax_rank.twinx()
    twin.plot(lams, [c.objective for c in certs], ":", color="tab:blue", label="objective")
    twin.set_ylabel("objective", color="tab:blue")
    twin.tick_params(axis="y", colors="tab:blue")
    for status, color in _STATUS_COLORS.items():
        if status in statuses:
            ax_rank.scatter([], [], color=color, label=status)
    handles, labels = ax_rank.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax_rank.legend(handles + h2, labels + l2, loc="upper left", fontsize=8)
    if ax_gap is not None:
        gaps = _finite_gap(c.relative_gap for c in certs)
        ax_gap.plot(lams, gaps, "-", color="0.6", zorder=1)
        ax_gap.scatter(lams, gaps, c=colors, zorder=2)
        ax_gap.set_xscale("log")
        ax_gap.set_yscale("log")
        ax_gap.invert_xaxis()
        ax_gap.set_xlabel("λ")
        ax_gap.set_ylabel("relative duality gap")
        ax_gap.grid(True, alpha=0.3)
        fig.tight_layout()
    return _titled_and_saved(fig, title, own_figure=ax is None, path=path)


def plot_completion_examples(original: np.ndarray, observed_mask: np.ndarray,
                             completed: np.ndarray, image_shape: tuple[int, int] = (28, 28),
                             path: str | os.PathLike | None = None,
                             title: str | None = None) -> Figure:
    """Rows of images: the original, what was observed (hidden pixels grey), the completion.

    Parameters
    ----------
    original, completed : arrays of shape (k, h·w), one image per row
    observed_mask : bool array of shape (k, h·w), True where the pixel was observed
    image_shape : ``(h, w)``
    """
    original = np.asarray(original, dtype=float)
    completed = np.asarray(completed, dtype=float)
    mask = np.asarray(observed_mask, dtype=bool)
    if original.ndim != 2 or original.shape != completed.shape or original.shape != mask.shape:
        raise ValueError("original, observed_mask and completed must be 2-D with the same shape")
    h, w = image_shape
    if h * w != original.shape[1]:
        raise ValueError(f"image_shape {image_shape} does not match {original.shape[1]} pixels")
    k = original.shape[0]
    if k == 0:
        raise ValueError("no images to plot")
    _use_headless_backend()
    fig, axes = _new_figure(3, k, figsize=(1.3 * k, 4.2))
    lo, hi = float(np.min(original)), float(np.max(original))
    shown = np.where(mask, original, np.nan)
    rows = [("original", original), ("observed", shown), ("completed", completed)]
    for i, (label, imgs) in enumerate(rows):
        for j in range(k):
            a = axes[i][j]
            a.imshow(np.ma.masked_invalid(imgs[j].reshape(h, w)), cmap="gray_r", vmin=lo,
                     vmax=hi, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            a.set_facecolor("#c9d7e8")
            if j == 0:
                a.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return fig
