"""`harness bench` end to end with an inline NumPy backend (no framework) and a scripted clock: what
it says on stderr and stdout, the result it writes, and the exit status when some or all targets
are refused (rows already measured are kept and said where they are)."""
from __future__ import annotations

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
