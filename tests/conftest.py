import importlib.util
import os
from pathlib import Path

import pytest

# One intra-op thread for torch in tests: on a shared 2-core machine, OpenMP's
# spinning threads make a per-example step 10-100x slower when another process
# (or jax's thread pool) competes. Subprocesses inherit it. Timings live in benchmarks.
os.environ.setdefault("HARNESS_THREADS", "1")

# Tests never reach the internet: no public data source is contacted (a test that serves files
# from 127.0.0.1 unsets this for itself). Subprocesses inherit it.
os.environ.setdefault("HARNESS_DATA_OFFLINE", "1")

# tests/fixtures holds packages with their own suites (run in subprocesses), not tests of this one.
collect_ignore = ["fixtures"]

# Hypothesis, reproducible: by default (profile "ci") every property test draws the same examples
# on every run, alone or in the whole suite: derandomised (the seed is a hash of the test), no
# example database, and a failure prints the failing example and the `@reproduce_failure` blob that
# replays it. `--hypothesis-seed=N` draws from seed N instead (profile "seeded");
# `--hypothesis-profile=explore` draws anew each run.
#
# Derandomising is not enough: hypothesis also mixes in constants it collects from the source of
# every *local* module imported so far (harness/, backends/, plugins a test wrote to a temporary
# directory), so the same test drew other examples alone than after the rest of the suite had
# imported more modules (test_report_fuzz.py failed alone and passed in the suite). The pool of
# local constants is therefore kept empty: the draws depend on the seed alone.
# test_hypothesis_draws_do_not_depend_on_imported_modules (test_report_fuzz.py) holds this true.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # hypothesis is a test extra: without it the property tests skip
    _hypothesis_settings = None
else:
    _common = {"database": None, "print_blob": True, "deadline": None}
    _hypothesis_settings.register_profile("ci", derandomize=True, **_common)
    _hypothesis_settings.register_profile("seeded", derandomize=False, **_common)
    _hypothesis_settings.register_profile("explore", derandomize=False, **_common)
    _hypothesis_settings.load_profile("ci")
    try:
        from hypothesis.internal.conjecture import providers as _providers
    except ImportError:
        _providers = None
    if _providers is not None and hasattr(_providers, "_get_local_constants"):
        _no_local_constants = type(_providers._local_constants)()
        _providers._get_local_constants = lambda: _no_local_constants


def pytest_configure(config):
    # A seed given without a profile is meant to change the draws: derandomize would ignore it.
    if (_hypothesis_settings is not None and config.getoption("hypothesis_seed", None) is not None
            and not config.getoption("hypothesis_profile", None)):
        _hypothesis_settings.load_profile("seeded")


REPO = Path(__file__).resolve().parents[1]
# CI and the README point HARNESS_DATA_DIR at ../shared/data; default to it too.
DATA_DIR = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="module")
def torch_one_thread():
    """One intra-op torch thread for a module that calls torch directly, not only through sessions
    (which apply $HARNESS_THREADS): batch-size-1 ops are faster on one thread and don't spin on a
    busy 2-core machine. The process's count is restored afterwards. No torch: nothing to do."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "usps").is_dir():
        pytest.skip(f"real data not found at {DATA_DIR} (set HARNESS_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def usps(data_dir):
    from harness.data import load_dataset

    return load_dataset("usps", data_dir)


# CLI tests that train torch (the default backend) as their vehicle: in a jax-only environment
# (tox -e jax) they skip, saying why, instead of failing on the missing framework.
requires_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                    reason="torch is not installed (a jax-only environment)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """tests/bench holds benchmarks (marked `bench`), run only when asked: `--benchmark-only`
    (`pytest tests/bench --benchmark-only`, as pytest-benchmark's users type it) or a `-m` that
    names bench (`-m bench`, as tox -e bench did); the default run leaves them out, deselected."""
    bench = [i for i in items if "tests/bench/" in i.path.as_posix()]
    for item in bench:
        item.add_marker(pytest.mark.bench)
    if not bench or config.getoption("benchmark_only", False) or "bench" in (config.option.markexpr or ""):
        return  # asked for: the -m expression (if any) decides, as for any marker
    chosen = set(map(id, bench))
    config.hook.pytest_deselected(items=bench)
    items[:] = [i for i in items if id(i) not in chosen]
