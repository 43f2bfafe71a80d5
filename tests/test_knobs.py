"""harness.knobs.Knob: what each kind of knob accepts, at and around the ends of its range (an open
end refuses its bound, a closed one takes it), from text or from numbers; the words it refuses with;
and `show`, the spelling a value gets in labels and on the command line."""
from __future__ import annotations

import math

import pytest

from harness.knobs import CORE, NONZERO, VALUE, Knob, show
from harness.spec import KNOBS

EPS = 1e-9


@pytest.mark.parametrize("open_, lo_ok, hi_ok", [("", True, True), ("lo", False, True), ("hi", True, False),
                                                 ("both", False, False)])
def test_open_ends_refuse_their_bound_closed_ends_take_it(open_, lo_ok, hi_ok):
    k = Knob("k", "number", "doc", lo=0.5, hi=2.0, open=open_)
    assert (k._parse(0.5) == 0.5) is lo_ok and (k._parse("0.5") == 0.5) is lo_ok
    assert (k._parse(2.0) == 2.0) is hi_ok and (k._parse(2) == 2.0) is hi_ok
    assert k._parse(0.5 + EPS) == 0.5 + EPS and k._parse(2.0 - EPS) == 2.0 - EPS  # inside: always
    assert k._parse(0.5 - EPS) is None and k._parse(2.0 + EPS) is None  # outside: never
    left, right = "(" if not lo_ok else "[", ")" if not hi_ok else "]"
    assert k.allowed() == f"a number in {left}0.5, 2{right}"


@pytest.mark.parametrize("name", [n for n, k in KNOBS.items() if k.kind == "number"])
def test_every_number_knob_keeps_its_declared_ends(name):
    k = KNOBS[name]
    assert (k._parse(k.lo) is None) == (k.open in ("lo", "both"))
    assert (k._parse(k.hi) is None) == (k.open in ("hi", "both"))
    assert k._parse(k.hi * 2 + 1) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", True, False, "x", None, [1.0]])
def test_number_knob_refuses_what_is_not_a_finite_number(value):
    assert Knob("k", "number", "d", lo=-10.0, hi=10.0)._parse(value) is None


def test_int_knob_takes_whole_numbers_within_its_range():
    k = Knob("n", "int", "d", lo=1, hi=5)
    assert [k._parse(v) for v in (1, 5, "3", 4.0)] == [1, 5, 3, 4]
    assert isinstance(k._parse(4.0), int)
    assert [k._parse(v) for v in (0, 6, 2.5, "2.0", "x", True)] == [None] * 6
    assert k.allowed() == "a whole number from 1 to 5"


def test_choice_knob_takes_its_names_only():
    k = Knob("act", "choice", "d", choices=("tanh", "relu"))
    assert k._parse("relu") == "relu" and k._parse("RELU") is None and k._parse(1) is None
    assert k.allowed() == "one of tanh, relu"


def test_parse_refuses_in_one_line_naming_the_knob_and_what_it_allows():
    k = Knob("targets", "number", "d", lo=0.0, hi=2.0, open="lo")
    assert k.parse("0.8") == 0.8
    with pytest.raises(ValueError) as e:
        k.parse("0")
    assert str(e.value) == "knob targets=0: must be a number in (0, 2]"
    with pytest.raises(ValueError) as e:
        k.parse(3.5)
    assert str(e.value) == "knob targets=3.5: must be a number in (0, 2]"


def test_feature_is_on_or_off_only_for_nonzero_knobs():
    assert Knob("d", "number", "d", lo=0.0, hi=1.0, backend=NONZERO).feature(0.3) is True
    assert Knob("d", "number", "d", lo=0.0, hi=1.0, backend=NONZERO).feature(0.0) is False
    assert Knob("a", "choice", "d", choices=("x",), backend=VALUE).feature("x") == "x"
    assert Knob("t", "number", "d", lo=0.0, hi=1.0, backend=CORE).feature(0.3) == 0.3


@pytest.mark.parametrize("value, text", [(0.8, "0.8"), (3e-4, "0.0003"), (2.0, "2"), (-1.0, "-1"), (1e16, "1e+16"),
                                         ("tanh", "tanh"), (3, "3")])
def test_show(value, text):
    assert show(value) == text
