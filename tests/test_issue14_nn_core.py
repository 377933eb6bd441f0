"""Issue 14, "one core", for the network family.

* the growth loop is :func:`homfact.nn.grow_network` and returns the core's
  :class:`homfact.meta.GrowResult` (factors = one array per layer, columns = subnetworks), and
  the estimators take their fitted attributes from it;
* the network polar follows the core's polar contract (:class:`homfact.nn.NetworkPolar`,
  a :class:`homfact.interfaces.PolarSolver`): ``lower`` attained by a feasible maximizer,
  ``upper`` valid (above brute force and the exact 2-D/3-D polars), candidates feasible;
* the networks' σ_max bounds are the core's: the Gram form of the convolution-patch stack
  uses :func:`homfact.polar.core.gram_sigma_max_upper` (checked against 50-digit values, with
  mutation tests), and the exact 3-D search's pruning bound dominates ``λ_max``.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import homfact.nn as hn  # noqa: E402
import homfact.polar.core as core  # noqa: E402
from homfact.certificate import Certificate  # noqa: E402
from homfact.interfaces import PolarSolver  # noqa: E402
from homfact.meta import GrowResult  # noqa: E402
from homfact.nn.growing import _degree_check, _initial_model  # noqa: E402
from homfact.nn.losses import make_loss  # noqa: E402
from homfact.nn.polar import (  # noqa: E402
    _Grams,
    _top_eigval_sym3_upper,
    relu_unit_exact_2d,
    relu_unit_exact_3d,
)
from homfact.nn.regularizers import make_regularizer  # noqa: E402
from homfact.polar import PolarBound  # noqa: E402
from homfact.polar.core import gram_sigma_max_upper  # noqa: E402

D = torch.float64


def _strip(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("elapsed", "time")} for r in history]


def _regression_data(n: int = 40, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(X[:, 0]) + 0.1 * X[:, 1]


# ------------------------------------------------------------------------------- grow_network

def _grow_by_hand(X, y, *, seed: int, **kwargs):
    """The estimator's steps, by hand: initial model, degree check, :func:`grow_network`."""
    V = torch.as_tensor(X, dtype=D)
    loss = make_loss("squared")
    T = loss.targets(y, None, torch.device("cpu"), D)
    factory = hn.relu_unit(V.shape[1], T.shape[1])
    model, gen = _initial_model(factory, 1, torch.device("cpu"), D, seed)
    degree, matched, reg = _degree_check(factory, model, V, make_regularizer("product_of_norms"),
                                         seed + 2)
    return hn.grow_network(model, V, T, loss, reg, 1e-2, matched=matched, generator=gen,
                           **kwargs), degree


def test_grow_network_returns_the_core_grow_result():
    X, y = _regression_data()
    (model, res), degree = _grow_by_hand(X, y, seed=0, max_growth=4, descent_iter=50)
    assert isinstance(res, GrowResult) and isinstance(res.certificate, Certificate)
    assert degree == pytest.approx(2.0)
    assert res.rank == model.width == res.history[-1]["rank"]
    assert res.n_iter == len(res.history) and res.elapsed > 0
    assert res.stop_reason in ("certified", "max_iter", "max_rank", "polar_inconclusive",
                               "stalled")
    assert len(res.factors) == model.n_layers
    for F, p in zip(res.factors, model.params, strict=True):
        assert F.dtype == np.float64 and F.shape == (math.prod(p.shape[1:]), model.width)
        np.testing.assert_array_equal(F, p.detach().reshape(model.width, -1).numpy().T)
    assert res.certificate.objective == res.history[-1]["objective"]


def test_estimator_attributes_are_the_grow_result():
    """``fit`` is validation + degree check + :func:`grow_network`: the same history,
    certificate and weights as the loop run by hand."""
    X, y = _regression_data(seed=1)
    kwargs = dict(max_growth=3, descent_iter=40)
    est = hn.GrowingRegressor(lam=1e-2, random_state=5, **kwargs).fit(X, y)
    (model, res), degree = _grow_by_hand(X, y, seed=5, **kwargs)
    assert _strip(est.history_) == _strip(res.history)
    assert est.certificate_ == res.certificate
    assert (est.width_, est.rank_, est.n_iter_, est.stop_reason_, est.degree_) == (
        res.rank, res.rank, res.n_iter, res.stop_reason, degree)
    for a, b in zip(est.model_.params, model.params, strict=True):
        assert torch.equal(a, b)


