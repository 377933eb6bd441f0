"""Estimator plumbing shared by the matrix estimators (:class:`~homfact.LowRankApproximation`,
:class:`~homfact.MatrixCompletion`, :class:`~homfact.RobustPCA`,
:class:`~homfact.StructuredFactorization`): the input check that names the argument (from
:mod:`homfact.validation`), and the parameter checks,
initialization and fitting through :func:`homfact.meta.grow`.

Moved unchanged from :mod:`homfact.models.low_rank`, which re-exports both names.
"""

from __future__ import annotations

import numpy as np

from .._progress import progress
from ..meta import GrowResult, grow
from ..problems import check_fit_params, check_lam
from ..validation import random_init_rank

__all__: list[str] = []  # private helpers of the estimators


class _FactorizationMixin:
    """Shared parameter checks, initialization and fitting through :func:`grow`."""

    def _check_params(self) -> None:
        check_lam(self.lam)
        check_fit_params(self)

    def _initial_factors(self, shape: tuple[int, int], scale: float):
        init = self.init
        if isinstance(init, str):
            if init == "zero":
                return None
            if init == "random":
                rank = random_init_rank(self.rank)
                rng = np.random.default_rng(self.random_state)
                s = np.sqrt(max(scale, 1e-12) / np.sqrt(rank))
                return [s * rng.standard_normal((shape[0], rank)),
                        s * rng.standard_normal((shape[1], rank))]
            raise ValueError(f"init must be 'zero', 'random' or a pair (U0, V0), got {init!r}")
        if not (isinstance(init, tuple | list) and len(init) == 2):
            raise ValueError(f"init must be 'zero', 'random' or a pair (U0, V0), got "
                             f"{type(init).__name__}")
        U0, V0 = (np.asarray(a, dtype=float) for a in init)
        if U0.ndim != 2 or V0.ndim != 2 or U0.shape[1] != V0.shape[1]:
            raise ValueError("init=(U0, V0) needs 2-D arrays with the same number of columns")
        if U0.shape[0] != shape[0] or V0.shape[0] != shape[1]:
            raise ValueError(f"init=(U0, V0) needs U0 with {shape[0]} rows and V0 with "
                             f"{shape[1]} rows, got {U0.shape} and {V0.shape}")
        if not (np.all(np.isfinite(U0)) and np.all(np.isfinite(V0))):
            raise ValueError("init=(U0, V0) contains NaN or infinite values")
        return [U0.copy(), V0.copy()]

    def _run(self, problem, factors, description: str, time_limit=...,
             **grow_options) -> GrowResult:
        """:func:`homfact.meta.grow` with the estimator's common parameters (and any further
        ``grow`` keyword, e.g. ``max_sweeps``); the result becomes the fitted attributes.

        ``checkpoint``, ``checkpoint_every`` and ``resume`` are passed on when the estimator
        has them (:class:`~homfact.LowRankApproximation`, :class:`~homfact.MatrixCompletion`);
        ``resumed_from_`` records the outer iterations restored from the checkpoint."""
        time_limit = self.time_limit if time_limit is ... else time_limit
        saving = {"checkpoint": getattr(self, "checkpoint", None),
                  "checkpoint_every": getattr(self, "checkpoint_every", 1),
                  "resume": getattr(self, "resume", False)}
        with progress(bool(self.verbose), description) as callback:
            res = grow(problem, factors, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=time_limit,
                       random_state=self.random_state, callback=callback, **saving,
                       **grow_options)
        self.U_, self.V_ = res.factors
        self.rank_ = res.rank
        self.certificate_ = res.certificate
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        self.resumed_from_ = res.resumed_from
        return res
