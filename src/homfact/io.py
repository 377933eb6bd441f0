"""File readers and writers used by the command-line interface.

Readers (:func:`read_matrix`) accept

* ``.npy`` — a dense numeric 2-D array (NaN marks a missing entry for completion);
* ``.npz`` — either a :func:`scipy.sparse.save_npz` file or a :func:`numpy.savez` archive
  holding exactly one 2-D array;
* ``.mtx`` — Matrix Market (:func:`scipy.io.mmread`); in coordinate format every stored entry
  is an observed entry for completion, stored zeros included;
* ``.csv`` / ``.txt`` — triplets ``row,col,value`` per line, 0-based indices, an optional
  header line; the shape is ``max index + 1`` unless given.
* ``.parquet`` / ``.pq`` — columns ``row``, ``col``, ``value`` (other columns ignored), read
  with ``pyarrow`` (the ``dask`` extra) into one process, checked as the CSV triplets; for
  files that outgrow one process use ``homfact fit completion --scheduler``.
* ``.tif`` / ``.tiff`` — an image stack read with ``tifffile`` (:func:`read_tiff_stack`): a
  ``frames × rows × cols`` stack becomes the ``pixels × frames`` matrix (pixels in row-major
  order, so column ``t`` reshaped to ``(rows, cols)`` is frame ``t``), as calcium-imaging
  movies are stored; a single 2-D page is read as the matrix itself.

:func:`as_model_input` turns what was read into the input a model takes: a dense array for
low-rank approximation (sparse input is densified, unstored entries are zeros) and a CSR matrix
(every stored entry observed) or a NaN-masked array for completion.

Writers: :func:`write_json` (non-finite floats become ``null``), :func:`save_factors`.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

__all__ = [
    "MAX_DENSE_ENTRIES",
    "as_model_input",
    "densify",
    "parse_shape",
    "read_csv_triplets",
    "read_matrix",
    "read_parquet_triplets",
    "read_tiff_stack",
    "save_factors",
    "tiff_image_shape",
    "to_jsonable",
    "write_json",
]

#: refuse to densify a sparse input with more entries than this (about 1.6 GB of float64)
MAX_DENSE_ENTRIES = 200_000_000

_SPARSE_NPZ_KEYS = {"data", "shape", "format"}


def parse_shape(text: str | None) -> tuple[int, int] | None:
    """Parse ``"M,N"`` (also ``"MxN"``) into a pair of positive integers; ``None`` passes."""
    if text is None:
        return None
    parts = text.replace("x", ",").replace("X", ",").split(",")
    try:
        m, n = (int(p.strip()) for p in parts)
    except ValueError:
        raise ValueError(f"shape must look like M,N with two integers, got {text!r}") from None
    if m < 1 or n < 1:
        raise ValueError(f"shape must be positive, got {text!r}")
    return m, n


def _check_numeric(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D matrix, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{path}: the matrix is empty (shape {arr.shape})")
    return arr


def _check_sparse(mat, path: Path) -> sp.csr_matrix:
    mat = sp.csr_matrix(mat)
    if mat.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numeric entries, got dtype {mat.dtype}")
    mat = mat.astype(np.float64)
    if mat.shape[0] == 0 or mat.shape[1] == 0:
        raise ValueError(f"{path}: the matrix is empty (shape {mat.shape})")
    if not np.all(np.isfinite(mat.data)):
        raise ValueError(f"{path}: NaN or infinite stored entries")
    return mat


def _reshape(mat: sp.csr_matrix, shape: tuple[int, int] | None, path: Path) -> sp.csr_matrix:
    if shape is None or shape == mat.shape:
        return mat
    raise ValueError(f"{path}: --shape {shape[0]},{shape[1]} does not match the file's shape "
                     f"{mat.shape[0]},{mat.shape[1]}")


def _parse_triplets_slow(lines: list[str], path: Path) -> tuple[list[int], list[int],
                                                               list[float]]:
    """Line-by-line parser: slow, but its errors name the offending line."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    first = True
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(",")]
        if len(fields) != 3:
            raise ValueError(f"{path}, line {lineno}: expected 3 fields row,col,value, got "
                             f"{len(fields)}")
        try:
            r, c, v = float(fields[0]), float(fields[1]), float(fields[2])
        except ValueError:
            if first:  # a header line
                first = False
                continue
            raise ValueError(f"{path}, line {lineno}: non-numeric field in {text[:60]!r}"
                             ) from None
        first = False
        if not (r.is_integer() and c.is_integer()) or r < 0 or c < 0:
            raise ValueError(f"{path}, line {lineno}: row and col must be integers >= 0 "
                             f"(0-based), got {fields[0]!r}, {fields[1]!r}")
        if not math.isfinite(v):
            raise ValueError(f"{path}, line {lineno}: value must be finite, got {fields[2]!r}")
        rows.append(int(r))
        cols.append(int(c))
        vals.append(v)
    return rows, cols, vals


