"""``homfact certify``: certify given factors U, V for a model's objective."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..registry import get_model
from ._common import (
    _EPILOG,
    _add_io_options,
    _add_quiet,
    _certificate_lines,
    _describe,
    _load_input,
    _number,
    _Printer,
    _summary,
    _wrap,
)


def _load_factor(path: str, name: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix.lower() != ".npy":
        raise ValueError(f"{p}: factors must be .npy files")
    try:
        F = np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{p}: cannot read as .npy ({exc})") from None
    if F.dtype.kind not in "biuf":
        raise ValueError(f"{p}: factor {name} must be numeric, got dtype {F.dtype}")
    F = np.asarray(F, dtype=float)
    if F.ndim == 1:
        F = F[:, None]
    if F.ndim != 2:
        raise ValueError(f"{p}: factor {name} must be a 2-D array, got shape {F.shape}")
    return F


def cmd_certify(args) -> int:
    """Certify given factors for a model's objective."""
    import homfact as hf

    say = _Printer(args.quiet)
    spec = get_model(args.model)
    data = _load_input(args.input, spec, args.shape)
    U = _load_factor(args.factors[0], "U")
    V = _load_factor(args.factors[1], "V")
    if U.shape[0] != data.shape[0] or V.shape[0] != data.shape[1]:
        raise ValueError(f"factors do not fit the {data.shape[0]}x{data.shape[1]} input: U has "
                         f"{U.shape[0]} rows (need {data.shape[0]}), V has {V.shape[0]} rows "
                         f"(need {data.shape[1]})")
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"U and V must have the same number of columns, got {U.shape[1]} and "
                         f"{V.shape[1]}")
    t0 = time.perf_counter()
    cert = hf.certify(spec.name, data, (U, V), args.lam, tol=args.tol,
                      random_state=args.seed)
    elapsed = time.perf_counter() - t0
    say(f"homfact certify {args.model}: {args.input}: {_describe(data)}; factors of rank "
        f"{U.shape[1]}")
    for line in _certificate_lines(cert):
        say(line)
    if args.output is not None:
        from ..io import write_json

        out = Path(args.output)
        if out.suffix.lower() != ".json":
            out.mkdir(parents=True, exist_ok=True)
            out = out / "certificate.json"
        elif out.parent != Path():
            out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, {**cert.to_dict(), "rank": int(U.shape[1]), "model": args.model,
                         "input": str(args.input), "factors": list(args.factors),
                         "certify_seconds": round(elapsed, 3)})
        say(f"wrote {out}")
    _Printer.always(_summary(cert, U.shape[1]))
    return 0


def add_parser(sub) -> None:
    """The ``certify`` subcommand."""
    cert = sub.add_parser(
        "certify", help="certify given factors U, V", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Certificate of the factorization Y ~ U V' for the model's "
                          "objective at lam (factors used as given, not rebalanced).  --output "
                          "FILE.json or DIR (then DIR/certificate.json) writes it as JSON."))
    _add_io_options(cert)
    cert.add_argument("--factors", nargs=2, metavar=("U.npy", "V.npy"), required=True,
                      help="factor files, U of shape (m, r) and V of shape (n, r)")
    cert.add_argument("--lam", type=_number(float, "lam", low=0), required=True,
                      help="regularization weight lam >= 0")
    cert.add_argument("--tol", type=_number(float, "tol", low=0, high=1, low_open=True,
                                            high_open=True), default=1e-6,
                      help="relative duality gap required for status 'global' (default 1e-6)")
    cert.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cert.add_argument("--output", metavar="FILE.json|DIR", default=None,
                      help="write the certificate as JSON")
    _add_quiet(cert)
    cert.set_defaults(func=cmd_certify)
