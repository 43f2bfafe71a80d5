"""A grid's refusals, word for word (harness.sweep.grid): each names every offending key, in
sorted order and separated as a person reads a list, the table it is in, and what is available.
A message that names the wrong thing, or names it garbled, sends the user looking in the wrong
place; test_sweep_inputs checks that each refusal is one line, these check what the line says."""
from __future__ import annotations

import pytest

from harness.sweep.grid import (
    GridError,
    check_resources,
    expand,
    knob_lists,
    load_toml,
    parse_ints,
)
from tests.test_sweep import STRATS


def _refusal(tmp_path, text: str) -> str:
    f = tmp_path / "g.toml"
    f.write_text(text)
    with pytest.raises(GridError) as e:
        load_toml(f, STRATS)
    return str(e.value).replace(f"grid file {f}", "FILE")


def test_unknown_fields_of_an_entry_are_all_named_sorted_and_the_entry_numbered(tmp_path):
    assert _refusal(tmp_path, "[[configs]]\nseed = 1\n[[configs]]\nzeta = 1\ncolour = 'red'\nalpha = 2\n") == (
        "FILE: unknown field(s) in [[configs]] #2: alpha, colour, zeta")


def test_unknown_top_level_keys_are_named_with_every_list_field_and_table(tmp_path):
    assert _refusal(tmp_path, "zeta = 1\nbeta = 2\n") == (
        "FILE: unknown key(s) beta, zeta; lists: backends, strategies, devices, variants, dtypes, datasets, "
        "seeds, epochs, limit, threads; fields: backend, dataset, device, dtype, epochs, limit, recipe, seed, "
        "strategy, threads, variant, window; tables: configs, resources, set, recipe")


@pytest.mark.parametrize("text, want", [
    ("configs = 5\n", "FILE: configs must be one or more [[configs]] tables, not 5"),
    ("[[configs]]\nseed = 1\n[[configs]]\nresources = {h100 = 0}\n",
     "FILE, [[configs]] #2: resource h100 = 0: an amount must be a positive number"),
    ("[[configs]]\nseed = 1\n[[configs]]\nwindow = 'x'\n", "FILE, [[configs]] #2: window = 'x' should be one integer"),
    ("seed = 1\nseeds = '1-2'\n", "FILE: both seed and seeds given; give one"),
    ("backend = 'jax'\nbackends = 'torch'\n", "FILE: both backend and backends given; give one"),
    ("recipe = 3\n", "FILE: recipe = 3 should be a table of knob = value"),
    ("seeds = 1.5\n", 'FILE: seeds = 1.5 should be an integer, a range such as "1-10", or a list of them'),
    ("devices = 3\n", "FILE: devices = 3 should be a name or a list of names"),
    ("set = 3\n", "FILE: set must be a table of knob = value or list of values, not 3"),
    ("set = {lr = []}\n", "FILE: set.lr = [] should be a value or a list of values"),
    ("set = {lr = [true]}\n", "FILE: set.lr = [True] should be a value or a list of values"),
])
def test_each_refusal_names_the_table_the_key_and_the_value(tmp_path, text, want):
    assert _refusal(tmp_path, text) == want


def test_a_long_value_is_shown_cut_to_sixty_characters(tmp_path):
    out = _refusal(tmp_path, f"window = '{'x' * 100}'\n")
    shown = "'" + "x" * 56 + "..."
    assert out == f"FILE: window = {shown} should be one integer" and len(shown) == 60


def test_expand_names_unknown_lists_sorted_and_every_available_one():
    with pytest.raises(GridError) as e:
        expand({"zz": "1", "aa": "2", "seeds": "1"}, None, STRATS)
    assert str(e.value) == ("unknown grid list(s) aa, zz; available: backends, strategies, devices, variants, "
                            "dtypes, datasets, seeds, epochs, limit, threads")


@pytest.mark.parametrize("lists, want", [
    ({"backends": "mxnet"}, "unknown backend 'mxnet'; available: torch, jax"),
    ({"backends": "jax", "strategies": "jax:loop"}, "backend 'jax' has no strategy 'loop'; available: step, scan"),
    ({"backends": "torch", "strategies": "scan"}, "no backend x strategy pair matches the lists given"),
    ({"strategies": "torch:eager", "backends": "jax"}, "no backend x strategy pair matches the lists given"),
    ({"datasets": ","}, "--datasets ',' names nothing; name at least one, or leave it out for the default"),
])
def test_expand_refusals_name_what_is_available(lists, want):
    with pytest.raises(GridError) as e:
        expand(lists, None, STRATS)
    assert str(e.value) == want


def test_a_plain_strategy_without_backends_needs_one():
    with pytest.raises(GridError) as e:
        expand({"strategies": "scan"}, {"backend": None}, None)
    assert str(e.value) == "strategy 'scan' needs a backend: write backend:scan or give --backends"


@pytest.mark.parametrize("text, want", [
    ("5-3", "--seeds: range '5-3' runs backwards"),
    ("1,x", "--seeds: '1,x' is not a list of integers (e.g. 1-10 or 1,2,5)"),
    (" , ", "--seeds: empty list"),
    ("1-200", "--seeds 1-200 has 200 points, more than the 100 a sweep may have (--max-points raises the bound)"),
])
def test_parse_ints_refusals(text, want):
    with pytest.raises(GridError) as e:
        parse_ints(text, "seeds", 100)
    assert str(e.value) == want


def test_parse_ints_reads_ranges_lists_and_ints_in_order_once():
    assert parse_ints("3-5,1,4,7-7") == [3, 4, 5, 1, 7]
    assert parse_ints(9) == [9]
    assert parse_ints([2, "4-5", 2]) == [2, 4, 5]
    assert parse_ints("1-100", max_points=100) == list(range(1, 101))  # exactly the bound is allowed


def test_resources_refusals_and_values():
    with pytest.raises(GridError) as e:
        check_resources({"GPU": 1}, "W")
    assert str(e.value) == "W: resource 'GPU' is Ray's own: threads and device declare it"
    with pytest.raises(GridError) as e:
        check_resources([1], "W")
    assert str(e.value) == "W: resources must be a table of name = amount, not [1]"
    assert check_resources({"h100": 1, "tpu": 0.5}, "W") == {"h100": 1.0, "tpu": 0.5}


def test_knob_lists_from_texts_and_tables():
    assert knob_lists(["sgd_lr=0.1,0.2", "loss=mse"]) == {"sgd_lr": ["0.1", "0.2"], "loss": ["mse"]}
    assert knob_lists({"lr": [0.1, 0.1, 0.2], "loss": "mse"}) == {"lr": [0.1, 0.2], "loss": ["mse"]}
