"""The sweep driver: skip points that already have a result, run the rest through an executor,
and write each returned result into the results directory. Only this process writes there."""
from __future__ import annotations

import signal
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RunConfig
from ..results import ensure_writable, write_result
from .grid import Grid
from .manifest import Manifest, point_id
from .match import finished_points, result_for
from .progress import SweepProgress


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM: running points were stopped and left pending; the manifest says so."""


@dataclass
class SweepOutcome:
    found: list[RunConfig] = field(default_factory=list)  # already had a result: not run
    done: dict[str, Path] = field(default_factory=dict)  # point id -> result written now
    failed: dict[str, str] = field(default_factory=dict)  # point id -> reason
    manifest: Path | None = None


def result_stem(result: dict) -> str:
    """The file stem `harness run` itself uses for this result."""
    return (f"run-{result['backend']}-{result['strategy']}-{result['device'].replace(':', '')}-"
            f"{result['variant']}-{result['dataset']}")


def store(results_dir: Path, cfg: RunConfig, out: dict) -> Path:
    """Write a point's returned result (and parameters) into the results directory."""
    result = dict(out["result"])
    env = result.get("environment")
    if isinstance(env, dict) and env.get("cotenants") is None and out.get("cotenants_max") is not None:
        result["environment"] = {**env, "cotenants": out["cotenants_max"]}
    result["sweep"] = {"config": cfg.to_dict(), "executor": out["where"].get("executor"), "where": out["where"],
                       "cotenants_at_start": out.get("cotenants_at_start"),
                       "cotenants_max": out.get("cotenants_max"), "point_seconds": out.get("seconds")}
    attachments = {".npz": out["npz"]} if out.get("npz") else None
    return write_result(results_dir, result, result_stem(result), attachments)  # .json and .npz together


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM stops the sweep the way Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(grid: Grid, results_dir: Path, executor: Callable, *, progress_stream=None,
              **executor_kwargs) -> SweepOutcome:
    results_dir = ensure_writable(results_dir)
    found = finished_points(results_dir)
    manifest = Manifest(results_dir, grid.points, grid.spec)
    outcome = SweepOutcome(manifest=manifest.path)
    todo = []
    for cfg in grid.points:
        if (path := result_for(found, cfg)) is not None:
            manifest.set(cfg, "done", result=path.name, write=False)
            outcome.found.append(cfg)
        else:
            todo.append(cfg)
    manifest.write()
    progress = SweepProgress(len(grid.points), len(outcome.found), stream=progress_stream)

    def on_start(cfg):
        manifest.set(cfg, "running")
        progress.started(cfg)

    def on_finish(cfg, out):
        if out.get("ok"):
            path = store(results_dir, cfg, out)
            outcome.done[point_id(cfg)] = path
            manifest.set(cfg, "done", result=path.name)
        else:
            outcome.failed[point_id(cfg)] = out.get("reason") or "unknown"
            manifest.set(cfg, "failed", reason=out.get("reason"))
        progress.finished(cfg, out)

    with sigterm_as_interrupt():
        try:
            if todo:
                executor(todo, on_start=on_start, on_finish=on_finish, resources_for=grid.resources_for,
                         **executor_kwargs)
        except KeyboardInterrupt:
            for cfg in todo:
                if manifest.entries[point_id(cfg)]["state"] == "running":
                    manifest.set(cfg, "pending", reason="interrupted", write=False)
            manifest.write()
            progress.close()
            raise SweepInterrupted(f"sweep interrupted: {len(outcome.done)} point(s) finished and written, "
                                   f"the rest left pending in {manifest.path}") from None
    progress.close()
    return outcome
