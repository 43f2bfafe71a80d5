"""`harness bench`'s row arithmetic (harness.bench.time_target and its helpers) on a scripted clock:
a fake session advances a fake clock by a known cost per example, so every figure of the row
(median, spread, compile time, examples per second, the windows `harness compare` tests) has one
right value. No real timing: the clock is the test's."""
from __future__ import annotations

import numpy as np
import pytest

from harness import bench
from harness.backend import Steps
from harness.config import BenchConfig
from harness.data import Dataset
from harness.errors import BackendFailure, UsageError
from harness.targets import Matrix, Target

N_TRAIN = 40
WINDOW = 4
COMPILE_S = 2.5  # what the fake session spends once, compiling, in its first window
# per-example cost (us) of each window after the warm-up: median 30, p25 20, p75 40, min 10, max 50
ROUND_US = [10.0, 40.0, 30.0, 50.0, 20.0]


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class _Session:
    def __init__(self, clock, costs_us, compile_s):
        self.clock, self.costs, self.compile_s, self.calls = clock, list(costs_us), compile_s, []

    def train_steps(self, steps):
        us = self.costs.pop(0)
        self.clock.t += len(steps) * us * 1e-6 + (self.compile_s if not self.calls else 0.0)
        self.calls.append(steps)
        return np.zeros(len(steps))

    def sync(self):
        pass


class _Backend:
    name = "fake"

    def __init__(self, clock, costs_us, compile_s=COMPILE_S):
        self.clock, self.costs, self.compile_s, self.sessions = clock, costs_us, compile_s, []

    def session(self, *, variant, params, dtype, device, strategy):
        s = _Session(self.clock, self.costs, self.compile_s)
        self.sessions.append(s)
        return s

    def environment(self, device):
        return {"device_name": f"fake {device}"}


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (N_TRAIN, 1, 16, 16)).astype("float32")
    labels = np.arange(N_TRAIN) % 10
    return Dataset("synthetic", x, labels, x[:10], labels[:10])


def _config(**kw) -> BenchConfig:
    return BenchConfig(dataset="synthetic", window=WINDOW, rounds=len(ROUND_US), **kw)


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(bench, "clock", c)
    return c


def _row(clock, compile_s=COMPILE_S, **kw):
    b = _Backend(clock, [7.0, *ROUND_US, 1.0], compile_s)
    ticks = []
    row = bench.time_target(Target(b, "eager", "cpu"), _config(**kw), _data(), progress=lambda: ticks.append(1))
    return row, b, ticks


def test_row_summarises_the_timed_windows_not_the_warm_up(clock):
    row, b, ticks = _row(clock)
    assert row["us_per_example"] == pytest.approx(30.0)
    assert (row["p25"], row["p75"], row["min"], row["max"]) == pytest.approx((20.0, 40.0, 10.0, 50.0))
    assert row["us_per_example_windows"] == pytest.approx(ROUND_US)
    assert row["examples_per_s"] == pytest.approx(1e6 / 30.0)
    assert (row["rounds"], row["window"]) == (len(ROUND_US), WINDOW)
    assert (row["backend"], row["strategy"], row["device"], row["dtype"]) == ("fake", "eager", "cpu", "float32")
    assert row["environment"] == {"device_name": "fake cpu"}
    assert ticks == [1] * len(ROUND_US)  # one progress tick per timed round
    assert len(b.sessions[0].calls) == 1 + len(ROUND_US)  # warm-up + rounds, no profiling window
    assert "kernel_count" not in row and "kernels_per_example" not in row


def test_compile_s_is_the_warm_up_minus_one_window_at_the_median(clock):
    # warm-up window: COMPILE_S + WINDOW * 7 us; compile_s = that - WINDOW * median (30 us)
    row, _, _ = _row(clock)
    assert row["compile_s"] == pytest.approx(COMPILE_S + WINDOW * (7.0 - 30.0) * 1e-6)


def test_compile_s_is_never_negative(clock):
    row, _, _ = _row(clock, compile_s=0.0)  # warm-up 7 us/example, faster than the median: no compile time
    assert row["compile_s"] == 0.0


def test_rounds_are_consecutive_windows_of_the_pass(clock):
    _, b, _ = _row(clock)
    calls = b.sessions[0].calls
    assert all(len(c) == WINDOW for c in calls)
    firsts = [c.x[0] for c in calls]
    assert not any(np.array_equal(firsts[i], firsts[i + 1]) for i in range(len(firsts) - 1))


