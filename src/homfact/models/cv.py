"""Cross-validated ``λ`` for matrix completion (:class:`MatrixCompletionCV`).

No Marchenko–Pastur law describes a matrix with missing entries, so the noise level of
:mod:`homfact.noise` cannot be read off the singular values; ``λ`` is selected on held-out
observed entries instead, the way scikit-learn's ``LassoCV`` selects the lasso's ``α``:
``K`` folds of the observed entries, a geometric grid from ``λ_max`` down, a warm-started
path per fold, the ``λ`` of least mean held-out error, and a final fit on every observed
entry at that ``λ``.
"""

from __future__ import annotations

import numbers
import sys
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..maps import MaskedBilinear
from ..meta import grow
from ..path import lam_max
from ..problems import (
    ObservedMatrix,
    check_fit_params,
    check_lam,
    completion_problem,
    observed_entries,
)
from ..solvers.als import als_masked
from .low_rank import MatrixCompletion

__all__ = ["MatrixCompletionCV"]


def _subset(obs: ObservedMatrix, keep: np.ndarray) -> ObservedMatrix:
    return ObservedMatrix(obs.shape, obs.rows[keep], obs.cols[keep], obs.values[keep])


def _predict(U: np.ndarray, V: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if U.shape[1] == 0:
        return np.zeros(rows.shape[0])
    return np.einsum("ij,ij->i", U[rows], V[cols])


def relaxed_refit(obs: ObservedMatrix, U: np.ndarray, V: np.ndarray, lam: float, *,
                  relax: float, max_sweeps: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed (debiased) refit at the rank of ``(U, V)``: ALS on the observed entries for
    ``½‖P_Ω(Y − UVᵀ)‖² + (φλ/2)(‖U‖² + ‖V‖²)`` with ``φ = relax``, started from ``(U, V)``.

    The relaxed lasso of Meinshausen (2007) carried over to the nuclear norm: the rank (the
    "model") comes from the path at ``λ``, the values from a fit with the penalty relaxed to
    ``φλ``, which removes most of the shrinkage.  ``φ > 0`` keeps each row's ridge system
    determined when the row has fewer observed entries than the rank.  Exact row-wise ALS
    (:func:`homfact.solvers.als.als_masked`), at most ``max_sweeps`` sweeps.
    """
    if U.shape[1] == 0:
        return U, V
    mapping = MaskedBilinear(obs.shape, obs.rows, obs.cols)
    res = als_masked(mapping, obs.values, U, V, relax * lam, method="exact",
                     max_sweeps=max_sweeps, tol=tol)
    return res.factors[0], res.factors[1]


class MatrixCompletionCV(BaseEstimator):
    """Matrix completion with ``λ`` chosen by ``K``-fold cross-validation on observed entries.

    Fitting (scikit-learn's ``LassoCV`` scheme, with warm starts along the path):

    1. The observed entries ``Ω`` are split at random into ``cv`` folds.
    2. The grid: ``lams``, or ``n_lams`` geometric values from ``λ_max = ‖P_Ω Y‖₂`` (the
       smallest ``λ`` with the zero solution, :func:`homfact.lam_max`) down to
       ``lam_min_ratio·λ_max``.
    3. For each fold, the certified nuclear-norm problem ``½‖P_{Ω∖F}(Y − UVᵀ)‖² +
       λΣ‖uᵢ‖‖vᵢ‖`` is solved down the grid (:func:`homfact.meta.grow`, each ``λ``
       warm-started from the previous one, duality gap ``cv_tol``), and the mean squared error
       on the held-out fold ``F`` is recorded.  With ``debias=True`` (default) the error is
       that of the *relaxed refit* at the fitted rank (:func:`relaxed_refit`, penalty
       ``relax·λ``, ``cv_sweeps`` ALS sweeps): nuclear-norm shrinkage biases every kept
       component by ``λ``, so the held-out error of the regularized fit itself keeps falling
       as ``λ`` decreases well past the true rank (smaller shrinkage outweighs the added
       noise components: on seeds 0–3, 5 and 6 of ``benchmarks/robust_completion.py`` it
       selected 2–10× the true rank), while the relaxed refit's error rises once noise components
       enter.  With ``debias=False`` the regularized fit's own held-out error is used (plain
       ``LassoCV`` behaviour).
    4. ``lam_`` is the grid value of least mean held-out error (``selection="min"``), or the
       largest ``λ`` whose mean error is within one standard error of that minimum
       (``selection="1se"``, Hastie, Tibshirani & Friedman, *Elements of Statistical
       Learning*, §7.10).
    5. Early stopping: the path stops once the mean held-out error has exceeded its running
       minimum at ``patience`` consecutive grid values (smaller ``λ`` only adds rank and
       cost); the skipped grid values are ``NaN`` in ``mse_path_``.
    6. Final fit on every observed entry at ``lam_ = √(K/(K−1))·lam_cv_`` (``lam_cv_`` the
       selected grid value, ``K = cv``): the spectral norm of the observed noise,
       ``‖P_Ω(σE)‖₂ ≈ σ√p(√m + √n)`` (:func:`homfact.noise.noise_spectral_norm`), grows as the
       square root of the number of observed entries, so a ``λ`` that just clears the noise
       on the ``(K−1)/K`` of the entries each fold trains on is too small by ``√(K/(K−1))``
       for all of them (the signal part grows in proportion to the entries, faster).  On
       held-out seeds 100–119 of ``benchmarks/robust_completion.py`` the unscaled value gave
       a final rank above the true rank in 3 of 20 draws (seed 114: rank 11, the true rank,
       in every fold at that ``λ``, 14 in the final fit).  Duality gap
       ``tol``; ``U_``, ``V_``,
       ``certificate_``), then, with ``debias=True``, its relaxed refit (``refit_U_``,
       ``refit_V_``: at most ``refit_max_iter`` sweeps), which :meth:`predict` and
       :meth:`to_dense` return by default.

    Parameters
    ----------
    lams : array-like of float, optional
        The grid (sorted decreasing internally); default: the geometric grid of step 2.
    n_lams : int, default=20
    lam_min_ratio : float in (0, 1), default=0.01
    cv : int, default=5
        Number of folds (``>= 2``).
    selection : {"min", "1se"}, default="min"
    debias : bool, default=True
        Select on, and predict with, the relaxed refit (see above).
    relax : float in (0, 1], default=0.1
        ``φ``: the relaxed refit's penalty is ``φ·λ``.
    cv_sweeps : int, default=10
        ALS sweeps of the relaxed refit inside cross-validation.
    patience : int or None, default=2
        Early stopping (step 5); ``None`` evaluates the whole grid.
    cv_tol : float, default=1e-4
        Duality gap of the path fits inside cross-validation.
    tol : float, default=1e-6
        Duality gap of the final fit.
    max_rank, max_iter, time_limit, random_state, verbose, local_solver :
        As in :class:`~homfact.MatrixCompletion` (``max_rank`` and ``max_iter`` apply to every
        fit; ``time_limit`` to the final fit only; ``random_state`` also draws the folds).
    refit_max_iter : int, default=100
        Sweeps of the final relaxed refit (it stops earlier once the objective changes by less
        than ``1e-8`` relative).

    Attributes
    ----------
    lam_ : float
        ``λ`` of the final fit, ``√(K/(K−1))·lam_cv_`` (step 6).
    lam_cv_ : float
        The selected grid value.
    lams_ : ndarray of shape (n_lams,)
        The grid, decreasing.
    lam_max_ : float
    mse_path_ : ndarray of shape (n_lams, cv)
        Held-out mean squared error per ``λ`` and fold (the criterion: relaxed refit when
        ``debias=True``); ``NaN`` where early stopping skipped.
    mse_path_regularized_ : ndarray of shape (n_lams, cv)
        Held-out error of the regularized fits themselves.
    rank_path_ : ndarray of shape (n_lams, cv)
        Rank of each path fit (``-1`` where skipped).
    cv_results_ : dict
        ``lams``, ``mean_test_mse``, ``std_test_mse`` (over folds), ``mean_rank`` and
        ``split{k}_test_mse``, one entry per grid value.
    best_index_ : int
        Index of ``lam_`` in ``lams_``.
    noise_level_ : float
        ``√(mean held-out error at lam_)``: a held-out RMS error, an upper estimate of the
        noise level (it includes the estimation error).
    U_, V_, rank_, certificate_, history_, n_iter_, stop_reason_, shape_ :
        The final certified fit at ``lam_`` (as :class:`~homfact.MatrixCompletion`).
    refit_U_, refit_V_ : ndarray or None
        The relaxed refit of the final fit (``None`` when ``debias=False``).
    """

    def __init__(self, lams=None, *, n_lams=20, lam_min_ratio=0.01, cv=5, selection="min",
                 debias=True, relax=0.1, cv_sweeps=10, patience=2, cv_tol=1e-4, tol=1e-6,
                 max_rank=None, max_iter=200, time_limit=None, refit_max_iter=100,
                 random_state=None, verbose=False, local_solver="auto"):
        self.lams = lams
        self.n_lams = n_lams
        self.lam_min_ratio = lam_min_ratio
        self.cv = cv
        self.selection = selection
        self.debias = debias
        self.relax = relax
        self.cv_sweeps = cv_sweeps
        self.patience = patience
        self.cv_tol = cv_tol
        self.tol = tol
        self.max_rank = max_rank
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.refit_max_iter = refit_max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.local_solver = local_solver

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _int(value, name: str, low: int) -> int:
        if isinstance(value, bool) or not (isinstance(value, numbers.Integral) and value >= low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

    def _check_params(self) -> None:
        check_fit_params(self, integers=("max_iter", "refit_max_iter", "cv_sweeps"))
        self._int(self.cv, "cv", 2)
        self._int(self.n_lams, "n_lams", 1)
        if self.patience is not None:
            self._int(self.patience, "patience", 1)
        r = self.lam_min_ratio
        if isinstance(r, bool) or not (isinstance(r, numbers.Real) and 0 < r < 1):
            raise ValueError(f"lam_min_ratio must be a number in (0, 1), got {r!r}")
        if self.selection not in ("min", "1se"):
            raise ValueError(f"selection must be 'min' or '1se', got {self.selection!r}")
        if not isinstance(self.debias, bool | np.bool_):
            raise TypeError(f"debias must be a bool, got {type(self.debias).__name__}")
        f = self.relax
        if isinstance(f, bool) or not (isinstance(f, numbers.Real) and 0 < f <= 1):
            raise ValueError(f"relax must be a number in (0, 1], got {f!r}")
        if isinstance(self.cv_tol, bool) or not (isinstance(self.cv_tol, numbers.Real)
                                                 and 0 < self.cv_tol < 1):
            raise ValueError(f"cv_tol must be a number in (0, 1), got {self.cv_tol!r}")
        if self.local_solver not in ("auto", "als-exact", "als"):
            raise ValueError(f"local_solver must be 'auto', 'als-exact' or 'als', got "
                             f"{self.local_solver!r}")

    def _grid(self, top: float) -> np.ndarray:
        if self.lams is None:
            return top * np.geomspace(1.0, self.lam_min_ratio, self.n_lams)
        try:
            vals = np.atleast_1d(np.asarray(self.lams, dtype=object)).ravel()
        except (TypeError, ValueError):  # pragma: no cover - defensive
            raise TypeError("lams must be a sequence of numbers") from None
        if vals.size == 0:
            raise ValueError("lams must hold at least one value")
        grid = np.array([check_lam(v, "lams") for v in vals], dtype=float)
        if np.any(grid <= 0):
            raise ValueError("lams must be > 0")
        return np.sort(grid)[::-1]

    # ------------------------------------------------------------------ fitting
    def fit(self, Y, y=None):
        """Select ``λ`` on held-out observed entries of ``Y`` (scipy.sparse, or ndarray with
        NaN = missing), then fit every observed entry at that ``λ``."""
        self._check_params()
        obs = observed_entries(Y)
        K = int(self.cv)
        if obs.nnz < K:
            raise ValueError(f"cv={K} folds need at least {K} observed entries, Y has "
                             f"{obs.nnz}")
        solver = "als-exact" if self.local_solver == "auto" else self.local_solver
        rng = np.random.default_rng(self.random_state)
        fold = rng.permutation(obs.nnz) % K
        self.lam_max_ = lam_max("completion", obs)
        if not self.lam_max_ > 0:
            raise ValueError("Y is zero on its observed entries: nothing to fit")
        lams = self._grid(self.lam_max_)
        L = lams.shape[0]
        mse = np.full((L, K), np.nan)
        mse_reg = np.full((L, K), np.nan)
        ranks = np.full((L, K), -1, dtype=int)
        splits = [(_subset(obs, fold != k), _subset(obs, fold == k)) for k in range(K)]
        factors: list = [None] * K
        best, bad = np.inf, 0
        for i, lam in enumerate(lams):
            for k, (train, test) in enumerate(splits):
                problem = completion_problem(train, float(lam), local_solver=solver)
                res = grow(problem, factors[k], tol=self.cv_tol, max_rank=self.max_rank,
                           max_iter=self.max_iter, random_state=self.random_state)
                factors[k] = res.factors
                U, V = res.factors
                ranks[i, k] = U.shape[1]
                err = test.values - _predict(U, V, test.rows, test.cols)
                mse_reg[i, k] = float(np.mean(err * err))
                if self.debias:
                    Ur, Vr = relaxed_refit(train, U, V, float(lam), relax=self.relax,
                                           max_sweeps=self.cv_sweeps, tol=1e-6)
                    err = test.values - _predict(Ur, Vr, test.rows, test.cols)
                    mse[i, k] = float(np.mean(err * err))
                else:
                    mse[i, k] = mse_reg[i, k]
            mean_i = float(np.mean(mse[i]))
            if self.verbose:
                print(f"MatrixCompletionCV: lam {lam:.6g}  median rank "
                      f"{np.median(ranks[i]):g}  mean held-out mse {mean_i:.6g}",
                      file=sys.stderr)
            if mean_i < best:
                best, bad = mean_i, 0
            else:
                bad += 1
            if self.patience is not None and bad >= self.patience:
                break
        mean = np.mean(mse, axis=1)  # NaN where skipped
        std = np.std(mse, axis=1)
        done = np.flatnonzero(~np.isnan(mean))
        b = int(done[np.argmin(mean[done])])
        if self.selection == "1se":
            se = std[b] / np.sqrt(K)
            ok = done[mean[done] <= mean[b] + se]
            b = int(ok.min())  # the grid is decreasing: the smallest index is the largest λ
        self.lams_ = lams
        self.mse_path_ = mse
        self.mse_path_regularized_ = mse_reg
        self.rank_path_ = ranks
        self.best_index_ = b
        self.lam_cv_ = float(lams[b])
        self.lam_ = self.lam_cv_ * float(np.sqrt(K / (K - 1)))
        self.noise_level_ = float(np.sqrt(mean[b]))
        self.cv_results_ = {"lams": lams, "mean_test_mse": mean, "std_test_mse": std,
                            "mean_rank": np.where(ranks[:, 0] >= 0, ranks.mean(axis=1), np.nan)}
        for k in range(K):
            self.cv_results_[f"split{k}_test_mse"] = mse[:, k]
        # final fit on every observed entry
        final = MatrixCompletion(self.lam_, max_rank=self.max_rank, tol=self.tol,
                                 max_iter=self.max_iter, time_limit=self.time_limit,
                                 random_state=self.random_state, verbose=self.verbose,
                                 local_solver=self.local_solver)
        t0 = time.perf_counter()
        final.fit(Y)
        self.fit_time_final_ = time.perf_counter() - t0
        for name in ("U_", "V_", "rank_", "certificate_", "history_", "n_iter_", "stop_reason_",
                     "shape_"):
            setattr(self, name, getattr(final, name))
        self.refit_U_ = self.refit_V_ = None
        if self.debias:
            self.refit_U_, self.refit_V_ = relaxed_refit(
                obs, self.U_, self.V_, self.lam_, relax=self.relax,
                max_sweeps=self.refit_max_iter, tol=1e-8)
        return self

    # ------------------------------------------------------------------ outputs
    def _pick(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "U_")
        if which not in ("refit", "certified"):
            raise ValueError(f"which must be 'refit' or 'certified', got {which!r}")
        if which == "refit" and self.refit_U_ is not None:
            return self.refit_U_, self.refit_V_
        return self.U_, self.V_

    def predict(self, rows, cols, which: str = "refit") -> np.ndarray:
        """Completed values at ``(rows[t], cols[t])``: the relaxed refit when it ran
        (``which="refit"``, default), else (or with ``which="certified"``) the certified fit."""
        U, V = self._pick(which)
        rows = MatrixCompletion._check_index(rows, "rows", self.shape_[0])
        cols = MatrixCompletion._check_index(cols, "cols", self.shape_[1])
        if rows.shape != cols.shape:
            raise ValueError(f"rows and cols must have the same shape, got {rows.shape} and "
                             f"{cols.shape}")
        return _predict(U, V, rows.ravel(), cols.ravel()).reshape(rows.shape)

    def to_dense(self, which: str = "refit") -> np.ndarray:
        """The completed matrix (dense ``m×n``; relaxed refit by default, see :meth:`predict`)."""
        U, V = self._pick(which)
        return U @ V.T
