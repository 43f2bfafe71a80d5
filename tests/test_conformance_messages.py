"""The conformance kit (harness.testing.assert_session_conforms) on a NumPy session broken one way
at a time: each protocol breach fails with the message that names it (method, tensor, shape or
dtype, what was expected), and the session that keeps every promise passes."""
from __future__ import annotations

import numpy as np
import pytest

from harness.spec import PARAM_SHAPES
from harness.testing import ACTIVATION_SHAPES, assert_session_conforms
from tests.backend_helpers import CpuOnlyBackend


class _Session:
    def __init__(self, params, broken):
        self.broken = broken
        self.params = {k: a.copy() for k, a in params.items()}
        if broken == "own_init":  # ignores the parameters it was given
            self.params = {k: a + 1.0 for k, a in self.params.items()}

    def get_params(self):
        p = {k: a.copy() for k, a in self.params.items()}
        if self.broken == "int_params":
            p["H2b"] = p["H2b"].astype(np.int64)
        if self.broken == "flat_params":
            p["H1w"] = p["H1w"].reshape(-1)
        if self.broken == "missing_param":
            del p["outb"]
        return p

    def forward(self, x):
        return np.zeros((len(x), 9 if self.broken == "forward_shape" else 10))

    def activations(self, x):
        acts = {k: np.zeros((len(x), *s)) for k, s in ACTIVATION_SHAPES.items()}
        if self.broken == "acts_missing":
            del acts["H2"]
        if self.broken == "acts_out_differs":
            acts["out"] = acts["out"] + 1.0
        return acts

    def loss_and_grads(self, steps):
        assert len(steps) == 1
        if self.broken == "grads_move_params":
            self.params["H3w"] = self.params["H3w"] + 1.0
        grads = {k: np.zeros(s) for k, s in PARAM_SHAPES.items()}
        if self.broken == "grads_shape":
            grads["H3b"] = np.zeros(29)
        return (np.nan if self.broken == "nan_loss" else 0.5), grads

    def train_steps(self, steps):
        if self.broken != "trains_nothing":
            self.params = {k: a - 0.01 for k, a in self.params.items()}
        n = len(steps) - (1 if self.broken == "losses_short" else 0)
        return np.full(n, np.inf if self.broken == "inf_losses" else 0.25)

    def sync(self):
        pass


class _Backend(CpuOnlyBackend):
    strategies = ("s",)
    description = "a conformance-kit test"

    def __init__(self, broken=None):
        self.broken = broken
        self.name = f"conf-{broken or 'ok'}".replace("_", "-")

    def session(self, *, variant, params, dtype, device, strategy):
        return _Session(params, self.broken)


def test_a_session_that_keeps_every_promise_conforms():
    assert assert_session_conforms(_Backend()) is None  # raises on any breach


@pytest.mark.parametrize("broken, words", [
    ("own_init", "get_params H1w differs from the parameters given"),
    ("int_params", "get_params H2b is int64, not floating-point"),
    ("flat_params", "get_params H1w has shape (300,), expected (12, 1, 5, 5) (canonical layout)"),
    ("missing_param", "get_params has names"),
    ("forward_shape", "forward returned shape (3, 9), expected (3, 10)"),
    ("acts_missing", "activations()['H2'] has shape None, expected (3, 12, 4, 4)"),
    ("acts_out_differs", "activations out"),
    ("nan_loss", "loss_and_grads returned a non-finite loss nan"),
    ("grads_shape", "loss_and_grads gradient H3b has shape (29,), expected (30,) (canonical layout)"),
    ("grads_move_params", "get_params after loss_and_grads H3w differs from the parameters given"),
    ("losses_short", "train_steps returned"),
    ("inf_losses", "expected 3 finite losses"),
    ("trains_nothing", "train_steps changed no parameter"),
])
def test_each_breach_is_named(broken, words):
    b = _Backend(broken)
    with pytest.raises(AssertionError) as e:
        assert_session_conforms(b)
    msg = str(e.value)
    assert f"{b.name}:s: " in msg and words in msg, msg


class _Recording(_Session):
    """A conforming session that keeps what the kit hands it."""

    def __init__(self, params, seen):
        super().__init__(params, None)
        self.seen = seen

    def forward(self, x):
        self.seen.append(("x", x))
        return super().forward(x)

    def loss_and_grads(self, steps):
        self.seen.append(("steps", steps))
        return super().loss_and_grads(steps)

    def train_steps(self, steps):
        self.seen.append(("steps", steps))
        return super().train_steps(steps)


class _RecordingBackend(_Backend):
    def __init__(self):
        super().__init__()
        self.seen = []

    def session(self, *, variant, params, dtype, device, strategy):
        return _Recording(params, self.seen)


@pytest.mark.parametrize("variant, dtype", [("1989", "float64"), ("1989", "float32"), ("modern", "float32")])
@pytest.mark.parametrize("seed", range(8))
def test_the_kit_hands_a_session_what_the_core_would(variant, dtype, seed):
    """The data a session gets keeps the Steps contract the core keeps (harness.backend.Steps): images
    in the data's [-1, 1] in the session's dtype, +-1 targets at labels 0-9 (int64), float64 step
    sizes, and a dropout mask in the session's dtype only where the variant drops out. Eight seeds:
    with three labels a seed, one seed alone would often miss a label drawn outside 0-9."""
    b = _RecordingBackend()
    assert_session_conforms(b, variant=variant, dtype=dtype, seed=seed)
    xs = [x for what, x in b.seen if what == "x"] + [s.x for what, s in b.seen if what == "steps"]
    assert xs and all(x.dtype == dtype and x.shape[1:] == (1, 16, 16) for x in xs)
    assert all(x.min() >= -1.0 and x.max() <= 1.0 for x in xs)
    steps = [s for what, s in b.seen if what == "steps"]
    assert [len(s) for s in steps] == [1, 3]
    for s in steps:
        assert s.labels.dtype == np.int64 and set(s.labels) <= set(range(10))
        assert s.targets.dtype == dtype and s.targets.shape == (len(s), 10)
        want = -np.ones((len(s), 10))
        want[np.arange(len(s)), s.labels] = 1.0
        np.testing.assert_array_equal(s.targets, want)
        assert s.lr.dtype == np.float64 and s.lr.shape == (len(s),)
        if variant == "modern":  # dropout 0.25: kept units scaled by 1/(1 - p)
            assert s.mask.dtype == dtype and s.mask.shape == (len(s), 12, 4, 4)
            assert np.all((s.mask == 0) | np.isclose(s.mask, 1 / 0.75))
        else:
            assert s.mask is None
