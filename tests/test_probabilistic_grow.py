"""grow with an operator polar (docs: theory/duality-gap-and-status, 'Probabilistic status'):
without the opt-in a loose deterministic bound leaves the fit "unverified"; opted in, the
Kuczyński–Woźniakowski bound certifies it as "global_probabilistic" at the same optimum as the
exact nuclear polar, every record states its δ, and the always-valid bounds stay valid."""

from __future__ import annotations

import numpy as np
import pytest

from homfact.meta import grow
from homfact.polar import OperatorNuclearPolar
from homfact.problems import completion_problem


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    m, n, r = 120, 80, 3
    Y = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    Y += 0.1 * rng.standard_normal((m, n))
    return np.where(rng.random((m, n)) < 0.4, Y, np.nan)


@pytest.mark.parametrize("seed", [0, 1])
def test_opt_in_certifies_probabilistically_at_the_exact_optimum(seed):
    Y, lam = _data(seed), 2.0
    exact = grow(completion_problem(Y, lam, local_solver="als-exact"), tol=1e-8)
    assert exact.certificate.status == "global"
    plain = grow(completion_problem(Y, lam, local_solver="als-exact",
                                    polar=OperatorNuclearPolar(delta=1e-9, gram_max_dim=0)),
                 tol=1e-8, max_iter=20, random_state=seed)
    assert plain.certificate.status in ("unverified", "not_optimal")
    opted = grow(completion_problem(Y, lam, local_solver="als-exact",
                                    polar=OperatorNuclearPolar(delta=1e-9, gram_max_dim=0,
                                                               allow_probabilistic=True)),
                 tol=1e-8, max_iter=40, random_state=seed)
    c = opted.certificate
    assert c.status == "global_probabilistic" and c.is_certified and not c.is_global
    assert c.delta == 1e-9 and "Kuczynski" in c.method
    assert opted.stop_reason == "certified" and opted.rank == exact.rank
    # the same optimum: both objectives within their certified gaps of P*
    p_star_low = max(exact.certificate.lower_bound, c.lower_bound)
    assert c.objective - p_star_low <= 1e-7 * abs(c.objective)
    # the deterministic lower bound holds with certainty: below the exact objective
    assert c.lower_bound <= exact.certificate.objective * (1 + 1e-12)
    for rec in opted.history:
        assert rec["delta"] == 1e-9
        assert rec["polar_upper"] >= rec["polar_lower"]


def test_resume_with_probabilistic_bounds_is_bit_identical(tmp_path):
    """With probabilistic bounds too, a fit stopped and resumed from its checkpoint takes the
    same path as an uninterrupted one (the checkpoint saves the gap that steers the loop)."""
    Y, lam = _data(1), 2.0

    def problem():
        return completion_problem(Y, lam, local_solver="als-exact",
                                  polar=OperatorNuclearPolar(delta=1e-9, gram_max_dim=0,
                                                             allow_probabilistic=True))

    full = grow(problem(), tol=1e-8, max_iter=40, random_state=1)
    for stop_at in (1, 2, 3):
        path = tmp_path / f"ck{stop_at}.npz"
        grow(problem(), tol=1e-8, max_iter=stop_at, random_state=1, checkpoint=path)
        resumed = grow(problem(), tol=1e-8, max_iter=40, random_state=1, checkpoint=path,
                       resume=True)
        assert resumed.n_iter == full.n_iter and resumed.rank == full.rank
        for a, b in zip(resumed.factors, full.factors, strict=True):
            np.testing.assert_array_equal(a, b)
