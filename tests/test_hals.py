"""HALS (non-negative ℓ2/ℓ2, sum form) against block prox-linear on the same problem."""

from __future__ import annotations

import numpy as np
import pytest

from homfact.gauges import L2, NonNegative
from homfact.losses import SquaredLoss
from homfact.maps import Bilinear
from homfact.meta import Problem, grow
from homfact.solvers.hals import hals, nnls_hals


def test_hals_is_monotone_and_feasible():
    rng = np.random.default_rng(0)
    Y = np.abs(rng.standard_normal((15, 12)))
    U, V = np.abs(rng.standard_normal((15, 4))), np.abs(rng.standard_normal((12, 4)))
    values = []
    for _ in range(10):
        res = hals(Y, U, V, 0.3, max_sweeps=1, tol=0.0)
        U, V = res.factors
        values.append(res.objective)
        assert np.all(U >= 0) and np.all(V >= 0)
    assert np.all(np.diff(values) <= 1e-12 * max(1.0, abs(values[0])))


def test_hals_and_prox_linear_reach_the_same_objective():
    rng = np.random.default_rng(1)
    Y = np.abs(rng.standard_normal((10, 8))) + np.outer(rng.random(10), rng.random(8)) * 3
    gauges = (NonNegative(L2()), NonNegative(L2()))
    objs = []
    for solver in ("hals", "prox_linear"):
        problem = Problem(SquaredLoss(Y), Bilinear(Y.shape), gauges, 1.0, local_solver=solver)
        res = grow(problem, tol=1e-6, random_state=0, max_iter=100)
        assert np.all(res.factors[0] >= 0) and np.all(res.factors[1] >= 0)
        objs.append(res.certificate.objective)
    assert objs[0] == pytest.approx(objs[1], rel=1e-3)


def test_nnls_hals_matches_scipy_nnls():
    from scipy.optimize import nnls

    rng = np.random.default_rng(2)
    H = np.abs(rng.standard_normal((3, 9)))
    Y = rng.standard_normal((4, 9))
    W = nnls_hals(Y, H, n_sweeps=5000, tol=1e-14)
    for i in range(4):
        w, _ = nnls(H.T, Y[i])
        assert W[i] == pytest.approx(w, abs=1e-6)
