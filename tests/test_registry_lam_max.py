"""Every registered model's ``lam_max`` is one ``float``, and fitting just above it gives the
zero solution (exact rules: low_rank, completion, rpca, nmf; rigorous upper bounds:
dictionary, cp)."""

from __future__ import annotations

import numpy as np
import pytest

import homfact as hf
from homfact.registry import get_model, iter_models

#: keyword parameters of the rules that need them (rpca's γ has no closed-form default)
PARAMS = {"rpca": {"gamma": 2.0}}
EXACT = {"low_rank", "completion", "rpca", "nmf"}


def _data(name: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((14, 10)) + np.outer(rng.standard_normal(14), rng.standard_normal(10))
    if name == "cp":
        return rng.standard_normal((6, 5, 4))
    if name == "nmf":
        return np.abs(Y)
    if name in ("completion", "rpca"):
        Y[rng.random(Y.shape) < 0.2] = np.nan
    return Y


def _fit(name: str, data, lam: float):
    spec = get_model(name)
    kwargs = {"random_state": 0, **PARAMS.get(name, {})}
    return spec.estimator_class()(lam=lam, **kwargs).fit(data)


def test_every_model_but_structured_has_a_lam_max():
    assert {s.name for s in iter_models("lam_max")} == {
        "low_rank", "completion", "rpca", "nmf", "dictionary", "cp"}
    assert {s.name for s in iter_models("lam_max") if s.lam_max_exact} == EXACT
    # the path starts only from an exact λ_max of a model with a problem (unchanged)
    assert {s.name for s in iter_models("path")} == {"low_rank", "completion"}


@pytest.mark.filterwarnings("ignore:RobustPCA. debiasing refit skipped")
@pytest.mark.parametrize("name", [s.name for s in iter_models("lam_max")])
def test_lam_max_is_a_float_and_gives_the_zero_solution(name):
    data = _data(name)
    top = hf.lam_max(name, data, **PARAMS.get(name, {}))
    assert type(top) is float and top > 0
    assert get_model(name).lam_max(data, **PARAMS.get(name, {})) == top
    assert _fit(name, data, top * (1 + 1e-6)).rank_ == 0
    if name in EXACT:  # no smaller λ gives zero: just below, something enters
        assert _fit(name, data, 0.99 * top).rank_ >= 1


def test_dictionary_bound_matches_the_estimator_bracket():
    """The numeric-γ value is the estimator's rigorous upper end; "auto" is also a bound."""
    X = _data("dictionary")
    est = hf.SparseDictionaryLearning(lam=1.0, gamma=0.5, random_state=0).fit(X)
    assert hf.lam_max("dictionary", X, gamma=0.5) == pytest.approx(est.lam_max_[1], rel=1e-12)
    assert isinstance(est.lam_max_, tuple)  # the public bracket is unchanged


def test_rpca_needs_a_valid_gamma():
    Y = _data("rpca")
    with pytest.raises(TypeError, match="gamma"):
        hf.lam_max("rpca", Y)
    with pytest.raises(ValueError, match="gamma"):
        hf.lam_max("rpca", Y, gamma=0.0)


def test_nmf_lam_max_rejects_negative_data():
    with pytest.raises(ValueError, match="X must be non-negative"):
        hf.lam_max("nmf", -np.ones((3, 2)))


def test_regularization_path_still_refuses_models_without_an_exact_path():
    with pytest.raises(ValueError, match="model"):
        hf.regularization_path(_data("cp"), "cp")
