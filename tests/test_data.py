"""Tests for harness.data: real USPS and MNIST files where present, small fixtures otherwise.

Offline: no test downloads anything (download=False, or $HARNESS_DATA_OFFLINE from conftest);
fetching is tested against a local HTTP server in test_fetch.py.
"""

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import data
from harness.data import (
    DATASETS,
    DataError,
    Dataset,
    bilinear_resize,
    default_data_dir,
    load_dataset,
    read_idx,
    resolve_data_dir,
    targets_pm1,
)

# The repo's sibling `shared/data` (as in CI: the repo cloned beside `shared/`), unless overridden.
from tests.conftest import DATA_DIR  # HARNESS_DATA_DIR, resolved to an absolute path

USPS_H5 = DATA_DIR / "usps" / "usps.h5"
MNIST_DIR = DATA_DIR / "mnist"
T10K_IMAGES = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
T10K_LABELS = MNIST_DIR / "t10k-labels-idx1-ubyte.gz"

needs_usps = pytest.mark.skipif(not USPS_H5.is_file(), reason=f"real USPS data not found at {USPS_H5}")
needs_t10k = pytest.mark.skipif(not (T10K_IMAGES.is_file() and T10K_LABELS.is_file()),
                                reason=f"real MNIST t10k files not found in {MNIST_DIR}")

SMALL = {"train": 30, "test": 12}  # fixture MNIST selection sizes


# ----------------------------------------------------------------- fixture helpers


def write_usps_h5(path, train, test):
    """usps.h5 layout: {split}/data float32 (n, 256) in [0, 1], {split}/target int32."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for split, (x, y) in (("train", train), ("test", test)):
            f[f"{split}/data"] = np.asarray(x, np.float32)
            f[f"{split}/target"] = np.asarray(y, np.int32)
    return path


def write_usps_text(path, x, labels):
    """ESL's zip.*.gz layout: per line the digit then 256 values in [-1, 1]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="ascii", compresslevel=1) as f:
        np.savetxt(f, np.column_stack([labels, x]), fmt=["%d"] + ["%.4f"] * 256)
    return path


def write_idx(path, array):
    """An IDX file (gzipped) holding a uint8 array: header 0, 0, 0x08, ndim, then the dims."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    return path


def write_mnist_fixture(folder, n_train=50, n_test=20, seed=0, skip=()):
    """Four small, valid MNIST-named IDX files; returns {name: (images or labels)}."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }
    for name, a in arrays.items():
        if name not in skip:
            write_idx(folder / name, a)
    return arrays


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def flip_byte(src, dst, offset):
    raw = bytearray(Path(src).read_bytes())
    raw[offset] ^= 0xFF
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(raw))
    return dst


def torch_resize(x, out_h, out_w):
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(np.ascontiguousarray(x))
    shape = t.shape
    t = t.reshape(-1, 1, *shape[-2:])
    out = torch.nn.functional.interpolate(t, (out_h, out_w), mode="bilinear", align_corners=False)
    return out.reshape(*shape[:-2], out_h, out_w).numpy()


@pytest.fixture(scope="module")
def usps_real():
    if not USPS_H5.is_file():
        pytest.skip(f"real USPS data not found at {USPS_H5}")
    return data._read_usps_h5(USPS_H5)


# -------------------------------------------------------------------------- usps


@needs_usps
def test_usps_real_data_matches_the_paper():
    ds = load_dataset("usps", DATA_DIR)
    assert isinstance(ds, Dataset) and ds.name == "usps"
    assert ds.train_x.shape == (7291, 1, 16, 16) and ds.test_x.shape == (2007, 1, 16, 16)
    assert ds.train_x.dtype == np.float32 and ds.train_labels.dtype == np.int64
    assert ds.train_labels[:10].tolist() == [6, 5, 4, 7, 3, 6, 3, 1, 0, 1]
    assert np.bincount(ds.train_labels).tolist() == list(data.USPS_CLASS_COUNTS["train"])
    assert np.bincount(ds.test_labels).tolist() == list(data.USPS_CLASS_COUNTS["test"])
    for x in (ds.train_x, ds.test_x):
        assert x.min() == -1.0 and x.max() == 1.0
    assert ds.source["files"] == [{"path": "usps/usps.h5", "sha256": data.USPS_SHA256["usps.h5"]}]


@needs_usps
def test_usps_float64_is_the_float32_data_more_exactly():
    d64 = load_dataset("usps", DATA_DIR, dtype="float64")
    d32 = load_dataset("usps", DATA_DIR, dtype="float32")
    assert d64.train_x.dtype == np.float64
    np.testing.assert_allclose(d64.train_x, d32.train_x, atol=1e-7)
    np.testing.assert_array_equal(d64.test_labels, d32.test_labels)


