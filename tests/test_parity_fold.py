"""The terminal's parity table and REPORT.md fold a check's rows with one function (parity.fold):
for every group they name the same worst tensor, even where a row beyond the horizon is larger."""
from __future__ import annotations

import re

from harness.cli.tables import parity_table
from harness.parity.fold import fold, group_key
from harness.report.parity_view import FOLD_ABOVE, parity_rows

TENSORS = ("H1w", "H1b", "H2w", "H2b", "H3w", "H3b", "outw", "outb")


def _row(target, k, tensor, max_abs, *, passed=True, **extra):
    return {"target": target, "tensor": tensor, "k": k, "max_abs": max_abs, "max_rel": max_abs, "tol": "1e-06",
            "passed": passed, "where": [0], **extra}


def _check() -> dict:
    rows = []
    for target in ("jax:step", "jax:scan"):
        for k in (1, 10, 100):
            rows += [_row(target, k, t, (i + 1) * 1e-8 * k) for i, t in enumerate(TENSORS)]
    # jax:scan k=100: outb is beyond tolerance past the horizon (reported, not judged) and the largest of
    # its group; the worst judged tensor is outw. jax:step k=10: H2w fails.
    for r in rows:
        if (r["target"], r["k"], r["tensor"]) == ("jax:scan", 100, "outb"):
            r.update(max_abs=5e-3, unjudged=True, within_tol=False)
        if (r["target"], r["k"], r["tensor"]) == ("jax:step", 10, "H2w"):
            r.update(max_abs=1.0, passed=False)
    assert len(rows) > FOLD_ABOVE  # the report folds too
    return {"name": "steps", "title": "t", "passed": False, "summary": "s", "rows": rows}


def _name(cell: str) -> str:
    return re.split(r"[\[ (]", cell, maxsplit=1)[0]


def _terminal(check) -> list[tuple]:
    table = parity_table(check)
    cols = {c.header: list(c._cells) for c in table.columns}
    return list(zip(cols["backend:strategy"], map(int, cols["k"]), map(_name, cols["tensor"])))


def _report(check) -> list[tuple]:
    head, rows = parity_rows(check)
    i, j, n = head.index("backend/strategy"), head.index("k"), head.index("tensor")
    return [(r[i], int(r[j]), _name(r[n])) for r in rows]


def test_terminal_and_report_name_the_same_rows():
    check = _check()
    assert _terminal(check) == _report(check)
    shown = _terminal(check)
    assert ("jax:scan", 100, "outw") in shown and ("jax:scan", 100, "outb") in shown  # worst judged, then beyond
    assert ("jax:step", 10, "H2w") in shown and ("jax:step", 10, "outb") not in shown  # a failing group: its failures
    assert len(shown) == 2 * 3 + 1  # one worst per passing group, the failure, the row past the horizon


def test_fold_marks_how_many_the_worst_stands_for():
    check = _check()
    out = fold(check["rows"])
    assert group_key(check["rows"]) == "k"
    worst = [r for r in out if r.get("worst_of")]
    assert {r["worst_of"] for r in worst} == {8, 7}  # jax:scan k=100: outb is not judged
    assert all(r in check["rows"] for r in out if not r.get("worst_of"))  # the rest are the rows themselves
    _, rows = parity_rows(check)
    assert any(r[1].endswith("(worst of 7)") for r in rows)
