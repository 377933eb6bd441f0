"""Polar problems of parallel subnetworks: ``Ω°(G) = sup_{‖Xᵏ‖ ≤ 1 ∀k} ⟨G, φ(V; X¹,…,Xᴷ)⟩``.

Two-layer ReLU unit ``φ = (V w)₊ aᵀ`` (THEORY b.8): ``Ω°(G) = sup_{‖w‖≤1} ‖Gᵀ (V w)₊‖₂``.

* lower bound: multistart fixed-point ascent ``a ← Gᵀ(Vw)₊/‖·‖``, ``w ← Vᵀ D(w) G a/‖·‖``
  (batched over starts; it can stall, hence many starts);
* upper bound: ``‖G‖₂ ‖V‖₂``; for one output column ``g``, ``max_± ‖g_±‖ ‖V_{P±}‖₂`` with
  ``P± = {n : ±gₙ > 0}``;
* exact when ``V`` has 2 columns (inputs of dimension 2, or 1 plus the constant bias column):
  ``w = (cos t, sin t)``; the activation pattern is constant on the arcs between the angles where
  ``vₙᵀ w = 0``; on an arc ``‖Gᵀ D V w‖² = wᵀ M w`` with ``M = (DV)ᵀ G Gᵀ (DV)`` so the maximum is
  at an arc end or at an eigenvector of ``M``; evaluating every such candidate exactly gives the
  maximum (all candidates are feasible, so the value is attained).

Deeper subnetworks (THEORY b.9): multistart gradient ascent of the scale-invariant
``⟨G, φ(X¹/‖X¹‖,…,Xᴷ/‖Xᴷ‖)⟩`` (lower bound only); for bias-free ReLU chains the crude valid
upper bound ``‖G‖_F ‖V‖₂`` (``‖φ‖_F ≤ ‖V‖₂ Πₖ ‖Xᵏ‖_F``), ``inf`` for other families.
"""

from __future__ import annotations

import math

import torch

from ..polar import PolarBound
from .modules import ParallelSubnetworks

__all__ = ["relu_unit_exact_2d", "relu_unit_polar", "subnetwork_polar"]


