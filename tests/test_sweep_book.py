"""One sweep's bookkeeping (harness.sweep.book) driven directly, two Books in one directory standing
for two sweeps: claiming a point another runs, one another finished or failed meanwhile, waiting for
a busy point, finding results on disk, and closing (interrupted points pending, claims dropped)."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from harness.config import RunConfig
from harness.results import write_result
from harness.sweep import book as book_mod
from harness.sweep.book import Book, holder_text
from harness.sweep.manifest import point_id, read_manifest
from tests.test_sweep import _fake_result

A = RunConfig(backend="torch", strategy="eager", seed=1, epochs=1, limit=16)
B = RunConfig(backend="torch", strategy="eager", seed=2, epochs=1, limit=16)


@pytest.fixture
def two(tmp_path):
    first, second = Book(tmp_path), Book(tmp_path)
    first.open([A, B], {"seeds": "1-2"})
    second.open([A, B], {"seeds": "1-2"})
    yield first, second
    first.close("ended")
    second.close("ended")


def test_holder_text_names_sweep_host_and_pid():
    assert holder_text({"sweep": "s", "host": "h", "pid": 3}) == "sweep s on h (pid 3)"
    assert holder_text({}) == "sweep None on None (pid None)"
    assert book_mod._who({"by": {"sweep": "s", "host": "h", "pid": 3}}) == "sweep s on h (pid 3)"
    assert book_mod._who({"by": None}) == "sweep None on None (pid None)"


def test_a_point_another_sweep_runs_is_busy_then_done(two, tmp_path):
    first, second = two
    assert first.claim(A) == ("mine", None)
    state, who = second.claim(A)
    assert state == "busy" and who == holder_text(first.who)
    name = write_result(tmp_path, _fake_result(A), "run-a").name
    first.finish(A, "done", result=name)
    assert second.claim(A) == ("done", f"{name}, by {holder_text(first.who)}")
    m = read_manifest(tmp_path)
    e = next(p for p in m["points"] if p["id"] == point_id(A))
    assert e["state"] == "done" and e["result"] == name and e["attempts"] == 1


def test_a_done_point_whose_result_is_not_usable_is_run_again(two, tmp_path):
    first, second = two
    first.claim(A)
    first.finish(A, "done", result="missing.json")
    assert second.claim(A) == ("mine", None)
    second.finish(A, "done", result="../elsewhere.json")
    assert first._result_ok("../elsewhere.json", A) is False
    other = write_result(tmp_path, _fake_result(B), "run-b").name  # another point's result
    assert first._result_ok(other, A) is False and first._result_ok(other, B) is True
    assert first._result_ok(None, A) is False
    three = RunConfig(backend="torch", strategy="eager", seed=2, epochs=1, limit=16, threads=3)
    assert first._result_ok(other, three) is True  # a result declaring no threads serves any count
    one = write_result(tmp_path, _fake_result(replace(three, threads=1)), "run-b1").name
    assert first._result_ok(one, three) is False  # one thread recorded: not a three-thread point's


def test_a_failure_in_another_sweep_is_reported_not_rerun_but_ones_own_is_retried(two):
    first, second = two
    first.claim(B)
    first.finish(B, "failed", reason="boom")
    assert second.claim(B) == ("failed", f"failed in {holder_text(first.who)}: boom")
    assert first.claim(B) == ("mine", None)  # its own failure: tried again


def test_a_failure_recorded_before_this_sweep_started_is_retried(tmp_path):
    old = Book(tmp_path)
    old.open([A], {})
    old.claim(A)
    old.finish(A, "failed", reason="earlier")
    old.close("ended")
    new = Book(tmp_path)
    new.open([A], {})
    try:
        assert new.claim(A) == ("mine", None)
    finally:
        new.close("ended")


def test_found_results_are_recorded_once(two, tmp_path):
    first, _ = two
    first.found([(A, "a.json")])
    first.found([(A, "a.json")])
    m = read_manifest(tmp_path)
    e = next(p for p in m["points"] if p["id"] == point_id(A))
    assert e["state"] == "done" and e["result"] == "a.json"
    assert e["reason"] == "found its result in the results directory"
    journal = (tmp_path / ".sweep" / "journal.jsonl").read_text()
    assert journal.count('"result":"a.json"') == 1
    first.found([(A, "b.json")])  # another file: recorded
    assert next(p for p in read_manifest(tmp_path)["points"] if p["id"] == point_id(A))["result"] == "b.json"


def test_wait_for_any_returns_when_a_busy_point_is_let_go(two, monkeypatch):
    monkeypatch.setattr(book_mod, "POLL_S", 0.01)
    first, second = two
    first.claim(A)
    t0 = time.monotonic()
    assert second.wait_for_any([A], stop_after=0.2) == [A]  # still busy: gives up after stop_after
    assert time.monotonic() - t0 >= 0.2
    threading.Timer(0.2, lambda: first.finish(A, "done", result="x")).start()
    t0 = time.monotonic()
    assert second.wait_for_any([A, B]) == [A, B]
    assert time.monotonic() - t0 < 20


def test_close_makes_claimed_points_pending_and_records_the_end(tmp_path):
    b = Book(tmp_path)
    b.open([A, B], {"seeds": "1-2"})
    b.claim(A)
    b.close("interrupted", {"run": 0})
    b.close("ended")  # a second close changes nothing
    m = read_manifest(tmp_path)
    e = next(p for p in m["points"] if p["id"] == point_id(A))
    assert (e["state"], e["reason"]) == ("pending", "interrupted")
    s = m["sweeps"][b.id]
    assert s["state"] == "interrupted" and s["outcome"] == {"run": 0} and s["grid"] == {"seeds": "1-2"}
    assert s["points"] == 2 and s["executor"] == "local"
    assert list((tmp_path / ".sweep" / "claims").glob("*.claim")) == []
    assert list((tmp_path / ".sweep" / "live").glob("*.claim")) == []
    assert (tmp_path / "sweep-manifest.json").is_file()  # the journal folded into the manifest


def test_open_registers_each_point_once_with_its_config(tmp_path):
    b = Book(tmp_path)
    b.open([A, B], {})
    c = Book(tmp_path)
    c.open([A], {})
    try:
        m = read_manifest(tmp_path)
        e = next(p for p in m["points"] if p["id"] == point_id(A))
        assert e["config"] == A.to_dict() and sorted(e["sweeps"]) == sorted([b.id, c.id])
        assert len(m["points"]) == 2
    finally:
        c.close("ended")
        b.close("ended")


def test_a_manifest_result_outside_the_directory_or_failing_the_schema_is_not_the_points(tmp_path):
    b = Book(tmp_path)
    try:
        write_result(tmp_path / "sub", _fake_result(A), "run-a")
        inside = next((tmp_path / "sub").glob("*.json")).name
        assert b._result_ok(f"sub/{inside}", A) is False  # a path, not a name in the directory
        bad = {**_fake_result(A), "epochs": []}  # the schema wants at least one epoch
        name = write_result(tmp_path, bad, "run-bad").name
        assert b._result_ok(name, A) is False
        good = write_result(tmp_path, _fake_result(A), "run-good").name
        assert b._result_ok(good, A) is True
    finally:
        b.close("ended")


def test_an_open_sweep_holds_its_own_claim_in_live_and_drops_it_on_close(tmp_path):
    """The documented layout (docs/sweep.md): `.sweep/live/` holds one claim per live sweep, named by
    its id, with its owner record; another sweep reads it there to tell a live sweep from a dead one."""
    from harness.sweep.claims import key_name

    b = Book(tmp_path)
    b.open([A], {})
    try:
        [claim] = (tmp_path / ".sweep" / "live").glob("*.claim")
        assert claim.name == key_name(b.id)
        other = Book(tmp_path)
        assert other.live.holder(b.id)["sweep"] == b.id  # seen as live by another sweep
    finally:
        b.close("ended")
    assert list((tmp_path / ".sweep" / "live").glob("*.claim")) == []


def test_a_point_this_sweep_did_not_register_counts_every_failure_as_new(two, tmp_path):
    """A point outside this sweep's grid (claimed directly) that another sweep failed: "failed" (no
    failure was recorded when this sweep started, so every one is since)."""
    first, _ = two
    c = RunConfig(backend="torch", strategy="eager", seed=3, epochs=1, limit=16)
    other = Book(tmp_path)
    other.open([c], {})
    try:
        other.claim(c)
        other.finish(c, "failed", reason="boom")
        assert first.claim(c) == ("failed", f"failed in {holder_text(other.who)}: boom")
    finally:
        other.close("ended")
