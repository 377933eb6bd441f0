"""Convex, differentiable losses of the model output and their Fenchel-conjugate lower bounds.

A loss acts on the *output representation* chosen by the map (see :mod:`homfact.maps`): a dense
array for a full matrix, or the 1-D vector of model values at the observed entries for a masked
problem.  Masking is therefore a property of the map, and the same :class:`SquaredLoss` serves
low-rank approximation (dense ``Y``) and matrix completion (``Y`` restricted to the observed set).

Every loss implements (``R = y - z`` is the residual, ``G = -∇ℓ(z)``)::

    value(z)             ℓ(z)
    neg_gradient(z)      G = -∇ℓ(z)
    dual_value(Λ)        -ℓ*(-Λ), a lower bound on the optimum when Λ is dual feasible
    best_dual_scale(G,c) argmax_{0 ≤ c' ≤ c} -ℓ*(-c' G)
    line_search(z, d, w) argmin_{s ≥ 0} ℓ(z + s d) + w s

The dual value is only a valid lower bound for ``Λ`` in the loss's dual domain (for Huber,
``‖Λ‖_∞ ≤ δ``); ``best_dual_scale`` respects that domain.

:class:`InterceptSquaredLoss` is the squared loss with intercept columns ``W Bᵀ`` minimized out
exactly (structured factorization's background).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy.optimize import brentq

__all__ = ["HuberLoss", "Loss", "SquaredLoss", "huber"]


def _vdot(a, b) -> float:
    """``⟨a, b⟩`` of two outputs: NumPy arrays, or any *output representation* with a
    ``vdot`` method (a distributed vector, :mod:`homfact.distributed`), which then computes it.

    The core's losses and maps touch an output only through ``+``, ``−``, unary ``−``,
    ``*`` by a float and this inner product, so an object with those operations can stand for
    the model output (docs: theory/problem-class).
    """
    if isinstance(a, np.ndarray) or not hasattr(a, "vdot"):
        return float(np.vdot(np.ravel(a), np.ravel(b)))
    return float(a.vdot(b))


class Loss(ABC):
    """A convex, once-differentiable loss ``ℓ(z)`` with data ``y`` folded in."""

    #: Lipschitz constant of ``∇ℓ`` with respect to ``z`` (Euclidean).
    lipschitz: float = 1.0

    def __init__(self, y: np.ndarray):
        # an output representation with its own inner product stays as it is (see _vdot)
        self.y = y if hasattr(y, "vdot") and not isinstance(y, np.ndarray) else np.asarray(
            y, dtype=float)

    @abstractmethod
    def value(self, z: np.ndarray) -> float:
        """Return ``ℓ(z)``."""

    @abstractmethod
    def neg_gradient(self, z: np.ndarray) -> np.ndarray:
        """Return ``G = -∇ℓ(z)``."""

    @abstractmethod
    def dual_value(self, lam_dual: np.ndarray) -> float:
        """Return ``-ℓ*(-Λ)``: a lower bound on ``min ℓ + λΩ`` when ``Ω°(Λ) ≤ λ``."""

    @abstractmethod
    def best_dual_scale(self, g: np.ndarray, c_max: float) -> float:
        """Return ``c ∈ [0, c_max]`` maximizing ``-ℓ*(-c G)`` inside the loss's dual domain."""

    @abstractmethod
    def line_search(self, z: np.ndarray, d: np.ndarray, weight: float) -> float:
        """Return ``argmin_{s ≥ 0} ℓ(z + s d) + weight·s``."""


