"""Per-example training, timed in fixed windows with the device synchronised at both ends."""
from __future__ import annotations

import os

import pytest

from harness import plugins
from harness.bench import StepFeeder, make_session
from harness.config import BenchConfig
from harness.data import load_dataset, resolve_data_dir
from harness.draws import pass_steps
from harness.spec import VARIANTS
from harness.targets import Target
from harness.timing import load_average

DTYPE = os.environ.get("HARNESS_BENCH_DTYPE", "float32")
ROUNDS = int(os.environ.get("HARNESS_BENCH_ROUNDS", "10"))
VARIANT = VARIANTS[os.environ.get("HARNESS_BENCH_VARIANT", "1989")]
SEED = 1337


@pytest.fixture(scope="module")
def data():
    try:
        return load_dataset("usps", resolve_data_dir(None), dtype=DTYPE)
    except Exception:  # noqa: BLE001 -- no real data here: same shapes, synthetic values
        return load_dataset("synthetic", dtype=DTYPE)


def test_train_window(benchmark, backend, strategy, device, window, data):
    target = Target(plugins.get_registry().get(backend), strategy, device)
    session = make_session(target, BenchConfig(variant=VARIANT.name, seed=SEED, dtype=DTYPE, window=window,
                                               rounds=ROUNDS))
    feeder = StepFeeder(pass_steps(VARIANT, data, SEED, 0, VARIANT.epochs, DTYPE), window)
    session.train_steps(feeder.next())  # compile / warm-up, excluded
    benchmark.group = f"{device} {VARIANT.name}"

    def setup():
        session.sync()
        return (feeder.next(),), {}

    def run(chunk):
        losses = session.train_steps(chunk)  # host values: the device is synchronised
        return losses

    load_before = load_average()
    losses = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert losses.shape == (window,)
    st = benchmark.stats.stats
    benchmark.extra_info.update({
        "backend": backend, "strategy": strategy, "device": device,
        "dtype": DTYPE, "variant": VARIANT.name, "dataset": data.name, "steps": window,
        "us_per_example": st.median * 1e6 / window,
        "us_per_example_iqr": st.iqr * 1e6 / window,
        # what changes from run to run: here, not in machine_info (--benchmark-compare compares that)
        "load_average": {"before": load_before, "after": load_average()},
        "environment": target.backend.environment(device),
    })
