"""What a backend declares it runs (harness.backend.unsupported_reason, knob_unsupported,
declared_support), one declaration at a time: declared variants and dtypes, `supports()` (which
sees the strategy, the variant and the dtype asked for), and the recipe knobs each strategy
computes; each refusal's words exact, and a backend that declares nothing takes the named
variants as they are."""
from __future__ import annotations

import pytest

from harness.backend import declared_support, knob_unsupported, unsupported_reason
from harness.errors import RecipeError
from harness.knobs import ANY
from harness.recipe import Recipe, parse_sets


class Plain:
    name = "plain"
    strategies = ("a", "b")


class Declares(Plain):
    name = "decl"
    variants = ("1989", "modern")
    dtypes = ("float64",)

    def __init__(self):
        self.asked = []

    def supports(self, strategy, variant, dtype):
        self.asked.append((strategy, variant, dtype))
        return "b has no modern" if (strategy, variant) == ("b", "modern") else None

    def knobs(self, strategy):
        return {"activation": ANY} if strategy == "a" else {"activation": ("tanh", "relu"), "dropout": (0.0,)}


def test_a_backend_that_declares_nothing_runs_the_named_variants_as_they_are():
    assert unsupported_reason(Plain(), "a", "1989", "float32") is None
    assert unsupported_reason(Plain(), "a", "modern", "float64") is None
    assert declared_support(Plain()) == {"variants": None, "dtypes": None}
    # a knob set otherwise than the variant sets it needs a declaration
    r = Recipe("1989", {"activation": "relu"})
    assert knob_unsupported(Plain(), "a", r) == (
        "plain:a does not implement activation=relu (it declares no values of knob activation: only the 1989 "
        "variant's own, tanh)")
    assert unsupported_reason(Plain(), "a", "1989", "float32", r) == (
        f"backend 'plain' does not support recipe {r.label!r}: " + knob_unsupported(Plain(), "a", r))


def test_declared_variants_and_dtypes():
    b = Declares()
    assert declared_support(b) == {"variants": ["1989", "modern"], "dtypes": ["float64"]}
    assert unsupported_reason(b, "a", "1989-sdlm", "float64") == (
        "backend 'decl' does not support variant '1989-sdlm' (supports: 1989, modern)")
    assert unsupported_reason(b, "a", "1989", "float32") == (
        "backend 'decl' does not support dtype 'float32' (supports: float64)")
    assert unsupported_reason(b, "a", "1989", "float64") is None


def test_supports_is_asked_with_what_was_asked_for():
    b = Declares()
    assert unsupported_reason(b, "b", "modern", "float64") == (
        "backend 'decl' does not support strategy 'b' with variant 'modern' in float64: b has no modern")
    assert unsupported_reason(b, "a", "modern", "float64") is None
    assert b.asked == [("b", "modern", "float64"), ("a", "modern", "float64")]


def test_declared_knob_values_per_strategy():
    b = Declares()
    relu = Recipe("1989", {"activation": "relu"})
    scaled = Recipe("1989", {"activation": "scaled_tanh"})
    assert knob_unsupported(b, "a", scaled) is None  # ANY
    assert knob_unsupported(b, "b", relu) is None  # declared
    assert knob_unsupported(b, "b", scaled) == (
        "decl:b does not implement activation=scaled_tanh (implements: tanh, relu); decl strategies that do: a")
    dropout = Recipe("1989", {"dropout": 0.5})
    assert knob_unsupported(b, "b", dropout) == "decl:b does not implement dropout=0.5 (implements: 0)"
    # a knob with no effect in the recipe is not asked about (AdamW's constants under SGD)
    assert knob_unsupported(b, "b", Recipe("1989", {})) is None


def test_without_a_recipe_the_named_variants_own_knobs_are_checked():
    class TanhOnly(Plain):
        name = "tanh-only"

        def knobs(self, strategy):
            return {"activation": ("tanh",), "output_activation": ("tanh",), "loss": ("mse",),
                    "reduction": ("mean",), "optimizer": ("sgd",), "dropout": (0.0,)}

    assert unsupported_reason(TanhOnly(), "a", "1989", "float32") is None
    reason = unsupported_reason(TanhOnly(), "a", "modern", "float32")
    assert reason is not None and reason.startswith("backend 'tanh-only' does not support recipe 'modern': ")


@pytest.mark.parametrize("item", ["targets", "=1", "  =x"])
def test_parse_sets_needs_knob_equals_value(item):
    with pytest.raises(RecipeError, match=r"expected KNOB=VALUE"):
        parse_sets([item])


def test_parse_sets_later_wins_and_values_stay_text():
    assert parse_sets(["targets=0.8", " init = fan_in ", "targets=0.5", "dropout="]) == {
        "targets": "0.5", "init": "fan_in", "dropout": ""}
    with pytest.raises(RecipeError, match=r"^unknown knob 'nope'; knobs: "):
        parse_sets(["nope=1"])
