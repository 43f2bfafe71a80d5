"""A third-party plugin package (tests/fixtures/thirdparty_pkg) with its own test suite written with
harness.testing: its entry point is installed into a temporary directory put on the path of a
subprocess, which runs that suite; nothing of it reaches this process's plugin registry."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import plugins
from tests.conftest import DATA_DIR

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "tests" / "fixtures" / "thirdparty_pkg"


def install_entry_point(site: Path) -> None:
    """What `pip install` would leave for importlib.metadata: a dist-info with the entry point."""
    info = site / "thirdparty_backend-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-backend\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[harness]\nthirdparty = thirdparty_backend\n")


def test_thirdparty_package_suite_passes_in_a_subprocess(tmp_path):
    pytest.importorskip("torch")
    site = tmp_path / "site"
    install_entry_point(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PKG), str(REPO)]),
           "HARNESS_THREADS": "1",
           "HARNESS_DATA_DIR": str(DATA_DIR)}  # absolute: CI passes ../shared/data, and cwd moves
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=PKG,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "5 passed" in out, out[-3000:]
    assert "thirdparty" not in plugins.get_registry().names()  # nothing leaked into this process