def test_grow_network_factors_of_an_empty_network():
    model = hn.ParallelSubnetworks(hn.relu_chain(3, 2, depth=2, width=2), 0, dtype=D)
    F = hn.network_factors(model)
    assert [f.shape for f in F] == [(6, 0), (4, 0)]


def test_grow_network_rejects_bad_input():
    X, y = _regression_data(n=10)
    V, T = torch.as_tensor(X), torch.as_tensor(y[:, None])
    loss, reg = make_loss("squared"), make_regularizer("product_of_norms")
    model = hn.ParallelSubnetworks(hn.relu_unit(3, 1), 1, dtype=D)
    with pytest.raises(TypeError, match="model must be a ParallelSubnetworks"):
        hn.grow_network("net", V, T, loss, reg, 1e-2)
    with pytest.raises(ValueError, match="lam must be a positive finite number"):
        hn.grow_network(model, V, T, loss, reg, 0.0)
    with pytest.raises(ValueError, match="max_growth must be an integer >= 0"):
        hn.grow_network(model, V, T, loss, reg, 1e-2, max_growth=-1)
    with pytest.raises(ValueError, match="units_per_step must be an integer >= 1"):
        hn.grow_network(model, V, T, loss, reg, 1e-2, units_per_step=0)


# ----------------------------------------------------------------------- the polar contract

def _attained(solver: hn.NetworkPolar, G: torch.Tensor, columns) -> float:
    """``⟨G, φ(V; x)⟩`` of one subnetwork given as columns, evaluated by the model."""
    xs = [t.unsqueeze(0) for t in solver.layers(columns)]
    with torch.no_grad():
        return float((solver.model.evaluate_subnetworks(xs, solver.V)[0] * G).sum())


def _check_contract(solver: hn.NetworkPolar, G: torch.Tensor, n_candidates: int) -> PolarBound:
    assert isinstance(solver, PolarSolver)
    b = solver(G.numpy(), n_candidates=n_candidates, rng=np.random.default_rng(0))
    assert isinstance(b, PolarBound)
    assert b.lower <= b.upper
    assert len(b.maximizer) == solver.model.n_layers
    atoms = [(b.maximizer, b.lower), *b.candidates]
    assert len(b.candidates) <= n_candidates - 1
    for columns, value in atoms:
        for c in columns:                                      # feasible: unit-norm layers
            assert isinstance(c, np.ndarray) and c.dtype == np.float64 and c.ndim == 1
            assert np.linalg.norm(c) <= 1 + 1e-12
            if value > 0:
                assert np.linalg.norm(c) == pytest.approx(1.0, abs=1e-12)
        scale = float(G.norm()) * float(solver.V.norm())
        assert _attained(solver, G, columns) == pytest.approx(value, rel=1e-9,
                                                               abs=1e-12 * scale)
        assert value <= b.upper
    values = [v for _, v in b.candidates]
    assert values == sorted(values, reverse=True)
    return b


def _brute_2d(V: torch.Tensor, G: torch.Tensor, n: int = 20_000) -> float:
    """``max_t ‖Gᵀ(V w_t)₊‖`` over ``n`` angles (a lower bound on the 2-D polar)."""
    t = torch.linspace(0, 2 * math.pi, n, dtype=D)
    W = torch.stack([torch.cos(t), torch.sin(t)], 1)
    return float((G.T @ torch.relu(V @ W.T)).norm(dim=0).max())


@pytest.mark.parametrize("exact", ["auto", False])
def test_network_polar_contract_relu_unit_2d(exact):
    gen = torch.Generator().manual_seed(0)
    V = torch.randn(25, 2, generator=gen, dtype=D)
    G = torch.randn(25, 3, generator=gen, dtype=D)
    model = hn.ParallelSubnetworks(hn.relu_unit(2, 3), 2, dtype=D)
    solver = hn.NetworkPolar(model, V, n_starts=8, n_iter=30, exact=exact)
    b = _check_contract(solver, G, n_candidates=4)
    brute, ex = _brute_2d(V, G), relu_unit_exact_2d(V, G)[0]
    assert brute <= ex * (1 + 1e-12)
    assert ex <= b.upper and brute <= b.upper
    if exact == "auto":
        assert b.method.startswith("exact") and b.lower == pytest.approx(ex, rel=1e-12)


def test_network_polar_contract_relu_unit_3d_and_float32_model():
    gen = torch.Generator().manual_seed(1)
    V = torch.randn(30, 3, generator=gen, dtype=D)
    G = torch.randn(30, 2, generator=gen, dtype=D)
    model = hn.ParallelSubnetworks(hn.relu_unit(3, 2), 1, dtype=torch.float32)
    for exact in ("auto", False):
        solver = hn.NetworkPolar(model, V.float(), n_starts=8, n_iter=30, exact=exact)
        assert solver.model.dtype == D and model.dtype == torch.float32
        b = _check_contract(solver, G, n_candidates=3)
        assert relu_unit_exact_3d(solver.V, G)[0] <= b.upper


