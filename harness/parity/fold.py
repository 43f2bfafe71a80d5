"""The one "worst per group" fold of a parity check's rows, shared by the terminal table (harness
parity) and REPORT.md (report.parity_view), so the two always name the same worst tensor.

Rows are grouped by (target, k | pass | example). A failing group shows every failing row. A
passing group shows its worst judged tensor (largest max |a-b|; a row beyond the tolerance's
horizon is judged only when it has `judged_to`), marked `worst_of` with how many it stands for,
then its count rows (misses, predictions differing) and any row reported beyond the horizon.
"""
from __future__ import annotations

import math

GROUP_KEYS = ("k", "pass", "example")


def group_key(rows: list[dict]) -> str | None:
    """The field rows are grouped by beside the target: k, pass or example (None: none of them)."""
    return next((k for k in GROUP_KEYS if any(k in r for r in rows)), None)


def _max_abs(r: dict) -> float | None:
    """A row's max |a-b| as a finite float, or None (missing, NaN, or not a number: a file may hold anything)."""
    v = r.get("max_abs")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def fold(rows: list[dict], key: str | None = None) -> list[dict]:
    """The rows to show: failing groups whole, each passing group as its worst judged tensor (a copy
    with `worst_of`), its counts and its rows beyond the horizon. `key`: default group_key(rows)."""
    key = group_key(rows) if key is None else key
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("target", "-"), r.get(key)), []).append(r)
    show: list[dict] = []
    for grp in groups.values():
        bad = [r for r in grp if not r.get("passed", True)]
        if bad:
            show += bad
            continue
        measured = [r for r in grp if _max_abs(r) is not None and not r.get("count")]
        judged = [r for r in measured if "unjudged" not in r or r.get("judged_to")]
        if judged:  # the worst judged tensor, then whatever went beyond tolerance past the horizon
            w = dict(max(judged, key=_max_abs))
            w["worst_of"] = len(judged)
            show.append(w)
        show += [r for r in grp if r.get("count") or (r.get("within_tol") is False and r not in judged)]
    return show
