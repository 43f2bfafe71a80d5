"""Recipe knobs (harness/spec.py KNOBS, harness/recipe.py): every knob is checked, lands where
it acts, and a backend is never handed a knob value it did not declare."""
from __future__ import annotations

import numpy as np
import pytest

from harness import spec
from harness.backend import knob_unsupported, undeclared, unsupported_reason
from harness.data import load_dataset
from harness.draws import pass_steps
from harness.errors import RecipeError, UnknownVariant, UsageError
from harness.knobs import ANY, NONZERO
from harness.recipe import Recipe, parse_sets, variant_of
from harness.spec import KNOBS, PRESETS, VARIANTS
from harness.train import losses_of

# For every knob: (base variant where it has an effect, a value other than the base's, where the
# Variant shows it). A new knob without a row here fails test_every_knob_has_a_case.
CASES = {
    "targets": ("1989", "0.8", lambda v: v.targets == 0.8),
    "activation": ("1989", "scaled_tanh", lambda v: v.hidden_activation == "scaled_tanh"),
    "output_activation": ("1989", "linear", lambda v: v.output_activation == "linear"),
    "init": ("1989", "fan_in", lambda v: v.init == "fan_in"),
    "outb_init": ("1989", "0", lambda v: v.outb_init == 0.0),
    "loss": ("modern", "mse", lambda v: v.loss == "mse"),
    "reduction": ("1989", "sum", lambda v: v.reduction == "sum" and v.optimizer == spec.SGD(0.03)),
    "optimizer": ("1989", "adamw", lambda v: v.optimizer == VARIANTS["modern"].optimizer),
    "sgd_lr": ("1989", "0.05", lambda v: v.optimizer.lr == 0.05),
    "adamw_lr": ("modern", "1e-3", lambda v: v.optimizer.lr_start == 1e-3),
    "adamw_lr_end": ("modern", "0", lambda v: v.optimizer.lr_end == 0.0),
    "adamw_beta1": ("modern", "0.8", lambda v: v.optimizer.beta1 == 0.8),
    "adamw_beta2": ("modern", "0.99", lambda v: v.optimizer.beta2 == 0.99),
    "adamw_eps": ("modern", "1e-6", lambda v: v.optimizer.eps == 1e-6),
    "adamw_weight_decay": ("modern", "0", lambda v: v.optimizer.weight_decay == 0.0),
    "sdlm_mu": ("1989-sdlm", "0.05", lambda v: v.optimizer.mu == 0.05 / 10),
    "sdlm_schedule": ("1989-sdlm", "per_update", lambda v: v.optimizer.schedule == "per_update"),
    "sdlm_eps_scale": ("1989-sdlm", "3", lambda v: v.optimizer.eps_scale == 3.0),
    "sdlm_examples": ("1989-sdlm", "100", lambda v: v.optimizer.hessian_examples == 100),
    "shift": ("1989", "2", lambda v: v.augment_shift == 2),
    "dropout": ("1989", "0.5", lambda v: v.dropout == 0.5),
    "passes": ("1989", "5", lambda v: v.epochs == 5),
}
# Values no knob of that kind accepts.
BAD = {"choice": ["nope", "", "TANH"], "number": ["abc", "nan", "inf", "-5", "1e9"],
       "int": ["abc", "1.5", "-1", "100000000"]}


def test_every_knob_has_a_case():
    assert set(CASES) == set(KNOBS)


@pytest.mark.parametrize("name", list(KNOBS))
def test_every_knob_lands_in_the_variant_and_the_label(name):
    base, value, holds = CASES[name]
    r = Recipe.of(base, [f"{name}={value}"])
    assert r.overrides and r.overrides[0][0] == name
    assert holds(r.variant_spec()), r.variant_spec()
    assert r.label.startswith(base + " " + name + "=")
    assert r.to_dict()["knobs"][name] == r.overrides[0][1]
    assert Recipe.of_variant(r.variant_spec()) == r  # a Variant carries its recipe


