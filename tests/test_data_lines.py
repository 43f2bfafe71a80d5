"""harness.data at its edges: the values just inside every bound the readers check are read (and
read right), the values just outside are refused naming their line; _check_split's bounds likewise."""
from __future__ import annotations

import bz2
import gzip

import numpy as np
import pytest

from harness import data
from harness.data import DataError
from harness.data.checks import _check_split, _one_line


def _raises(call) -> str:
    with pytest.raises(DataError) as e:
        call()
    return str(e.value)


def _libsvm(tmp_path, text):
    p = tmp_path / "usps.bz2"
    p.write_bytes(bz2.compress(text.encode()))
    return p


def _esl(tmp_path, text):
    p = tmp_path / "zip.train.gz"
    p.write_bytes(gzip.compress(text.encode()))
    return p


def test_libsvm_edges_are_read_right(tmp_path):
    """Labels 1 and 10 (digits 0 and 9), indices 1 and 256, pixels -1 and +1, an absent index a 0."""
    p = _libsvm(tmp_path, "1 1:-1 256:1\n\n10 2:0.25 255:-0.5\n")
    x, y = data._read_usps_libsvm(p, verify_checksum=False)
    want = np.zeros((2, 256))
    want[0, 0], want[0, 255], want[1, 1], want[1, 254] = -1, 1, 0.25, -0.5
    assert y.tolist() == [0, 9] and y.dtype == np.int64 and x.dtype == np.float64
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("text, words", [
    ("3 257:0.5", "line 1 has an index outside 1..256, not whole, or out of order"),
    ("3 4:0.5 4:0.5", "line 1 has an index outside 1..256, not whole, or out of order"),  # repeated: not increasing
    ("3 5:0.5 4:0.5", "line 1 has an index outside 1..256, not whole, or out of order"),
    ("3 1:1\n11 1:1", "line 2 has label 11, expected 1..10 (digits 0..9)"),
    ("3 1:1\n\n1.5 1:1", "line 3 has label 1.5, expected 1..10 (digits 0..9)"),
    ("3 1:-1.0001", "line 1 has a pixel value outside [-1, 1] (or NaN)"),
    ("3 1:1\n3 1:1.0001", "line 2 has a pixel value outside [-1, 1] (or NaN)"),
])
def test_libsvm_just_beyond_each_edge_is_refused_naming_the_line(tmp_path, text, words):
    p = _libsvm(tmp_path, text)
    assert _raises(lambda: data._read_usps_libsvm(p, verify_checksum=False)) == f"{p}: {words}"


def _row(label, first=0.0, last=0.0) -> str:
    return " ".join([str(label), str(first), *["0"] * 254, str(last)])


def test_esl_edges_are_read_right(tmp_path):
    p = _esl(tmp_path, f"{_row(0, -1, 1)}\n\n{_row(9, 1, -1)}\n")
    x, y = data._read_usps_text(p, verify_checksum=False)
    assert y.tolist() == [0, 9] and y.dtype == np.int64
    assert x.shape == (2, 256) and (x[0, 0], x[0, 255], x[1, 0], x[1, 255]) == (-1, 1, 1, -1)
    assert not x[:, 1:255].any()


@pytest.mark.parametrize("text, words", [
    (f"{_row(0)}\n{_row(-1)}\n", "line 2 starts with label -1, expected a digit 0..9"),
    (f"{_row(0)}\n\n{_row(10)}\n", "line 3 starts with label 10, expected a digit 0..9"),
    (f"{_row(0, -1.0001)}\n", "line 1 has a pixel value outside [-1, 1] (or NaN)"),
    (f"{_row(0)}\n{_row(0, 0, 1.0001)}\n", "line 2 has a pixel value outside [-1, 1] (or NaN)"),
    (f"{_row(0)}\n{_row(0, 'nan')}\n", "line 2 has a pixel value outside [-1, 1] (or NaN)"),
    (f"{_row(0)}\n3 1\n", "line 2 has 2 values, expected 257 (digit + 256 pixels)"),
])
def test_esl_just_beyond_each_edge_is_refused_naming_the_line(tmp_path, text, words):
    p = _esl(tmp_path, text)
    assert _raises(lambda: data._read_usps_text(p, verify_checksum=False)) == f"{p}: {words}"


