"""harness.results on its own: names and times, file modes, atomic writes, the claim of a name
without hard links, JSON of numpy values, and the reason every unusable file is skipped with.
(tests/test_guarantees.py races writers and fills disks; these pin the smaller promises.)"""
from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re

import numpy as np
import pytest

from harness import results
from harness.errors import ResultsDirError


def test_now_iso_is_utc_to_the_second():
    t = results.now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", t)
    assert abs(dt.datetime.fromisoformat(t) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)


def test_timestamp_names_sort_by_time():
    assert re.fullmatch(r"\d{8}-\d{6}", results._timestamp())


def test_a_written_result_has_the_schema_version_first_and_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = results.write_result(tmp_path, {"kind": "run", "schema_version": 99, "n": np.int64(3)}, "run-x")
    finally:
        os.umask(old)
    assert re.fullmatch(r"run-x-\d{8}-\d{6}\.json", p.name)
    text = p.read_text()
    assert text.endswith("}\n") and text.startswith('{\n "schema_version": 99')  # the caller's wins
    assert json.loads(text) == {"schema_version": 99, "kind": "run", "n": 3}
    assert p.stat().st_mode & 0o777 == 0o644
    assert sorted(x.name for x in tmp_path.iterdir()) == [p.name]  # no temporaries, no probe
    q = results.write_result(tmp_path, {"kind": "run"}, "run-y")
    assert json.loads(q.read_text())["schema_version"] == results.SCHEMA_VERSION


def test_numpy_values_become_json_and_others_are_refused():
    assert json.loads(json.dumps({"i": np.int32(2), "f": np.float32(0.5), "a": np.arange(3)},
                                 default=results._json_default)) == {"i": 2, "f": 0.5, "a": [0, 1, 2]}
    assert type(results._json_default(np.float64(1.5))) is float and type(results._json_default(np.int8(1))) is int
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        results._json_default({1})


def test_atomic_writes_replace_whole_files(tmp_path):
    p = tmp_path / "f.txt"
    results.atomic_write_text(p, "one")
    results.atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two" and [x.name for x in tmp_path.iterdir()] == ["f.txt"]


def test_a_failed_rename_leaves_no_temporary(tmp_path, monkeypatch):
    def no_replace(a, b):
        raise OSError(errno.EACCES, "denied")

    monkeypatch.setattr(results.os, "replace", no_replace)
    with pytest.raises(OSError):
        results.atomic_write_text(tmp_path / "f", "x")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_temporary_write_is_removed(tmp_path, monkeypatch):
    def no_fsync(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(results.os, "fsync", no_fsync)
    with pytest.raises(OSError, match="I/O error"):
        results._write_temp(tmp_path, "f", b"x")
    assert list(tmp_path.iterdir()) == []


def test_ensure_writable_makes_the_directory_and_names_why_not(tmp_path):
    d = results.ensure_writable(tmp_path / "a" / "b")
    assert d == tmp_path / "a" / "b" and d.is_dir() and list(d.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultsDirError) as ei:
        results.ensure_writable(tmp_path / "file" / "sub")
    # the whole line: it ends in the OS's words (strerror), not in "[Errno 20] ...: '<path>'"
    assert str(ei.value) == f"results directory {tmp_path / 'file' / 'sub'} is not writable: Not a directory"


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK])
def test_without_hard_links_a_name_is_claimed_exclusively(tmp_path, monkeypatch, code):
    def no_link(a, b):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(results.os, "link", no_link)
    tmp = tmp_path / "t"
    tmp.write_text("data")
    results._claim(str(tmp), tmp_path / "final")
    assert (tmp_path / "final").read_text() == "data" and not tmp.exists()
    tmp.write_text("more")
    with pytest.raises(FileExistsError):  # the name is taken: O_EXCL refuses it
        results._claim(str(tmp), tmp_path / "final")
    assert (tmp_path / "final").read_text() == "data"


def test_other_link_errors_are_not_taken_for_a_missing_feature(tmp_path, monkeypatch):
    def broken(a, b):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(results.os, "link", broken)
    (tmp_path / "t").write_text("x")
    with pytest.raises(OSError, match="I/O error"):
        results._claim(str(tmp_path / "t"), tmp_path / "final")
    assert not (tmp_path / "final").exists()


def test_the_suffix_counts_up_past_taken_names(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "_timestamp", lambda: "T")
    names = [results.write_result(tmp_path, {"kind": "run", "i": i}, "s").name for i in range(4)]
    assert names == ["s-T.json", "s-T-2.json", "s-T-3.json", "s-T-4.json"]


