"""Operator polar bounds (homfact.polar.operator_bounds): Lanczos, the deterministic norm bound,
the random-start (Kuczyński–Woźniakowski) bound and the probabilistic certificate status."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse.linalg import aslinearoperator

from homfact.certificate import STATUSES
from homfact.meta import certify_factors
from homfact.polar import OperatorNuclearPolar, PolarBound
from homfact.polar.operator_bounds import (
    exact_norms,
    lanczos_epsilon,
    lanczos_failure_probability,
    lanczos_failure_probability_kw92,
    lanczos_steps_for_accuracy,
    lanczos_top_ritz,
    norm_sigma_upper,
)
from homfact.problems import low_rank_problem


def _sigma50(A: np.ndarray) -> mpmath.mpf:
    """``σ_max`` of the stored double matrix to 50 digits."""
    with mpmath.workdps(50):
        M = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in A])
        return max(mpmath.svd_r(M, compute_uv=False))


def _det_bound(A: np.ndarray) -> float:
    return norm_sigma_upper(*exact_norms(A)[:3], n_fro=A.size, n_one=A.shape[0],
                            n_inf=A.shape[1])


def _adversarial(rng: np.random.Generator, i: int) -> np.ndarray:
    """Matrices where ``‖A‖_F`` or ``√(‖A‖₁‖A‖_∞)`` is (nearly) attained, at extreme scales."""
    m, n = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    scale = 2.0 ** float(rng.integers(-60, 60))
    kind = i % 3
    if kind == 0:       # rank one: σ_max = ‖A‖_F up to the rounding of the stored products
        A = np.outer(rng.standard_normal(m), rng.standard_normal(n))
    elif kind == 1:     # constant-modulus sign pattern of rank one: both bounds attained
        A = np.outer(rng.choice([-1.0, 1.0], m), rng.choice([-1.0, 1.0], n)) * rng.random()
    else:               # near rank one plus tiny noise
        A = np.outer(rng.standard_normal(m), rng.standard_normal(n))
        A = A + 1e-14 * rng.standard_normal((m, n))
    return A * scale


# ----------------------------------------------------------------------------------------------
# Lanczos
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_lanczos_ritz_value_matches_eigvalsh(seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((60, 35)) * rng.random(35) ** 3
    G = A.T @ A
    lam = float(np.linalg.eigvalsh(G)[-1])
    calls = []

    def gram(x):
        calls.append(1)
        return A.T @ (A @ x)

    full = lanczos_top_ritz(gram, 35, 35, np.random.default_rng(seed + 100))
    assert full.n_products == len(calls) == full.n_steps <= 35
    assert abs(full.ritz_value - lam) <= 1e-10 * lam
    assert np.linalg.norm(G @ full.ritz_vector - full.ritz_value * full.ritz_vector) <= 1e-8 * lam
    for k in (1, 3, 8):
        part = lanczos_top_ritz(gram, 35, k, np.random.default_rng(seed))
        assert part.n_steps == k
        assert part.ritz_value <= lam * (1 + 1e-12)          # a Ritz value is a lower bound
        assert abs(np.linalg.norm(part.ritz_vector) - 1) < 1e-12


def test_lanczos_invariant_subspace_stops_early():
    rng = np.random.default_rng(0)
    A = np.outer(rng.standard_normal(30), rng.standard_normal(20)) + np.outer(
        rng.standard_normal(30), rng.standard_normal(20))
    res = lanczos_top_ritz(lambda x: A.T @ (A @ x), 20, 15, rng)
    lam = float(np.linalg.eigvalsh(A.T @ A)[-1])
    assert res.invariant and res.n_steps <= 3
    assert abs(res.ritz_value - lam) <= 1e-12 * lam


def test_lanczos_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="dim"):
        lanczos_top_ritz(lambda x: x, 0, 3, rng)
    with pytest.raises(ValueError, match="n_steps"):
        lanczos_top_ritz(lambda x: x, 3, 0, rng)
    with pytest.raises(TypeError, match="rng"):
        lanczos_top_ritz(lambda x: x, 3, 2, 0)
    with pytest.raises(ValueError, match="apply_gram"):
        lanczos_top_ritz(lambda x: np.full(2, np.nan), 3, 2, rng)


# ----------------------------------------------------------------------------------------------
# the deterministic bound
# ----------------------------------------------------------------------------------------------
def test_norm_bound_is_sound_against_50_digits_and_weakened_bound_fails():
    rng = np.random.default_rng(7)
    violations_raw = 0
    for i in range(240):
        A = _adversarial(rng, i)
        exact = _sigma50(A)
        bound = _det_bound(A)
        assert mpmath.mpf(bound) >= exact, (i, bound, exact)
        # mutation: the same norms with no rounding allowance
        fro, one, inf = exact_norms(A)[:3]
        raw = min(fro, math.sqrt(one * inf))
        violations_raw += mpmath.mpf(raw) < exact
    assert violations_raw > 0          # the check can tell a bound without its allowance


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)),
              elements=st.floats(-1e100, 1e100, allow_nan=False, allow_infinity=False)))
def test_norm_bound_property(A):
    assert mpmath.mpf(_det_bound(A)) >= _sigma50(A)


def test_exact_norms_paths_agree():
    rng = np.random.default_rng(1)
    D = rng.standard_normal((40, 25)) * (rng.random((40, 25)) < 0.2)
    S = sp.csr_matrix(D)
    dn, sn = exact_norms(D), exact_norms(S)
    assert np.allclose(dn[:3], sn[:3], rtol=1e-14)
    assert sn[3] == S.nnz and dn[3] == D.size
    assert exact_norms(aslinearoperator(D))[:3] == (None, None, None)
    assert norm_sigma_upper() == math.inf
    with pytest.raises(ValueError, match="fro"):
        norm_sigma_upper(fro=-1.0)


# ----------------------------------------------------------------------------------------------
# the random-start bound
# ----------------------------------------------------------------------------------------------
def test_epsilon_inverts_failure_probability():
    for n in (2, 10, 1000, 10**6):
        for k in (1, 2, 5, 50, 400):
            for delta in (0.3, 1e-3, 1e-9):
                eps = lanczos_epsilon(delta, k, n)
                if eps < 1:
                    assert lanczos_failure_probability(eps, k, n) <= delta
                    assert lanczos_failure_probability(eps * (1 - 1e-6), k, n) > delta * (1 - 1e-4)
    assert lanczos_epsilon(0.1, 3, 1) == 0.0


def test_derived_bound_within_published_form():
    """For ``(2k−1)√ε ≥ 1.72`` the proved bound is at most ``1.648√n e^{−√ε(2k−1)}``."""
    for n in (2, 50, 10**4, 10**6, 10**9):
        for k in range(1, 400, 7):
            for eps in np.geomspace(1e-6, 0.99, 40):
                if (2 * k - 1) * math.sqrt(eps) >= 1.72:
                    ours = lanczos_failure_probability(float(eps), k, n)
                    assert ours <= lanczos_failure_probability_kw92(float(eps), k, n)


def test_steps_for_accuracy():
    n, delta, tau = 10**6, 1e-9, 1e-3
    k = lanczos_steps_for_accuracy(tau, delta, n)
    target = 1 - 1 / (1 + tau) ** 2
    assert lanczos_epsilon(delta, k, n) <= target < lanczos_epsilon(delta, k - 1, n)
    assert 1 / math.sqrt(1 - lanczos_epsilon(delta, k, n)) <= 1 + tau
    with pytest.raises(ValueError, match="rel_accuracy"):
        lanczos_steps_for_accuracy(0.0, delta, n)


def _chebyshev_spectrum(eps: float, k: int, n: int) -> np.ndarray:
    """``λ₁ = 1`` and the rest at the extremal points of ``T_{2k−1}(s(x))`` on ``[0, 1 − ε]``
    (where the Chebyshev argument of the bound is tight)."""
    m = 2 * k - 1
    s = np.cos(np.arange(m + 1) * np.pi / m)
    x = np.unique(np.round((1 - eps) * (1 - s * s), 14))
    return np.r_[1.0, np.resize(x, n - 1)]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_random_start_failure_frequency(k):
    """Failures at the bound's ``ε`` stay within ``δ·T + 3σ``; at ``ε/2`` (a weakened bound)
    they exceed it (mutation test)."""
    delta, trials, n = 0.05, 2000, 40
    eps = lanczos_epsilon(delta, k, n)
    spec = _chebyshev_spectrum(eps, k, n)
    rng = np.random.default_rng(1000 + k)
    fails = fails_weak = 0
    for _ in range(trials):
        xi = lanczos_top_ritz(lambda x: spec * x, n, k, rng).ritz_value
        fails += xi < (1 - eps)
        fails_weak += xi < (1 - eps / 2)
    limit = delta * trials + 3 * math.sqrt(trials * delta * (1 - delta))
    assert fails <= limit
    assert fails_weak > limit


# ----------------------------------------------------------------------------------------------
# the polar solver
# ----------------------------------------------------------------------------------------------
def _sparse_case(seed: int):
    rng = np.random.default_rng(seed)
    m, n = 400, 150
    L = rng.standard_normal((m, 3)) @ rng.standard_normal((3, n))
    mask = rng.random((m, n)) < 0.1
    return sp.csr_matrix(np.where(mask, L + 0.1 * rng.standard_normal((m, n)), 0.0))


@pytest.mark.parametrize("seed", range(3))
def test_operator_polar_sparse_and_linear_operator(seed):
    S = _sparse_case(seed)
    D = S.toarray()
    sigma = float(np.linalg.svd(D, compute_uv=False)[0])
    polar = OperatorNuclearPolar(delta=1e-9, gram_max_dim=0)      # the Lanczos path
    for op, det in ((S, True), (S.T.tocsr(), True), (aslinearoperator(S), False)):
        b = polar(op, rng=np.random.default_rng(seed))
        dense = op.toarray() if sp.issparse(op) else D
        assert isinstance(b, PolarBound) and b.delta == 1e-9 and not b.allow_probabilistic
        assert b.lower <= sigma * (1 + 1e-14)
        assert sigma <= b.upper_probabilistic <= b.upper
        k = polar.last_result.n_steps
        eps = 0.0 if k == min(S.shape) else lanczos_epsilon(1e-9, k, min(S.shape))
        assert b.upper_probabilistic <= sigma / math.sqrt(1 - eps) * (1 + 1e-9)
        assert math.isfinite(b.upper) is det
        if det:
            assert sigma <= b.upper
        u, v = b.maximizer
        assert u.shape == (dense.shape[0],) and v.shape == (dense.shape[1],)
        assert abs(np.linalg.norm(u) - 1) < 1e-12 and abs(np.linalg.norm(v) - 1) < 1e-12
        value = float(u @ dense @ v)
        assert b.lower <= value * (1 + 1e-14) and value - b.lower <= 1e-9 * value
        assert "Kuczynski-Wozniakowski" in b.method and "k=" in b.method


def test_operator_polar_uses_norm_methods_and_counts_products():
    S = _sparse_case(5)

    class Distributed:
        """A stand-in for a distributed residual: products and exact-data norm reductions."""

        shape = S.shape
        nnz = S.nnz

        def __init__(self):
            self.products = 0

        def matvec(self, x):
            self.products += 1
            return S @ x

        def rmatvec(self, y):
            self.products += 1
            return S.T @ y

        def fro_norm(self):
            return float(sp.linalg.norm(S))

        def one_norm(self):
            return float(abs(S).sum(axis=0).max())

        def inf_norm(self):
            return float(abs(S).sum(axis=1).max())

    op = Distributed()
    polar = OperatorNuclearPolar(n_steps=40, gram_max_dim=0)
    b = polar(op, rng=np.random.default_rng(0))
    ref = polar(S, rng=np.random.default_rng(0))
    assert b.upper == ref.upper and b.lower == ref.lower
    assert op.products == 2 * polar.last_result.n_products + 1


def test_operator_polar_bad_input():
    with pytest.raises(ValueError, match="delta"):
        OperatorNuclearPolar(delta=0.0)
    with pytest.raises(ValueError, match="n_steps"):
        OperatorNuclearPolar(n_steps=0)
    with pytest.raises(TypeError, match="allow_probabilistic"):
        OperatorNuclearPolar(allow_probabilistic=1)
    with pytest.raises(TypeError, match="op"):
        OperatorNuclearPolar()(object())


@pytest.mark.parametrize("seed", range(4))
def test_probabilistic_upper_holds_on_clustered_spectra(seed):
    """The floating-point allowance, probed: clustered and graded spectra, tiny ``δ``."""
    rng = np.random.default_rng(seed)
    m, n = 300, 120
    Q1, _ = np.linalg.qr(rng.standard_normal((m, n)))
    Q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.r_[1.0, 1 - np.geomspace(1e-12, 1e-3, 10), rng.random(n - 11) ** (seed + 1)]
    A = (Q1 * s) @ Q2.T * 10.0 ** (seed * 40 - 60)
    sigma = float(np.linalg.svd(A, compute_uv=False)[0])
    for k in (2, 5, 20):
        b = OperatorNuclearPolar(n_steps=k)(aslinearoperator(A), rng=rng)
        assert b.lower <= sigma <= b.upper_probabilistic


# ----------------------------------------------------------------------------------------------
# certificate status
# ----------------------------------------------------------------------------------------------
def _svt_point(Y: np.ndarray, lam: float):
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    keep = s > lam
    r = np.sqrt(s[keep] - lam)
    return [U[:, keep] * r, Vt[keep].T * r]


def test_certificate_status_rules():
    assert "global_probabilistic" in STATUSES
    rng = np.random.default_rng(3)
    lam, tol, prtol = 2.0, 1e-2, 1e-2
    # rank one: G = λ·abᵀ at the optimum, ‖G‖_F = λ: the deterministic bound certifies
    a, c = rng.standard_normal(60), rng.standard_normal(40)
    Y1 = 10.0 * np.outer(a / np.linalg.norm(a), c / np.linalg.norm(c))
    for allow in (False, True):
        pr = low_rank_problem(Y1, lam, polar=OperatorNuclearPolar(allow_probabilistic=allow,
                                                                  delta=1e-6))
        cert, *_ = certify_factors(pr, _svt_point(Y1, lam), tol=tol, polar_rtol=prtol,
                                   rng=np.random.default_rng(0))
        assert cert.status == "global" and cert.is_global and cert.is_certified
    # low rank + noise: at the SVT optimum ‖G‖_F ≫ λ = σ_max(G); only the probabilistic bound
    Y = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 120)) + rng.standard_normal(
        (200, 120))
    lam = 0.5 * float(np.linalg.svd(Y, compute_uv=False)[2])
    X = _svt_point(Y, lam)
    s = np.linalg.svd(Y, compute_uv=False)
    p_star = 0.5 * np.sum(np.minimum(s, lam) ** 2) + lam * np.sum(np.maximum(s - lam, 0))
    out = {}
    for allow in (False, True):
        # k = 100 < d = 120: the status rests on the random-start ε (> 0)
        pr = low_rank_problem(Y, lam, polar=OperatorNuclearPolar(
            100, allow_probabilistic=allow, delta=1e-6, gram_max_dim=0))
        cert, bound, *_ = certify_factors(pr, X, tol=tol, polar_rtol=prtol,
                                          rng=np.random.default_rng(1))
        assert bound.upper > lam * (1 + prtol) >= bound.upper_probabilistic
        assert bound.upper_probabilistic > lam * (1 + 1e-3)         # ε > 0 is visible
        assert cert.lower_bound <= p_star * (1 + 1e-12)      # always valid
        assert cert.delta == 1e-6
        out[allow] = cert
    assert out[False].status == "unverified" and not out[False].is_certified
    assert out[False].lower_bound_probabilistic == -math.inf
    cp = out[True]
    assert cp.status == "global_probabilistic" and cp.is_certified and not cp.is_global
    assert "Kuczynski-Wozniakowski" in cp.method and "delta=1e-06" in cp.method
    assert cp.lower_bound < cp.lower_bound_probabilistic <= p_star * (1 + 1e-12)
    assert cp.status_relative_gap == cp.relative_gap_probabilistic <= tol < cp.relative_gap
    assert cp.to_dict()["delta"] == 1e-6 and "delta=" in str(cp)


# ----------------------------------------------------------------------------------------------
# the formed-Gram path (small Gram side): deterministic and tight
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_gram_path_is_a_tight_deterministic_bracket(seed):
    """``d ≤ gram_max_dim``: no Lanczos run, ``σ_max ≤ upper`` with certainty and tight to
    rounding, on sparse, dense and transposed inputs, graded spectra and extreme scales."""
    rng = np.random.default_rng(seed)
    m, n = 240, 70
    Q1, _ = np.linalg.qr(rng.standard_normal((m, n)))
    Q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.r_[1.0, 1 - np.geomspace(1e-13, 1e-4, 8), rng.random(n - 9) ** (seed + 1)]
    A = (Q1 * s) @ Q2.T * 10.0 ** (seed * 50 - 150)
    sigma = float(np.linalg.svd(A, compute_uv=False)[0])
    S = sp.random(300, 90, density=0.05, random_state=seed, format="csr")
    sigma_s = float(np.linalg.svd(S.toarray(), compute_uv=False)[0])
    polar = OperatorNuclearPolar(delta=1e-9)
    for op, ref in ((A, sigma), (A.T.copy(), sigma), (S, sigma_s), (S.T.tocsr(), sigma_s)):
        b = polar(op, rng=np.random.default_rng(seed))
        assert polar.last_result is None and b.method.startswith("gram(")
        assert b.lower <= ref <= b.upper
        dense = op.toarray() if sp.issparse(op) else op
        # tight to the stated allowance: σ² + (p + 8d + 1)·eps·‖A‖²_F, halved by the root
        p, d = max(dense.shape), min(dense.shape)
        fro2_rel = float(np.sum((dense / ref) ** 2))
        assert b.upper <= ref * (1 + (p + 8 * d + 2) * np.finfo(float).eps * fro2_rel)
        assert b.lower >= ref * (1 - 1e-11)
        assert b.upper_probabilistic == b.upper                 # nothing probabilistic
        u, v = b.maximizer
        assert abs(float(u @ dense @ v) - ref) <= 1e-11 * ref


def test_gram_path_uses_gram_matrix_and_checks_its_shape():
    S = _sparse_case(2)
    calls = []

    class Distributed:
        shape, nnz = S.shape, S.nnz

        def matvec(self, x):
            return S @ x

        def rmatvec(self, y):
            return S.T @ y

        def fro_norm(self):
            return float(np.sqrt((S.data ** 2).sum()))

        def gram_matrix(self):
            calls.append(1)
            G = (S.T @ S).toarray() if S.shape[1] <= S.shape[0] else (S @ S.T).toarray()
            return G, float((S.data ** 2).sum()), max(S.shape)

    b = OperatorNuclearPolar()(Distributed(), rng=np.random.default_rng(0))
    ref = OperatorNuclearPolar()(S, rng=np.random.default_rng(0))
    assert calls == [1] and "summed on the workers" in b.method
    assert b.upper == ref.upper and b.lower == ref.lower
    # above gram_max_dim, or with the path off, the Lanczos run is made instead
    off = OperatorNuclearPolar(n_steps=5, gram_max_dim=min(S.shape) - 1)
    off(Distributed(), rng=np.random.default_rng(0))
    assert calls == [1] and off.last_result.n_steps == 5

    class WrongShape(Distributed):
        def gram_matrix(self):
            return np.eye(3), 1.0, 10

    with pytest.raises(ValueError, match="gram_matrix"):
        OperatorNuclearPolar()(WrongShape())
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="gram_max_dim"):
            OperatorNuclearPolar(gram_max_dim=bad)


def test_gram_path_certifies_where_the_norm_bound_cannot():
    """Low rank + noise at the SVT optimum: ``‖G‖_F ≫ λ = σ_max(G)``, so the norm bound
    leaves the fit ``"unverified"``; the formed Gram certifies it ``"global"`` with no
    probabilistic opt-in."""
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 120)) + rng.standard_normal(
        (200, 120))
    lam = 0.5 * float(np.linalg.svd(Y, compute_uv=False)[2])
    X = _svt_point(Y, lam)
    cert, bound, *_ = certify_factors(low_rank_problem(Y, lam, polar=OperatorNuclearPolar()),
                                      X, tol=1e-8, polar_rtol=1e-8,
                                      rng=np.random.default_rng(1))
    assert cert.status == "global" and cert.is_global and cert.relative_gap <= 1e-8
    assert bound.upper <= lam * (1 + 1e-10) and "gram(" in bound.method


@pytest.mark.parametrize("shape", [(40, 12), (12, 40)])
def test_gram_path_candidates_are_the_next_singular_pairs(shape):
    """On the Gram path ``n_candidates = k`` returns the next ``k − 1`` singular pairs (unit
    pairs, value ``‖Ax_j‖`` = the singular value, decreasing), for either Gram side and for a
    bare matvec/rmatvec object with ``gram_matrix``."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal(shape) @ np.diag(np.linspace(1, 3, shape[1])) if shape[0] > shape[1] \
        else np.diag(np.linspace(1, 3, shape[0])) @ rng.standard_normal(shape)
    s = np.linalg.svd(A, compute_uv=False)
    b = OperatorNuclearPolar()(A, n_candidates=4)
    assert b.method.startswith("gram(")
    assert len(b.candidates) == 3
    vals = [v for _, v in b.candidates]
    np.testing.assert_allclose(vals, s[1:4], rtol=1e-10)
    for (u, v), val in b.candidates:
        assert u.shape == (shape[0],) and v.shape == (shape[1],)
        np.testing.assert_allclose([np.linalg.norm(u), np.linalg.norm(v)], 1.0, rtol=1e-12)
        assert u @ A @ v == pytest.approx(val, rel=1e-10)
    assert OperatorNuclearPolar()(A).candidates == ()

    class Bare:                       # matvec/rmatvec/gram_matrix only: no matmat
        def __init__(self, M):
            self.M, self.shape = M, M.shape

        def matvec(self, x):
            return self.M @ x

        def rmatvec(self, y):
            return self.M.T @ y

        def gram_matrix(self):
            small = self.M.T @ self.M if shape[0] >= shape[1] else self.M @ self.M.T
            return small, float(np.vdot(self.M, self.M)), max(shape)

    bb = OperatorNuclearPolar()(Bare(A), n_candidates=3)
    np.testing.assert_allclose([v for _, v in bb.candidates], s[1:3], rtol=1e-10)
