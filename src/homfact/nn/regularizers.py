"""Regularizers ``Θ(X) = Σᵢ θ(Xᵢ¹,…,Xᵢᴷ)`` over the subnetworks of a :class:`ParallelSubnetworks`.

* :class:`ProductOfNorms` — ``θ = Πₖ ‖Xᵢᵏ‖_F``, degree ``K`` (matches a bias-free ReLU
  subnetwork with ``K`` weight layers);
* :class:`BalancedPowerSum` — ``θ = Σₖ ‖Xᵢᵏ‖_F^K / K``, degree ``K``, smooth; by AM–GM it is
  ``≥ Πₖ‖Xᵢᵏ‖`` with equality at balance, so both give the same minimum value;
* :class:`WeightDecay` — ``θ = ½ Σₖ ‖Xᵢᵏ‖_F²``, degree 2 (degree-matched only for ``K = 2``);
* :class:`JacobianRegularizer` — ``θ = (1/N) Σₙ ‖∂φ(xₙ; Xᵢ)/∂x‖_F`` on training inputs
  ``x₁…x_N`` (Sokolić, Giryes, Sapiro & Rodrigues, IEEE TSP 2017), data-dependent, degree ``K``
  for bias-free ReLU / pooling subnetworks.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch.func import functional_call, vmap

from .modules import ParallelSubnetworks

__all__ = ["BalancedPowerSum", "JacobianRegularizer", "ProductOfNorms", "Regularizer",
           "WeightDecay", "make_regularizer"]


class Regularizer:
    """``Θ(model) = Σᵢ θ(Xᵢ)``; ``degree(model)`` is the homogeneity degree of ``θ``."""

    name = "regularizer"

    def per_subnetwork(self, model: ParallelSubnetworks) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, model: ParallelSubnetworks) -> torch.Tensor:
        if not isinstance(model, ParallelSubnetworks):
            raise TypeError("regularizers act on a ParallelSubnetworks model")
        return self.per_subnetwork(model).sum()

    def degree(self, model: ParallelSubnetworks) -> int:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ProductOfNorms(Regularizer):
    """``θ(Xᵢ) = Πₖ ‖Xᵢᵏ‖_F`` (degree ``K`` = number of layers)."""

    name = "product_of_norms"

    def per_subnetwork(self, model: ParallelSubnetworks) -> torch.Tensor:
        return model.layer_norms().prod(dim=1)

    def degree(self, model: ParallelSubnetworks) -> int:
        return model.n_layers


class BalancedPowerSum(Regularizer):
    """``θ(Xᵢ) = Σₖ ‖Xᵢᵏ‖_F^K / K`` — the smooth, balanced equivalent of ``Πₖ‖Xᵢᵏ‖``."""

    name = "balanced_power_sum"

    def per_subnetwork(self, model: ParallelSubnetworks) -> torch.Tensor:
        k = model.n_layers
        sq = torch.stack([p.flatten(1).pow(2).sum(dim=1) for p in model.params], dim=1)
        return (sq.pow(0.5 * k) / k).sum(dim=1)

    def degree(self, model: ParallelSubnetworks) -> int:
        return model.n_layers


class WeightDecay(Regularizer):
    """``θ(Xᵢ) = ½ Σₖ ‖Xᵢᵏ‖_F²`` (degree 2)."""

    name = "weight_decay"

    def per_subnetwork(self, model: ParallelSubnetworks) -> torch.Tensor:
        sq = torch.stack([p.flatten(1).pow(2).sum(dim=1) for p in model.params], dim=1)
        return 0.5 * sq.sum(dim=1)

    def degree(self, model: ParallelSubnetworks) -> int:
        return 2


class JacobianRegularizer(Regularizer):
    r"""Jacobian regularizer ``θ(Xᵢ) = (1/N) Σₙ ‖∂φ(xₙ; Xᵢ)/∂x‖_F`` (Sokolić et al. 2017).

    ``φ(x; Xᵢ)`` is subnetwork ``i``'s output (``C`` values) at the input ``x`` (``d``
    values) and ``∂φ/∂x`` its ``C × d`` input Jacobian, evaluated at the training inputs
    ``x₁…x_N`` held by the regularizer.  Subnetworks are penalized separately
    (``Θ = Σᵢ θ(Xᵢ)``), so the regularizer keeps the parallel structure of the theory.

    **Degree.**  For a bias-free subnetwork of ``K`` weight layers with ReLU and (max or
    average) pooling, ``φ(x; αXᵢ) = α^K φ(x; Xᵢ)`` for every ``x``, hence (differentiating in
    ``x``) ``∂φ/∂x`` scales by ``α^K`` too, and ``θ(αXᵢ) = α^K θ(Xᵢ)``: the regularizer has
    the network's degree ``K`` (:meth:`degree` returns ``model.n_layers``, one degree per
    parameter tensor, the convention of :class:`ProductOfNorms`), and the global-optimality
    theory applies to ``ℓ + λ Σᵢ θ(Xᵢ)``.  Each layer alone has degree 1, so rebalancing
    (:meth:`ParallelSubnetworks.rebalance`) changes neither ``φ`` nor ``θ``.

    **Euler identity, definiteness.**  Such a subnetwork is also positively homogeneous of
    degree 1 in its *input*, and the Jacobian autograd computes — ReLU derivative ``1[z > 0]``
    (0 at the kink), the selected index of a max pooling — satisfies
    ``φ(x; Xᵢ) = (∂φ/∂x)(x)·x`` at every ``x`` in exact arithmetic (each mask ``D`` has
    ``D z = z₊`` also where ``z = 0``; computed masks can differ from the exact signs at points
    within rounding of a kink).  So ``θ(Xᵢ) = 0`` implies ``φ(xₙ; Xᵢ) = 0`` at every
    training input (the theory's condition A3), and the polar at ``G`` on those inputs is at most
    ``N·maxₙ ‖gₙ‖‖xₙ‖`` (:func:`homfact.nn.polar.jacobian_polar_upper`).  ``θ`` is the value
    at the autograd convention: on a kink (measure zero) it is the value at one choice of
    masks (for a single ReLU layer an element of the Clarke range; for deeper chains a
    product of per-layer choices, not always in the Clarke Jacobian of the composition), and
    its gradient treats the masks as constants.

    **Data.**  The regularizer is data-dependent: the training inputs are given at
    construction (``inputs``, an ``(N, d)`` tensor or array, the rows the subnetworks see —
    with ``fit_bias`` the constant column included, so the Jacobian is taken in it too) or
    bound later by :meth:`with_inputs` (a copy).  ``make_regularizer("jacobian")`` is unbound;
    :class:`homfact.nn.GrowingNetwork` binds it to its training inputs.  They are cast to the
    model's device and dtype at each call.  Calling an unbound regularizer is a ``ValueError``.

    **Cost.**  ``method="auto"`` uses the closed form for ``relu_unit``
    (``‖Jᵢₙ‖_F = 1[wᵢᵀxₙ > 0]‖wᵢ‖‖aᵢ‖``, cost ``O(rNd)``) and ``relu_chain``
    (``Jᵢₙ = W_L D_{L−1} ⋯ D₁ W₁``, formed right to left with ``‖Bᵢₙ W₁‖_F² =
    tr(Bᵢₙ W₁W₁ᵀ Bᵢₙᵀ)``: ``O(rN(d h + L C h²))`` time and ``O(rNCh)`` memory for hidden width
    ``h``, no ``C × d`` Jacobian stored; for three layers with ``h₁h₂ ≤ 144`` the quadratic form
    ``‖J‖_F² = uᵀTu`` in the masks ``u = m₂⊗m₁``, one batched matmul, 1.05-25x faster on a
    CPU, 2.4x at ``h = 8, C = 10`` — ``benchmarks/bench_nn_jacobian.py``), differentiable in
    the weights by ordinary autograd (the masks are constants, exactly as in double
    backpropagation).  Other families (conv,
    custom factories), or ``method="autograd"``, use double backpropagation: the ``r``
    subnetworks are evaluated on their own copy of the inputs (``torch.func.vmap``), then
    ``C`` reverse passes (one per output) with ``create_graph=True`` give the rows of every
    ``Jᵢₙ`` at once; memory ``O(rN(d + activations))`` per output is kept for the weight
    gradient.  ``max_points`` (default ``None``: all ``N`` points, the exact regularizer) uses a
    fixed random subset of that many points, drawn once from ``seed`` (a deterministic
    objective, so L-BFGS still works).  A subset is a *different* regularizer: a subnetwork
    active only on points outside it has ``θ = 0`` and a non-zero output, so condition A3
    fails on the full data and no polar upper bound is claimed (the certificate can then say
    ``"unverified"`` or ``"not_optimal"``, never ``"global"``).

    Parameters
    ----------
    inputs : ``(N, d)`` training inputs, or ``None`` (bind later with :meth:`with_inputs`).
    max_points : ``None`` (exact, all points) or an integer ``>= 1`` (fixed random subset).
    seed : seed of the subset (``max_points`` only).
    method : ``"auto"`` (closed forms for ReLU units and chains) or ``"autograd"`` (double
        backpropagation for every family).
    """

    name = "jacobian"

    def __init__(self, inputs=None, *, max_points: int | None = None, seed: int = 0,
                 method: str = "auto"):
        if max_points is not None and (isinstance(max_points, bool) or not isinstance(
                max_points, numbers.Integral) or max_points < 1):
            raise ValueError(f"max_points must be None or an integer >= 1, got {max_points!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if method not in ("auto", "autograd"):
            raise ValueError(f"method must be 'auto' or 'autograd', got {method!r}")
        self.max_points = None if max_points is None else int(max_points)
        self.seed = int(seed)
        self.method = method
        self.inputs: torch.Tensor | None = None
        self.points: torch.Tensor | None = None
        if inputs is not None:
            self._bind(inputs)

    # ------------------------------------------------------------------ data
    def _bind(self, inputs) -> None:
        if isinstance(inputs, torch.Tensor):
            x = inputs.detach()
        else:
            try:
                x = torch.as_tensor(np.asarray(inputs, dtype=float))
            except (TypeError, ValueError) as exc:
                raise TypeError("inputs must be a numeric (N, d) tensor or array") from exc
        if not x.is_floating_point():
            x = x.to(torch.float64)
        if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"inputs must be a non-empty (N, d) array, got shape "
                             f"{tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("inputs contains NaN or infinite values")
        self.inputs = x
        if self.max_points is None or self.max_points >= x.shape[0]:
            self.points = x
        else:
            gen = torch.Generator().manual_seed(self.seed)
            idx = torch.randperm(x.shape[0], generator=gen)[: self.max_points]
            self.points = x[torch.sort(idx).values.to(x.device)]

    def with_inputs(self, inputs) -> JacobianRegularizer:
        """A copy of this regularizer (same ``max_points``, ``seed``, ``method``) bound to
        ``inputs`` (``(N, d)``)."""
        new = copy.copy(self)
        new._bind(inputs)
        return new

    @property
    def n_points(self) -> int:
        """Number ``N`` of points in the mean (0 when unbound)."""
        return 0 if self.points is None else int(self.points.shape[0])

    def covers(self, V: torch.Tensor) -> bool:
        """Whether the points of the mean are exactly the rows of ``V`` (same order and
        values, compared in float64): the condition of the polar upper bound."""
        if self.points is None or V.dim() != 2 or tuple(V.shape) != tuple(self.points.shape):
            return False
        return bool(torch.equal(self.points.to(device=V.device, dtype=torch.float64),
                                V.detach().to(torch.float64)))

    def _points_for(self, model: ParallelSubnetworks) -> torch.Tensor:
        if self.points is None:
            raise ValueError("JacobianRegularizer has no training inputs: pass inputs=... or "
                             "use .with_inputs(V) (GrowingNetwork binds its own)")
        x = self.points.to(device=model.device, dtype=model.dtype)
        d = getattr(model.make_subnetwork, "in_features", None)
        if d is not None and x.shape[1] != d:
            raise ValueError(f"inputs have {x.shape[1]} columns but the subnetworks take {d}")
        return x

    # ------------------------------------------------------------------ evaluation
    def jacobian_norms(self, model: ParallelSubnetworks,
                       params: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``‖∂φ(xₙ; Xᵢ)/∂x‖_F`` for every subnetwork ``i`` and point ``n``, shape ``(s, N)``.

        ``params`` are stacked subnetworks ``(s, *shape_k)`` of ``model``'s family (default
        the model's own).  Differentiable in ``params`` where grad mode is on."""
        if not isinstance(model, ParallelSubnetworks):
            raise TypeError("regularizers act on a ParallelSubnetworks model")
        ps = list(model.params) if params is None else list(params)
        x = self._points_for(model)
        if ps[0].shape[0] == 0:
            return x.new_zeros((0, x.shape[0]))
        kind = getattr(model.make_subnetwork, "kind", "custom")
        if self.method == "auto" and kind == "relu_unit":
            w, a = ps[0].flatten(1), ps[1].flatten(1)                    # (s, d), (s, C)
            active = (x @ w.detach().T > 0).T.to(x.dtype)                # (s, N)
            return active * (w.norm(dim=1) * a.norm(dim=1)).unsqueeze(1)
        if self.method == "auto" and kind == "relu_chain":
            sq = (_chain3_quadratic_sq(ps, x) if _prefer_chain3_quadratic(ps)
                  else _chain_jacobian_sq(ps, x))
        else:
            sq = _autograd_jacobian_sq(model, ps, x)
        return _safe_sqrt(sq)

    def per_subnetwork(self, model: ParallelSubnetworks) -> torch.Tensor:
        """``θ(Xᵢ) = (1/N) Σₙ ‖∂φ(xₙ; Xᵢ)/∂x‖_F`` for every subnetwork, shape ``(r,)``."""
        return self.jacobian_norms(model).mean(dim=1)

    def degree(self, model: ParallelSubnetworks) -> int:
        return model.n_layers

    def __repr__(self) -> str:
        bound = f"N={self.n_points}" if self.points is not None else "unbound"
        sub = "" if self.max_points is None else f", max_points={self.max_points}"
        return f"JacobianRegularizer({bound}{sub}, method={self.method!r})"


def _safe_sqrt(sq: torch.Tensor) -> torch.Tensor:
    """``√max(sq, 0)`` with gradient 0 (not ``inf``/NaN) where ``sq ≤ 0``."""
    pos = sq > 0
    return torch.where(pos, torch.where(pos, sq, torch.ones_like(sq)).sqrt(),
                       torch.zeros_like(sq))


def _chain_masks(ps: Sequence[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    """ReLU masks ``1[z_k > 0]`` (``(s, N, h_k)``, ``k = 1 … L−1``) of bias-free ReLU chains at
    the points ``x``: autograd's ReLU derivative, constants in the weights (computed without a
    graph)."""
    masks = []
    with torch.no_grad():
        h = torch.einsum("nd,shd->snh", x, ps[0])
        for w in ps[1:-1]:
            masks.append((h > 0).to(x.dtype))
            h = torch.einsum("snh,sgh->sng", torch.relu(h), w)
        masks.append((h > 0).to(x.dtype))
    return masks


def _chain_jacobian_sq(ps: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``‖Jᵢₙ‖_F²`` of bias-free ReLU chains ``W_L ψ(⋯ψ(W₁x))``, shape ``(s, N)``.

    ``Jᵢₙ = W_L D_{L−1} W_{L−1} ⋯ D₁ W₁`` with ``D_k = diag(1[z_k > 0])`` (autograd's ReLU
    derivative, constant in the weights); ``Bᵢₙ = W_L D_{L−1} ⋯ D₁`` (``C × h₁``) is formed
    right to left and ``‖Bᵢₙ W₁‖_F² = Σ_c b_c (W₁W₁ᵀ) b_cᵀ`` (or ``B W₁`` directly when
    ``h₁ ≥ d``)."""
    masks = _chain_masks(ps, x)
    B = ps[-1].unsqueeze(1) * masks[-1].unsqueeze(2)                     # (s, N, C, h)
    for w, m in zip(reversed(ps[1:-1]), reversed(masks[:-1]), strict=True):
        B = torch.einsum("snch,shg->sncg", B, w) * m.unsqueeze(2)
    W1 = ps[0]
    if W1.shape[1] < W1.shape[2]:
        gram = W1 @ W1.transpose(1, 2)                                   # (s, h₁, h₁)
        return torch.einsum("snch,shg,sncg->sn", B, gram, B).clamp_min(0.0)
    return torch.einsum("snch,shd->sncd", B, W1).pow(2).sum(dim=(2, 3))


def _prefer_chain3_quadratic(ps: Sequence[torch.Tensor]) -> bool:
    """Whether :func:`_chain3_quadratic_sq` is the faster form: three layers and
    ``h₁h₂ ≤ 144``.  Its cost per point is ``(h₁h₂)²`` in one batched matmul, the right-to-left
    form's ``≈ C·h₁(h₁ + h₂)`` in einsums over ``(s, N, C, h)`` tensors, which run several
    times slower per flop: measured on a CPU (``benchmarks/bench_nn_jacobian.py``), the
    quadratic form was 1.05-25x faster up to ``h = 12`` for ``C`` from 1 to 100 and slower
    from ``h = 16``; on shapes not used to set the rule the worst pick cost 1.2x."""
    if len(ps) != 3:
        return False
    return ps[0].shape[1] * ps[1].shape[1] <= _CHAIN3_QUADRATIC_MAX


#: largest ``h₁h₂`` for which :func:`_chain3_quadratic_sq` is used (see
#: :func:`_prefer_chain3_quadratic`)
_CHAIN3_QUADRATIC_MAX = 144


def _chain3_quadratic_sq(ps: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``‖Jᵢₙ‖_F²`` of three-layer bias-free ReLU chains as a quadratic form in the masks,
    shape ``(s, N)``.

    ``J = W₃D₂W₂D₁W₁``, so ``‖J‖_F² = Σ m₂c m₂e m₁a m₁b Q_ce G_ab (W₂)_ca (W₂)_eb`` with
    ``Q = W₃ᵀW₃``, ``G = W₁W₁ᵀ``: ``uᵀTu`` with ``u = m₂⊗m₁`` (``h₁h₂`` values, constant in
    the weights) and ``T`` an ``h₁h₂ × h₁h₂`` matrix per subnetwork — one batched matmul and no
    ``(s, N, C, h)`` tensor, faster than :func:`_chain_jacobian_sq` for narrow chains
    (:func:`_prefer_chain3_quadratic`)."""
    W1, W2, W3 = ps
    s, h2, h1 = W2.shape
    m1, m2 = _chain_masks(ps, x)
    Q = W3.transpose(1, 2) @ W3                                          # (s, h₂, h₂)
    G = W1 @ W1.transpose(1, 2)                                          # (s, h₁, h₁)
    T = (Q[:, :, None, :, None] * G[:, None, :, None, :] * W2[:, :, :, None, None]
         * W2[:, None, None, :, :]).reshape(s, h2 * h1, h2 * h1)
    u = (m2.unsqueeze(3) * m1.unsqueeze(2)).reshape(s, x.shape[0], h2 * h1)
    return (torch.bmm(u, T) * u).sum(2).clamp_min(0.0)


def _autograd_jacobian_sq(model: ParallelSubnetworks, ps: Sequence[torch.Tensor],
                          x: torch.Tensor) -> torch.Tensor:
    """``‖Jᵢₙ‖_F²`` by double backpropagation, shape ``(s, N)``: every subnetwork gets its own
    copy of the inputs (``vmap`` of ``functional_call``), and one reverse pass per output
    ``c`` gives ``∂φ_c(xₙ; Xᵢ)/∂xₙ`` for all ``i, n`` (the points do not interact).  With
    grad mode on, ``create_graph=True`` keeps the result differentiable in the weights;
    under ``no_grad`` it is computed all the same and returned detached."""
    create = torch.is_grad_enabled()
    template, names = model._template, model._names
    s, N = ps[0].shape[0], x.shape[0]

    def one(p, inp):
        return functional_call(template, dict(zip(names, p, strict=True)), (inp,))

    with torch.enable_grad():
        xr = x.detach().unsqueeze(0).expand(s, *x.shape).clone().requires_grad_(True)
        out = vmap(one, in_dims=(0, 0))(tuple(ps), xr).reshape(s, N, -1)
        sq = x.new_zeros((s, N))
        n_out = out.shape[2]
        for c in range(n_out):
            (g,) = torch.autograd.grad(out[..., c].sum(), xr, create_graph=create,
                                       retain_graph=create or c < n_out - 1)
            sq = sq + g.pow(2).flatten(2).sum(dim=2)
    return sq if create else sq.detach()


_REGS = {"product_of_norms": ProductOfNorms, "product": ProductOfNorms,
         "balanced_power_sum": BalancedPowerSum, "balanced": BalancedPowerSum,
         "weight_decay": WeightDecay, "wd": WeightDecay,
         "jacobian": JacobianRegularizer}


def make_regularizer(spec: str | Regularizer) -> Regularizer:
    """A regularizer from its name (``"product_of_norms"``, ``"balanced_power_sum"``,
    ``"weight_decay"``, ``"jacobian"`` — unbound: see :meth:`JacobianRegularizer.with_inputs`)
    or an instance."""
    if isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, str) and spec in _REGS:
        return _REGS[spec]()
    raise ValueError(f"regularizer must be one of {sorted(_REGS)} or a Regularizer, got {spec!r}")