def test_a_split_at_its_bounds_passes_and_just_beyond_is_refused(tmp_path):
    p = tmp_path / "f"
    x = np.zeros((2, 256))
    x[0, 0], x[1, 255] = -1.0, 1.0
    _check_split(p, "test", x, np.array([0, 9]), -1.0, 1.0, (1,) + (0,) * 8 + (1,))
    x[1, 255] = np.nextafter(1.0, 2.0)
    assert _raises(lambda: _check_split(p, "test", x, np.array([0, 9]), -1.0, 1.0)) == \
        f"{p}: test pixel values outside [-1, 1] (or NaN)"
    x[1, 255], x[0, 0] = 1.0, np.nextafter(-1.0, -2.0)
    assert _raises(lambda: _check_split(p, "test", x, np.array([0, 9]), -1.0, 1.0)) == \
        f"{p}: test pixel values outside [-1, 1] (or NaN)"


@pytest.mark.parametrize("e, limit, text", [
    (ValueError("a\n  b\tc "), 160, "a b c"),
    (KeyError(), 160, "KeyError"),
    (ValueError("x" * 160), 160, "x" * 160),
    (ValueError("x" * 161), 160, "x" * 157 + "..."),
    (ValueError("abcdef"), 5, "ab..."),
])
def test_one_line_reasons(e, limit, text):
    assert _one_line(e, limit) == text


@pytest.mark.parametrize("reader, name, text", [
    (data._read_usps_libsvm, "usps.bz2", "1 1:1\n3 1:1\n"),
    (data._read_usps_text, "zip.train.gz", f"{_row(0)}\n{_row(2)}\n"),
])
def test_a_text_split_with_other_class_counts_is_refused_whole(tmp_path, reader, name, text):
    p = tmp_path / name
    p.write_bytes((bz2.compress if name.endswith(".bz2") else gzip.compress)(text.encode()))
    want = (2,) + (0,) * 9
    assert _raises(lambda: reader(p, verify_checksum=False, expected_counts=want)) == (
        f"{p}: data class counts [1, 0, 1, 0, 0, 0, 0, 0, 0, 0] differ from the expected [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]")


@pytest.mark.parametrize("download, why", [
    (False, ""),  # not asked to download: nothing said about downloading
    (True, " and not downloaded (nothing to try: $HARNESS_DATA_OFFLINE is set and $HARNESS_DATA_MIRROR is not)"),
])
def test_usps_missing_is_one_whole_line(tmp_path, download, why):
    from harness.data.paths import data_dir_origin

    assert _raises(lambda: data._load_usps(tmp_path, download=download)) == (
        f"USPS data not found in the data directory {tmp_path} ({data_dir_origin(tmp_path)}){why}: put usps/usps.h5, "
        "or usps/zip.train.gz + usps/zip.test.gz, or usps/usps.bz2 + usps/usps.t.bz2, there (`harness data list` "
        "says where each is published), or point --data-dir or $HARNESS_DATA_DIR at a directory that has them, "
        "or $HARNESS_DATA_MIRROR at a server that does")


# -- fetching: the mirror, offline, what was tried and why it failed ------------------------------------

@pytest.mark.parametrize("raw, on", [("1", True), ("true", True), (" YES ", True), ("on", True), ("", False),
                                     ("0", False), ("no", False), (None, False)])
def test_offline_values(monkeypatch, raw, on):
    from harness.data import fetch

    if raw is None:
        monkeypatch.delenv(fetch.ENV_OFFLINE, raising=False)
    else:
        monkeypatch.setenv(fetch.ENV_OFFLINE, raw)
    assert fetch.offline() is on


