"""Polar problems of parallel subnetworks: ``Ω°(G) = sup_{‖Xᵏ‖ ≤ 1 ∀k} ⟨G, φ(V; X¹,…,Xᴷ)⟩``.

Two-layer ReLU unit ``φ = (V w)₊ aᵀ`` (docs: theory/families, 'Networks'):
``Ω°(G) = sup_{‖w‖≤1} ‖Gᵀ (V w)₊‖₂``.

* lower bound: multistart fixed-point ascent ``a ← Gᵀ(Vw)₊/‖·‖``, ``w ← Vᵀ D(w) G a/‖·‖``
  (batched over starts; it can stall, hence many starts);
* upper bound (:func:`relu_unit_upper`): with ``uₙ = gₙᵀa``, ``zₙ = vₙᵀw`` and
  ``(z)₊ = (z + |z|)/2``, ``Σₙ uₙ(zₙ)₊ ≤ ½ aᵀGᵀVw + ½ Σₙ|uₙ||zₙ|`` and, by Cauchy–Schwarz with
  any row weights ``cₙ > 0``, ``Σₙ|uₙ||zₙ| ≤ ‖C^{1/2}G‖₂ ‖C^{-1/2}V‖₂``; so
  ``Ω° ≤ ½‖GᵀV‖₂ + ½ min_c ‖C^{1/2}G‖₂ ‖C^{-1/2}V‖₂`` (:func:`row_weighted_upper` searches
  ``c``; ``c = 1`` gives at most the plain ``‖G‖₂‖V‖₂``); for one output column ``g`` also
  ``max_± ‖g_±‖ ‖V_{P±}‖₂`` with ``P± = {n : ±gₙ > 0}``;
* exact when ``V`` has 2 columns (inputs of dimension 2, or 1 plus the constant bias column):
  ``w = (cos t, sin t)``; the activation pattern is constant on the arcs between the angles where
  ``vₙᵀ w = 0``; on an arc ``‖Gᵀ D V w‖² = wᵀ M w`` with ``M = (DV)ᵀ G Gᵀ (DV)`` so the maximum is
  at an arc end or at an eigenvector of ``M``; evaluating every such candidate exactly gives the
  maximum (all candidates are feasible, so the value is attained);
* exact when ``V`` has 3 columns (inputs of dimension 3, or 2 plus the bias column): the planes
  ``vₙᵀw = 0`` form an arrangement of great circles on the sphere; a maximizer is a top
  eigenvector of a cell's quadratic form, of an arc's restricted form, or a vertex, and the
  candidates are evaluated in decreasing order of their eigenvalue bounds
  (:func:`relu_unit_exact_3d`);
* exact for a rank-one ``G`` (one output, or a binary softmax) in any dimension while the
  arrangement has few cells: one cone projection per cell (:mod:`homfact.nn.arrangement`).

Deeper subnetworks (docs: theory/families, 'Networks'): multistart gradient ascent of the
scale-invariant
``⟨G, φ(X¹/‖X¹‖,…,Xᴷ/‖Xᴷ‖)⟩`` (lower bound only); :func:`subnetwork_upper` gives a valid
upper bound for bias-free ReLU chains and conv subnetworks (``inf`` for other families).

Jacobian regularizer ``θ(X) = (1/N) Σₙ ‖∂φ(vₙ; X)/∂v‖_F`` (:class:`homfact.nn.JacobianRegularizer`):
:func:`jacobian_polar` (ascent of ``⟨G, φ⟩/θ`` plus isolation starts) and
:func:`jacobian_polar_upper` (Euler: ``φ(vₙ) = Jₙvₙ`` gives ``Ω° ≤ N·maxₙ‖gₙ‖‖vₙ‖``, refined for
ReLU units by the distance of ``vₙ`` to the cone of the other points and a pair term).
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import torch

from ..polar import PolarBound, sigma_max_upper
from ..polar.core import gram_sigma_max_upper
from .arrangement import cell_count_bound, distinct_planes, relu_unit_exact_rank_one
from .modules import ParallelSubnetworks

__all__ = ["jacobian_polar", "jacobian_polar_upper", "relu_unit_exact_2d", "relu_unit_exact_3d",
           "relu_unit_polar", "relu_unit_upper", "row_weighted_upper", "spectral_upper",
           "subnetwork_polar", "subnetwork_upper"]


_EPS64 = float(torch.finfo(torch.float64).eps)


def _unit(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    n = t.norm(dim=dim, keepdim=True)
    return t / torch.where(n > 0, n, torch.ones_like(n))


def _values(V: torch.Tensor, G: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``‖Gᵀ (V w)₊‖`` for each row ``w`` of ``W``."""
    return (G.T @ torch.relu(V @ W.T)).norm(dim=0)


