"""Every one-line DataError the readers give, as the whole line the user reads (the file, what is
wrong, what was expected), not a fragment of it: a word lost or changed in any of them fails here.
Small files written here; no real data needed."""
from __future__ import annotations

import bz2
import gzip

import numpy as np
import pytest

from harness import data
from harness.data import DataError
from harness.data.checks import _check_digest, _check_split
from tests.test_data import write_idx, write_mnist_fixture

X3 = np.zeros((3, 256))
Y3 = np.array([1, 2, 3])


def _raises(call) -> str:
    with pytest.raises(DataError) as e:
        call()
    return str(e.value)


# ----------------------------------------------------------------- one split's checks


@pytest.mark.parametrize("x, y, lo, hi, counts, words", [
    (np.zeros((3, 255)), Y3, 0, 1, None, "train images have shape (3, 255), expected (n, 256)"),
    (np.zeros(256), Y3, 0, 1, None, "train images have shape (256,), expected (n, 256)"),
    (X3, Y3[:2], 0, 1, None, "train has 3 images but labels of shape (2,)"),
    (X3 + 2, Y3, 0, 1, None, "train pixel values outside [0, 1] (or NaN)"),
    (X3 - 2, Y3, -1, 1, None, "train pixel values outside [-1, 1] (or NaN)"),
    (X3, np.array([1, 2, 10]), 0, 1, None, "train label 10 at index 2 is not a digit 0..9"),
    (X3, np.array([1, -1, 3]), 0, 1, None, "train label -1 at index 1 is not a digit 0..9"),
    (X3, np.array([1, 2.5, 3]), 0, 1, None, "train label 2.5 at index 1 is not a digit 0..9"),
    (X3, Y3, 0, 1, (0, 3) + (0,) * 8, ("train class counts [0, 1, 1, 1, 0, 0, 0, 0, 0, 0] differ from the "
                                      "expected [0, 3, 0, 0, 0, 0, 0, 0, 0, 0]")),
])
def test_a_splits_check_says_what_is_wrong_in_one_whole_line(tmp_path, x, y, lo, hi, counts, words):
    p = tmp_path / "f"
    assert _raises(lambda: _check_split(p, "train", x, y, lo, hi, counts)) == f"{p}: {words}"
    _check_split(p, "train", X3, Y3, 0, 1, (0, 1, 1, 1) + (0,) * 6)  # and the same split, right, passes


