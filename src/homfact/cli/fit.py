"""``homfact fit``: fit a model to a matrix (or tensor) file (core models and robust PCA;
the generic estimators are in :mod:`homfact.cli.fit_generic`)."""

from __future__ import annotations

import argparse
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

_NO_CHECKPOINT = ("--checkpoint applies to low_rank and completion (not with --lam cv); the "
                  "other models do not checkpoint yet")


def cmd_fit(args) -> int:
    """Fit a model to a matrix file."""
    spec = get_model(args.model)
    if args.resume and args.checkpoint is None:
        raise CLIError("--resume needs --checkpoint PATH (the file to resume from)")
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
                    help="Huber threshold for --loss huber (default auto: from the estimated "
                         "noise level)")
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
    _add_quiet(fit)
    fit.set_defaults(func=cmd_fit)
