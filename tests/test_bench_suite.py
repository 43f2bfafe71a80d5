"""tests/bench as pytest-benchmark's users expect it: collected by `--benchmark-only` without
`-m bench` (and left out of the default run), ids like `torch-eager-cpu-w4`, plain params, a group
per device and variant, machine_info that identifies the machine only (the load average in
extra_info), and autosave-style names from tox -e bench."""
from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_torch

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "tests" / "bench"


def pytest_in(tmp_path, *args, **env):
    run_env = {**os.environ, "HARNESS_BENCH_DEVICES": "cpu", "HARNESS_BENCH_BACKENDS": "torch", **env}
    return subprocess.run([sys.executable, "-m", "pytest", str(BENCH_DIR), "-p", "no:cacheprovider", *args],
                          check=False, cwd=REPO, env=run_env, capture_output=True, text=True, timeout=600)


def test_the_default_run_leaves_the_benchmarks_out(tmp_path):
    p = pytest_in(tmp_path, "--collect-only", "-q", HARNESS_BENCH_BACKENDS="")  # whatever is installed
    assert "no tests collected" in p.stdout and "deselected" in p.stdout, p.stdout + p.stderr


@requires_torch
def test_benchmark_only_runs_them_with_plain_params_groups_and_autosave_names(tmp_path):
    pytest.importorskip("pytest_benchmark")
    out = tmp_path / "b.json"
    p = pytest_in(tmp_path, "--benchmark-only", "-k", "torch-eager-cpu", f"--benchmark-json={out}",
                  "--benchmark-autosave", f"--benchmark-storage=file://{tmp_path / 'store'}",
                  HARNESS_BENCH_WINDOW="4", HARNESS_BENCH_ROUNDS="2", HARNESS_DATA_DIR=str(tmp_path / "no-data"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    doc = json.loads(out.read_text())
    (b,) = doc["benchmarks"]
    assert b["name"] == "test_train_window[torch-eager-cpu-w4]" and b["param"] == "torch-eager-cpu-w4"
    assert b["params"] == {"backend": "torch", "strategy": "eager", "device": "cpu", "window": 4}
    assert b["group"] == "cpu 1989"
    assert b["extra_info"]["load_average"]["after"] is None or len(b["extra_info"]["load_average"]["after"]) == 3
    mi = doc["machine_info"]
    assert "harness_environment" not in mi and "backends" not in mi
    assert not {"hz_actual", "hz_actual_friendly"} & set(mi.get("cpu", {}))
    assert "load_average" not in json.dumps(mi) and "load_average_at_start" in doc["harness_environment"]
    saved = [f.name for f in (tmp_path / "store").rglob("*.json")]
    assert len(saved) == 1 and re.match(r"^0001_.+\.json$", saved[0]), saved


def test_tox_bench_saves_autosave_style_not_over_the_last_file():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    cmd = tox["testenv:bench"]["commands"]
    assert "--benchmark-autosave" in cmd and "--benchmark-json" not in cmd and " -m bench" not in cmd
