"""What the idiom costs: after `harness run` trained with a faster strategy, time the backend's
first strategy (its idiomatic loop, e.g. torch eager) over a few windows on the same device,
data and seed, and say how its per-example time compares. Measured now, on this machine, and
labelled so: never a recorded figure passed off as this run's."""
from __future__ import annotations

from ..backend import unsupported_reason
from ..bench import time_target
from ..config import BenchConfig, RunConfig
from ..data import Dataset
from ..targets import Target

ROUNDS = 3  # timed windows after one warm-up window: a few seconds for torch eager on a CPU


def idiom_of(target: Target) -> str:
    """The backend's idiomatic strategy: its first (docs/backends.md)."""
    return target.backend.strategies[0]


def idiom_cost(target: Target, config: RunConfig, data: Dataset, run_median_us: float | None,
               n_train: int) -> str | None:
    """One line on what the idiom costs, timed now; None when `target` is the idiom or the idiom
    cannot run here (another device, variant or dtype: then there is nothing honest to say)."""
    idiom = idiom_of(target)
    if (target.strategy == idiom or target.device not in target.backend.strategy_devices(idiom)
            or unsupported_reason(target.backend, idiom, config.variant, config.dtype)):
        return None
    window = min(config.window, n_train)
    bc = BenchConfig(variant=config.variant, dataset=config.dataset, dtype=config.dtype, seed=config.seed,
                     window=window, rounds=ROUNDS, threads=config.threads)
    try:
        row = time_target(Target(target.backend, idiom, target.device), bc, data)
    except Exception as e:  # noqa: BLE001 -- the run's result stands; say why there is no figure
        return f"the {idiom} idiom could not be timed here for comparison: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    us = row["us_per_example"]
    head = (f"the {idiom} idiom ({target.backend.name}:{idiom}, `--strategy {idiom}`): {us:.1f} us/example, "
            f"measured just now over {ROUNDS} windows of {window} examples after a warm-up window")
    if not run_median_us:
        return head
    ratio = us / run_median_us
    total_s = us * 1e-6 * n_train * config.epochs
    return (f"{head}: {ratio:.1f}x this run's median ({run_median_us:.1f}); its {config.epochs} passes would "
            f"take ~{total_s:.0f} s of training (an estimate from those windows, not a run)")
