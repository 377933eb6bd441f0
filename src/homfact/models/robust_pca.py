"""Robust PCA: a low-rank part plus sparse gross errors, certified.

Split form (default)::

    min_{U,V,E} ‖E‖₁ + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂ + (γ/2)‖Y − UVᵀ − E‖²_F

Minimizing over ``E`` in closed form (``E = soft(Y − UVᵀ, 1/γ)``) leaves the Huber loss
``γ Σ h_{1/γ}(Y − UVᵀ)``, so the problem is the nuclear-norm problem with a Huber loss and is
certified exactly like the core models; the dual point additionally satisfies ``‖Λ‖_∞ ≤ 1``
(the ``E`` block's constraint).  ``loss="huber"`` uses ``Σ h_δ(Y − UVᵀ)`` with a free ``δ``
instead.  Missing entries (NaN) are allowed: the loss is then summed over observed entries.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..gauges import soft_threshold
from ..meta import grow
from ..problems import check_lam, completion_problem, low_rank_problem, observed_entries
from .low_rank import _FactorizationMixin

__all__ = ["RobustPCA"]


class RobustPCA(_FactorizationMixin, BaseEstimator):
    """Certified robust PCA ``Y ≈ U_ @ V_.T + sparse_``.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        Weight of the nuclear-norm term relative to ``‖E‖₁``; ``"auto"`` is ``√max(m, n)``, the
        principal-component-pursuit choice of Candès, Li, Ma & Wright (2011) written for this
        scaling (``‖L‖_* + λ_pcp‖E‖₁`` with ``λ_pcp = 1/√max(m, n)``, divided by ``λ_pcp``).
    gamma : float, default=100.0
        Weight ``γ`` of the quadratic (dense noise) term; residual entries larger than ``1/γ``
        are treated as gross errors.  Larger ``γ`` fits the noise-free model more tightly.
    loss : {"split", "huber"}, default="split"
        ``"huber"`` replaces the split by ``Σ h_δ(Y − UVᵀ)`` with threshold ``delta``.
    delta : float, default=1.0
        Huber threshold for ``loss="huber"``.
    init, rank, max_rank, tol, max_iter, time_limit, random_state, verbose
        As in :class:`homfact.LowRankApproximation`.
    continuation : bool, default=True
        Solve a sequence of problems with the Huber threshold shrinking geometrically from the
        data's scale to its target (warm starts); only the last one, the requested problem,
        is certified to ``tol`` and reported.  Without it, small thresholds converge slowly.

    Attributes
    ----------
    U_, V_ : factors of the low-rank part; ``low_rank_`` is ``U_ @ V_.T`` (computed on access).
    sparse_ : ndarray (m, n)
        Gross errors ``E`` (0 at missing entries).
    rank_, certificate_, history_, n_iter_, stop_reason_, lam_
        As in LowRankApproximation, for the final (requested) problem.
    continuation_ : list of dict
        Threshold, rank, status and outer iterations of each earlier continuation stage.
    """

    def __init__(self, lam="auto", *, gamma=100.0, loss="split", delta=1.0, init="zero",
                 rank=None, max_rank=None, tol=1e-6, max_iter=200, time_limit=None,
                 random_state=None, verbose=False, continuation=True):
        self.continuation = continuation
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
            if isinstance(val, bool) or not isinstance(val, numbers.Real):
                raise TypeError(f"{name} must be a real number, got {type(val).__name__}")
            if not np.isfinite(val) or val <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {val!r}")
        if self.loss not in ("split", "huber"):
            raise ValueError(f"loss must be 'split' or 'huber', got {self.loss!r}")
        saved, self.lam = self.lam, 1.0
        try:
            super()._check_params()
        finally:
            self.lam = saved

    def fit(self, Y, y=None):
        """Fit ``Y`` (ndarray; NaN marks a missing entry)."""
        self._check_params()
        try:
            A = np.asarray(Y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Y must be a numeric 2-D array: {exc}") from None
        if A.ndim != 2:
            raise ValueError(f"Y must be a 2-D array, got {A.ndim} dimension(s)")
        if np.any(np.isinf(A)):
            raise ValueError("Y contains infinite values (use NaN for missing entries)")
        self.lam_ = float(np.sqrt(max(A.shape))) if isinstance(self.lam, str) else float(self.lam)
        if self.loss == "split":
            weight, delta = float(self.gamma), 1.0 / float(self.gamma)
        else:
            weight, delta = 1.0, float(self.delta)
        missing = np.isnan(A)
        obs = observed_entries(A) if missing.any() else None
        rms = float(np.sqrt(np.nanmean(A * A)))
        factors = self._initial_factors(A.shape, rms)
        # Continuation: with a small threshold δ the low-rank block moves by at most δ per
        # sweep, so the problem is solved first for a large δ (the residual's scale) and δ is
        # shrunk geometrically to its target with warm starts; only the last stage, the
        # requested problem, is certified to `tol` (earlier stages to 1e-3).
        scale = float(np.nanstd(A)) or 1.0
        deltas = [delta]
        if self.continuation and scale > delta:
            deltas = list(np.geomspace(scale, delta, max(2, int(np.ceil(np.log10(scale / delta)
                                                                          * 3)) + 1)))
        self.continuation_ = []
        start = time.perf_counter()
        for k, d in enumerate(deltas):
            final = k == len(deltas) - 1
            w = weight if self.loss == "huber" else 1.0 / d
            problem = self._problem(A, obs, d, w)
            if final:
                budget = self.time_limit
                if budget is not None:
                    budget = max(budget - (time.perf_counter() - start), 1e-3)
                self._run(problem, factors, "RobustPCA", time_limit=budget)
            else:
                left = None
                if self.time_limit is not None:  # the budget covers all stages together
                    left = max(self.time_limit - (time.perf_counter() - start), 1e-3)
                res = grow(problem, factors, tol=1e-3, max_rank=self.max_rank,
                           max_iter=self.max_iter, time_limit=left,
                           random_state=self.random_state)
                factors = res.factors
                self.continuation_.append({"delta": float(d), "rank": res.rank,
                                           "status": res.certificate.status,
                                           "n_iter": res.n_iter})
        R = np.where(missing, 0.0, A - self.U_ @ self.V_.T)
        self.sparse_ = soft_threshold(np.nan_to_num(R), delta)
        self.n_features_in_ = A.shape[1]
        return self

    def _problem(self, A, obs, delta: float, weight: float):
        if obs is not None:
            return completion_problem(obs, self.lam_, loss="huber", delta=delta, weight=weight)
        return low_rank_problem(A, self.lam_, loss="huber", delta=delta, weight=weight)

    @property
    def low_rank_(self) -> np.ndarray:
        """The low-rank part ``U_ @ V_.T``."""
        check_is_fitted(self, "U_")
        return self.U_ @ self.V_.T
