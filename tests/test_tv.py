"""Graph total variation: TV prox, ℓ1+TV+ℓ2 gauge prox and LMO against CVXPY (CLARABEL)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import requires_cvxpy

from homfact.tv import (
    TVGraph,
    check_edges,
    grid_edges,
    lmo_l1_tv_l2,
    prox_l1_tv_l2,
    prox_tv,
    prox_tv_columns,
    tv_value,
)

try:
    import cvxpy as cp
except ImportError:  # pragma: no cover
    cp = None

#: CLARABEL at its default 1e-8 is only ~1e-5 accurate in x here; at 1e-13 it often reports
#: "optimal_inaccurate" but agrees with the certified prox to ~1e-10
TIGHT = {"tol_gap_abs": 1e-13, "tol_gap_rel": 1e-13, "tol_feas": 1e-13}


def _cvx_solve(prob):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Solution may be inaccurate"
        prob.solve(solver="CLARABEL", **TIGHT)
    assert prob.status in ("optimal", "optimal_inaccurate")


def _random_graph(rng, n, m):
    e = rng.integers(0, n, size=(m, 2))
    return e, rng.uniform(0.1, 2.0, size=m)


def _graphs(rng):
    e, w = _random_graph(rng, 30, 70)
    yield "random", 30, e, w
    for conn in (4, 8):
        e = grid_edges((6, 7), conn)
        yield f"grid{conn}", 42, e, rng.uniform(0.1, 2.0, size=len(e))


def _cvx_tv(X, e, w):
    return w @ cp.abs(X[e[:, 0]] - X[e[:, 1]])


# ---------------------------------------------------------------------------------- graphs


def test_grid_edges_counts_and_order():
    e4 = grid_edges((3, 4), 4)
    e8 = grid_edges((3, 4), 8)
    assert e4.shape == (3 * 3 + 2 * 4, 2)
    assert e8.shape == (17 + 2 * 2 * 3, 2)
    assert {tuple(p) for p in e4} >= {(0, 1), (0, 4)}  # row-major: right and down neighbours
    assert {tuple(p) for p in e8} >= {(0, 5), (1, 4)}  # both diagonals
    img = np.arange(12.0).reshape(3, 4)
    # TV of a row-major image on the 4-lattice = Σ horizontal + vertical differences
    assert tv_value(img.ravel(), e4) == pytest.approx(3 * 3 * 1 + 2 * 4 * 4)
    assert grid_edges((1, 1), 8).shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"edges": [[0, 5]], "n_nodes": 5}, "edges"),
        ({"edges": [[-1, 2]], "n_nodes": 5}, "edges"),
        ({"edges": [[0, 1, 2]], "n_nodes": 5}, "edges"),
        ({"edges": [[0.5, 1]], "n_nodes": 5}, "edges"),
        ({"edges": [[0, 1]], "n_nodes": 0}, "n_nodes"),
        ({"edges": [[0, 1]], "n_nodes": 5, "weights": [-1.0]}, "weights"),
        ({"edges": [[0, 1]], "n_nodes": 5, "weights": [1.0, 2.0]}, "weights"),
        ({"edges": [[0, 1]], "n_nodes": 5, "weights": [np.nan]}, "weights"),
    ],
)
def test_check_edges_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_edges(**kwargs)


def test_input_errors():
    e = grid_edges((3, 3), 4)
    y = np.zeros(9)
    with pytest.raises(ValueError, match="tau"):
        prox_tv(y, -1.0, e)
    with pytest.raises(ValueError, match="tol"):
        prox_tv(y, 1.0, e, tol=0.0)
    with pytest.raises(ValueError, match="edges"):
        prox_tv(np.zeros(5), 1.0, e)  # node index 8 out of range for 5 nodes
    with pytest.raises(ValueError, match="warm_start"):
        prox_tv(y, 1.0, e, warm_start=np.zeros(3))
    with pytest.raises(ValueError, match="y"):
        prox_tv(np.zeros((9, 2)), 1.0, e)
    with pytest.raises(ValueError, match="k1"):
        lmo_l1_tv_l2(np.ones(9), 0.0, 1.0, 0.0, e)
    with pytest.raises(ValueError, match="k2"):
        prox_l1_tv_l2(y, 1.0, 1.0, -1.0, 1.0, e)
    with pytest.raises(ValueError, match="weights"):
        prox_tv(y, 1.0, TVGraph(e, 9), weights=np.ones(len(e)))


# ---------------------------------------------------------------------------------- TV prox


@requires_cvxpy
def test_prox_tv_matches_cvxpy():
    rng = np.random.default_rng(0)
    for name, n, e, w in _graphs(rng):
        y = rng.standard_normal(n) * 2
        for tau in (0.05, 0.4, 3.0):
            x, info = prox_tv(y, tau, e, w, tol=1e-14)
            X = cp.Variable(n)
            prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - y) + tau * _cvx_tv(X, e, w)))
            _cvx_solve(prob)
            assert info["converged"]
            assert info["gap"] <= 1e-14 * max(1.0, info["primal"])
            assert np.abs(x - X.value).max() < 1e-6, (name, tau)
            assert info["primal"] == pytest.approx(prob.value, rel=1e-9, abs=1e-9)
            # the stated error bound really bounds the distance to the optimum
            assert np.linalg.norm(x - X.value) <= info["error_bound"] + 1e-7


def test_prox_tv_gap_is_certificate_and_warm_start():
    rng = np.random.default_rng(1)
    e = grid_edges((20, 20), 8)
    y = rng.standard_normal(400)
    x, info = prox_tv(y, 0.5, e, tol=1e-8)
    assert info["converged"] and 0 <= info["gap"] <= 1e-8 * max(1.0, info["primal"])
    # recompute primal and dual objectives independently from (x, q)
    g = TVGraph(e, 400)
    q = info["q"]
    assert np.all(np.abs(q) <= 0.5 * g.weights + 1e-15)
    xq = y - g.Dt @ q
    primal = 0.5 * np.sum((xq - y) ** 2) + 0.5 * tv_value(xq, e)
    dual = 0.5 * np.sum(y**2) - 0.5 * np.sum(xq**2)
    assert np.allclose(xq, x)
    assert primal - dual == pytest.approx(info["gap"], abs=1e-9)
    x2, info2 = prox_tv(y, 0.5, g, tol=1e-8, warm_start=q)
    assert info2["iterations"] <= 5 and np.allclose(x2, x, atol=1e-4)


def test_prox_tv_trivial_cases_and_columns():
    rng = np.random.default_rng(2)
    e = grid_edges((4, 5), 4)
    y = rng.standard_normal(20)
    x, info = prox_tv(y, 0.0, e)
    assert np.array_equal(x, y) and info["gap"] == 0
    # a huge τ gives the mean (the graph is connected)
    x, _ = prox_tv(y, 1e3, e, tol=1e-12)
    assert np.allclose(x, y.mean(), atol=1e-6)
    Y = rng.standard_normal((20, 3))
    X, info = prox_tv_columns(Y, [0.0, 0.3, 1.0], e, tol=1e-12)
    for i, tau in enumerate([0.0, 0.3, 1.0]):
        assert np.allclose(X[:, i], prox_tv(Y[:, i], tau, e, tol=1e-12)[0], atol=1e-8)
    assert info["q"].shape == (len(e), 3) and np.all(info["converged"])
    with pytest.warns(RuntimeWarning, match="duality gap"):
        prox_tv(rng.standard_normal(20), 1.0, e, tol=1e-15, max_iter=2)


# ----------------------------------------------------------------------- gauge prox and LMO


@requires_cvxpy
@pytest.mark.parametrize("nonnegative", [False, True])
def test_prox_l1_tv_l2_matches_cvxpy(nonnegative):
    rng = np.random.default_rng(3)
    for name, n, e, w in _graphs(rng):
        for _ in range(2):
            k1, k2, k3 = rng.uniform(0, 1.5, size=3)
            tau = rng.uniform(0.1, 1.0)
            y = rng.standard_normal(n) * 2
            x = prox_l1_tv_l2(y, tau, k1, k2, k3, e, w, nonnegative, tol=1e-14)
            X = cp.Variable(n, nonneg=nonnegative)
            pen = k1 * cp.norm1(X) + k2 * _cvx_tv(X, e, w) + k3 * cp.norm2(X)
            prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - y) + tau * pen))
            _cvx_solve(prob)
            assert np.abs(x - X.value).max() < 1e-6, (name, k1, k2, k3)
            if nonnegative:
                assert np.all(x >= 0)
            obj = 0.5 * np.sum((x - y) ** 2) + tau * _kappa(x, k1, k2, k3, e, w)
            assert obj <= prob.value + 1e-9
    # column-wise with one τ per column
    e = grid_edges((4, 4), 8)
    Y = rng.standard_normal((16, 2))
    Xc = prox_l1_tv_l2(Y, [0.2, 0.7], 0.3, 0.5, 0.4, e, None, nonnegative, tol=1e-12)
    for i, tau in enumerate([0.2, 0.7]):
        xi = prox_l1_tv_l2(Y[:, i], tau, 0.3, 0.5, 0.4, e, None, nonnegative, tol=1e-12)
        assert np.allclose(Xc[:, i], xi, atol=1e-8)


def _kappa(x, k1, k2, k3, e, w):
    return k1 * np.abs(x).sum() + k2 * tv_value(x, e, w) + k3 * np.linalg.norm(x)


@requires_cvxpy
@pytest.mark.parametrize("nonnegative", [False, True])
def test_lmo_matches_cvxpy(nonnegative):
    rng = np.random.default_rng(4)
    cases = [(1.0, 0.7, 1.0), (0.0, 1.0, 1.0), (0.5, 2.0, 0.0), (0.3, 0.0, 1.0)]
    for name, n, e, w in _graphs(rng):
        for ks in cases:
            g = rng.standard_normal(n)
            x, val, info = lmo_l1_tv_l2(g, *ks, e, w, nonnegative, tol=1e-9, return_info=True)
            X = cp.Variable(n, nonneg=nonnegative)
            a1, a2, a3 = ks
            cons = [a1 * cp.norm1(X) + a2 * _cvx_tv(X, e, w) + a3 * cp.norm2(X) <= 1]
            prob = cp.Problem(cp.Maximize(g @ X), cons)
            _cvx_solve(prob)
            # feasible point, exact value, rigorous bracket around CVXPY's optimum
            assert _kappa(x, *ks, e, w) == pytest.approx(1.0, rel=1e-12)
            if nonnegative:
                assert np.all(x >= 0)
            assert val == pytest.approx(g @ x, rel=1e-12)
            assert val == pytest.approx(prob.value, rel=1e-6), (name, ks)
            assert info["lower"] <= prob.value * (1 + 1e-8) + 1e-10
            assert info["upper"] >= prob.value * (1 - 1e-8) - 1e-10
            assert info["upper"] - info["lower"] <= 1e-9 * info["upper"] + 1e-12


def test_lmo_degenerate_inputs():
    e = grid_edges((3, 3), 4)
    x, val = lmo_l1_tv_l2(np.zeros(9), 1.0, 1.0, 1.0, e)
    assert val == 0.0 and not np.any(x)
    x, val = lmo_l1_tv_l2(-np.ones(9), 1.0, 1.0, 1.0, e, nonnegative=True)
    assert val == 0.0 and not np.any(x)
    # k2 = 0 reduces to the elastic net: compare with the exact closed form
    from homfact.gauges import ElasticNet

    g = np.random.default_rng(5).standard_normal(9)
    x, val = lmo_l1_tv_l2(g, 0.5, 0.0, 1.0, e, tol=1e-10)
    assert val == pytest.approx(ElasticNet(0.5).dual_value(g), rel=1e-9)


@requires_cvxpy
@pytest.mark.parametrize("nonnegative", [False, True])
def test_lmo_fixed_prox_tol_keeps_a_rigorous_bracket(nonnegative):
    """A loose fixed inner tolerance (``prox_tol``) still gives a feasible point and a bracket
    that contains CVXPY's optimum."""
    rng = np.random.default_rng(6)
    for name, n, e, w in _graphs(rng):
        for ks in [(1.0, 0.7, 1.0), (0.5, 2.0, 0.0)]:
            g = rng.standard_normal(n)
            x, val, info = lmo_l1_tv_l2(g, *ks, e, w, nonnegative, tol=3e-2, return_info=True,
                                        prox_tol=1e-3)
            X = cp.Variable(n, nonneg=nonnegative)
            cons = [ks[0] * cp.norm1(X) + ks[1] * _cvx_tv(X, e, w) + ks[2] * cp.norm2(X) <= 1]
            prob = cp.Problem(cp.Maximize(g @ X), cons)
            _cvx_solve(prob)
            assert _kappa(x, *ks, e, w) == pytest.approx(1.0, rel=1e-12)
            assert val == pytest.approx(g @ x, rel=1e-12)
            assert info["lower"] <= prob.value * (1 + 1e-8) + 1e-10
            assert info["upper"] >= prob.value * (1 - 1e-8) - 1e-10, (name, ks)
    with pytest.raises(ValueError, match="tol"):
        lmo_l1_tv_l2(np.ones(9), 1.0, 1.0, 1.0, grid_edges((3, 3), 4), prox_tol=2.0)
