"""Bad input: every error is a ValueError/TypeError whose message names the offending argument."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import homfact as hf
from homfact.problems import check_dense_matrix, check_lam, observed_entries


@pytest.fixture
def Y():
    return np.arange(12, dtype=float).reshape(4, 3) - 5.0


@pytest.fixture
def Ynan(Y):
    out = Y.copy()
    out[0, 0] = out[2, 1] = np.nan
    return out


@pytest.fixture
def fitted_completion(Ynan):
    return hf.MatrixCompletion(lam=0.1).fit(Ynan)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_low_rank_rejects_non_finite_Y(Y, bad):
    Y = Y.copy()
    Y[1, 2] = bad
    with pytest.raises(ValueError, match=r"\bY\b") as exc:
        hf.LowRankApproximation().fit(Y)
    assert "NaN" in str(exc.value) or "inf" in str(exc.value)


def test_low_rank_rejects_1d_Y():
    with pytest.raises(ValueError, match=r"\bY\b"):
        hf.LowRankApproximation().fit(np.ones(5))


def test_low_rank_rejects_non_numeric_Y():
    with pytest.raises((TypeError, ValueError), match=r"\bY\b|convert"):
        hf.LowRankApproximation().fit([["a", "b"], ["c", "d"]])


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_completion_rejects_inf(Ynan, bad):
    Ynan = Ynan.copy()
    Ynan[1, 1] = bad
    with pytest.raises(ValueError, match=r"\bY\b.*infinite"):
        hf.MatrixCompletion().fit(Ynan)
    S = sp.csr_matrix(([1.0, bad], ([0, 1], [1, 1])), shape=(3, 3))
    with pytest.raises(ValueError, match=r"\bY\b.*infinite"):
        hf.MatrixCompletion().fit(S)


def test_completion_rejects_nan_stored_in_sparse():
    S = sp.csr_matrix(([1.0, np.nan], ([0, 1], [1, 1])), shape=(3, 3))
    with pytest.raises(ValueError, match=r"\bY\b.*NaN"):
        hf.MatrixCompletion().fit(S)


@pytest.mark.parametrize("empty", [
    np.full((3, 4), np.nan),
    sp.csr_matrix((3, 4)),
    sp.coo_matrix((5, 2)),
])
def test_completion_rejects_empty_observed_set(empty):
    with pytest.raises(ValueError, match=r"\bY\b has no observed entries"):
        hf.MatrixCompletion().fit(empty)


def test_completion_rejects_1d_and_3d():
    with pytest.raises(ValueError, match=r"\bY\b must be a 2-D"):
        hf.MatrixCompletion().fit(np.ones(4))
    with pytest.raises(ValueError, match=r"\bY\b must be a 2-D"):
        hf.MatrixCompletion().fit(np.ones((2, 2, 2)))


def test_completion_rejects_non_numeric():
    with pytest.raises(TypeError, match=r"\bY\b must be a numeric"):
        hf.MatrixCompletion().fit([["a", "b"], ["c", "d"]])


def test_completion_rejects_duplicate_sparse_entries():
    S = sp.coo_matrix(([1.0, 2.0, 3.0], ([0, 0, 1], [1, 1, 2])), shape=(3, 3))
    with pytest.raises(ValueError, match=r"\bY\b has duplicate stored entries"):
        hf.MatrixCompletion().fit(S)
    with pytest.raises(ValueError, match="duplicate"):
        hf.certify("completion", S, (np.ones((3, 1)), np.ones((3, 1))), 1.0)


def test_check_dense_matrix_messages():
    with pytest.raises(ValueError, match="data must be non-empty"):
        check_dense_matrix(np.zeros((0, 3)), name="data")
    with pytest.raises(ValueError, match="data contains NaN"):
        check_dense_matrix(np.array([[np.nan]]), name="data")
    with pytest.raises(ValueError, match="data must be a 2-D"):
        check_dense_matrix(np.ones(3), name="data")
    with pytest.raises(TypeError, match="data must be a numeric"):
        check_dense_matrix([["x"]], name="data")
    np.testing.assert_array_equal(check_dense_matrix(sp.eye(2)), np.eye(2))


def test_observed_entries_orders_rows_and_values():
    S = sp.coo_matrix(([3.0, 1.0, 2.0], ([2, 0, 0], [0, 2, 1])), shape=(3, 3))
    obs = observed_entries(S)
    np.testing.assert_array_equal(obs.rows, [0, 0, 2])
    np.testing.assert_array_equal(obs.cols, [1, 2, 0])
    np.testing.assert_array_equal(obs.values, [2.0, 1.0, 3.0])
    assert obs.nnz == 3 and obs.shape == (3, 3)


# ----------------------------------------------------------------------------------------------
# lam and other parameters
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [hf.LowRankApproximation, hf.MatrixCompletion])
@pytest.mark.parametrize(("lam", "exc"), [
    (-1.0, ValueError), (-1e-300, ValueError), (np.nan, ValueError), (np.inf, ValueError),
    (-np.inf, ValueError), ("1.0", TypeError), (None, TypeError), ([1.0], TypeError),
    (True, TypeError), (1 + 2j, TypeError),
])
def test_bad_lam(Est, Ynan, Y, lam, exc):
    data = Ynan if Est is hf.MatrixCompletion else Y
    with pytest.raises(exc, match=r"\blam\b"):
        Est(lam=lam).fit(data)


@pytest.mark.parametrize(("lam", "exc"), [(-2.0, ValueError), (np.nan, ValueError),
                                           ("x", TypeError)])
def test_bad_lam_elsewhere(Y, lam, exc):
    with pytest.raises(exc, match=r"\blam"):
        check_lam(lam)
    with pytest.raises(exc, match=r"\blam\b"):
        hf.certify("low_rank", Y, (np.ones((4, 1)), np.ones((3, 1))), lam)
    with pytest.raises(exc, match=r"\blams\b"):
        hf.regularization_path(Y, lams=[1.0, lam])


def test_good_lam_types(Y):
    for lam in (0, 1, 0.5, np.float32(0.5), np.float64(2.0), np.int64(3)):
        assert check_lam(lam) == float(lam)
    hf.LowRankApproximation(lam=np.float32(1.0)).fit(Y)


@pytest.mark.parametrize(("param", "value"), [
    ("tol", 0.0), ("tol", 1.0), ("tol", -1e-6), ("tol", "1e-6"),
    ("max_iter", 0), ("max_iter", 2.5), ("max_rank", 0), ("max_rank", 1.5),
    ("time_limit", 0.0), ("time_limit", -1.0), ("time_limit", "1"),
])
def test_bad_parameters_named(Y, param, value):
    with pytest.raises((ValueError, TypeError), match=rf"\b{param}\b"):
        hf.LowRankApproximation(**{param: value}).fit(Y)


def test_bad_local_solver(Ynan):
    with pytest.raises(ValueError, match="local_solver"):
        hf.MatrixCompletion(local_solver="sgd").fit(Ynan)


def test_bad_rank_for_random_init(Y):
    for rank in (0, -1, 2.5):
        with pytest.raises(ValueError, match=r"\brank\b"):
            hf.LowRankApproximation(init="random", rank=rank).fit(Y)


# ----------------------------------------------------------------------------------------------
# init
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("init", [
    "ones",
    np.ones((4, 2)),
    (np.ones((4, 2)),),
    (np.ones((3, 2)), np.ones((3, 2))),  # U0 has the wrong number of rows
    (np.ones((4, 2)), np.ones((4, 2))),  # V0 has the wrong number of rows
    (np.ones((4, 2)), np.ones((3, 3))),  # column counts differ
    (np.ones(4), np.ones(3)),  # 1-D
    (np.ones((4, 1, 1)), np.ones((3, 1))),
    (np.full((4, 1), np.nan), np.ones((3, 1))),
    (np.ones((4, 1)), np.full((3, 1), np.inf)),
])
@pytest.mark.parametrize("Est", [hf.LowRankApproximation, hf.MatrixCompletion])
def test_bad_init(Est, Y, Ynan, init):
    data = Ynan if Est is hf.MatrixCompletion else Y
    with pytest.raises(ValueError, match=r"\binit\b"):
        Est(init=init).fit(data)


# ----------------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rows", "cols", "exc", "name"), [
    ([0, 4], [0, 1], ValueError, "rows"),  # out of range (4 rows)
    ([0, -1], [0, 1], ValueError, "rows"),
    ([0, 1], [0, 3], ValueError, "cols"),  # out of range (3 cols)
    ([0, 1], [-2, 0], ValueError, "cols"),
    ([0.5, 1.0], [0, 1], TypeError, "rows"),  # float, not an integer
    ([0, 1], [1.0, 1.25], TypeError, "cols"),
    ([np.nan, 1.0], [0, 1], TypeError, "rows"),
    ([np.inf, 1.0], [0, 1], TypeError, "rows"),
    (["a", "b"], [0, 1], TypeError, "rows"),
])
def test_predict_bad_indices(fitted_completion, rows, cols, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        fitted_completion.predict(rows, cols)


def test_predict_mismatched_shapes(fitted_completion):
    with pytest.raises(ValueError, match=r"rows and cols"):
        fitted_completion.predict([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match=r"rows and cols"):
        fitted_completion.predict(np.zeros((2, 2), int), np.zeros(4, int))


def test_predict_accepts_integral_floats_and_empty(fitted_completion):
    full = fitted_completion.to_dense()
    np.testing.assert_allclose(fitted_completion.predict([0.0, 3.0], [2, 0]), full[[0, 3], [2, 0]])
    assert fitted_completion.predict(np.array([], int), np.array([], int)).shape == (0,)


# ----------------------------------------------------------------------------------------------
# certify, path, gauges, losses
# ----------------------------------------------------------------------------------------------
def test_certify_bad_arguments(Y):
    good = (np.ones((4, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"\bmodel\b"):
        hf.certify("pca", Y, good, 1.0)
    with pytest.raises(ValueError, match=r"\blam\b"):
        hf.certify("low_rank", Y, good)
    with pytest.raises(ValueError, match=r"\bY\b"):
        hf.certify("low_rank", None, good, 1.0)
    with pytest.raises(ValueError, match=r"factors\[0\]"):
        hf.certify("low_rank", Y, (np.ones((3, 1)), np.ones((3, 1))), 1.0)
    with pytest.raises(ValueError, match=r"factors\[1\]"):
        hf.certify("low_rank", Y, (np.ones((4, 1)), np.full((3, 1), np.nan)), 1.0)
    with pytest.raises(ValueError, match=r"\bfactors\b"):
        hf.certify("low_rank", Y, (np.ones((4, 1)), np.ones((3, 2))), 1.0)
    with pytest.raises(ValueError, match=r"\bfactors\b"):
        hf.certify("low_rank", Y, (np.ones((4, 1)),), 1.0)
    with pytest.raises(ValueError, match=r"\bfactors\b"):
        hf.certify("low_rank", Y, None, 1.0)
    with pytest.raises(ValueError, match=r"\bY\b"):
        hf.certify("low_rank", np.full((2, 2), np.nan), (np.ones((2, 1)), np.ones((2, 1))), 1.0)


def test_path_bad_arguments(Y):
    with pytest.raises(ValueError, match=r"\bmodel\b"):
        hf.regularization_path(Y, "pca")
    with pytest.raises(ValueError, match=r"\bn_lams\b"):
        hf.regularization_path(Y, n_lams=0)
    with pytest.raises(ValueError, match=r"\blam_min_ratio\b"):
        hf.regularization_path(Y, lam_min_ratio=1.5)


def test_problem_builders_bad_loss(Y):
    from homfact.problems import low_rank_problem

    with pytest.raises(ValueError, match=r"\bloss\b"):
        low_rank_problem(Y, 1.0, loss="l1")
    with pytest.raises(ValueError, match=r"\bdelta\b"):
        low_rank_problem(Y, 1.0, loss="huber", delta=-1.0)