def test_mirror_base_and_candidate_urls(monkeypatch):
    from harness.data import fetch
    from harness.data.registry import DataFile

    f = DataFile("usps/usps.h5", "sha256:" + "0" * 64, ("https://a/usps.h5", "https://b/usps.h5"))
    monkeypatch.delenv(fetch.ENV_OFFLINE, raising=False)
    for raw in ("", "  "):
        monkeypatch.setenv(fetch.ENV_MIRROR, raw)
        assert fetch.mirror_base() is None and fetch.candidate_urls(f) == ["https://a/usps.h5", "https://b/usps.h5"]
    monkeypatch.setenv(fetch.ENV_MIRROR, " http://m:8000/data// ")
    assert fetch.mirror_base() == "http://m:8000/data/"
    assert fetch.candidate_urls(f) == ["http://m:8000/data/usps/usps.h5", "https://a/usps.h5", "https://b/usps.h5"]
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")  # offline: the mirror only
    assert fetch.candidate_urls(f) == ["http://m:8000/data/usps/usps.h5"]
    monkeypatch.setenv(fetch.ENV_MIRROR, "https://m")
    assert fetch.mirror_base() == "https://m/"
    monkeypatch.setenv(fetch.ENV_MIRROR, "ftp://m/data")
    assert _raises(fetch.mirror_base) == (
        "$HARNESS_DATA_MIRROR='ftp://m/data' is not an http:// or https:// URL (a base URL that serves files under "
        "the data directory's layout, e.g. http://host/data/ for usps/usps.h5)")


def test_tried_text(monkeypatch):
    from harness.data import fetch

    assert fetch.tried_text([("u", "x")], False) == "download disabled"
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")
    assert fetch.tried_text([], True) == "nothing to try: $HARNESS_DATA_OFFLINE is set and $HARNESS_DATA_MIRROR is not"
    monkeypatch.delenv(fetch.ENV_OFFLINE)
    assert fetch.tried_text([], True) == "no source to try"
    assert fetch.tried_text([("http://a/x", "HTTP 404"), ("http://b/x", "timed out")], True) == \
        "tried http://a/x (HTTP 404); http://b/x (timed out)"


def _http_error(code):
    import requests

    r = requests.Response()
    r.status_code = code
    return requests.HTTPError("bad", response=r)


@pytest.mark.parametrize("make, words", [
    (lambda: _http_error(404), "HTTP 404"),
    (lambda: __import__("requests").exceptions.ChunkedEncodingError("cut"), "connection broken mid-download (truncated)"),
    (lambda: __import__("requests").Timeout("slow"), "timed out"),
    (lambda: __import__("requests").exceptions.ConnectTimeout("slow"), "timed out"),
    (lambda: __import__("requests").ConnectionError("refused"), "cannot connect"),
    (lambda: ValueError("SHA256 hash of downloaded file (/d/usps.h5) does not match the known hash: expected "
                        "00ff but got 0123456789abcdef0123. The file may have been corrupted."),
     "wrong SHA256 0123456789abcdef...: refused and removed"),
    (lambda: OSError(28, "No space left on device"), "cannot write (No space left on device)"),
    (lambda: OSError("no errno"), "OSError: no errno"),
    (lambda: RuntimeError("a\nb " + "c" * 200), "RuntimeError: a b " + "c" * 93 + "..."),
])
def test_why_a_download_failed_in_a_few_words(make, words):
    from harness.data.fetch import why

    assert why(make()) == words


# -- the data directory: where it came from, why it is refused ------------------------------------------------

def test_data_directory_refusals_and_origins_whole(tmp_path, monkeypatch):
    from harness.data.paths import data_dir_origin, default_data_dir, resolve_data_dir

    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    (tmp_path / "f").write_text("")
    assert _raises(lambda: resolve_data_dir(tmp_path / "f")) == f"data directory {tmp_path / 'f'} (from --data-dir) is not a directory"
    assert _raises(lambda: resolve_data_dir(tmp_path / "no")) == f"data directory {tmp_path / 'no'} (from --data-dir) does not exist"
    assert resolve_data_dir("") == default_data_dir() and resolve_data_dir(str(default_data_dir())) == default_data_dir()
    assert data_dir_origin(tmp_path) == "from --data-dir"
    assert data_dir_origin(default_data_dir()) == \
        "the default, a per-user cache; --data-dir or $HARNESS_DATA_DIR choose another"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "f"))
    assert _raises(lambda: resolve_data_dir(None)) == f"data directory {tmp_path / 'f'} (from $HARNESS_DATA_DIR) is not a directory"
    assert resolve_data_dir(tmp_path) == tmp_path  # --data-dir first
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    assert data_dir_origin(tmp_path) == "from $HARNESS_DATA_DIR" and resolve_data_dir("") == tmp_path


