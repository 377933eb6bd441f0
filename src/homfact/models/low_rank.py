"""Low-rank approximation and matrix completion with certified global optimality.

Both solve ``min_{U,V} ℓ(Y − UVᵀ) + λ Σᵢ ‖uᵢ‖₂‖vᵢ‖₂``, whose convex counterpart is the
nuclear-norm problem ``min_Z ℓ(Y − Z) + λ‖Z‖_*``; the rank is chosen by ``λ`` and grown by the
polar (the top singular pair of the residual).  The automatic ``λ``, the debiasing shrinkage and
their sources: docs: models/low-rank.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..lam_rules import LOW_RANK_AUTO_LAM_FACTOR as AUTO_LAM_FACTOR
from ..lam_rules import LOW_RANK_AUTO_LAM_FLOOR as AUTO_LAM_FLOOR
from ..lam_rules import low_rank_auto_lam
from ..noise import estimate_noise_level
from ..problems import (
    check_fit_params,
    check_lam_or_auto,
    completion_problem,
    low_rank_problem,
    observed_entries,
)
from ..solvers.als import _ridge_right
from ..solvers.shrinkage import shrunk_triplets as _shrunk_triplets
from ..validation import _check_real_matrix
from ._base import _FactorizationMixin

# low_rank_auto_lam and its constants live in homfact.lam_rules, _shrunk_triplets in
# homfact.solvers.shrinkage, _check_real_matrix and _FactorizationMixin in homfact.models._base;
# all are re-exported here under their former names.
__all__ = ["AUTO_LAM_FACTOR", "AUTO_LAM_FLOOR", "LowRankApproximation", "MatrixCompletion",
           "low_rank_auto_lam"]


class LowRankApproximation(_FactorizationMixin, TransformerMixin, BaseEstimator):
    """Certified nuclear-norm low-rank approximation ``Y ≈ U_ @ V_.T``.

    Solves ``min ½‖Y − UVᵀ‖²_F + λ Σᵢ ‖uᵢ‖‖vᵢ‖`` (equivalently ``½‖Y − Z‖² + λ‖Z‖_*``, whose
    solution is singular-value soft-thresholding) by growing the rank from the polar and
    certifying the result with a duality gap.

    **Debiasing** (``debias``, on by default with ``lam="auto"``).  Soft thresholding shrinks
    every kept singular value by ``λ``.  The certified fit selects the rank ``r`` (and
    ``certificate_`` stays about it); the reported estimate keeps the top ``r`` singular
    triplets ``(pᵢ, sᵢ, qᵢ)`` of ``Y`` (computed along the certified factors, which span them)
    and replaces each ``sᵢ`` by the Frobenius-optimal shrinkage ``ηᵢ`` of Gavish & Donoho
    (2017) (:func:`homfact.noise.optimal_singular_value_shrinkage`), so
    ``U_ @ V_.T = Σᵢ ηᵢ pᵢ qᵢᵀ``; a component with ``ηᵢ = 0`` (below the noise bulk edge: only
    possible with ``debias=True`` and a numeric ``λ`` below the edge) is dropped.  The
    shrinker's formula, its measured effect and its cost: docs: models/low-rank, "Debiasing".

    **Dask input** (``pip install 'homfact[dask]'``).  ``fit(Y)`` with a ``dask.array.Array``
    (``m×n``, dense, possibly larger than one machine's memory) runs on the active
    ``dask.distributed`` client, or on a ``LocalCluster`` started for the fit when there is
    none (:func:`homfact.distributed.dense_problem.fit_low_rank`; docs: models/distributed).
    ``Y`` stays on the workers as row blocks (``Yᵀ`` when ``m < n``, the factors swapped at the
    end); the loop is the same (:func:`homfact.meta.grow`) with the ridge ALS sweeps of the
    one-machine fit computed on the blocks and the polar
    :class:`homfact.polar.OperatorNuclearPolar` (the ``min(m, n)``-sided Gram matrix summed on
    the workers: a deterministic certificate; Lanczos, usually ``"unverified"``, when
    ``min(m, n)`` exceeds its ``gram_max_dim``).  ``lam="auto"``, ``noise_level_`` and the
    debiasing are those of the one-machine fit (the noise estimate reads the same at most
    2000 × 2000 random submatrix, gathered on the client).  ``U_`` and ``V_`` are NumPy arrays
    on the client: ``m·r + n·r`` floats must fit there.

    Parameters
    ----------
    lam : float or "auto", default="auto"
        Regularization weight ``λ >= 0``; singular values of ``Y`` below ``λ`` are removed.
        ``λ >= ‖Y‖₂`` gives the zero solution (see :func:`homfact.regularization_path`).
        ``"auto"``: ``λ = 1.1·σ̂(√m + √n)`` with ``σ̂`` the Gavish–Donoho noise estimate
        (stored in ``noise_level_``), just above the largest singular value of an ``m×n``
        Gaussian noise matrix, so the noise directions are removed and the signal directions
        above the noise edge kept (:func:`homfact.lam_rules.low_rank_auto_lam` states the rule,
        its sources and where it fails; docs: models/low-rank).  The former default
        ``lam=1.0`` depended on the scale of ``Y``; pass it explicitly for the old behaviour.
    debias : {"auto", True, False}, default="auto"
        Replace the soft-thresholded singular values by the optimal shrinkage above.
        ``"auto"``: on with ``lam="auto"`` (``σ̂`` is known), off with a numeric ``lam`` (the
        fit is then the certified solution of the given problem).  ``True`` also debiases a
        numeric-``lam`` fit (``σ̂`` is then estimated and stored in ``noise_level_``);
        ``False`` reports the certified solution.
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
    checkpoint : str, os.PathLike or None, default=None
        File where the fit saves its state every ``checkpoint_every`` outer iterations and
        at the end (NumPy ``.npz`` without pickle, written atomically;
        :func:`homfact.meta.grow`, docs: theory/descent-and-growth, "Checkpoint and resume").
    checkpoint_every : int, default=1
        Outer iterations between two checkpoints.
    resume : bool, default=False
        Go on from ``checkpoint`` when the file exists (``init`` is then ignored; like
        scikit-learn's ``warm_start``, but from the file, so a crashed or time-limited fit
        loses nothing); start afresh when it does not.  ``max_iter`` and ``time_limit`` count
        the iterations and time before the checkpoint too.  With the same data and
        parameters the resumed fit ends at the same factors as an uninterrupted one;
        ``ValueError`` when the file was written for other data or another ``λ``.

    Attributes
    ----------
    U_ : ndarray of shape (n_samples, k)
    V_ : ndarray of shape (n_features, k)
        Balanced factors (``‖uᵢ‖ = ‖vᵢ‖``, orthogonal columns), ``Y ≈ U_ @ V_.T``: the
        debiased estimate when ``debiased_`` (``‖uᵢ‖² = ηᵢ``; ``k ≤ rank_``), else the
        certified factors (``k = rank_``).
    certified_U_, certified_V_ : ndarray of shape (n_samples, rank_), (n_features, rank_)
        The certified solution of the penalized problem (the same arrays as ``U_``, ``V_``
        when not ``debiased_``).
    debiased_ : bool
        Whether ``U_``, ``V_`` hold the debiased estimate (``False`` when debiasing is off or
        the certified rank is 0).
    debias_info_ : dict or None
        ``singular_values`` (the ``sᵢ`` of ``Y`` along the certified factors),
        ``shrunk_singular_values`` (the ``ηᵢ``), ``noise_level`` and ``dropped`` (components
        with ``ηᵢ = 0``); ``None`` without debiasing.
    rank_ : int
        Rank of the certified solution.
    lam_ : float
        The ``λ`` used (``lam`` itself, or the automatic value).
    noise_level_ : float or None
        ``σ̂`` for ``lam="auto"`` or ``debias=True`` (``None`` otherwise).
    certificate_ : homfact.Certificate
        Objective, lower bound, gap, polar bounds and status of the *certified* factors
        ``certified_U_``, ``certified_V_``.
    history_ : list of dict
        One record per outer iteration: objective, rank, polar bounds, gap, elapsed time, ….
    components_ : ndarray of shape (k, n_features)
        ``V_.T`` (scikit-learn orientation; the debiased factors when ``debiased_``).
    n_iter_, stop_reason_, n_features_in_
    resumed_from_ : int
        Outer iterations restored from ``checkpoint`` (0: a fresh start).
    """

    def __init__(self, lam="auto", *, debias="auto", init="zero", rank=None, max_rank=None,
                 tol=1e-6, max_iter=200, time_limit=None, random_state=None, verbose=False,
                 checkpoint=None, checkpoint_every=1, resume=False):
        self.lam = lam
        self.debias = debias
        self.init = init
        self.rank = rank
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.resume = resume

    def fit(self, Y, y=None):
        """Fit the factors to ``Y`` (dense array or scipy.sparse; sparse input is densified;
        or a ``dask.array.Array``, fitted on a Dask cluster: see the class docstring)."""
        if (type(Y).__module__ or "").split(".")[0] == "dask":
            # only when dask input is given (dask is an optional extra)
            from ..distributed.dense_problem import fit_low_rank

            fit_low_rank(self, Y)
            return self
        if isinstance(self.lam, str) and self.lam != "auto":
            raise TypeError(f"lam must be a real number >= 0 or 'auto', got the string "
                            f"{self.lam!r}")
        check_lam_or_auto(self.lam)
        debias = self._debias_enabled()
        check_fit_params(self)
        _check_real_matrix(Y, "Y")
        Y = validate_data(self, Y, accept_sparse=("csr", "csc", "coo"), dtype=np.float64)
        Y = Y.toarray() if sp.issparse(Y) else Y
        if isinstance(self.lam, str):
            self.lam_, self.noise_level_ = low_rank_auto_lam(Y)
        else:
            self.lam_, self.noise_level_ = float(self.lam), None
        problem = low_rank_problem(Y, self.lam_)
        rms = float(np.sqrt(np.mean(Y * Y)))
        self._run(problem, self._initial_factors(Y.shape, rms), "LowRankApproximation")
        self.certified_U_, self.certified_V_ = self.U_, self.V_
        self.debiased_, self.debias_info_ = False, None
        if debias and self.rank_ > 0:
            self._debias(Y)
        return self

    def _debias_enabled(self) -> bool:
        """Resolve ``debias``: ``"auto"`` means on exactly when ``lam="auto"``."""
        debias = self.debias
        if isinstance(debias, str):
            if debias != "auto":
                raise ValueError(f"debias must be 'auto', True or False, got {debias!r}")
            return isinstance(self.lam, str)
        if not isinstance(debias, bool | np.bool_):
            raise TypeError(f"debias must be 'auto', True or False, got "
                            f"{type(debias).__name__}")
        return bool(debias)

    def _debias(self, Y: np.ndarray) -> None:
        """Replace ``U_``, ``V_`` by the optimally shrunk top-``rank_`` SVD of ``Y``
        (class docstring); ``certified_U_``, ``certified_V_`` and ``certificate_`` stay."""
        if self.noise_level_ is None:
            self.noise_level_ = estimate_noise_level(Y)
        P, s, Q, eta = _shrunk_triplets(Y, self.certified_V_, self.noise_level_)
        keep = eta > 0
        root = np.sqrt(eta[keep])
        self.U_, self.V_ = P[:, keep] * root, Q[:, keep] * root
        self.debiased_ = True
        self.debias_info_ = {"singular_values": [float(v) for v in s],
                             "shrunk_singular_values": [float(v) for v in eta],
                             "noise_level": float(self.noise_level_),
                             "dropped": int(np.count_nonzero(~keep))}

    @property
    def components_(self) -> np.ndarray:
        check_is_fitted(self, "V_")
        return self.V_.T

    def transform(self, Y):
        """Row codes of new data on the reported factors ``V_``; ``transform(Y_train) = U_``.

        Certified factors: ``Y V (VᵀV + λI)⁻¹``, the ridge step that defines ``U_``.
        Debiased (``debiased_``): ``Y V_ diag(1/sᵢ)`` with ``sᵢ`` the singular values of the
        training ``Y`` (``debias_info_``); as ``V_ᵀV_ = diag(ηᵢ)`` this is the ridge step
        with a weight ``sᵢ − ηᵢ`` per component, and the projection of a row on ``qᵢ`` is
        scaled by ``ηᵢ/sᵢ``, the shrinkage of the fit.
        """
        check_is_fitted(self, "V_")
        _check_real_matrix(Y, "Y")
        Y = validate_data(self, Y, reset=False, accept_sparse=("csr", "csc"), dtype=np.float64)
        projected = np.asarray(Y @ self.V_)
        if self.debiased_:
            info = self.debias_info_
            s = np.asarray(info["singular_values"])[np.asarray(info["shrunk_singular_values"]) > 0]
            return projected / s
        return np.asarray(_ridge_right(projected, self.V_.T @ self.V_, self.lam_))

    def inverse_transform(self, codes):
        """``codes @ V_.T`` (the reported factors: debiased when ``debiased_``)."""
        check_is_fitted(self, "V_")
        codes = np.asarray(codes, dtype=float)
        k = self.V_.shape[1]
        if codes.ndim != 2 or codes.shape[1] != k:
            raise ValueError(f"codes must have shape (n, {k}), got {codes.shape}")
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

    Parameters are those of :class:`LowRankApproximation` (except that ``lam`` is a number,
    default ``1.0``; ``checkpoint``, ``checkpoint_every`` and ``resume`` included), plus

    local_solver : {"auto", "als-exact", "als"}, default="auto"
        ``"als-exact"`` (the default under ``"auto"``) solves each row's ridge problem exactly;
        ``"als"`` is the soft-impute-ALS majorization step (cheaper sweeps, many more of them).
    allow_probabilistic : bool, default=False
        Distributed fit only (dask input, below): let the status rest on the
        Kuczyński–Woźniakowski probabilistic bound on the polar when the deterministic one is
        loose (status ``"global_probabilistic"``, holding with probability ``≥ 1 − delta``).
    delta : float, default=1e-9
        Distributed fit only: the failure probability ``δ`` of that bound.
    gram_max_dim : int, default=2048
        Distributed fit only: when the smaller side ``d = min(m, n)`` is at most this, the
        polar sums the ``d × d`` Gram of the residual on the workers and bounds ``σ_max``
        deterministically and tightly (status ``"global"`` with no opt-in; memory ``d²``
        floats per block); above it, Lanczos with the bounds above.  ``0``: always Lanczos.

    **Dask input** (``pip install 'homfact[dask]'``).  ``fit(ddf)`` with a
    ``dask.dataframe.DataFrame`` of columns ``row``, ``col``, ``value`` runs on the active
    ``dask.distributed`` client, or on a ``LocalCluster`` started for the fit when there is
    none (:func:`homfact.distributed.fit_completion`; docs: models/distributed).  The entries
    stay on the workers, partitioned into row and column blocks; the loop is the same
    (:func:`homfact.meta.grow`) with exact row-wise ALS sweeps on the workers and the polar
    :class:`homfact.polar.OperatorNuclearPolar`: for ``min(m, n) ≤ gram_max_dim`` the Gram
    of the residual summed on the workers (deterministic and tight: status ``"global"``);
    above, Lanczos on the client, one tree reduction per product, whose deterministic upper
    bound alone rarely certifies, so the status is ``"unverified"`` unless
    ``allow_probabilistic``.  The shape is ``(max row + 1,
    max col + 1)``; ``U_`` and ``V_`` are NumPy arrays on the client; ``local_solver`` must
    be ``"auto"`` or ``"als-exact"``.

    **Choosing λ.**  No Marchenko–Pastur law holds for a matrix with missing entries, so there
    is no ``lam="auto"`` noise rule here: :class:`homfact.MatrixCompletionCV` selects
    ``λ`` by cross-validation on held-out observed entries (as scikit-learn's ``LassoCV``) and
    is the recommended entry point when ``λ`` is not known.  The default ``1.0`` is kept for
    backward compatibility only: it depends on the scale of ``Y``.

    Attributes
    ----------
    U_, V_, rank_, certificate_, history_, n_iter_, stop_reason_, resumed_from_ : as in
        LowRankApproximation.
    shape_ : (int, int)
        Shape of the completed matrix.
    """

    def __init__(self, lam=1.0, *, init="zero", rank=None, max_rank=None, tol=1e-6,
                 max_iter=200, time_limit=None, random_state=None, verbose=False,
                 local_solver="auto", checkpoint=None, checkpoint_every=1, resume=False,
                 allow_probabilistic=False, delta=1e-9, gram_max_dim=2048):
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
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.allow_probabilistic = allow_probabilistic
        self.delta = delta
        self.gram_max_dim = gram_max_dim

    def fit(self, Y, y=None):
        """Fit to the observed entries of ``Y`` (scipy.sparse, or ndarray with NaN = missing,
        or a dask DataFrame of ``row, col, value`` triplets: see the class docstring)."""
        if (type(Y).__module__ or "").split(".")[0] == "dask":
            from ..distributed import fit_completion  # only when dask input is given

            fit_completion(self, Y)
            return self
        if isinstance(self.lam, str):
            raise TypeError(f"lam must be a real number >= 0, got {self.lam!r}: missing entries "
                            f"have no noise law to set lam from, so use "
                            f"homfact.MatrixCompletionCV, which cross-validates it")
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
