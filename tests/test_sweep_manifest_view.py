"""The sweep manifest's fold, record by record: what each journal record does to a point and a sweep,
what a hand-edited snapshot or journal turns into, and the snapshot's text. (tests/test_sweep_share.py
runs whole sweeps; these pin the bookkeeping each of its verdicts rests on.)"""
from __future__ import annotations

import json
import os

import pytest

from harness.config import RunConfig
from harness.sweep import manifest as mf
from harness.sweep.manifest import Ledger, View, point_id, read_manifest, snapshot_text


def _fold(*recs) -> View:
    v = View()
    for r in recs:
        v.apply(r)
    return v


def test_point_id_is_the_label_and_declared_threads():
    cfg = RunConfig(backend="jax", strategy="scan", seed=3, epochs=2)
    assert point_id(cfg) == cfg.label()
    assert point_id(RunConfig(backend="jax", strategy="scan", seed=3, epochs=2, threads=4)) == cfg.label() + " threads 4"


def test_a_new_point_is_pending_with_nothing_recorded():
    assert mf._new_point({"seed": 1}) == {"config": {"seed": 1}, "state": "pending", "reason": None, "result": None,
                                          "attempts": 0, "sweeps": [], "failures": [], "updated": None, "by": None}


def test_sweep_records_start_and_end_a_sweep():
    v = _fold({"op": "sweep", "sweep": "s1", "grid": {"seeds": "1"}, "state": "running", "host": "h"},
              {"op": "sweep-end", "sweep": "s1", "state": "ended", "at": "T", "outcome": {"run": 1}})
    assert v.sweeps == {"s1": {"grid": {"seeds": "1"}, "state": "ended", "host": "h", "ended": "T",
                               "outcome": {"run": 1}}}
    v.apply({"op": "sweep-end", "sweep": "s2", "state": "died", "at": "U"})  # an end without a start
    assert v.sweeps["s2"] == {"state": "died", "ended": "U", "outcome": None}


def test_add_keeps_the_first_config_and_each_sweep_once():
    v = _fold({"op": "add", "id": "p", "config": {"seed": 1}, "sweep": "a"},
              {"op": "add", "id": "p", "config": {"seed": 2}, "sweep": "b"},
              {"op": "add", "id": "p", "sweep": "a"})
    e = v.points["p"]
    assert e["config"] == {"seed": 1} and e["sweeps"] == ["a", "b"] and e["state"] == "pending"
    late = _fold({"op": "add", "id": "q", "sweep": "a"}, {"op": "add", "id": "q", "config": {"seed": 5}, "sweep": "a"})
    assert late.points["q"]["config"] == {"seed": 5} and late.points["q"]["sweeps"] == ["a"]


def test_state_records_count_attempts_keep_failures_and_the_result():
    v = _fold({"op": "add", "id": "p", "config": {}, "sweep": "a"},
              {"op": "state", "id": "p", "state": "running", "sweep": "a", "host": "h", "pid": 7, "at": "1"},
              {"op": "state", "id": "p", "state": "failed", "reason": "boom", "sweep": "a", "at": "2"},
              {"op": "state", "id": "p", "state": "running", "sweep": "b", "at": "3"},
              {"op": "state", "id": "p", "state": "done", "result": "r.json", "sweep": "b", "host": "k", "pid": 9,
               "at": "4"},
              {"op": "state", "id": "p", "state": "pending", "reason": "interrupted", "at": "5"})
    e = v.points["p"]
    assert e["attempts"] == 2
    assert e["failures"] == [{"reason": "boom", "sweep": "a", "at": "2"}]
    assert e["state"] == "pending" and e["reason"] == "interrupted" and e["updated"] == "5"
    assert e["result"] == "r.json"  # a later record without a result keeps it
    assert e["by"] == {"sweep": None, "host": None, "pid": None}
    assert v.counts() == {"pending": 1, "running": 0, "done": 0, "failed": 0}


