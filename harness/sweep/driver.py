"""The sweep driver: skip points that already have a result, run the rest through an executor,
and write each returned result into the results directory. Only drivers write there.

Sweeps sharing a results directory share its points: a point is claimed before it runs
(harness/sweep/book.py), so each runs once; a sweep that finds a point claimed by another
live sweep waits for it and counts its result (or its failure) as that sweep's."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RunConfig
from ..errors import ResultWriteError
from ..results import ensure_writable, write_result
from ..signals import Terminated, sigterm_received, terminate_as_interrupt
from .book import Book
from .claims import heartbeat, host_slot
from .grid import Grid
from .manifest import SweepStorageError, point_id
from .match import finished_points, result_for
from .point import discard, let_go
from .progress import SweepProgress
from .recover import recover_work


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM: running points were stopped and left pending; the manifest says so."""

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.terminated = terminated  # SIGTERM (exit 143) rather than Ctrl-C (130)


@dataclass
class SweepOutcome:
    found: list[RunConfig] = field(default_factory=list)  # already had a result: not run
    done: dict[str, Path] = field(default_factory=dict)  # point id -> result written now
    failed: dict[str, str] = field(default_factory=dict)  # point id -> reason
    elsewhere: dict[str, str] = field(default_factory=dict)  # point id -> done by another sweep meanwhile
    recovered: dict[str, Path] = field(default_factory=dict)  # point id -> adopted from a killed sweep
    notes: list[str] = field(default_factory=list)
    manifest: Path | None = None

    def counts(self) -> dict:
        return {"found": len(self.found), "run": len(self.done), "elsewhere": len(self.elsewhere),
                "recovered": len(self.recovered), "failed": len(self.failed)}


def result_stem(result: dict) -> str:
    """The file stem `harness run` itself uses for this result."""
    parts = [str(result.get(k, "unknown")) for k in ("backend", "strategy", "device", "variant", "dataset")]
    return "run-" + "-".join(p.replace(":", "").replace("/", "_") for p in parts)


def store(results_dir: Path, cfg: RunConfig, out: dict) -> Path:
    """Write a point's returned result (and parameters) into the results directory."""
    result = dict(out["result"])
    env = result.get("environment")
    if isinstance(env, dict) and env.get("cotenants") is None and out.get("cotenants_max") is not None:
        result["environment"] = {**env, "cotenants": out["cotenants_max"]}
    result["sweep"] = {"config": cfg.to_dict(), "executor": out["where"].get("executor"), "where": out["where"],
                       "cotenants_at_start": out.get("cotenants_at_start"),
                       "cotenants_max": out.get("cotenants_max"), "point_seconds": out.get("seconds"),
                       **({"recovered": out["recovered"]} if out.get("recovered") else {})}
    attachments = {".npz": out["npz"]} if out.get("npz") else None
    return write_result(results_dir, result, result_stem(result), attachments)  # .json and .npz together


class _Run:
    """The callbacks an executor calls, and what they record."""

    def __init__(self, book: Book, results_dir: Path, outcome: SweepOutcome, progress: SweepProgress):
        self.book, self.results_dir, self.outcome, self.progress = book, results_dir, outcome, progress
        self.busy: list[RunConfig] = []  # points other live sweeps hold now, and who they are
        self.holders: set[str] = set()

    def claim(self, cfg: RunConfig) -> bool:
        status, info = self.book.claim(cfg)
        if status == "done":
            self.outcome.elsewhere[point_id(cfg)] = info
            self.progress.elsewhere(cfg, f"done meanwhile: {info}")
        elif status == "failed":
            self.outcome.failed[point_id(cfg)] = info
            self.progress.elsewhere(cfg, info, failed=True)
        elif status == "busy":
            self.busy.append(cfg)
            self.holders.add(info)
        return status == "mine"

    def on_start(self, cfg: RunConfig) -> None:
        self.progress.started(cfg)

    def on_finish(self, cfg: RunConfig, out: dict) -> None:
        pid = point_id(cfg)
        if out.get("ok"):
            try:
                path = store(self.results_dir, cfg, out)
            except ResultWriteError as e:  # kept elsewhere; its private directory stays for a later sweep
                let_go(out)
                with contextlib.suppress(SweepStorageError):  # the full disk may refuse this too
                    self.book.finish(cfg, "failed", reason=f"result not stored: {e}")
                raise
            discard(out)
            self.outcome.done[pid] = path
            self.book.finish(cfg, "done", result=path.name)
        else:
            self.outcome.failed[pid] = out.get("reason") or "unknown"
            self.book.finish(cfg, "failed", reason=out.get("reason"))
        self.progress.finished(cfg, out)


