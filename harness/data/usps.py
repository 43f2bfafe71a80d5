"""USPS (the 1989 data) from usps.h5 or the zip.train.gz / zip.test.gz text pair.

h5py is imported lazily, only to read usps.h5."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .checks import _check_digest, _check_split, _file_digest, _one_line
from .paths import _WHERE, data_dir_origin

USPS_SHA256 = {
    "usps.h5": "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
    "zip.train.gz": "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
    "zip.test.gz": "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
}
USPS_CLASS_COUNTS = {
    "train": (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),  # 7291
    "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),  # 2007
}
_USPS_TEXT = {"train": "zip.train.gz", "test": "zip.test.gz"}


def _read_usps_h5(path, verify_checksum: bool = True, expected_counts=USPS_CLASS_COUNTS) -> dict:
    """{"train": (x (n, 256) float64 in [-1, 1], labels int64), "test": ...} from usps.h5."""
    import h5py

    path = Path(path)
    if verify_checksum:
        _check_digest(path, "sha256", USPS_SHA256["usps.h5"])
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


def _read_usps_text(path, verify_checksum: bool = True, expected_counts=None) -> tuple:
    """(x (n, 256) float64 in [-1, 1], labels int64) from zip.train.gz / zip.test.gz."""
    path = Path(path)
    if verify_checksum:
        _check_digest(path, "sha256", USPS_SHA256[path.name])
    try:
        with gzip.open(path, "rt", encoding="ascii") as f:
            text = f.read()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: truncated or corrupt gzip file ({_one_line(e)})") from None
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


def _usps_missing_message(folder: Path) -> str:
    return (f"USPS data not found in the data directory {folder.parent} ({data_dir_origin(folder.parent)}): "
            f"put usps/usps.h5, or usps/zip.train.gz + usps/zip.test.gz, there, or point {_WHERE} at a "
            "directory that has them")


def _load_usps(data_dir: Path, verify_checksum: bool = True, expected_counts=USPS_CLASS_COUNTS):
    """Prefer usps.h5; else the text pair. A corrupt h5 is an error, never a silent fallback."""
    folder = Path(data_dir) / "usps"
    h5 = folder / "usps.h5"
    texts = {split: folder / name for split, name in _USPS_TEXT.items()}
    for p in (h5, *texts.values()):
        if p.exists() and not p.is_file():
            raise DataError(f"{p}: is a directory (or not a regular file); expected the data file")
    if h5.is_file():
        splits = _read_usps_h5(h5, verify_checksum, expected_counts)
        files, fmt = [h5], "hdf5 (train/data, train/target, test/data, test/target), pixels 2*v - 1"
    elif any(p.is_file() for p in texts.values()):
        missing = [p for p in texts.values() if not p.is_file()]
        if missing:
            raise DataError(f"{missing[0]}: missing; the USPS text pair needs both zip.train.gz and zip.test.gz "
                            f"in {folder}")
        splits = {split: _read_usps_text(p, verify_checksum, expected_counts[split] if expected_counts else None)
                  for split, p in texts.items()}
        files, fmt = list(texts.values()), "gzipped text, one line per image: digit then 256 values in [-1, 1]"
    else:
        raise DataError(_usps_missing_message(folder))
    source = {
        "data_dir": str(Path(data_dir).resolve()),
        "files": [{"path": str(p.relative_to(data_dir)), "sha256": _file_digest(p, "sha256")} for p in files],
        "format": fmt,
        "preprocessing": "none beyond scaling to [-1, 1]: deslanted, size-normalised 16x16 USPS digits",
        "n_train": int(splits["train"][0].shape[0]),
        "n_test": int(splits["test"][0].shape[0]),
    }
    return splits, source
