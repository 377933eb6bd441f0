"""Built-in data (homfact.datasets), file readers/writers (homfact.io) and plots."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

import homfact as hf
from homfact.datasets import (
    load_mnist_5k,
    low_rank_plus_noise,
    mask_entries,
    random_completion_problem,
)
from homfact.io import (
    as_model_input,
    parse_shape,
    read_csv_triplets,
    read_matrix,
    save_factors,
    write_json,
)
from homfact.plotting import plot_completion_examples, plot_convergence, plot_path
from homfact.problems import observed_entries

PNG = b"\x89PNG"


# ------------------------------------------------------------------------------------------
# datasets
# ------------------------------------------------------------------------------------------
def test_load_mnist_5k():
    X, y = load_mnist_5k()
    assert X.shape == (5000, 784) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.shape == (5000,) and set(np.unique(y)) == set(range(10))
    assert np.all(np.bincount(y) == 500)
    X2, y2 = load_mnist_5k(n_samples=10)
    assert X2.shape == (10, 784) and np.array_equal(X2, X[:10]) and np.array_equal(y2, y[:10])
    X2[0, 0] = 5.0  # callers get their own copy, the cache is untouched
    assert load_mnist_5k(n_samples=1)[0][0, 0] == X[0, 0]
    with pytest.raises(ValueError, match="n_samples"):
        load_mnist_5k(n_samples=5001)


def test_mask_entries_keeps_observed_zeros():
    rng = np.random.default_rng(1)
    X = np.where(rng.random((40, 30)) < 0.6, 0.0, rng.random((40, 30)))  # mostly zeros
    obs, hidden = mask_entries(X, 0.3, seed=3)
    assert sp.isspmatrix_csr(obs) and obs.shape == X.shape
    assert obs.nnz == round(0.3 * X.size)  # zeros are stored, not dropped
    assert np.sum(obs.data == 0) > 0
    assert len(hidden.values) == X.size - obs.nnz
    # observed and hidden partition the matrix and carry the true values
    seen = np.zeros(X.shape, dtype=int)
    coo = obs.tocoo()
    seen[coo.row, coo.col] += 1
    seen[hidden.rows, hidden.cols] += 1
    assert np.all(seen == 1)
    assert np.array_equal(coo.data, X[coo.row, coo.col])
    assert np.array_equal(hidden.values, X[hidden.rows, hidden.cols])
    # the estimator sees every stored entry as observed
    assert observed_entries(obs).nnz == obs.nnz
    # seeded
    obs2, hidden2 = mask_entries(X, 0.3, seed=3)
    assert (obs != obs2).nnz == 0 and np.array_equal(hidden.rows, hidden2.rows)
    obs3, _ = mask_entries(X, 0.3, seed=4)
    assert not np.array_equal(obs.indices, obs3.indices)


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1, "half"])
def test_mask_entries_rejects_bad_fraction(bad):
    with pytest.raises(ValueError, match="observed_fraction"):
        mask_entries(np.ones((3, 3)), bad)


def test_mask_entries_rejects_bad_matrix():
    with pytest.raises(ValueError):
        mask_entries(np.ones(5), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        mask_entries(np.array([[1.0, np.nan]]), 0.5)


def test_low_rank_plus_noise():
    Y, U, V = low_rank_plus_noise(50, 40, 3, noise=0.0, seed=0)
    assert Y.shape == (50, 40) and U.shape == (50, 3) and V.shape == (40, 3)
    assert np.linalg.matrix_rank(Y) == 3
    assert 0.5 < Y.std() < 2.0  # unit-variance scaling of U Vᵀ
    Yn, Un, _ = low_rank_plus_noise(50, 40, 3, noise=0.5, seed=0)
    assert np.array_equal(Un, U)
    assert np.std(Yn - Y) == pytest.approx(0.5, rel=0.1)
    with pytest.raises(ValueError, match="rank"):
        low_rank_plus_noise(5, 5, 0)
    with pytest.raises(ValueError, match="noise"):
        low_rank_plus_noise(5, 5, 1, noise=-1)


def test_random_completion_problem_small():
    obs, U, V = random_completion_problem(60, 50, 4, fraction=0.25, noise=0.0, seed=0)
    assert obs.shape == (60, 50) and obs.nnz == round(0.25 * 60 * 50)
    coo = obs.tocoo()
    assert np.allclose(coo.data, np.einsum("ij,ij->i", U[coo.row], V[coo.col]))
    noisy, U2, _ = random_completion_problem(60, 50, 4, fraction=0.25, noise=0.1, seed=0)
    assert np.array_equal(U2, U) and noisy.nnz == obs.nnz


def test_random_completion_problem_large_without_dense():
    """10⁵ × 10⁵ (10¹⁰ entries, 80 GB dense) sampled in O(|Ω|) memory."""
    m = n = 100_000
    obs, U, V = random_completion_problem(m, n, 5, fraction=2e-6, noise=0.0, seed=1)
    assert obs.shape == (m, n) and obs.nnz == 20_000
    coo = obs.tocoo()
    assert np.unique(coo.row.astype(np.int64) * n + coo.col).size == obs.nnz
    assert np.allclose(coo.data, np.einsum("ij,ij->i", U[coo.row], V[coo.col]))
    # positions are spread over the whole matrix
    assert coo.row.max() > 0.9 * m and coo.col.max() > 0.9 * n


def test_random_completion_problem_fits():
    obs, _, _ = random_completion_problem(80, 60, 3, fraction=0.5, noise=0.0, seed=2)
    lam = 0.05 * hf.lam_max("completion", obs)
    model = hf.MatrixCompletion(lam=lam, random_state=0).fit(obs)
    assert model.certificate_.status == "global"
    assert model.rank_ >= 3


# ------------------------------------------------------------------------------------------
# io
# ------------------------------------------------------------------------------------------
def test_read_csv_triplets(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("row,col,value\n0,0,0.0\n2,1,3.5\n# comment\n\n1,3,-1\n")
    A = read_csv_triplets(p)
    assert A.shape == (3, 4) and A.nnz == 3  # the stored zero is kept
    assert A[2, 1] == 3.5 and A[1, 3] == -1
    assert read_csv_triplets(p, shape=(5, 6)).shape == (5, 6)
    q = tmp_path / "noheader.csv"
    q.write_text("0,0,1\n1,1,2\n")
    assert read_csv_triplets(q).nnz == 2


@pytest.mark.parametrize("text,match", [
    ("0,0,1\n0,0,2\n", "duplicate"),
    ("0,0,1\n1,x,2\n", "line 2: non-numeric"),
    ("0,0,1\n-1,0,2\n", "line 2: row and col"),
    ("0,0,1\n0.5,0,2\n", "line 2: row and col"),
    ("0,0,1\n1,1\n", "line 2: expected 3 fields"),
    ("0,0,1\n1,1,inf\n", "finite"),
    ("row,col,value\n", "no numeric triplets"),
])
def test_read_csv_triplets_errors(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_csv_triplets(p)


def test_read_matrix_formats(tmp_path):
    Y = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "a.npy", Y)
    np.savez(tmp_path / "b.npz", only=Y)
    S = sp.csr_matrix(Y)
    sp.save_npz(tmp_path / "c.npz", S)
    assert np.array_equal(read_matrix(tmp_path / "a.npy"), Y)
    assert np.array_equal(read_matrix(tmp_path / "b.npz"), Y)
    C = read_matrix(tmp_path / "c.npz")
    assert sp.issparse(C) and np.array_equal(C.toarray(), Y)
    with pytest.raises(ValueError, match="does not match"):
        read_matrix(tmp_path / "a.npy", shape=(4, 3))
    with pytest.raises(FileNotFoundError):
        read_matrix(tmp_path / "missing.npy")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="unknown file type"):
        read_matrix(tmp_path / "x.json")


def test_as_model_input():
    S = sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]]))
    D = as_model_input(S, "lowrank")
    assert isinstance(D, np.ndarray) and np.array_equal(D, S.toarray())
    assert sp.issparse(as_model_input(S, "completion"))
    with pytest.raises(ValueError, match="NaN"):
        as_model_input(np.array([[np.nan, 1.0]]), "lowrank")
    with pytest.raises(ValueError, match="unknown model"):
        as_model_input(S, "nmf")


def test_parse_shape():
    assert parse_shape("3,4") == (3, 4) and parse_shape("3x4") == (3, 4)
    assert parse_shape(None) is None
    for bad in ("3", "a,b", "0,4", "1,2,3"):
        with pytest.raises(ValueError):
            parse_shape(bad)


def test_write_json_and_save_factors(tmp_path):
    p = write_json(tmp_path / "x.json", {"a": math.inf, "b": [np.float64(1.5), np.nan],
                                         "c": np.arange(2), "d": np.bool_(True)})
    assert json.loads(p.read_text()) == {"a": None, "b": [1.5, None], "c": [0, 1], "d": True}
    paths = save_factors(tmp_path / "f", [np.ones((3, 2)), np.zeros((4, 2))])
    assert [q.name for q in paths] == ["U.npy", "V.npy"]
    assert np.load(paths[1]).shape == (4, 2)


# ------------------------------------------------------------------------------------------
# plotting
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    Y, _, _ = low_rank_plus_noise(40, 30, 3, noise=0.1, seed=0)
    return hf.LowRankApproximation(lam=2.0).fit(Y), Y


def test_plot_convergence(fitted, tmp_path):
    from matplotlib.figure import Figure

    model, _ = fitted
    fig = plot_convergence(model.history_, path=tmp_path / "c.png", tol=1e-6, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # two panels, each with a rank twin
    assert (tmp_path / "c.png").read_bytes()[:4] == PNG
    fig = plot_convergence(model, x="time")  # an estimator works too
    assert len(fig.axes) == 2
    # drawing into a given axes
    fig2 = Figure()
    ax = fig2.add_subplot()
    assert plot_convergence(model.history_, ax=ax) is fig2


def test_plot_convergence_handles_nonfinite_and_bad_input(tmp_path):
    history = [
        {"iteration": 1, "rank": 0, "relative_gap": None, "status": "unverified", "elapsed": 0.1},
        {"iteration": 2, "rank": 2, "relative_gap": math.inf, "status": "not_optimal",
         "elapsed": 0.2},
        {"iteration": 3, "rank": 2, "relative_gap": 0.0, "status": "global", "elapsed": 0.3},
    ]
    plot_convergence(history, path=tmp_path / "n.png")
    assert (tmp_path / "n.png").is_file()
    with pytest.raises(ValueError, match="empty"):
        plot_convergence([])
    with pytest.raises(ValueError, match="relative_gap"):
        plot_convergence([{"rank": 1}])
    with pytest.raises(ValueError, match="x must be"):
        plot_convergence(history, x="rank")


def test_plot_path(fitted, tmp_path):
    _, Y = fitted
    res = hf.regularization_path(Y, "low_rank", n_lams=4, lam_min_ratio=0.1)
    fig = plot_path(res, path=tmp_path / "p.pdf", title="path")
    assert (tmp_path / "p.pdf").read_bytes()[:4] == b"%PDF"
    assert len(fig.axes) == 3
    from matplotlib.figure import Figure

    fig2 = Figure()
    assert plot_path(res, ax=fig2.add_subplot()) is fig2


def test_plot_completion_examples(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((3, 16))
    mask = rng.random((3, 16)) < 0.5
    fig = plot_completion_examples(X, mask, X * 0.9, image_shape=(4, 4),
                                   path=tmp_path / "e.png")
    assert len(fig.axes) == 9 and (tmp_path / "e.png").is_file()
    with pytest.raises(ValueError, match="image_shape"):
        plot_completion_examples(X, mask, X, image_shape=(3, 3))