def test_a_digest_mismatch_names_both_hashes_and_what_to_do(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    got = "900150983cd24fb0d6963f7d28e17f72"  # md5("abc")
    assert _check_digest(p, "md5", got) == got
    assert _raises(lambda: _check_digest(p, "md5", "0" * 32)) == (
        f"{p}: MD5 mismatch: expected {'0' * 32}, got {got} (corrupt or a different version of the file; replace it)")


# ----------------------------------------------------------------- USPS's text forms


def _gz(path, text):
    with gzip.open(path, "wt", encoding="ascii") as f:
        f.write(text)
    return path


ROW = " ".join(["-1"] * 256)


@pytest.mark.parametrize("text, words", [
    ("\n \n", "no data rows"),
    (f"3 {ROW}\n1 2 3\n", "line 2 has 3 values, expected 257 (digit + 256 pixels)"),
    (f"\n3 {ROW}\n3 {ROW[:-2]}x\n", "line 3 holds a value that is not a number"),
    (f"11 {ROW}\n", "line 1 starts with label 11, expected a digit 0..9"),
    (f"3 {ROW}\n2.5 {ROW}\n", "line 2 starts with label 2.5, expected a digit 0..9"),
    (f"3 {ROW[:-2]}1.5\n", "line 1 has a pixel value outside [-1, 1] (or NaN)"),
])
def test_each_bad_esl_file_is_one_whole_line(tmp_path, text, words):
    p = _gz(tmp_path / "zip.train.gz", text)
    assert _raises(lambda: data._read_usps_text(p, verify_checksum=False)) == f"{p}: {words}"


@pytest.mark.parametrize("text, words", [
    ("0 1:-1", "line 1 has label 0, expected 1..10 (digits 0..9)"),
    ("3 1:-1\n\n12 1:-1", "line 3 has label 12, expected 1..10 (digits 0..9)"),
    ("3 0:0.5", "line 1 has an index outside 1..256, not whole, or out of order"),
    ("3 1.5:0.5", "line 1 has an index outside 1..256, not whole, or out of order"),
    ("3 4:-1.5", "line 1 has a pixel value outside [-1, 1] (or NaN)"),
    ("3 1:-1\n3 4:1.5", "line 2 has a pixel value outside [-1, 1] (or NaN)"),
    ("3 4:1.0001", "line 1 has a pixel value outside [-1, 1] (or NaN)"),
    ("3 4:nan", "line 1 has a pixel value outside [-1, 1] (or NaN)"),
    ("3 4:a", "line 1 is not `label index:value ...` with numbers"),
    ("x 4:1", "line 1 is not `label index:value ...` with numbers"),
    ("\n", "no data rows"),
])
def test_each_bad_libsvm_file_is_one_whole_line(tmp_path, text, words):
    p = tmp_path / "usps.bz2"
    p.write_bytes(bz2.compress(text.encode()))
    assert _raises(lambda: data._read_usps_libsvm(p, verify_checksum=False)) == f"{p}: {words}"


def test_half_a_usps_pair_names_the_missing_file_and_the_pair(tmp_path):
    (tmp_path / "usps").mkdir()
    _gz(tmp_path / "usps" / "zip.train.gz", f"3 {ROW}\n")
    assert _raises(lambda: data._load_usps(tmp_path)) == (
        f"{tmp_path / 'usps' / 'zip.test.gz'}: missing; the USPS pair zip.train.gz + zip.test.gz needs both "
        f"files in {tmp_path / 'usps'}")


def test_a_directory_where_a_usps_file_belongs_is_named(tmp_path):
    (tmp_path / "usps" / "usps.bz2").mkdir(parents=True)
    assert _raises(lambda: data._load_usps(tmp_path)) == (
        f"{tmp_path / 'usps' / 'usps.bz2'}: is a directory (or not a regular file); expected the data file")


# ----------------------------------------------------------------- MNIST's files


def test_each_wrong_mnist_file_is_one_whole_line(tmp_path):
    arrays = write_mnist_fixture(tmp_path / "mnist", n_train=5, n_test=5)
    img, lab = (tmp_path / "mnist" / n for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    write_idx(img, arrays["t10k-labels-idx1-ubyte.gz"])  # labels where the images go
    assert _raises(lambda: data.mnist._read_mnist_split(img, lab)) == (
        f"{img}: expected IDX magic 2051, uint8 images (n, 28, 28); got uint8 (5,)")
    write_idx(img, arrays["t10k-images-idx3-ubyte.gz"])
    write_idx(lab, arrays["t10k-images-idx3-ubyte.gz"])  # images where the labels go
    assert _raises(lambda: data.mnist._read_mnist_split(img, lab)) == (
        f"{lab}: expected IDX magic 2049, uint8 labels (n,); got uint8 (5, 28, 28)")
    write_idx(lab, arrays["t10k-labels-idx1-ubyte.gz"][:4])
    assert _raises(lambda: data.mnist._read_mnist_split(img, lab)) == f"{lab}: 4 labels for 5 images in {img.name}"
    write_idx(lab, [1, 2, 12, 3, 4])
    assert _raises(lambda: data.mnist._read_mnist_split(img, lab)) == f"{lab}: label 12 is not a digit 0..9"
    write_idx(lab, arrays["t10k-labels-idx1-ubyte.gz"])
    assert _raises(lambda: data._load_mnist(tmp_path, download=False, verify_checksum=False,
                                            sizes={"train": 5, "test": 6})) == f"{img}: 5 images, need at least 6"
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").mkdir(parents=True)
    assert _raises(lambda: data._load_mnist(tmp_path, download=False, verify_checksum=False)) == (
        f"{tmp_path / 'MNIST' / 'raw' / 'train-labels-idx1-ubyte.gz'}: is a directory (or not a regular file); "
        "expected the data file")


# ----------------------------------------------------------------- load_dataset's own words


def test_load_datasets_own_refusals_are_whole_lines(tmp_path):
    assert _raises(lambda: data.load_dataset("cifar")) == "unknown data set 'cifar'; available: " + ", ".join(
        data.DATASETS)
    assert _raises(lambda: data.load_dataset("synthetic", dtype="int8")) == (
        "unsupported dtype 'int8'; use one of: " + ", ".join(data.DTYPES))
    assert _raises(lambda: data.load_dataset("synthetic", dtype=None)) == (
        "unsupported dtype None; use one of: " + ", ".join(data.DTYPES))


# ----------------------------------------------------------------- `harness data list` / `fetch`, whole


def test_data_list_is_whole(tmp_path, capsys, monkeypatch):
    from harness.cli import main
    from harness.data import fetch
    from harness.data.paths import data_dir_origin
    from harness.data.registry import REGISTRY

    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")
    monkeypatch.delenv(fetch.ENV_MIRROR, raising=False)
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.h5").write_bytes(b"not it")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").mkdir(parents=True)
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    state = {"usps/usps.h5": "wrong sha256", "mnist/t10k-labels-idx1-ubyte.gz": "not a file"}
    status = {"usps": "here: the usps.h5 source, WRONG HASH: usps/usps.h5 (replace it, or remove it to fetch it again)",
              "mnist": "missing (fetched on first use, or now with `harness data fetch --dataset mnist`)"}
    want = [f"data directory: {tmp_path} ({data_dir_origin(tmp_path)})",
            "mirror ($HARNESS_DATA_MIRROR): not set; public sources: off ($HARNESS_DATA_OFFLINE)"]
    for name, srcs in REGISTRY.items():
        want += ["", f"{name}: {status[name]}"]
        for src in srcs:
            want.append(f"  source {src.key}: {src.title}" + (f" <{src.page}>" if src.page else ""))
            for f in src.files:
                want += [f"    {f.path}  [{state.get(f.path, 'missing')}]",
                         "      from: " + ("nowhere: public sources off ($HARNESS_DATA_OFFLINE) and no mirror set"
                                           if f.urls else "nowhere: only a mirror serves it, and "
                                           "$HARNESS_DATA_MIRROR is not set")]
    want += ["", "synthetic: built in, no files"]
    assert capsys.readouterr().out.splitlines() == want


def test_data_fetch_of_what_is_here_is_whole(tmp_path, capsys, monkeypatch):
    from harness.cli import main
    from harness.data.paths import data_dir_origin
    from tests.test_data import USPS_H5

    if not USPS_H5.is_file():
        pytest.skip(f"real USPS data not found at {USPS_H5}")
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.h5").symlink_to(USPS_H5)
    assert main(["data", "fetch", "--dataset", "usps,synthetic", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"usps: ready in {tmp_path} ({data_dir_origin(tmp_path)}): usps.h5, 7291 train + 2007 test images",
        f"  usps/usps.h5  sha256 {data.USPS_SHA256['usps.h5']} verified, already here",
        "synthetic: nothing to fetch (built in)"]
