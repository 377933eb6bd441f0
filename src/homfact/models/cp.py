"""CP (CANDECOMP/PARAFAC) tensor factorization with rank growth and a polar-bracket certificate.

Solves ``min_X ½‖P_Ω(Y − [[X¹,…,Xᴷ]])‖² + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` for a ``K``-way array ``Y``
(``K ≥ 3``, NaN = missing; ``κₖ`` ℓ2 or ℓ1, optionally ``≥ 0``), growing the rank from the
polar of the residual, then debiases by an unregularized refit.  The convex counterpart, why
the status is usually ``"unverified"`` on noisy data, choosing ``λ``, the growth polar, the
slice pruning and the refit: docs: models/cp.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._progress import progress
from ..gauges import L1, L2, Gauge
from ..lam_rules import cp_lam_max, tensor_noise_level
from ..maps import CPMap
from ..meta import grow
from ..metrics import factor_match_score
from ..polar import CPGrowthPolar
from ..problems import check_fit_params, check_lam, check_tensor, cp_factors, cp_problem
from ..solvers.cp_als import cp_refit
from ..solvers.cp_prune import cp_weights, prune_small_slices, sorted_by_weight
from ..validation import DEPRECATED, _is_given, _parse_per_mode, _renamed_params, random_init_rank

# the slice pruning and ordering live in homfact.solvers.cp_prune, the per-mode parser in
# homfact.validation; the names this module used to define stay importable from here.
__all__ = ["CPGrowthPolar", "CPTensorFactorization", "cp_lam_max", "factor_match_score"]

#: ``c`` of the automatic ``λ = c·σ̂·√(Σₖ nₖ)`` (noise rule, see CPTensorFactorization)
AUTO_LAM_FACTOR = 1.8
#: ``λ/λ_max`` of ``lam="auto"`` where the noise rule does not apply (missing entries, ℓ1)
FALLBACK_LAM_RATIO = 0.05
#: floor of the automatic ``λ`` relative to ``‖Y‖_F`` (noise-free data)
AUTO_LAM_FLOOR = 1e-8


class CPTensorFactorization(BaseEstimator):
    """CP tensor factorization ``Y ≈ Σᵢ xᵢ¹∘…∘xᵢᴷ`` with rank growth and a polar certificate.

    Solves ``min ½‖P_Ω(Y − [[X¹,…,Xᴷ]])‖² + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` (docs: models/cp: the model,
    how to choose ``λ``, why the status is usually ``"unverified"`` on noisy data, the refit).

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ > 0``.  ``λ >= cp_lam_max(Y).upper`` gives the zero solution; ``0.05·λ_max``
        (range ``0.02–0.3·λ_max``) recovers the rank of noisy low-rank tensors with comparable
        weights.  ``"auto"`` (with ``lam_ratio=None``) is the noise rule
        ``λ = 1.8·σ̂·√(Σₖ nₖ)`` (floored at ``10⁻⁸‖Y‖_F``; ``σ̂`` of
        :func:`tensor_noise_level`, stored in ``noise_level_``; the scale of the spectral norm
        of i.i.d. noise, Tomioka & Suzuki 2014; the factor's measurements: docs: models/cp).
        It needs a fully observed tensor and ℓ2 gauges (non-negativity allowed); otherwise
        ``"auto"`` falls back to ``0.05·λ_max``, ``λ_max`` the attained (lower) end of
        ``cp_lam_max(Y, quick=True)`` (``lam_rule_`` says which rule ran).
    lam_ratio : float in (0, 1] or None, default=None
        When given (with ``lam="auto"``), ``λ = lam_ratio·λ_max`` instead of the noise rule
        (the behaviour before the noise rule, whose default ratio was ``0.05``).  An error
        with a numeric ``lam``.
    gauge : {"l2", "l1"} or a sequence with one per mode, default="l2"
        Column norm per mode (ℓ1 gives sparse factors).  All-ℓ2 uses majorize–minimize
        CP-ALS for local descent (:mod:`homfact.solvers.cp_als`), any ℓ1 mode block
        prox-linear descent.
    nonnegative : bool or a sequence of bools (one per mode), default=False
        Constrain that mode's factor to be ``>= 0`` (MM CP-ALS with HALS passes on those modes;
        block prox-linear descent when entries are missing).
    init : {"zero", "random"}, a list of K factor matrices, a (weights, factors) pair or a
        tensorly CPTensor, default="zero"
        Starting factors (rank 0, ``rank`` random columns, or given ones; weights are folded in).
    rank : int, optional
        Number of columns of a random start (default 10).
    max_rank : int, optional
        Cap on the rank; the certificate stays honest when it binds.
    tol : float, default=1e-6
        Relative duality gap required for ``"global"``.
    max_iter : int, default=200
        Outer iterations (one polar bracket and certificate each).
    time_limit : float, optional
        Wall-clock budget in seconds for the certified fit (the refit is not counted).
    rank_rtol : float, default=1e-2
        After the fit, slices with weight ``< rank_rtol·max weight`` are removed, then an
        outlying smallest slice (below half the next one) is tried; each removal is kept only
        if it raises neither the objective nor the certificate status
        (:func:`homfact.solvers.cp_prune.prune_small_slices`).  ``0`` disables both steps.
    debias : bool, default=True
        Run the debiasing refit (unregularized CP-ALS at the selected rank) and report its
        factors as ``factors_``.
    refit_max_iter : int, default=100
        Cap on the refit's CP-ALS sweeps.
    refit_tol : float, default=1e-8
        Stop the refit when the relative error changes by less than this between sweeps.
    random_state : int, Generator or None
    verbose : bool, default=False
    refit : deprecated
        Former name of ``debias`` (the README's naming rule), kept for one release: when set,
        it is used instead of ``debias``, with a ``FutureWarning``.

    Attributes
    ----------
    factors_ : list of K ndarrays of shape (n_k, rank_)
        The reported factors: the debiasing refit when ``debiased_`` (column ``i`` is the
        refit of column ``i`` of ``certified_factors_``, same order), else the certified ones.
    weights_ : ndarray of shape (rank_,)
        ``Πₖ‖xᵢᵏ‖₂``, the Frobenius norm of each rank-one term of ``factors_``.
    certified_factors_, certified_weights_ : the certified (regularized) solution, balanced
        (every mode's column has the same ℓ2 norm ``weightᵢ^{1/K}`` for ℓ2 gauges) and sorted
        by decreasing weight; ``certificate_`` describes these.
    debiased_ : bool
        Whether ``factors_`` hold the refit (``debias`` and ``rank_ > 0``).
    debias_info_ : dict or None
        ``n_iter``, ``rel_error`` and ``errors`` of the refit (``None`` without it).
    rank_ : int
    lam_ : float
        The ``λ`` used.
    lam_rule_ : str
        ``"noise"`` (noise rule), ``"ratio"`` (``lam_ratio`` or the fallback ratio ``0.05``
        times ``λ_max``) or ``"given"`` (numeric ``lam``).
    noise_level_ : float or None
        ``σ̂`` of the noise rule, else ``None``.
    certificate_ : homfact.Certificate
        Objective, lower bound, gap, polar bracket and status of ``certified_factors_``.
    history_ : list of dict
    n_iter_, stop_reason_, shape_
    refit_factors_, refit_weights_, refit_info_ : deprecated names (``FutureWarning``) of the
        refit (``factors_``/``weights_`` when ``debiased_``, else ``None``) and of
        ``debias_info_`` (``{}`` without a refit).
    """

    def __init__(self, lam="auto", *, lam_ratio=None, gauge="l2", nonnegative=False,
                 init="zero", rank=None, max_rank=None, tol=1e-6, max_iter=200,
                 time_limit=None, rank_rtol=1e-2, debias=True, refit_max_iter=100,
                 refit_tol=1e-8, random_state=None, verbose=False, refit=DEPRECATED):
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.gauge = gauge
        self.nonnegative = nonnegative
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.rank_rtol = rank_rtol
        self.debias = debias
        self.refit_max_iter = refit_max_iter
        self.refit_tol = refit_tol
        self.random_state = random_state
        self.verbose = verbose
        self.refit = refit

    # -- parameters -----------------------------------------------------------------------
    def _check_params(self) -> None:
        if isinstance(self.lam, str):
            if self.lam != "auto":
                raise ValueError(f"lam must be a number > 0 or 'auto', got {self.lam!r}")
        elif self.lam_ratio is not None:
            raise ValueError(f"lam_ratio={self.lam_ratio!r} applies only with lam='auto'; got "
                             f"lam={self.lam!r} (pass one of them)")
        if self.lam_ratio is not None and (isinstance(self.lam_ratio, bool) or not (
                isinstance(self.lam_ratio, numbers.Real) and 0 < self.lam_ratio <= 1)):
            raise ValueError(f"lam_ratio must be None or a number in (0, 1], got "
                             f"{self.lam_ratio!r}")
        if not isinstance(self.lam, str) and check_lam(self.lam) == 0:
            raise ValueError("lam must be > 0 for CPTensorFactorization (lam = 0 is unregularized "
                             "CP, which has no rank-selecting optimum; use cp_refit at a fixed "
                             "rank instead)")
        check_fit_params(self, integers=("max_iter", "refit_max_iter"))
        if not (isinstance(self.rank_rtol, numbers.Real) and 0 <= self.rank_rtol < 1):
            raise ValueError(f"rank_rtol must be a number in [0, 1), got {self.rank_rtol!r}")
        if not (isinstance(self.refit_tol, numbers.Real) and self.refit_tol >= 0):
            raise ValueError(f"refit_tol must be a number >= 0, got {self.refit_tol!r}")
        for name in ("debias", "refit") if _is_given(self.refit) else ("debias",):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def _gauges(self, K: int) -> tuple[list[Gauge], list[bool]]:
        names = _parse_per_mode(self.gauge, K, "gauge", ("l2", "l1"))
        nonneg = _parse_per_mode(self.nonnegative, K, "nonnegative", (True, False))
        gauges = [L2() if g == "l2" else L1() for g in names]
        return gauges, [bool(v) for v in nonneg]

    def _initial_factors(self, shape: tuple[int, ...], nonneg: list[bool], scale: float):
        init = self.init
        if isinstance(init, str):
            if init == "zero":
                return None
            if init == "random":
                rank = random_init_rank(self.rank)
                rng = np.random.default_rng(self.random_state)
                s = (max(scale, 1e-12) / np.sqrt(rank)) ** (1.0 / len(shape))
                # columns of norm ≈ s, so each rank-one term has norm ≈ ‖Y‖/√rank
                fs = [s * rng.standard_normal((n, rank)) / np.sqrt(n) for n in shape]
                return [np.abs(F) if nn else F for F, nn in zip(fs, nonneg, strict=True)]
            raise ValueError(f"init must be 'zero', 'random', a list of factor matrices or a "
                             f"CPTensor, got {init!r}")
        fs = cp_factors(init, shape, name="init")
        for k, (F, nn) in enumerate(zip(fs, nonneg, strict=True)):
            if nn and np.any(F < 0):
                raise ValueError(f"init[{k}] has negative entries but mode {k} is nonnegative")
        return fs

    def _select_lam(self, A: np.ndarray, gauges: list[Gauge], nonneg: list[bool],
                    fast: bool) -> tuple[float, CPGrowthPolar | None]:
        """``λ`` from ``lam``/``lam_ratio`` (rules: ``lam`` above) and the growth polar when
        the ratio rule already built it; sets ``noise_level_`` and ``lam_rule_``."""
        lam, polar = self.lam, None
        self.noise_level_ = None
        self.lam_rule_ = "given"
        if isinstance(lam, str) and self.lam_ratio is None and all(
                type(g) is L2 for g in gauges) and not np.isnan(A).any() \
                and A.size >= 2 * max(A.shape):  # the noise rule
            self.noise_level_ = tensor_noise_level(A)
            lam = max(AUTO_LAM_FACTOR * self.noise_level_ * math.sqrt(sum(A.shape)),
                      AUTO_LAM_FLOOR * float(np.linalg.norm(A)))
            if not lam > 0:
                raise ValueError("Y is zero: nothing to fit")
            self.lam_rule_ = "noise"
        elif isinstance(lam, str):  # a fraction of the attained lam_max
            ratio = FALLBACK_LAM_RATIO if self.lam_ratio is None else float(self.lam_ratio)
            self.lam_rule_ = "ratio"
            if fast and not np.isnan(A).any():  # HOSVD-start HOPM value (cached for grow)
                polar = CPGrowthPolar(tuple(gauges), math.inf)
                top = polar.quick(A).lower
            else:
                top = cp_lam_max(A, gauges=gauges, nonnegative=nonneg,
                                 random_state=self.random_state, quick=True).lower
            if not top > 0:
                raise ValueError("Y is zero on its observed entries: nothing to fit")
            lam = ratio * top
        return lam, polar

    # -- fitting --------------------------------------------------------------------------
    def fit(self, Y, y=None):
        """Fit to the ``K``-way array ``Y`` (``K >= 3``; NaN marks a missing entry)."""
        self._check_params()
        new = _renamed_params(self, {"refit": "debias"})
        A = check_tensor(Y, "Y")
        K = A.ndim
        gauges, nonneg = self._gauges(K)
        fast = all(g == "l2" for g in _parse_per_mode(self.gauge, K, "gauge", ("l2", "l1"))) \
            and not any(nonneg)
        lam, polar = self._select_lam(A, gauges, nonneg, fast)
        self.lam_ = float(lam)
        problem = cp_problem(A, lam, gauges=gauges, nonnegative=nonneg)
        if fast:
            if polar is None:
                polar = CPGrowthPolar(problem.gauges, lam)
            polar.lam = float(lam)
            problem.polar = polar
        observed = ~np.isnan(A)
        rms = float(np.sqrt(np.mean(A[observed] ** 2)))
        X0 = self._initial_factors(A.shape, nonneg, rms * np.sqrt(A.size))
        # Local descent runs to grow's final polishing tolerance (1e-2·tol) from the start
        # (docs: models/cp, 'Speed').
        with progress(bool(self.verbose), "CPTensorFactorization") as callback:
            res = grow(problem, X0, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=self.time_limit,
                       random_state=self.random_state, callback=callback,
                       initial_inner_tol=1e-2 * self.tol)
        X, cert = res.factors, res.certificate
        if self.rank_rtol > 0 and X[0].shape[1]:
            X, cert = prune_small_slices(problem, X, cert, rank_rtol=self.rank_rtol,
                                         tol=self.tol, random_state=self.random_state)
        X = sorted_by_weight(X)
        self.shape_ = A.shape
        self.certified_factors_ = self.factors_ = X
        self.certified_weights_ = self.weights_ = cp_weights(X)
        self.rank_ = int(X[0].shape[1])
        self.certificate_ = cert
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        self.gauges_ = tuple(problem.gauges)
        if new["debias"] and self.rank_ > 0:
            keep_zeros = tuple(type(g) is L1 for g in gauges)
            Xr, info = cp_refit(np.where(observed, A, 0.0), X,
                                mask=None if observed.all() else observed,
                                nonnegative=tuple(nonneg), keep_zeros=keep_zeros,
                                max_iter=self.refit_max_iter, tol=self.refit_tol)
            self.factors_, self.weights_ = Xr, cp_weights(Xr)
            self.debiased_, self.debias_info_ = True, info
        else:
            self.debiased_, self.debias_info_ = False, None
        return self

    def _deprecated(self, old: str, new: str):
        check_is_fitted(self, "certified_factors_")
        warnings.warn(f"CPTensorFactorization.{old} is deprecated and will be removed in the "
                      f"next release; use {new} (the README's naming rule)", FutureWarning,
                      stacklevel=3)

    @property
    def refit_factors_(self):
        """Deprecated: ``factors_`` when ``debiased_``, else ``None``."""
        self._deprecated("refit_factors_", "factors_ (with debiased_)")
        return self.factors_ if self.debiased_ else None

    @property
    def refit_weights_(self):
        """Deprecated: ``weights_`` when ``debiased_``, else ``None``."""
        self._deprecated("refit_weights_", "weights_ (with debiased_)")
        return self.weights_ if self.debiased_ else None

    @property
    def refit_info_(self):
        """Deprecated: ``debias_info_`` (``{}`` without a refit)."""
        self._deprecated("refit_info_", "debias_info_")
        return self.debias_info_ or {}

    # -- outputs --------------------------------------------------------------------------
    def _pick(self, which: str) -> list[np.ndarray]:
        check_is_fitted(self, "factors_")
        if which not in ("refit", "certified"):
            raise ValueError(f"which must be 'refit' or 'certified', got {which!r}")
        return self.factors_ if which == "refit" else self.certified_factors_

    def to_tensor(self, which: str = "refit") -> np.ndarray:
        """The dense model tensor ``[[X¹,…,Xᴷ]]`` (debiased factors by default when available)."""
        X = self._pick(which)
        return CPMap(self.shape_).forward(X)

    def to_tensorly(self, which: str = "refit"):
        """A ``tensorly.cp_tensor.CPTensor`` ``(weights, unit-norm factors)`` (needs tensorly)."""
        try:
            from tensorly.cp_tensor import CPTensor
        except ImportError as exc:  # pragma: no cover - tensorly is an optional dependency
            raise ImportError("to_tensorly needs the optional dependency tensorly") from exc
        X = self._pick(which)
        w = cp_weights(X)
        unit = []
        for F in X:
            n = np.linalg.norm(F, axis=0)
            unit.append(F / np.where(n > 0, n, 1.0))
        return CPTensor((w, unit))
