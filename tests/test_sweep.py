"""harness sweep: grid expansion, TOML, manifest, matching, the local executor, resume, seeds."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import RunConfig
from harness.recipe import of_config
from harness.sweep import driver as sweep_driver
from harness.sweep.driver import SweepInterrupted, run_sweep
from harness.sweep.grid import Grid, GridError, expand, load_toml, parse_ints
from harness.sweep.local import run_local
from harness.sweep.manifest import MANIFEST_NAME, SWEEP_DIR, read_manifest
from harness.sweep.match import finished_points, point_key, result_for, result_key
from tests.conftest import requires_torch

REPO = Path(__file__).resolve().parents[1]
STRATS = {"torch": ("eager", "compiled"), "jax": ("step", "scan")}
TINY = {"backends": "torch", "strategies": "eager", "datasets": "synthetic", "limit": "64", "epochs": "1",
        "threads": "1"}


def _leftovers(results_dir: Path) -> list[Path]:
    """What a finished or stopped sweep must not leave: temporaries, private point directories,
    claims, live markers (the journal, its lock and the manifest stay)."""
    top = [p for p in results_dir.glob(".*") if p.name != SWEEP_DIR]
    sweep = results_dir / SWEEP_DIR
    inner = [p for sub in ("work", "claims", "live") for p in (sweep / sub).glob("*")]
    return sorted(top + inner + list(sweep.glob("*.tmp")))


def test_parse_ints_ranges_and_lists():
    assert parse_ints("1-4") == [1, 2, 3, 4]
    assert parse_ints("1,2,5") == [1, 2, 5]
    assert parse_ints("3-4,1,3") == [3, 4, 1]
    for bad in ("a", "5-1", ""):
        with pytest.raises(GridError):
            parse_ints(bad)


def test_expand_product_resolves_defaults():
    pts = expand({"seeds": "1-2", "strategies": "jax:scan,torch:compiled", "variants": "1989,modern"},
                 None, STRATS)
    assert len(pts) == 8
    assert {(p.backend, p.strategy) for p in pts} == {("jax", "scan"), ("torch", "compiled")}
    assert {p.epochs for p in pts if p.variant == "modern"} == {80}
    assert {p.epochs for p in pts if p.variant == "1989"} == {23}
    # a plain strategy goes with the chosen backends that have it; no strategy: each backend's first
    assert {(p.backend, p.strategy) for p in expand({"backends": "torch,jax", "strategies": "scan"}, None, STRATS)} \
        == {("jax", "scan")}
    assert {(p.backend, p.strategy) for p in expand({"backends": "torch,jax"}, None, STRATS)} \
        == {("torch", "eager"), ("jax", "step")}


@pytest.mark.parametrize("lists, words", [
    ({"backends": "nope"}, "unknown backend 'nope'"),
    ({"strategies": "torch:scan"}, "no strategy 'scan'"),
    ({"variants": "1990"}, "unknown variant"),
    ({"datasets": "cifar"}, "unknown data set"),
    ({"bogus": "1"}, "unknown grid list"),
])
def test_expand_rejects_mistakes(lists, words):
    with pytest.raises(GridError, match=words):
        expand(lists, None, STRATS)


def test_toml_lists_configurations_crossed_with_seeds(tmp_path):
    f = tmp_path / "grid.toml"
    f.write_text('seeds = "1-3"\ndataset = "usps"\nresources = {cpu_box = 1}\n'
                 '[[configs]]\nbackend = "jax"\nstrategy = "scan"\nvariants = ["1989", "modern"]\n'
                 '[[configs]]\nbackend = "torch"\nstrategy = "compiled"\nvariant = "1989"\n'
                 'resources = {h100 = 1}\ndevice = "cuda"\n')
    grid = load_toml(f, STRATS)
    assert len(grid.points) == 9
    labels = {(p.backend, p.variant, p.device) for p in grid.points}
    assert labels == {("jax", "1989", "cpu"), ("jax", "modern", "cpu"), ("torch", "1989", "cuda")}
    torch_pt = next(p for p in grid.points if p.backend == "torch")
    assert grid.resources_for(torch_pt) == {"cpu_box": 1.0, "h100": 1.0}
    jax_pt = next(p for p in grid.points if p.backend == "jax")
    assert grid.resources_for(jax_pt) == {"cpu_box": 1.0}


def test_toml_errors_are_one_line(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text("seeds = [1, 2\n")
    with pytest.raises(GridError, match="not valid TOML"):
        load_toml(f, STRATS)
    f.write_text("colour = 'red'\n")
    with pytest.raises(GridError, match="unknown key"):
        load_toml(f, STRATS)


def _fake_result(cfg: RunConfig, test_error=0.05, with_config=True, **extra) -> dict:
    r = {"schema_version": 1, "kind": "run", "backend": cfg.backend, "strategy": cfg.strategy,
         "device": cfg.device, "variant": cfg.variant, "dataset": cfg.dataset, "dtype": cfg.dtype,
         "seed": cfg.seed, "n_train": cfg.limit or 7291, "finished": "2026-01-01T00:00:00+00:00",
         "epochs": [{"epoch": i + 1, "train_error": 0.01, "test_error": test_error, "train_loss": 0.003,
                     "test_loss": 0.02} for i in range(cfg.epochs)],
         "final": {"train_error": 0.01, "test_error": test_error, "train_loss": 0.003, "test_loss": 0.02},
         "timing": {"us_per_example": 30.0, "us_per_example_mean": 33.0},
         "environment": {"cpu_model": "Test CPU", "env_threads": {}},
         "recipe": of_config(cfg).to_dict(), **extra}
    if with_config:
        r["config"] = cfg.to_dict()
    return r


def test_result_key_from_config_or_top_level_fields():
    cfg = RunConfig(backend="jax", strategy="scan", seed=3, epochs=23)
    assert result_key(_fake_result(cfg)) == point_key(cfg)
    assert result_key(_fake_result(cfg, with_config=False)) == point_key(cfg)  # n_train 7291: no limit
    limited = RunConfig(backend="jax", strategy="scan", seed=3, epochs=23, limit=100)
    assert result_key(_fake_result(limited, with_config=False)) == point_key(limited)
    assert result_key(_fake_result(cfg)) != point_key(RunConfig(backend="jax", strategy="scan", seed=4, epochs=23))
    assert result_key({"kind": "parity"}) is None


def test_threads_match_where_a_result_records_them(tmp_path):
    """Threads are not identity: a result recording threads 1 is not a threads-2 point's result;
    an older result that records no configuration (threads unknown) satisfies any threads."""
    from harness.results import write_result

    one = RunConfig(backend="jax", strategy="scan", seed=3, epochs=23, threads=1)
    write_result(tmp_path / "a", _fake_result(one), "run-a")
    found = finished_points(tmp_path / "a")
    assert result_for(found, one) is not None
    assert result_for(found, RunConfig(backend="jax", strategy="scan", seed=3, epochs=23, threads=2)) is None
    write_result(tmp_path / "b", _fake_result(one, with_config=False), "run-b")
    assert result_for(finished_points(tmp_path / "b"), RunConfig(backend="jax", strategy="scan", seed=3,
                                                                  epochs=23, threads=2)) is not None


def _fake_executor(fail=(), interrupt_after=None):
    """Runs nothing: returns a result (or a failure) per point, optionally Ctrl-C part way."""
    calls = []

    def execute(points, *, on_start, on_finish, claim, **_):
        for i, cfg in enumerate(points):
            if not claim(cfg):
                continue
            on_start(cfg)
            if interrupt_after is not None and i == interrupt_after:
                raise KeyboardInterrupt
            calls.append(cfg)
            if cfg.seed in fail:
                on_finish(cfg, {"ok": False, "reason": "exit status 1: boom", "where": {"executor": "fake"}})
            else:
                on_finish(cfg, {"ok": True, "result": _fake_result(cfg), "where": {"executor": "fake"},
                                "cotenants_at_start": 0, "cotenants_max": 0, "seconds": 0.1})
    return execute, calls


def _grid(seeds="1-3") -> Grid:
    return Grid(expand({"seeds": seeds, "strategies": "jax:scan", "datasets": "synthetic", "epochs": "1"},
                       None, STRATS), spec={"seeds": seeds})


def test_manifest_and_resume_after_a_failed_point(tmp_path):
    grid = _grid()
    ex, calls = _fake_executor(fail={2})
    out = run_sweep(grid, tmp_path, ex, progress_stream=io.StringIO())
    assert [c.seed for c in calls] == [1, 2, 3]
    assert len(out.done) == 2 and len(out.failed) == 1
    m = read_manifest(tmp_path)
    states = {p["config"]["seed"]: (p["state"], p["reason"]) for p in m["points"]}
    assert states == {1: ("done", None), 2: ("failed", "exit status 1: boom"), 3: ("done", None)}
    assert m["counts"] == {"pending": 0, "running": 0, "done": 2, "failed": 1}
    assert not list(tmp_path.glob(".*.tmp"))
    # again: only the failed point runs, and now succeeds
    ex2, calls2 = _fake_executor()
    out2 = run_sweep(grid, tmp_path, ex2, progress_stream=io.StringIO())
    assert [c.seed for c in calls2] == [2]
    assert len(out2.found) == 2 and len(out2.done) == 1
    assert read_manifest(tmp_path)["counts"]["done"] == 3
    assert len(finished_points(tmp_path)) == 3


def test_interrupt_keeps_finished_points_and_leaves_the_rest_pending(tmp_path):
    grid = _grid()
    ex, _ = _fake_executor(interrupt_after=1)
    with pytest.raises(SweepInterrupted, match="1 point"):
        run_sweep(grid, tmp_path, ex, progress_stream=io.StringIO())
    m = read_manifest(tmp_path)
    states = {p["config"]["seed"]: (p["state"], p["reason"]) for p in m["points"]}
    assert states == {1: ("done", None), 2: ("pending", "interrupted"), 3: ("pending", None)}
    assert len(list(tmp_path.glob("run-*.json"))) == 1
    ex2, calls2 = _fake_executor()
    run_sweep(grid, tmp_path, ex2, progress_stream=io.StringIO())
    assert [c.seed for c in calls2] == [2, 3]


@requires_torch
def test_local_executor_runs_a_real_child_and_only_the_driver_writes(tmp_path, monkeypatch):
    """One real `harness run` child on synthetic data; the result reaches the results directory
    through the driver's write function only (the child wrote into its own temporary directory)."""
    written = []
    real_write = sweep_driver.write_result

    def spy(results_dir, result, stem, attachments=None):
        assert os.getpid() == driver_pid
        path = real_write(results_dir, result, stem, attachments)
        written.append(path)
        return path

    driver_pid = os.getpid()
    monkeypatch.setattr(sweep_driver, "write_result", spy)
    grid = Grid(expand({**TINY, "seeds": "5"}, None, STRATS))
    out = run_sweep(grid, tmp_path, run_local, progress_stream=io.StringIO(), env={})
    assert not out.failed, out.failed
    assert sorted(tmp_path.iterdir()) == sorted(written + [tmp_path / MANIFEST_NAME, tmp_path / SWEEP_DIR])
    assert _leftovers(tmp_path) == []
    r = json.loads(written[0].read_text())
    assert r["seed"] == 5 and r["dataset"] == "synthetic" and r["n_train"] == 64
    assert r["sweep"]["executor"] == "local" and r["sweep"]["cotenants_max"] == 0
    assert r["sweep"]["where"]["pid"] == driver_pid  # the local executor's driver spawned the child
    assert r["environment"]["cotenants"] == 0 and "load_average_at_start" in r["environment"]
    assert "us_per_example_mean" in r["timing"]
    assert result_key(r) == point_key(grid.points[0])
    # run again: the point is found, nothing runs
    out2 = run_sweep(grid, tmp_path, run_local, progress_stream=io.StringIO(), env={})
    assert len(out2.found) == 1 and not out2.done and len(written) == 1


