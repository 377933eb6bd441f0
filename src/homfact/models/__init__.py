"""Thin scikit-learn estimators built on the core parts."""

from .cp import CPTensorFactorization
from .cv import MatrixCompletionCV, RobustPCACV
from .dictionary import SparseDictionaryLearning
from .low_rank import LowRankApproximation, MatrixCompletion
from .nmf import NonnegativeFactorization
from .robust_pca import RobustPCA
from .structured import StructuredFactorization

__all__ = ["CPTensorFactorization", "LowRankApproximation", "MatrixCompletion",
           "MatrixCompletionCV", "NonnegativeFactorization", "RobustPCA",
           "RobustPCACV", "SparseDictionaryLearning", "StructuredFactorization"]
