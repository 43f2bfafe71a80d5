"""Rows and check results, and `versus`: the one shape every check has (run the reference, run each
target under try/except, compare, build rows)."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .compare import one_line
from .select import Target
from .tolerances import Tol


def row(target: str, tensor: str, cmp: dict, tol: Tol, step: int | None = None, n: int | None = None,
        **extra) -> dict:
    """One row of a check's table: a target's tensor compared with the reference's."""
    out = {"target": target, "tensor": tensor, **extra, "max_abs": cmp["max_abs"], "max_rel": cmp["max_rel"],
           "tol": tol.text(cmp.get("step_at", step), n), "passed": cmp["passed"], "where": cmp.get("where")}
    if tol.count:
        out["count"] = True
    for k in ("error", "unjudged", "within_tol", "max_abs_all", "judged_to"):
        if k in cmp:
            out[k] = cmp[k]
    return out


def error_row(target: str, error: str, **extra) -> dict:
    return {"target": target, "tensor": "-", **extra, "max_abs": None, "max_rel": None, "tol": "-",
            "passed": False, "where": None, "error": error}


def _largest(rows: list[dict]) -> dict | None:
    measured = [r for r in rows if r.get("max_abs") is not None and math.isfinite(r["max_abs"])
                and not r.get("count")]
    judged = [r for r in measured if "unjudged" not in r or r.get("judged_to")]
    return max(judged or measured, key=lambda r: r["max_abs"], default=None)


def _summary(name: str, rows: list[dict], passed: bool, largest: dict | None, tols: dict[str, Tol]) -> str:
    if largest is not None:
        where = "".join(f", {k} {largest[k]}" for k in ("k", "pass", "example") if largest.get(k) is not None)
        summary = (f"{name}: {'PASS' if passed else 'FAIL'}: largest |a-b| {largest['max_abs']:.3g} "
                   f"({largest['target']} {largest['tensor']}{where}; tol {largest['tol']})")
    else:
        summary = f"{name}: {'PASS' if passed else 'FAIL'}"
    if largest is not None and "unjudged" in largest and not largest.get("judged_to"):
        summary += " [beyond the horizon: reported, not judged]"
    failed = [r for r in rows if not r["passed"]]
    if failed:
        names = list(dict.fromkeys(
            (f"{r['target']}{': ' if r.get('reference') else ' raised '}{r['error']}" if r["tensor"] == "-"
             and r.get("error") else f"{r['target']} {r['tensor']}") + (f" from step {r['first_step']}" if r.get("first_step") is not None
                                  else f" k={r['k']}" if r.get("k") is not None else "")
            for r in failed))
        summary += f"; {len(failed)} failing: " + ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
    unjudged = [r for r in rows if r.get("within_tol") is False]
    if unjudged:
        values = [r.get("max_abs_all", r["max_abs"]) for r in unjudged if not r.get("count")]
        top = f", up to {max(values):.3g}" if values else ""
        horizon = next((t.horizon for t in tols.values() if t.horizon is not None), None)
        summary += (f"; past the horizon (step {unjudged[0].get('judged_to') or horizon}), "
                    f"{len(unjudged)} rows beyond tolerance{top} (reported, not judged)")
    return summary


def check_result(name: str, title: str, rows: list[dict], tols: dict[str, Tol], extra: dict | None = None) -> dict:
    """A check's result: passed when it has rows and every row passed; a one-line summary."""
    passed = all(r["passed"] for r in rows) and bool(rows)
    largest = _largest(rows)
    out = {"name": name, "title": title, "passed": passed, "summary": _summary(name, rows, passed, largest, tols),
           "largest": None if largest is None else {k: largest.get(k) for k in
                                                     ("target", "tensor", "max_abs", "max_rel", "k", "pass")},
           "tolerances": {k: t.to_dict() for k, t in tols.items()}, "rows": rows}
    if extra:
        out.update(extra)
    return out


def versus(name: str, title: str, ref: Target, targets: list[Target], run: Callable[[Target], Any],
           rows_of: Callable[[Target, Any, Any], list[dict]], tols: dict[str, Tol],
           error_extra: Callable[[Target], dict] = lambda t: {},
           want_of: Callable[[Any], Any] = lambda w: w) -> dict:
    """Run the reference, then each target, each under try/except; compare with rows_of(target, got, want).

    A backend that raises (in `run` or while its output is compared) becomes a failed row naming it
    (with error_extra(target)), and the other targets go on; when the reference itself raises,
    nothing can be compared and the one row names the reference. want_of(run(ref)) is the
    reference's output (`list` where `run` yields lazily, so a target that raises part-way is named
    with how far it got).
    """
    try:
        want = want_of(run(ref))
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return check_result(name, title, [error_row(ref.label, f"the reference raised {one_line(e, ref.backend)}; "
                                                               "nothing compared", reference=True)], {})
    rows: list[dict] = []
    for t in targets:
        try:
            rows += rows_of(t, run(t), want)
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(error_row(t.label, one_line(e, t.backend), **error_extra(t)))
    return check_result(name, title, rows, tols)