def test_by_names_who_made_the_last_change():
    v = _fold({"op": "state", "id": "p", "state": "done", "result": "r", "sweep": "b", "host": "k", "pid": 9})
    assert v.points["p"]["by"] == {"sweep": "b", "host": "k", "pid": 9} and v.points["p"]["attempts"] == 0


@pytest.mark.parametrize("rec", [
    {"op": "state", "id": "p", "state": "lost"},
    {"op": "state", "id": 3, "state": "done"},
    {"op": "state", "id": "p", "state": "failed", "reason": 5},
    {"op": "state", "id": "p", "state": "done", "result": ["r"]},
    {"op": "add", "id": None, "sweep": "a"},
    {"op": "add", "id": "p", "sweep": "a", "config": [1]},
    {"op": "add", "id": "p", "sweep": 1},
    {"op": "sweep", "sweep": 1},
    {"op": "sweep-end", "sweep": None},
])
def test_a_record_of_wrong_types_is_refused(rec):
    with pytest.raises(TypeError):
        View().apply(rec)


def test_unknown_ops_change_nothing():
    v = View()
    v.apply({"op": "journal", "id": "x"})
    v.apply({"id": "p", "state": "done"})
    assert v.points == {} and v.sweeps == {}


@pytest.mark.parametrize("value, kind, none, ok", [
    ("a", str, False, True), (None, str, True, True), (None, str, False, False), (1, str, False, False),
    (True, int, False, False), (3, int, False, True), ({}, dict, False, True),
])
def test_typed(value, kind, none, ok):
    if ok:
        assert mf._typed(value, kind, none) is value
    else:
        with pytest.raises(TypeError, match="is not a"):
            mf._typed(value, kind, none)


def test_a_hand_edited_snapshot_point_keeps_only_fields_of_their_types():
    p = {"id": "p", "config": [1], "state": "done", "reason": 3, "result": "r.json", "attempts": True,
         "sweeps": ["a", 2, None], "failures": [{"reason": "x"}, "y"], "updated": "T", "by": "me", "extra": 1}
    e = mf._clean(p)
    assert e == {"config": None, "state": "done", "reason": None, "result": "r.json", "attempts": 0,
                 "sweeps": ["a"], "failures": [{"reason": "x"}], "updated": "T", "by": None}
    assert mf._clean({"attempts": 4})["attempts"] == 4


def test_from_snapshot_version_2_and_version_1():
    snap = {"sweeps": {"s": {"grid": 1}, "bad": 3},
            "points": [{"id": "p", "state": "done", "sweeps": ["s"]}, {"id": 4}, "junk", {"state": "done"}]}
    v = View.from_snapshot(snap)
    assert list(v.points) == ["p"] and v.points["p"]["state"] == "done"
    assert v.sweeps == {"s": {"grid": 1}}
    v1 = View.from_snapshot({"grid": {"seeds": "1-2"}, "created": "T", "points": [{"id": "p", "state": "failed"}]})
    assert v1.sweeps == {"v1": {"grid": {"seeds": "1-2"}, "started": "T", "state": "ended"}}
    assert v1.points["p"]["sweeps"] == ["v1"] and v1.points["p"]["state"] == "failed"
    for nothing in ({}, [], {"points": {}}, None):
        v0 = View.from_snapshot(nothing)
        assert v0.points == {} and v0.sweeps == {}


def test_to_dict_and_its_text_read_back():
    v = _fold({"op": "sweep", "sweep": "s", "state": "running"},
              {"op": "add", "id": "p", "config": {"seed": 1}, "sweep": "s"},
              {"op": "add", "id": "q", "config": {"seed": 2}, "sweep": "s"},
              {"op": "state", "id": "q", "state": "done", "result": "q.json"})
    d = v.to_dict({"id": "j", "bytes": 10})
    assert d["kind"] == "sweep-manifest" and d["manifest_version"] == mf.MANIFEST_VERSION
    assert d["journal"] == {"id": "j", "bytes": 10} and d["counts"] == {"pending": 1, "running": 0, "done": 1,
                                                                        "failed": 0}
    assert [p["id"] for p in d["points"]] == ["p", "q"] and d["points"][1]["result"] == "q.json"
    text = snapshot_text(d)
    assert json.loads(text) == json.loads(json.dumps(d))
    assert text.count("\n") >= len(d["points"]) + 5  # one point per line, the head indented
    assert all(line.startswith('{"id":') for line in text.splitlines() if '"id":"' in line)
    # each point is one compact line (no spaces after separators: 100,000 points stay small)
    lines = text.splitlines()
    start = lines.index(' "points": [') + 1
    compact = [json.dumps(p, separators=(",", ":")) for p in d["points"]]
    assert lines[start:] == [compact[0] + ",", compact[1], "]", "}"]
    empty = snapshot_text(View().to_dict())
    assert json.loads(empty)["points"] == []


