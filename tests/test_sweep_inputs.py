"""What a sweep is given, however wrong, answers in one line (exit 2) or fails cleanly (exit 1),
never hangs and never crashes: TOML of the wrong types, FIFOs and devices where files go,
files and grids too large, results the schema accepts but that hold odd values, a directory
where the manifest goes, a full disk, Ray-only options with the local executor, signals."""
from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import files
from harness.cli import main
from harness.config import RunConfig
from harness.results import load_results, read_json, write_result
from harness.schema import validate_result
from harness.sweep.driver import SweepInterrupted, run_sweep
from harness.sweep.grid import GridError, expand, load_toml
from harness.sweep.manifest import (
    MANIFEST_NAME,
    SWEEP_DIR,
    SweepLayoutError,
)
from harness.sweep.match import finished_points, result_config, result_for
from harness.sweep.point import exit_reason, run_point
from tests.test_sweep import STRATS, _fake_executor, _fake_result, _grid

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
QUICK = ["sweep", "--datasets", "synthetic", "--epochs", "1", "--limit", "16"]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("text, words", [
    ("seeds = [[1]]\n", "seeds = [[1]] should be an integer"),
    ("seeds = 1.5\n", "seeds = 1.5 should be an integer"),
    ("seeds = true\n", "seeds = True should be an integer"),
    ("seeds = []\n", "seeds = [] should be"),
    ("window = [1, 2]\n", "window = [1, 2] should be one integer"),
    ("window = 'big'\n", "window = 'big' should be one integer"),
    ("seed = {a = 1}\n", "seed = {'a': 1} should be"),
    ("backends = 5\n", "backends = 5 should be a name or a list of names"),
    ("variant = [1989]\n", "variant = [1989] should be a name or a list of names"),
    ("resources = [1]\n", "resources must be a table"),
    ("resources = 'h100'\n", "resources must be a table"),
    ("resources = {h100 = 'x'}\n", "resource h100 = 'x': an amount must be a positive number"),
    ("resources = {h100 = -1}\n", "an amount must be a positive number"),
    ("resources = {h100 = nan}\n", "an amount must be a positive number"),
    ("resources = {CPU = 4}\n", "resource 'CPU' is Ray's own"),
    ("configs = 5\n", "configs must be one or more [[configs]] tables"),
    ("configs = [1, 2]\n", "configs must be one or more [[configs]] tables"),
    ("configs = []\n", "configs must be one or more [[configs]] tables"),
    ("[[configs]]\nresources = 3\n", "[[configs]] #1: resources must be a table"),
    ("[[configs]]\nthreads = [[2]]\n", "[[configs]] #1: threads = [[2]] should be"),
    ("[[configs]]\ncolour = 'red'\n", "unknown field(s) in [[configs]] #1: colour"),
    ("seed = 1\nseeds = '1-2'\n", "both seed and seeds given"),
    ("seeds = '1-2'\n\xff = 1\n", "is not UTF-8 text"),
    ("datasets = ''\n", "--datasets '' names nothing"),
    ("[[configs]]\nbackends = ' , '\n", "--backends ' , ' names nothing"),
])
def test_wrongly_typed_toml_is_one_line(tmp_path, text, words):
    f = tmp_path / "g.toml"
    f.write_bytes(text.encode("latin-1"))
    with pytest.raises(GridError) as e:
        load_toml(f, STRATS)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_wrongly_typed_toml_through_the_cli_exits_2(tmp_path, capsys):
    f = tmp_path / "g.toml"
    f.write_text("resources = [1]\n")
    assert main(["sweep", str(f), "--dry-run", "--results-dir", str(tmp_path / "r")]) == 2
    assert "resources must be a table" in _one_line(capsys)


