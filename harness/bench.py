"""`harness bench`: time every backend x strategy x device on a fixed number of per-example steps."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .backend import Session, Steps, refuse_interpreted
from .data import Dataset
from .draws import pass_steps
from .errors import BackendFailure, HarnessError, UsageError
from .kernels import count_kernels
from .plugins import one_line
from .spec import Variant, init_params
from .targets import Target
from .timing import clock, summarize


class StepFeeder:
    """Consecutive windows of a pass's steps, wrapping around: training goes on between rounds."""

    def __init__(self, steps: Steps, window: int):
        if len(steps) < window:
            raise UsageError(f"--window {window} is larger than the pass ({len(steps)} examples)")
        self.steps, self.window, self.pos = steps, window, 0

    def next(self) -> Steps:
        if self.pos + self.window > len(self.steps):
            self.pos = 0
        chunk = self.steps.slice(self.pos, self.pos + self.window)
        self.pos += self.window
        return chunk


def make_session(t: Target, variant: Variant, seed: int, dtype: str) -> Session:
    # session() applies the settings it trains under itself (environment() only describes them)
    session = t.backend.session(variant=variant, params=init_params(seed, dtype, variant), dtype=dtype,
                                device=t.device, strategy=t.strategy)
    refuse_interpreted(session, "harness bench")
    return session


def time_target(t: Target, variant: Variant, data: Dataset, *, seed: int, dtype: str, window: int,
                rounds: int, progress: Callable[[], None] | None = None, kernels: bool = False) -> dict:
    """Warm-up window (compilation included, reported apart), then `rounds` timed windows; with
    `kernels`, one more window under the backend's profiler (harness.kernels), after the timing."""
    session = make_session(t, variant, seed, dtype)
    feeder = StepFeeder(pass_steps(variant, data, seed, 0, variant.epochs, dtype), window)
    session.sync()
    t0 = clock()
    session.train_steps(feeder.next())  # returns host values: synchronised
    warm_s = clock() - t0
    us = []
    for _ in range(rounds):
        chunk = feeder.next()
        session.sync()
        t0 = clock()
        session.train_steps(chunk)
        us.append((clock() - t0) * 1e6 / window)
        if progress:
            progress()
    s = summarize(us)
    row = {
        "backend": t.backend.name, "strategy": t.strategy, "device": t.device, "dtype": dtype,
        "us_per_example": s["median"], "p25": s["p25"], "p75": s["p75"], "min": s["min"], "max": s["max"],
        "rounds": rounds, "window": window,
        "examples_per_s": 1e6 / s["median"],
        "compile_s": max(warm_s - window * s["median"] * 1e-6, 0.0),
        "environment": t.backend.environment(t.device),
    }
    if kernels:
        row["kernel_count"] = count_kernels(session, feeder.next())
        row["kernels_per_example"] = (row["kernel_count"] or {}).get("kernels")
    return row


@dataclass
class MatrixTiming:
    rows: list[dict] = field(default_factory=list)  # one per target measured
    refused: list[dict] = field(default_factory=list)  # {"backend", "strategy", "device", "reason"}
    errors: list[HarnessError] = field(default_factory=list)  # what refused them, in order

    @property
    def exit_code(self) -> int:
        """0 when every target was measured; else the gravest of the refusals (2 usage, 1 failure)."""
        return max((e.exit_code for e in self.errors), default=0)


def time_matrix(targets: list[Target], variant: Variant, data: Dataset, *,
                on_target: Callable[[Target], None] | None = None, **kw) -> MatrixTiming:
    """`time_target` for each target in turn. A target refused on the way (a device or strategy
    that cannot be timed here, a backend that raises: a BackendFailure, exit 1) is recorded with
    why and the others are still timed: rows already measured are never thrown away."""
    out = MatrixTiming()
    for t in targets:
        if on_target:
            on_target(t)
        try:
            out.rows.append(time_target(t, variant, data, **kw))
        except Exception as e:  # noqa: BLE001 - a plugin's bug is named like `run` names it
            if not isinstance(e, HarnessError):
                e = BackendFailure(f"backend {t.backend.name!r} strategy {t.strategy!r} failed: {one_line(e)}")
            out.errors.append(e)
            out.refused.append({"backend": t.backend.name, "strategy": t.strategy, "device": t.device,
                                "reason": str(e)})
    return out


def add_speedups(rows: list[dict]) -> list[dict]:
    """Speed-up of each row over the slowest row on the same device."""
    for r in rows:
        same = [x["us_per_example"] for x in rows if x["device"] == r["device"] and x.get("us_per_example")]
        r["speedup_vs_slowest"] = max(same) / r["us_per_example"] if r.get("us_per_example") else None
    return rows
