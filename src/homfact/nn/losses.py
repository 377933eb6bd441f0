"""Losses of the network output ``Z`` (mean over the ``N`` samples) with Fenchel lower bounds.

Every loss gives ``value(Z)`` and, where the conjugate is available, the dual value
``−ℓ*(−cG)`` of the scaled negative gradient ``G = −∇ℓ(Z)`` maximized over ``c ∈ [0, c_max]``
(docs: theory/duality-gap-and-status, 'Conjugates'):

* ``"squared"`` ``ℓ = (1/2N) Σₙ ‖yₙ − zₙ‖²``: ``−ℓ*(−Λ) = ⟨Λ, Y⟩ − (N/2)‖Λ‖²``;
* ``"cross_entropy"`` ``ℓ = (1/N) Σₙ [logsumexp(zₙ) − z_{n,yₙ}]``:
  ``−ℓ*(−cG) = −(1/N) Σₙ Σⱼ qₙⱼ log qₙⱼ``, ``qₙ = c·softmax(zₙ) + (1−c) e_{yₙ}``;
* ``"squared_hinge"`` (one-vs-rest, ``s = ±1``) ``ℓ = (1/N) Σₙⱼ max(0, 1 − sₙⱼ zₙⱼ)²``: with
  ``mₙⱼ = max(0, 1 − sₙⱼ zₙⱼ)``, ``−ℓ*(−cG) = (1/N) Σ (2c m − c² m²)``;
* ``"hinge"`` (multiclass, Weston–Watkins ``(1/N) Σₙ Σ_{j≠yₙ} max(0, 1 − z_{n,yₙ} + zₙⱼ)/C``):
  not differentiable, no lower bound (the gap is ``inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CLASSIFICATION_LOSSES", "LOSSES", "NetLoss", "make_loss"]

LOSSES = ("squared", "cross_entropy", "squared_hinge", "hinge")
CLASSIFICATION_LOSSES = ("cross_entropy", "squared_hinge", "hinge")


class NetLoss:
    """A loss ``ℓ(Z)`` with targets ``T`` fixed by :meth:`targets`."""

    name = "loss"
    has_dual = True
    #: ``κ`` with ``‖∇²ℓ(Z)‖ ≤ κ/N`` (mean losses), or ``None`` where no bound is used
    curvature: float | None = None

    def targets(self, y: np.ndarray, n_classes: int | None, device, dtype) -> torch.Tensor:
        """Targets from labels (class indices for classification, values for regression)."""
        raise NotImplementedError  # pragma: no cover

    def value(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def neg_gradient(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``G = −∇ℓ(Z)`` (by autograd)."""
        zz = z.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(self.value(zz, t), zz)
        return -g

    def numpy_value_grad(self, t: np.ndarray) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        """``Z ↦ (ℓ(Z), ∇ℓ(Z))`` in NumPy float64 for targets ``t``: the same formula as
        :meth:`value`, for small host-side loops where per-op torch dispatch dominates."""
        raise NotImplementedError(f"no NumPy form of the {self.name!r} loss")

    def dual(self, z: torch.Tensor, t: torch.Tensor, g: torch.Tensor, c_max: float
             ) -> tuple[float, float]:
        """``(c, −ℓ*(−cG))`` with ``c ∈ [0, c_max]`` maximizing the dual value."""
        return 0.0, -math.inf

    def line_search(self, z: torch.Tensor, t: torch.Tensor, d: torch.Tensor, weight: float,
                    ) -> float:
        """``argmin_{s ≥ 0} ℓ(Z + s D) + weight·s`` (convex in ``s``: bisection on the slope)."""
        def slope(s: float) -> float:
            zz = (z + s * d).detach().requires_grad_(True)
            (gr,) = torch.autograd.grad(self.value(zz, t), zz)
            return float((gr * d).sum()) + weight

        if slope(0.0) >= 0.0:
            return 0.0
        hi = 1.0
        while slope(hi) < 0.0:
            hi *= 2.0
            if hi > 1e30:
                raise FloatingPointError("line search diverged: the loss is unbounded below")
        lo = 0.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if slope(mid) < 0.0:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)


class Squared(NetLoss):
    name = "squared"
    curvature = 1.0

    def targets(self, y, n_classes, device, dtype):
        if n_classes is not None:  # classification with the squared loss: one-hot targets
            return F.one_hot(torch.as_tensor(y, device=device), n_classes).to(dtype)
        t = torch.as_tensor(np.asarray(y, dtype=float), device=device, dtype=dtype)
        return t.reshape(t.shape[0], -1)

    def value(self, z, t):
        return 0.5 * (t - z).pow(2).sum() / z.shape[0]

    def neg_gradient(self, z, t):
        """``(T − Z)/N``."""
        return (t - z.detach()) / z.shape[0]

    def numpy_value_grad(self, t):
        def f(Z):
            R = Z - t
            return 0.5 * float((R * R).sum()) / Z.shape[0], R / Z.shape[0]
        return f

    def dual(self, z, t, g, c_max):
        n = z.shape[0]
        gy, gg = float((g * t).sum()), float((g * g).sum())
        c = c_max if gg == 0 else min(max(gy / (n * gg), 0.0), c_max)
        return c, c * gy - 0.5 * n * c * c * gg

    def line_search(self, z, t, d, weight):
        n = z.shape[0]
        dd = float((d * d).sum())
        if dd == 0:
            return 0.0
        return max(0.0, (float(((t - z) * d).sum()) / n - weight) * n / dd)


