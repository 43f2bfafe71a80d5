"""Sweeps that lose nothing: every sweep's points kept in one manifest, concurrent sweeps sharing
points through claims (each point runs once), a killed sweep's finished result adopted by the
next one, an incremental manifest, dead claims broken and live ones respected."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.sweep import manifest as manifest_mod
from harness.sweep.claims import LEASE_S, Claims, key_name, owner
from harness.sweep.driver import run_sweep
from harness.sweep.manifest import JOURNAL, SWEEP_DIR, Ledger, point_id, read_manifest
from tests.conftest import requires_torch
from tests.test_sweep import TINY, _fake_result, _grid, _leftovers

REPO = Path(__file__).resolve().parents[1]


def _executor(fail=(), pause=0.0, ran=None, lock=None):
    """Like the local executor (host slot, claims), but runs nothing: returns a fake result."""
    ran = [] if ran is None else ran

    def execute(points, *, on_start, on_finish, claim, host_slot, **_):
        for cfg in points:
            with host_slot():
                if not claim(cfg):
                    continue
                on_start(cfg)
                time.sleep(pause)
                ran.append(cfg)
                if cfg.seed in fail:
                    on_finish(cfg, {"ok": False, "reason": f"exit status 1: boom {cfg.seed}",
                                    "where": {"executor": "fake"}})
                else:
                    on_finish(cfg, {"ok": True, "result": _fake_result(cfg), "where": {"executor": "fake"},
                                    "cotenants_at_start": 0, "cotenants_max": 0, "seconds": pause})
    return execute, ran


def _states(m: dict) -> dict:
    return {p["config"]["seed"]: (p["state"], p["reason"]) for p in m["points"]}


def test_a_later_sweep_into_the_same_directory_erases_nothing(tmp_path):
    """Sweep 1 (seeds 1-2, seed 2 fails), sweep 2 (seeds 3-4), sweep 3 retries seed 2: every
    sweep's grid, every point's state and every failure reason stays in the manifest."""
    ex, _ = _executor(fail={2})
    run_sweep(_grid("1-2"), tmp_path, ex, progress_stream=io.StringIO())
    ex, _ = _executor(fail={4})
    run_sweep(_grid("3-4"), tmp_path, ex, progress_stream=io.StringIO())
    m = read_manifest(tmp_path)
    assert _states(m) == {1: ("done", None), 2: ("failed", "exit status 1: boom 2"),
                          3: ("done", None), 4: ("failed", "exit status 1: boom 4")}
    assert [s["grid"]["seeds"] for s in m["sweeps"].values()] == ["1-2", "3-4"]
    assert {s["state"] for s in m["sweeps"].values()} == {"finished"}
    ex, ran = _executor()
    run_sweep(_grid("2"), tmp_path, ex, progress_stream=io.StringIO())
    assert [c.seed for c in ran] == [2]
    m = read_manifest(tmp_path)
    p2 = next(p for p in m["points"] if p["config"]["seed"] == 2)
    assert p2["state"] == "done" and p2["attempts"] == 2 and len(p2["sweeps"]) == 2
    assert [f["reason"] for f in p2["failures"]] == ["exit status 1: boom 2"]  # the old reason is kept
    assert len(m["sweeps"]) == 3 and m["counts"] == {"pending": 0, "running": 0, "done": 3, "failed": 1}
    assert _leftovers(tmp_path) == []


def test_a_version_1_manifest_is_taken_over_not_erased(tmp_path):
    old = {"kind": "sweep-manifest", "manifest_version": 1, "created": "2026-01-01T00:00:00+00:00",
           "grid": {"seeds": "9"}, "points": [{"id": "old point", "config": {"seed": 9}, "state": "failed",
                                               "reason": "exit status 1: old", "result": None, "attempts": 1}]}
    (tmp_path / manifest_mod.MANIFEST_NAME).write_text(json.dumps(old))
    ex, _ = _executor()
    run_sweep(_grid("1"), tmp_path, ex, progress_stream=io.StringIO())
    m = read_manifest(tmp_path)
    assert _states(m) == {9: ("failed", "exit status 1: old"), 1: ("done", None)}
    assert m["sweeps"]["v1"]["grid"] == {"seeds": "9"}


def test_two_sweeps_in_threads_share_the_points(tmp_path):
    """Two identical sweeps at once (threads of one process: separate locks and claims all the
    same): each point runs once; each sweep counts the other's points as done."""
    ran: list = []
    barrier = threading.Barrier(2)
    outs = {}

    def one(name):
        ex, _ = _executor(pause=0.05, ran=ran)
        barrier.wait()
        outs[name] = run_sweep(_grid("1-6"), tmp_path, ex, progress_stream=io.StringIO())

    threads = [threading.Thread(target=one, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(c.seed for c in ran) == [1, 2, 3, 4, 5, 6]
    for o in outs.values():
        assert not o.failed and len(o.done) + len(o.elsewhere) + len(o.found) == 6
    assert len(list(tmp_path.glob("run-*.json"))) == 6
    m = read_manifest(tmp_path)
    assert {p["attempts"] for p in m["points"]} == {1} and m["counts"]["done"] == 6
    assert _leftovers(tmp_path) == []


def test_a_failure_in_another_sweep_is_shared_not_rerun(tmp_path):
    """A point that fails in sweep A while sweep B waits for it fails in B too, with A's reason."""
    ran: list = []
    a_started = threading.Event()

    def a():
        ex, _ = _executor(fail={1}, pause=1.5, ran=ran)

        def wrapped(points, **kw):
            a_started.set()
            ex(points, **kw)
        run_sweep(_grid("1"), tmp_path, wrapped, progress_stream=io.StringIO())

    t = threading.Thread(target=a)
    t.start()
    a_started.wait(30)
    time.sleep(0.5)  # A holds the claim
    ex, _ = _executor(ran=ran)
    out_b = run_sweep(_grid("1"), tmp_path, ex, progress_stream=io.StringIO())
    t.join(60)
    assert len(ran) == 1
    assert "boom 1" in out_b.failed[point_id(_grid("1").points[0])]


def test_the_manifest_is_not_rewritten_per_point(tmp_path, monkeypatch):
    """A state change is one append of a few hundred bytes to the journal; the manifest file is
    written once, when the sweep ends, whatever the number of points."""
    writes = []
    real = manifest_mod.atomic_write_text
    monkeypatch.setattr(manifest_mod, "atomic_write_text", lambda p, t: (writes.append(Path(p).name), real(p, t)))
    sizes = []

    ex, _ = _executor()

    def measuring(points, *, on_finish, **kw):
        def fin(cfg, out):
            before = (tmp_path / SWEEP_DIR / JOURNAL).stat().st_size
            on_finish(cfg, out)
            sizes.append((tmp_path / SWEEP_DIR / JOURNAL).stat().st_size - before)
        ex(points, on_finish=fin, **kw)

    run_sweep(_grid("1-20"), tmp_path, measuring, progress_stream=io.StringIO())
    assert writes.count(manifest_mod.MANIFEST_NAME) == 1
    assert len(sizes) == 20 and max(sizes) < 1000  # one 'done' record per point
    assert read_manifest(tmp_path)["counts"]["done"] == 20


def test_a_line_cut_short_in_the_journal_loses_only_itself(tmp_path):
    ledger = Ledger(tmp_path)
    with ledger.locked():
        ledger.append([{"op": "add", "id": "a", "config": {"seed": 1}, "sweep": "s"}])
    with open(tmp_path / SWEEP_DIR / JOURNAL, "ab") as f:
        f.write(b'{"op":"state","id":"a","sta')  # a writer killed mid-append
    other = Ledger(tmp_path)
    with other.locked():
        other.refresh()
        other.append([{"op": "state", "id": "a", "state": "failed", "reason": "r"}])
    assert read_manifest(tmp_path)["points"][0]["state"] == "failed"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_claims_of_dead_owners_are_broken_live_ones_respected(tmp_path):
    mine = Claims(tmp_path, owner("me"))
    dead = {**owner("gone"), "pid": _dead_pid()}
    (tmp_path / key_name("p")).write_text(json.dumps(dead))
    assert mine.acquire("p") is None and "p" in mine.held  # broken and taken
    other = Claims(tmp_path, owner("other"))  # this very process, another sweep: alive
    assert other.acquire("p")["sweep"] == "me"
    mine.release("p")
    assert other.acquire("p") is None
    # another host: alive while it refreshes the claim, dead LEASE_S after
    far = {**owner("far"), "host_tag": "00000000", "host": "elsewhere"}
    (tmp_path / key_name("q")).write_text(json.dumps(far))
    assert mine.acquire("q")["host"] == "elsewhere"
    old = time.time() - LEASE_S - 5
    os.utime(tmp_path / key_name("q"), (old, old))
    assert mine.acquire("q") is None


def test_a_pid_reused_by_another_process_is_not_the_owner(tmp_path):
    me = owner("x")
    stale = {**me, "pid_start": (me["pid_start"] or 0) + 12345}  # same pid, another start: not us
    (tmp_path / key_name("p")).write_text(json.dumps(stale))
    assert Claims(tmp_path, owner("y")).acquire("p") is None


def test_a_dead_sweeps_running_points_return_to_pending(tmp_path):
    ex, _ = _executor()
    run_sweep(_grid("1"), tmp_path, ex, progress_stream=io.StringIO())
    ledger = Ledger(tmp_path)
    with ledger.locked():
        ledger.refresh()
        ledger.append([{"op": "sweep", "sweep": "ghost", "host": "h", "pid": _dead_pid(), "state": "running"},
                       {"op": "add", "id": "ghost point", "config": {"seed": 77}, "sweep": "ghost"},
                       {"op": "state", "id": "ghost point", "state": "running", "sweep": "ghost"}])
    out = run_sweep(_grid("1"), tmp_path, ex, progress_stream=io.StringIO())
    assert any("its sweep ghost died" in n for n in out.notes)
    m = read_manifest(tmp_path)
    assert m["sweeps"]["ghost"]["state"] == "died"
    assert _states(m)[77] == ("pending", f"its sweep ghost died (host h, pid {m['sweeps']['ghost']['pid']})")


def _cli(*args):
    return [sys.executable, "-m", "harness.cli", "sweep", *(a for k, v in TINY.items() for a in (f"--{k}", v)),
            *args]


ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _final_counts(stdout: str) -> dict:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("sweep: "))
    m = re.search(r"(\d+) found, (\d+) run, (?:(\d+) run by another sweep meanwhile, )?(\d+) failed", line)
    return {"found": int(m[1]), "run": int(m[2]), "elsewhere": int(m[3] or 0), "failed": int(m[4])}


@requires_torch
def test_two_identical_sweeps_started_together_run_every_point_once(tmp_path):
    """Two real `harness sweep` processes, started at once into one directory: both exit 0 and
    report every point done; each point ran once; every result is there once."""
    args = _cli("--seeds", "1-2", "--results-dir", str(tmp_path))
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "0 failed" in out and "2 point(s)" in out
    counts = [_final_counts(out) for out, _ in outs]
    assert sum(c["run"] for c in counts) == 2  # each point ran in one sweep only
    # both report both done: run here, run by the other meanwhile (or found, if one started late)
    assert all(c["run"] + c["elsewhere"] + c["found"] == 2 and c["failed"] == 0 for c in counts)
    assert "".join(e for _, e in outs).count("done   ") == 2
    results = [json.loads(p.read_text()) for p in tmp_path.glob("run-*.json")]
    assert sorted(r["seed"] for r in results) == [1, 2]
    m = read_manifest(tmp_path)
    assert m["counts"]["done"] == 2 and {p["attempts"] for p in m["points"]} == {1}
    assert len(m["sweeps"]) == 2 and _leftovers(tmp_path) == []


def _point_meta(work: Path) -> dict | None:
    for f in work.glob("*/point.meta"):
        try:
            meta = json.loads(f.read_text())
        except ValueError:
            continue
        if meta.get("child"):
            return meta
    return None


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


@requires_torch
def test_a_sweep_killed_after_its_point_finished_is_adopted_not_rerun(tmp_path):
    """SIGKILL the driver after its child wrote a finished result but before the driver stored it
    (the driver is stopped while the child finishes, then killed). The next sweep adopts the
    result (it is not run again) and leaves no private directory, claim or live marker behind."""
    args = _cli("--seeds", "1", "--results-dir", str(tmp_path))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    work = tmp_path / SWEEP_DIR / "work"
    deadline = time.monotonic() + 300
    while _point_meta(work) is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep ended before its point started"
    os.kill(proc.pid, signal.SIGSTOP)  # the child runs on; the driver cannot store its result
    try:
        while not list(work.glob("*/run-*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        while not _gone(_point_meta(work)["child"]["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not list(tmp_path.glob("run-*.json")) and list(work.glob("*/run-*.json"))
    assert list((tmp_path / SWEEP_DIR / "claims").glob("*.claim"))  # the dead sweep's claim
    again = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert "done   " not in again.stderr  # not rerun
    assert "1 recovered from a killed sweep" in again.stdout and "recovered torch:eager" in again.stderr
    (path,) = tmp_path.glob("run-*.json")
    r = json.loads(path.read_text())
    assert r["seed"] == 1 and r["sweep"]["recovered"] and r["sweep"]["where"]["pid"] == proc.pid
    m = read_manifest(tmp_path)
    assert m["counts"] == {"pending": 0, "running": 0, "done": 1, "failed": 0}
    assert sorted(s["state"] for s in m["sweeps"].values()) == ["died", "finished"]
    assert _leftovers(tmp_path) == []


def test_a_later_sweep_of_the_same_process_adopts_a_result_that_could_not_be_stored(tmp_path, monkeypatch):
    """The results directory refuses the result (a full disk): the sweep stops with the error, the
    point's private directory stays, and the next sweep adopts it."""
    from harness.errors import ResultWriteError
    from harness.sweep import driver

    grid = _grid("1")
    d = tmp_path / SWEEP_DIR / "work"

    def ex(points, *, on_start, on_finish, claim, workdir, **_):
        from harness.sweep import point

        cfg = points[0]
        assert claim(cfg)
        on_start(cfg)
        pd = point._private_dir(workdir)
        point._ACTIVE.add(str(pd))
        (pd / point.META).write_text(json.dumps({"config": cfg.to_dict(), "owner": owner("", role="runner"),
                                                 "child": None, "where": {"executor": "fake"}}))
        r = {**_fake_result(cfg)}
        (pd / "run-x.json").write_text(json.dumps(r))
        on_finish(cfg, {"ok": True, "result": r, "where": {"executor": "fake"}, "workdir": str(pd)})

    real = driver.write_result
    monkeypatch.setattr(driver, "write_result", lambda *a, **k: (_ for _ in ()).throw(
        ResultWriteError("could not write the result (No space left on device)", None, "{}")))
    with pytest.raises(ResultWriteError):
        run_sweep(grid, tmp_path, ex, progress_stream=io.StringIO())
    assert len(list(d.iterdir())) == 1 and not list(tmp_path.glob("run-*.json"))
    assert _states(read_manifest(tmp_path))[grid.points[0].seed][0] == "failed"
    monkeypatch.setattr(driver, "write_result", real)
    nothing, ran = _executor()
    out = run_sweep(grid, tmp_path, nothing, progress_stream=io.StringIO())
    assert not ran and len(out.recovered) == 1 and len(list(tmp_path.glob("run-*.json"))) == 1
    # the manifest says the point is done, by recovery, and which file holds it
    [entry] = read_manifest(tmp_path)["points"]
    assert (entry["state"], entry["reason"]) == ("done", "recovered: finished by a sweep killed before storing it")
    assert entry["result"] == next(tmp_path.glob("run-*.json")).name
    assert _leftovers(tmp_path) == []
