"""Hypothesis properties: prox optimality, homogeneity, Hölder, certificate soundness, status."""

from __future__ import annotations

import math

import numpy as np
from conftest import svt
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import homfact as hf
from homfact.certificate import decide_status
from homfact.meta import DEFAULT_POLAR_RTOL, certify_factors, grow
from homfact.problems import completion_problem, low_rank_problem

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
SLOW_SETTINGS = settings(max_examples=25, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])

# no magnitudes below 1e-100: squares of subnormal-range entries underflow in any ℓ2 norm
finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64).map(
    lambda v: 0.0 if abs(v) < 1e-100 else v)
scales = st.one_of(st.just(0.0), st.floats(1e-50, 1e50))
gauges = st.sampled_from([
    hf.L2(), hf.L1(), hf.ElasticNet(0.0), hf.ElasticNet(0.1), hf.ElasticNet(0.5),
    hf.ElasticNet(2.0), hf.ElasticNet(10.0), hf.NonNegative(hf.L2()), hf.NonNegative(hf.L1()),
    hf.NonNegative(hf.ElasticNet(0.5)),
])
vectors = st.integers(1, 8).flatmap(lambda n: arrays(np.float64, n, elements=finite))


def _gauge_value(g, x) -> float:
    return float(g.value(x))


@SETTINGS
@given(g=gauges, x=vectors, w=st.floats(0, 5), seed=st.integers(0, 2**32 - 1))
def test_prox_is_optimal_against_nearby_points(g, x, w, seed):
    p = g.prox(x, w)
    assert p.shape == x.shape
    h_p = 0.5 * float(np.sum((p - x) ** 2)) + w * _gauge_value(g, p)
    assert math.isfinite(h_p)
    rng = np.random.default_rng(seed)
    scale = 1.0 + float(np.abs(x).max(initial=0.0))
    for radius in (1e-6, 1e-3, 1e-1, 1.0):
        for _ in range(5):
            y = p + radius * scale * rng.standard_normal(x.shape)
            if g.nonnegative:
                y = np.maximum(y, 0.0)  # nearby *feasible* points
            h_y = 0.5 * float(np.sum((y - x) ** 2)) + w * _gauge_value(g, y)
            assert h_p <= h_y + 1e-12 * scale**2


@SETTINGS
@given(g=gauges, x=vectors, w=st.floats(0, 5), alpha=st.floats(1e-3, 1e3))
def test_prox_scaling_covariance(g, x, w, alpha):
    """prox_{αw κ}(αx) = α prox_{wκ}(x) for a positively homogeneous κ."""
    lhs = g.prox(alpha * x, alpha * w)
    rhs = alpha * g.prox(x, w)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9 * alpha * (1 + np.abs(x).max()))


@SETTINGS
@given(g=gauges, x=vectors, alpha=scales)
def test_gauge_positive_homogeneity(g, x, alpha):
    if g.nonnegative:
        x = np.abs(x)
    v = _gauge_value(g, x)
    assert math.isclose(_gauge_value(g, alpha * x), alpha * v, rel_tol=1e-12, abs_tol=0.0)
    assert v >= 0


@SETTINGS
@given(g=gauges, gv=vectors, seed=st.integers(0, 2**32 - 1))
def test_lmo_value_is_dual_and_holder(g, gv, seed):
    x_star, val = g.lmo(gv)
    assert val >= 0
    assert math.isclose(g.dual(gv), val, rel_tol=1e-12, abs_tol=1e-15)
    if val > 0:
        assert _gauge_value(g, x_star) <= 1 + 1e-10
        assert math.isclose(float(gv @ x_star), val, rel_tol=1e-9, abs_tol=1e-12)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        x = rng.standard_normal(gv.shape) * rng.uniform(0.01, 10)
        if g.nonnegative:
            x = np.abs(x)
        # Hölder: ⟨g, x⟩ ≤ κ°(g) κ(x)
        assert float(gv @ x) <= val * _gauge_value(g, x) + 1e-10 * (
            1 + np.abs(gv).sum() * np.abs(x).max())


matrix_shapes = st.tuples(st.integers(1, 7), st.integers(1, 6))


@st.composite
def low_rank_instances(draw):
    m, n = draw(matrix_shapes)
    Y = draw(arrays(np.float64, (m, n), elements=finite))
    r = draw(st.integers(0, 4))
    U = draw(arrays(np.float64, (m, r), elements=st.floats(-3, 3, width=64)))
    V = draw(arrays(np.float64, (n, r), elements=st.floats(-3, 3, width=64)))
    frac = draw(st.floats(0.0, 2.0))
    return Y, U, V, frac


