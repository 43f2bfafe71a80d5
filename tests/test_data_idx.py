"""IDX files (harness.data.idx.read_idx) byte by byte: every type code read back with its values,
gzipped or not, and each way a file can be wrong refused with a message that says exactly what
(which file, how many bytes, what the header asked for)."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from harness.data.idx import read_idx
from harness.errors import DataError

# The IDX format's type codes, written out here (not taken from the module under test): big-endian.
BIG_ENDIAN = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx(code: int, arr: np.ndarray) -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(BIG_ENDIAN[code]).tobytes()


@pytest.mark.parametrize("code, values", [
    (0x08, [0, 1, 255]), (0x09, [-128, 0, 127]), (0x0B, [-32768, 1, 32767]), (0x0C, [-(2 ** 31), 7, 2 ** 31 - 1]),
    (0x0D, [-1.5, 0.0, 3.25]), (0x0E, [-1e300, 0.1, 2.0]),
])
@pytest.mark.parametrize("gz", [False, True])
def test_every_type_code_reads_back_its_values_in_native_byte_order(tmp_path, code, values, gz):
    arr = np.array(values * 4).reshape(2, 2, 3)
    path = tmp_path / ("x.gz" if gz else "x")
    data = _idx(code, arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    got = read_idx(path)
    assert got.dtype == np.dtype(BIG_ENDIAN[code]).newbyteorder("=") and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("raw, words", [
    (b"\x00\x00\x08", "truncated IDX file: 3 bytes, no complete header"),
    (b"\x00\x01\x08\x01" + b"\x00" * 8, "not an IDX file (magic 67585)"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file (magic 1793)"),
    (b"\x00\x00\x08\x00", "not an IDX file (magic 2048)"),
    (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02" * 2, "truncated IDX header: 12 bytes, expected 16"),
    (_idx(0x08, np.zeros((2, 3)))[:-1], "truncated IDX file: dims (2, 3) need 6 bytes of data, found 5"),
    (_idx(0x0C, np.zeros(2)) + b"\x00", "trailing bytes in IDX file: dims (2,) need 8 bytes of data, found 9"),
])
def test_each_wrong_file_says_exactly_what_is_wrong(tmp_path, raw, words):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(e.value) == f"{path}: {words}"


def test_an_unreadable_or_cut_gzip_is_corrupt_not_a_traceback(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_idx(0x08, np.zeros(100)))[:-10])
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(e.value).startswith(f"{path}: truncated or corrupt file (") and "\n" not in str(e.value)
    with pytest.raises(DataError, match=r"missing: truncated or corrupt file \(\[Errno 2\] No such file"):
        read_idx(tmp_path / "missing")
