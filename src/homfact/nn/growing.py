"""Width growth by the polar: ``hf.nn.GrowingNetwork`` (classifier / regressor).

Objective (mean loss over the ``N`` samples, ``V`` = inputs, with a constant column when
``fit_bias``)::

    F(X) = ℓ( Σᵢ φ(V; Xᵢ) ) + λ Σᵢ θ(Xᵢ),     θ = Πₖ ‖Xᵢᵏ‖_F  (degree-matched).

Loop (docs: theory/descent-and-growth, 'The meta-algorithm'): full-batch descent → rebalance →
prune vanished subnetworks → polar ``Ω°(G)``, ``G = −∇ℓ(Z)`` → certificate (docs:
theory/duality-gap-and-status) → if the polar's lower bound exceeds
``λ(1+ε)`` append ``s^{1/K}·x*`` with ``s = argmin_{s≥0} ℓ(Z + s φ(V; x*)) + λ s`` (convex line
search), else stop.  ``"global"`` is reported only with a valid upper bound on the polar (exact
enumeration for the two-layer unit with ≤ 3 input columns or a rank-one gradient on few
cells, or a bound that happens to be below ``λ``) and a small duality gap (squared,
cross-entropy, squared-hinge losses).

With ``regularizer="jacobian"`` (:class:`homfact.nn.JacobianRegularizer`, bound to the
training inputs ``V``) the penalty is ``θ(Xᵢ) = (1/N) Σₙ ‖∂φ(vₙ; Xᵢ)/∂v‖_F``, also of degree
``K``, and the polar is the Jacobian one (:func:`homfact.nn.polar.jacobian_polar`).
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ..certificate import Certificate, assemble_certificate, relative_to
from ..meta import GrowResult
from ..polar import PolarBound
from .homogeneity import DegreeMismatchWarning, homogeneity_report
from .losses import NetLoss, make_loss
from .modules import ParallelSubnetworks, conv_subnetwork, relu_chain, relu_unit
from .polar import jacobian_polar, relu_unit_polar, subnetwork_polar, subnetwork_upper
from .regularizers import (
    JacobianRegularizer,
    ProductOfNorms,
    Regularizer,
    WeightDecay,
    make_regularizer,
)
from .training import objective, refine_output_weights, train_full_batch

__all__ = ["GrowingClassifier", "GrowingNetwork", "GrowingRegressor", "NetworkPolar",
           "grow_network", "network_factors", "network_polar", "polar_check"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _resolve_device(device) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def network_polar(model: ParallelSubnetworks, V: torch.Tensor, G: torch.Tensor, *,
                  n_starts: int = 32, n_iter: int = 100, exact: bool | str = "auto",
                  generator: torch.Generator | None = None,
                  regularizer: Regularizer | None = None) -> PolarBound:
    """Polar bracket for the model's subnetwork family; the maximizer is given as one tensor
    per layer, shaped like one subnetwork's parameters, with unit Frobenius norms.

    ``regularizer`` says which polar: ``None`` or a norm-based regularizer (product of
    norms, its balanced form, weight decay) the product-of-norms polar
    ``sup_{‖Xᵏ‖ ≤ 1} ⟨G, φ(V; X)⟩``; a :class:`JacobianRegularizer` its own polar
    ``sup_{θ(X) ≤ 1} ⟨G, φ(V; X)⟩`` (:func:`homfact.nn.polar.jacobian_polar`; the maximizer
    then has ``θ(X*) = 1`` instead of unit layers)."""
    kind = getattr(model.make_subnetwork, "kind", "custom")
    shapes = [p.shape[1:] for p in model.params]
    if isinstance(regularizer, JacobianRegularizer):
        return _seeded(model, generator, lambda: jacobian_polar(
            model, V, G, regularizer, n_starts=n_starts, n_iter=n_iter,
            warm=list(model.params)))
    if kind == "relu_unit":
        warm = model.params[0].detach()[:, 0, :] if model.width else None
        b = relu_unit_polar(V, G, n_starts=n_starts, n_iter=n_iter, exact=exact,
                            generator=generator, warm=warm)
        w, a = b.maximizer
        cands = tuple(((cw.reshape(shapes[0]), ca.reshape(shapes[1])), v)
                      for (cw, ca), v in b.candidates)
        return PolarBound(lower=b.lower, upper=b.upper, method=b.method,
                          maximizer=(w.reshape(shapes[0]), a.reshape(shapes[1])),
                          candidates=cands)
    upper = subnetwork_upper(model, V, G)
    return _seeded(model, generator, lambda: subnetwork_polar(
        model, V, G, n_starts=n_starts, n_iter=n_iter, upper=upper, warm=list(model.params)))


def _seeded(model: ParallelSubnetworks, generator: torch.Generator | None, solve):
    """``solve()``, with the global torch RNG seeded from ``generator`` inside a fork when one
    is given: the ascent's fresh starts come from the global RNG (the subnetwork factory's
    initialization), so a fit is reproducible from its random_state and the caller's RNG
    state is left untouched."""
    if generator is None:
        return solve()
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    cuda = [model.device.index or 0] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        return solve()


class NetworkPolar:
    """:func:`network_polar` as a core :class:`homfact.interfaces.PolarSolver`.

    Bound to a model (its subnetwork family; its subnetworks warm-start the ascent) and the
    inputs ``V``; called with ``op = G = −∇ℓ(Z)`` (``N × C``).  The returned
    :class:`homfact.polar.PolarBound` is in the core's column form (one column of
    :func:`network_factors` per layer): the maximizer and the candidates hold one float64
    vector per layer, the layer's tensor flattened, of Euclidean (= Frobenius) norm at most 1
    (exactly 1 where the value is positive); ``lower`` is the value ``⟨G, φ(V; x*)⟩`` the
    maximizer attains and ``upper`` the family's valid bound (``inf`` where none).
    :meth:`layers` turns columns back into layer tensors.  Computed in float64 (a float32
    model is certified on a float64 copy, as the estimator does).  ``rng`` (a numpy
    ``Generator``) seeds the torch generator of the starts (``None``: seed 0);
    ``warm_start`` is accepted as the protocol's hint and not used (the model's subnetworks
    are the warm start); at most ``n_candidates − 1`` candidates are returned.
    ``regularizer`` selects the polar as in :func:`network_polar` (a
    :class:`JacobianRegularizer`: columns of ``θ = 1`` instead of unit norms; an unbound one
    is bound to ``V``).
    """

    def __init__(self, model: ParallelSubnetworks, V: torch.Tensor, *, n_starts: int = 32,
                 n_iter: int = 100, exact: bool | str = "auto",
                 regularizer: Regularizer | None = None):
        if not isinstance(model, ParallelSubnetworks):
            raise TypeError(f"model must be a ParallelSubnetworks, got {type(model).__name__}")
        self.model = model if model.dtype == torch.float64 else (
            copy.deepcopy(model).to(torch.float64))
        self.V = torch.as_tensor(V).to(device=model.device, dtype=torch.float64)
        self.n_starts, self.n_iter, self.exact = n_starts, n_iter, exact
        if isinstance(regularizer, JacobianRegularizer) and regularizer.points is None:
            regularizer = regularizer.with_inputs(self.V)
        self.regularizer = regularizer
        self.shapes = [tuple(p.shape[1:]) for p in self.model.params]

    def layers(self, columns) -> list[torch.Tensor]:
        """Layer tensors (one subnetwork's shapes, float64, on the model's device) from one
        column per layer."""
        return [torch.as_tensor(np.asarray(c, dtype=float), device=self.model.device)
                .reshape(shape) for c, shape in zip(columns, self.shapes, strict=True)]

    def __call__(self, op, *, n_candidates: int = 1, rng=None, warm_start=None) -> PolarBound:
        G = torch.as_tensor(op, dtype=torch.float64, device=self.model.device)
        seed = 0 if rng is None else int(rng.integers(2 ** 62))
        b = network_polar(self.model, self.V, G, n_starts=self.n_starts, n_iter=self.n_iter,
                          exact=self.exact, generator=torch.Generator().manual_seed(seed),
                          regularizer=self.regularizer)

        def columns(xs) -> tuple[np.ndarray, ...]:
            return tuple(x.detach().to("cpu", torch.float64).reshape(-1).numpy() for x in xs)

        cands = tuple((columns(c), float(v))
                      for c, v in b.candidates[:max(int(n_candidates) - 1, 0)])
        return PolarBound(b.lower, b.upper, columns(b.maximizer), b.method, cands)


def _certificate(loss: NetLoss, z: torch.Tensor, t: torch.Tensor, g: torch.Tensor,
                 bound: PolarBound, objective_value: float, lam: float, tol: float,
                 polar_rtol: float, matched: bool, scale: float = 0.0) -> Certificate:
    """Certificate (docs: theory/duality-gap-and-status); without a matched degree no dual
    point is claimed.

    ``scale`` is the loss of the zero network, the rounding floor of the relative gap.
    """
    if matched and bound.has_upper and loss.has_dual:
        c_max = 1.0 if bound.upper <= lam else lam / bound.upper
        c, lower = loss.dual(z, t, g, c_max)
    else:
        c, lower = 0.0, -math.inf
    if relative_to(lower - objective_value, objective_value) > 1e-9:
        warnings.warn(f"dual lower bound {lower!r} exceeds the objective {objective_value!r} "
                      "beyond rounding; the bound is discarded and no optimality is claimed",
                      RuntimeWarning, stacklevel=3)
        c, lower = 0.0, -math.inf
    return assemble_certificate(objective_value, lower, c, bound, lam, tol=tol,
                                polar_rtol=polar_rtol, scale=scale, degree_matched=matched)


def _history_record(step: int, width: int, lam: float, cert: Certificate,
                    elapsed: float) -> dict:
    """One growth step's history record, with the core loop's keys (:func:`homfact.grow`).

    The keys and meanings are those of ``grow``'s records, so tools that read a history
    (:func:`homfact.plotting.plot_convergence`, the CLI's table) read a network fit too:
    ``iteration`` (1-based), ``lam``, ``objective``, ``lower_bound``, ``rank`` (= the width),
    ``polar_lower``, ``polar_upper``, ``gap``, ``relative_gap``, ``status``, ``added`` (subnetworks
    appended after this record, set by the loop) and ``elapsed`` (seconds since the fit
    started).  The network's own earlier keys stay: ``step`` (= ``iteration − 1``), ``width``
    (= ``rank``) and ``time`` (= ``elapsed``).
    """
    return {"iteration": step + 1, "lam": lam, "objective": cert.objective,
            "lower_bound": cert.lower_bound, "rank": width, "polar_lower": cert.polar_lower,
            "polar_upper": cert.polar_upper, "gap": cert.gap,
            "relative_gap": cert.relative_gap, "status": cert.status, "added": 0,
            "elapsed": elapsed, "step": step, "width": width, "time": elapsed}


def _finite_step(model, V, T, loss, reg, lam, bound) -> tuple[float, list[torch.Tensor]]:
    """Best objective decrease ``min_t F(X ∪ {t·x*}) − F(X)`` from appending the scaled polar
    maximizer ``t·x*``: grid + golden refine on ``t``.  The atom is evaluated at each scale
    (``φ(V; t·x*)`` and ``θ(t·x*)`` computed, not extrapolated from a degree), so the decrease
    is exact for any subnetwork family, homogeneous or not."""
    with torch.no_grad():
        z = model(V)
        base = float(loss.value(z, T) + (lam * reg(model) if model.width else 0.0))
        xs = [x.unsqueeze(0) for x in bound.maximizer]

        def f(t: float) -> float:
            scaled = _single(model, [t * x for x in xs])
            d = model.evaluate_subnetworks(list(scaled.params), V)[0]
            return float(loss.value(z + d, T)) + lam * float(reg(scaled)) - base

        ts = np.geomspace(1e-3, 1e3, 61)
        vals = [f(t) for t in ts]
        j = int(np.argmin(vals))
        lo, hi = ts[max(j - 1, 0)], ts[min(j + 1, len(ts) - 1)]
        for _ in range(60):  # golden refine around the best grid point
            m1, m2 = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
            if f(m1) < f(m2):
                hi = m2
            else:
                lo = m1
        t = 0.5 * (lo + hi)
        best = min(vals[j], f(t))
        t = t if f(t) <= vals[j] else ts[j]
    return best, [t * x for x in xs]


def _family_homogeneity(factory, V: torch.Tensor, seed: int):
    """Homogeneity report (measured degree, in the parameters) of the subnetworks the factory
    builds: four fresh subnetworks on the data, the mirrored data and wide random inputs, so
    that a unit dead on the sample cannot hide a bias."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe_model = ParallelSubnetworks(factory, 4, device=V.device, dtype=V.dtype)
        Vs = V[: min(64, V.shape[0])]
        probe = torch.cat([Vs, -Vs, 3.0 * torch.randn(64, V.shape[1], dtype=V.dtype).to(V)])
    return homogeneity_report(probe_model, probe, wrt="parameters")


def _in_float64(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor):
    """``(model, V, T)`` in float64, copying only what is not already.

    The certificate's bounds carry safety margins of about ``1e-10`` relative, which hold
    only in double precision: a float32 fit is certified on a float64 copy of its weights
    (the inputs and targets it was trained on, widened exactly)."""
    if model.dtype == torch.float64:
        return model, V, T
    wide = copy.deepcopy(model).to(torch.float64)
    return wide, V.to(torch.float64), (T.to(torch.float64) if T.is_floating_point() else T)


def polar_check(model: ParallelSubnetworks, X, y_targets: torch.Tensor, loss: str | NetLoss,
                regularizer: str | Regularizer, lam: float, *, n_starts: int = 32,
                n_iter: int = 100, polar_rtol: float = 1e-3) -> dict:
    """Is ``model`` (at a stationary point of ``ℓ + λΘ``) improvable by adding a subnetwork?

    Solves the polar for ``G = −∇ℓ(Z)``.  With a degree-matched regularizer the point is
    flagged ``not_optimal`` iff ``Ω°_lower > λ(1+ε)`` (a descent direction exists).  With a
    mismatched one (weight decay on ``K ≥ 3`` layers) a first-order test is vacuous (the new
    subnetwork costs ``t²`` but gains ``t^K``), so it is flagged iff a *finite* step
    ``t·x*`` along the polar maximizer lowers ``ℓ + λΘ`` (a better point is exhibited).
    Returns ``dict(polar_lower, polar_upper, flagged, decrease, matched, step)`` where ``step``
    is the best finite step ``t·x*`` (stacked tensors for :meth:`add_subnetworks`) and
    ``decrease`` the objective change it gives.
    """
    loss = make_loss(loss)
    reg = make_regularizer(regularizer)
    V = torch.as_tensor(X, device=model.device, dtype=model.dtype)
    reg = _bound_regularizer(reg, V)
    rep = _family_homogeneity(model.make_subnetwork, V, seed=0)
    # the degree is measured, never inferred from the number of layers
    matched = rep.homogeneous and abs(reg.degree(model) - rep.degree) < 1e-9
    wide, V, T = _in_float64(model, V, y_targets)
    with torch.no_grad():
        z = wide(V)
    g = loss.neg_gradient(z, T)
    bound = network_polar(wide, V, g, n_starts=n_starts, n_iter=n_iter, regularizer=reg)
    decrease, new = _finite_step(wide, V, T, loss, reg, lam, bound)
    if matched:
        flagged = bound.lower > lam * (1.0 + polar_rtol)
    else:
        with torch.no_grad():
            base = float(objective(wide, V, T, loss, reg, lam))
        flagged = relative_to(-decrease, base) > 1e-9
    return {"polar_lower": bound.lower, "polar_upper": bound.upper, "flagged": bool(flagged),
            "decrease": float(decrease), "matched": bool(matched),
            "step": [t.to(model.dtype) for t in new]}


def _init_shared_params(self, loss: str | None = None, subnetwork="relu_unit", depth: int = 3,
                        hidden: int = 1, image_size: int | None = None,
                        channels: tuple[int, ...] = (4, 8), lam: float = 1e-3,
                        regularizer: str = "product_of_norms", fit_bias: bool = False,
                        init_width: int = 1, max_width: int = 256, max_growth: int = 100,
                        tol: float = 1e-5, polar_rtol: float = 1e-3, polar_starts: int = 32,
                        polar_iter: int = 100, exact_polar="auto", descent_iter: int = 500,
                        optimizer: str = "lbfgs", lr: float = 1e-2, prune_tol: float = 1e-6,
                        device=None, dtype: str = "float64", random_state: int | None = None,
                        verbose: bool = False, units_per_step: int = 8,
                        stall_retries: int = 3) -> None:
    """The parameters every :class:`GrowingNetwork` shares, defined once (see its docstring).

    :class:`GrowingClassifier` and :class:`GrowingRegressor` use this function as their
    ``__init__`` unchanged (sklearn reads an estimator's parameters from its ``__init__``
    signature, which must list them explicitly); :class:`GrowingNetwork` puts ``task`` first.
    Values are stored as given (sklearn's convention); ``fit`` validates them.
    """
    self.loss = loss
    self.subnetwork = subnetwork
    self.depth = depth
    self.hidden = hidden
    self.image_size = image_size
    self.channels = channels
    self.lam = lam
    self.regularizer = regularizer
    self.fit_bias = fit_bias
    self.init_width = init_width
    self.max_width = max_width
    self.max_growth = max_growth
    self.tol = tol
    self.polar_rtol = polar_rtol
    self.polar_starts = polar_starts
    self.polar_iter = polar_iter
    self.exact_polar = exact_polar
    self.descent_iter = descent_iter
    self.optimizer = optimizer
    self.lr = lr
    self.prune_tol = prune_tol
    self.device = device
    self.dtype = dtype
    self.random_state = random_state
    self.verbose = verbose
    self.units_per_step = units_per_step
    self.stall_retries = stall_retries


def _signature_with_task() -> inspect.Signature:
    """``(self, task="classification", <shared parameters>)``: :class:`GrowingNetwork`'s
    signature, built from :func:`_init_shared_params` so the shared list is written once."""
    shared = inspect.signature(_init_shared_params)
    first, *rest = shared.parameters.values()
    task = inspect.Parameter("task", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             default="classification", annotation="str")
    return shared.replace(parameters=[first, task, *rest])


class GrowingNetwork(BaseEstimator):
    r"""A sum of positively homogeneous subnetworks grown by the polar, with a certificate.

    Parameters
    ----------
    task : ``"classification"`` or ``"regression"``.
    loss : ``"cross_entropy"`` (default for classification), ``"squared"`` (default for
        regression; one-hot targets for classification), ``"squared_hinge"`` (one-vs-rest) or
        ``"hinge"`` (multiclass, no duality gap).
    subnetwork : ``"relu_unit"`` (two-layer network ``(Vw)₊aᵀ``, one unit per subnetwork),
        ``"relu_chain"`` (``depth`` layers of width ``hidden``), ``"conv"`` (needs
        ``image_size``) or a callable returning an ``nn.Module`` (a bias-free, positively
        homogeneous subnetwork; checked).
    depth, hidden : depth and hidden width of ``"relu_chain"``.
    image_size, channels : geometry of ``"conv"`` (square single-channel images, flattened).
    lam : ``λ > 0``.
    regularizer : ``"product_of_norms"`` (degree-matched, certified), ``"weight_decay"``
        (degree 2: matched only for two layers; a :class:`DegreeMismatchWarning` otherwise) or
        ``"jacobian"`` (:class:`homfact.nn.JacobianRegularizer`, ``θ = (1/N)Σₙ‖∂φ(vₙ)/∂v‖_F``
        on the training inputs — bound at ``fit``, the constant column of ``fit_bias``
        included —, degree-matched; its polar's upper bound ``N·maxₙ‖gₙ‖‖vₙ‖`` is valid but
        often loose, so fits are mostly ``"unverified"``).  A :class:`Regularizer` instance
        is accepted too.
    fit_bias : append a constant input column (a first-layer bias, regularized, homogeneous).
    init_width, max_width, max_growth : initial width (``>= 1``), width cap, growth steps.
    tol, polar_rtol : relative-gap and polar tolerances of the status rule (docs:
        theory/duality-gap-and-status, 'The status rule').
    polar_starts, polar_iter, exact_polar : polar solver settings (``exact_polar="auto"``:
        exact for ``"relu_unit"`` when ``V`` has ≤ 2 columns; 3 columns and at most
        ``homfact.nn.polar.EXACT_3D_MAX_ROWS`` samples (2-D data with ``fit_bias=True``); or
        one output (regression, binary cross-entropy) and an arrangement of at most
        ``homfact.nn.polar.EXACT_RANK_ONE_MAX_CELLS`` cells, in any dimension).
    descent_iter, optimizer, lr : local descent (L-BFGS or Adam, full batch).
    prune_tol : a subnetwork with ``θᵢ ≤ prune_tol·Σθ`` is removed.
    units_per_step : two-layer units added per polar call: the maximizer and further distinct
        ascent maxima above ``λ``, each with its own line search (1 = one unit per step).
    stall_retries : when the polar search finds nothing above ``λ`` but the bracket is still open,
        up to this many times descend 4× longer and search the polar with 4× the starts before
        stopping.
    device : ``None``/``"cpu"``, ``"cuda"``, ``"auto"`` or a ``torch.device``.
    dtype : training precision, ``"float64"`` (default) or ``"float32"``.  The certificate is
        always computed in float64 (on a copy of a float32 network's weights), since its
        bounds' safety margins hold only in double precision; growth steps are taken there
        too and the network is returned in ``dtype``.
    random_state : seed for the initial subnetworks and polar starts.

    Attributes
    ----------
    model_ : the fitted :class:`ParallelSubnetworks`; width_ : its final width; rank_ : the
    same width under the core estimators' name (one subnetwork = one atom);
    certificate_ : :class:`homfact.certificate.Certificate`; history_ : list of dicts per
    growth step with the core loop's keys (``iteration``, ``rank``, ``objective``,
    ``lower_bound``, ``polar_lower``, ``polar_upper``, ``gap``, ``relative_gap``, ``status``,
    ``added``, ``elapsed``, ``lam``; see :func:`homfact.grow`) and the earlier ``step``,
    ``width``, ``time``, so :func:`homfact.plotting.plot_convergence` plots it;
    n_iter_ : growth steps run (= ``len(history_)``); stop_reason_ : why growth stopped, in
    ``grow``'s words: ``"certified"``, ``"max_iter"`` (``max_growth`` reached),
    ``"max_rank"`` (``max_width`` reached), ``"polar_inconclusive"`` (no subnetwork found
    above ``λ`` and the polar bracket still open after ``stall_retries``) or ``"stalled"`` (no
    subnetwork found above ``λ`` with a closed bracket, or the line search / finite step found
    no decrease); classes_ (classification).
    """

    def __init__(self, task: str = "classification", *args, **kwargs) -> None:
        """``task`` then the shared parameters of :func:`_init_shared_params` (positional
        or keyword, in that order); the signature sklearn reads is ``__signature__`` below."""
        self.task = task
        _init_shared_params(self, *args, **kwargs)

    # sklearn reads the parameter names from the signature: ``task`` + the shared ones
    __init__.__signature__ = _signature_with_task()

    # ------------------------------------------------------------------ validation
    def _loss_name(self) -> str:
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        name = self.loss if self.loss is not None else (
            "cross_entropy" if self.task == "classification" else "squared")
        make_loss(name)
        if self.task == "regression" and name != "squared":
            raise ValueError(f"loss={name!r} is a classification loss; task='regression' needs "
                             "loss='squared'")
        return name

    def _check_params(self) -> None:
        _check_lam(self.lam)
        for name in ("init_width", "max_width", "max_growth", "descent_iter", "polar_starts",
                     "polar_iter", "units_per_step", "stall_retries"):
            _check_count(name, getattr(self, name), 0 if name in ("max_growth",
                                                                  "stall_retries") else 1)
        if self.init_width > self.max_width:
            raise ValueError("init_width must be <= max_width")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")

    def _validate_X(self, X) -> np.ndarray:
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError("X must be a numeric array of shape (n_samples, n_features)") from exc
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        return X

    def _validate_y(self, y, n: int, loss_name: str):
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        y = np.asarray(y)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} samples but X has {n}")
        if self.task == "classification":
            if y.ndim != 1:
                raise ValueError(f"y must be a 1-D array of class labels for loss={loss_name!r}, "
                                 f"got shape {y.shape}")
            if y.dtype.kind == "f":
                if not np.all(np.isfinite(y)):
                    raise ValueError("y contains NaN or infinity")
                if not np.all(y == np.round(y)):
                    raise ValueError(f"y has continuous values but loss={loss_name!r} needs "
                                     "class labels (use task='regression', loss='squared')")
            classes, idx = np.unique(y, return_inverse=True)
            if classes.size < 2:
                raise ValueError("y must contain at least two classes")
            return classes, idx
        if y.dtype.kind not in "fiub":
            raise ValueError(f"y must be numeric for task='regression', got dtype {y.dtype}")
        y = y.astype(float)
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        return None, y

    def _factory(self, d: int, c: int):
        sub = self.subnetwork
        if sub == "relu_unit":
            return relu_unit(d, c)
        if sub == "relu_chain":
            return relu_chain(d, c, depth=self.depth, width=self.hidden)
        if sub == "conv":
            if self.image_size is None or self.image_size ** 2 != d:
                raise ValueError("subnetwork='conv' needs image_size with image_size**2 == "
                                 "n_features (and fit_bias=False)")
            return conv_subnetwork(out_features=c, image_size=self.image_size,
                                   channels=self.channels)
        if callable(sub) and not isinstance(sub, str):
            return sub
        raise ValueError("subnetwork must be 'relu_unit', 'relu_chain', 'conv' or a callable "
                         f"returning an nn.Module, got {sub!r}")

    def _inputs(self, X: np.ndarray) -> torch.Tensor:
        if self.fit_bias:
            X = np.hstack([X, np.ones((X.shape[0], 1))])
        return torch.as_tensor(X, device=self.device_, dtype=_DTYPES[self.dtype])

    # ------------------------------------------------------------------ fit
    def _targets(self, loss: NetLoss, classes, yy, dtype: torch.dtype) -> tuple[torch.Tensor, int]:
        """``(T, n_outputs)``: the loss's targets on the device (sets ``classes_`` or the
        target's dimension for :meth:`predict`)."""
        if self.task == "classification":
            self.classes_ = classes
            return loss.targets(yy, classes.size, self.device_, dtype), classes.size
        self._y_ndim = yy.ndim
        T = loss.targets(yy, None, self.device_, dtype)
        return T, T.shape[1]

    def fit(self, X, y) -> GrowingNetwork:
        """Grow from ``init_width`` subnetworks until certified, stalled or capped: validation,
        the initial model and the degree check (:func:`_degree_check`), then
        :func:`grow_network`, whose :class:`homfact.meta.GrowResult` sets the fitted
        attributes."""
        self._check_params()
        loss_name = self._loss_name()
        X = self._validate_X(X)
        classes, yy = self._validate_y(y, X.shape[0], loss_name)
        self.device_ = _resolve_device(self.device)
        dtype = _DTYPES[self.dtype]
        loss = make_loss(loss_name)
        T, n_out = self._targets(loss, classes, yy, dtype)
        reg = make_regularizer(self.regularizer)
        V = self._inputs(X)
        reg = _bound_regularizer(reg, V)
        self.n_features_in_ = X.shape[1]
        factory = self._factory(V.shape[1], n_out)
        seed = 0 if self.random_state is None else int(self.random_state)
        model, gen = _initial_model(factory, self.init_width, self.device_, dtype, seed)
        degree, matched, reg = _degree_check(factory, model, V, reg, seed + 2)
        model, result = grow_network(
            model, V, T, loss, reg, float(self.lam), matched=matched, generator=gen,
            tol=self.tol, polar_rtol=self.polar_rtol, max_growth=self.max_growth,
            max_width=self.max_width, descent_iter=self.descent_iter, optimizer=self.optimizer,
            lr=self.lr, prune_tol=self.prune_tol, polar_starts=self.polar_starts,
            polar_iter=self.polar_iter, exact_polar=self.exact_polar,
            units_per_step=self.units_per_step, stall_retries=self.stall_retries,
            verbose=self.verbose)
        self.model_ = model
        self.width_ = self.rank_ = result.rank
        self.certificate_ = result.certificate
        self.history_ = result.history
        self.n_iter_ = result.n_iter
        self.stop_reason_ = result.stop_reason
        self.degree_ = degree
        return self

    # ------------------------------------------------------------------ prediction
    def decision_function(self, X) -> np.ndarray:
        """Network outputs ``f(x) = Σᵢ φ(x; Xᵢ)``, shape ``(n_samples, n_outputs)``."""
        if not hasattr(self, "model_"):
            raise RuntimeError("call fit before predict")
        X = self._validate_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, expected {self.n_features_in_}")
        with torch.no_grad():
            out = self.model_(self._inputs(X))
        return out.detach().cpu().numpy()

    def predict(self, X) -> np.ndarray:
        out = self.decision_function(X)
        if self.task == "classification":
            return self.classes_[np.argmax(out, axis=1)]
        return out[:, 0] if getattr(self, "_y_ndim", 2) == 1 else out

    def score(self, X, y) -> float:
        """Accuracy (classification) or R² (regression)."""
        if self.task == "classification":
            return ClassifierMixin.score(self, X, y)
        return RegressorMixin.score(self, X, y)