def test_network_polar_contract_relu_chain():
    """A chain: lower attained, upper valid (above random feasible points), one candidate."""
    gen = torch.Generator().manual_seed(2)
    V = torch.randn(20, 3, generator=gen, dtype=D)
    G = torch.randn(20, 2, generator=gen, dtype=D)
    model = hn.ParallelSubnetworks(hn.relu_chain(3, 2, depth=3, width=2), 2, dtype=D)
    solver = hn.NetworkPolar(model, V, n_starts=4, n_iter=20)
    b = _check_contract(solver, G, n_candidates=2)
    assert math.isfinite(b.upper)
    rng = np.random.default_rng(0)
    for _ in range(200):
        cols = [rng.standard_normal(c.size) for c in b.maximizer]
        cols = [c / np.linalg.norm(c) for c in cols]
        assert _attained(solver, G, cols) <= b.upper


def test_network_polar_rejects_a_non_network():
    with pytest.raises(TypeError, match="model must be a ParallelSubnetworks"):
        hn.NetworkPolar(object(), torch.zeros(3, 2))


# --------------------------------------------------------- the core's bound in the Gram form

def _exact_sigma_max(B: np.ndarray) -> mpmath.mpf:
    with mpmath.workdps(50):
        M = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in B])
        return max(mpmath.svd_r(M, compute_uv=False))


def _gram_instances() -> list[np.ndarray]:
    """Random, clustered top singular values, nearly rank one, scales 1e±100."""
    rng = np.random.default_rng(14)
    out = [rng.standard_normal(tuple(rng.integers(1, 9, size=2))) for _ in range(30)]
    for _ in range(8):
        Q1, _ = np.linalg.qr(rng.standard_normal((8, 5)))
        Q2, _ = np.linalg.qr(rng.standard_normal((5, 5)))
        out.append((Q1 * (1.0 + 1e-9 * rng.standard_normal(5))) @ Q2.T)
    for _ in range(4):
        out.append(np.outer(rng.standard_normal(7), rng.standard_normal(4))
                   + 1e-12 * rng.standard_normal((7, 4)))
    out += [1e-100 * rng.standard_normal((5, 3)), 1e100 * rng.standard_normal((4, 6)),
            np.full((4, 4), 1.0 / 3.0)]
    return out


GRAM_INSTANCES = _gram_instances()
GRAM_EXACT = [_exact_sigma_max(B) for B in GRAM_INSTANCES]


def _gram_bound(B: np.ndarray) -> float:
    """The caller's step 1: ``fl(BᵀB)`` (dot products of length ``m``) and ``fl(‖B‖²_F)``."""
    return gram_sigma_max_upper(B.T @ B, float(np.sum(B * B)), B.shape[0])


def _gram_violations(bound) -> list[int]:
    return [i for i, (B, s) in enumerate(zip(GRAM_INSTANCES, GRAM_EXACT, strict=True))
            if mpmath.mpf(float(bound(B))) < s]


def test_gram_sigma_max_upper_is_rigorous_and_tight():
    assert _gram_violations(_gram_bound) == []
    for B, s in zip(GRAM_INSTANCES, GRAM_EXACT, strict=True):
        assert _gram_bound(B) <= float(s) * (1 + 1e-12)


def test_gram_mutations_are_caught(monkeypatch):
    """No allowance and no rounding up, or the bound 1e-12 too low: the same check fails."""
    assert _gram_violations(lambda B: _gram_bound(B) * (1 - 1e-12)) != []
    monkeypatch.setattr(core, "_gram_allowance", lambda p, k, fro2: 0.0)
    monkeypatch.setattr(core, "_ROUND_UP", 1.0)
    assert _gram_violations(_gram_bound) != []


def test_gram_sigma_max_upper_edge_cases():
    assert gram_sigma_max_upper(np.zeros((3, 3)), 0.0, 4) == 0.0
    assert gram_sigma_max_upper(np.zeros((0, 0)), 0.0, 1) == 0.0
    with pytest.raises(ValueError, match="square"):
        gram_sigma_max_upper(np.ones((2, 3)), 1.0, 2)
    with pytest.raises(ValueError, match="fro2"):
        gram_sigma_max_upper(np.ones((2, 2)), -1.0, 2)
    with pytest.raises(ValueError, match="length"):
        gram_sigma_max_upper(np.ones((2, 2)), 1.0, 0)


