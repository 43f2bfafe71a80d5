"""Numbers and times as the report prints them, text from a result file for a figure, and plain-text
tables for the terminal."""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path


def num(v) -> float | None:
    """A finite float, or None (for None, strings, bools, NaN, inf, integers beyond float)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        v = float(v)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def plain(s, limit: int = 90) -> str:
    """Text from a result file for a figure: one line, not too long (matplotlib's mathtext is off)."""
    s = " ".join("".join(c for c in str(s) if c.isprintable() or c.isspace()).split())  # no NUL, no controls
    return s if len(s) <= limit else s[: limit - 3] + "..."


def fmt_pct(v) -> str:
    """An error fraction as a percentage, as `harness run` prints it: 0.05 -> '5.00%'."""
    v = num(v)
    return "-" if v is None else f"{v * 100:.2f}%"


def fmt_us(v) -> str:
    v = num(v)
    if v is None:
        return "-"
    return f"{v:,.1f}" if v >= 10 else f"{v:.2f}"  # as `harness run` prints it (.1f)


def fmt_s(v) -> str:
    v = num(v)
    return "-" if v is None else f"{v:.1f}"


def fmt_ratio(v) -> str:
    v = num(v)
    return "-" if v is None else f"{v:.3f}"


def int_or_dash(v) -> str:
    return "-" if isinstance(v, bool) or not isinstance(v, int) else str(v)


def fmt_g(v, count: bool = False) -> str:
    """A parity figure: '3.1e-09', 'inf', 'nan', a count as an integer; '-' for None."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) and count:
        return str(v)
    if isinstance(v, (int, float)):
        try:
            v = float(v)
        except OverflowError:
            return "inf"
        if math.isinf(v):
            return "inf"
        if math.isnan(v):
            return "nan"
        return f"{int(v)}" if count else f"{v:.3g}"
    return "-" if v is None else str(v)


def text_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text aligned table for the terminal."""
    align = align or "l" * len(header)
    cells = [[str(c) for c in header]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def when(path: Path, d: dict) -> str:
    """A sortable UTC timestamp: the result's own (finished / created / started / datetime), else the
    file's mtime."""
    for k in ("finished", "created", "started", "datetime"):
        v = d.get(k)
        if isinstance(v, str) and v:
            try:
                t = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                if t.tzinfo is None:
                    t = t.astimezone()
                return t.astimezone(_dt.timezone.utc).isoformat(timespec="seconds")
            except (ValueError, OverflowError, OSError):
                continue
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).isoformat(timespec="seconds")
