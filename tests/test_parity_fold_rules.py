"""parity.fold's rules one by one, on small hand-made rows: which group a row falls in, which row
stands for a passing group, what a row's max |a-b| is when a file holds something odd, and which
rows are always shown. (tests/test_parity_fold.py checks the terminal and REPORT.md agree.)"""
from __future__ import annotations

import math

import pytest

from harness.parity.fold import _max_abs, fold, group_key


def _r(tensor, max_abs, target="jax:step", k=1, **extra):
    return {"target": target, "k": k, "tensor": tensor, "max_abs": max_abs, "passed": True, **extra}


@pytest.mark.parametrize("rows, key", [
    ([{"k": 1}], "k"), ([{"pass": 1}], "pass"), ([{"example": 3}], "example"),
    ([{"x": 1}, {"pass": 2}], "pass"),  # any row having it
    ([{"k": 1, "pass": 1}], "k"),  # the first of k, pass, example
    ([{"pass": 1}, {"example": 1}], "pass"),
    ([{"x": 1}], None), ([], None),
])
def test_group_key(rows, key):
    assert group_key(rows) == key


@pytest.mark.parametrize("value, got", [
    (1, 1.0), (2.5, 2.5), (0, 0.0), (-1.0, -1.0),
    (True, None), (False, None), ("3", None), (None, None), ([1.0], None),
    (math.nan, None), (math.inf, None), (-math.inf, None),
])
def test_max_abs_of_a_row(value, got):
    assert _max_abs({"max_abs": value}) == got
    assert _max_abs({}) is None


def test_a_passing_group_is_its_largest_judged_tensor_counted():
    rows = [_r("H1w", 1e-9), _r("H1b", 3e-9), _r("H2w", 2e-9)]
    out = fold(rows)
    assert out == [{**rows[1], "worst_of": 3}]
    assert "worst_of" not in rows[1]  # a copy: the check's own rows are left as they were


def test_groups_are_target_and_key_apart():
    rows = [_r("H1w", 1e-9, k=1), _r("H1w", 2e-9, k=10), _r("H1w", 3e-9, target="jax:scan", k=1),
            _r("H1b", 4e-9, k=1)]
    out = fold(rows)
    assert [(r["target"], r["k"], r["tensor"], r["worst_of"]) for r in out] == [
        ("jax:step", 1, "H1b", 2), ("jax:step", 10, "H1w", 1), ("jax:scan", 1, "H1w", 1)]


def test_rows_without_a_target_group_together():
    rows = [{"k": 1, "tensor": "a", "max_abs": 1.0}, {"k": 1, "tensor": "b", "max_abs": 2.0}]
    assert [r["tensor"] for r in fold(rows)] == ["b"]


def test_an_explicit_key_overrides_the_guess():
    rows = [_r("H1w", 1e-9, k=1, example=0), _r("H1b", 2e-9, k=1, example=1)]
    assert len(fold(rows)) == 1  # grouped by k
    assert len(fold(rows, key="example")) == 2


def test_a_failing_group_shows_every_failure_and_nothing_else():
    rows = [_r("H1w", 1.0, passed=False), _r("H1b", 9.0), _r("H2w", 2.0, passed=False),
            _r("misses", 0, count=True)]
    assert fold(rows) == [rows[0], rows[2]]


def test_a_row_without_passed_counts_as_passing_one_with_none_is_shown():
    a = {"target": "t", "k": 1, "tensor": "a", "max_abs": 1.0}
    b = {"target": "t", "k": 1, "tensor": "b", "max_abs": 2.0}
    assert [(r["tensor"], r.get("worst_of")) for r in fold([a, b])] == [("b", 2)]
    undecided = {**b, "passed": None}  # a check that could not judge: shown, as a failure is
    assert fold([a, undecided]) == [undecided]


def test_counts_follow_the_worst_and_are_never_the_worst():
    rows = [_r("H1w", 1e-9), _r("misses", 5.0, count=True), _r("predictions", 7.0, count=True)]
    out = fold(rows)
    assert [r["tensor"] for r in out] == ["H1w", "misses", "predictions"]
    assert out[0]["worst_of"] == 1


def test_rows_beyond_the_horizon_are_judged_only_with_judged_to():
    late = _r("H2w", 5.0, unjudged=3, within_tol=False)  # reported: beyond tolerance past the horizon
    late_ok = _r("H2b", 6.0, unjudged=2, within_tol=True)
    judged_part = _r("H3w", 4.0, unjudged=1, judged_to=100)  # partly judged: it counts
    out = fold([_r("H1w", 1e-9), late, late_ok, judged_part])
    assert [(r["tensor"], r.get("worst_of")) for r in out] == [("H3w", 2), ("H2w", None)]


def test_a_group_with_nothing_judged_shows_only_what_went_beyond():
    late = _r("H2w", 5.0, unjudged=3, within_tol=False)
    out = fold([late, _r("H2b", 6.0, unjudged=2, within_tol=True), _r("bad", "n/a")])
    assert out == [late]


def test_rows_with_unusable_figures_are_not_the_worst():
    rows = [_r("H1w", 1e-9), _r("H1b", math.nan), _r("H2w", True), _r("H2b", None)]
    out = fold(rows)
    assert [(r["tensor"], r.get("worst_of")) for r in out] == [("H1w", 1)]
