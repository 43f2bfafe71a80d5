"""`harness run` with a strategy other than the backend's idiomatic first one says what the idiom
costs, timed just then (harness/cli/idiom.py); the idiom itself, --no-idiom-cost and --quiet say
nothing of it. A backend registered inline whose two strategies cost known, different times per
example keeps the test fast and its ratio predictable."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from harness import plugins, reference
from harness.cli import main
from harness.hookspecs import hookimpl
from tests.backend_helpers import CpuOnlyBackend

SLEEP = {"loop": 2e-3, "fast": 1e-4}  # seconds per example


class PacedSession:
    """The reference forward pass; training only waits its strategy's time per example."""

    def __init__(self, variant, params, strategy):
        self.variant, self.params, self.pause = variant, params, SLEEP[strategy]

    def train_steps(self, steps):
        time.sleep(self.pause * len(steps.x))
        return np.zeros(len(steps.x))

    def forward(self, x):
        return reference.forward(self.params, self.variant, x)

    def get_params(self):
        return self.params

    def sync(self):
        pass

    def environment(self):
        return {}


class PacedBackend(CpuOnlyBackend):
    name = "paced"
    strategies = ("loop", "fast")
    description = "two strategies of known cost (a test's)"

    def session(self, *, variant, params, dtype, device, strategy):
        return PacedSession(variant, params, strategy)


class Plugin:
    @hookimpl
    def harness_register_backends(self, register):
        register(PacedBackend())


@pytest.fixture
def paced():
    p = Plugin()
    plugins.register_plugin(p, name="paced-test")
    yield
    plugins.unregister_plugin(p)


def run(tmp_path, *args):
    return main(["run", "-b", "paced", "--dataset", "synthetic", "--limit", "64", "--epochs", "1", "--window", "16",
                 "--results-dir", str(tmp_path), *args])


def test_a_faster_strategy_says_what_the_idiom_costs(paced, tmp_path, capsys):
    assert run(tmp_path, "-s", "fast") == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("the loop idiom"))
    us, ratio = map(float, re.search(r"([\d.]+) us/example, measured just now.*: ([\d.]+)x this run", line).groups())
    assert us >= SLEEP["loop"] * 1e6  # it slept that long per example at least
    assert ratio > 3  # 2 ms against 0.1 ms (+ overheads): clearly more; the exact figure is the machine's
    assert "`--strategy loop`" in line and "not a run" in line
    assert re.search(r"over [1-5] windows of 64 examples after a warm-up window", line)  # --limit 64
    assert re.search(r"final: train error [\d.]+% \(\d+ missed\), test error", out)


@pytest.mark.parametrize("args", [["-s", "loop"], ["-s", "fast", "--no-idiom-cost"], ["-s", "fast", "-q"]])
def test_the_idiom_itself_or_asked_not_to_says_nothing_of_it(paced, tmp_path, capsys, args):
    assert run(tmp_path, *args) == 0
    assert "loop idiom" not in capsys.readouterr().out


def test_quiet_with_idiom_cost_asked_still_says_it(paced, tmp_path, capsys):
    assert run(tmp_path, "-s", "fast", "-q", "--idiom-cost") == 0
    assert "the loop idiom" in capsys.readouterr().out
