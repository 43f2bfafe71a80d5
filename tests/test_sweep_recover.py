"""Recovery of a killed sweep's private directories, one rule at a time: which directories are dead
(this host only; this process's own only when it no longer uses them), which finished results are
adopted (schema-valid, of the point that was started) and why the others are not, and what is
removed. (tests/test_sweep_share.py kills a real sweep and resumes it.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.config import RunConfig
from harness.results import write_result
from harness.sweep import point as point_mod
from harness.sweep import recover as rc
from harness.sweep.claims import process_record
from harness.sweep.manifest import point_id
from harness.sweep.point import META
from harness.tempfiles import host_tag, mkdtemp
from tests.test_sweep import _fake_result

CFG = RunConfig(backend="torch", strategy="eager", seed=5, epochs=1, limit=16)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _dead_record() -> dict:
    return {"host_tag": host_tag(), "pid": _dead_pid(), "pid_start": None}


def _point_dir(workdir: Path, *, owner=None, child=None, cfg=CFG, result=None, meta=True) -> Path:
    d = workdir / f"point-{len(list(workdir.iterdir())) if workdir.exists() else 0}"
    d.mkdir(parents=True)
    if meta:
        (d / META).write_text(json.dumps({"config": cfg.to_dict(), "owner": owner or _dead_record(),
                                          "child": child or _dead_record(), "where": {"executor": "local"},
                                          "cotenants": 0}))
    if result is not None:
        write_result(d, result, "run-x")
    return d


def test_dead_means_runner_and_child_gone_on_this_host():
    d = Path("/nonexistent")
    dead, me = _dead_record(), process_record(os.getpid())
    assert rc._dead({"owner": dead, "child": dead}, d)
    assert not rc._dead({"owner": dead, "child": me}, d)  # the child lives on: not dead
    assert not rc._dead({"owner": {**dead, "host_tag": "elsewhere"}, "child": dead}, d)  # cannot see: not dead
    assert rc._dead({"owner": dead}, d)  # a child never recorded died with its runner
    assert not rc._dead({"child": dead}, d)  # no owner: not of this host


def test_a_live_runner_of_another_process_keeps_its_directory():
    """Another sweep of this host, still running, whose child has ended: its directory is left alone."""
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = process_record(runner.pid)
        assert not rc._dead({"owner": live, "child": _dead_record()}, Path("/nonexistent"))
        assert not rc._dead({"owner": live}, Path("/nonexistent"))
    finally:
        runner.kill()
        runner.wait()


def test_a_pid_reused_by_another_process_is_not_the_runner_or_child_recorded():
    """A record names a process by pid and start time: a live process with that pid but another
    start time is someone else, and the recorded one is dead."""
    me = process_record(os.getpid())
    other_start = (me["pid_start"] or 0) + 1
    assert rc._dead({"owner": _dead_record(), "child": {**me, "pid_start": other_start}}, Path("/nonexistent"))
    assert not rc._dead({"owner": _dead_record(), "child": me}, Path("/nonexistent"))


def test_this_processs_own_directories_are_dead_only_when_no_longer_in_use(tmp_path):
    me = process_record(os.getpid())
    d = tmp_path / "p"
    assert rc._dead({"owner": me, "child": _dead_record()}, d)  # left by an earlier sweep of this process
    point_mod._ACTIVE.add(str(d))
    try:
        assert not rc._dead({"owner": me, "child": _dead_record()}, d)
    finally:
        point_mod._ACTIVE.discard(str(d))
    reused = {**me, "pid_start": (me["pid_start"] or 0) + 1}  # this pid, another process before us
    assert rc._dead({"owner": reused, "child": _dead_record()}, d)
    point_mod._ACTIVE.add(str(d))
    try:  # even where this process uses a directory of that name: the record is not of this process
        assert rc._dead({"owner": reused, "child": _dead_record()}, d)
    finally:
        point_mod._ACTIVE.discard(str(d))


def test_without_meta_the_directory_name_decides(tmp_path):
    live = mkdtemp(tmp_path, "point")  # named with this host and this (live) pid
    assert not rc._dead(None, live)
    gone = tmp_path / live.name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-")
    gone.mkdir()
    assert rc._dead(None, gone) and rc._dead("not a dict", gone)
    assert not rc._dead(None, tmp_path / "not-a-harness-name")


def test_a_finished_result_of_a_dead_point_is_adopted_once(tmp_path):
    work = tmp_path / "work"
    d = _point_dir(work, result=_fake_result(CFG))
    rec = rc.recover_work(work, has_result=lambda cfg: False)
    assert rec.removed == [] and rec.notes == []
    [(cfg, out)] = rec.adopted
    assert cfg == CFG and out["ok"] and out["result"]["seed"] == 5 and out["workdir"] == str(d)
    assert out["recovered"] and out["where"] == {"executor": "local"}
    assert out["cotenants_at_start"] == 0 and out["cotenants_max"] == 0 and out["seconds"] is None
    assert d.is_dir()  # left for the caller to store, then discard


def test_a_point_that_already_has_a_result_drops_the_directory(tmp_path):
    work = tmp_path / "work"
    d = _point_dir(work, result=_fake_result(CFG))
    rec = rc.recover_work(work, has_result=lambda cfg: cfg == CFG)
    assert rec.adopted == [] and rec.removed == [d] and not d.exists()
    assert rec.notes == [f"{point_id(CFG)}: already has a result; {d.name} dropped"]


def test_results_that_are_not_adopted_say_why(tmp_path):
    work = tmp_path / "work"
    other = RunConfig(backend="torch", strategy="eager", seed=6, epochs=1, limit=16)
    wrong = _point_dir(work, result=_fake_result(other))
    invalid = _point_dir(work, result={"kind": "run", "backend": 3})
    two = _point_dir(work, result=_fake_result(CFG))
    write_result(two, _fake_result(CFG), "run-y")
    rec = rc.recover_work(work, has_result=lambda cfg: False)
    assert rec.adopted == [] and sorted(rec.removed) == sorted([wrong, invalid, two])
    notes = dict(n.split(": ", 1) for n in rec.notes)
    assert notes[f"not adopted from {wrong.name}"] == "its result is not of the point it was started for"
    assert notes[f"not adopted from {invalid.name}"].startswith("its result fails the schema: ")
    assert notes[f"not adopted from {two.name}"] == "expected one result file, found 2"


def test_an_unreadable_meta_config_is_not_adopted(tmp_path):
    work = tmp_path / "work"
    d = _point_dir(work, result=_fake_result(CFG))
    meta = json.loads((d / META).read_text())
    meta["config"] = {"backend": "torch", "epochs": "many"}
    (d / META).write_text(json.dumps(meta))
    rec = rc.recover_work(work, has_result=lambda cfg: False)
    assert rec.adopted == [] and rec.removed == [d]
    assert rec.notes[0].startswith(f"not adopted from {d.name}: unreadable (")


def test_dead_directories_without_results_are_removed_live_ones_kept(tmp_path):
    work = tmp_path / "work"
    empty = _point_dir(work)
    live = _point_dir(work, owner=process_record(os.getpid()), result=_fake_result(CFG))
    point_mod._ACTIVE.add(str(live))
    try:
        rec = rc.recover_work(work, has_result=lambda cfg: False)
    finally:
        point_mod._ACTIVE.discard(str(live))
    assert rec.removed == [empty] and not empty.exists() and live.is_dir()
    assert rec.adopted == [] and rec.notes == []


def test_a_missing_or_unlisted_workdir_recovers_nothing(tmp_path):
    rec = rc.recover_work(tmp_path / "none", has_result=lambda cfg: False)
    assert (rec.adopted, rec.removed, rec.notes) == ([], [], [])
    (tmp_path / "file").write_text("x")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "stray.txt").write_text("x")  # files beside the directories are not points
    (tmp_path / "w" / "link").symlink_to(tmp_path)
    rec = rc.recover_work(tmp_path / "w", has_result=lambda cfg: False)
    assert rec.removed == [] and (tmp_path / "w" / "stray.txt").exists()


# ----------------------------------------------------------------------------- which points have results


def test_finished_points_keys_results_by_identity_with_their_threads(tmp_path):
    from harness.sweep.match import (
        UNKNOWN_THREADS,
        finished_points,
        point_key,
        result_for,
    )

    assert finished_points(tmp_path / "none") == {}
    one = RunConfig(backend="torch", strategy="eager", seed=5, epochs=1, limit=16, threads=1)
    a = write_result(tmp_path, _fake_result(one), "run-a")
    b = write_result(tmp_path, _fake_result(CFG, with_config=False), "run-b")  # threads not recorded
    write_result(tmp_path, {"kind": "parity", "checks": [{"name": "f"}]}, "parity")  # not a run
    (tmp_path / "junk.json").write_text("{")
    found = finished_points(tmp_path)
    assert found == {point_key(CFG): [(1, a), (UNKNOWN_THREADS, b)]}
    assert result_for(found, one) == a
    assert result_for(found, RunConfig(backend="torch", strategy="eager", seed=5, epochs=1, limit=16, threads=2)) == b
    assert result_for({point_key(CFG): [(1, a)]}, CFG) is None  # threads 1 recorded: not a no-threads point's
    assert result_for(found, RunConfig(backend="torch", strategy="eager", seed=6, epochs=1, limit=16)) is None
