"""The profiling scripts under scripts/ keep working: their --help runs and names their options."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script,options", [
    ("profile_cpu.py", ["--backend", "--strategy", "--seconds", "--top", "--threads"]),
    ("naive_jax_step.py", ["--examples", "--rounds", "--data-dir"]),
])
def test_script_help(script, options):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    for opt in options:
        assert opt in out.stdout


def test_profile_cpu_names_kinds_of_work():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import profile_cpu
    finally:
        sys.path.pop(0)
    assert profile_cpu.category("JIT:wrapped_scatter@abc123") == "compiled kernel: scatter"
    assert profile_cpu.category("JIT:gather_bitcast_fusion@abc123") == "compiled kernel: gather"
    assert profile_cpu.category("ynn::dot_fp32_4x16x4_1x4x4_avx512") == "YNNPACK matmuls (ynn_fusion)"
    assert profile_cpu.category("_int_malloc") == "libc malloc / memcpy"
    assert profile_cpu.category("xla::cpu::ThunkExecutor::Execute") == "XLA runtime (thunk executor, buffers)"