def _initial_model(factory, width: int, device: torch.device, dtype: torch.dtype,
                   seed: int) -> tuple[ParallelSubnetworks, torch.Generator]:
    """The ``width`` initial subnetworks (drawn with the global torch RNG seeded by ``seed``,
    restored afterwards) and the polar's generator (seeded ``seed + 1``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ParallelSubnetworks(factory, width, device=device, dtype=dtype)
        gen = torch.Generator().manual_seed(seed + 1)
    return model, gen


def _degree_check(factory, model: ParallelSubnetworks, V: torch.Tensor, reg: Regularizer,
                  seed: int) -> tuple[float, bool, Regularizer]:
    """``(degree, matched, regularizer)``: the measured degree of the subnetwork family in its
    parameters (:func:`_family_homogeneity`; ``ValueError`` if it is not positively
    homogeneous), whether the regularizer has the same degree (a
    :class:`DegreeMismatchWarning` otherwise: no optimality can be certified), and the
    regularizer to train with: weight decay matched to two layers becomes the equal-after-
    balancing :class:`ProductOfNorms`, the certified form."""
    rep = _family_homogeneity(factory, V, seed)
    if not rep.homogeneous:
        raise ValueError("the subnetwork factory is not positively homogeneous in its "
                         f"parameters ({rep.reason}); use bias-free layers with ReLU / "
                         "pooling (a bias = a constant input column, fit_bias=True)")
    degree = rep.degree
    matched = abs(reg.degree(model) - degree) < 1e-9
    if not matched:
        warnings.warn(f"regularizer {reg.name!r} has degree {reg.degree(model)} but the "
                      f"subnetwork has degree {degree:g}: no global-optimality guarantee, "
                      "the certificate can only say 'unverified' or 'not_optimal'",
                      DegreeMismatchWarning, stacklevel=3)
    if isinstance(reg, WeightDecay) and matched:
        reg = ProductOfNorms()  # equal after balancing for two layers; certified form
    return degree, matched, reg


def _bound_regularizer(reg: Regularizer, V: torch.Tensor) -> Regularizer:
    """A :class:`JacobianRegularizer` without inputs bound to the training inputs ``V`` (a
    copy); any other regularizer, or one already bound, unchanged."""
    if isinstance(reg, JacobianRegularizer) and reg.points is None:
        return reg.with_inputs(V)
    return reg


def network_factors(model: ParallelSubnetworks) -> list[np.ndarray]:
    """The core's factor representation of a network: one float64 array per layer, column
    ``i`` = subnetwork ``i``'s parameters of that layer flattened (``params[k]`` of shape
    ``(r, *shape_k)`` reshaped to ``(r, Π shape_k)`` and transposed), on the CPU; ``r = 0``
    gives ``(Π shape_k, 0)`` arrays."""
    out = []
    for p in model.params:
        flat = p.detach().reshape(p.shape[0], math.prod(p.shape[1:]))
        out.append(flat.to("cpu", torch.float64).numpy().T.copy())
    return out


def _descend(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor, loss: NetLoss,
             reg: Regularizer, lam: float, *, matched: bool, optimizer: str, max_iter: int,
             lr: float) -> None:
    """Full-batch descent (:func:`train_full_batch`), then, for matched two-layer units, the
    exact convex refit of the output weights (:func:`refine_output_weights`; not for the
    hinge loss, nor for the Jacobian regularizer, whose weight on ``‖aᵢ‖`` is
    ``‖wᵢ‖·(active fraction)``, not the refit's ``‖wᵢ‖``; its units are rebalanced instead,
    which changes neither ``φ`` nor ``θ``)."""
    train_full_batch(model, V, T, loss, reg, lam, optimizer=optimizer, max_iter=max_iter, lr=lr)
    if isinstance(reg, JacobianRegularizer):
        model.rebalance()
        _refit_scales(model, V, T, loss, reg, lam)
        return
    if matched and getattr(model.make_subnetwork, "kind", "") == "relu_unit" and (
            loss.name != "hinge"):
        refine_output_weights(model, V, T, loss, lam)


def _refit_scales(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor, loss: NetLoss,
                  reg: Regularizer, lam: float) -> None:
    """One sweep of exact scale refits, in place: subnetwork ``i`` becomes ``s^{1/K}·Xᵢ`` with
    ``s = argmin_{s≥0} ℓ(Z − φᵢ + s φᵢ) + λ s θᵢ`` (convex in ``s``: ``φ`` and ``θ`` both have
    degree ``K`` and each layer degree 1), kept only where it lowers the objective;
    subnetworks with ``s = 0`` are removed.  The descent of a nonsmooth ``θ`` (the Jacobian
    regularizer) leaves small units that cost more than they gain; this removes them
    exactly."""
    if model.width == 0:
        return
    K = model.n_layers
    with torch.no_grad():
        outs = model.forward_each(V).detach()
        theta = reg.per_subnetwork(model).detach()
    z = outs.sum(0)
    keep = torch.ones(model.width, dtype=torch.bool)
    scales = torch.ones(model.width, dtype=model.dtype)
    for i in range(model.width):
        th = float(theta[i])
        rest = z - outs[i]
        s = loss.line_search(rest, T, outs[i], lam * th)   # needs autograd for its slope
        new = rest + s * outs[i]
        with torch.no_grad():
            better = (float(loss.value(new, T)) + lam * s * th
                      < float(loss.value(z, T)) + lam * th)
        if better:
            z = new
            scales[i] = s
            keep[i] = s > 0
    with torch.no_grad():
        for p in model.params:
            f = scales.to(p) ** (1.0 / K)
            p.mul_(f.view(-1, *([1] * (p.dim() - 1))))
    if not bool(keep.all()):
        model.remove_subnetworks((~keep).nonzero().reshape(-1))


def _prune_vanished(model: ParallelSubnetworks, prune_tol: float,
                    reg: Regularizer | None = None) -> None:
    """Remove the subnetworks with ``θᵢ ≤ prune_tol·Σⱼθⱼ`` (in place): ``θᵢ = Πₖ‖Xᵢᵏ‖``, or
    the Jacobian regularizer's own ``θᵢ`` when ``reg`` is one (a subnetwork dead on every
    training input has ``θᵢ = 0`` and, by Euler's identity, no output there)."""
    if model.width > 0:
        with torch.no_grad():
            theta = (reg.per_subnetwork(model) if isinstance(reg, JacobianRegularizer)
                     else model.layer_norms().prod(dim=1))
        dead = (theta <= prune_tol * max(float(theta.sum()), 1e-300)).nonzero()
        if dead.numel():
            model.remove_subnetworks(dead.reshape(-1).cpu())


