"""homfact.nn: modules, regularizers, homogeneity checker, polars, loss duals (CPU, small)."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import homfact.nn as hn
from homfact.nn.losses import make_loss
from homfact.nn.polar import (
    relu_unit_exact_2d,
    relu_unit_exact_3d,
    relu_unit_polar,
    relu_unit_upper,
)

torch.set_num_threads(1)  # the CI machine is shared: avoid thread oversubscription


def test_import_without_torch_is_clean():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('no torch here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import homfact\n"
        "assert 'torch' not in sys.modules\n"
        "try:\n    import homfact.nn\nexcept ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and "pip install 'homfact[nn]'" in out.stdout


def test_lazy_attribute_and_sklearn_clone():
    from sklearn.base import clone

    import homfact as hf

    assert hf.nn is hn
    c = clone(hn.GrowingClassifier(lam=0.1, subnetwork="relu_chain"))
    assert c.lam == 0.1 and c.task == "classification" and c.subnetwork == "relu_chain"
    assert clone(hn.GrowingRegressor()).task == "regression"


# ------------------------------------------------------------------ homogeneity_degree
def _chain(layers: int, bias: bool = False, act=nn.ReLU) -> nn.Module:
    mods: list[nn.Module] = []
    dims = [6, 5, 4, 3, 3, 2][: layers + 1]
    for i in range(layers):
        mods.append(nn.Linear(dims[i], dims[i + 1], bias=bias))
        if i < layers - 1:
            mods.append(act())
    return nn.Sequential(*mods)


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_homogeneity_linear_relu_stack_degree_is_layers(layers):
    torch.manual_seed(layers)
    assert hn.homogeneity_degree(_chain(layers), torch.randn(16, 6)) == layers


def test_homogeneity_conv_stack_and_pooling():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 14, 14)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(3, 2, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(2 * 2 * 2, 4, bias=False))
    assert hn.homogeneity_degree(net, x) == 3
    assert hn.homogeneity_degree(nn.MaxPool2d(2), x) == 1
    assert hn.homogeneity_degree(nn.AvgPool2d(2), x) == 1
    rep = hn.homogeneity_report(net, x)
    assert rep.block_degrees == (1.0, 1.0, 1.0) and rep.input_degree == 1


@pytest.mark.parametrize("module", [
    _chain(2, bias=True), _chain(3, bias=True), nn.Linear(6, 3),
    _chain(2, act=nn.Sigmoid), _chain(2, act=nn.Tanh), nn.Sigmoid(), nn.Tanh(),
    nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16, 2, bias=False)),
])
def test_homogeneity_rejects_bias_sigmoid_tanh(module):
    torch.manual_seed(1)
    x = torch.randn(8, 1, 6, 6) if isinstance(module[0] if isinstance(module, nn.Sequential)
                                               else module, nn.Conv2d) else torch.randn(8, 6)
    assert hn.homogeneity_degree(module, 2 * x) is None
    assert not hn.homogeneity_report(module, 2 * x).homogeneous


def test_homogeneity_zero_output_and_bad_args():
    lin = nn.Linear(3, 2, bias=False)
    with pytest.raises(ValueError, match="zero"):
        hn.homogeneity_degree(lin, torch.zeros(4, 3))
    with pytest.raises(TypeError):
        hn.homogeneity_degree(lin, np.ones((4, 3)))
    with pytest.raises(ValueError, match="wrt"):
        hn.homogeneity_degree(lin, torch.ones(4, 3), wrt="both ways")


# ------------------------------------------------------------------ modules
@pytest.mark.parametrize("factory,x", [
    (hn.relu_unit(5, 3), torch.randn(7, 5)),
    (hn.relu_chain(5, 3, depth=4, width=2), torch.randn(7, 5)),
    (hn.conv_subnetwork(4, image_size=12, channels=(2, 3), kernel_size=3), torch.randn(7, 144)),
])
def test_parallel_subnetworks_sum_add_remove(factory, x):
    torch.manual_seed(0)
    m = hn.ParallelSubnetworks(factory, 3, dtype=torch.float64)
    x = x.double()
    ref = sum(m.subnetwork(i)(x) for i in range(3))
    torch.testing.assert_close(m(x), ref)
    torch.testing.assert_close(m.forward_each(x), m._call_vmap(list(m.params), x))
    assert hn.homogeneity_degree(m, x) == m.n_layers
    out = m(x)
    m.rebalance()
    torch.testing.assert_close(m(x), out)
    norms = m.layer_norms()
    torch.testing.assert_close(norms, norms[:, :1].expand_as(norms))
    m.add_subnetworks(2)
    assert m.width == 5
    m.remove_subnetworks([3, 4])
    torch.testing.assert_close(m(x), out)
    m.remove_subnetworks([0, 1, 2])
    assert m.width == 0 and float(m(x).abs().max()) == 0.0
    with pytest.raises(ValueError):
        m.add_subnetworks([torch.zeros(1, 9)])


def test_parallel_subnetworks_bad_factory():
    with pytest.raises(TypeError):
        hn.ParallelSubnetworks(3, 2)
    with pytest.raises(TypeError):
        hn.ParallelSubnetworks(lambda: "not a module", 2)
    with pytest.raises(ValueError):
        hn.ParallelSubnetworks(lambda: nn.BatchNorm1d(3), 2)


# ------------------------------------------------------------------ regularizers
def test_regularizers_values_and_degrees():
    torch.manual_seed(0)
    m = hn.ParallelSubnetworks(hn.relu_chain(4, 2, depth=3, width=2), 4, dtype=torch.float64)
    n = m.layer_norms()
    prod, bal, wd = hn.ProductOfNorms(), hn.BalancedPowerSum(), hn.WeightDecay()
    torch.testing.assert_close(prod(m), n.prod(1).sum())
    torch.testing.assert_close(bal(m), (n ** 3 / 3).sum())
    torch.testing.assert_close(wd(m), 0.5 * (n ** 2).sum())
    assert float(bal(m).detach()) >= float(prod(m).detach())    # AM–GM
    m.rebalance()
    torch.testing.assert_close(bal(m), prod(m))       # equality at balance
    assert (prod.degree(m), bal.degree(m), wd.degree(m)) == (3, 3, 2)
    x = torch.randn(10, 4, dtype=torch.float64)
    # homogeneity of θ itself: θ(αX) = α^deg θ(X)
    for reg in (prod, bal, wd):
        v = float(reg(m).detach())
        with torch.no_grad():
            for p in m.params:
                p.mul_(2.0)
        assert math.isclose(float(reg(m).detach()), 2.0 ** reg.degree(m) * v, rel_tol=1e-12)
        with torch.no_grad():
            for p in m.params:
                p.mul_(0.5)
    with pytest.warns(hn.DegreeMismatchWarning):
        assert hn.check_regularizer_degree(m, wd, x) == (3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hn.check_regularizer_degree(m, prod, x) == (3, 3)
    with pytest.raises(ValueError):
        hn.make_regularizer("l7")


# ------------------------------------------------------------------ polars
def _brute_polar(V: np.ndarray, G: np.ndarray, n: int = 200_001) -> float:
    t = np.linspace(0, 2 * np.pi, n)
    W = np.stack([np.cos(t), np.sin(t)])
    return float(np.linalg.norm(G.T @ np.maximum(V @ W, 0), axis=0).max())


@pytest.mark.parametrize("C", [1, 3])
def test_exact_relu_polar_2d_against_brute_force(C):
    rng = np.random.default_rng(C)
    V = rng.standard_normal((25, 2))
    G = rng.standard_normal((25, C))
    brute = _brute_polar(V, G)
    b = relu_unit_polar(torch.as_tensor(V), torch.as_tensor(G))
    assert brute <= b.upper * (1 + 1e-12)
    assert b.lower >= brute - 1e-6 * brute          # the grid can only miss from below
    w, a = b.maximizer
    assert math.isclose(float(w.norm()), 1.0) and math.isclose(float(a.norm()), 1.0)
    val = float(torch.as_tensor(G).T.mul(1).matmul(torch.relu(torch.as_tensor(V) @ w)) @ a)
    assert math.isclose(val, b.lower, rel_tol=1e-12)
    # the heuristic ascent is a lower bound, the generic upper bound an upper bound
    asc = relu_unit_polar(torch.as_tensor(V), torch.as_tensor(G), exact=False,
                          generator=torch.Generator().manual_seed(0))
    assert asc.lower <= b.lower * (1 + 1e-12)
    assert relu_unit_upper(torch.as_tensor(V), torch.as_tensor(G)) >= b.lower


def test_exact_polar_refuses_higher_dimension():
    with pytest.raises(ValueError):
        relu_unit_exact_2d(torch.randn(5, 3), torch.randn(5, 1))
    with pytest.raises(ValueError, match="3 columns"):
        relu_unit_exact_3d(torch.randn(5, 4), torch.randn(5, 1))
    with pytest.raises(ValueError, match="<= 3 columns or a rank-one G"):
        relu_unit_polar(torch.randn(5, 4), torch.randn(5, 2), exact=True)
    with pytest.raises(ValueError, match="exact must be"):
        relu_unit_polar(torch.randn(5, 3), torch.randn(5, 1), exact="yes")


def _refined_sphere_max(V: np.ndarray, G: np.ndarray, seed: int = 0) -> float:
    """Independent reference for ``max_{‖w‖=1} ‖Gᵀ(Vw)₊‖``: 100k random directions, then
    Nelder–Mead polishing from the 8 best (the function is only piecewise smooth)."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    W = rng.standard_normal((100_000, V.shape[1]))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    vals = np.linalg.norm(G.T @ np.maximum(V @ W.T, 0), axis=0)

    def neg(w):
        return -np.linalg.norm(G.T @ np.maximum(V @ (w / np.linalg.norm(w)), 0))

    best = vals.max()
    for i in np.argsort(vals)[-8:]:
        r = minimize(neg, W[i], method="Nelder-Mead",
                     options={"xatol": 1e-13, "fatol": 1e-15, "maxiter": 20000})
        best = max(best, -r.fun)
    return float(best)


