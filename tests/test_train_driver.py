"""The training driver (harness.train) around a scripted NumPy session and a scripted clock: the
eval line's figures, what each pass's log entry holds (SDLM's h summary and the time it took),
where a non-finite loss is reported, what the timing summary computes, and that SDLM's h is drawn
from the examples a --limit run trains on. No framework, no real timing."""
from __future__ import annotations

import numpy as np
import pytest

from harness import sdlm, train
from harness.config import RunConfig
from harness.data import Dataset
from harness.errors import NonFiniteLoss
from harness.spec import PARAM_SHAPES

N_TRAIN, N_TEST = 30, 12


def _data() -> Dataset:
    # training example i is the constant image i / 100: a session can tell which examples it got
    x = (np.arange(N_TRAIN, dtype="float64") / 100)[:, None, None, None] * np.ones((1, 1, 16, 16))
    labels = np.arange(N_TRAIN) % 10
    tx = np.ones((N_TEST, 1, 16, 16)) * -0.5
    return Dataset("synthetic", x, labels, tx, np.arange(N_TEST) % 10)


class _Session:
    """Predicts class 0 for every input (so misses are the labels that are not 0); training losses zero."""

    def __init__(self, nan_train_at=None, nan_eval=False):
        self.nan_train_at, self.nan_eval = nan_train_at, nan_eval
        self.h_indices, self.scales, self.trained = [], [], 0

    def sync(self):
        pass

    def train_steps(self, steps):
        losses = np.zeros(len(steps))
        if self.nan_train_at is not None and self.trained <= self.nan_train_at < self.trained + len(steps):
            losses[self.nan_train_at - self.trained] = np.nan
        self.trained += len(steps)
        return losses

    def forward(self, x):
        out = -np.ones((len(x), 10))
        out[:, 0] = np.nan if self.nan_eval else 1.0
        return out

    def hessian_diag(self, steps):
        self.h_indices.append(np.rint(steps.x[:, 0, 0, 0] * 100).astype(int))
        # from 0 to 1 evenly: mean 0.5, max 1
        return {k: np.linspace(0.0, 1.0, int(np.prod(shape))).reshape(shape) for k, shape in PARAM_SHAPES.items()}

    def set_step_scale(self, scale):
        self.scales.append(scale)


@pytest.fixture
def ticking_clock(monkeypatch):
    """Each call of the clock is one second later than the one before."""
    t = {"now": 0.0}

    def clock():
        t["now"] += 1.0
        return t["now"]

    monkeypatch.setattr(train, "clock", clock)


def test_eval_line_is_karpathys_with_the_error_in_percent():
    e = train.SplitEval(loss=0.0123, error=0.04567, misses=91, predictions=np.zeros(2))
    assert e.line("train") == "eval: split train. loss 1.230000e-02. error 4.57%. misses: 91"
    assert e.line("test") == "eval: split test . loss 1.230000e-02. error 4.57%. misses: 91"


def test_evaluate_counts_misses_over_the_split():
    labels = np.array([0, 0, 3, 7, 0])
    e = train.evaluate(_Session(), train.of_config(RunConfig()).variant_spec(), np.zeros((5, 1, 16, 16)), labels,
                       batch=2)
    assert (e.misses, e.error) == (2, 2 / 5) and list(e.predictions) == [0] * 5
    # mse over 10 outputs against ±1: a hit costs 0, a miss (2 outputs off by 2) (4 + 4) / 10
    assert e.loss == pytest.approx(2 * 0.8 / 5)


def test_sdlm_pass_entry_holds_h_and_the_time_it_took(ticking_clock):
    s = _Session()
    log = train.train(s, RunConfig(variant="1989-sdlm", dataset="synthetic", epochs=2, window=10), _data())
    for entry in log.epochs:
        assert entry["hessian_s"] == 1.0  # one tick: the clock read before and after h's estimate
        assert set(entry["hessian"]) == set(PARAM_SHAPES)
        assert entry["hessian"]["H1w"] == {"mean": pytest.approx(0.5), "max": 1.0}
    assert [e["epoch"] for e in log.epochs] == [1, 2]
    assert len(s.scales) == 2
    assert "hessian" not in train.train(_Session(), RunConfig(dataset="synthetic", epochs=1, window=10), _data()).epochs[0]


