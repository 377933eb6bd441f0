"""Issue 14 ("one core"): the structured and dictionary estimators are thin; the helpers they
used to hold live in the core layers, and every former public import path still names the same
object (private helpers are imported from where they live)."""

from __future__ import annotations

import numpy as np
import pytest

import homfact.models.dictionary as dictionary
import homfact.models.structured as structured
from homfact import bases, lam_rules, tv
from homfact.registry import get_model


@pytest.mark.parametrize(("module", "old", "new"), [
    (structured, "fourier_basis", bases.fourier_basis),
    (structured, "parse_gauge_weights", tv.parse_gauge_weights),
    (dictionary, "dictionary_lam_max", lam_rules.dictionary_lam_max),
])
def test_former_names_are_re_exported(module, old, new):
    assert getattr(module, old) is new


def test_public_names_of_the_model_modules_still_import():
    for module in (structured, dictionary):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_registry_reads_the_dictionary_rule_from_lam_rules():
    assert get_model("dictionary").lam_max_rule == "homfact.lam_rules:dictionary_lam_max"


def test_intercept_basis_matches_the_estimator_spellings():
    B = bases.intercept_basis("auto", 9)
    np.testing.assert_array_equal(B, bases.fourier_basis(9, 2))
    np.testing.assert_array_equal(bases.intercept_basis("constant", 4), bases.fourier_basis(4, 0))
    assert bases.intercept_basis(None, 4) is None
    with pytest.raises(ValueError, match="intercept"):
        bases.intercept_basis("linear", 4)
    with pytest.raises(ValueError, match="intercept=2 needs Y with at least 5 columns"):
        bases.intercept_basis(2, 4)


def test_neighbourhood_mean_averages_each_node_with_its_neighbours():
    import scipy.sparse as sp

    A = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    M = tv.neighbourhood_mean(A).toarray()
    np.testing.assert_allclose(M, [[.5, .5, 0], [1 / 3, 1 / 3, 1 / 3], [0, .5, .5]])


def test_dictionary_lam_floor_only_raises_an_automatic_lam():
    assert lam_rules.dictionary_lam_floor(1e-9, 5.0, 0.1, 1.0, auto_lam=True,
                                          auto_gamma=True) == (1e-3, 0.1 / 1e-3)
    assert lam_rules.dictionary_lam_floor(1e-9, 5.0, 0.1, 1.0, auto_lam=True,
                                          auto_gamma=False) == (1e-3, 5.0)
    assert lam_rules.dictionary_lam_floor(1e-9, 5.0, 0.1, 1.0, auto_lam=False,
                                          auto_gamma=True) == (1e-9, 5.0)
