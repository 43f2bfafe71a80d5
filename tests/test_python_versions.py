"""The Python versions pyproject.toml promises: 3.10 has no tomllib, so the sweep grid reads TOML
with tomli there. Tested on any version by hiding tomllib in a fresh interpreter."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

GRID = 'seeds = "1-2"\n[[configs]]\nbackend = "jax"\nstrategy = "scan"\nvariants = ["1989", "modern"]\n'

_CHILD = """
import sys
sys.modules["tomllib"] = None  # as on Python 3.10: `import tomllib` raises ModuleNotFoundError
from harness.sweep import grid
print(grid.tomllib.__name__)
g = grid.load_toml(sys.argv[1], {"jax": ("step", "scan")})
print(sorted((p.variant, p.seed) for p in g.points))
try:
    grid.load_toml(sys.argv[2], {"jax": ("step", "scan")})
except grid.GridError as e:
    print("GridError:", e)
"""


def test_without_tomllib_the_grid_reads_toml_with_tomli(tmp_path):
    pytest.importorskip("tomli", reason="tomli is in the `test` extra (and the core on Python 3.10)")
    good, bad = tmp_path / "grid.toml", tmp_path / "bad.toml"
    good.write_text(GRID)
    bad.write_text("seeds = [1,\n")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(good), str(bad)], check=False, cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "tomli"
    assert lines[1] == "[('1989', 1), ('1989', 2), ('modern', 1), ('modern', 2)]"
    assert lines[2].startswith("GridError:") and "bad.toml" in lines[2]  # tomli's decode error is caught too


def test_pyproject_python_versions_are_consistent():
    """requires-python's floor is the oldest classifier; below 3.11 the core depends on tomli."""
    from harness.sweep.grid import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    floor = tuple(int(n) for n in re.fullmatch(r">=(\d+)\.(\d+)", project["requires-python"]).groups())
    listed = sorted(tuple(int(n) for n in m.groups()) for c in project["classifiers"]
                    if (m := re.fullmatch(r"Programming Language :: Python :: (\d+)\.(\d+)", c)))
    assert listed and listed[0] == floor, (floor, listed)
    assert sys.version_info[:2] in listed  # this interpreter is one the classifiers name
    tomli = [d for d in project["dependencies"] if d.startswith("tomli")]
    assert (floor < (3, 11)) == bool(tomli) and (not tomli or "python_version < '3.11'" in tomli[0])
