"""Who parity compares (harness.parity.select.select_targets), with framework-free fake backends:
the reference chosen, the targets against it, the notes, a determinism check labelled as one, and
the error class of "nothing to compare" (a device no backend reaches is DeviceUnavailable; a
variant none supports is Unsupported): both exit 2, but they say different things to the user."""
from __future__ import annotations

import pytest

from harness import plugins
from harness.errors import DeviceUnavailable, Unsupported
from harness.parity.select import select_targets
from tests.test_targets import _Fake


class _One(_Fake):  # plain reaches the cpu, gpu reaches nothing here
    name = "one"
    variants = ("1989",)


class _Two(_One):
    name = "two"
    strategies = ("a", "b")
    description = "test backend: both strategies reach the cpu"

    def strategy_devices(self, strategy):
        return ["cpu"]


class _GpuFirst(_One):
    name = "gpufirst"
    strategies = ("gpu", "plain")  # its idiomatic (first) strategy cannot run here
    description = "test backend"


@pytest.fixture
def reg():
    with plugins.backends_registered(_One(), _Two(), _GpuFirst(), name="select-test"):
        yield plugins.get_registry()


def _sel(reg, backends, strategies=None, reference=None, device="cpu", variant="1989"):
    return select_targets(reg, backends, strategies, reference, device, variant=variant, dtype="float32")


def test_a_device_no_backend_reaches_is_device_unavailable_naming_each_target(reg):
    with pytest.raises(DeviceUnavailable) as e:
        _sel(reg, ["one"], device="tpu")
    assert not isinstance(e.value, Unsupported)
    assert str(e.value) == ("nothing to compare on device 'tpu': one:plain skipped: cannot reach device 'tpu' here "
                            "(reaches: cpu); one:gpu skipped: cannot reach device 'tpu' here (reaches: none)")


def test_a_variant_no_backend_supports_is_unsupported_in_its_words(reg):
    with pytest.raises(Unsupported) as e:
        _sel(reg, ["two"], variant="modern")
    assert str(e.value) == ("nothing to compare on device 'cpu': two:a skipped: backend 'two' does not support "
                            "variant 'modern' (supports: 1989); two:b skipped: backend 'two' does not support "
                            "variant 'modern' (supports: 1989)")


def test_the_reference_is_the_first_backends_first_strategy_and_not_a_target(reg):
    s = _sel(reg, ["two", "one"])
    assert s.reference.label == "two:a" and [t.label for t in s.targets] == ["two:b", "one:plain"]
    assert s.self_check is False
    assert s.notes == ["one:gpu skipped: cannot reach device 'cpu' here (reaches: none)"]


def test_an_explicit_reference_leads_and_the_rest_are_compared(reg):
    s = _sel(reg, ["one", "two"], reference="two:b")
    assert s.reference.label == "two:b" and [t.label for t in s.targets] == ["one:plain", "two:a"]
    assert not s.self_check


def test_the_reference_is_the_idiomatic_strategy_even_where_strategies_left_it_out(reg):
    s = _sel(reg, ["two"], ["b"])
    assert s.reference.label == "two:a" and [t.label for t in s.targets] == ["two:b"]
    assert not any(n.startswith("backend two skipped") for n in s.notes)  # it runs, as the reference


def test_where_the_idiomatic_strategy_cannot_run_the_first_target_is_the_reference(reg):
    s = _sel(reg, ["gpufirst", "two"])
    assert s.reference.label == "gpufirst:plain" and [t.label for t in s.targets] == ["two:a", "two:b"]


def test_only_the_reference_left_is_a_labelled_determinism_check(reg):
    s = _sel(reg, ["one"])
    assert s.self_check is True
    assert s.reference.label == "one:plain" and [t.label for t in s.targets] == ["one:plain"]
    assert s.notes[-1] == ("only one:plain selected: compared against a second session of itself "
                           "(a determinism check)")
