"""The local executor: points one after another, each in its own child process. No dependency
beyond the harness.

One point at a time on this host across every sweep into the same results directory: each
point is run holding the host's slot (`host_slot`, given by the driver), so two sweeps sharing
a directory take turns rather than time points side by side, and each point records zero
co-tenants truthfully (as far as sweeps into this directory go; other work on the machine is
what the result's load average tells of). A point another sweep holds is skipped (`claim`
says no); the driver comes back to it."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from ..config import RunConfig
from .point import run_point


def run_local(points: list[RunConfig], *, on_start: Callable, on_finish: Callable, claim: Callable | None = None,
              host_slot: Callable | None = None, workdir: Path | None = None, env: dict | None = None,
              save_params: bool = False, point_timeout: float | None = None, **_ignored) -> None:
    for cfg in points:
        with host_slot() if host_slot is not None else contextlib.nullcontext():
            if claim is not None and not claim(cfg):
                continue
            on_start(cfg)
            out = run_point(cfg.to_dict(), cotenants=0, save_params=save_params, env=env,
                            where={"executor": "local"}, workdir=workdir, keep=True, timeout=point_timeout)
            out["cotenants_max"] = 0
            on_finish(cfg, out)
