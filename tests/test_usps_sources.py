"""The three published forms of USPS read to the same arrays as usps.h5 (the real file).

ESL's and LIBSVM's files are built here from usps.h5 in each one's documented format (ESL: the
digit then 256 values in [-1, 1] with 4 decimals; LIBSVM: label = digit + 1, then index:value
pairs, zeros left out), so the pins are: pixel polarity and scale (h5's v in [0, 1] is 2v - 1),
row-major order, and the label mapping; the class counts reject a shifted mapping. The published
files' own bytes are pinned by the registry's hashes (checked on download), not here.
"""

import bz2

import numpy as np
import pytest

from harness import data
from harness.data import DataError
from tests.test_data import USPS_H5, write_usps_text

pytestmark = pytest.mark.skipif(not USPS_H5.is_file(), reason=f"real USPS data not found at {USPS_H5}")


@pytest.fixture(scope="module")
def h5_splits():
    return data._read_usps_h5(USPS_H5)


def write_libsvm(path, x, labels, decimals=4):
    """LIBSVM's text, bzip2ed: `label index:value ...`, label = digit + 1, zero values left out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row, label in zip(np.round(x, decimals), labels):
        pairs = " ".join(f"{i + 1}:{v:g}" for i, v in enumerate(row) if v != 0)
        lines.append(f"{int(label) + 1} {pairs}")
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode("ascii")))
    return path


def _assert_same(splits, h5_splits):
    for split in ("train", "test"):
        np.testing.assert_allclose(splits[split][0], h5_splits[split][0], atol=1e-6)  # h5 is float32: ~1e-7 off
        np.testing.assert_array_equal(splits[split][1], h5_splits[split][1])


@pytest.mark.parametrize("form", ["esl", "libsvm"])
def test_each_published_form_reads_to_the_h5_arrays(form, h5_splits, tmp_path, usps):
    names = data._USPS_TEXT if form == "esl" else data._USPS_LIBSVM
    write = write_usps_text if form == "esl" else write_libsvm
    for split, name in names.items():
        write(tmp_path / "usps" / name, *h5_splits[split])
    splits, source = data._load_usps(tmp_path, verify_checksum=False)  # built here: not the published bytes
    _assert_same(splits, h5_splits)
    assert source["origin"]["source"] == form and source["origin"]["fetched"] == []
    assert [f["path"] for f in source["files"]] == [f"usps/{n}" for n in names.values()]
    # and through load_dataset (checksums off: built here): the float32 images the h5 gives
    ds = data._as_dataset("usps", splits, source, np.dtype("float32"))
    np.testing.assert_allclose(ds.train_x, usps.train_x, atol=1e-6)
    np.testing.assert_array_equal(ds.test_labels, usps.test_labels)


def test_h5_is_preferred_then_esl_then_libsvm(h5_splits, tmp_path):
    for split, name in data._USPS_LIBSVM.items():
        write_libsvm(tmp_path / "usps" / name, *h5_splits[split])
    assert data._load_usps(tmp_path, verify_checksum=False)[1]["origin"]["source"] == "libsvm"
    for split, name in data._USPS_TEXT.items():
        write_usps_text(tmp_path / "usps" / name, *h5_splits[split])
    assert data._load_usps(tmp_path, verify_checksum=False)[1]["origin"]["source"] == "esl"
    (tmp_path / "usps" / "usps.h5").write_bytes(USPS_H5.read_bytes())
    assert data._load_usps(tmp_path)[1]["origin"]["source"] == "usps.h5"


def test_libsvm_checksum_is_the_registrys_md5(h5_splits, tmp_path):
    path = write_libsvm(tmp_path / "usps.bz2", h5_splits["train"][0][:5], h5_splits["train"][1][:5])
    with pytest.raises(DataError, match=rf"usps\.bz2: MD5 mismatch: expected {data.USPS_MD5['usps.bz2']}"):
        data._read_usps_libsvm(path)


def test_a_shifted_label_mapping_is_caught_by_the_class_counts(h5_splits, tmp_path):
    x, y = h5_splits["test"]
    path = write_libsvm(tmp_path / "usps.t.bz2", x, (y + 1) % 10)  # digit 0 written as label 2, ...
    with pytest.raises(DataError, match=r"class counts"):
        data._read_usps_libsvm(path, verify_checksum=False, expected_counts=data.USPS_CLASS_COUNTS["test"])


@pytest.mark.parametrize("line, pattern", [
    ("0 1:-1", r"line 1 has label 0, expected 1\.\.10"),
    ("11 1:-1", r"line 1 has label 11"),
    ("3 257:0.5", r"line 1 has an index outside 1\.\.256"),
    ("3 5:0.5 4:0.5", r"out of order"),
    ("3 4:0.5 4:0.5", r"out of order"),
    ("3 4:1.5", r"outside \[-1, 1\]"),
    ("3 4:nan", r"outside \[-1, 1\]"),
    ("3 4:x", r"not `label index:value \.\.\.` with numbers"),
    ("3 4", r"not `label index:value \.\.\.` with numbers"),
])
def test_libsvm_bad_rows(line, pattern, tmp_path):
    path = tmp_path / "usps.bz2"
    path.write_bytes(bz2.compress(f"{line}\n".encode()))
    with pytest.raises(DataError, match=pattern):
        data._read_usps_libsvm(path, verify_checksum=False)


def test_libsvm_truncated_bz2_and_empty(tmp_path):
    path = tmp_path / "usps.bz2"
    path.write_bytes(bz2.compress(b"3 1:-1\n" * 1000)[:40])
    with pytest.raises(DataError, match=r"usps\.bz2: truncated or corrupt bz2 file"):
        data._read_usps_libsvm(path, verify_checksum=False)
    path.write_bytes(bz2.compress(b"\n\n"))
    with pytest.raises(DataError, match=r"no data rows"):
        data._read_usps_libsvm(path, verify_checksum=False)
