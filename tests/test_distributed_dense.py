"""Distributed dense low-rank approximation through the unchanged core loop (issue 13).

One module-scoped ``LocalCluster`` (conftest ``dask_client``: 2 worker processes, 1 thread
each).  Checks: the blocking rule; the output protocol of :class:`DenseBlocks` against NumPy;
every method of :class:`DaskBilinear` against :class:`homfact.maps.Bilinear`; the Gram matrix
and its rounding contract; the ALS sweeps against :func:`homfact.solvers.als.als_dense`; a
bounded graph over sweeps; ``LowRankApproximation().fit(dask_array)`` against the one-machine
fit (tall and wide, numeric and automatic ``λ``, debiasing); clear errors for bad input;
checkpoint and resume.
"""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from conftest import svt  # noqa: E402

import homfact as hf  # noqa: E402
from homfact.distributed.dense import (  # noqa: E402
    DaskBilinear,
    DenseBlockOperator,
    DenseBlocks,
    als_dense_blocks,
    plan_row_blocks,
)
from homfact.distributed.dense_problem import (  # noqa: E402
    distributed_low_rank_problem,
    noise_level,
)
from homfact.gauges import L2  # noqa: E402
from homfact.losses import SquaredLoss, _vdot  # noqa: E402
from homfact.maps import Bilinear  # noqa: E402
from homfact.meta import Problem, grow  # noqa: E402
from homfact.noise import estimate_noise_level  # noqa: E402
from homfact.solvers.als import als_dense  # noqa: E402

M, N, RANK, NOISE, LAM = 2000, 200, 5, 0.1, 20.0


