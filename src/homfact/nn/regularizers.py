"""Regularizers ``Θ(X) = Σᵢ θ(Xᵢ¹,…,Xᵢᴷ)`` over the subnetworks of a :class:`ParallelSubnetworks`.

* :class:`ProductOfNorms` — ``θ = Πₖ ‖Xᵢᵏ‖_F``, degree ``K`` (matches a bias-free ReLU
  subnetwork with ``K`` weight layers);
* :class:`BalancedPowerSum` — ``θ = Σₖ ‖Xᵢᵏ‖_F^K / K``, degree ``K``, smooth; by AM–GM it is
  ``≥ Πₖ‖Xᵢᵏ‖`` with equality at balance, so both give the same minimum value;
* :class:`WeightDecay` — ``θ = ½ Σₖ ‖Xᵢᵏ‖_F²``, degree 2 (degree-matched only for ``K = 2``).
"""

from __future__ import annotations

import torch

from .modules import ParallelSubnetworks

__all__ = ["BalancedPowerSum", "ProductOfNorms", "Regularizer", "WeightDecay",
           "make_regularizer"]


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


_REGS = {"product_of_norms": ProductOfNorms, "product": ProductOfNorms,
         "balanced_power_sum": BalancedPowerSum, "balanced": BalancedPowerSum,
         "weight_decay": WeightDecay, "wd": WeightDecay}


def make_regularizer(spec: str | Regularizer) -> Regularizer:
    """A regularizer from its name (``"product_of_norms"``, ``"balanced_power_sum"``,
    ``"weight_decay"``) or an instance."""
    if isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, str) and spec in _REGS:
        return _REGS[spec]()
    raise ValueError(f"regularizer must be one of {sorted(_REGS)} or a Regularizer, got {spec!r}")
