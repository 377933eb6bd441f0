"""Cross-validated ``λ`` for matrix completion and robust PCA (re-exports).

:class:`~homfact.MatrixCompletionCV` lives in :mod:`homfact.models.completion_cv`,
:class:`~homfact.RobustPCACV` in :mod:`homfact.models.robust_pca_cv`, their shared path
machinery in :mod:`homfact.cross_validation`; the method: docs: models/cross-validation.  Every
name formerly importable from this module still is.
"""

from __future__ import annotations

from ..cross_validation import EarlyStop
from ..cross_validation import check_path_params as _check_path_params  # noqa: F401
from ..cross_validation import predict_entries as _predict  # noqa: F401
from ..cross_validation import subset_entries as _subset  # noqa: F401
from ..lam_rules import split_lam_max  # noqa: F401
from ..losses import huber  # noqa: F401
from ..solvers.relaxed import relaxed_refit  # noqa: F401
from .completion_cv import MatrixCompletionCV
from .robust_pca_cv import RobustPCACV

__all__ = ["EarlyStop", "MatrixCompletionCV", "RobustPCACV"]
