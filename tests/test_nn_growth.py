"""GrowingNetwork: certified growth vs the convex reformulation (CVXPY), bad input (CPU)."""

from __future__ import annotations

import itertools
import math
import warnings

import cvxpy as cp
import numpy as np
import pytest
import torch
from conftest import cvx_solve, requires_cvxpy
from torch import nn

import homfact.nn as hn
from homfact.certificate import Certificate

torch.set_num_threads(1)


def _patterns_2d(X: np.ndarray) -> np.ndarray:
    """All activation patterns 1[Xw ≥ 0] of the arrangement of lines through the origin,
    found independently by a dense scan of the circle (plus the exact arc midpoints)."""
    t = np.linspace(0, 2 * np.pi, 50_000, endpoint=False)
    ang = np.arctan2(X[:, 1], X[:, 0])
    brk = np.sort(np.mod(np.concatenate([ang + np.pi / 2, ang - np.pi / 2]), 2 * np.pi))
    mids = 0.5 * (brk + np.roll(brk, -1) + np.r_[np.zeros(len(brk) - 1), 2 * np.pi])
    W = np.stack([np.cos(np.r_[t, mids]), np.sin(np.r_[t, mids])])
    return np.unique((X @ W > 0).T, axis=0)


def _patterns_3d(X: np.ndarray) -> np.ndarray:
    """All activation patterns 1[Xw > 0] of the arrangement of planes through the origin in
    R³ (rows in general position): around each vertex ±(xᵢ × xⱼ) the four adjacent cells are
    reached by stepping off both planes, plus a dense random scan of the sphere."""
    pts = []
    for i in range(len(X)):
        for j in range(i + 1, len(X)):
            t = np.cross(X[i], X[j])
            a = np.cross(X[j], t)                 # ⊥ xⱼ, moves off plane i
            b = np.cross(t, X[i])                 # ⊥ xᵢ, moves off plane j
            a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
            for v in (t, -t):
                v = v / np.linalg.norm(v)
                pts += [v + 1e-6 * (s1 * a + s2 * b) for s1 in (1, -1) for s2 in (1, -1)]
    W = np.vstack([np.array(pts), np.random.default_rng(0).standard_normal((200_000, 3))])
    return np.unique((X @ W.T > 0).T, axis=0)


def _convex_relu_value(X: np.ndarray, y: np.ndarray, beta: float, patterns=None) -> float:
    """Pilanci & Ergen (2020): min ½‖Σᵢ DᵢX(vᵢ − uᵢ) − y‖² + β Σᵢ(‖vᵢ‖ + ‖uᵢ‖),
    (2Dᵢ − I)X vᵢ ≥ 0, (2Dᵢ − I)X uᵢ ≥ 0 — the two-layer ReLU network with weight decay."""
    P = _patterns_2d(X) if patterns is None else patterns
    d = X.shape[1]
    Vs = cp.Variable((len(P), d))
    Us = cp.Variable((len(P), d))
    pred, cons, reg = 0, [], 0
    for i, D in enumerate(P):
        DX = X * D[:, None]
        S = (2 * D - 1)[:, None] * X
        pred = pred + DX @ (Vs[i] - Us[i])
        cons += [S @ Vs[i] >= 0, S @ Us[i] >= 0]
        reg = reg + cp.norm(Vs[i]) + cp.norm(Us[i])
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(pred - y) + beta * reg), cons)
    return cvx_solve(prob)


