"""pytest-benchmark suite: every available backend x strategy x device.

Run with `tox -e bench` (saves autosave-style: results/pytest-benchmark/<machine>/NNNN_<commit>_<date>.json),
or
    HARNESS_DATA_DIR=../shared/data pytest tests/bench --benchmark-only [--benchmark-autosave]
(`-m bench` selects the same tests). Each benchmark's id reads `jax-scan-cpu-w256`, its params
are plain values (backend, strategy, device, window), its group is `DEVICE VARIANT`. machine_info
holds only what identifies the machine, so --benchmark-compare warns only across machines; what
changes from run to run (load average, framework versions and threads) is in each benchmark's
extra_info and in the JSON's `harness_environment`.
"""
from __future__ import annotations

import os

from harness import plugins
from harness.targets import resolve_matrix
from harness.timing import cpu_model, environment

WINDOW = int(os.environ.get("HARNESS_BENCH_WINDOW", "256"))
VARIANT = os.environ.get("HARNESS_BENCH_VARIANT", "1989")
DTYPE = os.environ.get("HARNESS_BENCH_DTYPE", "float32")


def _env_list(name: str) -> list[str] | None:
    return os.environ[name].split(",") if os.environ.get(name) else None


def bench_targets():
    # $HARNESS_BENCH_BACKENDS / _DEVICES narrow the matrix (default: everything available here);
    # what a backend does not support in the variant and dtype test_bench.py trains is left out
    return resolve_matrix(plugins.get_registry(), _env_list("HARNESS_BENCH_BACKENDS"), None,
                          _env_list("HARNESS_BENCH_DEVICES"), variant=VARIANT, dtype=DTYPE).targets


def bench_id(backend: str, strategy: str, device: str, window: int) -> str:
    """`jax-scan-cpu-w256`: what -k, --benchmark-compare and the saved names read."""
    return f"{backend}-{strategy}-{device.replace(':', '')}-w{window}"


def pytest_generate_tests(metafunc):
    if {"backend", "strategy", "device", "window"} <= set(metafunc.fixturenames):
        points = [(t.backend.name, t.strategy, t.device, WINDOW) for t in bench_targets()]
        metafunc.parametrize(("backend", "strategy", "device", "window"), points,
                             ids=[bench_id(*p) for p in points])


VOLATILE_CPU = ("hz_actual", "hz_actual_friendly")  # py-cpuinfo's current clock: changes run to run
_moved: dict = {}


def pytest_benchmark_update_machine_info(config, machine_info):
    """Only what identifies the machine (pytest-benchmark's own keys, and the CPU as the harness
    names it): what changes between runs on one machine would make --benchmark-compare warn. The
    current clock frequency moves to `harness_environment`."""
    cpu = machine_info.get("cpu") if isinstance(machine_info.get("cpu"), dict) else {}
    _moved.update({k: cpu.pop(k) for k in VOLATILE_CPU if k in cpu})
    machine_info["harness_machine"] = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """The run's environment (numpy, thread variables, git commit, load average at the end, the CPU
    clock) beside machine_info, not in it."""
    output_json["harness_environment"] = {**environment(), "cpu_clock": dict(_moved)}
