"""Progress display for long fits: a rich live line, silent when not on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _format(record: dict) -> str:
    return (f"iter {record['iteration']:>3}  rank {record['rank']:>4}  "
            f"objective {record['objective']:.6g}  rel. gap {record['relative_gap']:.2e}  "
            f"polar/lam {record['polar_upper'] / max(record.get('lam', 1.0), 1e-300):.4f}  "
            f"{record['status']}")


@contextmanager
def progress(enabled: bool, description: str = "homfact") -> Iterator[Callable[[dict], None]]:
    """Yield a callback that shows each history record; a no-op unless enabled on a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda record: None
        return
    from rich.console import Console
    from rich.status import Status

    console = Console(stderr=True)
    with Status(f"{description}: starting", console=console) as status:
        def update(record: dict) -> None:
            status.update(f"{description}: {_format(record)}")

        yield update