class SquaredLoss(Loss):
    r"""``ℓ(z) = ½‖y − z‖²``; conjugate bound ``-ℓ*(-Λ) = ⟨Λ, y⟩ − ½‖Λ‖²``.

    With a masked map ``y`` holds the observed entries only, which gives the completion loss
    ``½‖P_Ω(Y − Z)‖²`` and its dual (``Λ`` supported on ``Ω``).
    """

    def value(self, z: np.ndarray) -> float:
        r = self.y - z
        return 0.5 * _vdot(r, r)

    def neg_gradient(self, z: np.ndarray) -> np.ndarray:
        return self.y - z

    def dual_value(self, lam_dual: np.ndarray) -> float:
        return _vdot(lam_dual, self.y) - 0.5 * _vdot(lam_dual, lam_dual)

    def best_dual_scale(self, g: np.ndarray, c_max: float) -> float:
        # L(c) = c⟨G,y⟩ − c²‖G‖²/2 is a concave parabola: clip its vertex to [0, c_max].
        gg = _vdot(g, g)
        if gg == 0.0:
            return float(c_max)
        return float(np.clip(_vdot(g, self.y) / gg, 0.0, c_max))

    def line_search(self, z: np.ndarray, d: np.ndarray, weight: float) -> float:
        # ½‖r − s d‖² + w s is quadratic in s: s* = (⟨r, d⟩ − w)/‖d‖², clipped at 0.
        dd = _vdot(d, d)
        if dd == 0.0:
            return 0.0
        return max(0.0, (_vdot(self.y - z, d) - weight) / dd)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber function ``h_δ(r) = r²/2`` for ``|r| ≤ δ``, ``δ|r| − δ²/2`` beyond, elementwise."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * a * a, delta * a - 0.5 * delta * delta)


