"""homfact: positively homogeneous factorization with certified global optimality.

>>> import homfact as hf
>>> m = hf.LowRankApproximation(lam=1.0).fit(Y)     # doctest: +SKIP
>>> m.certificate_.status                           # doctest: +SKIP
'global'
"""

from .certificate import Certificate
from .certify import certify
from .gauges import L1, L2, ElasticNet, NonNegative
from .losses import HuberLoss, SquaredLoss
from .meta import GrowResult, Problem, grow
from .models import LowRankApproximation, MatrixCompletion, RobustPCA
from .path import PathResult, lam_max, regularization_path
from .polar import PolarBound

__version__ = "0.1.0"

__all__ = [
    "L1",
    "L2",
    "Certificate",
    "ElasticNet",
    "GrowResult",
    "HuberLoss",
    "LowRankApproximation",
    "MatrixCompletion",
    "NonNegative",
    "PathResult",
    "PolarBound",
    "Problem",
    "RobustPCA",
    "SquaredLoss",
    "__version__",
    "certify",
    "grow",
    "lam_max",
    "regularization_path",
]
