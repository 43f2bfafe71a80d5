"""Per-example training, timed in fixed windows with the device synchronised at both ends."""
from __future__ import annotations

import os

import pytest

from harness.bench import StepFeeder, make_session
from harness.config import BenchConfig
from harness.data import load_dataset, resolve_data_dir
from harness.draws import pass_steps
from harness.spec import VARIANTS

WINDOW = int(os.environ.get("HARNESS_BENCH_WINDOW", "256"))
ROUNDS = int(os.environ.get("HARNESS_BENCH_ROUNDS", "10"))
DTYPE = os.environ.get("HARNESS_BENCH_DTYPE", "float32")
VARIANT = VARIANTS[os.environ.get("HARNESS_BENCH_VARIANT", "1989")]
SEED = 1337


@pytest.fixture(scope="module")
def data():
    try:
        return load_dataset("usps", resolve_data_dir(None), dtype=DTYPE)
    except Exception:  # noqa: BLE001 -- no real data here: same shapes, synthetic values
        return load_dataset("synthetic", dtype=DTYPE)


def test_train_window(benchmark, target, data):
    session = make_session(target, BenchConfig(variant=VARIANT.name, seed=SEED, dtype=DTYPE, window=WINDOW,
                                               rounds=ROUNDS))
    feeder = StepFeeder(pass_steps(VARIANT, data, SEED, 0, VARIANT.epochs, DTYPE), WINDOW)
    session.train_steps(feeder.next())  # compile / warm-up, excluded

    def setup():
        session.sync()
        return (feeder.next(),), {}

    def run(chunk):
        losses = session.train_steps(chunk)  # host values: the device is synchronised
        return losses

    losses = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert losses.shape == (WINDOW,)
    st = benchmark.stats.stats
    benchmark.extra_info.update({
        "backend": target.backend.name, "strategy": target.strategy, "device": target.device,
        "dtype": DTYPE, "variant": VARIANT.name, "dataset": data.name, "steps": WINDOW,
        "us_per_example": st.median * 1e6 / WINDOW,
        "us_per_example_iqr": st.iqr * 1e6 / WINDOW,
    })
