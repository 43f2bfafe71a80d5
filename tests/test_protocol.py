"""The plugin contract itself: the public API importable from `harness` without a framework, no hidden
call order (a session works when it is the first thing the core asks for), the conformance kit on the
built-in backends."""
from __future__ import annotations

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
