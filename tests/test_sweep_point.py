"""One sweep point as data (harness.sweep.point.run_point, the local executor run_local): what the
returned record says of where and with whom the point ran, what the child is given (its
environment, the co-tenant count), and where its private directory is and what it is called.
The child is a few lines of Python standing in for `harness run` (no training)."""
from __future__ import annotations

import json
import os
import platform
import sys

import pytest

from harness import tempfiles
from harness.config import RunConfig
from harness.sweep import point
from harness.sweep.local import run_local

# Writes one result into its private directory (the last argument of its command line): the
# environment variables a point's child is meant to see, and the directory's name.
CHILD = """
import json, os, sys
d = sys.argv[1]
seen = {k: os.environ.get(k) for k in ("HARNESS_COTENANTS", "POINT_TEST_VAR", "OMP_NUM_THREADS")}
json.dump({"env": seen, "dir": d}, open(os.path.join(d, "r.json"), "w"))
"""


def _fake_child(monkeypatch, calls=None):
    def command(cfg, tmp, save_params=False):
        if calls is not None:
            calls.append((cfg, tmp, save_params))
        return [sys.executable, "-c", CHILD, tmp]

    monkeypatch.setattr(point, "command", command)


def test_the_record_says_where_and_with_how_many_the_point_ran(monkeypatch, tmp_path):
    _fake_child(monkeypatch)
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), cotenants=3, where={"executor": "x", "node": 7},
                          workdir=tmp_path / "w")
    assert out["ok"], out
    assert out["where"] == {"executor": "x", "node": 7, "hostname": platform.node(), "pid": os.getpid()}
    assert out["cotenants_at_start"] == 3
    assert out["result"]["env"]["HARNESS_COTENANTS"] == "3"  # the child records the count it was given
    assert out["result_name"] == "r.json" and out["npz"] is None


def test_the_childs_environment_is_the_callers_plus_env(monkeypatch, tmp_path):
    _fake_child(monkeypatch)
    monkeypatch.setenv("HARNESS_COTENANTS", "99")  # a stale count from outside is never passed on
    monkeypatch.setenv("OMP_NUM_THREADS", "5")  # no threads asked: the framework's own choice
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), cotenants=None, env={"POINT_TEST_VAR": "v"},
                          workdir=tmp_path / "w")
    assert out["result"]["env"] == {"HARNESS_COTENANTS": None, "POINT_TEST_VAR": "v", "OMP_NUM_THREADS": None}
    out = point.run_point(RunConfig(dataset="synthetic", threads=2).to_dict(), env={"OMP_NUM_THREADS": "2"},
                          workdir=tmp_path / "w")
    assert out["result"]["env"] == {"HARNESS_COTENANTS": "0", "POINT_TEST_VAR": None, "OMP_NUM_THREADS": "2"}


def test_a_kept_private_directory_is_a_named_temporary_of_this_process(monkeypatch, tmp_path):
    """In the workdir, named as tempfiles names a staging area for `point` (host tag and pid):
    what lets a later sweep tell a dead runner's leftovers from a live one's."""
    _fake_child(monkeypatch)
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w", keep=True)
    d = tmp_path / "w" / os.path.basename(out["workdir"])
    assert out["result"]["dir"] == out["workdir"] and d.is_dir() and point.active(d)
    assert d.name.startswith(f".point.{tempfiles.host_tag()}-{os.getpid()}-") and d.name.endswith(".tmp")
    meta = json.loads((d / point.META).read_text())
    assert meta["config"] == RunConfig(dataset="synthetic").to_dict() and meta["child"] is not None
    point.discard(out)
    assert not d.exists() and not point.active(d)


def test_run_local_runs_each_point_with_the_env_it_was_given(monkeypatch, tmp_path):
    calls = []
    _fake_child(monkeypatch, calls)
    points = [RunConfig(dataset="synthetic", seed=s) for s in (1, 2, 3)]
    started, finished = [], []
    run_local(points, on_start=started.append, on_finish=lambda c, o: finished.append((c, o)),
              claim=lambda c: c.seed != 2, workdir=tmp_path / "w", env={"POINT_TEST_VAR": "local"}, save_params=True)
    assert started == [points[0], points[2]]  # the point another sweep holds is skipped
    assert [c for c, _ in finished] == started
    assert [save for _, _, save in calls] == [True, True]
    for _, out in finished:
        assert out["ok"] and out["result"]["env"]["POINT_TEST_VAR"] == "local"
        assert out["result"]["env"]["HARNESS_COTENANTS"] == "0"
        assert out["cotenants_at_start"] == 0 and out["cotenants_max"] == 0
        assert out["where"]["executor"] == "local"
        assert os.path.dirname(out["workdir"]) == str(tmp_path / "w")  # kept for the driver to store
        point.discard(out)


