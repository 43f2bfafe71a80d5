"""Denominators with --limit: a run trained on its first n_train examples is evaluated on exactly
those, and says so. Train misses count the examples trained on (misses <= n_train), the train
error is misses / n_train, the result records n_train, and every pass trains n_train steps.

A NumPy session whose predictions the test decides (each image carries its predicted class in
one pixel): the first examples are mostly right, every example beyond any limit is wrong, so
evaluating (or dividing by) the whole training set shows.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.config import ParityConfig, RunConfig
from harness.data import Dataset
from harness.parity import Context, Target, check_passes, tolerances
from harness.run import run_training
from harness.spec import PARAM_SHAPES, VARIANTS
from harness.train import train

N_TRAIN, N_TEST = 40, 20
LABELS = np.arange(N_TRAIN) % 10
PRED = np.where(np.arange(N_TRAIN) < 10, LABELS, (LABELS + 1) % 10)  # beyond the 10th: every one wrong
PRED[[1, 4, 7]] = (LABELS[[1, 4, 7]] + 5) % 10  # three of the first ten wrong
TEST_LABELS = np.arange(N_TEST) % 10
TEST_PRED = np.where(np.arange(N_TEST) < 5, (TEST_LABELS + 1) % 10, TEST_LABELS)  # five wrong


def _images(pred):
    x = np.zeros((len(pred), 1, 16, 16))
    x[:, 0, 0, 0] = pred / 10  # the class this session will predict
    return x


DATA = Dataset("fake", _images(PRED), LABELS, _images(TEST_PRED), TEST_LABELS, {"n_train": N_TRAIN})


class PredictingSession:
    def __init__(self):
        self.trained = []  # examples per train_steps call

    def forward(self, x):
        pred = np.rint(np.asarray(x)[:, 0, 0, 0] * 10).astype(int)
        out = -np.ones((len(x), 10))
        out[np.arange(len(x)), pred] = 1.0
        return out

    def train_steps(self, steps):
        self.trained.append(len(steps))
        return np.full(len(steps), 0.1)

    def get_params(self):
        return {k: np.zeros(shape) for k, shape in PARAM_SHAPES.items()}

    def sync(self):
        pass


class PredictingBackend:
    name = "predicting"

    def __init__(self):
        self.sessions = []

    def environment(self, device):
        return {}

    def session(self, *, variant, params, dtype, device, strategy):
        self.sessions.append(PredictingSession())
        return self.sessions[-1]


LIMITS = [3, 10, 25, N_TRAIN, N_TRAIN + 7, None]


def _n(limit):
    return N_TRAIN if limit is None else min(limit, N_TRAIN)


def _misses(n):
    return int((PRED[:n] != LABELS[:n]).sum())


def _config(limit, epochs=2):
    return RunConfig(backend="predicting", strategy="s", dataset="synthetic", dtype="float64", seed=1, epochs=epochs,
                     limit=limit, window=4)


def test_the_fixture_makes_the_denominator_matter():
    assert [_misses(n) for n in (3, 10, 25, N_TRAIN)] == [1, 3, 18, 33]


@pytest.mark.parametrize("limit", LIMITS)
def test_train_evaluates_the_examples_trained_on(limit):
    session = PredictingSession()
    log = train(session, _config(limit), DATA)
    n = _n(limit)
    assert sum(session.trained) == 2 * n  # two passes of n steps
    for e in log.epochs:
        assert e["train_misses"] == _misses(n) <= n
        assert e["train_error"] == _misses(n) / n
        assert (e["test_misses"], e["test_error"]) == (5, 5 / N_TEST)


@pytest.mark.parametrize("limit", LIMITS)
def test_the_result_records_the_examples_trained_on(tmp_path, limit):
    backend = PredictingBackend()
    cfg = _config(limit)
    _, result = run_training(Target(backend, "s"), cfg, DATA, tmp_path)
    n = _n(limit)
    assert result["n_train"] == n and result["n_test"] == N_TEST
    assert result["config"]["limit"] == limit
    for e in [*result["epochs"], result["final"]]:
        assert e["train_misses"] == _misses(n) <= result["n_train"]
        assert e["train_error"] == e["train_misses"] / result["n_train"]
        assert e["test_error"] == e["test_misses"] / result["n_test"]
    assert sum(backend.sessions[0].trained) == 2 * n


@pytest.mark.parametrize("limit", LIMITS)
def test_parity_passes_evaluate_the_examples_trained_on(limit):
    config = ParityConfig(dataset="synthetic", dtype="float64", seed=1, steps=(), limit=limit)
    ctx = Context(config=config, data=DATA, variant=VARIANTS["1989"], params0={}, first_steps=None,
                  tol=tolerances("float64", "1989"))
    ref, target = Target(PredictingBackend(), "s"), Target(type("Other", (PredictingBackend,), {"name": "other"})(), "s")
    result = check_passes(ctx, ref, [target], passes=1, limit=limit, chunk=4)
    n = _n(limit)
    assert result["n_train"] == n
    for label, metrics in result["metrics"].items():
        assert metrics[0]["train_misses"] == _misses(n), label
    assert sum(target.backend.sessions[0].trained) == n
    assert result["passed"], result["summary"]
    counted = [r for r in result["rows"] if r["tensor"] == "train predictions differing"]
    assert counted and all(r["of"] == n for r in counted)
