"""Data sets as NumPy arrays: usps (the 1989 data), mnist (karpathy's 1989-style
preprocessing), synthetic; checksums, clear errors, an atomic cache.

Framework-free: this module never imports torch or jax. h5py and pooch are
imported lazily, where they are needed.

Every data set comes out the same way: images (n, 1, 16, 16) in [-1, 1] in the
dtype asked for, labels (n,) int64 in 0..9, and a JSON-able `source` that says
which files were used (with their checksums) and how they were preprocessed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

DATASETS = ("usps", "mnist", "synthetic")
DTYPES = ("float32", "float64")
ENV_DATA_DIR = "HARNESS_DATA_DIR"
_WHERE = f"--data-dir or ${ENV_DATA_DIR}"


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: np.ndarray  # (n_train, 1, 16, 16), dtype as asked, values in [-1, 1]
    train_labels: np.ndarray  # (n_train,) int64 in 0..9
    test_x: np.ndarray  # (n_test, 1, 16, 16)
    test_labels: np.ndarray  # (n_test,) int64
    source: dict = field(default_factory=dict)  # JSON-able provenance


# --------------------------------------------------------------------------- dirs


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("lecun1989-harness")) / "data"


def resolve_data_dir(cli_value: str | Path | None = None) -> Path:
    """--data-dir, else $HARNESS_DATA_DIR, else default_data_dir().

    A directory the user named must exist; the default need not (yet), also when handed back here."""
    if cli_value is not None and str(cli_value) != "" and Path(cli_value).expanduser() == default_data_dir():
        return default_data_dir()
    for value, origin in ((cli_value, "--data-dir"), (os.environ.get(ENV_DATA_DIR), f"${ENV_DATA_DIR}")):
        if value is not None and str(value) != "":
            path = Path(value).expanduser()
            if not path.is_dir():
                what = "is not a directory" if path.exists() else "does not exist"
                raise DataError(f"data directory {path} (from {origin}) {what}")
            return path
    return default_data_dir()


def data_dir_origin(path: Path) -> str:
    """Where a resolved data directory came from, for messages: '$HARNESS_DATA_DIR', 'the default ...'."""
    env = os.environ.get(ENV_DATA_DIR)
    if env and Path(env).expanduser() == Path(path):
        return f"from ${ENV_DATA_DIR}"
    if Path(path) == default_data_dir():
        return f"the default, a per-user cache; --data-dir or ${ENV_DATA_DIR} choose another"
    return "from --data-dir"


# ------------------------------------------------------------------ public helpers


def targets_pm1(labels, dtype="float32") -> np.ndarray:
    """(n, 10) targets: +1 at the label, -1 elsewhere (the 1989 targets)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"labels must be a 1-d array of digits 0..9, got shape {labels.shape}")
    out = np.full((labels.shape[0], 10), -1.0, dtype=np.dtype(dtype))
    out[np.arange(labels.shape[0]), labels.astype(np.int64)] = 1.0
    return out


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    dtype: str = "float32",
    seed: int = 1337,
    download: bool = True,
) -> Dataset:
    """Load one of DATASETS as NumPy arrays; raise DataError with a one-line reason."""
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
                splits, source = _load_usps(root)
            else:
                splits, source = _load_mnist(root, seed=seed, download=download)
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


# ------------------------------------------------------------------------ checks


