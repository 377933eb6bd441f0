"""Synthetic calcium-imaging movie and footprint matching."""

from __future__ import annotations

import numpy as np
import pytest

from homfact.datasets import calcium_video, match_components


def test_shapes_and_nonnegativity():
    d = calcium_video((32, 40), n_frames=120, n_neurons=5, seed=3)
    n_pix = 32 * 40
    assert d.Y.shape == (n_pix, 120)
    assert d.spatial.shape == (n_pix, 5)
    assert d.temporal.shape == d.spikes.shape == (5, 120)
    assert d.background.shape == (n_pix, 120)
    assert d.shape == (32, 40)
    for arr in (d.spatial, d.temporal, d.spikes, d.background):
        assert np.all(arr >= 0)
    assert np.allclose(d.spatial.max(axis=0), 1.0)
    assert np.all(d.spikes.astype(bool).sum(axis=1) >= 1)
    assert np.all(np.isfinite(d.Y))
    # the traces are the spikes filtered by the AR(1) kernel c_t = γ c_{t−1} + s_t
    c = d.temporal
    assert np.allclose(c[:, 1:] - d.decay * c[:, :-1], d.spikes[:, 1:])
    assert d.decay == pytest.approx(np.exp(-0.2 / 0.736))
    # compact, mostly disjoint footprints: the half-max supports do not overlap
    half = (d.spatial >= 0.5).astype(float)
    overlap = half.T @ half
    assert np.all(overlap[~np.eye(5, dtype=bool)] == 0)
    # the noise-free part is recovered up to the stated noise level
    resid = d.Y - d.spatial @ d.temporal - d.background
    assert resid.std() == pytest.approx(d.noise, rel=0.05)


def test_no_background_no_noise():
    d = calcium_video((16, 16), n_frames=50, n_neurons=2, seed=1, noise=0.0, background=False)
    assert np.allclose(d.Y, d.spatial @ d.temporal)
    assert not d.background.any()


def test_reproducible_by_seed():
    a = calcium_video((20, 20), n_frames=60, n_neurons=3, seed=7)
    b = calcium_video((20, 20), n_frames=60, n_neurons=3, seed=7)
    c = calcium_video((20, 20), n_frames=60, n_neurons=3, seed=8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.Y, c.Y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"shape": (4, 40)}, "shape"), ({"n_frames": 0}, "n_frames"),
     ({"n_neurons": 0}, "n_neurons"), ({"noise": -1.0}, "noise"),
     ({"firing_rate": 0.0}, "firing_rate")],
)
def test_calcium_input_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        calcium_video(**kwargs)


def test_match_components():
    d = calcium_video(seed=0)
    A = d.spatial
    m = match_components(A, A)
    assert m.pairs.shape == (A.shape[1], 2)
    np.testing.assert_array_equal(m.pairs[:, 0], m.pairs[:, 1])
    assert np.allclose(m.iou, 1.0)
    # permuted, rescaled, sign-flipped and noisy found components are still matched correctly
    rng = np.random.default_rng(0)
    perm = rng.permutation(A.shape[1])
    found = A[:, perm] * rng.uniform(0.5, 3.0, size=A.shape[1])
    found[:, 0] *= -1
    m = match_components(found + 0.01 * rng.standard_normal(found.shape), A)
    np.testing.assert_array_equal(perm[m.pairs[:, 0]], m.pairs[:, 1])
    assert np.all(m.iou > 0.8)
    # extra spurious components and missing ones
    extra = np.zeros((A.shape[0], 1))
    extra[:5, 0] = 1.0
    m = match_components(np.hstack([A[:, :3], extra]), A)
    assert len(m.pairs) == 3 and m.iou_matrix.shape == (4, A.shape[1])
    np.testing.assert_array_equal(m.pairs, [[0, 0], [1, 1], [2, 2]])
    with pytest.raises(ValueError, match="pixels"):
        match_components(A[:-1], A)
    with pytest.raises(ValueError, match="threshold"):
        match_components(A, A, threshold=0.0)
