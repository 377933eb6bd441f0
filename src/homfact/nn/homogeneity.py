"""Numerical check of positive homogeneity: ``f(αθ) = αᵖ f(θ)`` and ``f(αx) = αᵖ f(x)``.

The module is copied to float64; for ``α`` in a few positive values the scaled output is compared
with ``αᵖ f`` where ``p = log(‖f(2·)‖/‖f(·)‖)/log 2``.  Homogeneous iff the relative error is below
``rtol`` for every ``α``.  ReLU, bias-free Linear/Conv, max and average pooling pass; sigmoid, tanh
and biases fail.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["DegreeMismatchWarning", "HomogeneityReport", "NotHomogeneousWarning",
           "check_regularizer_degree", "homogeneity_degree", "homogeneity_report"]


class DegreeMismatchWarning(UserWarning):
    """The regularizer's degree differs from the network's (spurious local minima possible)."""


class NotHomogeneousWarning(UserWarning):
    """The network is not positively homogeneous: the global-optimality theory does not apply."""


@dataclass(frozen=True)
class HomogeneityReport:
    """Result of :func:`homogeneity_report`.

    ``degree`` is the degree ``p`` (``None`` if not homogeneous); ``parameter_degree`` /
    ``input_degree`` the degrees found for each kind of scaling (``None``: not homogeneous or not
    tested); ``block_degrees`` the degree in each parameter tensor alone; ``max_rel_error`` the
    worst ``‖f(α·) − αᵖ f‖/‖αᵖ f‖``; ``reason`` says why it is not homogeneous.
    """

    degree: float | None
    homogeneous: bool
    parameter_degree: float | None
    input_degree: float | None
    block_degrees: tuple[float | None, ...] = field(default=())
    max_rel_error: float = 0.0
    reason: str = ""


def _rounded(p: float) -> float:
    r = round(p)
    return float(r) if abs(p - r) < 1e-6 else p


def _degree(fn, alphas, rtol) -> tuple[float | None, float]:
    """Degree of ``α ↦ fn(α)`` with ``fn(1) ≠ 0``; ``(None, err)`` when not homogeneous."""
    f1 = fn(1.0)
    n1 = float(f1.norm())
    if not math.isfinite(n1):
        raise ValueError("the module output is not finite at the example input")
    if n1 == 0.0:
        raise ValueError("the module output is zero at the example input: degree undefined "
                         "(use another example input or initialization)")
    f2 = fn(2.0)
    n2 = float(f2.norm())
    if n2 == 0.0:
        return None, math.inf
    p = _rounded(math.log(n2 / n1) / math.log(2.0))
    worst = 0.0
    for a in (2.0, *alphas):
        fa = fn(a)
        ref = (a ** p) * f1
        err = float((fa - ref).norm() / ref.norm())
        worst = max(worst, err)
    return (p if worst <= rtol else None), worst


def homogeneity_report(module: nn.Module, example_input: torch.Tensor, *, wrt: str = "auto",
                       alphas: tuple[float, ...] = (0.5, 3.0, 0.25), rtol: float = 1e-6
                       ) -> HomogeneityReport:
    """Measure the homogeneity degree of ``module`` numerically.

    Parameters
    ----------
    module : the network (any ``nn.Module``; buffers are left unscaled).
    example_input : a batch of inputs on which the output is non-zero.
    wrt : ``"parameters"`` (``f(x; αθ)``), ``"input"`` (``f(αx; θ)``), ``"both"`` (both must be
        homogeneous; the parameter degree is reported) or ``"auto"`` (``"both"`` when the module
        has parameters, else ``"input"``).  Biases make a stack fail both tests.
    alphas : positive scalings tested besides ``α = 2``.
    rtol : tolerance on ``‖f(α·) − αᵖ f‖ / ‖αᵖ f‖`` (computed in float64).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module)}")
    if not isinstance(example_input, torch.Tensor):
        raise TypeError("example_input must be a torch.Tensor")
    if wrt not in ("auto", "parameters", "input", "both"):
        raise ValueError(f"wrt must be 'auto', 'parameters', 'input' or 'both', got {wrt!r}")
    if any(not (a > 0 and a != 1) for a in alphas):
        raise ValueError("alphas must be positive and different from 1")
    m = copy.deepcopy(module).to(torch.float64)
    m.eval()
    params = [p for p in m.parameters()]
    x = example_input.detach().to(device=params[0].device if params else example_input.device,
                                  dtype=torch.float64)
    if wrt == "auto":
        wrt = "both" if params else "input"
    if wrt in ("parameters", "both") and not params:
        raise ValueError("the module has no parameters: use wrt='input'")
    originals = [p.detach().clone() for p in params]

    def scaled_params(which):
        def fn(a):
            with torch.no_grad():
                for j, (p, p0) in enumerate(zip(params, originals, strict=True)):
                    p.copy_(p0 * a if (which is None or j == which) else p0)
                out = m(x).detach()
                for p, p0 in zip(params, originals, strict=True):
                    p.copy_(p0)
            return out
        return fn

    def scaled_input(a):
        with torch.no_grad():
            return m(a * x).detach()

    p_deg = i_deg = None
    worst = 0.0
    reasons = []
    blocks: tuple[float | None, ...] = ()
    if wrt in ("parameters", "both"):
        p_deg, err = _degree(scaled_params(None), alphas, rtol)
        worst = max(worst, err)
        if p_deg is None:
            reasons.append(f"f(αθ) ≠ αᵖ f(θ) (relative error {err:.2e})")
        blocks = tuple(_degree(scaled_params(j), alphas, rtol)[0] for j in range(len(params)))
    if wrt in ("input", "both"):
        i_deg, err = _degree(scaled_input, alphas, rtol)
        worst = max(worst, err)
        if i_deg is None:
            reasons.append(f"f(αx) ≠ αᵖ f(x) (relative error {err:.2e}; biases or saturating "
                           "activations)")
    if wrt == "input":
        degree = i_deg
    elif wrt == "parameters":
        degree = p_deg
    else:
        degree = p_deg if i_deg is not None else None
    return HomogeneityReport(degree=degree, homogeneous=degree is not None,
                             parameter_degree=p_deg, input_degree=i_deg, block_degrees=blocks,
                             max_rel_error=worst, reason="; ".join(reasons))