@pytest.mark.parametrize("case", ["random", "bias", "grid_with_duplicates", "one_plane"])
@pytest.mark.parametrize("C", [1, 3])
def test_exact_relu_polar_3d_against_refined_brute_force(case, C):
    rng = np.random.default_rng(C + 7)
    if case == "random":
        V = rng.standard_normal((14, 3))
    elif case == "bias":                  # 2-D inputs with the constant column (fit_bias)
        V = np.hstack([rng.standard_normal((16, 2)), np.ones((16, 1))])
    elif case == "grid_with_duplicates":  # collinear points: many circles through one vertex
        g = np.linspace(-1, 1, 4)
        X = np.array([(a, b) for a in g for b in g])
        V = np.hstack([np.vstack([X, X[:3]]), np.ones((19, 1))])
        V[5] = -2 * V[6]                  # a row opposite another: the same plane
    else:                                 # every row on one plane (one circle, no vertex)
        V = np.outer(rng.standard_normal(6), [1.0, -2.0, 0.5])
    G = rng.standard_normal((V.shape[0], C))
    ref = _refined_sphere_max(V, G)
    val, w = relu_unit_exact_3d(torch.as_tensor(V), torch.as_tensor(G))
    assert math.isclose(float(w.norm()), 1.0, rel_tol=1e-12)
    attained = float(np.linalg.norm(G.T @ np.maximum(V @ w.numpy(), 0)))
    assert math.isclose(attained, val, rel_tol=1e-12)          # the value is attained
    assert val >= ref * (1 - 1e-10)                             # and is the maximum
    b = relu_unit_polar(torch.as_tensor(V), torch.as_tensor(G))
    assert "exact arrangement" in b.method
    assert b.lower <= b.upper <= b.lower * (1 + 1e-8) and b.upper >= ref


