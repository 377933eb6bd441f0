"""The cross-validated path machinery shared by :class:`homfact.MatrixCompletionCV` and
:class:`homfact.RobustPCACV`: the folds' entry subsets, predictions at held-out entries and the
path's early-stopping rule (:class:`EarlyStop`).

Moved unchanged from :mod:`homfact.models.cv`, which re-exports every name.
"""

from __future__ import annotations

import numpy as np

from .problems import ObservedMatrix

__all__ = ["EarlyStop", "predict_entries", "subset_entries"]


def subset_entries(obs: ObservedMatrix, keep: np.ndarray) -> ObservedMatrix:
    """The observed entries of ``obs`` selected by ``keep`` (a boolean mask or index array)."""
    return ObservedMatrix(obs.shape, obs.rows[keep], obs.cols[keep], obs.values[keep])


def predict_entries(U: np.ndarray, V: np.ndarray, rows: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
    """``(UVᵀ)[rows[t], cols[t]] = ⟨U[rows[t]], V[cols[t]]⟩`` for every ``t`` (zeros at rank 0)."""
    if U.shape[1] == 0:
        return np.zeros(rows.shape[0])
    return np.einsum("ij,ij->i", U[rows], V[cols])


class EarlyStop:
    """The path's early-stopping rule (step 5 of :class:`~homfact.MatrixCompletionCV` and
    :class:`~homfact.RobustPCACV`), fed one grid value's held-out scores per fold at a time.

    A value is a *rise* when its mean score exceeds the running minimum by more than that
    minimum's standard error ``std/√K`` over the ``K`` folds; rises count only once the
    minimum is below ``null`` (the zero fit's held-out score).  :meth:`update` returns true
    when ``patience`` consecutive values were rises (never with ``patience=None``).
    """

    def __init__(self, patience: int | None, null: float):
        self.patience, self.null = patience, null
        self.best, self.margin, self.bad = np.inf, 0.0, 0

    def update(self, scores: np.ndarray) -> bool:
        mean = float(np.mean(scores))
        if mean < self.best:
            self.best, self.bad = mean, 0
            self.margin = float(np.std(scores)) / np.sqrt(scores.shape[0])
        elif self.best < self.null:
            self.bad = self.bad + 1 if mean > self.best + self.margin else 0
        return self.patience is not None and self.bad >= self.patience
