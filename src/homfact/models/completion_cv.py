"""Matrix completion with ``λ`` cross-validated on held-out observed entries
(:class:`MatrixCompletionCV`).

No Marchenko–Pastur law describes a matrix with missing entries, so ``λ`` is selected on
held-out observed entries, the way scikit-learn's ``LassoCV`` selects the lasso's ``α``.  The
steps, the relaxed refit, the early stopping and the ``√(K/(K−1))`` scaling of the final ``λ``,
with their measurements: docs: models/cross-validation.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..cross_validation import (
    EarlyStop,
    assign_folds,
    check_int,
    check_path_params,
    cv_results,
    lam_grid,
    observed_folds,
    predict_entries,
    run_path,
    select_index,
)
from ..meta import grow
from ..path import lam_max
from ..problems import check_fit_params, completion_problem, observed_entries
from ..solvers.relaxed import relaxed_refit
from .low_rank import MatrixCompletion

__all__ = ["MatrixCompletionCV"]


class MatrixCompletionCV(BaseEstimator):
    """Matrix completion with ``λ`` chosen by ``K``-fold cross-validation on observed entries.

    Fitting (scikit-learn's ``LassoCV`` scheme, with warm starts along the path; each step's
    reasoning and measurements: docs: models/cross-validation):

    1. The observed entries ``Ω`` are split at random into ``cv`` folds.
    2. The grid: ``lams``, or ``n_lams`` geometric values from ``λ_max = ‖P_Ω Y‖₂`` (the
       smallest ``λ`` with the zero solution, :func:`homfact.lam_max`) down to
       ``lam_min_ratio·λ_max``.
    3. For each fold, the certified nuclear-norm problem ``½‖P_{Ω∖F}(Y − UVᵀ)‖² +
       λΣ‖uᵢ‖‖vᵢ‖`` is solved down the grid (:func:`homfact.meta.grow`, warm-started,
       duality gap ``cv_tol``) and the mean squared error on the held-out fold ``F`` is
       recorded: with ``debias=True`` (default) that of the *relaxed refit* at the fitted rank
       (:func:`homfact.solvers.relaxed.relaxed_refit`, penalty ``relax·λ``, ``cv_sweeps`` ALS
       sweeps), whose error rises once noise components enter (the shrunk fit's own error
       keeps falling past the true rank); with ``debias=False`` the regularized fit's own.
    4. ``lam_cv_`` is the grid value of least mean held-out error (``selection="min"``), or
       the largest ``λ`` whose mean error is within one standard error of that minimum
       (``selection="1se"``, Hastie, Tibshirani & Friedman, *Elements of Statistical
       Learning*, §7.10).
    5. Early stopping: the path stops once the mean held-out error has exceeded its running
       minimum by more than that minimum's standard error (fold standard deviation over
       ``√K``) at ``patience`` consecutive grid values, counted only once some ``λ`` has
       beaten the zero fit's held-out error ``mean(Y_F²)``; skipped values are ``NaN`` in
       ``mse_path_``.
    6. Final fit on every observed entry at ``lam_ = √(K/(K−1))·lam_cv_`` (``K = cv``: the
       observed noise's spectral norm grows as the square root of the number of observed
       entries), duality gap ``tol``: the certified factors ``certified_U_``,
       ``certified_V_``, which ``certificate_`` describes.  With ``debias=True`` their relaxed
       refit (at most ``refit_max_iter`` sweeps) is reported as ``U_``, ``V_`` with
       ``debiased_ = True`` (the README's naming rule), and :meth:`predict` and
       :meth:`to_dense` return it by default; with ``debias=False`` ``U_``, ``V_`` are the
       certified factors.

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
        Select on, and report, the relaxed refit (see above).
    relax : float in (0, 1], default=0.1
        ``φ``: the relaxed refit's penalty is ``φ·λ``.
    cv_sweeps : int, default=10
        ALS sweeps of the relaxed refit inside cross-validation.
    patience : int or None, default=1
        Early stopping (step 5); ``None`` evaluates the whole grid.
    cv_tol : float, default=1e-3
        Duality gap of the path fits inside cross-validation (only the final fit needs the
        certificate's ``tol``; on tuning seeds 0–9 the selections equal those with ``10⁻⁴``).
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
    U_, V_ : ndarray of shape (m, rank_), (n, rank_)
        The reported factors: the relaxed refit of the final fit when ``debiased_``, else the
        certified factors (the same arrays as ``certified_U_``, ``certified_V_``).
    certified_U_, certified_V_ : ndarray of shape (m, rank_), (n, rank_)
        The certified solution of the final fit at ``lam_``.
    debiased_ : bool
        Whether ``U_``, ``V_`` hold the relaxed refit (``debias=True``; at rank 0 the refit is
        the zero fit itself).
    debias_info_ : dict or None
        The refit's ``relax``, ``penalty`` (``relax·lam_``) and ``max_sweeps``; ``None``
        without a refit.
    rank_, certificate_, history_, n_iter_, stop_reason_, shape_ :
        Those of the final certified fit (as :class:`~homfact.MatrixCompletion`);
        ``certificate_`` describes ``certified_U_``, ``certified_V_``, never the refit.
    refit_U_, refit_V_ : deprecated names (``FutureWarning``) of the relaxed refit: ``U_``,
        ``V_`` when ``debiased_``, else ``None``.
    """

    def __init__(self, lams=None, *, n_lams=20, lam_min_ratio=0.01, cv=5, selection="min",
                 debias=True, relax=0.1, cv_sweeps=10, patience=1, cv_tol=1e-3, tol=1e-6,
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
        return check_int(value, name, low)

    def _check_params(self) -> None:
        check_fit_params(self, integers=("max_iter", "refit_max_iter", "cv_sweeps"))
        check_path_params(self)
        f = self.relax
        if isinstance(f, bool) or not (isinstance(f, numbers.Real) and 0 < f <= 1):
            raise ValueError(f"relax must be a number in (0, 1], got {f!r}")
        if self.local_solver not in ("auto", "als-exact", "als"):
            raise ValueError(f"local_solver must be 'auto', 'als-exact' or 'als', got "
                             f"{self.local_solver!r}")

    def _grid(self, top: float) -> np.ndarray:
        return lam_grid(self.lams, self.n_lams, self.lam_min_ratio, top)

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
        fold = assign_folds(obs.nnz, K, self.random_state)
        self.lam_max_ = lam_max("completion", obs)
        if not self.lam_max_ > 0:
            raise ValueError("Y is zero on its observed entries: nothing to fit")
        lams = self._grid(self.lam_max_)
        mse, mse_reg, ranks = self._path(obs, fold, lams, K)
        b, mean, std = select_index(mse, self.selection)
        self.lams_ = lams
        self.mse_path_ = mse
        self.mse_path_regularized_ = mse_reg
        self.rank_path_ = ranks
        self.best_index_ = b
        self.lam_cv_ = float(lams[b])
        self.lam_ = self.lam_cv_ * float(np.sqrt(K / (K - 1)))
        self.noise_level_ = float(np.sqrt(mean[b]))
        self.cv_results_ = cv_results(lams, mean, std, ranks, mse, "mse")
        self._final_fit(Y, obs)
        return self

    def _path(self, obs, fold: np.ndarray, lams: np.ndarray,
              K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 3: the warm-started path per fold; the criterion's and the regularized fits'
        held-out errors and the ranks, ``(L, K)`` each."""
        solver = "als-exact" if self.local_solver == "auto" else self.local_solver
        splits = observed_folds(obs, fold, K)
        factors: list = [None] * K
        mse_reg = np.full((lams.shape[0], K), np.nan)

        def fit_fold(i: int, k: int, lam: float) -> tuple[float, int]:
            train, test = splits[k]
            problem = completion_problem(train, lam, local_solver=solver)
            res = grow(problem, factors[k], tol=self.cv_tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, random_state=self.random_state)
            factors[k] = res.factors
            U, V = res.factors
            err = test.values - predict_entries(U, V, test.rows, test.cols)
            mse_reg[i, k] = float(np.mean(err * err))
            if not self.debias:
                return mse_reg[i, k], U.shape[1]
            Ur, Vr = relaxed_refit(train, U, V, lam, relax=self.relax,
                                   max_sweeps=self.cv_sweeps, tol=1e-6)
            err = test.values - predict_entries(Ur, Vr, test.rows, test.cols)
            return float(np.mean(err * err)), U.shape[1]

        stop = EarlyStop(self.patience,
                         float(np.mean([np.mean(test.values ** 2) for _, test in splits])))
        mse, ranks = run_path(lams, K, fit_fold, stop, score_name="mse",
                              label="MatrixCompletionCV" if self.verbose else None)
        return mse, mse_reg, ranks

    def _final_fit(self, Y, obs) -> None:
        """Step 6: the certified fit on every observed entry at ``lam_``, then (``debias``)
        its relaxed refit as the reported ``U_``, ``V_``."""
        final = MatrixCompletion(self.lam_, max_rank=self.max_rank, tol=self.tol,
                                 max_iter=self.max_iter, time_limit=self.time_limit,
                                 random_state=self.random_state, verbose=self.verbose,
                                 local_solver=self.local_solver)
        t0 = time.perf_counter()
        final.fit(Y)
        self.fit_time_final_ = time.perf_counter() - t0
        for name in ("rank_", "certificate_", "history_", "n_iter_", "stop_reason_", "shape_"):
            setattr(self, name, getattr(final, name))
        self.certified_U_, self.certified_V_ = final.U_, final.V_
        self.U_, self.V_ = self.certified_U_, self.certified_V_
        self.debiased_, self.debias_info_ = False, None
        if self.debias:
            self.U_, self.V_ = relaxed_refit(obs, self.certified_U_, self.certified_V_,
                                             self.lam_, relax=self.relax,
                                             max_sweeps=self.refit_max_iter, tol=1e-8)
            self.debiased_ = True
            self.debias_info_ = {"relax": float(self.relax),
                                 "penalty": float(self.relax * self.lam_),
                                 "max_sweeps": int(self.refit_max_iter)}

    # ------------------------------------------------------------------ outputs
    def _deprecated(self, old: str, new: str) -> None:
        check_is_fitted(self, "certified_U_")
        warnings.warn(f"MatrixCompletionCV.{old} is deprecated and will be removed in the next "
                      f"release; use {new} (the README's naming rule)", FutureWarning,
                      stacklevel=3)

    @property
    def refit_U_(self):
        """Deprecated: ``U_`` when ``debiased_``, else ``None``."""
        self._deprecated("refit_U_", "U_ (with debiased_)")
        return self.U_ if self.debiased_ else None

    @property
    def refit_V_(self):
        """Deprecated: ``V_`` when ``debiased_``, else ``None``."""
        self._deprecated("refit_V_", "V_ (with debiased_)")
        return self.V_ if self.debiased_ else None

    def _pick(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "U_")
        if which not in ("refit", "certified"):
            raise ValueError(f"which must be 'refit' or 'certified', got {which!r}")
        if which == "refit":
            return self.U_, self.V_
        return self.certified_U_, self.certified_V_

    def predict(self, rows, cols, which: str = "refit") -> np.ndarray:
        """Completed values at ``(rows[t], cols[t])``.

        ``which="refit"`` (default): the reported factors ``U_``, ``V_`` (the relaxed refit
        when ``debiased_``, else the certified fit); ``which="certified"``: the certified
        factors ``certified_U_``, ``certified_V_``.  The same meanings as before the naming
        rule, where the refit was ``refit_U_``, ``refit_V_``."""
        U, V = self._pick(which)
        rows = MatrixCompletion._check_index(rows, "rows", self.shape_[0])
        cols = MatrixCompletion._check_index(cols, "cols", self.shape_[1])
        if rows.shape != cols.shape:
            raise ValueError(f"rows and cols must have the same shape, got {rows.shape} and "
                             f"{cols.shape}")
        return predict_entries(U, V, rows.ravel(), cols.ravel()).reshape(rows.shape)

    def to_dense(self, which: str = "refit") -> np.ndarray:
        """The completed matrix (dense ``m×n``); ``which`` as in :meth:`predict`."""
        U, V = self._pick(which)
        return U @ V.T