def test_exact_relu_polar_3d_degenerate_inputs():
    V = torch.zeros(4, 3, dtype=torch.float64)
    assert relu_unit_exact_3d(V, torch.ones(4, 2, dtype=torch.float64))[0] == 0.0
    V = torch.randn(5, 3, dtype=torch.float64)
    assert relu_unit_exact_3d(V, torch.zeros(5, 1, dtype=torch.float64))[0] == 0.0
    # a single non-zero row: the maximum is ‖g‖·‖v‖ at w = v/‖v‖
    V = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]], dtype=torch.float64)
    G = torch.tensor([[5.0], [2.0]], dtype=torch.float64)
    val, _ = relu_unit_exact_3d(V, G)
    assert math.isclose(val, 6.0, rel_tol=1e-12)
    # beyond EXACT_3D_MAX_ROWS, "auto" falls back to the ascent (no exact claim)
    from homfact.nn import polar as npolar

    big = torch.randn(npolar.EXACT_3D_MAX_ROWS + 1, 3, dtype=torch.float64)
    b = relu_unit_polar(big, torch.randn(big.shape[0], 1, dtype=torch.float64), n_iter=5,
                        generator=torch.Generator().manual_seed(0))
    assert "ascent" in b.method


def test_deep_polar_lower_bound_is_feasible_value():
    torch.manual_seed(0)
    m = hn.ParallelSubnetworks(hn.relu_chain(3, 2, depth=3, width=2), 2, dtype=torch.float64)
    V = torch.randn(20, 3, dtype=torch.float64)
    G = torch.randn(20, 2, dtype=torch.float64)
    b = hn.subnetwork_polar(m, V, G, n_starts=8, n_iter=60)
    assert all(math.isclose(float(x.norm()), 1.0) for x in b.maximizer)
    out = m.evaluate_subnetworks([x.unsqueeze(0) for x in b.maximizer], V)[0]
    assert math.isclose(float((out * G).sum()), b.lower, rel_tol=1e-10)
    assert b.lower > 0 and math.isinf(b.upper)


