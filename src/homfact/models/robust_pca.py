"""Robust PCA: a low-rank part plus sparse gross errors, certified, then debiased.

Split form (default)::

    min_{U,V,E} ‖E‖₁ + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂ + (γ/2)‖Y − UVᵀ − E‖²_F

Minimizing over ``E`` in closed form (``E = soft(Y − UVᵀ, 1/γ)``) leaves the Huber loss
``γ Σ h_{1/γ}(Y − UVᵀ)``, so the problem is the nuclear-norm problem with a Huber loss and is
certified exactly like the core models; the dual point additionally satisfies ``‖Λ‖_∞ ≤ 1``
(the ``E`` block's constraint).  ``loss="huber"`` uses ``Σ h_δ(Y − UVᵀ)`` with a free ``δ``
instead.  Missing entries (NaN) are allowed: the loss is then summed over observed entries.

Fitting has three parts:

1. *Continuation* (warm start, not certified): proximal-gradient steps on the convex form
   ``min_L w Σ h_δ(Y − L) + λ‖L‖_*``, ``L ← SVT_{λ/w}(P + clip(Y − P, ±δ))`` (step ``1/w``, the
   inverse Lipschitz constant; FISTA extrapolation ``P`` restarted per stage), for Huber
   thresholds ``δ`` shrinking geometrically from a robust scale of ``Y`` (1.4826·MAD) to the
   target.  The singular-value thresholding uses a subspace iteration warm-started from the
   previous iterate's singular vectors (one block power step per iteration), so an iteration
   costs a few ``m×n×(rank + 10)`` products.  With the automatic ``γ`` (``δ``), the default,
   the target is not known in advance: each stage's residual gives a noise estimate ``σ̂`` and
   the path stops at ``δ* = cσ̂`` (class doc of :class:`RobustPCA`).
2. *Certification*: :func:`homfact.meta.grow` on the requested problem from that start (local
   descent, polar, duality gap, growth if the polar says so).  ``certificate_`` certifies the
   factors ``certified_U_``, ``certified_V_`` returned by this step.
3. *Debiasing refit* (``debias=True``, the default): the certified ``L`` is shrunk by the
   nuclear norm (about ``λ/γ`` per singular value on the inliers).  Keeping the selected rank
   ``r`` and the detected outlier support ``S = {|Y − L| > δ}``, the low-rank part is refit
   without shrinkage, ``min_{rank(L) ≤ r} ‖P_{Ω∖S}(Y − L)‖²_F`` (least squares on the observed
   inliers ``Ω∖S``), by alternating least squares with the entries outside ``Ω∖S`` imputed from
   the current ``L`` (EM; monotone), switching to exact alternating least squares when EM
   contracts slowly; ``S`` is re-detected from the refit residual (threshold
   ``min(δ, 5σ̂)``, ``σ̂`` a robust scale of the inlier residuals) until it is stable (at most
   3 rounds).  This is R softImpute's ``deBias`` idea (there: refitting the singular values)
   carried to the robust setting; it assumes the certified rank is right (it is kept).
"""

from __future__ import annotations

import math
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from scipy import optimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..gauges import soft_threshold
from ..losses import HuberLoss
from ..noise import noise_spectral_norm, robust_scale
from ..problems import (
    check_fit_params,
    check_lam,
    completion_problem,
    low_rank_problem,
    observed_entries,
)
from .low_rank import _FactorizationMixin

__all__ = ["RobustPCA"]

#: below this size (min(m, n)) the thresholding uses a dense SVD
_DENSE_SVT_MAX = 64
#: extra singular vectors kept by the warm-started subspace iteration
_OVERSAMPLE = 10
#: automatic δ = cσ̂: c is searched in [_C_MIN, _C_MAX] (√2: Zhou et al.'s μ = √(2n)σ)
_C_MIN, _C_MAX = math.sqrt(2.0), 8.0
#: safety factor κ of the rule γ‖∇‖₂ ≤ λ/κ (finite-size fluctuations, error of σ̂)
_MARGIN = 1.25
#: automatic δ is at least this fraction of the data's robust scale (noise-free data)
_DELTA_FLOOR = 1e-3
#: the noise estimate uses a uniform sample of at most this many observed entries
_NOISE_SAMPLE = 50_000


