"""`harness bench`: time every backend x strategy x device on a fixed number of per-example steps,
and the bench result that records it (built here, not in the CLI)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .backend import Session, Steps, refuse_interpreted
from .config import BenchConfig
from .data import Dataset
from .draws import pass_steps
from .errors import BackendFailure, HarnessError, UsageError
from .kernels import count_kernels
from .plugins import one_line
from .recipe import of_config
from .results import now_iso
from .spec import init_params
from .targets import Matrix, Target
from .timing import clock, environment, summarize


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


def make_session(t: Target, config: BenchConfig) -> Session:
    """A session of `t` at the configuration's initial parameters (its seed, dtype, variant)."""
    variant = of_config(config).variant_spec()  # the variant with its recipe knobs
    # session() applies the settings it trains under itself (environment() only describes them)
    session = t.backend.session(variant=variant, params=init_params(config.seed, config.dtype, variant),
                                dtype=config.dtype, device=t.device, strategy=t.strategy)
    refuse_interpreted(session, "harness bench")
    return session


def time_target(t: Target, config: BenchConfig, data: Dataset, *,
                progress: Callable[[], None] | None = None) -> dict:
    """Warm-up window (compilation included, reported apart), then `config.rounds` timed windows;
    with `config.kernels`, one more window under the backend's profiler (harness.kernels), after the timing."""
    variant, window = of_config(config).variant_spec(), config.window
    session = make_session(t, config)
    feeder = StepFeeder(pass_steps(variant, data, config.seed, 0, variant.epochs, config.dtype), window)
    session.sync()
    t0 = clock()
    session.train_steps(feeder.next())  # returns host values: synchronised
    warm_s = clock() - t0
    us = []
    for _ in range(config.rounds):
        chunk = feeder.next()
        session.sync()
        t0 = clock()
        session.train_steps(chunk)
        us.append((clock() - t0) * 1e6 / window)
        if progress:
            progress()
    s = summarize(us)
    row = {
        "backend": t.backend.name, "strategy": t.strategy, "device": t.device, "dtype": config.dtype,
        "us_per_example": s["median"], "p25": s["p25"], "p75": s["p75"], "min": s["min"], "max": s["max"],
        "rounds": config.rounds, "window": window,
        "us_per_example_windows": [round(u, 4) for u in us],  # each timed round: what `harness compare` tests
        "examples_per_s": 1e6 / s["median"],
        "compile_s": max(warm_s - window * s["median"] * 1e-6, 0.0),
        "environment": t.backend.environment(t.device),
    }
    if config.kernels:
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

    def refusal_notes(self) -> list[str]:
        return [f"{r['backend']}:{r['strategy']}@{r['device']} refused: {r['reason']}" for r in self.refused]


def time_matrix(targets: list[Target], config: BenchConfig, data: Dataset, *,
                on_target: Callable[[Target], None] | None = None) -> MatrixTiming:
    """`time_target` for each target in turn. A target refused on the way (a device or strategy
    that cannot be timed here, a backend that raises: a BackendFailure, exit 1) is recorded with
    why and the others are still timed: rows already measured are never thrown away."""
    out = MatrixTiming()
    for t in targets:
        if on_target:
            on_target(t)
        try:
            out.rows.append(time_target(t, config, data))
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


def bench_result(config: BenchConfig, matrix: Matrix, data: Dataset, timed: MatrixTiming) -> dict:
    """The bench result: the rows measured (with speed-ups), what the matrix left out and what was
    refused on the way, and why, the configuration and the environment."""
    return {
        "kind": "bench", "created": now_iso(), "variant": config.variant, "dataset": data.name,
        "seed": config.seed, "dtype": config.dtype, "window": config.window, "rounds": config.rounds,
        "rows": add_speedups(timed.rows), "skipped": matrix.skipped + timed.refused,
        "notes": matrix.notes + timed.refusal_notes(), "environment": environment(), "config": config.to_dict(),
        "recipe": of_config(config).to_dict(),
    }


def result_stem(config: BenchConfig, matrix: Matrix) -> str:
    devices = "-".join(sorted({t.device.replace(":", "") for t in matrix.targets}))
    return f"bench-{devices}-{config.variant}-{config.dtype}"
