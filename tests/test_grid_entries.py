"""TOML grids: each `[[configs]]` entry is independent of the others.

One entry's overrides (a field, a list, its resources) must never reach the next. The entries
here differ from each other in every overridable field, in every order, so a leak of any one
field from any entry into a later one changes a point. The fields are those of RunConfig
itself: a new field is covered without touching this file (it needs an entry in ALT).
"""
from __future__ import annotations

import itertools
from dataclasses import fields, replace

import pytest

from harness.config import RunConfig
from harness.spec import VARIANTS
from harness.sweep import load_toml
from harness.sweep.grid import AXES

STRATS = {"torch": ("eager", "compiled"), "jax": ("step", "scan"), "tensorflow": ("xla", "function")}
FIELDS = [f.name for f in fields(RunConfig)]
LIST_OF = {field: axis for axis, field in AXES.items()}  # "seed" -> "seeds"

# What the file says outside [[configs]]: a list and a scalar field, so an entry that sets
# neither must fall back to these (not to an earlier entry's values).
TOP = {"seeds": [7], "window": 128, "resources": {"cpu_box": 1}}
# Each entry sets a value for every field; every value differs from the top level / defaults
# and from the other entry. A new RunConfig field needs its two values here.
ALT = {
    "backend": ("jax", "tensorflow"), "strategy": ("scan", "function"), "device": ("cuda", "cuda:1"),
    "variant": ("modern", "1989-sdlm"), "dataset": ("synthetic", "mnist"), "dtype": ("float64", "float64"),
    "seed": (11, 12), "epochs": (3, 4), "limit": (50, 60), "window": (64, 32), "threads": (2, 3),
    "recipe": ({"dropout": 0.5}, {"targets": 0.8}),  # knobs of "modern" and of "1989-sdlm"
}
RESOURCES = ({"h100": 1}, {"a100": 2})


def toml_value(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def write_grid(path, top: dict, entries: list[dict]):
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    for e in entries:
        lines += ["", "[[configs]]"] + [f"{k} = {toml_value(v)}" for k, v in e.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def full_entry(i: int, as_lists: bool = False) -> dict:
    """Entry i sets every field (by its RunConfig name, or by its list name) and its resources."""
    e = {(LIST_OF[f] if as_lists and f in LIST_OF else f): ([ALT[f][i]] if as_lists and f in LIST_OF else ALT[f][i])
         for f in FIELDS}
    return {**e, "resources": RESOURCES[i]}


# Entries: A and C set everything, B nothing, D one field only: B and D take the rest from the top.
ENTRIES = {"A": full_entry(0), "B": {}, "C": full_entry(1, as_lists=True), "D": {"backend": "jax"}}


def test_every_field_has_alternative_values():
    assert set(FIELDS) <= set(ALT), f"give the new RunConfig field(s) {set(FIELDS) - set(ALT)} two values in ALT"


def _alone(tmp_path, name: str):
    return load_toml(write_grid(tmp_path / f"{name}.toml", TOP, [ENTRIES[name]]), STRATS)


def test_an_entry_that_sets_nothing_gets_the_top_level_and_the_defaults(tmp_path):
    grid = _alone(tmp_path, "B")
    default = RunConfig()
    want = replace(default, strategy=STRATS[default.backend][0], epochs=VARIANTS[default.variant].epochs,
                   seed=TOP["seeds"][0], window=TOP["window"])
    assert grid.points == [want]
    assert grid.resources_for(want) == {"cpu_box": 1.0}


@pytest.mark.parametrize("name, i", [("A", 0), ("C", 1)])
def test_an_entry_that_sets_everything_gets_its_own_values(tmp_path, name, i):
    grid = _alone(tmp_path, name)
    assert grid.points == [RunConfig(**{f: ALT[f][i] for f in FIELDS})]
    assert grid.resources_for(grid.points[0]) == {"cpu_box": 1.0, **{k: float(v) for k, v in RESOURCES[i].items()}}


def test_the_entries_differ_in_every_field(tmp_path):
    """Not vacuous: every field of A's and C's points differs from B's (so a leak would show)."""
    a, b, c = (_alone(tmp_path, n).points[0] for n in "ABC")
    for f in FIELDS:
        assert getattr(a, f) != getattr(b, f) and getattr(c, f) != getattr(b, f), f


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("ABCD")])
def test_entries_do_not_leak_into_each_other(tmp_path, order):
    """The grid of several entries is, in order, exactly each entry's own grid: the same points
    and the same resources per point, whatever came before it."""
    grid = load_toml(write_grid(tmp_path / "grid.toml", TOP, [ENTRIES[n] for n in order]), STRATS)
    alone = {n: _alone(tmp_path, n) for n in order}
    assert grid.points == [p for n in order for p in alone[n].points]
    for n in order:
        for p in alone[n].points:
            assert grid.resources_for(p) == alone[n].resources_for(p), (n, p)
