import json
import re
from dataclasses import fields
from pathlib import Path

import click
import numpy as np
import pytest

from harness.cli import main
from harness.config import (
    IDENTITY,
    RULES,
    TRAIN_SIZES,
    BenchConfig,
    ParityConfig,
    RunConfig,
    read_config,
    result_config,
)
from harness.errors import ConfigError, UnknownVariant


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


def test_from_result_derives_the_recipe_and_defaults_of_an_older_result():
    """A result without `config` that records a recipe block keeps its knobs; an unreadable block,
    no timing window or no usable n_train fall back to none / the default window / no limit."""
    old = {"backend": "torch", "strategy": "eager", "device": "cpu", "variant": "1989", "dataset": "synthetic",
           "dtype": "float32", "seed": 1, "epochs": [{}], "timing": {"window": 16},
           "recipe": {"variant": "1989", "set": {"targets": 0.8, "init": "fan_in"}}}
    c = RunConfig.from_result(old)
    assert dict(c.recipe) == {"targets": 0.8, "init": "fan_in"}
    assert c == RunConfig(strategy="eager", dataset="synthetic", seed=1, epochs=1, window=16,
                          recipe={"targets": 0.8, "init": "fan_in"})
    for block in ({"set": ["targets=0.8"]}, "targets=0.8", None):
        assert RunConfig.from_result({**old, "recipe": block}).recipe == ()
    bare = {k: v for k, v in old.items() if k not in ("timing", "recipe")}
    assert RunConfig.from_result({**bare, "n_train": 0}) == RunConfig(strategy="eager", dataset="synthetic", seed=1,
                                                                      epochs=1)
    assert RunConfig.from_result({**bare, "n_train": "100"}).limit is None


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


# ----------------------------------------------------------------------------- the one validator


def test_every_field_of_every_configuration_has_one_rule():
    """One place lists the fields and their checks: a field without a rule cannot be added unnoticed."""
    names = {f.name for cls in (RunConfig, BenchConfig, ParityConfig) for f in fields(cls)}
    assert names == set(RULES)
    assert set(IDENTITY) <= {f.name for f in fields(RunConfig)}


@pytest.mark.parametrize("kwargs, words", [
    ({"limit": -5}, "--limit -5"),  # trained on all but 5 examples before
    ({"limit": 0}, "--limit 0"),
    ({"epochs": 0}, "--epochs 0"),  # silently the variant's 23 passes before
    ({"seed": -1}, "--seed -1"),
    ({"seed": 2 ** 32}, "--seed 4294967296"),
    ({"seed": True}, "--seed True"),
    ({"seed": 1.5}, "--seed 1.5"),
    ({"threads": 0}, "--threads 0"),
    ({"threads": 4097}, "--threads 4097"),
    ({"window": 0}, "--window 0"),
    ({"dtype": "float16"}, "unknown dtype 'float16'; available: float32, float64"),
    ({"dataset": "cifar"}, "unknown data set 'cifar'; available: usps, mnist, synthetic"),
    ({"backend": ""}, "--backend ''"),
])
def test_run_config_refuses_what_harness_run_refuses(kwargs, words):
    with pytest.raises(ConfigError, match=re.escape(words)) as e:
        RunConfig(**kwargs)
    assert isinstance(e.value, ValueError) and e.value.exit_code == 2 and "\n" not in str(e.value)


def test_unknown_variant_keeps_its_error_class():
    with pytest.raises(UnknownVariant, match="unknown variant '1990'; available: 1989, modern"):
        RunConfig(variant="1990")


def test_values_are_normalised_and_the_same_configuration_is_one():
    assert RunConfig(limit=TRAIN_SIZES["usps"]) == RunConfig(limit=10 ** 6) == RunConfig()  # no limit, three ways
    assert RunConfig(dataset="synthetic", limit=600).key() == RunConfig(dataset="synthetic").key()
    assert RunConfig(limit=100).limit == 100
    c = RunConfig(seed=np.int64(7), epochs=np.int32(2))
    assert type(c.seed) is int and type(c.epochs) is int and c == RunConfig(seed=7, epochs=2)
    assert ParityConfig(steps=[100, 0, 10, 10]).steps == (10, 100)  # 0 means none, as --steps 0
    assert ParityConfig(backends=["torch", "torch"]).backends == ("torch",)


def test_bench_and_parity_configurations_share_the_rules():
    with pytest.raises(ConfigError, match="--window 10000 is larger than the 7291 training examples of usps"):
        BenchConfig(window=10000)
    with pytest.raises(ConfigError, match="--rounds 0"):
        BenchConfig(rounds=0)
    with pytest.raises(ConfigError, match="--steps 1000 exceeds the 512 training examples of synthetic"):
        ParityConfig(dataset="synthetic", steps=(1000,))
    with pytest.raises(ConfigError, match="--reference torch is not among --backends jax"):
        ParityConfig(backends=("jax",), reference="torch")
    for kwargs in ({"passes": -1}, {"limit": -5}, {"seed": -1}, {"checks": ("nope",)}, {"backends": ()}):
        with pytest.raises(ConfigError):
            ParityConfig(**kwargs)


