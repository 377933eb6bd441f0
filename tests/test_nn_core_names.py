"""Network estimators speak the core's names: history keys, fitted attributes, parameters."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import homfact.nn as hn  # noqa: E402
from homfact.plotting import plot_convergence  # noqa: E402

#: keys every record of homfact.grow carries that a network record carries too
CORE_KEYS = ("iteration", "lam", "objective", "lower_bound", "rank", "polar_lower",
             "polar_upper", "gap", "relative_gap", "status", "added", "elapsed")
#: the network's earlier keys, kept for existing users
OLD_KEYS = ("step", "width", "time")
STOP_REASONS = {"certified", "max_iter", "max_rank", "polar_inconclusive", "stalled"}


def _regression_data(n: int = 12):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 1))
    y = np.maximum(X[:, 0], 0.0) + 0.1 * rng.standard_normal(n)
    return X, y


def _classification_data(n: int = 20):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 2))
    return X, (X[:, 0] > 0).astype(int)


@pytest.fixture(scope="module")
def regressor():
    X, y = _regression_data()
    return hn.GrowingRegressor(lam=0.05, fit_bias=True, random_state=0, max_growth=5).fit(X, y)


@pytest.fixture(scope="module")
def classifier():
    X, y = _classification_data()
    return hn.GrowingClassifier(lam=0.05, random_state=0, max_growth=3).fit(X, y)


@pytest.mark.parametrize("name", ["regressor", "classifier"])
def test_history_has_core_keys_and_old_keys(name, request):
    est = request.getfixturevalue(name)
    assert est.history_
    for i, rec in enumerate(est.history_):
        for key in CORE_KEYS + OLD_KEYS:
            assert key in rec, key
        assert rec["iteration"] == i + 1 == rec["step"] + 1
        assert rec["rank"] == rec["width"]
        assert rec["elapsed"] == rec["time"] >= 0.0
        assert rec["lam"] == est.lam
        assert rec["gap"] >= 0.0
        assert rec["lower_bound"] <= rec["objective"] or not math.isfinite(rec["lower_bound"])
    last = est.history_[-1]
    cert = est.certificate_
    assert (last["objective"], last["status"], last["relative_gap"]) == (
        cert.objective, cert.status, cert.relative_gap)
    # widths grow by the units the previous record says were added (no pruning on these fits)
    for prev, rec in zip(est.history_, est.history_[1:], strict=False):
        assert rec["rank"] <= prev["rank"] + prev["added"]


@pytest.mark.parametrize("name", ["regressor", "classifier"])
def test_core_fitted_attributes(name, request):
    est = request.getfixturevalue(name)
    assert est.rank_ == est.width_ == est.model_.width == est.history_[-1]["rank"]
    assert est.n_iter_ == len(est.history_)
    assert est.stop_reason_ in STOP_REASONS
    if est.certificate_.status == "global":
        assert est.stop_reason_ == "certified"
    if est.stop_reason_ == "max_iter":
        assert est.n_iter_ == est.max_growth + 1


def test_certified_fit_says_certified(regressor):
    assert regressor.certificate_.status == "global"
    assert regressor.stop_reason_ == "certified"


def test_width_cap_is_max_rank():
    X, y = _classification_data()
    est = hn.GrowingClassifier(lam=1e-3, random_state=0, max_width=2, units_per_step=1,
                               max_growth=10).fit(X, y)
    assert est.rank_ == 2
    assert est.stop_reason_ == "max_rank"


@pytest.mark.parametrize("name", ["regressor", "classifier"])
def test_plot_convergence_plots_a_network_fit(name, request, tmp_path):
    est = request.getfixturevalue(name)
    for history in (est, est.history_):
        fig = plot_convergence(history, path=tmp_path / f"{name}.png", tol=est.tol)
        assert len(fig.axes) >= 2
    assert (tmp_path / f"{name}.png").stat().st_size > 0


def test_plot_convergence_with_no_finite_gap():
    """A degree-mismatched fit claims no dual point (relative gap ``inf``): still plotted."""
    X, y = _regression_data()
    with pytest.warns(hn.DegreeMismatchWarning):
        est = hn.GrowingRegressor(lam=0.05, subnetwork="relu_chain", depth=3, hidden=2,
                                  regularizer="weight_decay", random_state=0, max_growth=1,
                                  descent_iter=30).fit(X, y)
    assert all(math.isinf(r["relative_gap"]) for r in est.history_)
    assert est.stop_reason_ in STOP_REASONS
    plot_convergence(est)


@pytest.mark.parametrize("cls", [hn.GrowingClassifier, hn.GrowingRegressor])
def test_get_params_clone_round_trip(cls):
    from sklearn.base import clone

    est = cls(lam=0.2, depth=2, channels=(2, 3), units_per_step=3, stall_retries=0,
              random_state=7)
    params = est.get_params()
    assert "task" not in params
    assert params["lam"] == 0.2 and params["units_per_step"] == 3
    assert params["stall_retries"] == 0 and params["channels"] == (2, 3)
    twin = clone(est)
    assert type(twin) is cls and twin.get_params() == params
    twin.set_params(lam=0.3, max_width=5)
    assert (twin.lam, twin.max_width, est.lam) == (0.3, 5, 0.2)
    assert cls(**params).get_params() == params
    assert pickle.loads(pickle.dumps(est)).get_params() == params
    assert est.task == ("classification" if cls is hn.GrowingClassifier else "regression")
    with pytest.raises(ValueError):
        est.set_params(task="regression")


def test_shared_parameters_defined_once():
    """The three estimators list the same shared parameters; GrowingNetwork adds ``task``."""
    shared = set(hn.GrowingClassifier().get_params())
    assert shared == set(hn.GrowingRegressor().get_params())
    net = hn.GrowingNetwork("regression", "squared", lam=0.4)
    assert set(net.get_params()) == shared | {"task"}
    assert (net.task, net.loss, net.lam) == ("regression", "squared", 0.4)
    assert hn.GrowingClassifier("hinge").loss == "hinge"  # positional order unchanged
    assert clone_of(net).get_params() == net.get_params()
    with pytest.raises(TypeError):
        hn.GrowingClassifier(no_such_parameter=1)


def clone_of(est):
    """``sklearn.base.clone``."""
    from sklearn.base import clone

    return clone(est)
