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


# ---------------------------------------------------------------------------------------------
# the denser generator of the robustness family


def test_blob_video_ground_truth_and_overlap():
    from homfact.datasets import blob_calcium_video

    d = blob_calcium_video((32, 32), n_frames=200, n_neurons=12, radius=(1.5, 3.0),
                           firing_prob=(0.01, 0.05), noise=0.2, seed=4)
    assert d.Y.shape == (32 * 32, 200) and d.spatial.shape == (32 * 32, 12)
    assert np.allclose(d.spatial.max(axis=0), 1.0)
    assert np.all((d.spikes > 0).sum(axis=1) >= 2)
    c = d.temporal
    assert np.allclose(c[:, 1:] - d.decay * c[:, :-1], d.spikes[:, 1:])
    assert 0.75 <= d.decay <= 0.9
    resid = d.Y - d.spatial @ d.temporal - d.background
    assert resid.std() == pytest.approx(0.2, rel=0.05)
    # the 20 %-of-peak supports of some neighbours intersect (overlap is allowed) ...
    b = (d.spatial >= 0.2).astype(float)
    inter = b.T @ b
    np.fill_diagonal(inter, 0)
    assert inter.max() > 0
    # ... but no two neurons coincide
    iou = inter / (b.sum(0)[:, None] + b.sum(0)[None, :] - inter)
    assert iou.max() < 0.5
    # the background drifts: its temporal profile is not in a 2-pair Fourier basis
    from homfact.models.structured import fourier_basis

    B = fourier_basis(200, 2)
    bg = d.background - d.background @ B @ B.T
    assert np.linalg.norm(bg) > 1e-3 * np.linalg.norm(d.background)
    with pytest.raises(ValueError, match="radius"):
        blob_calcium_video(radius=(3.0, 1.0))
    with pytest.raises(ValueError, match="firing_prob"):
        blob_calcium_video(firing_prob=0.0)


# ---------------------------------------------------------------------------------------------
# TIFF stacks, as imaging users store them


def test_read_tiff_stack_layout(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    from homfact.io import read_matrix, read_tiff_stack, tiff_image_shape

    rng = np.random.default_rng(0)
    stack = rng.integers(0, 1000, size=(7, 5, 6)).astype(np.uint16)  # frames, rows, cols
    tifffile.imwrite(tmp_path / "movie.tif", stack)
    Y, shape = read_tiff_stack(tmp_path / "movie.tif")
    assert shape == (5, 6) and Y.shape == (30, 7) and Y.dtype == np.float64
    for t in range(7):
        np.testing.assert_array_equal(Y[:, t].reshape(shape), stack[t])
    np.testing.assert_array_equal(read_matrix(tmp_path / "movie.tif"), Y)
    assert tiff_image_shape(tmp_path / "movie.tif") == (5, 6)
    # a single page is a matrix
    tifffile.imwrite(tmp_path / "page.tiff", stack[0].astype(np.float32))
    Y2, shape2 = read_tiff_stack(tmp_path / "page.tiff")
    assert shape2 is None and Y2.shape == (5, 6)
    assert tiff_image_shape(tmp_path / "page.tiff") is None
    tifffile.imwrite(tmp_path / "bad.tif", rng.random((2, 3, 4, 5)).astype(np.float32),
                     photometric="minisblack")
    with pytest.raises(ValueError, match="stack"):
        read_tiff_stack(tmp_path / "bad.tif")
    with pytest.raises(FileNotFoundError):
        read_tiff_stack(tmp_path / "missing.tif")


def test_cli_fits_a_tiff_stack(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    import json

    from homfact.cli import main

    d = calcium_video((12, 12), n_frames=40, n_neurons=1, seed=2, noise=0.05)
    stack = d.Y.T.reshape(40, 12, 12).astype(np.float32)  # frames × rows × cols
    tifffile.imwrite(tmp_path / "movie.tif", stack)
    out = tmp_path / "fit"
    code = main(["fit", "structured", str(tmp_path / "movie.tif"), "--max-iter", "5",
                 "--time-limit", "60", "--output", str(out), "--no-plot", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 0, err
    info = json.loads((out / "certificate.json").read_text())
    assert info["data"]["shape"] == [144, 40]
    assert info["params"]["image_shape"] == [12, 12]  # set from the stack's frame shape
    U = np.load(out / "U.npy")
    assert U.shape[0] == 144 and U.shape[1] >= 1
    # the strongest found footprint is the neuron
    from homfact.datasets import match_components

    m = match_components(U, d.spatial, threshold=0.5)
    assert m.iou.max() >= 0.5