def test_sdlm_h_is_drawn_from_the_limited_examples_only(ticking_clock):
    s = _Session()
    train.train(s, RunConfig(variant="1989-sdlm", dataset="synthetic", epochs=2, limit=10, window=5), _data())
    assert [list(i) for i in s.h_indices] == [list(range(10))] * 2  # every example of the 10, none beyond
    assert s.trained == 2 * 10


def test_a_nan_in_training_names_the_pass_and_the_example(ticking_clock):
    with pytest.raises(NonFiniteLoss) as e:
        train.train(_Session(nan_train_at=13), RunConfig(dataset="synthetic", epochs=1, window=5), _data())
    assert (e.value.epoch, e.value.step) == (0, 13)
    assert "at pass 1, step 13" in str(e.value)


def test_a_nan_in_evaluation_is_blamed_on_the_last_step_of_the_pass(ticking_clock):
    with pytest.raises(NonFiniteLoss) as e:
        train.train(_Session(nan_eval=True), RunConfig(dataset="synthetic", epochs=1, limit=7, window=5), _data())
    assert (e.value.epoch, e.value.step) == (0, 6) and np.isnan(e.value.value)


def test_entries_count_against_the_examples_evaluated(ticking_clock):
    seen = []
    log = train.train(_Session(), RunConfig(dataset="synthetic", epochs=1, limit=20, window=8), _data(),
                      on_epoch=lambda ep, entry, tr, te: seen.append((ep, tr.misses, te.misses)),
                      progress=lambda n: seen.append(n))
    e = log.epochs[0]
    not_zero = int((np.arange(20) % 10 != 0).sum())
    assert (e["train_misses"], e["train_error"]) == (not_zero, not_zero / 20)
    assert e["test_misses"] == int((np.arange(N_TEST) % 10 != 0).sum())
    assert seen == [8, 8, 4, (0, not_zero, e["test_misses"])]
    assert log.final_test.misses == e["test_misses"]


def test_timing_takes_first_windows_of_each_length_as_warm_up(ticking_clock):
    log = train.train(_Session(), RunConfig(dataset="synthetic", epochs=2, window=8), _data())
    # windows per pass: 8, 8, 8, 6 (30 examples); each window takes one tick (1 s)
    t = log.timing(8)
    assert (log.examples, log.warmup_examples) == (60, 8 + 6)
    assert log.window_us == pytest.approx([1e6 / 8] * 2 + [1e6 / 8] * 3 + [1e6 / 6])
    assert t["us_per_example"] == pytest.approx(1e6 / 8)
    assert t["examples_per_s"] == pytest.approx(8.0)
    assert t["warmup_s"] == 2.0 and t["train_s_total"] == 8.0
    assert t["us_per_example_mean"] == pytest.approx((8.0 - 2.0) * 1e6 / (60 - 14))
    assert t["compile_s_estimate"] == pytest.approx(max(2.0 - 14 * (1e6 / 8) * 1e-6, 0.0))
    assert t["window"] == 8 and t["us_per_example_windows"] == [round(u, 4) for u in log.window_us]


def test_timing_of_nothing_timed_is_none():
    t = train.TrainLog().timing(4)
    assert t["us_per_example"] is None and t["compile_s_estimate"] is None and t["us_per_example_mean"] is None
    assert t["examples_per_s"] is None


def test_sdlm_check_hessian_counts_non_finite_and_negative_entries_apart():
    h = {k: np.zeros(shape) for k, shape in PARAM_SHAPES.items()}  # zeros are a valid sum of squares
    sdlm.check_hessian(h)
    bad = np.zeros(PARAM_SHAPES["H3b"])
    bad[:3] = -1.0
    bad[3] = np.nan
    bad[4] = np.inf
    with pytest.raises(ValueError) as e:
        sdlm.check_hessian({**h, "H3b": bad})
    assert str(e.value) == ("hessian_diag's H3b has 2 non-finite and 3 negative entries: a sum of squares is "
                            "finite and >= 0")
    with pytest.raises(ValueError, match=r"hessian_diag's H1w has shape \(1,\), expected"):
        sdlm.check_hessian({**h, "H1w": np.zeros(1)})