def test_a_scalar_toml_field_counts_as_a_one_value_list(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('seed = 3\nbackend = "jax"\n[[configs]]\nstrategy = "scan"\n[[configs]]\nstrategies = ["step"]\n'
                 'seeds = [4, 5]\n')
    grid = load_toml(f, STRATS)
    assert sorted((p.strategy, p.seed) for p in grid.points) == [("scan", 3), ("step", 4), ("step", 5)]


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _harness(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, check=False)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_as_grid_file_or_compare_operand_is_refused_at_once(tmp_path, kind):
    """Each would block (FIFO: no writer ever comes) or never end (/dev/zero): refused, exit 2."""
    special = _fifo(tmp_path, "g.toml") if kind == "fifo" else Path("/dev/zero")
    ok = tmp_path / "a.json"
    write_result(tmp_path, _fake_result(RunConfig(backend="torch", strategy="eager", epochs=1)), "a")
    ok = next(tmp_path.glob("a-*.json"))
    for args in (["sweep", str(special), "--dry-run"], ["report", "--compare", str(special), str(ok)],
                 ["report", "--compare", str(ok), str(special)]):
        p = _harness(*args, timeout=30)  # the bound on the test: a hang fails it
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.count("\n") == 1 and "not a regular file" in p.stderr, p.stderr


def test_files_larger_than_the_bound_are_refused_and_the_bound_can_be_raised(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(files.MAX_RESULT_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ValueError, match=r"more than the 64 MiB a result file may be \(\$HARNESS_MAX_FILE_MB raises the bound\)"):
        read_json(big)
    loaded, skipped = load_results(tmp_path)
    assert not loaded and "more than the 64 MiB" in skipped[0][1]
    grid = tmp_path / "g.toml"
    grid.write_text("seeds = '1'\n" + "#" * files.MAX_GRID_BYTES)
    with pytest.raises(GridError, match="more than the 1 MiB a grid file may be"):
        load_toml(grid, STRATS)
    monkeypatch.setenv(files.LIMIT_ENV, "2")
    assert len(load_toml(grid, STRATS).points) == 1


def test_special_files_in_a_results_directory_are_skipped(tmp_path):
    _fifo(tmp_path, "pipe.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    loaded, skipped = load_results(tmp_path)
    assert not loaded and {p.name for p, _ in skipped} == {"pipe.json", "zero.json"}
    assert finished_points(tmp_path) == {}


def test_a_huge_seed_range_is_refused_before_it_is_expanded(capsys, tmp_path):
    assert main(["sweep", "--seeds", "1-10000000", "--dry-run", "--results-dir", str(tmp_path)]) == 2
    line = _one_line(capsys)
    assert "10,000,000 points, more than the 100,000 a sweep may have (--max-points raises the bound)" in line
    # the product is measured before it is built, too
    with pytest.raises(GridError, match="the grid has 120,000 points"):
        expand({"seeds": "1-60000", "variants": "1989,modern"}, None, STRATS)
    assert main(["sweep", "--seeds", "1-200", "--max-points", "100", "--dry-run", "--results-dir",
                 str(tmp_path)]) == 2
    assert "200 points, more than the 100 a sweep may have" in _one_line(capsys)
    assert main(["sweep", "--seeds", "1-200", "--max-points", "200", "--dry-run", "--results-dir",
                 str(tmp_path)]) == 0


def test_toml_grids_are_bounded_too(tmp_path, capsys):
    f = tmp_path / "g.toml"
    f.write_text('seeds = "1-60"\n[[configs]]\nvariant = "1989"\n[[configs]]\nvariant = "modern"\n')
    with pytest.raises(GridError, match="more than the 100 a sweep may have"):
        load_toml(f, STRATS, max_points=100)
    assert len(load_toml(f, STRATS, max_points=120).points) == 120
    f.write_text('seeds = "1"\n[[configs]]\nvariant = "1989"\n[[configs]]\nvariant = "modern"\n')
    assert main(["sweep", str(f), "--seeds", "1-80", "--max-points", "100", "--dry-run", "--results-dir",
                 str(tmp_path / "r")]) == 2  # the command line's seeds replace the file's: 2 x 80
    assert "the grid has 160 points, more than the 100" in _one_line(capsys)
    # any other list beside a grid file would be dropped silently (--threads 1 ran on every core)
    assert main(["sweep", str(f), "--threads", "1", "--devices", "cpu", "--dry-run", "--results-dir",
                 str(tmp_path / "r")]) == 2
    assert "--threads, --devices are for grids given by options" in _one_line(capsys)


@pytest.mark.parametrize("args, words", [
    (["--results-dir", ""], "--results-dir"),
    (["--results-dir", "  "], "--results-dir"),
    (["--datasets", ","], "--datasets ',' names nothing"),
    (["--point-timeout", "0"], "--point-timeout"),
    (["--ray-address", "127.0.0.1:1"], "--ray-address is for --executor ray"),
    (["--share-cores"], "--share-cores is for --executor ray"),
    (["--resources", "h100=1"], "--resources is for --executor ray"),
    (["--executor", "ray", "--resources", "h100=x"], "--resources: 'h100=x' is not name=amount"),
    (["--executor", "ray", "--resources", '{"h100": [1]}'], "resource h100 = [1]: an amount must be a positive"),
    (["--executor", "ray", "--resources", "[1]"], "is not name=amount[,name=amount] or a JSON object"),
    (["--executor", "ray", "--resources", "GPU=1"], "resource 'GPU' is Ray's own"),
])
def test_sweep_options_refused_in_one_line(args, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*QUICK, *args, "--dry-run"]) == 2
    assert words in _one_line(capsys)
    assert not list(tmp_path.iterdir())


def test_a_grid_files_ray_resources_with_the_local_executor_are_noted(tmp_path, capsys):
    f = tmp_path / "g.toml"
    f.write_text('datasets = "synthetic"\nresources = {h100 = 1}\n')
    assert main(["sweep", str(f), "--dry-run", "--results-dir", str(tmp_path / "r")]) == 0
    assert "the local executor ignores them" in _one_line(capsys)


def _odd_results() -> dict[str, dict]:
    """Results the schema accepts that hold what a careless or hostile writer may put there."""
    cfg = RunConfig(backend="jax", strategy="scan", seed=1, epochs=1, dataset="synthetic")
    base = _fake_result(cfg)
    no_seed = {k: v for k, v in base.items() if k != "seed"}
    no_config = {k: v for k, v in base.items() if k not in ("config", "seed")}
    cases = {
        "no top-level seed": no_seed,
        "no seed, no config": no_config,
        "device name a list": {**base, "device": "cuda", "config": {**cfg.to_dict(), "device": "cuda"},
                               "environment": {"backend": {"device_name": ["H100", 1]}}},
        "device name a number": {**base, "device": "cuda", "config": {**cfg.to_dict(), "device": "cuda"},
                                 "environment": {"backend": {"device_name": 7}}},
        "sweep config of lists": {**no_config, "seed": 1, "sweep": {"config": {"backend": ["x"], "seed": "a"}}},
        "sweep config of tables": {**no_config, "seed": 1, "sweep": {"config": {"threads": {"n": 1}}}},
        "no final": {k: v for k, v in base.items() if k != "final"},
        "final values null": {**base, "final": {"train_error": None, "test_error": None}},
        "timing empty": {**base, "timing": {}},
        "environment empty": {**base, "environment": {}},
        "seed twice over": {**base, "seed": 2},
    }
    for name, r in cases.items():
        assert validate_result(r) is None, (name, validate_result(r))
    return cases


def test_schema_valid_odd_results_never_crash_the_sweep(tmp_path):
    """All in one directory, with the points they (may) match: matching, resume and the seed
    table at the end run through them."""
    from harness.report.seeds import seed_tables

    for i, r in enumerate(_odd_results().values()):
        write_result(tmp_path, r, f"run-odd{i}")
    found = finished_points(tmp_path)
    grid = _grid("1-2")
    ex, _ = _fake_executor()
    out = run_sweep(grid, tmp_path, ex, progress_stream=io.StringIO())
    assert not out.failed
    results = [r for _, r in load_results(tmp_path)[0]]
    assert "Over seeds" in seed_tables(results)
    assert result_config(_odd_results()["sweep config of lists"]) is None
    assert result_for(found, RunConfig(backend="jax", strategy="scan", seed=1, epochs=1, dataset="synthetic"))
    assert main(["sweep", "--strategies", "jax:scan", "--datasets", "synthetic", "--epochs", "1", "--seeds", "1",
                 "--results-dir", str(tmp_path)]) == 0  # every point found; the seed table over them all


def test_a_directory_where_the_manifest_goes_is_one_line(tmp_path, capsys):
    (tmp_path / MANIFEST_NAME).mkdir()
    ex, _ = _fake_executor()
    with pytest.raises(SweepLayoutError, match="sweep-manifest.json is in the way"):
        run_sweep(_grid("1"), tmp_path, ex, progress_stream=io.StringIO())
    (tmp_path / MANIFEST_NAME).rmdir()
    (tmp_path / SWEEP_DIR).write_text("")
    assert main([*QUICK, "--results-dir", str(tmp_path)]) == 2
    assert ".sweep is in the way: the sweep keeps a directory there" in _one_line(capsys)


def test_a_full_disk_is_one_line_exit_1_and_the_sweep_resumes(tmp_path, monkeypatch, capsys):
    """The journal cannot be appended (ENOSPC) after the first point: one line, exit 1; finished
    results are kept and the next sweep resumes."""
    from harness.sweep import local, manifest

    real_write = manifest.write_all
    calls = {"n": 0}

    def full(fd, data):
        calls["n"] += 1
        if calls["n"] > 3:  # the sweep's registration, the first point's start and end, then full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    ex, _ = _fake_executor()
    monkeypatch.setattr(local, "run_local", ex)
    monkeypatch.setattr(manifest, "write_all", full)
    args = ["sweep", "--strategies", "jax:scan", "--datasets", "synthetic", "--epochs", "1", "--seeds", "1-3",
            "--results-dir", str(tmp_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("harness: error:")]
    assert "Traceback" not in err and err.rstrip().endswith(line)  # progress lines, then the one error
    assert "No space left on device" in line and "run the sweep again to resume" in line
    assert len(list(tmp_path.glob("run-*.json"))) == 1
    monkeypatch.setattr(manifest, "write_all", real_write)
    assert main(args) == 0
    assert "1 found, 2 run" in capsys.readouterr().out


def test_sigterm_during_a_sweep_exits_143(tmp_path, monkeypatch, capsys):
    from harness.signals import Terminated
    from harness.sweep import local

    def terminated(points, **_):
        raise Terminated()

    monkeypatch.setattr(local, "run_local", terminated)
    assert main([*QUICK, "--results-dir", str(tmp_path)]) == 143
    assert "sweep terminated (SIGTERM)" in capsys.readouterr().err
    ex, _ = _fake_executor(interrupt_after=0)
    with pytest.raises(SweepInterrupted) as e:
        run_sweep(_grid("1"), tmp_path, ex, progress_stream=io.StringIO())
    assert not e.value.terminated  # Ctrl-C: 130


def test_a_crashed_point_names_the_signal(monkeypatch, tmp_path):
    assert exit_reason(-9) == "killed by SIGKILL (signal 9)"
    assert exit_reason(143) == "exit status 143 (128 + SIGTERM: stopped by signal 15)"
    assert exit_reason(1) == "exit status 1"
    from harness.sweep import point

    monkeypatch.setattr(point, "command", lambda *a, **k: [
        sys.executable, "-c", ("import os, signal, sys; print('last words', file=sys.stderr); "
                               "os.kill(os.getpid(), signal.SIGKILL)")])
    out = run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w")
    assert not out["ok"] and out["reason"] == "killed by SIGKILL (signal 9): last words"
    assert not list((tmp_path / "w").iterdir())  # its private directory is gone


def test_a_point_past_its_timeout_is_stopped_and_failed_saying_so(monkeypatch, tmp_path):
    from harness.sweep import point

    monkeypatch.setattr(point, "command", lambda *a, **k: [sys.executable, "-c", "import time; time.sleep(60)"])
    out = run_point(RunConfig(dataset="synthetic").to_dict(), workdir=tmp_path / "w", timeout=0.5)
    assert not out["ok"] and out["seconds"] < 30
    assert out["reason"] == "ran past --point-timeout 0.5 s; stopped (killed by SIGTERM (signal 15))"
    assert not list((tmp_path / "w").iterdir())


@pytest.mark.parametrize("where", [f"{SWEEP_DIR}/journal.jsonl", f"{SWEEP_DIR}/claims", MANIFEST_NAME])
def test_a_fifo_in_the_sweeps_own_places_is_refused_not_waited_on(tmp_path, where, capsys):
    (tmp_path / SWEEP_DIR).mkdir()
    os.mkfifo(tmp_path / where)
    p = _harness(*QUICK, "--results-dir", str(tmp_path), timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert f"{where} is in the way" in p.stderr
    from harness.sweep.manifest import read_manifest

    assert read_manifest(tmp_path) is None  # a reader does not hang either: nothing recorded there


def test_a_fifo_claim_is_read_as_unreadable_not_waited_on(tmp_path):
    from harness.sweep.claims import Claims, key_name, owner

    os.mkfifo(tmp_path / key_name("p"))
    who, _ = Claims(tmp_path, owner("me")).read(tmp_path / key_name("p"))
    assert who is None


def test_an_unreadable_manifest_is_refused_not_overwritten(tmp_path, capsys):
    (tmp_path / MANIFEST_NAME).write_text('{"kind": "sweep-manifest", "points": [')  # hand-edited, broken
    assert main([*QUICK, "--results-dir", str(tmp_path)]) == 2
    assert "is not a readable sweep manifest" in _one_line(capsys)
    assert (tmp_path / MANIFEST_NAME).read_text() == '{"kind": "sweep-manifest", "points": ['
    (tmp_path / MANIFEST_NAME).write_text('{"rows": []}')  # some other JSON
    assert main([*QUICK, "--results-dir", str(tmp_path)]) == 2
    assert "is not a sweep manifest" in _one_line(capsys)
