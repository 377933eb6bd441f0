"""Inexact augmented Lagrange multiplier (IALM) robust PCA — the benchmark baseline.

Algorithm 5 of Z. Lin, M. Chen and Y. Ma, *The augmented Lagrange multiplier method for exact
recovery of corrupted low-rank matrices*, arXiv:1009.5055 (2010), for principal component
pursuit ``min ‖A‖_* + λ‖E‖₁  s.t.  D = A + E`` (default ``λ = 1/√max(m, n)``)::

    Y₀ = D / J(D),  J(D) = max(‖D‖₂, λ⁻¹‖D‖_∞);  E₀ = 0;  μ₀ = 1.25/‖D‖₂;  ρ = 1.5
    repeat
        (U, S, V) = svd(D − E_k + μ_k⁻¹ Y_k);   A_{k+1} = U S_{μ_k⁻¹}[S] Vᵀ
        E_{k+1}   = S_{λμ_k⁻¹}[D − A_{k+1} + μ_k⁻¹ Y_k]
        Y_{k+1}   = Y_k + μ_k (D − A_{k+1} − E_{k+1});   μ_{k+1} = min(ρ μ_k, μ̄)
    until ‖D − A_{k+1} − E_{k+1}‖_F / ‖D‖_F < tol (1e-7)

The update order (A before E) is the paper's Algorithm 5; the authors' MATLAB code
(``inexact_alm_rpca.m``) updates E first — ``order="code"`` selects that.  Everything else
follows the code: ``μ̄ = 10⁷ μ₀``, ``ρ = 1.5``, the iteration cap 1000, and the partial SVD:
``sv`` starts at 10 and after each step becomes ``svp + 1`` if fewer than ``sv`` singular values
exceeded ``1/μ`` (``svp`` of them), else ``svp + round(0.05 n)``; a partial SVD (PROPACK's
``lansvd`` there; ``scipy.sparse.linalg.svds(solver="propack")`` here, the same Lanczos
bidiagonalization code) is used when ``choosvd(n, sv)`` says so (``sv/n`` below a threshold that
is 0.38 for ``n > 500``), otherwise a full thin SVD (LAPACK gesdd).  ``svd="full"`` forces the
full SVD every iteration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import svds

__all__ = ["IALMResult", "choosvd", "inexact_alm_rpca"]


@dataclass
class IALMResult:
    """Output of :func:`inexact_alm_rpca`."""

    A: np.ndarray
    E: np.ndarray
    n_iter: int
    n_svd: int
    n_partial_svd: int
    converged: bool
    stop_criterion: float
    seconds: float
    rank: int
    history: list[dict] = field(default_factory=list)


def choosvd(n: int, d: int) -> bool:
    """The authors' rule: ``True`` if a partial SVD of ``d`` values beats a full (size ``n``)."""
    if n <= 100:
        return d / n <= 0.02
    if n <= 200:
        return d / n <= 0.06
    if n <= 300:
        return d / n <= 0.26
    if n <= 400:
        return d / n <= 0.28
    if n <= 500:
        return d / n <= 0.34
    return d / n <= 0.38


