"""The conformance kit's own choices (harness.testing): the small workload its docstring promises
by default (synthetic data, 64 examples, float64, seed 1337, steps 1 and 10, one pass, against
torch), the session it builds by default, which strategies it compares, and its refusals, word
for word. The parity run itself is stood in for: these tests check what the kit asks for."""
from __future__ import annotations

import numpy as np
import pytest

from harness import plugins, testing
from harness.errors import ConfigError, DeviceUnavailable
from harness.spec import VARIANTS, init_params
from tests.backend_helpers import CpuOnlyBackend
from tests.conftest import requires_torch
from tests.test_conformance_messages import _Session


@pytest.fixture
def asked(monkeypatch):
    """What run_parity hands harness.parity: the configuration and the data."""
    seen = {}

    def stand_in(sel, config, data):
        seen.update(sel=sel, config=config, data=data)
        return {"stood": "in"}

    monkeypatch.setattr(testing.par, "run_parity", stand_in)
    return seen


@requires_torch  # the kit's default reference is torch
def test_run_parity_defaults_are_the_small_synthetic_workload(asked):
    assert testing.run_parity("torch") == {"stood": "in"}
    c = asked["config"]
    assert (c.reference, c.device, c.variant, c.dataset, c.dtype, c.seed) == \
        ("torch", "cpu", "1989", "synthetic", "float64", 1337)
    assert (c.steps, c.passes, c.limit, c.recipe) == ((1, 10), 1, 64, ())
    assert c.backends == ("torch",)  # reference and backend the same framework: named once
    assert c.strategies == tuple(f"torch:{s}" for s in plugins.get_registry().get("torch").strategies
                                 if "cpu" in testing._devices(plugins.get_registry().get("torch"), s))
    assert asked["data"].train_x.dtype == np.float64


@requires_torch  # the kit's default reference is torch
def test_run_parity_passes_its_options_on(asked):
    testing.run_parity("torch", strategies=["compiled"], reference="torch:eager", dtype="float32", seed=7,
                       steps=(2,), passes=2, limit=16, recipe={"activation": "scaled_tanh"})
    c = asked["config"]
    assert (c.strategies, c.reference, c.dtype, c.seed, c.steps, c.passes, c.limit) == \
        (("torch:compiled",), "torch:eager", "float32", 7, (2,), 2, 16)
    assert dict(c.recipe) == {"activation": "scaled_tanh"}
    assert asked["data"].train_x.dtype == np.float32


class _Two(CpuOnlyBackend):
    name, strategies = "kit-two", ("cpu_one", "gpu_one")

    def strategy_devices(self, strategy):
        return ["cpu"] if strategy == "cpu_one" else ["cuda:0"]

    def session(self, *, variant, params, dtype, device, strategy):
        return _Session(params, None)


@requires_torch  # the kit's default reference is torch
def test_only_the_strategies_that_reach_the_device_are_compared(asked):
    testing.run_parity(_Two())
    assert asked["config"].strategies == ("kit-two:cpu_one",)
    assert asked["config"].backends == ("torch", "kit-two")


def test_no_strategy_on_the_device_is_refused_whole():
    class Nowhere(_Two):
        name = "kit-nowhere"

        def strategy_devices(self, strategy):
            return []

    with pytest.raises(DeviceUnavailable) as e:
        testing.run_parity(Nowhere())
    assert str(e.value) == "no strategy of backend 'kit-nowhere' reaches device 'cpu'"


@requires_torch  # the kit's default reference is torch
def test_refusals_word_for_word():
    class Impostor(_Two):
        name = "torch"

    with pytest.raises(ValueError) as e:
        testing.run_parity(Impostor())
    assert str(e.value) == "another backend named 'torch' is registered; pass its name instead"
    with pytest.raises(ConfigError) as e:
        testing.run_parity("torch", strategies=["eager"], reference="torch:eager")
    assert str(e.value) == ("torch:eager is both the reference and the only strategy of torch asked for: "
                            "nothing would be compared; choose another reference")


def test_assert_session_conforms_default_session():
    made = []

    class Recording(_Two):
        name = "kit-recording"

        def session(self, *, variant, params, dtype, device, strategy):
            made.append((variant, {k: a.copy() for k, a in params.items()}, dtype, device, strategy))
            return super().session(variant=variant, params=params, dtype=dtype, device=device, strategy=strategy)

    testing.assert_session_conforms(Recording())
    [(variant, params, dtype, device, strategy)] = made
    assert (variant, dtype, device, strategy) == (VARIANTS["1989"], "float64", "cpu", "cpu_one")
    want = init_params(0, "float64", VARIANTS["1989"])
    assert all(np.array_equal(params[k], want[k]) and params[k].dtype == np.float64 for k in want)


def test_the_session_check_feeds_inputs_across_the_data_range_and_one_hot_targets():
    """What assert_session_conforms hands a session: images uniform over [-1, 1] (the range of the data sets,
    so a session that mishandles negative pixels is exercised), ±1 targets marking each label, a learning
    rate of 0.01 per step, and the first of the three training examples to loss_and_grads."""
    fed = {}

    class _Recording(_Session):
        def forward(self, x):
            fed["forward"] = np.array(x)
            return super().forward(x)

        def loss_and_grads(self, steps):
            fed["one"] = steps
            return super().loss_and_grads(steps)

        def train_steps(self, steps):
            fed["steps"] = steps
            return super().train_steps(steps)

    class Feeding(_Two):
        name = "kit-feeding"

        def session(self, *, variant, params, dtype, device, strategy):
            return _Recording(params, None)

    testing.assert_session_conforms(Feeding())
    for x in (fed["forward"], fed["steps"].x):
        assert x.shape[1:] == (1, 16, 16) and x.dtype == np.float64
        assert -1 <= x.min() < -0.5 and 0.5 < x.max() <= 1  # both signs, within the data's range
    s = fed["steps"]
    assert len(s) == 3 and s.mask is None and list(s.lr) == [0.01] * 3
    assert (s.targets == np.where(np.arange(10) == s.labels[:, None], 1.0, -1.0)).all()
    assert np.array_equal(fed["one"].x, s.x[:1]) and np.array_equal(fed["one"].labels, s.labels[:1])
