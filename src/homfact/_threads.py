"""Run small dense linear algebra on one BLAS thread.

Thin QR/SVD of ``n × r`` factors and batched ``r × r`` solves are too small to gain from BLAS
threads, and on a loaded machine thread contention made them 10–100× slower in our benchmarks
(benchmarks/README.md).  threadpoolctl (a scikit-learn dependency) limits the threads for the
duration of one call; the limit costs about 30 µs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable)

_controller: ThreadpoolController | None = None


def single_blas_thread(func: F) -> F:
    """Decorator: call ``func`` with BLAS limited to one thread."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        global _controller
        if _controller is None:
            _controller = ThreadpoolController()
        with _controller.limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
