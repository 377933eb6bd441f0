"""Checkpoint and resume of :func:`homfact.meta.grow` (docs: theory/descent-and-growth,
'Checkpoint and resume').

A checkpoint is one NumPy ``.npz`` file, readable with ``np.load(path, allow_pickle=False)``
(no pickle anywhere):

* ``factor_0 … factor_{K-1}``: the factors the loop goes on from (float64, ``n_k × r``);
* ``warm_0 … warm_{K-1}`` (when present): the polar maximizer that warm-starts the next polar;
* ``state``: a 0-d unicode array holding one JSON document: ``format``, ``version``, the loop
  state (``iteration``, ``elapsed``, ``inner_tol``, ``k_cand``, ``prev_gap``,
  ``stop_reason``), the NumPy ``Generator`` state (``rng``), the polar solver's adaptive state
  (``polar``), the problem ``fingerprint``, the ``settings`` of the run (for the record only)
  and the ``history`` records.  Non-finite floats are written as JSON's ``NaN``/``Infinity``
  extension (Python's :mod:`json` reads them back).

Files are written atomically: to a temporary file in the same directory, flushed and synced,
then moved over the old one with :func:`os.replace`, so a crash leaves either the old
checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .losses import _vdot
from .polar import NuclearPolar

__all__: list[str] = []  # private: used by homfact.meta.grow

FORMAT = "homfact-grow-checkpoint"
VERSION = 1

#: entries of an array hashed exactly (evenly spaced, first and last included)
SAMPLE_SIZE = 4096

#: relative tolerance on an array's sum and norm: pairwise summation may round differently
#: across NumPy builds; the bound ``|Σx| ≤ √n‖x‖`` scales the sum's tolerance
SUM_RTOL = 1e-9

#: nesting depth of the objects (loss, map, gauges) whose attributes enter the fingerprint
_MAX_DEPTH = 3


# --------------------------------------------------------------------------------------------
# the problem's fingerprint


def array_digest(a) -> dict:
    """``{"shape", "dtype", "sum", "norm", "sample"}`` of an array: ``sample`` is the SHA-256
    of :data:`SAMPLE_SIZE` evenly spaced entries (bytes and dtype); ``O(size)`` for the sum
    and the norm, ``O(SAMPLE_SIZE)`` for the hash.

    An output representation that is not a NumPy array contributes its type, ``√⟨y, y⟩``
    (through :func:`homfact.losses._vdot`) and, when it has one, its own ``fingerprint()``.
    """
    if sp.issparse(a):
        a = a.tocsr()
        return {"sparse": list(a.shape), "data": array_digest(a.data),
                "indices": array_digest(a.indices), "indptr": array_digest(a.indptr)}
    if not isinstance(a, np.ndarray):
        own = getattr(a, "fingerprint", None)
        return {"output": type(a).__name__, "norm": math.sqrt(max(_vdot(a, a), 0.0)),
                "own": own() if callable(own) else None}
    size = int(a.size)
    idx = np.unique(np.linspace(0, size - 1, min(size, SAMPLE_SIZE)).astype(np.int64))
    sample = np.ascontiguousarray(a[np.unravel_index(idx, a.shape)]) if size else a.ravel()
    h = hashlib.sha256(str(a.dtype).encode())
    h.update(sample.tobytes())
    numeric = a.dtype.kind in "biuf"
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "sum": float(np.sum(a, dtype=np.float64)) if numeric and size else 0.0,
            "norm": float(np.linalg.norm(a.ravel().astype(np.float64, copy=False)))
            if numeric and size else 0.0,
            "sample": h.hexdigest()}


def _digest(value, depth: int = 0):
    """A JSON-able digest of an attribute: arrays by :func:`array_digest`, scalars and strings
    as they are, sequences item by item, homfact objects by their type and public attributes
    (to depth :data:`_MAX_DEPTH`), anything else (callables, …) by its type name."""
    if isinstance(value, np.ndarray) or sp.issparse(value) or (
            hasattr(value, "vdot") and not isinstance(value, type)):
        return {"array": array_digest(value)}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, tuple | list):
        return [_digest(v, depth + 1) for v in value]
    if (depth < _MAX_DEPTH and type(value).__module__.startswith("homfact")
            and hasattr(value, "__dict__") and not callable(value)):
        return object_digest(value, depth + 1)
    return {"type": type(value).__name__}


def object_digest(obj, depth: int = 0) -> dict:
    """``{"type": name, attribute: digest, …}`` over the public attributes of ``obj``
    (attributes starting with ``_`` are caches or derived state and are left out; objects
    of other packages enter by their type name only), or ``{"type": name, "own": …}`` when
    ``obj`` has a ``fingerprint()`` method (a distributed map or loss computes its own)."""
    out = {"type": type(obj).__name__}
    own = getattr(obj, "fingerprint", None)
    if callable(own):
        return {**out, "own": own()}
    for key in sorted(vars(obj)):
        if not key.startswith("_"):
            out[key] = _digest(getattr(obj, key), depth)
    return out


def fingerprint(problem) -> dict:
    """The problem's fingerprint: ``λ``, the block sizes, and the digests of the loss (its
    data ``y`` included), the map (shape, mask indices, dictionary, …) and the gauges.

    Guarantees: a different shape, ``λ``, loss/map/gauge type or parameter, a different
    dtype or size of any data array, or a change of any of the :data:`SAMPLE_SIZE` sampled
    entries of an array is detected; a change elsewhere is detected when it moves the array's
    sum or norm by more than :data:`SUM_RTOL` (relative).  Not guaranteed: a change of
    unsampled entries that keeps both (e.g. two entries swapped).  That is why a resumed fit
    never reads a certificate from the file: it is recomputed on the data at hand.
    """
    return {"lam": float(problem.lam),
            "block_sizes": [int(n) for n in problem.mapping.block_sizes],
            "loss": object_digest(problem.loss),
            "map": object_digest(problem.mapping),
            "gauges": [object_digest(g) for g in problem.gauges]}


def _close(a: float, b: float, scale: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b or abs(a - b) <= scale


def fingerprint_mismatch(saved, now, where: str = "") -> str | None:
    """The first place where two fingerprints differ (``None`` when they match): exact
    comparison except an array's ``sum`` and ``norm`` (:data:`SUM_RTOL`)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        if set(saved) != set(now):
            return f"{where or 'fingerprint'}: keys {sorted(saved)} != {sorted(now)}"
        if "sample" in now and "norm" in now:  # an array digest
            scale = SUM_RTOL * max(float(now["norm"]), float(saved["norm"]))
            sums = math.sqrt(max(1.0, float(np.prod(now["shape"])))) * scale
            if not (_close(saved["sum"], now["sum"], sums)
                    and _close(saved["norm"], now["norm"], scale)):
                return f"{where}: sum/norm {saved['sum']!r}/{saved['norm']!r} != " \
                       f"{now['sum']!r}/{now['norm']!r}"
            saved = {k: v for k, v in saved.items() if k not in ("sum", "norm")}
            now = {k: v for k, v in now.items() if k not in ("sum", "norm")}
        elif "output" in now and "norm" in now:  # a distributed output's digest
            # its norm comes from a vdot whose summation order follows the block count:
            # compared to SUM_RTOL; the output's own fingerprint() is compared exactly
            scale = SUM_RTOL * max(float(now["norm"]), float(saved.get("norm", 0.0)))
            if not _close(saved.get("norm"), now["norm"], scale):
                return f"{where}: norm {saved.get('norm')!r} != {now['norm']!r}"
            saved = {k: v for k, v in saved.items() if k != "norm"}
            now = {k: v for k, v in now.items() if k != "norm"}
        for key in now:
            diff = fingerprint_mismatch(saved[key], now[key], f"{where}.{key}" if where else key)
            if diff:
                return diff
        return None
    if isinstance(saved, list) and isinstance(now, list):
        if len(saved) != len(now):
            return f"{where}: length {len(saved)} != {len(now)}"
        for k, (a, b) in enumerate(zip(saved, now, strict=True)):
            diff = fingerprint_mismatch(a, b, f"{where}[{k}]")
            if diff:
                return diff
        return None
    if isinstance(saved, float) and isinstance(now, float) and _close(saved, now, 0.0):
        return None
    return None if saved == now else f"{where}: {saved!r} != {now!r}"