def _parse_triplets_fast(lines: list[str]) -> np.ndarray | None:
    """numpy's C parser on the lines after an optional header; ``None`` if anything is off."""
    start = 0
    for i, line in enumerate(lines):
        text = line.strip()
        if text and not text.startswith("#"):
            try:
                [float(f) for f in text.split(",")]
            except ValueError:
                start = i + 1  # header
            break
    body = lines[start:]
    if not any(line.strip() and not line.lstrip().startswith("#") for line in body):
        return None
    try:
        arr = np.loadtxt(body, delimiter=",", comments="#", ndmin=2, dtype=np.float64)
    except ValueError:
        return None
    if arr.ndim != 2 or arr.shape[1] != 3:
        return None
    r, c = arr[:, 0], arr[:, 1]
    ok = (np.all(np.isfinite(arr)) and np.all(r >= 0) and np.all(c >= 0)
          and np.all(r == np.floor(r)) and np.all(c == np.floor(c)))
    return arr if ok else None


def read_csv_triplets(path: str | os.PathLike,
                      shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """Read ``row,col,value`` lines (0-based, optional header) into a CSR matrix.

    Every line becomes a stored entry, zeros included.  ``shape`` defaults to
    ``(max row + 1, max col + 1)``; a given shape must contain every index.  Duplicate
    positions, negative or non-integer indices and non-numeric fields are errors (naming the
    line).  Blank lines and lines starting with ``#`` are skipped.
    """
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected row,col,value lines)") from None
    arr = _parse_triplets_fast(lines)
    if arr is not None:
        r_arr, c_arr, vals = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]
    else:
        rows, cols, vlist = _parse_triplets_slow(lines, path)
        if not vlist:
            raise ValueError(f"{path}: no numeric triplets found")
        r_arr = np.asarray(rows, dtype=np.int64)
        c_arr = np.asarray(cols, dtype=np.int64)
        vals = np.asarray(vlist, dtype=np.float64)
    return _triplets_csr(r_arr, c_arr, vals, shape, path)


def _triplets_csr(r_arr: np.ndarray, c_arr: np.ndarray, vals: np.ndarray,
                  shape: tuple[int, int] | None, path: Path) -> sp.csr_matrix:
    """CSR matrix of checked triplets (int64 ids ``≥ 0``, float values); ``shape`` defaults to
    ``max id + 1`` and must contain every id; duplicate positions are an error."""
    inferred = (int(r_arr.max()) + 1, int(c_arr.max()) + 1)
    if shape is None:
        shape = inferred
    elif inferred[0] > shape[0] or inferred[1] > shape[1]:
        raise ValueError(f"{path}: indices need shape at least {inferred[0]},{inferred[1]}, "
                         f"got --shape {shape[0]},{shape[1]}")
    key = r_arr * shape[1] + c_arr
    if np.unique(key).size != key.size:
        raise ValueError(f"{path}: duplicate (row, col) positions")
    coo = sp.coo_matrix((vals, (r_arr, c_arr)), shape=shape)
    return sp.csr_matrix(coo)


