"""A recipe: a named variant with some of its knobs set otherwise (`--set key=value`).

`Recipe(variant, overrides)` checks every override against its knob (harness/spec.py's KNOBS:
an unknown knob, a bad value, or a knob set where it has no effect is a RecipeError, one line
naming the knob and what it allows, exit 2), drops those equal to the variant's own value, and
keeps the rest in KNOBS order: two recipes that compute the same thing compare equal. Its
`label` names it ("1989", "1989 targets=0.8 init=fan_in"), `knobs()` gives every knob's value,
and `variant()` the spec.Variant the core and the backends compute with.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import RecipeError, UnknownVariant
from .knobs import CORE, show
from .spec import KNOBS, PRESETS, Variant, build_variant

# Rules that span knobs (beyond each knob's `applies`).
NEEDS = (("optimizer", "sdlm", "loss", "mse", "its second-derivative pass is written for the squared error"),)


def knob_names() -> str:
    return ", ".join(KNOBS)


def parse_sets(items: Iterable[str] | None) -> dict[str, str]:
    """`--set` texts "key=value" -> {key: value text}; a later one wins. RecipeError for a text
    without '=' or an unknown knob (values are checked by Recipe)."""
    out: dict[str, str] = {}
    for item in items or ():
        key, eq, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise RecipeError(f"--set {item!r}: expected KNOB=VALUE; knobs: {knob_names()} "
                              "(`harness recipes` lists each with its values)")
        if key not in KNOBS:
            raise RecipeError(f"unknown knob {key!r}; knobs: {knob_names()}")
        out[key] = value
    return out


def active(name: str, values: Mapping) -> bool:
    """Whether knob `name` has an effect in a recipe with these knob values."""
    need = KNOBS[name].applies
    return need is None or values[need[0]] in need[1]


def check_overrides(variant: str, overrides: Mapping) -> tuple[tuple[str, object], ...]:
    """The overrides of `variant` parsed and checked, without those equal to its own values, in
    KNOBS order. UnknownVariant / RecipeError (usage errors) naming what is wrong."""
    if variant not in PRESETS:
        raise UnknownVariant(f"unknown variant {variant!r}; available: {', '.join(PRESETS)}")
    base, parsed = PRESETS[variant], {}
    for key, value in dict(overrides).items():
        knob = KNOBS.get(key)
        if knob is None:
            raise RecipeError(f"unknown knob {key!r}; knobs: {knob_names()}")
        try:
            parsed[key] = knob.parse(value)
        except ValueError as e:
            raise RecipeError(f"{e} (the {variant} variant's: {show(base[key])})") from None
    full = {**base, **parsed}
    changed = {k: v for k, v in parsed.items() if v != base[k]}
    for key, value in changed.items():
        if not active(key, full):
            on, values = KNOBS[key].applies
            raise RecipeError(f"knob {key}={show(value)} has no effect with {on}={full[on]}: it applies to "
                              f"{on}={' or '.join(values)}")
    for knob, value, other, needed, why in NEEDS:
        if full[knob] == value and full[other] != needed:
            raise RecipeError(f"{knob}={value} needs {other}={needed} ({why}), not {other}={full[other]}")
    return tuple((k, changed[k]) for k in KNOBS if k in changed)


@dataclass(frozen=True)
class Recipe:
    """A named variant and the knobs set otherwise (checked and normalised on construction)."""

    variant: str = "1989"
    overrides: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        pairs = self.overrides.items() if isinstance(self.overrides, Mapping) else self.overrides
        object.__setattr__(self, "overrides", check_overrides(self.variant, dict(pairs)))

    @classmethod
    def of(cls, variant: str, sets: Iterable[str] | Mapping | None = None) -> Recipe:
        """From `--set` texts ("key=value") or a mapping of knob values."""
        values = sets if isinstance(sets, Mapping) else parse_sets(sets)
        return cls(variant, tuple(values.items()))

    @classmethod
    def of_variant(cls, v: Variant) -> Recipe:
        """The recipe a spec.Variant was built from (its name and `sets`)."""
        return cls(v.name, v.sets)

    @property
    def label(self) -> str:
        return self.variant_spec().label

    def knobs(self) -> dict:
        """Every knob's value, KNOBS order."""
        return {**PRESETS[self.variant], **dict(self.overrides)}

    def variant_spec(self) -> Variant:
        return _build(self.variant, self.overrides)

    def sets(self) -> dict:
        """The overrides as a dict (what a configuration records and a sweep point is told)."""
        return dict(self.overrides)

    def to_args(self) -> list[str]:
        """`--set key=value` arguments that give this recipe."""
        return [a for k, v in self.overrides for a in ("--set", f"{k}={show(v)}")]

    def to_dict(self) -> dict:
        """What a result records: the variant, the label, the knobs set and every knob's value."""
        return {"variant": self.variant, "label": self.label, "set": self.sets(), "knobs": self.knobs()}


@functools.lru_cache(maxsize=256)
def _build(variant: str, overrides: tuple) -> Variant:
    return build_variant(variant, {**PRESETS[variant], **dict(overrides)}, overrides)


def of_config(config) -> Recipe:
    """The recipe a configuration (harness.config) names: its variant, its `recipe` knobs and, for
    a run, its passes (`epochs`; the variant's own number of passes is no change)."""
    knobs = dict(config.recipe)
    if getattr(config, "epochs", None) is not None:
        knobs["passes"] = config.epochs
    return Recipe(config.variant, knobs)


def variant_of(variant: str, sets: Iterable[str] | Mapping | None = None) -> Variant:
    """The spec.Variant of a named variant with `--set` overrides (texts or a mapping)."""
    return Recipe.of(variant, sets).variant_spec()


def knob_rows() -> list[list[str]]:
    """Every knob as `harness recipes` lists it: name, values allowed, who computes it, its value
    in each named variant (PRESETS order), and its formula."""
    rows = []
    for name, knob in KNOBS.items():
        when = "" if knob.applies is None else f" ({knob.applies[0]}={'/'.join(knob.applies[1])} only)"
        rows.append([name, knob.allowed().removeprefix("one of "), "core" if knob.backend == CORE else "backend",
                     *(show(p[name]) for p in PRESETS.values()), knob.doc + when])
    return rows
