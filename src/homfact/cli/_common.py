"""Shared pieces of the ``homfact`` commands: errors, argument checks, printing, input, lam,
outputs and the option groups several commands share.  The model tables come from
:mod:`homfact.registry`."""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..registry import MODELS as _REGISTRY
from ..registry import ModelSpec, get_model, model_names

#: default ``lam / lam_max`` of ``homfact fit`` and ``homfact certify`` when no ``--lam``
FIT_LAM_RATIO = 0.1
#: exit status for usage and input errors
EXIT_USAGE = 2

#: spellings of the core models (``homfact certify`` and ``path`` take these; canonical first)
MODELS = model_names(cli=("core",))
#: models fitted generically: ``--lam``/``--lam-ratio``, the common fit options and
#: ``--set NAME=VALUE`` for any other constructor parameter of the estimator
GENERIC_MODELS: dict[str, ModelSpec] = {name: spec for name, spec in _REGISTRY.items()
                                        if spec.cli == "generic"}
#: models of ``homfact fit`` (robust PCA has no lam_max path and no ``certify`` of given factors)
FIT_MODELS = model_names(cli=("core", "rpca", "generic"))
#: defaults of the robust-PCA options of ``homfact fit rpca`` (those of :class:`RobustPCA`)
RPCA_DEFAULTS = {"gamma": "auto", "loss": "split", "delta": "auto"}


class CLIError(Exception):
    """A user error, reported as one line ``homfact: error: <message>`` with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become :class:`CLIError` (one line, no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------------------
# argument checks
# ------------------------------------------------------------------------------------------
def _number(kind: type, name: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False):
    """An argparse ``type=`` that parses ``kind`` and checks the (half-)open range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high:
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}" \
                       f"{')' if high_open or high is None else ']'}"
            raise argparse.ArgumentTypeError(f"{name} must lie in {interval}, got {text!r}")
        return value

    parse.__name__ = name  # argparse shows it in "invalid <name> value"
    return parse


