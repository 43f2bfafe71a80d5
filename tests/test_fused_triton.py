"""torch `fused` (one Triton kernel launch per chunk of examples) against torch `eager`.

On the CPU the kernel runs through Triton's interpreter, in a child process
(tests/fused_triton_child.py: Triton decides interpretation at its first import),
compared by harness.parity's checks in float64 and float32, on USPS and synthetic
data, with the interpreter's large tiles and with the GPU's small ones. On a
machine with CUDA the compiled kernel is compared in process.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.torch import TorchBackend
from harness.backend import DeviceUnavailable, refuse_interpreted
from tests.conftest import DATA_DIR, REPO

HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
needs_data = pytest.mark.skipif(not (DATA_DIR / "usps").is_dir(), reason=f"real data not found at {DATA_DIR}")

CHECKS = [f"usps {dt} {c}" for dt in ("float64", "float32")
          for c in ("forward", "grads", "steps", "trajectory", "step losses")]
CHECKS += ["synthetic float64 steps", "usps float64 grads, GPU tiles"]


def child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "HARNESS_FUSED_BLOCKS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["HARNESS_FUSED_INTERPRET"] = "1"
    return env


def run_child(*flags: str) -> dict:
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "fused_triton_child.py"), str(DATA_DIR), *flags],
                          check=False, capture_output=True, text=True, env=child_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def interpreted():
    if not HAS_TRITON or not (DATA_DIR / "usps").is_dir():
        pytest.skip("needs triton and the real data")
    return run_child()


@needs_triton
@needs_data
@pytest.mark.parametrize("check", CHECKS)
def test_interpreted_kernel_matches_eager(interpreted, check):
    got = interpreted[check]
    assert not got["errors"], got["errors"]
    assert got["max_abs"], got  # something was compared
    assert got["passed"], got["summary"]


@needs_triton
@needs_data
def test_float64_agrees_to_rounding(interpreted):
    """Beyond the parity tolerances: the kernel does the same arithmetic in another order."""
    for check in ("usps float64 grads", "usps float64 steps", "usps float64 grads, GPU tiles"):
        assert max(interpreted[check]["max_abs"].values()) < 1e-14, interpreted[check]


@needs_triton
@needs_data
def test_interpreted_session_says_so(interpreted):
    env = interpreted["environment"]
    assert env["interpreted"] is True
    assert env["fused"]["programs"] == 1 and env["fused"]["tanh"].startswith("exp")


@needs_triton
@needs_data
@pytest.mark.slow
def test_interpreted_kernel_matches_eager_longer():
    got = run_child("--slow")
    failed = {k: v["summary"] for k, v in got.items() if isinstance(v, dict) and "passed" in v and not v["passed"]}
    assert not failed, failed
    assert got["usps float64 steps"]["max_abs"]["H2w k=20"] < 1e-13


def test_fused_declares_the_1989_variant_only():
    from harness.backend import unsupported_reason
    from harness.recipe import Recipe

    b = TorchBackend()
    assert unsupported_reason(b, "fused", "1989", "float32") is None
    assert unsupported_reason(b, "fused", "1989", "float64") is None
    assert "activation=relu" in unsupported_reason(b, "fused", "modern", "float32")
    assert unsupported_reason(b, "eager", "modern", "float32") is None
    # its knobs: 1989's backend-computed values only (core knobs such as targets need nothing)
    assert unsupported_reason(b, "fused", "1989", "float32", Recipe.of("1989", ["targets=0.8"])) is None
    assert "scaled_tanh" in unsupported_reason(b, "fused", "1989", "float32",
                                               Recipe.of("1989", ["activation=scaled_tanh"]))
    assert unsupported_reason(b, "fused", "1989-sdlm", "float32", Recipe.of("1989-sdlm", ["optimizer=sgd"])) is None


def test_fused_reaches_cpu_only_through_the_opt_in(monkeypatch):
    b = TorchBackend()
    monkeypatch.delenv("HARNESS_FUSED_INTERPRET", raising=False)
    cuda = [d for d in b.devices() if d.startswith("cuda")] if HAS_TRITON else []
    assert b.strategy_devices("fused") == cuda
    monkeypatch.setenv("HARNESS_FUSED_INTERPRET", "1")
    assert b.strategy_devices("fused") == (["cpu"] if HAS_TRITON else [])


def test_fused_session_refuses_the_modern_variant(monkeypatch):
    from backends.torch.fused import FusedSession
    from harness.spec import VARIANTS, init_params

    with pytest.raises(ValueError, match="does not implement activation=relu"):
        FusedSession(torch, VARIANTS["modern"], init_params(0, "float32", "modern"), "float32", torch.device("cpu"))


@needs_triton
def test_a_session_in_the_wrong_triton_mode_says_so(monkeypatch):
    """Triton decides interpretation at its first import: a compiled-mode process cannot interpret."""
    import triton

    from backends.torch import fused_kernel as K
    from backends.torch.fused import FusedSession
    from harness.spec import VARIANTS, init_params

    if not isinstance(K.fused_sgd, triton.runtime.JITFunction):
        pytest.skip("triton runs interpreted in this process")
    monkeypatch.setenv("HARNESS_FUSED_INTERPRET", "1")
    with pytest.raises(RuntimeError, match="needs a fresh process"):
        FusedSession(torch, VARIANTS["1989"], init_params(0), "float32", torch.device("cpu"))


def test_run_and_bench_refuse_an_interpreted_session():
    class Interpreted:
        def environment(self):
            return {"interpreted": True}

    class Compiled:
        def environment(self):
            return {"interpreted": False}

    with pytest.raises(DeviceUnavailable, match="harness bench never times an interpreter"):
        refuse_interpreted(Interpreted(), "harness bench")
    refuse_interpreted(Compiled(), "harness run")
    refuse_interpreted(object(), "harness run")  # no environment(): nothing to refuse


@needs_triton
@needs_data
def test_harness_run_refuses_the_interpreter(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--strategy", "fused", "--device", "cpu",
                           "--epochs", "1", "--limit", "4", "--data-dir", str(DATA_DIR), "--results-dir",
                           str(tmp_path), "-q"], check=False, capture_output=True, text=True, env=child_env(),
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "never times an interpreter" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())  # no result written


def compile_for_sm90(dtype: str, grads_only: bool = False):
    """Triton's full CUDA pipeline (TTIR -> PTX -> ptxas cubin) for an H100/H200, no GPU needed."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from backends.torch import fused as torch_fused
    from backends.torch import fused_kernel as K

    if not isinstance(K.fused_sgd, triton.runtime.JITFunction):
        pytest.skip("triton runs interpreted in this process")
    ty = {"float32": "*fp32", "float64": "*fp64"}[dtype]
    consts = {"GRADS_ONLY": grads_only, "LIBDEVICE": True, **torch_fused.GPU_BLOCKS}
    sig = {**{a: ty for a in ("P", "G", "S", "X", "T", "LR", "LOSS")}, "n": "i32", **{c: "constexpr" for c in consts}}
    return triton.compile(ASTSource(fn=K.fused_sgd, signature=sig, constexprs=consts),
                          target=GPUTarget("cuda", 90, 32),
                          options={"num_warps": torch_fused.NUM_WARPS, **torch_fused.LAUNCH})