def _unit(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    n = t.norm(dim=dim, keepdim=True)
    return t / torch.where(n > 0, n, torch.ones_like(n))


def _values(V: torch.Tensor, G: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``‖Gᵀ (V w)₊‖`` for each row ``w`` of ``W``."""
    return (G.T @ torch.relu(V @ W.T)).norm(dim=0)


def relu_unit_upper(V: torch.Tensor, G: torch.Tensor) -> float:
    """Valid upper bound on ``sup_{‖w‖≤1} ‖Gᵀ(Vw)₊‖`` (see module docstring)."""
    def spec(A: torch.Tensor) -> float:
        return float(torch.linalg.matrix_norm(A, ord=2)) if A.numel() else 0.0

    ub = spec(G) * spec(V)
    if G.shape[1] == 1:
        g = G[:, 0]
        pos, neg = g > 0, g < 0
        ub1 = max(float(g[pos].norm()) * spec(V[pos]), float(g[neg].norm()) * spec(V[neg]))
        ub = min(ub, ub1)
    return ub * (1.0 + 1e-10) + 1e-300


def relu_unit_exact_2d(V: torch.Tensor, G: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Exact ``max_{‖w‖=1} ‖Gᵀ(Vw)₊‖`` for ``V`` with at most 2 columns; ``(value, w*)``."""
    d = V.shape[1]
    if d == 1:
        W = torch.tensor([[1.0], [-1.0]], dtype=V.dtype, device=V.device)
    elif d == 2:
        ang = torch.atan2(V[:, 1], V[:, 0])[V.norm(dim=1) > 0]
        if ang.numel() == 0:
            return 0.0, torch.tensor([1.0, 0.0], dtype=V.dtype, device=V.device)
        brk = torch.remainder(torch.cat([ang + math.pi / 2, ang - math.pi / 2]), 2 * math.pi)
        brk = torch.unique(brk)  # sorted
        nxt = torch.cat([brk[1:], brk[:1] + 2 * math.pi])
        mids = 0.5 * (brk + nxt)
        Wm = torch.stack([torch.cos(mids), torch.sin(mids)], dim=1)        # (A, 2)
        D = (V @ Wm.T > 0).to(V.dtype)                                     # (N, A)
        B = torch.einsum("nc,na,nd->acd", G, D, V)                          # (A, C, 2)
        M = B.transpose(1, 2) @ B                                          # (A, 2, 2)
        _, vecs = torch.linalg.eigh(M)
        E = vecs.transpose(1, 2).reshape(-1, 2)                             # eigenvectors
        Wb = torch.stack([torch.cos(brk), torch.sin(brk)], dim=1)
        W = torch.cat([Wb, E, -E], dim=0)
    else:
        raise ValueError(f"the exact ReLU polar needs V with <= 2 columns, got {d}")
    vals = _values(V, G, W)
    k = int(torch.argmax(vals))
    return float(vals[k]), _unit(W[k])


def relu_unit_polar(V: torch.Tensor, G: torch.Tensor, *, n_starts: int = 32, n_iter: int = 100,
                    exact: bool | str = "auto", generator: torch.Generator | None = None,
                    ) -> PolarBound:
    """Bracket on ``Ω°(G) = sup_{‖w‖≤1, ‖a‖≤1} ⟨G, (Vw)₊ aᵀ⟩`` with its maximizer ``(w, a)``.

    ``exact="auto"`` uses the exact arc enumeration when ``V`` has at most 2 columns.
    """
    if V.dim() != 2 or G.dim() != 2 or V.shape[0] != G.shape[0]:
        raise ValueError("V must be (N, d) and G (N, C) with the same N")
    d = V.shape[1]
    use_exact = (d <= 2) if exact == "auto" else bool(exact)
    upper = relu_unit_upper(V, G)
    if use_exact:
        val, w = relu_unit_exact_2d(V, G)
        method = "exact arc enumeration (d<=2)"
        upper = min(upper, val * (1.0 + 1e-9) + 1e-300)
    else:
        S = max(1, int(n_starts))
        W = torch.randn(S, d, generator=generator, dtype=V.dtype, device="cpu").to(V.device)
        # data-driven starts: inputs with the largest negative-gradient rows
        k = min(S // 2, V.shape[0])
        if k > 0:
            top = torch.topk(G.norm(dim=1), k).indices
            W[:k] = V[top]
        W = _unit(W)
        best_val, best_w = -1.0, W[0]
        for _ in range(max(1, int(n_iter))):
            vals = _values(V, G, W)
            j = int(torch.argmax(vals))
            if float(vals[j]) > best_val:
                best_val, best_w = float(vals[j]), W[j].clone()
            H = torch.relu(V @ W.T)                                   # (N, S)
            A = _unit(G.T @ H, dim=0)                                 # (C, S)
            Z = (G @ A) * (H > 0)                                     # (N, S)
            Wn = (V.T @ Z).T
            dead = Wn.norm(dim=1) == 0
            if bool(dead.any()):
                Wn[dead] = torch.randn(int(dead.sum()), d, generator=generator,
                                       dtype=V.dtype).to(V.device)
            W = _unit(Wn)
        vals = _values(V, G, W)
        j = int(torch.argmax(vals))
        if float(vals[j]) > best_val:
            best_val, best_w = float(vals[j]), W[j].clone()
        w = best_w
        method = f"multistart ascent ({S} starts) + upper ‖G‖₂‖V‖₂"
    h = torch.relu(V @ w)
    b = G.T @ h
    lower = float(b.norm())
    a = _unit(b) if lower > 0 else torch.zeros_like(b)
    upper = max(upper, lower)
    return PolarBound(lower=lower, upper=upper, maximizer=(w, a), method=method)


def subnetwork_polar(model: ParallelSubnetworks, V: torch.Tensor, G: torch.Tensor, *,
                     n_starts: int = 16, n_iter: int = 150, lr: float = 0.05,
                     upper: float = math.inf, warm: list[torch.Tensor] | None = None,
                     ) -> PolarBound:
    """Lower bound on ``sup_{‖Xᵏ‖_F ≤ 1} ⟨G, φ(V; X)⟩`` for the model's subnetwork family.

    Multistart Adam ascent of ``u(X) = ⟨G, φ(V; X¹/‖X¹‖, …)⟩`` (scale invariant, so the
    iterates never leave the feasible set after normalization); ``lower`` is the exact value of
    the best normalized start, ``upper`` the caller's valid bound (``inf`` if none).  The
    maximizer holds one unit-norm tensor per layer.
    """
    S = max(1, int(n_starts))
    starts = model._fresh(S)
    if warm is not None and model.width > 0:
        k = min(model.width, S // 2)
        starts = [torch.cat([w[:k].detach(), s[: S - k]], 0) for w, s in zip(warm, starts,
                                                                                strict=True)]
    raw = [s.clone().requires_grad_(True) for s in starts]
    opt = torch.optim.Adam(raw, lr=lr)
    Gd = G.detach()

    def normalized(ps):
        return [p / p.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *([1] * (p.dim() - 1)))
                for p in ps]

    def values(ps):
        out = model.evaluate_subnetworks(normalized(ps), V)            # (S, N, C)
        return (out * Gd).flatten(1).sum(1)

    best_val, best = -math.inf, None
    for it in range(max(1, int(n_iter)) + 1):
        vals = values(raw)
        j = int(torch.argmax(vals.detach()))
        if float(vals[j].detach()) > best_val:
            best_val = float(vals[j].detach())
            best = [p.detach()[j].clone() for p in normalized(raw)]
        if it == n_iter:
            break
        opt.zero_grad()
        (-vals.sum()).backward()
        opt.step()
    best = [p / p.norm() if float(p.norm()) > 0 else p for p in best]
    with torch.no_grad():
        out = model.evaluate_subnetworks([p.unsqueeze(0) for p in best], V)[0]
        lower = float((out * Gd).sum())
    upper = max(float(upper), lower)
    return PolarBound(lower=lower, upper=upper, maximizer=tuple(best),
                      method=f"multistart projected ascent ({S} starts)")