@pytest.mark.parametrize("name", list(KNOBS))
def test_every_knob_refuses_a_bad_value_in_one_line_naming_it(name):
    knob = KNOBS[name]
    for bad in BAD[knob.kind]:
        with pytest.raises(RecipeError) as e:
            Recipe.of(CASES[name][0], [f"{name}={bad}"])
        msg = str(e.value)
        assert "\n" not in msg and f"knob {name}=" in msg and knob.allowed() in msg, msg
    assert isinstance(e.value, UsageError)  # exit status 2


def test_knob_values_from_toml_or_python_are_checked_alike():
    assert Recipe("1989", {"targets": 0.8}) == Recipe.of("1989", ["targets=0.8"])
    assert Recipe("1989", {"shift": 2}) == Recipe("1989", {"shift": 2.0}) == Recipe.of("1989", ["shift=2"])
    for bad in ({"targets": True}, {"shift": 1.5}, {"activation": 1}, {"targets": [0.8]}):
        with pytest.raises(RecipeError):
            Recipe("1989", bad)


def test_allowed_values_in_words():
    assert KNOBS["targets"].allowed() == "a number in (0, 2]"
    assert KNOBS["adamw_beta1"].allowed() == "a number in [0, 1)"
    assert KNOBS["shift"].allowed() == "a whole number from 0 to 4"
    assert KNOBS["activation"].allowed() == "one of tanh, scaled_tanh, relu"


def test_unknown_knob_and_malformed_set_name_the_knobs():
    for items in (["foo=1"], ["targets"], ["=1"]):
        with pytest.raises(RecipeError, match="targets, activation") as e:
            parse_sets(items)
        assert "\n" not in str(e.value)
    with pytest.raises(UnknownVariant, match="1989, modern"):
        Recipe("1990")


def test_a_knob_where_it_has_no_effect_is_refused():
    with pytest.raises(RecipeError, match="adamw_lr=0.001 has no effect with optimizer=sgd"):
        Recipe.of("1989", ["adamw_lr=1e-3"])
    with pytest.raises(RecipeError, match="targets=0.8 has no effect with loss=xent"):
        Recipe.of("modern", ["targets=0.8"])
    with pytest.raises(RecipeError, match="optimizer=sdlm needs loss=mse"):
        Recipe.of("modern", ["optimizer=sdlm"])
    # but the variant's own value is no change at all, and a knob made active by another is fine
    assert Recipe.of("1989", ["adamw_lr=0.0003"]) == Recipe("1989")
    assert Recipe.of("1989", ["optimizer=adamw", "adamw_lr=1e-3"]).variant_spec().optimizer.lr_start == 1e-3


def test_recipes_that_compute_the_same_are_equal_and_labelled_in_knob_order():
    a = Recipe.of("1989", ["init=fan_in", "targets=0.8", "sgd_lr=0.03", "targets=0.8"])
    b = Recipe.of("1989", ["targets=0.80", "init=fan_in"])
    assert a == b and hash(a) == hash(b)
    assert a.label == "1989 targets=0.8 init=fan_in"
    assert a.to_args() == ["--set", "targets=0.8", "--set", "init=fan_in"]
    assert Recipe("1989").label == "1989" and Recipe("1989").variant_spec() == VARIANTS["1989"]
    assert variant_of("1989", ["targets=0.8"]).label == "1989 targets=0.8"


def test_named_variants_are_their_presets():
    assert set(PRESETS) == set(VARIANTS)
    assert VARIANTS["1989"].optimizer == spec.SGD(lr=0.03) and VARIANTS["1989"].targets == 1.0
    assert VARIANTS["1989-sdlm"].optimizer == spec.SDLM_1989  # mu 0.02 / 10, curvature 2/10
    assert VARIANTS["1989-sdlm-fanin"].init == "fan_in"
    m = VARIANTS["modern"]
    assert (m.hidden_activation, m.output_activation, m.loss, m.augment_shift, m.dropout, m.epochs,
            m.outb_init) == ("relu", "linear", "xent", 1, 0.25, 80, 0.0)
    assert m.optimizer == spec.AdamW(3e-4, 1e-4, 0.9, 0.999, 1e-8, 0.01)


