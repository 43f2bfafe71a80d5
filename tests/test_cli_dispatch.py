"""How `harness` ends (harness.cli.main / _dispatch): each kind of ending, raised from inside a
command, becomes one exact line on stderr and its exit status (2 usage, 1 failure, 130 Ctrl-C,
143 SIGTERM), with nothing lost when a result could not be written."""
from __future__ import annotations

import click
import pytest

import harness.cli as cli_mod
from harness.errors import (
    BackendFailure,
    NonFiniteLoss,
    ResultWriteError,
    UnknownBackend,
)
from harness.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated


def _raising(monkeypatch, exc):
    def main(**kw):
        raise exc

    monkeypatch.setattr(cli_mod.cli, "main", main)


@pytest.mark.parametrize("exc, code, line", [
    (UnknownBackend("unknown backend 'x'; known backends: torch"), 2,
     "harness: error: unknown backend 'x'; known backends: torch"),
    (BackendFailure("backend 'b' failed"), 1, "harness: error: backend 'b' failed"),
    (NonFiniteLoss(1, 4, float("nan")), 1,
     "harness: error: loss became nan at pass 2, step 4 (example index 4); training stopped, no result written"),
    (click.UsageError("no such option\n--x"), 2, "harness: error: no such option --x"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "harness: error: interrupted; no result file was written"),
    (click.Abort(), EXIT_INTERRUPTED, "harness: error: interrupted; no result file was written"),
    (Terminated(), EXIT_TERMINATED, "harness: error: terminated (SIGTERM); no result file was written"),
])
def test_each_ending_is_one_line_and_its_status(monkeypatch, capsys, exc, code, line):
    _raising(monkeypatch, exc)
    assert cli_mod.main(["anything"]) == code
    out, err = capsys.readouterr()
    assert err == line + "\n" and out == ""


def test_an_abort_caused_by_sigterm_is_a_termination(monkeypatch, capsys):
    abort = click.Abort()
    abort.__cause__ = Terminated()
    _raising(monkeypatch, abort)
    assert cli_mod.main(["x"]) == EXIT_TERMINATED
    assert "terminated (SIGTERM)" in capsys.readouterr().err


def test_a_result_that_could_not_be_written_is_printed_or_kept(monkeypatch, capsys):
    _raising(monkeypatch, ResultWriteError("cannot write results/a.json: disk full", None, '{"kind": "run"}'))
    assert cli_mod.main(["x"]) == 1
    out, err = capsys.readouterr()
    assert err == "harness: error: cannot write results/a.json: disk full\n" and out == '{"kind": "run"}'
    _raising(monkeypatch, ResultWriteError("kept in /tmp/a.json", "/tmp/a.json", '{"kind": "run"}'))
    assert cli_mod.main(["x"]) == 1
    out, err = capsys.readouterr()
    assert err == "harness: error: kept in /tmp/a.json\n" and out == ""


def test_a_command_returns_its_status(monkeypatch):
    monkeypatch.setattr(cli_mod.cli, "main", lambda **kw: 3)
    assert cli_mod.main(["x"]) == 3
    monkeypatch.setattr(cli_mod.cli, "main", lambda **kw: None)
    assert cli_mod.main(["x"]) == 0


def test_bad_harness_threads_is_a_usage_error_before_any_command(monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_THREADS", "lots")
    monkeypatch.setattr(cli_mod.cli, "main", lambda **kw: pytest.fail("the command ran"))
    assert cli_mod.main(["x"]) == 2
    assert capsys.readouterr().err.startswith("harness: error: $HARNESS_THREADS='lots' is not a number of threads")


def test_no_arguments_prints_the_help_and_exits_2(capsys):
    assert cli_mod.main([]) == 2
    assert "Usage: harness" in capsys.readouterr().out
