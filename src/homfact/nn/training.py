"""Full-batch local descent for ``ℓ(f(V)) + λ Θ(X)`` on a :class:`ParallelSubnetworks`."""

from __future__ import annotations

import math

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
    ``min_b ℓ(Σᵢ hᵢ bᵢᵀ) + λ Σᵢ ‖bᵢ‖``, ``hᵢ = (V ŵᵢ)₊`` (FISTA with backtracking and restart);
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

    def smooth(b):
        return loss.value(H @ b, T)

    def grad(b):
        return -(H.T @ loss.neg_gradient(H @ b, T))

    def prox(b, step):
        n = b.norm(dim=1, keepdim=True)
        return b * torch.clamp(1.0 - lam * step / torch.where(n > 0, n, torch.ones_like(n)),
                               min=0.0)

    def kkt(b, gb) -> float:
        """Max violation of the group-lasso optimality conditions, relative to λ."""
        n = b.norm(dim=1)
        on = gb + lam * b / torch.where(n > 0, n, torch.ones_like(n)).unsqueeze(1)
        off = torch.clamp(gb.norm(dim=1) - lam, min=0.0)
        viol = torch.where(n > 0, on.norm(dim=1), off)
        return float(viol.max()) / lam

    # curvature bound of ℓ in Z (mean losses): ‖∇²ℓ‖ ≤ κ/N, κ = 1 (squared), ½ (softmax CE),
    # 2 (squared hinge); the step 1/L with L = κ‖H‖₂²/N needs no line search
    kappa = {"squared": 1.0, "cross_entropy": 0.5, "squared_hinge": 2.0}.get(loss.name)
    hn2 = float(torch.linalg.matrix_norm(H, ord=2)) ** 2 if H.numel() else 0.0
    if kappa is None or hn2 == 0:
        return float(objective(model, V, T, loss, ProductOfNorms(), lam))
    step = H.shape[0] / (kappa * hn2)
    x, y, tk = B.clone(), B.clone(), 1.0
    fx = float(smooth(x)) + lam * float(x.norm(dim=1).sum())
    for it in range(int(max_iter)):
        gy = grad(y)
        xn = prox(y - step * gy, step)
        fn = float(smooth(xn)) + lam * float(xn.norm(dim=1).sum())
        if fn > fx:  # adaptive restart keeps the iterates monotone
            y, tk = x.clone(), 1.0
            continue
        tn = 0.5 * (1 + math.sqrt(1 + 4 * tk * tk))
        y = xn + ((tk - 1) / tn) * (xn - x)
        x, fx, tk = xn, fn, tn
        if it % 10 == 0 and kkt(x, grad(x)) <= tol:
            break
    bn = x.norm(dim=1)
    root = torch.sqrt(bn)
    with torch.no_grad():
        model.params[0].copy_((root.unsqueeze(1) * what).reshape(w.shape))
        safe = torch.where(root > 0, root, torch.ones_like(root))
        model.params[1].copy_((x / safe.unsqueeze(1)).reshape(a.shape))
    with torch.no_grad():
        return float(objective(model, V, T, loss, ProductOfNorms(), lam))