def resource_usage(kernel, tmp_path) -> str:
    tools = Path(importlib.util.find_spec("triton").origin).parent / "backends" / "nvidia" / "bin"  # bundled
    cubin = tmp_path / "k.cubin"
    cubin.write_bytes(kernel.asm["cubin"])
    out = subprocess.run([str(tools / "cuobjdump"), "-res-usage", str(cubin)], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1]


@needs_triton
@pytest.mark.parametrize("dtype,grads_only", [
    ("float32", False),
    pytest.param("float64", False, marks=pytest.mark.slow),
    pytest.param("float32", True, marks=pytest.mark.slow),
])
def test_kernel_compiles_for_sm90_without_spilling(dtype, grads_only, tmp_path, monkeypatch):
    """What the interpreter cannot show: the kernel goes through Triton's CUDA compiler, with the
    GPU's tiles and libdevice's tanh, one CTA barrier per phase, and keeps everything in registers."""
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "cache"))  # a real compilation, not a cache hit
    k = compile_for_sm90(dtype, grads_only)
    ptx = k.asm["ptx"]
    assert ptx.count("bar.sync") >= 8  # the phases' barriers (tl.sum adds its own)
    assert "ld.global.nc" not in ptx  # scratch and parameters are written in the launch: no read-only cache
    assert "cp.async" not in ptx  # no loads prefetched ahead of the barrier that orders them
    usage = resource_usage(k, tmp_path)
    assert "LOCAL:0" in usage, usage  # no register spills


cuda = pytest.mark.skipif(not (HAS_TRITON and torch.cuda.is_available()), reason="needs CUDA and triton")


@cuda
@needs_data
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_kernel_matches_eager_on_cuda(dtype, usps):
    from harness import parity
    from harness.config import ParityConfig

    b = TorchBackend()
    b.environment("cuda")  # pins precision
    ctx = parity.Context.build(ParityConfig(variant="1989", dtype=dtype, device="cuda", seed=1337), usps)
    ref, fused = parity.Target(b, "eager"), [parity.Target(b, "fused")]
    for check in (parity.check_grads(ctx, ref, fused), parity.check_steps(ctx, ref, fused, [1, 10, 100]),
                  parity.check_trajectory(ctx, ref, fused, 20)):
        assert check["passed"], check["summary"]
    s = ctx.session(fused[0])
    assert s.environment()["interpreted"] is False
    losses = s.train_steps(ctx.first_steps.slice(0, 256))
    assert losses.shape == (256,) and np.isfinite(losses).all()
