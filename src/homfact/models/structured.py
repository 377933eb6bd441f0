"""Structured low-rank factorization (Haeffele, Young & Vidal, ICML 2014), certified.

``min ½‖Y − U(DA)ᵀ − WBᵀ‖²_F + λ Σᵢ κ_s(uᵢ)κ_t(aᵢ) + (μ/2)‖W‖²_F`` over the rank too:
``κ_s``, ``κ_t`` ℓ1 + TV + ℓ2 gauges on graphs (optionally non-negative), ``D`` an optional
fixed temporal dictionary, ``B`` an optional fixed intercept basis with free maps ``W``.
The intercepts, the dictionary, the polar bracket, the automatic ``λ``, the default gauges and
the debiasing refit: docs: models/structured.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..bases import fourier_basis, intercept_basis
from ..lam_rules import structured_auto_lam
from ..losses import InterceptSquaredLoss, SquaredLoss
from ..maps import Bilinear, DictionaryBilinear
from ..meta import Problem
from ..polar.structured import StructuredPolar
from ..problems import (
    StructuredProblem,
    check_dense_matrix,
    check_fit_params,
    check_lam,
    check_lam_or_auto,
)
from ..solvers.refit import _adjacency, _dilate, debias_refit, merge_correlated
from ..tv import L1TVL2, gauge_from_spec, grid_edges, neighbourhood_mean, parse_gauge_weights
from ..tv import _chain_edges as _chain_edges  # re-export
from ..validation import _check_real_matrix
from ._base import _FactorizationMixin

# fourier_basis lives in homfact.bases, parse_gauge_weights and the gauge construction in
# homfact.tv, the automatic λ in homfact.lam_rules; the former names are re-exported here.
__all__ = ["DictionaryBilinear", "InterceptSquaredLoss", "StructuredFactorization",
           "StructuredPolar", "StructuredProblem", "debias_refit", "fourier_basis",
           "merge_correlated", "parse_gauge_weights"]

#: default gauges (the recommended ones for calcium imaging, docs: models/structured)
_DEFAULT_SPATIAL = {"l1": 0.1, "tv": 0.5, "l2": 1.0}
_DEFAULT_TEMPORAL = {"l1": 1.0, "l2": 1.0}


def _check_int(est, name: str, low: int) -> None:
    """``ValueError`` naming ``name`` unless ``est.name`` is an integer ``>= low``."""
    val = getattr(est, name)
    if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {val!r}")


class StructuredFactorization(_FactorizationMixin, BaseEstimator):
    """Certified structured factorization ``Y ≈ U_ @ V_.T + background_`` (HYV14).

    Solves ``min ½‖Y − U(DA)ᵀ − WBᵀ‖² + λ Σᵢ κ_s(uᵢ)κ_t(aᵢ) + (μ/2)‖W‖²`` (docs:
    models/structured) with the rank chosen by ``λ`` and grown from the polar.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ``. ``"auto"``: ``λ = lam_scale · Ω̂°(σ̂E)``, a multiple of the polar of the noise
        ``σ̂E`` (the loss gradient at the truth, projected off the intercept basis; Negahban
        et al. 2012, Thm 1, with ``lam_scale`` in place of 2), ``σ̂`` the Gavish–Donoho noise
        level and ``Ω̂°`` the median value the polar's own search reaches from its 8 best seed
        starts (:func:`homfact.lam_rules.structured_auto_lam`; docs: models/structured,
        'Automatic λ').  Stored in ``noise_level_`` (``σ̂``) and ``noise_polar_`` (``Ω̂°``).
    spatial, temporal : str, dict, 3-tuple or :class:`homfact.tv.L1TVL2`
        Gauge weights ``(k1, k2, k3)`` of ``ℓ1``, ``TV`` and ``ℓ2`` per side: ``"l1+tv+l2"``
        (unit weights), ``{"l1": 1, "tv": 0.5, "l2": 1}``, ``(1, 0.5, 1)``; ``k1 + k3 > 0``.
        Defaults ``{"l1": 0.1, "tv": 0.5, "l2": 1}`` (spatial) and ``{"l1": 1, "l2": 1}``
        (temporal): the temporal ``ℓ1`` term lets a rarely firing neuron beat the noise of
        the frames where it is silent (why, and the measured gain: docs: models/structured,
        'Default gauges').
    spatial_nonnegative, temporal_nonnegative : bool, default=True
    image_shape : (rows, cols), optional
        Spatial graph = pixel lattice of that shape (row-major, ``rows·cols = m``).
    connectivity : {4, 8}, default=8
    spatial_edges, spatial_edge_weights : optional
        Explicit spatial graph (``(|E|, 2)`` node indices in ``[0, m)``, non-negative weights);
        exclusive with ``image_shape``.  Without either, the spatial side has no TV edges.
    temporal_edges, temporal_edge_weights : optional
        Temporal graph; default: the chain ``t — t+1`` (used only if the temporal TV weight is
        ``> 0``).
    temporal_dictionary : (n, p) array, optional
        Fixed dictionary ``D``: temporal components are ``D a`` and the temporal gauge acts on
        the codes ``a`` (then the temporal chain graph has ``p`` nodes).
    intercept : None, "auto", "constant", int or (n, q) array, default="auto"
        Background basis ``B``: ``"constant"`` = one constant column, an int ``k`` = the
        constant plus ``k`` slow cos/sin pairs (:func:`fourier_basis`), or an explicit basis.
        ``"auto"``: ``k = min(2, (n − 1) // 2)`` pairs (:func:`homfact.bases.intercept_basis`).
    intercept_reg : float, default=0.0
        ``μ``: 0 leaves the background maps unregularized; ``μ > 0`` adds ``(μ/2)‖W‖²``.
    prox_tol : float, default=1e-7
        Relative duality-gap tolerance of every TV prox (``‖x − x*‖ ≤ sqrt(2·gap)``).
    polar_seeds : int, default=8
        Seed starts for the multistart polar (:class:`StructuredPolar`): neighbourhood
        averages on the spatial graph (single nodes without one), ranked by the atom value
        their first half-step reaches (docs: models/structured, 'Polar and certificate').
    lam_scale : float, default=1.3
        Multiplier of the ``"auto"`` rule, chosen on tuning draws only (docs:
        models/structured, 'Automatic λ').
    growth_margin : float, default=0.25
        An atom found by the polar is appended only when its value exceeds ``λ(1 + margin)``
        (:func:`homfact.meta.grow`): it stops the growth of near-copies of fitted neurons
        barely above ``λ``; the certificate is unaffected.  Not applied when both gauges are
        signed pure ``ℓ2`` (the exact nuclear-norm polar).
    debias : bool, default=True
        Run the debiasing refit after the certified fit (Notes) and report its factors as
        ``U_``, ``V_``, ``intercept_``.
    refit_dilation : int, default=1
        The refit confines each footprint to its certified support grown by this many graph
        neighbourhoods (one ring of pixels on the image lattice).
    merge_threshold : float or None, default=0.8
        Before the refit (non-negative factors, no dictionary), components whose dilated
        supports intersect and whose traces have Pearson correlation ``≥ merge_threshold``
        are merged (:func:`merge_correlated`, CNMF's merge step and threshold); ``None``
        disables it.
    max_sweeps : int, default=30
        Cap on local-descent sweeps per outer iteration (:func:`homfact.meta.grow`); the
        certificate is computed for whatever factors the descent reached.
    refit_max_iter, refit_tol : int, float; default 30, 1e-4
        Sweep cap and relative objective decrease at which the refit stops.
    init, rank, max_rank, tol, max_iter, time_limit, random_state, verbose
        As in :class:`homfact.LowRankApproximation` (``init`` may be ``(U0, A0)``).

    Notes
    -----
    Recommended for calcium imaging (pixels × frames): the defaults plus ``image_shape``
    (see ``examples/calcium_segmentation.py``).

    **Debiasing refit** (``debias=True``).  The ``ℓ1``/TV penalty shrinks the footprints, so
    the certified factors are refit without penalty, keeping the number of components and
    where each footprint lives: :func:`debias_refit` minimizes ``½‖Y − UVᵀ − WBᵀ‖² +
    (μ/2)‖W‖²`` by HALS with each footprint confined to its certified support dilated by
    ``refit_dilation`` rings (with a temporal dictionary only the footprints and background
    are refit).  The certificate describes the certified solution, kept as ``certified_U_``,
    ``certified_V_``, ``certified_intercept_`` (``certified_codes_``), never the refit, which
    solves a different problem (docs: models/structured, 'Debiasing refit').

    Attributes
    ----------
    U_ : (m, k) spatial components (the refit when ``debiased_``; ``k ≤ rank_``: a component
        the refit zeroes is dropped).
    V_ : (n, k) temporal components (``D @ codes_`` with a dictionary).
    codes_ : (p, k) dictionary codes (only with ``temporal_dictionary``).
    intercept_ : (m, q) background maps ``W`` (exact minimizer given ``U_``, ``V_``),
        ``background_ = W Bᵀ``.
    intercept_basis_ : (n, q) the basis ``B``.
    certified_U_, certified_V_, certified_intercept_, certified_codes_ : the certified solution
        (``rank_`` columns); ``certificate_`` certifies these.
    debiased_ : bool, whether the refit ran; debias_info_ : its ``n_sweeps``, ``objective``
        (before, after) and ``dropped`` (``None`` without refit).
    noise_level_, noise_polar_ : ``σ̂`` and ``Ω̂°(σ̂E)`` of ``lam="auto"``.
    lam_, rank_, certificate_, history_, n_iter_, stop_reason_, gauges_ (spatial, temporal).
    """

    def __init__(self, lam="auto", *, spatial=None, temporal=None, spatial_nonnegative=True,
                 temporal_nonnegative=True, image_shape=None, connectivity=8,
                 spatial_edges=None, spatial_edge_weights=None, temporal_edges=None,
                 temporal_edge_weights=None, temporal_dictionary=None, intercept="auto",
                 intercept_reg=0.0, prox_tol=1e-7, polar_seeds=8, lam_scale=1.3,
                 growth_margin=0.25, init="zero", rank=None, max_rank=None, tol=1e-4,
                 max_iter=100, max_sweeps=30, time_limit=None, debias=True, refit_dilation=1,
                 merge_threshold=0.8, refit_max_iter=30, refit_tol=1e-4, random_state=None,
                 verbose=False):
        self.lam = lam
        self.spatial = spatial
        self.temporal = temporal
        self.spatial_nonnegative = spatial_nonnegative
        self.temporal_nonnegative = temporal_nonnegative
        self.image_shape = image_shape
        self.connectivity = connectivity
        self.spatial_edges = spatial_edges
        self.spatial_edge_weights = spatial_edge_weights
        self.temporal_edges = temporal_edges
        self.temporal_edge_weights = temporal_edge_weights
        self.temporal_dictionary = temporal_dictionary
        self.intercept = intercept
        self.intercept_reg = intercept_reg
        self.prox_tol = prox_tol
        self.polar_seeds = polar_seeds
        self.lam_scale = lam_scale
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.growth_margin = growth_margin
        self.debias = debias
        self.max_sweeps = max_sweeps
        self.merge_threshold = merge_threshold
        self.refit_dilation = refit_dilation
        self.refit_max_iter = refit_max_iter
        self.refit_tol = refit_tol
        self.random_state = random_state
        self.verbose = verbose

    def _spatial_graph(self, m: int):
        if self.image_shape is not None and self.spatial_edges is not None:
            raise ValueError("give either image_shape or spatial_edges, not both")
        if self.image_shape is not None:
            try:
                rows, cols = (int(s) for s in self.image_shape)
            except (TypeError, ValueError):
                raise ValueError(f"image_shape must be a pair of positive integers, got "
                                 f"{self.image_shape!r}") from None
            if rows * cols != m:
                raise ValueError(f"image_shape {self.image_shape!r} has {rows * cols} pixels but "
                                 f"Y has {m} rows")
            if self.connectivity not in (4, 8):
                raise ValueError(f"connectivity must be 4 or 8, got {self.connectivity!r}")
            if self.spatial_edge_weights is not None:
                raise ValueError("spatial_edge_weights needs spatial_edges")
            return grid_edges((rows, cols), self.connectivity), None
        return self.spatial_edges, self.spatial_edge_weights

    def _gauges(self, m: int, p: int) -> tuple[L1TVL2, L1TVL2]:
        edges, weights = self._spatial_graph(m)
        spatial = _DEFAULT_SPATIAL if self.spatial is None else self.spatial
        gu = gauge_from_spec(spatial, "spatial", m, edges, weights,
                             bool(self.spatial_nonnegative), "spatial_edges", self.prox_tol)
        t_edges, t_weights = self.temporal_edges, self.temporal_edge_weights
        if t_edges is None and p > 1:
            if t_weights is not None:
                raise ValueError("temporal_edge_weights needs temporal_edges")
            t_edges = _chain_edges(p)
        temporal = _DEFAULT_TEMPORAL if self.temporal is None else self.temporal
        gv = gauge_from_spec(temporal, "temporal", p, t_edges, t_weights,
                             bool(self.temporal_nonnegative), "temporal_edges", self.prox_tol)
        return gu, gv

    def _check_params(self) -> None:
        check_lam_or_auto(self.lam)
        check_fit_params(self)
        for name in ("lam_scale", "intercept_reg", "growth_margin"):
            check_lam(getattr(self, name), name)
        _check_int(self, "polar_seeds", 0)
        if not isinstance(self.debias, bool | np.bool_):
            raise ValueError(f"debias must be a bool, got {self.debias!r}")
        if self.merge_threshold is not None and (
                isinstance(self.merge_threshold, bool)
                or not isinstance(self.merge_threshold, numbers.Real)
                or not -1 <= self.merge_threshold <= 1):
            raise ValueError(f"merge_threshold must be None or a number in [-1, 1], got "
                             f"{self.merge_threshold!r}")
        for name, low in (("max_sweeps", 1), ("refit_dilation", 0), ("refit_max_iter", 0)):
            _check_int(self, name, low)
        if isinstance(self.refit_tol, bool) or not isinstance(self.refit_tol, numbers.Real) \
                or not 0 <= self.refit_tol < 1:
            raise ValueError(f"refit_tol must be a number in [0, 1), got {self.refit_tol!r}")

    def _build(self, Y: np.ndarray) -> Problem:
        m, n = Y.shape
        D = self.temporal_dictionary
        if D is not None:
            mapping = DictionaryBilinear((m, n), D)
        else:
            mapping = Bilinear((m, n))
        gu, gv = self._gauges(m, mapping.block_sizes[1])
        # the margin is for bracket polars; signed l2/l2 gauges have the exact (SVD) polar
        exact_polar = all(g.k1 == 0 and g.k2 == 0 and not g.nonnegative for g in (gu, gv))
        mapping.growth_margin = 0.0 if exact_polar else float(self.growth_margin)
        B = intercept_basis(self.intercept, n)
        loss = SquaredLoss(Y) if B is None else InterceptSquaredLoss(Y, B, self.intercept_reg)
        self.gauges_ = (gu, gv)
        polar = StructuredPolar(gu, gv, n_seeds=int(self.polar_seeds))
        self._spatial_adjacency = _adjacency(gu.graph.edges, m) if gu.graph.edges.size else None
        if self._spatial_adjacency is not None:  # seeds: neighbourhood averages
            polar.seed_smoothing = neighbourhood_mean(self._spatial_adjacency)
        if isinstance(self.lam, str):
            self.lam_, self.noise_level_, self.noise_polar_ = structured_auto_lam(
                Y, loss, mapping, polar, self.lam_scale, self.random_state)
        else:
            self.lam_ = float(self.lam)
        polar.threshold = self.lam_
        return StructuredProblem(loss, mapping, (gu, gv), self.lam_, polar=polar,
                                 local_solver="prox_linear")

    def fit(self, Y, y=None):
        """Fit ``Y`` (``m × n`` dense array: rows = pixels / nodes, columns = frames)."""
        self._check_params()
        _check_real_matrix(Y, "Y")  # errors naming Y first; then scikit-learn's checks
        Y = validate_data(self, Y, accept_sparse=("csr", "csc", "coo"), dtype=np.float64)
        Y = check_dense_matrix(Y, "Y")  # sparse input is densified (the model is dense)
        problem = self._build(Y)
        factors = self._initial_factors(problem.mapping.block_sizes,
                                         float(np.sqrt(np.mean(Y * Y))))
        if factors is not None and isinstance(self.init, str):  # "random": into the domain
            gu, gv = problem.gauges
            if gu.nonnegative:
                factors[0] = np.abs(factors[0])
            if gv.nonnegative:
                factors[1] = np.abs(factors[1])
        self._run(problem, factors, "StructuredFactorization", max_sweeps=int(self.max_sweeps))
        U, A = self.U_, self.V_
        mapping = problem.mapping
        if isinstance(mapping, DictionaryBilinear):
            self.codes_ = A
            self.V_ = mapping.D @ A
        loss = problem.loss
        if isinstance(loss, InterceptSquaredLoss):
            self.intercept_basis_ = loss.basis
            self.intercept_ = loss.intercept(U @ self.V_.T)
        else:
            self.intercept_basis_ = np.zeros((Y.shape[1], 0))
            self.intercept_ = np.zeros((Y.shape[0], 0))
        self.certified_U_, self.certified_V_ = self.U_, self.V_
        self.certified_intercept_ = self.intercept_
        if isinstance(mapping, DictionaryBilinear):
            self.certified_codes_ = self.codes_
        self.debiased_, self.debias_info_ = False, None
        if self.debias and self.rank_ > 0:
            self._debias(Y, problem)
        return self

    def _debias(self, Y: np.ndarray, problem) -> None:
        """The debiasing refit (class docstring): sets ``U_``, ``V_``, ``intercept_``."""
        gu, gv = problem.gauges
        support = _dilate(self.U_ != 0, self._spatial_adjacency, int(self.refit_dilation))
        mapping = problem.mapping
        D = mapping.D if isinstance(mapping, DictionaryBilinear) else None
        mu = float(self.intercept_reg)
        U0, V0 = self.U_, self.V_
        n_merged = 0
        if (self.merge_threshold is not None and D is None and gu.nonnegative
                and gv.nonnegative):
            U0, V0, support = merge_correlated(U0, V0, support, float(self.merge_threshold))
            n_merged = self.U_.shape[1] - U0.shape[1]
        U, V, W, info = debias_refit(
            Y, U0, V0, support=support,
            basis=self.intercept_basis_ if self.intercept_basis_.shape[1] else None, mu=mu,
            spatial_nonnegative=gu.nonnegative, temporal_nonnegative=gv.nonnegative,
            dictionary=D, max_sweeps=int(self.refit_max_iter), tol=float(self.refit_tol))
        kept = info.pop("kept")
        if D is not None:
            self.codes_ = self.codes_[:, kept]
        self.U_, self.V_ = U, V
        self.intercept_ = W if W.shape[1] else self.intercept_[:, :0]
        info["merged"] = n_merged
        self.debiased_, self.debias_info_ = True, info

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # accepted and densified
        return tags

    @property
    def background_(self) -> np.ndarray:
        """The intercept part ``W Bᵀ`` (``m × n``)."""
        check_is_fitted(self, "intercept_")
        return self.intercept_ @ self.intercept_basis_.T

    def reconstruction(self, which: str = "refit") -> np.ndarray:
        """``U_ V_ᵀ + background_`` (``which="refit"``, the reported factors: the debiased
        refit when ``debiased_``), or the certified solution ``certified_U_ certified_V_ᵀ +
        certified_intercept_ Bᵀ`` (``which="certified"``)."""
        check_is_fitted(self, "U_")
        if which == "certified":
            return (self.certified_U_ @ self.certified_V_.T
                    + self.certified_intercept_ @ self.intercept_basis_.T)
        if which != "refit":
            raise ValueError(f"which must be 'refit' or 'certified', got {which!r}")
        return self.U_ @ self.V_.T + self.background_

    def spatial_images(self) -> np.ndarray:
        """The spatial components as images ``(rank_, rows, cols)`` (needs ``image_shape``)."""
        check_is_fitted(self, "U_")
        if self.image_shape is None:
            raise ValueError("spatial_images needs image_shape")
        rows, cols = (int(s) for s in self.image_shape)
        return self.U_.T.reshape(-1, rows, cols)
