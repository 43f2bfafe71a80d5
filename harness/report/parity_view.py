"""The parity section's data: a check's rows for a table (passing groups folded to their worst
tensor) and the divergence traces, in the shape harness parity writes:
checks [{name, title, passed, summary, rows [{target, tensor, max_abs, ...}], trace?}], a trace
{"step": [...], "tol": [...], "max_abs": {target: [...]}}. Results here passed the parity schema."""
from __future__ import annotations

from ..parity.fold import fold, group_key
from .fmt import fmt_g, num

FOLD_ABOVE = 30  # rows; above this, passing groups show only their worst tensor (parity.fold, as the terminal)


def _folded(rows: list[dict], key: str | None) -> list[dict]:
    """parity.fold's rows, each worst tensor labelled with how many it stands for."""
    given, out = {id(r) for r in rows}, []
    for r in fold(rows, key):
        if id(r) not in given and r["worst_of"] > 1:  # a group's worst: a copy the fold made
            r = {**r, "tensor": f"{r.get('tensor', '-')} (worst of {r['worst_of']})"}
        out.append(r)
    return out


def _verdict(r: dict) -> str:
    passed = r.get("passed")
    if passed is True and r.get("within_tol") is False:
        # judged only up to a horizon (float32 chaos): within tolerance there, beyond it after
        return (f"PASS to step {r['judged_to']}, beyond tol after (reported)" if r.get("judged_to")
                else "beyond tol past the horizon (reported, not judged)")
    return "PASS" if passed is True else "FAIL" if passed is False else "-"


def _row_cells(r: dict, group_key: str | None, has_first: bool) -> list[str]:
    """One row as plain-text cells (the caller escapes them)."""
    count = bool(r.get("count"))
    tensor = str(r.get("tensor", "-"))
    if count and "value" in r:
        tensor += f" ({r.get('value')} vs {r.get('reference')})"
    if r.get("error"):
        tensor = f"{tensor}: {r['error']}" if tensor != "-" else str(r["error"])
    cells = [str(r.get("target", "-")), tensor] + ([fmt_g(r.get(group_key), True)] if group_key else [])
    cells += [fmt_g(r.get("max_abs"), count), "-" if count else fmt_g(r.get("max_rel")), fmt_g(r.get("tol")),
              _verdict(r)]
    if has_first:
        cells.append(fmt_g(r.get("first_step"), True))
    return cells


def parity_rows(check: dict) -> tuple[list[str], list[list[str]]]:
    """A check's header and rows (plain text). For checks with many rows per group (steps, passes:
    every tensor after each k / pass), each passing group shows only its worst tensor."""
    rows = check.get("rows") or []
    key = group_key(rows)
    show = _folded(rows, key) if len(rows) > FOLD_ABOVE else rows
    has_first = any("first_step" in r for r in rows)
    header = ["backend/strategy", "tensor"] + ([key] if key else []) + \
        ["max abs", "max rel", "tol", "result"] + (["first divergent step"] if has_first else [])
    return header, [_row_cells(r, key, has_first) for r in show]


def _series(label: str, steps: list, values: list, tol) -> dict | None:
    if len(steps) != len(values):
        steps = list(range(1, len(values) + 1))
    pts = [(s, num(v)) for s, v in zip(steps, values)]
    if not pts:
        return None
    tl = [num(t) for t in tol] if isinstance(tol, list) and len(tol) == len(steps) else None
    return {"label": label, "steps": [p[0] for p in pts], "values": [p[1] for p in pts], "tol": tl}


def parity_traces(d: dict) -> list[dict]:
    """Divergence series [{label, steps, values, tol}]: every check's trace, else the top-level one."""
    traces = [c["trace"] for c in d["checks"] if c.get("trace")]
    if not traces and d.get("trace"):
        traces = [d["trace"]]
    out, seen = [], set()
    for tr in traces:
        for target, values in (tr.get("max_abs") or {}).items():
            s = _series(str(target), tr.get("step") or [], values, tr.get("tol"))
            if s and (s["label"], tuple(s["steps"])) not in seen:
                seen.add((s["label"], tuple(s["steps"])))
                out.append(s)
    return out