@requires_cvxpy
def test_growth_reaches_global_and_matches_convex_reformulation():
    rng = np.random.default_rng(3)
    N = 12
    X = rng.standard_normal((N, 2))
    y = np.maximum(X @ [1.0, -0.5], 0) - 0.8 * np.maximum(X @ [-0.3, 1.0], 0) + (
        0.3 * rng.standard_normal(N))
    lam = 0.05
    est = hn.GrowingRegressor(lam=lam, random_state=0, tol=1e-6).fit(X, y)
    cert = est.certificate_
    assert isinstance(cert, Certificate)
    assert cert.status == "global", cert
    assert "exact" in cert.method
    assert est.history_[0]["width"] == 1
    # my objective is (1/2N)‖y − f‖² + λ Σ‖wᵢ‖‖aᵢ‖ = P&E objective with β = Nλ, divided by N
    ref = _convex_relu_value(X, y, beta=N * lam) / N
    assert abs(cert.objective - ref) <= 1e-4 * abs(ref), (cert.objective, ref)
    assert cert.lower_bound <= ref * (1 + 1e-6) and cert.lower_bound <= cert.objective
    # predictions are consistent with the certified objective
    f = est.predict(X)
    theta = float(est.model_.layer_norms().prod(1).sum().detach())
    assert math.isclose(0.5 * np.mean((y - f) ** 2) + lam * theta, cert.objective,
                        rel_tol=1e-9)


@requires_cvxpy
def test_growth_with_bias_on_2d_data_is_global_and_matches_convex_reformulation():
    """2-D inputs with ``fit_bias=True``: ``V = [x, 1]`` has 3 columns, so the polar is solved
    by the exact arrangement enumeration; the certified objective equals the convex
    reformulation over every activation pattern of ``V``."""
    rng = np.random.default_rng(5)
    N = 10
    X = rng.standard_normal((N, 2))
    y = np.maximum(X @ [1.0, -0.5] + 0.4, 0) - 0.8 * np.maximum(X @ [-0.3, 1.0] - 0.2, 0) + (
        0.2 * rng.standard_normal(N))
    lam = 0.03
    est = hn.GrowingRegressor(lam=lam, fit_bias=True, random_state=0, tol=1e-6).fit(X, y)
    cert = est.certificate_
    assert cert.status == "global", cert
    assert "exact arrangement" in cert.method
    assert est.history_[0]["width"] == 1
    Vb = np.hstack([X, np.ones((N, 1))])
    ref = _convex_relu_value(Vb, y, beta=N * lam, patterns=_patterns_3d(Vb)) / N
    assert abs(cert.objective - ref) <= 1e-4 * abs(ref), (cert.objective, ref)
    assert cert.lower_bound <= ref * (1 + 1e-6)


@requires_cvxpy
def test_growth_on_3d_data_with_bias_is_global_by_cell_enumeration():
    """3-D inputs plus the bias column (4 columns), one output: the rank-one exact polar
    certifies, and the objective equals the convex reformulation over every cell (enumerated
    by the independent LP-based incremental method)."""
    from homfact.nn.arrangement import arrangement_cells, distinct_planes

    rng = np.random.default_rng(8)
    N = 9
    X = rng.standard_normal((N, 3))
    y = np.maximum(X @ [1.0, -0.5, 0.3] + 0.3, 0) - 0.6 * np.maximum(X @ [-0.3, 1.0, 0.5], 0)
    lam = 0.04
    est = hn.GrowingRegressor(lam=lam, fit_bias=True, random_state=0, tol=1e-6).fit(X, y)
    cert = est.certificate_
    assert cert.status == "global", cert
    assert "rank-one" in cert.method
    Vb = np.hstack([X, np.ones((N, 1))])
    planes, plane_of_row, orient = distinct_planes(Vb)
    signs = arrangement_cells(planes)
    P = (signs[:, plane_of_row] * orient[None, :]) > 0
    ref = _convex_relu_value(Vb, y, beta=N * lam, patterns=P) / N
    assert abs(cert.objective - ref) <= 1e-4 * abs(ref), (cert.objective, ref)


def test_growth_classifier_cross_entropy_certified_on_2d_toy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + 5
    est = hn.GrowingClassifier(lam=2e-2, random_state=0).fit(X, y)
    c = est.certificate_
    assert c.status == "global", c
    assert c.lower_bound <= c.objective and c.polar_upper <= c.lam * (1 + 1e-3)
    assert set(est.predict(X)) <= {5, 6} and est.score(X, y) > 0.8
    assert est.width_ >= 2 and est.history_[-1]["status"] == "global"


