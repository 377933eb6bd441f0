"""Engine regressions found while adding the matrix, tensor and network families."""

from __future__ import annotations

import numpy as np

from homfact.gauges import L2, NonNegative
from homfact.losses import SquaredLoss
from homfact.maps import Bilinear
from homfact.meta import Problem, grow


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
