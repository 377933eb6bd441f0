"""Robust PCA: a low-rank part plus sparse gross errors, certified, then debiased.

Split form (default) ``min_{U,V,E} ‖E‖₁ + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂ + (γ/2)‖Y − UVᵀ − E‖²_F``; minimized
over ``E`` (``E = soft(Y − UVᵀ, 1/γ)``) it is the nuclear-norm problem with the Huber loss
``γ Σ h_{1/γ}(Y − UVᵀ)``, certified like the core models.  ``loss="huber"`` uses
``Σ h_δ(Y − UVᵀ)`` with a free ``δ``; NaN marks a missing entry.  Fitting has three parts:
1. a warm start by continuation over Huber thresholds (not certified), 2. certification by
:func:`homfact.meta.grow`, 3. a debiasing refit at the certified rank.  The three parts, the
automatic ``γ`` and their sources: docs: models/robust-pca.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..gauges import soft_threshold
from ..losses import HuberLoss
from ..noise import robust_scale
from ..problems import (
    check_dense_matrix,
    check_fit_params,
    check_lam,
    completion_problem,
    low_rank_problem,
    observed_entries,
)
from ..solvers.robust_pca import _continuation, _debias
from ..solvers.rpca_noise import _NoiseRule
from ._base import _FactorizationMixin

__all__ = ["RobustPCA"]

#: automatic δ is at least this fraction of the data's robust scale (noise-free data)
_DELTA_FLOOR = 1e-3



class RobustPCA(_FactorizationMixin, BaseEstimator):
    """Certified robust PCA ``Y ≈ low_rank_ + sparse_``, with a debiasing refit by default.

    **The automatic ``γ`` (``δ``).**  Stable principal component pursuit's form
    ``δ* = cσ̂`` (Zhou, Li, Wright, Candès & Ma, ISIT 2010: their ``μ`` is ``δ = √2·σ``), with
    ``σ̂`` (and the gross-error fraction ``ρ̂``) estimated from the residuals of the warm-start
    path, and ``c`` the smallest value in ``[√2, 8]`` for which the loss gradient at the truth,
    ``G = γ·clip_δ(Y − L*)``, has ``‖G‖₂ ≈ √((1 − ρ)s(c)²/c² + ρ)·√p(√m + √n) ≤ λ/κ``,
    ``κ = 1.25`` (no noise direction enters ``L`` while ``‖G‖₂ < λ``; ``s(c)² = E min(z², c²)``,
    ``p`` the observed fraction).  If no ``c ≤ 8`` meets it, ``c = 8`` and
    ``noise_info_["rule_feasible"]`` is false; noise-free data (``cσ̂`` below
    ``10⁻³·robust_scale(Y)``) use ``δ* = 10⁻³·robust_scale(Y)``.  A given ``lam`` enters the
    rule in place of ``√n_max``.  The derivation, the noise estimate along the path, the
    measurements behind ``κ`` and the sample size: docs: models/robust-pca.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        Weight of the nuclear-norm term relative to ``‖E‖₁``; ``"auto"`` is ``√max(m, n)``, the
        principal-component-pursuit choice of Candès, Li, Ma & Wright (2011) written for this
        scaling (``‖L‖_* + λ_pcp‖E‖₁`` with ``λ_pcp = 1/√max(m, n)``, divided by ``λ_pcp``).
        For ``loss="huber"`` it is ``√max(m, n)·δ``, the same problem (``Σ h_δ + λ‖L‖_*`` is
        ``δ`` times the split objective with ``γ = 1/δ`` and ``λ_split = λ/δ``).
    gamma : float or "auto", default="auto"
        Weight ``γ`` of the quadratic (dense noise) term; residual entries larger than
        ``δ = 1/γ`` are treated as gross errors.  ``"auto"``: ``γ = 1/δ*`` from the estimated
        noise level ``σ̂`` (stored as ``noise_level_``), by the rule above.
    loss : {"split", "huber"}, default="split"
        ``"huber"`` replaces the split by ``Σ h_δ(Y − UVᵀ)`` with threshold ``delta``.
    delta : float or "auto", default="auto"
        Huber threshold for ``loss="huber"`` (ignored by the split); ``"auto"`` is ``δ*``.
    init, rank, max_rank, tol, max_iter, time_limit, random_state, verbose
        As in :class:`homfact.LowRankApproximation`; ``time_limit`` covers the warm start and
        the certification together (the refit, a few least-squares sweeps, runs after them).
    continuation : bool, default=True
        Warm-start the certified solve by proximal-gradient continuation over Huber thresholds
        shrinking geometrically from the data's robust scale to the target (docs:
        models/robust-pca, part 1).  Without it :func:`homfact.meta.grow` starts from ``init``
        directly; small thresholds then converge slowly.
    debias : bool, default=True
        Refit the low-rank part at the certified rank without the nuclear-norm shrinkage, by
        least squares on the detected inliers (docs: models/robust-pca, part 3), and report the
        refit in ``U_``, ``V_``, ``sparse_``.  This is the default because the certified solution is
        biased towards zero by about ``λ/γ`` per singular value (relative error about
        ``λ/(γσ)``), which the refit removes: on noise-free low-rank-plus-sparse data it
        recovers ``L`` to rounding error.  ``debias=False`` reports the certified solution.
        With the automatic ``γ``/``δ`` its iterations stop once a step is below 10⁻³ of the
        statistical error ``s√(r(m + n − r))`` (``s`` the RMS inlier residual; noise-free data:
        at ``‖ΔL‖_F ≤ 10⁻¹⁰‖L‖_F`` as with a given ``γ``).
        The refit runs whatever the certificate's status and keeps the certified rank; it
        carries no certificate of its own.  It trusts that rank: with noisy data and a given
        ``γ`` too large for the noise (``1/γ`` at or below the noise level; ``"auto"`` avoids
        this) the model selects spurious noise components, which the refit no longer shrinks,
        so it can be worse than the certified solution (use ``debias=False`` or a smaller
        ``γ``).  It is skipped, with a warning, when the rank-``r`` model has more than half
        as many parameters ``r(m+n−r)`` as there are inliers (measured on 400×300 rank-5 data
        with noise and ``γ`` 3-30x too large: ranks 69-169, all caught by this rule; without
        it the refit had 2.5-18x the certified error).  It is also rejected, with a warning,
        when its Huber loss ``Σ_Ω h_δ(Y − L)`` (the model's own data term) exceeds the
        certified solution's: a refit started from a poor certified ``L`` (``λ`` far too large)
        can misclassify inliers and drift (150×120 rank 4, ``λ = 3.25√m``: error 30 against the
        certified 0.64 before this rule).

    Attributes
    ----------
    U_, V_ : ndarray of shape (m, rank_), (n, rank_)
        Balanced factors of the reported low-rank part: the debiased refit when ``debias`` is
        true, else the certified factors.  ``low_rank_`` is ``U_ @ V_.T`` (computed on access).
    sparse_ : ndarray (m, n)
        Reported gross errors (0 at missing entries).  Debiased: the residual ``Y − low_rank_``
        on the detected outliers ``|Y − low_rank_| > δ`` and 0 elsewhere; certified:
        ``soft(Y − UVᵀ, δ)``, the minimizing ``E`` of the split objective.
    certified_U_, certified_V_, certified_sparse_ : the certified solution ``(U, V, E)``;
        ``certified_low_rank_`` is ``certified_U_ @ certified_V_.T``.  With ``debias=False``
        they are the same arrays as ``U_``, ``V_``, ``sparse_``.
    certificate_ : homfact.Certificate
        Certificate of the *certified* factors ``certified_U_``, ``certified_V_`` for the split
        (or Huber) objective — not of the debiased refit, which solves a different
        (non-convex, fixed-rank) problem and carries no certificate.
    debiased_ : bool
        Whether ``U_``, ``V_``, ``sparse_`` hold the refit.
    debias_info_ : dict or None
        Refit summary: ALS iterations, support rounds, convergence, numbers of inliers and
        outliers, RMS residual on the inliers, ``huber_certified`` and ``huber_refit`` (the
        data terms compared above) and ``rejected`` (the reason) when the refit was not
        kept; ``skipped`` or ``failed`` when it did not run; ``None`` without a refit.
    gamma_, delta_ : float
        The ``γ`` used (``None`` for ``loss="huber"``) and the Huber threshold ``δ`` used
        (``1/γ`` for the split): the automatic values, or the given ones.
    noise_level_ : float or None
        The estimate ``σ̂`` of the dense-noise level from which the automatic ``γ``/``δ`` was
        set (``None`` when they were given).  On noise-free data it is the small residual of
        the unconverged warm-start stage, not 0 (the floor then sets ``δ``); the refit's
        ``debias_info_["inlier_rms_residual"]`` is the residual of the reported fit.
    noise_info_ : dict or None
        The estimate that set ``δ*``: ``noise_level``, ``outlier_fraction`` ``ρ̂``,
        ``noise_factor`` ``c``, ``rule_feasible``, ``target_delta`` ``δ*``, ``floored``.
    rank_, history_, n_iter_, stop_reason_, lam_
        As in LowRankApproximation, for the certified (final) problem; the refit keeps the rank.
    continuation_ : list of dict
        Threshold, rank and iterations of each warm-start stage (not certified); with the
        automatic ``γ``/``δ``, each stage but the last also holds its noise estimate.
    """

    def __init__(self, lam="auto", *, gamma="auto", loss="split", delta="auto", init="zero",
                 rank=None, max_rank=None, tol=1e-6, max_iter=200, time_limit=None,
                 random_state=None, verbose=False, continuation=True, debias=True):
        self.continuation = continuation
        self.debias = debias
        self.lam = lam
        self.gamma = gamma
        self.loss = loss
        self.delta = delta
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        lam = self.lam
        if not (isinstance(lam, str) and lam == "auto"):
            check_lam(lam)
        for name in ("gamma", "delta"):
            val = getattr(self, name)
            if isinstance(val, str) and val == "auto":
                continue
            if isinstance(val, bool) or not isinstance(val, numbers.Real):
                raise TypeError(f"{name} must be a real number or 'auto', got "
                                f"{type(val).__name__}")
            if not np.isfinite(val) or val <= 0:
                raise ValueError(f"{name} must be a finite number > 0 or 'auto', got {val!r}")
        if self.loss not in ("split", "huber"):
            raise ValueError(f"loss must be 'split' or 'huber', got {self.loss!r}")
        for name in ("continuation", "debias"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_fit_params(self)

    def fit(self, Y, y=None):
        """Fit ``Y`` (ndarray; NaN marks a missing entry): continuation, certify, debias."""
        self._check_params()
        A = check_dense_matrix(Y, "Y", missing=True)
        split = self.loss == "split"
        lam_auto = isinstance(self.lam, str)
        auto = isinstance(self.gamma if split else self.delta, str)
        pcp = float(np.sqrt(max(A.shape)))  # 1/λ_pcp (Candès, Li, Ma & Wright 2011)
        missing = np.isnan(A)
        if missing.all():
            raise ValueError("Y has no observed (non-NaN) entry")
        obs = observed_entries(A) if missing.any() else None
        observed = ~missing if missing.any() else None
        Y0 = np.where(missing, 0.0, A)
        rms = float(np.sqrt(np.nanmean(A * A)))
        factors = self._initial_factors(A.shape, rms)
        start = time.perf_counter()
        deadline = np.inf if self.time_limit is None else start + float(self.time_limit)
        rng = np.random.default_rng(self.random_state)
        self.continuation_, self.noise_level_, self.noise_info_ = [], None, None
        if auto:  # pilot path: estimate σ̂ along the continuation, then δ* = max(cσ̂, floor)
            lam_rule = float(self.lam) if split and not lam_auto else pcp
            top = robust_scale(A[~missing])
            rule = _NoiseRule(Y0, observed, lam_rule, lam_rule,
                              _DELTA_FLOOR * top if top > 0 else 1.0, rng)
            final_lam = (lambda d: float(self.lam) / d) if not split and not lam_auto else None
            warm, self.continuation_ = _continuation(
                Y0, observed, final_lam or lam_rule, 1.0, None, factors, rng, deadline,
                max_rank=self.max_rank, final_rtol=1e-2 * float(self.tol), auto=rule)
            if self.continuation:
                factors = warm
            self.noise_info_ = dict(rule.last)
            self.noise_level_ = float(rule.last["noise_level"])
            delta = float(rule.last["target_delta"])
        else:
            delta = 1.0 / float(self.gamma) if split else float(self.delta)
        if split:
            self.gamma_ = 1.0 / delta if auto else float(self.gamma)
            weight = self.gamma_
            self.lam_ = pcp if lam_auto else float(self.lam)
        else:
            self.gamma_, weight = None, 1.0
            # Σ h_δ + λ‖L‖_* is δ·(split objective with γ = 1/δ, λ_split = λ/δ): PCP is λ = √n·δ
            self.lam_ = pcp * delta if lam_auto else float(self.lam)
        self.delta_ = delta
        if self.continuation and not auto:
            factors, self.continuation_ = _continuation(
                Y0, observed, self.lam_, delta, None if split else weight,
                factors, rng, deadline, max_rank=self.max_rank,
                final_rtol=1e-2 * float(self.tol))
        budget = None
        if self.time_limit is not None:  # the budget covers all parts together
            budget = max(self.time_limit - (time.perf_counter() - start), 1e-3)
        self._run(self._problem(A, obs, delta, weight), factors, "RobustPCA", time_limit=budget)
        self.certified_U_, self.certified_V_ = self.U_, self.V_
        R = np.where(missing, 0.0, A - self.U_ @ self.V_.T)
        self.certified_sparse_ = soft_threshold(R, delta)
        self.sparse_ = self.certified_sparse_
        self.debiased_, self.debias_info_ = False, None
        n_inliers = int(np.count_nonzero(np.abs(R[~missing]) <= delta))
        dof = self.rank_ * (A.shape[0] + A.shape[1] - self.rank_)
        if self.debias and self.rank_ > 0 and dof > 0.5 * n_inliers:
            # a rank-r refit with r(m+n−r) parameters on fewer than twice as many inliers
            # would interpolate them (typically: γ too large for the noise, spurious rank)
            self.debias_info_ = {"skipped": f"rank {self.rank_} has {dof} parameters for "
                                            f"{n_inliers} inliers (more than half)"}
            warnings.warn(f"RobustPCA: debiasing refit skipped: {self.debias_info_['skipped']};"
                          f" the certified (shrunk) solution is reported (a rank this large "
                          f"for the data: typically gamma too large for the noise level).",
                          UserWarning, stacklevel=2)
        elif self.debias and self.rank_ > 0:
            try:
                U, V, info = _debias(Y0, observed, self.U_, self.V_, delta,
                                     self.lam_ / weight, stat_tol=1e-3 if auto else 0.0)
            except np.linalg.LinAlgError as exc:  # keep the certified solution, say why
                self.debias_info_ = {"failed": str(exc)}
            else:
                outliers = info.pop("outlier_mask")
                # the refit must fit the data at least as well as the shrunk certified solution
                # under the model's own (Huber) loss; a refit started from a poor certified L
                # (λ far too large) can misclassify inliers and drift away: keep the certified
                loss = HuberLoss(Y0[observed], delta)
                fit_certified = loss.value((self.U_ @ self.V_.T)[observed])
                fit_refit = loss.value((U @ V.T)[observed])
                info.update(huber_certified=fit_certified, huber_refit=fit_refit)
                if not fit_refit <= fit_certified:
                    info["rejected"] = (f"the refit's Huber loss {fit_refit:.6g} exceeds the "
                                        f"certified solution's {fit_certified:.6g}")
                    self.debias_info_ = info
                    warnings.warn(f"RobustPCA: debiasing refit rejected: {info['rejected']}; "
                                  f"the certified (shrunk) solution is reported.", UserWarning,
                                  stacklevel=2)
                else:
                    self.U_, self.V_, self.debias_info_ = U, V, info
                    self.debiased_ = True
                    self.sparse_ = np.where(outliers, Y0 - U @ V.T, 0.0)
        self.n_features_in_ = A.shape[1]
        return self

    def _problem(self, A, obs, delta: float, weight: float):
        if obs is not None:
            return completion_problem(obs, self.lam_, loss="huber", delta=delta, weight=weight)
        return low_rank_problem(A, self.lam_, loss="huber", delta=delta, weight=weight)

    @property
    def low_rank_(self) -> np.ndarray:
        """The reported low-rank part ``U_ @ V_.T`` (debiased when ``debiased_``)."""
        check_is_fitted(self, "U_")
        return self.U_ @ self.V_.T

    @property
    def certified_low_rank_(self) -> np.ndarray:
        """The certified low-rank part ``certified_U_ @ certified_V_.T``."""
        check_is_fitted(self, "certified_U_")
        return self.certified_U_ @ self.certified_V_.T