def test_growth_with_bias_column_and_squared_hinge():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (20, 1))
    y = (np.abs(X[:, 0]) > 0.5).astype(int)
    est = hn.GrowingClassifier(loss="squared_hinge", fit_bias=True, lam=3e-2,
                               random_state=0).fit(X, y)
    assert "exact" in est.certificate_.method       # V = [x, 1] has 2 columns
    assert est.certificate_.status == "global", est.certificate_
    assert est.score(X, y) >= 0.9


def test_deep_growth_is_never_certified_global_without_a_valid_bound():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((24, 3))
    y = (X[:, 0] > 0).astype(int)
    est = hn.GrowingClassifier(subnetwork="relu_chain", depth=3, hidden=2, lam=1e-3,
                               max_growth=1, descent_iter=40, polar_starts=8, polar_iter=30,
                               random_state=0).fit(X, y)
    c = est.certificate_
    assert c.status in ("not_optimal", "unverified")
    assert c.polar_upper >= c.polar_lower
    assert est.degree_ == 3
    # hinge has no conjugate here: no gap, never "global"
    est = hn.GrowingClassifier(loss="hinge", lam=1e-2, max_growth=2, descent_iter=50,
                               random_state=0).fit(X, y)
    assert math.isinf(est.certificate_.gap) and est.certificate_.status != "global"