def test_usps_text_pair_agrees_with_h5(usps_real, tmp_path):
    for split, name in (("train", "zip.train.gz"), ("test", "zip.test.gz")):
        write_usps_text(tmp_path / "usps" / name, *usps_real[split])
    splits, source = data._load_usps(tmp_path, verify_checksum=False)  # fixture: not the published bytes
    for split in ("train", "test"):
        np.testing.assert_allclose(splits[split][0], usps_real[split][0], atol=1e-6)
        np.testing.assert_array_equal(splits[split][1], usps_real[split][1])
    assert [f["path"] for f in source["files"]] == ["usps/zip.train.gz", "usps/zip.test.gz"]
    with pytest.raises(DataError, match=r"zip\.train\.gz: SHA256 mismatch"):
        data._load_usps(tmp_path)


def test_usps_text_accepts_esl_float_labels(tmp_path):
    row = " ".join(["6.0000"] + ["-1.0000"] * 256)
    path = tmp_path / "zip.test.gz"
    with gzip.open(path, "wt") as f:
        f.write(row + "\n" + row + "\n")
    x, y = data._read_usps_text(path, verify_checksum=False)
    assert x.shape == (2, 256) and y.tolist() == [6, 6]


@needs_usps
def test_usps_flipped_byte_is_a_checksum_error(tmp_path):
    bad = flip_byte(USPS_H5, tmp_path / "usps" / "usps.h5", offset=USPS_H5.stat().st_size // 2)
    with pytest.raises(DataError) as e:
        load_dataset("usps", tmp_path)
    msg = str(e.value)
    assert str(bad) in msg and data.USPS_SHA256["usps.h5"] in msg
    assert hashlib.sha256(bad.read_bytes()).hexdigest() in msg


def _small_usps(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 256)).round(3), rng.integers(0, 10, n)


def _text_with(tmp_path, edit):
    """A small zip.train.gz whose text lines went through `edit(lines)`."""
    x, y = _small_usps()
    path = write_usps_text(tmp_path / "zip.train.gz", x, y)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    with gzip.open(path, "wt") as f:
        f.write("\n".join(edit(lines)) + "\n")
    return path


def _replace_field(lines, line, field, value):
    """Line `line` (1-based) with field `field` replaced by `value`."""
    fields = lines[line - 1].split()
    fields[field] = value
    return lines[: line - 1] + [" ".join(fields)] + lines[line:]


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda ls: ls[:2] + [" ".join(ls[2].split()[:256])] + ls[3:], r"line 3 has 256 values"),  # 255 pixels
        (lambda ls: _replace_field(ls, 5, 0, "11"), r"line 5 starts with label 11"),
        (lambda ls: _replace_field(ls, 2, 9, "0.5x"), r"line 2 holds a value that is not a number"),
        (lambda ls: _replace_field(ls, 7, 1, "1.5"), r"line 7 has a pixel value outside"),
        (lambda ls: _replace_field(ls, 8, 3, "nan"), r"line 8 has a pixel value outside"),
    ],
    ids=["255-values", "label-11", "not-a-number", "out-of-range", "nan"],
)
def test_usps_text_bad_rows(tmp_path, edit, pattern):
    path = _text_with(tmp_path, edit)
    with pytest.raises(DataError, match=pattern) as e:
        data._read_usps_text(path, verify_checksum=False)
    assert "zip.train.gz" in str(e.value)


def test_usps_text_truncated_gzip(tmp_path):
    path = write_usps_text(tmp_path / "zip.test.gz", *_small_usps())
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"zip\.test\.gz: truncated or corrupt gzip"):
        data._read_usps_text(path, verify_checksum=False)


def test_usps_text_class_counts_checked(tmp_path):
    path = write_usps_text(tmp_path / "zip.test.gz", *_small_usps())
    with pytest.raises(DataError, match=r"zip\.test\.gz: data class counts .* differ"):
        data._read_usps_text(path, verify_checksum=False, expected_counts=data.USPS_CLASS_COUNTS["test"])


def test_usps_h5_wrong_shape(tmp_path):
    x, y = _small_usps()
    path = write_usps_h5(tmp_path / "usps.h5", ((x[:, :255] + 1) / 2, y), ((x + 1) / 2, y))
    with pytest.raises(DataError, match=r"usps\.h5: train images have shape \(20, 255\)"):
        data._read_usps_h5(path, verify_checksum=False, expected_counts=None)


