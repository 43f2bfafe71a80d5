"""float64 parity of torch eager against jax step and scan for each knob value a variant does not
already have (harness/spec.py KNOBS): the backends compute the new activations, reduction,
losses and optimisers alike, SDLM's h included.

Default run: a few examples of USPS (forward on 16 test images, gradients on 2 examples, 8
steps one by one, a pass of 16 examples); knobs the core computes alone (targets, initial
values, learning rates, SDLM's constants, shifts) share one recipe per optimiser. `-m slow`:
each value on its own over a whole USPS pass (7,291 steps).
"""
from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")

from harness import plugins
from harness.config import ParityConfig
from harness.parity.run import run_parity
from harness.parity.select import Selection
from harness.recipe import Recipe
from harness.targets import Target

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# (variant, --set values): each knob value a backend computes, on its own. reduction=sum
# multiplies every gradient by 10: with SGD's 0.03 the steps are 10x 1989's and a pass turns
# chaotic (measured: torch eager and compiled part by 2.5e-9 after 64 USPS steps), so it runs
# at lr 0.003, the same steps as 1989's.
BACKEND_VALUES = [
    ("1989", "activation=scaled_tanh"),
    ("1989", "activation=relu"),
    ("1989", "output_activation=scaled_tanh"),
    ("1989", "output_activation=linear"),
    ("1989", "loss=xent"),
    ("1989", "reduction=sum sgd_lr=0.003"),
    ("1989", "optimizer=adamw"),
    ("1989", "dropout=0.25"),
    ("1989-sdlm", "activation=scaled_tanh output_activation=scaled_tanh"),
    ("1989-sdlm", "reduction=sum"),
]
# AdamW's constants, handed to torch.optim.AdamW and optax.adamw alike: together by default
# (distinct values, so a swapped pair shows), each on its own under -m slow.
ADAMW_VALUES = [("modern", "adamw_beta1=0.8 adamw_beta2=0.99 adamw_eps=1e-6 adamw_weight_decay=0.1")]
# Knobs only the core computes: what the backends are handed changes, not what they compute.
CORE_VALUES = [
    ("1989", "targets=0.8 init=fan_in outb_init=0 sgd_lr=0.01 shift=1"),
    ("modern", "adamw_lr=1e-3 adamw_lr_end=0"),
    ("1989-sdlm", "targets=0.8 sdlm_mu=0.05 sdlm_schedule=per_update sdlm_eps_scale=2 sdlm_examples=100"),
]
ALONE = [(v, s) for v, sets in ADAMW_VALUES + CORE_VALUES for s in sets.split()]


def parity(usps, variant: str, sets: str, **workload) -> dict:
    reg = plugins.get_registry()
    torch_b, jax_b = reg.get("torch"), reg.get("jax")
    recipe = Recipe.of(variant, sets.split())
    config = ParityConfig(variant=variant, recipe=recipe.sets(), dtype="float64", **workload)
    sel = Selection(Target(torch_b, "eager"), [Target(jax_b, "step"), Target(jax_b, "scan")])
    result = run_parity(sel, config, usps)
    assert result["config"]["variant_config"]["label"] == result["recipe"]["label"] == recipe.label
    return result


def assert_passed(result: dict) -> None:
    assert not result["notes"], result["notes"]  # nothing skipped: jax step and scan both compared
    assert result["passed"], result["summary"]
    names = {c["name"] for c in result["checks"]}
    assert {"forward", "grads", "steps", "passes"} <= names
    if result["config"]["variant_config"]["optimizer"]["kind"] == "sdlm":
        assert "hessian" in names


@pytest.mark.parametrize("variant,sets", BACKEND_VALUES + ADAMW_VALUES + CORE_VALUES)
def test_eager_matches_jax_step_and_scan_in_float64(usps, variant, sets):
    result = parity(usps, variant, sets, steps=(8,), passes=1, limit=16, n_forward=16, n_grad=2, chunk=8,
                    checks=("forward", "grads", "steps", "passes"))
    assert_passed(result)


@pytest.mark.slow
@pytest.mark.parametrize("variant,sets", BACKEND_VALUES + ALONE)
def test_eager_matches_jax_over_a_usps_pass(usps, variant, sets):
    assert_passed(parity(usps, variant, sets, steps=(1, 10, 100), passes=1))


# TensorFlow declares every knob value but SDLM (backends/tensorflow/__init__.py KNOBS): its three
# strategies against torch eager on the new values it computes, a few together per recipe.
TENSORFLOW_VALUES = [("1989", "activation=scaled_tanh output_activation=scaled_tanh"),
                     ("1989", "reduction=sum sgd_lr=0.003 loss=mse"),
                     ("1989", "activation=relu output_activation=linear loss=xent dropout=0.25 optimizer=adamw"),
                     ("modern", "adamw_beta1=0.8 adamw_beta2=0.99 adamw_eps=1e-6 adamw_weight_decay=0.1")]


@pytest.mark.parametrize("variant,sets", TENSORFLOW_VALUES)
def test_tensorflow_matches_torch_eager_in_float64(usps, variant, sets):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    reg = plugins.get_registry()
    tf_b = reg.get("tensorflow")
    recipe = Recipe.of(variant, sets.split())
    config = ParityConfig(variant=variant, recipe=recipe.sets(), dtype="float64", steps=(8,), passes=1, limit=16,
                          n_forward=16, n_grad=2, chunk=8, checks=("forward", "grads", "steps", "passes"))
    sel = Selection(Target(reg.get("torch"), "eager"), [Target(tf_b, s) for s in tf_b.strategies])
    assert_passed(run_parity(sel, config, usps))
