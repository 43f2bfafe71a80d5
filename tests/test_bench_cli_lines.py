"""`harness bench` end to end with an inline NumPy backend (no framework) and a scripted clock: what
it says on stderr and stdout, the result it writes, and the exit status when some or all targets
are refused (rows already measured are kept and said where they are)."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from harness import bench, plugins
from harness.cli import main
from tests.backend_helpers import CpuOnlyBackend


class _Clock:
    t = 0.0

    def __call__(self):
        return self.t


CLOCK = _Clock()


class _Session:
    def __init__(self, strategy):
        self.strategy = strategy

    def train_steps(self, steps):
        if self.strategy == "broken":
            raise RuntimeError("kernel exploded")
        CLOCK.t += 1e-4 * len(steps)  # 100 us per example
        return np.zeros(len(steps))

    def sync(self):
        pass


class _Backend(CpuOnlyBackend):
    name = "npb"
    strategies = ("good", "also", "broken")

    def session(self, *, variant, params, dtype, device, strategy):
        return _Session(strategy)


@pytest.fixture
def npb(monkeypatch):
    monkeypatch.setattr(bench, "clock", CLOCK)
    with plugins.backends_registered(_Backend(), name="npb-test"):
        yield


def _bench(tmp_path, *args):
    return main(["bench", "-b", "npb", "--dataset", "synthetic", "--window", "4", "--rounds", "3",
                 "--results-dir", str(tmp_path), *args])


def test_one_good_one_refused_keeps_the_row_and_says_so(npb, tmp_path, capsys):
    assert _bench(tmp_path) == 1  # a backend that raised: a failure
    out, err = capsys.readouterr()
    assert "timing npb:good@cpu (3 rounds of 4 examples after a warm-up round)..." in err
    assert "timing npb:broken@cpu (3 rounds of 4 examples after a warm-up round)..." in err
    (path,) = tmp_path.glob("bench-*.json")
    assert f"result: {path}" in out
    res = json.loads(path.read_text())
    assert sorted(r["strategy"] for r in res["rows"]) == ["also", "good"]
    assert res["rows"][0]["us_per_example"] == pytest.approx(100.0)
    assert res["skipped"][0]["strategy"] == "broken"
    last = err.strip().splitlines()[-1]
    assert last.startswith("harness: error: 1 target(s) refused (npb:broken@cpu refused: backend 'npb' strategy "
                           "'broken' failed: RuntimeError: kernel exploded")
    assert last.endswith(f"the 2 measured are in {path}")
    assert "note: npb:broken@cpu refused: " in out


def test_json_puts_the_result_on_stdout_and_notes_on_stderr(npb, tmp_path, capsys):
    assert _bench(tmp_path, "--json") == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)  # stdout holds the one JSON object and nothing else
    assert doc["command"] == "bench" and len(doc["result"]["rows"]) == 2
    assert doc["path"].endswith(".json")
    assert "note: npb:broken@cpu refused: " in err and "result: " not in out


def test_every_target_refused_is_the_first_refusal(npb, tmp_path, capsys):
    assert _bench(tmp_path, "-s", "broken") == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(
        "harness: error: backend 'npb' strategy 'broken' failed: RuntimeError: kernel exploded")
    assert not list(tmp_path.glob("*.json"))


def test_nothing_to_time_says_why_in_one_line(npb, tmp_path, capsys):
    """No backend named and no target reaches the device: each target's note, in one line."""
    assert main(["bench", "-d", "tpu", "--dataset", "synthetic", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("harness: error: nothing to time: ")
    assert "npb:good skipped: cannot reach device 'tpu' here (reaches: cpu); " in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_nothing_to_time_without_a_note_says_no_backend_is_available(tmp_path, capsys, monkeypatch):
    from harness.targets import Matrix

    bench_cli = importlib.import_module("harness.cli.bench")  # `harness.cli.bench` the attribute is the command
    monkeypatch.setattr(bench_cli, "resolve_matrix", lambda *a, **kw: Matrix())
    assert main(["bench", "--dataset", "synthetic", "--results-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "harness: error: nothing to time: no backend is available\n"
