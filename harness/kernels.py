"""Kernels per training example: what a backend's profiler counts, asked through one function.

A session may offer `kernels_per_example(steps) -> dict | None`: it trains `steps` under its
framework's profiler and returns
    {"kernels": float,            # per example
     "unit": str,                 # "kernels" where they are GPU kernel launches; else what was
                                  # counted ("aten ops", "XLA thunks"): not a launch count
     "dispatches": float | None,  # host calls into the runtime per example (launches,
                                  # executables), where the profiler shows them
     "examples": int, "how": str} # the window, and what exactly was counted, in words
The count is deterministic for a given program (unlike a time), and on a GPU at batch size 1
it is what explains the time per example.
"""
from __future__ import annotations

from .backend import Session, Steps
from .plugins import one_line


def count_kernels(session: Session, steps: Steps) -> dict | None:
    """The session's count over `steps` (which it trains on), None where it offers none; a
    profiler that fails gives {"kernels": None, "how": why} rather than losing the timings."""
    fn = getattr(session, "kernels_per_example", None)
    if fn is None:
        return None
    try:
        out = fn(steps)
    except Exception as e:  # noqa: BLE001 - a profiler missing a plugin, a trace it cannot parse
        return {"kernels": None, "unit": None, "dispatches": None, "examples": len(steps),
                "how": "not counted: " + " ".join(one_line(e).split())}
    if out is None:
        return None
    if not isinstance(out, dict) or not isinstance(out.get("kernels"), (int, float)):
        return {"kernels": None, "unit": None, "dispatches": None, "examples": len(steps),
                "how": f"not counted: kernels_per_example returned {out!r:.80}"}
    return out


def kernels_cell(row: dict) -> str:
    """The bench table's cell: '34.0 XLA thunks', '12.0 kernels (0.02 launches)', or '-'."""
    k = row.get("kernel_count") or {}
    if k.get("kernels") is None:
        return "-"
    cell = f"{k['kernels']:.1f} {k.get('unit') or ''}".strip()
    if k.get("dispatches") is not None:
        cell += f" ({k['dispatches']:.2f} dispatches)"
    return cell
