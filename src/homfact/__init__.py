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
from .models.cp import CPTensorFactorization
from .models.cv import MatrixCompletionCV, RobustPCACV
from .models.dictionary import SparseDictionaryLearning
from .models.nmf import NonnegativeFactorization
from .models.structured import StructuredFactorization
from .path import PathResult, lam_max, regularization_path
from .polar import PolarBound

__version__ = "0.1.0"

__all__ = [
    "L1",
    "L2",
    "CPTensorFactorization",
    "Certificate",
    "ElasticNet",
    "GrowResult",
    "HuberLoss",
    "LowRankApproximation",
    "MatrixCompletion",
    "MatrixCompletionCV",
    "NonNegative",
    "NonnegativeFactorization",
    "PathResult",
    "PolarBound",
    "Problem",
    "RobustPCA",
    "RobustPCACV",
    "SparseDictionaryLearning",
    "SquaredLoss",
    "StructuredFactorization",
    "__version__",
    "certify",
    "grow",
    "lam_max",
    "regularization_path",
]


def __getattr__(name: str):
    """Lazy ``homfact.nn`` (PyTorch is optional: ``pip install 'homfact[nn]'``)."""
    if name == "nn":
        import importlib

        return importlib.import_module(".nn", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