def test_before_pass_names_what_a_session_lacks_and_hands_over_the_scale():
    v = train.of_config(RunConfig(variant="1989-sdlm")).variant_spec()

    class NoScale:
        def hessian_diag(self, steps):
            raise AssertionError("not reached")

    with pytest.raises(TypeError) as e:
        sdlm.before_pass(NoScale(), v, _data(), 1, 0, "float64")
    assert str(e.value) == ("NoScale has no set_step_scale: its backend does not implement SDLM (variant 1989-sdlm); "
                            "declare it in Backend.supports")
    with pytest.raises(TypeError, match=r"^object has no hessian_diag / set_step_scale: "):
        sdlm.before_pass(object(), v, _data(), 1, 0, "float64")
    s = _Session()
    summary = sdlm.before_pass(s, v, _data(), 1, 0, "float32", limit=4)
    assert [list(i) for i in s.h_indices] == [[0, 1, 2, 3]]
    (scale,) = s.scales
    assert scale["H1w"].dtype == np.float32 and scale["H1w"].shape == PARAM_SHAPES["H1w"]
    np.testing.assert_allclose(scale["outb"], 1.0 / (v.optimizer.mu + np.linspace(0.0, 1.0, 10)), rtol=1e-6)
    assert summary["outb"] == {"mean": pytest.approx(0.5), "max": 1.0}


def test_hessian_steps_are_the_indexed_examples_with_their_targets():
    d = _data()
    s = sdlm.hessian_steps(d, np.array([3, 7]), "float32", t=0.9)
    assert s.x.dtype == np.float32 and list(np.rint(s.x[:, 0, 0, 0] * 100)) == [3, 7]
    assert list(s.labels) == [3, 7] and s.labels.dtype == np.int64
    assert s.targets[0, 3] == np.float32(0.9) and s.targets[0, 0] == np.float32(-0.9)
    assert (s.lr == 0).all() and len(s.lr) == 2


class _LossySession(_Session):
    """Training loss of example i (the constant image i / 100) is i / 10: each pass's mean is known by hand."""

    def train_steps(self, steps):
        self.trained += len(steps)
        return np.rint(steps.x[:, 0, 0, 0] * 100) / 10


def test_train_pass_loss_is_the_mean_of_the_passs_training_losses(ticking_clock):
    """train_pass returns the pass's MEAN training loss (recorded as train_pass_loss): 20 examples 0..19 in
    windows of 8, 8, 4, losses i / 10, mean (0 + ... + 19) / 10 / 20 = 0.95 whatever order the pass draws."""
    log = train.train(_LossySession(), RunConfig(dataset="synthetic", epochs=2, limit=20, window=8), _data())
    assert [e["train_pass_loss"] for e in log.epochs] == [pytest.approx(sum(range(20)) / 10 / 20)] * 2
    steps = train.Steps(x=_data().train_x[:3], targets=np.zeros((3, 10)), labels=np.zeros(3, dtype=int), lr=np.ones(3))
    got = train.train_pass(_LossySession(), steps, 0, 2, train.TrainLog(), set())
    assert got == pytest.approx((0.0 + 0.1 + 0.2) / 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_steps_of_a_pass_are_in_the_runs_dtype(ticking_clock, dtype):
    got = []

    class _Typed(_Session):
        def train_steps(self, steps):
            got.append((steps.x.dtype, steps.targets.dtype, len(steps)))
            return super().train_steps(steps)

    train.train(_Typed(), RunConfig(dataset="synthetic", dtype=dtype, epochs=1, limit=12, window=8), _data())
    assert got == [(np.dtype(dtype), np.dtype(dtype), 8), (np.dtype(dtype), np.dtype(dtype), 4)]
