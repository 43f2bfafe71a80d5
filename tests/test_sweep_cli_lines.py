"""What `harness sweep` (harness.cli.sweep) says and hands on when it runs, with the sweep itself
stood in for: its summary line word for word (found / run / recovered / elsewhere / failed, the
manifest), its exit status (1 when a point failed, 130 / 143 when interrupted / terminated, 2 when
Ray is missing), and what each point is given (HARNESS_* variables, --data-dir, the executor's
name and options, --save-params, --point-timeout)."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from harness.cli import main
from harness.sweep import local, ray_exec
from harness.sweep.driver import SweepInterrupted, SweepOutcome
from harness.sweep.ray_exec import RayUnavailable

sweep_cli = importlib.import_module("harness.cli.sweep")  # `harness.cli.sweep` the attribute is the command

GRID = ["sweep", "--seeds", "1,2", "--datasets", "synthetic", "--limit", "8"]


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """run_sweep replaced: returns `outcome` (or raises `raises`) and keeps its arguments."""
    box = {"outcome": SweepOutcome(manifest=tmp_path / "sweep-manifest.json"), "raises": None}

    def run_sweep(grid, results_dir, run_points, **kw):
        box.update(grid=grid, results_dir=results_dir, run_points=run_points, kw=kw)
        if box["raises"] is not None:
            raise box["raises"]
        return box["outcome"]

    monkeypatch.setattr(sweep_cli, "run_sweep", run_sweep)
    return box


def _run(tmp_path, capsys, *more) -> tuple[int, str, str]:
    code = main([*GRID, "--results-dir", str(tmp_path / "r"), *more])
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_line_with_every_count(stand_in, tmp_path, capsys):
    o = stand_in["outcome"]
    o.found, o.done = ["a"], {"b": Path("b.json"), "c": Path("c.json")}
    o.recovered, o.elsewhere, o.failed = {"d": Path("d.json")}, {"e": "x", "f": "y"}, {"g": "boom"}
    code, out, _ = _run(tmp_path, capsys)
    assert code == 1  # a point failed
    assert out.splitlines()[0] == (f"sweep: 2 point(s): 1 found, 2 run, 1 recovered from a killed sweep, "
                                   f"2 run by another sweep meanwhile, 1 failed; manifest {o.manifest}")


def test_summary_line_leaves_out_what_did_not_happen(stand_in, tmp_path, capsys):
    stand_in["outcome"].found = ["a", "b"]
    code, out, _ = _run(tmp_path, capsys)
    assert code == 0
    assert out == f"sweep: 2 point(s): 2 found, 0 run, 0 failed; manifest {stand_in['outcome'].manifest}\n"


@pytest.mark.parametrize("terminated, code", [(False, 130), (True, 143)])
def test_an_interrupted_sweep_says_so_and_exits_128_plus_the_signal(stand_in, tmp_path, capsys, terminated, code):
    stand_in["raises"] = SweepInterrupted("interrupted: 1 point left pending", terminated=terminated)
    got, out, err = _run(tmp_path, capsys)
    assert (got, out, err) == (code, "", "harness: interrupted: 1 point left pending\n")


def test_ray_missing_is_a_usage_error(stand_in, tmp_path, capsys):
    stand_in["raises"] = RayUnavailable("ray is not installed: pip install 'harness[ray]'")
    code, out, err = _run(tmp_path, capsys, "--executor", "ray")
    assert (code, out) == (2, "")
    assert err == "harness: error: ray is not installed: pip install 'harness[ray]'\n"


def test_what_the_points_are_given(stand_in, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_SOMETHING", "kept")
    monkeypatch.setenv("HARNESS_COTENANTS", "3")  # the sweep's own business: not handed on
    monkeypatch.setenv("NOT_HARNESS", "x")
    monkeypatch.setenv("HARNESS_DATA_DIR", "from-env")  # --data-dir, when given, replaces it
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.chdir(tmp_path)  # a relative --data-dir reaches the points as an absolute path
    assert _run(tmp_path, capsys, "--data-dir", "data", "--save-params", "--point-timeout", "30")[0] == 0
    kw = stand_in["kw"]
    assert stand_in["run_points"] is local.run_local
    assert kw["env"]["HARNESS_SOMETHING"] == "kept" and kw["env"]["HARNESS_DATA_DIR"] == str(data.resolve())
    assert "HARNESS_COTENANTS" not in kw["env"] and "NOT_HARNESS" not in kw["env"]
    assert (kw["save_params"], kw["executor_name"], kw["point_timeout"]) == (True, "local", 30.0)
    assert "address" not in kw and "share_cores" not in kw
    assert str(stand_in["results_dir"]) == str(tmp_path / "r")
    assert len(stand_in["grid"].points) == 2

    assert _run(tmp_path, capsys, "--executor", "ray", "--ray-address", "auto", "--share-cores")[0] == 0
    kw = stand_in["kw"]
    assert stand_in["run_points"] is ray_exec.run_ray
    assert (kw["address"], kw["share_cores"], kw["executor_name"]) == ("auto", True, "ray")
    assert (kw["save_params"], kw["point_timeout"]) == (False, None)
    assert kw["env"]["HARNESS_DATA_DIR"] == "from-env"
