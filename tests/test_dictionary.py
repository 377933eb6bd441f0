"""Sparse dictionary learning: elastic-net dual, polar bracket, local solver, estimator, example."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import homfact as hf
from homfact.gauges import ElasticNet
from homfact.meta import certify_factors
from homfact.models.dictionary import (
    ElasticNetL2Polar,
    dictionary_problem,
    elastic_net_bcd,
    elastic_net_dual_columns,
    sparse_encode_elastic_net,
)

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- elastic-net dual / LMO


@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5, 2.0, 30.0])
def test_dual_columns_match_exact_scalar_dual(gamma):
    rng = np.random.default_rng(1)
    W = rng.standard_normal((40, 9)) * rng.random((40, 1)) ** 3
    W[:, 0] = 0.0
    W[:, 1] = 0.0
    W[3, 1] = -2.0  # one-sparse column: κ°(w) = |w_j|/(1 + γ)
    mu = elastic_net_dual_columns(W, gamma)
    ref = np.array([ElasticNet(gamma).dual_value(W[:, j]) for j in range(W.shape[1])])
    np.testing.assert_allclose(mu, ref, rtol=1e-12, atol=1e-14)
    assert mu[0] == 0.0
    assert mu[1] == pytest.approx(2.0 / (1.0 + gamma), rel=1e-12)


@pytest.mark.parametrize("gamma", [0.1, 1.0])
def test_dual_columns_against_cvxpy(gamma):
    rng = np.random.default_rng(2)
    w = rng.standard_normal(12)
    x = cp.Variable(12)
    prob = cp.Problem(cp.Maximize(w @ x), [cp.norm(x, 2) + gamma * cp.norm(x, 1) <= 1])
    prob.solve()
    assert elastic_net_dual_columns(w[:, None], gamma)[0] == pytest.approx(prob.value, rel=1e-6)


# ---------------------------------------------------------------- polar bracket


def _brute_force_polar_2d(G: np.ndarray, gamma: float, n_grid: int = 20001) -> float:
    """``Ω°(G) = max_{‖v‖₂ ≤ 1} κ°(G v)`` for ``G`` with 2 columns: a dense grid of unit ``v``
    (κ° of G v is Lipschitz in v with constant ‖G‖₂, so the grid error is ≤ ‖G‖₂·π/n_grid)."""
    t = np.linspace(0, np.pi, n_grid)
    V = np.vstack([np.cos(t), np.sin(t)])
    return float(elastic_net_dual_columns(G @ V, gamma).max())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma", [0.05, 0.5, 3.0])
def test_polar_bracket_contains_brute_force(seed, gamma):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((7, 2))
    bf = _brute_force_polar_2d(G, gamma)
    err = np.linalg.norm(G, 2) * np.pi / 20000
    b = ElasticNetL2Polar(gamma, n_starts=8)(G, rng=rng)
    assert b.lower <= bf + err + 1e-12
    assert bf <= b.upper * (1 + 1e-12)
    assert b.lower >= bf - 0.05 * bf  # multistart finds (nearly) the maximum on tiny cases
    u, v = b.maximizer
    assert ElasticNet(gamma).value(u) <= 1 + 1e-12
    assert np.linalg.norm(v) <= 1 + 1e-12
    assert u @ G @ v == pytest.approx(b.lower, rel=1e-12)


def test_polar_upper_bound_uses_row_norms_for_large_gamma():
    rng = np.random.default_rng(3)
    G = rng.standard_normal((200, 5))
    gamma = 5.0
    b = ElasticNetL2Polar(gamma)(G)
    row = np.linalg.norm(G, axis=1).max() / (gamma + 1 / np.sqrt(200))
    spec = np.linalg.norm(G, 2) / (1 + gamma)
    assert b.upper == pytest.approx(min(row, spec), rel=1e-6)
    assert b.lower <= b.upper


def test_polar_candidates_are_feasible_and_distinct():
    rng = np.random.default_rng(4)
    G = rng.standard_normal((60, 10))
    b = ElasticNetL2Polar(0.5, n_starts=16)(G, n_candidates=4, rng=rng)
    for (u, v), val in b.candidates:
        assert ElasticNet(0.5).value(u) <= 1 + 1e-12
        assert np.linalg.norm(v) <= 1 + 1e-12
        assert u @ G @ v == pytest.approx(val, rel=1e-10)
        assert val <= b.lower + 1e-12


# ---------------------------------------------------------------- local solver


def test_bcd_monotone_and_matches_prox_linear_objective():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 8))
    U0, V0 = rng.standard_normal((30, 4)), rng.standard_normal((8, 4))
    lam, gamma = 0.5, 0.3
    problem = dictionary_problem(X, lam, gamma)
    f = [problem.objective([U0, V0])]
    U, V = U0, V0
    for _ in range(20):
        res = elastic_net_bcd(X, U, V, lam, gamma, max_sweeps=1, tol=0.0)
        U, V = res.factors
        f.append(problem.objective([U, V]))
        assert res.objective == pytest.approx(f[-1], rel=1e-10)
    assert np.all(np.diff(f) <= 1e-10 * np.abs(f[1:]))


def test_sparse_encode_is_optimal_against_cvxpy():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((12, 5))
    V = rng.standard_normal((5, 3))
    lam, gamma = 0.7, 0.4
    U, _ = sparse_encode_elastic_net(X, V, lam, gamma, tol=1e-12, max_sweeps=20000)
    C = cp.Variable((12, 3))
    dn = np.linalg.norm(V, axis=0)
    obj = 0.5 * cp.sum_squares(X - C @ V.T) + lam * sum(
        dn[i] * (cp.norm(C[:, i], 2) + gamma * cp.norm(C[:, i], 1)) for i in range(3))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve()
    problem = dictionary_problem(X, lam, gamma)
    assert problem.objective([U, V]) <= prob.value + 1e-6 * max(1.0, abs(prob.value))


def _sparse_coding_case(seed=3):
    """Overcomplete, coherent atoms (8 features, 24 atoms) and sparse codes."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((8, 24))
    V /= np.linalg.norm(V, axis=0)
    C = rng.standard_normal((400, 24)) * (rng.random((400, 24)) < 0.08)
    return C @ V.T + 0.05 * rng.standard_normal((400, 8)), V, 1.0, 2.0