def test_temporary_files_and_directories_are_named_so_remove_stale_knows_them(tmp_path):
    """`.<final>.<host tag>-<pid>-<random>.tmp`, files and directories alike: the one pattern
    `stale` reads (never `*.json`, so never read as a result); this process is alive, so kept."""
    fd, path = tempfiles.mkstemp(tmp_path, "run-x.json")
    os.close(fd)
    d = tempfiles.mkdtemp(tmp_path, "REPORT")
    for p, final in ((tmp_path / os.path.basename(path), "run-x.json"), (d, "REPORT")):
        assert p.exists() and p.parent == tmp_path
        assert p.name.startswith(f".{final}.{tempfiles.host_tag()}-{os.getpid()}-") and p.name.endswith(".tmp")
        assert tempfiles._NAME.match(p.name) and not tempfiles.stale(p)
    assert tempfiles.remove_stale(tmp_path) == [] and len(list(tmp_path.iterdir())) == 2


def test_store_writes_the_result_and_its_parameters_under_one_name_with_the_sweeps_record(tmp_path):
    from harness.results import read_json
    from harness.sweep.driver import store
    from tests.test_sweep import _fake_result

    cfg = RunConfig(dataset="synthetic", seed=4, epochs=1)
    out = {"ok": True, "result": _fake_result(cfg), "npz": b"params", "seconds": 1.5, "cotenants_at_start": 0,
           "cotenants_max": 2, "where": {"executor": "local", "hostname": "h", "pid": 1}}
    path = store(tmp_path, cfg, out)
    assert path.parent == tmp_path and path.suffix == ".json"
    assert path.with_suffix(".npz").read_bytes() == b"params"
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npz"]
    r = read_json(path)
    assert r["sweep"] == {"config": cfg.to_dict(), "executor": "local", "where": out["where"],
                          "cotenants_at_start": 0, "cotenants_max": 2, "point_seconds": 1.5}
    assert r["environment"]["cotenants"] == 2  # the child knew none: the most seen while it ran
    out2 = {**out, "npz": None, "recovered": "from a killed sweep",
            "result": _fake_result(cfg, environment={"cotenants": 0, "env_threads": {}})}
    r2 = read_json(store(tmp_path / "b", cfg, out2))
    assert r2["environment"]["cotenants"] == 0 and r2["sweep"]["recovered"] == "from a killed sweep"
    assert [p.suffix for p in (tmp_path / "b").iterdir()] == [".json"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_points_child_asks_for_sigterm_when_its_parent_dies():
    """What the child runs before exec (a cancelled Ray task's worker dies: its child must not run
    on): run here in this process, read back with PR_GET_PDEATHSIG, then cleared."""
    import ctypes
    import signal

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    got = ctypes.c_int(-1)
    try:
        point._die_with_parent()
        assert libc.prctl(2, ctypes.byref(got)) == 0  # PR_GET_PDEATHSIG
        assert got.value == signal.SIGTERM
    finally:
        libc.prctl(1, 0)  # PR_SET_PDEATHSIG 0: this test process goes back to no death signal
    libc.prctl(2, ctypes.byref(got))
    assert got.value == 0


def test_a_failed_points_reason_is_the_exit_and_the_childs_last_error_line():
    assert point._reason(2, "") == "exit status 2"
    assert point._reason(1, "warming up\nharness: error: first\nnoise\nharness: error: second\ntrailing\n\n") == (
        "exit status 1: harness: error: second")  # the last error line, not the last line
    assert point._reason(-9, "only line\n  \n") == "killed by SIGKILL (signal 9): only line"
    long = "x" * (point.REASON_CHARS + 50)
    assert point._reason(1, long) == "exit status 1: " + "x" * point.REASON_CHARS


def test_read_back_takes_the_one_result_and_its_parameters_or_says_why_not(tmp_path):
    out = point.read_back(tmp_path, {"where": {}})
    assert out == {"where": {}, "ok": False, "reason": "expected one result file, found 0"}
    (tmp_path / "run-a.json").write_text('{"kind": "run"}')
    (tmp_path / "run-a.npz").write_bytes(b"npz")
    out = point.read_back(tmp_path, {})
    assert out == {"ok": True, "result": {"kind": "run"}, "result_name": "run-a.json", "npz": b"npz"}
    (tmp_path / "run-b.json").write_text("{")
    assert point.read_back(tmp_path, {})["reason"] == "expected one result file, found 2"
    (tmp_path / "run-a.json").unlink()
    out = point.read_back(tmp_path, {})
    assert out["ok"] is False and out["reason"].startswith("its result run-b.json not valid JSON")


def test_let_go_keeps_a_directory_on_disk_but_no_longer_in_use(tmp_path):
    d = tmp_path / "kept"
    d.mkdir()
    point._ACTIVE.add(str(d))
    point.let_go({"workdir": str(d)})
    assert d.is_dir() and not point.active(d)
    point.let_go({})  # nothing kept: nothing to let go
    point.discard({})


def test_files_name_the_kind_of_a_special_file():
    import stat

    from harness import files

    kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
             stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory", stat.S_IFLNK: "not a regular file"}
    assert {m: files._kind(m | 0o644) for m in kinds} == kinds
