"""USPS (the 1989 data) from usps.h5, ESL's zip.train.gz / zip.test.gz, or LIBSVM's usps.bz2 /
usps.t.bz2: whichever is in the data directory first (in that order), else fetched (harness.data.fetch).

All three readers give the same arrays for the same images: x (n, 256) float64 in [-1, 1], rows
16x16 row-major, ink +1, labels int64 0..9. h5py is imported lazily, only to read usps.h5."""

from __future__ import annotations

import bz2
import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .checks import _check_digest, _check_split, _file_digest, _one_line
from .fetch import ENV_MIRROR, ensure, tried_text
from .paths import _WHERE, data_dir_origin
from .registry import USPS_SOURCES

_USPS_FILES = {f.name: f for src in USPS_SOURCES for f in src.files}
USPS_SHA256 = {name: f.digest for name, f in _USPS_FILES.items() if f.algorithm == "sha256"}
USPS_MD5 = {name: f.digest for name, f in _USPS_FILES.items() if f.algorithm == "md5"}
USPS_CLASS_COUNTS = {
    "train": (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),  # 7291
    "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),  # 2007
}
_USPS_TEXT = {"train": "zip.train.gz", "test": "zip.test.gz"}
_USPS_LIBSVM = {"train": "usps.bz2", "test": "usps.t.bz2"}


def _verify(path: Path) -> str:
    """Check a USPS file against the registry's hash; return the digest."""
    f = _USPS_FILES[path.name]
    return _check_digest(path, f.algorithm, f.digest)


def _read_usps_h5(path, verify_checksum: bool = True, expected_counts=USPS_CLASS_COUNTS) -> dict:
    """{"train": (x (n, 256) float64 in [-1, 1], labels int64), "test": ...} from usps.h5."""
    import h5py

    path = Path(path)
    if verify_checksum:
        _verify(path)
    splits = {}
    try:
        with h5py.File(path, "r") as f:
            for split in ("train", "test"):
                x = np.asarray(f[f"{split}/data"][()], dtype=np.float64)
                y = np.asarray(f[f"{split}/target"][()])
                splits[split] = (x, y)
    except KeyError as e:
        raise DataError(f"{path}: missing dataset in HDF5 file ({_one_line(e)}); expected train/data, train/target, "
                        "test/data, test/target") from None
    except (OSError, ValueError, TypeError) as e:
        raise DataError(f"{path}: not a readable HDF5 file ({_one_line(e)})") from None
    out = {}
    for split, (x, y) in splits.items():
        counts = expected_counts[split] if expected_counts else None
        _check_split(path, split, x, y, 0.0, 1.0, counts)
        out[split] = (2.0 * x - 1.0, y.astype(np.int64))  # the paper's [-1, 1]
    return out


def _text_of(path: Path, verify_checksum: bool) -> str:
    """The text of a .gz or .bz2 USPS file, its checksum checked first; a bad file is one line."""
    if verify_checksum:
        _verify(path)
    opener, kind = (bz2.open, "bz2") if path.suffix == ".bz2" else (gzip.open, "gzip")
    try:
        with opener(path, "rt", encoding="ascii") as f:
            return f.read()
    except (OSError, EOFError, zlib.error, ValueError) as e:  # a bad byte: UnicodeDecodeError, a ValueError
        raise DataError(f"{path}: truncated or corrupt {kind} file ({_one_line(e)})") from None


def _read_usps_text(path, verify_checksum: bool = True, expected_counts=None) -> tuple:
    """(x (n, 256) float64 in [-1, 1], labels int64) from zip.train.gz / zip.test.gz."""
    path = Path(path)
    text = _text_of(path, verify_checksum)
    lines = text.splitlines()
    linenos = [i for i, line in enumerate(lines, start=1) if line.strip()]  # the line of each data row
    if not linenos:
        raise DataError(f"{path}: no data rows")
    for lineno in linenos:
        n_fields = len(lines[lineno - 1].split())
        if n_fields != 257:
            raise DataError(f"{path}: line {lineno} has {n_fields} values, expected 257 (digit + 256 pixels)")
    try:
        table = np.array(text.split(), dtype=np.float64).reshape(len(linenos), 257)
    except ValueError:  # find the culprit line only on this slow path
        for lineno in linenos:
            try:
                np.array(lines[lineno - 1].split(), dtype=np.float64)
            except ValueError:
                raise DataError(f"{path}: line {lineno} holds a value that is not a number") from None
        raise
    x, labels = table[:, 1:], table[:, 0]
    bad = np.flatnonzero((labels < 0) | (labels > 9) | (labels != np.round(labels)))
    if bad.size:
        lineno = linenos[bad[0]]
        raise DataError(f"{path}: line {lineno} starts with label {lines[lineno - 1].split()[0]}, "
                        "expected a digit 0..9")
    bad = np.flatnonzero(~np.all((x >= -1.0) & (x <= 1.0), axis=1))  # also catches NaN
    if bad.size:
        raise DataError(f"{path}: line {linenos[bad[0]]} has a pixel value outside [-1, 1] (or NaN)")
    y = labels.astype(np.int64)
    _check_split(path, "data", x, y, -1.0, 1.0, expected_counts)
    return x, y


