"""CP (CANDECOMP/PARAFAC) tensor factorization with rank growth and a polar-bracket certificate.

Solves, for a ``K``-way array ``Y`` (``K ≥ 3``, NaN = missing),

    min_X ½‖P_Ω(Y − [[X¹,…,Xᴷ]])‖² + λ Σᵢ Πₖ κₖ(xᵢᵏ),   κₖ ∈ {‖·‖₂, ‖·‖₁} (optionally ``≥ 0``),

whose convex counterpart is ``½‖P_Ω(Y − Z)‖² + λ‖Z‖_*`` with the projective (tensor nuclear)
norm for ℓ2 gauges.  The rank is grown from the polar ``Ω°(G)`` of the residual ``G`` (the
tensor spectral norm for ℓ2 gauges).  Computing it is NP-hard for ``K ≥ 3`` (Hillar & Lim
2013), so the certificate rests on a bracket: higher-order power iteration gives a lower
bound and the smallest spectral norm of the unfoldings a rigorous upper bound
(:class:`homfact.polar.TensorPolar`).

**Certificate status on noisy data.**  At the optimum every atom has ``⟨G, φ(xᵢ)⟩ = λ`` and
the noise part of ``G ×₁ uᵢ`` adds Frobenius mass of order ``σ√(Π_{j≠1} n_j)`` to the mode-1
unfolding, so ``‖G₍ₖ₎‖₂`` exceeds ``λ`` by roughly ``(σ²Π_{j≠k}n_j)/(2λ)``: with noise the
upper bound usually cannot certify, and the status is ``"unverified"`` (an honest bracket;
``stop_reason_ = "polar_inconclusive"``).  ``"global"`` is reported only when the rigorous
upper bound is within ``λ(1 + 1e-3)`` and the duality gap within ``tol`` — typically for exact
low-rank data or a large ``λ``.

**Choosing λ.**  The default ``lam="auto"`` is the noise rule ``λ = 1.8·σ̂·√(Σₖ nₖ)``
(class docstring).  ``λ_max = Ω°(P_Ω Y)`` gives the zero solution (:func:`cp_lam_max` returns
its bracket; use its ``lower`` end).  A component ``wᵢ aᵢ∘bᵢ∘cᵢ`` (unit vectors) is kept when
its weight ``wᵢ`` clearly exceeds ``λ``, and noise is left out when ``λ`` exceeds the noise's
tensor spectral norm, measured (HOPM) at about ``1.6·σ·√(Σₖ nₖ)`` for i.i.d. Gaussian noise
of standard deviation ``σ``.  Recommended: ``λ = 0.05·λ_max``; documented range
``0.02–0.3·λ_max`` for components of comparable weight and noise up to ~10 % (measured,
Gaussian factors: 100³ rank 10 at 1 % noise, 50×40×30 rank 5 at 1 and 5 %, 20×20×20×10
rank 4 at 1 %, 40×35×30 rank 5 at 1 and 10 %: true rank and FMS ≥ 0.999 at 0.05, 0.1 and
0.3 for every seed tried).  With a spread of weights stay below the smallest weight
to keep (weights spanning 5×: ``≤ 0.1·λ_max``).  Strongly correlated components (pairwise
factor cosines ≈ 0.8) can yield an extra mixture atom or a merged one: check the rank against
a couple of ``λ`` values.  After the fit, negligible slices and an outlying small slice
are removed when that does not raise the objective (``rank_rtol``).

**Speed (all-ℓ2 gauges).**  The polar is :class:`CPGrowthPolar`: while the HOSVD-start HOPM
value clearly exceeds ``λ`` it skips the restarts and returns one atom per component found by
deflation (mirroring grow's exact line search), so a noisy low-rank tensor typically gets its
whole rank from the first polar call; the careful multistart bracket runs only once the lower
end is near ``λ``.  Local descent runs to ``1e-2·tol`` from the start (CP-ALS sweeps are cheap
next to a polar bracket), so the fit usually takes two outer iterations.

**Debiasing refit.**  The penalty shrinks every weight by about ``λ``.  With ``refit=True`` an
unregularized CP-ALS (:func:`homfact.solvers.cp_als.cp_refit`, TensorLy's stopping rule)
starts from the certified factors at the selected rank.  As in every homfact estimator (the
README's naming rule), the reported factors ``factors_``/``weights_`` are the debiased refit
when it ran (``debiased_``), and the certified (regularized) solution stays as
``certified_factors_``/``certified_weights_``, which ``certificate_`` describes.
:meth:`to_tensor` and :meth:`to_tensorly` return the reported factors by default
(``which="refit"``), the certified ones with ``which="certified"``.  The former names
``refit_factors_``, ``refit_weights_`` and ``refit_info_`` still work for one release, with a
``FutureWarning``.
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
from ..meta import certify_factors, grow
from ..metrics import factor_match_score
from ..polar import CPGrowthPolar
from ..problems import check_fit_params, check_lam, check_tensor, cp_factors, cp_problem
from ..solvers.cp_als import cp_refit

__all__ = ["CPGrowthPolar", "CPTensorFactorization", "cp_lam_max", "factor_match_score"]

#: ``c`` of the automatic ``λ = c·σ̂·√(Σₖ nₖ)`` (noise rule, see CPTensorFactorization)
AUTO_LAM_FACTOR = 1.8
#: ``λ/λ_max`` of ``lam="auto"`` where the noise rule does not apply (missing entries, ℓ1)
FALLBACK_LAM_RATIO = 0.05
#: floor of the automatic ``λ`` relative to ``‖Y‖_F`` (noise-free data)
AUTO_LAM_FLOOR = 1e-8


#: order of certificate statuses (a pruning step never makes it worse)
_STATUS_RANK = {"global": 2, "unverified": 1, "not_optimal": 0}



def _parse_per_mode(value, K: int, name: str, allowed: tuple) -> list:
    if isinstance(value, str | bool | np.bool_):
        vals = [value] * K
    else:
        try:
            vals = list(value)
        except TypeError:
            raise ValueError(f"{name} must be one of {allowed} or a sequence of {K} of them, "
                             f"got {value!r}") from None
    if len(vals) != K:
        raise ValueError(f"{name} needs one entry per mode ({K}), got {len(vals)}")
    for v in vals:
        if not any(v is a or (type(v) is type(a) and v == a) for a in allowed):
            raise ValueError(f"{name} entries must be one of {allowed}, got {v!r}")
    return vals


class CPTensorFactorization(BaseEstimator):
    """CP tensor factorization ``Y ≈ Σᵢ xᵢ¹∘…∘xᵢᴷ`` with rank growth and a polar certificate.

    Solves ``min ½‖P_Ω(Y − [[X¹,…,Xᴷ]])‖² + λ Σᵢ Πₖ κₖ(xᵢᵏ)`` (module docstring: the model,
    how to choose ``λ``, why the status is usually ``"unverified"`` on noisy data, the refit).

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ > 0``.  ``λ >= cp_lam_max(Y).upper`` gives the zero solution; ``0.05·λ_max``
        (range ``0.02–0.3·λ_max``, module docstring) recovers the rank of noisy low-rank
        tensors with comparable weights.  ``"auto"`` (with ``lam_ratio=None``) is the noise
        rule ``λ = 1.8·σ̂·√(Σₖ nₖ)`` (floored at ``10⁻⁸‖Y‖_F``): ``σ̂`` is the Gavish–Donoho
        estimate on the largest unfolding (:func:`tensor_noise_level`, stored in
        ``noise_level_``), and ``σ√(Σₖ nₖ)`` is the scale of the spectral norm (the polar of
        all-ℓ2 gauges) of an i.i.d. ``N(0, σ²)`` tensor: Tomioka & Suzuki, "Spectral norm of
        random tensors" (2014), bound it by ``σ√(8(Σₖ nₖ)·log(2K/log(3/2)) + …)`` w.h.p.; the
        HOPM maximizer the growth uses measured ``1.52–1.66·σ√(Σₖ nₖ)`` on 25 pure-noise
        tensors (3- and 4-way, sides 8–60).  A ``λ`` above the polar of the noise keeps every
        noise direction out; ``1.8`` (≈10 % above the largest measured value) grew rank 0 on
        36 pure-noise tensors as small as 6×6×6×6 (``1.4`` did not) and the true rank on
        seeds 0–9 of ``benchmarks/robust_cp.py``.  The rule needs a fully observed tensor
        (largest unfolding with 2 columns or more) and ℓ2 gauges (non-negativity allowed: its
        polar is at most the ℓ2 one); otherwise
        ``"auto"`` falls back to ``0.05·λ_max`` (the former default; ``lam_rule_`` says which
        rule ran).  ``λ_max`` is the attained (lower) end of ``cp_lam_max(Y, quick=True)``
        for the model's gauges (HOPM from the HOSVD start).
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
        After the fit, slices with weight ``< rank_rtol·max weight`` are removed, the rest is
        polished by local descent and certified again (the pruned factors are kept unless their
        status is worse than the original one's).  Then, while the smallest slice weighs less
        than half the next one, removing it is tried and kept only if the polished objective
        does not increase (this removes mixture atoms grown early when components are
        correlated).  ``0`` disables both steps.
    refit : bool, default=True
        Run the debiasing refit (unregularized CP-ALS at the selected rank).
    refit_max_iter : int, default=100
    refit_tol : float, default=1e-8
        Stop the refit when the relative error changes by less than this between sweeps.
    random_state : int, Generator or None
    verbose : bool, default=False

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
        Whether ``factors_`` hold the refit.
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
                 time_limit=None, rank_rtol=1e-2, refit=True, refit_max_iter=100,
                 refit_tol=1e-8, random_state=None, verbose=False):
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
        self.refit = refit
        self.refit_max_iter = refit_max_iter
        self.refit_tol = refit_tol
        self.random_state = random_state
        self.verbose = verbose

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
        if not isinstance(self.refit, bool | np.bool_):
            raise ValueError(f"refit must be a bool, got {self.refit!r}")

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
                rank = 10 if self.rank is None else self.rank
                if isinstance(rank, bool) or not (isinstance(rank, numbers.Integral)
                                                  and rank >= 1):
                    raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
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

    # -- fitting --------------------------------------------------------------------------
    def fit(self, Y, y=None):
        """Fit to the ``K``-way array ``Y`` (``K >= 3``; NaN marks a missing entry)."""
        self._check_params()
        A = check_tensor(Y, "Y")
        K = A.ndim
        gauges, nonneg = self._gauges(K)
        lam = self.lam
        fast = all(g == "l2" for g in _parse_per_mode(self.gauge, K, "gauge", ("l2", "l1"))) \
            and not any(nonneg)
        polar = None
        self.noise_level_ = None
        self.lam_rule_ = "given"
        all_l2 = all(type(g) is L2 for g in gauges)
        if isinstance(lam, str) and self.lam_ratio is None and all_l2 \
                and not np.isnan(A).any() and A.size >= 2 * max(A.shape):  # the noise rule
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
        # Local descent runs to grow's final polishing tolerance (1e-2·tol) from the start: a
        # CP-ALS sweep costs far less than a polar bracket, and a loosely descended point
        # makes the polar rediscover unconverged atoms (one more outer iteration each time).
        with progress(bool(self.verbose), "CPTensorFactorization") as callback:
            res = grow(problem, X0, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=self.time_limit,
                       random_state=self.random_state, callback=callback,
                       initial_inner_tol=1e-2 * self.tol)
        X, cert = res.factors, res.certificate
        if self.rank_rtol > 0 and X[0].shape[1]:
            X, cert = self._prune_small(problem, X, cert)
        X = self._sorted(X)
        self.shape_ = A.shape
        self.certified_factors_ = self.factors_ = X
        self.certified_weights_ = self.weights_ = self._weights(X)
        self.rank_ = int(X[0].shape[1])
        self.certificate_ = cert
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        self.gauges_ = tuple(problem.gauges)
        if self.refit and self.rank_ > 0:
            keep_zeros = tuple(type(g) is L1 for g in gauges)
            Xr, info = cp_refit(np.where(observed, A, 0.0), X,
                                mask=None if observed.all() else observed,
                                nonnegative=tuple(nonneg), keep_zeros=keep_zeros,
                                max_iter=self.refit_max_iter, tol=self.refit_tol)
            self.factors_, self.weights_ = Xr, self._weights(Xr)
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

    def _prune_small(self, problem, X, cert):
        """Remove negligible slices, then try dropping an outlying smallest slice.

        1. Slices with ``θᵢ < rank_rtol·max θ`` are removed and the rest polished.
        2. While the smallest slice is below half the next smallest (an outlier, e.g. a mixture
           atom grown early when components are correlated: the objective is then nearly flat
           between that representation and one without it), it is removed and the rest
           polished; the result is kept only if its objective is not larger.
        A candidate is also rejected when its certificate status is worse than the current one.
        """
        rng = np.random.default_rng(self.random_state)
        theta = problem.slice_penalties(X)
        small = theta < self.rank_rtol * theta.max(initial=0.0)
        if np.any(small):
            X2 = [F[:, ~small] for F in X]
            X2, _ = problem.descend(X2, tol=1e-6, max_sweeps=200, deadline=np.inf)
            X2 = problem.prune(X2)
            cert2, *_ = certify_factors(problem, X2, tol=self.tol, rng=rng)
            if _STATUS_RANK[cert2.status] >= _STATUS_RANK[cert.status]:
                X, cert = X2, cert2
        while X[0].shape[1] >= 3:
            theta = problem.slice_penalties(X)
            order = np.argsort(theta)
            if theta[order[0]] >= 0.5 * theta[order[1]]:
                break
            X2 = [F[:, order[1:]] for F in X]
            X2, _ = problem.descend(X2, tol=1e-10, max_sweeps=300, deadline=np.inf)
            X2 = problem.prune(X2)
            if problem.objective(X2) > cert.objective:
                break
            cert2, *_ = certify_factors(problem, X2, tol=self.tol, rng=rng)
            if _STATUS_RANK[cert2.status] < _STATUS_RANK[cert.status]:
                break
            X, cert = X2, cert2
        return X, cert

    @staticmethod
    def _weights(X: list[np.ndarray]) -> np.ndarray:
        return np.prod([np.linalg.norm(F, axis=0) for F in X], axis=0)

    def _sorted(self, X: list[np.ndarray]) -> list[np.ndarray]:
        order = np.argsort(-self._weights(X), kind="stable")
        return [F[:, order] for F in X]

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
        w = self._weights(X)
        unit = []
        for F in X:
            n = np.linalg.norm(F, axis=0)
            unit.append(F / np.where(n > 0, n, 1.0))
        return CPTensor((w, unit))
