"""Certify factors that came from anywhere (another library, an earlier run)."""

from __future__ import annotations

import numpy as np

from .certificate import Certificate
from .maps import CPMap
from .meta import DEFAULT_POLAR_RTOL, Problem, certify_factors, check_tol
from .problems import cp_factors
from .registry import get_model

__all__ = ["certify"]


def certify(model, Y=None, factors=None, lam: float | None = None, *, tol: float = 1e-6,
            random_state=None) -> Certificate:
    """Certificate of the factorization ``Y ≈ U Vᵀ`` for a model's objective.

    Parameters
    ----------
    model : "low_rank", "completion", "cp" or a :class:`homfact.meta.Problem`
        The objective: ``½‖Y − UVᵀ‖² + λΣ‖uᵢ‖‖vᵢ‖``, its observed-entries version or the CP
        tensor one ``½‖P_Ω(Y − [[X]])‖² + λΣᵢΠₖ‖xᵢᵏ‖₂``; any model of
        :mod:`homfact.registry` with a problem builder (aliases ``"lowrank"``, ``"cp_tensor"``).
    Y : data (dense/sparse for ``"low_rank"``; sparse observed entries or NaN-masked array for
        ``"completion"``); ignored when ``model`` is a Problem.
    factors : (U, V) with ``U`` of shape ``(m, r)`` and ``V`` of shape ``(n, r)``.  For
        ``"cp"``: K factor matrices ``n_k × r``, a ``(weights, factors)`` pair or a TensorLy
        ``CPTensor`` (e.g. a ``parafac`` result); weights are folded in as ``|wᵢ|^{1/K}`` per
        mode, so the penalty is that of the balanced factorization.  They are
        used as given: the objective uses their product-form penalty ``Σᵢ‖uᵢ‖‖vᵢ‖``
        (unbalanced factors are penalized as they stand, never rebalanced silently).
    lam : regularization weight (required unless ``model`` is a Problem).
    tol : relative-gap tolerance for the ``"global"`` status.
    """
    check_tol(tol)
    if isinstance(model, Problem):
        problem = model
    else:
        try:
            spec = get_model(model, need="problem")
        except ValueError as exc:
            raise ValueError(f"{exc} (or pass a homfact.meta.Problem)") from None
        if lam is None:
            raise ValueError("lam is required to certify factors for a named model")
        if Y is None:
            raise ValueError("Y is required to certify factors for a named model")
        problem = spec.build(Y, lam)
    if factors is not None and isinstance(problem.mapping, CPMap):
        # CP factors from any source: K matrices, (weights, factors) or a tensorly CPTensor
        # (weights folded into the factors, balanced: see homfact.problems.cp_factors)
        factors = cp_factors(factors, problem.mapping.block_sizes)
    if factors is None or len(factors) != problem.mapping.n_blocks:
        raise ValueError(f"factors must be a sequence of {problem.mapping.n_blocks} arrays")
    fs = []
    for k, (F, n_k) in enumerate(zip(factors, problem.mapping.block_sizes, strict=True)):
        F = np.asarray(F, dtype=float)
        if F.ndim == 1:
            F = F[:, None]
        if F.ndim != 2 or F.shape[0] != n_k:
            raise ValueError(f"factors[{k}] must have {n_k} rows, got shape {F.shape}")
        if not np.all(np.isfinite(F)):
            raise ValueError(f"factors[{k}] contains NaN or infinite values")
        fs.append(F)
    if len({F.shape[1] for F in fs}) != 1:
        raise ValueError("all factors must have the same number of columns")
    cert, *_ = certify_factors(problem, fs, tol=tol, polar_rtol=DEFAULT_POLAR_RTOL,
                               rng=np.random.default_rng(random_state))
    return cert