class CrossEntropy(NetLoss):
    name = "cross_entropy"
    curvature = 0.5  # softmax Hessian diag(p) − ppᵀ has norm ≤ ½

    def targets(self, y, n_classes, device, dtype):
        return torch.as_tensor(y, device=device, dtype=torch.long)

    def value(self, z, t):
        return F.cross_entropy(z, t, reduction="mean")

    def neg_gradient(self, z, t):
        """``(onehot(T) − softmax(Z))/N``."""
        p = torch.softmax(z.detach(), dim=1)
        return (F.one_hot(t, z.shape[1]).to(p) - p) / z.shape[0]

    def numpy_value_grad(self, t):
        rows = np.arange(t.shape[0])

        def f(Z):
            M = Z.max(axis=1, keepdims=True)
            E = np.exp(Z - M)
            S = E.sum(axis=1, keepdims=True)
            val = float((np.log(S[:, 0]) + M[:, 0] - Z[rows, t]).sum()) / Z.shape[0]
            P = E / S
            P[rows, t] -= 1.0
            return val, P / Z.shape[0]
        return f

    def dual(self, z, t, g, c_max):
        p = torch.softmax(z.detach(), dim=1)
        e = F.one_hot(t, z.shape[1]).to(p)

        def val(c: float) -> float:
            q = c * p + (1.0 - c) * e
            return float(-(torch.special.xlogy(q, q)).sum() / z.shape[0])

        # the dual value is concave in c (entropy of an affine path): golden-section search
        lo, hi = 0.0, float(c_max)
        phi = (math.sqrt(5.0) - 1.0) / 2.0
        a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
        fa, fb = val(a), val(b)
        for _ in range(60):
            if fa < fb:
                lo, a, fa = a, b, fb
                b = lo + phi * (hi - lo)
                fb = val(b)
            else:
                hi, b, fb = b, a, fa
                a = hi - phi * (hi - lo)
                fa = val(a)
        cands = [(val(c), c) for c in (0.0, float(c_max), 0.5 * (lo + hi))]
        best = max(cands)
        return best[1], best[0]


class SquaredHinge(NetLoss):
    name = "squared_hinge"
    curvature = 2.0

    def targets(self, y, n_classes, device, dtype):
        return 2.0 * F.one_hot(torch.as_tensor(y, device=device), n_classes).to(dtype) - 1.0

    def value(self, z, t):
        return torch.clamp(1.0 - t * z, min=0.0).pow(2).sum() / z.shape[0]

    def neg_gradient(self, z, t):
        """``2 T ⊙ (1 − T ⊙ Z)₊ / N``."""
        return 2.0 * t * torch.clamp(1.0 - t * z.detach(), min=0.0) / z.shape[0]

    def numpy_value_grad(self, t):
        def f(Z):
            Mg = np.maximum(1.0 - t * Z, 0.0)
            return float((Mg * Mg).sum()) / Z.shape[0], -2.0 * t * Mg / Z.shape[0]
        return f

    def dual(self, z, t, g, c_max):
        m = torch.clamp(1.0 - t * z.detach(), min=0.0)
        s1, s2 = float(m.sum()), float((m * m).sum())
        c = c_max if s2 == 0 else min(max(s1 / s2, 0.0), c_max)
        return c, (2.0 * c * s1 - c * c * s2) / z.shape[0]


class Hinge(NetLoss):
    name = "hinge"
    has_dual = False

    def targets(self, y, n_classes, device, dtype):
        return torch.as_tensor(y, device=device, dtype=torch.long)

    def value(self, z, t):
        return F.multi_margin_loss(z, t, reduction="mean")


_LOSSES = {"squared": Squared, "cross_entropy": CrossEntropy, "squared_hinge": SquaredHinge,
           "hinge": Hinge}


def make_loss(name: str | NetLoss) -> NetLoss:
    """A loss from its name: ``"squared"``, ``"cross_entropy"``, ``"squared_hinge"``,
    ``"hinge"``."""
    if isinstance(name, NetLoss):
        return name
    if isinstance(name, str) and name in _LOSSES:
        return _LOSSES[name]()
    raise ValueError(f"loss must be one of {list(_LOSSES)}, got {name!r}")
