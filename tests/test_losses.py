"""Losses: value, gradient, Lipschitz constant, conjugate bound, best dual scale, line search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import homfact as hf


def huber_np(r: np.ndarray, delta: float) -> float:
    a = np.abs(r)
    return float(np.sum(np.where(a <= delta, 0.5 * a**2, delta * a - 0.5 * delta**2)))


LOSSES = [
    ("squared", lambda y: hf.SquaredLoss(y)),
    ("huber0.3", lambda y: hf.HuberLoss(y, delta=0.3)),
    ("huber1", lambda y: hf.HuberLoss(y, delta=1.0)),
    ("huber5", lambda y: hf.HuberLoss(y, delta=5.0)),
    ("huber_w3", lambda y: hf.HuberLoss(y, delta=0.5, weight=3.0)),
    ("huber_w0.2", lambda y: hf.HuberLoss(y, delta=2.0, weight=0.2)),
]


def _weight(loss) -> float:
    return getattr(loss, "weight", 1.0)


def _dual_box(loss) -> float:
    """Dual domain of the loss: ‖Λ‖_∞ ≤ wδ for w·Huber, unbounded for squared."""
    return _weight(loss) * getattr(loss, "delta", np.inf)


@pytest.mark.parametrize(("name", "make"), LOSSES)
@pytest.mark.parametrize("shape", [(7,), (4, 5)])
def test_value_and_gradient(name, make, shape, rng):
    y = rng.standard_normal(shape) * 2
    loss = make(y)
    z = rng.standard_normal(shape) * 2
    r = y - z
    expected = (0.5 * float(np.sum(r**2)) if name == "squared"
                else _weight(loss) * huber_np(r, loss.delta))
    assert loss.value(z) == pytest.approx(expected, rel=1e-13)
    G = loss.neg_gradient(z)
    assert G.shape == z.shape
    # central finite differences of ℓ give −G
    eps = 1e-6
    for idx in list(np.ndindex(*shape))[:6]:
        e = np.zeros(shape)
        e[idx] = eps
        fd = (loss.value(z + e) - loss.value(z - e)) / (2 * eps)
        assert -G[idx] == pytest.approx(fd, abs=1e-6)
    assert loss.value(y) == 0.0
    np.testing.assert_array_equal(loss.neg_gradient(y), 0.0)


@pytest.mark.parametrize(("name", "make"), LOSSES)
def test_gradient_lipschitz_constant(name, make, rng):
    y = rng.standard_normal(20) * 3
    loss = make(y)
    for _ in range(50):
        a, b = rng.standard_normal(20) * 3, rng.standard_normal(20) * 3
        diff = np.linalg.norm(loss.neg_gradient(a) - loss.neg_gradient(b))
        assert diff <= loss.lipschitz * np.linalg.norm(a - b) * (1 + 1e-12)


@pytest.mark.parametrize(("name", "make"), LOSSES)
def test_conjugate_fenchel_young_and_tightness(name, make, rng):
    """``−ℓ*(−Λ) = inf_z ℓ(z) + ⟨Λ, z⟩``: below every ``ℓ(z) + ⟨Λ, z⟩``, equal at ``z = y − Λ``."""
    y = rng.standard_normal(12) * 2
    loss = make(y)
    box = _dual_box(loss)
    for _ in range(20):
        lam_dual = rng.uniform(-1, 1, 12) * min(box, 3.0)  # inside the dual domain |Λ| ≤ wδ
        d = loss.dual_value(lam_dual)
        for _ in range(10):
            z = y + rng.standard_normal(12) * 3
            assert d <= loss.value(z) + float(lam_dual @ z) + 1e-10
        # the infimum is attained where −∇ℓ(z) = Λ, i.e. z = y − Λ/w
        z_star = y - lam_dual / _weight(loss)
        np.testing.assert_allclose(loss.neg_gradient(z_star), lam_dual, atol=1e-14)
        assert d == pytest.approx(loss.value(z_star) + float(lam_dual @ z_star), rel=1e-12,
                                  abs=1e-12)


@pytest.mark.parametrize(("name", "make"), LOSSES)
def test_best_dual_scale_maximizes_over_feasible_scales(name, make, rng):
    y = rng.standard_normal(15) * 2
    loss = make(y)
    box = _dual_box(loss)
    for trial in range(20):
        z = y + rng.standard_normal(15) * rng.uniform(0.1, 4)
        g = loss.neg_gradient(z)
        c_max = [1.0, 0.5, 0.05, 2.0][trial % 4]
        c = loss.best_dual_scale(g, c_max)
        assert 0.0 <= c <= c_max
        assert np.max(np.abs(c * g)) <= box * (1 + 1e-12)  # stays in the dual domain
        feasible_max = min(c_max, box / np.max(np.abs(g))) if np.any(g) else c_max
        grid = np.linspace(0.0, feasible_max, 1001)
        best_grid = max(loss.dual_value(t * g) for t in grid)
        assert loss.dual_value(c * g) >= best_grid - 1e-12 * max(1.0, abs(best_grid))


def test_best_dual_scale_formula_squared(rng):
    y = rng.standard_normal(10)
    loss = hf.SquaredLoss(y)
    g = rng.standard_normal(10)
    vertex = float(g @ y) / float(g @ g)
    assert loss.best_dual_scale(g, 10.0) == pytest.approx(np.clip(vertex, 0, 10.0))
    assert loss.best_dual_scale(g, 1e-3) == pytest.approx(min(max(vertex, 0), 1e-3))
    assert loss.best_dual_scale(np.zeros(10), 0.7) == 0.7
    # ⟨G, y⟩ < 0: the best scale is 0
    assert loss.best_dual_scale(-y, 1.0) == 0.0


@pytest.mark.parametrize(("name", "make"), LOSSES)
def test_line_search_is_exact(name, make, rng):
    y = rng.standard_normal(12) * 2
    loss = make(y)
    for _ in range(15):
        z = rng.standard_normal(12)
        d = rng.standard_normal(12)
        w = float(rng.uniform(0, 2))
        s = loss.line_search(z, d, w)
        assert s >= 0

        def phi(t, z=z, d=d, w=w):
            return loss.value(z + t * d) + w * t

        ref = minimize_scalar(phi, bounds=(0.0, 100.0), method="bounded",
                              options={"xatol": 1e-12})
        best = min(phi(0.0), ref.fun)
        assert phi(s) <= best + 1e-9 * max(1.0, abs(best))
        # optimality: slope ≥ 0 to the right, and = 0 when s > 0 (convex 1-D problem)
        slope = w - float(loss.neg_gradient(z + s * d) @ d)
        if s > 0:
            assert slope == pytest.approx(0.0, abs=1e-8 * (1 + np.linalg.norm(d) ** 2))
        else:
            assert slope >= -1e-10


def test_line_search_squared_closed_form(rng):
    y = rng.standard_normal(8)
    loss = hf.SquaredLoss(y)
    z, d = rng.standard_normal(8), rng.standard_normal(8)
    w = 0.3
    expected = max(0.0, (float((y - z) @ d) - w) / float(d @ d))
    assert loss.line_search(z, d, w) == pytest.approx(expected, rel=1e-14)
    assert loss.line_search(z, np.zeros(8), w) == 0.0
    assert hf.HuberLoss(y).line_search(z, np.zeros(8), w) == 0.0


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_huber_rejects_bad_delta_and_weight(bad):
    with pytest.raises(ValueError, match="delta"):
        hf.HuberLoss(np.ones(3), delta=bad)
    with pytest.raises(ValueError, match="weight"):
        hf.HuberLoss(np.ones(3), weight=bad)


def test_huber_matches_squared_for_small_residuals(rng):
    y = rng.standard_normal(10)
    z = y + 0.01 * rng.standard_normal(10)
    assert hf.HuberLoss(y, 1.0).value(z) == pytest.approx(hf.SquaredLoss(y).value(z), rel=1e-14)
    # and is linear (slope δ) far out
    big = y + 100.0
    assert hf.HuberLoss(y, 0.5).value(big) == pytest.approx(10 * (0.5 * 100 - 0.125), rel=1e-13)