def test_parse_lines_keeps_complete_object_lines_only():
    data = b'{"a":1}\n[1,2]\nnot json\n{"b":2}\n{"c":'
    recs, used = mf._parse_lines(data)
    assert recs == [{"a": 1}, {"b": 2}] and used == data.rindex(b"\n") + 1
    assert mf._parse_lines(b"") == ([], 0) and mf._parse_lines(b'{"x":1}') == ([], 0)


def test_write_all_writes_everything_through_short_writes(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(mf.os, "write", lambda fd, b: real(fd, bytes(b[:3])))
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        mf.write_all(fd, b"0123456789")
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"0123456789"


def test_a_ledger_folds_what_another_appended_and_a_compacted_journal(tmp_path):
    a, b = Ledger(tmp_path), Ledger(tmp_path)
    with a.locked():
        a.append([{"op": "add", "id": "p", "config": {"seed": 1}, "sweep": "s"}])
    with b.locked():
        assert b.refresh().points["p"]["config"] == {"seed": 1}
        b.append([{"op": "state", "id": "p", "state": "running", "sweep": "s"}])
    with a.locked():
        assert a.refresh().points["p"]["state"] == "running"
        a.compact(rotate=True)  # snapshot written, a new journal begun
    assert json.loads((tmp_path / mf.MANIFEST_NAME).read_text())["points"][0]["attempts"] == 1
    with b.locked():
        b.append([{"op": "state", "id": "p", "state": "done", "result": "r", "sweep": "s"}])
    m = read_manifest(tmp_path)
    assert m["points"][0]["state"] == "done" and m["points"][0]["attempts"] == 1  # nothing folded twice
    assert m["counts"]["done"] == 1


def test_a_snapshot_and_its_journal_are_not_folded_twice(tmp_path):
    led = Ledger(tmp_path)
    with led.locked():
        led.append([{"op": "state", "id": "p", "state": "running"}])
        led.compact(rotate=False)  # the snapshot holds the journal so far
        led.append([{"op": "state", "id": "p", "state": "running"}])
    assert read_manifest(tmp_path)["points"][0]["attempts"] == 2
    assert Ledger(tmp_path).load().points["p"]["attempts"] == 2


def test_no_manifest_reads_as_none(tmp_path):
    assert read_manifest(tmp_path) is None


def test_counts_add_up_per_state_and_keep_a_hand_edited_one():
    v = _fold(*({"op": "state", "id": f"p{i}", "state": "done", "result": "r"} for i in range(3)),
              {"op": "state", "id": "q", "state": "failed"})
    assert v.counts() == {"pending": 0, "running": 0, "done": 3, "failed": 1}
    odd = View.from_snapshot({"sweeps": {}, "points": [{"id": "x", "state": "paused"}, {"id": "y", "state": "paused"}]})
    assert odd.counts() == {"pending": 0, "running": 0, "done": 0, "failed": 0, "paused": 2}


def test_to_dict_names_every_part():
    v = _fold({"op": "sweep", "sweep": "s", "state": "running"})
    d = v.to_dict()
    assert set(d) == {"kind", "manifest_version", "updated", "journal", "counts", "sweeps", "points"}
    assert d["sweeps"] == {"s": {"state": "running"}} and d["journal"] is None and d["updated"]