def _soft(x: np.ndarray, t: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _top_singular(D: np.ndarray) -> float:
    """``‖D‖₂`` (the authors use ``lansvd(D, 1, 'L')``)."""
    return float(_propack(D, 1, vectors=False)[0])


def _propack(T: np.ndarray, k: int, vectors: bool = True):
    """``k`` largest singular triplets by PROPACK (Lanczos bidiagonalization, as ``lansvd``).

    The Lanczos basis may grow to ``min(m, n)`` (``lansvd``'s default ``kmax``; scipy's own
    default ``10k`` fails for ``k = 1`` on matrices with a flat top spectrum).
    """
    out = svds(T, k=k, solver="propack", maxiter=min(T.shape), random_state=0,
               return_singular_vectors=vectors)
    if not vectors:
        return np.sort(out)[::-1]
    U, s, Vt = out
    idx = np.argsort(s)[::-1]
    return U[:, idx], s[idx], Vt[idx]


def inexact_alm_rpca(D: np.ndarray, lam: float | None = None, *, tol: float = 1e-7,
                     max_iter: int = 1000, rho: float = 1.5, mu0: float | None = None,
                     svd: str = "partial", order: str = "paper",
                     record: bool = False) -> IALMResult:
    """Principal component pursuit by inexact ALM (Lin, Chen & Ma 2010, Algorithm 5).

    Parameters
    ----------
    D : the data matrix ``A + E``.
    lam : weight of ``‖E‖₁``; default ``1/√max(m, n)``.
    tol : stop when ``‖D − A − E‖_F / ‖D‖_F < tol`` (the paper's 1e-7).
    rho, mu0 : ``μ_{k+1} = ρμ_k`` (1.5 in the authors' code), ``μ₀ = 1.25/‖D‖₂`` by default.
    svd : ``"partial"`` (the authors' scheme with PROPACK) or ``"full"`` (gesdd every step).
    order : ``"paper"`` (A, then E: Algorithm 5) or ``"code"`` (E, then A: ``inexact_alm_rpca.m``).
    record : keep ``(iteration, stop criterion, svp, sv, elapsed)`` per iteration.
    """
    if svd not in ("partial", "full"):
        raise ValueError(f"svd must be 'partial' or 'full', got {svd!r}")
    if order not in ("paper", "code"):
        raise ValueError(f"order must be 'paper' or 'code', got {order!r}")
    t0 = time.perf_counter()
    D = np.asarray(D, dtype=float)
    m, n = D.shape
    if lam is None:
        lam = 1.0 / np.sqrt(max(m, n))
    norm_two = _top_singular(D)
    norm_inf = float(np.max(np.abs(D))) / lam
    Y = D / max(norm_two, norm_inf)
    A = np.zeros_like(D)
    E = np.zeros_like(D)
    mu = 1.25 / norm_two if mu0 is None else float(mu0)
    mu_bar = mu * 1e7
    d_norm = float(np.linalg.norm(D))
    sv, svp = 10, 0
    n_svd = n_partial = 0
    small = min(m, n)
    history: list[dict] = []
    crit = np.inf
    converged = False
    it = 0

    def svt_step(T: np.ndarray) -> np.ndarray:
        nonlocal sv, svp, n_svd, n_partial
        if svd == "partial" and choosvd(small, sv):
            U, s, Vt = _propack(T, sv)
            n_partial += 1
        else:
            U, s, Vt = sla.svd(T, full_matrices=False, lapack_driver="gesdd",
                               check_finite=False)
        n_svd += 1
        svp = int(np.sum(s > 1.0 / mu))
        sv = min(svp + 1, small) if svp < sv else min(svp + round(0.05 * small), small)
        return (U[:, :svp] * (s[:svp] - 1.0 / mu)) @ Vt[:svp]

    while not converged and it < max_iter:
        it += 1
        if order == "paper":
            A = svt_step(D - E + Y / mu)
            E = _soft(D - A + Y / mu, lam / mu)
        else:
            E = _soft(D - A + Y / mu, lam / mu)
            A = svt_step(D - E + Y / mu)
        Z = D - A - E
        Y += mu * Z
        mu = min(mu * rho, mu_bar)
        crit = float(np.linalg.norm(Z)) / d_norm
        converged = crit < tol
        if record:
            history.append({"iteration": it, "stop_criterion": crit, "svp": svp, "sv": sv,
                            "elapsed": time.perf_counter() - t0})
    return IALMResult(A=A, E=E, n_iter=it, n_svd=n_svd, n_partial_svd=n_partial,
                      converged=converged, stop_criterion=crit,
                      seconds=time.perf_counter() - t0, rank=svp, history=history)