# --------------------------------------------------------------------------------------------
# arguments, random state, polar state


def check_args(checkpoint, checkpoint_every, resume) -> Path | None:
    """Validate ``checkpoint`` (``None`` or a path in an existing directory),
    ``checkpoint_every`` (an integer ``>= 1``) and ``resume`` (a bool; ``True`` needs a
    ``checkpoint``); raises ``ValueError``/``TypeError`` naming the argument."""
    if isinstance(checkpoint_every, bool) or not (
            isinstance(checkpoint_every, int | np.integer) and checkpoint_every >= 1):
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    if not isinstance(resume, bool | np.bool_):
        raise TypeError(f"resume must be True or False, got {type(resume).__name__}")
    if checkpoint is None:
        if resume:
            raise ValueError("resume=True needs checkpoint=PATH (the file to resume from)")
        return None
    if not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be None, a str or an os.PathLike, got "
                        f"{type(checkpoint).__name__}")
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(f"checkpoint must be a file path, got the directory {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"checkpoint {str(path)!r}: directory {str(path.parent)!r} does not "
                         f"exist")
    return path


def rng_state(rng: np.random.Generator) -> dict:
    """The JSON-able state of ``rng``'s bit generator (arrays as lists)."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, np.ndarray):
            return {"ndarray": v.tolist(), "dtype": str(v.dtype)}
        return int(v) if isinstance(v, np.integer) else v
    return plain(rng.bit_generator.state)


def restore_rng(rng: np.random.Generator, state: dict) -> np.random.Generator:
    """``rng`` with ``state`` restored (a new Generator when the bit generator type differs;
    only NumPy's own bit generators are rebuilt by name)."""
    def arrays(v):
        if isinstance(v, dict):
            if set(v) == {"ndarray", "dtype"}:
                return np.asarray(v["ndarray"], dtype=v["dtype"])
            return {k: arrays(x) for k, x in v.items()}
        return v
    state = arrays(state)
    name = state.get("bit_generator")
    if type(rng.bit_generator).__name__ != name:
        if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
            raise ValueError(f"checkpoint: unknown bit generator {name!r}")
        rng = np.random.Generator(getattr(np.random, name)())
    rng.bit_generator.state = state
    return rng


def polar_state(polar) -> dict:
    """The adaptive state of a polar solver: its ``checkpoint_state()`` when it has one;
    :class:`~homfact.polar.NuclearPolar`: the Lanczos size that last converged (``ncv``).
    Other solvers' caches (e.g. a tensor polar's last spectral data) are not saved."""
    own = getattr(polar, "checkpoint_state", None)
    if callable(own):
        return dict(own())
    if isinstance(polar, NuclearPolar):
        return {"ncv": polar.ncv}
    return {}


def restore_polar(polar, state: dict) -> None:
    """Inverse of :func:`polar_state` (``restore_checkpoint_state(state)`` when defined)."""
    own = getattr(polar, "restore_checkpoint_state", None)
    if callable(own):
        own(state)
    elif isinstance(polar, NuclearPolar) and "ncv" in state:
        polar.ncv = None if state["ncv"] is None else int(state["ncv"])


# --------------------------------------------------------------------------------------------
# the loop state, written and read


@dataclass
class LoopState:
    """What :func:`homfact.meta.grow` needs to go on exactly where it stood after an outer
    iteration: the factors and warm start, the tolerance schedule and block size, the random
    and polar state, the history, the iteration count and elapsed time."""

    factors: list[np.ndarray]
    iteration: int
    history: list[dict]
    elapsed: float
    inner_tol: float
    k_cand: int
    prev_gap: float
    warm: list[np.ndarray] | None = None
    stop_reason: str = ""
    rng: dict = field(default_factory=dict)
    polar: dict = field(default_factory=dict)


def _json_default(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return repr(v)


def save(path: Path, state: LoopState, fp: dict, settings: dict) -> None:
    """Write ``state`` to ``path`` atomically (module docstring)."""
    doc = {"format": FORMAT, "version": VERSION, "iteration": int(state.iteration),
           "elapsed": float(state.elapsed), "inner_tol": float(state.inner_tol),
           "k_cand": int(state.k_cand), "prev_gap": float(state.prev_gap),
           "stop_reason": state.stop_reason, "n_factors": len(state.factors),
           "has_warm": state.warm is not None, "rng": state.rng, "polar": state.polar,
           "fingerprint": fp, "settings": settings, "history": state.history}
    arrays = {f"factor_{k}": np.asarray(F, dtype=np.float64) for k, F in enumerate(state.factors)}
    if state.warm is not None:
        arrays.update({f"warm_{k}": np.asarray(w, dtype=np.float64)
                       for k, w in enumerate(state.warm)})
    text = json.dumps(doc, default=_json_default)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, state=np.array(text), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def _sync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX: fsync the directory; skipped where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: Path, fp: dict) -> LoopState:
    """Read the checkpoint at ``path`` and check it against the fingerprint ``fp``; raises
    ``ValueError`` naming ``checkpoint`` when it is not a homfact checkpoint or was written
    for another problem."""
    try:
        with np.load(path, allow_pickle=False) as f:
            doc = json.loads(str(f["state"][()]))
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError(f"format {doc.get('format')!r} version {doc.get('version')!r}")
            factors = [np.array(f[f"factor_{k}"]) for k in range(int(doc["n_factors"]))]
            warm = ([np.array(f[f"warm_{k}"]) for k in range(int(doc["n_factors"]))]
                    if doc["has_warm"] else None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint {str(path)!r} is not a readable homfact checkpoint "
                         f"({type(exc).__name__}: {exc})") from None
    diff = fingerprint_mismatch(doc["fingerprint"], fp)
    if diff is not None:
        raise ValueError(f"checkpoint {str(path)!r} was written for a different problem "
                         f"({diff}); pass resume=False to start afresh (the file is then "
                         f"overwritten) or another checkpoint path")
    return LoopState(factors, int(doc["iteration"]), list(doc["history"]),
                     float(doc["elapsed"]), float(doc["inner_tol"]), int(doc["k_cand"]),
                     float(doc["prev_gap"]), warm, str(doc["stop_reason"]), doc["rng"],
                     doc["polar"])
