"""Claims, one rule at a time: who is alive (a pid, a reused pid, a zombie, another host's lease),
what a claim file holds, taking, holding, refreshing, listing and breaking claims.
(tests/test_sweep_share.py runs sweeps that share points through them.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from harness.sweep import claims as cl
from harness.sweep.claims import (
    LEASE_S,
    Claims,
    key_name,
    owner,
    owner_alive,
    process_alive,
)
from harness.tempfiles import host_tag


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_proc_stat_of_this_process_and_of_none():
    state, start = cl._proc_stat(os.getpid())
    assert state in ("R", "S") and isinstance(start, int) and start > 0
    assert cl._proc_stat(_dead_pid()) == (None, None)


def test_a_process_record_and_an_owner_identify_this_process():
    rec = cl.process_record(os.getpid())
    assert rec == {"host_tag": host_tag(), "pid": os.getpid(), "pid_start": cl._proc_stat(os.getpid())[1]}
    me = owner("s1", executor="local")
    assert me["sweep"] == "s1" and me["pid"] == os.getpid() and me["host_tag"] == host_tag()
    assert me["pid_start"] == rec["pid_start"] and me["executor"] == "local" and me["since"]


@pytest.mark.parametrize("pid", [0, -1, None, "12", True, 1.5])
def test_no_process_behind_what_is_not_a_pid(pid):
    assert process_alive(pid) is False


def test_alive_dead_reused_and_zombie_processes():
    me, start = os.getpid(), cl._proc_stat(os.getpid())[1]
    assert process_alive(me) and process_alive(me, start) and process_alive(me, None)
    assert not process_alive(me, start + 1)  # the pid, reused by another process
    assert not process_alive(_dead_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while cl._proc_stat(zombie.pid)[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert cl._proc_stat(zombie.pid)[0] == "Z" and not process_alive(zombie.pid)
    finally:
        zombie.wait()


def test_owner_alive_on_this_host_by_process_elsewhere_by_lease():
    now = 1_000_000.0
    assert owner_alive(owner("s"), mtime=0.0, now=now)  # this process, however old the file
    assert not owner_alive({**owner("s"), "pid": _dead_pid()}, mtime=now, now=now)
    far = {**owner("s"), "host_tag": "elsewhere"}
    assert owner_alive(far, mtime=now - LEASE_S + 1, now=now)
    assert not owner_alive(far, mtime=now - LEASE_S, now=now)  # exactly the lease: expired
    assert owner_alive(None, mtime=now - 1, now=now) and not owner_alive(None, mtime=now - LEASE_S, now=now)
    assert owner_alive(None, mtime=time.time())  # now defaults to the clock
    assert not owner_alive(far, mtime=time.time() - LEASE_S - 1)


def test_key_name_is_a_hash_of_the_key():
    name = key_name("jax scan seed 1")
    assert name.endswith(".claim") and len(name) == 32 + len(".claim")
    assert name == key_name("jax scan seed 1") != key_name("jax scan seed 2")
    int(name[:32], 16)


def test_a_claim_file_records_its_owner_and_point(tmp_path):
    c = Claims(tmp_path, owner("s1"))
    assert c.acquire("p", note="x") is None
    data = json.loads((tmp_path / key_name("p")).read_text())
    assert data["sweep"] == "s1" and data["point"] == "p" and data["note"] == "x" and data["at"]
    assert c.held == {"p": tmp_path / key_name("p")}
    assert c.acquire("p") is None  # held: still ours
    assert c.holder("p") is None  # ours: not another's
    assert [p.name for p in tmp_path.iterdir()] == [key_name("p")]  # no temporaries left


def test_read_an_unreadable_claim_and_a_missing_one(tmp_path):
    c = Claims(tmp_path, owner("s1"))
    (tmp_path / key_name("p")).write_text("not json")
    who, mtime = c.read(tmp_path / key_name("p"))
    assert who is None and mtime == (tmp_path / key_name("p")).stat().st_mtime
    (tmp_path / key_name("q")).write_text("[1, 2]")
    assert c.read(tmp_path / key_name("q"))[0] is None
    with pytest.raises(FileNotFoundError):
        c.read(tmp_path / key_name("none"))


def test_a_fresh_unreadable_claim_is_respected_a_stale_one_broken(tmp_path):
    c = Claims(tmp_path, owner("s1"))
    path = tmp_path / key_name("p")
    path.write_text("garbage")
    assert c.holder("p") == {"unreadable": str(path)}
    assert c.acquire("p") == {"unreadable": str(path)}
    old = time.time() - LEASE_S - 1
    os.utime(path, (old, old))
    assert c.holder("p") is None
    assert c.acquire("p") is None and json.loads(path.read_text())["sweep"] == "s1"


def test_release_touch_live_and_break_dead(tmp_path):
    mine, other = Claims(tmp_path, owner("me")), Claims(tmp_path, owner("other"))
    assert mine.acquire("a") is None and other.acquire("b") is None
    (tmp_path / key_name("c")).write_text(json.dumps({**owner("gone"), "pid": _dead_pid()}))
    assert sorted(w["sweep"] for w in mine.live()) == ["me", "other"]
    old = time.time() - 1000
    os.utime(mine.held["a"], (old, old))
    mine.touch()
    assert time.time() - mine.held["a"].stat().st_mtime < 100
    gone = mine.break_dead()
    assert [w["sweep"] for w in gone] == ["gone"] and not (tmp_path / key_name("c")).exists()
    mine.release("a")
    assert not (tmp_path / key_name("a")).exists() and mine.held == {}
    mine.release("a")  # twice: nothing
    other.release_all()
    assert list(tmp_path.glob("*.claim")) == [] and other.held == {}


def test_a_claim_in_a_missing_directory_is_made_there(tmp_path):
    c = Claims(tmp_path / "a" / "b", owner("s"))
    assert c.live() == [] and c.break_dead() == []
    assert c.acquire("p") is None and (tmp_path / "a" / "b" / key_name("p")).is_file()


def test_heartbeat_refreshes_held_claims(tmp_path):
    c = Claims(tmp_path, owner("s"))
    c.acquire("p")
    old = time.time() - 1000
    os.utime(c.held["p"], (old, old))
    with cl.heartbeat(c, every=0.01):
        deadline = time.monotonic() + 30
        while c.held["p"].stat().st_mtime == old and time.monotonic() < deadline:
            time.sleep(0.01)
    assert c.held["p"].stat().st_mtime > old + 500


def test_host_slot_is_one_holder_at_a_time(tmp_path):
    import threading

    order = []

    def second():
        with cl.host_slot(tmp_path / "slots"):
            order.append("second")

    with cl.host_slot(tmp_path / "slots"):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(30)
    assert order == ["first done", "second"]
    assert (tmp_path / "slots" / f"slot-{host_tag()}").is_file()


def test_pid_1_is_a_process_like_any_other():
    """A sweep run as a container's first process has pid 1: its claims are alive while it runs."""
    if cl._proc_stat(1)[0] is None:
        pytest.skip("no process 1 visible here")
    assert process_alive(1) and process_alive(1, cl._proc_stat(1)[1])


def test_touch_survives_a_claim_file_removed_under_it(tmp_path):
    """Another sweep broke the claim (or the directory went): the heartbeat goes on for the rest."""
    c = Claims(tmp_path, owner("s"))
    c.acquire("gone")
    c.acquire("kept")
    c.held["gone"].unlink()
    old = time.time() - 1000
    os.utime(c.held["kept"], (old, old))
    c.touch()
    assert c.held["kept"].stat().st_mtime > old + 500 and not c.held["gone"].exists()
