"""Distributed certified matrix completion through the unchanged core loop (issue 13).

One module-scoped ``LocalCluster`` (2 worker processes, 1 thread each).  Checks: every method
of :class:`DaskMaskedBilinear` against :class:`MaskedBilinear` on the same data; the output
protocol of :class:`BlockVector`; the distributed fit against the single-machine fit (the same
algorithm with the same operator polar, 10⁴ × 10³; and the certified optimum of the default
single-machine :class:`homfact.MatrixCompletion`, through ``fit(dask_dataframe)``);
checkpoint and resume.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from conftest import low_rank_triplets  # noqa: E402

import homfact as hf  # noqa: E402
from homfact.distributed import (  # noqa: E402
    BlockedEntries,
    BlockOperator,
    BlockVector,
    DaskMaskedBilinear,
    distributed_completion_problem,
)
from homfact.losses import SquaredLoss, _vdot  # noqa: E402
from homfact.maps import MaskedBilinear  # noqa: E402
from homfact.meta import grow  # noqa: E402
from homfact.polar import OperatorNuclearPolar  # noqa: E402
from homfact.problems import completion_problem  # noqa: E402

M, N, NNZ = 10_000, 1_000, 50_000
#: the certified comparison: few columns, so Lanczos spans the whole Gram space (k = d) and
#: its bound is exact up to rounding
M_SMALL, N_SMALL, NNZ_SMALL, LAM_SMALL = 4_000, 30, 24_000, 12.0


def _low_rank(m, n, nnz, seed):
    return low_rank_triplets(np.random.default_rng(seed), m, n, nnz)


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def data():
    return _low_rank(M, N, NNZ, 0)


@pytest.fixture(scope="module")
def single(data):
    """The single-machine map and data vector (CSR order)."""
    rows, cols, vals = data
    Y = sp.csr_matrix((vals, (rows, cols)), shape=(M, N))
    Y.sort_indices()
    coo = Y.tocoo()
    return MaskedBilinear((M, N), coo.row, coo.col), coo.data


@pytest.fixture(scope="module")
def entries(client, data):
    rows, cols, vals = data
    return BlockedEntries.from_triplets(rows, cols, vals, (M, N), n_blocks=3, client=client)


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ---- the map and the output protocol --------------------------------------------------------

@pytest.mark.parametrize("layout", ["rows", "cols"])
def test_map_methods_equal_masked_bilinear(entries, single, layout):
    ref, y = single
    dmap = DaskMaskedBilinear(entries, layout)
    assert (dmap.n_blocks, dmap.degree, dmap.block_sizes) == (2, 2, (M, N))
    assert isinstance(dmap, hf.interfaces.MapProtocol)
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((M, 4)), rng.standard_normal((N, 4))
    u, v = rng.standard_normal(M), rng.standard_normal(N)
    z = dmap.forward([U, V])
    assert _rel(z.to_numpy(), ref.forward([U, V])) <= 1e-14
    np.testing.assert_array_equal(dmap.forward([U[:, :0], V[:, :0]]).to_numpy(), np.zeros(NNZ))
    assert _rel(dmap.atom([u, v]).to_numpy(), ref.atom([u, v])) == 0.0
    G = dmap.data() - z
    g = y - ref.forward([U, V])
    for k in (0, 1):
        assert _rel(dmap.block_gradient(G, [U, V], k), ref.block_gradient(g, [U, V], k)) <= 1e-12
        assert dmap.block_lipschitz([U, V], k) == ref.block_lipschitz([U, V], k)
    assert dmap.atom_inner(G, [u, v]) == pytest.approx(ref.atom_inner(g, [u, v]), rel=1e-12)
    assert dmap.atom_sqnorm([u, v]) == pytest.approx(ref.atom_sqnorm([u, v]), rel=1e-12)
    assert _rel(dmap.subtract_atom(G, 0.3, [u, v]).to_numpy(),
                ref.subtract_atom(g.copy(), 0.3, [u, v])) <= 1e-14
    # the operator the polar reads: products, fused Gram step, exact norms
    op, A = dmap.operator(G), ref.operator(g)
    assert isinstance(op, BlockOperator) and op.shape == (M, N) and op.nnz == NNZ
    x, w = rng.standard_normal(N), rng.standard_normal(M)
    gx = op.matvec(x) if layout == "rows" else op.rmatvec(w)
    assert _rel(op.rmatvec(gx) if layout == "rows" else op.matvec(gx),
                A.T @ (A @ x) if layout == "rows" else A @ (A.T @ w)) <= 1e-12
    assert _rel(op.matvec(x), A @ x) <= 1e-12 and _rel(op.rmatvec(w), A.T @ w) <= 1e-12
    assert op.fro_norm() == pytest.approx(sp.linalg.norm(A), rel=1e-12)
    assert op.one_norm() == pytest.approx(sp.linalg.norm(A, 1), rel=1e-12)
    assert op.inf_norm() == pytest.approx(sp.linalg.norm(A, np.inf), rel=1e-12)
    with pytest.raises(ValueError, match="x must have shape"):
        op.matvec(w)
    with pytest.raises(ValueError, match="factors must have shapes"):
        dmap.forward([U, V[:-1]])
    with pytest.raises(TypeError, match="entries must be a BlockedEntries"):
        DaskMaskedBilinear(U)


def test_tree_and_client_reductions_agree(entries, monkeypatch):
    """Reductions as a tree of tasks (large pieces) and summed on the client (small ones) pair
    the blocks alike: the same numbers, bit for bit."""
    import homfact.distributed.maps as dmaps

    dmap = DaskMaskedBilinear(entries)
    G = dmap.data()
    rng = np.random.default_rng(4)
    x, w, U = rng.standard_normal(N), rng.standard_normal(M), rng.standard_normal((M, 3))

    def products():
        op = dmap.operator(G)
        gx = op.matvec(x)
        return [gx, op.rmatvec(gx), op.rmatvec(w), op.rmatmat(U), np.array([op.one_norm()])]

    small = products()
    monkeypatch.setattr(dmaps, "GATHER_FLOATS", 0)
    for a, b in zip(products(), small, strict=True):
        np.testing.assert_array_equal(a, b)


def test_output_protocol_and_fingerprint(client, entries, single, data):
    ref, y = single
    dmap = DaskMaskedBilinear(entries)
    rng = np.random.default_rng(2)
    U, V = rng.standard_normal((M, 2)), rng.standard_normal((N, 2))
    Yd, z = dmap.data(), dmap.forward([U, V])
    zf = ref.forward([U, V])
    np.testing.assert_array_equal(Yd.to_numpy(), y)
    for got, want in ((Yd + z, y + zf), (Yd - z, y - zf), (-z, -zf), (z * 0.5, zf * 0.5),
                      (2.0 * z, 2.0 * zf), (np.float64(3.0) * z, 3.0 * zf)):
        assert isinstance(got, BlockVector) and _rel(got.to_numpy(), want) == 0.0
    assert _vdot(Yd, z) == pytest.approx(float(y @ zf), rel=1e-12)
    loss, flat = SquaredLoss(Yd), SquaredLoss(y)
    assert loss.y is Yd and loss.value(z) == pytest.approx(flat.value(zf), rel=1e-12)
    with pytest.raises(ValueError, match="same entries and layout"):
        Yd + DaskMaskedBilinear(entries, "cols").data()
    with pytest.raises(TypeError):
        Yd * "a"
    # fingerprint: independent of the blocking, sensitive to one value and to the pattern
    rows, cols, vals = data
    other = BlockedEntries.from_triplets(rows, cols, vals, (M, N), n_blocks=2, client=client)
    assert DaskMaskedBilinear(other, "cols").data().fingerprint() == Yd.fingerprint()
    assert DaskMaskedBilinear(other).fingerprint() == dmap.fingerprint()
    vals2 = vals.copy()
    vals2[17] += 1e-12
    changed = BlockedEntries.from_triplets(rows, cols, vals2, (M, N), n_blocks=2, client=client)
    assert DaskMaskedBilinear(changed).data().fingerprint() != Yd.fingerprint()
    moved = BlockedEntries.from_triplets(rows, (cols + 1) % N, vals, (M, N), n_blocks=2,
                                         client=client)
    assert DaskMaskedBilinear(moved).fingerprint() != dmap.fingerprint()


# ---- the fit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["gram", "lanczos"])
def test_distributed_grow_equals_single_machine_same_polar(entries, data, path):
    """The same algorithm on one machine and on the cluster (exact ALS, the operator polar with
    the same seed): the same iterations, objective, rank and (deterministic) status.

    ``"gram"`` (the default, ``d = 10³ ≤ gram_max_dim``): the Gram ``GᵀG`` summed on the
    workers against scipy's on one machine, a tight deterministic bound, status ``"global"``;
    ``"lanczos"`` (``gram_max_dim=0``, 20 steps): only ``min(‖G‖_F, √(‖G‖₁‖G‖_∞))`` is
    deterministic and it is loose here, status ``"unverified"`` on both."""
    rows, cols, vals = data
    lam, k = 20.0, 20
    opts = {"n_steps": k} if path == "gram" else {"n_steps": k, "gram_max_dim": 0}
    t0 = time.perf_counter()
    dist = grow(distributed_completion_problem(entries, lam, polar=OperatorNuclearPolar(
        **opts)), tol=1e-6, random_state=0, max_iter=30)
    t_dist = time.perf_counter() - t0
    Y = sp.csr_matrix((vals, (rows, cols)), shape=(M, N))
    t0 = time.perf_counter()
    one = grow(completion_problem(Y, lam, local_solver="als-exact",
                                  polar=OperatorNuclearPolar(**opts)),
               tol=1e-6, random_state=0, max_iter=30)
    t_one = time.perf_counter() - t0
    c, c1 = dist.certificate, one.certificate
    print(f"\n10^4x10^3 same polar ({path}): rel diff "
          f"{abs(c.objective - c1.objective) / c1.objective:.2e} rank {dist.rank}/{one.rank} "
          f"status {c.status}/{c1.status} gap {c.relative_gap:.1e}/{c1.relative_gap:.1e} "
          f"time {t_dist:.1f}s/{t_one:.1f}s iterations {dist.n_iter}/{one.n_iter}")
    assert abs(c.objective - c1.objective) <= 1e-10 * abs(c1.objective)
    assert dist.rank == one.rank >= 3
    if path == "gram":
        assert c.status == c1.status == "global" and c.relative_gap <= 1e-6
        assert "summed on the workers" in c.method and "gram(" in c1.method
    else:
        assert c.status == c1.status == "unverified"   # min(fro, sqrt(one*inf)) is loose
    assert dist.stop_reason == one.stop_reason and dist.n_iter == one.n_iter
    assert c.lower_bound == pytest.approx(c1.lower_bound, rel=1e-9)
    for a, b in zip(dist.history, one.history, strict=True):
        assert a["rank"] == b["rank"] and a["sweeps"] == b["sweeps"]


@pytest.fixture(scope="module")
def small():
    rows, cols, vals = _low_rank(M_SMALL, N_SMALL, NNZ_SMALL, 3)
    return rows, cols, vals, pd.DataFrame({"row": rows, "col": cols, "value": vals})


def test_estimator_on_dask_dataframe_matches_single_machine_optimum(client, small, tmp_path):
    """``MatrixCompletion().fit(ddf)`` on the cluster against the default one-machine fit
    (exact nuclear polar, status "global"): with a tight tol both certificates pin the
    optimum, so the objectives agree to 1e-10 and the ranks are equal.  ``d = 30``: the
    cluster's polar forms the Gram on the workers, a deterministic bound, so the status is
    ``"global"`` although the probabilistic opt-in is on (it is not needed)."""
    import dask.dataframe as dd

    rows, cols, vals, df = small
    tol = 1e-10
    Y = sp.csr_matrix((vals, (rows, cols)), shape=(M_SMALL, N_SMALL))
    t0 = time.perf_counter()
    one = hf.MatrixCompletion(LAM_SMALL, tol=tol, random_state=0).fit(Y)
    t_one = time.perf_counter() - t0
    ddf = dd.from_pandas(df, npartitions=4)
    t0 = time.perf_counter()
    est = hf.MatrixCompletion(LAM_SMALL, tol=tol, random_state=0, allow_probabilistic=True,
                              checkpoint=tmp_path / "fit.npz").fit(ddf)
    t_dist = time.perf_counter() - t0
    c, c1 = est.certificate_, one.certificate_
    print(f"\n{M_SMALL}x{N_SMALL} vs default one-machine fit: rel diff "
          f"{abs(c.objective - c1.objective) / c1.objective:.2e} rank {est.rank_}/{one.rank_} "
          f"status {c.status}/{c1.status} gap {c.relative_gap:.1e}/"
          f"{c1.relative_gap:.1e} time {t_dist:.1f}s/{t_one:.1f}s")
    assert c1.status == "global"
    assert c.status == "global" and c.is_global and "summed on the workers" in c.method
    assert c.relative_gap <= tol and est.stop_reason_ == "certified"
    assert abs(c.objective - c1.objective) <= 1e-10 * abs(c1.objective)
    assert est.rank_ == one.rank_ >= 3
    # the deterministic lower bound stays valid
    assert c.lower_bound <= c1.objective * (1 + 1e-12)
    # the fitted attributes of the one-machine fit
    assert est.shape_ == (M_SMALL, N_SMALL) and isinstance(est.U_, np.ndarray)
    assert est.U_.shape == (M_SMALL, est.rank_) and est.V_.shape == (N_SMALL, est.rank_)
    assert est.n_iter_ == len(est.history_) and est.resumed_from_ == 0
    r, q = np.array([0, 5, 7]), np.array([1, 2, 29])
    np.testing.assert_allclose(est.predict(r, q), one.predict(r, q), rtol=1e-4, atol=1e-6)
    # resuming the finished fit returns it as it stands, its certificate recomputed
    again = hf.MatrixCompletion(LAM_SMALL, tol=tol, random_state=0, allow_probabilistic=True,
                                checkpoint=tmp_path / "fit.npz", resume=True).fit(ddf)
    assert again.resumed_from_ == est.n_iter_ and again.stop_reason_ == "certified"
    np.testing.assert_array_equal(again.U_, est.U_)
    with pytest.raises(ValueError, match="local_solver must be 'auto' or 'als-exact'"):
        hf.MatrixCompletion(LAM_SMALL, local_solver="als").fit(ddf)


def test_checkpoint_resume_distributed(client, small, tmp_path):
    """Stopped after 2 outer iterations and resumed: the same iterations and factors as an
    uninterrupted fit; a checkpoint of other data is refused (fingerprint of the distributed
    data).  The Lanczos path (``gram_max_dim=0``), deterministic bound only: with
    ``allow_probabilistic=True`` the core loop saves
    ``prev_gap`` as the deterministic gap where it steers by the probabilistic one
    (homfact.meta.grow, the max_iter/time_limit checkpoint), and a resumed fit can differ."""
    rows, cols, vals, _ = small
    E = BlockedEntries.from_triplets(rows, cols, vals, (M_SMALL, N_SMALL), client=client)

    def problem(entries):
        return distributed_completion_problem(entries, LAM_SMALL,
                                              polar=OperatorNuclearPolar(n_steps=10,
                                                                         gram_max_dim=0))

    opts = dict(tol=1e-6, random_state=1, max_iter=5)
    full = grow(problem(E), **opts)
    path = tmp_path / "ck.npz"
    part = grow(problem(E), **{**opts, "max_iter": 2}, checkpoint=path)
    assert part.stop_reason == "max_iter" and path.exists()
    rest = grow(problem(E), **opts, checkpoint=path, resume=True)
    assert rest.resumed_from == 2 and rest.stop_reason == full.stop_reason
    assert [h["sweeps"] for h in rest.history] == [h["sweeps"] for h in full.history]
    np.testing.assert_array_equal(rest.factors[0], full.factors[0])
    assert rest.certificate.objective == full.certificate.objective
    vals2 = vals.copy()
    vals2[3] += 1e-9
    other = BlockedEntries.from_triplets(rows, cols, vals2, (M_SMALL, N_SMALL), client=client)
    with pytest.raises(ValueError, match="different problem"):
        grow(problem(other), **opts, checkpoint=path, resume=True)
