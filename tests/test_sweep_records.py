"""What a sweep builds and records, pinned where the seed-2 mutation sample found it loose: a grid's
`base` (its own recipe under --set's knob lists, its backend, its scalar fields, and the lists over
them), the journal position read_manifest reports, and a point's private directory cleaned up
without turning the point's outcome into an exception. The child is a line of Python (no training)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import RunConfig
from harness.sweep import point
from harness.sweep.grid import expand
from harness.sweep.manifest import Ledger, read_manifest

# ----------------------------------------------------------------- a grid's base under its lists


def test_the_bases_own_recipe_lies_under_the_knob_lists():
    pts = expand({"set": ["activation=relu,tanh"], "seeds": [1, 2]},
                 base={"recipe": {"targets": 0.8}, "window": 7, "dataset": "synthetic"})
    assert [(p.recipe, p.seed) for p in pts] == [
        ((("targets", 0.8), ("activation", "relu")), 1), ((("targets", 0.8), ("activation", "relu")), 2),
        ((("targets", 0.8),), 1), ((("targets", 0.8),), 2)]  # tanh: the variant's own value, not a knob set
    assert {(p.window, p.dataset, p.backend) for p in pts} == {(7, "synthetic", "torch")}


def test_a_knob_list_overrides_the_same_knob_of_the_bases_recipe():
    pts = expand({"set": ["targets=0.6,0.7"]}, base={"recipe": {"targets": 0.8, "activation": "relu"}})
    assert [dict(p.recipe) for p in pts] == [{"targets": 0.6, "activation": "relu"},
                                             {"targets": 0.7, "activation": "relu"}]


def test_lists_override_the_bases_fields_and_its_backend_is_the_default():
    pts = expand({"seeds": [3], "dtypes": ["float64"]}, base={"seed": 9, "dtype": "float32", "backend": "jax"},
                 strategies_of={"jax": ("scan", "loop"), "torch": ("eager",)})
    assert [(p.backend, p.strategy, p.seed, p.dtype) for p in pts] == [("jax", "scan", 3, "float64")]
    # backends listed: each its own default strategy, the base's other fields kept
    pts = expand({"backends": ["torch", "jax"]}, base={"epochs": 2}, strategies_of={"jax": ("scan",),
                                                                                     "torch": ("eager",)})
    assert [(p.backend, p.strategy, p.epochs) for p in pts] == [("torch", "eager", 2), ("jax", "scan", 2)]


# ----------------------------------------------------------------- read_manifest's journal position


def test_read_manifest_names_the_journal_and_how_much_of_it_it_folded(tmp_path):
    led = Ledger(tmp_path)
    with led.locked():
        led.append([{"op": "add", "id": "p", "config": {"seed": 1}, "sweep": "s"}])
        led.append([{"op": "state", "id": "p", "state": "running", "sweep": "s"}])
    journal = tmp_path / ".sweep" / "journal.jsonl"
    jid = json.loads(journal.read_text().splitlines()[0])["id"]
    m = read_manifest(tmp_path)
    assert m["journal"] == {"id": jid, "bytes": journal.stat().st_size}
    with led.locked():
        led.compact(rotate=False)  # the snapshot names the same position
    assert json.loads((tmp_path / "sweep-manifest.json").read_text())["journal"] == m["journal"]
    journal.write_bytes(journal.read_bytes() + b'{"op": "state", "id": "p", "state": "done"')  # half a line
    assert read_manifest(tmp_path)["journal"] == m["journal"]  # only complete lines are folded


# ----------------------------------------------------------------- a point's private directory


def test_a_private_directory_gone_before_cleanup_leaves_the_points_outcome(monkeypatch, tmp_path):
    """Another process (a stale-leftover sweep of a dead runner's host, an operator) may remove the
    private directory while the child runs: the point then fails with a reason, never an exception."""
    gone = "import shutil, sys; shutil.rmtree(sys.argv[1])"
    monkeypatch.setattr(point, "command", lambda cfg, tmp, save_params=False: [sys.executable, "-c", gone, tmp])
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w")
    assert out["ok"] is False and out["reason"] == "expected one result file, found 0"
    assert list((tmp_path / "w").iterdir()) == []
    kept = {"workdir": str(tmp_path / "w" / "never-there")}
    point.discard(kept)  # removing a kept directory that is gone already is no error either
    assert not point.active(tmp_path / "w" / "never-there")


def test_a_finished_points_private_directory_is_removed_unless_kept(monkeypatch, tmp_path):
    child = "import json, os, sys; json.dump({}, open(os.path.join(sys.argv[1], 'r.json'), 'w'))"
    monkeypatch.setattr(point, "command", lambda cfg, tmp, save_params=False: [sys.executable, "-c", child, tmp])
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w")
    assert out["ok"] and "workdir" not in out and list((tmp_path / "w").iterdir()) == []
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w", keep=True)
    assert [str(p) for p in (tmp_path / "w").iterdir()] == [out["workdir"]]
    shutil.rmtree(out["workdir"])
    point.discard(out)


def test_a_snapshot_without_its_journal_is_kept_by_the_next_writer(tmp_path):
    """A results directory copied without its `.sweep/` (only sweep-manifest.json): the next sweep's
    ledger starts from the snapshot, so its points survive the next compaction."""
    led = Ledger(tmp_path)
    with led.locked():
        led.append([{"op": "add", "id": "old", "config": {"seed": 1}, "sweep": "s"}])
        led.compact(rotate=False)
    (tmp_path / ".sweep" / "journal.jsonl").unlink()
    fresh = Ledger(tmp_path)
    with fresh.locked():
        assert list(fresh.refresh().points) == ["old"]
        fresh.append([{"op": "add", "id": "new", "config": {"seed": 2}, "sweep": "t"}])
        fresh.compact(rotate=True)
    assert [p["id"] for p in read_manifest(tmp_path)["points"]] == ["old", "new"]


# ----------------------------------------------------------------- a point's command, record and meta


def test_a_points_command_is_harness_run_into_its_private_directory():
    cfg = RunConfig(dataset="synthetic", seed=4)
    assert point.command(cfg, "/p") == [sys.executable, "-m", "harness.cli", "run", *cfg.to_args(), "-q",
                                        "--results-dir", "/p"]
    assert point.command(cfg, "/p", save_params=True)[-1] == "--save-params"


CHATTY = """
import json, os, sys
print("x" * 2500 + "END")
json.dump({"r": 1}, open(os.path.join(sys.argv[1], "r.json"), "w"))
open(os.path.join(sys.argv[1], "r.npz"), "wb").write(b"params")
"""


def test_a_finished_points_record_and_its_meta_are_whole(monkeypatch, tmp_path):
    monkeypatch.setattr(point, "command", lambda cfg, tmp, save_params=False: [sys.executable, "-c", CHATTY, tmp])
    clock = iter([100.0, 102.5])  # a scripted clock: the record's seconds are end - start, not a measured time
    monkeypatch.setattr(point, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    cfg = RunConfig(dataset="synthetic")
    out = point.run_point(cfg.to_dict(), cotenants=2, where={"node": "n"}, workdir=tmp_path / "w", keep=True)
    assert set(out) == {"ok", "where", "cotenants_at_start", "seconds", "stdout_tail", "result", "result_name",
                        "npz", "workdir"}
    assert out["ok"] is True and out["cotenants_at_start"] == 2 and out["seconds"] == 2.5
    assert out["stdout_tail"] == ("x" * 2500 + "END\n")[-2000:]
    assert (out["result"], out["result_name"], out["npz"]) == ({"r": 1}, "r.json", b"params")
    meta = json.loads((tmp_path / "w" / out["workdir"].rsplit("/", 1)[1] / point.META).read_text())
    assert set(meta) == {"config", "owner", "where", "cotenants", "child", "started"}
    assert meta["config"] == cfg.to_dict() and meta["where"] == out["where"] and meta["cotenants"] == 2
    assert meta["owner"]["role"] == "point runner" and meta["owner"]["sweep"] == ""
    assert set(meta["child"]) == {"host_tag", "pid", "pid_start"} and meta["child"]["pid"] != meta["owner"]["pid"]
    point.discard(out)


def test_a_failed_points_record_says_why_and_keeps_nothing(monkeypatch, tmp_path):
    fail = "import sys; print('harness: error: no such thing', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(point, "command", lambda cfg, tmp, save_params=False: [sys.executable, "-c", fail, tmp])
    out = point.run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w", keep=True)
    assert out["ok"] is False and out["reason"] == "exit status 2: harness: error: no such thing"
    assert "workdir" not in out and list((tmp_path / "w").iterdir()) == []


# ----------------------------------------------------------------- the ledger's own refusals, whole


def test_a_manifest_that_cannot_be_kept_is_one_whole_line(tmp_path):
    from harness.sweep.manifest import SweepStorageError

    (tmp_path / "r").write_text("a file where the results directory goes")
    led = Ledger(tmp_path / "r")
    with pytest.raises(SweepStorageError) as e, led.locked():
        pass
    assert str(e.value) == (f"cannot keep the sweep manifest in {tmp_path / 'r'} (lock: Not a directory); finished "
                            "results are on disk, run the sweep again to resume")


def test_something_in_the_ledgers_way_is_named_whole(tmp_path):
    from harness.sweep.manifest import SweepLayoutError

    (tmp_path / "sweep-manifest.json").mkdir()
    with pytest.raises(SweepLayoutError) as e:
        Ledger(tmp_path).check_layout()
    assert str(e.value) == (f"{tmp_path / 'sweep-manifest.json'} is in the way: the sweep keeps a regular file "
                            "there; move it away")
    (tmp_path / "sweep-manifest.json").rmdir()
    (tmp_path / ".sweep").write_text("")
    with pytest.raises(SweepLayoutError) as e:
        Ledger(tmp_path).check_layout()
    assert str(e.value) == f"{tmp_path / '.sweep'} is in the way: the sweep keeps a directory there; move it away"


# ----------------------------------------------------------------- a sweep's end, in the manifest


def test_the_manifest_records_each_sweeps_outcome_counts(tmp_path):
    import io

    from harness.sweep.driver import run_sweep
    from tests.test_sweep import _fake_executor, _grid

    ex, _calls = _fake_executor(fail={2})
    out = run_sweep(_grid(), tmp_path, ex, progress_stream=io.StringIO())
    [sweep] = read_manifest(tmp_path)["sweeps"].values()
    assert sweep["state"] == "finished" and sweep["outcome"] == out.counts() == {
        "found": 0, "run": 2, "elsewhere": 0, "recovered": 0, "failed": 1}


# ----------------------------------------------------------------- max_points at its boundary, every count


def test_every_count_of_points_is_refused_just_past_max_points_and_not_at_it():
    from harness.sweep.grid import GridError, parse_ints

    assert parse_ints("1-5", max_points=5) == [1, 2, 3, 4, 5]
    assert parse_ints("9,1-4", max_points=5) == [9, 1, 2, 3, 4]
    for text in ("1-6", "9,1-5", "1-4,7-8"):
        with pytest.raises(GridError, match=r"has 6 points, more than the 5 a sweep may have"):
            parse_ints(text, max_points=5)
    assert len(expand({"seeds": "1-2", "dtypes": "float32,float64"}, max_points=4)) == 4
    with pytest.raises(GridError):
        expand({"seeds": "1-3", "dtypes": "float32,float64"}, max_points=5)


# ----------------------------------------------------------------- Ray: a node without CPUs declared


def test_a_node_that_declares_no_cpus_counts_as_none():
    from harness.sweep.ray_exec import node_cpus
    from tests.test_sweep_ray_units import _FakeRay

    fake = _FakeRay([{"Alive": True, "Resources": {"GPU": 1.0}}, {"Alive": True, "Resources": {"CPU": 4.0}},
                     {"Alive": True}])
    assert node_cpus(fake, {}) == 4.0
    assert node_cpus(fake, {"GPU": 1.0}) == 0.0  # the only GPU node declares no CPU


# ----------------------------------------------------------------- a dry run's list of points


def test_the_list_of_points_says_found_or_pending_and_each_points_resources(capsys):
    from harness.sweep.manifest import point_id
    from harness.sweep.progress import echo_points

    a, b, c = expand({"seeds": "1-3"}, base={"dataset": "synthetic"})
    echo_points([a, b, c], {point_id(b)}, {a: {"h100": 1.0}, b: {"h100": 2.0}})
    assert capsys.readouterr().out.splitlines() == [
        f"pending {point_id(a)} resources {{'h100': 1.0}}", f"found   {point_id(b)} resources {{'h100': 2.0}}",
        f"pending {point_id(c)}"]


# ----------------------------------------------------------------- exit statuses at their boundaries


def test_exit_reasons_at_each_boundary():
    assert point.exit_reason(0) == "exit status 0"
    assert point.exit_reason(-15) == "killed by SIGTERM (signal 15)"
    assert point.exit_reason(-200) == "killed by signal (signal 200)"  # no such signal
    assert point.exit_reason(128) == "exit status 128"
    assert point.exit_reason(129) == "exit status 129 (128 + SIGHUP: stopped by signal 1)"
    assert point.exit_reason(255) == "exit status 255"  # 128 + 127: no such signal


# ----------------------------------------------------------------- Ray: what an infeasible point is told


def test_an_infeasible_point_is_told_what_each_node_offers_without_ray_bookkeeping():
    from harness.sweep.ray_exec import infeasible

    nodes = [{"CPU": 4.0, "memory": 8e9, "object_store_memory": 2e9, "node:10.0.0.1": 1.0, "GPU": 1.0},
             {"CPU": 2.0, "object_store_memory": 1e9}]
    assert infeasible(nodes, {"num_cpus": 8, "num_gpus": 0, "resources": {}}) == (
        "no node of the Ray cluster can hold this point: it needs CPU 8 on one node; the 2 node(s) offer: "
        "CPU 4, GPU 1; CPU 2")


def test_a_points_meta_names_its_own_child_and_its_directory_is_active_only_while_in_use(monkeypatch, tmp_path):
    """The meta's child record is that child (recovery checks and stops it by it), and the process
    lets go of the private directory of every point it ends: kept until discarded, else at once."""
    child = ("import json, os, sys; print(os.getpid())\n"
             "json.dump({'r': 1}, open(os.path.join(sys.argv[1], 'r.json'), 'w'))\n"
             "sys.exit(int(os.environ.get('EXIT_WITH', '0')))")
    monkeypatch.setattr(point, "command", lambda cfg, tmp, save_params=False: [sys.executable, "-c", child, tmp])
    cfg = RunConfig(dataset="synthetic").to_dict()
    mine = lambda: sorted(a for a in point._ACTIVE if a.startswith(str(tmp_path)))
    out = point.run_point(cfg, workdir=tmp_path / "w", keep=True)
    meta = json.loads((Path(out["workdir"]) / point.META).read_text())
    assert meta["child"]["pid"] == int(out["stdout_tail"].split()[0])
    assert mine() == [out["workdir"]] and point.active(Path(out["workdir"]))
    point.discard(out)
    assert mine() == [] and not Path(out["workdir"]).exists()
    for keep, exit_with in ((False, "0"), (True, "3"), (False, "3")):  # not kept: finished, or failed
        out = point.run_point(cfg, workdir=tmp_path / "w", keep=keep, env={"EXIT_WITH": exit_with})
        assert out["ok"] is (exit_with == "0") and "workdir" not in out
        assert mine() == [] and list((tmp_path / "w").iterdir()) == []


def test_a_sweep_records_each_point_finished_failed_or_held_elsewhere_under_its_own_id(tmp_path):
    """What the book answers for each point claimed (another sweep finished it, failed it, holds it
    now; or it is ours) lands in the outcome under that point's id, and is said once per point."""
    from harness.sweep.driver import SweepOutcome, _Run
    from harness.sweep.manifest import point_id

    cfgs = [RunConfig(dataset="synthetic", seed=s) for s in (1, 2, 3, 4, 5)]
    answers = dict(zip(map(point_id, cfgs), [("done", "a.json, by sweep X"), ("done", "b.json, by sweep Y"),
                                             ("failed", "failed in sweep Z: boom"), ("busy", "sweep W on h"),
                                             ("mine", None)]))
    said = []
    book = SimpleNamespace(claim=lambda cfg: answers[point_id(cfg)])
    progress = SimpleNamespace(elsewhere=lambda cfg, info, failed=False: said.append((point_id(cfg), info, failed)))
    outcome = SweepOutcome()
    run = _Run(book, tmp_path, outcome, progress)
    assert [run.claim(c) for c in cfgs] == [False, False, False, False, True]
    ids = [point_id(c) for c in cfgs]
    assert outcome.elsewhere == {ids[0]: "a.json, by sweep X", ids[1]: "b.json, by sweep Y"}
    assert outcome.failed == {ids[2]: "failed in sweep Z: boom"}
    assert run.busy == [cfgs[3]] and run.holders == {"sweep W on h"}
    assert said == [(ids[0], "done meanwhile: a.json, by sweep X", False),
                    (ids[1], "done meanwhile: b.json, by sweep Y", False), (ids[2], "failed in sweep Z: boom", True)]
    assert outcome.counts() == {"found": 0, "run": 0, "elsewhere": 2, "recovered": 0, "failed": 1}