# ------------------------------------------------------------------ loss duals
@pytest.mark.parametrize("name", ["squared", "cross_entropy", "squared_hinge"])
def test_loss_dual_is_fenchel_lower_bound(name):
    rng = np.random.default_rng(7)
    loss = make_loss(name)
    N, C = 12, 3
    y = rng.integers(0, C, N)
    T = loss.targets(y, C, "cpu", torch.float64)
    Z = torch.as_tensor(rng.standard_normal((N, C)))
    G = loss.neg_gradient(Z, T)
    # equality at c = 1: −ℓ*(−G) = ℓ(Z) + ⟨G, Z⟩ (Fenchel–Young with equality)
    c, L = loss.dual(Z, T, G, 1.0)
    _, L1 = (1.0, loss.dual(Z, T, G, 1.0)[1]) if c == 1.0 else (c, None)
    if L1 is not None:
        assert math.isclose(L1, float(loss.value(Z, T) + (G * Z).sum()), rel_tol=1e-9)
    for cmax in (1.0, 0.5, 0.1):
        c, L = loss.dual(Z, T, G, cmax)
        assert 0.0 <= c <= cmax + 1e-12
        for _ in range(20):   # weak duality: −ℓ*(−Λ) ≤ ℓ(Z') + ⟨Λ, Z'⟩ for every Z'
            Zp = torch.as_tensor(3 * rng.standard_normal((N, C)))
            assert L <= float(loss.value(Zp, T) + (c * G * Zp).sum()) + 1e-12


@pytest.mark.parametrize("name", ["squared", "cross_entropy", "squared_hinge"])
def test_closed_form_neg_gradient_matches_autograd(name):
    from homfact.nn.losses import NetLoss

    torch.manual_seed(0)
    loss = hn.make_loss(name)
    z = torch.randn(7, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (7,))
    t = loss.targets(y.numpy(), 3, "cpu", torch.float64) if name != "cross_entropy" else y
    closed = loss.neg_gradient(z, t)
    auto = NetLoss.neg_gradient(loss, z, t)          # the generic autograd version
    assert torch.allclose(closed, auto, rtol=0, atol=1e-14)


