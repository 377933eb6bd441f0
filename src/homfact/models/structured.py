"""Structured low-rank factorization (Haeffele, Young & Vidal, ICML 2014), certified.

Model (``Y`` is ``m × n``, e.g. pixels × frames)::

    min_{U, A, W}  ½‖Y − U (D A)ᵀ − W Bᵀ‖²_F + λ Σᵢ κ_s(uᵢ) κ_t(aᵢ) + (μ/2)‖W‖²_F

* ``κ_s``, ``κ_t`` — one gauge per side, each ``k1‖·‖₁ + k2 TV_E(·) + k3‖·‖₂`` with optional
  non-negativity (:class:`homfact.tv.L1TVL2`), TV on a graph (2-D image grid with 4/8
  neighbours, or an explicit edge list), ``k1 + k3 > 0``.
* ``D`` — optional fixed temporal dictionary (``n × p``, e.g. calcium-transient kernels as in the
  CODE ``Da``); without it ``D = I`` and ``V = A``.
* ``B`` — optional fixed intercept (background) basis (``n × q``: a constant column, or slow
  Fourier atoms), with free spatial maps ``W`` (``m × q``) unregularized (``μ = 0``) or
  ridge-regularized (``μ > 0``).

**Intercepts.**  ``W`` is minimized out exactly: ``W*(Z) = R B (BᵀB + μI)⁻¹`` with
``R = Y − U(DA)ᵀ``, leaving the convex quadratic loss ``ℓ̃(Z) = ½⟨R, R M⟩``,
``M = I − B(BᵀB + μI)⁻¹Bᵀ = I − Q diag(w) Qᵀ`` (``B = QΣPᵀ``, ``wᵢ = σᵢ²/(σᵢ² + μ)``).  Local
descent, growth and the certificate all use ``ℓ̃`` (:class:`InterceptSquaredLoss`), so the
intercept is always at its exact optimum, the polar is computed on ``G = −∇ℓ̃ = R M`` and the
certificate covers the joint problem over ``(U, A, W)``: its dual has the extra constraint
``Λ B = 0`` (``μ = 0``) or the extra term ``−‖ΛB‖²/(2μ)`` (``μ > 0``), both built into
``ℓ̃*`` (docs: theory/duality-gap-and-status, 'Unfactorized blocks').

**Fixed dictionary.**  With ``D`` the atoms are ``u (D a)ᵀ`` and only ``(U, A)`` are learned; the
problem is the structured factorization of ``Z = U Aᵀ`` with the loss ``ℓ(Z Dᵀ)``, so the
certificate is the usual one with the polar taken on ``G D`` (``Ω°(GD) = sup uᵀ G D a`` over the
gauge balls of ``u`` and ``a``); the dual point ``Λ = cG`` is feasible when ``Ω°(cGD) ≤ λ``.
(A side that is fixed entirely — known footprints, only traces learned — makes the problem
convex in the other side; that case is not offered here.)

**Polar / certificate.**  Lower bound: multistart alternating LMOs (:class:`StructuredPolar`:
the top singular pair plus seeds at the pixels with the largest positive residual energy,
excluding pixels covered by earlier maxima; each seed gives a feasible pair whose exact value
is a valid lower bound, and distinct maxima are growth candidates).  Upper bound:
``σ_max(G̃)/((k1+k3)_s (k1+k3)_t)`` with ``G̃ = (GD)₊`` when both sides are non-negative,
``GD`` otherwise (docs: theory/families, 'Structured ℓ1 + TV + ℓ2').  With TV/ℓ1 terms this
bound is loose, so ``"global"`` is rare on
imaging data: the status is then honestly ``"unverified"`` (no atom above ``λ`` found, none
ruled out) unless the bound certifies.

**Local descent.**  Block prox-linear (Xu & Yin 2013) with the gauges' exact-to-tolerance proxes;
growth, pruning and certificates through :func:`homfact.meta.grow` as for the other models.
Pruning (:class:`StructuredProblem`) also merges nearly parallel slices (duplicates left by
growth) when that does not increase the objective; it runs before every certificate.

**Automatic λ and debiasing** (issue 12).  ``lam="auto"`` is a multiple of the polar of the
noise at the Gavish–Donoho noise level (the estimator's docstring states the rule and its
source).  The penalty shrinks the footprints, so by default the certified factors are then
refit without penalty on their dilated supports (:func:`merge_correlated`, then
:func:`debias_refit`); the certified solution and its certificate are kept as
``certified_*`` attributes.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..losses import InterceptSquaredLoss, Loss, SquaredLoss
from ..losses import _vdot as _vdot  # re-export
from ..maps import Bilinear, DictionaryBilinear
from ..meta import Problem
from ..noise import estimate_noise_level, robust_scale
from ..polar.structured import StructuredPolar
from ..polar.structured import _l1l2_dual_rows as _l1l2_dual_rows  # re-export
from ..problems import (
    StructuredProblem,
    check_dense_matrix,
    check_fit_params,
    check_lam,
    check_lam_or_auto,
)
from ..solvers.refit import _adjacency, _dilate, debias_refit, merge_correlated
from ..solvers.refit import _merge_parallel as _merge_parallel  # re-export
from ..solvers.refit import _rank_one_merge as _rank_one_merge  # re-export
from ..solvers.refit import _unit_columns as _unit_columns  # re-export
from ..tv import L1TVL2, grid_edges
from .low_rank import _check_real_matrix, _FactorizationMixin

__all__ = [
    "DictionaryBilinear",
    "InterceptSquaredLoss",
    "StructuredFactorization",
    "StructuredPolar",
    "StructuredProblem",
    "debias_refit",
    "fourier_basis",
    "merge_correlated",
    "parse_gauge_weights",
]


# --------------------------------------------------------------------------------------------
# user-facing helpers


def fourier_basis(n: int, n_freq: int) -> np.ndarray:
    """Slow background basis of CODE's ``MakeFourierD(n, n_freq + 1)``-style: ``n × (2k + 1)``.

    Columns: the constant, then ``cos(2πjt/n)``, ``sin(2πjt/n)`` for ``j = 1..n_freq``, each of
    unit ℓ2 norm.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(n_freq, bool) or not isinstance(n_freq, numbers.Integral) or n_freq < 0:
        raise ValueError(f"n_freq must be an integer >= 0, got {n_freq!r}")
    if 2 * n_freq >= n:  # sin(2πjt/n) vanishes at j = n/2; j > n/2 aliases lower frequencies
        raise ValueError(f"n_freq must be < n/2 (independent, non-zero columns), got "
                         f"n_freq={n_freq} for n={n}")
    t = np.arange(n) / n
    cols = [np.ones(n)]
    for j in range(1, n_freq + 1):
        cols += [np.cos(2 * np.pi * j * t), np.sin(2 * np.pi * j * t)]
    B = np.stack(cols, axis=1)
    return B / np.linalg.norm(B, axis=0)