def test_sdlm_mu_and_curvature_follow_the_reduction():
    v = variant_of("1989-sdlm", ["reduction=sum"])
    assert v.optimizer.mu == 0.02 and v.optimizer.output_curvature == 2.0
    assert VARIANTS["1989-sdlm"].optimizer.mu == 0.002


def test_sdlm_eps_per_update_and_scaled():
    per_pass = VARIANTS["1989-sdlm"]
    per_update = variant_of("1989-sdlm", ["sdlm_schedule=per_update"])
    scaled = variant_of("1989-sdlm", ["sdlm_eps_scale=2"])
    n = 7291
    # step 3 * n is in pass 4 (eps 2e-4 per pass), but in LeNet-5's first 60,000 updates (5e-4)
    assert per_pass.lr_schedule(23 * n, 3 * n, 3 * n + 1, per_pass=n)[0] == 2e-4
    assert per_update.lr_schedule(23 * n, 3 * n, 3 * n + 1, per_pass=n)[0] == 5e-4
    # LeNet-5's 2 passes of 60,000 at 5e-4 end at update 120,000
    lr = per_update.lr_schedule(23 * n, 119_999, 120_001, per_pass=n)
    assert list(lr) == [5e-4, 2e-4]
    assert scaled.lr_schedule(23 * n, 0, 1, per_pass=n)[0] == 2 * 5e-4


def test_targets_reach_the_steps_and_the_evaluation_loss():
    data = load_dataset("synthetic")
    v = variant_of("1989", ["targets=0.8"])
    s = pass_steps(v, data, 1, 0, 1, "float64", limit=5)
    assert set(np.unique(s.targets)) == {-0.8, 0.8}
    out = np.zeros((2, 10))
    labels = np.array([0, 3])
    assert np.allclose(losses_of(v, out, labels), 0.64)  # mean of 0.8^2
    summed = variant_of("1989", ["targets=0.8", "reduction=sum"])
    assert np.allclose(losses_of(summed, out, labels), 6.4)
    fan_in = spec.init_params(1, "float64", variant_of("1989", ["init=fan_in", "outb_init=0.5"]))
    assert np.abs(fan_in["H2w"]).max() <= 2.4 / 200 and (fan_in["outb"] == 0.5).all()


# ----------------------------------------------------------------------------- declared support


class Legacy:
    """A backend written before knobs existed: declares nothing about them."""

    name, strategies = "legacy", ("eager",)


class Declaring(Legacy):
    name, strategies = "declaring", ("eager", "fast")

    def knobs(self, strategy):
        return {"activation": ("tanh", "scaled_tanh"), "dropout": ANY} if strategy == "eager" else {}


def test_a_backend_that_declares_nothing_gets_only_its_variants_values():
    b = Legacy()
    assert knob_unsupported(b, "eager", Recipe("modern")) is None  # a named variant, as before
    for core in ("targets=0.8", "init=fan_in", "sgd_lr=0.01", "shift=1", "passes=3", "outb_init=0"):
        assert knob_unsupported(b, "eager", Recipe.of("1989", [core])) is None, core
    for computed in ("activation=scaled_tanh", "output_activation=linear", "loss=xent", "reduction=sum",
                     "optimizer=adamw", "optimizer=sdlm", "dropout=0.25"):
        why = knob_unsupported(b, "eager", Recipe.of("1989", [computed]))
        assert why and computed in why and "declares no values" in why, computed
    assert knob_unsupported(b, "eager", Recipe.of("modern", ["adamw_beta1=0.8"])) is not None
    assert knob_unsupported(b, "eager", Recipe.of("modern", ["dropout=0.5"])) is None  # on stays on
    why = unsupported_reason(b, "eager", "1989", "float32", Recipe.of("1989", ["activation=relu"]))
    assert why.startswith("backend 'legacy' does not support recipe '1989 activation=relu'")


