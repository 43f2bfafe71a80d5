"""harness.recipe's refusals word for word (a bad value with the variant's own, a knob with no
effect, a knob combination one needs, an unknown variant) and what a recipe gives back: equal
values dropped, KNOBS order, `--set` arguments, the record a result keeps, a run's passes."""
from __future__ import annotations

import pytest

from harness.config import BenchConfig, RunConfig
from harness.errors import RecipeError, UnknownVariant
from harness.recipe import Recipe, active, check_overrides, of_config, variant_of
from harness.spec import KNOBS, PRESETS


def test_a_bad_value_is_refused_with_the_variants_own():
    with pytest.raises(RecipeError) as e:
        check_overrides("1989", {"targets": "3"})
    assert str(e.value) == "knob targets=3: must be a number in (0, 2] (the 1989 variant's: 1)"


def test_a_knob_with_no_effect_names_where_it_applies():
    with pytest.raises(RecipeError) as e:
        check_overrides("1989", {"adamw_beta1": 0.5})
    assert str(e.value) == "knob adamw_beta1=0.5 has no effect with optimizer=sgd: it applies to optimizer=adamw"
    assert check_overrides("1989", {"optimizer": "adamw", "adamw_beta1": 0.5}) == (
        ("optimizer", "adamw"), ("adamw_beta1", 0.5))


def test_sdlm_needs_the_squared_error():
    with pytest.raises(RecipeError) as e:
        check_overrides("modern", {"optimizer": "sdlm"})
    assert str(e.value) == ("optimizer=sdlm needs loss=mse (its second-derivative pass is written for the squared "
                            "error), not loss=xent")


def test_unknown_variant_and_knob():
    with pytest.raises(UnknownVariant, match=r"^unknown variant 'x'; available: 1989, modern"):
        check_overrides("x", {})
    with pytest.raises(RecipeError, match=r"^unknown knob 'zz'; knobs: targets, "):
        check_overrides("1989", {"zz": 1})


def test_values_equal_to_the_variants_are_dropped_and_the_rest_kept_in_knob_order():
    r = Recipe("1989", {"init": "fan_in", "targets": "1.0", "shift": 2})
    assert r.overrides == (("init", "fan_in"), ("shift", 2))  # targets=1.0 is the 1989 variant's own
    assert [k for k, _ in r.overrides] == [k for k in KNOBS if k in ("init", "shift")]
    assert r == Recipe("1989", [("shift", "2"), ("init", "fan_in")])
    assert r.to_args() == ["--set", "init=fan_in", "--set", "shift=2"]
    assert r.sets() == {"init": "fan_in", "shift": 2}
    d = r.to_dict()
    assert d["variant"] == "1989" and d["label"] == r.label and d["set"] == r.sets()
    assert d["knobs"] == {**PRESETS["1989"], "init": "fan_in", "shift": 2}


def test_active_follows_the_knob_it_needs():
    assert active("targets", PRESETS["1989"]) and not active("targets", PRESETS["modern"])
    assert active("dropout", PRESETS["1989"])  # applies always


def test_a_runs_epochs_are_its_passes():
    assert of_config(RunConfig(epochs=3)).knobs()["passes"] == 3
    assert of_config(RunConfig(epochs=23)).overrides == ()  # the variant's own number: no change
    assert of_config(RunConfig()).overrides == ()
    assert of_config(BenchConfig(dataset="synthetic", recipe={"targets": 0.5})).overrides == (("targets", 0.5),)
    assert variant_of("1989", ["targets=0.5"]).targets == 0.5
    assert variant_of("1989", {"passes": 4}).epochs == 4