def test_usps_h5_label_out_of_range_and_missing_dataset(tmp_path):
    x, y = _small_usps()
    y = y.copy()
    y[7] = 11
    path = write_usps_h5(tmp_path / "a" / "usps.h5", ((x + 1) / 2, y), ((x + 1) / 2, y))
    with pytest.raises(DataError, match=r"usps\.h5: train label 11 at index 7"):
        data._read_usps_h5(path, verify_checksum=False, expected_counts=None)
    import h5py

    with h5py.File(path, "a") as f:
        del f["test/target"]
    with pytest.raises(DataError, match=r"usps\.h5: missing dataset"):
        data._read_usps_h5(path, verify_checksum=False, expected_counts=None)


def test_usps_h5_not_hdf5(tmp_path):
    path = tmp_path / "usps.h5"
    path.write_bytes(b"this is not an HDF5 file" * 10)
    with pytest.raises(DataError, match=r"usps\.h5: not a readable HDF5 file"):
        data._read_usps_h5(path, verify_checksum=False)


def test_usps_h5_class_counts_checked(tmp_path):
    x, y = _small_usps()
    path = write_usps_h5(tmp_path / "usps.h5", ((x + 1) / 2, y), ((x + 1) / 2, y))
    with pytest.raises(DataError, match=r"usps\.h5: train class counts"):
        data._read_usps_h5(path, verify_checksum=False)


def test_usps_missing_says_what_to_put_where(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("usps", tmp_path)
    msg = str(e.value)
    for part in ("usps/usps.h5", "usps/zip.train.gz", "usps/zip.test.gz", str(tmp_path), "--data-dir",
                 "HARNESS_DATA_DIR"):
        assert part in msg
    assert "\n" not in msg


def test_usps_half_a_text_pair(tmp_path):
    write_usps_text(tmp_path / "usps" / "zip.train.gz", *_small_usps())
    with pytest.raises(DataError, match=r"zip\.test\.gz: missing"):
        data._load_usps(tmp_path, verify_checksum=False, expected_counts=None)


# ------------------------------------------------------------------------- mnist


@needs_t10k
def test_read_idx_real_t10k():
    assert md5(T10K_IMAGES) == data.MNIST_MD5[T10K_IMAGES.name]
    assert md5(T10K_LABELS) == data.MNIST_MD5[T10K_LABELS.name]
    images, labels = read_idx(T10K_IMAGES), read_idx(T10K_LABELS)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's well-known first test digits
    assert np.bincount(labels).sum() == 10000 and images.max() == 255


def test_read_idx_errors(tmp_path):
    good = write_idx(tmp_path / "x-idx3-ubyte.gz", np.arange(2 * 3 * 4).reshape(2, 3, 4))
    np.testing.assert_array_equal(read_idx(good), np.arange(24).reshape(2, 3, 4))
    raw = gzip.decompress(good.read_bytes())

    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(gzip.compress(raw[:-5]))
    with pytest.raises(DataError, match=r"cut-idx3-ubyte\.gz: truncated IDX file"):
        read_idx(cut)
    header = tmp_path / "header-idx3-ubyte.gz"
    header.write_bytes(gzip.compress(raw[:9]))
    with pytest.raises(DataError, match=r"header-idx3-ubyte\.gz: truncated IDX header"):
        read_idx(header)
    magic = tmp_path / "magic-idx3-ubyte.gz"
    magic.write_bytes(gzip.compress(b"\x12\x34" + raw[2:]))
    with pytest.raises(DataError, match=r"magic-idx3-ubyte\.gz: not an IDX file"):
        read_idx(magic)
    stream = tmp_path / "stream-idx3-ubyte.gz"
    stream.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"stream-idx3-ubyte\.gz: truncated or corrupt"):
        read_idx(stream)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape_in, shape_out", [((28, 28), (16, 16)), ((5, 7), (11, 3)), ((9, 4), (9, 4))])
def test_bilinear_resize_matches_torch_on_random_data(dtype, tol, shape_in, shape_out):
    x = np.random.default_rng(1).uniform(-1, 1, (3, 2, *shape_in)).astype(dtype)
    ours = bilinear_resize(x, *shape_out)
    assert ours.shape == (3, 2, *shape_out) and ours.dtype == dtype
    assert np.abs(ours - torch_resize(x, *shape_out)).max() < tol


@needs_t10k
def test_bilinear_resize_matches_torch_on_real_t10k():
    images = read_idx(T10K_IMAGES)[:1000]
    x = images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)  # karpathy's prepro.py scaling
    ours = data._preprocess_mnist(images)
    assert ours.shape == (1000, 16, 16) and ours.dtype == np.float32
    assert np.abs(ours - torch_resize(x, 16, 16)).max() < 1e-5
    assert ours.min() >= -1 and ours.max() <= 1