_TERM_NAMES = {"l1": 0, "tv": 1, "l2": 2}

#: seeds of the noise-polar estimate behind ``lam="auto"``
_AUTO_LAM_SEEDS = 8
#: default gauges (the recommended ones for calcium imaging, see the estimator's docstring)
_DEFAULT_SPATIAL = {"l1": 0.1, "tv": 0.5, "l2": 1.0}
_DEFAULT_TEMPORAL = {"l1": 1.0, "l2": 1.0}
#: slow cos/sin pairs of ``intercept="auto"``
_AUTO_INTERCEPT_PAIRS = 2


def parse_gauge_weights(spec, name: str) -> tuple[float, float, float]:
    """``(k1, k2, k3)`` from ``"l1+tv+l2"`` (unit weights), a dict ``{"l1": .., "tv": ..,
    "l2": ..}`` or a 3-tuple; errors name the argument ``name``."""
    k = [0.0, 0.0, 0.0]
    if isinstance(spec, str):
        terms = [t.strip().lower() for t in spec.split("+")]
        for t in terms:
            if t not in _TERM_NAMES:
                raise ValueError(f"{name}: unknown term {t!r} (use 'l1', 'tv', 'l2' joined by "
                                 f"'+'), got {spec!r}")
            k[_TERM_NAMES[t]] = 1.0
    elif isinstance(spec, dict):
        for key, val in spec.items():
            if key not in _TERM_NAMES:
                raise ValueError(f"{name}: unknown term {key!r} (use 'l1', 'tv', 'l2')")
            k[_TERM_NAMES[key]] = val
    elif isinstance(spec, tuple | list) and len(spec) == 3:
        k = list(spec)
    else:
        raise TypeError(f"{name} must be a string like 'l1+tv+l2', a dict of weights or a "
                        f"(k1, k2, k3) tuple, got {spec!r}")
    out = []
    for term, val in zip(("l1", "tv", "l2"), k, strict=True):
        if isinstance(val, bool) or not isinstance(val, numbers.Real):
            raise TypeError(f"{name}: weight of {term!r} must be a real number, got {val!r}")
        if not np.isfinite(val) or val < 0:
            raise ValueError(f"{name}: weight of {term!r} must be a finite number >= 0, got "
                             f"{val!r}")
        out.append(float(val))
    if out[0] + out[2] <= 0:
        raise ValueError(f"{name}: the l1 or l2 weight must be > 0 (a TV-only gauge vanishes on "
                         f"constants and has no polar bound), got {spec!r}")
    return out[0], out[1], out[2]


