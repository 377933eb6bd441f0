"""Backward selection of the components of a non-negative factorization (the pruning of
:class:`homfact.NonnegativeFactorization`): drop a component while its removal raises the
loss by less than the energy a rank-one fit captures from the noise, on data whose clipped
zeros are read as censored Gaussian noise (:func:`_censored_data`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hals import hals
from .nmf_merge import _merge_into_partner, _merge_rise, _term_cosines
from .nnls import nnls_rows

__all__ = ["NMFDebiasResult", "debias_nmf", "prune_components"]

#: HALS sweeps of the others after a trial removal (pruning)
_PRUNE_SWEEPS = 10


#: a smallest rise in ``[τ, _REFINE_BAND·τ)`` is re-measured after ``_REFINE_SWEEPS`` more
#: sweeps of its trial and of the base fit (up to ``_REFINE_ROUNDS`` times while it stays in
#: that band): a few HALS sweeps overestimate the rise when the residual is flat along split
#: atoms (dense factors at high SNR, tests/test_auto_lam.py: 1.2-3τ after 10 sweeps where the
#: converged rise is 0.65-0.9τ)
_REFINE_BAND = 4.0
_REFINE_SWEEPS = 90
#: refinements at most (each while the rise stays in the band)
_REFINE_ROUNDS = 3


#: sweeps of the debiasing refit before pruning starts (the final refit runs after it)
_PRUNE_START_SWEEPS = 30


#: EM steps of the censored model (:func:`_censored_data`) before the first pruning round
_CENSORED_WARMUP = 3


def _censored_data(X: np.ndarray, mu: np.ndarray, sigma: float, cens: np.ndarray,
                   rank: int) -> tuple[np.ndarray, float]:
    """One EM step of the censored-Gaussian (Tobit) model ``X = max(M + σE, 0)``.

    Zeros of ``X`` are read as censored: the latent ``y* = μ + σe`` is only known to be
    ``≤ 0``.  E-step at the fit ``μ = WVᵀ`` and the current ``σ``, with ``t = −μ/σ`` and the
    inverse Mills ratio ``r = φ(t)/Φ(t)``: ``E[y* | y* ≤ 0] = μ − σr`` replaces each zero
    (``Z``), and ``E[(y* − μ)² | y* ≤ 0] = σ²(1 − t r)``.  M-step for ``σ``: the mean squared
    residual (uncensored entries) plus those conditional second moments, over the
    ``mn − rank(m + n − rank)`` residual degrees of freedom.  Returns ``(Z, σ_new)``.

    Reason: clipping biases the data upward where the signal is near zero (by ``σφ(0) ≈
    0.4σ`` at zero), a non-negative, structured matrix that an extra component fits, and it
    shrinks the variance there (Gavish–Donoho's ``σ̂`` is ~25 % low when a quarter of the
    entries are clipped); ``Z`` removes the bias, ``σ_new`` the shrinkage.
    """
    from scipy.special import log_ndtr

    m, n = X.shape
    t = -mu[cens] / sigma
    far = t < -30.0  # asymptotic r = −t − 1/t + O(t⁻³) (relative error < 1e-5 there)
    tf = np.where(far, -1.0, t)
    mills = np.where(far, -t - 1.0 / np.where(far, t, -1.0),
                     np.exp(-0.5 * tf * tf - 0.5 * np.log(2 * np.pi) - log_ndtr(tf)))
    Z = X.copy()
    Z[cens] = mu[cens] - sigma * mills
    resid2 = float(np.sum(np.where(cens, 0.0, X - mu) ** 2))
    resid2 += sigma ** 2 * float(np.sum(1.0 - t * mills))
    dof = max(m * n - rank * (m + n - rank), 1)
    return Z, float(np.sqrt(resid2 / dof))


@dataclass(frozen=True)
class NMFDebiasResult:
    """Reported factors of :func:`debias_nmf`: ``W`` (codes), ``H`` (parts, ``r × n``), the
    HALS sweeps counted (``n_sweeps``), the noise level of the last pruning threshold
    (``prune_noise_level``, ``None`` without pruning) and whether a refit or pruning ran
    (``debiased``)."""

    W: np.ndarray
    H: np.ndarray
    n_sweeps: int
    prune_noise_level: float | None
    debiased: bool


def debias_nmf(X: np.ndarray, U: np.ndarray, V: np.ndarray, *, refit: bool, prune: bool,
               noise_level: float | None, max_sweeps: int, tol: float) -> NMFDebiasResult:
    """The reported factors of :class:`homfact.NonnegativeFactorization` from its certified
    factors ``X ≈ U Vᵀ`` (docs: models/nmf, 'Debiasing refit' and 'Pruning').

    * ``refit``: unregularized HALS (``min_{W,H ≥ 0} ½‖X − WH‖²_F``) from ``(U, V)``, at
      most ``max_sweeps`` sweeps until the relative decrease is ``≤ tol``; with ``prune``
      only ``min(max_sweeps, _PRUNE_START_SWEEPS)`` sweeps start it, then
      :func:`prune_components` at ``noise_level`` (its final refit of the survivors counted in
      ``n_sweeps``; the trial refits are not);
    * ``prune`` without ``refit``: :func:`prune_components` from ``(U, V)``;
    * neither, or rank 0: ``W = U``, ``H = Vᵀ`` (``debiased=False``).

    At rank ``> 0`` the codes are then re-solved exactly by NNLS for the final ``H``
    (:func:`homfact.solvers.nnls.nnls_rows` started from ``W``), so ``W`` is what
    ``transform`` computes.
    """
    rank = int(U.shape[1])
    n_sweeps, sigma = 0, None
    if refit and rank:
        sweeps = min(max_sweeps, _PRUNE_START_SWEEPS) if prune else max_sweeps
        start = hals(X, U, V, 0.0, max_sweeps=sweeps, tol=tol)
        W, Vr = start.factors
        n_sweeps = start.n_sweeps
        if prune:
            W, Vr, sigma, final = prune_components(X, W, Vr, noise_level, max_sweeps, tol)
            n_sweeps += final
        H = Vr.T.copy()
    elif prune and rank:
        W, Vr, sigma, n_sweeps = prune_components(X, U, V, noise_level, max_sweeps, tol)
        H = Vr.T.copy()
    else:
        W, H = U, V.T.copy()
    if H.shape[0]:
        W = nnls_rows(X, H, W0=W)
    return NMFDebiasResult(W, H, n_sweeps, sigma, bool(rank and (refit or prune)))


def prune_components(X: np.ndarray, W: np.ndarray, V: np.ndarray, noise_level: float,
                     refit_max_iter: int, refit_tol: float):
    """Backward selection of the refit factors ``X ≈ W Vᵀ`` (see ``prune`` of
    :class:`homfact.NonnegativeFactorization`); returns ``(W, V, σ, n)``, ``σ`` the noise
    level of the last threshold, ``n`` the sweeps of the final refit (0 when no component
    is left); ``noise_level`` is the estimate ``σ̂`` the rounds start from.

    Each round: ``W, V`` get ``_PRUNE_SWEEPS`` HALS sweeps (the base fit ``A, B``) on the
    working data ``Z`` (:func:`_censored_data`: ``X`` with its clipped zeros replaced by
    their conditional means, i.e. one EM step of the censored-Gaussian model; ``Z = X``
    without zeros), and ``σ`` is that model's estimate; ``τ = (σ(√m + √n))²``.  The *rise*
    of component ``i`` is the residual after ``_PRUNE_SWEEPS`` sweeps of the others
    (started from :func:`_merge_into_partner`) minus that of the base (both sides get the
    same sweeps; neither fit may have converged).  A component is removed when its
    removal raises the loss by less than ``τ``, checked in this order:

    1. the component ``j`` whose merge into its partner raises the loss the least before
       any refit (:func:`_merge_rise`, exact, an upper bound on the rise after a refit),
       when that rise is below ``τ``;
    2. else the same ``j`` when its trial rise is below ``τ``;
    3. else the component of smallest rise (exhaustive rule), evaluated lazily as in lazy
       greedy selection: the rises of earlier rounds are kept as estimates, the smallest
       estimate is recomputed, and it is the argmin once its fresh value is at most every
       other estimate (exact whenever rises do not decrease when another component is
       removed); the search stops when the smallest estimate is at least
       ``_REFINE_BAND·τ``, and a smallest rise in ``[τ, _REFINE_BAND·τ)`` is re-measured
       after ``_REFINE_SWEEPS`` more sweeps of its trial and of the base.

    Steps 1–2 cost about one trial per removal instead of one per component; they may
    remove another removable component than the argmin (all removed components satisfy
    the rule).  The next round continues from the removed component's trial (or merged)
    factors; the survivors get the full refit (``refit_max_iter``, ``refit_tol``) on
    ``Z``.
    """
    cens = X == 0
    if not (cens.any() and noise_level > 0):  # (σ̂ = 0: zeros are exact)
        cens = None
    edge2 = float(np.sqrt(X.shape[0]) + np.sqrt(X.shape[1])) ** 2
    Z, sigma = X, float(noise_level)
    for _ in range(_CENSORED_WARMUP if cens is not None else 0):
        if not sigma > 0:
            break
        Z, sigma = _censored_data(X, W @ V.T, sigma, cens, W.shape[1])
        W, V = hals(Z, W, V, 0.0, max_sweeps=_PRUNE_SWEEPS, tol=1e-4).factors
    stale = np.full(W.shape[1], -np.inf)  # rise estimates (-inf: never computed)
    while W.shape[1] >= 1:
        if cens is not None and sigma > 0:
            Z, sigma = _censored_data(X, W @ V.T, sigma, cens, W.shape[1])
        tau = sigma ** 2 * edge2
        A, B = hals(Z, W, V, 0.0, max_sweeps=_PRUNE_SWEEPS, tol=1e-4).factors
        R = Z - A @ B.T
        rss = float(np.vdot(R, R))
        trials: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if W.shape[1] >= 2:
            # shortcuts: the component whose merge into its partner raises the loss the
            # least before any refit is removed when that rise, or else its trial rise,
            # is below τ
            RB, part = R @ B, np.argmax(_term_cosines(A, B), axis=1)
            bounds = [_merge_rise(R, RB, A, B, i, int(part[i]))
                      for i in range(W.shape[1])]
            j = int(np.argmin(bounds))
            if bounds[j] < tau:
                stale = np.delete(stale, j)
                W, V = _merge_into_partner(A, B, j, int(part[j]))
                continue
            stale[j], trials[j] = _rise(Z, W, V, j, rss)
            if stale[j] < tau:
                stale = np.delete(stale, j)
                W, V = trials[j]
                continue
        while True:
            j = int(np.argmin(stale))
            if j in trials or stale[j] >= _REFINE_BAND * tau:
                break
            stale[j], trials[j] = _rise(Z, W, V, j, rss)
        for _ in range(_REFINE_ROUNDS):
            if not (j in trials and tau <= stale[j] < _REFINE_BAND * tau):
                break
            stale[j], trials[j], (A, B), rss = _refine(Z, trials[j], A, B, rss)
            W, V = A, B
        if not (j in trials and stale[j] < tau):
            break
        keep = np.arange(W.shape[1]) != j
        if not keep.any():
            return W[:, :0], V[:, :0], sigma, 0
        stale = stale[keep]
        W, V = trials[j]  # the next round's sweeps continue from the trial refit
    final = hals(Z, W, V, 0.0, max_sweeps=refit_max_iter, tol=refit_tol)
    W, V = final.factors
    return W, V, sigma, final.n_sweeps


def _refine(Z: np.ndarray, trial, A: np.ndarray, B: np.ndarray, rss: float):
    """``_REFINE_SWEEPS`` more HALS sweeps of a borderline trial ``(A', B')`` and of the base
    fit ``(A, B)``; returns ``(rise, trial, base, base_rss)`` (see ``_REFINE_BAND``)."""
    A, B = hals(Z, A, B, 0.0, max_sweeps=_REFINE_SWEEPS, tol=1e-6).factors
    rss = float(np.linalg.norm(Z - A @ B.T) ** 2)
    if trial[0].shape[1] == 0:
        return float(np.linalg.norm(Z) ** 2) - rss, trial, (A, B), rss
    A2, B2 = hals(Z, *trial, 0.0, max_sweeps=_REFINE_SWEEPS, tol=1e-6).factors
    return float(np.linalg.norm(Z - A2 @ B2.T) ** 2) - rss, (A2, B2), (A, B), rss


def _rise(Z: np.ndarray, W: np.ndarray, V: np.ndarray, i: int,
          rss: float) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """``(‖Z − ABᵀ‖²_F − rss, (A, B))`` after ``_PRUNE_SWEEPS`` HALS sweeps of all columns
    but ``i``, started from :func:`_merge_into_partner` (``‖Z‖²_F − rss`` when ``i`` is
    alone)."""
    if W.shape[1] == 1:
        return float(np.linalg.norm(Z) ** 2) - rss, (W[:, :0], V[:, :0])
    A, B = hals(Z, *_merge_into_partner(W, V, i), 0.0, max_sweeps=_PRUNE_SWEEPS,
                tol=1e-4).factors
    return float(np.linalg.norm(Z - A @ B.T) ** 2) - rss, (A, B)
