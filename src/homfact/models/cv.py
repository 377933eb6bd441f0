"""Cross-validated ``λ`` for matrix completion (:class:`MatrixCompletionCV`) and robust PCA
(:class:`RobustPCACV`).

No Marchenko–Pastur law describes a matrix with missing entries, so the noise level of
:mod:`homfact.noise` cannot be read off the singular values; ``λ`` is selected on held-out
observed entries instead, the way scikit-learn's ``LassoCV`` selects the lasso's ``α``:
``K`` folds of the observed entries, a geometric grid from ``λ_max`` down, a warm-started
path per fold, the ``λ`` of least mean held-out error, and a final fit on every observed
entry at that ``λ``.  Robust PCA's noise rule for ``γ`` and its ``λ = √max(m, n)`` assume
Gaussian noise; :class:`RobustPCACV` selects its ``λ`` the same way, scored by the model's
own (Huber) loss on the held-out entries, which hold gross errors too.
"""

from __future__ import annotations

import numbers
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..cross_validation import EarlyStop
from ..cross_validation import predict_entries as _predict
from ..cross_validation import subset_entries as _subset
from ..lam_rules import split_lam_max
from ..losses import huber
from ..meta import grow
from ..path import lam_max
from ..problems import (
    check_fit_params,
    check_lam,
    completion_problem,
    observed_entries,
)
from ..solvers.relaxed import relaxed_refit
from ..solvers.robust_pca import _debias
from .low_rank import MatrixCompletion
from .robust_pca import RobustPCA

# EarlyStop, huber, relaxed_refit and split_lam_max live in the core layers
# (homfact.cross_validation, homfact.losses, homfact.solvers.relaxed, homfact.lam_rules) and are
# re-exported here under their former names.
__all__ = ["EarlyStop", "MatrixCompletionCV", "RobustPCACV"]


def _check_path_params(est) -> None:
    """The parameters both CV estimators share: ``cv``, ``n_lams``, ``patience``,
    ``lam_min_ratio``, ``selection``, ``debias`` and ``cv_tol`` (``ValueError``/``TypeError``
    naming the parameter)."""
    MatrixCompletionCV._int(est.cv, "cv", 2)
    MatrixCompletionCV._int(est.n_lams, "n_lams", 1)
    if est.patience is not None:
        MatrixCompletionCV._int(est.patience, "patience", 1)
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