def _cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=env, check=False, **kw)


def test_cli_dry_run_and_mistakes(tmp_path):
    p = _cli(["sweep", "--seeds", "1-3", "--strategies", "jax:scan,torch:compiled", "--dry-run",
              "--results-dir", str(tmp_path)])
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("pending") == 6 and "6 point(s)" in p.stdout
    assert not (tmp_path / MANIFEST_NAME).exists()
    bad = _cli(["sweep", "--seeds", "x", "--dry-run"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--seeds" in bad.stderr


@pytest.mark.slow
def test_sigterm_stops_a_real_sweep_cleanly_and_resume_runs_the_rest(tmp_path):
    args = ["sweep", *(a for k, v in TINY.items() for a in (f"--{k}", v)), "--seeds", "1-3",
            "--results-dir", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        m = read_manifest(tmp_path)
        if m and m["counts"]["done"] >= 1 and m["counts"]["running"] == 1:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err  # 128 + SIGTERM, as the README promises
    assert "terminated (SIGTERM)" in err
    m = read_manifest(tmp_path)
    assert m["counts"]["done"] == 1 and m["counts"]["running"] == 0
    assert next(p["reason"] for p in m["points"] if p["state"] == "pending") == "interrupted"
    assert len(list(tmp_path.glob("run-*.json"))) == 1 and _leftovers(tmp_path) == []
    p = _cli(args)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("done   ") == 2 and "1 found, 2 run" in p.stdout
