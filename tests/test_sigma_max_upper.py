"""The one rigorous bound on a dense ``σ_max`` (:func:`homfact.polar.sigma_max_upper`).

Soundness against 50-digit singular values (mpmath) on adversarial small matrices, and
mutation tests: weakened variants of the bound (no allowance and no rounding-up; an allowance
1000x too small; the bound 1e-12 too low) must be caught by the same check on the same
instances, so the check has teeth.  (The allowance is generous: its Gram-forming term alone,
without the eigensolver term, is not caught here, which is why it is not tested.)
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import homfact.polar.core as core
from homfact.polar import NuclearPolar, sigma_max_bracket, sigma_max_upper


def _exact_sigma_max(A: np.ndarray) -> mpmath.mpf:
    with mpmath.workdps(50):
        M = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in A])
        s = mpmath.svd_r(M, compute_uv=False)
        return max(s)


def _instances() -> list[np.ndarray]:
    """Small matrices where a float64 σ_max errs: random, clustered top singular values,
    nearly rank one, graded rows, extreme scales, vectors."""
    rng = np.random.default_rng(12)
    out = []
    for _ in range(40):
        m, n = rng.integers(1, 9, size=2)
        out.append(rng.standard_normal((m, n)))
    for _ in range(10):  # clustered top singular values (as a residual near an optimum)
        Q1, _ = np.linalg.qr(rng.standard_normal((8, 6)))
        Q2, _ = np.linalg.qr(rng.standard_normal((6, 6)))
        s = 1.0 + 1e-9 * rng.standard_normal(6)
        out.append((Q1 * s) @ Q2.T)
    for _ in range(5):  # nearly rank one plus tiny noise
        a, b = rng.standard_normal(7), rng.standard_normal(5)
        out.append(np.outer(a, b) + 1e-12 * rng.standard_normal((7, 5)))
    graded = rng.standard_normal((6, 4)) * np.logspace(-150, 150, 6)[:, None]
    out += [graded, 1e-300 * rng.standard_normal((5, 4)), 1e300 * rng.standard_normal((3, 5)),
            rng.standard_normal((1, 7)), rng.standard_normal((7, 1)),
            np.full((4, 4), 1.0 / 3.0)]
    # results below the normal range (the scaling back rounds there; review finding)
    out += [np.array([[5e-324, 5e-324]]), np.array([[5e-324], [5e-324]]),
            np.full((3, 3), 5e-324), np.array([[1.5e-323, 1.5e-323]]),
            1e-160 * rng.standard_normal((5, 4)), 1e160 * rng.standard_normal((5, 4)),
            np.vstack([1e-300 * rng.standard_normal((2, 3)), 1e300 * rng.standard_normal((1, 3))])]
    return out


INSTANCES = _instances()
EXACT = [_exact_sigma_max(A) for A in INSTANCES]


def _violations(bound) -> list[int]:
    """Instances where ``bound(A)`` is below the exact σ_max."""
    return [i for i, (A, s) in enumerate(zip(INSTANCES, EXACT, strict=True))
            if mpmath.mpf(float(bound(A))) < s]


def test_sigma_max_upper_is_a_rigorous_bound():
    assert _violations(lambda A: sigma_max_upper(A)[0]) == []


def test_sigma_max_upper_is_tight():
    for A, s in zip(INSTANCES, EXACT, strict=True):
        up = sigma_max_upper(A)[0]
        # relative 1e-12, or two subnormal steps where the grid is coarser than that
        assert up <= max(float(s) * (1 + 1e-12), float(s) + 2 * 5e-324), (up, float(s))


def test_sigma_max_upper_pair_attains_the_value():
    for A, s in zip(INSTANCES, EXACT, strict=True):
        _up, u, v = sigma_max_upper(A)
        assert np.linalg.norm(u) == pytest.approx(1.0) and np.linalg.norm(v) == pytest.approx(1.0)
        assert abs(u @ A @ v) >= float(s) * (1 - 1e-9)


def test_mutation_no_allowance_is_caught(monkeypatch):
    """Without the roundoff allowance, the bound is the computed ``sqrt(λ̂)``: the soundness
    check must fail on some instance (otherwise it could not detect a broken bound)."""
    monkeypatch.setattr(core, "_gram_allowance", lambda p, k, fro2: 0.0)
    monkeypatch.setattr(core, "_ROUND_UP", 1.0)
    assert _violations(lambda A: core.sigma_max_upper(A)[0]) != []


def test_mutation_allowance_1000x_too_small_is_caught(monkeypatch):
    """An allowance 1000 times smaller than the Gram-forming term ``p·eps·‖B‖²_F`` (no
    eigensolver term, no rounding-up) must be caught as well."""
    eps = float(np.finfo(float).eps)
    monkeypatch.setattr(core, "_gram_allowance", lambda p, k, fro2: 1e-3 * p * eps * fro2)
    monkeypatch.setattr(core, "_ROUND_UP", 1.0)
    assert _violations(lambda A: core.sigma_max_upper(A)[0]) != []


def test_mutation_underestimated_bound_is_caught():
    """A bound one part in 1e12 too low (an error in the constant's order) is caught."""
    assert _violations(lambda A: sigma_max_upper(A)[0] * (1 - 1e-12)) != []


def test_bad_input_raises():
    with pytest.raises(ValueError, match="NaN"):
        sigma_max_upper(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        sigma_max_upper(np.ones(3))
    assert sigma_max_upper(np.zeros((3, 2)))[0] == 0.0
    assert sigma_max_upper(np.zeros((0, 2)))[0] == 0.0


def test_sigma_max_bracket_lower_is_the_pairs_value_at_every_scale():
    """The lower end is computed in the prescaled matrix: at 1e±160 the former ``‖Av‖`` on the
    raw matrix overflowed to inf or rose above σ_max through subnormal squares, and
    NuclearPolar raised on its own bracket (review finding)."""
    for A, s in zip(INSTANCES, EXACT, strict=True):
        lower, upper, _u, _v = sigma_max_bracket(A)
        assert mpmath.mpf(lower) <= s <= mpmath.mpf(upper)
        assert lower <= upper
    rng = np.random.default_rng(0)
    for scale in (1e-160, 1e160, 1e-300, 1e300):
        A = scale * rng.standard_normal((5, 4))
        b = NuclearPolar()(A)  # raised "invalid polar bracket" before the fix
        s = _exact_sigma_max(A)
        assert mpmath.mpf(b.lower) <= s <= mpmath.mpf(b.upper)
        assert b.lower >= float(s) * (1 - 1e-12)
