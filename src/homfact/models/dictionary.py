"""Sparse dictionary learning with a certified duality-gap bracket.

One signal per row of ``X``, ``X ≈ C D`` (codes ``C``, atoms ``D`` as rows), solving
``min_{C, D, r} ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)`` over the number of atoms ``r``
too: the bilinear model ``X ≈ U Vᵀ`` with elastic-net codes ``U = C`` and ℓ2 atoms ``V = Dᵀ``.
The polar bracket, the automatic ``λ`` and ``γ``, the online phase, the certified subsample and
the codings of ``transform``: docs: models/dictionary.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._progress import progress
from ..lam_rules import dictionary_auto_lam_gamma, dictionary_lam_floor, dictionary_lam_max
from ..meta import certify_factors, grow
from ..noise import estimate_signal_noise_level
from ..polar.dictionary import ElasticNetL2Polar, elastic_net_dual_columns, noise_polar_level
from ..problems import DictionaryProblem as DictionaryProblem  # re-export
from ..problems import check_fit_params, check_lam_or_auto, dictionary_problem
from ..solvers.elastic_net import _refit_on_support, elastic_net_bcd, sparse_encode_elastic_net
from ..solvers.online_dictionary import online_initial_factors
from ..solvers.sparse_coding import omp_encoder, omp_error_target, unit_atom_codes
from ..validation import _check_real_matrix

# dictionary_lam_max and the λ/γ rules live in homfact.lam_rules, the online phase in
# homfact.solvers.online_dictionary, the OMP/scikit-learn codings in
# homfact.solvers.sparse_coding; the former names are re-exported here.
__all__ = ["ElasticNetL2Polar", "SparseDictionaryLearning", "dictionary_lam_max",
           "dictionary_problem", "elastic_net_bcd", "elastic_net_dual_columns",
           "noise_polar_level", "sparse_encode_elastic_net"]

#: signals above which ``batch_size="auto"`` learns the atoms by online mini-batch descent
_ONLINE_MIN_SAMPLES = 4000
#: cap on the descent sweeps per outer iteration of the final grow after the online phase
_FINAL_MAX_SWEEPS = 10
#: alternating steps of the polar lower bound reported in ``lam_max_``
_LAM_MAX_ASCENT = 3
_TRANSFORM_ALGORITHMS = ("omp", "elastic_net", "refit", "lasso_lars", "lasso_cd", "lars",
                         "threshold")


class SparseDictionaryLearning(TransformerMixin, BaseEstimator):
    """Sparse dictionary learning ``X ≈ codes @ components_`` with a certified gap bracket.

    Solves, over the number of atoms ``r`` as well::

        min ½‖X − C D‖²_F + λ Σᵢ ‖Dᵢ‖₂ (‖Cᵢ‖₂ + γ‖Cᵢ‖₁)

    (``Dᵢ`` = row ``i`` of ``D`` = atom ``i``; ``Cᵢ`` = column ``i`` of ``C`` = every signal's code
    on atom ``i``).  With unit atoms the penalty is ``λγ‖C‖₁ + λ Σᵢ ‖Cᵢ‖₂``: a lasso with
    per-entry threshold ``λγ`` plus a group term charging each atom ``λ`` per unit of code
    energy, which limits the number of atoms (docs: models/dictionary).

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ >= 0``.  ``"auto"``: ``λ = 2·ρ(σ̂E)``, twice the level that Gaussian noise at the
        estimated level ``σ̂ = noise_level_`` reaches in the polar test of the zero solution
        (Negahban et al. 2012: ``λ ≥ 2·R°(∇ℓ(truth))``; :func:`noise_polar_level`), floored at
        ``1e-3·lam_max_[0]``: pure noise gives no atom (rule and sources: docs:
        models/dictionary, 'Automatic λ and γ').
    gamma : float or "auto", default="auto"
        ``γ >= 0``, weight of the ℓ1 part of the code gauge (``γ = 0``: nuclear norm).
        ``"auto"``: ``γ = t/λ``, the per-entry threshold of unit atoms being the universal
        threshold ``t = σ̂√(2 log n_features)`` (Donoho & Johnstone 1994;
        :func:`homfact.noise.universal_threshold`).
    max_rank : int, optional
        Cap on the number of atoms; the certificate stays honest when it binds.
    tol, max_iter, time_limit : float, int, float; default 1e-4, 100, None
        Relative duality gap of the ``"global"`` status; outer (grow) iterations, one
        certificate each; wall-clock budget in seconds for the fit.
    growth_rtol : float or None, default=1e-5
        Stop growing once the best atom the polar finds would lower the objective by at most
        ``growth_rtol·|P|`` (see :func:`homfact.grow`); the certificate then reports
        honestly how far from optimal the fit may be.  ``None``: grow while any atom is found.
    local_solver : {"bcd", "prox_linear"}, default="bcd"
        Exact block-coordinate descent over columns, or block prox-linear descent.
    n_starts : int, default=8
        Starts of the alternating polar maximization (lower bound).
    batch_size : int, "auto" or None, default="auto"
        Online learning of the atoms by mini-batches of this size (Mairal et al., JMLR 11,
        2010; :mod:`homfact.solvers.online_dictionary`, error-target OMP codes at ``σ̂``),
        then a certified ``grow`` warm-started from them with ``online_final_iter`` outer
        iterations of at most 10 descent sweeps (docs: models/dictionary, 'Many signals').
        ``"auto"``: 256 when ``n_samples > 4000``, otherwise ``None`` (``grow`` on all the data
        from rank 0, up to ``max_iter`` outer iterations).
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
        Coding of new signals by :meth:`transform` on the unit-norm atoms, the codes returned in
        the scale of ``components_`` (docs: models/dictionary, 'Coding new signals'):
        ``"omp"`` (error-target OMP, ``‖x − c D‖² ≤ (1.15·σ̂)²·n_features``, the K-SVD rule;
        ``transform_n_nonzero_coefs`` or ``transform_alpha``, the squared error target,
        override it), ``"elastic_net"`` (the model's own code problem with the atoms fixed:
        shrunk, certified-objective codes, :func:`sparse_encode_elastic_net`), ``"refit"``
        (those codes refit by least squares on their support), or scikit-learn's
        ``"lasso_lars"``, ``"lasso_cd"``, ``"lars"``, ``"threshold"``
        (:func:`~sklearn.decomposition.sparse_encode` with its meaning of ``transform_alpha``,
        default ``λγ``, and of ``transform_n_nonzero_coefs``).
    transform_alpha, transform_n_nonzero_coefs : float, int, optional
    transform_tol, transform_max_iter : float, int; default 1e-6, 1000
        Stopping tolerance of the ``"elastic_net"``/``"refit"`` coding (a full coordinate-descent
        sweep changes the codes by ``≤ transform_tol·max(1, ‖C‖_F)``) and its sweep cap.
    random_state : int, Generator or None
    verbose : bool, default=False

    Attributes
    ----------
    components_ : (n_components_, n_features) the atoms ``D`` (rows), balanced with the codes
        (``‖Dᵢ‖ = ‖Cᵢ‖₂ + γ‖Cᵢ‖₁``); with ``codes_`` the certified solution (not debiased).
    codes_ : (n_certified, n_components_) codes ``C`` of the certified signals (all of ``X``,
        or ``X[certified_samples_]``).
    n_components_, rank_ : number of atoms selected.
    U_, V_ : ``codes_`` and ``components_.T`` (homfact's convention ``X ≈ U_ @ V_.T``).
    noise_level_ : ``σ̂`` (:func:`estimate_signal_noise_level`).
    lam_, gamma_ : the ``λ`` and ``γ`` of the full-data problem.
    lam_max_ : (lower, upper) bracket on ``λ_max = Ω°`` of the certified data (the smallest
        ``λ`` giving the zero solution) in the scale of ``lam_``, for the ``γ`` of the rule: a
        feasible value after 3 alternating steps, the rigorous bound of
        :class:`ElasticNetL2Polar`.
    certificate_ : bracket certificate of the fitted factors: ``"global"`` only when the
        rigorous polar upper bound is ``≤ λ(1+ε)`` and the gap ``≤ tol``.  Above
        ``certify_max_samples`` signals it certifies the problem on the subsample
        ``certified_samples_`` (``λ`` scaled by ``√(m/n)``, so its ``lam`` differs from
        ``lam_``), not on all of ``X``; its ``method`` says so.
    certified_samples_ : rows of the certified subsample (``None``: all rows).
    n_samples_fit_ : number of training signals.
    n_online_batches_ : mini-batches of the online phase (0 when it did not run).
    history_, n_iter_, stop_reason_, n_features_in_

    Notes
    -----
    The ``"elastic_net"`` codes carry the ``λ`` shrinkage, which is what makes ``λ`` select the
    atoms but biases reconstructions toward zero; the default ``"omp"`` (and ``"refit"``)
    remove it.  The PSNRs of the codings on the camera case of ``benchmarks/bench_dictionary.py``
    are in docs: models/dictionary.
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

    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (``n_samples × n_features``, one signal per row)."""
        self._check_params()
        X = self._validate(X, reset=True)
        t0 = time.perf_counter()
        deadline = math.inf if self.time_limit is None else t0 + float(self.time_limit)
        n, p = X.shape
        rng = np.random.default_rng(self.random_state)
        self.noise_level_ = estimate_signal_noise_level(X)
        lam, gamma, t = dictionary_auto_lam_gamma(self.noise_level_, n, p, self.lam,
                                                  self.gamma, self.random_state)
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
        lam, gamma = dictionary_lam_floor(lam, gamma, t, self.lam_max_[0],
                                          auto_lam=isinstance(self.lam, str),
                                          auto_gamma=isinstance(self.gamma, str))
        self.lam_, self.gamma_ = float(lam), float(gamma)
        lam_c, gamma_c = lam * scale, gamma / scale
        bs = self.batch_size
        if bs == "auto":
            bs = 256 if n > _ONLINE_MIN_SAMPLES else None
        factors = None
        self.n_online_batches_ = 0
        with progress(bool(self.verbose), "SparseDictionaryLearning") as callback:
            if bs is not None and lam < self.lam_max_[1]:
                encode = omp_encoder(omp_error_target(self.noise_level_, p))
                factors, self.n_online_batches_ = online_initial_factors(
                    X, Xc, encode, batch_size=int(bs), n_epochs=self.online_epochs,
                    max_atoms=self.max_rank, rng=rng, deadline=deadline)
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
        return unit_atom_codes(X, self.V_, alg, alpha=self.transform_alpha,
                               n_nonzero_coefs=self.transform_n_nonzero_coefs,
                               error_target=omp_error_target(self.noise_level_, X.shape[1]),
                               default_alpha=self.lam_ * self.gamma_,
                               max_iter=int(self.transform_max_iter))

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

