"""Issue 14: the split of ``homfact.models.cv`` and the naming rule for MatrixCompletionCV.

``U_``, ``V_`` are the reported factors (the relaxed refit when ``debiased_``), the certified
solution is ``certified_U_``, ``certified_V_`` (which ``certificate_`` describes), and the former
``refit_U_``, ``refit_V_`` still work with a ``FutureWarning``; every former import path works.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import homfact as hf
from homfact.cli import main
from homfact.problems import observed_entries
from homfact.solvers.relaxed import relaxed_refit


def _data(seed: int = 3, m: int = 40, n: int = 30, r: int = 2, p: float = 0.6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    Y = X + 0.05 * rng.standard_normal((m, n))
    Y[rng.random((m, n)) > p] = np.nan
    return Y


@pytest.fixture(scope="module")
def fitted():
    Y = _data()
    return Y, hf.MatrixCompletionCV(n_lams=8, cv=3, random_state=0).fit(Y)


def test_reported_factors_are_the_relaxed_refit_of_the_certified_ones(fitted):
    Y, est = fitted
    assert est.debiased_ is True
    assert est.debias_info_ == {"relax": 0.1, "penalty": pytest.approx(0.1 * est.lam_),
                                "max_sweeps": 100}
    Ur, Vr = relaxed_refit(observed_entries(Y), est.certified_U_, est.certified_V_, est.lam_,
                           relax=est.relax, max_sweeps=est.refit_max_iter, tol=1e-8)
    np.testing.assert_array_equal(est.U_, Ur)
    np.testing.assert_array_equal(est.V_, Vr)
    assert est.U_.shape[1] == est.certified_U_.shape[1] == est.rank_
    assert not np.array_equal(est.U_, est.certified_U_)


def test_certificate_describes_the_certified_factors(fitted):
    Y, est = fitted
    obs = observed_entries(Y)

    def objective(U, V):
        r = obs.values - np.einsum("ij,ij->i", U[obs.rows], V[obs.cols])
        pen = np.sum(np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0))
        return 0.5 * float(r @ r) + est.lam_ * float(pen)

    cert = est.certificate_
    assert objective(est.certified_U_, est.certified_V_) == pytest.approx(cert.objective,
                                                                           rel=1e-10)
    # the refit solves no penalized problem at lam_: its objective there is larger
    assert objective(est.U_, est.V_) > cert.objective


def test_which_keeps_its_meanings(fitted):
    _, est = fitted
    np.testing.assert_array_equal(est.to_dense(), est.U_ @ est.V_.T)
    np.testing.assert_array_equal(est.to_dense("refit"), est.U_ @ est.V_.T)
    np.testing.assert_array_equal(est.to_dense("certified"),
                                  est.certified_U_ @ est.certified_V_.T)
    rows, cols = np.array([0, 5, 39]), np.array([1, 29, 0])
    np.testing.assert_allclose(est.predict(rows, cols, which="certified"),
                               est.to_dense("certified")[rows, cols], rtol=1e-12)
    np.testing.assert_allclose(est.predict(rows, cols), est.to_dense()[rows, cols], rtol=1e-12)
    with pytest.raises(ValueError, match="which"):
        est.to_dense("debiased")


def test_former_refit_names_warn_and_return_the_refit(fitted):
    _, est = fitted
    with pytest.warns(FutureWarning, match="refit_U_ is deprecated"):
        assert est.refit_U_ is est.U_
    with pytest.warns(FutureWarning, match="refit_V_ is deprecated"):
        assert est.refit_V_ is est.V_


def test_without_debias_the_reported_factors_are_the_certified_ones():
    est = hf.MatrixCompletionCV(n_lams=6, cv=2, debias=False, random_state=0).fit(_data(4))
    assert est.debiased_ is False and est.debias_info_ is None
    assert est.U_ is est.certified_U_ and est.V_ is est.certified_V_
    np.testing.assert_array_equal(est.to_dense(), est.to_dense("certified"))
    with pytest.warns(FutureWarning):
        assert est.refit_U_ is None
    with pytest.warns(FutureWarning):
        assert est.refit_V_ is None


def test_unfitted_refit_name_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning before the fitted check
        with pytest.raises(NotFittedError):
            _ = hf.MatrixCompletionCV().refit_U_


def test_former_import_paths_are_the_moved_objects():
    from homfact import cross_validation, lam_rules
    from homfact.losses import huber as huber_new
    from homfact.models import _base, completion_cv, robust_pca_cv
    from homfact.models.cv import (
        EarlyStop,
        MatrixCompletionCV,
        RobustPCACV,
        huber,
        split_lam_max,
    )
    from homfact.models.cv import (
        relaxed_refit as relaxed_old,
    )
    from homfact.models.low_rank import (
        AUTO_LAM_FACTOR,
        AUTO_LAM_FLOOR,
        _FactorizationMixin,
        _shrunk_triplets,
        low_rank_auto_lam,
    )
    from homfact.solvers.shrinkage import shrunk_triplets

    assert MatrixCompletionCV is completion_cv.MatrixCompletionCV is hf.MatrixCompletionCV
    assert RobustPCACV is robust_pca_cv.RobustPCACV is hf.RobustPCACV
    assert EarlyStop is cross_validation.EarlyStop
    assert huber is huber_new and relaxed_old is relaxed_refit
    assert split_lam_max is lam_rules.split_lam_max
    assert low_rank_auto_lam is lam_rules.low_rank_auto_lam
    assert (AUTO_LAM_FACTOR, AUTO_LAM_FLOOR) == (1.1, 1e-8)
    assert _shrunk_triplets is shrunk_triplets
    assert _FactorizationMixin is _base._FactorizationMixin


def test_select_index_min_and_one_standard_error():
    from homfact.cross_validation import select_index

    scores = np.array([[4.0, 4.2], [1.1, 1.3], [1.0, 1.2], [np.nan, np.nan]])
    b, mean, _ = select_index(scores, "min")
    assert b == 2 and np.isnan(mean[3])
    np.testing.assert_allclose(mean[:3], [4.1, 1.2, 1.1])
    # 1se: the largest λ (smallest index) within std[b]/√K = 0.1/√2 of the minimum 1.1
    assert select_index(scores, "1se")[0] == 2
    scores[1] = [1.12, 1.12]
    assert select_index(scores, "1se")[0] == 1


def test_cli_completion_lam_cv_writes_refit_and_certified(tmp_path):
    Y = _data(5)
    np.save(tmp_path / "Z.npy", Y)
    out = tmp_path / "cv"
    assert main(["fit", "completion", str(tmp_path / "Z.npy"), "--lam", "cv", "--seed", "0",
                 "--tol", "1e-6", "--no-plot", "--quiet", "--output", str(out)]) == 0
    info = json.loads((out / "certificate.json").read_text())
    direct = hf.MatrixCompletionCV(random_state=0, tol=1e-6).fit(Y)
    assert info["debiased"] is True
    assert info["certified_factors"] == ["certified_U.npy", "certified_V.npy"]
    assert info["rank"] == direct.rank_
    np.testing.assert_allclose(np.load(out / "U.npy"), direct.U_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.load(out / "certified_U.npy"), direct.certified_U_,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.load(out / "certified_V.npy"), direct.certified_V_,
                               rtol=1e-10, atol=1e-12)
    assert info["objective"] == pytest.approx(direct.certificate_.objective, rel=1e-10)
