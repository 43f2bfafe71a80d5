"""What the data loaders record and refuse, pinned whole: each loader's `source` record (the data
directory it read, resolved), the text of a missing-files message (every place it names), each
reason the MNIST cache is refused, the underlying reason carried into a corrupt file's message,
and the per-split class counts every USPS source is checked against.

Small fixtures written here; the one fetch is from a local HTTP server (tests/test_fetch.py's mirror)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from harness import data
from harness.data import DataError
from harness.data.fetch import ENV_MIRROR, tried_text
from harness.data.paths import _WHERE, data_dir_origin
from tests.test_data import (
    SMALL,
    md5,
    needs_usps,
    write_mnist_fixture,
    write_usps_h5,
    write_usps_text,
)
from tests.test_fetch import mirror, server  # noqa: F401 -- fixtures: a local HTTP server as the data mirror
from tests.test_usps_sources import write_libsvm


def _usps_split(n, seed):
    """n images with ink in [0, 1] (h5's range) and labels with a known bincount."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 256)).round(3), np.arange(n) % 10


def _write_usps(form, folder):
    """One USPS source of small splits (train 23, test 14: different class counts); {split: (x01, y)}."""
    splits = {"train": _usps_split(23, 1), "test": _usps_split(14, 2)}
    if form == "usps.h5":
        write_usps_h5(folder / "usps" / "usps.h5", splits["train"], splits["test"])
    else:
        names, write = (data._USPS_TEXT, write_usps_text) if form == "esl" else (data._USPS_LIBSVM, write_libsvm)
        for split, name in names.items():
            write(folder / "usps" / name, 2 * splits[split][0] - 1, splits[split][1])
    return splits


def _counts(y):
    return tuple(np.bincount(y, minlength=10).tolist())


# ------------------------------------------------------------------ source records


def test_mnist_source_record_is_whole(tmp_path, monkeypatch):
    write_mnist_fixture(tmp_path / "d" / "mnist")
    monkeypatch.chdir(tmp_path)  # a relative data dir: the record holds the absolute one
    _, source = data._load_mnist("d", seed=3, download=False, verify_checksum=False, sizes=SMALL)
    first = data.mnist.MNIST_SOURCES[0]
    cache = source["cache"]["file"]
    assert cache.startswith("cache/mnist-seed3-") and cache.endswith(".npz")
    assert source == {
        "data_dir": str((tmp_path / "d").resolve()),
        "files": [{"path": f"mnist/{n}", "md5": md5(tmp_path / "d" / "mnist" / n)} for n in data.MNIST_MD5],
        "origin": {"source": first.key, "title": first.title, "page": first.page, "fetched": []},
        "seed": 3, "n_train": SMALL["train"], "n_test": SMALL["test"],
        "selection": (f"numpy.random.RandomState(seed): permutation(n_mnist_train)[:{SMALL['train']}], "
                      f"then from the same stream permutation(n_mnist_test)[:{SMALL['test']}]"),
        "selection_note": ("karpathy/lecun1989-repro prepro.py draws the same way (np.random.seed(1337), "
                           "np.random.permutation per split) but loops over the set {'train', 'test'}, whose "
                           "order depends on PYTHONHASHSEED: where his run drew test first, its image choice "
                           "differs from this one"),
        "preprocessing": ("float32: x / 127.5 - 1, then 28x28 -> 16x16 bilinear with torch "
                          "F.interpolate(mode='bilinear', align_corners=False, antialias=False) arithmetic"),
        "cache": {"file": cache, "hit": False, "written": True},
    }


USPS_FORMATS = {
    "usps.h5": "hdf5 (train/data, train/target, test/data, test/target), pixels 2*v - 1",
    "esl": "gzipped text, one line per image: digit then 256 values in [-1, 1]",
    "libsvm": "bzip2 LIBSVM text, one line per image: label 1..10 (digit + 1) then index:value pairs in [-1, 1]",
}


@pytest.mark.parametrize("form", ["usps.h5", "esl", "libsvm"])
def test_usps_source_record_is_whole(form, tmp_path, monkeypatch):
    splits = _write_usps(form, tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    _, source = data._load_usps("d", verify_checksum=False, expected_counts=None)
    names = {"usps.h5": ["usps.h5"], "esl": list(data._USPS_TEXT.values()), "libsvm": list(data._USPS_LIBSVM.values())}
    src = next(s for s in data.usps.USPS_SOURCES if s.key == form)
    algorithm = "md5" if form == "libsvm" else "sha256"
    assert source == {
        "data_dir": str((tmp_path / "d").resolve()),
        "files": [{"path": f"usps/{n}", algorithm: hashlib.new(algorithm, (tmp_path / "d" / "usps" / n).read_bytes())
                   .hexdigest()} for n in names[form]],
        "format": USPS_FORMATS[form],
        "origin": {"source": form, "title": src.title, "page": src.page, "fetched": []},
        "preprocessing": "none beyond scaling to [-1, 1]: deslanted, size-normalised 16x16 USPS digits",
        "n_train": len(splits["train"][1]), "n_test": len(splits["test"][1]),
    }


# ------------------------------------------------------------------ missing-files messages


def test_mnist_missing_message_names_every_place_it_looks(tmp_path):
    write_mnist_fixture(tmp_path / "mnist", skip=("t10k-labels-idx1-ubyte.gz",))
    with pytest.raises(DataError) as e:
        data._load_mnist(tmp_path, download=False, sizes=SMALL)
    assert str(e.value) == (
        f"MNIST files missing: t10k-labels-idx1-ubyte.gz; {tried_text([], False)}; put them in "
        f"{tmp_path / 'mnist'} ({data_dir_origin(tmp_path)}) (or torchvision's {tmp_path / 'mnist' / 'MNIST' / 'raw'}), "
        f"or point {_WHERE} elsewhere, or ${ENV_MIRROR} at a server that has them")


# ------------------------------------------------------------------ the MNIST cache's checks


def _cache_arrays():
    rng = np.random.default_rng(0)
    return {s: (rng.uniform(-1, 1, (n, 1, 16, 16)).astype(np.float32), np.arange(n, dtype=np.int64) % 10)
            for s, n in SMALL.items()}


def _spoil(arrays, what):
    x, y = arrays["test"]
    arrays["test"] = {
        "x_shape": (x[:, :, :15], y), "x_dtype": (x.astype(np.float64), y), "y_shape": (x, y[:-1]),
        "y_2d": (x, y[:, None]), "x_above_1": (x + 1.5, y), "x_below_-1": (x - 2.5, y), "x_nan": (x * np.nan, y),
        "label_negative": (x, y - 1), "label_10": (x, y + 1), "fine": (x, y),
    }[what]
    return arrays


@pytest.mark.parametrize("what", ["x_shape", "x_dtype", "y_shape", "y_2d", "x_above_1", "x_below_-1", "x_nan",
                                  "label_negative", "label_10"])
def test_mnist_cache_refused_for_each_single_fault(tmp_path, what):
    """Each condition alone makes the cache unusable (None: rebuilt), the others all holding."""
    path = tmp_path / "c.npz"
    arrays = _spoil(_cache_arrays(), what)
    np.savez(path, **{f"{s}_{k}": a for s, (x, y) in arrays.items() for k, a in (("x", x), ("labels", y))})
    assert data._read_cache(path, SMALL) is None


def test_mnist_cache_of_good_arrays_is_read_back(tmp_path):
    path = tmp_path / "c.npz"
    arrays = _spoil(_cache_arrays(), "fine")
    assert data._write_cache(path, arrays) is True
    got = data._read_cache(path, SMALL)
    for s in SMALL:
        np.testing.assert_array_equal(got[s][0], arrays[s][0])
        np.testing.assert_array_equal(got[s][1], arrays[s][1])
    assert data._read_cache(path, {"train": SMALL["train"], "test": SMALL["test"] + 1}) is None  # other sizes
    assert data._read_cache(tmp_path / "absent.npz", SMALL) is None


# ------------------------------------------------------------------ reasons carried into messages


def test_unreadable_h5_message_carries_h5pys_reason(tmp_path):
    import h5py

    path = tmp_path / "usps.h5"
    path.write_bytes(b"not an hdf5 file at all" * 10)
    try:
        h5py.File(path, "r")
    except OSError as e:
        reason = data.checks._one_line(e)
    with pytest.raises(DataError) as e:
        data._read_usps_h5(path, verify_checksum=False, expected_counts=None)
    assert str(e.value) == f"{path}: not a readable HDF5 file ({reason})" and "signature" in reason


def test_h5_missing_dataset_message_names_the_dataset(tmp_path):
    import h5py

    path = tmp_path / "usps.h5"
    with h5py.File(path, "w") as f:
        f["train/data"] = np.zeros((2, 256), np.float32)
        f["train/target"] = np.zeros(2, np.int32)
    with h5py.File(path, "r") as f, pytest.raises(KeyError) as k:
        f["test/data"]
    reason = data.checks._one_line(k.value)  # h5py's own words, whatever its version says
    with pytest.raises(DataError) as e:
        data._read_usps_h5(path, verify_checksum=False, expected_counts=None)
    assert str(e.value) == (f"{path}: missing dataset in HDF5 file ({reason}); expected train/data, train/target, "
                            "test/data, test/target")


@pytest.mark.parametrize("name, kind", [("zip.train.gz", "gzip"), ("usps.bz2", "bz2")])
def test_corrupt_text_message_carries_the_decoders_reason(name, kind, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"garbage, not compressed")
    with pytest.raises(DataError) as e:
        data.usps._text_of(path, verify_checksum=False)
    msg = str(e.value)
    assert msg.startswith(f"{path}: truncated or corrupt {kind} file (") and msg.endswith(")")
    assert "None" not in msg and len(msg) > len(f"{path}: truncated or corrupt {kind} file ()")


# ------------------------------------------------------------------ class counts, per split, every source


@pytest.mark.parametrize("form", ["usps.h5", "esl", "libsvm"])
def test_every_usps_source_checks_each_splits_own_class_counts(form, tmp_path):
    splits = _write_usps(form, tmp_path)
    own = {s: _counts(y) for s, (_, y) in splits.items()}
    assert own["train"] != own["test"]
    got, _ = data._load_usps(tmp_path, verify_checksum=False, expected_counts=own)
    assert {s: _counts(y) for s, (_, y) in got.items()} == own
    data._load_usps(tmp_path, verify_checksum=False, expected_counts=None)  # None: no count check
    swapped = {"train": own["test"], "test": own["train"]}
    with pytest.raises(DataError, match=r"class counts .* differ from the expected"):
        data._load_usps(tmp_path, verify_checksum=False, expected_counts=swapped)
    with pytest.raises(DataError, match=r"class counts"):  # the default: the real USPS counts
        data._load_usps(tmp_path, verify_checksum=False)


# ------------------------------------------------------------------ the loaders' defaults, by what they do


def test_load_dataset_defaults_float32_and_seed_1337():
    ds = data.load_dataset("synthetic")
    same = data.load_dataset("synthetic", dtype="float32", seed=1337)
    assert ds.train_x.dtype == np.float32 and ds.source["dtype"] == "float32"
    np.testing.assert_array_equal(ds.train_x, same.train_x)
    assert not np.array_equal(ds.train_x, data.load_dataset("synthetic", seed=1338).train_x)


def test_mnist_defaults_seed_1337_and_a_written_cache(tmp_path):
    write_mnist_fixture(tmp_path / "mnist")
    _, source = data._load_mnist(tmp_path, download=False, verify_checksum=False, sizes=SMALL)
    assert source["seed"] == 1337 and source["cache"]["written"] is True
    assert source["cache"]["file"].startswith("cache/mnist-seed1337-")


@needs_usps
@pytest.mark.usefixtures("mirror")
def test_load_dataset_fetches_by_default_and_says_so(tmp_path, capsys):
    base = os.environ[ENV_MIRROR]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    ds = data.load_dataset("usps", tmp_path / "a")
    assert ds.source["origin"]["fetched"] == [{"path": "usps/usps.h5", "url": f"{base}/usps/usps.h5"}]
    assert f"harness: fetching usps/usps.h5 from {base}/usps/usps.h5" in capsys.readouterr().err
    with pytest.raises(DataError, match="USPS data not found"):  # the loader itself fetches only when asked
        data._load_usps(tmp_path / "b")
    assert capsys.readouterr().err == ""