@pytest.mark.parametrize("family", ["chain", "conv"])
def test_deep_polar_upper_bound_is_valid(family):
    """The conv / chain upper bound dominates every feasible value (ascent and random)."""
    from homfact.nn.growing import network_polar
    from homfact.nn.polar import subnetwork_upper

    torch.manual_seed(1)
    if family == "chain":
        fac, V = hn.relu_chain(4, 2, depth=3, width=3), torch.randn(15, 4, dtype=torch.float64)
    else:
        fac = hn.conv_subnetwork(2, image_size=8, channels=(2,), kernel_size=3)
        V = torch.rand(15, 64, dtype=torch.float64)
    m = hn.ParallelSubnetworks(fac, 1, dtype=torch.float64)
    G = torch.randn(15, 2, dtype=torch.float64)
    ub = subnetwork_upper(m, V, G)
    assert math.isfinite(ub)
    # never looser than the classical bounds it replaces (per-sample; for chains ‖G‖_F‖V‖₂)
    classical = float((G.norm(dim=1) * V.norm(dim=1)).sum())
    if family == "chain":
        classical = min(classical, float(G.norm()) * float(torch.linalg.matrix_norm(V, ord=2)))
    else:
        classical *= 3.0                                 # √(3·3) for the one 3×3 convolution
    assert ub <= classical * (1 + 1e-9)
    b = network_polar(m, V, G, n_starts=8, n_iter=60)
    assert b.lower <= b.upper == ub
    for _ in range(20):                                  # random unit-norm subnetworks
        xs = [x / x.norm() for x in m._fresh(1)]
        xs = [x * torch.randn(()).sign() if i == len(xs) - 1 else x for i, x in enumerate(xs)]
        val = float((m.evaluate_subnetworks(xs, V)[0] * G).sum())
        assert val <= ub


@pytest.mark.parametrize("name", ["squared", "cross_entropy", "squared_hinge"])
def test_fista_group_lasso_matches_cvxpy(name):
    """The fully corrective step's convex solve ``min_B ℓ(HB) + λΣ‖Bᵢ‖`` against CVXPY."""
    import cvxpy as cp
    from conftest import cvx_solve

    from homfact.nn.training import _fista_group_lasso

    rng = np.random.default_rng(11)
    N, r, C, lam = 30, 6, 3, 0.05
    H = np.maximum(rng.standard_normal((N, r)), 0)
    y = rng.integers(0, C, N)
    if name == "cross_entropy":
        T = y
    elif name == "squared":
        T = rng.standard_normal((N, C))
    else:
        T = 2.0 * np.eye(C)[y] - 1.0
    kappa = make_loss(name).curvature
    f = make_loss(name).numpy_value_grad(T)
    B = _fista_group_lasso(H, np.zeros((r, C)), f, lam,
                           step=N / (kappa * np.linalg.norm(H, 2) ** 2), max_iter=20000,
                           tol=1e-8)
    mine = f(H @ B)[0] + lam * np.linalg.norm(B, axis=1).sum()
    Bv = cp.Variable((r, C))
    Z = H @ Bv
    if name == "squared":
        smooth = 0.5 * cp.sum_squares(Z - T) / N
    elif name == "cross_entropy":
        smooth = (cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(np.eye(C)[y], Z))) / N
    else:
        smooth = cp.sum_squares(cp.pos(1 - cp.multiply(T, Z))) / N
    ref = cvx_solve(cp.Problem(cp.Minimize(smooth + lam * cp.sum(cp.norm(Bv, 2, axis=1)))))
    assert mine <= ref + 1e-7 * max(1.0, abs(ref)), (mine, ref)
    assert mine >= ref - 1e-6 * max(1.0, abs(ref))
    # the torch loss and the NumPy one agree
    z = torch.as_tensor(H @ B)
    t = torch.as_tensor(T)
    assert math.isclose(float(make_loss(name).value(z, t)), f(H @ B)[0], rel_tol=1e-12)


def test_ascent_candidates_are_distinct_feasible_atoms():
    rng = np.random.default_rng(3)
    V = torch.as_tensor(rng.standard_normal((40, 6)))
    G = torch.as_tensor(rng.standard_normal((40, 3)))
    warm = torch.as_tensor(rng.standard_normal((4, 6)))
    b = relu_unit_polar(V, G, exact=False, warm=warm, generator=torch.Generator().manual_seed(0))
    vals = [v for _, v in b.candidates]
    assert len(vals) >= 2 and vals == sorted(vals, reverse=True)
    assert vals[0] <= b.lower * (1 + 1e-12)          # the maximizer is the best ever seen
    ws = torch.stack([w for (w, _), _ in b.candidates])
    cos = ws @ ws.T - torch.eye(len(vals), dtype=ws.dtype)
    assert float(cos.max()) <= 0.99
    for (w, a), v in b.candidates:                     # each value is attained by (w, a)
        assert math.isclose(float(w.norm()), 1.0) and math.isclose(float(a.norm()), 1.0)
        assert math.isclose(float(a @ (G.T @ torch.relu(V @ w))), v, rel_tol=1e-10)


