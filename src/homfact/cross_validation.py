"""The cross-validated path machinery shared by :class:`homfact.MatrixCompletionCV` and
:class:`homfact.RobustPCACV` (docs: models/cross-validation): the shared parameter checks, the
grid, the folds and their entry subsets, predictions at held-out entries, the warm-started path
over the grid with its early-stopping rule (:class:`EarlyStop`), the selection of ``λ``, and the
debiasing refit of a robust-PCA path fit.

Moved unchanged from :mod:`homfact.models.cv` (now :mod:`homfact.models.completion_cv` and
:mod:`homfact.models.robust_pca_cv`), which re-exports the former names.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable

import numpy as np

from .problems import ObservedMatrix, check_lam
from .solvers.robust_pca import _debias

__all__ = ["EarlyStop", "assign_folds", "check_int", "check_path_params", "cv_results",
           "dense_folds", "lam_grid", "observed_folds", "predict_entries", "rpca_fold_debias",
           "run_path", "select_index", "subset_entries"]


def check_int(value, name: str, low: int) -> int:
    """``value`` as an ``int`` if it is an integer ``>= low`` (``ValueError`` naming ``name``)."""
    if isinstance(value, bool) or not (isinstance(value, numbers.Integral) and value >= low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_path_params(est) -> None:
    """The parameters both CV estimators share: ``cv``, ``n_lams``, ``patience``,
    ``lam_min_ratio``, ``selection``, ``debias`` and ``cv_tol`` (``ValueError``/``TypeError``
    naming the parameter)."""
    check_int(est.cv, "cv", 2)
    check_int(est.n_lams, "n_lams", 1)
    if est.patience is not None:
        check_int(est.patience, "patience", 1)
    r = est.lam_min_ratio
    if isinstance(r, bool) or not (isinstance(r, numbers.Real) and 0 < r < 1):
        raise ValueError(f"lam_min_ratio must be a number in (0, 1), got {r!r}")
    if est.selection not in ("min", "1se"):
        raise ValueError(f"selection must be 'min' or '1se', got {est.selection!r}")
    if not isinstance(est.debias, bool | np.bool_):
        raise TypeError(f"debias must be a bool, got {type(est.debias).__name__}")
    t = est.cv_tol
    if isinstance(t, bool) or not (isinstance(t, numbers.Real) and 0 < t < 1):
        raise ValueError(f"cv_tol must be a number in (0, 1), got {t!r}")


def lam_grid(lams, n_lams: int, lam_min_ratio: float, top: float) -> np.ndarray:
    """The decreasing grid: ``lams`` sorted, or ``n_lams`` geometric values from ``top``
    (``λ_max``) down to ``lam_min_ratio·top``."""
    if lams is None:
        return top * np.geomspace(1.0, lam_min_ratio, n_lams)
    try:
        vals = np.atleast_1d(np.asarray(lams, dtype=object)).ravel()
    except (TypeError, ValueError):  # pragma: no cover - defensive
        raise TypeError("lams must be a sequence of numbers") from None
    if vals.size == 0:
        raise ValueError("lams must hold at least one value")
    grid = np.array([check_lam(v, "lams") for v in vals], dtype=float)
    if np.any(grid <= 0):
        raise ValueError("lams must be > 0")
    return np.sort(grid)[::-1]


def assign_folds(n_entries: int, n_folds: int, random_state) -> np.ndarray:
    """The fold of each of ``n_entries`` observed entries: ``permutation(n_entries) % K`` drawn
    from ``random_state`` (folds of equal size up to one entry)."""
    rng = np.random.default_rng(random_state)
    return rng.permutation(n_entries) % n_folds


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


def observed_folds(obs: ObservedMatrix, fold: np.ndarray,
                   n_folds: int) -> list[tuple[ObservedMatrix, ObservedMatrix]]:
    """``(train, test)`` per fold ``k``: the observed entries outside and inside fold ``k``."""
    return [(subset_entries(obs, fold != k), subset_entries(obs, fold == k))
            for k in range(n_folds)]


def dense_folds(A: np.ndarray, flat: np.ndarray, fold: np.ndarray, n_folds: int
                ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per fold ``k`` of the observed entries ``flat`` (flat indices into ``A``): the training
    matrix (``A`` with the fold's entries set to NaN) and the held-out ``(rows, cols, values)``."""
    trains, tests = [], []
    for k in range(n_folds):
        held = flat[fold == k]
        train = A.copy()
        train.flat[held] = np.nan
        rows, cols = np.divmod(held, A.shape[1])
        trains.append(train)
        tests.append((rows, cols, A.flat[held]))
    return trains, tests


