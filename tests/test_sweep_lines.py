"""harness.sweep's refusals and small rules word for word: the layout refusal for every path the
sweep keeps (a wrong kind or a symbolic link at each), the manifest's unreadable / foreign refusals,
the journal opened without waiting on a FIFO, how strategies pair with backends, a point's
environment and private directory, and recovery's bound on a point's meta file."""
from __future__ import annotations

import json
import os
import threading

import pytest

from harness.config import RunConfig
from harness.sweep import point as point_mod
from harness.sweep import recover as rc
from harness.sweep.grid import GridError, _pairs
from harness.sweep.manifest import (
    JOURNAL,
    LOCK,
    MANIFEST_NAME,
    SWEEP_DIR,
    Ledger,
    SweepLayoutError,
    read_manifest,
)
from harness.sweep.point import META
from tests.test_sweep_recover import _dead_record

# -- the layout: each path the sweep keeps, and what it must be ----------------------------------------

PATHS = [(MANIFEST_NAME, False), (SWEEP_DIR, True), (f"{SWEEP_DIR}/{JOURNAL}", False), (f"{SWEEP_DIR}/{LOCK}", False),
         (f"{SWEEP_DIR}/claims", True), (f"{SWEEP_DIR}/live", True), (f"{SWEEP_DIR}/work", True)]


@pytest.mark.parametrize("rel, want_dir", PATHS)
@pytest.mark.parametrize("how", ["wrong kind", "symlink"])
def test_each_path_of_the_layout_refuses_what_does_not_belong(tmp_path, rel, want_dir, how):
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if how == "symlink":  # a link to the right kind is refused too: the sweep would write through it
        target = tmp_path / "elsewhere"
        target.mkdir() if want_dir else target.write_text("{}")
        p.symlink_to(target)
    elif want_dir:
        p.write_text("x")
    else:
        p.mkdir()
    with pytest.raises(SweepLayoutError) as e:
        Ledger(tmp_path).check_layout()
    what = "a directory" if want_dir else "a regular file"
    assert str(e.value) == f"{p} is in the way: the sweep keeps {what} there; move it away"


def test_the_right_kinds_at_every_path_pass(tmp_path):
    for rel, want_dir in PATHS:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.mkdir(exist_ok=True) if want_dir else p.write_text("")
    Ledger(tmp_path).check_layout()  # no refusal
    Ledger(tmp_path / "fresh").check_layout()  # nothing there yet: nothing in the way


# -- the manifest: unreadable or foreign ------------------------------------------------------------------