def _low_rank(seed: int, m: int = M, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, RANK)) @ rng.standard_normal((RANK, n))
            + NOISE * rng.standard_normal((m, n)))


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _n_tasks(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def Y0() -> np.ndarray:
    return _low_rank(0)


@pytest.fixture(scope="module")
def data0(client, Y0) -> DenseBlocks:
    return DenseBlocks.from_numpy(Y0, n_blocks=3, client=client)


# ---- blocking ---------------------------------------------------------------------------------

def test_plan_row_blocks():
    # fewer chunks than threads: split evenly
    assert plan_row_blocks((1000,), 10, 4) == (250, 250, 250, 250)
    assert plan_row_blocks((3,), 10, 8) == (1, 1, 1)
    # small chunks: merged at chunk edges into max(threads, size/target) groups
    merged = plan_row_blocks((100,) * 100, 100, 2)
    assert merged == (5000, 5000)
    merged = plan_row_blocks((100,) * 100, 100, 2, target_bytes=8 * 100 * 2500)
    assert sum(merged) == 10_000 and len(merged) == 4 and all(r % 100 == 0 for r in merged)
    # chunks at the target size: kept as the user made them
    big = (7000, 9000, 8000)
    assert plan_row_blocks(big, 100, 2, target_bytes=8 * 100 * 7000) == big
    with pytest.raises(ValueError, match="n_threads"):
        plan_row_blocks((10,), 3, 0)


# ---- the output representation -----------------------------------------------------------------

def test_output_protocol_and_fingerprint(client, Y0, data0):
    assert data0.shape == (M, N) and data0.n_blocks == 3
    np.testing.assert_array_equal(data0.to_numpy(), Y0)
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((M, N))
    z = DenseBlocks.from_numpy(Z, n_blocks=3, client=client)
    for got, want in ((data0 + z, Y0 + Z), (data0 - z, Y0 - Z), (-z, -Z), (z * 0.5, Z * 0.5),
                      (2.0 * z, 2.0 * Z), (np.float64(3.0) * z, 3.0 * Z)):
        assert isinstance(got, DenseBlocks) and got.layout == data0.layout
        np.testing.assert_array_equal(got.to_numpy(), want)
    assert _vdot(data0, z) == pytest.approx(float(np.vdot(Y0, Z)), rel=1e-12)
    assert data0.sqnorm == pytest.approx(float(np.vdot(Y0, Y0)), rel=1e-13)
    # the cached ‖Y‖² is what vdot computes, bit for bit
    assert data0.vdot(data0) == (data0 + z * 0.0).vdot(data0 + z * 0.0)
    loss, flat = SquaredLoss(data0), SquaredLoss(Y0)
    assert loss.y is data0 and loss.value(z) == pytest.approx(flat.value(Z), rel=1e-12)
    np.testing.assert_array_equal(data0.zeros_like().to_numpy(), np.zeros((M, N)))
    with pytest.raises(ValueError, match="same shape and row blocks"):
        data0 + DenseBlocks.from_numpy(Z, n_blocks=2, client=client)
    with pytest.raises(TypeError):
        z * "a"
    with pytest.raises(TypeError, match="vdot needs a DenseBlocks"):
        z.vdot(Z)
    # fingerprint: independent of the blocking, sensitive to any one entry
    fp = data0.fingerprint()
    assert fp["shape"] == [M, N]
    other = DenseBlocks.from_dask_array(da.from_array(Y0, chunks=(700, 50)), client=client)
    assert other.n_blocks != data0.n_blocks and other.fingerprint() == fp
    Y2 = Y0.copy()
    Y2[1234, 17] += 1e-12
    assert DenseBlocks.from_numpy(Y2, n_blocks=3, client=client).fingerprint() != fp
    assert DenseBlocks.from_numpy(Y0.T.copy(), client=client).fingerprint() != fp
    other.release()
    assert other.parts == []


# ---- the map and the operator --------------------------------------------------------------

def test_map_methods_equal_bilinear(data0, Y0):
    dmap, ref = DaskBilinear(data0), Bilinear((M, N))
    assert (dmap.n_blocks, dmap.degree, dmap.block_sizes) == (2, 2, (M, N))
    assert isinstance(dmap, hf.interfaces.MapProtocol)
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((M, 4)), rng.standard_normal((N, 4))
    u, v = rng.standard_normal(M), rng.standard_normal(N)
    z = dmap.forward([U, V])
    assert _rel(z.to_numpy(), ref.forward([U, V])) <= 1e-14
    np.testing.assert_array_equal(dmap.forward([U[:, :0], V[:, :0]]).to_numpy(),
                                  np.zeros((M, N)))
    np.testing.assert_array_equal(dmap.atom([u, v]).to_numpy(), ref.atom([u, v]))
    G, g = data0 - z, Y0 - ref.forward([U, V])
    for k in (0, 1):
        assert _rel(dmap.block_gradient(G, [U, V], k), ref.block_gradient(g, [U, V], k)) <= 1e-12
        assert dmap.block_lipschitz([U, V], k) == ref.block_lipschitz([U, V], k)
    assert dmap.atom_inner(G, [u, v]) == pytest.approx(ref.atom_inner(g, [u, v]), rel=1e-12)
    assert dmap.atom_sqnorm([u, v]) == ref.atom_sqnorm([u, v])
    G2 = dmap.subtract_atom(G, 0.3, [u, v])
    assert _rel(G2.to_numpy(), ref.subtract_atom(g.copy(), 0.3, [u, v])) <= 1e-14
    np.testing.assert_array_equal(G.to_numpy(), g)   # G itself is not modified
    # the operator the polar reads
    op = dmap.operator(G)
    assert isinstance(op, DenseBlockOperator) and op.shape == (M, N) and op.nnz == M * N
    x, w = rng.standard_normal(N), rng.standard_normal(M)
    gx = op.matvec(x)
    assert _rel(gx, g @ x) <= 1e-13
    n_red = op.n_reductions
    assert _rel(op.rmatvec(gx), g.T @ (g @ x)) <= 1e-12
    assert op.n_reductions == n_red   # the fused Gram step: no second round trip
    assert _rel(op.rmatvec(w), g.T @ w) <= 1e-12
    assert _rel(op.matmat(V), g @ V) <= 1e-13 and _rel(op.rmatmat(U), g.T @ U) <= 1e-12
    assert op.fro_norm() == pytest.approx(np.linalg.norm(g), rel=1e-12)
    assert op.one_norm() == pytest.approx(np.linalg.norm(g, 1), rel=1e-12)
    assert op.inf_norm() == pytest.approx(np.linalg.norm(g, np.inf), rel=1e-12)
    with pytest.raises(ValueError, match="x must have shape"):
        op.matvec(w)
    with pytest.raises(ValueError, match="factors must have shapes"):
        dmap.forward([U, V[:-1]])
    with pytest.raises(ValueError, match="G has the layout"):
        dmap.atom_inner(DenseBlocks.from_numpy(g, n_blocks=2, client=data0.client), [u, v])
    with pytest.raises(TypeError, match="data must be a DenseBlocks"):
        DaskBilinear(Y0)
    with pytest.raises(ValueError, match="n <= m"):
        DaskBilinear(DenseBlocks.from_numpy(Y0[:50], client=data0.client))


def test_gram_matrix_contract(client, Y0):
    """``(S, fro2, length)``: ``|S − GᵀG| ≤ γ_length·|G|ᵀ|G|`` entrywise against an
    extended-precision Gram, ``fro2`` within ``γ_{2·length·n}``, the length as stated."""
    G = DenseBlocks.from_numpy(Y0, n_blocks=3, client=client)
    S, fro2, length = DenseBlockOperator(G).gram_matrix()
    rows = np.diff(G.layout.bounds)
    assert length == int(rows.max()) + 3
    assert S.shape == (N, N) and _rel(S, Y0.T @ Y0) <= 1e-13
    Yl = Y0.astype(np.longdouble)
    exact = Yl.T @ Yl
    u = np.finfo(float).eps / 2
    gamma = length * u / (1 - length * u)
    A = np.abs(Y0)
    assert np.all(np.abs(S.astype(np.longdouble) - exact) <= gamma * (A.T @ A))
    f_exact = np.sum(Yl * Yl)
    k = 2 * length * N
    assert abs(fro2 - f_exact) <= k * u / (1 - k * u) * f_exact
    # the polar reads it: the deterministic bound brackets the top singular value
    bound = hf.polar.OperatorNuclearPolar()(DenseBlockOperator(G))
    s1 = np.linalg.svd(Y0, compute_uv=False)[0]
    assert bound.lower <= s1 <= bound.upper <= s1 * (1 + 1e-9)   # the roundoff allowance


# ---- the local solver ----------------------------------------------------------------------

def test_als_sweeps_equal_als_dense(data0, Y0):
    rng = np.random.default_rng(3)
    U, V = rng.standard_normal((M, 6)), rng.standard_normal((N, 6))
    lam = 7.0
    one = als_dense(Y0, U, V, lam, max_sweeps=5, tol=0.0)
    dist = als_dense_blocks(data0, U, V, lam, max_sweeps=5, tol=0.0)
    assert dist.n_sweeps == one.n_sweeps == 5
    for a, b in zip(dist.factors, one.factors, strict=True):
        assert _rel(a, b) <= 1e-11
    assert dist.objective == pytest.approx(one.objective, rel=1e-12)
    # the stopping rule: the same sweeps to a relative decrease of 1e-4 (about 30)
    U, V = U[:, :RANK], V[:, :RANK]
    one = als_dense(Y0, U, V, LAM, max_sweeps=200, tol=1e-4)
    dist = als_dense_blocks(data0, U, V, LAM, max_sweeps=200, tol=1e-4)
    assert 5 < dist.n_sweeps == one.n_sweeps < 200
    assert dist.objective == pytest.approx(one.objective, rel=1e-12)
    with pytest.raises(ValueError, match="V must have shape"):
        als_dense_blocks(data0, U, V[:-1], lam)
    with pytest.raises(ValueError, match="lam must be finite"):
        als_dense_blocks(data0, U, V, -1.0)


def test_task_count_bounded_over_sweeps(client, data0):
    """The scheduler's graph holds the blocks plus one sweep, whatever the number of sweeps."""
    rng = np.random.default_rng(4)
    U, V = rng.standard_normal((M, 3)), rng.standard_normal((N, 3))
    B = data0.n_blocks
    gc.collect()
    time.sleep(0.5)
    # what earlier tests left + one sweep's tasks: B row solves, B stats, B − 1 tree tasks,
    # the shipped V; plus slack
    bound = _n_tasks(client) + 3 * B + 8
    counts = []
    for _ in range(10):
        res = als_dense_blocks(data0, U, V, LAM, max_sweeps=1, tol=0.0)
        U, V = res.factors
        deadline = time.monotonic() + 5.0   # releases reach the scheduler asynchronously
        while (n := _n_tasks(client)) > bound and time.monotonic() < deadline:
            time.sleep(0.05)
        counts.append(n)
    assert max(counts) <= bound, counts
    assert counts[-1] <= counts[1] + 2, counts


# ---- the fit ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("seed", "wide"), [(0, False), (1, False), (2, True)])
def test_fit_matches_one_machine(client, seed, wide):
    """``fit(dask_array)`` against the one-machine fit and the closed-form optimum (singular
    value soft-thresholding): objectives to 1e-10, the same rank, status "global" (the Gram
    polar's bound is deterministic); a wide matrix is fitted through its transpose."""
    Y = _low_rank(seed)
    if wide:
        Y = np.ascontiguousarray(Y.T)
    m, n = Y.shape
    one = hf.LowRankApproximation(LAM, tol=1e-10, random_state=0).fit(Y)
    est = hf.LowRankApproximation(LAM, tol=1e-10, random_state=0).fit(
        da.from_array(Y, chunks=(m // 3 + 1, n // 2)))
    c, c1 = est.certificate_, one.certificate_
    P_star = svt(Y, LAM)[3]
    print(f"\n{m}x{n} seed {seed}: rel diff {abs(c.objective - c1.objective) / c1.objective:.1e} "
          f"vs SVT {abs(c.objective - P_star) / P_star:.1e} rank {est.rank_}/{one.rank_} "
          f"iterations {est.n_iter_}/{one.n_iter_}")
    assert c.status == c1.status == "global" and est.stop_reason_ == "certified"
    assert "gram" in c.method
    assert abs(c.objective - c1.objective) <= 1e-10 * abs(c1.objective)
    assert abs(c.objective - P_star) <= 1e-10 * P_star
    assert c.lower_bound <= P_star * (1 + 1e-14)
    assert est.rank_ == one.rank_ == RANK
    assert isinstance(est.U_, np.ndarray) and est.U_.shape == (m, RANK)
    assert est.V_.shape == (n, RANK) and est.n_features_in_ == n
    assert est.lam_ == LAM and est.noise_level_ is None and est.debiased_ is False
    assert _rel(est.U_ @ est.V_.T, one.U_ @ one.V_.T) <= 1e-8
    # codes depend on the signs of the columns of V_; their reconstructions do not
    assert _rel(est.inverse_transform(est.transform(Y[:5])),
                one.inverse_transform(one.transform(Y[:5]))) <= 1e-8


@pytest.mark.parametrize("shape", [(3000, 100), (100, 2500)])
def test_auto_lam_and_debias_match_one_machine(client, shape):
    """``lam="auto"``: the same random submatrix for the noise estimate (a side > 2000 is
    subsampled), hence the same ``noise_level_`` and ``lam_``; the debiased factors agree."""
    m, n = shape
    Y = _low_rank(5, m, n)
    Yd = da.from_array(Y, chunks=(max(m // 4, 1), max(n // 3, 1)))
    assert noise_level(Yd, client=client) == estimate_noise_level(Y)
    one = hf.LowRankApproximation(random_state=0).fit(Y)
    est = hf.LowRankApproximation(random_state=0).fit(Yd)
    assert est.noise_level_ == pytest.approx(one.noise_level_, rel=1e-14)
    assert est.lam_ == pytest.approx(one.lam_, rel=1e-14)
    assert est.rank_ == one.rank_ == RANK
    assert est.debiased_ and one.debiased_
    s, s1 = (np.asarray(e.debias_info_["singular_values"]) for e in (est, one))
    assert _rel(s, s1) <= 1e-10
    assert est.debias_info_["dropped"] == one.debias_info_["dropped"]
    assert est.U_.shape == one.U_.shape and est.V_.shape == one.V_.shape
    assert _rel(est.U_ @ est.V_.T, one.U_ @ one.V_.T) <= 1e-6
    assert _rel(est.certified_U_ @ est.certified_V_.T,
                one.certified_U_ @ one.certified_V_.T) <= 1e-6


def test_bad_input_errors(client):
    good = np.random.default_rng(6).standard_normal((40, 10))
    est = hf.LowRankApproximation(1.0)
    for bad in (np.nan, np.inf, -np.inf):
        Y = good.copy()
        Y[17, 3] = bad
        with pytest.raises(ValueError, match="Y contains NaN or infinite values"):
            est.fit(da.from_array(Y, chunks=(10, 10)))
    with pytest.raises(TypeError, match="Y must hold real numbers, got the complex"):
        est.fit(da.from_array(good.astype(complex), chunks=(10, 10)))
    with pytest.raises(TypeError, match="Y must hold real numbers, got dtype"):
        est.fit(da.from_array(good.astype(str), chunks=(10, 10)))
    with pytest.raises(ValueError, match="Y must be a 2-D array, got 1 dimension"):
        est.fit(da.from_array(good[0], chunks=5))
    with pytest.raises(ValueError, match="Y must be a 2-D array, got 3 dimension"):
        est.fit(da.from_array(good.reshape(4, 10, 10), chunks=2))
    with pytest.raises(ValueError, match="Y is empty"):
        est.fit(da.zeros((0, 5), chunks=1))
    with pytest.raises(ValueError, match="lam='auto' estimates the noise level"):
        hf.LowRankApproximation().fit(da.from_array(good[:1], chunks=(1, 5)))
    with pytest.raises(TypeError, match="lam must be a real number >= 0 or 'auto'"):
        hf.LowRankApproximation(lam="big").fit(da.from_array(good, chunks=(10, 10)))
    import dask.dataframe as dd

    ddf = dd.from_pandas(pd.DataFrame({"row": [0], "col": [0], "value": [1.0]}), npartitions=1)
    with pytest.raises(TypeError, match="use MatrixCompletion"):
        est.fit(ddf)
    # integers are real numbers: converted, as on one machine
    ints = np.arange(40 * 10).reshape(40, 10) % 7
    a = hf.LowRankApproximation(1.0).fit(da.from_array(ints, chunks=(10, 10)))
    b = hf.LowRankApproximation(1.0).fit(ints)
    assert a.rank_ == b.rank_
    assert a.certificate_.objective == pytest.approx(b.certificate_.objective, rel=1e-9)


def test_active_client_lets_the_blocks_errors_through(client):
    """An error raised inside ``with active_client()`` (bad data found by the fit) reaches the
    caller as it is; it is not taken for "no client" (no second LocalCluster, no
    ``RuntimeError: generator didn't stop after throw()``)."""
    from homfact.distributed.problem import active_client

    with pytest.raises(ValueError, match="bad data inside the block"):
        with active_client() as c:
            assert c is distributed.get_client()
            raise ValueError("bad data inside the block")


def test_noise_sample_indices_are_the_estimates_submatrix():
    """The one-machine estimate is the estimate of the submatrix the indices cut out."""
    from homfact.noise import noise_sample_indices

    Y = np.random.default_rng(11).standard_normal((2300, 40))
    rows, cols = noise_sample_indices(Y.shape)
    assert cols is None and rows.shape == (2000,) and np.all(np.diff(rows) > 0)
    assert estimate_noise_level(Y) == estimate_noise_level(Y[rows])
    assert noise_sample_indices((5, 5)) == (None, None)


def test_local_solver_requirement(client, data0, Y0):
    other = DenseBlocks.from_numpy(Y0, n_blocks=3, client=client)
    with pytest.raises(ValueError, match="dask-als-dense needs"):
        Problem(SquaredLoss(other), DaskBilinear(data0), (L2(), L2()), 1.0,
                local_solver="dask-als-dense")
    with pytest.raises(ValueError, match="data must be the data matrix"):
        distributed_low_rank_problem(data0 * 1.0, 1.0)


def test_checkpoint_resume_distributed(client, data0, Y0, tmp_path):
    """Stopped after 2 outer iterations and resumed: the same iterations and factors as an
    uninterrupted fit; a checkpoint of other data is refused (the data's hash)."""
    # one atom per iteration (block_size=1), so the fit takes several outer iterations
    opts = dict(tol=1e-8, random_state=1, max_iter=8, block_size=1)
    full = grow(distributed_low_rank_problem(data0, LAM), **opts)
    assert full.stop_reason == "certified" and full.n_iter > 2
    path = tmp_path / "ck.npz"
    part = grow(distributed_low_rank_problem(data0, LAM), **{**opts, "max_iter": 2},
                checkpoint=path)
    assert part.stop_reason == "max_iter" and path.exists()
    rest = grow(distributed_low_rank_problem(data0, LAM), **opts, checkpoint=path, resume=True)
    assert rest.resumed_from == 2 and rest.stop_reason == full.stop_reason
    assert [h["sweeps"] for h in rest.history] == [h["sweeps"] for h in full.history]
    np.testing.assert_array_equal(rest.factors[0], full.factors[0])
    assert rest.certificate.objective == full.certificate.objective
    # another blocking of the same data resumes too; other data is refused
    again = DenseBlocks.from_numpy(Y0, n_blocks=2, client=client)
    grow(distributed_low_rank_problem(again, LAM), **opts, checkpoint=path, resume=True)
    Y2 = Y0.copy()
    Y2[3, 4] += 1e-9
    changed = DenseBlocks.from_numpy(Y2, n_blocks=3, client=client)
    with pytest.raises(ValueError, match="different problem"):
        grow(distributed_low_rank_problem(changed, LAM), **opts, checkpoint=path, resume=True)
    # through the estimator: a finished fit resumes as it stands
    Yd = da.from_array(Y0, chunks=(500, 200))
    ck = tmp_path / "est.npz"
    est = hf.LowRankApproximation(LAM, random_state=0, checkpoint=ck).fit(Yd)
    back = hf.LowRankApproximation(LAM, random_state=0, checkpoint=ck, resume=True).fit(Yd)
    assert back.resumed_from_ == est.n_iter_ and back.stop_reason_ == "certified"
    np.testing.assert_array_equal(back.U_, est.U_)
