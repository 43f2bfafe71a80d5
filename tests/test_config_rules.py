"""harness.config's Rule, one kind at a time: what each kind accepts and normalises to, what it
refuses, and the one line that says so (the field as its flag, the value shown short, what it must
be); and RunConfig's label and `harness run` arguments, field by field."""
from __future__ import annotations

import numpy as np
import pytest

from harness.config import RULES, ConfigError, Rule, RunConfig, _show
from harness.errors import UnknownVariant


@pytest.mark.parametrize("rule, words", [
    (Rule("int", 1, 8), "a whole number from 1 to 8"),
    (Rule("int", 0), "a whole number >= 0"),
    (Rule("int", 1, optional=True, none="all"), "a whole number >= 1, or none for all"),
    (Rule("ints", 2), "whole numbers >= 2"),
    (Rule("flag"), "true or false"),
    (Rule("choice", choices=("a", "b")), "one of a, b"),
    (Rule("choices", choices=("a", "b")), "some of a, b"),
    (Rule("knobs"), "recipe knobs, {knob: value} or KNOB=VALUE (`harness recipes` lists them)"),
    (Rule("text"), "a name"),
    (Rule("texts"), "a list of names"),
    (Rule("texts", optional=True, none="every one"), "a list of names, or none for every one"),
])
def test_expect_says_what_a_value_must_be(rule, words):
    assert rule.expect() == words


@pytest.mark.parametrize("rule, value, out", [
    (Rule("int", 1, 8), 1, 1), (Rule("int", 1, 8), 8, 8), (Rule("int", 0), 10 ** 12, 10 ** 12),
    (Rule("ints", 0), [3, 0, 1, 3], (1, 3)),  # sorted, unique, zeros dropped
    (Rule("ints", 0), (), ()),
    (Rule("flag"), False, False), (Rule("flag"), True, True),
    (Rule("text"), "torch", "torch"),
    (Rule("texts"), ["a", "b", "a"], ("a", "b")), (Rule("texts"), ("x",), ("x",)),
    (Rule("choice", choices=("a", "b")), "b", "b"),
    (Rule("choices", choices=("a", "b")), ["b", "a", "b"], ("b", "a")),
    (Rule("knobs"), {"targets": 0.8}, (("targets", 0.8),)),
    (Rule("knobs"), [["targets", 0.8], ("init", "x")], (("targets", 0.8), ("init", "x"))),
    (Rule("int", 1, optional=True), None, None),
])
def test_check_accepts_and_normalises(rule, value, out):
    assert rule.check("field", value) == out


@pytest.mark.parametrize("rule, value", [
    (Rule("int", 1, 8), 0), (Rule("int", 1, 8), 9), (Rule("int", 1), True), (Rule("int", 1), 2.0), (Rule("int", 1), "3"),
    (Rule("ints", 0), "1,2"), (Rule("ints", 0), [1, -1]), (Rule("ints", 0), 3), (Rule("ints", 0), [True]),
    (Rule("flag"), 1), (Rule("flag"), "true"),
    (Rule("text"), ""), (Rule("text"), " x"), (Rule("text"), "x "), (Rule("text"), 3),
    (Rule("texts"), "a"), (Rule("texts"), []), (Rule("texts"), ["a", ""]), (Rule("texts"), ["a", 1]), (Rule("texts"), {"a"}),
    (Rule("choices", choices=("a",)), "a"), (Rule("choices", choices=("a",)), []), (Rule("choices", choices=("a",)), ["a", "z"]),
    (Rule("knobs"), "targets=1"), (Rule("knobs"), [("a", 1, 2)]), (Rule("knobs"), [(1, 2)]), (Rule("knobs"), 5),
])
def test_check_refuses_with_the_flag_the_value_and_what_it_must_be(rule, value):
    with pytest.raises(ConfigError) as e:
        rule.check("my_field", value)
    assert str(e.value) == f"--my-field {_show(value)}: must be {rule.expect()}"


