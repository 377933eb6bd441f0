"""Parallel positively homogeneous subnetworks on PyTorch (the ``nn`` extra).

A network ``f(x) = Σᵢ φ(x; Xᵢ¹,…,Xᵢᴷ)`` that sums ``r`` identical, positively homogeneous
subnetworks of degree ``p`` and is regularized by ``λ Σᵢ θ(Xᵢ)`` with ``θ`` of the *same* degree
``p`` (e.g. ``θ = Πₖ‖Xᵢᵏ‖``) has the global-optimality theory of docs: theory/problem-class,
'Optimality': at a stationary point,
``Ω°(−∇ℓ(Z)) ≤ λ`` certifies a global minimum, otherwise the polar maximizer is a subnetwork to add.

* :class:`ParallelSubnetworks` and the ready subnetworks :func:`relu_unit`, :func:`relu_chain`,
  :func:`conv_subnetwork`;
* regularizers :class:`ProductOfNorms`, :class:`BalancedPowerSum`, :class:`WeightDecay` and the
  data-dependent :class:`JacobianRegularizer` (``θ = (1/N)Σₙ‖∂φ(xₙ)/∂x‖_F``, same degree; its
  polar :func:`jacobian_polar`, :func:`jacobian_polar_upper`);
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
from .polar import jacobian_polar, jacobian_polar_upper, relu_unit_polar, subnetwork_polar
from .regularizers import (
    BalancedPowerSum,
    JacobianRegularizer,
    ProductOfNorms,
    WeightDecay,
    make_regularizer,
)
from .training import train_full_batch

__all__ = [
    "BalancedPowerSum",
    "DegreeMismatchWarning",
    "GrowingClassifier",
    "GrowingNetwork",
    "GrowingRegressor",
    "HomogeneityReport",
    "JacobianRegularizer",
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
    "jacobian_polar",
    "jacobian_polar_upper",
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
