"""scripts/gpu-check.sh (run on a lent GPU; docs/performance.md): its plumbing on the CPU.

The CUDA steps themselves cannot run here; what can: the script parses, covers every strategy,
keeps inside its time box (steps that do not fit are skipped, saying so), writes its log and
results under $OUT, and its summary reads run and bench results (CUDA graphs from a result's
environment, kernels per example from a bench row)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_check_summary

sys.path.pop(0)
needs_bash = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def test_the_script_covers_every_strategy_on_cuda():
    text = SCRIPT.read_text()
    commands = [ln for ln in text.splitlines() if "$H parity" in ln or "$H bench" in ln]
    assert len(commands) == 4 and not any("--strategies" in ln for ln in commands)
    for needle in ("--dtype float64", "--dtype float32", "--kernels", "pip install -q --no-deps --no-build-isolation .",
                   ".whl/*.whl", "tests/test_fused_pallas.py", "tests/test_fused_triton.py",
                   "tests/test_torch_strategies.py", "gpu_check_summary.py"):
        assert needle in text, needle
    for s in ("jax:fused", "torch:fused", "torch:compiled"):  # the 23-pass runs
        assert s in text.split("23-pass")[-1]


@needs_bash
def test_a_spent_budget_skips_every_step_and_still_writes_out(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "GPU_CHECK_BUDGET_S": "20", "GPU_CHECK_INSTALL": "0",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    log = (out / "gpu-check.log").read_text()
    assert log.count("skipped: the 20s budget is spent") >= 10  # env x3, parity x2, bench x2, runs x3, tests
    assert "harness.cli parity --device cuda --dtype float64" in log and "no results" in log
    assert sorted(p.name for p in out.iterdir()) == ["gpu-check.log", "results.tgz"]


def test_summary_reads_runs_and_bench_rows(tmp_path):
    pytest.importorskip("jax", reason="the run it summarises is a jax one")
    assert main(["run", "--backend", "jax", "--strategy", "scan", "--dataset", "synthetic", "--limit", "32",
                 "--epochs", "1", "--quiet", "--results-dir", str(tmp_path)]) == 0
    (run,) = (json.loads(p.read_text()) for p in tmp_path.glob("run-*.json"))
    compiled = {**run, "backend": "torch", "strategy": "compiled",
                "environment": {**run["environment"], "session": {"strategy_settings": {"cuda_graphs": True}}}}
    (tmp_path / "run-compiled.json").write_text(json.dumps(compiled))
    row = {"backend": "jax", "strategy": "fused", "device": "cuda", "us_per_example": 9.5,
           "kernel_count": {"kernels": 0.004, "unit": "kernels", "dispatches": 0.004, "how": "x"}}
    (tmp_path / "bench-x.json").write_text(json.dumps({"kind": "bench", "rows": [row]}))
    lines = gpu_check_summary.summary(tmp_path)
    assert any(ln.startswith("run jax:scan@cpu: 1 passes") and "CUDA graphs" not in ln for ln in lines), lines
    assert any(ln.startswith("run torch:compiled") and ln.endswith("CUDA graphs: True") for ln in lines), lines
    assert "bench jax:fused@cuda: 9.5 us/example, 0.004 kernels, 0.004 dispatches per example (x)" in lines
