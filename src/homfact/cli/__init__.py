"""Command line: ``homfact demo | fit | certify | path``.

Run ``homfact COMMAND --help`` for the options of each command.  Errors in the input (missing or
non-numeric files, bad shapes, bad ``lam``, unknown model) end with exit status 2 and one line
``homfact: error: ...`` on stderr; set ``HOMFACT_DEBUG=1`` to see the traceback instead.

Layout: one module per command (:mod:`.demo`, :mod:`.fit` with :mod:`.fit_generic`,
:mod:`.certify`, :mod:`.path`), each with its ``cmd_*`` function and the ``add_parser`` that
defines its options; shared pieces in :mod:`._common`; the model names come from
:mod:`homfact.registry`.  ``python -m homfact.cli`` runs :func:`main` (``__main__.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import certify, demo, fit, path
from ._common import (
    _EPILOG,
    EXIT_USAGE,
    FIT_LAM_RATIO,
    FIT_MODELS,
    GENERIC_MODELS,
    MODELS,
    RPCA_DEFAULTS,
    CLIError,
    _Parser,
)
from .certify import cmd_certify
from .demo import DEMO_LAM_RATIO, DEMO_TOL, cmd_demo
from .fit import cmd_fit
from .fit_generic import cmd_fit_generic
from .path import cmd_path

__all__ = ["DEMO_LAM_RATIO", "DEMO_TOL", "EXIT_USAGE", "FIT_LAM_RATIO", "FIT_MODELS",
           "GENERIC_MODELS", "MODELS", "RPCA_DEFAULTS", "CLIError", "build_parser",
           "cmd_certify", "cmd_demo", "cmd_fit", "cmd_fit_generic", "cmd_path", "main"]

def build_parser() -> argparse.ArgumentParser:
    """The ``homfact`` argument parser."""
    parser = _Parser(
        prog="homfact",
        description="Positively homogeneous factorization with certified global optimality "
                    "and automatic rank growth.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    import homfact

    parser.add_argument("--version", action="version", version=f"homfact {homfact.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for command in (demo, fit, certify, path):
        command.add_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``homfact`` console script; returns the exit status."""
    debug = os.environ.get("HOMFACT_DEBUG", "") not in ("", "0")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args))
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except CLIError as exc:
        if debug:
            raise
        print(f"homfact: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, OSError, ImportError, MemoryError, RuntimeError) as exc:
        if debug:
            raise
        msg = _one_line(exc)
        if isinstance(exc, MemoryError):
            msg = f"out of memory ({msg})"
        print(f"homfact: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("homfact: interrupted", file=sys.stderr)
        return 130