def run_path(lams: np.ndarray, n_folds: int,
             fit_fold: Callable[[int, int, float], tuple[float, int]], stop: EarlyStop, *,
             label: str | None = None, score_name: str = "score"
             ) -> tuple[np.ndarray, np.ndarray]:
    """The path over the decreasing grid: ``fit_fold(i, k, λ)`` fits fold ``k`` at grid value
    ``i`` (warm-starting from its previous fit, which it keeps) and returns the held-out score
    and the rank; after each grid value ``stop`` decides whether to go on.  Returns the
    ``(L, K)`` scores (``NaN`` where skipped) and ranks (``-1`` where skipped).  With ``label``
    each grid value is reported on stderr."""
    L = lams.shape[0]
    scores = np.full((L, n_folds), np.nan)
    ranks = np.full((L, n_folds), -1, dtype=int)
    for i, lam in enumerate(lams):
        for k in range(n_folds):
            scores[i, k], ranks[i, k] = fit_fold(i, k, float(lam))
        if label is not None:
            print(f"{label}: lam {lam:.6g}  median rank {np.median(ranks[i]):g}  "
                  f"mean held-out {score_name} {np.mean(scores[i]):.6g}", file=sys.stderr)
        if stop.update(scores[i]):
            break
    return scores, ranks


def select_index(scores: np.ndarray, selection: str) -> tuple[int, np.ndarray, np.ndarray]:
    """``(b, mean, std)``: the grid index of least mean held-out score over the evaluated
    values (``selection="min"``), or the largest ``λ`` (smallest index: the grid decreases)
    whose mean is within one standard error ``std[b]/√K`` of that minimum (``"1se"``, Hastie,
    Tibshirani & Friedman, *Elements of Statistical Learning*, §7.10); ``mean`` and ``std``
    over the ``K`` folds (``NaN`` where skipped)."""
    K = scores.shape[1]
    mean = np.mean(scores, axis=1)  # NaN where skipped
    std = np.std(scores, axis=1)
    done = np.flatnonzero(~np.isnan(mean))
    b = int(done[np.argmin(mean[done])])
    if selection == "1se":
        b = int(done[mean[done] <= mean[b] + std[b] / np.sqrt(K)].min())
    return b, mean, std


def cv_results(lams: np.ndarray, mean: np.ndarray, std: np.ndarray, ranks: np.ndarray,
               scores: np.ndarray, name: str) -> dict:
    """``cv_results_``: ``lams``, ``mean_test_{name}``, ``std_test_{name}``, ``mean_rank``
    (``NaN`` where skipped) and ``split{k}_test_{name}``, one entry per grid value."""
    out = {"lams": lams, f"mean_test_{name}": mean, f"std_test_{name}": std,
           "mean_rank": np.where(ranks[:, 0] >= 0, ranks.mean(axis=1), np.nan)}
    for k in range(scores.shape[1]):
        out[f"split{k}_test_{name}"] = scores[:, k]
    return out


def rpca_fold_debias(train: np.ndarray, U: np.ndarray, V: np.ndarray, delta: float,
                     lam_over_gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The debiasing refit of a robust-PCA path fit ``(U, V)`` (certified factors) on ``train``
    (NaN = missing), stopped at the statistical tolerance.

    :class:`~homfact.RobustPCA`'s own refit (docs: models/robust-pca, part 3) with
    ``stat_tol=10⁻³``: steps below 10⁻³ of the rank-``r`` fit's statistical error
    ``s√(r(m + n − r))`` are not iterated (``RobustPCA`` uses this rule with its automatic
    ``γ``; with a given ``γ`` it iterates to ``10⁻¹⁰`` relative, 60 % of a path fit's time
    measured at 150×120, rank 4, and below the held-out loss's resolution).  Skipped, as
    there, when the rank has more than half as many parameters as inliers (residual at most
    ``delta``); the certified factors are also kept when the refit fails.
    """
    missing = np.isnan(train)
    Y0 = np.where(missing, 0.0, train)
    R = np.where(missing, 0.0, Y0 - U @ V.T)
    r = U.shape[1]
    n_inliers = int(np.count_nonzero(np.abs(R[~missing]) <= delta))
    if r == 0 or r * (train.shape[0] + train.shape[1] - r) > 0.5 * n_inliers:
        return U, V
    try:
        U, V, _ = _debias(Y0, ~missing, U, V, delta, lam_over_gamma, stat_tol=1e-3)
    except np.linalg.LinAlgError:  # keep the certified fit, as RobustPCA does
        pass
    return U, V