def homogeneity_degree(module: nn.Module, example_input: torch.Tensor, *, wrt: str = "auto",
                       rtol: float = 1e-6) -> float | None:
    """The degree ``p`` with ``f(αθ) = αᵖ f(θ)`` for all ``α > 0`` (measured), or ``None``.

    With ``wrt="auto"`` a module with parameters must be homogeneous both in its parameters
    (the reported degree: ``p`` = number of bias-free weight layers of a ReLU/pooling stack) and
    in its input; a parameter-free module (pooling, ReLU, sigmoid) is tested in its input (max
    and average pooling: 1).  ``None`` means *not positively homogeneous* (biases, sigmoid,
    tanh, ...); see :func:`homogeneity_report` for the details.
    """
    return homogeneity_report(module, example_input, wrt=wrt, rtol=rtol).degree


def check_regularizer_degree(model, regularizer, example_input: torch.Tensor
                             ) -> tuple[float | None, float]:
    """Compare the network's measured degree with ``regularizer.degree(model)``.

    Warns :class:`NotHomogeneousWarning` if the network is not homogeneous and
    :class:`DegreeMismatchWarning` if the degrees differ (e.g. weight decay, degree 2, on a
    3-layer network: the origin becomes a spurious local minimum).  Returns both degrees.
    """
    net = homogeneity_degree(model, example_input, wrt="parameters")
    reg = regularizer.degree(model)
    if net is None:
        warnings.warn("the network is not positively homogeneous in its parameters: the "
                      "global-optimality certificate does not apply", NotHomogeneousWarning,
                      stacklevel=2)
    elif abs(net - reg) > 1e-6:
        warnings.warn(f"regularizer {getattr(regularizer, 'name', regularizer)!s} has degree "
                      f"{reg} but the network has degree {net:g}: degrees must match for the "
                      "no-spurious-local-minima guarantee", DegreeMismatchWarning, stacklevel=2)
    return net, reg
