"""Timing honesty: the mean per-example time beside the median, the load warning, co-tenants."""
from __future__ import annotations

import pytest

from harness import timing
from harness.train import TrainLog


def test_mean_per_example_is_steady_train_time_over_steady_examples():
    log = TrainLog(window_us=[10.0, 10.0, 40.0], warmup_s=2.0, warmup_examples=100, examples=400, train_s=2.018)
    t = log.timing(100)
    assert t["us_per_example"] == 10.0  # the median hides the slow window
    # (2.018 - 2.0) s / 300 examples; to float rounding, not approx's default 1e-6 (a unit off by 1 ppm passes that)
    assert t["us_per_example_mean"] == pytest.approx(60.0, rel=1e-12, abs=0)
    assert t["examples_per_s"] == 1e5 and t["compile_s_estimate"] == pytest.approx(2.0 - 100 * 10.0 * 1e-6, rel=1e-12)
    assert TrainLog().timing(100)["us_per_example_mean"] is None


def test_busy_warning_when_load_exceeds_cores(monkeypatch):
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (9.5, 3.0, 1.0))
    monkeypatch.setattr(timing, "usable_cores", lambda: 2)
    w = timing.busy_warning()
    assert w.startswith("warning: load average 9.50 exceeds this machine's 2 cores")
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (1.5, 3.0, 1.0))
    assert timing.busy_warning() is None


def test_environment_records_load_and_cotenants(monkeypatch):
    monkeypatch.setenv("HARNESS_COTENANTS", "3")
    env = timing.environment()
    assert env["cotenants"] == 3 and len(env["load_average_at_start"]) == 3
    monkeypatch.delenv("HARNESS_COTENANTS")
    assert timing.environment()["cotenants"] is None
