"""Identities that cannot ignore a field: two configurations that differ in one field only stay two.

Every identity the harness keys on is checked, for every field of RunConfig, taken from the
dataclass itself (a new field is covered without touching this file, and is expected to be
part of every identity until it is declared below, with the reason, as not being one):

- a run's identity: RunConfig.identity() / key(), the sweep's point_key, and a result's key,
  recorded or derived from an older result's top-level fields (docs/sweep.md);
- a sweep point's identity: the manifest's point id, and resuming (`result_for`), which add
  the threads to the run's identity: the same arithmetic timed on other cores is another point;
- grids: two `[[configs]]` entries that differ in one field give two points;
- grouping over seeds (harness.report.seeds): runs that differ in anything but the seed are two groups.
"""
from __future__ import annotations

import io
from dataclasses import fields, replace

import pytest

from harness.config import IDENTITY, RunConfig
from harness.report.seeds import group_runs
from harness.results import write_result
from harness.sweep import Grid, load_toml
from harness.sweep.driver import run_sweep
from harness.sweep.manifest import point_id, read_manifest
from harness.sweep.match import finished_points, point_key, result_for, result_key
from tests.test_grid_entries import write_grid
from tests.test_sweep import _fake_executor, _fake_result

FIELDS = [f.name for f in fields(RunConfig)]
# How a run is measured, not what it computes or which point of a sweep it is: no identity.
MEASURED_ONLY = {"window"}
# Not a run's identity (the same arithmetic on any number of cores: config.py) but a sweep
# point's: `--threads 1,2` is two points, timed apart (docs/sweep.md: "RunConfig.key() plus threads").
POINT_ONLY = {"threads"}

BASE = RunConfig(backend="jax", strategy="scan", device="cpu", variant="1989", dataset="usps", dtype="float32",
                 seed=3, epochs=2, limit=100, window=256, threads=1)
# Another value of each field (None too, where a field may be None). A new field needs one here.
OTHER = {"backend": ["torch"], "strategy": ["step"], "device": ["cuda"], "variant": ["modern"],
         "dataset": ["synthetic"], "dtype": ["float64"], "seed": [4], "epochs": [3], "limit": [None, 200],
         "window": [64], "threads": [None, 2], "recipe": [{"targets": 0.8}, {"activation": "scaled_tanh"}]}


def _cases(exclude=frozenset()):
    return [pytest.param(f, v, id=f"{f}={v}") for f in FIELDS if f not in exclude
            for v in OTHER.get(f, [KeyError])]


def _pair(field, value) -> tuple[RunConfig, RunConfig]:
    assert value is not KeyError, f"new RunConfig field {field!r}: give it another value in OTHER"
    return BASE, replace(BASE, **{field: value})


def test_every_field_is_identity_unless_declared_otherwise():
    """The run identity is every field but those declared measured-only or point-only here."""
    assert set(IDENTITY) == set(FIELDS) - MEASURED_ONLY - POINT_ONLY
    assert list(BASE.identity()) == list(IDENTITY)


@pytest.mark.parametrize("field, value", _cases())
def test_run_identity(field, value):
    a, b = _pair(field, value)
    same = field in MEASURED_ONLY | POINT_ONLY
    assert (a.key() == b.key()) is same
    assert (a.identity() == b.identity()) is same
    assert (point_key(a) == point_key(b)) is same
    assert (result_key(_fake_result(a)) == result_key(_fake_result(b))) is same


@pytest.mark.parametrize("field, value", _cases(MEASURED_ONLY | POINT_ONLY))
def test_an_older_result_without_a_recorded_config_is_told_apart(tmp_path, field, value):
    """Results that predate `config`: their identity is derived from the top-level fields, each
    field as the point has it (both ways round: a derivation that assumes a value shows)."""
    for mine, other in (_pair(field, value), _pair(field, value)[::-1]):
        assert result_key(_fake_result(mine, with_config=False)) == point_key(mine)
        write_result(tmp_path / mine.label(), _fake_result(mine, with_config=False), "run-old")
        found = finished_points(tmp_path / mine.label())
        assert result_for(found, mine) is not None
        assert result_for(found, other) is None


@pytest.mark.parametrize("field, value", _cases(MEASURED_ONLY))
def test_sweep_points_that_differ_in_one_field_stay_two(tmp_path, field, value):
    """Two points: two manifest entries, both run, two results; resumed, neither runs again; and
    a result of one never stands for the other."""
    a, b = _pair(field, value)
    assert point_id(a) != point_id(b)
    ex, calls = _fake_executor()
    out = run_sweep(Grid([a, b]), tmp_path / "both", ex, progress_stream=io.StringIO())
    assert calls == [a, b] and len(out.done) == 2
    m = read_manifest(tmp_path / "both")
    assert m["counts"]["done"] == 2 and len(m["points"]) == 2
    ex, calls = _fake_executor()
    out = run_sweep(Grid([a, b]), tmp_path / "both", ex, progress_stream=io.StringIO())
    assert calls == [] and out.found == [a, b]
    # only a has a result: resuming the grid of both runs b
    run_sweep(Grid([a]), tmp_path / "one", _fake_executor()[0], progress_stream=io.StringIO())
    ex, calls = _fake_executor()
    run_sweep(Grid([a, b]), tmp_path / "one", ex, progress_stream=io.StringIO())
    assert calls == [b]


@pytest.mark.parametrize("field, value", _cases(MEASURED_ONLY))
def test_grid_entries_that_differ_in_one_field_are_two_points(tmp_path, field, value):
    a, b = _pair(field, value)
    entries = [{k: v for k, v in c.to_dict().items() if v is not None} for c in (a, b)]
    grid = load_toml(write_grid(tmp_path / "grid.toml", {}, entries))
    assert grid.points == [a, b]


@pytest.mark.parametrize("field, value", _cases(MEASURED_ONLY))
def test_seed_groups_differ_in_the_seed_only(field, value):
    """Runs that differ only in the seed are one group; in any other field, two."""
    a, b = _pair(field, value)
    groups = group_runs([_fake_result(a), _fake_result(b)])
    assert len(groups) == (1 if field == "seed" else 2)


def test_identity_is_every_identity_field_with_the_recipe_as_a_dict():
    """identity() is public: each IDENTITY field's value, the recipe as {knob: value} (not the tuple of pairs
    the dataclass stores), as results record it (to_dict)."""
    c = replace(BASE, recipe={"targets": 0.8, "activation": "scaled_tanh"})
    got = c.identity()
    assert got == {"backend": "jax", "strategy": "scan", "device": "cpu", "variant": "1989",
                   "recipe": {"activation": "scaled_tanh", "targets": 0.8}, "dataset": "usps",
                   "dtype": "float32", "seed": 3, "epochs": 2, "limit": 100}
    assert type(got["recipe"]) is dict and got["recipe"] == c.to_dict()["recipe"]
    assert BASE.identity()["recipe"] == {} and type(BASE.identity()["recipe"]) is dict
    assert c.key() == tuple(getattr(c, k) for k in IDENTITY)