class _WarmSVT:
    """Singular-value soft-thresholding ``SVT_τ(X) = Σ (σᵢ − τ)₊ uᵢvᵢᵀ``, warm-started.

    Large matrices: a block subspace iteration ``Q = orth(X B)``, ``svd(QᵀX)`` on a basis ``B`` of
    ``k = rank + 10`` right singular vectors kept from the previous call (one power step per call,
    three after a fresh random start).  When every computed value exceeds ``τ`` the block is
    doubled and the step repeated, so the rank is never capped by ``k``.  The result is an
    approximation used only for warm starts; nothing is certified from it.
    """

    def __init__(self, shape: tuple[int, int], rng: np.random.Generator,
                 basis: np.ndarray | None = None):
        self.m, self.n = shape
        self.rng = rng
        self.dense = min(shape) <= _DENSE_SVT_MAX
        k = min(_OVERSAMPLE, min(shape))
        if basis is not None and basis.shape[1]:
            self.B = self._pad(np.linalg.qr(basis)[0], basis.shape[1] + _OVERSAMPLE)
            self.power = 2
        else:
            self.B = rng.standard_normal((self.n, k))
            self.power = 3

    def _pad(self, B: np.ndarray, k: int) -> np.ndarray:
        k = min(k, min(self.m, self.n))
        if B.shape[1] >= k:
            return B[:, :k]
        return np.column_stack([B, self.rng.standard_normal((self.n, k - B.shape[1]))])

    def __call__(self, X: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.dense:
            U, s, Vt = np.linalg.svd(X, full_matrices=False)
            r = int(np.sum(s > tau))
            return U[:, :r], s[:r] - tau, Vt[:r].T
        while True:
            B = self.B
            for _ in range(self.power):
                Q = np.linalg.qr(X @ B)[0]
                B = X.T @ Q
            Ub, s, Vt = np.linalg.svd(B.T, full_matrices=False)  # QᵀX = Bᵀ
            r = int(np.sum(s > tau))
            k = self.B.shape[1]
            if r < k or k >= min(self.m, self.n):
                break
            self.B, self.power = self._pad(Vt.T, 2 * k), 3
        self.B, self.power = self._pad(Vt[:r].T, r + _OVERSAMPLE), 1 if r else 3
        return Q @ Ub[:, :r], s[:r] - tau, Vt[:r].T


def _clipped_second_moment(c: float) -> float:
    """``E min(z², c²)`` for ``z ~ N(0, 1)``: ``(2Φ(c) − 1) − 2cφ(c) + 2c²(1 − Φ(c))``."""
    phi = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    tail = 0.5 * math.erfc(c / math.sqrt(2.0))  # 1 − Φ(c)
    return (1.0 - 2.0 * tail) - 2.0 * c * phi + 2.0 * c * c * tail


def _gradient_norm_per_gamma_sigma(c: float, rho: float, shape: tuple[int, int],
                                   fraction: float) -> float:
    """Typical ``γ‖P_Ω(clip_δ(Y − L*))‖₂`` at the truth for ``δ = 1/γ = cσ``.

    Entries of ``clip_δ(Y − L*)``: ``clip(σz, ±cσ)`` on inliers (second moment ``σ²s(c)²``,
    :func:`_clipped_second_moment`), ``±cσ`` on the fraction ``ρ`` of gross errors; so the
    matrix has entry RMS ``σ√((1 − ρ)s(c)² + ρc²)`` and, times ``γ = 1/(cσ)``, spectral norm
    ``noise_spectral_norm(√((1 − ρ)s(c)² + ρc²)/c, shape, fraction)``.
    """
    rms = math.sqrt((1.0 - rho) * _clipped_second_moment(c) + rho * c * c) / c
    return noise_spectral_norm(rms, shape, fraction)


def _noise_factor(lam_split: float, rho: float, shape: tuple[int, int],
                  fraction: float) -> tuple[float, bool]:
    """Smallest ``c ∈ [√2, _C_MAX]`` with ``γ‖∇‖₂ ≤ λ/κ`` (class doc of :class:`RobustPCA`).

    Returns ``(c, feasible)``; ``feasible`` is false when even ``_C_MAX`` misses the condition
    (then ``c = _C_MAX``: too many gross errors for the weight ``λ``).
    """
    target = lam_split / _MARGIN

    def excess(c: float) -> float:
        return _gradient_norm_per_gamma_sigma(c, rho, shape, fraction) - target

    if excess(_C_MIN) <= 0:
        return _C_MIN, True
    if excess(_C_MAX) > 0:
        return _C_MAX, False
    return float(optimize.brentq(excess, _C_MIN, _C_MAX, xtol=1e-6)), True


def _residual_noise(values: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    shape: tuple[int, int], U: np.ndarray, s: np.ndarray,
                    V: np.ndarray) -> tuple[float, float]:
    """Noise level and gross-error fraction from the residual of the unshrunk fit ``U diag(s) Vᵀ``.

    ``R = Y − U diag(s) Vᵀ`` on the given observed entries ``(rows, cols)`` with values
    ``values`` (a uniform sample of at most ``_NOISE_SAMPLE`` of them: the MAD's relative
    standard error is then about ``1.17/√k``, 0.5 %); ``σ₀ = robust_scale(R)`` (1.4826·MAD,
    breakdown 50 %), then ``σ₁ = robust_scale(R[|R − med R| ≤ 5σ₀])`` (the gross errors,
    which inflate the MAD by about 13 % at 10 %, removed), times the degrees-of-freedom
    correction ``√(mn / ((m − r)(n − r)))`` (a rank-``r`` fit removes that share of the
    noise's variance).  ``ρ̂`` is the fraction of the entries with ``|R − med R| > 5σ₁``.
    """
    m, n = shape
    if values.size == 0:
        return 0.0, 0.0
    r = s.shape[0]
    R = values - np.einsum("ij,ij->i", U[rows] * s, V[cols]) if r else values
    dev = np.abs(R - np.median(R))
    s0 = robust_scale(R)
    kept = R[dev <= 5.0 * s0]
    s1 = robust_scale(kept) if kept.size else s0
    dof = math.sqrt(m * n / max((m - r) * (n - r), 1)) if r < min(m, n) else 1.0
    rho = float(np.count_nonzero(dev > 5.0 * s1)) / R.size
    return s1 * dof, rho


class _NoiseRule:
    """The automatic ``δ = 1/γ`` of the split model (class doc of :class:`RobustPCA`).

    Called by :func:`_continuation` after each warm-start stage with the unshrunk fit; returns
    ``δ* = max(c·σ̂, floor)`` with ``σ̂, ρ̂`` from :func:`_residual_noise` (on a fixed uniform
    sample of the observed entries), ``c`` from :func:`_noise_factor` for the weight
    ``lam_rule``, and the record of the estimate.
    """

    def __init__(self, Y0: np.ndarray, obs: np.ndarray | None, lam_rule: float,
                 pilot_lam: float, floor: float, rng: np.random.Generator):
        self.shape = Y0.shape
        self.lam_rule, self.pilot_lam, self.floor = lam_rule, pilot_lam, floor
        flat = np.flatnonzero(obs) if obs is not None else None
        n_obs = Y0.size if flat is None else flat.size
        self.fraction = n_obs / Y0.size
        if n_obs > _NOISE_SAMPLE:
            pick = rng.choice(n_obs, _NOISE_SAMPLE, replace=False)
            flat = pick if flat is None else flat[pick]
        elif flat is None:
            flat = np.arange(Y0.size)
        self.rows, self.cols = np.divmod(flat, Y0.shape[1])
        self.values = Y0.ravel()[flat]
        self.last: dict | None = None

    def __call__(self, U: np.ndarray, s: np.ndarray, V: np.ndarray) -> tuple[float, dict]:
        sigma, rho = _residual_noise(self.values, self.rows, self.cols, self.shape, U, s, V)
        c, feasible = _noise_factor(self.lam_rule, rho, self.shape, self.fraction)
        target = max(c * sigma, self.floor)
        self.last = {"noise_level": sigma, "outlier_fraction": rho, "noise_factor": c,
                     "rule_feasible": feasible, "target_delta": target,
                     "floored": bool(c * sigma < self.floor)}
        return target, dict(self.last)


def _continuation(Y0: np.ndarray, obs: np.ndarray | None, lam: float, delta: float,
                  weight: float | None, start: list[np.ndarray] | None,
                  rng: np.random.Generator, deadline: float, max_rank: int | None = None,
                  ratio: float = 0.3,
                  stage_rtol: float = 0.1, final_rtol: float = 1e-6, max_stage_iter: int = 50,
                  max_final_iter: int = 300, auto=None) -> tuple[list[np.ndarray], list[dict]]:
    """Warm start for ``min_L w Σ h_δ(Y − L) + λ‖L‖_*`` by FISTA along a path of thresholds.

    ``weight=None`` is the split model: each stage ``δ_s`` solves the split problem with
    ``γ_s = 1/δ_s`` (``w = 1/δ_s``), so its threshold ``λ/w = λδ_s`` shrinks with ``δ_s``.  A
    Huber weight ``w`` is the split model with ``λ_split = λ/(wδ)`` (objective scaled by
    ``wδ``), continued the same way; the last stage is the requested problem either way.
    ``Y0`` holds 0 at missing entries (``obs`` false), where the gradient is 0.
    A stage stops when the RMS change of ``L`` per step is below ``stage_rtol·δ_s`` (at most
    ``max_stage_iter`` steps); the last stage (``δ_s = δ``) when the relative change
    ``‖ΔL‖_F/‖L‖_F`` is below ``final_rtol`` (at most ``max_final_iter`` steps).
    ``max_rank`` keeps only the top pairs of each thresholding.  Returns balanced factors
    ``(U√s, V√s)`` and one record per stage.

    ``auto`` (the automatic ``γ``/``δ``): a callable ``auto(U, s_unshrunk, V) -> (δ*, info)``
    called after each stage with the unshrunk fit; ``lam`` is then the split weight of the
    path and ``delta`` is ignored.  The path is ``δ_{s+1} = ratio·δ_s`` until that is at or
    below the returned ``δ*_s``; then one stage runs at ``δ*_s`` (where the fit, no longer
    biased by the larger thresholds, gives a better estimate) and the last stage at the
    ``δ*`` estimated there (directly the last stage if ``info["floored"]``: the floor, not the
    estimate, sets ``δ*``).  Each record but the last carries its estimate ``info``.
    ``lam`` may be a callable of the final ``δ*`` giving the final stage's split weight (the
    Huber form with a given ``λ``).
    """
    m, n = Y0.shape
    vals = Y0[obs] if obs is not None else Y0.ravel()
    if auto is None:
        # w Σ h_δ + λ‖L‖_* is (w δ)·(split objective with γ = 1/δ and λ_split = λ/(w δ)):
        # every stage is a split problem with γ_s = 1/δ_s and the same λ_split
        lam_split = lam if weight is None else lam / (weight * delta)
        top = max(robust_scale(vals), delta)
        n_stages = 1 + (int(np.ceil(np.log(top / delta) / np.log(1.0 / ratio))) if top > delta
                        else 0)
        path = list(np.geomspace(top, delta, n_stages)) if n_stages > 1 else [delta]
        final_lam = None
    else:
        final_lam = lam if callable(lam) else None
        lam_split = auto.pilot_lam
        path = [robust_scale(vals)]
    if start is not None and start[0].shape[1]:
        L = start[0] @ start[1].T
        svt = _WarmSVT((m, n), rng, basis=start[1])
    else:
        L = np.zeros((m, n))
        svt = _WarmSVT((m, n), rng)
    U, s, V = np.zeros((m, 0)), np.zeros(0), np.zeros((n, 0))
    records = []
    sqrt_mn = np.sqrt(m * n)
    P, X = np.empty((m, n)), np.empty((m, n))  # work arrays (each pass over m×n counts)
    k = 0
    final = auto is None and len(path) == 1
    checking = False
    while k < len(path):
        d = float(path[k])
        if auto is None:
            final = k == len(path) - 1
        if final and final_lam is not None:
            lam_split = final_lam(d)
        tau = lam_split * d
        L_prev, t_k, it = L, 1.0, 0
        while True:
            it += 1
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_k * t_k))
            beta = (t_k - 1.0) / t_next
            t_k = t_next
            if beta > 0:  # P = L + β(L − L_prev)
                np.subtract(L, L_prev, out=P)
                P *= beta
                P += L
            else:
                P[...] = L
            np.subtract(Y0, P, out=X)  # X = P + clip(Y − P, ±δ) (0 step where missing)
            np.clip(X, -d, d, out=X)
            if obs is not None:
                X *= obs
            X += P
            U, s, V = svt(X, tau)
            if max_rank is not None and s.shape[0] > max_rank:  # rank cap: keep the top pairs
                U, s, V = U[:, :max_rank], s[:max_rank], V[:, :max_rank]
            L_new = (U * s) @ V.T
            np.subtract(L_new, L, out=X)
            change = float(np.linalg.norm(X))
            if beta > 0 and float(np.vdot(P, X)) - float(np.vdot(L_new, X)) > 0:
                t_k = 1.0  # adaptive restart (O'Donoghue & Candès 2015): momentum points uphill
            L_prev, L = L, L_new
            if time.perf_counter() > deadline:
                break
            if final:
                if change <= final_rtol * float(np.linalg.norm(L)) or it >= max_final_iter:
                    break
            elif change <= stage_rtol * d * sqrt_mn or it >= max_stage_iter:
                break
        record = {"delta": d, "rank": int(s.shape[0]), "n_iter": it,
                  "status": "warm start (not certified)"}
        records.append(record)
        if auto is not None and not final:
            target, info = auto(U, s + tau, V)
            record.update(info)
            if checking or time.perf_counter() > deadline or (
                    ratio * d <= target and info.get("floored")):
                path.append(target)  # the requested problem (also when out of time)
                final = True
            elif ratio * d <= target:  # one stage at the target, to estimate σ̂ again there
                path.append(target)
                checking = True
            else:
                path.append(ratio * d)
        elif time.perf_counter() > deadline:
            break
        k += 1
    root = np.sqrt(s)
    return [U * root, V * root], records