@pytest.mark.parametrize("anderson", [0, 5])
def test_sparse_encode_working_set_matches_plain_coordinate_descent(anderson):
    from homfact.solvers.elastic_net import _update_codes

    X, V, lam, gamma = _sparse_coding_case()
    VtV, w = V.T @ V, lam * np.linalg.norm(V, axis=0)
    ref = np.zeros((X.shape[0], V.shape[1]), order="F")
    for _ in range(20000):  # plain exact cyclic CD over the full problem, no working set
        prev = ref.copy()
        _update_codes(ref, X @ V, VtV, w, gamma)
        if np.linalg.norm(ref - prev) <= 1e-13 * np.linalg.norm(ref):
            break
    U, _ = sparse_encode_elastic_net(X, V, lam, gamma, tol=1e-10, max_sweeps=20000,
                                     anderson=anderson)
    assert 0 < np.count_nonzero(U) < 0.25 * U.size  # the working-set path is the one used
    problem = dictionary_problem(X, lam, gamma)
    f_ref = problem.objective([ref, V])
    assert problem.objective([U, V]) <= f_ref + 1e-10 * f_ref
    np.testing.assert_allclose(U, ref, atol=1e-6 * np.abs(ref).max())
    again = U.copy(order="F")  # optimal: one more full exact sweep leaves the codes in place
    _update_codes(again, X @ V, VtV, w, gamma)
    assert np.linalg.norm(again - U) <= 1e-8 * np.linalg.norm(U)


# ---------------------------------------------------------------- grow + certificate


def _planted(n=120, m=10, r=3, seed=7):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((r, m))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    C = rng.standard_normal((n, r)) * (rng.random((n, r)) < 0.3) * 3.0
    return C @ D + 0.05 * rng.standard_normal((n, m))


