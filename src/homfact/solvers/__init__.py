"""Local descent on the factors (no growth, no certificate): ALS and block prox-linear.

Model-specific solvers live in their own modules of this layer, e.g.
:mod:`homfact.solvers.elastic_net` (exact block-coordinate descent and coding for sparse
dictionary learning) and :mod:`homfact.solvers.refit` (unregularized refits and merges of
fitted atoms).
"""

from .als import LocalResult, als_dense, als_masked, orthogonalize_l2
from .prox_linear import prox_linear

__all__ = ["LocalResult", "als_dense", "als_masked", "orthogonalize_l2", "prox_linear"]
