"""Every bound of every configuration, on both sides, with the whole line that refuses it; every default.

test_config_rules.py checks each Rule kind on made-up rules; this file checks the rules the three
configurations really use (RULES), field by field, through the configurations themselves, and the
checks that span fields (`_across`) at their boundary values: a limit of the whole training set is no
limit, a bench window or parity step of exactly the training set is allowed and one more is refused.
"""
from __future__ import annotations

from dataclasses import fields

import pytest

from harness.config import (
    CHUNK,
    N_FORWARD,
    N_GRAD,
    PARITY_CHECKS,
    RULES,
    SEED_MAX,
    TRAIN_SIZES,
    BenchConfig,
    ConfigError,
    ParityConfig,
    RunConfig,
    norm_limit,
)
from harness.threads import MAX_THREADS

CONFIGS = (RunConfig, BenchConfig, ParityConfig)
# (field, lowest allowed, highest allowed or None, what a refusal says it must be)
INT_BOUNDS = [
    ("seed", 0, SEED_MAX, f"a whole number from 0 to {SEED_MAX}"),
    ("epochs", 1, None, "a whole number >= 1, or none for the variant's own number of passes"),
    ("limit", 1, None, "a whole number >= 1, or none for every training example"),
    ("window", 1, None, "a whole number >= 1"),
    ("threads", 1, MAX_THREADS, f"a whole number from 1 to {MAX_THREADS}, or none for the framework's own choice"),
    ("rounds", 1, None, "a whole number >= 1"),
    ("passes", 0, None, "a whole number >= 0"),
    ("n_forward", 1, None, "a whole number >= 1"),
    ("n_grad", 1, None, "a whole number >= 1"),
    ("chunk", 1, None, "a whole number >= 1"),
]


def _owners(name):
    return [c for c in CONFIGS if name in {f.name for f in fields(c)}]


def _make(cls, **kw):
    return cls(dataset="synthetic", **kw) if cls is not RunConfig else cls(**kw)


@pytest.mark.parametrize("name, lo, hi, words", INT_BOUNDS, ids=[b[0] for b in INT_BOUNDS])
def test_every_whole_number_field_at_both_ends_of_its_range(name, lo, hi, words):
    assert RULES[name].expect() == words
    owners = _owners(name)
    assert owners, name
    for cls in owners:
        lo_ok = lo if not (cls is BenchConfig and name == "window") else 1
        assert getattr(_make(cls, **{name: lo_ok}), name) == lo_ok
        with pytest.raises(ConfigError) as e:
            _make(cls, **{name: lo - 1})
        assert str(e.value) == f"--{name.replace('_', '-')} {lo - 1}: must be {words}"
        if hi is not None:
            assert getattr(_make(cls, **{name: hi}), name) == hi
            with pytest.raises(ConfigError) as e:
                _make(cls, **{name: hi + 1})
            assert str(e.value) == f"--{name.replace('_', '-')} {hi + 1}: must be {words}"


def test_parity_steps_take_zero_and_refuse_a_negative_step():
    assert ParityConfig(dataset="synthetic", steps=(0, 2, 1)).steps == (1, 2)
    with pytest.raises(ConfigError) as e:
        ParityConfig(dataset="synthetic", steps=(1, -1))
    assert str(e.value) == "--steps (1, -1): must be whole numbers >= 0"


@pytest.mark.parametrize("dataset", sorted(TRAIN_SIZES))
def test_a_limit_of_the_whole_training_set_is_no_limit(dataset):
    full = TRAIN_SIZES[dataset]
    assert norm_limit(dataset, full - 1) == full - 1
    assert norm_limit(dataset, full) is None and norm_limit(dataset, full + 1) is None
    assert norm_limit(dataset, None) is None and norm_limit("other", 10 ** 9) == 10 ** 9
    assert RunConfig(dataset=dataset, limit=full - 1).limit == full - 1
    assert RunConfig(dataset=dataset, limit=full).limit is None
    assert ParityConfig(dataset=dataset, limit=full).limit is None
    assert ParityConfig(dataset=dataset, limit=full - 1).limit == full - 1