def test_patch_grams_bound_the_explicit_stack():
    """``_Grams.upper`` (the convolution-patch stack held as per-sample Grams) bounds the
    50-digit ``σ_max`` of the explicit stack ``C^{-1/2}M`` and is tight to 1e-12."""
    gen = torch.Generator().manual_seed(3)
    for N, L, q in [(4, 3, 2), (6, 5, 3), (3, 9, 4)]:
        M = torch.randn(N, L, q, generator=gen, dtype=D)
        root = torch.exp(torch.randn(N, generator=gen, dtype=D))
        grams = _Grams(M.transpose(1, 2) @ M, M.pow(2).sum(dim=(1, 2)), L)
        ub = grams.upper(root)
        stack = (M / root[:, None, None]).reshape(N * L, q).numpy()
        s = _exact_sigma_max(stack)
        assert s <= mpmath.mpf(ub) and ub <= float(s) * (1 + 1e-12)


# ------------------------------------------------------- the exact 3-D search's pruning bound

def _smith_closed_form(A: torch.Tensor) -> torch.Tensor:
    """The former pruning bound (trigonometric closed form + 1e-9·tr A), kept as a mutant."""
    tr = A[..., 0, 0] + A[..., 1, 1] + A[..., 2, 2]
    q = tr / 3
    p1 = A[..., 0, 1] ** 2 + A[..., 0, 2] ** 2 + A[..., 1, 2] ** 2
    p2 = (A[..., 0, 0] - q) ** 2 + (A[..., 1, 1] - q) ** 2 + (A[..., 2, 2] - q) ** 2 + 2 * p1
    pp = torch.sqrt(p2 / 6)
    scale = torch.where(pp > 0, pp, torch.ones_like(pp))[..., None, None]
    Bm = (A - q[..., None, None] * torch.eye(3, dtype=A.dtype)) / scale
    r = torch.clamp(torch.linalg.det(Bm) / 2, -1.0, 1.0)
    return torch.minimum(q + 2 * pp * torch.cos(torch.acos(r) / 3) + 1e-9 * tr, tr)


def _near_double_top() -> tuple[torch.Tensor, list[mpmath.mpf]]:
    """PSD 3×3 forms whose two top eigenvalues agree to 1e-16…1e-4 (where ``acos`` is
    ill-conditioned), half of them to 1e-9…3e-8 (where the former bound failed: 15 of 3,000
    draws over the wide range), with their 50-digit ``λ_max``."""
    rng = np.random.default_rng(0)
    As, exact = [], []
    for i in range(400):
        Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        d = rng.uniform(0.1, 10)
        gap = 10.0 ** (rng.uniform(-16, -4) if i % 2 else rng.uniform(-9, -7.5))
        lam = np.array([d, d * (1 - gap), rng.uniform(0, d)])
        A = (Q * lam) @ Q.T
        A = (A + A.T) / 2
        As.append(A)
        with mpmath.workdps(50):
            exact.append(max(mpmath.eigsy(mpmath.matrix(A.tolist()))[0]))
    return torch.as_tensor(np.stack(As)), exact


def test_pruning_bound_dominates_lambda_max_near_a_double_eigenvalue():
    A, exact = _near_double_top()

    def violations(bound) -> int:
        ub = bound(A)
        return sum(mpmath.mpf(float(u)) < e for u, e in zip(ub, exact, strict=True))

    assert violations(_top_eigval_sym3_upper) == 0
    assert violations(_smith_closed_form) > 0           # the former bound: the check has teeth
    tr = A.diagonal(dim1=-2, dim2=-1).sum(-1)
    assert bool((_top_eigval_sym3_upper(A) <= torch.linalg.eigvalsh(A)[:, -1] + 2e-9 * tr).all())


def test_chain_fit_is_reproducible_whatever_the_global_torch_rng():
    """The ascent of a non-relu_unit family draws fresh starts from the global torch RNG; the
    fit seeds it from ``random_state`` (in a fork), so two fits agree after the global state
    moved."""
    from sklearn.datasets import make_classification

    from homfact.nn import GrowingClassifier

    X, y = make_classification(80, 4, random_state=0)
    fits = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        m = GrowingClassifier(subnetwork="relu_chain", lam=1e-2, max_growth=2,
                              random_state=3).fit(X, y)
        fits.append([(h["objective"], h["polar_lower"]) for h in m.history_])
    assert fits[0] == fits[1]
