"""Quality measures of fitted factors against known ones (for benchmarks and tests)."""

from __future__ import annotations

import numpy as np

from .problems import cp_factors

__all__ = ["factor_match_score"]


def factor_match_score(true_factors, est_factors, *, weights: bool = False) -> float:
    """Factor match score (FMS) of estimated CP factors against the true ones, in ``[0, 1]``.

    Columns are normalized; the congruence of components ``i`` (true) and ``j`` (estimated) is
    ``C_ij = Πₖ |⟨aᵢᵏ, âⱼᵏ⟩| / (‖aᵢᵏ‖‖âⱼᵏ‖)`` (times ``1 − |wᵢ − ŵⱼ|/max(wᵢ, ŵⱼ)`` with
    ``weights=True``, ``w`` = the norm of the rank-one term).  The components are matched by the
    optimal assignment (Hungarian algorithm) and ``FMS = Σ_matched C / max(r, r̂)``: a missing or
    a spurious component counts as 0.  Inputs may be factor lists, ``(weights, factors)`` pairs
    or TensorLy CPTensors.
    """
    from scipy.optimize import linear_sum_assignment

    A = cp_factors(true_factors, name="true_factors")
    B = cp_factors(est_factors, name="est_factors")
    if len(A) != len(B) or any(a.shape[0] != b.shape[0] for a, b in zip(A, B, strict=True)):
        raise ValueError("true_factors and est_factors must have the same mode sizes")
    r, rh = A[0].shape[1], B[0].shape[1]
    if r == 0 or rh == 0:
        return 0.0
    C = np.ones((r, rh))
    wa, wb = np.ones(r), np.ones(rh)
    for a, b in zip(A, B, strict=True):
        na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
        wa, wb = wa * na, wb * nb
        with np.errstate(invalid="ignore", divide="ignore"):
            C *= np.nan_to_num(np.abs((a / na).T @ (b / nb)))
    if weights:
        C *= 1.0 - np.abs(wa[:, None] - wb[None, :]) / np.maximum(
            np.maximum(wa[:, None], wb[None, :]), 1e-300)
    ri, ci = linear_sum_assignment(-C)
    return float(C[ri, ci].sum() / max(r, rh))
