"""Sweep progress: one live status line (done, failed, running, pending, ETA) on a terminal,
and one line per finished point."""
from __future__ import annotations

import sys
import time

import click

from ..config import RunConfig
from .manifest import point_id


def _dur(s: float) -> str:
    s = round(s)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _pct(x) -> str:
    return f"{x * 100:.2f}%" if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def _summary(result: dict) -> str:
    """Final errors and median time of a result, whatever it holds (`-` for what it lacks)."""
    fin = result.get("final") if isinstance(result.get("final"), dict) else {}
    t = result.get("timing") if isinstance(result.get("timing"), dict) else {}
    us = t.get("us_per_example")
    timed = isinstance(us, (int, float)) and not isinstance(us, bool) and us > 0
    return (f"train {_pct(fin.get('train_error'))} test {_pct(fin.get('test_error'))}"
            + (f", {us:.1f} us/example median" if timed else ""))


class SweepProgress:
    def __init__(self, total: int, found: int, stream=None):
        self.total, self.found = total, found
        self.done = self.failed = 0
        self.running: set[str] = set()
        self.durations: list[float] = []
        self.t0 = time.monotonic()
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def status(self) -> str:
        todo = self.total - self.found
        pending = todo - self.done - self.failed - len(self.running)
        eta = "-"
        finished = self.done + self.failed
        if finished:
            rate = (time.monotonic() - self.t0) / finished  # wall seconds per point, parallelism included
            eta = _dur(rate * (pending + len(self.running)))
        return (f"sweep: {self.done + self.found}/{self.total} done ({self.found} found), {self.failed} failed, "
                f"{len(self.running)} running, {pending} pending, elapsed {_dur(time.monotonic() - self.t0)}, ETA {eta}")

    def _emit(self, line: str | None = None) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        if line is not None:
            self.stream.write(line + "\n")
        if self.live:
            self.stream.write(self.status())
        elif line is not None:
            self.stream.write(self.status() + "\n")
        self.stream.flush()

    def started(self, cfg: RunConfig) -> None:
        self.running.add(point_id(cfg))
        if self.live:
            self._emit()

    def finished(self, cfg: RunConfig, out: dict) -> None:
        self.running.discard(point_id(cfg))
        secs = out.get("seconds") or 0.0
        host = (out.get("where") or {}).get("hostname", "?")
        if out.get("ok"):
            self.done += 1
            self._emit(f"done   {point_id(cfg)}: {_summary(out['result'])} ({_dur(secs)} on {host})")
        else:
            self.failed += 1
            self._emit(f"FAILED {point_id(cfg)}: {out.get('reason')} ({_dur(secs)} on {host})")

    def note(self, text: str) -> None:
        self._emit(f"note: {text}")

    def elsewhere(self, cfg: RunConfig, what: str, failed: bool = False) -> None:
        """A point another sweep finished (or failed) while this one waited for it."""
        if failed:
            self.failed += 1
            self._emit(f"FAILED {point_id(cfg)}: {what}")
        else:
            self.found += 1
            self._emit(f"found  {point_id(cfg)}: {what}")

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\033[K" + self.status() + "\n")
        self.stream.flush()


def echo_points(points: list[RunConfig], found: set[str], resources: dict) -> None:
    for cfg in points:
        mark = "found  " if point_id(cfg) in found else "pending"
        res = resources.get(cfg)
        click.echo(f"{mark} {point_id(cfg)}" + (f" resources {res}" if res else ""))
