"""`harness run`'s result (harness.run.run_training) from a scripted NumPy backend: what it records
(the examples trained on under --limit, the final figures as the last pass's, which test examples
were missed and as what, the environment the backend and session describe), the file's name and its
parameters attachment, and the refusals (a target the configuration does not name, an unresolved
configuration, a plugin that raises: nothing written)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.config import RunConfig
from harness.data import Dataset
from harness.errors import BackendFailure
from harness.run import run_training
from harness.spec import PARAM_SHAPES
from harness.targets import Target
from tests.backend_helpers import ClassZeroSession

N_TRAIN, N_TEST = 20, 10


def _data() -> Dataset:
    x = np.zeros((N_TRAIN, 1, 16, 16))
    return Dataset("synthetic", x, np.arange(N_TRAIN) % 10, np.zeros((N_TEST, 1, 16, 16)),
                   np.array([0, 1, 0, 3, 0, 0, 9, 0, 0, 0]), source={"kind": "test"})


class _Session(ClassZeroSession):
    def __init__(self, params, fail):
        super().__init__(params)
        self.fail = fail

    def environment(self):
        return {"threads": 1}

    def train_steps(self, steps):
        if self.fail:
            raise ZeroDivisionError("plugin bug")
        return super().train_steps(steps)


class _Backend:
    name = "np"
    strategies = ("loop",)

    def __init__(self, fail=False):
        self.fail = fail

    def environment(self, device):
        return {"device_name": device}

    def session(self, *, variant, params, dtype, device, strategy):
        return _Session(params, self.fail)


def _config(**kw) -> RunConfig:
    return RunConfig(backend="np", strategy="loop", dataset="synthetic", epochs=2, window=4, **kw)


def test_result_records_what_was_trained_and_missed(tmp_path):
    path, res = run_training(Target(_Backend(), "loop"), _config(limit=12), _data(), tmp_path)
    assert path.name.startswith("run-np-loop-cpu-1989-synthetic") and path.suffix == ".json"
    written = json.loads(path.read_text())
    assert {k: v for k, v in written.items() if k != "schema_version"} == json.loads(json.dumps(res))
    assert (res["n_train"], res["n_test"]) == (12, N_TEST)
    assert [e["epoch"] for e in res["epochs"]] == [1, 2]
    last = res["epochs"][-1]
    assert res["final"] == {k: last[k] for k in ("train_error", "train_misses", "test_error", "test_misses",
                                                 "train_loss", "test_loss")}
    assert (res["final"]["train_misses"], res["final"]["test_misses"]) == (10, 3)  # of 12 (labels 0..9, 0, 1), of 10
    assert res["test_missed"] == {"indices": [1, 3, 6], "predicted": [0, 0, 0], "labels": [1, 3, 9]}
    assert (res["backend"], res["strategy"], res["device"], res["variant"], res["dataset"]) == (
        "np", "loop", "cpu", "1989", "synthetic")
    assert res["dataset_source"] == {"kind": "test"} and res["seed"] == 1337 and res["dtype"] == "float32"
    assert res["config"] == _config(limit=12).to_dict()
    assert res["environment"]["backend"] == {"device_name": "cpu"} and res["environment"]["session"] == {"threads": 1}
    assert res["timing"]["window"] == 4
    assert not list(tmp_path.glob("*.npz"))


def test_n_train_is_the_data_when_the_limit_is_above_it(tmp_path):
    _, res = run_training(Target(_Backend(), "loop"), _config(limit=50), _data(), tmp_path)  # fewer examples than a full synthetic set
    assert res["n_train"] == N_TRAIN
    _, res = run_training(Target(_Backend(), "loop"), _config(), _data(), tmp_path)
    assert res["n_train"] == N_TRAIN


def test_save_params_writes_the_trained_parameters_beside_the_result(tmp_path):
    path, _ = run_training(Target(_Backend(), "loop"), _config(), _data(), tmp_path, save_params=True)
    npz = path.with_suffix(".npz")
    with np.load(npz) as z:
        assert set(z.files) == set(PARAM_SHAPES)
        assert all(z[k].shape == s for k, s in PARAM_SHAPES.items())


@pytest.mark.parametrize("target, config, words", [
    (Target(_Backend(), "other"), _config(), "target np:other@cpu is not the one"),
    (Target(_Backend(), "loop", "cuda"), _config(), "target np:loop@cuda is not the one"),
    (Target(_Backend(), "loop"), RunConfig(backend="np", strategy="loop", dataset="synthetic"),
     "run_training needs a resolved RunConfig"),
])
def test_refuses_what_it_cannot_run(tmp_path, target, config, words):
    with pytest.raises(ValueError, match=words):
        run_training(target, config, _data(), tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_plugin_that_raises_is_named_and_nothing_is_written(tmp_path):
    with pytest.raises(BackendFailure) as e:
        run_training(Target(_Backend(fail=True), "loop"), _config(), _data(), tmp_path)
    assert str(e.value).startswith("backend 'np' strategy 'loop' failed: ZeroDivisionError: plugin bug")
    assert str(e.value).endswith("; no result written")
    assert not list(tmp_path.iterdir())
