"""The meta-algorithm ``grow``: honest certificates, history, budgets, growth steps."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from conftest import random_low_rank, random_mask, sigma_max, svt
from scipy.optimize import minimize_scalar

import homfact as hf
import homfact.meta as meta
from homfact.maps import Bilinear
from homfact.meta import DEFAULT_POLAR_RTOL, Problem, certify_factors, grow
from homfact.problems import completion_problem, low_rank_problem

HISTORY_KEYS = {"objective", "rank", "polar_lower", "polar_upper", "gap", "relative_gap",
                "elapsed"}


def _problems(rng):
    Y = random_low_rank(rng, 14, 10, 3, noise=0.3)
    mask = random_mask(rng, Y.shape, 0.6)
    lam = 0.3 * sigma_max(Y)
    return {
        "low_rank": low_rank_problem(Y, lam),
        "completion": completion_problem(np.where(mask, Y, np.nan),
                                         0.3 * sigma_max(np.where(mask, Y, 0.0))),
        "huber": low_rank_problem(Y, lam, loss="huber", delta=1.0),
        "prox_linear": Problem(hf.SquaredLoss(Y), Bilinear(Y.shape), (hf.L2(), hf.L2()), lam,
                               local_solver="prox_linear"),
        "l1_l2": Problem(hf.SquaredLoss(Y), Bilinear(Y.shape), (hf.L1(), hf.L2()), lam,
                         local_solver="prox_linear"),
        "nmf": Problem(hf.SquaredLoss(np.abs(Y)), Bilinear(Y.shape),
                       (hf.NonNegative(), hf.NonNegative()), lam, local_solver="prox_linear"),
    }


NAMES = ["low_rank", "completion", "huber", "prox_linear", "l1_l2", "nmf"]


def _assert_same_certificate(a, b, exact_polar: bool = True):
    """Same certificate; with a heuristic polar only the deterministic parts must agree."""
    keys = ["objective", "lower_bound", "gap", "polar_upper", "lam"]
    if exact_polar:
        assert a.status == b.status
        keys.append("polar_lower")
    for key in keys:
        va, vb = getattr(a, key), getattr(b, key)
        assert va == pytest.approx(vb, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("name", NAMES)
def test_grow_from_rank_zero_returns_certificate_of_returned_factors(name):
    problem = _problems(np.random.default_rng(0))[name]
    res = grow(problem, random_state=0, max_iter=30 if name == "nmf" else 300)
    assert res.rank == res.factors[0].shape[1] == res.factors[1].shape[1]
    recomputed = hf.certify(problem, factors=res.factors, tol=1e-6)
    _assert_same_certificate(res.certificate, recomputed, exact_polar=name != "nmf")
    if name == "nmf":  # heuristic lower bound, rigorous upper bound: never claims "global"
        assert res.certificate.polar_upper > problem.lam
        assert res.certificate.status != "global"
        assert np.all(res.factors[0] >= 0) and np.all(res.factors[1] >= 0)
    # the last history record describes the returned factors
    last = res.history[-1]
    assert last["rank"] == res.rank
    assert last["objective"] == pytest.approx(res.certificate.objective, rel=1e-12)
    assert res.n_iter == len(res.history)
    # the objective really is ℓ(Φ(X)) + λΣθ of the returned factors
    assert res.certificate.objective == pytest.approx(problem.objective(res.factors), rel=1e-12)
    if name != "nmf":  # every problem but NMF has an exact polar and certifies here
        assert res.certificate.status == "global", res.stop_reason
        assert res.stop_reason == "certified"
    if res.certificate.status == "global":
        assert res.certificate.polar_upper <= problem.lam * (1 + DEFAULT_POLAR_RTOL)
        assert res.certificate.relative_gap <= 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_history_records(name):
    problem = _problems(np.random.default_rng(1))[name]
    seen = []
    res = grow(problem, random_state=0, max_iter=30 if name == "nmf" else 300,
               callback=seen.append)
    assert len(seen) == len(res.history) >= 1
    assert seen == res.history
    for rec in res.history:
        assert HISTORY_KEYS <= set(rec)
        assert rec["gap"] >= 0
        assert rec["relative_gap"] == pytest.approx(rec["gap"] / max(1.0, abs(rec["objective"])),
                                                    rel=1e-12, abs=1e-300)
        assert rec["polar_lower"] <= rec["polar_upper"] * (1 + 1e-12)
        assert isinstance(rec["rank"], int) and rec["rank"] >= 0
    elapsed = [rec["elapsed"] for rec in res.history]
    assert all(b >= a for a, b in itertools.pairwise(elapsed))
    assert res.history[0]["rank"] == 0  # started from rank 0


@pytest.mark.parametrize("name", ["low_rank", "completion", "huber", "prox_linear", "l1_l2"])
def test_objective_is_monotone_across_outer_iterations(name):
    problem = _problems(np.random.default_rng(2))[name]
    res = grow(problem, random_state=0, max_iter=300)
    obj = [rec["objective"] for rec in res.history]
    for a, b in itertools.pairwise(obj):
        assert b <= a + 1e-10 * max(1.0, abs(a))


@pytest.mark.parametrize("max_rank", [1, 2])
@pytest.mark.parametrize("name", ["low_rank", "completion", "prox_linear"])
def test_max_rank_respected_and_status_honest(name, max_rank):
    problem = _problems(np.random.default_rng(3))[name]
    res = grow(problem, random_state=0, max_rank=max_rank)
    assert res.rank <= max_rank
    for rec in res.history:
        assert rec["rank"] <= max_rank
    cert = res.certificate
    # the optimum needs rank 3 here: the capped fit must not claim global optimality
    assert cert.polar_upper > problem.lam * (1 + DEFAULT_POLAR_RTOL)
    assert cert.status != "global"
    assert cert.status == "not_optimal"
    assert res.stop_reason == "max_rank"
    _assert_same_certificate(cert, hf.certify(problem, factors=res.factors))


def test_max_rank_respected_with_block_appends(rng):
    # many singular values above λ: block appends must still stop at max_rank
    Y = rng.standard_normal((30, 25))
    problem = low_rank_problem(Y, 0.1)
    res = grow(problem, random_state=0, max_rank=7)
    assert res.rank <= 7
    assert res.certificate.status == "not_optimal"
    assert max(rec["rank"] for rec in res.history) <= 7


def test_time_limit_stops_after_first_certificate(rng):
    Y = rng.standard_normal((60, 50))
    problem = low_rank_problem(Y, 0.5)
    res = grow(problem, time_limit=1e-9)
    assert res.stop_reason == "time_limit"
    assert res.n_iter == 1
    assert res.certificate.status == "not_optimal"  # honest: rank 0 is far from optimal
    _assert_same_certificate(res.certificate, hf.certify(problem, factors=res.factors))


class _FakeClock:
    """A clock that advances one 'second' every time it is read (deterministic budgets)."""

    def __init__(self):
        self.t = 1e6

    def perf_counter(self):
        self.t += 1.0
        return self.t


@pytest.mark.parametrize("limit", [3.5, 10.5])
def test_time_limit_respected_with_fake_clock(monkeypatch, rng, limit):
    clock = _FakeClock()
    fake_time = type("FakeTime", (), {"perf_counter": staticmethod(clock.perf_counter)})
    monkeypatch.setattr(meta, "time", fake_time)
    Y = random_low_rank(rng, 40, 30, 10, noise=0.5)
    mask = random_mask(rng, Y.shape, 0.5)
    problem = completion_problem(np.where(mask, Y, np.nan), 1e-3)  # slow to certify
    res = grow(problem, time_limit=limit, random_state=0)
    assert res.stop_reason == "time_limit"
    # every history record but the last was written before the budget ran out
    for rec in res.history[:-1]:
        assert rec["elapsed"] <= limit
    # the clock is read a bounded number of times per iteration: few iterations fit
    assert res.n_iter <= limit
    _assert_same_certificate(res.certificate, hf.certify(problem, factors=res.factors))


def test_keyboard_interrupt_returns_certified_work(rng):
    Y = random_low_rank(rng, 20, 15, 6, noise=0.3)
    problem = low_rank_problem(Y, 0.05 * sigma_max(Y))
    calls = []

    def interrupt(record):
        calls.append(record)
        if len(calls) == 2:
            raise KeyboardInterrupt

    res = grow(problem, callback=interrupt, block_size=1)
    assert res.stop_reason == "interrupted"
    assert res.rank >= 1
    _assert_same_certificate(res.certificate, hf.certify(problem, factors=res.factors))


def test_max_iter_and_callback(rng):
    Y = rng.standard_normal((20, 15))
    problem = low_rank_problem(Y, 0.2)
    calls = []
    res = grow(problem, max_iter=2, callback=calls.append)
    assert res.n_iter == 2 and len(calls) == 2
    assert res.stop_reason in ("max_iter", "certified")
    _assert_same_certificate(res.certificate, hf.certify(problem, factors=res.factors))


@pytest.mark.parametrize("block_size", [1, 2, 16])
def test_block_size_does_not_change_the_optimum(block_size, rng):
    Y = random_low_rank(rng, 15, 12, 5, noise=0.2)
    lam = 0.2 * sigma_max(Y)
    *_, P_star = svt(Y, lam)
    res = grow(low_rank_problem(Y, lam), block_size=block_size)
    assert res.certificate.status == "global"
    assert res.certificate.objective == pytest.approx(P_star, rel=1e-6)


def test_warm_start_from_optimum_certifies_immediately(rng):
    Y = random_low_rank(rng, 10, 8, 3, noise=0.2)
    lam = 0.3 * sigma_max(Y)
    Ub, Vb, _, P_star = svt(Y, lam)
    res = grow(low_rank_problem(Y, lam), [Ub, Vb])
    assert res.n_iter == 1
    assert res.certificate.status == "global"
    assert res.certificate.objective == pytest.approx(P_star, rel=1e-10)


def test_lam_zero_interpolates(rng):
    Y = rng.standard_normal((6, 5))
    res = grow(low_rank_problem(Y, 0.0), max_iter=20)
    np.testing.assert_allclose(res.factors[0] @ res.factors[1].T, Y, atol=1e-8)
    assert res.certificate.relative_gap <= 1e-12
    assert res.certificate.lower_bound <= res.certificate.objective


def test_lam_above_lam_max_gives_rank_zero(rng):
    Y = rng.standard_normal((7, 5))
    res = grow(low_rank_problem(Y, 1.01 * sigma_max(Y)))
    assert res.rank == 0
    assert res.n_iter == 1
    assert res.certificate.status == "global"
    assert res.certificate.objective == pytest.approx(0.5 * float(np.sum(Y**2)), rel=1e-14)
    assert res.certificate.gap == pytest.approx(0.0, abs=1e-9)


def test_zero_data_gives_rank_zero_global():
    res = grow(low_rank_problem(np.zeros((5, 4)), 1.0))
    assert res.rank == 0 and res.certificate.status == "global"
    assert res.certificate.objective == 0.0


# ----------------------------------------------------------------------------------------------
# the growth step
# ----------------------------------------------------------------------------------------------
def test_first_growth_step_is_first_svt_component(rng):
    """THEORY A.5: from X = 0 the closed-form step reproduces the first SVT component."""
    Y = random_low_rank(rng, 9, 7, 3, noise=0.1)
    lam = 0.5 * sigma_max(Y)
    problem = low_rank_problem(Y, lam)
    X0 = [np.zeros((9, 0)), np.zeros((7, 0))]
    cert, bound, z, g = certify_factors(problem, X0)
    assert cert.status == "not_optimal"
    X1, n_added = meta._append_atoms(problem, X0, z, g.copy(), bound, room=1)
    assert n_added == 1
    U, s, Vt = np.linalg.svd(Y)
    first = (s[0] - lam) * np.outer(U[:, 0], Vt[0])
    np.testing.assert_allclose(X1[0] @ X1[1].T, first, atol=1e-10)
    # the appended slice is balanced: ‖u‖ = ‖v‖ = sqrt(s*)
    assert np.linalg.norm(X1[0]) == pytest.approx(np.sqrt(s[0] - lam), rel=1e-10)
    assert np.linalg.norm(X1[1]) == pytest.approx(np.sqrt(s[0] - lam), rel=1e-10)


@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_growth_step_masked_uses_observed_norm(loss, rng):
    """Completion: the step length uses ‖P_Ω(u vᵀ)‖², and is the exact 1-D minimizer."""
    Y = random_low_rank(rng, 9, 7, 2, noise=0.1)
    mask = random_mask(rng, Y.shape, 0.4)
    lam = 0.2 * sigma_max(np.where(mask, Y, 0.0))
    problem = completion_problem(np.where(mask, Y, np.nan), lam, loss=loss)
    X0 = [np.zeros((9, 0)), np.zeros((7, 0))]
    _, bound, z, g = certify_factors(problem, X0)
    X1, n_added = meta._append_atoms(problem, X0, z, g.copy(), bound, room=1)
    assert n_added == 1
    u, v = bound.maximizer
    uv = np.outer(u, v)[mask]
    ys = Y[mask]

    def F(s):
        return problem.loss.value(s * uv) + lam * s

    s_hi = 4 * np.sqrt(np.sum(ys**2)) / max(np.linalg.norm(uv), 1e-12)
    ref = minimize_scalar(F, bounds=(0.0, s_hi), method="bounded", options={"xatol": 1e-12})
    best = min(F(0.0), ref.fun)
    F1 = problem.objective(X1)
    assert F1 <= best + 1e-9 * max(1.0, best)
    assert F1 < problem.objective(X0)


def test_growth_step_never_increases_objective_with_candidates(rng):
    Y = rng.standard_normal((12, 10))
    problem = low_rank_problem(Y, 0.3)
    X0 = [np.zeros((12, 0)), np.zeros((10, 0))]
    _, bound, z, g = certify_factors(problem, X0, n_candidates=6)
    assert len(bound.candidates) == 5
    X1, n_added = meta._append_atoms(problem, X0, z, g.copy(), bound, room=6)
    assert 1 <= n_added <= 6
    assert problem.objective(X1) < problem.objective(X0)


def test_grow_does_not_mutate_inputs(rng):
    Y = rng.standard_normal((8, 6))
    problem = low_rank_problem(Y, 0.5)
    U0, V0 = rng.standard_normal((8, 2)), rng.standard_normal((6, 2))
    U0c, V0c, yc = U0.copy(), V0.copy(), problem.loss.y.copy()
    grow(problem, [U0, V0])
    np.testing.assert_array_equal(U0, U0c)
    np.testing.assert_array_equal(V0, V0c)
    np.testing.assert_array_equal(problem.loss.y, yc)


def test_grow_elapsed_is_reported():
    t = time.perf_counter()
    res = grow(low_rank_problem(np.ones((3, 3)), 0.1))
    assert 0 <= res.elapsed <= time.perf_counter() - t + 1e-6