def read_parquet_triplets(path: str | os.PathLike,
                          shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """Read a Parquet file with columns ``row``, ``col`` (integer ids ``≥ 0``) and ``value``
    (real, finite) into a CSR matrix, as :func:`read_csv_triplets` reads CSV.

    Needs ``pyarrow`` (``pip install 'homfact[dask]'``).  The whole file is loaded into this
    process: for data that outgrow it, ``homfact fit completion FILE --scheduler ...`` reads
    it on Dask workers (:func:`homfact.distributed.read_triplets`).
    """
    path = Path(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"{path}: reading Parquet needs pyarrow: pip install "
                          f"'homfact[dask]'") from None
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read as Parquet ({exc})") from None
    missing = [c for c in ("row", "col", "value") if c not in names]
    if missing:
        raise ValueError(f"{path}: missing the column(s) {missing}; a triplet file needs row, "
                         f"col, value (has {names})")
    table = pq.read_table(path, columns=["row", "col", "value"])
    if table.num_rows == 0:
        raise ValueError(f"{path}: no triplets (no rows)")
    ids = []
    for name in ("row", "col"):
        a = table.column(name).to_numpy()
        if a.dtype.kind not in "iu":
            raise ValueError(f"{path}: column {name!r} must hold integer ids, got dtype "
                             f"{a.dtype}")
        if a.min() < 0:
            raise ValueError(f"{path}: column {name!r} has negative ids")
        ids.append(a.astype(np.int64))
    vals = table.column("value").to_numpy()
    if vals.dtype.kind not in "iuf":
        raise ValueError(f"{path}: column 'value' must hold real numbers, got dtype {vals.dtype}")
    vals = vals.astype(np.float64)
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{path}: column 'value' has NaN or infinite values")
    return _triplets_csr(ids[0], ids[1], vals, shape, path)


def _read_npz(path: Path) -> np.ndarray | sp.csr_matrix:
    try:
        archive = np.load(path, allow_pickle=False)
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not a valid .npz archive") from None
    with archive:
        keys = set(archive.files)
        if _SPARSE_NPZ_KEYS <= keys:
            return _check_sparse(sp.load_npz(path), path)
        if len(keys) != 1:
            raise ValueError(f"{path}: expected one array (or a scipy.sparse.save_npz file), "
                             f"found {len(keys)}: {', '.join(sorted(keys))}")
        return _check_numeric(archive[next(iter(keys))], path)


_TIFF_EXTENSIONS = (".tif", ".tiff")


def read_tiff_stack(path: str | os.PathLike) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Read a TIFF file with ``tifffile``; return ``(Y, image_shape)``.

    * a stack of shape ``(frames, rows, cols)`` gives ``Y`` of shape ``(rows·cols, frames)``
      with ``Y[:, t] = stack[t].ravel()`` (row-major pixels, the layout of
      :class:`homfact.StructuredFactorization` with ``image_shape=(rows, cols)``) and
      ``image_shape = (rows, cols)``;
    * a single 2-D image gives ``Y`` = that image and ``image_shape = None``.

    Axes of length 1 are dropped first (e.g. a singleton channel axis).  Colour/multichannel
    stacks (more than 3 axes left) are refused.  Needs the optional ``tifffile`` package
    (``pip install homfact[data]``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        import tifffile
    except ImportError:  # pragma: no cover - tifffile is in the data extra
        raise ImportError(f"{path}: reading TIFF files needs the tifffile package "
                          f"(pip install tifffile, or homfact[data])") from None
    try:
        arr = np.asarray(tifffile.imread(path))
    except (ValueError, OSError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read as TIFF ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numeric pixels, got dtype {arr.dtype}")
    arr = np.squeeze(arr)
    if arr.ndim == 2:
        return _check_numeric(arr, path), None
    if arr.ndim != 3:
        raise ValueError(f"{path}: expected a 2-D image or a frames x rows x cols stack, got "
                         f"an array of shape {arr.shape}")
    frames, rows, cols = arr.shape
    Y = np.asarray(arr, dtype=np.float64).reshape(frames, rows * cols).T.copy()
    if not np.all(np.isfinite(Y)):
        raise ValueError(f"{path}: the stack contains NaN or infinite values")
    return _check_numeric(Y, path), (rows, cols)


def tiff_image_shape(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(rows, cols)`` of a TIFF stack's frames (``None`` for another file or a 2-D TIFF)."""
    path = Path(path)
    if path.suffix.lower() not in _TIFF_EXTENSIONS or not path.exists():
        return None
    import tifffile

    with tifffile.TiffFile(path) as tif:
        shape = tuple(int(s) for s in tif.series[0].shape if s != 1)
    return (shape[1], shape[2]) if len(shape) == 3 else None


def read_matrix(path: str | os.PathLike,
                shape: tuple[int, int] | None = None) -> np.ndarray | sp.csr_matrix:
    """Read a matrix file by its extension (``.npy``, ``.npz``, ``.mtx``, ``.csv``/``.txt``,
    ``.parquet``/``.pq``, ``.tif``/``.tiff``: a ``frames × rows × cols`` stack is read as
    ``pixels × frames``).

    Returns a dense float array (``.npy``, dense ``.npz``/``.mtx``) or a CSR matrix whose stored
    entries are exactly those in the file.  ``shape`` is used by triplet files; for other
    formats it must agree with the file.

    Raises
    ------
    FileNotFoundError, OSError
        The file is missing or unreadable.
    ValueError
        Unknown extension, non-numeric content, not a 2-D matrix, duplicates, bad shape.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a matrix file")
    ext = path.suffix.lower()
    if ext == ".npy":
        with path.open("rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise ValueError(f"{path}: not a .npy file (numpy.save format)")
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{path}: cannot read as .npy ({exc})") from None
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"{path}: expected a single array")
        data = _check_numeric(arr, path)
    elif ext == ".npz":
        data = _read_npz(path)
    elif ext == ".mtx":
        try:
            raw = scipy.io.mmread(path)
        except (ValueError, IndexError, TypeError) as exc:
            raise ValueError(f"{path}: cannot read as Matrix Market ({exc})") from None
        data = _check_sparse(raw, path) if sp.issparse(raw) else _check_numeric(
            np.asarray(raw), path)
    elif ext in (".csv", ".txt"):
        return read_csv_triplets(path, shape)
    elif ext in (".parquet", ".pq"):
        return read_parquet_triplets(path, shape)
    elif ext in _TIFF_EXTENSIONS:
        data, _ = read_tiff_stack(path)
    else:
        raise ValueError(f"{path}: unknown file type {ext or '(none)'!r}; use .npy, .npz, .mtx, "
                         f".csv or .parquet (row,col,value triplets) or .tif (an image stack)")
    if sp.issparse(data):
        return _reshape(data, shape, path)
    if shape is not None and shape != data.shape:
        raise ValueError(f"{path}: --shape {shape[0]},{shape[1]} does not match the file's "
                         f"shape {data.shape[0]},{data.shape[1]}")
    return data


def read_tensor(path: str | os.PathLike) -> np.ndarray:
    """Read a dense K-way array (``K ≥ 3``) from a ``.npy`` file (NaN marks a missing entry)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() != ".npy":
        raise ValueError(f"{path}: a tensor must be a .npy file (numpy.save format), got "
                         f"{path.suffix or '(no extension)'!r}")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot read as .npy ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a numeric array")
    if arr.ndim < 3:
        raise ValueError(f"{path}: a CP tensor needs at least 3 modes, got an array of shape "
                         f"{arr.shape}")
    return np.asarray(arr, dtype=float)


def densify(data, what: str, hint: str = ""):
    """``data`` as a dense array (a sparse matrix is densified); ``ValueError`` naming ``what``
    when it has more than :data:`MAX_DENSE_ENTRIES` entries."""
    if not sp.issparse(data):
        return data
    m, n = data.shape
    if m * n > MAX_DENSE_ENTRIES:
        raise ValueError(f"{what} needs a dense {m}x{n} matrix, too large to densify{hint}")
    return data.toarray()


def as_model_input(data: np.ndarray | sp.spmatrix, model: str) -> np.ndarray | sp.csr_matrix:
    """Prepare what :func:`read_matrix` returned for ``model`` (``"lowrank"``/``"completion"``).

    * ``lowrank``: a dense finite array; sparse input is densified (unstored entries are 0).
    * ``completion``: sparse input as CSR (every stored entry observed); a dense array as is
      (NaN = missing).
    """
    if model in ("lowrank", "low_rank"):
        data = densify(data, "low-rank approximation",
                       "; use the completion model for sparse data")
        if not np.all(np.isfinite(data)):
            raise ValueError("the input contains NaN or infinite values; the lowrank model "
                             "needs every entry (use the completion model for missing data)")
        return data
    if model == "completion":
        return sp.csr_matrix(data) if sp.issparse(data) else data
    raise ValueError(f"unknown model {model!r}; use lowrank or completion")


def to_jsonable(obj):
    """Recursively convert numpy scalars/arrays to Python types; non-finite floats to ``None``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as strict JSON (``NaN``/``inf`` become ``null``), indented; return the path."""
    path = Path(path)
    path.write_text(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n",
                    encoding="utf-8")
    return path


def save_factors(directory: str | os.PathLike, factors: Sequence[np.ndarray],
                 names: Sequence[str] = ("U", "V")) -> list[Path]:
    """Save factor blocks as ``<name>.npy`` in ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, F in zip(names, factors, strict=True):
        p = directory / f"{name}.npy"
        np.save(p, np.asarray(F))
        out.append(p)
    return out
