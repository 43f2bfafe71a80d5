import json
from pathlib import Path

import pytest

from harness.config import IDENTITY, TRAIN_SIZES, RunConfig, result_config


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
    recorded = RunConfig(backend="torch", strategy="eager", epochs=3, limit=100000, threads=1)
    assert RunConfig.from_result({**old, "config": recorded.to_dict()}) == recorded
    assert RunConfig.from_result({**old, "sweep": {"config": recorded.to_dict()}}) == recorded  # made by a sweep


@pytest.mark.parametrize("source", [{"n_train": 512}, {}], ids=["with dataset_source.n_train", "without"])
def test_from_result_knows_each_data_sets_size(source):
    """Files with and without dataset_source.n_train read back the same: the size comes from the data
    set's name (TRAIN_SIZES), so a limit is claimed exactly when fewer examples were trained on."""
    old = {"kind": "run", "backend": "jax", "strategy": "scan", "device": "cpu", "variant": "1989",
           "dataset": "synthetic", "dtype": "float64", "seed": 7, "dataset_source": source, "epochs": [{}]}
    assert RunConfig.from_result({**old, "n_train": 100}).limit == 100
    assert RunConfig.from_result({**old, "n_train": TRAIN_SIZES["synthetic"]}).limit is None
    assert result_config({**old, "n_train": 100}) == RunConfig.from_result({**old, "n_train": 100})


def test_from_result_refuses_what_is_not_a_run():
    with pytest.raises(ValueError, match="not a run result"):
        RunConfig.from_result({"kind": "parity", "checks": []})
    with pytest.raises(ValueError, match="readable configuration"):
        RunConfig.from_result({"kind": "run", "backend": "torch"})
    assert result_config({"kind": "bench", "rows": []}) is None


@pytest.mark.parametrize("path", sorted(RESULTS.rglob("*.json")), ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_committed_result_reads_back_through_the_one_reader(path):
    """The sweep's matching and the report's grouping by seed read configurations with the same
    function: a run yields its configuration, anything else none."""
    result = json.loads(path.read_text())
    cfg = result_config(result)
    if result.get("kind") == "run":
        assert cfg == RunConfig.from_result(result) and cfg.backend == result["backend"]
        assert cfg.limit is None or cfg.limit < TRAIN_SIZES[cfg.dataset]
    else:
        assert cfg is None
