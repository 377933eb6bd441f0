"""Factor gauges: norms (optionally restricted to the non-negative orthant) on one factor column.

Each gauge ``κ`` implements, column-wise for a vector ``x`` (shape ``(n,)``) or a matrix of
columns (shape ``(n, r)``)::

    value(x)          κ(x)  (+∞ for a column outside the gauge's domain)
    prox(x, w)        argmin_y ½‖y − x‖² + w κ(y), one weight w ≥ 0 per column
    lmo(g)            (x*, κ°(g)) with x* ∈ argmax_{κ(x) ≤ 1} ⟨g, x⟩ and κ° the dual gauge
    dual(g)           κ°(g)
    l2_floor          a constant c > 0 with κ(x) ≥ c‖x‖₂ (used for rigorous polar upper bounds)

All proxes here are exact and closed-form or computed to machine precision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["L1", "L2", "ElasticNet", "Gauge", "NonNegative"]


def _as_columns(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        return x[:, None], True
    if x.ndim != 2:
        raise ValueError(f"expected a vector or a matrix of columns, got shape {x.shape}")
    return x, False


def _column_weights(w: float | np.ndarray, r: int) -> np.ndarray:
    w = np.broadcast_to(np.asarray(w, dtype=float), (r,))
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("prox weights must be finite and non-negative")
    return w


def soft_threshold(x: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Entrywise ``sign(x)·max(|x| − t, 0)``, the prox of ``t‖·‖₁``."""
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def group_shrink(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Column-wise ``x·max(0, 1 − t/‖x‖₂)``, the prox of ``t‖·‖₂`` (``x`` has shape ``(n, r)``)."""
    norms = np.linalg.norm(x, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > t, 1.0 - t / np.where(norms > 0, norms, 1.0), 0.0)
    return x * scale


class Gauge(ABC):
    """A gauge (norm, possibly restricted to a cone) on one factor column."""

    #: κ(x) ≥ l2_floor·‖x‖₂ for every x; NaN (unknown) for a new gauge until it states one, and
    #: then no polar upper bound (hence no "global" status) is derived from it.
    l2_floor: float = float("nan")
    #: True when κ(x) = +∞ outside the non-negative orthant.
    nonnegative: bool = False

    def value(self, x: np.ndarray) -> np.ndarray | float:
        """Return ``κ(x)`` (scalar for a vector, one value per column for a matrix)."""
        cols, vec = _as_columns(x)
        v = self._value(cols)
        return float(v[0]) if vec else v

    def prox(self, x: np.ndarray, weights: float | np.ndarray) -> np.ndarray:
        """Return ``argmin_y ½‖y − x‖² + w_i κ(y)`` for each column ``x_i`` with weight ``w_i``."""
        cols, vec = _as_columns(x)
        out = self._prox(cols, _column_weights(weights, cols.shape[1]))
        return out[:, 0] if vec else out

    def dual(self, g: np.ndarray) -> float:
        """Return the dual gauge ``κ°(g) = max_{κ(x) ≤ 1} ⟨g, x⟩`` of one vector."""
        return self.lmo(g)[1]

    @abstractmethod
    def lmo(self, g: np.ndarray) -> tuple[np.ndarray, float]:
        """Return ``(x*, κ°(g))``, ``x* ∈ argmax_{κ(x) ≤ 1} ⟨g, x⟩`` (``x* = 0`` if κ°(g) = 0)."""

    @abstractmethod
    def _value(self, cols: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _prox(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class L2(Gauge):
    """``κ(x) = ‖x‖₂``; prox = group shrinkage, LMO = ``g/‖g‖₂``, dual = ``‖g‖₂``."""

    l2_floor = 1.0

    def _value(self, cols: np.ndarray) -> np.ndarray:
        return np.linalg.norm(cols, axis=0)

    def _prox(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
        return group_shrink(cols, w)

    def lmo(self, g: np.ndarray) -> tuple[np.ndarray, float]:
        g = np.asarray(g, dtype=float)
        nrm = float(np.linalg.norm(g))
        return (g / nrm if nrm > 0 else np.zeros_like(g)), nrm


class L1(Gauge):
    """``κ(x) = ‖x‖₁``; prox = soft-thresholding, LMO = ``sign(g_j)e_j`` at ``j = argmax|g|``."""

    l2_floor = 1.0  # ‖x‖₁ ≥ ‖x‖₂

    def _value(self, cols: np.ndarray) -> np.ndarray:
        return np.abs(cols).sum(axis=0)

    def _prox(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
        return soft_threshold(cols, w)

    def lmo(self, g: np.ndarray) -> tuple[np.ndarray, float]:
        g = np.asarray(g, dtype=float)
        x = np.zeros_like(g)
        if g.size == 0:
            return x, 0.0
        j = int(np.argmax(np.abs(g)))
        val = float(abs(g[j]))
        if val > 0:
            x[j] = np.sign(g[j])
        return x, val


class ElasticNet(Gauge):
    """``κ(x) = ‖x‖₂ + γ‖x‖₁`` (γ ≥ 0), the code gauge of sparse dictionary learning.

    prox (docs: theory/proxes-and-gauges, 'Composition rule'): ``shrink₂(soft(x, wγ), w)``.
    LMO: find ``μ ≥ 0`` with ``‖soft(g, γμ)‖₂ = μ``; then ``κ°(g) = μ`` and
    ``x* = soft(g, γμ)/κ(soft(g, γμ))``.  ``‖soft(g, γμ)‖₂ − μ`` is strictly decreasing in μ and
    piecewise of the form ``sqrt(a − 2bμ + cμ²) − μ`` between breakpoints ``|g_j|/γ``, so the root
    is found exactly by sorting ``|g|`` and solving one quadratic.
    """

    def __init__(self, gamma: float = 1.0):
        if not np.isfinite(gamma) or gamma < 0:
            raise ValueError(f"gamma must be finite and >= 0, got {gamma!r}")
        self.gamma = float(gamma)
        self.l2_floor = 1.0 + self.gamma

    def __repr__(self) -> str:
        return f"ElasticNet(gamma={self.gamma!r})"

    def _value(self, cols: np.ndarray) -> np.ndarray:
        return np.linalg.norm(cols, axis=0) + self.gamma * np.abs(cols).sum(axis=0)

    def _prox(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
        return group_shrink(soft_threshold(cols, w * self.gamma), w)

    def dual_value(self, g: np.ndarray) -> float:
        """Exact ``κ°(g)``: the root μ of ``‖soft(g, γμ)‖₂ = μ``."""
        a = np.sort(np.abs(np.asarray(g, dtype=float)))[::-1]
        if a.size == 0 or a[0] == 0:
            return 0.0
        if self.gamma == 0:
            return float(np.linalg.norm(a))
        gam = self.gamma
        s1 = s2 = 0.0
        for k in range(a.size):
            # support = the k+1 largest entries: ‖soft‖² = s2 − 2γμ s1 + k γ² μ² (k = |support|)
            s1 += a[k]
            s2 += a[k] * a[k]
            kk = k + 1
            # solve s2 − 2γμ s1 + kk γ² μ² = μ²  →  (kk γ² − 1) μ² − 2γ s1 μ + s2 = 0
            qa, qb, qc = kk * gam * gam - 1.0, -2.0 * gam * s1, s2
            if abs(qa) < 1e-15:
                roots = [qc / (-qb)]
            else:
                disc = max(qb * qb - 4 * qa * qc, 0.0)
                roots = [(-qb - np.sqrt(disc)) / (2 * qa), (-qb + np.sqrt(disc)) / (2 * qa)]
            lower = a[kk] / gam if kk < a.size else 0.0
            upper = a[k] / gam
            for mu in roots:
                if lower - 1e-12 * upper <= mu <= upper * (1 + 1e-12) and mu > 0:
                    return float(mu)
        # Numerical fallback (never reached in exact arithmetic): bisection on the monotone map.
        lo, hi = 0.0, float(np.linalg.norm(a))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.linalg.norm(np.maximum(a - gam * mid, 0.0)) > mid:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def lmo(self, g: np.ndarray) -> tuple[np.ndarray, float]:
        g = np.asarray(g, dtype=float)
        mu = self.dual_value(g)
        if mu == 0:
            return np.zeros_like(g), 0.0
        x = soft_threshold(g, self.gamma * mu)
        kx = float(self._value(x[:, None])[0])
        if kx == 0:  # pragma: no cover - only when g = 0
            return np.zeros_like(g), 0.0
        return x / kx, float(np.dot(g, x / kx))


class NonNegative(Gauge):
    """``κ₊(x) = κ(x) + ι{x ≥ 0}`` for an absolute norm ``κ`` (``L2``, ``L1``, ``ElasticNet``).

    For such ``κ``: ``prox_{wκ₊}(x) = prox_{wκ}(max(x, 0))`` and ``lmo_{κ₊}(g) = lmo_κ(max(g, 0))``
    (an absolute norm is monotone in ``|x|``, and its prox and LMO map non-negative vectors to
    non-negative vectors).
    """

    nonnegative = True

    def __init__(self, base: Gauge | None = None):
        base = L2() if base is None else base
        if not isinstance(base, L2 | L1 | ElasticNet):
            raise TypeError(
                f"base must be an absolute norm gauge (L2, L1 or ElasticNet), got {base!r}"
            )
        self.base = base
        self.l2_floor = base.l2_floor

    def __repr__(self) -> str:
        return f"NonNegative({self.base!r})"

    def __hash__(self) -> int:
        return hash(("NonNegative", self.base))

    def _value(self, cols: np.ndarray) -> np.ndarray:
        v = self.base._value(cols)
        return np.where(np.all(cols >= 0, axis=0), v, np.inf)

    def _prox(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
        return self.base._prox(np.maximum(cols, 0.0), w)

    def lmo(self, g: np.ndarray) -> tuple[np.ndarray, float]:
        return self.base.lmo(np.maximum(np.asarray(g, dtype=float), 0.0))