def _one_line(e: BaseException, limit: int = 160) -> str:
    """An exception as a short single-line reason, for DataError messages."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(path: Path, algorithm: str, expected: str) -> str:
    got = _file_digest(path, algorithm)
    if got != expected:
        raise DataError(
            f"{path}: {algorithm.upper()} mismatch: expected {expected}, got {got} "
            "(corrupt or a different version of the file; replace it)"
        )
    return got


def _check_split(path: Path, what: str, x: np.ndarray, y: np.ndarray, lo: float, hi: float,
                 expected_counts=None) -> None:
    """Shapes, value range, labels 0..9 and (optionally) per-class counts of one split."""
    if x.ndim != 2 or x.shape[1] != 256:
        raise DataError(f"{path}: {what} images have shape {x.shape}, expected (n, 256)")
    if y.shape != (x.shape[0],):
        raise DataError(f"{path}: {what} has {x.shape[0]} images but labels of shape {y.shape}")
    if not np.all((x >= lo) & (x <= hi)):  # also catches NaN
        raise DataError(f"{path}: {what} pixel values outside [{lo:g}, {hi:g}] (or NaN)")
    bad = np.flatnonzero((y < 0) | (y > 9) | (y != np.round(y)))
    if bad.size:
        raise DataError(f"{path}: {what} label {y[bad[0]].item()} at index {bad[0]} is not a digit 0..9")
    if expected_counts is not None:
        counts = np.bincount(y.astype(np.int64), minlength=10).tolist()
        if counts != list(expected_counts):
            raise DataError(f"{path}: {what} class counts {counts} differ from the expected {list(expected_counts)}")


# -------------------------------------------------------------------------- usps

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


# ------------------------------------------------------------------------- mnist

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_MNIST_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_SIZES = {"train": 7291, "test": 2007}  # the 1989 paper's counts
_MNIST_CACHE_VERSION = 1  # bump when the preprocessing changes

# IDX type codes -> big-endian NumPy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped if the name ends in .gz), e.g. MNIST's, into an array.

    The header is 0, 0, a type code, the number of dimensions, then each
    dimension as a big-endian uint32 (magic 2051 for images, 2049 for labels)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt file ({_one_line(e)})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(raw)} bytes, no complete header")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file (magic {int.from_bytes(raw[:4], 'big')})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {len(raw)} bytes, expected {header}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    need, have = int(np.prod(dims)) * dtype.itemsize, len(raw) - header
    if have != need:
        kind = "truncated" if have < need else "trailing bytes in"
        raise DataError(f"{path}: {kind} IDX file: dims {dims} need {need} bytes of data, found {have}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def bilinear_resize(images, out_h: int, out_w: int) -> np.ndarray:
    """Resize the last two axes with torch's F.interpolate(mode="bilinear",
    align_corners=False, antialias=False) arithmetic, in the input's float dtype.

    Source coordinate of output pixel d: max(scale * (d + 0.5) - 0.5, 0) with
    scale = in / out; the upper neighbour is clamped to the last row/column.
    Same taps and weights as torch; the sums agree to a float32 ulp or two
    (torch's vectorised kernel adds in its own order)."""
    x = np.asarray(images)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if x.ndim < 2 or out_h < 1 or out_w < 1:
        raise ValueError(f"need images (..., H, W) and positive output sizes, got {x.shape} -> ({out_h}, {out_w})")
    r0, r1, rw0, rw1 = _linear_taps(x.shape[-2], out_h, x.dtype)
    c0, c1, cw0, cw1 = _linear_taps(x.shape[-1], out_w, x.dtype)

    def along_w(rows):  # (..., out_h, W) -> (..., out_h, out_w)
        return rows[..., c0] * cw0 + rows[..., c1] * cw1

    # h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11)
    return rw0[:, None] * along_w(x[..., r0, :]) + rw1[:, None] * along_w(x[..., r1, :])


def _linear_taps(in_size: int, out_size: int, dtype):
    """Indices and weights of torch's align_corners=False linear interpolation,
    computed in `dtype` as torch's CPU kernel computes them in the op's math type."""
    t = np.dtype(dtype).type
    scale = t(in_size) / t(out_size)
    real = np.maximum(scale * (np.arange(out_size, dtype=dtype) + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    lam1 = np.clip(real - i0.astype(dtype), t(0), t(1)).astype(dtype)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (t(1) - lam1).astype(dtype), lam1


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


def _download_mnist(names: list[str], target: Path) -> str | None:
    """Fetch `names` into `target` with pooch; return None, or why it failed."""
    try:
        import pooch

        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            pooch.retrieve(MNIST_URL + name, known_hash="md5:" + MNIST_MD5[name], fname=name,
                           path=target, progressbar=False)
    except Exception as e:  # noqa: BLE001 -- no network, read-only dir, hash mismatch, pooch missing: all reported alike
        return f"{type(e).__name__}: {_one_line(e)}"
    return None


def _locate_mnist(data_dir: Path, download: bool) -> dict[str, Path]:
    found = _find_mnist_files(data_dir)
    missing = [n for n, p in found.items() if p is None]
    if missing and download:
        why = _download_mnist(missing, data_dir / "mnist")
        found = _find_mnist_files(data_dir)
        missing = [n for n, p in found.items() if p is None]
        if missing:
            why = f"download from {MNIST_URL} failed ({why})" if why else "download did not produce them"
    elif missing:
        why = "download disabled"
    if missing:
        raise DataError(f"MNIST files missing: {', '.join(missing)}; {why}; put them in {data_dir / 'mnist'} ({data_dir_origin(data_dir)}) "
                        f"(or torchvision's {data_dir / 'mnist' / 'MNIST' / 'raw'}), or point {_WHERE} elsewhere")
    return found


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
                sizes: dict | None = None, use_cache: bool = True):
    data_dir = Path(data_dir)
    sizes = dict(MNIST_SIZES if sizes is None else sizes)
    files = _locate_mnist(data_dir, download)
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
        "files": [{"path": str(p.relative_to(data_dir)), "md5": digests[n]} for n, p in files.items()],
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


# --------------------------------------------------------------------- synthetic

SYNTHETIC_SIZES = {"train": 512, "test": 256}


def _make_synthetic(seed: int, sizes: dict | None = None):
    """Deterministic, learnable random digits: one random prototype per class
    plus noise, clipped to [-1, 1]; labels cycle 0..9 then are shuffled."""
    sizes = dict(SYNTHETIC_SIZES if sizes is None else sizes)
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(-1.0, 1.0, size=(10, 256))
    splits = {}
    for split in ("train", "test"):
        n = sizes[split]
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        x = np.clip(prototypes[labels] + rng.normal(0.0, 0.5, size=(n, 256)), -1.0, 1.0)
        splits[split] = (x, labels)
    source = {
        "seed": seed,
        "n_train": sizes["train"],
        "n_test": sizes["test"],
        "generator": "numpy.random.default_rng(seed): class prototypes U(-1, 1) + N(0, 0.5) noise, clipped",
    }
    return splits, source
