"""``homfact fit nmf|dictionary|structured|cp``: the estimator with its own defaults and
``--set NAME=VALUE`` for any constructor parameter."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..registry import get_model
from ._common import (
    RPCA_DEFAULTS,
    CLIError,
    _describe,
    _load_input,
    _Printer,
    _say_history_and_certificate,
    _summary,
)

_ARRAY_ATTRIBUTES = ("U_", "V_", "W_", "codes_", "components_", "sparse_", "weights_",
                     "factors_", "intercept_")


def _parse_settings(items: Sequence[str] | None, est) -> dict:
    """``NAME=VALUE`` pairs for the estimator's constructor; values are Python literals."""
    import ast

    valid = est.get_params(deep=False)
    out: dict = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise CLIError(f"--set expects NAME=VALUE, got {item!r}")
        if name not in valid:
            raise CLIError(f"--set {name}: {type(est).__name__} has no parameter {name!r}; "
                           f"choose from {', '.join(sorted(valid))}")
        try:
            out[name] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[name] = text.strip()  # a bare word, e.g. --set gauge=l1
    return out


def _generic_estimator(args):
    """The estimator of a generic model (:data:`GENERIC_MODELS`) with the command line's
    parameters."""
    spec = get_model(args.model)
    try:
        cls = spec.estimator_class()
    except AttributeError:
        raise CLIError(f"model {args.model!r} is not available in this installation") from None
    est = cls()
    valid = est.get_params(deep=False)
    params: dict = {}
    if args.lam == "cv":
        raise CLIError(f"--lam cv does not apply to {args.model} (only to completion)")
    if args.lam is not None:
        params["lam"] = args.lam if args.lam == "auto" else float(args.lam)
    if args.lam_ratio is not None:
        if "lam_ratio" not in valid:
            raise CLIError(f"--lam-ratio does not apply to {args.model} (give --lam)")
        params["lam_ratio"] = float(args.lam_ratio)
    common = {"tol": args.tol, "max_iter": args.max_iter, "max_rank": args.max_rank,
              "time_limit": args.time_limit, "random_state": args.seed}
    params.update({k: v for k, v in common.items() if v is not None and k in valid})
    if "verbose" in valid:
        params["verbose"] = not args.quiet
    params.update(_parse_settings(args.set, est))
    est.set_params(**params)
    return est, params


def _fitted_arrays(est) -> dict[str, np.ndarray]:
    """The fitted arrays to write: ``name -> array`` (a list attribute gives one file each)."""
    out: dict[str, np.ndarray] = {}
    for attr in _ARRAY_ATTRIBUTES:
        value = getattr(est, attr, None)
        name = attr.rstrip("_")
        if isinstance(value, np.ndarray):
            out[name] = value
        elif isinstance(value, list | tuple) and value and all(
                isinstance(v, np.ndarray) for v in value):
            out.update({f"{name}_{k}": v for k, v in enumerate(value)})
    return out


def cmd_fit_generic(args) -> int:
    """``homfact fit nmf|dictionary|structured|cp``: the estimator with its own defaults."""
    from ..io import write_json

    say = _Printer(args.quiet)
    if (args.no_continuation or args.no_debias
            or any(getattr(args, k, None) is not None for k in RPCA_DEFAULTS)):
        raise CLIError("--gamma, --loss, --delta, --no-continuation and --no-debias only "
                       "apply to rpca "
                       "(use --set NAME=VALUE for this model's parameters)")
    est, params = _generic_estimator(args)
    spec = get_model(args.model)
    data = _load_input(args.input, spec, args.shape)
    if spec.name == "structured" and "image_shape" not in params:
        from ..io import tiff_image_shape

        frame_shape = tiff_image_shape(args.input)  # a TIFF stack: pixels are its frames'
        if frame_shape is not None:
            params["image_shape"] = frame_shape
            est.set_params(image_shape=frame_shape)
    desc = (f"{'x'.join(map(str, data.shape))} tensor" if data.ndim > 2 else _describe(data))
    say(f"homfact fit {args.model}: {args.input}: {desc}")
    say(f"  {type(est).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in params.items()
                                                if k != "verbose") + ")")
    t0 = time.perf_counter()
    est.fit(data)
    elapsed = time.perf_counter() - t0
    cert = est.certificate_
    rank = int(getattr(est, "rank_", getattr(est, "n_components_", 0)))
    certified = _certified_arrays(est)
    certified_rank = _certified_rank(est, certified, rank)
    _say_history_and_certificate(say, est.history_, cert)
    stop = getattr(est, "stop_reason_", "")
    say(f"  rank {rank}, stop: {stop}, {elapsed:.2f} s")
    if certified:
        say(f"  the written factors are the debiasing refit (rank {rank}); the certificate is "
            f"for the certified factors (rank {certified_rank}), written as certified_*.npy")
    if args.output is not None:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, arr in {**_fitted_arrays(est), **certified}.items():
            np.save(out / f"{name}.npy", arr)
            written.append(out / f"{name}.npy")
        info = {"model": args.model, "input": str(args.input),
                "data": {"shape": list(data.shape), "description": desc},
                "estimator": type(est).__name__,
                "params": {k: v for k, v in params.items() if k != "verbose"},
                "rank": certified_rank, "stop_reason": stop, "fit_seconds": round(elapsed, 3)}
        if certified:  # the certificate describes certified_*.npy, not the refit
            info["refit"] = {"rank": rank, "files": "the factors without the certified_ prefix"}
        written.append(write_json(out / "certificate.json", {**cert.to_dict(), **info}))
        written.append(write_json(out / "history.json", est.history_))
        if not args.no_plot and est.history_:
            from ..plotting import plot_convergence

            plot_convergence(est.history_, path=out / "convergence.png", tol=cert.tol,
                             title=f"{args.model}, lam = {cert.lam:.4g}")
            written.append(out / "convergence.png")
        say("wrote " + ", ".join(str(p) for p in written))
    _Printer.always(_summary(cert, certified_rank, time=f"{elapsed:.2f}s"))
    return 0


def _certified_arrays(est) -> dict[str, np.ndarray]:
    """``certified_*`` arrays of an estimator that reports a debiasing refit as its factors
    (empty when the reported factors are the certified ones); a list attribute (CP's
    ``certified_factors_``) gives one array per mode."""
    if not getattr(est, "debiased_", getattr(est, "debias", False)):
        return {}
    out: dict[str, np.ndarray] = {}
    for name, value in vars(est).items():
        if not (name.startswith("certified_") and name.endswith("_")):
            continue
        if isinstance(value, np.ndarray):
            out[name.rstrip("_")] = value
        elif isinstance(value, list | tuple) and value and all(
                isinstance(v, np.ndarray) for v in value):
            out.update({f"{name.rstrip('_')}_{k}": v for k, v in enumerate(value)})
    return out


def _certified_rank(est, certified: dict, rank: int) -> int:
    """The rank of the factors the certificate describes."""
    if hasattr(est, "certified_rank_"):
        return int(est.certified_rank_)
    for name in ("certified_U", "certified_W"):
        if name in certified:
            return int(certified[name].shape[1])
    return rank
