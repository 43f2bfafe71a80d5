import os
from pathlib import Path

import pytest

# One intra-op thread for torch in tests: on a shared 2-core machine, OpenMP's
# spinning threads make a per-example step 10-100x slower when another process
# (or jax's thread pool) competes. Subprocesses inherit it. Timings live in benchmarks.
os.environ.setdefault("HARNESS_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
# CI and the README point HARNESS_DATA_DIR at ../shared/data; default to it too.
DATA_DIR = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "usps").is_dir():
        pytest.skip(f"real data not found at {DATA_DIR} (set HARNESS_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def usps(data_dir):
    from harness.data import load_dataset

    return load_dataset("usps", data_dir)