def _check_finite(**tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")


def _times_pow2(A: torch.Tensor, k) -> torch.Tensor:
    """``A·2ᵏ`` (``k`` an int, or an integer tensor broadcast over ``A``'s rows), in two half
    steps so that no factor over- or underflows; exact unless a result is subnormal."""
    if isinstance(k, int):
        h = k // 2
        return A * math.ldexp(1.0, h) * math.ldexp(1.0, k - h)
    shape = (-1,) + (1,) * (A.dim() - 1)
    h = k.div(2, rounding_mode="floor")
    return (A * torch.exp2(h.to(A.dtype)).view(shape)
            * torch.exp2((k - h).to(A.dtype)).view(shape))


def _pow2_scaled(A: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(A·2⁻ᵏ, k)`` with ``max|A·2⁻ᵏ| ∈ [½, 1)``: scaling by a power of two is exact, and the
    scaled norms can neither overflow nor underflow to zero (``k = 0`` for a zero ``A``)."""
    amax = float(A.abs().max()) if A.numel() else 0.0
    if amax == 0.0:
        return A, 0
    k = math.frexp(amax)[1]
    return _times_pow2(A, -k), k


def _scaled_back(x: float, k: int) -> float:
    """``x·2ᵏ`` rounded up: ``inf`` on overflow, one ulp up where the result is subnormal (where
    ``ldexp`` may round down)."""
    try:
        r = math.ldexp(x, k)
    except OverflowError:
        return math.inf
    return math.nextafter(r, math.inf) if 0.0 <= r < 4 * sys.float_info.min else r


#: rows whose balanced ``max|gₙ|·max|Mₙ|`` is below this (after scaling into [½, 1)) are bounded
#: by their size alone: their Grams would underflow
_TINY = 2.0 ** -400


def _balanced_rows(G: torch.Tensor, M: torch.Tensor):
    """Exact power-of-two rescaling for the row-weighted bounds.

    ``Σₙ |gₙᵀa| ‖Mₙw‖``, ``GᵀM`` and every bound below are unchanged by ``gₙ → gₙ·2ᵏⁿ``,
    ``Mₙ → Mₙ·2⁻ᵏⁿ``.  Rows zero in ``G`` or ``M`` add nothing and are dropped (tested on the
    entries, not on norms that may underflow); each remaining row is balanced so that
    ``max|gₙ| ≈ max|Mₙ|``, then ``G`` and ``M`` are scaled by global powers of two into
    ``[½, 1)``.  Returns ``(G', M', k, tiny)`` with the bounds of ``(G', M')`` to be multiplied
    by ``2ᵏ``, and ``tiny`` the mask of rows with ``max|g'ₙ|·max|M'ₙ| < 2⁻⁴⁰⁰`` (each adds at
    most ``2⁻⁴⁰⁰·√(#gₙ·#Mₙ)`` in the scaled units); ``None`` when no row is left.
    """
    flat = M.reshape(M.shape[0], -1)
    keep = G.ne(0).any(dim=1) & flat.ne(0).any(dim=1)
    if not bool(keep.any()):
        return None
    G, M, flat = G[keep], M[keep], flat[keep]
    eg = torch.frexp(G.abs().amax(dim=1))[1].long()
    em = torch.frexp(flat.abs().amax(dim=1))[1].long()
    k = (em - eg).div(2, rounding_mode="floor")
    G, kg = _pow2_scaled(_times_pow2(G, k))
    M, km = _pow2_scaled(_times_pow2(M, -k))
    prod = G.abs().amax(dim=1) * M.reshape(M.shape[0], -1).abs().amax(dim=1)
    return G, M, kg + km, prod < _TINY


def _row_norms(A: torch.Tensor) -> torch.Tensor:
    """``‖aₙ‖₂`` of each row, computed as ``max|aₙ|·‖aₙ/max|aₙ|‖`` (no under- or overflow)."""
    amax = A.abs().amax(dim=1)
    safe = torch.where(amax > 0, amax, torch.ones_like(amax))
    return amax * (A / safe[:, None]).norm(dim=1)


def _fro_product(G: torch.Tensor, V: torch.Tensor) -> float:
    """``‖G‖_F ‖V‖_F`` without under- or overflow (``inf`` if the product overflows)."""
    Gs, kg = _pow2_scaled(G)
    Vs, kv = _pow2_scaled(V)
    return _scaled_back(float(Gs.norm()) * float(Vs.norm()), kg + kv)


def spectral_upper(A: torch.Tensor) -> float:
    """Rigorous upper bound on ``‖A‖₂`` of a matrix (computed in float64):
    :func:`homfact.polar.sigma_max_upper`, the audited dense bound every polar uses
    (power-of-two prescaling, so tiny or huge entries neither underflow nor overflow)."""
    if A.numel() == 0:
        return 0.0
    A = A.detach().to(torch.float64)
    _check_finite(A=A)
    return float(sigma_max_upper(A.cpu().numpy())[0])


class _Rows:
    """The stack ``C^{-1/2}M`` of a plain ``(N, q)`` matrix ``M`` (one row per sample)."""

    def __init__(self, M: torch.Tensor):
        self.M = M
        self.q = M.shape[1]

    def top(self, c: torch.Tensor, w: torch.Tensor, n_power: int):
        """Estimate of ``‖C^{-1/2}M‖₂²`` by warm power iteration, its vector, and ``βₙ``."""
        s2 = 0.0
        for _ in range(n_power):  # warm started: a few steps per weight update suffice
            v = self.M.T @ ((self.M @ w) / c)
            n = float(v.norm())
            if not n > 0 or not math.isfinite(n):
                break
            s2, w = n, v / n
        return s2, w, (self.M @ w) ** 2 / c

    def upper(self, root: torch.Tensor) -> float:
        return spectral_upper(self.M / root[:, None])


class _Grams:
    """The stack ``C^{-1/2}M`` of ``(L × q)`` blocks ``Mₙ``, held as their Grams ``Hₙ = MₙᵀMₙ``
    and squared norms ``Fₙ = ‖Mₙ‖_F²`` (``q × q`` per sample, whatever ``L``)."""

    def __init__(self, H: torch.Tensor, F: torch.Tensor, L: int):
        self.H, self.F, self.L = H, F, L
        self.q = H.shape[1]

    def top(self, c: torch.Tensor, w: torch.Tensor, n_power: int):
        """As :meth:`_Rows.top`, but from the exact ``q × q`` eigenpair (no warm start needed)."""
        ev, evec = torch.linalg.eigh(torch.einsum("nab,n->ab", self.H, 1.0 / c))
        w = evec[:, -1]
        return float(ev[-1]), w, torch.einsum("nab,a,b->n", self.H, w, w) / c

    def upper(self, root: torch.Tensor) -> float:
        """Rigorous ``‖C^{-1/2}M‖₂`` from ``S = fl(Σₙ Hₙ/cₙ)``, ``cₙ = rootₙ²``.

        A different computation of the same quantity as :func:`spectral_upper`: the stack
        ``C^{-1/2}M`` is ``(N·L) × q`` (convolution patches: ``L`` positions per sample, too
        large to hold), so only its ``q × q`` Gram is formed, and
        :func:`homfact.polar.core.gram_sigma_max_upper` (the core's eigensolver and roundoff
        allowance, steps 2–4 of :func:`homfact.polar.sigma_max_bracket`) bounds it.  Step 1
        is this sum's: each entry of ``S`` is a sum over the ``L`` positions of every sample
        (``Hₙ = MₙᵀMₙ``), divided by ``cₙ`` (two roundings for ``cₙ`` and its reciprocal, one
        for the quotient) and summed over the ``N`` samples, at most ``L + N + 2`` roundings
        on any path (Higham §3.5: ``|S − BᵀB| ≤ γ_{L+N+2}|B|ᵀ|B|``), and ``Σₙ Fₙ/cₙ`` has at
        most ``Lq + N + 3 ≤ 2(L + N + 2)q`` (within the core's inflation of ``‖B‖²_F``).
        ``c`` is exactly ``root²`` for the bound: any ``c > 0`` gives a valid product with
        ``‖C^{1/2}G‖₂`` (:func:`row_weighted_upper`)."""
        c = root * root
        S = torch.einsum("nab,n->ab", self.H, 1.0 / c)
        fro2 = float((self.F / c).sum())
        return gram_sigma_max_upper(S.detach().cpu().double().numpy(), fro2,
                                    self.L + self.H.shape[0] + 2)


def _search_weights(G: torch.Tensor, right, fro_m: torch.Tensor, n_iter: int):
    """Row weights ``c = exp(t)`` making ``‖C^{1/2}G‖₂ ‖C^{-1/2}M‖₂`` small.

    Starts from the better of ``c = 1`` (on the rows as given) and the balanced
    ``cₙ = ‖Mₙ‖_F/‖gₙ‖``, then takes ``n_iter`` backtracking steps on the convex
    ``log ‖C^{1/2}G‖₂ + log ‖C^{-1/2}M‖₂`` in ``t`` (gradient ``½(α − β)``, see
    :func:`row_weighted_upper`), each ``|Δtₙ| ≤ 2`` and ``|t| ≤ 50`` so that no weight
    overflows.  Returns the best start and the end point (a step is kept only where its finite
    positive estimate improves; the estimates are not rigorous, the caller evaluates both).
    """
    N = G.shape[0]

    def evaluate(t, w, n_power):
        c = t.exp()
        ev, evec = torch.linalg.eigh(G.T @ (G * c[:, None]))
        a = evec[:, -1]
        s2, w, beta = right.top(c, w, n_power)
        f = math.sqrt(max(float(ev[-1]), 0.0) * max(s2, 0.0))
        alpha = c * (G @ a) ** 2
        alpha = alpha / alpha.sum().clamp_min(1e-300)
        beta = beta / beta.sum().clamp_min(1e-300)
        return f, 0.5 * (alpha - beta), w

    w0 = torch.randn(right.q, generator=torch.Generator().manual_seed(0), dtype=G.dtype)
    w0 = (w0 / w0.norm()).to(G.device)
    best = None
    for t in (torch.zeros_like(fro_m), (fro_m / _row_norms(G)).log()):
        t = (t - t.mean()).clamp(-50.0, 50.0)
        f, g, w = evaluate(t, w0, 50)
        if best is None or (math.isfinite(f) and f < best[0]):
            best = (f, t, g, w)
    f, t, g, w = best
    start, eta = t, 1.0
    for _ in range(int(n_iter)):
        t_new = t - (eta * N * g).clamp(-2.0, 2.0)
        t_new = (t_new - t_new.mean()).clamp(-50.0, 50.0)
        f_new, g_new, w_new = evaluate(t_new, w, 10)
        if math.isfinite(f_new) and 0.0 < f_new < f:
            f, t, g, w, eta = f_new, t_new, g_new, w_new, eta * 1.5
        else:
            eta *= 0.3
    return [start] if t is start else [start, t]


def _weighted_upper(G: torch.Tensor, right, fro_m: torch.Tensor, n_iter: int) -> float:
    """Rigorous ``min`` over the searched weights of ``‖C^{1/2}G‖₂ ‖C^{-1/2}M‖₂``."""
    vals = []
    for t in _search_weights(G, right, fro_m, n_iter):
        root = (0.5 * t).exp()
        vals.append(spectral_upper(G * root[:, None]) * right.upper(root) * (1 + 1e-12))
    return min(vals)


def row_weighted_upper(G: torch.Tensor, M: torch.Tensor, *, n_iter: int = 30) -> float:
    """``‖C^{1/2}G‖₂ ‖C^{-1/2}M‖₂`` at row weights ``c > 0`` chosen to make it small.

    ``G`` is ``(N, C)``; ``M`` is ``(N, q)`` (one row per row of ``G``) or ``(N, L, q)`` (one
    ``L × q`` block per row), ``C^{-1/2}M`` the stack of the rows or blocks ``Mₙ/√cₙ``.  For
    *every* ``c > 0``, Cauchy–Schwarz gives ``Σₙ |gₙᵀa| ‖Mₙw‖ ≤ ‖C^{1/2}G‖₂ ‖C^{-1/2}M‖₂`` for
    unit ``a``, ``w``, so the value returned is a valid bound whatever ``c`` the search ends
    at; the search (:func:`_search_weights`) only makes it tighter, and the value is evaluated
    with explicit roundoff margins, so it is rigorous.  One start is the balanced
    ``cₙ = ‖Mₙ‖_F/‖gₙ‖``, so the result is at most about ``Σₙ‖gₙ‖‖Mₙ‖_F``; the other is unit
    weights on the power-of-two balanced rows.  Two classical bounds cap the result, so it is
    never above either: ``Σₙ‖gₙ‖‖Mₙ‖_F`` (evaluated on the balanced rows, rounded up) and
    ``‖G‖₂‖M‖₂`` of the inputs (``M`` stacked as ``(N·L) × q``; :func:`spectral_upper`, the
    product rounded up, skipped if it would leave the normal range).  Inputs are scaled by
    powers of two (exact) so that tiny or huge entries neither underflow nor overflow; rows
    with ``gₙ = 0`` or ``Mₙ = 0`` add nothing and are dropped.
    """
    G = G.detach().to(torch.float64)
    M = M.detach().to(torch.float64)
    if G.dim() != 2 or M.dim() not in (2, 3) or G.shape[0] != M.shape[0]:
        raise ValueError("G must be (N, C) and M (N, q) or (N, L, q) with the same N")
    _check_finite(G=G, M=M)
    value = _row_weighted_balanced(_balanced_rows(G, M), n_iter)
    a, b = spectral_upper(G), spectral_upper(M.reshape(-1, M.shape[-1]))
    plain = a * b * (1.0 + 4.0 * _EPS64)
    if a > 0 and b > 0 and 2.2250738585072014e-308 <= plain < math.inf:
        value = min(value, plain)
    return value


def _row_weighted_balanced(prep, n_iter: int) -> float:
    """:func:`row_weighted_upper` on the output of :func:`_balanced_rows`."""
    if prep is None:
        return 0.0
    G, M, k, tiny = prep
    size = math.sqrt(G.shape[1] * M[0].numel())
    extra = float(tiny.sum()) * _TINY * size
    G, M = G[~tiny], M[~tiny]
    if G.shape[0] == 0:
        return _scaled_back(extra, k)
    flat = M.reshape(M.shape[0], -1)
    if M.dim() == 2:
        right = _Rows(M)
    else:
        right = _Grams(M.transpose(1, 2) @ M, flat.pow(2).sum(dim=1), M.shape[1])
    weighted = _weighted_upper(G, right, _row_norms(flat), n_iter)
    # the per-row cap Σₙ‖gₙ‖‖Mₙ‖_F on the balanced rows (no under/overflow), rounded up for the
    # norms (relative (len + 2)·u each), the products and the sum (relative N·u)
    per_row = float((G.norm(dim=1) * flat.norm(dim=1)).sum()) * (
        1.0 + (G.shape[1] + flat.shape[1] + G.shape[0] + 8) * _EPS64)
    return _scaled_back(min(weighted, per_row) + extra, k)


def relu_unit_upper(V: torch.Tensor, G: torch.Tensor, *, n_iter: int = 30) -> float:
    """Valid upper bound on ``sup_{‖w‖≤1} ‖Gᵀ(Vw)₊‖`` (see module docstring): the least of
    ``½‖GᵀV‖₂ + ½ min_c ‖C^{1/2}G‖₂‖C^{-1/2}V‖₂``, ``‖G‖₂‖V‖₂`` and, for one output column,
    ``max_± ‖g_±‖ ‖V_{P±}‖₂``.  Every ``‖·‖₂`` is :func:`spectral_upper` (the core's
    :func:`homfact.polar.sigma_max_upper`); ``‖GᵀV‖₂`` is of a product, so the core bounds the
    computed ``fl(GᵀV)`` and the product's own rounding, ``γ_N‖G‖_F‖V‖_F`` (Higham §3.5), is
    added here."""
    V = V.detach().to(torch.float64)
    G = G.detach().to(torch.float64)
    if V.dim() != 2 or G.dim() != 2 or V.shape[0] != G.shape[0]:
        raise ValueError("V must be (N, d) and G (N, C) with the same N")
    _check_finite(V=V, G=G)
    if V.numel() == 0 or G.numel() == 0:
        return 1e-300
    ub = spectral_upper(G) * spectral_upper(V) * (1 + 1e-12)
    if G.shape[1] == 1:
        g = G[:, 0]
        pos, neg = g > 0, g < 0
        ub1 = max(spectral_upper(g[pos, None]) * spectral_upper(V[pos]),
                  spectral_upper(g[neg, None]) * spectral_upper(V[neg]))
        ub = min(ub, ub1 * (1 + 1e-12))
    # fl(GᵀV) is within γ_N |G|ᵀ|V| of GᵀV entrywise (Higham 3.5), ‖·‖₂ ≤ γ_N ‖G‖_F‖V‖_F;
    # formed on the balanced, power-of-two scaled rows (GᵀV = Σₙ gₙvₙᵀ is unchanged by them), so
    # that it neither under- nor overflows; underflow adds at most N·2⁻¹⁰⁷⁴ per entry, far below
    # the margin since ‖G'‖_F‖V'‖_F ≥ ¼
    prep = _balanced_rows(G, V)
    if prep is None:
        return 1e-300
    Gs, Vs, k, _ = prep
    lin = _scaled_back(spectral_upper(Gs.T @ Vs)
                       + 1.01 * V.shape[0] * _EPS64 * float(Gs.norm()) * float(Vs.norm()), k)
    split = 0.5 * (lin + _row_weighted_balanced(prep, n_iter))
    return min(ub, split * (1 + 1e-12)) + 1e-300


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


#: ``exact="auto"`` uses :func:`relu_unit_exact_3d` up to this many rows (about 2 s at 400 rows
#: on one CPU core; the cost grows like ``N²``–``N³``)
EXACT_3D_MAX_ROWS = 500


#: ``exact="auto"`` uses the rank-one cell enumeration (inputs with more than 3 columns, one
#: output) while the arrangement has at most this many cells (bound ``2Σ_{i<d} C(m−1, i)``)
EXACT_RANK_ONE_MAX_CELLS = 3000


def _is_rank_one(G: torch.Tensor) -> bool:
    """One output column, or ``σ₂(G) ≤ 1e-12 σ₁(G)`` (e.g. a binary softmax gradient)."""
    if G.shape[1] == 1:
        return True
    s = torch.linalg.svdvals(G)
    return bool(s.numel() < 2 or float(s[1]) <= 1e-12 * float(s[0]))


def _few_cells(V: torch.Tensor) -> bool:
    """At most :data:`EXACT_RANK_ONE_MAX_CELLS` cells for the distinct planes of ``V``."""
    m = distinct_planes(V.detach().cpu().double().numpy())[0].shape[0]
    return cell_count_bound(m, V.shape[1]) <= EXACT_RANK_ONE_MAX_CELLS


def _circle_bases(n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal ``(p, q)`` spanning each plane ``nᵀw = 0`` (rows of ``n`` are unit)."""
    e = torch.zeros_like(n)
    e.scatter_(1, n.abs().argmin(1, keepdim=True), 1.0)
    p = _unit(e - (e * n).sum(1, keepdim=True) * n)
    return p, torch.linalg.cross(n, p)


def _top_eigpair_2x2(Q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest eigenvalue and a unit eigenvector of each symmetric 2×2 ``Q[..]`` (closed form)."""
    a, b, d = Q[..., 0, 0], Q[..., 0, 1], Q[..., 1, 1]
    mu = 0.5 * (a + d) + torch.sqrt((0.5 * (a - d)) ** 2 + b * b)
    v1 = torch.stack([b, mu - a], -1)
    v2 = torch.stack([mu - d, b], -1)
    v = torch.where((v1.norm(dim=-1) >= v2.norm(dim=-1))[..., None], v1, v2)
    flat = v.norm(dim=-1) == 0                       # Q = μI: every direction is an eigenvector
    v = torch.where(flat[..., None], torch.ones_like(v), v)
    return mu, _unit(v)


def _top_eigval_sym3_upper(A: torch.Tensor) -> torch.Tensor:
    """Upper bound on ``λ_max`` of each symmetric PSD 3×3 ``A[..]``: ``λ̂ + (1e-9 + 12·eps)·tr A``.

    ``λ̂`` is the top eigenvalue from LAPACK's batched symmetric eigensolver
    (:func:`torch.linalg.eigvalsh`): exact for ``A + E`` with ``‖E‖₂ ≤ 8·k·u·‖A‖₂ ≤ 12·eps·tr A``
    (``k = 3``, PSD), the eigensolver constant :func:`homfact.polar.sigma_max_bracket` assumes;
    ``1e-9·tr A`` is the margin for the roundoff in forming ``A``.  A bound, not just an
    estimate, because the exact search prunes candidates by it.  Not the trigonometric closed
    form (Smith 1961) used before: near a double top eigenvalue its ``acos`` is
    ill-conditioned and it fell up to ``1.7e-9·tr A`` below ``λ_max``, beyond its margin
    (tests/test_issue14_nn_core.py); not :func:`homfact.polar.sigma_max_bracket` itself either:
    the search bounds up to millions of 3×3 forms per call, batched."""
    tr = A[..., 0, 0] + A[..., 1, 1] + A[..., 2, 2]
    return torch.linalg.eigvalsh(A)[..., -1] + (1e-9 + 12.0 * _EPS64) * tr


def _exact_3d_chunk(V, G, GV, cidx, n, p, q, Kc, Kpos, Kneg, circle_of_row, lo, hi, cross,
                    mid, best_sq: float, batch: int) -> tuple[float, torch.Tensor | None]:
    """Candidates of the circles ``cidx`` (see :func:`relu_unit_exact_3d`), evaluated in
    decreasing order of their bound until ``best_sq`` (global best so far) reaches it."""
    dt = V.dtype
    C = G.shape[1]
    mc, K = lo.shape

    def point(c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cos(t)[..., None] * p[c] + torch.sin(t)[..., None] * q[c]

    w0 = point(cidx, mid[:, 0])
    D0 = ((w0 @ V.T) > 0) & (circle_of_row[None, :] != cidx[:, None])
    B = (D0.to(dt) @ GV)[:, None, :].expand(mc, K, 3 * C).clone()
    if K > 1 and bool((cross[:, 1:] >= 0).all()):
        pc, qc = p[cidx][:, None], q[cidx][:, None]
        tang = -torch.sin(lo[:, 1:])[..., None] * pc + torch.cos(lo[:, 1:])[..., None] * qc
        cr = cross[:, 1:]
        s_in = torch.sign((n[cr] * tang).sum(-1))                        # +: units of c' turn on
        B[:, 1:] += torch.cumsum(s_in[..., None] * Kc[cr], dim=1)
    B = B.view(mc, K, C, 3)
    P2 = torch.stack([p[cidx], q[cidx]], -1)[:, None].expand(mc, K, 3, 2)
    B2 = B @ P2
    mu_e, e2 = _top_eigpair_2x2(B2.transpose(-1, -2) @ B2)
    Bp = B + Kpos[cidx].view(mc, 1, C, 3)
    Bn = B + Kneg[cidx].view(mc, 1, C, 3)
    Ap = Bp.transpose(-1, -2) @ Bp
    An = Bn.transpose(-1, -2) @ Bn
    bounds = torch.cat([mu_e.reshape(-1), _top_eigval_sym3_upper(Ap).reshape(-1),
                        _top_eigval_sym3_upper(An).reshape(-1)])
    order = torch.argsort(bounds, descending=True)
    arcs = mc * K
    ccirc = cidx[:, None].expand(mc, K).reshape(-1)
    best_w = None
    for s in range(0, order.numel(), batch):
        idx = order[s: s + batch]
        if best_sq >= float(bounds[idx[0]]) * (1.0 - 1e-12):
            break
        kind, a = idx // arcs, idx % arcs
        parts = []
        e = a[kind == 0]
        if e.numel():
            c = ccirc[e]
            dirn = (P2.reshape(-1, 3, 2)[e] @ e2.reshape(-1, 2)[e][..., None])[..., 0]
            parts += [dirn, -dirn, point(c, lo.reshape(-1)[e]), point(c, hi.reshape(-1)[e])]
        for k, A in ((1, Ap), (2, An)):
            sel = a[kind == k]
            if sel.numel():
                v = torch.linalg.eigh(A.reshape(-1, 3, 3)[sel])[1][..., -1]
                parts += [v, -v]
        W = torch.cat(parts)
        vals = _values(V, G, W)
        j = int(torch.argmax(vals))
        if float(vals[j]) ** 2 > best_sq:
            best_sq, best_w = float(vals[j]) ** 2, W[j].clone()
    return best_sq, best_w


def relu_unit_exact_3d(V: torch.Tensor, G: torch.Tensor, *, batch: int = 2048,
                       ) -> tuple[float, torch.Tensor]:
    """Exact ``max_{‖w‖=1} f(w)``, ``f(w) = ‖Gᵀ(Vw)₊‖``, for ``V`` with 3 columns; ``(value, w*)``.

    The planes ``vₙᵀw = 0`` cut the sphere into an arrangement of great circles: open cells,
    open arcs and vertices.  On a cell with activation pattern ``D``, ``f² = wᵀA_D w`` with
    ``A_D = (DV)ᵀGGᵀ(DV)``, and a local maximizer of a quadratic form on the sphere is a top
    eigenvector, so a maximizer inside a cell is a top eigenvector of ``A_D``.  Inside an arc of
    circle ``c`` (units on ``c`` contribute 0 there) ``f²`` is the form ``Q = [p q]ᵀA_{D'}[p q]``
    on the circle's plane, so a maximizer there is ``[p q]`` times a top eigenvector of ``Q``;
    otherwise it is a vertex, an end of some arc.  Every cell borders an arc and both side
    patterns of every arc are enumerated, so this candidate set contains a global maximizer (a
    repeated top eigenvalue makes the form constant on a great circle or the sphere, and the
    maximum is then also attained on the boundary, which the arc candidates cover).

    Enumeration: along each circle the arcs are visited in angular order and the pattern
    changes by one neighbouring circle's units at each crossing, so ``B = GᵀDV`` is updated by
    a cumulative sum instead of recomputed.  The value of a cell or arc candidate is at most
    ``λ_max(A)`` (or ``λ_max(Q)``, which also bounds the arc's two end vertices), so candidates
    are evaluated exactly in decreasing order of that bound, in batches of ``batch``, and the
    search stops once the best exact value reaches the next bound.  Every candidate is a unit
    vector evaluated exactly, so the value returned is attained.  ``m ≤ N`` distinct circles give
    ``2m(m−1)`` arcs: ``O(m² C)`` work for the bounds plus ``O(N(C+3))`` per candidate evaluated.
    Written by hand: no library enumerates a hyperplane arrangement on the sphere with the
    per-cell eigenproblems this polar needs.
    """
    if V.dim() != 2 or V.shape[1] != 3:
        raise ValueError(f"relu_unit_exact_3d needs V with 3 columns, got shape {tuple(V.shape)}")
    dt, dev = V.dtype, V.device
    N, C = G.shape
    nrm = V.norm(dim=1)
    live = nrm > 0
    best_w = torch.tensor([1.0, 0.0, 0.0], dtype=dt, device=dev)
    if not bool(live.any()) or float(G.abs().max()) == 0.0:
        return 0.0, best_w
    rows = torch.nonzero(live)[:, 0]
    U = V[rows] / nrm[rows, None]
    # canonical orientation of each plane: largest |coordinate| positive
    sgn = torch.sign(U.gather(1, U.abs().argmax(1, keepdim=True)))[:, 0]
    key = torch.round(U * sgn[:, None] * 1e12) / 1e12
    circles, inv = torch.unique(key, dim=0, return_inverse=True)
    n = _unit(circles)                                                   # (m, 3)
    m = n.shape[0]
    p, q = _circle_bases(n)
    GV = (G[:, :, None] * V[:, None, :]).reshape(N, 3 * C)             # row n: gₙ vₙᵀ
    # per circle: Σ sgnₙ gₙvₙᵀ (pattern change on crossing it) and the units active on its
    # positive / negative side
    Kc = torch.zeros(m, 3 * C, dtype=dt, device=dev).index_add_(0, inv, sgn[:, None] * GV[rows])
    Kpos = torch.zeros_like(Kc).index_add_(0, inv, (sgn > 0).to(dt)[:, None] * GV[rows])
    Kneg = torch.zeros_like(Kc).index_add_(0, inv, (sgn < 0).to(dt)[:, None] * GV[rows])
    circle_of_row = torch.full((N,), -1, dtype=torch.long, device=dev)
    circle_of_row[rows] = inv
    # breakpoints on each circle: its crossings ±(n_c × n_c') with every other circle
    if m > 1:
        off = ~torch.eye(m, dtype=torch.bool, device=dev)
        other = torch.arange(m, device=dev).expand(m, m)[off].view(m, m - 1)
        T = torch.linalg.cross(n[:, None, :].expand(m, m - 1, 3), n[other])
        ang = torch.atan2((T * q[:, None]).sum(-1), (T * p[:, None]).sum(-1))
        ang = torch.cat([ang, ang + math.pi], 1)
        other = torch.cat([other, other], 1)
    else:  # one circle: any split into arcs is valid (nothing crosses it)
        ang = torch.tensor([[0.0, math.pi]], dtype=dt, device=dev)
        other = torch.full((1, 2), -1, dtype=torch.long, device=dev)
    ang, order = torch.sort(torch.remainder(ang, 2 * math.pi), dim=1)
    other = other.gather(1, order)
    # start each circle at its longest arc (its midpoint is far from every crossing)
    nxt = torch.cat([ang[:, 1:], ang[:, :1] + 2 * math.pi], 1)
    start = torch.argmax(nxt - ang, dim=1)
    K = ang.shape[1]
    roll = (torch.arange(K, device=dev)[None, :] + start[:, None]) % K
    lo = ang.gather(1, roll)
    hi = nxt.gather(1, roll)
    lo = torch.where(lo < lo[:, :1], lo + 2 * math.pi, lo)
    hi = torch.where(hi < lo, hi + 2 * math.pi, hi)
    cross = other.gather(1, roll)                                        # crossing at lo
    mid = 0.5 * (lo + hi)                                                # (m, K)
    best_sq = -1.0
    # circles in chunks (about 2²² numbers in B per chunk); the pruning bound is global
    step = max(1, int(2 ** 22 // max(1, K * 3 * C)))
    for c0 in range(0, m, step):
        cidx = torch.arange(c0, min(m, c0 + step), device=dev)
        val_sq, w = _exact_3d_chunk(V, G, GV, cidx, n, p, q, Kc, Kpos, Kneg, circle_of_row,
                                    lo[cidx], hi[cidx], cross[cidx], mid[cidx], best_sq, batch)
        if val_sq > best_sq:
            best_sq, best_w = val_sq, w
    return math.sqrt(max(best_sq, 0.0)), _unit(best_w)


def _perturbed_units(warm: torch.Tensor, n_starts: int,
                     generator: torch.Generator | None) -> torch.Tensor:
    """``n_starts`` starts near the current units' directions: ``ŵᵢ + σξ`` (``ξ`` a random unit
    vector, ``σ`` cycling through 0.1, 0.3, 0.6) over the units in decreasing norm, round robin.
    At a stationary point each active unit has polar value ``λ`` exactly, and an ascent direction
    above ``λ``, when the random and data starts miss it, is most often a split of a unit."""
    base = _unit(warm[torch.argsort(warm.norm(dim=1), descending=True)])
    n = max(1, int(n_starts))
    idx = torch.arange(n, device=base.device) % base.shape[0]
    sigma = torch.tensor([0.1, 0.3, 0.6], dtype=base.dtype, device=base.device)[
        (torch.arange(n, device=base.device) // base.shape[0]) % 3]
    xi = torch.randn((n, base.shape[1]), generator=generator, dtype=base.dtype, device="cpu")
    return base[idx] + sigma[:, None] * _unit(xi.to(base.device))


def relu_unit_polar(V: torch.Tensor, G: torch.Tensor, *, n_starts: int = 32, n_iter: int = 100,
                    exact: bool | str = "auto", generator: torch.Generator | None = None,
                    warm: torch.Tensor | None = None) -> PolarBound:
    """Bracket on ``Ω°(G) = sup_{‖w‖≤1, ‖a‖≤1} ⟨G, (Vw)₊ aᵀ⟩`` with its maximizer ``(w, a)``.

    ``exact="auto"`` solves the polar exactly when ``V`` has at most 2 columns (arc
    enumeration), 3 columns and at most :data:`EXACT_3D_MAX_ROWS` rows (arrangement
    enumeration, :func:`relu_unit_exact_3d`; e.g. 2-D inputs with the bias column), or more
    columns with a rank-one ``G`` and at most :data:`EXACT_RANK_ONE_MAX_CELLS` cells
    (:func:`homfact.nn.arrangement.relu_unit_exact_rank_one`).  ``exact=True`` insists on an
    exact method (``ValueError`` where none applies); otherwise, and for ``exact=False``, the
    bracket is multistart ascent (:func:`_ascent`) and :func:`relu_unit_upper`.  Everything is
    computed in float64 (the margins of the bounds assume it), and the maximizer is returned
    in float64, so that ``lower`` is the value it attains.
    """
    if V.dim() != 2 or G.dim() != 2 or V.shape[0] != G.shape[0]:
        raise ValueError("V must be (N, d) and G (N, C) with the same N")
    if exact not in ("auto", True, False):
        raise ValueError(f"exact must be 'auto', True or False, got {exact!r}")
    V = V.detach().to(torch.float64)
    G = G.detach().to(torch.float64)
    _check_finite(V=V, G=G)
    if warm is not None:
        warm = warm.detach().to(torch.float64)
    N, d = V.shape
    rank_one = d > 3 and _is_rank_one(G)
    if exact is True and d > 3 and not rank_one:
        raise ValueError(f"the exact ReLU polar needs V with <= 3 columns or a rank-one G "
                         f"(one output), got {d} columns and G of shape {tuple(G.shape)}")
    if exact == "auto":
        exact = d <= 2 or (d == 3 and N <= EXACT_3D_MAX_ROWS) or (rank_one and _few_cells(V))
    w, candidates = None, ()
    # an exact method's value is the polar up to rounding: the value is computed with absolute
    # error about (N + d + C)·eps·‖G‖_F‖V‖_F (it can cancel: G nearly orthogonal to the
    # activations, as near an optimum), and the computed candidate w is within O(eps) of an
    # exact one (Lipschitz ‖G‖₂‖V‖₂); both are covered by the absolute term
    slack = 2.0 * (N + d + G.shape[1]) * _EPS64 * _fro_product(G, V) if exact else 0.0
    # with an exact method the bound search is not needed
    if exact and d <= 2:
        val, w = relu_unit_exact_2d(V, G)
        method, upper = "exact arc enumeration (d<=2)", val * (1 + 1e-9) + slack + 1e-300
    elif exact and d == 3:
        val, w = relu_unit_exact_3d(V, G)
        method = "exact arrangement enumeration (d=3)"
        upper = val * (1 + 1e-9) + slack + 1e-300
    elif exact:
        res = relu_unit_exact_rank_one(V.cpu().numpy(), G.cpu().numpy(),
                                       max_cells=EXACT_RANK_ONE_MAX_CELLS)
        if res is None:
            raise ValueError("the arrangement has too many cells for the exact polar")
        w = torch.as_tensor(res[2], dtype=V.dtype, device=V.device)
        method, upper = f"exact cell enumeration (rank-one G, d={d})", res[1] + slack
        if res[1] > res[0] * (1 + 1e-9):         # a near-rank-one tail left the bracket open
            upper = min(upper, relu_unit_upper(V, G))
    else:
        upper = relu_unit_upper(V, G)
        w, candidates = _ascent(V, G, n_starts, n_iter, generator, warm)
        near = " + perturbed units" if warm is not None and warm.numel() else ""
        method = (f"multistart ascent ({max(1, int(n_starts))} starts{near}) + row-weighted "
                  "split upper bound")
    h = torch.relu(V @ w)
    b = G.T @ h
    lower = float(b.norm())
    a = _unit(b) if lower > 0 else torch.zeros_like(b)
    return PolarBound(lower=lower, upper=max(upper, lower), maximizer=(w, a), method=method,
                      candidates=candidates)


def _ascent(V: torch.Tensor, G: torch.Tensor, n_starts: int, n_iter: int,
            generator: torch.Generator | None, warm: torch.Tensor | None):
    """Multistart fixed-point ascent ``a ← Gᵀ(Vw)₊/‖·‖``, ``w ← VᵀD(w)Ga/‖·‖`` from ``n_starts``
    random directions (half replaced by the inputs with the largest gradient rows) plus perturbed
    copies of the rows of ``warm`` (:func:`_perturbed_units`).  The iteration is not monotone,
    so the best point ever seen is returned, with the distinct end points as candidates."""
    S, d = max(1, int(n_starts)), V.shape[1]
    W = torch.randn(S, d, generator=generator, dtype=V.dtype, device="cpu").to(V.device)
    k = min(S // 2, V.shape[0])
    if k > 0:
        W[:k] = V[torch.topk(G.norm(dim=1), k).indices]
    if warm is not None and warm.numel():
        W = torch.cat([W, _perturbed_units(warm.to(W), S, generator)])
    W = _unit(W)
    best_val, best_w = -1.0, W[0]
    for it in range(max(1, int(n_iter)) + 1):
        vals = _values(V, G, W)
        j = int(torch.argmax(vals))
        if float(vals[j]) > best_val:
            best_val, best_w = float(vals[j]), W[j].clone()
        if it == max(1, int(n_iter)):
            break
        H = torch.relu(V @ W.T)                                   # (N, S)
        A = _unit(G.T @ H, dim=0)                                 # (C, S)
        Wn = (V.T @ ((G @ A) * (H > 0))).T
        dead = Wn.norm(dim=1) == 0
        if bool(dead.any()):
            Wn[dead] = torch.randn(int(dead.sum()), d, generator=generator,
                                   dtype=V.dtype).to(V.device)
        W = _unit(Wn)
    return best_w, _distinct_ascent_ends(V, G, W, vals)


def _distinct_ascent_ends(V: torch.Tensor, G: torch.Tensor, W: torch.Tensor, vals: torch.Tensor,
                          *, max_count: int = 16, cos_max: float = 0.99):
    """The ascent's end points as feasible atoms ``((w, a), value)``, in decreasing value, one per
    cluster of directions (cosine ``> cos_max`` counts as the same maximum)."""
    order = torch.argsort(vals, descending=True)
    kept: list[torch.Tensor] = []
    out = []
    for j in order.tolist():
        if float(vals[j]) <= 0 or len(kept) >= max_count:
            break
        wj = W[j]
        if any(float(wj @ k) > cos_max for k in kept):
            continue
        kept.append(wj)
        b = G.T @ torch.relu(V @ wj)
        out.append(((wj.clone(), _unit(b)), float(b.norm())))
    return tuple(out)


def subnetwork_upper(model: ParallelSubnetworks, V: torch.Tensor, G: torch.Tensor, *,
                     n_iter: int = 30, chunk: int = 256) -> float:
    """Valid upper bound on the polar of bias-free ReLU chains and conv subnetworks.

    With unit-norm layers, ReLU and non-overlapping max pooling never increase a norm, a
    linear layer scales it by at most ``‖Xᵏ‖₂ ≤ ‖Xᵏ‖_F = 1`` and a later valid ``kh×kw``
    convolution by at most ``√(kh·kw) ‖K‖_F`` (each input pixel meets ``kh·kw`` outputs), so
    ``‖φ(vₙ; X)‖ ≤ c' ‖L₁(vₙ)‖`` with ``L₁`` the first (linear) layer and ``c'`` the product of the
    later convolutions' ``√(kh·kw)``.  Then, for any row weights ``cₙ > 0``,

    ``⟨G, φ(V; X)⟩ ≤ c' Σₙ ‖gₙ‖ ‖L₁(vₙ)‖ ≤ c' ‖C^{1/2}ĝ‖ ‖C^{-1/2}M‖₂``

    with ``ĝₙ = ‖gₙ‖`` and ``Mₙ = vₙᵀ`` for a chain (``Σₙ‖W vₙ‖²/cₙ ≤ ‖W‖_F² ‖C^{-1/2}V‖₂²``),
    or ``Mₙ`` the ``(positions × cin·kh·kw)`` patch matrix of sample ``n`` for a convolution
    (``L₁(vₙ) = Mₙ Kᵀ``, held as its Gram, built ``chunk`` samples at a time);
    :func:`row_weighted_upper` searches ``c``.  The result is also capped by the classical
    bounds ``c_all Σₙ ‖gₙ‖‖vₙ‖`` (``c_all`` over every convolution) and, for chains,
    ``‖G‖_F ‖V‖₂``.  ``inf`` for other families.
    """
    kind = getattr(model.make_subnetwork, "kind", "custom")
    if kind not in ("relu_chain", "conv"):
        return math.inf
    V = V.detach().to(torch.float64)
    G = G.detach().to(torch.float64)
    _check_finite(V=V, G=G)
    prep = _balanced_rows(G, V)
    if prep is None:
        return 0.0
    G, V, k, tiny = prep
    f = model.make_subnetwork
    first, later = model.params[0], model.params[1:-1]
    # kernel sizes read from the weights themselves
    c_first = math.sqrt(first.shape[-2] * first.shape[-1]) if kind == "conv" else 1.0
    c_later = math.prod(math.sqrt(p.shape[-2] * p.shape[-1]) for p in later) if (
        kind == "conv") else 1.0
    # a tiny row: ‖gₙ‖ ≤ √C max|gₙ|, ‖L₁(vₙ)‖ ≤ c_first √d max|vₙ|
    extra = c_later * c_first * float(tiny.sum()) * _TINY * math.sqrt(G.shape[1] * V.shape[1])
    G, V = G[~tiny], V[~tiny]
    if G.shape[0] == 0:
        return _scaled_back(extra, k)
    gnorm, vnorm = _row_norms(G), _row_norms(V)
    # Σₙ ‖gₙ‖‖vₙ‖ with its rounding (each norm to ~d·eps, the sum to N·eps)
    per_sample = float((gnorm * vnorm).sum()) * (1 + 2 * (V.shape[1] + G.shape[1] + V.shape[0])
                                                 * _EPS64)
    if kind == "relu_chain":
        batch = spectral_upper(gnorm[:, None]) * spectral_upper(V)
        bound = min(per_sample, batch,
                    _weighted_upper(gnorm[:, None], _Rows(V), vnorm, n_iter))
        return _scaled_back(bound * (1 + 1e-12) + extra, k)
    kh, kw = first.shape[-2:]
    classical = c_later * c_first * per_sample
    x = V.reshape(V.shape[0], f.in_channels, f.image_size, f.image_size)
    H, F = [], []
    for i in range(0, x.shape[0], chunk):
        P = torch.nn.functional.unfold(x[i:i + chunk], (kh, kw))   # (n, cin·kh·kw, positions)
        H.append(P @ P.transpose(1, 2))
        F.append(P.pow(2).sum(dim=(1, 2)))
    L = (f.image_size - kh + 1) * (f.image_size - kw + 1)
    grams = _Grams(torch.cat(H), torch.cat(F), L)
    weighted = c_later * _weighted_upper(gnorm[:, None], grams, c_first * vnorm, n_iter)
    return _scaled_back(min(classical, weighted) * (1 + 1e-12) + extra, k)


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


# --------------------------------------------------------------------------------------------
# Polar of the Jacobian regularizer  θ(X) = (1/N) Σₙ ‖∂φ(vₙ; X)/∂v‖_F
# --------------------------------------------------------------------------------------------

#: at most this many points get the NNLS isolation bound of :func:`jacobian_polar_upper`
JACOBIAN_ISOLATION_MAX = 64
#: the pair term of :func:`jacobian_polar_upper` forms ``N²`` Gram entries: only up to this ``N``
JACOBIAN_PAIR_MAX_ROWS = 4096
#: families whose autograd Jacobian satisfies Euler's ``φ(v) = J(v)·v`` exactly
_EULER_KINDS = ("relu_unit", "relu_chain", "conv")


def _gamma(k: int) -> float:
    """A generous ``γ_k = k·u/(1 − k·u)`` (``u = eps/2``) for float64: ``2k·eps``."""
    return 2.0 * k * _EPS64


def _check_jacobian_args(model, V: torch.Tensor, G: torch.Tensor, reg) -> None:
    from .regularizers import JacobianRegularizer

    if not isinstance(model, ParallelSubnetworks):
        raise TypeError(f"model must be a ParallelSubnetworks, got {type(model).__name__}")
    if not isinstance(reg, JacobianRegularizer):
        raise TypeError(f"reg must be a JacobianRegularizer, got {type(reg).__name__}")
    if reg.points is None:
        raise ValueError("reg has no training inputs: bind them with reg.with_inputs(V)")
    if V.dim() != 2 or G.dim() != 2 or V.shape[0] != G.shape[0]:
        raise ValueError("V must be (N, d) and G (N, C) with the same N")


def _euler_upper(V: torch.Tensor, G: torch.Tensor) -> float:
    """``N·maxₙ ‖gₙ‖‖vₙ‖`` rounded up (power-of-two balanced rows: no under- or overflow)."""
    N = V.shape[0]
    prep = _balanced_rows(G, V)
    if prep is None:
        return 0.0
    Gs, Vs, k, tiny = prep
    # a tiny row: ‖gₙ‖‖vₙ‖ ≤ √(C·d)·max|gₙ|·max|vₙ| < √(C·d)·2⁻⁴⁰⁰ in the scaled units
    worst = _TINY * math.sqrt(Gs.shape[1] * Vs.shape[1]) if bool(tiny.any()) else 0.0
    if bool((~tiny).any()):
        prod = _row_norms(Gs[~tiny]) * _row_norms(Vs[~tiny])
        worst = max(worst, float(prod.max()) * (1.0 + _gamma(Gs.shape[1] + Vs.shape[1] + 6)))
    return _scaled_back(N * worst * (1.0 + 4 * _EPS64), k)


def _isolation_bound(v: np.ndarray, others: np.ndarray) -> tuple[float, np.ndarray]:
    """``(s, u)``: a rigorous ``s ≥ sup{vᵀw : ‖w‖ ≤ 1, oᵀw ≤ 0 for every row o of others}``
    and the direction ``u = v − othersᵀβ``.

    For every ``β ≥ 0`` and such ``w``: ``vᵀw = (v − Σβₖoₖ)ᵀw + Σβₖoₖᵀw ≤ ‖v − Σβₖoₖ‖``;
    ``β`` is the NNLS solution (the distance from ``v`` to the cone of the other points, which
    is the supremum by duality), ``β = 0`` if NNLS fails.  The computed residual ``r̂`` is
    within ``γ_{M+1}(|v| + |O|ᵀβ)`` of the exact ``v − Oᵀβ`` entrywise (``M`` rows), and
    its norm within ``γ_{d+2}``; both are added.  ``u = r̂`` satisfies ``oᵀu ≤ 0`` (KKT) up to
    rounding, a start for the ascent."""
    from scipy.optimize import nnls

    beta = np.zeros(others.shape[0])
    if others.shape[0]:
        try:
            beta = nnls(others.T, v, maxiter=50 * max(others.shape))[0]
        except (RuntimeError, ValueError):  # pragma: no cover - NNLS did not converge
            beta = np.zeros(others.shape[0])
    beta = np.maximum(beta, 0.0)
    r = v - others.T @ beta
    err = np.abs(v) + np.abs(others).T @ beta
    grow = 1.0 + _gamma(v.shape[0] + 2)
    s = (float(np.linalg.norm(r)) + _gamma(others.shape[0] + 1) * float(
        np.linalg.norm(err)) * grow) * grow * (1.0 + 2 * _EPS64)
    return min(s, float(np.linalg.norm(v)) * grow), r


def _pair_bound(U: np.ndarray, a: np.ndarray, chunk: int = 512) -> float:
    """Rigorous ``max_{i≠j} ‖uᵢ + uⱼ‖/2`` from the Gram ``UUᵀ``: each computed entry is within
    ``γ_d |U||U|ᵀ`` of the exact one (Higham §3.5), so ``‖uᵢ+uⱼ‖² ≤ K̂ᵢᵢ + K̂ⱼⱼ + 2K̂ᵢⱼ +
    γ_{d+4}(aᵢ + aⱼ)²`` with ``aᵢ ≥ ‖uᵢ‖``; plus an absolute ``1e-300`` for underflow."""
    N, d = U.shape
    if N < 2:
        return 0.0
    diag = np.einsum("nd,nd->n", U, U)
    best = 0.0
    g = _gamma(d + 4)
    for i0 in range(0, N, chunk):
        K = U[i0:i0 + chunk] @ U.T
        S = diag[i0:i0 + chunk, None] + diag[None, :] + 2.0 * K
        S = S + g * (a[i0:i0 + chunk, None] + a[None, :]) ** 2 + 1e-300
        rows = np.arange(i0, min(i0 + chunk, N))
        S[rows - i0, rows] = -np.inf                                   # i = j excluded
        top = float(S.max())
        if math.isnan(top) or top == math.inf:  # Python's max() would drop a NaN: no bound
            return math.inf
        best = max(best, top)
    return math.sqrt(max(best, 0.0)) * 0.5 * (1.0 + 4 * _EPS64)


def _relu_unit_jacobian_upper(V: torch.Tensor, G: torch.Tensor, max_isolation: int, *,
                              pairs: bool = True
                              ) -> tuple[float, list[tuple[int, np.ndarray]]]:
    """The ReLU-unit refinement of :func:`jacobian_polar_upper` and the isolating directions
    of the points it solved: ``(bound, [(n, uₙ), …])`` (``inf`` when skipped, or when
    ``pairs=False``: only the directions are wanted)."""
    Vn = V.detach().to("cpu", torch.float64).numpy()
    Gn = G.detach().to("cpu", torch.float64).numpy()
    N, d = Vn.shape
    ra, rb = np.abs(Vn).max(axis=1), np.abs(Gn).max(axis=1)

    def in_range(x: np.ndarray) -> bool:             # every non-zero row within (1e-100, 1e100)
        nz = x[x != 0]
        return bool(np.all(np.isfinite(x)) and np.all((nz > 1e-100) & (nz < 1e100)))

    # every row (not only those with gₙ ≠ 0 and vₙ ≠ 0: all of them enter the cone and the
    # products uₙ = cₙvₙ), and the products' range, so that no cₙ‖vₙ‖, ‖uᵢ + uⱼ‖² or Gram
    # entry overflows (|uₙ| < √C·1e100, squares < d·C·1e200)
    if not ((ra > 0) & (rb > 0)).any() or not (in_range(ra) and in_range(rb)) \
            or float(ra.max()) * float(rb.max()) >= 1e100:
        return math.inf, []          # outside the range where the margins below are stated
    c = np.linalg.norm(Gn, axis=1) * (1.0 + _gamma(Gn.shape[1] + 2))     # cₙ ≥ ‖gₙ‖
    vn = np.linalg.norm(Vn, axis=1) * (1.0 + _gamma(d + 2))               # ≥ ‖vₙ‖
    order = np.argsort(-(c * vn), kind="stable")
    single, dirs = 0.0, []
    for rank, n in enumerate(order):
        cap = c[n] * vn[n] * (1.0 + 2 * _EPS64)
        if cap <= single:
            break                    # every later point has cₙ‖vₙ‖ ≤ this, and sₙ ≤ ‖vₙ‖
        if rank >= max_isolation:
            single = cap             # the unsolved points: bounded by the largest c‖v‖ left
            break
        s, u = _isolation_bound(Vn[n], np.delete(Vn, n, axis=0))
        if not math.isfinite(s):     # Python's max() would drop a NaN: no refinement
            return math.inf, dirs
        single = max(single, c[n] * s * (1.0 + 2 * _EPS64))
        dirs.append((int(n), u))
    if N > JACOBIAN_PAIR_MAX_ROWS or not pairs:
        return math.inf, dirs
    U = c[:, None] * Vn
    pair = _pair_bound(U, c * vn * (1.0 + _gamma(d + 2)))
    bound = N * max(single, pair) * (1.0 + 4 * _EPS64)
    return (bound if math.isfinite(bound) else math.inf), dirs


def jacobian_polar_upper(model: ParallelSubnetworks, V: torch.Tensor, G: torch.Tensor, reg, *,
                         max_isolation: int = JACOBIAN_ISOLATION_MAX) -> float:
    r"""Valid upper bound on the polar of the Jacobian regularizer,
    ``Ω°(G) = sup {⟨G, φ(V; X)⟩ : θ(X) ≤ 1}``, ``θ(X) = (1/N) Σₙ ‖Jₙ‖_F``, ``Jₙ = ∂φ(vₙ; X)/∂v``.

    **Euler bound** (``relu_unit``, ``relu_chain``, ``conv``; ``inf`` for other families).
    These subnetworks are positively homogeneous of degree 1 in the input and the autograd
    Jacobian satisfies ``φ(vₙ; X) = Jₙ vₙ`` exactly (see
    :class:`homfact.nn.JacobianRegularizer`), so

    ``⟨G, φ(V; X)⟩ = Σₙ gₙᵀ Jₙ vₙ ≤ Σₙ ‖gₙ‖ ‖Jₙ‖₂ ‖vₙ‖ ≤ maxₙ(‖gₙ‖‖vₙ‖) Σₙ ‖Jₙ‖_F
    = N·maxₙ(‖gₙ‖‖vₙ‖)·θ(X)``,

    hence ``Ω°(G) ≤ N·maxₙ ‖gₙ‖‖vₙ‖``.  It needs the regularizer's points to be exactly the
    rows of ``V`` (``reg.covers(V)``); otherwise (a ``max_points`` subset, other data) a
    subnetwork active only off the subset has ``θ = 0`` and a non-zero output, and ``inf`` is
    returned.  The bound is tight only if one subnetwork can be active at a single point
    with its Jacobian aligned to ``gₙvₙᵀ``; in general it is loose.

    **ReLU units** ``φ = (Vw)₊aᵀ``: ``Jₙ = 1[vₙᵀw > 0]·a wᵀ``, so with ``‖w‖ = ‖a‖ = 1`` and
    ``A = {n : vₙᵀw > 0}``, ``⟨G, φ⟩/θ = (N/|A|) Σ_{n∈A} (gₙᵀa)(vₙᵀw) ≤ (N/|A|) Σ_{n∈A}
    cₙ vₙᵀw`` (``cₙ ≥ ‖gₙ‖``).  For ``|A| = 1`` the other points satisfy ``vₖᵀw ≤ 0``, so the
    term is at most ``cₙ·dist(vₙ, cone{vₖ : k ≠ n})`` (bounded by NNLS,
    :func:`_isolation_bound`); for ``|A| ≥ 2`` the mean of the ``uₙ = cₙvₙ`` is the mean of
    the pair means ``(uᵢ + uⱼ)/2``, so the term is at most ``max_{i≠j} ‖uᵢ + uⱼ‖/2``
    (:func:`_pair_bound`).  Hence ``Ω°(G) ≤ N·max(maxₙ cₙ sₙ, max_{i≠j}‖uᵢ+uⱼ‖/2)``, never
    above the Euler bound; the isolation bound is solved for at most ``max_isolation`` points
    (in decreasing ``cₙ‖vₙ‖``; the others keep ``cₙ‖vₙ‖``), the pair term only for
    ``N ≤ JACOBIAN_PAIR_MAX_ROWS``.

    Rounding: every norm, product and sum carries an explicit ``γ_k`` margin (float64); the
    Euler bound runs on power-of-two balanced rows, the ReLU-unit refinement only where every
    non-zero row of ``V`` and of ``G`` has its largest entry within ``(1e-100, 1e100)`` and
    ``max|V|·max|G| < 1e100`` (no norm, product or Gram entry overflows; underflow is covered
    by an absolute margin), and it is dropped (``inf``) if any of its values is not finite.
    """
    _check_jacobian_args(model, V, G, reg)
    kind = getattr(model.make_subnetwork, "kind", "custom")
    V = V.detach().to(torch.float64)
    G = G.detach().to(torch.float64)
    _check_finite(V=V, G=G)
    if kind not in _EULER_KINDS or not reg.covers(V):
        return math.inf
    bound = _euler_upper(V, G)
    if kind == "relu_unit" and bound > 0:
        bound = min(bound, _relu_unit_jacobian_upper(V, G, int(max_isolation))[0])
    return bound


def _pushed_direction(V: np.ndarray, n: int, u: np.ndarray) -> np.ndarray:
    """``u`` moved slightly so that the points ``k ≠ n`` with ``vₖᵀu ≥ −τ`` (on the kink by
    the NNLS optimality conditions, ``τ`` relative ``1e-9``) become strictly inactive: the
    least-squares correction in their span with target ``vₖᵀw = −1e-7‖vₖ‖‖u‖``."""
    un = float(np.linalg.norm(u))
    if un == 0.0:
        return u
    vn = np.linalg.norm(V, axis=1)
    z = V @ u
    near = (z > -1e-9 * vn * un)
    near[n] = False
    if not near.any():
        return u
    A = V[near]
    target = -1e-7 * vn[near] * un - z[near]
    delta = np.linalg.lstsq(A, target, rcond=None)[0]
    return u + delta


def _isolation_starts(model: ParallelSubnetworks, V: torch.Tensor, G: torch.Tensor,
                      dirs: list[tuple[int, np.ndarray]]) -> list[torch.Tensor] | None:
    """Subnetworks active at one point ``vₙ`` only: ReLU unit ``(w, a) = (uₙ, gₙ)``; ReLU chain
    with every first-layer row ``uₙ``, positive middle layers and last layer ``gₙ1ᵀ`` (a rank-one
    Jacobian ``∝ gₙuₙᵀ``).  ``None`` for other families or no directions."""
    kind = getattr(model.make_subnetwork, "kind", "custom")
    if kind not in ("relu_unit", "relu_chain") or not dirs:
        return None
    Vn = V.detach().to("cpu", torch.float64).numpy()
    shapes = [tuple(p.shape[1:]) for p in model.params]
    out: list[list[torch.Tensor]] = [[] for _ in shapes]
    for n, u in dirs:
        w = torch.as_tensor(_pushed_direction(Vn, n, u), dtype=model.dtype,
                            device=model.device)
        g = G[n].to(model.dtype)
        if float(g.norm()) == 0.0 or float(w.norm()) == 0.0:
            continue
        if kind == "relu_unit":
            layers = [w.reshape(shapes[0]), g.reshape(shapes[1])]
        else:
            layers = [w.expand(shapes[0]).clone()]
            layers += [torch.ones(s, dtype=model.dtype, device=model.device)
                       for s in shapes[1:-1]]
            layers.append(g[:, None].expand(shapes[-1]).clone())
        for k, t in enumerate(layers):
            out[k].append(t)
    if not out[0]:
        return None
    return [torch.stack(t) for t in out]


def _unit_ratio(V: torch.Tensor, G: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Exact ``⟨G, φ⟩/θ`` of ReLU units with directions the rows of ``W`` (``a`` optimal):
    ``N‖Gᵀ(Vŵ)₊‖/#{n : vₙᵀŵ > 0}`` (0 where no point is active)."""
    Wn = _unit(W)
    Z = V @ Wn.T
    m = (Z > 0).sum(dim=0).to(V.dtype)
    num = (G.T @ torch.relu(Z)).norm(dim=0)
    return torch.where(m > 0, V.shape[0] * num / m.clamp_min(1.0), torch.zeros_like(num))


def _relu_unit_count_ascent(V: torch.Tensor, G: torch.Tensor, W0: torch.Tensor, n_iter: int,
                            lr: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions of ReLU units with a large ``⟨G, φ⟩/θ = N‖Gᵀ(Vŵ)₊‖/#active``.

    The exact ratio is piecewise smooth and its gradient does not see the count of active
    points, which is what makes a unit cheap for the Jacobian regularizer; this ascent
    maximizes the smoothed ``N‖Gᵀ(Vŵ)₊‖/Σₙ σ(vₙᵀŵ/(τ‖vₙ‖))`` with ``τ`` annealed from ``0.3``
    to ``10⁻⁴`` (batched over the rows of ``W0``) and tracks the *exact* ratio of every
    iterate.  Returns each start's best direction (unit rows) and its exact ratio."""
    vn = V.norm(dim=1).clamp_min(1e-300)
    W = _unit(W0.detach().clone()).requires_grad_(True)
    opt = torch.optim.Adam([W], lr=lr)
    best_w = _unit(W.detach()).clone()
    best_v = _unit_ratio(V, G, best_w)
    iters = max(1, int(n_iter))
    for it in range(iters):
        tau = 0.3 * (1e-4 / 0.3) ** (it / max(iters - 1, 1))
        Wn = _unit(W)
        Z = V @ Wn.T
        num = (G.T @ torch.relu(Z)).norm(dim=0)
        den = torch.sigmoid(Z / (tau * vn[:, None])).sum(dim=0).clamp_min(1e-12)
        opt.zero_grad()
        (-(num / den).sum()).backward()
        opt.step()
        with torch.no_grad():
            Wd = _unit(W.detach())
            val = _unit_ratio(V, G, Wd)
            up = val > best_v
            best_v = torch.where(up, val, best_v)
            best_w[up] = Wd[up]
    return best_w, best_v


def _normalized_layers(ps: list[torch.Tensor]) -> list[torch.Tensor]:
    return [p / p.flatten(1).norm(dim=1).clamp_min(1e-300).view(-1, *([1] * (p.dim() - 1)))
            for p in ps]


def jacobian_polar(model: ParallelSubnetworks, V: torch.Tensor, G: torch.Tensor, reg, *,
                   n_starts: int = 16, n_iter: int = 100, lr: float = 0.05,
                   warm: list[torch.Tensor] | None = None,
                   max_isolation: int = JACOBIAN_ISOLATION_MAX) -> PolarBound:
    r"""Bracket on ``Ω°(G) = sup {⟨G, φ(V; X)⟩ : θ(X) ≤ 1}`` for the Jacobian regularizer
    ``θ = reg`` (:class:`homfact.nn.JacobianRegularizer`) and the model's subnetwork family.

    Both ``φ`` and ``θ`` have degree ``K`` in ``X`` (and degree 1 in each layer), so
    ``Ω°(G) = sup_{θ(X) > 0} ρ(X)``, ``ρ(X) = ⟨G, φ(V; X)⟩/θ(X)``, invariant to the scale of each
    layer.  **Lower bound**: multistart Adam ascent of ``ρ`` on the per-layer unit spheres
    (``n_starts`` fresh subnetworks from the factory, up to half replaced by the model's own
    ``warm`` subnetworks, plus isolation starts for ReLU units and chains: subnetworks active
    at one point only, from the NNLS directions of :func:`jacobian_polar_upper`); the best
    point seen is scaled to ``θ(X*) = 1`` (each layer by ``θ^{-1/K}``) and ``lower`` is the
    value ``⟨G, φ(V; X*)⟩/θ(X*)`` computed there (``0`` — the zero subnetwork — if no
    positive value was found).  ``ρ`` is piecewise smooth: its gradient does not see the
    activation counts in ``θ``, hence the isolation starts.  **Upper bound**:
    :func:`jacobian_polar_upper` (valid; ``inf`` when none applies).  Candidates: further
    distinct ascent end points (first-layer cosine ``≤ 0.99``) with positive value, each scaled
    to ``θ = 1``.  Computed in float64 (a float32 model is copied).
    """
    _check_jacobian_args(model, V, G, reg)
    if model.dtype != torch.float64:
        import copy

        model = copy.deepcopy(model).to(torch.float64)
    V = V.detach().to(device=model.device, dtype=torch.float64)
    G = G.detach().to(device=model.device, dtype=torch.float64)
    _check_finite(V=V, G=G)
    kind = getattr(model.make_subnetwork, "kind", "custom")
    upper, dirs = math.inf, []
    if kind in _EULER_KINDS and reg.covers(V):
        upper = _euler_upper(V, G)
        if kind == "relu_unit" and upper > 0:
            refined, dirs = _relu_unit_jacobian_upper(V, G, int(max_isolation))
            upper = min(upper, refined)
    if kind == "relu_chain" and reg.covers(V):
        dirs = _relu_unit_jacobian_upper(V, G, min(int(max_isolation), 16), pairs=False)[1]
    S = max(1, int(n_starts))
    starts = model._fresh(S)
    if warm is not None and model.width > 0:
        k = min(model.width, S // 2)
        starts = [torch.cat([w[:k].detach().to(s), s[: S - k]], 0)
                  for w, s in zip(warm, starts, strict=True)]
    iso = _isolation_starts(model, V, G, dirs[: max(1, S)])
    n_iso = 0 if iso is None else int(iso[0].shape[0])
    if iso is not None:
        starts = [torch.cat([s, t.to(s)], 0) for s, t in zip(starts, iso, strict=True)]
    n_count = 0
    if kind == "relu_unit":
        # a wide, cheap search over directions alone (a = Gᵀ(Vŵ)₊ is optimal for each)
        B = max(256, 8 * S)
        W0 = torch.cat([starts[0][:, 0, :],
                        torch.randn(B, V.shape[1], dtype=V.dtype).to(V.device),
                        V[torch.randperm(V.shape[0])[:B]].to(V.device)])
        Wc, vc = _relu_unit_count_ascent(V, G, W0, max(int(n_iter), 1))
        top = torch.argsort(vc, descending=True)[:S]
        top = top[vc[top] > 0]
        n_count = int(top.numel())
        if n_count:
            w = Wc[top]
            a = _unit(G.T @ torch.relu(V @ w.T), dim=0).T                # (k, C)
            starts = [torch.cat([starts[0], w[:, None, :].to(starts[0])], 0),
                      torch.cat([starts[1], a[:, :, None].to(starts[1])], 0)]
    raw = [s.clone().requires_grad_(True) for s in starts]
    opt = torch.optim.Adam(raw, lr=lr)

    def ratios(ps):
        num = (model.evaluate_subnetworks(ps, V) * G).flatten(1).sum(1)
        th = reg.jacobian_norms(model, ps).mean(dim=1)
        pos = th > 0
        return torch.where(pos, num / torch.where(pos, th, torch.ones_like(th)),
                           torch.zeros_like(th))

    best_val, best = 0.0, None
    iters = max(1, int(n_iter))
    for it in range(iters + 1):
        ps = _normalized_layers(raw)
        vals = ratios(ps)
        j = int(torch.argmax(vals.detach()))
        if float(vals[j].detach()) > best_val:
            best_val, best = float(vals[j].detach()), [p.detach()[j].clone() for p in ps]
        if it == iters:
            break
        opt.zero_grad()
        (-vals.sum()).backward()
        opt.step()
    K = model.n_layers
    ends = [p.detach() for p in _normalized_layers(raw)]

    def scaled(xs: list[torch.Tensor]) -> tuple[tuple[torch.Tensor, ...], float]:
        """``xs`` (one subnetwork, unit layers) scaled to ``θ = 1`` and its exact ratio."""
        one = [x.unsqueeze(0) for x in xs]
        with torch.no_grad():
            th = float(reg.jacobian_norms(model, one).mean())
            if not th > 0:
                return tuple(torch.zeros_like(x) for x in xs), 0.0
            f = th ** (-1.0 / K)
            xs = [x * f for x in xs]
            one = [x.unsqueeze(0) for x in xs]
            th = float(reg.jacobian_norms(model, one).mean())
            num = float((model.evaluate_subnetworks(one, V)[0] * G).sum())
        return tuple(xs), (num / th if th > 0 else 0.0)

    if best is None:
        maximizer, lower = tuple(torch.zeros(p.shape[1:], dtype=torch.float64,
                                             device=model.device) for p in model.params), 0.0
    else:
        maximizer, lower = scaled(best)
        if lower <= 0:
            maximizer, lower = tuple(torch.zeros_like(x) for x in maximizer), 0.0
    with torch.no_grad():
        end_vals = ratios(ends)
    cands, kept = [], [maximizer[0].flatten()] if lower > 0 else []
    for j in torch.argsort(end_vals, descending=True).tolist():
        if float(end_vals[j]) <= 0 or len(cands) >= 16:
            break
        first = ends[0][j].flatten()
        if any(float(first @ k) > 0.99 * float(first.norm() * k.norm()) for k in kept):
            continue
        xs, val = scaled([p[j] for p in ends])
        if val > 0:
            kept.append(first)
            cands.append((xs, val))
    method = (f"Jacobian polar: multistart ascent of <G,phi>/theta ({S} starts"
              f"{f' + {n_iso} isolation starts' if n_iso else ''}"
              f"{f' + {n_count} smoothed-count ascent starts' if n_count else ''}) + "
              + ("Euler upper bound N max_n |g_n||v_n|" if math.isfinite(upper) else
                 "no upper bound (family or regularizer points not covered)")
              + (" with ReLU-unit isolation/pair refinement" if kind == "relu_unit"
                 and math.isfinite(upper) else ""))
    if lower > upper * (1 + 1e-9) + 1e-300:
        warnings.warn(f"Jacobian polar: ascent value {lower!r} exceeds the upper bound "
                      f"{upper!r}; the bound is discarded", RuntimeWarning, stacklevel=2)
        upper = math.inf
    return PolarBound(lower=lower, upper=upper, maximizer=maximizer, method=method,
                      candidates=tuple(cands))
