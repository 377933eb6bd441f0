"""homfact.distributed: block partition, readers, exact ALS sweeps, residual products, recovery.

One module-scoped ``LocalCluster`` (2 worker processes, 1 thread each); problems of 10⁴ × 10³
with 5·10⁴ entries.  The worker-loss test runs last (it kills a worker; its nanny restarts it).
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from conftest import low_rank_triplets  # noqa: E402

from homfact.distributed import (  # noqa: E402
    BlockedEntries,
    exact_sweep,
    half_sweep,
    read_triplets,
    residual,
)
from homfact.maps import MaskedBilinear  # noqa: E402
from homfact.solvers.als import als_masked  # noqa: E402

M, N, NNZ, RANK, LAM = 10_000, 1_000, 50_000, 4, 1.5


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def data():
    """Low rank + noise observed on NNZ random entries (unique), as triplets."""
    rng = np.random.default_rng(0)
    rows, cols, vals = low_rank_triplets(rng, M, N, NNZ)
    U0, V0 = rng.standard_normal((M, RANK)), rng.standard_normal((N, RANK))
    return rows, cols, vals, U0, V0


@pytest.fixture(scope="module")
def entries(client, data):
    rows, cols, vals, _, _ = data
    return BlockedEntries.from_triplets(rows, cols, vals, (M, N), n_blocks=4, client=client)


def _single_machine(rows, cols, vals, shape, U, V, lam, sweeps=1):
    Y = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    Y.sort_indices()
    coo = Y.tocoo()
    mapping = MaskedBilinear(shape, coo.row, coo.col)
    res = als_masked(mapping, coo.data, U, V, lam, method="exact", max_sweeps=sweeps, tol=0.0)
    U1, V1 = res.factors
    R = sp.csr_matrix((coo.data - mapping.forward([U1, V1]), (coo.row, coo.col)), shape=shape)
    return res, R


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _sorted(rows, cols, vals):
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], vals[order]


def _n_tasks(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


# ---- partition ------------------------------------------------------------------------------

def test_partition_round_trip(client, entries, data):
    rows, cols, vals, _, _ = data
    want = _sorted(rows, cols, vals)
    for side in ("rows", "cols"):   # every entry exactly once on each side
        got = entries.to_triplets(side)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    B = entries.n_blocks
    blocks = client.gather(entries.blocks["rows"])
    for b, blk in enumerate(blocks):   # hashing: global row = b + B·local row
        r, c, _ = blk.triplets()
        assert np.all(r % B == b) and blk.n_rows == len(range(b, M, B))
        # compact ids grouped by column block, ascending within a group
        seg = np.diff(blk.ref_ptr)
        np.testing.assert_array_equal(blk.ref_cols % B, np.repeat(np.arange(B), seg))
        np.testing.assert_array_equal(entries.referenced(b), np.unique(c)[np.argsort(
            np.unique(c) % B, kind="stable")])
    assert entries.nnz == NNZ and entries.shape == (M, N)
    assert entries.ref_counts["rows"].shape == (B, B)
    assert entries.factor_rows_per_sweep() == (entries.ref_counts["rows"].sum()
                                               + entries.ref_counts["cols"].sum())


def test_from_scipy_and_validation(client, data):
    rows, cols, vals, _, _ = data
    k = 2000
    Y = sp.coo_matrix((vals[:k], (rows[:k], cols[:k])), shape=(M, N))
    E = BlockedEntries.from_scipy(Y, n_blocks=3, client=client)
    for g, w in zip(E.to_triplets(), _sorted(rows[:k], cols[:k], vals[:k]), strict=True):
        np.testing.assert_array_equal(g, w)
    r, c, v = np.array([0, 1]), np.array([0, 2]), np.array([1.0, 2.0])
    f = BlockedEntries.from_triplets
    with pytest.raises(ValueError, match="rows has negative"):
        f(np.array([-1, 1]), c, v, client=client)
    with pytest.raises(ValueError, match="cols has ids outside"):
        f(r, c, v, (2, 2), client=client)
    with pytest.raises(ValueError, match="values has NaN"):
        f(r, c, np.array([1.0, np.inf]), client=client)
    with pytest.raises(TypeError, match="rows must hold integer"):
        f(r.astype(float), c, v, client=client)
    with pytest.raises(TypeError, match="n_blocks"):
        f(r, c, v, n_blocks=2.0, client=client)
    with pytest.raises(ValueError, match="n_blocks"):
        f(r, c, v, n_blocks=0, client=client)
    with pytest.raises(ValueError, match="shape"):
        f(r, c, v, (0, 3), client=client)
    with pytest.raises(ValueError, match="duplicate entries"):
        f(np.array([1, 1]), np.array([2, 2]), v, client=client)
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        BlockedEntries.from_scipy(np.eye(2), client=client)


def test_dataframe_and_file_readers(client, data, tmp_path):
    import dask.dataframe as dd

    rows, cols, vals, _, _ = data
    k = 5000
    df = pd.DataFrame({"row": rows[:k], "col": cols[:k], "value": vals[:k]})
    want = _sorted(rows[:k], cols[:k], vals[:k])
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    built = [BlockedEntries.from_dask_dataframe(dd.from_pandas(df, npartitions=3), (M, N),
                                                n_blocks=3, client=client),
             read_triplets(tmp_path / "t.parquet", n_blocks=2, client=client),
             read_triplets(tmp_path / "t.csv", n_blocks=4, client=client)]
    for E in built:
        for side in ("rows", "cols"):
            got = E.to_triplets(side)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            np.testing.assert_allclose(got[2], want[2], rtol=1e-15)  # CSV round trip
    assert built[1].shape == (int(rows[:k].max()) + 1, int(cols[:k].max()) + 1)  # inferred
    bad = dd.from_pandas(df.rename(columns={"value": "v"}), npartitions=2)
    with pytest.raises(ValueError, match=r"missing the column\(s\) \['value'\]"):
        BlockedEntries.from_dask_dataframe(bad, client=client)
    neg = df.assign(row=df["row"] - 10)
    with pytest.raises(ValueError, match="column 'row' has negative"):
        BlockedEntries.from_dask_dataframe(dd.from_pandas(neg, npartitions=2), client=client)
    with pytest.raises(ValueError, match="column 'col' has ids outside"):
        BlockedEntries.from_dask_dataframe(dd.from_pandas(df, npartitions=2), (M, 10),
                                           client=client)
    nan = df.assign(value=df["value"].where(df.index != 7))
    with pytest.raises(ValueError, match="column 'value' has NaN"):
        BlockedEntries.from_dask_dataframe(dd.from_pandas(nan, npartitions=2), client=client)
    dup = pd.concat([df.iloc[:10], df.iloc[:1]])
    with pytest.raises(ValueError, match="duplicate entries"):
        BlockedEntries.from_dask_dataframe(dd.from_pandas(dup, npartitions=2), client=client)
    with pytest.raises(TypeError, match="column 'row' of ddf must hold integer"):
        BlockedEntries.from_dask_dataframe(
            dd.from_pandas(df.astype({"row": float}), npartitions=2), client=client)
    with pytest.raises(ValueError, match="format must be"):
        read_triplets(tmp_path / "t.csv", format="json", client=client)


# ---- sweeps ---------------------------------------------------------------------------------

def test_sweep_equals_single_machine(entries, data):
    rows, cols, vals, U0, V0 = data
    ref, R_ref = _single_machine(rows, cols, vals, (M, N), U0, V0, LAM)
    out = exact_sweep(entries, U0, V0, LAM)
    assert _rel(out.U, ref.factors[0]) <= 1e-12
    assert _rel(out.V, ref.factors[1]) <= 1e-12
    assert abs(out.objective - ref.objective) <= 1e-12 * abs(ref.objective)
    assert abs(out.residual.to_scipy() - R_ref).max() <= 1e-12 * abs(R_ref).max()
    with pytest.raises(ValueError, match="V must have shape"):
        half_sweep(entries, "rows", V0[:-1], LAM)
    with pytest.raises(ValueError, match="lam must be"):
        exact_sweep(entries, U0, V0, -1.0)
    with pytest.raises(ValueError, match="side must be"):
        half_sweep(entries, "diag", V0, LAM)


def test_sweep_with_empty_blocks_and_rows(client):
    """More blocks than rows/cols, an unobserved row and λ = 0 (the 1e-12 ridge)."""
    rows, cols, vals = np.array([0, 0, 2, 2]), np.array([0, 1, 1, 4]), np.arange(1.0, 5.0)
    E = BlockedEntries.from_triplets(rows, cols, vals, (4, 5), n_blocks=6, client=client)
    rng = np.random.default_rng(1)
    U0, V0 = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    for lam in (0.0, 0.5):
        ref, _ = _single_machine(rows, cols, vals, (4, 5), U0, V0, lam)
        out = exact_sweep(E, U0, V0, lam)
        assert _rel(out.U, ref.factors[0]) <= 1e-12 and _rel(out.V, ref.factors[1]) <= 1e-12


def test_products_and_norms_equal_scipy(entries, data):
    rows, cols, vals, U0, V0 = data
    out = exact_sweep(entries, U0, V0, LAM)
    _, R = _single_machine(rows, cols, vals, (M, N), U0, V0, LAM)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(N), rng.standard_normal(M)
    sigma = spla.svds(R, k=1, return_singular_vectors=False)[0]
    for res in (out.residual, residual(entries, out.U, out.V, "rows")):
        assert _rel(res.matvec(x), R @ x) <= 1e-12
        assert _rel(res.rmatvec(y), R.T @ y) <= 1e-12
        assert _rel(res.rtr_matvec(x), R.T @ (R @ x)) <= 1e-12
        assert _rel(res.rrt_matvec(y), R @ (R.T @ y)) <= 1e-12
        assert res.sq_frobenius() == pytest.approx(spla.norm(R) ** 2, rel=1e-12)
        assert res.norm_1() == pytest.approx(spla.norm(R, 1), rel=1e-12)
        assert res.norm_inf() == pytest.approx(spla.norm(R, np.inf), rel=1e-12)
        assert res.sigma_max_upper() >= sigma
    # the formed Gram (row blocks: RᵀR, n × n) and its rounding count
    S, fro2, length = residual(entries, out.U, out.V, "rows").gram_matrix()
    assert _rel(S, (R.T @ R).toarray()) <= 1e-12
    assert fro2 == pytest.approx(spla.norm(R) ** 2, rel=1e-12) and length == M + 4
    with pytest.raises(ValueError, match="x must have shape"):
        out.residual.matvec(y)


def test_task_count_bounded_over_sweeps(client, entries, data):
    """The scheduler's graph holds the blocks plus one sweep, whatever the number of sweeps."""
    _, _, _, U, V = data
    B = entries.n_blocks
    gc.collect()
    time.sleep(0.5)
    # what the earlier tests left (at least this module's blocks) + the graph behind one
    # sweep's residual: B roots, <= 2B² extractions, 2B solves; plus slack
    bound = _n_tasks(client) + (B + 2 * B * B + 2 * B) + 8
    counts = []
    out = None
    for _ in range(10):
        out = exact_sweep(entries, U, V, LAM)
        U, V = out.U, out.V
        deadline = time.monotonic() + 5.0   # releases reach the scheduler asynchronously
        while (n := _n_tasks(client)) > bound and time.monotonic() < deadline:
            time.sleep(0.05)
        counts.append(n)
    assert max(counts) <= bound, counts
    assert counts[-1] <= counts[1] + 2, counts


