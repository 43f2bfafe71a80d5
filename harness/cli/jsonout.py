"""`--json`: one JSON object on stdout, for scripts (docs/cli.md, "Machine-readable output").

The convention every command keeps: stdout holds exactly one JSON object and nothing else
(progress, notes and errors go to stderr); its first keys are `command` (the command's name, e.g.
"bench", "report --compare") and `json_version` (an integer, raised only when a key changes
meaning or goes away: keys are otherwise only added); the rest are the command's own, documented
in docs/cli.md. Floats that are not finite (NaN, inf) become null, so any JSON parser reads it.
A command that writes a result file puts the file's content under `result` and its path under
`path`: the same keys as the file (harness/schemas/result.schema.json).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import click

JSON_VERSION = 1


HELP = "Print one JSON object on stdout instead of tables (keys: docs/cli.md); progress and notes go to stderr."


def json_option(f=None, *, help: str = HELP):
    """The `--json` flag, the same on every command that has it (the value reaches `as_json`);
    `@json_option` or `@json_option(help=...)`."""
    option = click.option("--json", "as_json", is_flag=True, help=help)
    return option(f) if f is not None else option


def _plain(x):
    """`x` with non-finite floats as None, paths and tuples as text and lists: what json.dumps takes."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_plain(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def dumps(command: str, payload: dict) -> str:
    """The JSON text of `payload` under the convention's first keys."""
    doc = {"command": command, "json_version": JSON_VERSION, **_plain(payload)}
    return json.dumps(doc, indent=2, allow_nan=False, default=str)


def written(path: Path, **more) -> dict:
    """The payload of a command that wrote a result file: its path and its content as written
    (schema_version included), plus `more`."""
    return {"path": path, **more, "result": json.loads(Path(path).read_text(encoding="utf-8"))}


def emit(command: str, payload: dict) -> None:
    """Print `payload` as the command's one JSON object on stdout."""
    click.echo(dumps(command, payload))