class HuberLoss(Loss):
    r"""``ℓ(z) = w·Σ h_δ(y − z)`` with ``h_δ(t) = t²/2`` for ``|t| ≤ δ`` and ``δ|t| − δ²/2`` else.

    ``G = w·clip(y − z, −δ, δ)``; conjugate bound ``⟨Λ, y⟩ − ‖Λ‖²/(2w)`` on the domain
    ``‖Λ‖_∞ ≤ wδ`` (``(w h_δ)*(s) = s²/(2w) + ι{|s| ≤ wδ}``).  ``w = γ``, ``δ = 1/γ`` is the
    robust-PCA loss ``min_E ‖E‖₁ + (γ/2)‖y − z − E‖²``.
    """

    def __init__(self, y: np.ndarray, delta: float = 1.0, weight: float = 1.0):
        super().__init__(y)
        if not np.isfinite(delta) or delta <= 0:
            raise ValueError(f"delta must be a positive finite number, got {delta!r}")
        if not np.isfinite(weight) or weight <= 0:
            raise ValueError(f"weight must be a positive finite number, got {weight!r}")
        self.delta = float(delta)
        self.weight = float(weight)
        self.lipschitz = self.weight

    def value(self, z: np.ndarray) -> float:
        return self.weight * float(np.sum(huber(self.y - z, self.delta)))

    def neg_gradient(self, z: np.ndarray) -> np.ndarray:
        return self.weight * np.clip(self.y - z, -self.delta, self.delta)

    def dual_value(self, lam_dual: np.ndarray) -> float:
        return _vdot(lam_dual, self.y) - 0.5 * _vdot(lam_dual, lam_dual) / self.weight

    def best_dual_scale(self, g: np.ndarray, c_max: float) -> float:
        gmax = float(np.max(np.abs(g))) if g.size else 0.0
        if gmax > 0:
            c_max = min(c_max, self.weight * self.delta / gmax)
        gg = _vdot(g, g)
        if gg == 0.0:
            return float(c_max)
        return float(np.clip(self.weight * _vdot(g, self.y) / gg, 0.0, c_max))

    def line_search(self, z: np.ndarray, d: np.ndarray, weight: float) -> float:
        r"""Exact ``argmin_{s ≥ 0} g(s)``, ``g(s) = ℓ(z + s d) + c·s`` (``c`` = ``weight``).

        ``g`` is convex and piecewise quadratic: its derivative
        ``g'(s) = c − w Σ clip(rᵢ − s dᵢ, ±δ) dᵢ`` (``r = y − z``) is non-decreasing and
        piecewise linear, with slope ``g''(s) = w Σ_{|rᵢ − s dᵢ| < δ} dᵢ²`` between the
        breakpoints ``(rᵢ ± δ)/dᵢ``.  Newton's method on ``g'`` is exact as soon as an iterate
        lies on the root's linear piece; it is safeguarded by a bracket ``g'(lo) < 0 ≤ g'(hi)``
        (bisection when a step leaves it, doubling while no ``hi`` is known), so every
        iteration costs one pass over the entries (a few in practice, against ~10 for a
        bracketing root finder on the dense gradient).
        """
        r = np.ravel(self.y - z)
        dv = np.ravel(np.asarray(d, dtype=float))
        if not np.any(dv):
            return 0.0
        w, delta = self.weight, self.delta

        def slope_curv(s: float) -> tuple[float, float]:
            t = r - s * dv if s else r
            c = np.clip(t, -delta, delta)
            inside = np.abs(t) < delta
            return (weight - w * float(c @ dv),
                    w * float(np.dot(dv[inside], dv[inside])))

        g0, h0 = slope_curv(0.0)
        if g0 >= 0.0:
            return 0.0
        # scale of g' for the stopping test: |g'| below roundoff of its terms
        tiny = 1e-13 * (abs(weight) + w * delta * float(np.sum(np.abs(dv))))
        lo, hi, s, g, h = 0.0, np.inf, 0.0, g0, h0
        for _ in range(200):
            if h > 0.0:
                cand = s - g / h
            else:
                cand = np.inf
            if not (lo < cand < hi):
                cand = 0.5 * (lo + hi) if np.isfinite(hi) else max(2.0 * max(s, lo), 1.0)
            if cand > 1e300:
                raise FloatingPointError("Huber line search diverged: the loss is unbounded")
            s = float(cand)
            g, h = slope_curv(s)
            if abs(g) <= tiny:
                return s
            if g < 0.0:
                lo = s
            else:
                hi = s
            if np.isfinite(hi) and hi - lo <= 1e-15 * hi:
                break
        if not np.isfinite(hi):  # pragma: no cover - 200 doublings exceed any float
            raise FloatingPointError("Huber line search diverged: the loss is unbounded")
        # bracket collapsed on a kink (or iteration cap): the root lies in [lo, hi]
        return float(brentq(lambda t: slope_curv(t)[0], lo, hi, xtol=1e-15 * hi, rtol=1e-15)
                     if slope_curv(lo)[0] < 0.0 < slope_curv(hi)[0] else hi)


# --------------------------------------------------------------------------------------------
# loss with exactly minimized intercept columns


