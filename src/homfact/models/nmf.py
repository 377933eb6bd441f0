"""Non-negative matrix factorization whose rank is chosen by a regularizer, with a certificate.

The certified problem (docs: theory/families, 'Non-negative atoms (NMF)')::

    min_{U ≥ 0, V ≥ 0}  ½‖Y − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂

is grown from rank 0 by :func:`homfact.meta.grow`: local descent is HALS (sum form, exact column
block minimization), and new columns come from the polar
``Ω°(G) = max_{u,v ≥ 0, ‖u‖=‖v‖=1} uᵀGv`` of the residual ``G = Y − UVᵀ``, which is NP-hard in
general and is therefore bracketed (:class:`NonnegativePolar`):

* lower bound: the exact value ``uᵀGv`` of the best feasible pair found by alternating
  maximization ``v ← (Gᵀu)₊/‖·‖``, ``u ← (Gv)₊/‖·‖`` from several starts;
* upper bound: ``min(‖max(G, 0)‖₂, ‖G‖₂)``.  Both are valid: for ``u, v ≥ 0`` of unit norm,
  ``uᵀGv ≤ uᵀG₊v ≤ ‖G₊‖₂`` and ``uᵀGv ≤ ‖G‖₂``.  How rigorously the spectral norms are
  computed depends on the size: up to ``DENSE_SVD_MAX_ENTRIES`` entries a Gram eigenproblem
  with an explicit roundoff (and underflow) allowance, i.e. rigorous; above it ARPACK with its
  residual added (:func:`homfact.polar.spectral_norm`), which is exact *to tolerance* — it
  bounds the singular value ARPACK converged to, and ARPACK missing the top one is not ruled
  out in the worst case.  ``certificate_.method`` names the bound used.

A ``"global"`` status is reported only when that upper bound is ``≤ λ(1+ε)`` and the duality gap
is below ``tol``.  On real data such as MNIST the upper bound usually stays well above ``λ``, and
the honest status of the certified factors is ``"unverified"`` (no atom above ``λ`` was found,
but none could be ruled out).

Regularization shrinks the factors, so by default the estimator then runs a *debiasing refit*
(as R softImpute's ``deBias``): plain NMF ``min_{W,H ≥ 0} ½‖Y − WH‖²_F`` at the selected rank by
unregularized HALS started from the certified factors (with the default pruning, on data with
zeros, the censored-noise version of it: see ``NonnegativeFactorization``'s ``prune``).  The refit
factors are the default fitted factors (``components_``, ``transform``); the certified ones
stay available apart, in ``certified_W_`` and ``certified_components_``, and ``certificate_``
describes *those*.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._blas_limit import _SINGLE_THREAD_MAX_ENTRIES as _SINGLE_THREAD_MAX_ENTRIES
from .._blas_limit import _blas_limit
from .._progress import progress
from ..gauges import L2, NonNegative
from ..lam_rules import _count_above
from ..losses import SquaredLoss
from ..maps import Bilinear
from ..meta import Problem, certify_factors, grow
from ..noise import estimate_noise_level, noise_spectral_norm
from ..polar.nonnegative import NonnegativePolar, _sigma_max
from ..problems import check_fit_params, check_lam_or_auto
from ..solvers.hals import hals
from ..solvers.nmf_merge import _merge_into_partner as _merge_into_partner
from ..solvers.nmf_merge import _merge_rise as _merge_rise
from ..solvers.nmf_merge import _merged_pair as _merged_pair
from ..solvers.nmf_merge import _term_cosines as _term_cosines
from ..solvers.nmf_merge import merge_parallel_columns
from ..solvers.nmf_prune import _CENSORED_WARMUP as _CENSORED_WARMUP
from ..solvers.nmf_prune import _PRUNE_START_SWEEPS, prune_components
from ..solvers.nmf_prune import _PRUNE_SWEEPS as _PRUNE_SWEEPS
from ..solvers.nmf_prune import _REFINE_BAND as _REFINE_BAND
from ..solvers.nmf_prune import _REFINE_ROUNDS as _REFINE_ROUNDS
from ..solvers.nmf_prune import _REFINE_SWEEPS as _REFINE_SWEEPS
from ..solvers.nmf_prune import _censored_data as _censored_data
from ..solvers.nnls import _nnls_from_support as _nnls_from_support
from ..solvers.nnls import nnls_rows
from .low_rank import _check_real_matrix

#: ``c`` of the automatic ``λ = c·σ̂(√m + √n)`` (class docstring)
AUTO_LAM_FACTOR = 1.0
#: floor of the automatic ``λ`` relative to ``‖X‖_F`` (noise-free data)
AUTO_LAM_FLOOR = 1e-8
#: the noise rule is refused when more than this fraction of min(m, n) singular values lie
#: above the noise edge (the data are then not "low rank + i.i.d. noise")
AUTO_MAX_RANK_FRACTION = 0.25
#: ``λ/λ_max`` of the fallback (the former default)
FALLBACK_LAM_RATIO = 0.15


#: atoms offered per outer iteration of the growth at least (``NonnegativePolar.min_candidates``):
#: on MNIST at ``λ = 0.1·λ_max`` one atom per iteration in the tail made the growth 2x slower
_MIN_GROWTH_BLOCK = 4


__all__ = ["NonnegativeFactorization", "NonnegativePolar", "merge_parallel_columns", "nnls_rows",
           "nonnegative_lam_max"]


def nonnegative_lam_max(X) -> float:
    """``λ_max = Ω°(X) = max_{u,v ≥ 0} uᵀXv/(‖u‖‖v‖)`` for ``X ≥ 0``: the smallest ``λ`` with the
    zero solution.  For a non-negative matrix this is exactly ``‖X‖₂`` (Perron–Frobenius: the top
    singular pair can be taken non-negative), returned as the rigorous bound of
    :func:`_sigma_max` (the polar's upper bound at ``G = X``).  ``ValueError`` naming ``X`` when
    it has a negative, NaN or infinite entry (the rule holds for ``X ≥ 0`` only)."""
    _check_nonnegative_matrix(X)
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    return float(_sigma_max(X, 1e-5, np.random.default_rng(0))[2])


def _check_nonnegative_matrix(X, name: str = "X") -> None:
    """Errors naming the argument for NaN/inf, wrong dimension (:func:`_check_real_matrix`)
    and negative entries."""
    _check_real_matrix(X, name)
    if sp.issparse(X):
        data = X.data if isinstance(getattr(X, "data", None), np.ndarray) else X.tocoo().data
    elif isinstance(X, np.ndarray | list | tuple):
        data = np.asarray(X)
    else:
        return
    if data.dtype.kind in "fiub" and data.size and data.min() < 0:
        raise ValueError(f"Negative values in data passed to NonnegativeFactorization: "
                         f"{name} must be non-negative; its smallest entry is "
                         f"{data.min():g}")


class NonnegativeFactorization(TransformerMixin, BaseEstimator):
    """NMF ``X ≈ W H`` (``W, H ≥ 0``) whose rank is selected by ``λ`` and certified.

    Fitting has two parts (see the module docstring for the mathematics):

    1. *Certified regularized fit*: ``min_{U,V ≥ 0} ½‖X − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂`` grown
       from rank 0 by :func:`homfact.meta.grow` with HALS descent and the bracketed polar of
       :class:`NonnegativePolar` (lower bound by block alternating maximization, rigorous upper
       bound ``min(‖max(G,0)‖₂, ‖G‖₂)``).  The selected rank ``n_components_`` is the number of
       columns of the result (after merging parallel duplicate columns, which cost nothing
       in the objective, and re-certifying; :func:`merge_parallel_columns`).  Its factors are
       ``certified_W_ = U`` and ``certified_components_ = Vᵀ`` (columns balanced,
       ``‖uᵢ‖ = ‖vᵢ‖``), and ``certificate_``
       describes exactly these factors (objective, lower bound, gap, polar bracket, status).
       For speed the growth asks the polar for at least ``4`` candidate atoms per outer
       iteration (each is appended only if its exact line search lowers the objective), and on
       large matrices intermediate polars whose lower bound already exceeds ``λ(1+ε)`` skip
       the spectral-norm upper bound (``NonnegativePolar(lazy_upper=True)``); the final factors
       are then re-certified with the careful bracket.
    2. *Debiasing refit* (``debias=True``, default): the penalty shrinks every column, so at the
       selected rank the unregularized problem ``min_{W,H ≥ 0} ½‖X − WH‖²_F`` is solved by HALS
       started from the certified factors (at most ``refit_max_iter`` sweeps, until the relative
       decrease of the objective is ``≤ refit_tol``), then ``W`` is re-solved by NNLS for the
       final ``H`` (so ``fit_transform(X)`` and ``fit(X).transform(X)`` agree; the refit's
       ``W`` only guesses the supports, see :func:`nnls_rows`).  With pruning (the default
       with the noise rule) the refit is interleaved with the pruning, and on data with zeros
       it fits ``X`` with its zeros read as clipped noise (see ``prune``).

    **Default fitted factors**: ``components_`` (and hence ``transform``, ``inverse_transform``,
    ``reconstruction_err_``) are the *refit* factors when ``debias=True`` — the ones a user
    wants for reconstruction or as parts — and the certified factors when ``debias=False``.
    The certificate never describes the refit factors (they solve a different problem).

    Parameters
    ----------
    lam : float or "auto", default="auto"
        Regularization weight ``λ ≥ 0``; larger ``λ`` gives a smaller rank.  ``"auto"``
        (with ``lam_ratio=None``) is the noise rule ``λ = σ̂(√m + √n)`` (floored at
        ``10⁻⁸‖X‖_F``), ``σ̂`` the Gavish–Donoho noise estimate
        (:func:`homfact.noise.estimate_noise_level`, stored in ``noise_level_``).  Reason:
        for ``X = W₀H₀ + σE`` the gradient of the loss at the truth is the noise ``σE``, and
        no atom enters the solution while ``λ`` is at least the polar of the residual; the
        non-negative polar ``max_{u,v≥0} uᵀEv`` is at most the spectral norm ``‖σE‖₂``, which
        concentrates below ``σ(√m + √n)`` for i.i.d. Gaussian noise (Davidson & Szarek 2001;
        Vershynin 2012, Thm 5.32).  The factor ``1`` (no margin, unlike the ``1.1`` of
        :class:`~homfact.LowRankApproximation`: the non-negative polar of noise is well below
        its spectral norm) was chosen on seeds 0–9 of ``benchmarks/robust_nmf.py``.  The rule
        assumes i.i.d. noise and a rank well below ``min(m, n)/2`` (a high-rank ``X``
        inflates ``σ̂``: a larger ``λ`` and a smaller rank).  Guard: when more than a quarter
        (and at least 2) of the ``min(m, n)`` singular values of ``X`` exceed ``σ̂(√m + √n)``
        the data are not of that form (e.g. MNIST digits: ``σ̂`` then measures the tail of a
        slowly decaying spectrum, the rule gives ``λ ≈ 0.012·λ_max`` and a very large rank),
        and ``"auto"`` falls back to ``0.15·λ_max`` (the former default) with a
        ``UserWarning``; ``lam_rule_`` says which rule ran.
    lam_ratio : float in (0, 1] or None, default=None
        When given (with ``lam="auto"``), ``λ = lam_ratio·λ_max`` instead of the noise rule,
        with ``λ_max = ‖X‖₂`` (the polar of ``X``, the smallest ``λ`` giving rank 0; stored in
        ``lam_max_``): the behaviour before the noise rule, whose default was ``0.15``.  On
        the 5,000 MNIST digits ``0.15`` selects rank 15 and ``0.1`` rank 29 (see
        benchmarks/README.md, section 6).  Ignored (with an error) for a numeric ``lam``.
    debias : bool, default=True
        Run the debiasing refit and use its factors as ``components_``.
    prune : bool or "auto", default="auto"
        After the refit, drop components that the noise could explain (a backward selection,
        the hard-threshold counterpart of the ``λ`` rule): while the component whose removal
        (followed by a short HALS refit of the others) raises the residual sum of squares the
        least raises it by less than ``τ = (σ(√m + √n))²`` — the energy a best rank-one fit
        captures from pure noise, ``‖σE‖₂²`` — it is removed and the rest refit.  Needed
        because the regularized problem is convex in the product (an atomic norm) and its
        solution may hold more atoms than the non-negative rank of the signal: small mixture
        atoms that the unregularized refit then inflates.  Details (``_prune``): the trial
        refit without component ``i`` starts with ``i`` merged into its most parallel
        partner (split atoms become one again, :func:`_merge_into_partner`); a smallest rise
        in ``[τ, 4τ)`` is re-measured after more sweeps (a short refit overestimates it where
        the residual is flat); a merge whose exact rise, before any refit, is below ``τ``
        removes a component without a trial, and rises are evaluated lazily (about one trial
        per removal).
        *Clipped data*: zeros of ``X`` are read as censored noise (``X = max(X* + σE, 0)``,
        the way non-negative data with Gaussian noise arise): clipping biases the data up by
        up to ``σφ(0) ≈ 0.4σ`` where ``X*`` is near 0 (a structured non-negative matrix that
        an extra component would fit) and shrinks the noise variance there (``σ̂`` is then up
        to ~25 % low).  When ``X`` has zeros, pruning therefore works on ``X`` with its zeros
        replaced by their conditional means under the censored-Gaussian model at the current
        fit, and ``σ`` is that model's EM estimate (:func:`_censored_data`; three EM steps,
        then one per round); the refit factors are those of this censored fit (their codes
        ``W`` are re-solved by NNLS on ``X``).  Without zeros ``Z = X`` and ``σ = σ̂``.
        ``prune_noise_level_`` holds the ``σ`` of the last threshold.  ``"auto"``: prune when
        ``λ`` comes from the noise rule and ``debias=True``.  ``True`` also prunes for a
        numeric ``lam`` or ``lam_ratio`` (``σ̂`` is then estimated for this step).  Pruning
        changes only the refit factors: ``certified_*`` and ``certificate_`` are those of the
        regularized fit, whose rank is ``certified_rank_``.  Known limitation: with dense,
        strongly correlated factors at high SNR the regularized fit can hold several split
        copies of a component, along which the residual is nearly flat; the refits then do
        not converge within the sweeps above and extra components survive (measured: 6
        components for ``k = 4`` on a 200×150 matrix with dense Gamma factors,
        tests/test_auto_lam.py).
    max_rank : int, optional
        Cap on the rank during growth (the certificate stays honest when it binds).
    tol : float, default=1e-4
        Relative duality gap required for the ``"global"`` status.
    max_iter : int, default=100
        Outer iterations of the growth (one certificate each).
    max_sweeps : int, default=15
        Cap on HALS sweeps between two certificates.
    block_size : int, default=32
        Largest number of columns appended per outer iteration.
    growth_rtol : float or None, default=1e-5
        Growth stops (``stop_reason_ = "negligible_growth"``) once the best atom the polar finds
        above ``λ`` would lower the objective ``P`` by at most ``growth_rtol·P`` (its exact
        line-search decrease ``(ρ − λ)²/2``): on real data the regularized optimum has a long
        tail of atoms barely above ``λ``, each worth a negligible decrease.  The certificate
        then honestly says ``"not_optimal"``.  ``None`` grows until no atom above ``λ`` is found
        (or a budget runs out).
    time_limit : float, optional
        Wall-clock budget in seconds for the certified part.
    refit_max_iter : int, default=200
        Cap on HALS sweeps of the debiasing refit.
    refit_tol : float, default=2e-4
        Relative objective decrease per sweep at which the refit stops.
    random_state : int, Generator or None
        Seed for the eigensolver start vectors.
    verbose : bool, default=False
        Show a progress line on a terminal.

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        The fitted parts ``H`` (refit when ``debias=True``, certified otherwise).
    n_components_ : int
        Selected rank (also ``rank_``): the number of fitted components (after pruning).
    certified_rank_ : int
        Rank of the certified regularized fit (``n_components_`` unless pruning removed
        components).
    noise_level_ : float or None
        ``σ̂`` (noise rule or pruning), else ``None``.
    prune_noise_level_ : float or None
        ``σ`` of the last pruning threshold (``σ̂``, or the censored-model estimate when
        ``X`` has zeros; see ``prune``), ``None`` without pruning.
    reconstruction_err_ : float
        ``‖X − W H‖_F`` of the fitted ``W`` and ``components_`` (as scikit-learn's NMF).
    certified_W_ : ndarray of shape (n_samples, n_components_)
    certified_components_ : ndarray of shape (n_components_, n_features)
        ``U`` and ``Vᵀ`` of the certified regularized problem.
    certificate_ : homfact.Certificate
        Certificate of ``(certified_W_, certified_components_.T)`` for ``lam_``.
    lam_, lam_max_ : float
        ``λ`` used and ``λ_max = ‖X‖₂``.
    n_pruned_ : int
        Components removed by pruning.
    lam_rule_ : str
        ``"noise"``, ``"noise-fallback"`` (the guard refused the noise rule: ``0.15·λ_max``),
        ``"ratio"`` (``lam_ratio``) or ``"given"`` (numeric ``lam``).
    history_ : list of dict
        One record per outer iteration of the growth (intermediate records may carry the
        cheap upper bound ``‖G₊‖_F``, see ``NonnegativePolar``; ``certificate_`` never does).
    refit_n_iter_ : int
        HALS sweeps of the debiasing refit (with pruning: the sweeps before it plus the final
        refit of the survivors; the trial refits are not counted).
    n_iter_, stop_reason_, n_features_in_
    """

    def __init__(self, lam="auto", *, lam_ratio=None, debias=True, prune="auto", max_rank=None,
                 tol=1e-4, max_iter=100, max_sweeps=15, block_size=32, growth_rtol=1e-5,
                 time_limit=None, refit_max_iter=200, refit_tol=2e-4, random_state=None,
                 verbose=False):
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.debias = debias
        self.prune = prune
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.max_sweeps = max_sweeps
        self.block_size = block_size
        self.growth_rtol = growth_rtol
        self.time_limit = time_limit
        self.refit_max_iter = refit_max_iter
        self.refit_tol = refit_tol
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        check_lam_or_auto(self.lam)
        r = self.lam_ratio
        if r is not None:
            if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 < r <= 1:
                raise ValueError(f"lam_ratio must be None or a number in (0, 1], got {r!r}")
            if not isinstance(self.lam, str):
                raise ValueError(f"lam_ratio={r!r} applies only with lam='auto'; got "
                                 f"lam={self.lam!r} (pass one of them)")
        if not isinstance(self.debias, bool | np.bool_):
            raise TypeError(f"debias must be a bool, got {type(self.debias).__name__}")
        if not (isinstance(self.prune, bool | np.bool_) or (isinstance(self.prune, str)
                                                            and self.prune == "auto")):
            raise ValueError(f"prune must be True, False or 'auto', got {self.prune!r}")
        check_fit_params(self, integers=("max_iter", "max_sweeps", "block_size", "refit_max_iter"))
        if self.growth_rtol is not None and (isinstance(self.growth_rtol, bool) or not (
                isinstance(self.growth_rtol, numbers.Real) and 0 <= self.growth_rtol < 1)):
            raise ValueError(f"growth_rtol must be None or a number in [0, 1), got "
                             f"{self.growth_rtol!r}")
        if not (isinstance(self.refit_tol, numbers.Real) and 0 <= self.refit_tol < 1):
            raise ValueError(f"refit_tol must be a number in [0, 1), got {self.refit_tol!r}")

    def _validate_X(self, X, reset: bool) -> np.ndarray:
        _check_nonnegative_matrix(X, "X")
        X = validate_data(self, X, reset=reset, accept_sparse=("csr", "csc", "coo"),
                          dtype=np.float64)
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        if X.size and X.min() < 0:  # validate_data may have converted e.g. a DataFrame
            raise ValueError(f"Negative values in data passed to NonnegativeFactorization: "
                             f"X must be non-negative; its smallest entry is {X.min():g}")
        return X

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the certified factors, then (``debias=True``) the refit factors, to ``X ≥ 0``."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None, **params):
        """Fit and return ``W`` (n_samples × n_components_), the codes of ``X``."""
        self._fit(X)
        return self._W

    def _fit(self, X) -> None:
        self._check_params()
        X = self._validate_X(X, reset=True)
        with _blas_limit(X.size):
            self._fit_dense(X)

    def _fit_dense(self, X: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.lam_max_ = nonnegative_lam_max(X)
        noise_rule = isinstance(self.lam, str) and self.lam_ratio is None
        prune = (noise_rule and self.debias) if isinstance(self.prune, str) else bool(self.prune)
        self.noise_level_ = None
        if noise_rule or prune:
            if min(X.shape) < 2:
                raise ValueError(f"the noise estimate (lam='auto' or prune) needs at least 2 rows "
                                 f"and 2 columns; got {X.shape[0]} sample(s) and {X.shape[1]} "
                                 f"feature(s) (n_samples = {X.shape[0]}, n_features = "
                                 f"{X.shape[1]}): pass a numeric lam and prune=False")
            self.noise_level_ = estimate_noise_level(X)
        self.lam_rule_ = "given"
        if noise_rule:
            lam = max(AUTO_LAM_FACTOR * noise_spectral_norm(self.noise_level_, X.shape),
                      AUTO_LAM_FLOOR * float(np.linalg.norm(X)))
            self.lam_rule_ = "noise"
            above = _count_above(X, lam)
            if above >= 2 and above > AUTO_MAX_RANK_FRACTION * min(X.shape):
                import warnings

                warnings.warn(f"lam='auto': {above} of the {min(X.shape)} singular values of X "
                              f"exceed the noise edge sigma_hat*(sqrt(m)+sqrt(n)) = {lam:.4g}, "
                              f"so X is not low rank plus i.i.d. noise; using "
                              f"{FALLBACK_LAM_RATIO} * lam_max instead (pass lam or lam_ratio "
                              f"to choose)", UserWarning, stacklevel=3)
                lam = FALLBACK_LAM_RATIO * self.lam_max_
                self.lam_rule_ = "noise-fallback"
                prune = False if isinstance(self.prune, str) else prune
        elif isinstance(self.lam, str):
            lam = self.lam_ratio * self.lam_max_
            self.lam_rule_ = "ratio"
        else:
            lam = float(self.lam)
        self.lam_ = float(lam)
        gauges = (NonNegative(L2()), NonNegative(L2()))
        polar = NonnegativePolar(lam=self.lam_, min_candidates=_MIN_GROWTH_BLOCK,
                                 lazy_upper=True)
        problem = Problem(SquaredLoss(X), Bilinear(X.shape), gauges, self.lam_, polar=polar,
                          local_solver="hals")
        time_limit = None if self.time_limit is None else max(
            float(self.time_limit) - (time.perf_counter() - t0), 1e-3)
        with progress(bool(self.verbose), "NonnegativeFactorization") as callback:
            res = grow(problem, None, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=time_limit,
                       max_sweeps=self.max_sweeps, block_size=self.block_size,
                       growth_rtol=self.growth_rtol, random_state=self.random_state,
                       callback=callback)
        U, V = res.factors
        cert = res.certificate
        if polar.last_lazy:
            # the last bracket took the cheap upper bound ‖G₊‖_F: the reported certificate gets
            # the careful one (σ_max bounds), its lower bound warm-started from the same pair
            polar.lazy_upper = False
            cert, *_ = certify_factors(problem, [U, V], tol=self.tol,
                                       rng=np.random.default_rng(self.random_state),
                                       warm_start=polar.last_maximizer)
        polar.lazy_upper = False
        U2, V2, merged = merge_parallel_columns(U, V)
        if merged:
            cert2, *_ = certify_factors(problem, [U2, V2], tol=self.tol,
                                        rng=np.random.default_rng(self.random_state))
            # keep the merged (smaller) factorization unless it is measurably worse
            if cert2.objective <= cert.objective + 1e-9 * max(1.0, abs(cert.objective)):
                U, V, cert = U2, V2, cert2
        self.certified_W_ = U
        self.certified_components_ = V.T.copy()
        self.certificate_ = cert
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        self.certified_rank_ = rank = int(U.shape[1])
        self.refit_n_iter_ = 0
        self.n_pruned_ = 0
        self.prune_noise_level_ = None
        if self.debias and rank:
            # with pruning this refit only starts it (the survivors get the full refit there)
            sweeps = min(self.refit_max_iter, _PRUNE_START_SWEEPS) if prune else \
                self.refit_max_iter
            refit = hals(X, U, V, 0.0, max_sweeps=sweeps, tol=self.refit_tol)
            W, Vr = refit.factors
            self.refit_n_iter_ = refit.n_sweeps
            if prune:
                W, Vr, self.prune_noise_level_ = self._prune(X, W, Vr)
                self.n_pruned_ = rank - int(W.shape[1])
                rank = int(W.shape[1])
            H = Vr.T.copy()
        elif prune and rank:
            W, Vr, self.prune_noise_level_ = self._prune(X, U, V)
            self.n_pruned_ = rank - int(W.shape[1])
            rank = int(W.shape[1])
            H = Vr.T.copy()
        else:
            W, H = U, V.T.copy()
        self.rank_ = self.n_components_ = rank
        if rank:
            # W solves the NNLS problem of the final H exactly (what transform computes)
            W = nnls_rows(X, H, W0=W)
        self.components_ = H
        self._W = W
        self.reconstruction_err_ = float(np.linalg.norm(X - W @ H))

    def _prune(self, X: np.ndarray, W: np.ndarray, V: np.ndarray):
        """:func:`homfact.solvers.nmf_prune.prune_components` at ``noise_level_`` (see
        ``prune``); returns ``(W, V, σ)`` and counts the final refit's sweeps in
        ``refit_n_iter_``."""
        W, V, sigma, sweeps = prune_components(X, W, V, self.noise_level_, self.refit_max_iter,
                                               self.refit_tol)
        self.refit_n_iter_ += sweeps
        return W, V, sigma

    # ------------------------------------------------------------------ transforms
    def transform(self, X):
        """Non-negative codes of new rows: ``argmin_{W ≥ 0} ½‖X − W·components_‖²_F`` (exact
        row-wise NNLS, :func:`nnls_rows`)."""
        check_is_fitted(self, "components_")
        X = self._validate_X(X, reset=False)
        if self.n_components_ == 0:
            return np.zeros((X.shape[0], 0))
        with _blas_limit(X.size):
            return nnls_rows(X, self.components_)

    def inverse_transform(self, X):
        """``X @ components_`` (``X`` holds codes of shape ``(n, n_components_)``)."""
        check_is_fitted(self, "components_")
        W = np.asarray(X, dtype=float)
        if W.ndim != 2 or W.shape[1] != self.n_components_:
            raise ValueError(f"X must have shape (n, {self.n_components_}), got {W.shape}")
        return W @ self.components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        return tags
