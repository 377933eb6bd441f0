"""JacobianRegularizer (Sokolić et al. 2017): values, degree, gradient, polar bracket, growth."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import homfact.nn as hn
from homfact.nn.polar import _euler_upper, jacobian_polar, jacobian_polar_upper

torch.set_num_threads(1)
DT = torch.float64


def _conv():
    return hn.conv_subnetwork(out_features=3, image_size=10, channels=(2, 3), kernel_size=3)


def _custom(d=5, c=3):
    def make():
        return nn.Sequential(nn.Linear(d, 4, bias=False), nn.ReLU(), nn.Linear(4, 4, bias=False),
                             nn.ReLU(), nn.Linear(4, c, bias=False))
    return make


# (factory, input dimension, degree)
FAMILIES = {
    "unit": (lambda: hn.relu_unit(5, 3), 5, 2),
    "chain3": (lambda: hn.relu_chain(5, 3, depth=3, width=3), 5, 3),
    "chain2_wide": (lambda: hn.relu_chain(4, 2, depth=2, width=6), 4, 2),
    # width 13: h₁h₂ = 169 > 144, so "auto" takes the right-to-left form, not the quadratic one
    "chain3_wide": (lambda: hn.relu_chain(5, 3, depth=3, width=13), 5, 3),
    "conv": (_conv, 100, 3),
    "custom": (_custom, 5, 3),
}


def _model(name, r=3, seed=0):
    fac, d, deg = FAMILIES[name]
    torch.manual_seed(seed)
    return hn.ParallelSubnetworks(fac(), r, dtype=DT), d, deg


def _brute_norms(model, x):
    """‖∂φᵢ(xₙ)/∂x‖_F per subnetwork and point, one torch.autograd.functional.jacobian each."""
    out = torch.zeros(model.width, x.shape[0], dtype=DT)
    for i in range(model.width):
        sub = model.subnetwork(i)
        for n in range(x.shape[0]):
            out[i, n] = torch.autograd.functional.jacobian(sub, x[n]).norm()
    return out


class _Theta(nn.Module):
    """``x ↦ (θ(X₁), …, θ(X_r))`` on the inputs ``x``, as a module of the weights (to measure
    the regularizer's own degree with :func:`homogeneity_degree`)."""

    def __init__(self, model, reg):
        super().__init__()
        self.model, self.reg = model, reg

    def forward(self, x):
        return self.reg.with_inputs(x).per_subnetwork(self.model)


# ------------------------------------------------------------------ value and degree
@pytest.mark.parametrize("method", ["auto", "autograd"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_theta_matches_brute_force_jacobian(name, method):
    model, d, _ = _model(name)
    x = torch.randn(6, d, dtype=DT)
    reg = hn.JacobianRegularizer(x, method=method)
    norms = reg.jacobian_norms(model)
    ref = _brute_norms(model, x)
    assert norms.shape == (3, 6)
    assert float(ref.max()) > 0
    torch.testing.assert_close(norms, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(reg.per_subnetwork(model), ref.mean(1), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(reg(model), ref.mean(1).sum(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("width, quadratic", [(2, True), (12, True), (13, False)])
def test_chain3_forms_choose_by_width_and_agree(width, quadratic):
    """Three-layer chains: the masks' quadratic form and the right-to-left form give the same
    values and weight gradients; "auto" takes the quadratic one exactly when h₁h₂ ≤ 144."""
    from homfact.nn import regularizers as R

    torch.manual_seed(width)
    model = hn.ParallelSubnetworks(hn.relu_chain(7, 4, depth=3, width=width), 5, dtype=DT)
    x = torch.randn(11, 7, dtype=DT)
    w = torch.rand(5, 11, dtype=DT)
    ps = list(model.params)
    assert R._prefer_chain3_quadratic(ps) is quadratic
    grads = []
    for form in (R._chain3_quadratic_sq, R._chain_jacobian_sq):
        val = form(ps, x)
        (grad,) = [torch.autograd.grad((R._safe_sqrt(val) * w).sum(), ps)]
        grads.append((val.detach(), grad))
    (qv, qg), (rv, rg) = grads
    assert float(qv.max()) > 0
    torch.testing.assert_close(qv, rv, rtol=1e-12, atol=1e-13)
    for a, b in zip(qg, rg, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert not R._prefer_chain3_quadratic(ps[:2])                       # three layers only


@pytest.mark.parametrize("name", ["unit", "chain3", "conv"])
def test_degree_of_network_and_regularizer_agree(name):
    model, d, deg = _model(name)
    x = torch.randn(8, d, dtype=DT)
    reg = hn.JacobianRegularizer(x)
    assert reg.degree(model) == deg
    assert hn.homogeneity_degree(model, x) == deg
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no mismatch / non-homogeneous warning
        assert hn.check_regularizer_degree(model, reg, x) == (deg, deg)
    # θ's own degree, measured: θ(αX) = α^L θ(X); and θ(αx) = θ(x) (J is 0-homogeneous in x)
    theta = _Theta(model, reg)
    assert hn.homogeneity_degree(theta, x, wrt="parameters") == deg
    assert hn.homogeneity_degree(theta, x, wrt="input") == 0


def test_degree_mismatch_is_detected_for_weight_decay_but_not_for_jacobian():
    model, d, _ = _model("chain3")
    x = torch.randn(8, d, dtype=DT)
    with pytest.warns(hn.DegreeMismatchWarning):
        hn.check_regularizer_degree(model, hn.WeightDecay(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hn.check_regularizer_degree(model, hn.JacobianRegularizer(x), x)


# ------------------------------------------------------------------ gradient
def _kink_margin(model, x) -> float:
    """Smallest non-zero |ReLU input| and smallest gap between the two largest entries of a
    max-pooling window with a positive maximum, over all subnetworks (the distance to the
    nearest kink of θ).  An exactly zero ReLU input comes from an all-zero receptive field (a
    dead unit below: ReLUs of pre-activations at least the margin below 0), and a window of
    zeros is the pooling of such ReLUs: both stay put under small weight changes."""
    margins = []
    for i in range(model.width):
        sub = model.subnetwork(i)
        hooks = []

        def relu_hook(mod, inp, out):
            z = inp[0].detach().abs()
            margins.append(float(z[z > 0].min()))

        def pool_hook(mod, inp, out):
            h = inp[0].detach()
            p = mod.kernel_size
            cols = torch.nn.functional.unfold(h.reshape(-1, 1, *h.shape[-2:]), p, stride=p)
            top = torch.topk(cols, 2, dim=1).values
            live = top[:, 0] > 0
            margins.append(float((top[:, 0] - top[:, 1])[live].min()))

        for m in sub.modules():
            if isinstance(m, nn.ReLU):
                hooks.append(m.register_forward_hook(relu_hook))
            if isinstance(m, nn.MaxPool2d):
                hooks.append(m.register_forward_hook(pool_hook))
        sub(x)
        for h in hooks:
            h.remove()
    return min(margins)


@pytest.mark.parametrize("method", ["auto", "autograd"])
@pytest.mark.parametrize("name", ["unit", "chain3", "conv", "custom"])
def test_gradient_matches_central_differences(name, method):
    model, d, _ = _model(name, r=2, seed=3)
    torch.manual_seed(4)
    x = torch.randn(5, d, dtype=DT)
    assert _kink_margin(model, x) > 1e-6          # away from every ReLU / pooling kink
    reg = hn.JacobianRegularizer(x, method=method)
    val = reg(model)
    grads = torch.autograd.grad(val, list(model.params))
    h = 1e-7
    worst = 0.0
    with torch.no_grad():
        for p, g in zip(model.params, grads, strict=True):
            flat, gflat = p.view(-1), g.reshape(-1)
            for j in range(flat.numel()):
                old = float(flat[j])
                flat[j] = old + h
                fp = float(reg(model))
                flat[j] = old - h
                fm = float(reg(model))
                flat[j] = old
                fd = (fp - fm) / (2 * h)
                worst = max(worst, abs(fd - float(gflat[j])))
    scale = max(float(torch.cat([g.reshape(-1) for g in grads]).abs().max()), 1e-12)
    assert worst <= 1e-6 * scale


def test_zero_subnetwork_has_zero_theta_and_finite_gradient():
    for name in ["unit", "chain3", "conv", "custom"]:
        model, d, _ = _model(name, r=3)
        with torch.no_grad():
            for p in model.params:
                p[1].zero_()                       # subnetwork 1 entirely zero
            model.params[0][2].zero_()             # subnetwork 2: first layer zero only
        x = torch.randn(6, d, dtype=DT)
        for method in ("auto", "autograd"):
            reg = hn.JacobianRegularizer(x, method=method)
            theta = reg.per_subnetwork(model).detach()
            assert float(theta[1]) == 0.0 and float(theta[2]) == 0.0
            assert float(theta[0]) > 0.0
            grads = torch.autograd.grad(reg(model), list(model.params))
            assert all(bool(torch.isfinite(g).all()) for g in grads)


def test_dead_subnetwork_has_zero_theta_and_zero_output_and_kink_convention():
    # w ⟂ x₂ exactly: the pre-activation is exactly 0 there (autograd's ReLU derivative: 0)
    model = hn.ParallelSubnetworks(hn.relu_unit(2, 1), 1, dtype=DT)
    with torch.no_grad():
        model.params[0].copy_(torch.tensor([[[1.0, 0.0]]]))
        model.params[1].copy_(torch.tensor([[[2.0]]]))
    x = torch.tensor([[-1.0, 3.0], [0.0, 1.0], [2.0, 5.0]], dtype=DT)
    reg = hn.JacobianRegularizer(x)
    torch.testing.assert_close(reg.jacobian_norms(model), torch.tensor([[0.0, 0.0, 2.0]],
                                                                       dtype=DT))
    torch.testing.assert_close(reg.jacobian_norms(model), _brute_norms(model, x))
    dead = hn.JacobianRegularizer(x[:2])
    assert float(dead(model).detach()) == 0.0
    assert float(model(x[:2]).detach().abs().max()) == 0.0


@pytest.mark.parametrize("name", list(FAMILIES))
def test_euler_identity_phi_equals_jacobian_times_input(name):
    model, d, _ = _model(name, r=2)
    x = torch.randn(4, d, dtype=DT)
    for i in range(model.width):
        sub = model.subnetwork(i)
        for n in range(x.shape[0]):
            J = torch.autograd.functional.jacobian(sub, x[n])
            torch.testing.assert_close(J @ x[n], sub(x[n]), rtol=1e-12, atol=1e-14)


def test_no_grad_float32_and_subset():
    model, d, _ = _model("conv", r=2)
    x = torch.randn(7, d, dtype=DT)
    reg = hn.JacobianRegularizer(x)
    with torch.no_grad():
        v = reg(model)
    assert not v.requires_grad and float(v) > 0
    torch.testing.assert_close(v, reg(model).detach())
    m32 = _model("chain3")[0].to(torch.float32)
    x3 = torch.randn(7, 5, dtype=DT)
    ref = hn.JacobianRegularizer(x3)(_model("chain3")[0])
    assert hn.JacobianRegularizer(x3)(m32).dtype == torch.float32
    torch.testing.assert_close(hn.JacobianRegularizer(x3)(m32).double(), ref, rtol=1e-5, atol=0)
    sub = hn.JacobianRegularizer(x3, max_points=3, seed=1)
    assert sub.n_points == 3 and not sub.covers(x3) and hn.JacobianRegularizer(x3).covers(x3)
    again = hn.JacobianRegularizer(x3, max_points=3, seed=1)
    assert torch.equal(sub.points, again.points)
    m = _model("chain3")[0]
    torch.testing.assert_close(sub.jacobian_norms(m), _brute_norms(m, sub.points))


def test_bad_arguments_are_rejected():
    model, d, _ = _model("unit")
    with pytest.raises(ValueError, match="no training inputs"):
        hn.make_regularizer("jacobian")(model)
    with pytest.raises(ValueError, match="max_points"):
        hn.JacobianRegularizer(max_points=0)
    with pytest.raises(ValueError, match="method"):
        hn.JacobianRegularizer(method="jacfwd")
    with pytest.raises(ValueError, match="inputs"):
        hn.JacobianRegularizer(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        hn.JacobianRegularizer(torch.tensor([[1.0, math.nan]]))
    with pytest.raises(TypeError, match="inputs"):
        hn.JacobianRegularizer([["a", "b"]])
    with pytest.raises(ValueError, match="columns"):
        hn.JacobianRegularizer(torch.randn(4, d + 1))(model)
    with pytest.raises(TypeError):
        hn.JacobianRegularizer(torch.randn(4, d)).per_subnetwork(nn.Linear(2, 2))
    reg = hn.make_regularizer("jacobian").with_inputs(np.ones((2, d)))
    assert isinstance(reg, hn.JacobianRegularizer) and reg.n_points == 2


# ------------------------------------------------------------------ polar
def _sampled_unit_ratio(V, G, n=200_000, seed=0):
    """max over random directions w of N‖Gᵀ(Vw)₊‖/(m(w)‖w‖), the ReLU unit's ⟨G,φ⟩/θ."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(n, V.shape[1], generator=gen, dtype=DT)
    Z = V @ W.T
    m = (Z > 0).sum(0)
    val = V.shape[0] * (G.T @ torch.relu(Z)).norm(dim=0) / W.norm(dim=1) / m.clamp_min(1)
    return float(val.max())


def test_polar_upper_bound_dominates_ascent_and_random_subnetworks():
    gen = torch.Generator().manual_seed(0)
    for trial in range(16):
        kind = ("unit", "chain")[trial % 2]
        N, d, C = 12 + trial, 2 + trial % 5, 1 + trial % 3
        V = torch.randn(N, d, generator=gen, dtype=DT) * (0.5 + trial / 8)
        G = torch.randn(N, C, generator=gen, dtype=DT) / N
        fac = hn.relu_unit(d, C) if kind == "unit" else hn.relu_chain(d, C, depth=3, width=2)
        torch.manual_seed(trial)
        model = hn.ParallelSubnetworks(fac, 1, dtype=DT)
        reg = hn.JacobianRegularizer(V)
        upper = jacobian_polar_upper(model, V, G, reg)
        assert math.isfinite(upper) and upper <= _euler_upper(V, G)
        b = jacobian_polar(model, V, G, reg, n_starts=6, n_iter=25)
        assert 0.0 < b.lower <= upper and b.upper == upper
        # random subnetworks: their ratio ⟨G, φ⟩/θ never exceeds the bound
        rand = hn.ParallelSubnetworks(fac, 400, dtype=DT)
        with torch.no_grad():
            num = (rand.forward_each(V) * G).flatten(1).sum(1)
            th = reg.per_subnetwork(rand)
        ratio = torch.where(th > 0, num / th.clamp_min(1e-300), torch.zeros_like(th))
        assert float(ratio.max()) <= upper
        if kind == "unit":
            assert _sampled_unit_ratio(V, G, n=20_000, seed=trial) <= upper


def _exact_unit_polar_2d(V, G) -> float:
    """sup over unit w ∈ R² of N‖Gᵀ(Vw)₊‖/#{n : vₙᵀw > 0}: on each open arc between the
    angles where some vₙᵀw = 0 the active set A is constant and ‖G_Aᵀ V_A w‖ is maximal at an
    end of the arc or at the top eigenvector of (G_AᵀV_A)ᵀ(G_AᵀV_A) if it lies inside."""
    V, G = V.numpy(), G.numpy()
    N = V.shape[0]
    ang = np.arctan2(V[:, 1], V[:, 0])
    brk = np.sort(np.mod(np.concatenate([ang + np.pi / 2, ang - np.pi / 2]), 2 * np.pi))
    brk = np.concatenate([brk, [brk[0] + 2 * np.pi]])
    best = 0.0
    for lo, hi in itertools.pairwise(brk):
        if hi - lo < 1e-15:
            continue
        mid = 0.5 * (lo + hi)
        A = V @ np.array([np.cos(mid), np.sin(mid)]) > 0
        if not A.any():
            continue
        M = G[A].T @ V[A]
        cands = [lo, hi]
        ev = np.linalg.eigh(M.T @ M)[1][:, -1]
        for e in (ev, -ev):
            t = np.mod(np.arctan2(e[1], e[0]) - lo, 2 * np.pi) + lo
            if lo < t < hi:
                cands.append(t)
        for t in cands:
            best = max(best, N * np.linalg.norm(M @ np.array([np.cos(t), np.sin(t)])) / A.sum())
    return float(best)


def test_relu_unit_bracket_in_two_dimensions_contains_the_exact_polar():
    gen = torch.Generator().manual_seed(1)
    for _ in range(6):
        V = torch.randn(15, 2, generator=gen, dtype=DT)
        G = torch.randn(15, 2, generator=gen, dtype=DT)
        model = hn.ParallelSubnetworks(hn.relu_unit(2, 2), 1, dtype=DT)
        b = jacobian_polar(model, V, G, hn.JacobianRegularizer(V), n_starts=8, n_iter=40)
        exact = _exact_unit_polar_2d(V, G)
        assert b.lower <= exact * (1 + 1e-9) and exact <= b.upper
        assert b.lower >= 0.9 * exact                  # the ascent finds (nearly) the maximum


def test_relu_unit_bracket_is_tight_when_points_can_be_isolated():
    # d > N: each point is isolated by the part of vₙ orthogonal to the others
    gen = torch.Generator().manual_seed(2)
    V = torch.randn(20, 40, generator=gen, dtype=DT)
    G = torch.randn(20, 3, generator=gen, dtype=DT) / 20
    model = hn.ParallelSubnetworks(hn.relu_unit(40, 3), 1, dtype=DT)
    b = jacobian_polar(model, V, G, hn.JacobianRegularizer(V), n_starts=4, n_iter=10)
    assert b.upper / b.lower < 1.001
    assert b.upper < _euler_upper(V, G)


@pytest.mark.parametrize("scale", [1.0, 1e-200])
@pytest.mark.parametrize("kind", ["unit", "chain"])
def test_euler_bound_is_attained_by_an_isolated_point(kind, scale):
    # v₀ has a negative inner product with every other point and the largest ‖gₙ‖‖vₙ‖: a
    # subnetwork active at v₀ only, with Jacobian ∝ g₀v₀ᵀ, reaches N‖g₀‖‖v₀‖ (the bound);
    # scale 1e-200: v₀ tiny (squares underflow) and the only row with gₙ ≠ 0
    gen = torch.Generator().manual_seed(5)
    N, d, C = 12, 4, 2
    V = torch.randn(N, d, generator=gen, dtype=DT)
    V[:, 0] = -V[:, 0].abs() - 0.1
    V[0] = torch.tensor([3.0 * scale, 0.0, 0.0, 0.0], dtype=DT)
    G = torch.randn(N, C, generator=gen, dtype=DT) / N
    G[0] *= 10.0
    if scale != 1.0:
        G[1:] = 0.0
    fac = hn.relu_unit(d, C) if kind == "unit" else hn.relu_chain(d, C, depth=3, width=2)
    torch.manual_seed(0)
    model = hn.ParallelSubnetworks(fac, 1, dtype=DT)
    b = jacobian_polar(model, V, G, hn.JacobianRegularizer(V), n_starts=4, n_iter=10)
    target = N * float(G[0].norm()) * 3.0 * scale      # ‖v₀‖ = 3·scale (its square underflows)
    assert target <= b.upper <= target * (1 + 1e-9)
    assert 0.0 <= b.lower <= b.upper
    if scale == 1.0:                                  # the ascent's norms underflow at 1e-200
        assert abs(b.lower - target) <= 1e-12 * target


def test_polar_upper_is_infinite_without_a_valid_bound():
    V = torch.randn(10, 5, dtype=DT)
    G = torch.randn(10, 3, dtype=DT)
    unit = hn.ParallelSubnetworks(hn.relu_unit(5, 3), 1, dtype=DT)
    assert jacobian_polar_upper(unit, V, G, hn.JacobianRegularizer(V, max_points=6)) == math.inf
    assert jacobian_polar_upper(unit, V, G, hn.JacobianRegularizer(V + 1.0)) == math.inf
    custom = hn.ParallelSubnetworks(_custom(), 1, dtype=DT)
    b = jacobian_polar(custom, V, G, hn.JacobianRegularizer(V), n_starts=3, n_iter=5)
    assert b.upper == math.inf and b.lower >= 0
    assert jacobian_polar_upper(unit, V, torch.zeros_like(G), hn.JacobianRegularizer(V)) == 0.0
    with pytest.raises(TypeError, match="JacobianRegularizer"):
        jacobian_polar_upper(unit, V, G, hn.ProductOfNorms())
    with pytest.raises(ValueError, match="no training inputs"):
        jacobian_polar(unit, V, G, hn.JacobianRegularizer())


@pytest.mark.parametrize("name", ["unit", "chain3"])
def test_network_polar_solver_returns_a_feasible_maximizer(name):
    model, d, _ = _model(name, r=2)
    V = torch.randn(15, d, dtype=DT)
    G = torch.randn(15, 3, dtype=DT) / 15
    solver = hn.NetworkPolar(model, V, n_starts=6, n_iter=20,
                             regularizer=hn.make_regularizer("jacobian"))
    b = solver(G.numpy(), n_candidates=3, rng=np.random.default_rng(0))
    assert 0 < b.lower <= b.upper < math.inf
    layers = solver.layers(b.maximizer)
    one = [t.unsqueeze(0) for t in layers]
    reg = hn.JacobianRegularizer(V)
    theta = float(reg.jacobian_norms(model, one).mean())
    value = float((model.evaluate_subnetworks(one, V)[0] * G).sum())
    assert abs(theta - 1.0) < 1e-9 and abs(value - b.lower) <= 1e-9 * b.lower
    assert len(b.candidates) <= 2
    # same seed, same bracket
    b2 = solver(G.numpy(), n_candidates=3, rng=np.random.default_rng(0))
    assert (b2.lower, b2.upper) == (b.lower, b.upper)


# ------------------------------------------------------------------ growth
def test_growing_classifier_with_jacobian_regularizer_end_to_end():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((36, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    clf = hn.GrowingClassifier(regularizer="jacobian", lam=1e-2, fit_bias=True, init_width=1,
                               max_growth=3, polar_starts=6, polar_iter=20, descent_iter=60,
                               random_state=0)
    clf.fit(X, y)
    c = clf.certificate_
    assert clf.width_ > 1 and clf.history_[0]["width"] == 1
    assert clf.stop_reason_ in ("certified", "max_iter", "max_rank", "stalled",
                                "polar_inconclusive")
    for v in (c.objective, c.lower_bound, c.gap, c.polar_lower, c.polar_upper):
        assert math.isfinite(v)
    assert c.polar_lower <= c.polar_upper
    assert "Jacobian" in c.method
    # honest status: "global" only with the valid upper bound below λ(1 + polar_rtol)
    for h in clf.history_:
        if h["status"] == "global":
            assert h["polar_upper"] <= clf.lam * (1 + clf.polar_rtol)
    assert c.status != "global" or c.polar_upper <= clf.lam * (1 + clf.polar_rtol)
    # the objective reported is ℓ + λ Σθ with the Jacobian θ on the training inputs
    V = torch.as_tensor(np.hstack([X, np.ones((36, 1))]), dtype=DT)
    theta = float(hn.JacobianRegularizer(V)(clf.model_).detach())
    z = clf.model_(V).detach()
    ce = float(torch.nn.functional.cross_entropy(z, torch.as_tensor(y)))
    assert abs(c.objective - (ce + clf.lam * theta)) <= 1e-9 * c.objective
    assert clf.score(X, y) > 0.7


def test_growing_regressor_certifies_zero_when_lambda_exceeds_the_bound():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((24, 3))
    y = X[:, 0] - 0.5 * X[:, 1]
    V = torch.as_tensor(X, dtype=DT)
    G0 = torch.as_tensor(y[:, None] / 24.0)            # −∇ of ½·mean‖z − y‖² at z = 0
    lam = 2.0 * _euler_upper(V, G0)
    reg = hn.GrowingRegressor(regularizer="jacobian", subnetwork="relu_chain", depth=3,
                              hidden=2, lam=lam, max_growth=2, polar_starts=4, polar_iter=10,
                              descent_iter=50, random_state=0)
    reg.fit(X, y)
    c = reg.certificate_
    assert reg.width_ == 0 and c.status == "global" and c.polar_upper <= lam
    assert reg.stop_reason_ == "certified"


def test_polar_check_with_jacobian_regularizer():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 3))
    V = torch.as_tensor(X, dtype=DT)
    T = torch.as_tensor(np.sin(X[:, :1] * 2))
    torch.manual_seed(0)
    model = hn.ParallelSubnetworks(hn.relu_unit(3, 1), 1, dtype=DT)
    with torch.no_grad():
        model.params[1].mul_(1e-6)                       # nearly the zero network
    out = hn.polar_check(model, V, T, "squared", "jacobian", 1e-3, n_starts=6, n_iter=20)
    assert out["matched"] and out["flagged"]
    assert out["polar_lower"] <= out["polar_upper"] < math.inf


@pytest.mark.parametrize(("V", "G", "feasible"), [
    # in the stated range, but the products c_n v_n overflow the Gram: refinement dropped
    ([[1e60, 1e59], [1e60, -1e59], [-1e60, 0.0]], [[1e96], [1e96], [1e95]], None),
    ([[1e80, 1e79], [1e80, -1e79], [-1e80, 0.0]], [[1e90], [1e90], [1e89]], None),
    # a zero row of V with a huge g_n, and a zero g_n with a huge row of V (inf * 0 = nan)
    ([[0.0, 0.0], [1.0, 0.1], [1.0, -0.1]], [[1e200], [1.0], [1.0]], 3.0),
    ([[1e200, -1e200], [1.0, 0.1], [1.0, -0.1]], [[0.0], [1.0], [1.0]], 2.0),
])
def test_jacobian_upper_never_below_a_feasible_value_at_extreme_scales(V, G, feasible):
    """Reviewer's cases: the ReLU-unit refinement must not lose a NaN or an overflow (Python's
    ``max`` drops a NaN) and return a bound below the value the unit ``w = (1, 0)``, ``a = 1``
    reaches: ``N·⟨G, (Vw)₊⟩/|A|`` with ``A`` its active points."""
    V = torch.tensor(V, dtype=torch.float64)
    G = torch.tensor(G, dtype=torch.float64)
    model = hn.ParallelSubnetworks(hn.relu_unit(2, 1), 1, dtype=torch.float64)
    up = jacobian_polar_upper(model, V, G, hn.JacobianRegularizer(V))
    z = V @ torch.tensor([1.0, 0.0], dtype=torch.float64)
    value = V.shape[0] * float(G.T @ torch.relu(z)) / int((z > 0).sum())
    assert up >= value * (1 - 1e-12)
    if feasible is not None:
        assert value == pytest.approx(feasible)
