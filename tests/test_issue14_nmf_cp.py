"""Issue 14 ("one core") for NonnegativeFactorization and CPTensorFactorization: the kernels
moved out of the model modules (old import paths still work), NMF's ``W_``/``debiased_`` (the
README's naming rule) and CP's ``refit`` renamed ``debias`` with scikit-learn's one-release
deprecation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

import homfact as hf
from homfact.maps import CPMap


def _nmf_data(seed=7, m=60, n=40, k=3):
    rng = np.random.default_rng(seed)
    return rng.random((m, k)) @ rng.random((k, n)) + 0.01 * rng.random((m, n))


def _cp_data(seed=4, shape=(10, 9, 8), rank=2, noise=0.05):
    rng = np.random.default_rng(seed)
    F = [rng.standard_normal((n, rank)) for n in shape]
    T = CPMap(shape).forward(F)
    N = rng.standard_normal(shape)
    return T / np.linalg.norm(T) + noise * N / np.linalg.norm(N)


# -- old import paths ------------------------------------------------------------------------
def test_moved_names_stay_importable_from_the_model_modules():
    from homfact import lam_rules, validation
    from homfact.models import cp, nmf
    from homfact.solvers import nmf_certified, nmf_prune

    assert nmf.nonnegative_lam_max is lam_rules.nonnegative_lam_max
    assert nmf._check_nonnegative_matrix is validation._check_nonnegative_matrix
    assert nmf_certified._MIN_GROWTH_BLOCK == 4
    assert nmf.prune_components is nmf_prune.prune_components
    # public names only: private helpers are imported from where they live
    for name in ("nnls_rows", "merge_parallel_columns", "NonnegativePolar",
                 "AUTO_LAM_FACTOR", "AUTO_LAM_FLOOR", "AUTO_MAX_RANK_FRACTION",
                 "FALLBACK_LAM_RATIO"):
        assert hasattr(nmf, name), name
    assert cp._parse_per_mode is validation._parse_per_mode
    for name in ("cp_lam_max", "tensor_noise_level", "factor_match_score", "CPGrowthPolar",
                 "AUTO_LAM_FACTOR", "FALLBACK_LAM_RATIO", "AUTO_LAM_FLOOR"):
        assert hasattr(cp, name), name


def test_nmf_lam_max_rule_lives_in_lam_rules():
    from homfact.lam_rules import nonnegative_lam_max
    from homfact.registry import get_model

    X = _nmf_data()
    assert get_model("nmf").lam_max(X) == nonnegative_lam_max(X)
    assert nonnegative_lam_max(X) >= np.linalg.norm(X, 2) * (1 - 1e-12)
    with pytest.raises(ValueError, match="X must be non-negative"):
        nonnegative_lam_max(-X)
    with pytest.raises(ValueError, match="X contains NaN"):
        nonnegative_lam_max(np.where(X > 0.5, np.nan, X))


def test_parse_per_mode_names_the_argument():
    from homfact.validation import _parse_per_mode

    assert _parse_per_mode("l2", 3, "gauge", ("l2", "l1")) == ["l2"] * 3
    assert _parse_per_mode([True, False, True], 3, "nonnegative", (True, False)) == [
        True, False, True]
    with pytest.raises(ValueError, match="nonnegative needs one entry per mode"):
        _parse_per_mode([True], 3, "nonnegative", (True, False))
    with pytest.raises(ValueError, match="nonnegative entries must be one of"):
        _parse_per_mode([1, 0, 1], 3, "nonnegative", (True, False))  # 1 is not True


# -- NMF: W_ and debiased_ -------------------------------------------------------------------
def test_nmf_reports_w_and_debiased_after_a_refit():
    X = _nmf_data()
    est = hf.NonnegativeFactorization(random_state=0).fit(X)
    assert est.certified_rank_ > 0 and est.debiased_ is True
    np.testing.assert_array_equal(est.W_, hf.NonnegativeFactorization(random_state=0)
                                  .fit_transform(X))
    np.testing.assert_allclose(est.transform(X), est.W_, atol=1e-10)
    assert est.W_.shape == (X.shape[0], est.n_components_)
    assert est.reconstruction_err_ == float(np.linalg.norm(X - est.W_ @ est.components_))
    assert not np.array_equal(est.components_, est.certified_components_[:est.n_components_])


def test_nmf_debiased_is_false_exactly_without_refit_and_pruning():
    X = _nmf_data()
    plain = hf.NonnegativeFactorization(lam=1.0, debias=False, random_state=0).fit(X)
    assert plain.debiased_ is False and plain.certified_rank_ > 0
    np.testing.assert_array_equal(plain.components_, plain.certified_components_)
    # pruning alone changes the reported factors: debiased_
    pruned = hf.NonnegativeFactorization(lam=1.0, debias=False, prune=True,
                                         random_state=0).fit(X)
    assert pruned.debiased_ is True
    # rank 0: nothing to refit
    zero = hf.NonnegativeFactorization(lam=1e6, random_state=0).fit(X)
    assert zero.certified_rank_ == 0 and zero.debiased_ is False
    assert zero.W_.shape == (X.shape[0], 0) and zero.components_.shape == (0, X.shape[1])


def test_debias_nmf_kernel_reproduces_the_estimator():
    from homfact.solvers.nmf_prune import debias_nmf

    X = _nmf_data()
    est = hf.NonnegativeFactorization(random_state=0).fit(X)
    # V with the layout fit passes (the refit is not converged: its rounding matters)
    out = debias_nmf(X, est.certified_W_, est.certified_components_.T, refit=True,
                     prune=True, noise_level=est.noise_level_, max_sweeps=est.refit_max_iter,
                     tol=est.refit_tol)
    assert out.debiased and out.H.shape == est.components_.shape
    assert out.n_sweeps == est.refit_n_iter_
    np.testing.assert_allclose(out.H, est.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.W, est.W_, rtol=1e-10, atol=1e-12)


# -- CP: debias and the deprecated refit ---------------------------------------------------
def _same_fit(a, b) -> None:
    assert a.debiased_ == b.debiased_ and a.rank_ == b.rank_
    for Fa, Fb in zip(a.factors_, b.factors_, strict=True):
        np.testing.assert_array_equal(Fa, Fb)
    for Fa, Fb in zip(a.certified_factors_, b.certified_factors_, strict=True):
        np.testing.assert_array_equal(Fa, Fb)
    assert a.certificate_.objective == b.certificate_.objective


def test_cp_debias_needs_no_warning():
    Y = _cp_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = hf.CPTensorFactorization(lam=0.05, debias=False, random_state=0).fit(Y)
        d = hf.CPTensorFactorization(lam=0.05, refit_max_iter=3, random_state=0).fit(Y)
    assert m.debiased_ is False and m.debias_info_ is None
    assert d.debiased_ is True and d.debias_info_["n_iter"] <= 3


def test_cp_refit_is_a_deprecated_spelling_of_debias():
    Y = _cp_data()
    new = hf.CPTensorFactorization(lam=0.05, debias=False, random_state=0).fit(Y)
    with pytest.warns(FutureWarning, match="'refit' was renamed 'debias'") as rec:
        old = hf.CPTensorFactorization(lam=0.05, refit=False, random_state=0).fit(Y)
    assert rec[0].filename == __file__  # attributed to the caller of fit
    _same_fit(new, old)
    # the former name wins over the new one when both are given (scikit-learn's rule)
    with pytest.warns(FutureWarning):
        both = hf.CPTensorFactorization(lam=0.05, debias=True, refit=False,
                                        random_state=0).fit(Y)
    assert both.debiased_ is False


def test_cp_deprecated_parameters_survive_get_params_set_params_and_clone():
    est = hf.CPTensorFactorization(lam=0.05)
    params = est.get_params()
    assert params["refit"] == "deprecated"
    assert params["debias"] is True and params["refit_max_iter"] == 100
    est.set_params(refit=False, refit_max_iter=7)
    c = clone(est)
    assert c.get_params()["refit"] is False and c.get_params()["refit_max_iter"] == 7
    c2 = clone(hf.CPTensorFactorization(debias=False, refit_max_iter=5))
    assert c2.debias is False and c2.refit_max_iter == 5 and c2.refit == "deprecated"


@pytest.mark.parametrize("params, name", [({"refit": "yes"}, "refit"),
                                          ({"debias": "yes"}, "debias"),
                                          ({"refit_max_iter": 0}, "refit_max_iter")])
def test_cp_bad_debias_parameters_name_the_argument(params, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        hf.CPTensorFactorization(lam=0.05, **params).fit(_cp_data())


def test_cp_slice_ordering_kernels():
    from homfact.solvers.cp_prune import cp_weights, sorted_by_weight

    rng = np.random.default_rng(3)
    X = [rng.standard_normal((n, 4)) for n in (5, 4, 3)]
    w = cp_weights(X)
    np.testing.assert_allclose(w, [np.prod([np.linalg.norm(F[:, i]) for F in X])
                                   for i in range(4)])
    Xs = sorted_by_weight(X)
    assert np.all(np.diff(cp_weights(Xs)) <= 0)
    np.testing.assert_allclose(CPMap((5, 4, 3)).forward(Xs), CPMap((5, 4, 3)).forward(X))
