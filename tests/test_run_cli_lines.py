"""`harness run`'s lines (harness.cli.run) with an inline NumPy backend: the header naming what is
trained on what (the examples used under --limit), the load warning on stdout beside it, a pass's
lines, the final line against the result file's figures, the result path; --quiet keeps only the
header, final, timing and result lines."""
from __future__ import annotations

import importlib
import json

import pytest

from harness import plugins
from harness.cli import main
from tests.backend_helpers import ClassZeroSession, CpuOnlyBackend

run_cli = importlib.import_module("harness.cli.run")


class _Backend(CpuOnlyBackend):
    name = "nprun"
    strategies = ("loop",)

    def session(self, *, variant, params, dtype, device, strategy):
        return ClassZeroSession(params)


@pytest.fixture
def nprun(monkeypatch):
    monkeypatch.setattr(run_cli, "busy_warning", lambda: "warning: load average 9.00 exceeds this machine's 2 cores")
    with plugins.backends_registered(_Backend(), name="nprun-test"):
        yield


def _run(tmp_path, *args):
    return main(["run", "-b", "nprun", "--dataset", "synthetic", "--limit", "12", "--epochs", "2", "--window", "4",
                 "--seed", "5", "--results-dir", str(tmp_path), *args])


def test_run_lines(nprun, tmp_path, capsys):
    assert _run(tmp_path) == 0
    lines = capsys.readouterr().out.splitlines()
    (path,) = tmp_path.glob("run-nprun-loop-cpu-1989-synthetic*.json")
    res = json.loads(path.read_text())
    fin = res["final"]
    assert lines[0] == (f"harness run: backend nprun, strategy loop, device cpu, recipe 1989 passes=2, dataset synthetic "
                        f"(12 train / {res['n_test']} test), 2 passes, float32, seed 5")
    assert lines[1] == "warning: load average 9.00 exceeds this machine's 2 cores"
    assert lines[2] == "pass 1/2" and lines[5] == "pass 2/2"
    assert lines[3].startswith("eval: split train. loss ") and lines[4].startswith("eval: split test . loss ")
    assert lines[8] == (f"final: train error {fin['train_error'] * 100:.2f}% ({fin['train_misses']} missed), test "
                        f"error {fin['test_error'] * 100:.2f}% ({fin['test_misses']} missed) after 2 passes")
    assert lines[7].endswith(f"misses: {fin['test_misses']}")
    assert f"result: {path}" in lines


def test_quiet_keeps_the_summary_only(nprun, tmp_path, capsys):
    assert _run(tmp_path, "-q") == 0
    out = capsys.readouterr().out
    assert "pass 1/2" not in out and "eval: split" not in out
    assert out.startswith("harness run: backend nprun") and "\nfinal: train error " in out and "\nresult: " in out
