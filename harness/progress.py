"""Progress bar for training passes: rich on a terminal, silent otherwise."""
from __future__ import annotations

import sys
from contextlib import contextmanager


class _Bar:
    def __init__(self, progress, n_train: int, epochs: int):
        self.progress, self.n_train, self.epochs = progress, n_train, epochs
        self.task = progress.add_task("pass 1", total=n_train) if progress else None

    def advance(self, n: int) -> None:
        if self.progress:
            self.progress.advance(self.task, n)

    def epoch_done(self, epoch: int) -> None:
        if self.progress and epoch + 1 < self.epochs:
            self.progress.reset(self.task, total=self.n_train, description=f"pass {epoch + 2}")


@contextmanager
def pass_progress(n_train: int, epochs: int, enabled: bool = True):
    """A bar over the examples of the current pass, on stderr, only when stderr is a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield _Bar(None, n_train, epochs)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as p:
        yield _Bar(p, n_train, epochs)


def out_console():
    """A rich console for tables on stdout; wide enough when piped to a file or CI log."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)
