"""Nothing lost (issue 13): a worker killed in the middle of a whole distributed fit.

One module-scoped ``LocalCluster`` (2 worker processes, 1 thread each).  The fit
``MatrixCompletion(...).fit(ddf)`` runs in a thread; once it is well into its outer iterations
the worker holding the most keys is killed (SIGKILL; its nanny restarts it), as in
``tests/test_distributed_blocks.py``.  Dask recomputes the lost blocks and pieces from their
recipes (every future is the result of a task, never of ``client.scatter``), so the fit ends
with the result of an undisturbed fit: objective to 1e-10 relative, the same rank, status and
iterations.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from conftest import low_rank_triplets  # noqa: E402

import homfact as hf  # noqa: E402

M, N, NNZ, LAM = 3_000, 30, 18_000, 20.0


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def frame():
    """Rank 3 + noise observed on NNZ distinct entries, as a pandas frame of triplets."""
    rows, cols, vals = low_rank_triplets(np.random.default_rng(5), M, N, NNZ)
    return pd.DataFrame({"row": rows, "col": cols, "value": vals})


def _fit(frame):
    import dask.dataframe as dd

    est = hf.MatrixCompletion(LAM, tol=1e-6, random_state=0, allow_probabilistic=True)
    return est.fit(dd.from_pandas(frame, npartitions=4))


def _victim(client) -> str:
    """The worker holding the most keys (blocks, pieces, factor rows)."""
    held = client.has_what()
    return max(held, key=lambda w: len(held[w]))


def test_worker_killed_mid_fit_gives_same_result(client, frame):
    t0 = time.perf_counter()
    ref = _fit(frame)
    t_ref = time.perf_counter() - t0
    assert ref.n_iter_ >= 3   # the kill below lands after some outer iterations, not in setup

    result: dict = {}

    def run():
        try:
            result["est"] = _fit(frame)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5 * t_ref)   # in the middle of the outer iterations
    in_flight = t.is_alive()
    victim = _victim(client)
    n_keys = len(client.has_what()[victim])
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    t.join(timeout=180)
    assert not t.is_alive()
    if "error" in result:
        raise result["error"]
    est = result["est"]
    c, c0 = est.certificate_, ref.certificate_
    print(f"\nkilled {victim} (pid {pid}, {n_keys} keys) at {0.5 * t_ref:.1f}s of a "
          f"{t_ref:.1f}s fit; rel diff {abs(c.objective - c0.objective) / c0.objective:.1e} "
          f"rank {est.rank_}/{ref.rank_} status {c.status}/{c0.status} "
          f"iterations {est.n_iter_}/{ref.n_iter_}")
    assert in_flight and n_keys > 0
    assert abs(c.objective - c0.objective) <= 1e-10 * abs(c0.objective)
    assert est.rank_ == ref.rank_ >= 3
    assert c.status == c0.status and est.stop_reason_ == ref.stop_reason_
    assert est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.U_ @ est.V_.T, ref.U_ @ ref.V_.T, rtol=0, atol=1e-8)
    client.wait_for_workers(2, timeout=60)   # the nanny restarted the killed worker
    assert pid not in client.run(os.getpid).values()
