"""The idiom-cost line of `harness run` (harness.cli.idiom) on a scripted clock: the figures it
states (median, windows, the ratio to the run's median, the estimate for the run's passes), the
time budget that bounds the windows, the load note, and when it says nothing or why it could not
time the idiom. The clock is the test's: no real timing."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from harness.config import RunConfig
from harness.data import Dataset
from harness.targets import Target

idiom = importlib.import_module("harness.cli.idiom")

US = {"loop": 200.0, "fast": 50.0}  # us per example, by strategy


class _Clock:
    t = 0.0

    def __call__(self):
        return self.t


class _Session:
    def __init__(self, clock, us, fail):
        self.clock, self.us, self.fail, self.windows = clock, us, fail, 0

    def train_steps(self, steps):
        if self.fail:
            raise RuntimeError("no such kernel\nmore")
        self.windows += 1
        self.clock.t += self.us * 1e-6 * len(steps)
        return np.zeros(len(steps))

    def sync(self):
        pass


class _Backend:
    name = "np"
    strategies = ("loop", "fast")

    def __init__(self, clock, us=None, fail=False, devices=("cpu",)):
        self.clock, self.us, self.fail, self.devices, self.sessions = clock, us, fail, devices, []

    def strategy_devices(self, s):
        return list(self.devices) if s == "loop" else ["cpu", "cuda"]

    def session(self, *, variant, params, dtype, device, strategy):
        s = _Session(self.clock, (self.us or US)[strategy], self.fail)
        self.sessions.append(s)
        return s


def _data(n=40):
    x = np.zeros((n, 1, 16, 16))
    return Dataset("synthetic", x, np.arange(n) % 10, x[:4], np.arange(4))


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(idiom, "clock", c)
    monkeypatch.setattr(idiom, "load_average", lambda: [0.5, 0.5, 0.5])
    monkeypatch.setattr(idiom, "busy_warning", lambda: None)
    return c


CONFIG = RunConfig(backend="np", strategy="fast", dataset="synthetic", epochs=3, limit=40, window=8)


def test_the_line_states_the_idioms_median_and_the_ratio(clock):
    b = _Backend(clock)
    line = idiom.idiom_cost(Target(b, "fast"), CONFIG, _data(), run_median_us=50.0, n_train=40)
    assert line == ("the loop idiom (np:loop, `--strategy loop`): 200.0 us/example, measured just now over 5 "
                    "windows of 40 examples after a warm-up window: 4.0x this run's median (50.0); its 3 passes "
                    "would take ~0 s of training (an estimate from those windows, not a run)")
    assert b.sessions[0].windows == 1 + idiom.ROUNDS  # warm-up, then the rounds


def test_without_a_run_median_only_the_measurement(clock):
    line = idiom.idiom_cost(Target(_Backend(clock), "fast"), CONFIG, _data(), run_median_us=None, n_train=40)
    assert line.endswith("over 5 windows of 40 examples after a warm-up window")


def test_the_window_is_at_most_64_examples_and_the_estimate_counts_every_pass(clock):
    cfg = RunConfig(backend="np", strategy="fast", dataset="synthetic", epochs=2, limit=100, window=8)
    line = idiom.idiom_cost(Target(_Backend(clock, us={"loop": 1e5, "fast": 1.0}), "fast"), cfg, _data(100),
                            run_median_us=1e4, n_train=100)
    # 0.1 s per example: a window of 64 takes 6.4 s; the budget (10 s) allows a second, not a third
    assert "100000.0 us/example, measured just now over 2 windows of 64 examples" in line
    assert "10.0x this run's median (10000.0); its 2 passes would take ~20 s of training" in line


def test_a_contended_machine_is_said(clock, monkeypatch):
    monkeypatch.setattr(idiom, "load_average", lambda: [7.25, 1.0, 1.0])
    monkeypatch.setattr(idiom, "busy_warning", lambda: "warning: busy")
    line = idiom.idiom_cost(Target(_Backend(clock), "fast"), CONFIG, _data(), run_median_us=None, n_train=40)
    assert line.endswith("after a warm-up window (load average 7.25: contended)")


def test_nothing_to_say_for_the_idiom_itself_or_where_it_cannot_run(clock):
    assert idiom.idiom_cost(Target(_Backend(clock), "loop"), CONFIG, _data(), 50.0, 40) is None
    assert idiom.idiom_cost(Target(_Backend(clock, devices=()), "fast", "cuda"), CONFIG, _data(), 50.0, 40) is None

    class Unsupporting(_Backend):
        def supports(self, strategy, variant, dtype):
            return "no" if strategy == "loop" else None

    assert idiom.idiom_cost(Target(Unsupporting(clock), "fast"), CONFIG, _data(), 50.0, 40) is None


def test_an_idiom_that_fails_says_why_in_one_line(clock):
    line = idiom.idiom_cost(Target(_Backend(clock, fail=True), "fast"), CONFIG, _data(), 50.0, 40)
    assert line == "the loop idiom could not be timed here for comparison: no such kernel"
    assert idiom.idiom_of(Target(_Backend(clock), "fast")) == "loop"


def test_an_idiom_failing_without_words_is_named_by_its_type(clock, monkeypatch):
    def silent(*a, **k):
        raise KeyError()

    monkeypatch.setattr(idiom, "time_idiom", silent)
    line = idiom.idiom_cost(Target(_Backend(clock), "fast"), CONFIG, _data(), 50.0, 40)
    assert line == "the loop idiom could not be timed here for comparison: KeyError()"
