"""Localisation with several broken layers at once: parity names the *first* layer that differs,
in forward order for activations (H1, H2, H3, out) and in backprop order for gradients (out, H3,
H2, H1), for every combination of broken layers, each target on its own.

Framework-free: NumPy sessions whose activations and gradients are the reference's except in the
layers a test breaks (by far more than any tolerance), compared through parity's own checks.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.backend import Steps
from harness.config import ParityConfig
from harness.data import Dataset
from harness.parity import (
    LAYERS,
    Context,
    Target,
    check_forward,
    check_grads,
    tolerances,
)
from harness.spec import PARAM_SHAPES, VARIANTS
from harness.testing import ACTIVATION_SHAPES

N = 3  # examples
WRONG = 1e-3  # far beyond every tolerance
SUBSETS = [c for r in range(1, len(LAYERS) + 1) for c in itertools.combinations(LAYERS, r)]


def _layer(tensor: str) -> str:
    return tensor[:-1]  # "H2w" -> "H2", "outb" -> "out"


class FakeSession:
    def __init__(self, broken: tuple[str, ...]):
        self.broken = broken

    def activations(self, x):
        out = {}
        for i, (k, shape) in enumerate(ACTIVATION_SHAPES.items()):
            a = np.tanh(np.linspace(-1, 1, len(x) * int(np.prod(shape))).reshape(len(x), *shape) + i)
            out[k] = a + WRONG if k in self.broken else a
        return out

    def forward(self, x):
        return self.activations(x)["out"]

    def loss_and_grads(self, steps: Steps):
        grads = {k: np.full(shape, 0.25) + (WRONG if _layer(k) in self.broken else 0.0)
                 for k, shape in PARAM_SHAPES.items()}
        return 0.5, grads


class FakeBackend:
    def __init__(self, broken: tuple[str, ...] = ()):
        self.broken = broken
        self.name = "broken-" + ("+".join(broken) or "none")

    def session(self, *, variant, params, dtype, device, strategy):
        return FakeSession(self.broken)


def _ctx() -> Context:
    x = np.zeros((N, 1, 16, 16))
    labels = np.arange(N) % 10
    data = Dataset("fake", x, labels, x, labels)
    steps = Steps(x, -np.ones((N, 10)), labels, np.full(N, 0.03))
    config = ParityConfig(dataset="synthetic", dtype="float64", seed=1)
    return Context(config=config, data=data, variant=VARIANTS["1989"], params0={}, first_steps=steps,
                   tol=tolerances("float64", "1989"))


REF = Target(FakeBackend(), "s")


def _first(broken: tuple[str, ...], order: tuple[str, ...]) -> str:
    return next(layer for layer in order if layer in broken)


@pytest.mark.parametrize("broken", SUBSETS, ids="+".join)
def test_forward_names_the_first_broken_layer_in_forward_order(broken):
    t = Target(FakeBackend(broken), "s")
    result = check_forward(_ctx(), REF, [t], n=N)
    assert not result["passed"]
    assert result["first_layer"] == {t.label: _first(broken, LAYERS)}
    failing = {r["layer"] for r in result["rows"] if not r["passed"] and r.get("layer")}
    assert failing == set(broken)  # every broken layer is shown, the first one named


@pytest.mark.parametrize("broken", SUBSETS, ids="+".join)
def test_grads_name_the_first_broken_layer_in_backprop_order(broken):
    t = Target(FakeBackend(broken), "s")
    result = check_grads(_ctx(), REF, [t], n=N)
    assert not result["passed"]
    assert result["first_layer"] == {t.label: _first(broken, LAYERS[::-1])}
    failing = {_layer(r["tensor"]) for r in result["rows"] if not r["passed"]}
    assert failing == set(broken)


def test_each_target_is_localised_on_its_own():
    """All combinations in one comparison: each target named with its own first layer; a correct
    target beside them is named with none."""
    targets = [Target(FakeBackend(b), "s") for b in [(), *SUBSETS]]
    fwd = check_forward(_ctx(), REF, targets, n=N)["first_layer"]
    grads = check_grads(_ctx(), REF, targets, n=N)["first_layer"]
    for t in targets:
        broken = t.backend.broken
        assert fwd[t.label] == (_first(broken, LAYERS) if broken else None), t.label
        assert grads[t.label] == (_first(broken, LAYERS[::-1]) if broken else None), t.label