def test_certificate_is_sound_bracket():
    X = _planted()
    m = hf.SparseDictionaryLearning(lam=2.0, gamma=0.5, tol=1e-4, random_state=0).fit(X)
    c = m.certificate_
    assert c.lower_bound <= c.objective + 1e-9
    assert c.polar_lower <= c.polar_upper * (1 + 1e-9)
    if c.status == "global":
        assert c.polar_upper <= m.lam_ * (1 + 1e-3)
        assert c.relative_gap <= 1e-4
    # the certificate is that of the returned factors
    problem = dictionary_problem(X, m.lam_, 0.5)
    assert problem.objective([m.U_, m.V_]) == pytest.approx(c.objective, rel=1e-10)
    assert m.n_components_ == m.rank_ == m.components_.shape[0]
    assert m.components_.shape[1] == X.shape[1]
    assert m.codes_.shape == (X.shape[0], m.rank_)


def test_lower_bound_below_cvxpy_optimum_of_fixed_atoms_problem():
    """Soundness: the certified lower bound never exceeds a feasible objective found by CVXPY
    (the codes problem for the fitted atoms is one feasible family)."""
    X = _planted(n=25, m=5, r=2, seed=8)
    m = hf.SparseDictionaryLearning(lam=1.0, gamma=0.3, tol=1e-5, random_state=0).fit(X)
    V = m.V_
    r = V.shape[1]
    C = cp.Variable((X.shape[0], r))
    dn = np.linalg.norm(V, axis=0)
    obj = 0.5 * cp.sum_squares(X - C @ V.T) + 1.0 * sum(
        dn[i] * (cp.norm(C[:, i], 2) + 0.3 * cp.norm(C[:, i], 1)) for i in range(r))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve()
    assert m.certificate_.lower_bound <= prob.value + 1e-6


def test_large_lam_gives_zero_and_global():
    X = _planted()
    b = ElasticNetL2Polar(0.5)(X)
    m = hf.SparseDictionaryLearning(lam=1.01 * b.upper, gamma=0.5).fit(X)
    assert m.lam_max_[0] <= m.lam_max_[1] == pytest.approx(b.upper)
    assert m.rank_ == 0
    assert m.certificate_.status == "global"
    assert m.transform(X).shape == (X.shape[0], 0)


def test_transform_reproduces_fitted_codes():
    X = _planted(n=60, m=8)
    m = hf.SparseDictionaryLearning(lam=2.0, gamma=0.5, tol=1e-6, transform_tol=1e-12,
                                    transform_max_iter=100000, transform_algorithm="elastic_net",
                                    random_state=0).fit(X)
    assert m.rank_ >= 1
    C = m.transform(X)
    np.testing.assert_allclose(C, m.codes_, atol=1e-3 * np.abs(m.codes_).max())
    R = m.inverse_transform(C)
    assert R.shape == X.shape


def test_prox_linear_solver_reaches_similar_objective():
    X = _planted(n=40, m=8, seed=9)
    a = hf.SparseDictionaryLearning(lam=2.0, gamma=0.5, random_state=0).fit(X)
    b = hf.SparseDictionaryLearning(lam=2.0, gamma=0.5, local_solver="prox_linear",
                                    random_state=0).fit(X)
    assert abs(a.certificate_.objective - b.certificate_.objective) <= 1e-2 * abs(
        a.certificate_.objective)


def test_max_rank_is_respected():
    X = _planted()
    m = hf.SparseDictionaryLearning(lam=0.2, gamma=0.5, max_rank=2, max_iter=20).fit(X)
    assert m.rank_ <= 2
    assert m.certificate_.status != "global" or m.certificate_.polar_upper <= 0.2 * 1.001


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("gamma", [-0.1, -1, float("nan"), float("inf")])
def test_bad_gamma_names_gamma(gamma):
    with pytest.raises(ValueError, match="gamma"):
        hf.SparseDictionaryLearning(gamma=gamma).fit(np.ones((5, 3)))


def test_nan_input_is_a_clear_error():
    X = np.ones((5, 3))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        hf.SparseDictionaryLearning().fit(X)
    m = hf.SparseDictionaryLearning(lam=0.5).fit(np.random.default_rng(0).random((6, 3)))
    with pytest.raises(ValueError, match="X contains NaN"):
        m.transform(X)


