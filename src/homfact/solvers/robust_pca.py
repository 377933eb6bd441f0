"""Solvers of robust PCA around the certified fit (module doc of
:mod:`homfact.models.robust_pca`): the warm start by FISTA continuation over Huber thresholds
with a warm-started singular-value thresholding, and the debiasing least-squares refit on the
inliers.  Nothing here is certified."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..noise import robust_scale

#: below this size (min(m, n)) the thresholding uses a dense SVD
_DENSE_SVT_MAX = 64
#: extra singular vectors kept by the warm-started subspace iteration
_OVERSAMPLE = 10


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
