"""Comparing one tensor (or count) of a target with the reference's under a tolerance."""
from __future__ import annotations

import inspect
import math
import os
import traceback

import numpy as np

from .tolerances import Tol

EPS = 1e-12  # in max |a - b| / (|b| + EPS): reported only, keeps exact zeros in b from dividing by 0


def compare(a, b, tol: Tol, step=None) -> dict:
    """max |a - b|, max |a - b| / (|b| + EPS), where it is largest, whether every judged element passes.

    `step` (a number or an array broadcasting against `a`) is the number of updates
    behind each element: it grows the tolerance (Tol.power) and decides which
    elements are judged (Tol.horizon); the others are reported only.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return {"max_abs": math.inf, "max_rel": math.inf, "passed": False, "where": None,
                "error": f"shape {a.shape} differs from the reference's {b.shape}"}
    if a.size == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "passed": True, "where": None}
    d = np.abs(a - b)
    same_nonfinite = (~np.isfinite(a)) & (a == b)  # inf == inf
    d = np.where(same_nonfinite, 0.0, d)
    d = np.where(np.isnan(d), np.inf, d)  # NaN on one side only: infinitely wrong
    finite_b = np.abs(np.nan_to_num(b, posinf=0.0, neginf=0.0))
    limit = tol.atol_at(step) + tol.scale * float(finite_b.max()) + tol.rtol * finite_b
    judged = np.broadcast_to(tol.judged(step), d.shape)
    ok = d <= limit
    passed = bool(np.all(ok | ~judged))
    rel = d / (finite_b + EPS)
    # Figures over the judged elements (all of them when none is judged: then reported only);
    # where: the largest |a - b|, or, on failure, the element furthest beyond its tolerance.
    shown = judged if judged.any() else np.ones_like(judged)
    key = np.where(shown, d, -1.0) if passed else np.where(judged, d / np.maximum(limit, 1e-300), -1.0)
    worst = np.unravel_index(int(np.argmax(key)), d.shape)
    out = {
        "max_abs": float(d[shown].max()),
        "max_rel": float(rel[shown].max()),
        "passed": passed,
        "where": [int(i) for i in worst] if d.ndim else None,
    }
    if step is not None and np.ndim(step) > 0:  # the step behind the element shown
        out["step_at"] = int(np.broadcast_to(step, d.shape)[worst])
    if not judged.all():
        out["unjudged"] = int((~judged).sum())  # elements beyond the horizon: reported only
        out["within_tol"] = bool(np.all(ok))
        out["max_abs_all"] = float(d.max())
        if judged.any():
            out["judged_to"] = tol.horizon
    return out


def compare_count(a: int, b: int, tol: Tol, n: int, step: int | None = None) -> dict:
    """Integer counts: |a - b| <= tol.allowed_count(n) (judged only up to the horizon)."""
    d = abs(int(a) - int(b))
    ok = d <= tol.allowed_count(n)
    judged = bool(tol.judged(step))
    out = {"max_abs": float(d), "max_rel": d / max(abs(int(b)), 1), "passed": ok or not judged, "where": None}
    if not judged:
        out["unjudged"] = 1
        out["within_tol"] = ok
    return out


def _plugin_root(backend) -> str | None:
    """Where the plugin that defines `backend` lives: its class's file, or that file's folder when the
    class is in a package (the session may be in another of its modules); None when not a file."""
    cls = type(backend)
    try:
        path = inspect.getfile(cls)
    except (TypeError, OSError):  # a module imported from a file, not in sys.modules: its methods know
        path = next((f.__code__.co_filename for f in vars(cls).values() if hasattr(f, "__code__")), None)
    if path is None:
        return None
    in_package = "." in cls.__module__ or os.path.basename(path) == "__init__.py"
    return os.path.dirname(path) + os.sep if in_package else path


def _short(f: traceback.FrameSummary) -> str:
    return f"{'/'.join(f.filename.replace(os.sep, '/').split('/')[-2:])}:{f.lineno} in {f.name}"


def one_line(e: BaseException, backend=None) -> str:
    """The exception's one-line summary with where it was raised: 'ValueError: ... (at f.py:12)'. Given the
    `backend`, the innermost frame of its plugin's own code ('in plugin code at pkg/session.py:40 in
    train_steps'), or, where no frame is the plugin's (a method it lacks), says so."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    msg = msg if len(msg) <= 200 else msg[:197] + "..."
    tb = traceback.extract_tb(e.__traceback__) if e.__traceback__ else []
    root = None if backend is None else _plugin_root(backend)
    own = [f for f in tb if root and (f.filename == root or f.filename.startswith(root))]
    if own:
        where = f" (in plugin code at {_short(own[-1])})"
    elif tb and root:
        where = f" (at {_short(tb[-1])}; no frame of the plugin's own code)"
    else:
        where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return (f"{type(e).__name__}: {msg}" if msg else type(e).__name__) + where


