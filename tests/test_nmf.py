"""hf.NonnegativeFactorization: scikit-learn API, polar soundness, certificate, debiasing refit."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls
from sklearn.utils.estimator_checks import parametrize_with_checks

import homfact as hf
from homfact.meta import DEFAULT_POLAR_RTOL
from homfact.models.nmf import NonnegativePolar, nonnegative_lam_max

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parts_matrix(rng, m=30, n=24, r=3, noise=0.0):
    """``W H`` with disjoint-support rows of ``H`` (orthogonal non-negative parts)."""
    H = np.zeros((r, n))
    for k, cols in enumerate(np.array_split(np.arange(n), r)):
        H[k, cols] = rng.uniform(0.5, 1.5, cols.size)
    W = rng.uniform(0.0, 2.0, (m, r))
    return W @ H + noise * rng.uniform(0.0, 1.0, (m, n))


def _block_matrix(rng, m=30, n=24, r=3):
    """Block-diagonal non-negative matrix with rank-one blocks (orthogonal parts)."""
    X = np.zeros((m, n))
    for rows, cols in zip(np.array_split(np.arange(m), r), np.array_split(np.arange(n), r),
                          strict=True):
        X[np.ix_(rows, cols)] = np.outer(rng.uniform(0.5, 1.5, rows.size),
                                         rng.uniform(0.5, 1.5, cols.size))
    return X


def _brute_force_polar(G: np.ndarray) -> float:
    """``max_{u,v ≥ 0, unit} uᵀGv`` by enumerating supports: at a maximizer with supports
    ``S, T`` the pair is the top singular pair of ``G[S, T]`` (any other critical point of the
    bilinear form on the sphere is a saddle), so the polar is the largest ``σ₁(G[S,T])`` whose
    top singular vectors are non-negative (up to a common sign)."""
    m, n = G.shape
    best = max(0.0, float(G.max()))  # singletons
    for a in range(1, m + 1):
        for S in itertools.combinations(range(m), a):
            for b in range(1, n + 1):
                for T in itertools.combinations(range(n), b):
                    U, s, Vt = np.linalg.svd(G[np.ix_(S, T)])
                    u, v = U[:, 0], Vt[0]
                    if u.sum() < 0:
                        u, v = -u, -v
                    if np.all(u >= -1e-12) and np.all(v >= -1e-12):
                        best = max(best, float(s[0]))
    return best


# ----------------------------------------------------------------------------------------------
# scikit-learn API
# ----------------------------------------------------------------------------------------------
@parametrize_with_checks([hf.NonnegativeFactorization()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_exported_and_params():
    est = hf.NonnegativeFactorization(lam=0.5, max_rank=4)
    assert est.get_params()["lam"] == 0.5
    assert {"lam", "lam_ratio", "debias", "growth_rtol", "refit_max_iter"} <= set(est.get_params())


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def test_negative_data_is_a_clear_error(rng):
    X = np.abs(rng.standard_normal((6, 5)))
    X[2, 3] = -0.1
    for data in (X, sp.csr_matrix(X), X.tolist()):
        with pytest.raises(ValueError, match=r"X must be non-negative"):
            hf.NonnegativeFactorization().fit(data)
    m = hf.NonnegativeFactorization(lam_ratio=0.3).fit(np.abs(X))
    with pytest.raises(ValueError, match=r"X must be non-negative"):
        m.transform(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"lam": -1.0}, "lam"), ({"lam": "big"}, "lam"), ({"lam_ratio": 0.0}, "lam_ratio"),
    ({"lam_ratio": 1.5}, "lam_ratio"), ({"tol": 2.0}, "tol"), ({"max_sweeps": 0}, "max_sweeps"),
    ({"growth_rtol": -1e-3}, "growth_rtol"), ({"refit_tol": -1.0}, "refit_tol"),
    ({"max_rank": 0}, "max_rank"), ({"time_limit": -1}, "time_limit"),
])
def test_bad_parameters_name_the_argument(rng, kwargs, match):
    X = np.abs(rng.standard_normal((6, 5)))
    with pytest.raises((ValueError, TypeError), match=match):
        hf.NonnegativeFactorization(**kwargs).fit(X)


def test_nan_is_rejected(rng):
    X = np.abs(rng.standard_normal((6, 5)))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        hf.NonnegativeFactorization().fit(X)


# ----------------------------------------------------------------------------------------------
# the polar bracket
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_polar_bracket_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((4, 4)) + (0.5 if seed % 2 else -0.3)
    exact = _brute_force_polar(G)
    b = NonnegativePolar(lam=0.5 * exact)(G, n_candidates=3, rng=rng)
    u, v = b.maximizer
    assert np.all(u >= 0) and np.all(v >= 0)
    assert np.linalg.norm(u) == pytest.approx(1.0) and np.linalg.norm(v) == pytest.approx(1.0)
    assert b.lower == pytest.approx(max(float(u @ G @ v), 0.0), abs=1e-12)
    assert b.lower <= exact * (1 + 1e-9) + 1e-12
    assert b.upper >= exact * (1 - 1e-9)
    # the upper bound is min(‖G₊‖₂, ‖G‖₂) or ‖G₊‖₂: never below either rigorous value's min
    s_pos = np.linalg.norm(np.maximum(G, 0), 2)
    s_all = np.linalg.norm(G, 2)
    assert b.upper >= min(s_pos, s_all) * (1 - 1e-9)
    assert b.upper <= s_pos * (1 + 1e-9)
    for (cu, cv), val in b.candidates:
        assert np.all(cu >= 0) and np.all(cv >= 0)
        assert val == pytest.approx(float(cu @ G @ cv), rel=1e-9)


@pytest.mark.parametrize("shape", [(7, 30), (30, 7), (600, 500)])
def test_sigma_max_bound_is_valid_and_tight(rng, shape):
    from homfact.polar.nonnegative import _sigma_max

    A = rng.standard_normal(shape)
    u, v, upper, _ = _sigma_max(A, 1e-3, rng)
    s = np.linalg.norm(A, 2)
    assert s <= upper <= s * (1 + 1e-5)
    assert np.linalg.norm(u) == pytest.approx(1.0) and np.linalg.norm(v) == pytest.approx(1.0)
    assert abs(u @ A @ v) == pytest.approx(s, rel=1e-5)


def test_lam_max_is_the_spectral_norm_of_nonnegative_data(rng):
    X = np.abs(rng.standard_normal((9, 7)))
    assert nonnegative_lam_max(X) == pytest.approx(np.linalg.norm(X, 2), rel=1e-9)
    m = hf.NonnegativeFactorization(lam_ratio=0.4).fit(X)
    assert m.lam_max_ == pytest.approx(np.linalg.norm(X, 2), rel=1e-9)
    assert m.lam_ == pytest.approx(0.4 * m.lam_max_)
    # lam >= lam_max: the zero solution, rank 0
    z = hf.NonnegativeFactorization(lam=1.01 * m.lam_max_).fit(X)
    assert z.n_components_ == 0 and z.components_.shape == (0, 7)
    assert z.transform(X).shape == (9, 0)


# ----------------------------------------------------------------------------------------------
# certificate and refit
# ----------------------------------------------------------------------------------------------
def test_global_status_is_backed_by_the_rigorous_upper_bound(rng):
    X = _block_matrix(rng)
    m = hf.NonnegativeFactorization(lam_ratio=0.2, tol=1e-5, random_state=0).fit(X)
    c = m.certificate_
    assert c.status == "global"
    U, V = m.certified_W_, m.certified_components_.T
    assert np.all(U >= 0) and np.all(V >= 0)
    G = X - U @ V.T
    rigorous = min(np.linalg.norm(np.maximum(G, 0), 2), np.linalg.norm(G, 2))
    assert c.polar_upper >= rigorous * (1 - 1e-9)
    assert c.polar_upper <= m.lam_ * (1 + DEFAULT_POLAR_RTOL)
    # the certificate describes the certified factors (objective recomputed independently)
    obj = 0.5 * np.sum(G ** 2) + m.lam_ * np.sum(np.linalg.norm(U, axis=0)
                                                  * np.linalg.norm(V, axis=0))
    assert c.objective == pytest.approx(obj, rel=1e-9)
    assert c.lower_bound <= obj and c.relative_gap <= 1e-5
    # three orthogonal parts, all above lam (σ₃ > lam): the solution soft-thresholds them
    assert m.n_components_ == 3
    assert np.linalg.svd(X, compute_uv=False)[2] > m.lam_


def test_unverified_data_never_claims_global(rng):
    X = np.abs(rng.standard_normal((40, 30))) ** 2
    m = hf.NonnegativeFactorization(lam_ratio=0.1, random_state=0).fit(X)
    c = m.certificate_
    G = X - m.certified_W_ @ m.certified_components_
    rigorous = min(np.linalg.norm(np.maximum(G, 0), 2), np.linalg.norm(G, 2))
    assert c.polar_upper >= rigorous * (1 - 1e-9)
    if c.status == "global":
        assert rigorous <= m.lam_ * (1 + DEFAULT_POLAR_RTOL)
    else:
        assert c.status in ("unverified", "not_optimal")


def test_debiased_refit_and_certified_factors_are_kept_apart(rng):
    X = _parts_matrix(rng, noise=0.3)
    m = hf.NonnegativeFactorization(lam_ratio=0.2, random_state=0).fit(X)
    r = m.n_components_
    assert r >= 1 and m.rank_ == r
    assert m.components_.shape == (r, 24) and m.certified_components_.shape == (r, 24)
    assert m.certified_W_.shape == (30, r)
    W = m.transform(X)
    err_refit = np.linalg.norm(X - W @ m.components_)
    err_cert = np.linalg.norm(X - m.certified_W_ @ m.certified_components_)
    assert err_refit < err_cert  # shrinkage removed
    assert m.reconstruction_err_ == pytest.approx(err_refit, rel=1e-6)
    assert not np.allclose(m.components_, m.certified_components_)
    # debias=False: the fitted factors are the certified ones
    m0 = hf.NonnegativeFactorization(lam_ratio=0.2, random_state=0, debias=False).fit(X)
    np.testing.assert_allclose(m0.components_, m0.certified_components_)
    assert m0.refit_n_iter_ == 0
    np.testing.assert_allclose(m0.certified_components_, m.certified_components_)
    assert m0.certificate_.objective == pytest.approx(m.certificate_.objective)


@pytest.mark.parametrize("lam_ratio", [0.05, 0.15])
def test_refit_error_is_close_to_sklearn_nmf_at_the_selected_rank(lam_ratio):
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.decomposition import NMF

    X = load_digits().data[:300]
    m = hf.NonnegativeFactorization(lam_ratio=lam_ratio, random_state=0)
    W = m.fit_transform(X)
    r = m.n_components_
    assert r >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = NMF(r, init="nndsvda", solver="cd", random_state=0)
        Ws = sk.fit_transform(X)
    err = np.linalg.norm(X - W @ m.components_)
    err_sk = np.linalg.norm(X - Ws @ sk.components_)
    assert err <= 1.02 * err_sk
    # the certified (shrunk) factors are much worse: the refit is what makes the difference
    assert np.linalg.norm(X - m.certified_W_ @ m.certified_components_) > 1.05 * err


def test_transform_is_nnls_and_matches_fit_transform(rng):
    X = _parts_matrix(rng, noise=0.2)
    m = hf.NonnegativeFactorization(lam_ratio=0.2, random_state=0)
    W_fit = m.fit_transform(X)
    W = m.transform(X)
    assert np.all(W >= 0)
    np.testing.assert_allclose(W_fit, W, atol=1e-6 * np.abs(W).max())
    X_new = _parts_matrix(np.random.default_rng(5), m=5)
    W_new = m.transform(X_new)
    for i in range(5):
        w, _ = nnls(m.components_.T, X_new[i])
        np.testing.assert_allclose(W_new[i], w, atol=1e-6 * max(1.0, np.abs(w).max()))
    np.testing.assert_allclose(m.inverse_transform(W_new), W_new @ m.components_)
    with pytest.raises(ValueError, match="shape"):
        m.inverse_transform(np.ones((2, m.n_components_ + 1)))


def test_nnls_rows_support_guess_is_exact_whatever_the_guess(rng):
    from homfact.models.nmf import nnls_rows

    X = _parts_matrix(rng, m=60, n=24, r=4, noise=0.3)
    H = np.abs(rng.standard_normal((5, 24)))
    ref = np.array([nnls(H.T, x)[0] for x in X])
    good = nnls_rows(X, H)
    np.testing.assert_allclose(good, ref, atol=1e-9 * np.abs(ref).max())
    # the right supports, random supports, all-zero and all-positive guesses: same solution
    for W0 in (ref, rng.uniform(-1, 1, ref.shape), np.zeros_like(ref), np.ones_like(ref)):
        np.testing.assert_allclose(nnls_rows(X, H, W0=W0), ref, atol=1e-9 * np.abs(ref).max())


def test_growth_rtol_stops_early_and_says_so(rng):
    X = np.abs(rng.standard_normal((25, 20))) ** 2
    full = hf.NonnegativeFactorization(lam_ratio=0.1, growth_rtol=None, max_iter=25,
                                       random_state=0).fit(X)
    early = hf.NonnegativeFactorization(lam_ratio=0.1, growth_rtol=1e-2, random_state=0).fit(X)
    assert early.n_components_ <= full.n_components_
    if early.stop_reason_ == "negligible_growth":
        assert early.certificate_.polar_lower > early.lam_
        assert early.certificate_.status != "global"


def _large_parts(rng, m=600, n=450, r=6):
    """Non-negative ``m×n`` matrix above ``DENSE_SVD_MAX_ENTRIES`` (the lazy polar's range)."""
    W = rng.uniform(0.0, 1.0, (m, r)) ** 3
    H = rng.uniform(0.0, 1.0, (r, n)) ** 3
    return W @ H + 0.05 * rng.uniform(0.0, 1.0, (m, n))


def test_min_candidates_and_lazy_margin_are_validated():
    with pytest.raises(ValueError, match="min_candidates"):
        NonnegativePolar(lam=1.0, min_candidates=0)
    with pytest.raises(ValueError, match="lazy_margin"):
        NonnegativePolar(lam=1.0, lazy_margin=-0.1)
    assert NonnegativePolar(lam=1.0).min_candidates == 1  # the engine's own rule by default


def test_lazy_polar_bound_is_rigorous_and_falls_back_near_lam(rng):
    from homfact.polar import DENSE_SVD_MAX_ENTRIES

    X = _large_parts(rng)
    assert X.size > DENSE_SVD_MAX_ENTRIES
    G = X - 0.5 * X.mean()  # a residual with both signs
    sig_plus = np.linalg.norm(np.maximum(G, 0), 2)
    careful = NonnegativePolar(lam=0.3 * sig_plus)(G, n_candidates=4)
    lazy_polar = NonnegativePolar(lam=0.3 * sig_plus, lazy_upper=True)
    lazy = lazy_polar(G, n_candidates=4, warm_start=careful.maximizer)
    assert lazy_polar.last_lazy and "||G+||_F" in lazy.method
    u, v = lazy.maximizer
    assert np.all(u >= 0) and np.all(v >= 0)
    np.testing.assert_allclose([np.linalg.norm(u), np.linalg.norm(v)], 1.0, rtol=1e-12)
    assert lazy.lower == pytest.approx(float(u @ G @ v), rel=1e-12)
    # cheap but rigorous: ‖G₊‖_F ≥ σ_max(G₊) ≥ the polar, and the status is decided (> λ)
    assert lazy.upper >= sig_plus and lazy.upper >= careful.upper * (1 - 1e-9)
    assert lazy.lower > 0.3 * sig_plus * 1.01
    assert lazy.lower >= careful.lower * (1 - 1e-6)
    # with λ just under the lower bound the status is not decided: the careful bracket is used
    near = NonnegativePolar(lam=careful.lower * 0.999, lazy_upper=True)
    b = near(G, n_candidates=4, warm_start=careful.maximizer)
    assert not near.last_lazy and "||G+||_F" not in b.method
    assert b.upper >= sig_plus * (1 - 1e-6) or b.upper >= np.linalg.norm(G, 2) * (1 - 1e-6)
    assert b.upper <= sig_plus * (1 + 1e-3)


def test_final_certificate_uses_the_careful_bracket(rng, monkeypatch):
    X = _large_parts(rng, m=520, n=500)
    cheap = []
    lazy_bound = NonnegativePolar._lazy_bound

    def spy(self, *args, **kwargs):
        out = lazy_bound(self, *args, **kwargs)
        cheap.append(out[0] is not None)
        return out

    monkeypatch.setattr(NonnegativePolar, "_lazy_bound", spy)
    m = hf.NonnegativeFactorization(lam_ratio=0.1, debias=False, max_iter=6,
                                    random_state=0).fit(X)
    c = m.certificate_
    assert any(cheap)  # growth took the cheap bracket at least once ...
    assert m.n_components_ >= 2
    assert "||G+||_F" not in c.method
    G = X - m.certified_W_ @ m.certified_components_
    sig_plus, sig = np.linalg.norm(np.maximum(G, 0), 2), np.linalg.norm(G, 2)
    assert c.polar_upper >= min(sig_plus, sig) * (1 - 1e-9)
    assert c.polar_upper <= sig_plus * (1 + 1e-3)
    u_obj = 0.5 * np.sum(G ** 2) + m.lam_ * np.sum(
        np.linalg.norm(m.certified_W_, axis=0) * np.linalg.norm(m.certified_components_, axis=1))
    assert c.objective == pytest.approx(u_obj, rel=1e-9)


# ----------------------------------------------------------------------------------------------
# example and benchmark smoke runs
# ----------------------------------------------------------------------------------------------
def test_example_nmf_mnist_parts_quick(tmp_path, capsys):
    ex = _load(ROOT / "examples" / "nmf_mnist_parts.py", "homfact_example_nmf_mnist_parts")
    out = tmp_path / "parts.png"
    res = ex.main(quick=True, output=str(out))
    assert out.is_file() and out.stat().st_size > 0
    assert res["rank"] >= 1 and 0 < res["relative_error"] < 1
    assert "selected rank" in capsys.readouterr().out


def test_bench_nmf_quick(tmp_path):
    bench = _load(ROOT / "benchmarks" / "bench_nmf.py", "homfact_bench_nmf")
    res = bench.main(quick=True, blas=1, out_dir=tmp_path)
    row = res["runs"][0]
    assert row["rank"] >= 1
    assert row["ratio_error"] > 0 and row["ratio_time"] > 0
    assert (tmp_path / "nmf_quick.json").is_file()
