"""Regression tests for findings of the soundness review (arguments that certify nothing)."""

from __future__ import annotations

import numpy as np
import pytest

import homfact as hf
from homfact.gauges import L2, Gauge, NonNegative
from homfact.losses import SquaredLoss
from homfact.maps import Bilinear
from homfact.meta import Problem, grow
from homfact.polar import AlternatingPolar
from homfact.problems import low_rank_problem


class HalfL2(Gauge):
    """``0.5‖x‖₂``: a user gauge that states no ``l2_floor`` (its true floor is 0.5)."""

    def _value(self, cols):
        return 0.5 * np.linalg.norm(cols, axis=0)

    def _prox(self, cols, w):
        return L2()._prox(cols, 0.5 * w)

    def lmo(self, g):
        x, val = L2().lmo(g)
        return 2 * x, 2 * val


def test_gauge_without_floor_gives_no_upper_bound():
    G = np.random.default_rng(0).standard_normal((6, 5))
    bound = AlternatingPolar(HalfL2(), L2())(G)
    assert bound.upper == np.inf
    assert bound.lower == pytest.approx(2 * np.linalg.norm(G, 2), rel=1e-6)
    problem = Problem(SquaredLoss(G), Bilinear(G.shape), (HalfL2(), L2()), 0.5)
    res = grow(problem, max_iter=5, random_state=0)
    assert res.certificate.status != "global"


@pytest.mark.parametrize("max_iter", [0, -1, 1.5])
def test_grow_needs_an_iteration(max_iter):
    problem = low_rank_problem(np.eye(3), 0.1)
    with pytest.raises(ValueError, match="max_iter"):
        grow(problem, max_iter=max_iter)


@pytest.mark.parametrize("tol", [0.0, 1.0, 2.0, -1e-3])
def test_tol_outside_unit_interval_is_refused(tol):
    Y = np.random.default_rng(0).standard_normal((5, 4))
    with pytest.raises(ValueError, match="tol"):
        hf.certify("low_rank", Y, (Y, np.eye(4)), lam=0.01, tol=tol)
    with pytest.raises(ValueError, match="tol"):
        grow(low_rank_problem(Y, 0.1), tol=tol)


def test_infeasible_start_for_nonnegative_gauges():
    rng = np.random.default_rng(0)
    Y = np.abs(rng.standard_normal((6, 5)))
    problem = Problem(SquaredLoss(Y), Bilinear(Y.shape), (NonNegative(), NonNegative()), 0.1)
    U0 = rng.standard_normal((6, 2))
    V0 = np.abs(rng.standard_normal((5, 2)))
    U0[0, 0] = -1.0
    with pytest.raises(ValueError, match="domain"):
        grow(problem, [U0, V0])
