"""Sparse dictionary learning with a certified duality-gap bracket.

One signal per row of ``X`` (``n_samples × n_features``), ``X ≈ C D`` with codes ``C``
(``n_samples × r``) and atoms ``D`` (``r × n_features``, one atom per row)::

    min_{C, D, r}  ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)

(``Dᵢ`` the i-th atom, ``Cᵢ`` the i-th code column: the codes of every signal on atom ``i``).
In homfact terms this is the bilinear model ``X ≈ U Vᵀ`` with ``U = C`` under the gauge
:class:`~homfact.gauges.ElasticNet` ``(γ)`` and ``V = Dᵀ`` under :class:`~homfact.gauges.L2`,
squared loss; the number of atoms ``r`` is chosen by the regularizer and the polar, not given.

* The polar ``Ω°(G) = sup_{κ(u) ≤ 1, ‖v‖₂ ≤ 1} uᵀGv = sup_{κ(u) ≤ 1} ‖Gᵀu‖₂`` (``κ = ‖·‖₂ +
  γ‖·‖₁``) is a sparse-PCA-type problem, NP-hard in general, so the certificate is a bracket
  (:class:`ElasticNetL2Polar`): a lower bound by multistart alternating maximization and the
  rigorous upper bound ``min(σ_max(G)/(1 + γ), maxⱼ‖G_{j,:}‖₂/(γ + 1/√n))``.
* Local descent is exact block-coordinate minimization over one column at a time
  (:func:`elastic_net_bcd`; closed-form elastic-net / group-shrinkage proxes), so the objective
  never increases; block prox-linear descent (``local_solver="prox_linear"``) is available.
* Columns are appended from the polar and pruned by :func:`homfact.grow` as for every model.
* Defaults from the data (:class:`SparseDictionaryLearning`): the noise level ``σ̂`` from the
  low end of the covariance spectrum of the signals (:func:`estimate_signal_noise_level`),
  the per-entry code threshold ``λγ = σ̂√(2 log n_features)`` (Donoho-Johnstone) and ``λ``
  twice the polar level of Gaussian noise of level ``σ̂`` (:func:`noise_polar_level`), so that
  noise alone enters no atom; many signals are handled by online mini-batch learning of the
  atoms (Mairal et al. 2010) before the final certified ``grow``; ``transform`` offers the
  model's own codes and debiased ones (error-target OMP, support refit) and scikit-learn's
  codings.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import sparse_encode
from sklearn.linear_model import orthogonal_mp_gram
from sklearn.utils.validation import check_is_fitted, validate_data

from .._progress import progress
from ..meta import certify_factors, grow
from ..noise import estimate_signal_noise_level, universal_threshold
from ..polar import sigma_max_upper
from ..polar.dictionary import _NOISE_SIM_ROWS as _NOISE_SIM_ROWS  # re-export
from ..polar.dictionary import ElasticNetL2Polar, elastic_net_dual_columns, noise_polar_level
from ..polar.dictionary import _thresholded_polar as _thresholded_polar  # re-export
from ..problems import DictionaryProblem as DictionaryProblem  # re-export
from ..problems import _check_gamma as _check_gamma  # re-export
from ..problems import check_fit_params, check_lam_or_auto, dictionary_problem
from ..solvers.elastic_net import _objective as _objective  # re-export
from ..solvers.elastic_net import (
    _omp_codes,
    _refit_on_support,
    elastic_net_bcd,
    sparse_encode_elastic_net,
)
from ..solvers.elastic_net import _rebalance as _rebalance  # re-export
from ..solvers.elastic_net import _update_atoms as _update_atoms  # re-export
from ..solvers.elastic_net import _update_codes as _update_codes  # re-export
from ..solvers.elastic_net import _WorkingSet as _WorkingSet  # re-export
from ..solvers.online_dictionary import online_dictionary_epochs
from .low_rank import _check_real_matrix

__all__ = [
    "ElasticNetL2Polar",
    "SparseDictionaryLearning",
    "dictionary_lam_max",
    "dictionary_problem",
    "elastic_net_bcd",
    "elastic_net_dual_columns",
    "noise_polar_level",
    "sparse_encode_elastic_net",
]


# --------------------------------------------------------------------------------------------
# estimator


#: signals above which ``batch_size="auto"`` learns the atoms by online mini-batch descent
_ONLINE_MIN_SAMPLES = 4000
#: the online path starts from this many random signals per feature as atoms
_INIT_ATOMS_PER_FEATURE = 2
#: cap on the descent sweeps per outer iteration of the final grow after the online phase
_FINAL_MAX_SWEEPS = 10
#: alternating steps of the polar lower bound reported in ``lam_max_``
_LAM_MAX_ASCENT = 3
#: K-SVD error-target factor of the default OMP transform (Elad & Aharon 2006)
_OMP_ERROR_FACTOR = 1.15
_TRANSFORM_ALGORITHMS = ("omp", "elastic_net", "refit", "lasso_lars", "lasso_cd", "lars",
                         "threshold")


def dictionary_lam_max(X, gamma="auto") -> float:
    """A rigorous upper bound on ``λ_max`` of ``½‖X − CD‖² + λΣᵢ‖Dᵢ‖₂(‖Cᵢ‖₂ + γ‖Cᵢ‖₁)``: every
    ``λ`` at least this value gives the zero solution (no atom).  Not exact: ``λ_max =
    Ω°_γ(X)`` is a sparse-PCA value, NP-hard; :attr:`SparseDictionaryLearning.lam_max_` is
    the ``(lower, upper)`` bracket the estimator reports.

    Numeric ``γ >= 0``: the upper bound ``min(σ_max(X)/(1 + γ), maxⱼ‖X_{j,:}‖₂/(γ + 1/√n))``
    of :class:`ElasticNetL2Polar` (``n`` signals).  ``γ = "auto"`` (the estimator's default,
    ``γ = t/λ`` with ``t = σ̂√(2 log n_features)``): the zero solution holds when
    ``Ω°_{t/λ}(X) ≤ λ``, and each of the two bounds at ``γ = t/λ`` is ``≤ λ`` exactly when
    ``λ ≥ σ_max(X) − t``, resp. ``λ ≥ √n·(maxⱼ‖X_{j,:}‖₂ − t)``; the smaller of the two
    (at least 0) is returned, with ``σ̂``, ``t`` computed as in the estimator.
    """
    _check_real_matrix(X, "X")
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    if X.ndim != 2 or X.size == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if not (isinstance(gamma, str) and gamma == "auto"):
        _check_gamma(gamma)
        return float(ElasticNetL2Polar(float(gamma)).upper_bound(X)[0])
    n, p = X.shape
    sigma = estimate_signal_noise_level(X)
    t = universal_threshold(sigma, p) if p >= 2 else sigma
    sig = float(sigma_max_upper(X)[0])
    rows = float(np.sqrt(np.max(np.einsum("ij,ij->i", X, X)))) * (1 + 1e-12)
    return float(max(min(sig - t, math.sqrt(n) * (rows - t)), 0.0))


class SparseDictionaryLearning(TransformerMixin, BaseEstimator):
    """Sparse dictionary learning ``X ≈ codes @ components_`` with a certified gap bracket.

    Solves, over the number of atoms ``r`` as well::

        min ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)

    (``Dᵢ`` = row ``i`` of ``D`` = atom ``i``; ``Cᵢ`` = column ``i`` of ``C`` = every signal's code
    on atom ``i``).  With atoms rescaled to unit norm (``C D`` and the penalty are unchanged by
    ``Cᵢ ← ‖Dᵢ‖Cᵢ``, ``Dᵢ ← Dᵢ/‖Dᵢ‖``) the penalty reads ``λγ‖C‖₁ + λ Σᵢ ‖Cᵢ‖₂``: a lasso on the
    codes with per-entry threshold ``t = λγ`` plus a group term that charges each atom ``λ`` per
    unit of code energy, which is what limits the number of atoms.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ >= 0``.  ``"auto"``: twice the level that noise alone reaches in the polar test of
        the zero solution, ``λ = 2·ρ(σ̂E)`` (Negahban, Ravikumar, Wainwright & Yu, "A unified
        framework for high-dimensional analysis of M-estimators with decomposable
        regularizers", Statist. Sci. 27(4), 2012: ``λ ≥ 2·R°(∇ℓ(truth))``, and the gradient
        of the squared loss at the truth is the noise).  ``σ̂ = noise_level_`` is estimated
        from the covariance spectrum of the rows (:func:`estimate_signal_noise_level`, Chen,
        Zhu & Heng 2015) and ``ρ(σ̂E)`` is computed on one simulated Gaussian matrix of the
        shape of ``X`` (:func:`noise_polar_level`): with ``gamma="auto"`` it is
        ``ρ_t(σ̂E) = sup_{‖v‖=1}‖soft(σ̂Ev, t)‖₂`` at the threshold ``t`` below, with a
        numeric ``gamma`` the model's polar ``Ω°_γ(σ̂E)``.  A floor ``λ ≥ 1e-3·lam_max_[0]``
        keeps the number of atoms finite on noise-free data.  Pure noise then gives the zero
        solution (no atom), and an atom enters only when its code energy beats twice the noise.
    gamma : float or "auto", default="auto"
        ``γ >= 0``, weight of the ℓ1 part of the code gauge (``γ = 0``: nuclear norm).
        ``"auto"``: ``γ = t/λ`` so that the per-entry code threshold of unit atoms is the
        universal threshold ``t = σ̂√(2 log n_features)`` (Donoho & Johnstone, "Ideal spatial
        adaptation by wavelet shrinkage", Biometrika 81, 1994; n_features coefficients of an
        orthonormal basis; :func:`homfact.noise.universal_threshold`).
    max_rank : int, optional
        Cap on the number of atoms; the certificate stays honest when it binds.
    tol : float, default=1e-4
        Relative duality gap required for the ``"global"`` status.
    max_iter : int, default=100
        Outer (grow) iterations, one certificate each.
    time_limit : float, optional
        Wall-clock budget in seconds for the fit.
    growth_rtol : float or None, default=1e-5
        Stop growing once the best atom the polar finds would lower the objective by at most
        ``growth_rtol·|P|`` (see :func:`homfact.grow`); the certificate then reports
        honestly how far from optimal the fit may be.  ``None``: grow while any atom is found.
    local_solver : {"bcd", "prox_linear"}, default="bcd"
        Exact block-coordinate descent over columns, or block prox-linear descent.
    n_starts : int, default=8
        Starts of the alternating polar maximization (lower bound).
    batch_size : int, "auto" or None, default="auto"
        Online learning of the atoms (Mairal, Bach, Ponce & Sapiro, "Online learning for matrix
        factorization and sparse coding", JMLR 11, 2010; :mod:`homfact.solvers.online_dictionary`):
        starting from ``2·n_features`` random signals as atoms, mini-batches of ``batch_size``
        signals are coded, folded into the sufficient statistics ``A = ΣCᵀC``, ``B = ΣXᵀC`` and
        the atoms updated by block-coordinate descent on the surrogate; working memory
        ``O(r² + r·n_features + b·n_features)`` besides ``X``.  The batch codes are error-target
        OMP codes at ``σ̂`` (as ``transform``; an ℓ0 coding, much cheaper than the model's
        group-coupled code problem, whose role is taken by the final step).  The final step is a
        ``grow`` of the model's objective on the certified data (below), warm-started from these
        atoms and the codes of the last pass, with ``online_final_iter`` outer iterations of at
        most 10 descent sweeps each: the descent prunes the atoms the group term rejects, later
        iterations may add atoms from the polar, and the returned factors are certified (the
        certificate, as always, is that of the factors returned; with the default single
        iteration ``stop_reason_`` is ``"max_iter"`` and the status says how far from optimal
        the fit may be).  ``"auto"``: 256 when ``n_samples > 4000``, otherwise ``None``
        (``grow`` on all the data from rank 0, up to ``max_iter`` outer iterations).
    online_epochs : float, default=1.0
        Passes over the data of the online phase.
    online_final_iter : int, default=1
        Outer ``grow`` iterations after the online phase (see ``batch_size``).
    certify_max_samples : int, default=50000
        The final ``grow`` and its certificate run on all the signals when there are at most
        this many, otherwise on a random subsample of this size with ``λ_S = λ√(m/n)`` and
        ``γ_S = γ√(n/m)`` (the same problem per signal); the certificate's ``method`` then
        says so and ``certified_samples_`` holds the rows used.
    transform_algorithm : str, default="omp"
        Coding of new signals by :meth:`transform` (the atoms normalized to unit norm, the codes
        returned in the scale of ``components_`` so that ``codes @ components_`` reconstructs):

        * ``"omp"``: orthogonal matching pursuit (:func:`sklearn.linear_model.orthogonal_mp_gram`);
          by default error-target OMP, ``‖x − c D‖² ≤ (1.15·σ̂)²·n_features`` (the K-SVD
          denoising rule, Elad & Aharon, IEEE TIP 15(12), 2006): a debiased code (least
          squares on the selected support) stopped at the noise level.
          ``transform_n_nonzero_coefs`` or ``transform_alpha`` (the squared error target)
          override it.
        * ``"elastic_net"``: the model's own code problem with the atoms fixed (see Notes):
          shrunk, certified-objective codes; ``transform`` of the training signals reproduces
          ``codes_`` when the certificate is on all of them (not on a subsample: there the
          scaled ``λ`` of the subsample problem gives other codes).
        * ``"refit"``: the ``"elastic_net"`` codes, then a least-squares refit of each signal on
          its support (removes the shrinkage, keeps the model's choice of atoms).
        * ``"lasso_lars"``, ``"lasso_cd"``, ``"lars"``, ``"threshold"``: scikit-learn's
          :func:`~sklearn.decomposition.sparse_encode` on the unit atoms, with its meaning of
          ``transform_alpha`` (the lasso solvers minimize ``½‖x − cD‖² + α‖c‖₁``;
          ``"threshold"`` is ``soft(x Dᵀ, α)``; default ``α``: the model's per-entry
          threshold ``λγ``) and of ``transform_n_nonzero_coefs`` (``"lars"``; default
          ``n_features/10``).
    transform_alpha : float, optional
    transform_n_nonzero_coefs : int, optional
    transform_tol : float, default=1e-6
        Stopping tolerance of the ``"elastic_net"``/``"refit"`` coding: a full
        coordinate-descent sweep changes the codes by ``≤ transform_tol·max(1, ‖C‖_F)``.
    transform_max_iter : int, default=1000
        Cap on the coordinate-descent sweeps of that coding (full and working-set).
    random_state : int, Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        The atoms ``D`` (rows), balanced with the codes (``‖Dᵢ‖ = ‖Cᵢ‖₂ + γ‖Cᵢ‖₁``); these and
        ``codes_`` are the certified solution (no debiasing is applied to them).
    codes_ : ndarray of shape (n_certified, n_components_)
        Fitted codes ``C`` of the certified signals (all of ``X``, or ``X[certified_samples_]``).
    n_components_, rank_ : int
        Number of atoms selected.
    U_, V_ : ndarray
        ``codes_`` and ``components_.T`` in homfact's bilinear convention ``X ≈ U_ @ V_.T``.
    noise_level_ : float
        ``σ̂`` (:func:`estimate_signal_noise_level`).
    lam_, gamma_ : float
        The ``λ`` and ``γ`` of the full-data problem.
    lam_max_ : (float, float)
        Bracket on ``λ_max = Ω°`` of the certified problem's data (the smallest ``λ`` giving the
        zero solution), in the scale of ``lam_``, for the ``γ`` of the rule (``gamma="auto"``
        ties ``γ`` to ``λ``); the lower end is the value of a feasible point after 3
        alternating steps, the upper end the rigorous bound of :class:`ElasticNetL2Polar`.
    certificate_ : homfact.Certificate
        Bracket certificate of the fitted factors: ``"global"`` only when the rigorous polar
        upper bound is ``≤ λ(1+ε)`` and the gap is ``≤ tol``.  Above ``certify_max_samples``
        signals it certifies the problem on the random subsample ``certified_samples_`` (with
        ``λ`` scaled by ``√(m/n)``, so its ``lam`` differs from ``lam_``), not the problem on
        all of ``X``; its ``method`` says so.
    certified_samples_ : ndarray or None
        Rows of ``X`` of the certified problem when it is a subsample (``None``: all rows).
    n_samples_fit_ : int
        Number of training signals.
    n_online_batches_ : int
        Mini-batches processed by the online phase (0 when it did not run).
    history_, n_iter_, stop_reason_, n_features_in_

    Notes
    -----
    ``transform_algorithm="elastic_net"`` solves the same objective with the atoms fixed, for
    the given batch::

        argmin_C ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁),

    a convex sparse-group lasso, by exact cyclic coordinate descent over the code columns with
    working sets and Anderson extrapolation (:func:`sparse_encode_elastic_net`).  The group term
    couples the signals of one batch (each atom's group is its code column over the batch), so
    its codes of a signal depend mildly on the rest of its batch.  These codes carry the ``λ``
    shrinkage (every entry soft-thresholded by ``λγ``, every column shrunk by ``λ``), which is
    what makes ``λ`` select the atoms but biases reconstructions toward zero; the default
    ``"omp"`` (and ``"refit"``) remove it.  On the camera case of
    ``benchmarks/bench_dictionary.py`` (seed 100, default fit, 70 atoms) the PSNRs of the
    codings were: ``"omp"`` 29.36 dB (3.2 s for 62,001 patches), ``"refit"`` 29.38 dB (12 s),
    ``"elastic_net"`` 27.35 dB, ``"lasso_lars"`` 27.77 dB, ``"threshold"`` 16.6 dB (noisy
    input: 22.1 dB).
    """

    def __init__(self, lam="auto", gamma="auto", *, max_rank=None, tol=1e-4, max_iter=100,
                 time_limit=None, growth_rtol=1e-5, local_solver="bcd", n_starts=8,
                 batch_size="auto", online_epochs=1.0, online_final_iter=1,
                 certify_max_samples=50000,
                 transform_algorithm="omp", transform_alpha=None,
                 transform_n_nonzero_coefs=None, transform_tol=1e-6, transform_max_iter=1000,
                 random_state=None, verbose=False):
        self.lam = lam
        self.gamma = gamma
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.growth_rtol = growth_rtol
        self.local_solver = local_solver
        self.n_starts = n_starts
        self.batch_size = batch_size
        self.online_epochs = online_epochs
        self.online_final_iter = online_final_iter
        self.certify_max_samples = certify_max_samples
        self.transform_algorithm = transform_algorithm
        self.transform_alpha = transform_alpha
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_tol = transform_tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose

    # -- checks --------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_lam_or_auto(self.lam)
        check_lam_or_auto(self.gamma, "gamma")
        check_fit_params(self, integers=("max_iter", "n_starts", "transform_max_iter",
                                         "certify_max_samples", "online_final_iter"))
        if not (isinstance(self.transform_tol, numbers.Real) and self.transform_tol > 0):
            raise ValueError(f"transform_tol must be a number > 0, got {self.transform_tol!r}")
        if self.local_solver not in ("bcd", "prox_linear"):
            raise ValueError(f"local_solver must be 'bcd' or 'prox_linear', got "
                             f"{self.local_solver!r}")
        if self.growth_rtol is not None and not (
                isinstance(self.growth_rtol, numbers.Real) and self.growth_rtol >= 0):
            raise ValueError(f"growth_rtol must be None or a number >= 0, got "
                             f"{self.growth_rtol!r}")
        bs = self.batch_size
        if not (bs is None or bs == "auto" or (isinstance(bs, numbers.Integral)
                                                and not isinstance(bs, bool) and bs >= 1)):
            raise ValueError(f"batch_size must be 'auto', None or an integer >= 1, got {bs!r}")
        if isinstance(self.online_epochs, bool) or not (
                isinstance(self.online_epochs, numbers.Real) and 0 < self.online_epochs < np.inf):
            raise ValueError(f"online_epochs must be a finite number > 0, got "
                             f"{self.online_epochs!r}")
        if self.certify_max_samples < 2:
            raise ValueError(f"certify_max_samples must be an integer >= 2, got "
                             f"{self.certify_max_samples!r}")
        self._check_transform_params()

    def _check_transform_params(self) -> None:
        if self.transform_algorithm not in _TRANSFORM_ALGORITHMS:
            raise ValueError(f"transform_algorithm must be one of {_TRANSFORM_ALGORITHMS}, got "
                             f"{self.transform_algorithm!r}")
        a = self.transform_alpha
        if a is not None and (isinstance(a, bool) or not (
                isinstance(a, numbers.Real) and math.isfinite(a) and a >= 0)):
            raise ValueError(f"transform_alpha must be None or a finite number >= 0, got {a!r}")
        k = self.transform_n_nonzero_coefs
        if k is not None and (isinstance(k, bool) or not (
                isinstance(k, numbers.Integral) and k >= 1)):
            raise ValueError(f"transform_n_nonzero_coefs must be None or an integer >= 1, got "
                             f"{k!r}")

    def _validate(self, X, reset: bool) -> np.ndarray:
        _check_real_matrix(X, "X")
        X = validate_data(self, X, reset=reset, accept_sparse=("csr", "csc", "coo"),
                          dtype=np.float64)
        return X.toarray() if sp.issparse(X) else np.asarray(X)

    # -- automatic λ, γ --------------------------------------------------------------------
    def _auto_lam_gamma(self, sigma: float, n: int, p: int) -> tuple[float, float, float]:
        """``(λ, γ, t)`` of the full-data problem from ``σ̂`` (see ``lam`` and ``gamma``)."""
        t = universal_threshold(sigma, p) if p >= 2 else sigma
        seed = 0 if not isinstance(self.random_state, numbers.Integral) else int(
            self.random_state)
        if isinstance(self.lam, str):
            if isinstance(self.gamma, str):
                lam = 2.0 * noise_polar_level(sigma, n, p, threshold=t, random_state=seed)
            else:
                lam = 2.0 * noise_polar_level(sigma, n, p, gamma=float(self.gamma),
                                              random_state=seed)
        else:
            lam = float(self.lam)
        if isinstance(self.gamma, str):
            gamma = t / lam if lam > 0 else 0.0
        else:
            gamma = float(self.gamma)
        return lam, gamma, t

    # -- fit -----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (``n_samples × n_features``, one signal per row)."""
        self._check_params()
        X = self._validate(X, reset=True)
        t0 = time.perf_counter()
        deadline = math.inf if self.time_limit is None else t0 + float(self.time_limit)
        n, p = X.shape
        rng = np.random.default_rng(self.random_state)
        self.noise_level_ = estimate_signal_noise_level(X)
        lam, gamma, t = self._auto_lam_gamma(self.noise_level_, n, p)
        # the certified problem: all rows, or a random subsample (λ, γ rescaled per signal)
        m = min(n, int(self.certify_max_samples))
        if m < n:
            rows = np.sort(rng.choice(n, m, replace=False))
            Xc = X[rows]
            scale = math.sqrt(m / n)
        else:
            rows, Xc, scale = None, X, 1.0
        # bracket on λ_max: the rigorous upper bound and the value of the best start after
        # _LAM_MAX_ASCENT alternating steps (a feasible value: a valid lower bound)
        polar = ElasticNetL2Polar(gamma / scale, n_starts=int(self.n_starts),
                                  max_iter=_LAM_MAX_ASCENT)
        b0 = polar(Xc, rng=rng)
        self.lam_max_ = (float(b0.lower) / scale, float(b0.upper) / scale)
        if isinstance(self.lam, str) and lam < 1e-3 * self.lam_max_[0]:
            lam = 1e-3 * self.lam_max_[0]  # (almost) noise-free data: keep r finite
            if isinstance(self.gamma, str):
                gamma = t / lam
        self.lam_, self.gamma_ = float(lam), float(gamma)
        lam_c, gamma_c = lam * scale, gamma / scale
        bs = self.batch_size
        if bs == "auto":
            bs = 256 if n > _ONLINE_MIN_SAMPLES else None
        factors = None
        self.n_online_batches_ = 0
        with progress(bool(self.verbose), "SparseDictionaryLearning") as callback:
            if bs is not None and lam < self.lam_max_[1]:
                factors = self._online_atoms(X, Xc, int(bs), rng, deadline)
            problem = dictionary_problem(Xc, lam_c, gamma_c, local_solver=self.local_solver,
                                         n_starts=int(self.n_starts))
            left = None if self.time_limit is None else max(deadline - time.perf_counter(),
                                                            1e-3)
            res = grow(problem, factors, tol=self.tol, max_rank=self.max_rank,
                       max_iter=int(self.max_iter) if factors is None else int(
                           self.online_final_iter), time_limit=left,
                       random_state=rng,
                       max_sweeps=500 if factors is None else _FINAL_MAX_SWEEPS,
                       callback=callback,
                       growth_rtol=None if self.growth_rtol is None else float(self.growth_rtol))
        self.U_, self.V_ = res.factors
        self.rank_ = res.rank
        cert = res.certificate
        self.certified_samples_ = rows
        self.n_samples_fit_ = n
        if rows is not None:
            cert = dataclasses.replace(
                cert, method=f"{cert.method}; computed on a random subsample of {m} of {n} "
                             f"signals (lam scaled by sqrt({m}/{n}) = {scale:.4g}, the same "
                             f"per-entry threshold), not on all of X")
        self.certificate_ = cert
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        return self

    def _online_atoms(self, X, Xc, b, rng, deadline):
        """Online epochs over ``X`` from ``2·n_features`` random signals as atoms, then codes of
        ``Xc``: the starting factors ``[U, V]`` of the final ``grow`` (``None`` if no atom is
        used).  Codes are error-target OMP codes at ``σ̂`` (see ``batch_size``)."""
        n, p = X.shape
        r0 = min(n, _INIT_ATOMS_PER_FEATURE * p)
        if self.max_rank is not None:
            r0 = min(r0, int(self.max_rank))
        D = np.array(X[np.sort(rng.choice(n, r0, replace=False))], dtype=float)
        nd = np.linalg.norm(D, axis=1)
        D = D[nd > 0] / nd[nd > 0, None]
        if D.shape[0] == 0:
            return None
        omp_tol = (_OMP_ERROR_FACTOR * self.noise_level_) ** 2 * p

        def encode(Xb, D):
            return _omp_codes(Xb, D, omp_tol)

        # with all rows certified, the codes of the last pass start the final grow
        reuse = Xc is X and float(self.online_epochs) >= 1.0
        codes = np.zeros((n, D.shape[0])) if reuse else None
        D, _, done = online_dictionary_epochs(X, D, encode, batch_size=b,
                                              n_epochs=float(self.online_epochs), rng=rng,
                                              deadline=deadline, codes_out=codes)
        self.n_online_batches_ = int(done)
        keep = np.linalg.norm(D, axis=1) > 0
        Vc = np.asfortranarray(D[keep].T)
        if reuse and done * b >= n:  # every row coded (on the atoms of its batch's step)
            U = codes[:, keep]
        else:
            U = _omp_codes(Xc, Vc.T, omp_tol)
        used = np.any(U != 0, axis=0)
        if not np.any(used):
            return None
        return [np.asfortranarray(U[:, used]), np.asfortranarray(Vc[:, used])]

    @property
    def components_(self) -> np.ndarray:
        check_is_fitted(self, "V_")
        return self.V_.T

    @property
    def codes_(self) -> np.ndarray:
        check_is_fitted(self, "U_")
        return self.U_

    @property
    def n_components_(self) -> int:
        check_is_fitted(self, "V_")
        return int(self.V_.shape[1])

    # -- transform -----------------------------------------------------------------------
    def transform(self, X):
        """Codes of the signals ``X`` on the learned atoms (``n_samples × n_components_``) by
        ``transform_algorithm`` (see the parameter); ``codes @ components_`` reconstructs."""
        check_is_fitted(self, "V_")
        self._check_transform_params()
        X = self._validate(X, reset=False)
        r = self.n_components_
        alg = self.transform_algorithm
        if r == 0:
            return np.zeros((X.shape[0], 0))
        if alg in ("elastic_net", "refit"):
            U, _ = sparse_encode_elastic_net(X, self.V_, self.lam_, self.gamma_,
                                             max_sweeps=int(self.transform_max_iter),
                                             tol=float(self.transform_tol))
            return U if alg == "elastic_net" else _refit_on_support(X, self.V_, U)
        norms = np.linalg.norm(self.V_, axis=0)
        keep = norms > 0
        D = (self.V_[:, keep] / norms[keep]).T
        p = X.shape[1]
        alpha, k = self.transform_alpha, self.transform_n_nonzero_coefs
        with warnings.catch_warnings():  # OMP: "ended prematurely" when the target is unreachable
            warnings.simplefilter("ignore", RuntimeWarning)
            if alg == "omp":
                if k is not None and alpha is None:
                    C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                           n_nonzero_coefs=min(int(k), D.shape[0])).T
                else:
                    tol = (_OMP_ERROR_FACTOR * self.noise_level_) ** 2 * p if alpha is None \
                        else float(alpha)
                    if tol > 0:
                        C = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=tol,
                                               norms_squared=np.einsum("ij,ij->i", X, X)).T
                    else:
                        C = orthogonal_mp_gram(D @ D.T, D @ X.T,
                                               n_nonzero_coefs=min(D.shape[0], p)).T
            else:
                if alpha is None:  # the model's per-entry threshold on unit atoms
                    alpha = self.lam_ * self.gamma_
                C = sparse_encode(X, D, algorithm=alg, alpha=float(alpha),
                                  n_nonzero_coefs=None if k is None else int(k),
                                  max_iter=int(self.transform_max_iter))
        C = np.asarray(C).reshape(X.shape[0], -1)
        codes = np.zeros((X.shape[0], r))
        codes[:, keep] = C / norms[keep]
        return codes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # accepted and densified
        return tags

    def inverse_transform(self, codes):
        """Signals ``codes @ components_``."""
        check_is_fitted(self, "V_")
        codes = np.asarray(codes, dtype=float)
        if codes.ndim != 2 or codes.shape[1] != self.n_components_:
            raise ValueError(f"codes must have shape (n, {self.n_components_}), got "
                             f"{codes.shape}")
        return codes @ self.V_.T

    def certify(self, X):
        """Recompute the certificate (:class:`homfact.Certificate`) of the fitted factors on the
        training data ``X`` (on its certified subsample when the fit used one)."""
        check_is_fitted(self, "V_")
        X = self._validate(X, reset=False)
        rows = getattr(self, "certified_samples_", None)
        n_fit = self.U_.shape[0] if rows is None else None
        if rows is not None:
            if X.shape[0] != self.n_samples_fit_:
                raise ValueError(f"X must be the training data ({self.n_samples_fit_} rows), "
                                 f"got {X.shape[0]} rows")
            scale = math.sqrt(rows.size / X.shape[0])
            X = X[rows]
        else:
            scale = 1.0
            if X.shape[0] != n_fit:
                raise ValueError(f"X must be the training data ({n_fit} rows), got "
                                 f"{X.shape[0]} rows")
        problem = dictionary_problem(X, self.lam_ * scale, self.gamma_ / scale,
                                     n_starts=int(self.n_starts))
        cert, *_ = certify_factors(problem, [self.U_, self.V_], tol=self.tol)
        return cert