def test_worker_killed_mid_sweep_gives_same_result(client, data):
    """SIGKILL the worker holding most blocks while a sweep runs: the lost blocks and factor
    pieces are recomputed from their recipes and the sweep returns the same numbers."""
    rows, cols, vals, U0, V0 = data
    E = BlockedEntries.from_triplets(rows, cols, vals, (M, N), n_blocks=4, client=client)
    ref = exact_sweep(E, U0, V0, LAM)
    who = client.who_has(E.blocks["rows"] + E.blocks["cols"])
    holders = [w for ws in who.values() for w in ws]
    victim = max(set(holders), key=holders.count)
    pid = client.run(os.getpid, workers=[victim])[victim]
    baseline = _n_tasks(client)
    result = {}

    def run():
        result["out"] = exact_sweep(E, U0, V0, LAM)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 10.0
    while _n_tasks(client) <= baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.005)   # wait until the sweep's tasks are on the scheduler
    in_flight = t.is_alive()
    os.kill(pid, signal.SIGKILL)
    t.join(timeout=120)
    assert in_flight and not t.is_alive()
    out = result["out"]
    assert _rel(out.U, ref.U) <= 1e-12 and _rel(out.V, ref.V) <= 1e-12
    assert abs(out.objective - ref.objective) <= 1e-12 * abs(ref.objective)
    client.wait_for_workers(2, timeout=60)   # the nanny restarted the killed worker
    assert pid not in client.run(os.getpid).values()
