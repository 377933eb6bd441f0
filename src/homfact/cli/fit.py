"""``homfact fit``: fit a model to a matrix (or tensor) file (core models and robust PCA;
the generic estimators are in :mod:`homfact.cli.fit_generic`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path

import numpy as np

from ..registry import get_model
from ._common import (
    _EPILOG,
    FIT_LAM_RATIO,
    FIT_MODELS,
    GENERIC_MODELS,
    CLIError,
    _add_fit_options,
    _add_io_options,
    _add_lam_options,
    _add_quiet,
    _describe,
    _fit_info,
    _fmt,
    _load_input,
    _make_estimator,
    _number_or_word,
    _Printer,
    _resolve_lam,
    _rpca_options,
    _say_history_and_certificate,
    _summary,
    _wrap,
    _write_outputs,
)
from .fit_generic import cmd_fit_generic

#: seconds to wait for the scheduler of ``--scheduler ADDRESS`` before giving up
SCHEDULER_TIMEOUT = 10.0

_NO_CHECKPOINT = ("--checkpoint applies to low_rank and completion (not with --lam cv); the "
                  "other models do not checkpoint yet")


def cmd_fit(args) -> int:
    """Fit a model to a matrix file."""
    spec = get_model(args.model)
    if args.resume and args.checkpoint is None:
        raise CLIError("--resume needs --checkpoint PATH (the file to resume from)")
    if args.scheduler is not None or args.allow_probabilistic:
        return cmd_fit_distributed(args)
    if args.gram_max_dim is not None:
        raise CLIError("--gram-max-dim applies with --scheduler only (the one-machine "
                       "completion fit uses the exact polar)")
    if spec.name == "completion" and args.delta is not None:
        raise CLIError("--delta for completion is the failure probability of the probabilistic "
                       "polar bound: it applies with --scheduler only")
    if spec.cli == "generic":
        if args.checkpoint is not None:
            raise CLIError(_NO_CHECKPOINT)
        return cmd_fit_generic(args)
    if args.set:
        raise CLIError("--set only applies to " + ", ".join(GENERIC_MODELS))
    args.tol = 1e-6 if args.tol is None else args.tol
    args.max_iter = 200 if args.max_iter is None else args.max_iter
    say = _Printer(args.quiet)
    _rpca_options(args)  # option combinations are checked before reading the input
    rpca = spec.cli == "rpca"
    if rpca and args.lam_ratio is not None:
        raise CLIError("--lam-ratio does not apply to rpca (give --lam; default "
                       "sqrt(max(m, n)))")
    data = _load_input(args.input, spec, args.shape)
    say(f"homfact fit {args.model}: {args.input}: {_describe(data)}")
    if rpca:
        opts = _rpca_options(args)
        if args.lam == "cv" and (opts["loss"] != "split" or args.no_continuation):
            raise CLIError("--lam cv (RobustPCACV) needs the split loss with continuation "
                           "(drop --loss huber and --no-continuation)")
        given = isinstance(args.lam, float)
        lam = float(args.lam) if given else (args.lam or "auto")
        lam_info = {"lam": lam, **({} if given else {"lam_rule": lam})}
        lam_info["rpca"] = {**opts, "continuation": not args.no_continuation,
                            "debias": not args.no_debias}
        weight = ("gamma", opts["gamma"]) if opts["loss"] == "split" else ("delta", opts["delta"])
        say(f"  lam = {lam if isinstance(lam, str) else format(lam, '.6g')}; loss "
            f"{opts['loss']}, {weight[0]} = {weight[1]}")
    else:
        lam, lam_info = _resolve_lam(args, spec, data, FIT_LAM_RATIO)
    if "lam_max" in lam_info:
        say(f"  lam = {lam_info['lam_ratio']:g} x lam_max ({lam_info['lam_max']:.6g}) = "
            f"{lam:.6g}")
    elif not isinstance(lam, str):
        say(f"  lam = {lam:.6g}")
    est = _make_estimator(spec, lam, args, verbose=not args.quiet)
    if args.checkpoint is not None:
        if "checkpoint" not in est.get_params():
            raise CLIError(_NO_CHECKPOINT)
        est.set_params(checkpoint=args.checkpoint, resume=args.resume)
    t0 = time.perf_counter()
    est.fit(data)
    elapsed = time.perf_counter() - t0
    if getattr(est, "resumed_from_", 0):
        say(f"  resumed from {args.checkpoint} after {est.resumed_from_} outer iterations")
    if isinstance(lam, str):  # chosen by the estimator: report the value it used
        lam = float(est.lam_)
        lam_info["lam"] = lam
        # MatrixCompletionCV's noise_level_ is a held-out RMS error (an upper estimate);
        # RobustPCACV's is the pilot fit's noise estimate (None with a given gamma)
        noise = getattr(est, "noise_level_", None)
        label = ("held-out RMS error" if lam_info["lam_rule"] == "cv" and not rpca
                 else "noise level")
        if lam_info["lam_rule"] == "cv" and rpca:
            lam_info.update(lam_cv=float(est.lam_cv_), lam_max=float(est.lam_max_))
        if noise is not None:
            lam_info["noise_level"] = float(noise)
        say(f"  lam = {lam:.6g} ({lam_info['lam_rule']}"
            + (f", {label} {noise:.4g})" if noise is not None else ")"))
    if rpca:
        lam_info["rpca"].update({k: float(v) for k in ("gamma", "delta")
                                 if (v := getattr(est, f"{k}_", None)) is not None})
    _say_history_and_certificate(say, est.history_, est.certificate_)
    say(f"  rank {est.rank_}, stop: {est.stop_reason_}, {est.n_iter_} outer iterations, "
        f"{elapsed:.2f} s")
    if rpca:
        n_sparse = int(np.count_nonzero(est.sparse_))
        lam_info["rpca"].update(continuation_stages=est.continuation_,
                                sparse_nonzeros=n_sparse)
        say(f"  sparse part: {n_sparse:,} nonzero entries ({n_sparse / est.sparse_.size:.2%}); "
            f"{len(est.continuation_)} warm-start continuation stages")
        if est.debiased_:
            say("  U, V, sparse: debiasing refit at the certified rank (least squares on the "
                "inliers); the certificate is for certified_U, certified_V, certified_sparse")
    if args.output is not None:
        info = {"model": args.model, "input": str(args.input),
                "data": {"shape": list(data.shape), "description": _describe(data)},
                **lam_info, **_fit_info(est, elapsed)}
        written = _write_outputs(Path(args.output), est, info, plot=not args.no_plot,
                                 title=f"{args.model}, lam = {lam:.4g}")
        say("wrote " + ", ".join(str(p) for p in written))
    _Printer.always(_summary(est.certificate_, est.rank_, time=f"{elapsed:.2f}s"))
    return 0


def cmd_fit_distributed(args) -> int:
    """``homfact fit completion TRIPLETS --scheduler ADDRESS|local:N``: the data are read on the
    workers (:func:`homfact.distributed.read_triplets`, nothing loaded into this process) and
    fitted there (:func:`homfact.distributed.fit_completion`); the outputs are those of the
    one-machine fit, plus the scheduler in certificate.json."""
    spec = get_model(args.model)
    if spec.name != "completion":
        raise CLIError(f"--scheduler and --allow-probabilistic apply to completion only, not "
                       f"to {args.model}")
    if args.scheduler is None:
        raise CLIError("--allow-probabilistic applies with --scheduler only (the one-machine "
                       "completion fit uses the exact polar)")
    delta = _probability_delta(args.delta)
    args.delta = None   # checked above; _rpca_options refuses the other rpca-only options
    _rpca_options(args)
    if args.set:
        raise CLIError("--set only applies to " + ", ".join(GENERIC_MODELS))
    if isinstance(args.lam, str):
        raise CLIError(f"--lam {args.lam} is not available with --scheduler (cross-validation "
                       f"runs on one machine): give --lam VALUE or --lam-ratio R")
    if args.lam is None and args.lam_ratio is None:
        raise CLIError("--scheduler needs --lam VALUE or --lam-ratio R (R x lam_max, lam_max "
                       "computed on the cluster)")
    args.tol = 1e-6 if args.tol is None else args.tol
    args.max_iter = 200 if args.max_iter is None else args.max_iter
    _require_dask()
    fmt, read_kwargs = _triplet_format(args.input)
    shape = _parse_shape(args.shape)
    say = _Printer(args.quiet)
    est = _make_estimator(spec, 1.0 if args.lam is None else args.lam, args,
                          verbose=not args.quiet)
    est.set_params(allow_probabilistic=args.allow_probabilistic, delta=delta)
    if args.gram_max_dim is not None:
        if args.gram_max_dim < 0:
            raise CLIError(f"--gram-max-dim must be an integer >= 0, got {args.gram_max_dim}")
        est.set_params(gram_max_dim=args.gram_max_dim)
    if args.checkpoint is not None:
        est.set_params(checkpoint=args.checkpoint, resume=args.resume)
    with _dask_client(args.scheduler) as (client, scheduler):
        from ..distributed import completion_lam_max, fit_completion, read_triplets

        say(f"homfact fit {args.model}: {args.input} on {scheduler['address']} "
            f"({scheduler['n_workers']} workers, {scheduler['n_threads']} threads)")
        entries = read_triplets(args.input, format=fmt, shape=shape, client=client,
                                **read_kwargs)
        try:
            m, n = entries.shape
            described = (f"{m}x{n}, {entries.nnz:,} observed entries ({fmt} triplets, "
                         f"{entries.n_blocks} row and column blocks on the workers)")
            say(f"  {described}")
            lam_info = {"lam": args.lam}
            if args.lam is None:
                top = completion_lam_max(entries, gram_max_dim=est.gram_max_dim)
                if not top > 0:
                    raise CLIError(f"lam_max of the input is {top:g}: the data are zero, "
                                   f"nothing to fit")
                args.lam = args.lam_ratio * top
                lam_info = {"lam": args.lam, "lam_ratio": args.lam_ratio, "lam_max": top}
                say(f"  lam = {args.lam_ratio:g} x lam_max ({top:.6g}, computed on the "
                    f"cluster) = {args.lam:.6g}")
            else:
                say(f"  lam = {args.lam:.6g}")
            est.set_params(lam=args.lam)
            t0 = time.perf_counter()
            fit_completion(est, entries)
            elapsed = time.perf_counter() - t0
        finally:
            entries.release()
    if getattr(est, "resumed_from_", 0):
        say(f"  resumed from {args.checkpoint} after {est.resumed_from_} outer iterations")
    _say_history_and_certificate(say, est.history_, est.certificate_)
    say(f"  rank {est.rank_}, stop: {est.stop_reason_}, {est.n_iter_} outer iterations, "
        f"{elapsed:.2f} s")
    if args.output is not None:
        info = {"model": args.model, "input": str(args.input),
                "data": {"shape": [m, n], "description": described,
                         "observed_entries": entries.nnz},
                **lam_info, "allow_probabilistic": bool(args.allow_probabilistic),
                "delta": delta, "gram_max_dim": int(est.gram_max_dim), "scheduler": scheduler,
                **_fit_info(est, elapsed)}
        written = _write_outputs(Path(args.output), est, info, plot=not args.no_plot,
                                 title=f"{args.model}, lam = {args.lam:.4g}")
        say("wrote " + ", ".join(str(p) for p in written))
    cert = est.certificate_
    extra = ({} if cert.status != "global_probabilistic" else
             {"relative_gap_probabilistic": _fmt(cert.relative_gap_probabilistic, ".2e"),
              "delta": f"{cert.delta:g}"})
    _Printer.always(_summary(cert, est.rank_, **extra, time=f"{elapsed:.2f}s"))
    return 0


def _probability_delta(value) -> float:
    """``--delta`` of a distributed completion fit: a failure probability in ``(0, 1)``
    (default ``1e-9``, :class:`homfact.MatrixCompletion`'s)."""
    if value is None:
        return 1e-9
    if isinstance(value, str) or not 0.0 < value < 1.0:
        raise CLIError(f"--delta must lie in (0, 1) for completion (the failure probability of "
                       f"the probabilistic polar bound), got {value!r}")
    return float(value)


def _parse_shape(text: str | None) -> tuple[int, int] | None:
    from ..io import parse_shape

    return parse_shape(text)


def _triplet_format(path: str) -> tuple[str, dict]:
    """``("parquet" | "csv", read keywords)`` of a triplet input of ``--scheduler``.

    Parquet (``.parquet``, ``.pq`` or a folder of them) must have the columns ``row``, ``col``,
    ``value``.  CSV (``.csv``, ``.txt``) as the one-machine reader takes it: a header naming
    ``row, col, value``, or three fields per line with an optional header of other names
    (read by position); lines starting with ``#`` are skipped.  Only the file's first lines
    (CSV) or its schema (Parquet) are read here.
    """
    low = path.lower().rstrip("/")
    if low.endswith((".csv", ".txt")):
        return "csv", _csv_kwargs(path)
    if low.endswith((".parquet", ".pq")) or os.path.isdir(path):
        _check_parquet_columns(path)
        return "parquet", {}
    raise CLIError(f"--scheduler reads row,col,value triplets from .parquet or .csv files, got "
                   f"{path!r}")


def _csv_kwargs(path: str) -> dict:
    """``dask.dataframe.read_csv`` keywords for a triplet CSV file (see :func:`_triplet_format`)."""
    from ..distributed.blocks import COLUMNS

    first = None
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    first = [f.strip() for f in line.split(",")]
                    break
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text file (expected row,col,value lines)") from None
    if first is None:
        raise CLIError(f"{path}: no row,col,value triplets found")
    kwargs: dict = {"comment": "#"}
    if set(COLUMNS) <= set(first):
        return kwargs
    if len(first) != 3:
        raise CLIError(f"{path}: not a triplet file: expected 3 fields row,col,value (or a "
                       f"header naming row, col and value), got {len(first)}")
    try:
        [float(f) for f in first]
        kwargs["header"] = None   # no header line
    except ValueError:
        kwargs["header"] = 0      # a header of other names: read by position
    return {**kwargs, "names": list(COLUMNS)}


def _check_parquet_columns(path: str) -> None:
    """Refuse a Parquet input without the columns ``row``, ``col``, ``value`` (schema only)."""
    import dask.dataframe as dd

    from ..distributed.blocks import COLUMNS

    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    try:
        columns = list(dd.read_parquet(path).columns)
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: cannot read as Parquet ({exc})") from None
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise CLIError(f"{path}: not a triplet file: missing the column(s) {missing} (needs "
                       f"row, col, value; has {columns})")


def _require_dask() -> None:
    """Import the ``dask`` extra, or a :class:`CLIError` saying how to install it."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401

        import homfact.distributed  # noqa: F401  (the extra's other packages)
    except ImportError as exc:
        raise CLIError(f"--scheduler needs Dask: pip install 'homfact[dask]' (missing: "
                       f"{getattr(exc, 'name', None) or exc})") from None


@contextlib.contextmanager
def _dask_client(scheduler: str):
    """A ``distributed.Client`` for ``--scheduler`` and a description of it.

    ``local:N``: a ``LocalCluster`` of ``N`` worker processes with one thread each, started
    here and closed afterwards.  Anything else is a scheduler address (``tcp://host:port``),
    given :data:`SCHEDULER_TIMEOUT` seconds to answer.
    """
    import distributed

    with contextlib.ExitStack() as stack:
        if scheduler.startswith("local:"):
            n = _local_workers(scheduler)
            # no dashboard; the scheduler's own HTTP routes (health, metrics) on a free port,
            # not on 8787, which another cluster on the machine may hold (a UserWarning)
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"}))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT)
            except ValueError as exc:
                raise CLIError(f"--scheduler {scheduler}: not a scheduler address "
                               f"(tcp://host:port) nor local:N ({exc})") from None
            except (OSError, TimeoutError) as exc:
                raise CLIError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                               f"{SCHEDULER_TIMEOUT:g} s ({' '.join(str(exc).split())})"
                               ) from None
            stack.enter_context(client)
        threads = client.nthreads()
        yield client, {"scheduler": scheduler, "address": client.scheduler.address,
                       "n_workers": len(threads), "n_threads": int(sum(threads.values()))}


def _local_workers(scheduler: str) -> int:
    text = scheduler[len("local:"):]
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise CLIError(f"--scheduler local:N needs a positive number of workers N, got "
                       f"{scheduler!r}")
    return n


def add_parser(sub) -> None:
    """The ``fit`` subcommand."""
    fit = sub.add_parser(
        "fit", help="fit a model to a matrix (or tensor) file", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Fit a model to INPUT, print the rank growth and the certificate; "
                          "with --output write the fitted factors as .npy files, "
                          "certificate.json, history.json and convergence.png there (nothing "
                          "is written without --output).  low_rank (or lowrank), completion: "
                          "U.npy, V.npy (low_rank with --lam auto, completion with --lam cv: "
                          "the debiased estimate, i.e. the shrunk SVD, resp. the relaxed refit, "
                          "and the certified factors as certified_U.npy, certified_V.npy).  "
                          "rpca: U.npy, V.npy, sparse.npy; lam defaults to sqrt(max(m, n)) "
                          "(principal component pursuit's weighting), NaN marks a missing "
                          "entry.  nmf, dictionary, structured, cp: each estimator's fitted "
                          "arrays (e.g. W.npy, components.npy, factors_0.npy, ...) with the "
                          "estimator's own defaults; --set NAME=VALUE passes any other "
                          "constructor parameter.  cp reads a K-way .npy array (K >= 3, NaN = "
                          "missing)."))
    _add_io_options(fit, FIT_MODELS)
    _add_lam_options(fit, FIT_LAM_RATIO)
    rp = fit.add_argument_group("robust PCA (rpca only)")
    rp.add_argument("--gamma", type=_number_or_word(("auto",), float, "gamma", low=0,
                                                    low_open=True), default=None,
                    help="weight of the dense-noise term, split loss; residuals above 1/gamma "
                         "are gross errors (default auto: from the estimated noise level, "
                         "stable PCP)")
    rp.add_argument("--loss", choices=("split", "huber"), default=None,
                    help="split: ||E||_1 + gamma/2||Y - UV' - E||^2 (default); huber: "
                         "sum h_delta(Y - UV')")
    rp.add_argument("--delta", type=_number_or_word(("auto",), float, "delta", low=0,
                                                    low_open=True), default=None,
                    help="rpca: Huber threshold for --loss huber (default auto: from the "
                         "estimated noise level); completion with --scheduler: the failure "
                         "probability of the probabilistic polar bound, in (0, 1) (default "
                         "1e-9)")
    rp.add_argument("--no-continuation", action="store_true",
                    help="solve the requested threshold directly (slower for small thresholds)")
    rp.add_argument("--no-debias", action="store_true",
                    help="keep the certified (shrunk) low-rank part as U, V, sparse instead of "
                         "the debiasing refit (by default both are written, the certified one "
                         "as certified_*.npy)")
    gm = fit.add_argument_group("nmf, dictionary, structured, cp")
    gm.add_argument("--set", action="append", metavar="NAME=VALUE", default=None,
                    help="any other constructor parameter of the model's estimator (repeat "
                         "it; VALUE is a Python literal, e.g. --set gamma=0.5 --set "
                         "nonnegative=True --set image_shape=(32,32)); see help(homfact."
                         "NonnegativeFactorization) etc.")
    fit.add_argument("--output", metavar="DIR", default=None, help="output folder")
    _add_fit_options(fit, generic=True)
    fit.add_argument("--no-plot", action="store_true", help="do not write convergence.png")
    fit.add_argument("--checkpoint", metavar="PATH", default=None,
                     help="low_rank, completion: save the fit's state to PATH after every "
                          "outer iteration (a NumPy .npz, written atomically)")
    fit.add_argument("--resume", action="store_true",
                     help="go on from --checkpoint PATH when it exists (start afresh when it "
                          "does not); --max-iter and --time-limit count the iterations and "
                          "time before it")
    dk = fit.add_argument_group("completion on a Dask cluster (pip install 'homfact[dask]')")
    dk.add_argument("--scheduler", metavar="ADDRESS", default=None,
                    help="fit on a Dask cluster: a scheduler address (tcp://host:port) or "
                         "local:N (a local cluster of N worker processes, one thread each, "
                         "closed afterwards).  INPUT is a .parquet (or folder) or .csv file of "
                         "row, col, value triplets, read on the workers; needs --lam VALUE.  "
                         "certificate.json records the scheduler")
    dk.add_argument("--allow-probabilistic", action="store_true",
                    help="with --scheduler: let the status rest on the probabilistic "
                         "(Kuczynski-Wozniakowski) polar bound when the deterministic one is "
                         "loose; the status is then 'global_probabilistic', holding with "
                         "probability >= 1 - delta")
    dk.add_argument("--gram-max-dim", metavar="D", type=int, default=None,
                    help="with --scheduler: when min(m, n) <= D (default 2048) the polar sums "
                         "the D x D Gram of the residual on the workers, a tight deterministic "
                         "bound (status 'global' with no opt-in); 0: always Lanczos")
    _add_quiet(fit)
    fit.set_defaults(func=cmd_fit)