def _start(book: Book, grid: Grid, results_dir: Path, outcome: SweepOutcome) -> list[RunConfig]:
    """Adopt what killed sweeps left, record found points; the points still to run."""
    found = finished_points(results_dir)
    rec = recover_work(book.workdir, lambda cfg: result_for(found, cfg) is not None)
    outcome.notes += rec.notes
    for cfg, out in rec.adopted:
        path = store(results_dir, cfg, out)
        discard(out)
        outcome.recovered[point_id(cfg)] = path
        outcome.notes.append(f"recovered {point_id(cfg)}: its child finished, its sweep was killed before "
                             f"storing the result; stored now as {path.name}")
        book.finish(cfg, "done", result=path.name, reason="recovered: finished by a sweep killed before storing it")
    todo, have = [], []
    for cfg in grid.points:
        if point_id(cfg) in outcome.recovered:
            continue
        if (path := result_for(found, cfg)) is not None:
            have.append((cfg, path.name))
            outcome.found.append(cfg)
        else:
            todo.append(cfg)
    book.found(have)
    return todo


def _execute(run: _Run, todo: list[RunConfig], executor: Callable, kwargs: dict) -> None:
    """Run `todo`; wait for the points other sweeps hold, then offer them again, until none is left."""
    while todo:
        run.busy, run.holders = [], set()
        executor(todo, on_start=run.on_start, on_finish=run.on_finish, claim=run.claim, **kwargs)
        if run.busy:
            run.progress.note(f"waiting for {len(run.busy)} point(s) that {'; '.join(sorted(run.holders))} "
                              f"{'is' if len(run.holders) == 1 else 'are'} running")
            todo = run.book.wait_for_any(run.busy)
        else:
            todo = []


def _close(book: Book, progress: SweepProgress | None, state: str, outcome: SweepOutcome) -> None:
    if progress is not None:
        progress.close()
    book.close(state, outcome.counts())


def run_sweep(grid: Grid, results_dir: Path, executor: Callable, *, progress_stream=None,
              executor_name: str | None = None, **executor_kwargs) -> SweepOutcome:
    results_dir = ensure_writable(results_dir)
    book = Book(results_dir, executor_name or getattr(executor, "__name__", "executor"))
    outcome = SweepOutcome(manifest=book.ledger.path)
    kwargs = {"resources_for": grid.resources_for, "workdir": book.workdir,
              "host_slot": lambda: host_slot(book.ledger.dir), **executor_kwargs}
    progress = None
    with terminate_as_interrupt():
        try:
            outcome.notes += book.open(grid.points, grid.spec)
            with heartbeat(book.claims, book.live):
                todo = _start(book, grid, results_dir, outcome)
                progress = SweepProgress(len(grid.points), len(outcome.found) + len(outcome.recovered),
                                         stream=progress_stream)
                for note in outcome.notes:
                    progress.note(note)
                _execute(_Run(book, results_dir, outcome, progress), todo, executor, kwargs)
        except KeyboardInterrupt as e:
            _close(book, progress, "interrupted", outcome)
            term = isinstance(e, Terminated) or sigterm_received()
            raise SweepInterrupted(f"sweep {'terminated (SIGTERM)' if term else 'interrupted'}: {len(outcome.done)} "
                                   f"point(s) finished and written, the rest left pending in {book.ledger.path}",
                                   term) from None
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                _close(book, progress, "failed", outcome)
            raise
        _close(book, progress, "finished", outcome)
    return outcome