# ------------------------------------------------------------------ rank-one exact polar (d ≥ 4)
@pytest.mark.parametrize(("N", "d", "binary"), [(9, 4, False), (8, 5, False), (10, 4, True)])
def test_rank_one_exact_polar_against_refined_brute_force(N, d, binary):
    from homfact.nn.arrangement import relu_unit_exact_rank_one

    rng = np.random.default_rng(N + d)
    V = np.hstack([rng.standard_normal((N, d - 1)), np.ones((N, 1))])
    g = rng.standard_normal(N)
    G = np.stack([g, -g], 1) if binary else g[:, None]   # a binary softmax gradient is rank one
    lo, up, w = relu_unit_exact_rank_one(V, G)
    ref = _refined_sphere_max(V, G)
    assert math.isclose(float(np.linalg.norm(G.T @ np.maximum(V @ w, 0))), lo, rel_tol=1e-12)
    assert lo >= ref * (1 - 1e-10) and up >= ref
    assert up <= lo * (1 + 1e-8)
    b = relu_unit_polar(torch.as_tensor(V), torch.as_tensor(G))
    assert "rank-one" in b.method and math.isclose(b.lower, lo, rel_tol=1e-12)


def test_ray_and_lp_cell_enumerations_agree():
    from homfact.nn.arrangement import arrangement_cells, cells_from_rays, distinct_planes

    rng = np.random.default_rng(1)
    for N, d in ((7, 4), (9, 3), (6, 5)):
        planes = distinct_planes(rng.standard_normal((N, d)))[0]
        by_lp = {tuple(s) for s in arrangement_cells(planes)}
        by_rays = {tuple(s) for s in cells_from_rays(planes)}
        assert by_lp == by_rays
        # Buck/Zaslavsky: a central arrangement in general position has 2Σ_{i<d} C(m−1, i) cells
        from homfact.nn.arrangement import cell_count_bound

        assert len(by_lp) == cell_count_bound(N, d)
    # not essential (normals span a 2-D subspace of ℝ⁴): rays do not apply, the LPs do
    planes = distinct_planes(np.outer(rng.standard_normal(5), [1, 0, 0, 0])
                             + np.outer(rng.standard_normal(5), [0, 1, 0, 0]))[0]
    assert cells_from_rays(planes) is None
    assert len(arrangement_cells(planes)) == 2 * planes.shape[0]


def test_rank_one_exact_polar_refuses_or_falls_back():
    V = torch.randn(8, 5, dtype=torch.float64)
    G = torch.randn(8, 3, dtype=torch.float64)             # rank 3: no exact method
    with pytest.raises(ValueError, match="rank-one"):
        relu_unit_polar(V, G, exact=True)
    b = relu_unit_polar(V, G, generator=torch.Generator().manual_seed(0))
    assert "ascent" in b.method


def test_rank_one_exact_polar_reduces_rank_deficient_inputs_and_declines_concurrent_planes():
    from homfact.nn.arrangement import relu_unit_exact_rank_one

    rng = np.random.default_rng(7)
    # rows spanning a 2-D subspace of ℝ⁴: solved exactly in the row space, w mapped back
    B = np.linalg.qr(rng.standard_normal((4, 2)))[0]
    U = rng.standard_normal((9, 2))
    V, g = U @ B.T, rng.standard_normal((9, 1))
    lo, up, w = relu_unit_exact_rank_one(V, g)
    ref = _refined_sphere_max(U, g)                      # the same problem in coordinates u
    assert math.isclose(float(np.linalg.norm(w)), 1.0, rel_tol=1e-12)
    assert math.isclose(float(np.linalg.norm(g.T @ np.maximum(V @ w, 0))), lo, rel_tol=1e-12)
    assert lo >= ref * (1 - 1e-10) and up >= ref and up <= lo * (1 + 1e-8)
    # eleven planes through the ray e₃ of an essential arrangement in ℝ³: no exact claim
    t = np.linspace(0.1, 3.0, 11)
    V = np.vstack([np.c_[np.cos(t), np.sin(t), np.zeros(11)], rng.standard_normal((2, 3))])
    assert relu_unit_exact_rank_one(V, rng.standard_normal((13, 1))) is None


