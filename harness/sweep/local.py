"""The local executor: points one after another, each in its own child process. No dependency
beyond the harness; nothing runs beside a point, so each records zero co-tenants."""
from __future__ import annotations

from collections.abc import Callable

from ..config import RunConfig
from .point import run_point


def run_local(points: list[RunConfig], *, on_start: Callable, on_finish: Callable, env: dict | None = None,
              save_params: bool = False, **_ignored) -> None:
    for cfg in points:
        on_start(cfg)
        out = run_point(cfg.to_dict(), cotenants=0, save_params=save_params, env=env,
                        where={"executor": "local"})
        out["cotenants_max"] = 0
        on_finish(cfg, out)
