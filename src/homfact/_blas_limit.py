"""Size-dependent BLAS thread limit of the non-negative factorization (one thread for small
problems; its final home is :mod:`homfact._threads`)."""

from __future__ import annotations

#: up to this many entries the whole fit runs on one BLAS thread: its products are then too
#: small to gain from threads, and on a loaded machine thread contention made small fits
#: 10x slower (see homfact._threads)
_SINGLE_THREAD_MAX_ENTRIES = 1_000_000


def _blas_limit(size: int):
    """One BLAS thread for small problems; the library default otherwise."""
    import contextlib

    if size > _SINGLE_THREAD_MAX_ENTRIES:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