def _masked_lstsq_rows(Y0: np.ndarray, inl: np.ndarray, out_mask: sp.csr_matrix,
                       V: np.ndarray) -> np.ndarray:
    """Row-wise least squares ``uᵢ = argmin Σ_{j: inl[i,j]} (Yᵢⱼ − uᵀvⱼ)²`` for every row ``i``.

    The Gram matrices are downdated from the full one, ``Gᵢ = VᵀV − Σ_{j ∉ Iᵢ} vⱼvⱼᵀ``, through the
    sparse mask of excluded entries (``O(|excluded|·r²)``), then solved as one batch (a ridge of
    ``1e-13·tr(VᵀV)/r`` keeps rows with fewer than ``r`` inliers solvable).
    """
    r = V.shape[1]
    G = V.T @ V
    down = np.empty((Y0.shape[0], r, r))
    for a in range(r):
        down[:, a, :] = out_mask @ (V * V[:, a:a + 1])
    gram = G[None] - down
    gram += (1e-13 * max(float(np.trace(G)), 1e-300) / r) * np.eye(r)
    rhs = np.where(inl, Y0, 0.0) @ V
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


def _debias(Y0: np.ndarray, obs: np.ndarray | None, U: np.ndarray, V: np.ndarray,
            delta: float, shrink: float, *, rtol: float = 1e-10, max_iter: int = 50,
            max_rounds: int = 3, n_mads: float = 5.0, switch_rate: float = 0.3,
            stat_tol: float = 0.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Rank-``r`` least-squares refit of ``L = UVᵀ`` on the observed inliers (module doc, 3.).

    Start: the certified ``L = Σ sᵢ uᵢvᵢᵀ`` with its singular values *unshrunk*, ``sᵢ + shrink``
    (``shrink = λ/w``, the threshold of the nuclear-norm prox).  Inliers
    ``I = Ω ∩ {|Y − L| ≤ t}`` with ``t = δ`` in the first round, then
    ``t = min(δ, max(n_mads·σ̂, t₀))`` with ``σ̂ = 1.4826·median_I |Y − L|`` (so gross errors
    smaller than ``δ`` are caught when the inliers fit much better than ``δ``, e.g. noise-free
    data) and the floor ``t₀ = 100·rtol·RMS(L)`` (the refit's own accuracy).  Each round
    minimizes ``‖P_I(Y − UVᵀ)‖²`` by EM steps (``X = P_I(Y) + P_{I^c}(UVᵀ)``, then
    ``U ← XV(VᵀV)⁻¹``, ``V ← XᵀU(UᵀU)⁻¹``, re-imputing between the halves: two ``m×n×r``
    products) and, once EM's contraction per step exceeds ``switch_rate``, by exact
    alternating least squares (every row's and column's problem solved exactly,
    :func:`_masked_lstsq_rows`: dearer steps, much faster rate); both never increase the
    objective.  A round ends when ``‖ΔL‖_F ≤ rtol·‖L‖_F`` or, with ``stat_tol > 0``, when
    ``‖ΔL‖_F ≤ stat_tol·s·√(r(m + n − r))`` with ``s`` the RMS inlier residual of the current
    ``L``: ``s√(r(m + n − r))`` is the statistical error of a rank-``r`` least-squares fit to
    noise of level ``s`` (the noise's projection on the ``r(m + n − r)``-dimensional tangent
    space), so steps far below it change nothing measurable; on noise-free data ``s → 0``
    and ``rtol`` decides.  Rounds stop when ``I`` is unchanged.
    Returns balanced factors (orthogonal columns, ``‖uᵢ‖ = ‖vᵢ‖``) and a summary.
    """
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    W, sv, Xt = np.linalg.svd(Ru @ Rv.T)
    U, V = Qu @ W * (sv + shrink), Qv @ Xt.T
    Z = U @ V.T
    observed = np.ones(Y0.shape, dtype=bool) if obs is None else obs
    r = U.shape[1]
    thresh = delta
    inl = observed & (np.abs(Y0 - Z) <= thresh)
    n_iter = rounds = 0
    converged = False
    n_exact = 0
    for rounds in range(1, max_rounds + 1):
        converged = False
        n_inl = np.count_nonzero(inl) if stat_tol > 0 else 0
        excluded = excluded_t = None
        previous = np.inf
        for _ in range(max_iter):
            n_iter += 1
            if excluded is None:  # EM step: impute the excluded entries from L, then ALS
                X = np.where(inl, Y0, Z)
                U = np.linalg.solve(V.T @ V, (X @ V).T).T
                X = np.where(inl, Y0, U @ V.T)
                V = np.linalg.solve(U.T @ U, (X.T @ U).T).T
            else:  # exact ALS step
                n_exact += 1
                U = _masked_lstsq_rows(Y0, inl, excluded, V)
                V = _masked_lstsq_rows(Y0.T, inl.T, excluded_t, U)
            Z_new = U @ V.T
            change = float(np.linalg.norm(Z_new - Z))
            Z = Z_new
            if not np.isfinite(change):
                raise np.linalg.LinAlgError("the refit diverged (non-finite values)")
            limit = rtol * float(np.linalg.norm(Z))
            if stat_tol > 0 and change > limit:  # noise's own error (docstring)
                res = np.where(inl, Y0 - Z, 0.0)
                rms = math.sqrt(float(np.vdot(res, res)) / max(int(n_inl), 1))
                limit = max(limit, stat_tol * rms * math.sqrt(r * (Y0.shape[0] + Y0.shape[1] - r)))
            if change <= limit:
                converged = True
                break
            if excluded is None and change > switch_rate * previous:
                # EM contracts slowly here: switch to exact ALS (dearer steps, faster rate)
                excluded = sp.csr_matrix(~inl, dtype=float)
                excluded_t = sp.csr_matrix(excluded.T)
            previous = change
        if rounds == max_rounds:
            break
        R = np.abs(Y0 - Z)
        r_inl = R[inl]
        sigma = 1.4826 * float(np.median(r_inl)) if r_inl.size else 0.0
        floor = max(100.0 * rtol * float(np.linalg.norm(Z)) / np.sqrt(Z.size),
                    0.1 * float(r_inl.max(initial=0.0)))
        new = observed & (R <= min(delta, max(n_mads * sigma, floor)))
        if (np.array_equal(new, inl) or new.sum(axis=1).min() < r
                or new.sum(axis=0).min() < r):
            break  # stable, or a row/column would keep fewer than r inliers
        thresh, inl = min(delta, max(n_mads * sigma, floor)), new
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    W, sv, Xt = np.linalg.svd(Ru @ Rv.T)
    root = np.sqrt(sv)
    R = np.where(inl, Y0 - Z, 0.0)
    info = {"n_iter": n_iter, "n_exact_als": n_exact, "rounds": rounds, "converged": converged,
            "threshold": float(thresh), "n_inliers": int(inl.sum()),
            "n_outliers": int((observed & ~inl).sum()),
            "inlier_rms_residual": float(np.sqrt(np.sum(R * R) / max(int(inl.sum()), 1))),
            "outlier_mask": observed & ~inl}
    return (Qu @ W) * root, (Qv @ Xt.T) * root, info


class RobustPCA(_FactorizationMixin, BaseEstimator):
    """Certified robust PCA ``Y ≈ low_rank_ + sparse_``, with a debiasing refit by default.

    **The automatic ``γ`` (``δ``).**  Stable principal component pursuit (Z. Zhou, X. Li,
    J. Wright, E. Candès & Y. Ma, "Stable principal component pursuit", ISIT 2010) solves
    ``min ‖L‖_* + λ_pcp‖S‖₁ + (1/2μ)‖Y − L − S‖²_F`` with ``λ_pcp = 1/√n`` and ``μ = √(2n)·σ``
    (``n×n``, noise ``N(0, σ²)``).  Divided by ``λ_pcp`` this is homfact's split objective
    ``‖E‖₁ + λ‖L‖_* + (γ/2)‖Y − L − E‖²`` with ``λ = 1/λ_pcp = √n_max`` and
    ``γ = 1/(μλ_pcp) = √n_max/μ``, so ``δ = 1/γ = μ/√n_max``: their ``μ`` is ``δ = √2·σ``.
    That value keeps noise directions here (600×450, rank 8, 5 % gross errors ±5,
    ``σ = 0.02``: rank 48 instead of 8).  The reason is the condition that decides the rank:
    no noise direction enters ``L`` when the gradient of the loss at the truth,
    ``G = γ·clip_δ(Y − L*)``, has ``‖G‖₂ < λ`` (the condition behind the rule
    ``λ ≥ 2‖∇ loss(L*)‖₂`` of Negahban, Ravikumar, Wainwright & Yu, Statist. Sci. 2012, whose
    factor 2 serves their error bound).  ``G`` has entries ``clip(z, ±c)/c`` (``δ = cσ``) on
    the inliers, second moment ``s(c)²/c²`` with ``s(c)² = E min(z², c²)``, and ``±1`` on
    the gross errors (fraction ``ρ``), so ``‖G‖₂ ≈ √((1 − ρ)s(c)²/c² + ρ)·√p(√m + √n)``
    (:func:`homfact.noise.noise_spectral_norm`, ``p`` the observed fraction).  At ``c = √2``
    and ``ρ = 5 %`` this is ``1.18·√n_max`` for 600×450 (rank 48 measured), at ``c = 2.6`` it
    is ``0.81·√n_max`` (rank 8).  So the default keeps stable PCP's form ``μ = c·σ·√n_max``
    (``δ* = cσ̂``) and takes for ``c`` the smallest value in ``[√2, 8]`` with
    ``‖G‖₂ ≤ λ/κ``, ``κ = 1.25`` (a margin for finite-size fluctuations and the error of
    ``σ̂``, ``ρ̂``; chosen on seeds 0-9 of ``benchmarks/robust_rpca.py``): for 0-10 % gross
    errors ``c`` is 2.5-3.9 on square matrices, 1.6-1.9 at 2000×300.  If no ``c ≤ 8``
    meets it (too many gross errors for ``λ``) ``c = 8`` and
    ``noise_info_["rule_feasible"]`` is false.  Noise-free data (``cσ̂`` below
    ``10⁻³·robust_scale(Y)``) use ``δ* = 10⁻³·robust_scale(Y)``: a finite ``γ`` whose
    shrinkage the debiasing refit removes (exact recovery, measured to ~1e-11).

    ``σ̂`` and ``ρ̂`` come from the warm-start path itself (module doc, 1.): after each stage
    ``δ_s`` (which starts at the robust scale 1.4826·MAD of ``Y`` and shrinks by 0.3) the
    residual ``R = Y − U(s + τ)Vᵀ`` of the *unshrunk* stage fit (``τ`` the stage's
    singular-value threshold) gives ``σ₀ = 1.4826·MAD(R)`` (robust to the gross errors,
    breakdown 50 %), then ``σ̂ = 1.4826·MAD(R[|R − med R| ≤ 5σ₀])·√(mn/((m−r)(n−r)))``
    (gross errors trimmed, the rank-``r`` fit's share of the noise variance restored), and
    ``ρ̂ = #{|R − med R| > 5σ̂}/#Ω``.  The Gavish–Donoho estimate of ``Y`` itself
    (:func:`homfact.noise.estimate_noise_level`) is not used: the gross errors are a
    full-rank, heavy matrix that inflates the median singular value (0.63 instead of 0.02 on
    the example above).  The path goes down by 0.3 per stage until ``0.3δ_s ≤ cσ̂_s``, runs one
    stage at ``cσ̂_s`` (where the fit, no longer biased by the larger thresholds, estimates
    ``σ̂`` again: within +2-6 % of ``σ`` measured at 200×260, rank 5, σ = 0.005-0.05) and
    ends with the stage at ``δ* = max(cσ̂, floor)`` from that estimate, the certified problem
    (``noise_level_`` is that ``σ̂``; when the floor sets ``δ*`` the path goes to it
    directly).  The residual is evaluated on a fixed uniform sample of at most 50,000
    observed entries (drawn from ``random_state``).  With ``continuation=False`` the path
    is still run, for the estimate only.  A given ``lam`` enters the rule in place of
    ``√n_max`` (the Huber form with a given ``lam`` uses ``√n_max``).

    Parameters
    ----------
    lam : float or "auto", default="auto"
        Weight of the nuclear-norm term relative to ``‖E‖₁``; ``"auto"`` is ``√max(m, n)``, the
        principal-component-pursuit choice of Candès, Li, Ma & Wright (2011) written for this
        scaling (``‖L‖_* + λ_pcp‖E‖₁`` with ``λ_pcp = 1/√max(m, n)``, divided by ``λ_pcp``).
        For ``loss="huber"`` it is ``√max(m, n)·δ``, the same problem (``Σ h_δ + λ‖L‖_*`` is
        ``δ`` times the split objective with ``γ = 1/δ`` and ``λ_split = λ/δ``).
    gamma : float or "auto", default="auto"
        Weight ``γ`` of the quadratic (dense noise) term; residual entries larger than
        ``δ = 1/γ`` are treated as gross errors.  ``"auto"``: ``γ = 1/δ*`` from the estimated
        noise level ``σ̂`` (stored as ``noise_level_``), by the rule above.
    loss : {"split", "huber"}, default="split"
        ``"huber"`` replaces the split by ``Σ h_δ(Y − UVᵀ)`` with threshold ``delta``.
    delta : float or "auto", default="auto"
        Huber threshold for ``loss="huber"`` (ignored by the split); ``"auto"`` is ``δ*``.
    init, rank, max_rank, tol, max_iter, time_limit, random_state, verbose
        As in :class:`homfact.LowRankApproximation`; ``time_limit`` covers the warm start and
        the certification together (the refit, a few least-squares sweeps, runs after them).
    continuation : bool, default=True
        Warm-start the certified solve by proximal-gradient continuation over Huber thresholds
        shrinking geometrically from the data's robust scale to the target (module doc, 1.).
        Without it :func:`homfact.meta.grow` starts from ``init`` directly; small thresholds
        then converge slowly.
    debias : bool, default=True
        Refit the low-rank part at the certified rank without the nuclear-norm shrinkage, by
        least squares on the detected inliers (module doc, 3.), and report the refit in
        ``U_``, ``V_``, ``sparse_``.  This is the default because the certified solution is
        biased towards zero by about ``λ/γ`` per singular value (relative error about
        ``λ/(γσ)``), which the refit removes: on noise-free low-rank-plus-sparse data it
        recovers ``L`` to rounding error.  ``debias=False`` reports the certified solution.
        With the automatic ``γ``/``δ`` its iterations stop once a step is below 10⁻³ of the
        statistical error ``s√(r(m + n − r))`` (``s`` the RMS inlier residual; noise-free data:
        at ``‖ΔL‖_F ≤ 10⁻¹⁰‖L‖_F`` as with a given ``γ``).
        The refit runs whatever the certificate's status and keeps the certified rank; it
        carries no certificate of its own.  It trusts that rank: with noisy data and a given
        ``γ`` too large for the noise (``1/γ`` at or below the noise level; ``"auto"`` avoids
        this) the model selects spurious noise components, which the refit no longer shrinks,
        so it can be worse than the certified solution (use ``debias=False`` or a smaller
        ``γ``).  It is skipped, with a warning, when the rank-``r`` model has more than half
        as many parameters ``r(m+n−r)`` as there are inliers (measured on 400×300 rank-5 data
        with noise and ``γ`` 3-30x too large: ranks 69-169, all caught by this rule; without
        it the refit had 2.5-18x the certified error).  It is also rejected, with a warning,
        when its Huber loss ``Σ_Ω h_δ(Y − L)`` (the model's own data term) exceeds the
        certified solution's: a refit started from a poor certified ``L`` (``λ`` far too large)
        can misclassify inliers and drift (150×120 rank 4, ``λ = 3.25√m``: error 30 against the
        certified 0.64 before this rule).

    Attributes
    ----------
    U_, V_ : ndarray of shape (m, rank_), (n, rank_)
        Balanced factors of the reported low-rank part: the debiased refit when ``debias`` is
        true, else the certified factors.  ``low_rank_`` is ``U_ @ V_.T`` (computed on access).
    sparse_ : ndarray (m, n)
        Reported gross errors (0 at missing entries).  Debiased: the residual ``Y − low_rank_``
        on the detected outliers ``|Y − low_rank_| > δ`` and 0 elsewhere; certified:
        ``soft(Y − UVᵀ, δ)``, the minimizing ``E`` of the split objective.
    certified_U_, certified_V_, certified_sparse_ : the certified solution ``(U, V, E)``;
        ``certified_low_rank_`` is ``certified_U_ @ certified_V_.T``.  With ``debias=False``
        they are the same arrays as ``U_``, ``V_``, ``sparse_``.
    certificate_ : homfact.Certificate
        Certificate of the *certified* factors ``certified_U_``, ``certified_V_`` for the split
        (or Huber) objective — not of the debiased refit, which solves a different
        (non-convex, fixed-rank) problem and carries no certificate.
    debiased_ : bool
        Whether ``U_``, ``V_``, ``sparse_`` hold the refit.
    debias_info_ : dict or None
        Refit summary: ALS iterations, support rounds, convergence, numbers of inliers and
        outliers, RMS residual on the inliers, ``huber_certified`` and ``huber_refit`` (the
        data terms compared above) and ``rejected`` (the reason) when the refit was not
        kept; ``skipped`` or ``failed`` when it did not run; ``None`` without a refit.
    gamma_, delta_ : float
        The ``γ`` used (``None`` for ``loss="huber"``) and the Huber threshold ``δ`` used
        (``1/γ`` for the split): the automatic values, or the given ones.
    noise_level_ : float or None
        The estimate ``σ̂`` of the dense-noise level from which the automatic ``γ``/``δ`` was
        set (``None`` when they were given).  On noise-free data it is the small residual of
        the unconverged warm-start stage, not 0 (the floor then sets ``δ``); the refit's
        ``debias_info_["inlier_rms_residual"]`` is the residual of the reported fit.
    noise_info_ : dict or None
        The estimate that set ``δ*``: ``noise_level``, ``outlier_fraction`` ``ρ̂``,
        ``noise_factor`` ``c``, ``rule_feasible``, ``target_delta`` ``δ*``, ``floored``.
    rank_, history_, n_iter_, stop_reason_, lam_
        As in LowRankApproximation, for the certified (final) problem; the refit keeps the rank.
    continuation_ : list of dict
        Threshold, rank and iterations of each warm-start stage (not certified); with the
        automatic ``γ``/``δ``, each stage but the last also holds its noise estimate.
    """

    def __init__(self, lam="auto", *, gamma="auto", loss="split", delta="auto", init="zero",
                 rank=None, max_rank=None, tol=1e-6, max_iter=200, time_limit=None,
                 random_state=None, verbose=False, continuation=True, debias=True):
        self.continuation = continuation
        self.debias = debias
        self.lam = lam
        self.gamma = gamma
        self.loss = loss
        self.delta = delta
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        lam = self.lam
        if not (isinstance(lam, str) and lam == "auto"):
            check_lam(lam)
        for name in ("gamma", "delta"):
            val = getattr(self, name)
            if isinstance(val, str) and val == "auto":
                continue
            if isinstance(val, bool) or not isinstance(val, numbers.Real):
                raise TypeError(f"{name} must be a real number or 'auto', got "
                                f"{type(val).__name__}")
            if not np.isfinite(val) or val <= 0:
                raise ValueError(f"{name} must be a finite number > 0 or 'auto', got {val!r}")
        if self.loss not in ("split", "huber"):
            raise ValueError(f"loss must be 'split' or 'huber', got {self.loss!r}")
        for name in ("continuation", "debias"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_fit_params(self)

    def fit(self, Y, y=None):
        """Fit ``Y`` (ndarray; NaN marks a missing entry): continuation, certify, debias."""
        self._check_params()
        try:
            A = np.asarray(Y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Y must be a numeric 2-D array: {exc}") from None
        if A.ndim != 2:
            raise ValueError(f"Y must be a 2-D array, got {A.ndim} dimension(s)")
        if A.size == 0:
            raise ValueError(f"Y must be non-empty, got shape {A.shape}")
        if np.any(np.isinf(A)):
            raise ValueError("Y contains infinite values (use NaN for missing entries)")
        split = self.loss == "split"
        lam_auto = isinstance(self.lam, str)
        auto = isinstance(self.gamma if split else self.delta, str)
        pcp = float(np.sqrt(max(A.shape)))  # 1/λ_pcp (Candès, Li, Ma & Wright 2011)
        missing = np.isnan(A)
        if missing.all():
            raise ValueError("Y has no observed (non-NaN) entry")
        obs = observed_entries(A) if missing.any() else None
        observed = ~missing if missing.any() else None
        Y0 = np.where(missing, 0.0, A)
        rms = float(np.sqrt(np.nanmean(A * A)))
        factors = self._initial_factors(A.shape, rms)
        start = time.perf_counter()
        deadline = np.inf if self.time_limit is None else start + float(self.time_limit)
        rng = np.random.default_rng(self.random_state)
        self.continuation_, self.noise_level_, self.noise_info_ = [], None, None
        if auto:  # pilot path: estimate σ̂ along the continuation, then δ* = max(cσ̂, floor)
            lam_rule = float(self.lam) if split and not lam_auto else pcp
            top = robust_scale(A[~missing])
            rule = _NoiseRule(Y0, observed, lam_rule, lam_rule,
                              _DELTA_FLOOR * top if top > 0 else 1.0, rng)
            final_lam = (lambda d: float(self.lam) / d) if not split and not lam_auto else None
            warm, self.continuation_ = _continuation(
                Y0, observed, final_lam or lam_rule, 1.0, None, factors, rng, deadline,
                max_rank=self.max_rank, final_rtol=1e-2 * float(self.tol), auto=rule)
            if self.continuation:
                factors = warm
            self.noise_info_ = dict(rule.last)
            self.noise_level_ = float(rule.last["noise_level"])
            delta = float(rule.last["target_delta"])
        else:
            delta = 1.0 / float(self.gamma) if split else float(self.delta)
        if split:
            self.gamma_ = 1.0 / delta if auto else float(self.gamma)
            weight = self.gamma_
            self.lam_ = pcp if lam_auto else float(self.lam)
        else:
            self.gamma_, weight = None, 1.0
            # Σ h_δ + λ‖L‖_* is δ·(split objective with γ = 1/δ, λ_split = λ/δ): PCP is λ = √n·δ
            self.lam_ = pcp * delta if lam_auto else float(self.lam)
        self.delta_ = delta
        if self.continuation and not auto:
            factors, self.continuation_ = _continuation(
                Y0, observed, self.lam_, delta, None if split else weight,
                factors, rng, deadline, max_rank=self.max_rank,
                final_rtol=1e-2 * float(self.tol))
        budget = None
        if self.time_limit is not None:  # the budget covers all parts together
            budget = max(self.time_limit - (time.perf_counter() - start), 1e-3)
        self._run(self._problem(A, obs, delta, weight), factors, "RobustPCA", time_limit=budget)
        self.certified_U_, self.certified_V_ = self.U_, self.V_
        R = np.where(missing, 0.0, A - self.U_ @ self.V_.T)
        self.certified_sparse_ = soft_threshold(R, delta)
        self.sparse_ = self.certified_sparse_
        self.debiased_, self.debias_info_ = False, None
        n_inliers = int(np.count_nonzero(np.abs(R[~missing]) <= delta))
        dof = self.rank_ * (A.shape[0] + A.shape[1] - self.rank_)
        if self.debias and self.rank_ > 0 and dof > 0.5 * n_inliers:
            # a rank-r refit with r(m+n−r) parameters on fewer than twice as many inliers
            # would interpolate them (typically: γ too large for the noise, spurious rank)
            self.debias_info_ = {"skipped": f"rank {self.rank_} has {dof} parameters for "
                                            f"{n_inliers} inliers (more than half)"}
            warnings.warn(f"RobustPCA: debiasing refit skipped: {self.debias_info_['skipped']};"
                          f" the certified (shrunk) solution is reported (a rank this large "
                          f"for the data: typically gamma too large for the noise level).",
                          UserWarning, stacklevel=2)
        elif self.debias and self.rank_ > 0:
            try:
                U, V, info = _debias(Y0, observed, self.U_, self.V_, delta,
                                     self.lam_ / weight, stat_tol=1e-3 if auto else 0.0)
            except np.linalg.LinAlgError as exc:  # keep the certified solution, say why
                self.debias_info_ = {"failed": str(exc)}
            else:
                outliers = info.pop("outlier_mask")
                # the refit must fit the data at least as well as the shrunk certified solution
                # under the model's own (Huber) loss; a refit started from a poor certified L
                # (λ far too large) can misclassify inliers and drift away: keep the certified
                loss = HuberLoss(Y0[observed], delta)
                fit_certified = loss.value((self.U_ @ self.V_.T)[observed])
                fit_refit = loss.value((U @ V.T)[observed])
                info.update(huber_certified=fit_certified, huber_refit=fit_refit)
                if not fit_refit <= fit_certified:
                    info["rejected"] = (f"the refit's Huber loss {fit_refit:.6g} exceeds the "
                                        f"certified solution's {fit_certified:.6g}")
                    self.debias_info_ = info
                    warnings.warn(f"RobustPCA: debiasing refit rejected: {info['rejected']}; "
                                  f"the certified (shrunk) solution is reported.", UserWarning,
                                  stacklevel=2)
                else:
                    self.U_, self.V_, self.debias_info_ = U, V, info
                    self.debiased_ = True
                    self.sparse_ = np.where(outliers, Y0 - U @ V.T, 0.0)
        self.n_features_in_ = A.shape[1]
        return self

    def _problem(self, A, obs, delta: float, weight: float):
        if obs is not None:
            return completion_problem(obs, self.lam_, loss="huber", delta=delta, weight=weight)
        return low_rank_problem(A, self.lam_, loss="huber", delta=delta, weight=weight)

    @property
    def low_rank_(self) -> np.ndarray:
        """The reported low-rank part ``U_ @ V_.T`` (debiased when ``debiased_``)."""
        check_is_fitted(self, "U_")
        return self.U_ @ self.V_.T

    @property
    def certified_low_rank_(self) -> np.ndarray:
        """The certified low-rank part ``certified_U_ @ certified_V_.T``."""
        check_is_fitted(self, "certified_U_")
        return self.certified_U_ @ self.certified_V_.T