def _certify_network(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor,
                     loss: NetLoss, reg: Regularizer, lam: float, *, matched: bool, tol: float,
                     polar_rtol: float, n_starts: int, n_iter: int, exact: bool | str,
                     generator: torch.Generator | None):
    """The polar bracket and certificate of ``model``, in float64 whatever the training dtype
    (:func:`_in_float64`): returns ``(wide, V64, T64, z, bound, cert)`` with ``wide`` the
    float64 model (``model`` itself when already float64) and ``z`` its outputs."""
    wide, V64, T64 = _in_float64(model, V, T)
    with torch.no_grad():
        z = wide(V64)
        obj = float(objective(wide, V64, T64, loss, reg, lam))
        scale = float(loss.value(torch.zeros_like(z), T64))
    g = loss.neg_gradient(z, T64)
    bound = network_polar(wide, V64, g, n_starts=n_starts, n_iter=n_iter, exact=exact,
                          generator=generator, regularizer=reg)
    cert = _certificate(loss, z, T64, g, bound, obj, lam, tol, polar_rtol, matched, scale)
    return wide, V64, T64, z, bound, cert


def _grow_or_stop(wide: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor, loss: NetLoss,
                  reg: Regularizer, lam: float, z: torch.Tensor, bound: PolarBound, *,
                  matched: bool, polar_rtol: float, room: int,
                  can_retry: bool) -> tuple[str | None, int]:
    """One growth step on the float64 model ``wide`` (in place): ``(stop, added)``.

    Matched degree: when the polar's lower bound is at most ``λ(1 + 1e-9)`` no subnetwork is
    added and the step says ``"retry"`` (the bracket is still open, ``ρ_up > λ(1+ε)``, and
    ``can_retry``), ``"polar_inconclusive"`` (open) or ``"stalled"`` (closed); otherwise up
    to ``room`` polar atoms are appended with their line searches (:func:`_add_polar_units`;
    ``"stalled"`` if none lowers the objective).  Mismatched degree: the best finite step
    along the polar maximizer (:func:`_finite_step`) is appended if it lowers the objective,
    else ``"stalled"``.  ``stop`` is ``None`` to go on."""
    if matched:
        if bound.lower <= lam * (1.0 + 1e-9):
            open_bracket = bound.upper > lam * (1.0 + polar_rtol)
            if can_retry and open_bracket:
                return "retry", 0
            return ("polar_inconclusive" if open_bracket else "stalled"), 0
        added = _add_polar_units(wide, V, T, loss, reg, lam, z, bound, room)
        return (None if added else "stalled"), added
    dec, new = _finite_step(wide, V, T, loss, reg, lam, bound)
    if dec >= 0:
        return "stalled", 0
    wide.add_subnetworks(new)
    return None, 1


