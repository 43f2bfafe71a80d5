"""Every result file is checked against harness/schemas/result.schema.json (JSON Schema,
through the jsonschema library) before anything reads it.

Policy: the schema changes by additions only and allows unknown fields everywhere;
`schema_version` changes only together with an entry in MIGRATIONS that upgrades the
previous version, so every committed file under results/ stays readable.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

SCHEMA_VERSION = 1  # written into every result (harness.results); read back through MIGRATIONS
KINDS = ("run", "bench", "parity")
SCHEMA_PATH = Path(__file__).with_name("schemas") / "result.schema.json"

# version -> a function taking a result of that version to version + 1. Empty: version 1 is the first.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


@functools.cache
def _validator(definition: str):
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    if definition != "#":
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def schema_error(data, definition: str) -> str | None:
    """The first way `data` breaks `$defs/<definition>` (or the top level, "#"), or None."""
    import jsonschema

    try:
        err = jsonschema.exceptions.best_match(_validator(definition).iter_errors(data))
    except RecursionError:
        return "nested too deeply"
    if err is None:
        return None
    where = "/".join(str(p) for p in err.absolute_path) or "top level"
    return f"{_short(where, 60)}: {_short(err.message)}"


def migrate(data: dict) -> dict:
    """`data` upgraded to SCHEMA_VERSION; ValueError for a version no migration reaches."""
    v = data.get("schema_version")
    while isinstance(v, int) and not isinstance(v, bool) and v in MIGRATIONS and v < SCHEMA_VERSION:
        data = MIGRATIONS[v](data)
        v = data.get("schema_version")
    if v != SCHEMA_VERSION or isinstance(v, bool):  # True == 1, and is no version
        raise ValueError(f"schema version {_short(repr(v), 40)}, expected {SCHEMA_VERSION}")
    return data


def validate_result(data) -> str | None:
    """Why `data` is not a usable harness result (one line), or None. Only for plain dict access:
    a migrated copy comes from `checked_result`."""
    try:
        checked_result(data)
    except ValueError as e:
        return str(e)
    return None


def checked_result(data) -> dict:
    """`data`, migrated to the current schema version and checked against its kind's schema;
    ValueError (one line: what is wrong, where) otherwise."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ValueError("not a harness result (no schema_version)")
    data = migrate(data)
    kind = data.get("kind")
    if kind is None:
        raise ValueError("harness result without a 'kind'")
    if kind not in KINDS:
        raise ValueError(f"unknown result kind {_short(repr(kind), 40)} (known: {', '.join(KINDS)})")
    bad = schema_error(data, kind)
    if bad:
        raise ValueError(f"{kind} result does not match the schema at {bad}")
    return data


def is_pytest_benchmark(data) -> bool:
    return isinstance(data, dict) and "benchmarks" in data and "schema_version" not in data


def pytest_benchmark_error(data) -> str | None:
    bad = schema_error(data, "pytest_benchmark")
    return f"pytest-benchmark file does not match the schema at {bad}" if bad else None