def test_a_result_kept_elsewhere_says_where_and_with_what(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results, "_publish", full)
    with pytest.raises(results.ResultWriteError) as ei:
        results.write_result(tmp_path / "out", {"kind": "run"}, "run-x", {".npz": b"p"})
    e = ei.value
    assert e.fallback.parent.parent == tmp_path and e.fallback.parent.name.startswith("harness-unsaved-")
    assert str(e) == (f"could not write the result into {tmp_path / 'out'} (No space left on device); "
                      f"the result is kept in {e.fallback} (with its .npz)")
    assert e.fallback.with_suffix(".npz").read_bytes() == b"p"
    with pytest.raises(results.ResultWriteError) as ei:
        results.write_result(tmp_path / "out", {"kind": "run"}, "run-y")
    assert str(ei.value).endswith(f"kept in {ei.value.fallback}")


def test_a_results_dir_error_is_kept_elsewhere_too(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(results.ResultWriteError) as ei:
        results.write_result(tmp_path / "file", {"kind": "run", "n": 1}, "run-x")
    assert "is not writable" in str(ei.value) and json.loads(ei.value.fallback.read_text())["n"] == 1
    assert json.loads(ei.value.text)["n"] == 1


def test_keep_elsewhere_returns_none_when_nothing_can_be_written(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "missing"))
    assert results._keep_elsewhere("s", {".json": b"{}"}) is None


def test_read_json_names_why_a_file_is_unusable(tmp_path):
    (tmp_path / "ok.json").write_text('{"a": [1]}')
    assert results.read_json(tmp_path / "ok.json") == {"a": [1]}
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(ValueError, match=r"^not valid JSON \("):
        results.read_json(tmp_path / "bad.json")
    (tmp_path / "latin.json").write_bytes(b'"\xff"')
    with pytest.raises(ValueError, match=r"^not valid JSON \("):
        results.read_json(tmp_path / "latin.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"^JSON nested too deeply$"):
        results.read_json(tmp_path / "deep.json", limit=None)
    with pytest.raises(ValueError, match=r"^cannot be read \("):
        results.read_json(tmp_path / "missing.json")


def test_load_results_skips_each_unusable_file_with_its_reason(tmp_path):
    good = results.write_result(tmp_path, {"kind": "parity", "checks": [{"name": "f"}]}, "parity")
    (tmp_path / "bench.json").write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "other.json").write_text(json.dumps({"kind": "run"}))
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "notes.txt").write_text("not a .json")
    loaded, skipped = results.load_results(tmp_path)
    assert [p for p, _ in loaded] == [good] and loaded[0][1]["kind"] == "parity"
    why = {p.name: w for p, w in skipped}
    assert why == {"bench.json": "pytest-benchmark file", "broken.json": why["broken.json"],
                   "dir.json": "not a file", "other.json": "not a harness result (no schema_version)"}
    assert why["broken.json"].startswith("not valid JSON (")
    assert [p.name for p, _ in skipped] == sorted(why)  # in name order


def test_read_json_says_why_a_file_is_unusable_in_whole(tmp_path, monkeypatch):
    from harness.files import LIMIT_ENV
    from harness.results import read_json

    monkeypatch.delenv(LIMIT_ENV, raising=False)
    def why(p, **kw):
        with pytest.raises(ValueError) as ei:
            read_json(p, **kw)
        return str(ei.value)

    (tmp_path / "cut.json").write_text('{"a": ')
    assert why(tmp_path / "cut.json") == "not valid JSON (Expecting value: line 1 column 7 (char 6))"
    assert why(tmp_path / "gone.json") == "cannot be read (No such file or directory)"
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert why(tmp_path / "deep.json") == "JSON nested too deeply"
    (tmp_path / "bytes.json").write_bytes(b'{"a": "\xff"}')
    assert why(tmp_path / "bytes.json").startswith("not valid JSON ('utf-8' codec can't decode byte 0xff")
    (tmp_path / "big.json").write_text("[" + "0," * 600 + "0]")
    assert why(tmp_path / "big.json", limit=1000, what="a grid file") == \
        "is 0.0 MiB, more than the 0.000953674 MiB a grid file may be ($HARNESS_MAX_FILE_MB raises the bound)"
    assert read_json(tmp_path / "big.json", limit=2000) == [0] * 601
