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
