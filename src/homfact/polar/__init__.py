"""Polar problems ``Ω°(G) = sup_{κ(atom) ≤ 1} ⟨G, atom⟩``, one module per family.

Every solver returns a :class:`PolarBound` ``(lower, upper, maximizer, method)`` with
``lower ≤ Ω°(G) ≤ upper`` (``lower`` attained by the returned feasible maximizer, ``upper`` a
valid bound or ``inf``; a heuristic value is never reported as an upper bound).

* :mod:`homfact.polar.core`: the bracket type, spectral-norm kernels and the generic bilinear
  solvers (:class:`NuclearPolar`, :class:`RowSparsePolar`, :class:`AlternatingPolar`,
  :func:`polar_solver_for`);
* :mod:`homfact.polar.tensor`: CP tensor atoms (:class:`TensorPolar`, :class:`CPGrowthPolar`);
* :mod:`homfact.polar.nonnegative`: NMF atoms (:class:`NonnegativePolar`);
* :mod:`homfact.polar.structured`: structured (ℓ1 + TV + ℓ2) atoms (:class:`StructuredPolar`);
* :mod:`homfact.polar.dictionary`: elastic-net codes with ℓ2 atoms (:class:`ElasticNetL2Polar`);
* :mod:`homfact.polar.operator_bounds`: ``σ_max`` of a large (distributed, sparse) operator with
  a deterministic and a random-start (Kuczyński–Woźniakowski) upper bound
  (:class:`OperatorNuclearPolar`).

Every function, class and constant defined in the former ``homfact/polar.py`` module is
re-exported here.
"""

# (private helpers of the former module are re-exported by redundant aliases)
from .core import (
    DENSE_SVD_MAX_ENTRIES,
    AlternatingPolar,
    NuclearPolar,
    PolarBound,
    RowSparsePolar,
    gram_sigma_max_top,
    gram_sigma_max_upper,
    polar_solver_for,
    sigma_max_bracket,
    sigma_max_upper,
    spectral_norm,
    svd_roundoff,
)
from .core import _dense_rows as _dense_rows
from .core import _is_small as _is_small
from .core import _power_bracket as _power_bracket
from .dictionary import ElasticNetL2Polar
from .nonnegative import NonnegativePolar
from .operator_bounds import (
    OperatorNuclearPolar,
    lanczos_epsilon,
    lanczos_failure_probability,
    lanczos_steps_for_accuracy,
    lanczos_top_ritz,
    norm_sigma_upper,
)
from .structured import StructuredPolar
from .tensor import (
    CPGrowthPolar,
    TensorPolar,
    tensor_polar_upper,
    unfolding_spectral_bounds,
)
from .tensor import _contract as _contract
from .tensor import _is_l1 as _is_l1
from .tensor import _multilinear as _multilinear
from .tensor import _tensor_mttkrp_vec as _tensor_mttkrp_vec
from .tensor import _unfolding_gram as _unfolding_gram

__all__ = [
    "DENSE_SVD_MAX_ENTRIES",
    "AlternatingPolar",
    "CPGrowthPolar",
    "ElasticNetL2Polar",
    "NonnegativePolar",
    "NuclearPolar",
    "OperatorNuclearPolar",
    "PolarBound",
    "RowSparsePolar",
    "StructuredPolar",
    "TensorPolar",
    "gram_sigma_max_top",
    "gram_sigma_max_upper",
    "lanczos_epsilon",
    "lanczos_failure_probability",
    "lanczos_steps_for_accuracy",
    "lanczos_top_ritz",
    "norm_sigma_upper",
    "polar_solver_for",
    "sigma_max_bracket",
    "sigma_max_upper",
    "spectral_norm",
    "svd_roundoff",
    "tensor_polar_upper",
    "unfolding_spectral_bounds",
]