@pytest.mark.parametrize("kwargs, name", [
    ({"lam": -1.0}, "lam"), ({"lam": "big"}, "lam"), ({"tol": 2.0}, "tol"),
    ({"max_rank": 0}, "max_rank"), ({"max_iter": 0}, "max_iter"),
    ({"local_solver": "x"}, "local_solver"), ({"gamma": "a"}, "gamma"),
])
def test_bad_params_name_the_argument(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        hf.SparseDictionaryLearning(**kwargs).fit(np.ones((5, 3)))


# ---------------------------------------------------------------- scikit-learn conventions


def _expected_failed_checks(estimator) -> dict[str, str]:
    if estimator.transform_algorithm != "elastic_net":
        return {}  # the default (OMP) and the other codings are per signal
    return {"check_methods_subset_invariance":
            "by design: the elastic_net transform solves the model's objective for the whole "
            "batch; the group term λ‖Dᵢ‖‖Cᵢ‖₂ couples the signals of a batch (so "
            "transform(X_train) = codes_)"}


@parametrize_with_checks([hf.SparseDictionaryLearning(max_iter=5, transform_max_iter=200),
                          hf.SparseDictionaryLearning(max_iter=5, transform_max_iter=200,
                                                      transform_algorithm="elastic_net")],
                         expected_failed_checks=_expected_failed_checks, xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_transform_checks_feature_count():
    m = hf.SparseDictionaryLearning(lam=0.5).fit(np.random.default_rng(0).random((6, 3)))
    with pytest.raises(ValueError):
        m.transform(np.ones((2, 4)))


def test_certify_recomputes_certificate():
    X = _planted(n=40, seed=10)
    m = hf.SparseDictionaryLearning(lam=2.0, gamma=0.5).fit(X)
    c = m.certify(X)
    assert c.objective == pytest.approx(m.certificate_.objective, rel=1e-10)
    problem = dictionary_problem(X, m.lam_, 0.5)
    c2, *_ = certify_factors(problem, [m.U_, m.V_], tol=m.tol)
    assert c2.objective == pytest.approx(c.objective, rel=1e-12)


# ---------------------------------------------------------------- example + benchmark smoke


def test_example_runs_tiny(tmp_path):
    ex = _load(ROOT / "examples" / "denoise_camera_dictionary.py", "_ex_denoise_dict")
    out = ex.main(["--size", "24", "--n-train", "120", "--sigmas", "0.1", "--time-limit", "1.5",
                   "--sk-max-iter", "3", "--out", str(tmp_path / "dict.png")])
    assert (tmp_path / "dict.png").exists()
    r = out[0]
    assert r["psnr_homfact"] > r["psnr_noisy"]
    assert np.isfinite(r["psnr_sklearn"])


def test_benchmark_runs_quick(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    bench = _load(ROOT / "benchmarks" / "bench_dictionary.py", "_bench_dictionary")
    res = bench.main(quick=True, out_dir=tmp_path)
    assert res["cases"]
    for case in res["cases"]:
        assert case["psnr"] > case["psnr_noisy"]
        assert np.isfinite(case["psnr_peer"]) and case["time_peer"] > 0
        assert case["meets_target"] == (case["psnr_diff_db"] >= -0.3
                                        and case["time_ratio"] <= 2.0)


def test_robustness_trial_small():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    rob = _load(ROOT / "benchmarks" / "robust_dictionary.py", "_robust_dictionary")
    assert rob.FAMILY and rob.PEER
    r = rob.trial(3, small=True)
    for key in ("success", "error", "error_peer", "time", "time_peer", "params"):
        assert key in r
    assert r["success"] == (r["psnr_diff_db"] >= -0.3 and r["time"] <= 2.0 * r["time_peer"])
    assert r["error"] == pytest.approx(10 ** (-r["psnr"] / 20), rel=1e-12)  # the RMSE
    assert r["params"]["image"] in rob.IMAGES
    assert rob.draw(3) != rob.draw(4)  # randomized parameters


def test_gamma_zero_is_nuclear_norm_and_certified():
    """γ = 0: the convex problem is ``½‖X − Z‖² + λ‖Z‖_*`` (SVT); the fit is certified."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 8))
    s = np.linalg.svd(X, compute_uv=False)
    lam = 0.8 * s[2]
    svt = 0.5 * np.sum(np.minimum(s, lam) ** 2) + lam * np.sum(np.maximum(s - lam, 0.0))
    m = hf.SparseDictionaryLearning(lam=lam, gamma=0.0, tol=1e-5).fit(X)
    assert m.certificate_.status == "global"
    assert m.certificate_.lower_bound <= svt + 1e-9 * svt
    assert m.certificate_.objective == pytest.approx(svt, rel=2e-5)


# ---------------------------------------------------------------- automatic lam, noise level


def _planted_sparse(n=2000, m=16, r=6, sigma=0.1, seed=12):
    """Signals with sparse codes (about 2 atoms each) on ``r`` unit atoms plus noise ``σ``."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((r, m))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    C = rng.standard_normal((n, r)) * 3.0 * (rng.random((n, r)) < 2.0 / r)
    clean = C @ D
    return clean + sigma * rng.standard_normal((n, m)), clean, D


@pytest.mark.parametrize("sigma", [0.05, 0.2, 1.0])
def test_noise_level_estimate_on_sparse_signals(sigma):
    from homfact.noise import estimate_signal_noise_level

    X, _, _ = _planted_sparse(sigma=sigma)
    assert estimate_signal_noise_level(X) == pytest.approx(sigma, rel=0.08)
    # exactly centred rows (patch means removed): the zero direction is ignored
    Xc = X - X.mean(axis=1, keepdims=True)
    assert estimate_signal_noise_level(Xc) == pytest.approx(sigma, rel=0.08)
    assert estimate_signal_noise_level(np.zeros((10, 4))) == 0.0


def test_auto_lam_gives_no_atom_on_pure_noise():
    X = 0.3 * np.random.default_rng(13).standard_normal((1500, 12))
    m = hf.SparseDictionaryLearning(random_state=0).fit(X)
    assert m.noise_level_ == pytest.approx(0.3, rel=0.1)
    assert m.rank_ == 0  # λ = 2·(the noise's own polar level): noise alone enters no atom
    assert m.lam_ >= m.lam_max_[0]


def test_auto_lam_and_gamma_follow_the_stated_rules():
    from homfact.models.dictionary import noise_polar_level
    from homfact.noise import universal_threshold

    X, _, _ = _planted_sparse()
    m = hf.SparseDictionaryLearning(random_state=0, max_iter=3).fit(X)
    n, p = X.shape
    t = universal_threshold(m.noise_level_, p)
    assert m.lam_ * m.gamma_ == pytest.approx(t, rel=1e-12)  # per-entry threshold
    assert m.lam_ == pytest.approx(
        2.0 * noise_polar_level(m.noise_level_, n, p, threshold=t, random_state=0), rel=1e-12)
    g = hf.SparseDictionaryLearning(gamma=0.5, random_state=0, max_iter=3).fit(X)
    assert g.gamma_ == 0.5
    assert g.lam_ == pytest.approx(
        2.0 * noise_polar_level(g.noise_level_, n, p, gamma=0.5, random_state=0), rel=1e-12)
    fixed = hf.SparseDictionaryLearning(lam=3.0, random_state=0, max_iter=3).fit(X)
    assert fixed.lam_ == 3.0 and fixed.gamma_ == pytest.approx(t / 3.0, rel=1e-12)


def test_noise_polar_level_matches_simulation_scale():
    from homfact.models.dictionary import noise_polar_level

    # γ → the nuclear norm: Ω°(σE) = σ_max(σE) ≈ σ(√n + √p) (Marchenko-Pastur edge)
    v = noise_polar_level(0.5, 3000, 20, gamma=0.0)
    assert v == pytest.approx(0.5 * (np.sqrt(3000) + np.sqrt(20)), rel=0.05)
    # threshold 0: sup_v ‖σEv‖₂, the same value
    w = noise_polar_level(0.5, 3000, 20, threshold=0.0)
    assert w == pytest.approx(v, rel=0.02)
    with pytest.raises(ValueError, match="exactly one"):
        noise_polar_level(0.5, 10, 3)


def test_defaults_denoise_planted_signals():
    X, clean, D = _planted_sparse(sigma=0.1)
    m = hf.SparseDictionaryLearning(random_state=0).fit(X)
    # every planted atom is found (the ℓ1 shrinkage of the model's codes also admits some
    # extra atoms near them: 26 atoms for 6 planted, measured)
    Dn = m.components_ / np.linalg.norm(m.components_, axis=1, keepdims=True)
    assert np.all(np.abs(Dn @ D.T).max(axis=0) >= 0.95)
    assert 6 <= m.n_components_ <= 60
    err_noisy = np.linalg.norm(X - clean)
    rec = m.inverse_transform(m.transform(X))  # default: error-target OMP (measured 0.73)
    assert np.linalg.norm(rec - clean) < 0.85 * err_noisy
    m.set_params(transform_algorithm="refit")  # measured 0.60
    assert np.linalg.norm(m.inverse_transform(m.transform(X)) - clean) < 0.75 * err_noisy
    c = m.certificate_
    assert c.lower_bound <= c.objective * (1 + 1e-12)


# ---------------------------------------------------------------- transform algorithms


@pytest.fixture(scope="module")
def fitted_planted():
    X, _, _ = _planted_sparse(n=600, sigma=0.1, seed=14)
    m = hf.SparseDictionaryLearning(random_state=0).fit(X)
    assert m.n_components_ >= 2
    return m, X


@pytest.mark.parametrize("alg", ["omp", "elastic_net", "refit", "lasso_lars", "lasso_cd",
                                 "lars", "threshold"])
def test_transform_algorithms_shapes_and_fit(fitted_planted, alg):
    m, X = fitted_planted
    m.set_params(transform_algorithm=alg)
    C = m.transform(X[:50])
    assert C.shape == (50, m.n_components_)
    R = m.inverse_transform(C)
    assert np.all(np.isfinite(R))
    if alg != "threshold":  # thresholding is not a least-squares fit
        assert np.linalg.norm(X[:50] - R) < np.linalg.norm(X[:50])
    m.set_params(transform_algorithm="omp")


def test_refit_and_omp_are_debiased(fitted_planted):
    m, X = fitted_planted
    Xs = X[:100]
    m.set_params(transform_algorithm="elastic_net")
    C_en = m.transform(Xs)
    m.set_params(transform_algorithm="refit")
    C_rf = m.transform(Xs)
    m.set_params(transform_algorithm="omp")
    # same supports, least squares on them: the residual can only shrink
    assert np.array_equal(C_rf != 0, C_en != 0)
    res_en = np.linalg.norm(Xs - C_en @ m.components_, axis=1)
    res_rf = np.linalg.norm(Xs - C_rf @ m.components_, axis=1)
    assert np.all(res_rf <= res_en + 1e-10)
    # default OMP: error target (1.15·σ̂)²·n_features reached wherever it is reachable
    C = m.transform(Xs)
    res = np.sum((Xs - C @ m.components_) ** 2, axis=1)
    target = (1.15 * m.noise_level_) ** 2 * X.shape[1]
    full = np.count_nonzero(C, axis=1) == min(m.n_components_, X.shape[1])
    assert np.all(res[~full] <= target * (1 + 1e-8))
    m.set_params(transform_n_nonzero_coefs=1)
    assert np.count_nonzero(m.transform(Xs), axis=1).max() <= 1
    m.set_params(transform_n_nonzero_coefs=None)


@pytest.mark.parametrize("kwargs, name", [
    ({"transform_algorithm": "lasso"}, "transform_algorithm"),
    ({"transform_alpha": -1.0}, "transform_alpha"),
    ({"transform_n_nonzero_coefs": 0}, "transform_n_nonzero_coefs"),
    ({"batch_size": 0}, "batch_size"), ({"batch_size": "big"}, "batch_size"),
    ({"online_epochs": 0}, "online_epochs"), ({"certify_max_samples": 1}, "certify_max_samples"),
    ({"gamma": "big"}, "gamma"),
])
def test_bad_new_params_name_the_argument(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        hf.SparseDictionaryLearning(**kwargs).fit(np.ones((5, 3)))


# ---------------------------------------------------------------- online learning


def test_online_atom_update_decreases_surrogate():
    from homfact.solvers.online_dictionary import OnlineDictionaryState, update_atoms

    rng = np.random.default_rng(15)
    X = rng.standard_normal((300, 10))
    C = rng.standard_normal((300, 5)) * (rng.random((300, 5)) < 0.4)
    st = OnlineDictionaryState(5, 10)
    st.update(X, C)
    np.testing.assert_allclose(st.A, C.T @ C / 300)  # first step: β = 0
    np.testing.assert_allclose(st.B, X.T @ C / 300)
    D = rng.standard_normal((5, 10))
    D /= np.linalg.norm(D, axis=1, keepdims=True)

    def surrogate(D):
        return 0.5 * np.trace(D @ D.T @ st.A) - np.trace(st.B @ D)

    before = surrogate(D)
    update_atoms(D, st.A, st.B)
    assert surrogate(D) <= before + 1e-12
    assert np.all(np.linalg.norm(D, axis=1) <= 1 + 1e-12)


def test_online_path_certificate_is_of_the_returned_factors():
    X, clean, D = _planted_sparse(n=5000, sigma=0.1, seed=16)
    m = hf.SparseDictionaryLearning(random_state=0).fit(X)  # n > 4000: online by default
    assert m.n_online_batches_ >= 5000 // 256
    assert m.certified_samples_ is None
    c = m.certificate_
    problem = dictionary_problem(X, m.lam_, m.gamma_)
    assert problem.objective([m.U_, m.V_]) == pytest.approx(c.objective, rel=1e-9)
    assert c.lower_bound <= c.objective * (1 + 1e-12)
    assert m.certify(X).objective == pytest.approx(c.objective, rel=1e-9)
    Dn = m.components_ / np.linalg.norm(m.components_, axis=1, keepdims=True)
    assert np.all(np.abs(Dn @ D.T).max(axis=0) >= 0.95)  # every planted atom is found
    rec = m.inverse_transform(m.transform(X))  # measured 0.75
    assert np.linalg.norm(rec - clean) < 0.85 * np.linalg.norm(X - clean)


def test_certificate_on_a_labelled_subsample():
    X, _, _ = _planted_sparse(n=3000, sigma=0.1, seed=17)
    m = hf.SparseDictionaryLearning(batch_size=200, certify_max_samples=800,
                                    random_state=0).fit(X)
    rows = m.certified_samples_
    assert rows.size == 800 and np.all(np.diff(rows) > 0)
    assert "subsample of 800 of 3000" in m.certificate_.method
    assert m.codes_.shape == (800, m.n_components_)
    s = np.sqrt(800 / 3000)
    problem = dictionary_problem(X[rows], m.lam_ * s, m.gamma_ / s)
    assert problem.objective([m.U_, m.V_]) == pytest.approx(m.certificate_.objective, rel=1e-9)
    assert m.certify(X).objective == pytest.approx(m.certificate_.objective, rel=1e-9)
    with pytest.raises(ValueError, match="training data"):
        m.certify(X[:500])


def test_sklearn_codings_use_the_model_threshold_by_default(fitted_planted):
    from homfact.gauges import soft_threshold

    m, X = fitted_planted
    norms = np.linalg.norm(m.components_, axis=1)
    D = m.components_ / norms[:, None]
    t = m.lam_ * m.gamma_
    m.set_params(transform_algorithm="threshold")
    np.testing.assert_allclose(m.transform(X[:30]), soft_threshold(X[:30] @ D.T, t) / norms,
                               atol=1e-12)
    # the lasso solvers minimize ½‖x − cD‖² + α‖c‖₁ with α = λγ: check optimality (KKT)
    m.set_params(transform_algorithm="lasso_lars")
    C = m.transform(X[:30]) * norms
    grad = (X[:30] - C @ D) @ D.T
    assert np.all(np.abs(grad) <= t * (1 + 1e-6) + 1e-9)
    on = C != 0
    np.testing.assert_allclose(grad[on], t * np.sign(C[on]), rtol=1e-5, atol=1e-8)
    m.set_params(transform_algorithm="omp")


def test_online_epochs_must_be_finite_and_certify_needs_the_training_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6))
    with pytest.raises(ValueError, match="online_epochs"):
        hf.SparseDictionaryLearning(online_epochs=np.inf).fit(X)
    est = hf.SparseDictionaryLearning(max_iter=3, random_state=0).fit(X)
    assert est.n_samples_fit_ == 60
    with pytest.raises(ValueError, match="training data"):
        est.certify(X[:59])