def test_mnist_missing_train_images_without_download(tmp_path):
    write_mnist_fixture(tmp_path / "mnist", skip=("train-images-idx3-ubyte.gz",))
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path, download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "mnist") in msg
    assert "t10k-images" not in msg and "train-labels" not in msg


@needs_t10k
def test_mnist_real_dir_lacks_only_train_images(tmp_path):
    # Symlinks to the shared files (never copies): the same layout as the shared data dir.
    for name in data.MNIST_MD5:
        if (MNIST_DIR / name).is_file():
            (tmp_path / "mnist").mkdir(exist_ok=True)
            (tmp_path / "mnist" / name).symlink_to(MNIST_DIR / name)
    with pytest.raises(DataError, match=r"MNIST files missing: train-images-idx3-ubyte\.gz;"):
        load_dataset("mnist", tmp_path, download=False)


def test_mnist_md5_mismatch_names_file_and_hashes(tmp_path):
    write_mnist_fixture(tmp_path / "mnist")
    with pytest.raises(DataError) as e:
        data._load_mnist(tmp_path, download=False, sizes=SMALL)
    msg = str(e.value)
    name = next(iter(data.MNIST_MD5))
    assert str(tmp_path / "mnist" / name) in msg and data.MNIST_MD5[name] in msg
    assert md5(tmp_path / "mnist" / name) in msg


