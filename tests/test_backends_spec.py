"""Every backend x strategy computes what harness.spec says, as harness.reference computes it.

The reference is NumPy written from the spec alone, so these catch a backend that
hard-codes the padding value or H2's connection table: after spec.PAD_VALUE or
spec.H2_INPUTS is changed, a session built afterwards must follow the change.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness import plugins, reference, spec, tables
from harness.backend import Steps, unsupported_reason
from harness.spec import VARIANTS, init_params
from tests.conftest import requires_torch

pytestmark = pytest.mark.usefixtures("torch_one_thread")

N = 96  # USPS images per check
SEED = 7
LAYERS = {"H1": (12, 8, 8), "H2": (12, 4, 4), "H3": (30,), "out": (10,)}


def cpu_targets(variant: str | None = None, dtype: str = "float64", recipe=None):
    """(backend name, strategy) for every registered backend and strategy that runs on the CPU here
    (and supports `variant` in `dtype`, and `recipe`'s knobs, when given)."""
    reg = plugins.get_registry()
    out = []
    for name in reg.available():
        b = reg.get(name)
        out += [(name, s) for s in b.strategies if "cpu" in b.strategy_devices(s)
                and (variant is None or unsupported_reason(b, s, variant, dtype, recipe) is None)]
    return out


def session(name: str, strategy: str, variant, dtype: str = "float64"):
    b = plugins.get_registry().get(name)
    return b.session(variant=variant, params=init_params(SEED, dtype, variant), dtype=dtype,
                     device="cpu", strategy=strategy)


def test_cpu_targets_cover_both_builtin_backends():
    names = {n for n, _ in cpu_targets()}
    assert {"torch", "jax"} <= names or pytest.skip(f"backends here: {sorted(names)}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_strategy_matches_the_reference_on_usps(usps, variant):
    v = VARIANTS[variant]
    x = usps.train_x[:N].astype(np.float64)
    want = reference.activations(init_params(SEED, "float64", v), v, x)
    assert {k: a.shape[1:] for k, a in want.items()} == LAYERS
    for name, strategy in cpu_targets(variant):
        s = session(name, strategy, v)
        np.testing.assert_allclose(s.forward(x), want["out"], rtol=0, atol=1e-12, err_msg=f"{name}/{strategy}")
        if hasattr(s, "activations"):
            got = s.activations(x)
            for k, a in want.items():
                assert got[k].shape == a.shape, f"{name}/{strategy} {k}"
                np.testing.assert_allclose(got[k], a, rtol=0, atol=1e-12, err_msg=f"{name}/{strategy} {k}")


# The activations knobs (spec.KNOBS) each strategy declares: its forward pass against the reference.
ACTIVATION_RECIPES = [("1989", "activation=scaled_tanh output_activation=scaled_tanh"),
                      ("1989", "activation=relu output_activation=linear"),
                      ("modern", "activation=scaled_tanh output_activation=tanh")]


@pytest.mark.parametrize("base,sets", ACTIVATION_RECIPES)
def test_every_strategy_that_declares_an_activation_matches_the_reference(usps, base, sets):
    from harness.recipe import Recipe

    r = Recipe.of(base, sets.split())
    v = r.variant_spec()
    x = usps.train_x[:N].astype(np.float64)
    want = reference.activations(init_params(SEED, "float64", v), v, x)
    targets = cpu_targets(base, recipe=r)
    assert {("torch", "eager"), ("jax", "step"), ("jax", "scan")} <= set(targets) or pytest.skip(
        f"targets here: {targets}")
    for name, strategy in targets:
        s = session(name, strategy, v)
        np.testing.assert_allclose(s.forward(x), want["out"], rtol=0, atol=1e-12, err_msg=f"{name}/{strategy}")
        if hasattr(s, "activations"):
            got = s.activations(x)
            for k, a in want.items():
                np.testing.assert_allclose(got[k], a, rtol=0, atol=1e-12, err_msg=f"{name}/{strategy} {k}")



# A connection table unlike the paper's (groups moved and each group's planes in another order)
# and a padding value unlike -1: a backend that hard-codes either differs from the reference.
OTHER_H2_INPUTS = (*[(11, 10, 9, 8, 3, 2, 1, 0)] * 4, *[tuple(range(7, -1, -1))] * 4,
                   *[tuple(range(4, 12))] * 4)
OTHER_PAD_VALUE = 0.25
PAPER_H2_INPUTS, PAPER_PAD_VALUE = spec.H2_INPUTS, spec.PAD_VALUE


@pytest.fixture
def other_spec(monkeypatch):
    monkeypatch.setattr(spec, "H2_INPUTS", OTHER_H2_INPUTS)
    monkeypatch.setattr(spec, "PAD_VALUE", OTHER_PAD_VALUE)


def test_sessions_follow_a_changed_spec(usps, other_spec):
    v = VARIANTS["1989"]
    x = usps.train_x[:N].astype(np.float64)
    p = init_params(SEED, "float64", v)
    want = reference.activations(p, v, x)
    assert tables.h2_groups()[0][1] == OTHER_H2_INPUTS[0]
    with pytest.MonkeyPatch.context() as m:  # the change matters: the paper's spec gives other outputs
        m.setattr(spec, "H2_INPUTS", PAPER_H2_INPUTS)
        m.setattr(spec, "PAD_VALUE", PAPER_PAD_VALUE)
        assert np.abs(reference.forward(p, v, x) - want["out"]).max() > 1e-3
    targets = cpu_targets()
    for name, strategy in targets:
        s = session(name, strategy, v)
        np.testing.assert_allclose(s.forward(x), want["out"], rtol=0, atol=1e-12, err_msg=f"{name}/{strategy}")
        if hasattr(s, "activations"):
            np.testing.assert_allclose(s.activations(x)["H2"], want["H2"], rtol=0, atol=1e-12,
                                       err_msg=f"{name}/{strategy}")


@requires_torch  # torch eager is the reference
def test_gradients_follow_a_changed_spec(usps, other_spec):
    """The backward passes too: every strategy's gradients equal torch eager's under the changed spec,
    and the parameters come back in the canonical layout of the changed table."""
    v = VARIANTS["1989"]
    one = Steps(usps.train_x[:1].astype(np.float64), np.where(np.eye(10)[usps.train_labels[:1]] > 0, 1.0, -1.0),
                usps.train_labels[:1].astype(np.int64), np.array([0.03]))
    loss0, g0 = session("torch", "eager", v).loss_and_grads(one)
    for name, strategy in cpu_targets():
        s = session(name, strategy, v)
        loss, g = s.loss_and_grads(one)
        assert abs(loss - loss0) < 1e-12, f"{name}/{strategy}"
        for k in g0:
            np.testing.assert_allclose(g[k], g0[k], rtol=0, atol=1e-12, err_msg=f"{name}/{strategy} {k}")
        np.testing.assert_array_equal(s.get_params()["H2w"], init_params(SEED, "float64", v)["H2w"])
