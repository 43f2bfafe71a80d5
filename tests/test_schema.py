"""harness.schema on its own: every way a file fails to be a harness result gets its own one-line
reason, migrations upgrade older versions one step at a time, and a reason is bounded in length.

The end-to-end tests load whole result files; these pin each branch the reasons come from, so a
message that loses its `where`, a version check that lets a bool or a future version through, or a
migration loop that stops early, fails here.
"""
from __future__ import annotations

import re

import pytest

from harness import schema
from harness.schema import (
    checked_result,
    is_pytest_benchmark,
    migrate,
    pytest_benchmark_error,
    validate_result,
)


def _run(**extra) -> dict:
    return {"schema_version": schema.SCHEMA_VERSION, "kind": "run", "backend": "torch", "strategy": "eager",
            "device": "cpu", "variant": "1989", "epochs": [{"epoch": 1, "train_error": 0.1, "test_error": 0.2}], **extra}


def test_a_valid_result_of_each_kind_is_accepted():
    assert validate_result(_run()) is None
    assert validate_result({"schema_version": 1, "kind": "parity", "checks": [{"name": "forward", "rows": []}]}) is None
    assert checked_result(_run()) == _run()


@pytest.mark.parametrize("data, why", [
    ([], "not a harness result (no schema_version)"),
    ({"kind": "run"}, "not a harness result (no schema_version)"),
    ({"schema_version": 1}, "harness result without a 'kind'"),
    ({"schema_version": 1, "kind": "train"}, "unknown result kind 'train' (known: run, bench, parity)"),
])
def test_each_way_of_not_being_a_result_has_its_reason(data, why):
    assert validate_result(data) == why
    with pytest.raises(ValueError, match=f"^{re.escape(why)}$"):
        checked_result(data)


def test_a_schema_mismatch_names_the_kind_and_where():
    assert validate_result(_run(backend=3)) == "run result does not match the schema at backend: 3 is not of type 'string'"
    # a missing required field is a fault of the top level
    bad = _run()
    del bad["strategy"]
    assert validate_result(bad) == "run result does not match the schema at top level: 'strategy' is a required property"
    nested = _run(epochs=[{"epoch": 1, "train_error": "low"}])
    assert validate_result(nested).startswith("run result does not match the schema at epochs/0")


def test_schema_error_is_none_for_data_that_matches():
    assert schema.schema_error(_run(), "run") is None
    assert schema.schema_error(_run(), "#") is None
    assert schema.schema_error({"schema_version": 1}, "#") == "top level: 'kind' is a required property"


def test_reasons_are_one_bounded_line():
    assert schema._short("a\n  b\tc") == "a b c"
    assert schema._short("x" * 160) == "x" * 160  # at the limit: whole
    assert schema._short("x" * 161) == "x" * 157 + "..."  # beyond: cut to the limit, marked
    assert len(schema._short("y" * 500, 40)) == 40
    kind = "k" * 100
    why = validate_result({"schema_version": 1, "kind": kind})
    assert why == f"unknown result kind {schema._short(repr(kind), 40)} (known: run, bench, parity)"
    assert len(schema._short(repr(kind), 40)) == 40 and "\n" not in why


@pytest.mark.parametrize("version", [0, 2, "1", 1.5, None])
def test_a_version_no_migration_reaches_is_refused(version):
    with pytest.raises(ValueError, match=f"^schema version {re.escape(repr(version))}, expected 1$"):
        migrate({"schema_version": version})
    assert validate_result({"schema_version": version, "kind": "run"}) == f"schema version {version!r}, expected 1"


def test_true_is_not_version_1():
    """JSON `true` equals 1 in Python, but is no version (the kind's schema does not see the top level)."""
    assert validate_result(_run(schema_version=True)) == "schema version True, expected 1"


def test_migrations_upgrade_one_version_at_a_time(monkeypatch):
    """A result two versions old goes through both migrations, in order, and is then checked."""
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    seen = []

    def step(frm):
        def up(d):
            seen.append(frm)
            return {**d, "schema_version": frm + 1, f"from{frm}": True}
        return up

    monkeypatch.setattr(schema, "MIGRATIONS", {1: step(1), 2: step(2)})
    old = {**_run(), "schema_version": 1}
    assert migrate(old) == {**old, "schema_version": 3, "from1": True, "from2": True}
    assert seen == [1, 2]
    assert migrate({"schema_version": 2, "a": 1}) == {"schema_version": 3, "a": 1, "from2": True}
    assert migrate({"schema_version": 3}) == {"schema_version": 3}  # current: untouched
    with pytest.raises(ValueError, match="schema version 0, expected 3"):
        migrate({"schema_version": 0})  # no migration from 0
    with pytest.raises(ValueError, match="schema version True, expected 3"):
        migrate({"schema_version": True})  # True == 1, but no migration starts from a bool
    checked = checked_result(old)  # the checked copy is the migrated one
    assert checked["schema_version"] == 3 and checked["from2"]


def test_a_migration_that_does_not_reach_the_current_version_is_refused(monkeypatch):
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(schema, "MIGRATIONS", {1: lambda d: {**d, "schema_version": 2}})
    with pytest.raises(ValueError, match="schema version 2, expected 3"):
        migrate({"schema_version": 1})


def test_pytest_benchmark_files_are_told_apart_and_checked():
    bench = {"benchmarks": [{"name": "t", "stats": {"median": 1e-3}}], "machine_info": {}}
    assert is_pytest_benchmark(bench)
    assert not is_pytest_benchmark({**bench, "schema_version": 1})  # a harness result holding such a field
    assert not is_pytest_benchmark([bench]) and not is_pytest_benchmark({"machine_info": {}})
    assert pytest_benchmark_error(bench) is None
    why = pytest_benchmark_error({"benchmarks": 3})
    assert why.startswith("pytest-benchmark file does not match the schema at benchmarks: ")


def test_a_recursion_while_validating_is_a_reason_not_a_crash(monkeypatch):
    class Deep:
        def iter_errors(self, data):
            raise RecursionError

    monkeypatch.setattr(schema, "_validator", lambda definition: Deep())
    assert schema.schema_error(_run(), "run") == "nested too deeply"
    assert validate_result(_run()) == "run result does not match the schema at nested too deeply"
