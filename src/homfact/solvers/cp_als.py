"""CP alternating least squares for ℓ2 gauges (product form) and the unregularized debias refit.

**Regularized CP-ALS** (:func:`cp_als`) minimizes the *product form* itself,

    F(X) = ½‖P_Ω(Y − [[X¹,…,Xᴷ]])‖² + λ Σᵢ Πₖ ‖xᵢᵏ‖₂ ,

by majorize–minimize block updates.  For ``K = 2`` the sum form ``½(‖u‖² + ‖v‖²)`` is a plain
ridge (``als_dense``); for ``K ≥ 3`` the smooth equivalent of ``Πₖ‖xᵏ‖`` is
``(1/K)Σₖ‖xᵏ‖ᴷ`` (AM–GM, equality at balanced columns), which is *not* a ridge.  Instead, block
``k`` of slice ``i`` carries the penalty ``λ cᵢ ‖xᵢᵏ‖`` with ``cᵢ = Π_{j≠k}‖xᵢʲ‖`` fixed, and the
variational bound ``‖x‖ ≤ ‖x‖²/(2η) + η/2`` (equality at ``η = ‖x‖``), taken at the current
``ηᵢ = ‖xᵢᵏ‖``, majorizes it by the ridge ``½ dᵢ‖xᵢᵏ‖² + const`` with ``dᵢ = λ cᵢ/ηᵢ``.  The block
update minimizes the majorizer exactly:

    dense:   Xᵏ ← Mₖ (Γₖ + diag(d))⁻¹,  Mₖ = Y₍ₖ₎(⊙_{j≠k}Xʲ),  Γₖ = ∗_{j≠k} XʲᵀXʲ;
    masked:  row ``a`` of ``Xᵏ`` solves ``(Σ_{b∈Ωₐ} k_b k_bᵀ + diag(d)) x = Σ_{b∈Ωₐ} Y_{ab} k_b``
             (``k_b`` = row ``b`` of the Khatri–Rao product, ``Ωₐ`` the observed entries of
             slice ``a``),

so ``F`` never increases (MM).  At balanced columns ``dᵢ = λ θᵢ^{(K−2)/K}`` (``θᵢ`` the slice
penalty), ``= λ`` for ``K = 2``, recovering ridge ALS.  Slices with a zero block stay zero.
Columns are rebalanced after every sweep (no change in ``F``).

**Debias refit** (:func:`cp_refit`) runs unregularized ALS (``λ = 0``) at a fixed rank from
given factors: exact least-squares blocks ``Xᵏ ← Mₖ Γₖ⁺``; HALS column updates (exact
coordinate minimization, projected on ``≥ 0``) for non-negative modes or modes whose zero
pattern is kept; missing entries are imputed from the current model each sweep (EM, itself an
MM step for the masked loss).  Stopping follows TensorLy's ``parafac``: the change of the
relative error ``‖P_Ω(Y − Z)‖/‖P_Ω Y‖`` between sweeps below ``tol``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.linalg as sla

from ..maps import CPMap, MaskedCPMap, _hadamard_gram, khatri_rao, mttkrp
from .als import LocalResult

__all__ = ["cp_als", "cp_objective", "cp_refit"]


def _rebalance_l2(factors: list[np.ndarray]) -> list[np.ndarray]:
    """Scale slice ``i`` so every block has norm ``θᵢ^{1/K}``; zero slices with a zero block."""
    K = len(factors)
    norms = np.sqrt(np.array([np.einsum("ij,ij->j", F, F) for F in factors]))
    theta = np.prod(norms, axis=0)
    target = theta ** (1.0 / K)
    live = norms > 0
    scales = np.where(live, target / np.where(live, norms, 1.0), 0.0)
    scales[:, theta == 0] = 0.0
    return [F * scales[k] for k, F in enumerate(factors)]


def cp_objective(mapping: CPMap, y: np.ndarray, factors: list[np.ndarray], lam: float) -> float:
    """``½‖y − Φ(X)‖² + λ Σᵢ Πₖ ‖xᵢᵏ‖₂`` (``y`` in the map's output representation)."""
    r = y - mapping.forward(factors)
    theta = np.prod([np.linalg.norm(F, axis=0) for F in factors], axis=0)
    return 0.5 * float(np.vdot(r, r)) + lam * float(theta.sum())


def _solve_pos(M: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``B M⁻¹`` for a symmetric PSD ``M`` (least squares when singular or ill-conditioned).

    Cholesky solve (LAPACK ``posv``) accepted when ``M`` is positive definite and its
    reciprocal condition estimate (``pocon``, 1-norm) is at least machine epsilon, the test of
    ``scipy.linalg.solve(assume_a="pos")``; called directly for the small ``r × r`` systems of
    every ALS block (scipy's wrapper overhead dominates at small sizes).
    """
    if M.dtype == np.float64 and B.dtype == np.float64 and M.shape[0] == M.shape[1] > 0:
        c, x, info = sla.lapack.dposv(M, B.T)
        if info == 0 and np.all(np.isfinite(x)):
            rcond, info2 = sla.lapack.dpocon(c, float(np.abs(M).sum(axis=0).max()))
            if info2 == 0 and rcond >= np.finfo(float).eps:
                return x.T
    with warnings.catch_warnings():
        warnings.simplefilter("error", sla.LinAlgWarning)
        try:
            return sla.solve(M, B.T, assume_a="pos", check_finite=False).T
        except (np.linalg.LinAlgError, ValueError, sla.LinAlgWarning):
            pass
    return np.linalg.lstsq(M, B.T, rcond=None)[0].T


def _masked_rows_solve(W: np.ndarray, kr: np.ndarray, rhs: np.ndarray,
                       d: np.ndarray) -> np.ndarray:
    """Row-wise ridge solves ``(Σ_b W[a,b] k_b k_bᵀ + diag(d)) x_a = rhs_a``.

    ``W`` is the ``n × J`` 0/1 unfolded mask, ``kr`` the ``J × r`` Khatri–Rao product.
    """
    n, r = rhs.shape
    outer = (kr[:, :, None] * kr[:, None, :]).reshape(kr.shape[0], r * r)
    N = (W @ outer).reshape(n, r, r)
    N[:, np.arange(r), np.arange(r)] += d
    try:
        return np.linalg.solve(N, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.einsum("aij,aj->ai", np.linalg.pinv(N, hermitian=True), rhs)


def cp_als(mapping: CPMap, y: np.ndarray, factors: list[np.ndarray], lam: float, *,
           max_sweeps: int = 500, tol: float = 1e-9, deadline: float = np.inf,
           nonnegative: tuple[bool, ...] | None = None) -> LocalResult:
    """Majorize–minimize CP-ALS for the ℓ2 product form (module docstring): ``F`` never increases.

    ``nonnegative[k]`` (dense map only) constrains mode ``k`` to ``≥ 0``: its block then
    minimizes the same ridge majorizer over ``Xᵏ ≥ 0`` by two HALS passes (exact coordinate
    minimization per column, ``xᶜ ← max(0, Mᶜ − Σ_{c'≠c} x^{c'}Γ_{c'c})/(Γ_cc + d_c)``), each
    of which lowers the majorizer, so ``F`` still never increases.
    Stops when the relative decrease ``(F_old − F_new)/F_new`` over a sweep is ``≤ tol``.
    """
    K = mapping.n_blocks
    nonneg = tuple(nonnegative) if nonnegative is not None else (False,) * K
    if any(nonneg) and isinstance(mapping, MaskedCPMap):
        raise ValueError("cp_als: non-negative modes need a dense CPMap (use prox_linear)")
    X = _rebalance_l2([np.array(F, dtype=float, copy=True) for F in factors])
    r = X[0].shape[1]
    masked = isinstance(mapping, MaskedCPMap)
    if r == 0:
        return LocalResult(X, 0, 0.0, cp_objective(mapping, y, X, lam))
    if masked:
        Yd = np.zeros(mapping.shape)
        Yd[mapping.mask] = y
        Wk = [np.moveaxis(mapping.mask, k, 0).reshape(mapping.shape[k], -1).astype(float)
              for k in range(K)]
    else:
        Yd = np.asarray(y, dtype=float).reshape(mapping.shape)
    yy = float(np.vdot(Yd, Yd))
    f_old = cp_objective(mapping, y, X, lam)
    rel, sweeps = np.inf, 0
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        norms = np.array([np.linalg.norm(F, axis=0) for F in X])
        yz = 0.0
        for k in range(K):
            active = np.all(norms > 0, axis=0)
            if not np.any(active):
                break
            others = np.prod(np.delete(norms, k, axis=0), axis=0)
            d = np.zeros(r)
            d[active] = lam * others[active] / norms[k, active]
            Xa = [F[:, active] for F in X]
            M = mttkrp(Yd, Xa, k)
            if masked:
                kr = khatri_rao([Xa[j] for j in range(K) if j != k], int(active.sum()))
                new = _masked_rows_solve(Wk[k], kr, M, d[active])
            elif nonneg[k]:
                Gam = _hadamard_gram(Xa, skip=k)
                new = np.maximum(Xa[k], 0.0)
                dd = d[active]
                for _ in range(2):
                    for c in range(new.shape[1]):
                        den = Gam[c, c] + dd[c]
                        if den <= 0:
                            continue
                        num = M[:, c] - new @ Gam[:, c] + Gam[c, c] * new[:, c]
                        new[:, c] = np.maximum(num, 0.0) / den
            else:
                new = _solve_pos(_hadamard_gram(Xa, skip=k) + np.diag(d[active]), M)
            X[k][:, active] = new
            X[k][:, ~active] = 0.0
            norms[k] = np.linalg.norm(X[k], axis=0)
            if k == K - 1 and not masked:
                # ⟨Y, Z⟩ = Σ_c (Y₍K₎(⊙_{j<K}Xʲ))_c · x_c^K: the MTTKRP of this very update
                # (inactive slices are zero); Z, ‖Z‖² and θ do not change when rebalancing
                yz = float(np.sum(M * new))
        if masked:
            f_new = cp_objective(mapping, y, X, lam)
        else:
            # ‖Y − Z‖² = ‖Y‖² − 2⟨Y, Z⟩ + ‖Z‖² from the last MTTKRP and the Gram matrices
            zz = float(np.sum(_hadamard_gram(X)))
            theta = np.prod([np.linalg.norm(F, axis=0) for F in X], axis=0)
            f_new = 0.5 * max(yy - 2 * yz + zz, 0.0) + lam * float(theta.sum())
        X = _rebalance_l2(X)
        # relative to F itself (not max(1, F)): with small-norm data an absolute test would
        # stop after one sweep and leave the polar to rediscover unconverged atoms
        rel = (f_old - f_new) / max(abs(f_new), 1e-300)
        f_old = f_new
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult(X, sweeps, float(rel), float(f_old))


def cp_refit(Y: np.ndarray, factors: list[np.ndarray], *, mask: np.ndarray | None = None,
             nonnegative: tuple[bool, ...] | None = None,
             keep_zeros: tuple[bool, ...] | None = None, max_iter: int = 100,
             tol: float = 1e-8, deadline: float = np.inf) -> tuple[list[np.ndarray], dict]:
    """Unregularized CP-ALS at fixed rank from ``factors`` (the debias refit; module docstring).

    Parameters
    ----------
    Y : dense ``K``-way data (values off ``mask`` are ignored).
    factors : starting factors, one ``n_k × r`` array per mode.
    mask : boolean array, ``True`` = observed (``None``: all observed).
    nonnegative : per mode, keep that factor ``≥ 0``.
    keep_zeros : per mode, keep the entries that are exactly zero at zero (support of an ℓ1
        solution).
    max_iter, tol : sweep cap; stop when ``|e_prev − e| < tol`` for the relative error ``e``.

    Returns ``(factors, info)`` with ``info = {"n_iter", "rel_error", "errors"}``.
    """
    K = Y.ndim
    X = [np.array(F, dtype=float, copy=True) for F in factors]
    r = X[0].shape[1]
    nonneg = tuple(nonnegative) if nonnegative is not None else (False,) * K
    keep = tuple(keep_zeros) if keep_zeros is not None else (False,) * K
    supports = [(F != 0) if kz else None for F, kz in zip(X, keep, strict=True)]
    obs = None if mask is None or np.all(mask) else np.asarray(mask, dtype=bool)
    Yo = np.where(obs, Y, 0.0) if obs is not None else np.asarray(Y, dtype=float)
    ynorm = float(np.linalg.norm(Yo)) or 1.0
    errors: list[float] = []
    if r == 0:
        return X, {"n_iter": 0, "rel_error": float(np.linalg.norm(Yo)) / ynorm, "errors": []}
    cpmap = CPMap(Y.shape)
    n_done = 0
    for it in range(1, max_iter + 1):
        n_done = it
        if obs is not None:  # EM: impute the missing entries from the current model
            Yf = np.where(obs, Yo, cpmap.forward(X))
        else:
            Yf = Yo
        for k in range(K):
            M = mttkrp(Yf, X, k)
            Gam = _hadamard_gram(X, skip=k)
            if nonneg[k] or supports[k] is not None:
                Fk = X[k]
                for c in range(r):
                    if Gam[c, c] <= 0:
                        continue
                    col = Fk[:, c] + (M[:, c] - Fk @ Gam[:, c]) / Gam[c, c]
                    if nonneg[k]:
                        col = np.maximum(col, 0.0)
                    if supports[k] is not None:
                        col = col * supports[k][:, c]
                    Fk[:, c] = col
            else:
                X[k] = _solve_pos(Gam, M)
        if obs is None:
            # ⟨Y, Z⟩ from the last block's MTTKRP (computed from the other, final blocks)
            res2 = ynorm ** 2 - 2 * float(np.sum(M * X[K - 1])) + float(np.sum(
                _hadamard_gram(X)))
            err = float(np.sqrt(max(res2, 0.0))) / ynorm
        X = _rebalance_l2(X)
        if obs is not None:
            err = float(np.linalg.norm(np.where(obs, Yo - cpmap.forward(X), 0.0))) / ynorm
        errors.append(err)
        if len(errors) > 1 and abs(errors[-2] - err) < tol:
            break
        if time.perf_counter() > deadline:
            break
    return X, {"n_iter": n_done, "rel_error": errors[-1], "errors": errors}
