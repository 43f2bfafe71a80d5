"""MNIST with karpathy's 1989-style preprocessing: locate or fetch (harness.data.fetch: the mirror,
then the registry's public sources) the four IDX files, draw and resize the 1989-sized splits,
cache them atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .checks import _check_digest, _file_digest
from .fetch import ENV_MIRROR, fetch_file, tried_text
from .idx import bilinear_resize, read_idx
from .paths import _WHERE, data_dir_origin
from .registry import MNIST_SOURCES, MNIST_URLS

MNIST_URL = MNIST_URLS[0]
_MNIST_FILES = {f.name: f for f in MNIST_SOURCES[0].files}
MNIST_MD5 = {name: f.digest for name, f in _MNIST_FILES.items()}
_MNIST_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_SIZES = {"train": 7291, "test": 2007}  # the 1989 paper's counts
_MNIST_CACHE_VERSION = 1  # bump when the preprocessing changes


def _mnist_dirs(data_dir: Path) -> list[Path]:
    """Where the four files may be: flat, or torchvision's layout."""
    return [data_dir / "mnist", data_dir / "mnist" / "MNIST" / "raw", data_dir / "MNIST" / "raw"]


def _find_mnist_files(data_dir: Path) -> dict[str, Path | None]:
    found = {}
    for name in MNIST_MD5:
        for d in _mnist_dirs(data_dir):
            if (d / name).exists() and not (d / name).is_file():
                raise DataError(f"{d / name}: is a directory (or not a regular file); expected the data file")
        found[name] = next((d / name for d in _mnist_dirs(data_dir) if (d / name).is_file()), None)
    return found


def _download_mnist(names: list[str], data_dir: Path, quiet: bool = False) -> tuple[list, list]:
    """Fetch `names` into data_dir/mnist; ([{"path", "url"}] fetched, [(url, reason)] failed)."""
    fetched, tried = [], []
    for name in names:
        url = fetch_file(_MNIST_FILES[name], data_dir, tried, quiet)
        if url is not None:
            fetched.append({"path": _MNIST_FILES[name].path, "url": url})
    return fetched, tried


def _locate_mnist(data_dir: Path, download: bool, quiet: bool = False) -> tuple[dict[str, Path], list]:
    """{name: path} of the four files, fetching the missing ones when `download`; and what was fetched."""
    found = _find_mnist_files(data_dir)
    missing = [n for n, p in found.items() if p is None]
    fetched, tried = [], []
    if missing and download:
        fetched, tried = _download_mnist(missing, data_dir, quiet)
        found = _find_mnist_files(data_dir)
        missing = [n for n, p in found.items() if p is None]
    if missing:
        raise DataError(f"MNIST files missing: {', '.join(missing)}; {tried_text(tried, download)}; put them in "
                        f"{data_dir / 'mnist'} ({data_dir_origin(data_dir)}) (or torchvision's "
                        f"{data_dir / 'mnist' / 'MNIST' / 'raw'}), or point {_WHERE} elsewhere, or ${ENV_MIRROR} at "
                        "a server that has them")
    return found, fetched


def _read_mnist_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected IDX magic 2051, uint8 images (n, 28, 28); "
                        f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{labels_path}: expected IDX magic 2049, uint8 labels (n,); got {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path.name}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} is not a digit 0..9")
    return images, labels


def _preprocess_mnist(images: np.ndarray) -> np.ndarray:
    """karpathy's prepro.py arithmetic, in float32: x / 127.5 - 1, then bilinear to 16x16."""
    x = images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return bilinear_resize(x, 16, 16)


