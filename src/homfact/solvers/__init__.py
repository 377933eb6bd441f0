"""Local descent on the factors (no growth, no certificate): ALS and block prox-linear."""

from .als import LocalResult, als_dense, als_masked, orthogonalize_l2
from .prox_linear import prox_linear

__all__ = ["LocalResult", "als_dense", "als_masked", "orthogonalize_l2", "prox_linear"]