class MatrixCompletionCV(BaseEstimator):
    """Matrix completion with ``λ`` chosen by ``K``-fold cross-validation on observed entries.

    Fitting (scikit-learn's ``LassoCV`` scheme, with warm starts along the path):

    1. The observed entries ``Ω`` are split at random into ``cv`` folds.
    2. The grid: ``lams``, or ``n_lams`` geometric values from ``λ_max = ‖P_Ω Y‖₂`` (the
       smallest ``λ`` with the zero solution, :func:`homfact.lam_max`) down to
       ``lam_min_ratio·λ_max``.
    3. For each fold, the certified nuclear-norm problem ``½‖P_{Ω∖F}(Y − UVᵀ)‖² +
       λΣ‖uᵢ‖‖vᵢ‖`` is solved down the grid (:func:`homfact.meta.grow`, each ``λ``
       warm-started from the previous one, duality gap ``cv_tol``, default ``10⁻³``: only
       the final fit carries the certificate's ``tol``; on tuning seeds 0–9 the selections
       with ``10⁻³`` and ``patience=1`` equal those with the former ``10⁻⁴`` and
       ``patience=2``: same ranks, errors equal to 3 digits), and the mean squared error
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
       minimum by more than that minimum's standard error (fold standard deviation over
       ``√K``) at ``patience`` consecutive grid values (smaller ``λ`` only adds rank and
       cost); the skipped grid values are ``NaN`` in ``mse_path_``.  Rises count only once
       some ``λ`` has beaten the zero fit's held-out error ``mean(Y_F²)``.  The cost is in
       the fits past the noise edge, where the rank jumps (tuning seed 7 of
       ``benchmarks/robust_completion.py``: rank 9 on the plateau, then 50 and 90 at the
       next two grid values, 30 s and 147 s of a 185 s fit, the ten plateau values 7 s),
       hence ``patience=1``: with the former ``patience=2`` the second value past the
       minimum never beat it on any tuning seed 0–9 (each stopped two values past its
       minimum), so it only cost time; the selections on seeds 0–9 are the same with 1.
       The standard-error margin keeps a plateau's small fluctuations from counting as a
       rise, the zero-fit guard keeps a poor first fit near ``λ_max`` from stopping the
       path before anything is fitted.
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
    patience : int or None, default=1
        Early stopping (step 5); ``None`` evaluates the whole grid.
    cv_tol : float, default=1e-3
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
        if isinstance(value, bool) or not (isinstance(value, numbers.Integral) and value >= low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

    def _check_params(self) -> None:
        check_fit_params(self, integers=("max_iter", "refit_max_iter", "cv_sweeps"))
        _check_path_params(self)
        f = self.relax
        if isinstance(f, bool) or not (isinstance(f, numbers.Real) and 0 < f <= 1):
            raise ValueError(f"relax must be a number in (0, 1], got {f!r}")
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
        stop = EarlyStop(self.patience,
                         float(np.mean([np.mean(test.values ** 2) for _, test in splits])))
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
            if self.verbose:
                print(f"MatrixCompletionCV: lam {lam:.6g}  median rank "
                      f"{np.median(ranks[i]):g}  mean held-out mse {np.mean(mse[i]):.6g}",
                      file=sys.stderr)
            if stop.update(mse[i]):
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


class RobustPCACV(BaseEstimator):
    """Robust PCA with ``λ`` chosen by ``K``-fold cross-validation on observed entries.

    The model is :class:`~homfact.RobustPCA`'s split form
    ``min ‖E‖₁ + λ Σᵢ‖uᵢ‖‖vᵢ‖ + (γ/2)‖P_Ω(Y − UVᵀ − E)‖²_F``; minimized over ``E`` it is
    ``γ Σ_Ω h_δ(Y − UVᵀ) + λ Σᵢ‖uᵢ‖‖vᵢ‖`` with ``δ = 1/γ`` and ``h_δ`` the Huber function
    (:func:`huber`).  :class:`~homfact.RobustPCA` sets ``λ = √max(m, n)`` (principal component
    pursuit) and ``γ`` by a noise rule that assumes i.i.d. Gaussian noise; where no such model
    holds (heavy-tailed or heteroscedastic noise, missing entries, structured errors) ``λ`` is
    selected here on held-out observed entries, the way scikit-learn's ``LassoCV`` selects
    the lasso's ``α``.  Measured (150×120, rank 4, 5 % gross errors ±5, 20 % missing, seeds
    0–2, ``RobustPCACV()`` against ``RobustPCA()``): with row noise levels spread over
    0.02–0.5 (heteroscedastic) the default's rank was 4, 5, 6 and this class's 4, 4, 4, at
    1.03, 0.92, 0.77× the default's error; with Student-t(2) noise (scale 0.1) both found
    rank 4 with errors within 1 %.  The price is time: 5 folds × about 10 grid values,
    13–37 s against 0.05–0.15 s for one ``RobustPCA()`` fit (shared, loaded machine).

    Fitting:

    1. ``γ``: given, or (``gamma="auto"``) the automatic ``γ`` of ``RobustPCA()`` fitted once
       on every observed entry (its noise estimate ``σ̂``, ``δ = cσ̂``; ``noise_level_``).
       ``γ`` (``δ``) is then **kept fixed** over the grid and not tuned, for two reasons:
       ``δ`` sets the held-out criterion itself (step 4), which must be one fixed function
       of the residuals for the grid's scores to be comparable (scoring each ``δ`` with its
       own ``h_δ`` would reward whichever ``δ`` calls more residuals gross); and ``δ`` is a
       *scale* (which residuals count as gross errors), estimated from the residuals
       themselves, whereas ``λ`` sets the rank and the shrinkage, the trade-off that no noise
       model fixes when the noise rule's assumptions fail.  With ``γ`` fixed, every fit
       along the path minimizes the same loss with a different penalty, so warm starts
       along the grid are meaningful (as in ``LassoCV``).
    2. The observed entries ``Ω`` are split at random into ``cv`` folds; the grid is ``lams``
       or ``n_lams`` geometric values from ``λ_max = ‖γ·clip(P_Ω Y, ±δ)‖₂`` (the smallest
       ``λ`` with the zero solution, :func:`split_lam_max`) down to ``lam_min_ratio·λ_max``.
    3. For each fold ``F``, ``RobustPCA(lam=λ, gamma=γ)`` is fitted on ``Ω∖F`` (the fold's
       entries set to NaN) down the grid, each fit started from the previous ``λ``'s certified
       factors (``init``), duality gap ``cv_tol``; with ``debias=True`` (default) the
       prediction is the debiased refit, as ``RobustPCA`` reports it, stopped at its
       statistical tolerance (:meth:`_fold_debias`; the shrunk certified
       fit's held-out error keeps falling past the true rank, see
       :class:`MatrixCompletionCV`).
    4. Held-out criterion: the model's own loss on the held-out entries,
       ``(1/|F|) Σ_{(i,j)∈F} h_δ(Yᵢⱼ − L̂ᵢⱼ)`` with the fixed ``δ`` (the split objective's data
       term minimized over ``E``, divided by ``γ``).  The held-out entries hold gross errors
       too: a squared error would be dominated by them (an error of size ``a ≫ σ`` adds
       ``a²/2``, and moves with ``L̂`` at rate ``a``), while ``h_δ`` grows only linearly
       beyond ``δ`` (rate at most ``δ``, about ``cσ̂``), so gross errors add a nearly constant
       amount and the score follows the fit on the inliers.
    5. ``lam_cv_`` is the grid value of least mean held-out loss (``selection="min"``) or the
       largest within one standard error of it (``"1se"``).  Early stopping: the path stops
       once the mean held-out loss has exceeded its running minimum by more than that
       minimum's standard error (fold standard deviation over ``√K``) at ``patience``
       consecutive grid values (smaller ``λ`` only adds rank and cost); skipped values are
       ``NaN`` in ``huber_path_``.  Rises count only once some ``λ`` has beaten the zero
       fit's held-out loss ``mean h_δ(Y_F)``: near ``λ_max`` a heavily shrunk fit's
       debiasing refit can be far off (80×60, rank 3, 20 % missing, 3 folds: held-out loss
       3.4× the zero fit's at the first rank-3 ``λ``, 0.13× at the next), and stopping
       there would select the zero solution.  The margin keeps the path going through a plateau (the
       debiased fit hardly changes with ``λ`` at a fixed rank, so the loss is flat to
       ~10⁻⁴ there, and a weak component may still enter further down), while the fits
       past the noise edge, where the rank jumps (4 → 17 at 150×120, 20 % missing) and
       each fit costs 10-40× a plateau fit, stop after ``patience`` of them.
    6. Final fit ``RobustPCA(lam=lam_, gamma=γ)`` on every observed entry at
       ``lam_ = √(K/(K−1))·lam_cv_`` (``K = cv``): the spectral norm of the loss gradient's
       noise part grows as the square root of the number of entries (the same argument as
       :class:`MatrixCompletionCV`'s step 6), so the ``λ`` selected on ``(K−1)/K`` of the
       entries is scaled up for all of them.  Its fitted attributes are copied here;
       ``certificate_`` certifies the final *certified* factors for the split objective at
       ``(lam_, gamma_)`` only; the selection of ``λ`` itself carries no certificate.

    Parameters
    ----------
    lams : array-like of float, optional
        The grid of split-form ``λ`` (sorted decreasing internally).
    n_lams : int, default=20
    lam_min_ratio : float in (0, 1), default=0.01
    cv : int, default=5
        Number of folds (``>= 2``).
    gamma : float or "auto", default="auto"
        ``γ = 1/δ`` of the split form, fixed over the grid (step 1).
    selection : {"min", "1se"}, default="min"
    patience : int or None, default=2
        Early stopping (step 5); ``None`` evaluates the whole grid.
    debias : bool, default=True
        Select on, and report, :class:`~homfact.RobustPCA`'s debiased refit.
    cv_tol : float in (0, 1), default=1e-3
        Duality gap of the fits inside cross-validation (and of the ``γ`` pilot); as in
        :class:`MatrixCompletionCV`, only the final fit needs the certificate's ``tol``
        (150×120, rank 4, 20 % missing, seeds 0-2: same selections as with ``1e-4``,
        1.6-3.7× faster).
    tol, max_rank, max_iter, time_limit, random_state, verbose
        As in :class:`~homfact.RobustPCA` (``tol``, ``time_limit`` and ``verbose`` for the
        final fit; ``max_rank``, ``max_iter`` for every fit; ``random_state`` also draws
        the folds).

    Attributes
    ----------
    lam_ : float
        ``λ`` of the final fit, ``√(K/(K−1))·lam_cv_``.
    lam_cv_ : float
        The selected grid value.
    lams_ : ndarray of shape (n_lams,)
        The grid, decreasing.
    lam_max_ : float
    gamma_, delta_ : float
        The fixed ``γ`` and ``δ = 1/γ``.
    noise_level_, noise_info_ : float, dict or None
        The pilot's noise estimate (``gamma="auto"``), else ``None``.
    huber_path_ : ndarray of shape (n_lams, cv)
        Mean held-out Huber loss ``h_δ`` per ``λ`` and fold; ``NaN`` where skipped.
    rank_path_ : ndarray of shape (n_lams, cv)
        Rank of each path fit (``-1`` where skipped).
    cv_results_ : dict
        ``lams``, ``mean_test_huber``, ``std_test_huber``, ``mean_rank`` and
        ``split{k}_test_huber``.
    best_index_ : int
    estimator_ : RobustPCA
        The final fit.
    U_, V_, sparse_, certified_U_, certified_V_, certified_sparse_, certificate_, debiased_,
    debias_info_, rank_, history_, n_iter_, stop_reason_, continuation_, n_features_in_ :
        Those of ``estimator_``; ``low_rank_`` and ``certified_low_rank_`` as in RobustPCA.
    """

    def __init__(self, lams=None, *, n_lams=20, lam_min_ratio=0.01, cv=5, gamma="auto",
                 selection="min", patience=2, debias=True, cv_tol=1e-3, tol=1e-6,
                 max_rank=None, max_iter=200, time_limit=None, random_state=None,
                 verbose=False):
        self.lams = lams
        self.n_lams = n_lams
        self.lam_min_ratio = lam_min_ratio
        self.cv = cv
        self.gamma = gamma
        self.selection = selection
        self.patience = patience
        self.debias = debias
        self.cv_tol = cv_tol
        self.tol = tol
        self.max_rank = max_rank
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.random_state = random_state
        self.verbose = verbose

    _FINAL = ("U_", "V_", "sparse_", "certified_U_", "certified_V_", "certified_sparse_",
              "certificate_", "debiased_", "debias_info_", "rank_", "history_", "n_iter_",
              "stop_reason_", "continuation_", "n_features_in_")

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        check_fit_params(self)
        _check_path_params(self)
        g = self.gamma
        if not (isinstance(g, str) and g == "auto"):
            if isinstance(g, bool) or not isinstance(g, numbers.Real):
                raise TypeError(f"gamma must be a real number or 'auto', got "
                                f"{type(g).__name__}")
            if not (np.isfinite(g) and g > 0):
                raise ValueError(f"gamma must be a finite number > 0 or 'auto', got {g!r}")

    @staticmethod
    def _check_Y(Y) -> np.ndarray:
        if sp.issparse(Y):
            raise TypeError("Y must be a dense 2-D array with NaN for missing entries, got a "
                            "scipy.sparse matrix")
        try:
            A = np.asarray(Y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Y must be a numeric 2-D array: {exc}") from None
        if A.ndim != 2 or A.size == 0:
            raise ValueError(f"Y must be a non-empty 2-D array, got shape {A.shape}")
        if np.any(np.isinf(A)):
            raise ValueError("Y contains infinite values (use NaN for missing entries)")
        return A

    # ------------------------------------------------------------------ fitting
    def _rpca(self, lam: float, init, *, tol: float, final: bool = False,
              debias: bool | None = None) -> RobustPCA:
        return RobustPCA(lam=lam, gamma=self.gamma_ if lam != "auto" else "auto",
                         init="zero" if init is None else init, tol=tol,
                         max_rank=self.max_rank, max_iter=self.max_iter,
                         time_limit=self.time_limit if final else None,
                         random_state=self.random_state, verbose=self.verbose and final,
                         debias=self.debias if debias is None else debias)

    def _set_gamma(self, A: np.ndarray) -> None:
        """Step 1: the given ``γ``, or the automatic one of ``RobustPCA()`` on all entries."""
        self.noise_level_ = self.noise_info_ = None
        if isinstance(self.gamma, str):
            self.gamma_ = np.nan
            pilot = self._rpca("auto", None, tol=self.cv_tol, debias=False).fit(A)
            self.gamma_ = float(pilot.gamma_)
            self.noise_level_, self.noise_info_ = pilot.noise_level_, pilot.noise_info_
        else:
            self.gamma_ = float(self.gamma)
        self.delta_ = 1.0 / self.gamma_

    def _fold_debias(self, train: np.ndarray, est: RobustPCA) -> tuple[np.ndarray, np.ndarray]:
        """The debiasing refit of a path fit, stopped at the statistical tolerance.

        :class:`~homfact.RobustPCA`'s own refit (module doc of :mod:`homfact.models.robust_pca`,
        3.) with ``stat_tol=10⁻³``: steps below 10⁻³ of the rank-``r`` fit's statistical
        error ``s√(r(m + n − r))`` are not iterated (``RobustPCA`` uses this rule with its
        automatic ``γ``; with a given ``γ`` it iterates to ``10⁻¹⁰`` relative, 60 % of a path
        fit's time measured at 150×120, rank 4, and below the held-out loss's resolution).
        Skipped, as there, when the rank has more than half as many parameters as inliers.
        """
        U, V = est.certified_U_, est.certified_V_
        missing = np.isnan(train)
        Y0 = np.where(missing, 0.0, train)
        R = np.where(missing, 0.0, Y0 - U @ V.T)
        r = U.shape[1]
        n_inliers = int(np.count_nonzero(np.abs(R[~missing]) <= self.delta_))
        if r == 0 or r * (train.shape[0] + train.shape[1] - r) > 0.5 * n_inliers:
            return U, V
        try:
            U, V, _ = _debias(Y0, ~missing, U, V, self.delta_, est.lam_ / self.gamma_,
                              stat_tol=1e-3)
        except np.linalg.LinAlgError:  # keep the certified fit, as RobustPCA does
            pass
        return U, V

    def _path(self, train: np.ndarray, test: tuple[np.ndarray, np.ndarray, np.ndarray],
              lam: float, init) -> tuple[float, int, tuple]:
        """One fold at one ``λ``: fit, held-out mean Huber loss, rank, certified factors."""
        est = self._rpca(lam, init, tol=self.cv_tol, debias=False).fit(train)
        U, V = self._fold_debias(train, est) if self.debias else (est.U_, est.V_)
        rows, cols, vals = test
        score = float(np.mean(huber(vals - _predict(U, V, rows, cols), self.delta_)))
        return score, int(est.rank_), (est.certified_U_, est.certified_V_)

    def fit(self, Y, y=None):
        """Select ``λ`` on held-out observed entries of ``Y`` (ndarray, NaN = missing), then
        fit every observed entry at that ``λ``."""
        self._check_params()
        A = self._check_Y(Y)
        K = int(self.cv)
        flat = np.flatnonzero(~np.isnan(A))
        if flat.size < K:
            raise ValueError(f"cv={K} folds need at least {K} observed entries, Y has "
                             f"{flat.size}")
        rng = np.random.default_rng(self.random_state)
        fold = rng.permutation(flat.size) % K
        with warnings.catch_warnings():
            # fits at small λ may skip their debiasing refit; RobustPCA warns, CV scores it
            warnings.simplefilter("ignore", UserWarning)
            self._set_gamma(A)
            obs = observed_entries(A)
            self.lam_max_ = split_lam_max(obs, self.gamma_)
            if not self.lam_max_ > 0:
                raise ValueError("Y is zero on its observed entries: nothing to fit")
            lams = MatrixCompletionCV._grid(self, self.lam_max_)
            self._select(A, flat, fold, lams, K)
        self.lam_ = self.lam_cv_ * float(np.sqrt(K / (K - 1)))
        t0 = time.perf_counter()
        self.estimator_ = self._rpca(self.lam_, None, tol=self.tol, final=True).fit(A)
        self.fit_time_final_ = time.perf_counter() - t0
        for name in self._FINAL:
            setattr(self, name, getattr(self.estimator_, name))
        return self

    def _select(self, A: np.ndarray, flat: np.ndarray, fold: np.ndarray, lams: np.ndarray,
                K: int) -> None:
        """Steps 3-5: the warm-started path per fold, the held-out losses, the selection."""
        L = lams.shape[0]
        loss = np.full((L, K), np.nan)
        ranks = np.full((L, K), -1, dtype=int)
        trains, tests = [], []
        for k in range(K):
            held = flat[fold == k]
            train = A.copy()
            train.flat[held] = np.nan
            rows, cols = np.divmod(held, A.shape[1])
            trains.append(train)
            tests.append((rows, cols, A.flat[held]))
        starts: list = [None] * K
        stop = EarlyStop(self.patience,
                         float(np.mean([np.mean(huber(t[2], self.delta_)) for t in tests])))
        for i, lam in enumerate(lams):
            for k in range(K):
                loss[i, k], ranks[i, k], starts[k] = self._path(trains[k], tests[k],
                                                                float(lam), starts[k])
            if self.verbose:
                print(f"RobustPCACV: lam {lam:.6g}  median rank {np.median(ranks[i]):g}  "
                      f"mean held-out huber {np.mean(loss[i]):.6g}", file=sys.stderr)
            if stop.update(loss[i]):
                break
        mean, std = np.mean(loss, axis=1), np.std(loss, axis=1)
        done = np.flatnonzero(~np.isnan(mean))
        b = int(done[np.argmin(mean[done])])
        if self.selection == "1se":
            b = int(done[mean[done] <= mean[b] + std[b] / np.sqrt(K)].min())
        self.lams_, self.huber_path_, self.rank_path_, self.best_index_ = lams, loss, ranks, b
        self.lam_cv_ = float(lams[b])
        self.cv_results_ = {"lams": lams, "mean_test_huber": mean, "std_test_huber": std,
                            "mean_rank": np.where(ranks[:, 0] >= 0, ranks.mean(axis=1),
                                                  np.nan)}
        for k in range(K):
            self.cv_results_[f"split{k}_test_huber"] = loss[:, k]

    # ------------------------------------------------------------------ outputs
    @property
    def low_rank_(self) -> np.ndarray:
        """The reported low-rank part (debiased when ``debiased_``), as in RobustPCA."""
        check_is_fitted(self, "estimator_")
        return self.U_ @ self.V_.T

    @property
    def certified_low_rank_(self) -> np.ndarray:
        """The certified low-rank part ``certified_U_ @ certified_V_.T``."""
        check_is_fitted(self, "estimator_")
        return self.certified_U_ @ self.certified_V_.T