def _build_mnist(files: dict[str, Path], seed: int, sizes: dict[str, int]) -> dict:
    # karpathy: np.random.seed(1337); then per split np.random.permutation(len(data))[:n].
    rng = np.random.RandomState(seed)
    splits = {}
    for split in ("train", "test"):  # train first: the draws share one stream
        images, labels = _read_mnist_split(*(files[n] for n in _MNIST_SPLITS[split]))
        n = sizes[split]
        if images.shape[0] < n:
            raise DataError(f"{files[_MNIST_SPLITS[split][0]]}: {images.shape[0]} images, need at least {n}")
        pick = rng.permutation(images.shape[0])[:n]
        splits[split] = (_preprocess_mnist(images[pick])[:, None], labels[pick].astype(np.int64))
    return splits


def _cache_path(data_dir: Path, seed: int, sizes: dict, digests: dict) -> Path:
    key = json.dumps({"v": _MNIST_CACHE_VERSION, "seed": seed, "sizes": sizes, "md5": digests}, sort_keys=True)
    return data_dir / "cache" / f"mnist-seed{seed}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_cache(path: Path, sizes: dict) -> dict | None:
    """The cached splits, or None if absent or unusable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            splits = {s: (z[f"{s}_x"], z[f"{s}_labels"]) for s in ("train", "test")}
    except Exception:  # noqa: BLE001 -- a corrupt npz raises many kinds (BadZipFile, ValueError, EOFError, KeyError...)
        return None
    for split, (x, y) in splits.items():
        n = sizes[split]
        if (x.shape != (n, 1, 16, 16) or x.dtype != np.float32 or y.shape != (n,)
                or not np.all((x >= -1) & (x <= 1)) or (n and (y.min() < 0 or y.max() > 9))):
            return None
    return splits


def _write_cache(path: Path, splits: dict) -> bool:
    """Write atomically (temp file in the same dir + os.replace); False if it cannot."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{f"{s}_{k}": a for s, (x, y) in splits.items() for k, a in (("x", x), ("labels", y))})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    except OSError:  # e.g. a read-only data directory: caching is only an optimisation
        return False
    finally:  # also on KeyboardInterrupt: never leave a stray temp file
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _load_mnist(data_dir: Path, seed: int = 1337, download: bool = True, verify_checksum: bool = True,
                sizes: dict | None = None, use_cache: bool = True, quiet: bool = False):
    data_dir = Path(data_dir)
    sizes = dict(MNIST_SIZES if sizes is None else sizes)
    files, fetched = _locate_mnist(data_dir, download, quiet)
    digests = {name: (_check_digest(p, "md5", MNIST_MD5[name]) if verify_checksum else _file_digest(p, "md5"))
               for name, p in files.items()}
    cache = _cache_path(data_dir, seed, sizes, digests)
    splits = _read_cache(cache, sizes) if use_cache else None
    hit, written = splits is not None, False
    if splits is None:
        splits = _build_mnist(files, seed, sizes)
        written = use_cache and _write_cache(cache, splits)
    source = {
        "data_dir": str(data_dir.resolve()),
        "files": [{"path": p.relative_to(data_dir).as_posix(), "md5": digests[n]} for n, p in files.items()],
        "origin": {"source": MNIST_SOURCES[0].key, "title": MNIST_SOURCES[0].title, "page": MNIST_SOURCES[0].page,
                   "fetched": fetched},
        "seed": seed,
        "n_train": sizes["train"],
        "n_test": sizes["test"],
        "selection": (f"numpy.random.RandomState(seed): permutation(n_mnist_train)[:{sizes['train']}], "
                      f"then from the same stream permutation(n_mnist_test)[:{sizes['test']}]"),
        "selection_note": ("karpathy/lecun1989-repro prepro.py draws the same way (np.random.seed(1337), "
                           "np.random.permutation per split) but loops over the set {'train', 'test'}, whose "
                           "order depends on PYTHONHASHSEED: where his run drew test first, its image choice "
                           "differs from this one"),
        "preprocessing": ("float32: x / 127.5 - 1, then 28x28 -> 16x16 bilinear with torch "
                          "F.interpolate(mode='bilinear', align_corners=False, antialias=False) arithmetic"),
        "cache": {"file": str(cache.relative_to(data_dir)), "hit": hit, "written": bool(written)},
    }
    return splits, source
