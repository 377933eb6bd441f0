"""Thin scikit-learn estimators built on the core parts."""

from .low_rank import LowRankApproximation, MatrixCompletion
from .robust_pca import RobustPCA

__all__ = ["LowRankApproximation", "MatrixCompletion", "RobustPCA"]
