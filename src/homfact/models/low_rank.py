"""Low-rank approximation and matrix completion with certified global optimality.

Both solve ``min_{U,V} ℓ(Y − UVᵀ) + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂``, whose convex counterpart is the
nuclear-norm problem ``min_Z ℓ(Y − Z) + λ‖Z‖_*``; the rank is chosen by ``λ`` and grown by the
polar (the top singular pair of the residual).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._progress import progress
from ..meta import GrowResult, grow
from ..problems import (
    check_fit_params,
    check_lam,
    completion_problem,
    low_rank_problem,
    observed_entries,
)
from ..solvers.als import _ridge_right

__all__ = ["LowRankApproximation", "MatrixCompletion"]


def _check_real_matrix(Y, name: str) -> None:
    """Name the argument in the errors for the common mistakes (NaN/inf, wrong dimension).

    scikit-learn's ``validate_data`` (run afterwards for everything else) calls every input
    ``X``; this check runs first so the messages say ``Y``.
    """
    if sp.issparse(Y):
        data = Y.data if isinstance(getattr(Y, "data", None), np.ndarray) else Y.tocoo().data
        if data.dtype.kind in "fiu" and not np.all(np.isfinite(data)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return
    A = np.asarray(Y) if isinstance(Y, np.ndarray | list | tuple) else None
    if A is None or A.dtype.kind not in "fiub":
        return
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {A.ndim} dimension(s). Reshape your "
                         f"data with {name}.reshape(1, -1) if it is a single row")
    if A.dtype.kind == "f" and not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinite values")


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
                rank = 10 if self.rank is None else self.rank
                if not (isinstance(rank, numbers.Integral) and rank >= 1):
                    raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
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

    def _run(self, problem, factors, description: str, time_limit=...) -> GrowResult:
        time_limit = self.time_limit if time_limit is ... else time_limit
        with progress(bool(self.verbose), description) as callback:
            res = grow(problem, factors, tol=self.tol, max_rank=self.max_rank,
                       max_iter=self.max_iter, time_limit=time_limit,
                       random_state=self.random_state, callback=callback)
        self.U_, self.V_ = res.factors
        self.rank_ = res.rank
        self.certificate_ = res.certificate
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.stop_reason_ = res.stop_reason
        return res


class LowRankApproximation(_FactorizationMixin, TransformerMixin, BaseEstimator):
    """Certified nuclear-norm low-rank approximation ``Y ≈ U_ @ V_.T``.

    Solves ``min ½‖Y − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` (equivalently ``½‖Y − Z‖² + λ‖Z‖_*``, whose
    solution is singular-value soft-thresholding) by growing the rank from the polar and
    certifying the result with a duality gap.

    Parameters
    ----------
    lam : float, default=1.0
        Regularization weight ``λ >= 0``; singular values of ``Y`` below ``λ`` are removed.
        ``λ >= ‖Y‖₂`` gives the zero solution (see :func:`homfact.regularization_path`).
    init : {"zero", "random"} or (U0, V0), default="zero"
        Starting factors; ``"random"`` uses ``rank`` columns.
    rank : int, optional
        Number of columns of a random start (default 10).
    max_rank : int, optional
        Cap on the rank; the certificate stays honest when it binds.
    tol : float, default=1e-6
        Relative duality gap required for the ``"global"`` status.
    max_iter : int, default=200
        Outer iterations (one certificate each).
    time_limit : float, optional
        Wall-clock budget in seconds.
    random_state : int, Generator or None
        Seed for random starts and eigensolver start vectors.
    verbose : bool, default=False
        Show a progress line on a terminal.

    Attributes
    ----------
    U_ : ndarray of shape (n_samples, rank_)
    V_ : ndarray of shape (n_features, rank_)
        Balanced factors (``‖uᵢ‖ = ‖vᵢ‖``, orthogonal columns), ``Y ≈ U_ @ V_.T``.
    rank_ : int
    certificate_ : homfact.Certificate
        Objective, lower bound, gap, polar bounds and status of the fitted factors.
    history_ : list of dict
        One record per outer iteration: objective, rank, polar bounds, gap, elapsed time, ….
    components_ : ndarray of shape (rank_, n_features)
        ``V_.T`` (scikit-learn orientation).
    n_iter_, stop_reason_, n_features_in_
    """

    def __init__(self, lam=1.0, *, init="zero", rank=None, max_rank=None, tol=1e-6,
                 max_iter=200, time_limit=None, random_state=None, verbose=False):
        self.lam = lam
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, Y, y=None):
        """Fit the factors to ``Y`` (dense array or scipy.sparse; sparse input is densified)."""
        self._check_params()
        _check_real_matrix(Y, "Y")
        Y = validate_data(self, Y, accept_sparse=("csr", "csc", "coo"), dtype=np.float64)
        Y = Y.toarray() if sp.issparse(Y) else Y
        problem = low_rank_problem(Y, self.lam)
        rms = float(np.sqrt(np.mean(Y * Y)))
        self._run(problem, self._initial_factors(Y.shape, rms), "LowRankApproximation")
        return self

    @property
    def components_(self) -> np.ndarray:
        check_is_fitted(self, "V_")
        return self.V_.T

    def transform(self, Y):
        """Row codes of new data: ``Y V (VᵀV + λI)⁻¹``, the ridge step that defines ``U_``."""
        check_is_fitted(self, "V_")
        _check_real_matrix(Y, "Y")
        Y = validate_data(self, Y, reset=False, accept_sparse=("csr", "csc"), dtype=np.float64)
        return np.asarray(_ridge_right(np.asarray(Y @ self.V_), self.V_.T @ self.V_, self.lam))

    def inverse_transform(self, codes):
        """``codes @ V_.T``."""
        check_is_fitted(self, "V_")
        codes = np.asarray(codes, dtype=float)
        if codes.ndim != 2 or codes.shape[1] != self.rank_:
            raise ValueError(f"codes must have shape (n, {self.rank_}), got {codes.shape}")
        return codes @ self.V_.T

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MatrixCompletion(_FactorizationMixin, BaseEstimator):
    """Certified nuclear-norm matrix completion from the observed entries of ``Y``.

    Solves ``min ½‖P_Ω(Y − UVᵀ)‖² + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` over the observed set ``Ω``: for a
    scipy.sparse ``Y`` every *stored* entry is observed (stored zeros included); for an ndarray
    NaN marks a missing entry.  With sparse input no dense ``m×n`` array is ever formed: a
    local sweep costs ``O(|Ω| r² + (m+n) r³)`` and the polar is a Lanczos run on the sparse
    residual.

    Parameters are those of :class:`LowRankApproximation`, plus

    local_solver : {"auto", "als-exact", "als"}, default="auto"
        ``"als-exact"`` (the default under ``"auto"``) solves each row's ridge problem exactly;
        ``"als"`` is the soft-impute-ALS majorization step (cheaper sweeps, many more of them).

    Attributes
    ----------
    U_, V_, rank_, certificate_, history_, n_iter_, stop_reason_ : as in LowRankApproximation.
    shape_ : (int, int)
        Shape of the completed matrix.
    """

    def __init__(self, lam=1.0, *, init="zero", rank=None, max_rank=None, tol=1e-6,
                 max_iter=200, time_limit=None, random_state=None, verbose=False,
                 local_solver="auto"):
        self.lam = lam
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.random_state = random_state
        self.verbose = verbose
        self.local_solver = local_solver

    def fit(self, Y, y=None):
        """Fit to the observed entries of ``Y`` (scipy.sparse, or ndarray with NaN = missing)."""
        self._check_params()
        obs = observed_entries(Y)
        solver = "als-exact" if self.local_solver == "auto" else self.local_solver
        if solver not in ("als-exact", "als"):
            raise ValueError(f"local_solver must be 'auto', 'als-exact' or 'als', got "
                             f"{self.local_solver!r}")
        problem = completion_problem(obs, self.lam, local_solver=solver)
        self.shape_ = obs.shape
        rms = float(np.sqrt(np.mean(obs.values ** 2)))
        self._run(problem, self._initial_factors(obs.shape, rms), "MatrixCompletion")
        return self

    def predict(self, rows, cols) -> np.ndarray:
        """Completed values ``(U_ V_ᵀ)[rows[t], cols[t]]``."""
        check_is_fitted(self, "U_")
        rows = self._check_index(rows, "rows", self.shape_[0])
        cols = self._check_index(cols, "cols", self.shape_[1])
        if rows.shape != cols.shape:
            raise ValueError(f"rows and cols must have the same shape, got {rows.shape} and "
                             f"{cols.shape}")
        out = np.einsum("ij,ij->i", self.U_[rows.ravel()], self.V_[cols.ravel()])
        return out.reshape(rows.shape)

    @staticmethod
    def _check_index(idx, name: str, size: int) -> np.ndarray:
        arr = np.asarray(idx)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise TypeError(f"{name} must be integer indices, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= size):
            raise ValueError(f"{name} must lie in [0, {size - 1}], got values in "
                             f"[{arr.min()}, {arr.max()}]")
        return arr.astype(np.int64)

    def to_dense(self) -> np.ndarray:
        """The completed matrix ``U_ @ V_.T`` (dense ``m×n``: only for matrices that fit)."""
        check_is_fitted(self, "U_")
        return self.U_ @ self.V_.T
