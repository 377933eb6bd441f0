"""Full-batch local descent for ``ℓ(f(V)) + λ Θ(X)`` on a :class:`ParallelSubnetworks`."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .losses import NetLoss
from .modules import ParallelSubnetworks
from .regularizers import BalancedPowerSum, ProductOfNorms, Regularizer

__all__ = ["objective", "train_full_batch"]


def objective(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor, loss: NetLoss,
              reg: Regularizer | None, lam: float) -> torch.Tensor:
    """``ℓ(f(V)) + λ Θ(X)`` (``Θ = 0`` when ``reg`` is ``None`` or ``λ = 0``)."""
    val = loss.value(model(V), T)
    if reg is not None and lam > 0 and model.width > 0:
        val = val + lam * reg(model)
    return val


def train_full_batch(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor,
                     loss: NetLoss, reg: Regularizer | None, lam: float, *,
                     optimizer: str = "lbfgs", max_iter: int = 500, lr: float = 1e-2,
                     tol: float = 1e-10) -> float:
    """Minimize the objective in place from the current weights; return its final value.

    ``ProductOfNorms`` is trained through its smooth balanced equivalent ``Σₖ‖Xᵏ‖^K/K``
    (same minimum value, differentiable at 0); the returned value uses ``reg`` itself after
    :meth:`ParallelSubnetworks.rebalance` when ``reg`` is a product of norms.
    ``optimizer="lbfgs"`` (strong-Wolfe line search, ``max_iter`` iterations) or ``"adam"``
    (``max_iter`` full-batch steps of size ``lr``).
    """
    if model.width == 0:
        return float(objective(model, V, T, loss, reg, lam))
    train_reg = BalancedPowerSum() if isinstance(reg, ProductOfNorms) else reg
    params = list(model.parameters())
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=int(max_iter), history_size=50,
                                tolerance_grad=tol, tolerance_change=1e-16,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            val = objective(model, V, T, loss, train_reg, lam)
            val.backward()
            return val

        opt.step(closure)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(int(max_iter)):
            opt.zero_grad()
            val = objective(model, V, T, loss, train_reg, lam)
            val.backward()
            opt.step()
    else:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if isinstance(reg, ProductOfNorms):
        model.rebalance()
    with torch.no_grad():
        val = float(objective(model, V, T, loss, reg, lam))
    if not math.isfinite(val):
        raise FloatingPointError("training diverged (non-finite objective); lower lr")
    return val


def refine_output_weights(model: ParallelSubnetworks, V: torch.Tensor, T: torch.Tensor,
                          loss: NetLoss, lam: float, *, max_iter: int = 2000,
                          tol: float = 1e-6) -> float:
    """Fully corrective step for one-unit subnetworks ``(wᵢᵀx)₊ aᵢᵀ`` (two-layer network).

    With the directions ``ŵᵢ = wᵢ/‖wᵢ‖`` fixed, ``bᵢ = ‖wᵢ‖ aᵢ`` solves the convex group lasso
    ``min_b ℓ(Σᵢ hᵢ bᵢᵀ) + λ Σᵢ ‖bᵢ‖``, ``hᵢ = (V ŵᵢ)₊`` (:func:`_fista_group_lasso`);
    the units are then rebalanced (``wᵢ = √‖bᵢ‖ ŵᵢ``, ``aᵢ = bᵢ/√‖bᵢ‖``).  Returns the objective.
    """
    if model.width == 0:
        return float(objective(model, V, T, loss, ProductOfNorms(), lam))
    w, a = model.params[0].detach(), model.params[1].detach()        # (r,1,d), (r,C,1)
    wn = w.flatten(1).norm(dim=1)
    keep = wn > 0
    what = w.flatten(1) / torch.where(keep, wn, torch.ones_like(wn)).unsqueeze(1)
    H = torch.relu(V @ what.T)                                       # (N, r)
    B = (wn.unsqueeze(1) * a.flatten(1)) * keep.unsqueeze(1)         # (r, C)

    # the step 1/L with L = κ‖H‖₂²/N (κ = loss.curvature) needs no line search
    kappa = loss.curvature
    if kappa is None or H.numel() == 0:
        return float(objective(model, V, T, loss, ProductOfNorms(), lam))
    # The loop runs in NumPy float64 on the host: H is only N×r, and per-iteration dispatch of
    # ~30 tiny torch ops (about 0.3 ms) dominated growth fits; NumPy is several times faster.
    Hn = H.detach().cpu().double().numpy()
    hn2 = float(np.linalg.norm(Hn, 2)) ** 2
    if hn2 == 0:
        return float(objective(model, V, T, loss, ProductOfNorms(), lam))
    value_grad = loss.numpy_value_grad(T.detach().cpu().numpy())
    x = _fista_group_lasso(Hn, B.detach().cpu().double().numpy(), value_grad, lam,
                           step=Hn.shape[0] / (kappa * hn2), max_iter=max_iter, tol=tol)
    x = torch.as_tensor(x, dtype=B.dtype, device=B.device)
    bn = x.norm(dim=1)
    root = torch.sqrt(bn)
    with torch.no_grad():
        model.params[0].copy_((root.unsqueeze(1) * what).reshape(w.shape))
        safe = torch.where(root > 0, root, torch.ones_like(root))
        model.params[1].copy_((x / safe.unsqueeze(1)).reshape(a.shape))
    with torch.no_grad():
        return float(objective(model, V, T, loss, ProductOfNorms(), lam))


def _fista_group_lasso(H: np.ndarray, B0: np.ndarray,
                       value_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], lam: float,
                       *, step: float, max_iter: int, tol: float) -> np.ndarray:
    """``argmin_B ℓ(H B) + λ Σᵢ ‖Bᵢ‖`` (rows ``Bᵢ``) by FISTA from ``B0`` with step ``1/L``,
    function-value restart (monotone iterates) and a KKT stop: for every row,
    ``‖∇ᵢ + λBᵢ/‖Bᵢ‖‖ ≤ tol·λ`` where ``Bᵢ ≠ 0`` and ``‖∇ᵢ‖ ≤ λ(1 + tol)`` where ``Bᵢ = 0``."""

    def F(b):
        val, gz = value_grad(H @ b)
        return val + lam * float(np.linalg.norm(b, axis=1).sum()), gz

    def prox(b, t):
        n = np.linalg.norm(b, axis=1, keepdims=True)
        return b * np.maximum(1.0 - lam * t / np.where(n > 0, n, 1.0), 0.0)

    def kkt(b, gb) -> float:
        n = np.linalg.norm(b, axis=1)
        on = np.linalg.norm(gb + lam * b / np.where(n > 0, n, 1.0)[:, None], axis=1)
        off = np.maximum(np.linalg.norm(gb, axis=1) - lam, 0.0)
        return float(np.where(n > 0, on, off).max()) / lam

    x = B0.copy()
    fx, gzx = F(x)
    y, gzy, tk = x, gzx, 1.0
    for it in range(int(max_iter)):
        if it % 10 == 0 and kkt(x, H.T @ gzx) <= tol:
            break
        xn = prox(y - step * (H.T @ gzy), step)
        fn, gzn = F(xn)
        if fn > fx:  # restart: keep the iterates monotone
            y, gzy, tk = x, gzx, 1.0
            continue
        tn = 0.5 * (1 + math.sqrt(1 + 4 * tk * tk))
        y = xn + ((tk - 1) / tn) * (xn - x)
        x, fx, gzx, tk = xn, fn, gzn, tn
        gzy = value_grad(H @ y)[1]
    return x