@pytest.mark.parametrize("layout", ["mnist", "mnist/MNIST/raw", "MNIST/raw"])
def test_mnist_fixture_selection_resize_and_cache(tmp_path, layout, monkeypatch):
    arrays = write_mnist_fixture(tmp_path / layout)
    splits, source = data._load_mnist(tmp_path, seed=5, download=False, verify_checksum=False, sizes=SMALL)

    # Selection: one RandomState stream, train drawn first, as karpathy's prepro.py.
    rng = np.random.RandomState(5)
    for split, (img, lab) in (("train", ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")),
                              ("test", ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))):
        pick = rng.permutation(len(arrays[lab]))[: SMALL[split]]
        x, y = splits[split]
        assert x.shape == (SMALL[split], 1, 16, 16) and x.dtype == np.float32
        np.testing.assert_array_equal(y, arrays[lab][pick])
        expected = bilinear_resize(arrays[img][pick].astype(np.float32) / np.float32(127.5) - np.float32(1), 16, 16)
        np.testing.assert_array_equal(x[:, 0], expected)
    assert source["seed"] == 5 and source["cache"]["hit"] is False and source["cache"]["written"] is True
    assert all(f["path"].startswith(layout) for f in source["files"])
    cache = tmp_path / source["cache"]["file"]
    assert cache.is_file() and [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temp files left

    # A second load is served from the cache, without rebuilding.
    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    with monkeypatch.context() as m:
        m.setattr(data.mnist, "_build_mnist", no_build)
        again, source2 = data._load_mnist(tmp_path, seed=5, download=False, verify_checksum=False, sizes=SMALL)
    assert source2["cache"]["hit"] is True
    for split in splits:
        for a, b in zip(splits[split], again[split]):
            np.testing.assert_array_equal(a, b)

    # A corrupt cache file is ignored and rebuilt.
    cache.write_bytes(cache.read_bytes()[:200])
    rebuilt, source3 = data._load_mnist(tmp_path, seed=5, download=False, verify_checksum=False, sizes=SMALL)
    assert source3["cache"] == {"file": source["cache"]["file"], "hit": False, "written": True}
    np.testing.assert_array_equal(rebuilt["test"][0], splits["test"][0])
    assert data._read_cache(cache, SMALL) is not None

    # Another seed: another selection and another cache file.
    other, source4 = data._load_mnist(tmp_path, seed=6, download=False, verify_checksum=False, sizes=SMALL)
    assert source4["cache"]["file"] != source["cache"]["file"]
    assert not np.array_equal(other["train"][1], splits["train"][1])


def test_mnist_cache_write_interrupted_leaves_nothing(tmp_path, monkeypatch):
    write_mnist_fixture(tmp_path / "mnist")

    def interrupted(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(data.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data._load_mnist(tmp_path, download=False, verify_checksum=False, sizes=SMALL)
    assert list((tmp_path / "cache").iterdir()) == []


def test_mnist_read_only_cache_dir_still_loads(tmp_path, monkeypatch):
    write_mnist_fixture(tmp_path / "mnist")
    monkeypatch.setattr(data.mnist, "_write_cache", lambda path, splits: False)  # as when the dir is read-only
    _, source = data._load_mnist(tmp_path, download=False, verify_checksum=False, sizes=SMALL)
    assert source["cache"]["written"] is False


def test_mnist_through_load_dataset(tmp_path, monkeypatch):
    write_mnist_fixture(tmp_path / "mnist")
    for name in data.MNIST_MD5:  # the fixture's own checksums, so verification runs for real
        monkeypatch.setitem(data.MNIST_MD5, name, md5(tmp_path / "mnist" / name))
    monkeypatch.setattr(data.mnist, "MNIST_SIZES", SMALL)
    ds = load_dataset("mnist", tmp_path, dtype="float64", seed=2, download=False)
    assert ds.name == "mnist" and ds.train_x.shape == (30, 1, 16, 16) and ds.test_x.shape == (12, 1, 16, 16)
    assert ds.train_x.dtype == np.float64 and ds.test_labels.dtype == np.int64
    assert -1 <= ds.train_x.min() and ds.train_x.max() <= 1
    assert ds.source["seed"] == 2 and "PYTHONHASHSEED" in ds.source["selection_note"]
    assert {f["md5"] for f in ds.source["files"]} == set(data.MNIST_MD5.values())


def test_mnist_images_and_labels_swapped(tmp_path):
    arrays = write_mnist_fixture(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", arrays["t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: expected IDX magic 2051"):
        data._load_mnist(tmp_path, download=False, verify_checksum=False, sizes=SMALL)


def test_mnist_too_few_images(tmp_path):
    write_mnist_fixture(tmp_path / "mnist", n_test=5)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: 5 images, need at least 12"):
        data._load_mnist(tmp_path, download=False, verify_checksum=False, sizes=SMALL)


# --------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_per_seed():
    a, b, c = (load_dataset("synthetic", seed=s) for s in (7, 7, 8))
    assert a.train_x.shape == (512, 1, 16, 16) and a.test_x.shape == (256, 1, 16, 16)
    np.testing.assert_array_equal(a.train_x, b.train_x)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert not np.array_equal(a.train_x, c.train_x)
    assert a.train_x.min() >= -1 and a.train_x.max() <= 1
    counts = np.bincount(a.train_labels, minlength=10)
    assert counts.min() >= 51 and counts.max() <= 52
    assert a.source["seed"] == 7


def test_synthetic_needs_no_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "nope"))
    assert load_dataset("synthetic", dtype="float64").train_x.dtype == np.float64


# ------------------------------------------------------------- api and data dirs


def test_unknown_name_and_dtype():
    with pytest.raises(DataError, match="unknown data set 'cifar'; available: usps, mnist, synthetic"):
        load_dataset("cifar")
    for bad in ("float16", "int32", "bogus", None):
        with pytest.raises(DataError, match=f"unsupported dtype {bad!r}"):
            load_dataset("synthetic", dtype=bad)
    assert load_dataset("synthetic", dtype=np.float64).train_x.dtype == np.float64
    assert DATASETS == ("usps", "mnist", "synthetic")


def test_resolve_data_dir_precedence(tmp_path, monkeypatch):
    cli, env = tmp_path / "cli", tmp_path / "env"
    cli.mkdir()
    env.mkdir()
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    assert resolve_data_dir(None) == default_data_dir()
    assert default_data_dir().parts[-1] == "data" and "lecun1989-harness" in str(default_data_dir())
    monkeypatch.setenv("HARNESS_DATA_DIR", str(env))
    assert resolve_data_dir(None) == env
    assert resolve_data_dir(str(cli)) == cli
    with pytest.raises(DataError, match=r"data directory .*missing \(from --data-dir\) does not exist"):
        resolve_data_dir(tmp_path / "missing")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError, match=r"gone \(from \$HARNESS_DATA_DIR\) does not exist"):
        resolve_data_dir(None)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("usps")


def test_targets_pm1():
    t = targets_pm1(np.array([3, 0, 9]), "float64")
    assert t.shape == (3, 10) and t.dtype == np.float64
    assert t.sum() == 3 * (1 - 9)
    assert t[0, 3] == t[1, 0] == t[2, 9] == 1
    with pytest.raises(ValueError):
        targets_pm1(np.array([10]), "float32")


def test_data_module_imports_no_framework():
    code = "import sys, harness.data; bad = {'torch', 'jax', 'h5py', 'pooch'} & set(sys.modules); assert not bad, bad"
    root = Path(data.__file__).parents[2]  # harness/data/__init__.py -> the repository
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                   env={**os.environ, "PYTHONPATH": str(root)})