def test_a_declaring_backend_gets_what_it_declares_and_says_which_strategy_does():
    b = Declaring()
    assert knob_unsupported(b, "eager", Recipe.of("1989", ["activation=scaled_tanh", "dropout=0.3"])) is None
    why = knob_unsupported(b, "eager", Recipe.of("1989", ["activation=relu"]))
    assert why == "declaring:eager does not implement activation=relu (implements: tanh, scaled_tanh)"
    why = knob_unsupported(b, "fast", Recipe.of("1989", ["activation=scaled_tanh"]))
    assert "declaring strategies that do: eager" in why


def test_undeclared_reads_a_variant():
    declared = {"activation": ("tanh",), "optimizer": ("sgd",), "dropout": (0.0,)}
    assert undeclared(VARIANTS["1989"], declared, "k") is None
    assert undeclared(variant_of("1989", ["dropout=0.1"]), declared, "k") == \
        "k does not implement dropout=0.1 (implements: 0)"
    # a knob left out is held to the variant's own value (modern's linear output, xent: fine)
    assert undeclared(VARIANTS["modern"], {**declared, "activation": ANY}, "k") == \
        "k does not implement optimizer=adamw (implements: sgd)"


def test_only_dropout_is_judged_on_or_off():
    assert [k for k, knob in KNOBS.items() if knob.backend == NONZERO] == ["dropout"]


# (variant, --set texts): every loss x optimizer a recipe may combine, from more than one named variant
COMPUTED_CASES = [(name, []) for name in PRESETS] + [
    ("1989", ["loss=xent"]), ("1989", ["optimizer=adamw"]), ("1989", ["loss=xent", "optimizer=adamw"]),
    ("1989", ["reduction=sum", "optimizer=adamw", "adamw_beta1=0.8", "adamw_eps=1e-6"]),
    ("modern", ["loss=mse"]), ("modern", ["optimizer=sgd"]), ("modern", ["loss=mse", "reduction=sum"]),
    ("modern", ["loss=mse", "optimizer=sdlm"]), ("1989-sdlm", ["reduction=sum", "dropout=0.5"]),
]


@pytest.mark.parametrize("variant, sets", COMPUTED_CASES)
def test_backend_knobs_are_the_computed_knobs_that_have_an_effect(variant, sets):
    """A backend is held to exactly the knobs it computes (KNOBS with `backend` set) that act in the
    recipe: mse's reduction only with mse, AdamW's constants only with adamw; each with its value."""
    from harness.backend import backend_knobs
    from harness.recipe import active

    r = Recipe.of(variant, sets)
    k = r.knobs()
    want = {n: k[n] for n, knob in KNOBS.items() if knob.backend and active(n, k)}
    assert backend_knobs(r.variant_spec()) == want
    assert ("reduction" in want) == (k["loss"] == "mse")
    assert ("adamw_beta1" in want) == (k["optimizer"] == "adamw")


def test_a_knob_without_effect_is_not_held_against_a_backend():
    # modern's reduction is "mean" but its loss is xent: a backend implementing only "sum" runs it
    declared = {"activation": ANY, "output_activation": ANY, "loss": ANY, "optimizer": ANY, "dropout": ANY,
                "reduction": ("sum",), "adamw_beta1": ANY, "adamw_beta2": ANY, "adamw_eps": ANY,
                "adamw_weight_decay": ANY}
    assert undeclared(VARIANTS["modern"], declared, "k") is None
    assert undeclared(VARIANTS["1989"], declared, "k") == "k does not implement reduction=mean (implements: sum)"
    # and AdamW's constants are not judged under sgd
    sgd_only = {**declared, "reduction": ANY, "adamw_beta1": ()}
    assert undeclared(VARIANTS["1989"], sgd_only, "k") is None
    assert undeclared(VARIANTS["modern"], sgd_only, "k") == "k does not implement adamw_beta1=0.9 (implements: )"
