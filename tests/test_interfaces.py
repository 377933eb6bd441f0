"""The extension interfaces (homfact.interfaces): every map and polar class of the package
follows its protocol, and local solvers are chosen from a registry or passed as callables."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import homfact.maps as maps
import homfact.meta as meta
import homfact.polar as polar
from homfact.gauges import L1, L2, NonNegative
from homfact.interfaces import (
    LocalSolver,
    MapProtocol,
    PolarSolver,
    growth_margin,
    merge_parallel,
    min_candidates,
)
from homfact.losses import SquaredLoss
from homfact.meta import LOCAL_SOLVERS, Problem, grow, register_local_solver
from homfact.polar import PolarBound
from homfact.problems import dictionary_problem, low_rank_problem
from homfact.tv import L1TVL2


def _map_instances() -> dict[type, object]:
    mask = np.ones((3, 4, 2), dtype=bool)
    mask[0, 0, 0] = False
    return {
        maps.Bilinear: maps.Bilinear((3, 4)),
        maps.MaskedBilinear: maps.MaskedBilinear((3, 4), np.array([0, 1, 2]),
                                                 np.array([1, 0, 3])),
        maps.DictionaryBilinear: maps.DictionaryBilinear((3, 4), np.ones((4, 2))),
        maps.CPMap: maps.CPMap((3, 4, 2)),
        maps.MaskedCPMap: maps.MaskedCPMap((3, 4, 2), mask),
    }


def _defined_classes(module) -> set[type]:
    return {c for _, c in inspect.getmembers(module, inspect.isclass)
            if c.__module__.startswith(module.__name__)}


def test_every_map_class_satisfies_map_protocol():
    instances = _map_instances()
    assert _defined_classes(maps) == set(instances), "a new map class needs a case here"
    for cls, m in instances.items():
        assert isinstance(m, MapProtocol), cls.__name__
        X = [np.ones((n, 2)) for n in m.block_sizes]
        assert len(X) == m.n_blocks
        G = m.forward(X)
        cols = [F[:, 0] for F in X]
        assert np.isclose(m.atom_inner(G, cols), float(np.vdot(G, m.atom(cols))))
        assert np.isclose(m.atom_sqnorm(cols), float(np.vdot(m.atom(cols), m.atom(cols))))


def _polar_instances() -> dict[type, object]:
    tv = L1TVL2(0, 0, 1, 3)
    return {
        polar.NuclearPolar: polar.NuclearPolar(),
        polar.RowSparsePolar: polar.RowSparsePolar(L2()),
        polar.AlternatingPolar: polar.AlternatingPolar(L1(), L2()),
        polar.ElasticNetL2Polar: polar.ElasticNetL2Polar(0.5),
        polar.NonnegativePolar: polar.NonnegativePolar(),
        polar.StructuredPolar: polar.StructuredPolar(tv, L1TVL2(0, 0, 1, 4)),
        polar.TensorPolar: polar.TensorPolar((L2(), L2(), L2())),
        polar.CPGrowthPolar: polar.CPGrowthPolar((L2(), L2(), L2()), 1.0),
        polar.OperatorNuclearPolar: polar.OperatorNuclearPolar(),
    }


def test_every_polar_class_satisfies_polar_protocol():
    instances = _polar_instances()
    defined = {c for c in _defined_classes(polar) if c is not PolarBound and callable(c)
               and "__call__" in vars(c)}
    assert defined == set(instances), "a new polar class needs a case here"
    rng = np.random.default_rng(0)
    for cls, p in instances.items():
        assert isinstance(p, PolarSolver), cls.__name__
        params = inspect.signature(type(p).__call__).parameters
        for name, default in (("n_candidates", 1), ("rng", None), ("warm_start", None)):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (cls.__name__, name)
            assert params[name].default == default, (cls.__name__, name)
        op = rng.random((3, 4, 2)) if cls in (polar.TensorPolar, polar.CPGrowthPolar) \
            else rng.random((3, 4))
        bound = p(op, n_candidates=2, rng=np.random.default_rng(1))
        assert isinstance(bound, PolarBound) and bound.lower <= bound.upper * (1 + 1e-9)
        assert len(bound.maximizer) == op.ndim
        assert min_candidates(p) >= 1


def test_optional_hooks_defaults():
    dense, cp_map = maps.Bilinear((3, 4)), maps.CPMap((3, 4, 2))
    assert growth_margin(dense) == 0.0 and growth_margin(cp_map) == cp_map.growth_margin > 0
    X = [np.ones((3, 2)), np.ones((4, 2))]
    assert merge_parallel(dense, X) is X
    assert min_candidates(polar.NuclearPolar()) == 1
    assert min_candidates(polar.NonnegativePolar(min_candidates=4)) == 4


def test_registered_solvers_follow_local_solver_protocol():
    for name in ("als", "als-exact", "als-huber", "hals", "prox_linear", "cp-als", "bcd"):
        assert isinstance(LOCAL_SOLVERS[name], LocalSolver), name


def test_auto_and_named_solvers_are_recorded_by_their_name(rng):
    Y = rng.standard_normal((8, 6))
    assert low_rank_problem(Y, 1.0).local_solver == "als"
    p = Problem(SquaredLoss(np.abs(Y)), maps.Bilinear(Y.shape),
                (NonNegative(), NonNegative()), 1.0)
    assert p.local_solver == "hals" and p.local_step is LOCAL_SOLVERS["hals"]


def test_dictionary_problem_records_bcd(rng):
    Y = rng.standard_normal((8, 6))
    p = dictionary_problem(Y, 1.0, 0.5)
    assert p.local_solver == "bcd" and p.use_bcd and p.local_step is LOCAL_SOLVERS["bcd"]
    q = dictionary_problem(Y, 1.0, 0.5, local_solver="prox_linear")
    assert q.local_solver == "prox_linear" and not q.use_bcd
    with pytest.raises(ValueError, match="local_solver"):  # bcd needs a DictionaryProblem
        low_rank_problem(Y, 1.0, gauges=(L1(), L2()), local_solver="bcd")


def test_callable_local_solver_gives_the_same_iterates(rng):
    Y = rng.standard_normal((10, 7))
    lam = 0.3 * float(np.linalg.norm(Y, 2))
    calls = []

    def my_prox(problem, factors, *, tol, max_sweeps, deadline):
        calls.append(factors[0].shape[1])
        return LOCAL_SOLVERS["prox_linear"](problem, factors, tol=tol, max_sweeps=max_sweeps,
                                            deadline=deadline)

    ref = grow(low_rank_problem(Y, lam, local_solver="prox_linear"), tol=1e-5, random_state=0)
    p = low_rank_problem(Y, lam, local_solver=my_prox)
    assert p.local_solver == "my_prox"
    res = grow(p, tol=1e-5, random_state=0)
    assert calls and res.n_iter == ref.n_iter and res.stop_reason == ref.stop_reason
    for a, b in zip(res.factors, ref.factors, strict=True):
        np.testing.assert_array_equal(a, b)


def test_register_local_solver_and_bad_names(rng):
    Y = rng.standard_normal((6, 5))
    with pytest.raises(ValueError, match="local_solver"):
        low_rank_problem(Y, 1.0, local_solver="sgd")
    with pytest.raises(ValueError, match="name"):
        register_local_solver("auto", LOCAL_SOLVERS["prox_linear"])
    with pytest.raises(TypeError, match="solver"):
        register_local_solver("x", 3)
    try:
        register_local_solver("test-prox", LOCAL_SOLVERS["prox_linear"],
                              requires=lambda p: p.lam > 0.5, requirement="needs lam > 0.5")
        assert low_rank_problem(Y, 1.0, local_solver="test-prox").local_solver == "test-prox"
        with pytest.raises(ValueError, match="needs lam"):
            low_rank_problem(Y, 0.1, local_solver="test-prox")
    finally:
        LOCAL_SOLVERS.pop("test-prox", None)
        meta._SOLVER_REQUIREMENTS.pop("test-prox", None)
