"""The plugin contract itself: the public API importable from `harness` without a framework, no hidden
call order (a session works when it is the first thing the core asks for), the conformance kit on the
built-in backends."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import harness

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                                         "HARNESS_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_public_api_from_harness_imports_no_framework():
    out = run_python("""
        import sys
        import harness
        from harness import (Backend, Session, Steps, BackendUnavailable, DeviceUnavailable, hookimpl, RunConfig,
                             Unsupported, unsupported_reason)
        import harness.testing
        frameworks = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib', 'flax', 'optax'))
        print(frameworks, Steps.__module__, hookimpl.project_name)
    """)
    assert out.split() == ["[]", "harness.backend", "harness"]
    assert harness.__all__ == sorted(harness._API)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        harness.nosuch  # noqa: B018


def test_torch_session_needs_no_environment_call_first():
    """A fresh process whose first call is session(): the session pins full float32 precision itself."""
    pytest.importorskip("torch")
    out = run_python("""
        import torch
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
        from backends.torch import TorchBackend
        from harness.spec import VARIANTS, init_params
        TorchBackend().session(variant=VARIANTS["1989"], params=init_params(0, "float32"), dtype="float32",
                               device="cpu", strategy="eager")
        print(torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    """)
    assert out.split() == ["False", "highest"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conformance_kit_accepts_torch_eager(dtype):
    pytest.importorskip("torch")
    from harness.testing import assert_session_conforms

    assert_session_conforms("torch", strategy="eager", dtype=dtype)
    assert_session_conforms("torch", strategy="eager", dtype=dtype, variant="modern")


# ----------------------------------------------------------------------------- the protocol is exact

PROTOCOL_CLASSES = ("Session", "SessionOptions", "Backend", "BackendOptions")


def declared_members() -> set[str]:
    """Every member the protocol declares (methods and annotated attributes), required or optional."""
    from harness import backend

    out: set[str] = set()
    for name in PROTOCOL_CLASSES:
        cls = getattr(backend, name)
        out |= {m for m in vars(cls) if not m.startswith("_")} | set(vars(cls).get("__annotations__", {}))
    return out


def _refs(tree: ast.AST, calls_only: bool = False) -> set[str]:
    """Names `tree` reaches on objects: attributes (obj.name; with calls_only, only those called,
    obj.name(...)) and getattr/hasattr strings."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not calls_only:
            out.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            out.add(node.func.attr)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "hasattr"):
            out |= {a.value for a in node.args[1:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return out


def core_references(calls_only: bool = False) -> set[str]:
    """What the core reaches on objects (with calls_only: what it calls), outside the protocol's own
    declarations."""
    out: set[str] = set()
    for path in (REPO / "harness").rglob("*.py"):
        tree = ast.parse(path.read_text())
        if path.name == "backend.py" and path.parent.name == "harness":
            tree.body = [n for n in tree.body if not (isinstance(n, ast.ClassDef) and n.name in PROTOCOL_CLASSES)]
        out |= _refs(tree, calls_only)
    return out


def builtin_session_and_backend_methods() -> set[str]:
    """Public methods of the built-in backends' Session and Backend classes (read from source)."""
    out = set()
    for path in (REPO / "backends").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Session", "Backend")):
                out |= {f.name for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}
    return out


def test_every_declared_member_is_used_by_the_core():
    """A member the core never reaches does not belong in the protocol (devices() was one)."""
    unused = declared_members() - core_references()
    assert not unused, f"declared in harness/backend.py but never reached by the core: {sorted(unused)}"


def test_every_backend_method_the_core_reaches_is_declared():
    """A method of the built-in sessions/backends that the core calls must be in the protocol
    (required or optional): SDLM's hessian_diag and set_step_scale were not."""
    # calls only: a configuration's `devices` field (harness.config.BenchConfig) is no call of devices()
    undeclared = (builtin_session_and_backend_methods() & core_references(calls_only=True)) - declared_members()
    assert not undeclared, f"the core reaches {sorted(undeclared)} on backends/sessions; declare them"


def test_sdlm_methods_are_declared_optional_and_devices_is_gone():
    from harness import backend

    assert {"hessian_diag", "set_step_scale"} <= set(vars(backend.SessionOptions))
    assert "devices" not in declared_members()