@pytest.mark.parametrize("text, why", [
    ("{", "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("", "(Expecting value: line 1 column 1 (char 0))"),
])
def test_an_unreadable_manifest_is_refused_whole_by_a_sweep_and_read_as_empty_otherwise(tmp_path, text, why):
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(SweepLayoutError) as e:
        Ledger(tmp_path, strict=True).load()
    assert str(e.value) == f"{tmp_path / MANIFEST_NAME} is not a readable sweep manifest {why}; " \
                           "move it away (nothing was run)"
    assert Ledger(tmp_path).load().to_dict(None)["sweeps"] == {}  # a reader: nothing recorded


@pytest.mark.parametrize("text", ["[]", '{"kind": "something else"}', "3"])
def test_a_foreign_json_manifest_is_refused_whole_by_a_sweep(tmp_path, text):
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(SweepLayoutError) as e:
        Ledger(tmp_path, strict=True).load()
    assert str(e.value) == f"{tmp_path / MANIFEST_NAME} is not a sweep manifest; move it away (nothing was run)"


def test_a_fifo_journal_beside_a_real_manifest_is_refused_without_waiting(tmp_path):
    """read_manifest opens the journal once the manifest exists: non-blocking, so a FIFO there is
    refused at once instead of waiting for a writer that never comes."""
    (tmp_path / MANIFEST_NAME).write_text("{}")
    (tmp_path / SWEEP_DIR).mkdir()
    journal = tmp_path / SWEEP_DIR / JOURNAL
    os.mkfifo(journal)
    out = []

    def read():
        try:
            read_manifest(tmp_path)
        except SweepLayoutError as e:
            out.append(str(e))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    hung = t.is_alive()
    if hung:  # let the blocked open go (a writer comes and goes), so that no thread is left behind
        os.close(os.open(journal, os.O_WRONLY | os.O_NONBLOCK))
        t.join(10)
    assert not hung, "the journal's open waited for a writer on a FIFO"
    assert out == [f"{journal} is in the way: the sweep keeps a regular file there; move it away"]


# -- strategies paired with backends ----------------------------------------------------------------------

STRATS = {"torch": ("eager", "compiled", "fused"), "jax": ("step", "scan")}


@pytest.mark.parametrize("backends, strategies, pairs", [
    (["torch"], ["jax:step", "torch:compiled", "eager"], [("torch", "compiled"), ("torch", "eager")]),
    (["torch", "jax"], ["jax:scan", "step", "tf:x", "eager"], [("jax", "scan"), ("jax", "step"), ("torch", "eager")]),
    ([None], ["jax:step", "torch:eager"], [("jax", "step"), ("torch", "eager")]),
    (["torch", "jax"], [None], [("torch", None), ("jax", None)]),
    (["torch", "jax"], ["scan"], [("jax", "scan")]),
    # only the first colon pins: the rest is the strategy's name, refused by name later (exit 2, one line)
    (["torch"], ["torch:a:b"], [("torch", "a:b")]),
])
def test_pinned_strategies_of_unselected_backends_are_skipped_and_the_rest_still_paired(backends, strategies, pairs):
    assert _pairs(backends, strategies, STRATS) == pairs


def test_without_known_strategies_a_plain_name_goes_with_every_backend():
    assert _pairs(["torch", "jax"], ["x"], None) == [("torch", "x"), ("jax", "x")]
    assert _pairs(["mine"], ["x"], STRATS) == [("mine", "x")]  # a backend not in the table: taken at its word


def test_a_plain_strategy_without_backends_is_refused_whole():
    with pytest.raises(GridError) as e:
        _pairs([None], ["torch:eager", "eager"], STRATS)
    assert str(e.value) == "strategy 'eager' needs a backend: write backend:eager or give --backends"


# -- a point's environment and private directory ---------------------------------------------------------

def test_a_points_env_keeps_an_explicit_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # e.g. Ray's, the task's CPUs
    monkeypatch.setenv("HARNESS_COTENANTS", "9")
    cfg = RunConfig(dataset="synthetic")
    env = point_mod._child_env(cfg, {"OMP_NUM_THREADS": "3", "X": "y"}, None)
    assert env["OMP_NUM_THREADS"] == "3" and env["X"] == "y" and "HARNESS_COTENANTS" not in env
    env = point_mod._child_env(cfg, None, 0)
    assert "OMP_NUM_THREADS" not in env and env["HARNESS_COTENANTS"] == "0"  # no threads: the framework's choice
    env = point_mod._child_env(RunConfig(dataset="synthetic", threads=2), None, 4)
    assert env["OMP_NUM_THREADS"] == "7" and env["HARNESS_COTENANTS"] == "4"


def test_a_points_private_directory_is_made_with_its_missing_parents(tmp_path):
    workdir = tmp_path / "a" / "b" / "work"
    d = point_mod._private_dir(workdir)
    assert d.is_dir() and d.parent == workdir and list(d.iterdir()) == []


# -- recovery reads at most 1 MiB of a point's meta file --------------------------------------------------

@pytest.mark.parametrize("size, removed", [((1 << 20) - 4096, True), ((1 << 20) + (1 << 19), False)])
def test_recovery_reads_a_points_meta_file_up_to_1_mib(tmp_path, size, removed):
    """A dead point's directory (its meta names a dead runner of this host) is removed; a meta file
    over 1 MiB is not read, and a directory whose runner is then unknown is left alone."""
    d = tmp_path / "work" / "point-0"
    d.mkdir(parents=True)
    meta = {"config": RunConfig(dataset="synthetic").to_dict(), "owner": _dead_record(), "child": _dead_record(),
            "where": {"executor": "local"}, "cotenants": 0}
    text = json.dumps({**meta, "pad": ""})
    (d / META).write_text(json.dumps({**meta, "pad": "x" * (size - len(text))}))
    assert (d / META).stat().st_size == size
    rec = rc.recover_work(tmp_path / "work", lambda cfg: False)
    assert rec.removed == ([d] if removed else []) and d.exists() is not removed and rec.adopted == []


# -- a point's child: its command, why it failed, what it left ----------------------------------------------

@pytest.mark.parametrize("rc, text", [
    (0, "exit status 0"), (1, "exit status 1"), (2, "exit status 2"), (128, "exit status 128"),
    (-9, "killed by SIGKILL (signal 9)"), (-15, "killed by SIGTERM (signal 15)"), (-200, "killed by signal (signal 200)"),
    (137, "exit status 137 (128 + SIGKILL: stopped by signal 9)"), (130, "exit status 130 (128 + SIGINT: stopped by signal 2)"),
    (129, "exit status 129 (128 + SIGHUP: stopped by signal 1)"), (250, "exit status 250"),
])
def test_exit_reason_whole(rc, text):
    assert point_mod.exit_reason(rc) == text


def test_a_failed_childs_reason_is_its_last_error_line_cut_to_500():
    assert point_mod._reason(2, "") == "exit status 2"
    assert point_mod._reason(1, "warn\n\n  last line  \n\n") == "exit status 1:   last line"
    assert point_mod._reason(2, "harness: error: one\nnoise\nharness: error: two\nmore noise\n") == \
        "exit status 2: harness: error: two"
    assert point_mod._reason(1, "x" * 600) == "exit status 1: " + "x" * 500


def test_a_points_command_runs_the_cli_quietly_into_its_directory():
    import sys

    cfg = RunConfig(dataset="synthetic", seed=3)
    cmd = point_mod.command(cfg, "/tmp/p")
    assert cmd == [sys.executable, "-m", "harness.cli", "run", *cfg.to_args(), "-q", "--results-dir", "/tmp/p"]
    assert point_mod.command(cfg, "/tmp/p", save_params=True) == cmd + ["--save-params"]


def test_read_back_takes_the_one_result_and_its_parameters(tmp_path):
    out = point_mod.read_back(tmp_path, {"where": 1})
    assert out == {"where": 1, "ok": False, "reason": "expected one result file, found 0"}
    (tmp_path / "a.json").write_text('{"n": 1}')
    out = point_mod.read_back(tmp_path, {"where": 1})
    assert out == {"where": 1, "result": {"n": 1}, "result_name": "a.json", "npz": None, "ok": True}
    (tmp_path / "a.npz").write_bytes(b"PK")
    assert point_mod.read_back(tmp_path, {})["npz"] == b"PK"
    (tmp_path / "b.json").write_text("{")
    assert point_mod.read_back(tmp_path, {})["reason"] == "expected one result file, found 2"
    (tmp_path / "a.json").unlink()
    out = point_mod.read_back(tmp_path, {})
    assert out["ok"] is False and "result" not in out and out["reason"] == (
        "its result b.json not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))")


# -- keeping the manifest fails: one line naming what could not be kept ---------------------------------------

def test_a_manifest_that_cannot_be_kept_says_what_and_why_in_one_line(tmp_path, monkeypatch):
    from harness.sweep import manifest as mf

    def tail(what, why):
        return f"({what}: {why}); finished results are on disk, run the sweep again to resume"

    (tmp_path / "file").write_text("")
    with pytest.raises(mf.SweepStorageError) as e, Ledger(tmp_path / "file").locked():
        pass
    assert str(e.value) == f"cannot keep the sweep manifest in {tmp_path / 'file'} " + tail("lock", "Not a directory")

    def full(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mf, "atomic_write_text", full)
    ledger = Ledger(tmp_path / "r")
    with ledger.locked():
        with pytest.raises(mf.SweepStorageError) as e:
            ledger.append([{"op": "sweep", "sweep": "s1"}])
        assert str(e.value) == f"cannot keep the sweep manifest in {tmp_path / 'r'} " + \
            tail("journal", "No space left on device")
        with pytest.raises(mf.SweepStorageError) as e:
            ledger.compact(rotate=False)
        assert str(e.value) == f"cannot keep the sweep manifest in {tmp_path / 'r'} " + \
            tail("manifest", "No space left on device")


def test_a_stored_results_stem_is_harness_runs_own():
    from harness.sweep.driver import result_stem

    assert result_stem({"backend": "torch", "strategy": "eager", "device": "cuda:0", "variant": "1989",
                        "dataset": "a/b"}) == "run-torch-eager-cuda0-1989-a_b"
    assert result_stem({"backend": "jax"}) == "run-jax-unknown-unknown-unknown-unknown"


def test_the_executor_is_handed_the_grids_resources_the_work_folder_and_the_host_slot(tmp_path):
    """What every executor is given besides the callbacks (Ray reads resources_for; local, workdir and
    host_slot), and the caller's own options passed on as given."""
    import io

    from harness.sweep.driver import run_sweep
    from tests.test_sweep import _grid

    seen = {}

    def execute(points, *, on_start, on_finish, claim, **kwargs):
        seen.update(kwargs)

    grid = _grid("1")
    run_sweep(grid, tmp_path, execute, progress_stream=io.StringIO(), point_timeout=7.5)
    assert sorted(seen) == ["host_slot", "point_timeout", "resources_for", "workdir"]
    assert seen["resources_for"] == grid.resources_for and seen["point_timeout"] == 7.5
    assert seen["workdir"] == tmp_path / SWEEP_DIR / "work"
    with seen["host_slot"]():  # the host's slot: an flock under .sweep
        pass