def test_growth_from_width_one_matches_fixed_wide_network():
    """Growth ends within 1% of (or below) a fixed-width network with the same regularizer."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 2))
    y = np.sin(2 * X[:, 0]) - X[:, 1]
    lam = 0.05
    grown = hn.GrowingRegressor(lam=lam, random_state=0).fit(X, y)
    torch.manual_seed(0)
    V = torch.as_tensor(X)
    T = torch.as_tensor(y).reshape(-1, 1)
    fixed = hn.ParallelSubnetworks(hn.relu_unit(2, 1), 64, dtype=torch.float64)
    obj = hn.train_full_batch(fixed, V, T, hn.make_loss("squared"), hn.ProductOfNorms(), lam,
                              max_iter=2000)
    assert grown.certificate_.objective <= obj * 1.01
    assert grown.width_ < 64


# ------------------------------------------------------------------ bad input
def test_bad_labels_nan_and_loss_task_mismatch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2))
    with pytest.raises(ValueError, match="class labels"):
        hn.GrowingClassifier().fit(X, rng.standard_normal(10))
    with pytest.raises(ValueError, match="two classes"):
        hn.GrowingClassifier().fit(X, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="regression"):
        hn.GrowingRegressor(loss="cross_entropy").fit(X, rng.standard_normal(10))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hn.GrowingClassifier().fit(Xn, np.arange(10) % 2)
    yn = rng.standard_normal(10)
    yn[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hn.GrowingRegressor().fit(X, yn)
    with pytest.raises(ValueError, match="samples"):
        hn.GrowingRegressor().fit(X, np.ones(9))
    with pytest.raises(ValueError, match="lam"):
        hn.GrowingRegressor(lam=-1.0).fit(X, np.ones(10))
    with pytest.raises(ValueError, match="loss"):
        hn.GrowingClassifier(loss="l1").fit(X, np.arange(10) % 2)
    with pytest.raises(RuntimeError):
        hn.GrowingRegressor().predict(X)


@pytest.mark.parametrize("factory", [
    lambda: nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 2)),
    lambda: nn.Sequential(nn.Linear(2, 1, bias=False), nn.Tanh(), nn.Linear(1, 2, bias=False)),
])
def test_non_homogeneous_subnetwork_factory_is_rejected(factory):
    X = np.random.default_rng(0).standard_normal((12, 2))
    with pytest.raises(ValueError, match="not positively homogeneous"):
        hn.GrowingClassifier(subnetwork=factory).fit(X, np.arange(12) % 2)


def test_weight_decay_on_three_layers_warns_and_never_certifies():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 2))
    y = (X[:, 0] > 0).astype(int)
    with pytest.warns(hn.DegreeMismatchWarning):
        est = hn.GrowingClassifier(subnetwork="relu_chain", depth=3, hidden=1,
                                   regularizer="weight_decay", lam=1e-2, max_growth=1,
                                   descent_iter=50, polar_starts=4, polar_iter=20,
                                   random_state=0).fit(X, y)
    assert est.certificate_.status != "global"
    # two layers: weight decay is degree-matched, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", hn.DegreeMismatchWarning)
        hn.GrowingClassifier(regularizer="weight_decay", lam=5e-2, max_growth=1,
                             random_state=0).fit(X, y)


def test_polar_check_flags_collapsed_network():
    """A network stuck at (near) zero is flagged by the polar under the matched regularizer."""
    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.standard_normal((20, 2)))
    y = (X[:, 0] > 0).long()
    m = hn.ParallelSubnetworks(hn.relu_unit(2, 2), 1, dtype=torch.float64)
    with torch.no_grad():
        for p in m.params:
            p.mul_(1e-8)
    res = hn.polar_check(m, X, y, "cross_entropy", "product_of_norms", lam=1e-2)
    assert res["matched"] and res["flagged"] and res["decrease"] < 0


def test_conv_growth_certificate_has_a_finite_bracket_and_lower_bound():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:60] / 16.0, y[:60] % 2
    est = hn.GrowingClassifier(subnetwork="conv", image_size=8, channels=(2,), lam=1e-2,
                               max_growth=2, descent_iter=30, polar_starts=4, polar_iter=20,
                               random_state=0)
    est.fit(X, y)
    c = est.certificate_
    assert math.isfinite(c.polar_upper) and c.polar_lower <= c.polar_upper
    assert math.isfinite(c.lower_bound) and c.lower_bound <= c.objective
    assert c.status in ("unverified", "not_optimal")


def test_several_units_per_polar_call_lower_the_objective_monotonically():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:150] / 16.0, y[:150]
    kw = dict(lam=2e-2, max_growth=4, descent_iter=100, polar_starts=16, polar_iter=40,
              random_state=0)
    est = hn.GrowingClassifier(units_per_step=6, **kw).fit(X, y)
    widths = [h["width"] for h in est.history_]
    objs = [h["objective"] for h in est.history_]
    assert max(np.diff(widths)) >= 2                     # several units in one step
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(objs))
    one = hn.GrowingClassifier(units_per_step=1, **kw).fit(X, y)
    assert max(np.diff([h["width"] for h in one.history_])) <= 1
    assert est.certificate_.objective <= one.certificate_.objective * (1 + 1e-6)


@pytest.mark.parametrize("param", [{"units_per_step": 0}, {"stall_retries": -1},
                                   {"units_per_step": 1.5}])
def test_growth_parameters_are_checked(param):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=next(iter(param))):
        hn.GrowingClassifier(**param).fit(X, (X[:, 0] > 0).astype(int))


def test_polar_check_measures_the_degree_and_its_step_is_exact():
    """A custom family ``(wᵀx)₊²a`` has degree 3 with two tensors: the product of norms
    (degree 2) does not match, and the reported decrease is the objective change the step
    really gives."""
    from homfact.nn.losses import make_loss
    from homfact.nn.regularizers import ProductOfNorms
    from homfact.nn.training import objective

    class Squared(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(1, 2, dtype=torch.float64))
            self.a = nn.Parameter(torch.randn(1, 1, dtype=torch.float64))

        def forward(self, x):
            return torch.relu(x @ self.w.T) ** 2 @ self.a.T

    torch.manual_seed(0)
    m = hn.ParallelSubnetworks(Squared, 0, dtype=torch.float64)
    X = torch.randn(50, 2, dtype=torch.float64)
    T = X[:, :1] ** 2
    r = hn.polar_check(m, X, T, "squared", "product_of_norms", lam=1e-3)
    assert not r["matched"] and r["flagged"]
    with torch.no_grad():
        base = float(objective(m, X, T, make_loss("squared"), ProductOfNorms(), 1e-3))
        m.add_subnetworks(r["step"])
        after = float(objective(m, X, T, make_loss("squared"), ProductOfNorms(), 1e-3))
    assert math.isclose(after - base, r["decrease"], rel_tol=1e-9, abs_tol=1e-12)
