"""One package per backend (backends/torch/, jax/, tensorflow/): importing a face imports no framework,
the entry points name the packages, and every module path of the flat layout before them still
imports, re-exporting the new modules' objects with a DeprecationWarning."""
from __future__ import annotations

import json

import pytest

from tests.test_protocol import REPO, run_python

FRAMEWORKS = ("torch", "jax", "jaxlib", "flax", "optax", "triton", "tensorflow")
# Every module of backends/ before the packages (named here, not read from backends/_moved.py, so
# that dropping a shim fails this test).
OLD_PATHS = ("torch_backend", "torch_fast", "torch_func", "torch_fused", "torch_fused_kernel", "torch_kernels",
             "torch_sdlm", "jax_backend", "jax_fused", "jax_fused_kernel", "jax_kernels", "jax_layout", "jax_net",
             "jax_sdlm", "jax_threads")


@pytest.mark.parametrize("face", ["backends.torch", "backends.jax", "backends.tensorflow"])
def test_importing_a_backend_package_imports_no_framework(face):
    out = run_python(f"""
        import sys
        import {face} as face
        face.harness_register_backends(lambda b: print(b.name, ",".join(b.strategies)))
        print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))
    """)
    registered, frameworks = out.splitlines()
    assert registered in ("torch eager,compiled,cudagraph,fused", "jax step,scan,fused",
                          "tensorflow eager,function,xla")
    assert frameworks == "[]"


def test_entry_points_name_the_packages():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["harness"] == {"torch": "backends.torch", "jax": "backends.jax",
                                                  "tensorflow": "backends.tensorflow"}


def test_every_old_path_is_a_shim_listed_in_moved():
    from backends._moved import MOVED

    assert set(MOVED) == set(OLD_PATHS)
    for old in OLD_PATHS:
        assert (REPO / "backends" / f"{old}.py").read_text().count("\n") <= 6, old  # a shim, no code


# each old path names its new package in the warning
MOVED_TARGET = {old: f"backends.{old.split('_')[0]}" for old in OLD_PATHS}

OLD_IMPORTS = """
import importlib, json, types, warnings
from backends._moved import MOVED

def mismatched(mod, news):
    \"\"\"Public names of the new modules (not modules themselves) the old one lacks or holds otherwise;
    where two new modules define a name, the later one's is re-exported.\"\"\"
    want = {}
    for new in news:
        want.update({k: v for k, v in vars(importlib.import_module(new)).items()
                     if not k.startswith("_") and not isinstance(v, types.ModuleType)})
    return sorted(k for k, v in want.items() if getattr(mod, k, None) is not v)

out = {}
for old in OLD_PATHS:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mod = importlib.import_module("backends." + old)
        except ImportError as e:  # its framework is not installed here
            top = (getattr(e, "name", None) or "").split(".")[0]
            out[old] = {"skipped": top} if top in FRAMEWORKS else {"error": repr(e)}
            continue
    news, aliases = MOVED[old]
    out[old] = {"warnings": [(w.category.__name__, str(w.message)) for w in caught],
                "mismatched": mismatched(mod, news),
                "aliases": {k: getattr(mod, k, None) is not None for k in aliases}}
print(json.dumps(out))
"""


def test_every_old_path_imports_warns_and_reexports_the_same_objects():
    code = f"OLD_PATHS = {OLD_PATHS!r}\nFRAMEWORKS = {FRAMEWORKS!r}\n" + OLD_IMPORTS
    out = json.loads(run_python(code).splitlines()[-1])
    imported = {old: r for old, r in out.items() if "skipped" not in r}
    assert "torch_backend" in imported and "jax_backend" in imported  # their faces need no framework
    for old, r in imported.items():
        assert "error" not in r, (old, r)
        deprecations = [m for c, m in r["warnings"] if c == "DeprecationWarning"]
        assert len(deprecations) == 1 and f"backends.{old} is deprecated" in deprecations[0], (old, r["warnings"])
        assert MOVED_TARGET[old] in deprecations[0], (old, deprecations)
        assert r["mismatched"] == [], (old, r["mismatched"])
        assert all(r["aliases"].values()), (old, r["aliases"])
