"""Tests aimed at faults the rest of the suite once let through (seeded by hand, one at a time):
an error fraction with the wrong denominator, a timing median replaced by the mean."""
import numpy as np

from harness.spec import VARIANTS
from harness.timing import summarize
from harness.train import TrainLog, evaluate


class _Fixed:
    """A session whose forward pass predicts class `pred[i]` for example i (score +1, others -1)."""

    def __init__(self, pred):
        self.pred, self.seen = np.asarray(pred), 0

    def forward(self, x):  # called batch by batch, in order
        pred = self.pred[self.seen:self.seen + len(x)]
        self.seen += len(x)
        out = -np.ones((len(x), 10))
        out[np.arange(len(x)), pred] = 1.0
        return out


def test_error_is_misses_over_the_split_size():
    labels = np.array([0, 1, 2, 3, 4, 5, 6])
    pred = np.array([0, 1, 9, 3, 9, 5, 9])  # 3 of 7 wrong
    ev = evaluate(_Fixed(pred), VARIANTS["1989"], np.zeros((7, 1, 16, 16)), labels, batch=3)
    assert ev.misses == 3
    assert ev.error == 3 / 7
    assert list(ev.predictions) == list(pred)
    # mse against ±1 targets: a right row has loss 0, a wrong one 2 entries off by 2 -> 8/10
    assert np.isclose(ev.loss, 3 * 0.8 / 7)


def test_timing_reports_the_median_not_the_mean():
    windows = [10.0, 11.0, 12.0, 13.0, 1000.0]  # one window hit by another process
    s = summarize(windows)
    assert s["median"] == 12.0 and s["min"] == 10.0 and s["max"] == 1000.0 and s["n"] == 5
    log = TrainLog(window_us=windows)
    assert log.timing(256)["us_per_example"] == 12.0


def test_summary_of_no_windows_and_of_known_windows():
    assert summarize([]) == {"median": None, "p25": None, "p75": None, "min": None, "max": None, "n": 0}
    s = summarize(np.arange(1, 102))  # 1..101 (ints): quartiles at 26 and 76 exactly
    assert s == {"median": 51.0, "p25": 26.0, "p75": 76.0, "min": 1.0, "max": 101.0, "n": 101}
    assert all(type(v) is float for k, v in s.items() if k != "n")


def test_run_config_arguments_parse_back_to_the_same_configuration(monkeypatch):
    from harness.cli import run

    for var in ("HARNESS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # --threads sets these
        monkeypatch.setenv(var, "1")
    from harness.config import RunConfig

    c = RunConfig(backend="jax", strategy="scan", device="cpu", variant="modern", dataset="synthetic",
                  dtype="float64", seed=7, epochs=3, limit=50, window=32, threads=1)
    ctx = run.make_context("run", c.to_args())
    p = ctx.params
    got = {k: p[k] for k in ("backend", "strategy", "device", "variant", "dataset", "dtype", "seed",
                             "epochs", "limit", "window")}
    assert got == {k: getattr(c, k) for k in got}
    assert "--threads" in c.to_args() and c.to_args()[c.to_args().index("--threads") + 1] == "1"
