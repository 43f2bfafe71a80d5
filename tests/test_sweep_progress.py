"""A sweep's progress lines (harness.sweep.progress): the counts in the status line (done, found,
failed, running, pending) after each kind of event, the ETA, one line per finished point, and
the live line on a terminal (redrawn in place, ended with a newline on close). The clock is a
fake: nothing here depends on how long the test takes."""
from __future__ import annotations

import io

from harness.config import RunConfig
from harness.sweep import progress
from harness.sweep.manifest import point_id
from harness.sweep.progress import SweepProgress


class _Clock:
    def __init__(self):
        self.now = 500.0

    def monotonic(self):
        return self.now


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _points(n):
    return [RunConfig(dataset="synthetic", seed=s) for s in range(1, n + 1)]


def test_durations_percentages_and_a_results_summary():
    assert [progress._dur(s) for s in (0, 59.4, 61, 3599, 3600, 7384)] == [
        "0m00s", "0m59s", "1m01s", "59m59s", "1h00m", "2h03m"]
    assert (progress._pct(0.0123), progress._pct(1), progress._pct(None), progress._pct(True)) == (
        "1.23%", "100.00%", "-", "-")
    r = {"final": {"train_error": 0.01, "test_error": 0.05}, "timing": {"us_per_example": 31.25}}
    assert progress._summary(r) == "train 1.00% test 5.00%, 31.2 us/example median"
    assert progress._summary({"final": [1], "timing": {"us_per_example": 0}}) == "train - test -"


def test_each_event_counts_once_and_the_status_line_says_so(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress, "time", clock)
    out = io.StringIO()
    a, b, c, d, e, f = _points(6)
    p = SweepProgress(total=7, found=1, stream=out)
    assert p.status() == "sweep: 1/7 done (1 found), 0 failed, 0 running, 6 pending, elapsed 0m00s, ETA -"
    for cfg in (a, b, c, d):
        p.started(cfg)
    assert out.getvalue() == ""  # not a terminal: no live line, only finished points
    clock.now += 60
    p.finished(a, {"ok": True, "result": {"final": {"train_error": 0.0, "test_error": 0.25}}, "seconds": 42,
                   "where": {"hostname": "h1"}})
    p.finished(b, {"ok": False, "reason": "exit status 1", "seconds": 3})
    p.finished(c, {"ok": False, "reason": "killed", "where": {"hostname": "h2"}})
    p.elsewhere(e, "by another sweep")
    p.elsewhere(f, "it failed there", failed=True)
    assert (p.done, p.failed, p.found, p.running) == (1, 3, 2, {point_id(d)})
    # 4 finished here in 60 s: 15 s a point; 1 running + 0 pending left
    assert p.status() == "sweep: 3/7 done (2 found), 3 failed, 1 running, 0 pending, elapsed 1m00s, ETA 0m15s"
    lines = out.getvalue().splitlines()
    assert lines[0] == f"done   {point_id(a)}: train 0.00% test 25.00% (0m42s on h1)"
    assert lines[1] == "sweep: 2/7 done (1 found), 0 failed, 3 running, 2 pending, elapsed 1m00s, ETA 5m00s"  # 60 s a point, 5 left
    assert lines[2] == f"FAILED {point_id(b)}: exit status 1 (0m03s on ?)"
    assert lines[4] == f"FAILED {point_id(c)}: killed (0m00s on h2)"
    assert lines[6] == f"found  {point_id(e)}: by another sweep"
    assert lines[8] == f"FAILED {point_id(f)}: it failed there"
    assert len(lines) == 10
    p.close()
    assert len(out.getvalue().splitlines()) == 10  # not a terminal: close adds nothing


def test_on_a_terminal_the_status_line_is_redrawn_in_place_and_ended_on_close(monkeypatch):
    monkeypatch.setattr(progress, "time", _Clock())
    tty = _Tty()
    (a,) = _points(1)
    p = SweepProgress(total=1, found=0, stream=tty)
    p.started(a)
    assert tty.getvalue() == "\r\033[Ksweep: 0/1 done (0 found), 0 failed, 1 running, 0 pending, elapsed 0m00s, ETA -"
    tty.seek(0)
    tty.truncate()
    p.note("hello")
    p.close()
    assert tty.getvalue() == (
        "\r\033[Knote: hello\nsweep: 0/1 done (0 found), 0 failed, 1 running, 0 pending, elapsed 0m00s, ETA -"
        "\r\033[Ksweep: 0/1 done (0 found), 0 failed, 1 running, 0 pending, elapsed 0m00s, ETA -\n")
