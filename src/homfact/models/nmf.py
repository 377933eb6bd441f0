"""Non-negative matrix factorization whose rank is chosen by a regularizer, with a certificate.

The certified problem ``min_{U ≥ 0, V ≥ 0} ½‖Y − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂`` is grown from
rank 0 by :func:`homfact.meta.grow` (HALS descent, the bracketed non-negative polar), then a
debiasing refit (and, with the noise rule, a pruning) gives the reported factors.  The polar
bracket, when the status can be ``"global"``, the automatic ``λ``, the refit and the pruning:
docs: models/nmf.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._blas_limit import _blas_limit
from .._progress import progress
from ..lam_rules import _count_above, nonnegative_lam_max
from ..meta import grow
from ..noise import estimate_noise_level, noise_spectral_norm
from ..polar.nonnegative import NonnegativePolar
from ..problems import check_fit_params, check_lam_or_auto
from ..solvers.nmf_certified import certify_grown_nmf, nonnegative_problem
from ..solvers.nmf_merge import merge_parallel_columns
from ..solvers.nmf_prune import debias_nmf
from ..solvers.nmf_prune import prune_components as prune_components
from ..solvers.nnls import nnls_rows
from ..validation import _check_nonnegative_matrix

# nonnegative_lam_max lives in homfact.lam_rules, the input checks in homfact.validation, the
# kernels in homfact.solvers.nmf_certified / nmf_prune / nmf_merge / nnls; the names this module
# used to define or import stay importable from here.
__all__ = ["NonnegativeFactorization", "NonnegativePolar", "merge_parallel_columns", "nnls_rows",
           "nonnegative_lam_max"]

#: ``c`` of the automatic ``λ = c·σ̂(√m + √n)`` (``lam`` below; docs: models/nmf)
AUTO_LAM_FACTOR = 1.0
#: floor of the automatic ``λ`` relative to ``‖X‖_F`` (noise-free data)
AUTO_LAM_FLOOR = 1e-8
#: the noise rule is refused when more than this fraction of min(m, n) singular values lie
#: above the noise edge (the data are then not "low rank + i.i.d. noise")
AUTO_MAX_RANK_FRACTION = 0.25
#: ``λ/λ_max`` of the fallback (the former default)
FALLBACK_LAM_RATIO = 0.15


class NonnegativeFactorization(TransformerMixin, BaseEstimator):
    """NMF ``X ≈ W H`` (``W, H ≥ 0``) whose rank is selected by ``λ`` and certified.

    Fitting has two parts (the mathematics and the reasons: docs: models/nmf):

    1. *Certified regularized fit*: ``min_{U,V ≥ 0} ½‖X − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂`` grown
       from rank 0 with HALS descent and the bracketed polar of :class:`NonnegativePolar`,
       parallel duplicate columns merged (:func:`merge_parallel_columns`): ``certified_W_ =
       U``, ``certified_components_ = Vᵀ`` (balanced columns), described by ``certificate_``.
    2. *Debiasing refit* (``debias=True``): unregularized HALS ``min_{W,H ≥ 0} ½‖X − WH‖²_F``
       at the selected rank from the certified factors (pruning interleaved, see ``prune``),
       then ``W`` re-solved by NNLS for the final ``H`` (``fit_transform(X)`` and
       ``fit(X).transform(X)`` agree).  These are the reported ``W_``, ``components_`` (the
       README's naming rule, ``debiased_``); the certificate never describes them.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        Regularization weight ``λ ≥ 0``; larger ``λ`` gives a smaller rank.  ``"auto"``
        (with ``lam_ratio=None``) is the noise rule ``λ = σ̂(√m + √n)`` (floored at
        ``10⁻⁸‖X‖_F``; ``σ̂`` of :func:`homfact.noise.estimate_noise_level`, stored in
        ``noise_level_``): the spectral norm of i.i.d. noise, which bounds its non-negative
        polar, concentrates below ``σ(√m + √n)`` (Davidson & Szarek 2001; Vershynin 2012,
        Thm 5.32); factor ``1`` from seeds 0–9 of ``benchmarks/robust_nmf.py`` (docs:
        models/nmf).  Guard: when more than a quarter (and at least 2) of the singular values
        exceed ``σ̂(√m + √n)``, ``"auto"`` falls back to ``0.15·λ_max`` with a ``UserWarning``;
        ``lam_rule_`` says which rule ran.
    lam_ratio : float in (0, 1] or None, default=None
        When given (with ``lam="auto"``), ``λ = lam_ratio·λ_max`` instead of the noise rule,
        with ``λ_max = ‖X‖₂`` (the polar of ``X``, the smallest ``λ`` giving rank 0; stored in
        ``lam_max_``): the behaviour before the noise rule, whose default was ``0.15``.  On
        the 5,000 MNIST digits ``0.15`` selects rank 15 and ``0.1`` rank 29 (see
        benchmarks/README.md, section 6).  Ignored (with an error) for a numeric ``lam``.
    debias : bool, default=True
        Run the debiasing refit and use its factors as ``components_``.
    prune : bool or "auto", default="auto"
        Drop components that the noise could explain (a backward selection, the
        hard-threshold counterpart of the ``λ`` rule): while the smallest rise of the residual
        sum of squares caused by removing one component (and refitting the others) is below
        ``τ = (σ(√m + √n))²``, the energy a best rank-one fit captures from pure noise, that
        component is removed (:func:`homfact.solvers.nmf_prune.prune_components`).  On data
        with zeros, the zeros are read as censored noise and ``σ`` is that model's EM
        estimate (``prune_noise_level_``).  ``"auto"``: prune when ``λ`` comes from the noise
        rule and ``debias=True``; ``True`` also prunes for a numeric ``lam`` or ``lam_ratio``
        (``σ̂`` is then estimated for this step).  Pruning changes only the reported factors:
        ``certified_*`` and ``certificate_`` are those of the regularized fit, whose rank is
        ``certified_rank_``.  Details and a known limitation (split copies of strongly
        correlated dense components at high SNR): docs: models/nmf.
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
        The reported parts ``H`` (refit or pruned when ``debiased_``, certified otherwise).
    W_ : ndarray of shape (n_samples, n_components_)
        The reported codes of the training data (what ``fit_transform`` returns): the exact
        NNLS codes of ``components_`` (no columns at rank 0).
    debiased_ : bool
        ``True`` exactly when the debiasing refit or the pruning ran: ``certified_rank_ > 0``
        and (``debias=True`` or pruning was on); ``components_`` are then the refit/pruned
        parts.  When ``False``, ``components_`` equals ``certified_components_`` (``W_`` is
        still re-solved by NNLS at rank ``> 0``).
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
        ``‖X − W H‖_F`` of ``W_`` and ``components_`` (as scikit-learn's NMF).
    certified_W_ : ndarray of shape (n_samples, certified_rank_)
    certified_components_ : ndarray of shape (certified_rank_, n_features)
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

    def _select_lam(self, X: np.ndarray) -> tuple[float, bool]:
        """``(λ, prune)`` from ``lam``, ``lam_ratio`` and ``prune``; sets ``lam_max_``,
        ``noise_level_`` and ``lam_rule_`` (the rules: ``lam`` above)."""
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
        if not isinstance(self.lam, str):
            return float(self.lam), prune
        if not noise_rule:
            self.lam_rule_ = "ratio"
            return self.lam_ratio * self.lam_max_, prune
        lam = max(AUTO_LAM_FACTOR * noise_spectral_norm(self.noise_level_, X.shape),
                  AUTO_LAM_FLOOR * float(np.linalg.norm(X)))
        self.lam_rule_ = "noise"
        above = _count_above(X, lam)
        if above >= 2 and above > AUTO_MAX_RANK_FRACTION * min(X.shape):
            warnings.warn(f"lam='auto': {above} of the {min(X.shape)} singular values of X "
                          f"exceed the noise edge sigma_hat*(sqrt(m)+sqrt(n)) = {lam:.4g}, "
                          f"so X is not low rank plus i.i.d. noise; using "
                          f"{FALLBACK_LAM_RATIO} * lam_max instead (pass lam or lam_ratio "
                          f"to choose)", UserWarning, stacklevel=4)
            lam = FALLBACK_LAM_RATIO * self.lam_max_
            self.lam_rule_ = "noise-fallback"
            prune = False if isinstance(self.prune, str) else prune
        return lam, prune

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the certified factors, then (``debias=True``) the refit factors, to ``X ≥ 0``."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None, **params):
        """Fit and return ``W_`` (n_samples × n_components_), the codes of ``X``."""
        self._fit(X)
        return self.W_

    def _fit(self, X) -> None:
        self._check_params()
        X = self._validate_X(X, reset=True)
        with _blas_limit(X.size):
            self._fit_dense(X)

    def _fit_dense(self, X: np.ndarray) -> None:
        t0 = time.perf_counter()
        lam, prune = self._select_lam(X)
        self.lam_ = float(lam)
        problem, polar = nonnegative_problem(X, self.lam_)
        time_limit = None if self.time_limit is None else max(
            float(self.time_limit) - (time.perf_counter() - t0), 1e-3)
        with progress(bool(self.verbose), "NonnegativeFactorization") as callback:
            res = grow(problem, None, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=time_limit,
                       max_sweeps=self.max_sweeps, block_size=self.block_size,
                       growth_rtol=self.growth_rtol, random_state=self.random_state,
                       callback=callback)
        U, V, cert = certify_grown_nmf(problem, polar, *res.factors, res.certificate,
                                       tol=self.tol, random_state=self.random_state)
        self.certified_W_ = U
        self.certified_components_ = V.T.copy()
        self.certificate_ = cert
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        self.certified_rank_ = int(U.shape[1])
        out = debias_nmf(X, U, V, refit=self.debias, prune=prune, noise_level=self.noise_level_,
                         max_sweeps=self.refit_max_iter, tol=self.refit_tol)
        self.rank_ = self.n_components_ = int(out.H.shape[0])
        self.n_pruned_ = self.certified_rank_ - self.n_components_
        self.refit_n_iter_ = out.n_sweeps
        self.prune_noise_level_ = out.prune_noise_level
        self.debiased_ = out.debiased
        self.components_ = out.H
        self.W_ = out.W
        self.reconstruction_err_ = float(np.linalg.norm(X - out.W @ out.H))

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