def test_a_missing_value_is_named_with_what_is_expected():
    with pytest.raises(ConfigError, match=r"^--window is missing: a whole number >= 1$"):
        Rule("int", 1).check("window", None)
    with pytest.raises(ConfigError, match=r"^--set is missing: recipe knobs"):
        Rule("knobs").check("recipe", None)  # the recipe field is --set on the command line


def test_an_unknown_choice_names_what_is_available():
    with pytest.raises(ConfigError) as e:
        Rule("choice", choices=("usps", "mnist"), noun="data set").check("dataset", "svhn")
    assert str(e.value) == "unknown data set 'svhn'; available: usps, mnist"
    assert not isinstance(e.value, UnknownVariant)
    with pytest.raises(UnknownVariant, match="^unknown variant 'x'; available: 1989"):
        RULES["variant"].check("variant", "x")


def test_show_quotes_text_and_cuts_long_values_to_sixty_characters():
    assert _show("abc") == "'abc'" and _show(12) == "12" and _show([1, 2]) == "[1, 2]"
    assert _show("x" * 58) == "'" + "x" * 58 + "'"  # 60 characters: whole
    long = _show("y" * 59)  # 61 characters: cut
    assert long == "'" + "y" * 56 + "..." and len(long) == 60
    assert _show(list(range(100))) == str(list(range(100)))[:57] + "..."
    with pytest.raises(ConfigError) as e:
        RunConfig(seed="1" * 200)
    assert str(e.value) == f"--seed '{'1' * 56}...: must be {RULES['seed'].expect()}"


def test_label_names_every_field_that_differs():
    assert RunConfig().label() == "torch:default@cpu 1989 usps float32 seed 1337"
    c = RunConfig(backend="jax", strategy="scan", device="cuda:0", variant="1989", dataset="mnist", dtype="float64",
                  seed=7, epochs=3, limit=100, recipe={"targets": 0.8})
    assert c.label() == "jax:scan@cuda:0 1989 targets=0.8 mnist float64 seed 7 3 passes limit 100"


def test_to_args_gives_each_field_once_and_leaves_out_the_defaults_that_are_none():
    assert RunConfig().to_args() == ["--backend", "torch", "--device", "cpu", "--variant", "1989", "--dataset", "usps",
                                     "--dtype", "float32", "--seed", "1337", "--window", "256"]
    c = RunConfig(strategy="eager", epochs=2, limit=50, threads=3, window=8, recipe={"targets": 0.8, "init": "fan_in"})
    args = c.to_args()
    assert args[args.index("--window") + 1] == "8"
    assert args[14:] == ["--strategy", "eager", "--epochs", "2", "--limit", "50", "--threads", "3",
                         "--set", "targets=0.8", "--set", "init=fan_in"]


def test_to_dict_lists_tuples_and_the_recipe_as_a_mapping():
    d = RunConfig(recipe={"targets": 0.8}).to_dict()
    assert d["recipe"] == {"targets": 0.8} and d["strategy"] is None and d["window"] == 256
    from harness.config import ParityConfig

    p = ParityConfig(dataset="synthetic", steps=(3, 1)).to_dict()
    assert p["steps"] == [1, 3] and isinstance(p["steps"], list)


def test_the_recipe_is_checked_against_the_variant_and_normalised():
    from harness.errors import RecipeError

    assert RunConfig(recipe={"targets": "0.8"}).recipe == (("targets", 0.8),)  # text from --set: a number
    assert RunConfig(recipe=[("init", "fan_in")]).recipe == (("init", "fan_in"),)
    with pytest.raises(RecipeError, match="targets"):
        RunConfig(variant="modern", recipe={"targets": 0.8})  # no effect with loss=xent
    with pytest.raises(RecipeError, match="nope"):
        RunConfig(recipe={"nope": 1})
    from harness.config import BenchConfig

    with pytest.raises(RecipeError, match="targets"):
        BenchConfig(dataset="synthetic", variant="modern", recipe={"targets": 0.8})


def test_init_params_default_to_float32():
    from harness.spec import init_params

    assert {a.dtype for a in init_params(1).values()} == {np.dtype("float32")}