def test_bench_window_and_parity_steps_may_reach_the_training_set_but_not_pass_it():
    full = TRAIN_SIZES["synthetic"]
    assert BenchConfig(dataset="synthetic", window=full).window == full
    with pytest.raises(ConfigError) as e:
        BenchConfig(dataset="synthetic", window=full + 1)
    assert str(e.value) == f"--window {full + 1} is larger than the {full} training examples of synthetic"
    assert ParityConfig(dataset="synthetic", steps=(1, full)).steps == (1, full)
    with pytest.raises(ConfigError) as e:
        ParityConfig(dataset="synthetic", steps=(1, full + 1))
    assert str(e.value) == f"--steps {full + 1} exceeds the {full} training examples of synthetic"
    assert ParityConfig(dataset="synthetic", steps=()).steps == ()  # no steps: nothing to exceed


def test_parity_reference_must_be_among_the_backends_named():
    ok = ParityConfig(dataset="synthetic", backends=("torch", "jax"), reference="jax:scan")
    assert ok.reference == "jax:scan"
    assert ParityConfig(dataset="synthetic", reference="jax").reference == "jax"  # every backend: any reference
    # a reference named by its backend alone, or BACKEND:STRATEGY: its backend is what must be named
    assert ParityConfig(dataset="synthetic", backends=("torch", "jax"), reference="jax").reference == "jax"
    assert ParityConfig(dataset="synthetic", backends=("torch",)).reference is None
    with pytest.raises(ConfigError) as e:
        ParityConfig(dataset="synthetic", backends=("torch", "jax"), reference="tf:eager")
    assert str(e.value) == ("--reference tf:eager is not among --backends torch,jax; "
                            "add its backend there, or leave --reference out")


def test_passes_set_in_the_recipe_are_the_runs_epochs():
    c = RunConfig(recipe={"passes": 3, "targets": 0.8})
    assert (c.epochs, c.recipe) == (3, (("targets", 0.8),))
    assert RunConfig(epochs=3, recipe={"passes": 3}).epochs == 3  # the same count twice agrees
    with pytest.raises(ConfigError) as e:
        RunConfig(epochs=2, recipe={"passes": 3})
    assert str(e.value) == "--epochs 2 and --set passes=3 disagree; give one of them"


def test_every_default_of_every_configuration():
    assert RunConfig().to_dict() == {
        "backend": "torch", "strategy": None, "device": "cpu", "variant": "1989", "dataset": "usps",
        "dtype": "float32", "seed": 1337, "epochs": None, "limit": None, "window": 256, "threads": None,
        "recipe": {}}
    assert BenchConfig().to_dict() == {
        "backends": None, "strategies": None, "devices": None, "variant": "1989", "dataset": "usps",
        "dtype": "float32", "seed": 1337, "window": 256, "rounds": 10, "kernels": False, "threads": None,
        "recipe": {}}
    assert ParityConfig().to_dict() == {
        "backends": None, "strategies": None, "reference": None, "device": "cpu", "variant": "1989",
        "dataset": "usps", "dtype": "float64", "seed": 1337, "steps": [1, 10, 100], "passes": 1, "limit": None,
        "n_forward": N_FORWARD, "n_grad": N_GRAD, "chunk": CHUNK, "checks": list(PARITY_CHECKS), "recipe": {}}
    assert (N_FORWARD, N_GRAD, CHUNK) == (256, 4, 256)
    assert PARITY_CHECKS == ("forward", "grads", "steps", "trajectory", "passes")


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_from_dict_ignores_unknown_keys_and_round_trips(cls):
    c = _make(cls, seed=5)
    assert cls.from_dict({**c.to_dict(), "nonsense": 1}) == c


@pytest.mark.parametrize("value", [["ab"], ("ab",), [5], [("targets", 0.8), "ab"]], ids=repr)
def test_recipe_pairs_must_be_pairs_not_anything_of_length_two(value):
    """A recipe item that is not a (knob, value) pair is refused as such: a two-letter text is not a pair."""
    with pytest.raises(ConfigError) as e:
        RunConfig(recipe=value)
    assert str(e.value) == f"--set {value}: must be {RULES['recipe'].expect()}"
