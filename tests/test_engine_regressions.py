"""Engine regressions found while adding the matrix, tensor and network families."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from homfact.gauges import L2, NonNegative
from homfact.losses import SquaredLoss
from homfact.maps import Bilinear
from homfact.meta import Problem, grow
from homfact.problems import check_fit_params


def test_grow_with_zero_lam_and_a_bracket_polar():
    """λ = 0 with a bracket polar (non-negative atoms) used to divide by λ when choosing the
    inner tolerance; it must run, decrease the objective and keep ``lower ≤ objective``."""
    rng = np.random.default_rng(0)
    Y = np.abs(rng.standard_normal((12, 2))) @ np.abs(rng.standard_normal((2, 9)))
    problem = Problem(SquaredLoss(Y), Bilinear(Y.shape), (NonNegative(L2()), NonNegative(L2())),
                      lam=0.0)
    res = grow(problem, max_iter=4, random_state=0)
    assert res.rank >= 1
    assert res.certificate.objective < 0.5 * np.sum(Y**2)
    assert res.certificate.lower_bound <= res.certificate.objective + 1e-9


@pytest.mark.parametrize("field, value, message", [
    ("tol", 0.0, "tol must be a number in (0, 1)"),
    ("tol", True, "tol must be a number in (0, 1)"),
    ("max_iter", 0, "max_iter must be an integer >= 1"),
    ("max_iter", 2.0, "max_iter must be an integer >= 1"),
    ("max_rank", True, "max_rank must be None or an integer >= 1"),
    ("time_limit", -1.0, "time_limit must be None or a positive number"),
])
def test_check_fit_params_names_the_argument(field, value, message):
    est = SimpleNamespace(tol=1e-6, max_iter=10, max_rank=None, time_limit=None)
    check_fit_params(est)  # the defaults are fine
    setattr(est, field, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_fit_params(est)