def _read_usps_libsvm(path, verify_checksum: bool = True, expected_counts=None) -> tuple:
    """(x (n, 256) float64 in [-1, 1], labels int64) from LIBSVM's usps.bz2 / usps.t.bz2.

    A line is `label index:value ...`: label 1..10 for the digits 0..9 (torchvision's reading),
    indices 1..256 in increasing order, an absent index a 0. The class counts catch a wrong label
    mapping: a shifted one would not match USPS_CLASS_COUNTS."""
    path = Path(path)
    text = _text_of(path, verify_checksum)
    rows = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not rows:
        raise DataError(f"{path}: no data rows")
    x, labels = np.zeros((len(rows), 256)), np.empty(len(rows))
    for r, (lineno, line) in enumerate(rows):
        label, _, rest = line.strip().partition(" ")
        try:
            labels[r] = float(label)
            pairs = np.array(rest.replace(":", " ").split(), dtype=np.float64).reshape(-1, 2)  # (k, [index, value])
        except ValueError:
            raise DataError(f"{path}: line {lineno} is not `label index:value ...` with numbers") from None
        idx = pairs[:, 0]
        if not (np.all(idx == np.round(idx)) and np.all((idx >= 1) & (idx <= 256)) and np.all(np.diff(idx) > 0)):
            raise DataError(f"{path}: line {lineno} has an index outside 1..256, not whole, or out of order")
        x[r, idx.astype(np.int64) - 1] = pairs[:, 1]
    bad = np.flatnonzero((labels < 1) | (labels > 10) | (labels != np.round(labels)))
    if bad.size:
        raise DataError(f"{path}: line {rows[bad[0]][0]} has label {labels[bad[0]]:g}, expected 1..10 (digits 0..9)")
    bad = np.flatnonzero(~np.all((x >= -1.0) & (x <= 1.0), axis=1))  # also catches NaN
    if bad.size:
        raise DataError(f"{path}: line {rows[bad[0]][0]} has a pixel value outside [-1, 1] (or NaN)")
    y = labels.astype(np.int64) - 1
    _check_split(path, "data", x, y, -1.0, 1.0, expected_counts)
    return x, y


_FORMATS = {
    "usps.h5": "hdf5 (train/data, train/target, test/data, test/target), pixels 2*v - 1",
    "esl": "gzipped text, one line per image: digit then 256 values in [-1, 1]",
    "libsvm": "bzip2 LIBSVM text, one line per image: label 1..10 (digit + 1) then index:value pairs in [-1, 1]",
}


def _usps_missing_message(folder: Path, why: str = "") -> str:
    return (f"USPS data not found in the data directory {folder.parent} ({data_dir_origin(folder.parent)})"
            f"{f' and not downloaded ({why})' if why else ''}: put usps/usps.h5, or usps/zip.train.gz + "
            "usps/zip.test.gz, or usps/usps.bz2 + usps/usps.t.bz2, there (`harness data list` says where each "
            f"is published), or point {_WHERE} at a directory that has them, or ${ENV_MIRROR} at a server that does")


def _check_usps_paths(data_dir: Path, download: bool, tried: list) -> None:
    """Nothing usable: a directory where a file belongs, half a pair, or nothing at all."""
    folder = Path(data_dir) / "usps"
    for src in USPS_SOURCES:
        have = [f for f in src.files if (data_dir / f.path).is_file()]
        missing = [f for f in src.files if not (data_dir / f.path).is_file()]
        if have and missing and not tried:
            pair = " + ".join(f.name for f in src.files)
            raise DataError(f"{data_dir / missing[0].path}: missing; the USPS pair {pair} needs both files "
                            f"in {folder}")
    raise DataError(_usps_missing_message(folder, tried_text(tried, download) if download or tried else ""))


def _read_usps_source(key: str, folder: Path, verify_checksum: bool, expected_counts) -> tuple[dict, list]:
    """{"train": (x, y), "test": (x, y)} and the files read, from one source's files."""
    if key == "usps.h5":
        return _read_usps_h5(folder / "usps.h5", verify_checksum, expected_counts), [folder / "usps.h5"]
    names, reader = (_USPS_TEXT, _read_usps_text) if key == "esl" else (_USPS_LIBSVM, _read_usps_libsvm)
    splits = {split: reader(folder / name, verify_checksum, expected_counts[split] if expected_counts else None)
              for split, name in names.items()}
    return splits, [folder / name for name in names.values()]


def _load_usps(data_dir: Path, verify_checksum: bool = True, expected_counts=USPS_CLASS_COUNTS,
               download: bool = False, quiet: bool = False):
    """The first complete source in the data directory (usps.h5, ESL's pair, LIBSVM's pair), else
    fetched when `download`. A corrupt file is an error, never a silent fallback to the next source."""
    data_dir = Path(data_dir)
    for f in _USPS_FILES.values():
        p = data_dir / f.path
        if p.exists() and not p.is_file():
            raise DataError(f"{p}: is a directory (or not a regular file); expected the data file")
    src, fetched, tried = ensure("usps", data_dir, download=download, quiet=quiet)
    if src is None:
        _check_usps_paths(data_dir, download, tried)
    splits, files = _read_usps_source(src.key, data_dir / "usps", verify_checksum, expected_counts)
    source = {
        "data_dir": str(data_dir.resolve()),
        "files": [{"path": p.relative_to(data_dir).as_posix(), _USPS_FILES[p.name].algorithm: _file_digest(
            p, _USPS_FILES[p.name].algorithm)} for p in files],
        "format": _FORMATS[src.key],
        "origin": {"source": src.key, "title": src.title, "page": src.page, "fetched": fetched},
        "preprocessing": "none beyond scaling to [-1, 1]: deslanted, size-normalised 16x16 USPS digits",
        "n_train": int(splits["train"][0].shape[0]),
        "n_test": int(splits["test"][0].shape[0]),
    }
    return splits, source
