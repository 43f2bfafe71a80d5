"""Comparisons at their boundary: every check that decides a verdict, at exactly its limit, one
step beyond it, and zero against a zero tolerance.

The values are powers of two (and their neighbours one ulp away), so each difference and each
limit is exact in float64: "exactly at the tolerance" is exact, not approximately so. A `<=` that
became `<` (or the reverse) fails here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.parity import EPS, Tol, check_result, compare, compare_count
from harness.report.compare import beyond_spread
from harness.report.seeds import within
from harness.report.timings import Figure

T = 2.0 ** -20  # a tolerance
ULP1 = 2.0 ** -52  # one ulp of 1.0 (of [1, 2))


def up(x: float) -> float:
    return float(np.nextafter(x, math.inf))


def _passed(a, b, tol, step=None) -> bool:
    return compare(np.asarray(a, np.float64), np.asarray(b, np.float64), tol, step)["passed"]


# (name, tol, reference b, step, the largest |a - b| allowed): a = b + that passes, one ulp more fails.
LIMITS = [
    ("atol", Tol(atol=T), 1.0, None, T),
    ("atol, below the reference", Tol(atol=T), 1.0, None, -T),
    ("rtol", Tol(rtol=T), 4.0, None, 4 * T),
    ("rtol, negative reference", Tol(rtol=T), -4.0, None, -4 * T),
    ("atol + rtol", Tol(atol=T, rtol=T), 1.0, None, 2 * T),
    ("atol growing with the step", Tol(atol=T, power=2.0), 1.0, 4, 16 * T),
    ("atol at step 0 counts as step 1", Tol(atol=T, power=2.0), 1.0, 0, T),
    ("scale of the largest reference entry", Tol(scale=T), 4.0, None, 4 * T),
]


@pytest.mark.parametrize("tol, b, step, limit", [x[1:] for x in LIMITS], ids=[x[0] for x in LIMITS])
def test_exactly_at_the_tolerance_passes_one_ulp_beyond_fails(tol, b, step, limit):
    at = b + limit
    assert at - b == limit  # exact
    assert _passed([at], [b], tol, step)
    beyond = up(at) if limit > 0 else float(np.nextafter(at, -math.inf))
    assert not _passed([beyond], [b], tol, step)


def test_scale_is_the_largest_reference_entry_for_every_element():
    """scale * max|b| allows the same difference on an element whose reference is 0."""
    tol = Tol(scale=T)
    assert _passed([4.0, 4 * T], [4.0, 0.0], tol)
    assert not _passed([4.0, up(4 * T)], [4.0, 0.0], tol)


def test_per_element_steps_give_per_element_limits():
    tol = Tol(atol=T, power=1.0)
    b = np.ones(3)
    steps = np.array([1, 2, 4])
    assert _passed(b + T * steps, b, tol, steps)
    for i in range(3):
        a = b + T * steps
        a[i] = up(a[i])
        assert not _passed(a, b, tol, steps), i


ZERO = Tol()  # exact agreement


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # inf - inf
@pytest.mark.parametrize("a, b, passed", [
    (0.0, 0.0, True), (1.0, 1.0, True), (-0.0, 0.0, True), (math.inf, math.inf, True), (-math.inf, -math.inf, True),
    (5e-324, 0.0, False), (up(1.0), 1.0, False), (-math.inf, math.inf, False), (math.nan, 0.0, False),
    (0.0, math.nan, False), (math.nan, math.nan, False),  # a NaN is never agreement
])
def test_zero_tolerance(a, b, passed):
    assert _passed([a], [b], ZERO) is passed


def test_nothing_to_compare_passes_but_no_rows_is_no_pass():
    assert compare(np.zeros(0), np.zeros(0), ZERO)["passed"]
    assert check_result("forward", "t", [], {})["passed"] is False


@pytest.mark.parametrize("horizon", [0, 1, 300])
def test_the_horizon_step_itself_is_judged(horizon):
    tol = Tol(atol=0.0, horizon=horizon)
    at = compare(np.array([1.0]), np.array([0.0]), tol, horizon)
    assert not at["passed"] and "unjudged" not in at
    after = compare(np.array([1.0]), np.array([0.0]), tol, horizon + 1)
    assert after["passed"] and after["unjudged"] == 1 and after["within_tol"] is False
    assert not compare_count(1, 0, Tol(0, count=True, horizon=horizon), 10, horizon)["passed"]
    assert compare_count(1, 0, Tol(0, count=True, horizon=horizon), 10, horizon + 1)["passed"]


# (tol, n, allowed differing counts)
COUNTS = [(Tol(0, count=True), 100, 0), (Tol(3, count=True), 100, 3), (Tol(3, rtol=0.02, count=True), 100, 5),
          (Tol(3, rtol=0.02, count=True), 2000, 43), (Tol(3, rtol=0.02, count=True), 49, 3),
          (Tol(3, rtol=0.02, count=True), 50, 4)]


@pytest.mark.parametrize("tol, n, allowed", COUNTS)
def test_counts_at_the_allowed_number_pass_one_more_fails(tol, n, allowed):
    assert tol.allowed_count(n) == allowed
    assert compare_count(10 + allowed, 10, tol, n)["passed"]
    assert compare_count(10 - allowed, 10, tol, n)["passed"]
    assert not compare_count(10 + allowed + 1, 10, tol, n)["passed"]
    assert not compare_count(10 - allowed - 1, 10, tol, n)["passed"]


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # inf - inf
@pytest.mark.parametrize("a, b, rel", [
    (0.0, 0.0, 0.0),  # 0 / EPS, not NaN
    (EPS, 0.0, 1.0),  # against an exact zero, EPS is the denominator
    (1.0, 0.0, 1.0 / EPS),
    (3.0, 2.0, 1.0 / (2.0 + EPS)),
    (-3.0, -2.0, 1.0 / (2.0 + EPS)),  # |b|: never negative
    (math.inf, math.inf, 0.0),
])
def test_relative_difference_and_its_eps(a, b, rel):
    got = compare(np.array([a]), np.array([b]), Tol(atol=math.inf))["max_rel"]
    assert got == rel or got == pytest.approx(rel, rel=1e-15)


def test_relative_difference_is_taken_against_the_reference():
    assert compare(np.array([2.0]), np.array([1.0]), ZERO)["max_rel"] == pytest.approx(1.0)
    assert compare(np.array([1.0]), np.array([2.0]), ZERO)["max_rel"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- timing and seeds


def _fig(p25: float, p75: float) -> Figure:
    return Figure(key=("torch", "eager", "cpu", "float32", "1989"), label="x", median=(p25 + p75) / 2, p25=p25, p75=p75)


@pytest.mark.parametrize("a, b, beyond", [
    ((1.0, 2.0), (2.0, 3.0), "no"),  # touching ranges overlap
    ((2.0, 3.0), (1.0, 2.0), "no"),
    ((1.0, 2.0), (up(2.0), 3.0), "yes"),
    ((up(2.0), 3.0), (1.0, 2.0), "yes"),
    ((1.0, 1.0), (1.0, 1.0), "no"),
])
def test_beyond_spread_at_touching_ranges(a, b, beyond):
    assert beyond_spread(_fig(*a), _fig(*b)) == beyond


SPREAD = {"n": 3, "mean": 1.5, "sd": 0.25, "min": 1.0, "max": 2.0, "median": 1.5}


@pytest.mark.parametrize("value, min_max, two_sd", [
    (1.0, True, True), (2.0, True, True),  # min, max, and mean ± 2 sd exactly
    (float(np.nextafter(1.0, 0.0)), False, False), (up(2.0), False, False),
])
def test_paper_figure_at_the_edge_of_the_seed_spread(value, min_max, two_sd):
    assert within(value, SPREAD) == {"min_max": min_max, "mean_2sd": two_sd}
    assert within(value, {**SPREAD, "sd": None})["mean_2sd"] is None


@pytest.mark.parametrize("load, warned", [(2.0, False), (up(2.0), True), (0.0, False)])
def test_busy_warning_only_above_the_cores(monkeypatch, load, warned):
    from harness import timing

    monkeypatch.setattr(timing, "load_average", lambda: [load, 0.0, 0.0])
    monkeypatch.setattr(timing, "usable_cores", lambda: 2)
    assert (timing.busy_warning() is not None) is warned


@pytest.mark.parametrize("limit, key_limit", [(7290, 7290), (7291, None), (7292, None), (None, None)])
def test_a_limit_of_the_whole_training_set_is_no_limit(limit, key_limit):
    from harness.config import IDENTITY, RunConfig
    from harness.report.runs import subset_note
    from harness.sweep.match import point_key

    cfg = RunConfig(backend="jax", strategy="scan", dataset="usps", epochs=1, limit=limit)
    assert point_key(cfg)[IDENTITY.index("limit")] == key_limit
    n_train = 7291 if limit is None else min(limit, 7291)
    src = {"n_train": 7291}
    assert bool(subset_note({"n_train": n_train, "dataset_source": src})) is (key_limit is not None)
    derived = RunConfig.from_result({"backend": "jax", "strategy": "scan", "device": "cpu", "variant": "1989",
                                     "dataset": "usps", "dtype": "float32", "seed": 1, "epochs": [{}],
                                     "n_train": n_train, "dataset_source": src})
    assert derived.limit == key_limit