def test_targets_at_their_digit_and_refused_labels_whole():
    from harness.data import targets_pm1

    t = targets_pm1(np.array([0, 9]), "float64", t=0.5)
    assert t.tolist() == [[0.5] + [-0.5] * 9, [-0.5] * 9 + [0.5]]
    assert targets_pm1(np.array([], dtype=np.int64)).shape == (0, 10)
    for bad in (np.array([-1, 2]), np.array([[1]]), np.array([10])):
        with pytest.raises(ValueError) as e:
            targets_pm1(bad)
        assert str(e.value) == f"labels must be a 1-d array of digits 0..9, got shape {bad.shape}"


# -- `harness data list`, whole, over a toy registry ------------------------------------------------------

def test_data_list_whole(tmp_path, monkeypatch, capsys):
    import hashlib

    from harness.cli import main
    from harness.data import command, fetch, registry
    from harness.data.registry import DataFile, Source

    good = b"alpha"
    a = DataFile("toy/a.bin", "sha256:" + hashlib.sha256(good).hexdigest(), ("http://u1/a.bin", "http://u2/a.bin"))
    b = DataFile("toy/b.bin", "md5:" + hashlib.md5(b"bravo").hexdigest())  # only a mirror serves it
    reg = {"toy": (Source("first", "a one-file source", (a,)), Source("second", "mirror only", (b,), "https://p"))}
    monkeypatch.setattr(registry, "REGISTRY", reg)
    monkeypatch.setattr(command, "REGISTRY", reg)
    monkeypatch.delenv(fetch.ENV_MIRROR, raising=False)
    monkeypatch.delenv(fetch.ENV_OFFLINE, raising=False)
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)

    def listed():
        assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
        return capsys.readouterr().out.splitlines()

    head = [f"data directory: {tmp_path} (from --data-dir)"]
    assert listed() == [*head, "mirror ($HARNESS_DATA_MIRROR): not set; public sources: on", "",
                        "toy: missing (fetched on first use, or now with `harness data fetch --dataset toy`)",
                        "  source first: a one-file source", "    toy/a.bin  [missing]",
                        "      from: http://u1/a.bin, http://u2/a.bin",
                        "  source second: mirror only <https://p>", "    toy/b.bin  [missing]",
                        "      from: nowhere: only a mirror serves it, and $HARNESS_DATA_MIRROR is not set",
                        "", "synthetic: built in, no files"]
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.bin").write_bytes(b"beta")
    (tmp_path / "toy" / "b.bin").mkdir()
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")
    out = listed()
    assert out[1] == "mirror ($HARNESS_DATA_MIRROR): not set; public sources: off ($HARNESS_DATA_OFFLINE)"
    assert out[3] == "toy: here: the first source, WRONG HASH: toy/a.bin (replace it, or remove it to fetch it again)"
    assert out[5:7] == ["    toy/a.bin  [wrong sha256]",
                        "      from: nowhere: public sources off ($HARNESS_DATA_OFFLINE) and no mirror set"]
    assert out[8] == "    toy/b.bin  [not a file]"
    (tmp_path / "toy" / "a.bin").write_bytes(good)
    monkeypatch.setenv(fetch.ENV_MIRROR, "http://m/d")
    out = listed()
    assert out[1] == "mirror ($HARNESS_DATA_MIRROR): http://m/d/; public sources: off ($HARNESS_DATA_OFFLINE)"
    assert (out[3], out[5], out[6]) == ("toy: here: the first source, verified", "    toy/a.bin  [verified]",
                                        "      from: http://m/d/toy/a.bin")
    assert out[9] == "      from: http://m/d/toy/b.bin"


def test_data_fetch_names_an_unknown_data_set_whole(tmp_path, capsys):
    from harness.cli import main

    assert main(["data", "fetch", "--dataset", "usps,cifar", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        "unknown data set 'cifar'; available: usps, mnist, synthetic (needs no files), all")
