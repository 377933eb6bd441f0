"""Thin scikit-learn estimators built on the core parts."""

from .low_rank import LowRankApproximation, MatrixCompletion

__all__ = ["LowRankApproximation", "MatrixCompletion"]