class InterceptSquaredLoss(Loss):
    r"""``ℓ̃(Z) = min_W ½‖Y − Z − W Bᵀ‖² + (μ/2)‖W‖² = ½⟨R, R M⟩`` with ``R = Y − Z``.

    ``M = I − Q diag(w) Qᵀ`` (``Q``: orthonormal basis of ``range(B)``, ``wᵢ = σᵢ²/(σᵢ² + μ)``,
    ``= 1`` for ``μ = 0``), so ``0 ⪯ M ⪯ I`` and ``∇ℓ̃`` is 1-Lipschitz.
    ``G = −∇ℓ̃(Z) = R M``.  Conjugate bound: ``−ℓ̃*(−Λ) = ⟨Λ, Y⟩ − ½‖Λ‖² −
    ½Σ_{wᵢ<1} wᵢ/(1 − wᵢ)‖ΛQᵢ‖²`` on the domain ``ΛQᵢ = 0`` for every ``wᵢ = 1`` (checked to
    ``1e-9·‖Λ‖``, roundoff of the projection; ``−inf`` outside).  For ``μ > 0``,
    ``wᵢ/(1−wᵢ) = σᵢ²/μ``, i.e. the term ``−‖ΛB‖²/(2μ)`` of the ridge-penalized ``W`` block.
    """

    lipschitz = 1.0

    def __init__(self, y: np.ndarray, basis: np.ndarray, mu: float = 0.0):
        super().__init__(y)
        B = np.asarray(basis, dtype=float)
        if B.ndim != 2 or B.shape[0] != self.y.shape[1]:
            raise ValueError(f"intercept basis must have shape ({self.y.shape[1]}, q), got "
                             f"{B.shape}")
        if not np.all(np.isfinite(B)):
            raise ValueError("intercept basis contains NaN or infinite values")
        from .problems import check_lam  # problems imports this module

        mu = check_lam(mu, "intercept_reg")
        Q, s, Pt = np.linalg.svd(B, full_matrices=False)
        keep = s > 1e-12 * max(float(s.max(initial=0.0)), 1e-300)
        self.basis, self.mu = B, mu
        self.Q, self.sigma, self.Pt = Q[:, keep], s[keep], Pt[keep]
        self.w = np.ones(self.Q.shape[1]) if mu == 0 else self.sigma ** 2 / (self.sigma ** 2 + mu)
        self._exact = self.w >= 1.0  # unregularized directions: dual constraint ΛQᵢ = 0
        with np.errstate(divide="ignore"):
            self._ratio = np.where(self._exact, 0.0, self.w / np.where(self._exact, 1.0,
                                                                       1.0 - self.w))

    def _apply_m(self, R: np.ndarray) -> np.ndarray:
        return R - ((R @ self.Q) * self.w) @ self.Q.T

    def value(self, z: np.ndarray) -> float:
        R = self.y - z
        RQ = R @ self.Q
        return 0.5 * (_vdot(R, R) - float(np.sum(self.w * np.sum(RQ * RQ, axis=0))))

    def neg_gradient(self, z: np.ndarray) -> np.ndarray:
        return self._apply_m(self.y - z)

    def _extra(self, lam_dual: np.ndarray) -> float:
        LQ = lam_dual @ self.Q
        return float(np.sum(self._ratio * np.sum(LQ * LQ, axis=0)))

    def dual_value(self, lam_dual: np.ndarray) -> float:
        LQ = lam_dual @ self.Q
        viol = np.sqrt(np.sum(LQ[:, self._exact] ** 2))
        if viol > 1e-9 * max(np.linalg.norm(lam_dual), 1e-300):
            return -np.inf
        return _vdot(lam_dual, self.y) - 0.5 * _vdot(lam_dual, lam_dual) - 0.5 * self._extra(
            lam_dual)

    def best_dual_scale(self, g: np.ndarray, c_max: float) -> float:
        denom = _vdot(g, g) + self._extra(g)
        if denom == 0.0:
            return float(c_max)
        return float(np.clip(_vdot(g, self.y) / denom, 0.0, c_max))

    def line_search(self, z: np.ndarray, d: np.ndarray, weight: float) -> float:
        # ℓ̃(z + s d) + w s = ½⟨R − s d, (R − s d)M⟩ + w s: quadratic in s
        dm = self._apply_m(d)
        dd = _vdot(d, dm)
        if dd <= 0.0:
            return 0.0
        return max(0.0, (_vdot(self.y - z, dm) - weight) / dd)

    def intercept(self, z: np.ndarray) -> np.ndarray:
        """The exact minimizer ``W*(Z) = R B (BᵀB + μI)⁻¹`` (``m × q``)."""
        RQ = (self.y - z) @ self.Q  # B = QΣPᵀ ⇒ B(BᵀB + μ)⁻¹ = Q Σ(Σ² + μ)⁻¹ Pᵀ
        return (RQ * (self.sigma / (self.sigma ** 2 + self.mu))) @ self.Pt


__all__ += ["InterceptSquaredLoss"]