def _check_count(name: str, value, minimum: int) -> int:
    """``value`` must be an integer ``>= minimum`` (``ValueError`` naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_lam(lam) -> float:
    """``λ`` must be a positive finite number (``ValueError`` naming ``lam``)."""
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not (
            math.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be a positive finite number, got {lam!r}")
    return float(lam)


def grow_network(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor, loss: NetLoss,
                 reg: Regularizer, lam: float, *, matched: bool = True,
                 generator: torch.Generator | None = None, tol: float = 1e-5,
                 polar_rtol: float = 1e-3, max_growth: int = 100, max_width: int = 256,
                 descent_iter: int = 500, optimizer: str = "lbfgs", lr: float = 1e-2,
                 prune_tol: float = 1e-6, polar_starts: int = 32, polar_iter: int = 100,
                 exact_polar: bool | str = "auto", units_per_step: int = 8,
                 stall_retries: int = 3,
                 verbose: bool = False) -> tuple[ParallelSubnetworks, GrowResult]:
    """The growth loop of :class:`GrowingNetwork` (docs: theory/descent-and-growth, 'The
    meta-algorithm'), on the network family: returns the grown model (in the training dtype)
    and the core's :class:`homfact.meta.GrowResult`.

    Each step (at most ``max_growth + 1``): descent (:func:`_descend`, ``descent_iter``
    iterations), pruning of vanished subnetworks (:func:`_prune_vanished`), the polar bracket
    and certificate in float64 (:func:`_certify_network`) and its history record
    (:func:`_history_record`); then the stop rules in order: ``"certified"`` (status
    ``"global"``), ``"max_iter"`` (``max_growth`` steps grown), ``"max_rank"`` (width
    ``max_width``); else a growth step (:func:`_grow_or_stop`).  A growth step that finds
    nothing above ``λ`` while the bracket is open is retried up to ``stall_retries`` times
    with 4× the descent iterations and polar starts and 2× the ascent iterations (the boost
    lasts one step).

    ``matched`` says whether ``reg`` has the subnetwork family's degree (see
    :func:`_degree_check`; mismatched: no dual point, finite growth steps).  ``generator``
    seeds the polar's starts.  The result's ``factors`` are :func:`network_factors` of the
    returned model (so ``result.rank`` is its width), ``certificate`` the last step's,
    ``history`` one record per step (:func:`_history_record`), ``n_iter`` the number of
    steps, ``stop_reason`` as above or ``"polar_inconclusive"``/``"stalled"`` (from
    :func:`_grow_or_stop`), ``elapsed`` the seconds spent.  ``model`` is modified in place
    while its dtype is float64; a float32 model is replaced by its grown copy.
    """
    if not isinstance(model, ParallelSubnetworks):
        raise TypeError(f"model must be a ParallelSubnetworks, got {type(model).__name__}")
    lam = _check_lam(lam)
    for name, value, lo in (("max_growth", max_growth, 0), ("max_width", max_width, 1),
                            ("descent_iter", descent_iter, 1), ("polar_starts", polar_starts, 1),
                            ("polar_iter", polar_iter, 1), ("units_per_step", units_per_step, 1),
                            ("stall_retries", stall_retries, 0)):
        _check_count(name, value, lo)
    dtype = model.dtype
    history: list[dict] = []
    t0 = time.perf_counter()
    cert = None
    stop = "max_iter"
    retries_left, boost = stall_retries, 1
    for step in range(max_growth + 1):
        _descend(model, V, T, loss, reg, lam, matched=matched, optimizer=optimizer,
                 max_iter=boost * descent_iter, lr=lr)
        _prune_vanished(model, prune_tol, reg)
        wide, V64, T64, z, bound, cert = _certify_network(
            model, V, T, loss, reg, lam, matched=matched, tol=tol, polar_rtol=polar_rtol,
            n_starts=boost * polar_starts, n_iter=min(boost, 2) * polar_iter,
            exact=exact_polar, generator=generator)
        boost = 1
        rec = _history_record(step, model.width, lam, cert, time.perf_counter() - t0)
        history.append(rec)
        if verbose:
            print(f"[grow] step {step} width {model.width} objective {cert.objective:.8g} "
                  f"polar∈[{bound.lower:.6g}, {bound.upper:.6g}] λ={lam:g} "
                  f"status {cert.status}")
        if cert.status == "global":
            stop = "certified"
            break
        if step == max_growth:
            stop = "max_iter"
            break
        if model.width >= max_width:
            stop = "max_rank"
            break
        grown, rec["added"] = _grow_or_stop(
            wide, V64, T64, loss, reg, lam, z, bound, matched=matched, polar_rtol=polar_rtol,
            room=min(units_per_step, max_width - model.width), can_retry=retries_left > 0)
        if grown == "retry":
            # stalled with an open bracket: descend longer, search the polar harder
            retries_left, boost = retries_left - 1, 4
            continue
        if grown is not None:
            stop = grown
            break
        model = wide.to(dtype)  # the grown network, back in the training dtype
    result = GrowResult(network_factors(model), cert, history, len(history), stop,
                        time.perf_counter() - t0)
    return model, result


def _add_polar_units(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor,
                     loss: NetLoss, reg: Regularizer, lam: float, z: torch.Tensor,
                     bound: PolarBound, max_units: int) -> int:
    """Append the polar maximizer and up to ``max_units − 1`` further distinct ascent maxima
    whose polar value exceeds ``λ``, each scaled by the exact convex line search
    ``s = argmin_{s≥0} ℓ(Z + s φ(V; x)) + λ s θ(x)`` at the outputs updated by the units already
    added (so every addition lowers the objective); returns how many were added."""
    first = bound.maximizer[0].flatten()
    atoms = [bound.maximizer] + [
        c for c, v in bound.candidates
        if v > lam * (1.0 + 1e-9) and float(c[0].flatten() @ first) <= 0.99 * float(
            c[0].norm() * first.norm())]
    added = 0
    for xs0 in atoms[:max(1, max_units)]:
        xs = [x.unsqueeze(0) for x in xs0]
        d = model.evaluate_subnetworks(xs, V)[0].detach()
        with torch.no_grad():
            theta_new = float(reg.per_subnetwork(_single(model, xs)).sum())
        s = loss.line_search(z, T, d, lam * theta_new)
        if s <= 0:
            continue
        model.add_subnetworks([s ** (1.0 / model.n_layers) * x for x in xs])
        z = z + s * d
        added += 1
    return added


def _single(model: ParallelSubnetworks, xs) -> ParallelSubnetworks:
    tmp = ParallelSubnetworks(model.make_subnetwork, 0, device=model.device, dtype=model.dtype)
    tmp.add_subnetworks(list(xs))
    return tmp


class GrowingClassifier(ClassifierMixin, GrowingNetwork):
    """:class:`GrowingNetwork` with ``task="classification"`` (default loss cross-entropy)."""

    #: fixed task (a class attribute, not a parameter: ``get_params`` omits it)
    task = "classification"
    __init__ = _init_shared_params


class GrowingRegressor(RegressorMixin, GrowingNetwork):
    """:class:`GrowingNetwork` with ``task="regression"`` (squared loss)."""

    #: fixed task (a class attribute, not a parameter: ``get_params`` omits it)
    task = "regression"
    __init__ = _init_shared_params