def _number_or_word(words: tuple[str, ...], kind: type, name: str, **limits):
    """Like :func:`_number`, but one of ``words`` (e.g. ``"auto"``) is accepted as it is."""
    number = _number(kind, name, **limits)

    def parse(text: str):
        if text.strip().lower() in words:
            return text.strip().lower()
        try:
            return number(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (or one of: {', '.join(words)})") from None

    parse.__name__ = name
    return parse


# ------------------------------------------------------------------------------------------
# printing
# ------------------------------------------------------------------------------------------
class _Printer:
    """stdout printing that ``--quiet`` silences (the final summary uses :meth:`always`)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)

    @staticmethod
    def always(text: str) -> None:
        print(text, flush=True)


def _fmt(value, spec: str = ".6g") -> str:
    if value is None:
        return "-"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, spec)


def _say_history_and_certificate(say, history, cert, title: str | None = None) -> None:
    """Print the growth history table (under ``title``) and the certificate block."""
    say()
    if title:
        say(title)
    for line in _history_table(history):
        say("  " + line)
    say()
    for line in _certificate_lines(cert):
        say(line)


def _history_table(history: Sequence[dict]) -> list[str]:
    """Rank growth: one line per outer iteration."""
    lines = [f"{'iter':>5} {'rank':>5} {'objective':>15} {'rel. gap':>10} {'polar/lam':>10} "
             f"{'added':>5} {'sweeps':>6} {'time s':>8}  status"]
    for rec in history:
        lam = rec.get("lam") or 0.0
        ratio = rec["polar_upper"] / lam if lam > 0 else math.nan
        extra = f" (dropped {rec['dropped']} negligible)" if rec.get("dropped") else ""
        lines.append(
            f"{rec['iteration']:>5d} {rec['rank']:>5d} {_fmt(rec['objective'], '.9g'):>15} "
            f"{_fmt(rec['relative_gap'], '.2e'):>10} {_fmt(ratio, '.6f'):>10} "
            f"{rec.get('added', 0):>5d} {rec.get('sweeps', 0):>6d} "
            f"{_fmt(rec.get('elapsed'), '.2f'):>8}  "
            f"{rec['status']}{extra}")
    return lines


def _certificate_lines(cert) -> list[str]:
    return [
        "certificate:",
        f"  status          {cert.status}",
        f"  objective       {_fmt(cert.objective, '.10g')}   (upper bound on the optimum)",
        f"  lower bound     {_fmt(cert.lower_bound, '.10g')}   (from the dual point)",
        f"  gap             {_fmt(cert.gap, '.4g')}   (relative {_fmt(cert.relative_gap, '.3e')},"
        f" tol {_fmt(cert.tol, '.1e')})",
        f"  polar           [{_fmt(cert.polar_lower, '.8g')}, {_fmt(cert.polar_upper, '.8g')}]"
        f"   vs lam {_fmt(cert.lam, '.8g')}   ({cert.method})",
    ]


def _summary(cert, rank: int | None = None, **extra) -> str:
    """The final one-line summary (printed even with ``--quiet``)."""
    parts = [f"status={cert.status}"]
    if rank is not None:
        parts.append(f"rank={rank}")
    parts += [f"objective={_fmt(cert.objective, '.8g')}",
              f"relative_gap={_fmt(cert.relative_gap, '.2e')}", f"lam={_fmt(cert.lam, '.6g')}"]
    parts += [f"{k}={v}" for k, v in extra.items()]
    return "homfact: " + " ".join(parts)


def _describe(data) -> str:
    m, n = data.shape
    if sp.issparse(data):
        return f"{m}x{n} sparse, {data.nnz:,} stored entries ({data.nnz / (m * n):.2%})"
    n_nan = int(np.isnan(data).sum())
    if n_nan:
        return f"{m}x{n} dense, {m * n - n_nan:,} observed entries ({1 - n_nan / (m * n):.2%})"
    return f"{m}x{n} dense"


# ------------------------------------------------------------------------------------------
# shared steps
# ------------------------------------------------------------------------------------------
def _load_input(path: str, spec: ModelSpec, shape_text: str | None):
    """The input file read as ``spec``'s CLI input (:attr:`ModelSpec.cli_input`)."""
    from ..io import as_model_input, densify, parse_shape, read_matrix

    if spec.cli_input == "tensor":
        from ..io import read_tensor

        if shape_text is not None:
            raise CLIError(f"--shape does not apply to {spec.name} (a .npy tensor)")
        return read_tensor(path)
    if spec.cli_input == "dense":
        # dense models (NaN marks a missing entry where the model allows it); sparse input
        # is densified
        data = densify(read_matrix(path, parse_shape(shape_text)), spec.name)
        return np.asarray(data, dtype=float)
    if spec.cli != "core":
        raise CLIError(f"unknown model {spec.name!r}; choose from {', '.join(MODELS)}")
    return as_model_input(read_matrix(path, parse_shape(shape_text)), spec.name)


def _resolve_lam(args, spec: ModelSpec, data, default_ratio: float | None) -> tuple[float, dict]:
    """``lam`` from ``--lam`` or ``--lam-ratio × lam_max``; returns it with a description."""
    if isinstance(args.lam, str):
        allowed = spec.lam_word
        if args.lam != allowed:
            raise CLIError(f"--lam {args.lam} does not apply to "
                           f"{getattr(args, 'model', spec.name)}"
                           + (f" (use --lam {allowed})" if allowed else ""))
        return args.lam, {"lam_rule": args.lam}
    if args.lam is not None:
        return float(args.lam), {"lam": float(args.lam)}
    ratio = args.lam_ratio if args.lam_ratio is not None else default_ratio
    if ratio is None:
        raise CLIError("give --lam or --lam-ratio")
    top = spec.lam_max(data)
    lam = ratio * top
    if not lam > 0:
        raise CLIError(f"lam_max of the input is {top:g}: the data are zero, nothing to fit")
    return lam, {"lam": lam, "lam_ratio": ratio, "lam_max": top}


def _rpca_options(args) -> dict:
    """``gamma``, ``loss``, ``delta`` of ``fit rpca`` (defaults filled in); refused elsewhere."""
    given = {k: getattr(args, k, None) for k in RPCA_DEFAULTS}
    if get_model(args.model).cli != "rpca":
        extra = [f"--{k}" for k, v in given.items() if v is not None]
        if extra:
            raise CLIError(f"{', '.join(extra)} only apply to the rpca model")
        return {}
    opts = {k: RPCA_DEFAULTS[k] if v is None else v for k, v in given.items()}
    if given["delta"] is not None and opts["loss"] != "huber":
        raise CLIError("--delta only applies with --loss huber (the split loss uses 1/gamma)")
    if given["gamma"] is not None and opts["loss"] == "huber":
        raise CLIError("--gamma only applies with --loss split (the huber loss uses --delta)")
    return opts


def _make_estimator(spec: ModelSpec, lam: float | str, args, verbose: bool):
    """The estimator of a core model or robust PCA; ``lam == "cv"``: its CV estimator."""
    import homfact as hf

    if spec.cli == "rpca":
        opts = _rpca_options(args)
        if lam == "cv":
            return getattr(hf, spec.cv_estimator)(
                gamma=opts["gamma"], tol=args.tol, max_rank=args.max_rank,
                max_iter=args.max_iter, time_limit=args.time_limit, random_state=args.seed,
                verbose=verbose, debias=not args.no_debias)
        return spec.estimator_class()(
            lam=lam, **opts, tol=args.tol, max_rank=args.max_rank, max_iter=args.max_iter,
            time_limit=args.time_limit, random_state=args.seed, verbose=verbose,
            continuation=not args.no_continuation, debias=not args.no_debias)
    common = {"tol": args.tol, "max_rank": args.max_rank, "max_iter": args.max_iter,
              "time_limit": args.time_limit, "random_state": args.seed, "verbose": verbose}
    if lam == "cv":
        return getattr(hf, spec.cv_estimator)(**common)
    return spec.estimator_class()(lam=lam, **common)


def _write_outputs(out: Path, est, info: dict, *, plot: bool, title: str) -> list[Path]:
    """Factors, certificate.json, history.json and (unless ``plot`` is false) convergence.png."""
    from ..io import save_factors, write_json

    out.mkdir(parents=True, exist_ok=True)
    written = save_factors(out, [est.U_, est.V_])
    if hasattr(est, "sparse_"):  # robust PCA: the gross errors E as well
        np.save(out / "sparse.npy", est.sparse_)
        written.append(out / "sparse.npy")
    extra: dict = {}
    if getattr(est, "debiased_", False):
        # U, V (, sparse) hold the debiased estimate; the certificate is for the certified ones
        certified = {"certified_U": est.certified_U_, "certified_V": est.certified_V_}
        if hasattr(est, "certified_sparse_"):  # robust PCA
            certified["certified_sparse"] = est.certified_sparse_
        written += save_factors(out, list(certified.values()), names=tuple(certified))
        extra = {"debiased": True, "debias_info": est.debias_info_,
                 "certified_factors": [f"{name}.npy" for name in certified]}
    cert = {**est.certificate_.to_dict(), "rank": int(est.rank_), **info, **extra}
    written.append(write_json(out / "certificate.json", cert))
    written.append(write_json(out / "history.json", est.history_))
    if plot:
        from ..plotting import plot_convergence

        plot_convergence(est.history_, path=out / "convergence.png", tol=est.tol, title=title)
        written.append(out / "convergence.png")
    return written


def _fit_info(est, elapsed: float) -> dict:
    from .. import __version__

    return {"n_iter": int(est.n_iter_), "stop_reason": est.stop_reason_,
            "fit_seconds": round(elapsed, 3), "homfact_version": __version__}


# ------------------------------------------------------------------------------------------
# shared options
# ------------------------------------------------------------------------------------------
_EPILOG = """\
input formats (by extension):
  .npy   dense 2-D numeric array; for completion NaN marks a missing entry
  .npz   scipy.sparse.save_npz file, or numpy.savez archive with exactly one 2-D array
  .mtx   Matrix Market (scipy.io.mmread); for completion every stored entry is observed
  .csv   triplets "row,col,value" per line, 0-based, optional header line; the shape is
         max index + 1 unless --shape M,N is given; for completion every line is observed
  .parquet  columns row, col, value (needs pyarrow: pip install 'homfact[dask]'); read as
         the .csv triplets.  completion --scheduler ADDRESS|local:N reads .parquet and .csv
         triplets on Dask workers instead (nothing loaded into this process)
  .tif   image stack (tifffile), frames x rows x cols, read as the pixels x frames
         matrix; "fit structured" then sets image_shape to the frame shape
  For low_rank, sparse or triplet input is densified (entries not stored are 0).

printing: per-iteration lines (iteration, rank, objective, relative gap, polar/lam, atoms
added, time, status) come from the fitted history after the fit; on a terminal a live
progress line is shown on stderr while fitting.  --quiet prints only the final one-line
summary "homfact: status=... rank=... ..." (and errors on stderr).
exit status: 0 on success (whatever the certificate's status), 2 on usage or input errors.
"""


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def _add_fit_options(p: argparse.ArgumentParser, *, tol_default: float = 1e-6,
                     time_limit_default: float | None = None, generic: bool = False) -> None:
    """Common fit options; with ``generic`` the defaults of tol and max-iter are left to
    the estimator for the :data:`GENERIC_MODELS` (the core models keep 1e-6 and 200)."""
    own = " (nmf, dictionary, structured, cp: the estimator's default)" if generic else ""
    p.add_argument("--tol", type=_number(float, "tol", low=0, high=1, low_open=True,
                                         high_open=True),
                   default=None if generic else tol_default,
                   help=f"relative duality gap required for status 'global' (default "
                        f"{tol_default:g}{own})")
    p.add_argument("--max-rank", type=_number(int, "max-rank", low=1), default=None,
                   help="cap on the rank (default: none)")
    p.add_argument("--max-iter", type=_number(int, "max-iter", low=1),
                   default=None if generic else 200,
                   help=f"cap on outer iterations, one certificate each (default 200{own})")
    shown = "none" if time_limit_default is None else f"{time_limit_default:g} s"
    p.add_argument("--time-limit", type=_number(float, "time-limit", low=0, low_open=True),
                   default=time_limit_default, metavar="SECONDS",
                   help=f"wall-clock budget of the fit; the certificate stays honest "
                        f"(default: {shown})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _add_lam_options(p: argparse.ArgumentParser, default_ratio: float | None) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--lam", type=_number_or_word(("auto", "cv"), float, "lam", low=0),
                   default=None,
                   help="regularization weight lam >= 0; 'auto': the estimator's rule from the "
                        "estimated noise level (low_rank, rpca and the generic models); 'cv': "
                        "cross-validated on held-out entries (completion: MatrixCompletionCV; "
                        "rpca: RobustPCACV)")
    ratio_help = "lam as a fraction of lam_max (the smallest lam with the zero solution)"
    if default_ratio is not None:
        ratio_help += f" (default {default_ratio:g} when --lam is not given)"
    g.add_argument("--lam-ratio", type=_number(float, "lam-ratio", low=0, low_open=True),
                   default=None, metavar="R", help=ratio_help)


def _model_help(models: Sequence[str]) -> str:
    """``name (objective)`` for each model among ``models``, aliases noted."""
    specs = dict.fromkeys(get_model(name) for name in models)
    return "; ".join(spec.name + (f" (or {', '.join(spec.aliases)})" if spec.aliases else "")
                     + f": {spec.summary}" for spec in specs)


def _add_io_options(p: argparse.ArgumentParser, models: Sequence[str] = MODELS) -> None:
    p.add_argument("model", metavar="MODEL", choices=models, help=_model_help(models))
    p.add_argument("input", metavar="INPUT",
                   help="matrix file: .npy, .npz, .mtx, .csv, .parquet or .tif (frames x "
                        "rows x cols stack, read as pixels x frames)")
    p.add_argument("--shape", metavar="M,N", default=None,
                   help="matrix shape for .csv triplets (default: max index + 1)")


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print only the final one-line summary")