def test_float32_fit_is_certified_in_float64():
    """The bounds' safety margins (~1e-10 relative) hold only in double precision: a float32 fit
    must report the polar and the objective of its weights as computed in float64."""
    from homfact.nn.growing import GrowingRegressor

    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2))
    y = np.maximum(X[:, 0] + 0.5, 0) - 0.7 * np.maximum(-X[:, 1], 0)
    m = GrowingRegressor(lam=3e-2, fit_bias=True, dtype="float32", random_state=3,
                         max_growth=10, polar_rtol=1e-7, tol=1e-6).fit(X, y)
    assert m.model_.dtype == torch.float32
    c = m.certificate_
    net = m.model_.to(torch.float64)
    V = torch.as_tensor(np.hstack([X, np.ones((60, 1))]).astype(np.float32).astype(np.float64))
    T = torch.as_tensor(y.astype(np.float32).astype(np.float64)).reshape(-1, 1)
    loss = make_loss("squared")
    with torch.no_grad():
        z = net(V)
        exact = relu_unit_polar(V, loss.neg_gradient(z, T), exact=True)
        obj = float(loss.value(z, T)) + 3e-2 * float(net.layer_norms().prod(1).sum())
    assert c.polar_upper >= exact.upper * (1 - 1e-12)
    assert c.polar_lower <= exact.upper * (1 + 1e-12)
    assert math.isclose(c.objective, obj, rel_tol=1e-12)
    assert c.lower_bound <= obj


def test_certificate_discards_a_lower_bound_above_the_objective():
    from homfact.nn.growing import _certificate
    from homfact.polar import PolarBound

    class BrokenDual:
        has_dual = True

        def dual(self, z, t, g, c_max):
            return 1.0, 2.0                              # "lower bound" 2 > objective 1

    bound = PolarBound(lower=0.5, upper=0.5, method="test", maximizer=None)
    with pytest.warns(RuntimeWarning, match="exceeds the objective"):
        cert = _certificate(BrokenDual(), None, None, None, bound, 1.0, 1.0, 1e-5, 1e-3, True)
    assert cert.lower_bound == -math.inf and cert.status != "global"


def test_conv_upper_bound_reads_kernel_sizes_from_the_weights():
    from homfact.nn.polar import subnetwork_upper

    torch.manual_seed(0)
    fac = hn.conv_subnetwork(3, image_size=12, channels=(2, 3), kernel_size=3)
    model = hn.ParallelSubnetworks(fac, 1, dtype=torch.float64)
    V, G = torch.rand(5, 144, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    per_sample = float((G.norm(dim=1) * V.norm(dim=1)).sum())
    ub = subnetwork_upper(model, V, G)
    assert ub <= 9.0 * per_sample * (1 + 1e-9)          # (√(3·3))² for two convs, classical
    fac.kernel_size = 1                                  # a factory attribute that lies
    assert subnetwork_upper(model, V, G) == ub
    # 1×1 kernels read from the weights: no √(kh·kw) factor at all
    m1 = hn.ParallelSubnetworks(hn.conv_subnetwork(3, image_size=12, channels=(2, 3),
                                                   kernel_size=1), 1, dtype=torch.float64)
    assert subnetwork_upper(m1, V, G) <= per_sample * (1 + 1e-9)


@pytest.mark.parametrize("name", ["squared", "cross_entropy", "squared_hinge", "hinge"])
def test_losses_are_means_over_samples(name):
    """``Σ_g ℓ(Z_g) = G·ℓ(stacked Z)``: the MNIST study trains its ``G`` batched networks with
    one loss call on the stacked rows, which needs every loss to be a per-sample mean."""
    torch.manual_seed(0)
    loss = hn.make_loss(name)
    Z = torch.randn(4, 9, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (9,))
    t = loss.targets(y.numpy(), 3, "cpu", torch.float64) if name in ("squared",
                                                                        "squared_hinge") else y
    per_group = sum(float(loss.value(Z[g], t)) for g in range(4))
    stacked = 4 * float(loss.value(Z.reshape(-1, 3), t.repeat(4, *([1] * (t.dim() - 1)))))
    assert math.isclose(per_group, stacked, rel_tol=1e-12)
