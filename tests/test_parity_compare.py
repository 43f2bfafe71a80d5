"""What a comparison reports beside its verdict: where the worst element is, which step it is at,
what was judged and what only reported, and the one-line exception summaries of the parity table.

tests/test_boundaries.py pins `passed` at every limit; these pin the figures a reader of the table
acts on (a `where` that points at the wrong element sends them to the wrong weight).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.parity import Tol, compare, compare_count
from harness.parity.compare import one_line

T = 2.0 ** -10


def test_shapes_that_differ_fail_saying_both():
    out = compare(np.zeros((2, 3)), np.zeros((3, 2)), Tol(atol=1.0))
    assert out == {"max_abs": math.inf, "max_rel": math.inf, "passed": False, "where": None,
                   "error": "shape (2, 3) differs from the reference's (3, 2)"}


def test_empty_tensors_pass_with_zero_figures():
    assert compare(np.zeros((0, 4)), np.zeros((0, 4)), Tol()) == {"max_abs": 0.0, "max_rel": 0.0, "passed": True,
                                                                  "where": None}


def test_a_pass_names_the_largest_difference_and_its_index():
    b = np.zeros((2, 3))
    a = b.copy()
    a[1, 2], a[0, 1] = 3 * T, -2 * T
    out = compare(a, b, Tol(atol=4 * T))
    assert out["passed"] and out["where"] == [1, 2] and out["max_abs"] == 3 * T
    assert set(out) == {"max_abs", "max_rel", "passed", "where"}  # judged everywhere: nothing more


def test_a_failure_names_the_element_furthest_beyond_its_tolerance_not_the_largest():
    """|a - b| is largest at 0 (within its rtol), but element 1 is the one beyond its limit."""
    b = np.array([1000.0, 1.0])
    a = b + np.array([5.0, 0.5])
    out = compare(a, b, Tol(rtol=0.01))
    assert not out["passed"] and out["where"] == [1]
    assert out["max_abs"] == 5.0 and out["max_rel"] == pytest.approx(0.5)


def test_a_scalar_has_no_where():
    out = compare(np.float64(1.0), np.float64(1.0), Tol())
    assert out["passed"] and out["where"] is None


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # inf - inf
def test_nan_on_one_side_is_an_infinite_difference_and_inf_against_inf_is_none():
    out = compare(np.array([math.nan, 1.0]), np.array([0.0, 1.0]), Tol(atol=1e9))
    assert not out["passed"] and out["max_abs"] == math.inf and out["where"] == [0]
    same = compare(np.array([math.inf, 2.0]), np.array([math.inf, 1.0]), Tol(atol=2.0))
    assert same["passed"] and same["max_abs"] == 1.0 and same["where"] == [1]


def test_per_element_steps_name_the_step_of_the_element_shown():
    tol = Tol(atol=T, power=1.0)
    b = np.zeros(3)
    steps = np.array([1, 5, 2])
    a = np.array([0.0, 6 * T, 0.0])  # element 1 is beyond 5 * T
    out = compare(a, b, tol, steps)
    assert not out["passed"] and out["where"] == [1] and out["step_at"] == 5
    ok = compare(np.array([0.5 * T, 4 * T, 0.0]), b, tol, steps)
    assert ok["passed"] and ok["where"] == [1] and ok["step_at"] == 5
    assert "step_at" not in compare(a, b, tol, 3)  # one step for all: nothing to name


def test_beyond_the_horizon_is_reported_not_judged():
    tol = Tol(atol=T, power=0.0, horizon=2)
    b = np.zeros(4)
    steps = np.array([1, 2, 3, 4])
    a = np.array([0.5 * T, 0.25 * T, 8 * T, 0.0])  # only element 2 (step 3, unjudged) is beyond atol
    out = compare(a, b, tol, steps)
    assert out["passed"] and out["unjudged"] == 2 and out["within_tol"] is False
    assert out["max_abs"] == 0.5 * T and out["where"] == [0]  # figures over the judged elements only
    assert out["max_abs_all"] == 8 * T and out["judged_to"] == 2
    inside = compare(np.array([0.5 * T, 0.25 * T, 0.5 * T, 0.0]), b, tol, steps)
    assert inside["within_tol"] is True


def test_nothing_judged_reports_every_element():
    tol = Tol(atol=T, horizon=2)
    out = compare(np.array([3 * T, T]), np.zeros(2), tol, 5)
    assert out["passed"] and out["unjudged"] == 2 and out["within_tol"] is False
    assert out["max_abs"] == 3 * T == out["max_abs_all"] and out["where"] == [0]
    assert "judged_to" not in out


def test_count_comparisons_report_difference_and_relative_difference():
    tol = Tol(2, count=True, horizon=3)
    out = compare_count(7, 4, tol, 100, step=1)
    assert out == {"max_abs": 3.0, "max_rel": 0.75, "passed": False, "where": None}
    assert compare_count(1, 0, tol, 100)["max_rel"] == 1.0  # against zero: divided by 1
    assert compare_count(-3, -4, tol, 100)["max_rel"] == 0.25  # |b|
    late = compare_count(7, 4, tol, 100, step=4)
    assert late == {"max_abs": 3.0, "max_rel": 0.75, "passed": True, "where": None, "unjudged": 1, "within_tol": False}
    assert compare_count(5, 4, tol, 100, step=4)["within_tol"] is True


def _raised(e: BaseException) -> BaseException:
    try:
        raise e
    except BaseException as caught:  # noqa: BLE001 -- any exception, as the checks catch it
        return caught


def test_one_line_is_the_first_line_and_the_innermost_frame():
    e = _raised(ValueError("first line\nsecond line"))
    line = one_line(e)
    assert line.startswith("ValueError: first line (at test_parity_compare.py:")
    assert "second" not in line and line.endswith(")")
    int(line.rsplit(":", 1)[1][:-1])  # a line number


def test_one_line_without_a_traceback_or_a_message():
    assert one_line(KeyError()) == "KeyError"
    assert one_line(RuntimeError("  boom  ")) == "RuntimeError: boom"
    assert one_line(_raised(RuntimeError())).startswith("RuntimeError (at test_parity_compare.py:")


def test_one_line_bounds_a_long_message():
    line = one_line(ValueError("x" * 500))
    assert line == "ValueError: " + "x" * 197 + "..."
    assert one_line(ValueError("y" * 200)) == "ValueError: " + "y" * 200


def test_one_line_cuts_from_201_characters():
    assert one_line(ValueError("z" * 201)) == "ValueError: " + "z" * 197 + "..."


def _inner():
    raise KeyError("deep")


def test_one_line_names_the_innermost_frame_of_a_deep_traceback():
    with pytest.raises(KeyError) as ei:
        _inner()
    line = one_line(ei.value)
    assert line.startswith("KeyError: 'deep' (at test_parity_compare.py:")
    assert int(line.rsplit(":", 1)[1][:-1]) == _inner.__code__.co_firstlineno + 1  # the raise, not the call


def test_one_line_of_code_without_a_file_path():
    with pytest.raises(ValueError) as ei:
        exec("raise ValueError('from a string')")  # noqa: S102 -- code whose frame has no file path
    assert one_line(ei.value) == "ValueError: from a string (at <string>:1)"
