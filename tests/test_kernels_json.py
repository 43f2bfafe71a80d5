"""Small promises of what `bench --kernels` and `--json` print: count_kernels' answer for each kind
of session (none offered, a count, a profiler that fails, nonsense returned), the bench cell that
shows it, `backends --json`'s rows, and the JSON convention (first keys, non-finite floats as null,
paths and tuples as text and lists)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.backend import Steps
from harness.cli.backends import backends_rows
from harness.cli.jsonout import JSON_VERSION, _plain, dumps, written
from harness.kernels import count_kernels, kernels_cell
from harness.plugins import Registry


def _steps(n=4):
    return Steps(np.zeros((n, 1, 16, 16)), np.zeros((n, 10)), np.zeros(n, np.int64), np.zeros(n))


class _S:
    def __init__(self, answer=None, raises=None):
        self.answer, self.raises, self.got = answer, raises, None

    def kernels_per_example(self, steps):
        self.got = len(steps)
        if self.raises:
            raise self.raises
        return self.answer


def test_count_kernels_for_each_kind_of_session():
    assert count_kernels(object(), _steps()) is None  # offers no count
    s = _S({"kernels": 12.0, "unit": "kernels", "dispatches": 0.5, "examples": 4, "how": "cupti"})
    assert count_kernels(s, _steps()) is s.answer and s.got == 4
    assert count_kernels(_S(None), _steps()) is None
    failed = count_kernels(_S(raises=RuntimeError("no profiler\n  here")), _steps(3))
    assert failed["kernels"] is None and failed["unit"] is None and failed["dispatches"] is None
    assert failed["examples"] == 3 and failed["how"].startswith("not counted: RuntimeError: no profiler here")
    for nonsense in ({"kernels": "many"}, [1, 2], {"unit": "x"}):
        out = count_kernels(_S(nonsense), _steps(2))
        assert out == {"kernels": None, "unit": None, "dispatches": None, "examples": 2,
                       "how": f"not counted: kernels_per_example returned {nonsense!r:.80}"}
    long = count_kernels(_S({"unit": "y" * 500}), _steps(2))["how"]
    assert long == "not counted: kernels_per_example returned " + repr({"unit": "y" * 500})[:80]


@pytest.mark.parametrize("count, cell", [
    (None, "-"), ({}, "-"), ({"kernels": None, "how": "x"}, "-"),
    ({"kernels": 34.0, "unit": "XLA thunks"}, "34.0 XLA thunks"),
    ({"kernels": 12.04, "unit": "kernels", "dispatches": 0.016}, "12.0 kernels (0.02 dispatches)"),
    ({"kernels": 7, "unit": None}, "7.0"),
])
def test_kernels_cell(count, cell):
    assert kernels_cell({"kernel_count": count}) == cell


class _B:
    description = "d"

    def __init__(self, name, strategies=("first", "second"), variants=None, dtypes=None):
        self.name, self.strategies, self.variants, self.dtypes = name, strategies, variants, dtypes

    def check(self):
        pass

    def strategy_devices(self, s):
        return ("cpu", "cuda:0") if s == "first" else ()


def test_backends_rows():
    reg = Registry(backends={"ok": _B("ok", variants=("1989",), dtypes=("float64",)), "no": _B("no")})
    reg._checked.add("no")
    reg._unavailable["no"] = "framework missing"
    reg.broken["bad"] = type("P", (), {"reason": "import failed"})()
    rows = {r["name"]: r for r in backends_rows(reg)}
    assert [r["name"] for r in backends_rows(reg)] == ["bad", "no", "ok"]
    assert rows["ok"] == {"name": "ok", "available": True, "reason": None, "description": "d",
                          "strategies": [{"name": "first", "idiomatic": True, "devices": ["cpu", "cuda:0"]},
                                         {"name": "second", "idiomatic": False, "devices": []}],
                          "variants": ["1989"], "dtypes": ["float64"]}
    assert rows["no"]["available"] is False and rows["no"]["reason"] == "framework missing"
    assert [s["devices"] for s in rows["no"]["strategies"]] == [None, None]  # not asked where unavailable
    assert rows["no"]["variants"] is None and rows["no"]["dtypes"] is None
    assert rows["bad"] == {"name": "bad", "available": False, "reason": "import failed", "description": None,
                           "strategies": [], "variants": None, "dtypes": None}


def test_plain_makes_anything_json():
    assert _plain({1: (math.nan, math.inf, -math.inf, 1.5), "p": Path("a/b"), "s": {3}, "n": [None, True, "x"]}) == {
        "1": [None, None, None, 1.5], "p": "a/b", "s": [3], "n": [None, True, "x"]}


def test_dumps_puts_the_convention_first():
    doc = json.loads(dumps("bench", {"x": math.nan}))
    assert list(doc)[:2] == ["command", "json_version"] and doc["json_version"] == JSON_VERSION == 1
    assert doc["x"] is None
    assert dumps("r", {"a": 1}) == '{\n  "command": "r",\n  "json_version": 1,\n  "a": 1\n}'


def test_written_reads_back_the_file(tmp_path):
    p = tmp_path / "r.json"
    p.write_text('{"kind": "run", "schema_version": 3}', encoding="utf-8")
    assert written(p, extra=2) == {"path": p, "extra": 2, "result": {"kind": "run", "schema_version": 3}}