def test_command_line_options_take_their_bounds_from_the_rules():
    from harness.cli import bench, parity, run

    for command in (run, bench, parity):
        for p in command.params:
            if p.name in RULES and isinstance(p.type, click.IntRange):
                rule = RULES[p.name]
                assert (p.type.min, p.type.max) == (rule.lo, rule.hi), (command.name, p.name)


def test_read_config_reads_any_kind_back():
    bench = BenchConfig(backends=("torch",), window=16, rounds=1, dataset="synthetic")
    assert read_config({"kind": "bench", "config": bench.to_dict(), "rows": []}) == bench
    old_bench = {"kind": "bench", "variant": "1989", "dataset": "usps", "dtype": "float32", "seed": 3, "window": 64,
                 "rounds": 20, "rows": [{"kernel_count": None}]}
    assert read_config(old_bench) == BenchConfig(seed=3, window=64, rounds=20, kernels=True)
    old_parity = {"kind": "parity", "config": {"reference": "torch:eager", "targets": ["jax:scan"], "device": "cpu",
                                               "dtype": "float64", "variant": "1989", "dataset": "usps", "seed": 1,
                                               "steps": [1, 10], "passes": 1, "limit": None}}
    assert read_config(old_parity) == ParityConfig(reference="torch:eager", strategies=("jax:scan",), seed=1,
                                                   steps=(1, 10))
    with pytest.raises(ValueError, match="no configuration"):
        read_config({"kind": "sweep"})


# ----------------------------------------------------------------------------- every way in, before any point


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("harness: error: "), err
    return err


@pytest.mark.parametrize("args, words", [
    (["--epochs", "0"], "--epochs 0"),
    (["--epochs", "1,0"], "--epochs 0"),
    (["--limit", "-5"], "--limit"),
    (["--seeds", "4294967296"], "--seed 4294967296"),
    (["--threads", "0"], "--threads 0"),
    (["--datasets", "cifar"], "unknown data set 'cifar'"),
])
def test_sweep_lists_are_checked_before_any_point(tmp_path, capsys, args, words):
    assert main(["sweep", *args, "--results-dir", str(tmp_path)]) == 2
    assert words in _one_line_error(capsys)
    assert not list(tmp_path.iterdir())  # nothing ran, no manifest


@pytest.mark.parametrize("toml, words", [
    ("epochs = 0\n", "--epochs 0"),
    ("window = 0\n", "--window 0"),
    ("[[configs]]\nlimit = -5\n", "--limit -5"),
    ("[[configs]]\nthreads = 5000\n", "--threads 5000"),
    ("seed = 4294967296\n", "--seed 4294967296"),
    ("seed = 1.5\n", "seed = 1.5 should be an integer"),  # the grid's own type check comes first
])
def test_sweep_grid_files_are_checked_before_any_point(tmp_path, capsys, toml, words):
    grid = tmp_path / "grid.toml"
    grid.write_text(toml)
    results = tmp_path / "results"
    assert main(["sweep", str(grid), "--results-dir", str(results)]) == 2
    assert words in _one_line_error(capsys)
    assert not results.exists()


def test_the_same_configuration_is_one_point(tmp_path, capsys):
    """A limit at or beyond the training set is no limit: one point, not two rows."""
    assert main(["sweep", "--limit", "7291,99999", "--dry-run", "--results-dir", str(tmp_path)]) == 0
    assert "1 point(s)" in capsys.readouterr().out
    grid = tmp_path / "grid.toml"
    grid.write_text('backends = ["torch"]\n[[configs]]\nlimit = 7291\n[[configs]]\nlimit = 100000\n[[configs]]\n')
    assert main(["sweep", str(grid), "--dry-run", "--results-dir", str(tmp_path)]) == 0
    assert "1 point(s)" in capsys.readouterr().out


def test_bench_window_beyond_the_data_is_a_usage_error(tmp_path, capsys):
    assert main(["bench", "--backends", "torch", "--dataset", "synthetic", "--window", "1000",
                 "--results-dir", str(tmp_path)]) == 2
    assert "--window 1000 is larger than the 512 training examples of synthetic" in _one_line_error(capsys)


def test_the_conformance_kit_builds_checked_configurations():
    from harness import testing

    with pytest.raises(ConfigError, match="--limit -5"):
        testing.run_parity("no-such-backend", limit=-5)  # refused before any backend is looked up
    with pytest.raises(ConfigError, match="--seed -1"):
        testing.assert_session_conforms("no-such-backend", seed=-1)
    with pytest.raises(ConfigError, match="--steps 1000 exceeds"):
        testing.run_parity("no-such-backend", steps=(1000,))
