"""Shared oracles for the homfact test suite.

Everything here is an *independent* reference implementation (numpy / CVXPY / brute force) used to
check the library; nothing calls into homfact.  Test modules import these helpers with
``from conftest import ...`` (pytest puts this directory on ``sys.path``).
"""

from __future__ import annotations

import itertools
import os
import warnings

# CVXPY is a dev dependency (`make test` installs it): the soundness and oracle tests must run,
# so a missing CVXPY fails the suite instead of skipping those tests.
import cvxpy as cp
import numpy as np
import pytest

#: preferred conic solver (interior point, ~1e-8 accuracy); SCS as a fallback
CVX_SOLVER = next((s for s in ("CLARABEL", "SCS") if s in cp.installed_solvers()), None)
if CVX_SOLVER is None:  # pragma: no cover
    raise RuntimeError("the test suite needs CVXPY with the CLARABEL or SCS solver")

#: label of the tests that compare against a CVXPY solution (a marker, not a skip)
requires_cvxpy = pytest.mark.cvxpy


def pytest_configure(config):
    """Under pytest-xdist, one BLAS thread per worker: avoids oversubscribing the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from threadpoolctl import threadpool_limits

        config._homfact_blas_limits = threadpool_limits(limits=1)


# --------------------------------------------------------------------------------------------
# CVXPY oracles
# --------------------------------------------------------------------------------------------
def cvx_solve(problem) -> float:
    """Solve a CVXPY problem with the preferred solver and return its optimal value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if CVX_SOLVER == "CLARABEL":
            problem.solve(solver="CLARABEL")
        else:  # pragma: no cover
            problem.solve(solver="SCS", eps=1e-10, max_iters=200_000)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
    return float(problem.value)


def cvx_nuclear(Y: np.ndarray, lam: float, mask: np.ndarray | None = None,
                loss: str = "squared", delta: float = 1.0,
                weight: float = 1.0) -> tuple[float, np.ndarray]:
    """``min_Z ℓ(Y − Z) + λ‖Z‖_*`` (squared, masked squared, or ``weight``·Huber); (value, Z).

    ``cvxpy.huber(x, M)`` equals ``2·h_M(x)`` (THEORY h.10), hence the factor ½.
    """
    Z = cp.Variable(Y.shape)
    if mask is None:
        R = Y - Z
    else:
        M = mask.astype(float)
        R = cp.multiply(M, np.where(mask, Y, 0.0) - Z)
    if loss == "squared":
        fit = 0.5 * cp.sum_squares(R)
    elif loss == "huber":
        fit = 0.5 * weight * cp.sum(cp.huber(R, delta))
    else:  # pragma: no cover
        raise ValueError(loss)
    prob = cp.Problem(cp.Minimize(fit + lam * cp.normNuc(Z)))
    return cvx_solve(prob), np.asarray(Z.value)