def test_kernels_counted_after_the_timing(clock, monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "count_kernels", lambda s, steps: seen.append(len(steps)) or {"kernels": 12.5})
    row, _, _ = _row(clock, kernels=True)
    assert seen == [WINDOW]
    assert row["kernel_count"] == {"kernels": 12.5} and row["kernels_per_example"] == 12.5
    assert row["us_per_example"] == pytest.approx(30.0)  # the profiled window is not timed
    monkeypatch.setattr(bench, "count_kernels", lambda s, steps: None)
    row, _, _ = _row(clock, kernels=True)
    assert row["kernel_count"] is None and row["kernels_per_example"] is None


def test_step_feeder_wraps_to_the_start_when_a_window_would_run_past_the_pass():
    n = 10
    s = Steps(np.arange(n, dtype=float).reshape(n, 1, 1, 1), np.zeros((n, 10)), np.zeros(n, int), np.arange(n, dtype=float))
    f = bench.StepFeeder(s, 4)
    assert [list(f.next().lr) for _ in range(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(bench.StepFeeder(s, 10).next().lr) == list(range(10))  # exactly the pass: allowed
    with pytest.raises(UsageError, match="--window 11 is larger than the pass \\(10 examples\\)"):
        bench.StepFeeder(s, 11)


def test_add_speedups_is_over_the_slowest_row_of_the_same_device():
    rows = [{"device": "cpu", "us_per_example": 100.0}, {"device": "cpu", "us_per_example": 25.0},
            {"device": "cuda", "us_per_example": 10.0}, {"device": "cuda", "us_per_example": 5.0},
            {"device": "cpu", "us_per_example": None}]
    out = bench.add_speedups(rows)
    assert [r["speedup_vs_slowest"] for r in out] == [1.0, 4.0, 1.0, 2.0, None]


def test_time_matrix_keeps_rows_and_names_refusals(clock):
    good = _Backend(clock, [7.0, *ROUND_US])

    class Raising(_Backend):
        name = "boom"

        def session(self, **kw):
            raise RuntimeError("no luck\nsecond line")

    class Refusing(_Backend):
        name = "nope"

        def session(self, **kw):
            raise UsageError("not here")

    seen = []
    targets = [Target(Raising(clock, []), "s1", "cpu"), Target(good, "eager", "cpu"), Target(Refusing(clock, []), "s2", "cuda:1")]
    out = bench.time_matrix(targets, _config(), _data(), on_target=seen.append)
    assert seen == targets
    assert [r["backend"] for r in out.rows] == ["fake"]
    assert [(r["backend"], r["strategy"], r["device"]) for r in out.refused] == [("boom", "s1", "cpu"), ("nope", "s2", "cuda:1")]
    assert isinstance(out.errors[0], BackendFailure)
    assert out.refused[0]["reason"].startswith("backend 'boom' strategy 's1' failed: RuntimeError: no luck")
    assert out.refused[1]["reason"] == "not here"
    assert out.exit_code == 2  # the gravest: a usage error beats a failure
    assert out.refusal_notes() == [f"boom:s1@cpu refused: {out.refused[0]['reason']}", "nope:s2@cuda:1 refused: not here"]
    assert bench.MatrixTiming().exit_code == 0


def test_bench_result_and_stem(clock):
    config = _config()
    timed = bench.time_matrix([Target(_Backend(clock, [7.0, *ROUND_US]), "eager", "cpu")], config, _data())
    timed.refused.append({"backend": "x", "strategy": "y", "device": "cpu", "reason": "r"})
    matrix = Matrix(targets=[Target(_Backend(clock, []), "eager", "cuda:0"), Target(_Backend(clock, []), "eager", "cpu")],
                    notes=["left out"], skipped=[{"backend": "z"}])
    res = bench.bench_result(config, matrix, _data(), timed)
    assert res["kind"] == "bench" and res["dataset"] == "synthetic"
    assert (res["variant"], res["seed"], res["dtype"], res["window"], res["rounds"]) == ("1989", 1337, "float32", WINDOW, 5)
    assert res["rows"][0]["speedup_vs_slowest"] == 1.0
    assert res["skipped"] == [{"backend": "z"}, timed.refused[0]]
    assert res["notes"] == ["left out", "x:y@cpu refused: r"]
    assert res["config"] == config.to_dict()
    assert bench.result_stem(config, matrix) == "bench-cpu-cuda0-1989-float32"
