import json
from pathlib import Path

import pytest

from harness.config import IDENTITY, RunConfig


def test_identity_ignores_how_a_run_is_measured():
    a = RunConfig(backend="jax", strategy="scan", seed=3, window=64, threads=1)
    b = RunConfig(backend="jax", strategy="scan", seed=3, window=256, threads=None)
    assert a.key() == b.key() and a.identity() == b.identity()
    assert a.key() != RunConfig(backend="jax", strategy="scan", seed=4).key()
    assert list(a.identity()) == list(IDENTITY)


def test_round_trips_through_dict_and_args():
    c = RunConfig(backend="torch", strategy="compiled", epochs=2, limit=100, threads=1)
    assert RunConfig.from_dict({**c.to_dict(), "unknown": 1}) == c
    args = c.to_args()
    assert args[args.index("--limit") + 1] == "100" and args[args.index("--strategy") + 1] == "compiled"
    assert "--epochs" not in RunConfig().to_args()


RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.parametrize("path", sorted(RESULTS.rglob("run-*.json")), ids=lambda p: p.name)
def test_from_result_reads_every_committed_run(path):
    """Results that predate `config` yield the configuration they were made with."""
    result = json.loads(path.read_text())
    c = RunConfig.from_result(result)
    assert (c.backend, c.strategy, c.device, c.variant, c.dataset, c.dtype, c.seed) == tuple(
        result[k] for k in ("backend", "strategy", "device", "variant", "dataset", "dtype", "seed"))
    assert c.epochs == len(result["epochs"]) and c.window == result["timing"]["window"]
    assert c.limit is None if result["n_train"] == result["dataset_source"]["n_train"] else c.limit == result["n_train"]
    assert RunConfig.from_result({**result, "config": c.to_dict()}) == c  # a recorded config wins


def test_from_result_derives_limit_and_prefers_the_recorded_config():
    old = {"backend": "jax", "strategy": "scan", "device": "cpu", "variant": "1989", "dataset": "synthetic",
           "dtype": "float64", "seed": 7, "n_train": 100, "dataset_source": {"n_train": 512},
           "epochs": [{}, {}], "timing": {"window": 32}}
    assert RunConfig.from_result(old) == RunConfig(backend="jax", strategy="scan", dataset="synthetic",
                                                   dtype="float64", seed=7, epochs=2, limit=100, window=32)
    assert RunConfig.from_result({**old, "n_train": 512}).limit is None
    assert RunConfig.from_result({**old, "dataset_source": {}}).limit is None  # size unknown: no limit claimed
    recorded = RunConfig(backend="torch", strategy="eager", epochs=3, limit=100000, threads=1)
    assert RunConfig.from_result({**old, "config": recorded.to_dict()}) == recorded
