"""Gauges: value, prox (column-wise, per-column weights) and LMO / dual gauge.

Every prox is checked against CVXPY, every LMO against CVXPY or a brute-force enumeration, and the
ElasticNet dual value (closed-form root finding) against CVXPY and a bisection to machine precision.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    cp,
    cvx_solve,
    elastic_net_dual_bisection,
    independent_dual,
    requires_cvxpy,
)

import homfact as hf
from homfact.gauges import group_shrink, soft_threshold

GAUGES = [
    hf.L2(),
    hf.L1(),
    hf.ElasticNet(0.0),
    hf.ElasticNet(0.3),
    hf.ElasticNet(2.0),
    hf.NonNegative(hf.L2()),
    hf.NonNegative(hf.L1()),
    hf.NonNegative(hf.ElasticNet(0.5)),
]
IDS = [repr(g) for g in GAUGES]


def _base(g):
    return g.base if isinstance(g, hf.NonNegative) else g


def cvx_gauge(g, x):
    """CVXPY expression of the gauge (without the sign constraint) and the constraints."""
    b = _base(g)
    if isinstance(b, hf.ElasticNet) and b.gamma > 0:
        expr = cp.norm(x, 2) + b.gamma * cp.norm(x, 1)
    elif isinstance(b, hf.L1):
        expr = cp.norm(x, 1)
    else:
        expr = cp.norm(x, 2)
    cons = [x >= 0] if g.nonnegative else []
    return expr, cons


def numpy_gauge(g, x):
    b = _base(g)
    val = np.linalg.norm(x)
    if isinstance(b, hf.L1):
        val = np.abs(x).sum()
    elif isinstance(b, hf.ElasticNet):
        val = np.linalg.norm(x) + b.gamma * np.abs(x).sum()
    if g.nonnegative and np.any(x < 0):
        return np.inf
    return float(val)


def cvx_prox(g, x, w):
    y = cp.Variable(x.shape[0])
    expr, cons = cvx_gauge(g, y)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y - x) + w * expr), cons)
    cvx_solve(prob)
    return np.asarray(y.value)


def cvx_dual(g, v):
    x = cp.Variable(v.shape[0])
    expr, cons = cvx_gauge(g, x)
    prob = cp.Problem(cp.Maximize(v @ x), [expr <= 1, *cons])
    return max(cvx_solve(prob), 0.0)


# ----------------------------------------------------------------------------------------------
# value
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("g", GAUGES, ids=IDS)
def test_value_vector_and_columns(g, rng):
    X = np.abs(rng.standard_normal((6, 4))) if g.nonnegative else rng.standard_normal((6, 4))
    vals = g.value(X)
    assert vals.shape == (4,)
    for j in range(4):
        assert g.value(X[:, j]) == pytest.approx(numpy_gauge(g, X[:, j]), rel=1e-12)
        assert vals[j] == pytest.approx(numpy_gauge(g, X[:, j]), rel=1e-12)
        # l2_floor is a valid constant: κ(x) ≥ c‖x‖₂
        assert vals[j] >= g.l2_floor * np.linalg.norm(X[:, j]) * (1 - 1e-12)
    assert g.value(np.zeros(5)) == 0.0


@pytest.mark.parametrize("g", [g for g in GAUGES if g.nonnegative], ids=lambda g: repr(g))
def test_nonnegative_value_is_infinite_outside_orthant(g):
    X = np.array([[1.0, 1.0], [-1e-3, 2.0]])
    vals = g.value(X)
    assert np.isinf(vals[0]) and np.isfinite(vals[1])


@pytest.mark.parametrize("g", [hf.L2(), hf.L1(), hf.ElasticNet(0.7)], ids=repr)
def test_l2_floor_is_attained_or_tight(g):
    # the floor is the best constant for these gauges: attained at a coordinate vector
    e = np.zeros(5)
    e[2] = 1.0
    assert g.value(e) == pytest.approx(g.l2_floor, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# prox
# ----------------------------------------------------------------------------------------------
def prox_objective(g, x, w, p) -> float:
    return 0.5 * float(np.sum((p - x) ** 2)) + w * numpy_gauge(g, p)


def assert_is_prox(g, x, w, p):
    """KKT certificate: ``q = x − p ∈ w∂κ(p)`` ⟺ ``κ°(q) ≤ w`` and ``⟨q, p⟩ = w κ(p)``."""
    assert numpy_gauge(g, p) < np.inf  # feasible (non-negative when required)
    q = x - p
    scale = 1.0 + np.linalg.norm(x)
    assert independent_dual(g, q) <= w * (1 + 1e-10) + 1e-12
    assert float(q @ p) == pytest.approx(w * numpy_gauge(g, p), abs=1e-10 * scale**2)


def assert_matches_cvxpy(g, x, w, p):
    ref = cvx_prox(g, x, w)
    # the library is at least as good as the conic solver, and lands on the same point
    assert prox_objective(g, x, w, p) <= prox_objective(g, x, w, np.maximum(ref, 0) if
                                                         g.nonnegative else ref) + 1e-9
    np.testing.assert_allclose(p, ref, atol=1e-4)


@requires_cvxpy
@pytest.mark.parametrize("g", GAUGES, ids=IDS)
@pytest.mark.parametrize("seed", range(3))
def test_prox_vector_matches_cvxpy(g, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(7) * 2
    for w in (0.0, 0.2, 1.3):
        p = g.prox(x, w)
        assert p.shape == x.shape
        assert_is_prox(g, x, w, p)
        assert_matches_cvxpy(g, x, w, p)


@requires_cvxpy
@pytest.mark.parametrize("g", GAUGES, ids=IDS)
def test_prox_matrix_columnwise_weights_match_cvxpy(g, rng):
    X = rng.standard_normal((6, 4)) * 2
    w = np.array([0.0, 0.4, 1.1, 100.0])  # the last weight kills its column
    P = g.prox(X, w)
    assert P.shape == X.shape
    for j in range(4):
        assert_is_prox(g, X[:, j], w[j], P[:, j])
        assert_matches_cvxpy(g, X[:, j], w[j], P[:, j])
        # column j depends only on its own weight: same as the vector prox
        np.testing.assert_allclose(P[:, j], g.prox(X[:, j], w[j]), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(P[:, 3], 0.0)


@pytest.mark.parametrize("g", GAUGES, ids=IDS)
@pytest.mark.parametrize("seed", range(20))
def test_prox_kkt_certificate(g, seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 12))
    x = rng.standard_normal(n) * rng.uniform(0.1, 5)
    w = float(rng.uniform(0, 3))
    assert_is_prox(g, x, w, g.prox(x, w))


@pytest.mark.parametrize("g", GAUGES, ids=IDS)
def test_prox_scalar_weight_broadcasts(g, rng):
    X = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(g.prox(X, 0.5), g.prox(X, np.full(3, 0.5)))


@pytest.mark.parametrize("g", GAUGES, ids=IDS)
def test_prox_zero_weight_is_projection(g, rng):
    X = rng.standard_normal((5, 3))
    expected = np.maximum(X, 0) if g.nonnegative else X
    np.testing.assert_allclose(g.prox(X, 0.0), expected, atol=0)


@pytest.mark.parametrize("g", GAUGES, ids=IDS)
@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf])
def test_prox_rejects_bad_weights(g, bad):
    with pytest.raises(ValueError, match="weights"):
        g.prox(np.ones(3), bad)
    with pytest.raises(ValueError, match="weights"):
        g.prox(np.ones((3, 2)), np.array([0.1, bad]))


def test_prox_rejects_3d_input():
    with pytest.raises(ValueError, match="vector or a matrix"):
        hf.L2().prox(np.ones((2, 2, 2)), 0.1)


def test_closed_form_helpers(rng):
    x = rng.standard_normal((6, 3))
    t = np.array([0.1, 0.5, 10.0])
    np.testing.assert_allclose(soft_threshold(x, 0.3), np.sign(x) * np.maximum(np.abs(x) - 0.3, 0))
    gs = group_shrink(x, t)
    for j in range(3):
        nrm = np.linalg.norm(x[:, j])
        np.testing.assert_allclose(gs[:, j], x[:, j] * max(0.0, 1 - t[j] / nrm))
    np.testing.assert_array_equal(group_shrink(np.zeros((3, 2)), np.array([0.0, 1.0])), 0.0)


# ----------------------------------------------------------------------------------------------
# LMO and dual gauge
# ----------------------------------------------------------------------------------------------
def _check_lmo(g, v, value):
    x, val = g.lmo(v)
    assert val == pytest.approx(value, rel=1e-6, abs=1e-9)
    assert g.dual(v) == pytest.approx(val, rel=1e-12, abs=1e-15)
    assert x.shape == v.shape
    if val > 0:
        assert g.value(x) <= 1 + 1e-10  # feasible
        assert float(v @ x) == pytest.approx(val, rel=1e-10)  # attains the value
    else:
        np.testing.assert_array_equal(x, 0.0)


@requires_cvxpy
@pytest.mark.parametrize("g", GAUGES, ids=IDS)
@pytest.mark.parametrize("seed", range(4))
def test_lmo_matches_cvxpy(g, seed):
    rng = np.random.default_rng(100 + seed)
    v = rng.standard_normal(6)
    _check_lmo(g, v, cvx_dual(g, v))


@pytest.mark.parametrize("seed", range(5))
def test_l1_lmo_brute_force(seed):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(7)
    # extreme points of the ℓ1 ball are ±e_i
    brute = max(max(v), max(-v))
    _check_lmo(hf.L1(), v, brute)
    brute_nn = max(0.0, max(v))
    _check_lmo(hf.NonNegative(hf.L1()), v, brute_nn)


@pytest.mark.parametrize("seed", range(5))
def test_l2_lmo_closed_form(seed):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(7)
    _check_lmo(hf.L2(), v, np.linalg.norm(v))
    _check_lmo(hf.NonNegative(hf.L2()), v, np.linalg.norm(np.maximum(v, 0)))


@pytest.mark.parametrize("g", GAUGES, ids=IDS)
def test_lmo_of_zero_and_of_nonpositive(g):
    _check_lmo(g, np.zeros(4), 0.0)
    if g.nonnegative:
        _check_lmo(g, -np.array([1.0, 2.0, 0.5]), 0.0)


GAMMAS = [0.0, 0.1, 0.5, 2.0, 10.0]


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("seed", range(6))
def test_elasticnet_dual_value_exact_vs_bisection(gamma, seed):
    rng = np.random.default_rng(seed)
    n = [1, 2, 4, 5, 9, 30][seed]
    v = rng.standard_normal(n) * rng.uniform(0.1, 10)
    g = hf.ElasticNet(gamma)
    mu = g.dual_value(v)
    assert mu == pytest.approx(elastic_net_dual_bisection(v, gamma), rel=1e-12, abs=1e-300)
    x, val = g.lmo(v)
    assert val == pytest.approx(mu, rel=1e-12)
    assert g.value(x) == pytest.approx(1.0, rel=1e-12)
    assert float(v @ x) == pytest.approx(mu, rel=1e-12)


@requires_cvxpy
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("seed", range(2))
def test_elasticnet_dual_value_vs_cvxpy(gamma, seed):
    rng = np.random.default_rng(50 + seed)
    v = rng.standard_normal(8)
    g = hf.ElasticNet(gamma)
    assert g.dual_value(v) == pytest.approx(cvx_dual(g, v), rel=1e-6)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_elasticnet_dual_value_special_vectors(gamma):
    g = hf.ElasticNet(gamma)
    # single non-zero: μ = |a|/(1+γ)
    assert g.dual_value(np.array([0.0, -3.0, 0.0])) == pytest.approx(3.0 / (1 + gamma), rel=1e-13)
    # flat vector of length n: support is everything, μ = a·sqrt(n)/(1 + γ·sqrt(n))
    for n in (1, 4, 25, 100):  # n = 4 with γ = 0.5 makes the quadratic degenerate (kγ² = 1)
        a = 1.7
        expect = a * np.sqrt(n) / (1 + gamma * np.sqrt(n))
        assert g.dual_value(np.full(n, a)) == pytest.approx(expect, rel=1e-12)
    # ties and zeros mixed
    v = np.array([2.0, -2.0, 2.0, 0.0, 1e-3, -1e-3])
    assert g.dual_value(v) == pytest.approx(elastic_net_dual_bisection(v, gamma), rel=1e-12)
    assert g.dual_value(np.zeros(3)) == 0.0


def test_elasticnet_reduces_to_l2_and_rejects_bad_gamma():
    v = np.array([1.0, -2.0, 0.5])
    assert hf.ElasticNet(0.0).dual(v) == pytest.approx(np.linalg.norm(v), rel=1e-14)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="gamma"):
            hf.ElasticNet(bad)


def test_nonnegative_rejects_non_absolute_base():
    with pytest.raises(TypeError, match="base"):
        hf.NonNegative(hf.NonNegative())


def test_gauge_equality_and_hash():
    assert hf.ElasticNet(0.5) == hf.ElasticNet(0.5)
    assert hf.ElasticNet(0.5) != hf.ElasticNet(0.6)
    assert hf.L1() != hf.L2()
    assert hf.NonNegative(hf.L1()) == hf.NonNegative(hf.L1())
    assert len({hf.L2(), hf.L2(), hf.NonNegative(), hf.NonNegative(hf.L2())}) == 2
