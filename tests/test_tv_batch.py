"""Batched graph-TV prox (all columns at once) and the warm-started LMO of :mod:`homfact.tv`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from homfact.tv import (
    L1TVL2,
    TVGraph,
    _next_mu,
    _prox_tv_batch,
    grid_edges,
    lmo_l1_tv_l2,
    prox_l1_tv_l2,
    prox_tv,
    prox_tv_columns,
    tv_value,
)


def _graph(seed=0, shape=(8, 9)):
    rng = np.random.default_rng(seed)
    e = grid_edges(shape, 8)
    w = rng.uniform(0.2, 2.0, size=len(e))
    return TVGraph(e, shape[0] * shape[1], w), rng


def _check_certificate(y, x, q, tau, g, info_gap, tol):
    """Recompute primal, dual and gap of one column from ``(y, q)`` independently."""
    assert np.all(np.abs(q) <= tau * g.weights * (1 + 1e-12) + 1e-15)
    xq = y - g.Dt @ q
    assert np.allclose(xq, x, atol=1e-12)
    primal = 0.5 * np.sum((xq - y) ** 2) + tau * tv_value(xq, g)
    dual = 0.5 * np.sum(y**2) - 0.5 * np.sum(xq**2)
    assert primal - dual == pytest.approx(info_gap, abs=1e-9)
    assert info_gap <= tol * max(1.0, primal) + 1e-12


def test_batch_equals_column_by_column_with_mixed_taus():
    g, rng = _graph(0)
    Y = rng.standard_normal((g.n_nodes, 7)) * 2
    taus = np.array([0.3, 0.0, 2.0, 0.05, 0.0, 0.7, 5.0])
    tol = 1e-10
    X, info = prox_tv_columns(Y, taus, g, tol=tol)
    assert X.shape == Y.shape and info["q"].shape == (g.n_edges, 7)
    for key in ("gap", "primal", "dual", "iterations", "converged", "error_bound"):
        assert info[key].shape == (7,)
    assert info["tol"] == tol
    for j, tau in enumerate(taus):
        x1, i1 = prox_tv(Y[:, j], tau, g, tol=tol)
        # the same iteration per column: same result, same stopping check
        assert np.abs(X[:, j] - x1).max() <= 1e-9
        assert abs(int(info["iterations"][j]) - i1["iterations"]) <= 5
        assert bool(info["converged"][j]) and i1["converged"]
        assert info["error_bound"][j] == pytest.approx(np.sqrt(2 * info["gap"][j]))
        assert info["dual"][j] == pytest.approx(info["primal"][j] - info["gap"][j])
        _check_certificate(Y[:, j], X[:, j], info["q"][:, j], tau, g, info["gap"][j], tol)
    # τ = 0 columns are returned exactly, with zero iterations and a zero dual
    for j in np.flatnonzero(taus == 0):
        assert np.array_equal(X[:, j], Y[:, j])
        assert info["iterations"][j] == 0 and info["gap"][j] == 0
        assert not np.any(info["q"][:, j])
    # columns stop independently: the easy ones (large τ: the mean) are not held back
    assert len(set(info["iterations"][taus > 0].tolist())) > 1


def test_batch_single_column_agrees_with_the_vector_path():
    """``r = 1`` through the batch code and through the scalar single-vector code: the same
    iteration (up to rounding), so the same answer, check count and info types."""
    g, rng = _graph(1)
    for tau in (0.05, 0.4, 3.0):
        y = rng.standard_normal(g.n_nodes)
        x, info = prox_tv(y, tau, g, tol=1e-9)
        X, binfo = prox_tv_columns(y[:, None], tau, g, tol=1e-9)
        assert np.abs(X[:, 0] - x).max() <= 1e-9
        assert abs(int(binfo["iterations"][0]) - info["iterations"]) <= 5
        assert np.abs(binfo["q"][:, 0] - info["q"]).max() <= 1e-6
        _check_certificate(y, X[:, 0], binfo["q"][:, 0], tau, g, binfo["gap"][0], 1e-9)
    assert isinstance(info["iterations"], int) and isinstance(info["converged"], bool)
    assert isinstance(info["gap"], float)


def test_batch_empty_and_edgeless():
    g, rng = _graph(2)
    X, info = prox_tv_columns(np.zeros((g.n_nodes, 0)), 1.0, g)
    assert X.shape == (g.n_nodes, 0) and info["q"].shape == (g.n_edges, 0)
    assert info["converged"].shape == (0,)
    Y = rng.standard_normal((5, 3))
    X, info = prox_tv_columns(Y, [1.0, 2.0, 0.0], np.zeros((0, 2), dtype=int), None)
    assert np.array_equal(X, Y) and np.all(info["converged"]) and info["q"].shape == (0, 3)


def test_batch_warm_start_and_input_errors():
    g, rng = _graph(3)
    Y = rng.standard_normal((g.n_nodes, 4))
    taus = np.array([0.2, 0.5, 1.0, 3.0])
    X, info = prox_tv_columns(Y, taus, g, tol=1e-9)
    X2, info2 = prox_tv_columns(Y, taus, g, tol=1e-9, warm_start=info["q"])
    assert np.all(info2["iterations"] <= 5) and np.all(info2["converged"])
    assert np.allclose(X2, X, atol=1e-4)
    for j, tau in enumerate(taus):
        _check_certificate(Y[:, j], X2[:, j], info2["q"][:, j], tau, g, info2["gap"][j], 1e-9)
    # an out-of-box warm start is clipped (the certificate still holds)
    X3, info3 = prox_tv_columns(Y, taus, g, tol=1e-9, warm_start=100 * info["q"])
    for j, tau in enumerate(taus):
        _check_certificate(Y[:, j], X3[:, j], info3["q"][:, j], tau, g, info3["gap"][j], 1e-9)
    with pytest.raises(ValueError, match="warm_start"):
        prox_tv_columns(Y, taus, g, warm_start=np.zeros((g.n_edges, 3)))
    with pytest.raises(ValueError, match="tau"):
        prox_tv_columns(Y, [1.0, -1.0, 1.0, 1.0], g)
    with pytest.raises(ValueError, match="tol"):
        prox_tv_columns(Y, 1.0, g, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        prox_tv_columns(Y, 1.0, g, max_iter=0)
    with pytest.raises(ValueError, match="Y"):
        prox_tv_columns(np.full((g.n_nodes, 2), np.nan), 1.0, g)


def test_batch_reports_unconverged_columns_per_column():
    g, rng = _graph(4)
    Y = rng.standard_normal((g.n_nodes, 3))
    with pytest.warns(RuntimeWarning, match="duality gap"):
        X, info = prox_tv_columns(Y, [1e3, 0.0, 0.5], g, tol=1e-15, max_iter=3)
    assert list(info["converged"]) == [False, True, False]
    assert list(info["iterations"]) == [3, 0, 3]
    for j, tau in ((0, 1e3), (2, 0.5)):  # the reported gap is still the true gap
        _check_certificate(Y[:, j], X[:, j], info["q"][:, j], tau, g, info["gap"][j], 1.0)


def test_gauge_prox_batch_and_warm_starts():
    g, rng = _graph(5)
    gauge = L1TVL2(0.3, 0.6, 0.5, g.n_nodes, g, nonnegative=True, prox_tol=1e-10)
    cols = rng.standard_normal((g.n_nodes, 5))
    w = np.array([0.5, 0.0, 1.0, 2.0, 0.3])
    Z = gauge.prox(cols, w)
    ref = prox_l1_tv_l2(cols, w, 0.3, 0.6, 0.5, g, None, True, tol=1e-10)
    assert np.abs(Z - ref).max() < 1e-5
    assert gauge._warm[0].shape == (g.n_edges, 5)
    # warm-started second call (slightly moved input, new weights) gives the same answer
    cols2 = cols + 0.01 * rng.standard_normal(cols.shape)
    w2 = np.array([0.6, 0.4, 0.0, 2.0, 0.3])
    Z2 = gauge.prox(cols2, w2)
    ref2 = prox_l1_tv_l2(cols2, w2, 0.3, 0.6, 0.5, g, None, True, tol=1e-10)
    assert np.abs(Z2 - ref2).max() < 1e-5
    # another number of columns: no warm start, still right
    Z3 = gauge.prox(cols[:, :2], w[:2])
    assert np.abs(Z3 - ref[:, :2]).max() < 1e-5
    assert gauge.prox(cols[:, :0], w[:0]).shape == (g.n_nodes, 0)


def test_next_mu_stays_inside_the_interval():
    assert _next_mu(1.0, 1.8, None, None, 0) == pytest.approx(1.4)  # b ≤ 2a: arithmetic
    assert _next_mu(0.1, 10.0, None, None, 0) == pytest.approx(1.0)  # geometric
    mu = _next_mu(1.0, 2.0, (1.0, 1.0), (2.0, -1.0), 0)
    assert mu == pytest.approx(1.5)
    # the chord root near an end is pulled inside by δ = (b − a)/16
    assert _next_mu(1.0, 2.0, (1.0, 1e-9), (2.0, -1.0), 0) == pytest.approx(1.0625)
    # Illinois: the right end kept twice → its value halved → the step moves right
    assert _next_mu(1.0, 2.0, (1.0, 1.0), (2.0, -1.0), 2) > mu


@pytest.mark.parametrize("nonnegative", [False, True])
def test_lmo_warm_start_and_hint_keep_the_bracket(nonnegative):
    g, rng = _graph(6)
    gvec = rng.standard_normal(g.n_nodes)
    ks = (0.1, 0.5, 1.0)
    _x, val, info = lmo_l1_tv_l2(gvec, *ks, g, None, nonnegative, 1e-9, return_info=True)
    assert info["lower"] <= info["upper"] <= info["lower"] * (1 + 1e-9) + 1e-12
    # start at the answer: one or two proxes, same bracket
    _x2, val2, info2 = lmo_l1_tv_l2(gvec, *ks, g, None, nonnegative, 1e-9, return_info=True,
                                   mu0=info["mu"], warm_start=info["q"])
    assert info2["bisections"] <= info["bisections"]
    assert info2["lower"] <= info["upper"] * (1 + 1e-12) and info2["upper"] >= info["lower"]
    assert val2 == pytest.approx(val, rel=1e-8)
    # a bad hint (outside the bracket, wrong q) changes nothing but speed
    _x3, val3, info3 = lmo_l1_tv_l2(gvec, *ks, g, None, nonnegative, 1e-9, return_info=True,
                                   mu0=1e6, warm_start=np.ones(g.n_edges))
    assert val3 == pytest.approx(val, rel=1e-8)
    assert info3["lower"] <= info["upper"] * (1 + 1e-12) and info3["upper"] >= info["lower"]


def test_gauge_lmo_reuses_the_last_call():
    g, rng = _graph(7)
    gauge = L1TVL2(0.1, 0.5, 1.0, g.n_nodes, g, nonnegative=True, lmo_tol=1e-6)
    gvec = rng.standard_normal(g.n_nodes)
    _x, val = gauge.lmo(gvec)
    first = gauge._lmo_stats[1]
    _x2, val2 = gauge.lmo(2.0 * gvec)  # κ° is positively homogeneous: 2·μ* is the hint
    assert gauge._lmo_stats[1] - first < first
    assert val2 == pytest.approx(2 * val, rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x3, val3 = gauge.lmo(-gvec)  # dissimilar direction: no hint
    kap = 0.1 * np.abs(x3).sum() + 0.5 * tv_value(x3, g) + np.linalg.norm(x3)
    assert kap == pytest.approx(1.0, rel=1e-12) or not np.any(x3)
    assert val3 == pytest.approx(float(-gvec @ x3), rel=1e-12)
    # a zero direction (κ° = 0, no μ to remember), then a normal one
    x4, val4 = gauge.lmo(np.zeros(g.n_nodes))
    assert val4 == 0.0 and not np.any(x4)
    _, val5 = gauge.lmo(gvec)
    assert val5 == pytest.approx(val, rel=1e-5)


def test_prox_tv_batch_matches_bruteforce_order_invariance():
    """Permuting the columns permutes the result (columns do not interact)."""
    g, rng = _graph(8)
    Y = rng.standard_normal((g.n_nodes, 6))
    taus = rng.uniform(0.1, 2.0, size=6)
    X, info = _prox_tv_batch(Y, taus, g, 1e-10, 20000, None)
    p = rng.permutation(6)
    Xp, infop = _prox_tv_batch(Y[:, p], taus[p], g, 1e-10, 20000, None)
    assert np.abs(Xp - X[:, p]).max() < 1e-9
    assert np.abs(infop["iterations"] - info["iterations"][p]).max() <= 5
