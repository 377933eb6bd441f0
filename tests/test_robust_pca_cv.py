"""RobustPCACV: λ of robust PCA selected on held-out observed entries (issue 12, item 1)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from homfact import RobustPCA, RobustPCACV
from homfact.models.cv import huber, split_lam_max
from homfact.problems import observed_entries


def _draw(seed: int, m: int = 80, n: int = 60, r: int = 3, frac: float = 0.05,
          magnitude: float = 5.0, sigma: float = 0.1, missing: float = 0.2):
    """Low rank ``r`` + gross errors (fraction ``frac``, uniform ±magnitude) + N(0, σ²) noise,
    a fraction ``missing`` of the entries NaN."""
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    Y = L.copy()
    k = round(frac * m * n)
    idx = rng.choice(m * n, k, replace=False)
    Y.flat[idx] += rng.uniform(-magnitude, magnitude, k)
    Y += sigma * rng.standard_normal((m, n))
    Y[rng.random((m, n)) < missing] = np.nan
    return Y, L


def _rel(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


@pytest.mark.parametrize("seed", [0, 1])
def test_selects_the_rank_and_matches_the_defaults(seed):
    """Rank recovered; error at most 1.2× that of RobustPCA() (whose noise rule holds here:
    Gaussian noise; measured ratio 0.99-1.01 on seeds 0-2), and far below the zero fit."""
    Y, L = _draw(seed)
    est = RobustPCACV(cv=3, n_lams=12, random_state=0).fit(Y)
    ref = RobustPCA(random_state=0).fit(Y)
    assert est.rank_ == 3
    assert _rel(est.low_rank_, L) <= 1.2 * _rel(ref.low_rank_, L)
    assert _rel(est.low_rank_, L) < 0.05
    # LassoCV-style attributes, consistent with each other
    K = 3
    assert est.lams_.shape == (12,) and np.all(np.diff(est.lams_) < 0)
    assert est.lams_[0] == pytest.approx(est.lam_max_)
    assert est.huber_path_.shape == (12, K) and est.rank_path_.shape == (12, K)
    assert est.lam_cv_ == est.lams_[est.best_index_]
    assert est.lam_ == pytest.approx(est.lam_cv_ * np.sqrt(K / (K - 1)))
    done = ~np.isnan(est.cv_results_["mean_test_huber"])
    assert est.best_index_ == int(np.nanargmin(est.cv_results_["mean_test_huber"]))
    assert done[: est.best_index_ + 1].all()
    assert est.gamma_ == pytest.approx(ref.gamma_) and est.delta_ == pytest.approx(1 / ref.gamma_)
    assert est.estimator_.lam_ == est.lam_ and est.estimator_.gamma_ == est.gamma_
    assert est.certificate_ is est.estimator_.certificate_
    assert est.certificate_.status == "global"
    assert np.array_equal(est.certified_low_rank_, est.estimator_.certified_low_rank_)
    assert est.debiased_ and est.sparse_.shape == Y.shape


def test_lam_max_is_the_zero_solution_threshold():
    """At λ_max the split problem's solution is zero; just below it is not."""
    Y, _ = _draw(3)
    gamma = 4.0
    top = split_lam_max(observed_entries(Y), gamma)
    A = np.where(np.isnan(Y), 0.0, Y)
    clipped = np.clip(A, -1 / gamma, 1 / gamma) * ~np.isnan(Y)
    assert top == pytest.approx(gamma * np.linalg.norm(clipped, 2), rel=1e-8)
    assert RobustPCA(lam=1.001 * top, gamma=gamma, random_state=0).fit(Y).rank_ == 0
    assert RobustPCA(lam=0.9 * top, gamma=gamma, random_state=0).fit(Y).rank_ >= 1


def test_huber_function():
    r = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    assert np.allclose(huber(r, 1.0), [2.5, 0.125, 0.0, 0.125, 2.5])


def test_reproducible_with_random_state_and_given_grid():
    Y, _ = _draw(2, m=50, n=40, r=2)
    kw = {"lams": [40.0, 10.0, 20.0, 5.0], "cv": 2, "gamma": 5.0, "patience": None}
    a = RobustPCACV(random_state=3, **kw).fit(Y)
    b = RobustPCACV(random_state=3, **kw).fit(Y)
    assert np.array_equal(a.lams_, [40.0, 20.0, 10.0, 5.0])
    assert np.array_equal(a.huber_path_, b.huber_path_)
    assert a.lam_ == b.lam_ and np.array_equal(a.low_rank_, b.low_rank_)
    assert a.noise_level_ is None and a.gamma_ == 5.0
    assert not np.isnan(a.huber_path_).any()  # patience=None: the whole grid
    c = RobustPCACV(random_state=4, **kw).fit(Y)  # other folds
    assert not np.array_equal(a.huber_path_, c.huber_path_)
    assert RobustPCACV(cv=4).get_params()["cv"] == 4


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"cv": 1}, ValueError, "cv"),
    ({"cv": 2.5}, ValueError, "cv"),
    ({"n_lams": 0}, ValueError, "n_lams"),
    ({"lam_min_ratio": 1.0}, ValueError, "lam_min_ratio"),
    ({"selection": "max"}, ValueError, "selection"),
    ({"patience": 0}, ValueError, "patience"),
    ({"debias": "yes"}, TypeError, "debias"),
    ({"cv_tol": 0.0}, ValueError, "cv_tol"),
    ({"tol": 2.0}, ValueError, "tol"),
    ({"gamma": "big"}, TypeError, "gamma"),
    ({"gamma": -1.0}, ValueError, "gamma"),
    ({"lams": []}, ValueError, "lams"),
    ({"lams": [1.0, -2.0]}, ValueError, "lams"),
    ({"max_rank": 0}, ValueError, "max_rank"),
])
def test_bad_parameters(kwargs, exc, match):
    Y, _ = _draw(0, m=20, n=15, r=1)
    with pytest.raises(exc, match=match):
        RobustPCACV(**kwargs).fit(Y)


def test_bad_input():
    with pytest.raises(ValueError, match="Y"):
        RobustPCACV().fit(np.ones(5))
    with pytest.raises(ValueError, match="infinite"):
        RobustPCACV().fit(np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="Y"):
        RobustPCACV().fit(sp.random(5, 5, density=0.5, format="csr"))
    with pytest.raises(ValueError, match="observed"):
        RobustPCACV(cv=3).fit(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    with pytest.raises(ValueError, match="zero"):
        RobustPCACV(cv=2, gamma=1.0).fit(np.zeros((4, 3)))
    with pytest.raises(Exception, match="not fitted"):
        _ = RobustPCACV().low_rank_
