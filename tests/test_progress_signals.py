"""harness.progress's bar (what it tells rich: the examples done, a new pass's name and total) and
harness.signals (SIGTERM raised as Terminated, remembered, the previous handler put back)."""
from __future__ import annotations

import signal

import pytest

from harness import progress, signals


class _Rich:
    """Records what a rich Progress is told."""

    def __init__(self):
        self.calls = []

    def add_task(self, description, total):
        self.calls.append(("add", description, total))
        return 7

    def advance(self, task, n):
        self.calls.append(("advance", task, n))

    def reset(self, task, total, description):
        self.calls.append(("reset", task, total, description))


def test_bar_counts_examples_and_names_each_pass():
    rich = _Rich()
    bar = progress._Bar(rich, n_train=100, epochs=3)
    bar.advance(40)
    bar.advance(60)
    bar.epoch_done(0)
    bar.advance(5)
    bar.epoch_done(1)
    bar.epoch_done(2)  # the last pass: nothing after it to name
    assert rich.calls == [("add", "pass 1", 100), ("advance", 7, 40), ("advance", 7, 60), ("reset", 7, 100, "pass 2"),
                          ("advance", 7, 5), ("reset", 7, 100, "pass 3")]


def test_bar_without_a_terminal_is_silent(monkeypatch):
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    with progress.pass_progress(10, 2) as bar:
        assert bar.progress is None and bar.task is None
        bar.advance(3)
        bar.epoch_done(0)
    with progress.pass_progress(10, 2, enabled=False) as bar:
        assert bar.progress is None


def test_sigterm_raises_terminated_and_is_remembered():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Terminated), signals.terminate_as_interrupt():
        assert signals.sigterm_received() is False
        assert signal.getsignal(signal.SIGTERM) is signals._raise_terminated
        signal.raise_signal(signal.SIGTERM)
    assert signals.sigterm_received() is True
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
    with signals.terminate_as_interrupt():
        assert signals.sigterm_received() is False  # forgotten on entering again
    assert issubclass(signals.Terminated, KeyboardInterrupt)
    assert (signals.EXIT_INTERRUPTED, signals.EXIT_TERMINATED) == (128 + signal.SIGINT, 128 + signal.SIGTERM)


def test_the_handler_itself_records_before_raising():
    signals._seen["sigterm"] = False
    with pytest.raises(signals.Terminated):
        signals._raise_terminated(signal.SIGTERM, None)
    assert signals.sigterm_received() is True
    signals._seen["sigterm"] = False
