"""Parallel positively homogeneous subnetworks on PyTorch (the ``nn`` extra).

A network ``f(x) = Σᵢ φ(x; Xᵢ¹,…,Xᵢᴷ)`` that sums ``r`` identical, positively homogeneous
subnetworks of degree ``p`` and is regularized by ``λ Σᵢ θ(Xᵢ)`` with ``θ`` of the *same* degree
``p`` (e.g. ``θ = Πₖ‖Xᵢᵏ‖``) has the global-optimality theory of docs: theory/problem-class,
'Optimality': at a stationary point,
``Ω°(−∇ℓ(Z)) ≤ λ`` certifies a global minimum, otherwise the polar maximizer is a subnetwork to add.

* :class:`ParallelSubnetworks` and the ready subnetworks :func:`relu_unit`, :func:`relu_chain`,
  :func:`conv_subnetwork`;
* regularizers :class:`ProductOfNorms`, :class:`BalancedPowerSum`, :class:`WeightDecay`;
* :func:`homogeneity_degree` (numerical check of ``f(αθ) = αᵖ f(θ)``);
* :class:`GrowingNetwork` (:class:`GrowingClassifier`, :class:`GrowingRegressor`): growth from
  width 1 by the polar, with an honest :class:`homfact.certificate.Certificate`; its loop is
  :func:`grow_network` (returns the core's :class:`homfact.meta.GrowResult`, factors from
  :func:`network_factors`), its polar as a core polar solver :class:`NetworkPolar`.

Needs PyTorch: ``pip install "homfact[nn]"``.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "homfact.nn needs PyTorch, which is not installed: pip install 'homfact[nn]'"
    ) from exc

from .growing import (
    GrowingClassifier,
    GrowingNetwork,
    GrowingRegressor,
    NetworkPolar,
    grow_network,
    network_factors,
    polar_check,
)
from .homogeneity import (
    DegreeMismatchWarning,
    HomogeneityReport,
    NotHomogeneousWarning,
    check_regularizer_degree,
    homogeneity_degree,
    homogeneity_report,
)
from .losses import make_loss
from .modules import ParallelSubnetworks, conv_subnetwork, relu_chain, relu_unit
from .polar import relu_unit_polar, subnetwork_polar
from .regularizers import BalancedPowerSum, ProductOfNorms, WeightDecay, make_regularizer
from .training import train_full_batch

__all__ = [
    "BalancedPowerSum",
    "DegreeMismatchWarning",
    "GrowingClassifier",
    "GrowingNetwork",
    "GrowingRegressor",
    "HomogeneityReport",
    "NetworkPolar",
    "NotHomogeneousWarning",
    "ParallelSubnetworks",
    "ProductOfNorms",
    "WeightDecay",
    "check_regularizer_degree",
    "conv_subnetwork",
    "grow_network",
    "homogeneity_degree",
    "homogeneity_report",
    "make_loss",
    "make_regularizer",
    "network_factors",
    "polar_check",
    "relu_chain",
    "relu_unit",
    "relu_unit_polar",
    "subnetwork_polar",
    "train_full_batch",
]