def _chain_edges(n: int) -> np.ndarray:
    i = np.arange(n - 1, dtype=np.int64)
    return np.stack([i, i + 1], axis=1)


def _build_gauge(spec, name: str, n_nodes: int, edges, edge_weights, nonneg, edges_name: str,
                 prox_tol: float) -> L1TVL2:
    if isinstance(spec, L1TVL2):
        if spec.n_nodes != n_nodes:
            raise ValueError(f"{name} is a gauge on {spec.n_nodes} nodes, but that side has "
                             f"{n_nodes} rows")
        return spec
    k1, k2, k3 = parse_gauge_weights(spec, name)
    try:
        # the polar only needs feasible points of high value: a loose LMO bracket is enough
        return L1TVL2(k1, k2, k3, n_nodes, edges, edge_weights, nonneg, prox_tol=prox_tol,
                      lmo_tol=3e-2, lmo_prox_tol=1e-3)
    except ValueError as exc:
        msg = str(exc)
        arg = edges_name + ("_weights" if msg.startswith("weights") else "")
        arg = arg.replace("edges_weights", "edge_weights")
        raise ValueError(f"{arg}: {msg}") from None


# --------------------------------------------------------------------------------------------
# estimator


class StructuredFactorization(_FactorizationMixin, BaseEstimator):
    """Certified structured factorization ``Y ≈ U_ @ V_.T + background_`` (HYV14).

    Solves ``min ½‖Y − U(DA)ᵀ − WBᵀ‖² + λ Σᵢ κ_s(uᵢ)κ_t(aᵢ) + (μ/2)‖W‖²`` (module docstring)
    with the rank chosen by ``λ`` and grown from the polar.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        ``λ``. ``"auto"``: ``λ = lam_scale · Ω̂°(σ̂E)``, a multiple of the polar (the dual norm of
        the atomic gauge) of the loss gradient at the truth, which for the squared loss is the noise
        ``σE`` (projected off the intercept basis). This is the rule of Negahban, Ravikumar,
        Wainwright & Yu (2012, "A unified framework for high-dimensional analysis of M-estimators
        with decomposable regularizers", Statist. Sci. 27(4), Thm 1: ``λ ≥ 2 R*(∇L(θ*))``) carried
        to this gauge, with the constant ``lam_scale`` in place of 2 and the admission margin
        ``growth_margin`` below. ``σ̂`` is the Gavish–Donoho estimate
        (:func:`homfact.noise.estimate_noise_level`: median singular value of ``Y`` over the
        Marchenko–Pastur median; the neurons and the background have rank far below ``min(m, n)/2``;
        a single row or column: :func:`homfact.noise.robust_scale`). The polar is NP-hard for ℓ1/TV
        gauges, so ``Ω̂°`` is estimated on one draw of ``σ̂E`` with the polar's own search: the
        median, over the 8 seed starts of :class:`StructuredPolar` with the largest
        ``seed_scores``, of the value its alternating-LMO ascent reaches from that start (the
        same search that later proposes atoms, so ``λ`` is measured against what it finds in
        noise).
        Stored in ``noise_level_`` (``σ̂``) and ``noise_polar_`` (``Ω̂°``).
    spatial, temporal : str, dict, 3-tuple or :class:`homfact.tv.L1TVL2`
        Gauge weights ``(k1, k2, k3)`` of ``ℓ1``, ``TV`` and ``ℓ2`` per side: ``"l1+tv+l2"``
        (unit weights), ``{"l1": 1, "tv": 0.5, "l2": 1}``, ``(1, 0.5, 1)``; ``k1 + k3 > 0``.
        Defaults ``{"l1": 0.1, "tv": 0.5, "l2": 1}`` (spatial) and ``{"l1": 1, "l2": 1}``
        (temporal).  Why: a neuron that fires rarely has a trace that is zero in most frames.
        With a pure ``ℓ2`` temporal gauge its polar value competes with noise summed over all
        ``n`` frames (``≈ σ√(n/2)`` per unit footprint); the temporal ``ℓ1`` term soft-thresholds
        the noise frames away, and a small spatial ``ℓ1`` weight stops the gauge from
        penalizing a wide footprint against a single noisy pixel.  On tuning draw 1 of
        ``benchmarks/robust_calcium.py`` (19 neurons, noise 0.39) the ratio of the weakest true
        neuron's polar value (true footprint, best trace) to the noise polar rose from 0.94
        (former defaults ``(1, 0.5, 1)`` / ``"l2"``) to 2.1.
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
        ``"auto"``: ``k = min(2, (n − 1) // 2)`` pairs (a slowly varying background, as in
        imaging; the constant alone when ``n < 5``).
    intercept_reg : float, default=0.0
        ``μ``: 0 leaves the background maps unregularized; ``μ > 0`` adds ``(μ/2)‖W‖²``.
    prox_tol : float, default=1e-7
        Relative duality-gap tolerance of every TV prox (``‖x − x*‖ ≤ sqrt(2·gap)``).
    polar_seeds : int, default=8
        Seed starts for the multistart polar (:class:`StructuredPolar`).  With a spatial
        graph each start is a node's neighbourhood average (``seed_smoothing``: a matched
        filter, so a weak blob outranks a noisy pixel), without one a single node; the starts
        are ranked by the atom value their first half-step reaches
        (:meth:`StructuredPolar.seed_scores`), which thresholds noise frames away, so a
        neuron that fires in a few frames outranks the dense ``≈ λ`` residual left on every
        fitted neuron.  (Ranked by the residual's ``ℓ2`` energy instead, the search missed
        the three most rarely firing of 26 neurons on tuning draw 5 although their atoms
        reached 1.7-2.9 λ.)
    lam_scale : float, default=1.3
        Multiplier of the ``"auto"`` rule, chosen on tuning draws only (seeds 1 and 2 of
        ``benchmarks/robust_calcium.py``, small draws 0-5, and the 18-neuron video of issue
        12).  With the former gauges, 1.8 found 9/19 neurons on draw 1 and 0.9 grew 235
        atoms on the issue's video; with the current gauges, ``growth_margin`` and seeding,
        1.3 finds every neuron on tuning draws 0-9 (both footprint rules) with 1.13-1.67
        components per neuron.
    growth_margin : float, default=0.25
        An atom found by the polar is appended only when its value exceeds ``λ(1 + margin)``
        (:func:`homfact.meta.grow`).  At a stationary point every fitted atom attains
        ``≈ λ``, so the polar keeps finding near-copies of fitted neurons barely above ``λ``;
        the margin stops that growth while ``λ`` itself (the shrinkage) stays low.  New
        components must thus beat ``lam_scale·(1 + margin) ≈ 1.6`` times the noise polar.
        The certificate is unaffected (a polar value above ``λ`` still shows in the status).
        Not applied when both gauges are signed pure ``ℓ2`` (the polar is then exact: the
        nuclear-norm case, certified ``"global"`` as usual).
    debias : bool, default=True
        Run the debiasing refit after the certified fit (below) and report its factors as
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
        Cap on local-descent sweeps per outer iteration (:func:`homfact.meta.grow`); bounds
        the time of the polishing descents at high rank.  The certificate is computed for
        whatever factors the descent reached.
    refit_max_iter : int, default=30
    refit_tol : float, default=1e-4
        Sweep cap and relative objective decrease at which the refit stops.
    init, rank, max_rank, tol, max_iter, time_limit, random_state, verbose
        As in :class:`homfact.LowRankApproximation` (``init`` may be ``(U0, A0)``).

    Notes
    -----
    Recommended for calcium imaging (pixels × frames): the defaults plus ``image_shape``
    (see ``examples/calcium_segmentation.py``).

    **Debiasing refit** (``debias=True``).  The ``ℓ1``/TV penalty shrinks the footprints: their
    tails fall below the penalty and are cut (on the issue-12 video, 16 px found for 29 px
    true at 20 % of the peak).  As NMF's and robust PCA's refits do, the certified factors are
    then refit without penalty, keeping what the penalty selected — the number of components
    and where each footprint lives: :func:`debias_refit` minimizes
    ``½‖Y − UVᵀ − WBᵀ‖² + (μ/2)‖W‖²`` by HALS (exact non-negative least squares per column,
    alternating footprints, traces and background) with each footprint confined to its
    certified support dilated by ``refit_dilation`` rings.  With a temporal dictionary only
    the footprints and background are refit (the codes stay).  The certificate describes the
    certified solution, kept as ``certified_U_``, ``certified_V_``, ``certified_intercept_``
    (``certified_codes_``), never the refit, which solves a different problem.

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

    # ---------------------------------------------------------------- building the problem

    def _intercept_basis(self, n: int) -> np.ndarray | None:
        b = self.intercept
        if b is None:
            return None
        if isinstance(b, str):
            if b == "auto":
                return fourier_basis(n, min(_AUTO_INTERCEPT_PAIRS, (n - 1) // 2))
            if b != "constant":
                raise ValueError(f"intercept must be None, 'auto', 'constant', an int or an "
                                 f"(n, q) array, got {b!r}")
            return fourier_basis(n, 0)
        if isinstance(b, numbers.Integral) and not isinstance(b, bool):
            if b < 0:
                raise ValueError(f"intercept must be an int >= 0 (number of cos/sin pairs), "
                                 f"got {b!r}")
            if 2 * b >= n:
                raise ValueError(f"intercept={b} needs Y with at least {2 * b + 1} columns "
                                 f"(frames), got n_features = {n}")
            return fourier_basis(n, int(b))
        B = np.asarray(b, dtype=float)
        if B.ndim == 1:
            B = B[:, None]
        if B.ndim != 2 or B.shape[0] != n:
            raise ValueError(f"intercept must have shape ({n}, q) (one row per column of Y), "
                             f"got {B.shape}")
        if not np.all(np.isfinite(B)):
            raise ValueError("intercept contains NaN or infinite values")
        return B

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
        gu = _build_gauge(spatial, "spatial", m, edges, weights, bool(self.spatial_nonnegative),
                          "spatial_edges", self.prox_tol)
        t_edges, t_weights = self.temporal_edges, self.temporal_edge_weights
        if t_edges is None and p > 1:
            if t_weights is not None:
                raise ValueError("temporal_edge_weights needs temporal_edges")
            t_edges = _chain_edges(p)
        temporal = _DEFAULT_TEMPORAL if self.temporal is None else self.temporal
        gv = _build_gauge(temporal, "temporal", p, t_edges, t_weights,
                          bool(self.temporal_nonnegative), "temporal_edges", self.prox_tol)
        return gu, gv

    def _check_params(self) -> None:
        check_lam_or_auto(self.lam)
        check_fit_params(self)
        check_lam(self.lam_scale, "lam_scale")
        check_lam(self.intercept_reg, "intercept_reg")
        check_lam(self.growth_margin, "growth_margin")
        if isinstance(self.polar_seeds, bool) or not isinstance(self.polar_seeds,
                                                                numbers.Integral) \
                or self.polar_seeds < 0:
            raise ValueError(f"polar_seeds must be an integer >= 0, got {self.polar_seeds!r}")
        if not isinstance(self.debias, bool | np.bool_):
            raise ValueError(f"debias must be a bool, got {self.debias!r}")
        if self.merge_threshold is not None and (
                isinstance(self.merge_threshold, bool)
                or not isinstance(self.merge_threshold, numbers.Real)
                or not -1 <= self.merge_threshold <= 1):
            raise ValueError(f"merge_threshold must be None or a number in [-1, 1], got "
                             f"{self.merge_threshold!r}")
        if isinstance(self.max_sweeps, bool) or not isinstance(self.max_sweeps,
                                                               numbers.Integral) \
                or self.max_sweeps < 1:
            raise ValueError(f"max_sweeps must be an integer >= 1, got {self.max_sweeps!r}")
        for name in ("refit_dilation", "refit_max_iter"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {val!r}")
        if isinstance(self.refit_tol, bool) or not isinstance(self.refit_tol, numbers.Real) \
                or not 0 <= self.refit_tol < 1:
            raise ValueError(f"refit_tol must be a number in [0, 1), got {self.refit_tol!r}")

    def _auto_lam(self, Y: np.ndarray, loss: Loss, mapping, polar) -> float:
        # Gavish-Donoho; a single row or column has no spectrum: the MAD scale of its entries
        sigma = (estimate_noise_level(Y, random_state=0) if min(Y.shape) >= 2
                 else robust_scale(Y))
        if sigma == 0.0:
            sigma = float(np.std(Y))
        rng = np.random.default_rng(self.random_state)
        noise = sigma * rng.standard_normal(Y.shape)
        g = noise if isinstance(loss, SquaredLoss) else loss.neg_gradient(Y - noise)
        A = np.asarray(mapping.operator(g))
        # the polar's own search on the noise: its best-scored seeds (StructuredPolar)
        vals = [polar._ascend(A, polar.seed_start(p, A.shape[0]))[2]
                for p in np.argsort(-polar.seed_scores(A), kind="stable")[:_AUTO_LAM_SEEDS]]
        self.noise_level_ = sigma
        self.noise_polar_ = float(np.median(vals))
        return float(self.lam_scale) * self.noise_polar_

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
        B = self._intercept_basis(n)
        loss = SquaredLoss(Y) if B is None else InterceptSquaredLoss(Y, B, self.intercept_reg)
        self.gauges_ = (gu, gv)
        polar = StructuredPolar(gu, gv, n_seeds=int(self.polar_seeds))
        self._spatial_adjacency = _adjacency(gu.graph.edges, m) if gu.graph.edges.size else None
        if self._spatial_adjacency is not None:
            smooth = self._spatial_adjacency + sp.eye(m, format="csr")
            deg = np.asarray(smooth.sum(axis=1)).ravel()
            polar.seed_smoothing = sp.csr_matrix(sp.diags(1.0 / deg) @ smooth)
        self.lam_ = (self._auto_lam(Y, loss, mapping, polar) if isinstance(self.lam, str)
                     else float(self.lam))
        polar.threshold = self.lam_
        return StructuredProblem(loss, mapping, (gu, gv), self.lam_, polar=polar,
                                 local_solver="prox_linear")

    # ---------------------------------------------------------------- fitting

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
