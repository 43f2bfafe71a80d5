"""pytest-benchmark suite: every available backend x strategy x device.

Run with `tox -e bench` or
    HARNESS_DATA_DIR=../shared/data pytest tests/bench -m bench --benchmark-json=results/bench-suite.json
"""
from __future__ import annotations

import os

import pytest

from harness import plugins
from harness.targets import resolve_matrix
from harness.timing import environment


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/bench" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.bench)


def bench_targets():
    devices = os.environ["HARNESS_BENCH_DEVICES"].split(",") if "HARNESS_BENCH_DEVICES" in os.environ else None
    # what a backend does not support in the variant and dtype test_bench.py trains is left out
    return resolve_matrix(plugins.get_registry(), None, None, devices,
                          variant=os.environ.get("HARNESS_BENCH_VARIANT", "1989"),
                          dtype=os.environ.get("HARNESS_BENCH_DTYPE", "float32")).targets


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        ts = bench_targets()
        metafunc.parametrize("target", ts, ids=[t.label_with_device for t in ts])


def pytest_benchmark_update_machine_info(config, machine_info):
    """Framework versions, device names and thread settings, in the benchmark JSON."""
    reg = plugins.get_registry()
    machine_info["harness_environment"] = environment()
    machine_info["backends"] = {
        name: {d: reg.get(name).environment(d) for d in reg.get(name).devices()} for name in reg.available()
    }
