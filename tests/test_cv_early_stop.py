"""The early-stopping rule of the cross-validated paths (MatrixCompletionCV, RobustPCACV)."""

from __future__ import annotations

import numpy as np

from homfact import MatrixCompletionCV, RobustPCACV
from homfact.models.cv import EarlyStop


def _feed(rule: EarlyStop, rows) -> int:
    """Index of the value at which ``rule`` stops (``len(rows)`` if it never does)."""
    for i, row in enumerate(rows):
        if rule.update(np.asarray(row, dtype=float)):
            return i
    return len(rows)


def test_stops_after_patience_rises_beyond_one_standard_error():
    rows = [[10, 10], [5, 5.2], [3, 3.2], [4, 4.2], [6, 6.2]]  # SE at the minimum: 0.1/√2
    assert _feed(EarlyStop(1, null=10.0), rows) == 3
    assert _feed(EarlyStop(2, null=10.0), rows) == 4
    assert _feed(EarlyStop(None, null=10.0), rows) == 5


def test_a_rise_within_the_standard_error_is_a_plateau():
    # the minimum 3.1 has fold std 1, SE 1/√2; 3.5 and 3.7 are within it, 9 is not
    rows = [[10, 10], [2.1, 4.1], [2.5, 4.5], [2.7, 4.7], [9, 9]]
    assert _feed(EarlyStop(1, null=10.0), rows) == 4
    # consecutive: a plateau value between two rises resets the count
    rows = [[10, 10], [3, 3], [5, 5], [3, 3], [5, 5], [5, 5]]
    assert _feed(EarlyStop(2, null=10.0), rows) == 5


def test_rises_count_only_once_the_zero_fit_is_beaten():
    # a poor first fit (worse than the zero fit, score 1) must not stop the path
    rows = [[1, 1], [1.5, 1.5], [3, 3], [0.2, 0.2], [0.5, 0.5]]
    assert _feed(EarlyStop(1, null=1.0), rows) == 4


def test_defaults_of_the_cv_estimators():
    mc = MatrixCompletionCV().get_params()
    assert mc["patience"] == 1 and mc["cv_tol"] == 1e-3 and mc["tol"] == 1e-6
    rp = RobustPCACV().get_params()
    assert rp["patience"] == 2 and rp["cv_tol"] == 1e-3


def test_completion_path_stops_one_value_past_its_minimum():
    rng = np.random.default_rng(0)
    m, n, r = 60, 50, 2
    X = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    Y = np.where(rng.random((m, n)) < 0.5, X + 0.1 * rng.standard_normal((m, n)), np.nan)
    est = MatrixCompletionCV(cv=3, n_lams=15, random_state=0).fit(Y)
    done = np.flatnonzero(~np.isnan(est.mse_path_[:, 0]))
    assert np.array_equal(done, np.arange(done.size))  # a prefix of the grid
    assert done.size < 15 and done[-1] == est.best_index_ + 1
    assert est.rank_ == r
    assert np.all(est.rank_path_[done.size:] == -1)
