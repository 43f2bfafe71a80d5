"""What the idiom costs: after `harness run` trained with a faster strategy, time the backend's
first strategy (its idiomatic loop, e.g. torch eager) over a few short windows on the same device,
data, seed and recipe, and say how its per-example time compares. Measured now, on this machine,
and labelled so: never a recorded figure passed off as this run's."""
from __future__ import annotations

from ..backend import unsupported_reason
from ..bench import StepFeeder, make_session
from ..config import BenchConfig, RunConfig
from ..data import Dataset
from ..draws import pass_steps
from ..recipe import of_config
from ..targets import Target
from ..timing import busy_warning, clock, load_average, summarize

WINDOW = 64  # examples per timed window: torch eager on a CPU takes ~0.1 s for one
ROUNDS = 5  # timed windows at most, after one warm-up window
BUDGET_S = 10.0  # ... and no more than this, after the first timed window (a busy machine is slow)


def idiom_of(target: Target) -> str:
    """The backend's idiomatic strategy: its first (docs/backends.md)."""
    return target.backend.strategies[0]


def time_idiom(target: Target, config: RunConfig, data: Dataset, window: int) -> list[float]:
    """us/example of `target` in each timed window: a warm-up window, then up to ROUNDS windows
    while the time spent stays under BUDGET_S."""
    bc = BenchConfig(variant=config.variant, dataset=config.dataset, dtype=config.dtype, seed=config.seed,
                     window=window, rounds=ROUNDS, threads=config.threads, recipe=config.recipe)
    session = make_session(target, bc)
    steps = pass_steps(of_config(config).variant_spec(), data, config.seed, 0, config.epochs, config.dtype,
                       limit=config.limit)  # the run's first pass
    feeder = StepFeeder(steps, window)
    session.train_steps(feeder.next())  # warm-up, excluded
    us, start = [], clock()
    while len(us) < ROUNDS and (not us or clock() - start < BUDGET_S):
        chunk = feeder.next()
        session.sync()
        t0 = clock()
        session.train_steps(chunk)
        us.append((clock() - t0) * 1e6 / window)
    return us


def idiom_cost(target: Target, config: RunConfig, data: Dataset, run_median_us: float | None,
               n_train: int) -> str | None:
    """One line on what the idiom costs, timed now; None when `target` is the idiom or the idiom
    cannot run here (another device, variant, dtype or recipe: then there is nothing honest to say)."""
    idiom = idiom_of(target)
    if (target.strategy == idiom or target.device not in target.backend.strategy_devices(idiom)
            or unsupported_reason(target.backend, idiom, config.variant, config.dtype, of_config(config))):
        return None
    window = min(WINDOW, n_train)
    try:
        us = time_idiom(Target(target.backend, idiom, target.device), config, data, window)
    except Exception as e:  # noqa: BLE001 -- the run's result stands; say why there is no figure
        why = str(e).splitlines()[0] if str(e) else repr(e)  # `{a if c else b!r}` would repr both
        return f"the {idiom} idiom could not be timed here for comparison: {why}"
    med = summarize(us)["median"]
    load = load_average()
    head = (f"the {idiom} idiom ({target.backend.name}:{idiom}, `--strategy {idiom}`): {med:.1f} us/example, "
            f"measured just now over {len(us)} windows of {window} examples after a warm-up window"
            + (f" (load average {load[0]:.2f}: contended)" if load and busy_warning() else ""))
    if not run_median_us:
        return head
    total_s = med * 1e-6 * n_train * config.epochs
    return (f"{head}: {med / run_median_us:.1f}x this run's median ({run_median_us:.1f}); its {config.epochs} "
            f"passes would take ~{total_s:.0f} s of training (an estimate from those windows, not a run)")