# --------------------------------------------------------------------------------------------
# Closed-form oracles
# --------------------------------------------------------------------------------------------
def svt(Y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Singular-value soft-thresholding: ``(U_bal, V_bal, Z*, P*)`` for ``½‖Y−Z‖² + λ‖Z‖_*``.

    ``U_bal = U·sqrt(σ−λ)₊`` and ``V_bal = V·sqrt(σ−λ)₊`` restricted to the positive part.
    """
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    t = np.maximum(s - lam, 0.0)
    keep = t > 0
    root = np.sqrt(t[keep])
    Ub, Vb = U[:, keep] * root, Vt[keep].T * root
    Z = (U * t) @ Vt
    P = 0.5 * float(np.sum((Y - Z) ** 2)) + lam * float(t.sum())
    return Ub, Vb, Z, P


def sigma_max(A) -> float:
    """Exact top singular value of a small dense or sparse matrix (numpy LAPACK SVD)."""
    A = A.toarray() if hasattr(A, "toarray") else np.asarray(A, dtype=float)
    return float(np.linalg.svd(A, compute_uv=False)[0]) if A.size else 0.0


def squared_dual_value(G: np.ndarray, y: np.ndarray, rho_upper: float, lam: float) -> tuple[
        float, float]:
    """Best Fenchel dual value over ``Λ = cG``, ``0 ≤ c ≤ min(1, λ/ρ)``, for ½‖y − z‖².

    Returns ``(L, c)`` with ``L = c⟨G,y⟩ − c²‖G‖²/2`` (THEORY f.2).
    """
    G, y = np.ravel(G), np.ravel(y)
    c_max = 1.0 if rho_upper <= lam else lam / rho_upper
    gg = float(G @ G)
    c = c_max if gg == 0 else float(np.clip(float(G @ y) / gg, 0.0, c_max))
    return c * float(G @ y) - 0.5 * c * c * gg, c


def row_group_shrink(Y: np.ndarray, lam: float, axis: int = 1) -> np.ndarray:
    """Exact solution of ``½‖Y−Z‖² + λ Σ_rows ‖Z_i,:‖₂`` (axis=1) or over columns (axis=0)."""
    norms = np.linalg.norm(Y, axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > lam, 1.0 - lam / np.where(norms > 0, norms, 1.0), 0.0)
    return Y * scale


def row_group_objective(Y: np.ndarray, Z: np.ndarray, lam: float, axis: int = 1) -> float:
    return 0.5 * float(np.sum((Y - Z) ** 2)) + lam * float(np.linalg.norm(Z, axis=axis).sum())


# --------------------------------------------------------------------------------------------
# Dual gauges, computed independently of the library's LMOs
# --------------------------------------------------------------------------------------------
def elastic_net_dual_bisection(v: np.ndarray, gamma: float) -> float:
    """Root μ of ``‖soft(v, γμ)‖₂ = μ`` (the dual of ‖·‖₂ + γ‖·‖₁) by bisection to roundoff."""
    a = np.abs(np.asarray(v, dtype=float))
    lo, hi = 0.0, float(np.linalg.norm(a)) + 1.0
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if np.linalg.norm(np.maximum(a - gamma * mid, 0.0)) > mid:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def independent_dual(gauge, q: np.ndarray) -> float:
    """κ°(q) for the library's gauges, by their definition (κ₊°(q) = κ°(q₊) with a sign
    constraint); identified by class name so that this module never calls into homfact."""
    q = np.asarray(q, dtype=float)
    if getattr(gauge, "nonnegative", False):
        gauge, q = gauge.base, np.maximum(q, 0.0)
    name = type(gauge).__name__
    if name == "L2":
        return float(np.linalg.norm(q))
    if name == "L1":
        return float(np.max(np.abs(q), initial=0.0))
    if name == "ElasticNet":
        return elastic_net_dual_bisection(q, gauge.gamma)
    raise TypeError(name)  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Brute-force polars
# --------------------------------------------------------------------------------------------
def nmf_polar_bruteforce(G: np.ndarray) -> float:
    """``max(0, sup_{u,v ≥ 0, ‖u‖=‖v‖=1} uᵀGv)`` by support enumeration (THEORY b.5).

    For every pair of supports ``(S, T)`` every singular pair of ``G[S, T]`` whose vectors can be
    signed to be entrywise non-negative is a KKT candidate; the maximum over candidates (and 0)
    is the polar.  All singular pairs are checked, not only the top one.
    """
    m, n = G.shape
    best = 0.0
    for ks in range(1, m + 1):
        for S in itertools.combinations(range(m), ks):
            for kt in range(1, n + 1):
                for T in itertools.combinations(range(n), kt):
                    sub = G[np.ix_(S, T)]
                    U, _, Vt = np.linalg.svd(sub)
                    for j in range(min(len(S), len(T))):
                        u, v = U[:, j], Vt[j]
                        for sign in (1.0, -1.0):
                            if np.all(sign * u >= -1e-12) and np.all(sign * v >= -1e-12):
                                uu = np.clip(sign * u, 0, None)
                                vv = np.clip(sign * v, 0, None)
                                val = float(uu @ sub @ vv) / (
                                    np.linalg.norm(uu) * np.linalg.norm(vv))
                                best = max(best, val)
    return best


def l1_extreme_polar(G: np.ndarray, dual_v, nonneg_u: bool = False) -> float:
    """``sup_{‖u‖₁ ≤ 1 [, u ≥ 0], κ_v(v) ≤ 1} uᵀGv = max_i κ_v°(±G_i,:)`` (extreme points of ℓ1)."""
    vals = [0.0]
    for i in range(G.shape[0]):
        vals.append(dual_v(G[i]))
        if not nonneg_u:
            vals.append(dual_v(-G[i]))
    return max(vals)


# --------------------------------------------------------------------------------------------
# Random instances
# --------------------------------------------------------------------------------------------
def random_low_rank(rng: np.random.Generator, m: int, n: int, rank: int,
                    noise: float = 0.1) -> np.ndarray:
    return rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) + noise * (
        rng.standard_normal((m, n)))


def random_mask(rng: np.random.Generator, shape: tuple[int, int], frac: float) -> np.ndarray:
    """A random observation mask with at least one observed entry in every row and column."""
    mask = rng.random(shape) < frac
    m, n = shape
    for i in range(m):
        if not mask[i].any():
            mask[i, rng.integers(n)] = True
    for j in range(n):
        if not mask[:, j].any():
            mask[rng.integers(m), j] = True
    return mask


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def low_rank_triplets(rng: np.random.Generator, m: int, n: int, nnz: int,
                      noise: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank 3 plus Gaussian noise (std ``noise``) observed on ``nnz`` distinct random entries
    of an ``m × n`` matrix, as triplets ``(rows, cols, values)`` drawn from ``rng``."""
    idx = rng.choice(m * n, nnz, replace=False)
    rows, cols = idx // n, idx % n
    A, B = rng.standard_normal((m, 3)), rng.standard_normal((n, 3))
    vals = np.einsum("ij,ij->i", A[rows], B[cols]) + noise * rng.standard_normal(nnz)
    return rows, cols, vals


@pytest.fixture(scope="module")
def dask_client():
    """A module's own LocalCluster (2 worker processes, one thread each) and its client."""
    distributed = pytest.importorskip("distributed")
    # no dashboard, and the scheduler's HTTP routes on a free port, not on 8787, which another
    # cluster on the machine may hold (a UserWarning)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": ":0"}) as cluster, \
            distributed.Client(cluster) as c:
        yield c