@SETTINGS
@given(inst=low_rank_instances())
def test_certificate_lower_bound_sound_low_rank(inst):
    Y, U, V, frac = inst
    top = float(np.linalg.svd(Y, compute_uv=False)[0])
    lam = max(frac * top, 1e-3)
    *_, P_star = svt(Y, lam)
    cert, *_ = certify_factors(low_rank_problem(Y, lam), [U, V])
    tol = 1e-9 * max(1.0, abs(P_star))
    assert cert.lower_bound <= P_star + tol
    assert cert.objective >= P_star - tol
    assert cert.gap >= 0
    if cert.status == "global":
        assert cert.objective - P_star <= cert.gap + tol
        assert cert.relative_gap <= cert.tol


@st.composite
def completion_instances(draw):
    m, n = draw(matrix_shapes)
    Y = draw(arrays(np.float64, (m, n), elements=finite))
    mask = draw(arrays(np.bool_, (m, n)))
    assume(mask.any())
    r = draw(st.integers(0, 3))
    U = draw(arrays(np.float64, (m, r), elements=st.floats(-3, 3, width=64)))
    V = draw(arrays(np.float64, (n, r), elements=st.floats(-3, 3, width=64)))
    frac = draw(st.floats(0.05, 2.0))
    return Y, mask, U, V, frac


@SLOW_SETTINGS
@given(inst=completion_instances())
def test_certificate_lower_bound_sound_completion(inst):
    """L of any factorization ≤ P* ≤ objective of any other factorization (here: a fitted one)."""
    Y, mask, U, V, frac = inst
    Ynan = np.where(mask, Y, np.nan)
    top = float(np.linalg.svd(np.where(mask, Y, 0.0), compute_uv=False)[0])
    lam = max(frac * top, 1e-2)
    problem = completion_problem(Ynan, lam)
    cert, *_ = certify_factors(problem, [U, V])
    fitted = grow(completion_problem(Ynan, lam), max_iter=50)
    other = fitted.certificate
    tol = 1e-9 * max(1.0, abs(other.objective))
    assert cert.lower_bound <= other.objective + tol
    assert other.lower_bound <= cert.objective + tol
    assert cert.gap >= 0 and other.gap >= 0


@SLOW_SETTINGS
@given(inst=low_rank_instances(), max_rank=st.integers(1, 3), tol_exp=st.integers(3, 8))
def test_status_never_global_with_polar_above_lam(inst, max_rank, tol_exp):
    Y, _, _, frac = inst
    top = float(np.linalg.svd(Y, compute_uv=False)[0])
    lam = max(frac * top, 1e-3)
    tol = 10.0 ** (-tol_exp)
    est = hf.LowRankApproximation(lam=lam, max_rank=max_rank, tol=tol, max_iter=30).fit(Y)
    cert = est.certificate_
    # the status rule of DESIGN §2: "global" needs polar_upper ≤ λ(1 + ε) (ε = polar_rtol) and
    # a relative duality gap ≤ tol; a polar above λ(1 + tol) but within λ(1 + ε) can still be
    # "global", and then the gap is what proves it (checked against the exact optimum below)
    eps = DEFAULT_POLAR_RTOL
    if cert.polar_upper > lam * (1 + eps):
        assert cert.status != "global"
    if cert.status == "global":
        assert cert.polar_upper <= lam * (1 + eps)
        assert cert.relative_gap <= tol
        p_star = svt(Y, lam)[3]          # exact optimum of ½‖Y − Z‖² + λ‖Z‖_*
        scale = max(1.0, abs(cert.objective))
        assert cert.lower_bound <= p_star + 1e-12 * scale
        assert cert.objective - p_star <= tol * scale * (1 + 1e-9) + 1e-12 * scale
    if cert.polar_lower > lam * (1 + eps):
        assert cert.status == "not_optimal"
    assert est.rank_ <= max_rank


@SETTINGS
@given(lo=st.floats(0, 10), width=st.floats(0, 10), lam=st.floats(0, 10),
       rel=st.floats(0, 1), tol=st.floats(1e-9, 1e-2), rtol=st.floats(0, 1e-2),
       no_upper=st.booleans())
def test_decide_status_rule(lo, width, lam, rel, tol, rtol, no_upper):
    up = math.inf if no_upper else lo + width
    status = decide_status(lo, up, lam, rel, tol, rtol)
    if status == "global":
        assert math.isfinite(up) and up <= lam * (1 + rtol) and rel <= tol
    if up > lam * (1 + rtol):
        assert status != "global"
    if lo > lam * (1 + rtol):
        assert status == "not_optimal"
    if status == "not_optimal":
        assert lo > lam * (1 + rtol)
