"""Data sets as NumPy arrays: usps (the 1989 data), mnist (karpathy's 1989-style
preprocessing), synthetic; checksums, clear errors, an atomic cache.

Framework-free: this package never imports torch or jax. h5py and pooch are
imported lazily, where they are needed.

Every data set comes out the same way: images (n, 1, 16, 16) in [-1, 1] in the
dtype asked for, labels (n,) int64 in 0..9, and a JSON-able `source` that says
which files were used (with their checksums) and how they were preprocessed.

Files missing from the data directory are fetched on first use (download=True): from
$HARNESS_DATA_MIRROR, then the public sources the registry names, hash-checked, never
half-written. `source["origin"]` records which published form the data came from.

One module a purpose: paths (the data directory), registry (every file, hash and URL),
fetch (mirror and public sources, via pooch), checks (digests, split checks), usps, idx
(IDX files, bilinear resize), mnist (locate, fetch, draw, cache), synthetic; command
holds the `harness data` CLI group. Their names are re-exported here; a test that patches one of them
patches it in the module that uses it (e.g. harness.data.mnist._write_cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Every name harness.data had before it became a package stays importable from here,
# the private ones too (tests use them): hence the noqa.
from ..errors import DataError
from .checks import _check_digest, _check_split, _file_digest, _one_line  # noqa: F401
from .fetch import ENV_MIRROR, ENV_OFFLINE
from .idx import _IDX_DTYPES, _linear_taps, bilinear_resize, read_idx  # noqa: F401
from .mnist import (  # noqa: F401
    _MNIST_CACHE_VERSION,
    _MNIST_SPLITS,
    MNIST_MD5,
    MNIST_SIZES,
    MNIST_URL,
    _build_mnist,
    _cache_path,
    _download_mnist,
    _find_mnist_files,
    _load_mnist,
    _locate_mnist,
    _mnist_dirs,
    _preprocess_mnist,
    _read_cache,
    _read_mnist_split,
    _write_cache,
)
from .paths import (  # noqa: F401
    _WHERE,
    ENV_DATA_DIR,
    data_dir_origin,
    default_data_dir,
    resolve_data_dir,
)
from .registry import REGISTRY  # noqa: F401
from .synthetic import SYNTHETIC_SIZES, _make_synthetic
from .usps import (  # noqa: F401
    _USPS_LIBSVM,
    _USPS_TEXT,
    USPS_CLASS_COUNTS,
    USPS_MD5,
    USPS_SHA256,
    _load_usps,
    _read_usps_h5,
    _read_usps_libsvm,
    _read_usps_text,
    _usps_missing_message,
)

DATASETS = ("usps", "mnist", "synthetic")
DTYPES = ("float32", "float64")

__all__ = [
    "DATASETS", "DTYPES", "ENV_DATA_DIR", "ENV_MIRROR", "ENV_OFFLINE", "MNIST_MD5", "MNIST_SIZES", "MNIST_URL", "SYNTHETIC_SIZES",
    "USPS_CLASS_COUNTS", "USPS_SHA256", "DataError", "Dataset", "bilinear_resize", "data_dir_origin",
    "default_data_dir", "load_dataset", "read_idx", "resolve_data_dir", "targets_pm1",
]


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: np.ndarray  # (n_train, 1, 16, 16), dtype as asked, values in [-1, 1]
    train_labels: np.ndarray  # (n_train,) int64 in 0..9
    test_x: np.ndarray  # (n_test, 1, 16, 16)
    test_labels: np.ndarray  # (n_test,) int64
    source: dict = field(default_factory=dict)  # JSON-able provenance


def targets_pm1(labels, dtype="float32", t: float = 1.0) -> np.ndarray:
    """(n, 10) targets: +t at the label, -t elsewhere (the 1989 targets: t = 1; the knob `targets`)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"labels must be a 1-d array of digits 0..9, got shape {labels.shape}")
    out = np.full((labels.shape[0], 10), -float(t), dtype=np.dtype(dtype))
    out[np.arange(labels.shape[0]), labels.astype(np.int64)] = float(t)
    return out


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    dtype: str = "float32",
    seed: int = 1337,
    download: bool = True,
    quiet: bool = False,
) -> Dataset:
    """Load one of DATASETS as NumPy arrays; raise DataError with a one-line reason.

    download: fetch missing files (the mirror, then the public sources); quiet: say nothing on
    stderr while fetching (otherwise a line per file, and a progress bar on a terminal)."""
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")
    dt = _parse_dtype(dtype)
    if key == "synthetic":  # needs no files, so no data directory either
        splits, source = _make_synthetic(seed)
    else:
        root = resolve_data_dir(data_dir)
        try:
            if key == "usps":
                splits, source = _load_usps(root, download=download, quiet=quiet)
            else:
                splits, source = _load_mnist(root, seed=seed, download=download, quiet=quiet)
        except OSError as e:  # permission denied, a directory where a file should be, an I/O error
            raise DataError(f"{e.filename or root}: cannot be read ({e.strerror or _one_line(e)})") from None
    return _as_dataset(key, splits, source, dt)


def _parse_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype) if dtype is not None else None  # np.dtype(None) would be float64
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise DataError(f"unsupported dtype {dtype!r}; use one of: {', '.join(DTYPES)}")
    return dt


def _as_dataset(name: str, splits: dict, source: dict, dtype: np.dtype) -> Dataset:
    """splits: {"train": (x (n, 256) or (n, 1, 16, 16), labels), "test": ...}."""
    arrays = {}
    for split, (x, y) in splits.items():
        arrays[f"{split}_x"] = np.ascontiguousarray(np.asarray(x).reshape(-1, 1, 16, 16), dtype=dtype)
        arrays[f"{split}_labels"] = np.ascontiguousarray(y, dtype=np.int64)
    return Dataset(name=name, source={"name": name, "dtype": dtype.name, **source}, **arrays)
