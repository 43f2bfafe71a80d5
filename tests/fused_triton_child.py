"""Run in a child process by test_fused_triton.py: torch `fused` through Triton's interpreter,
compared with torch `eager` by harness.parity's checks; prints the results as one JSON object.

Its own process because Triton decides interpretation once, at its first import
(TRITON_INTERPRET=1), and other tests in the pytest process may import Triton compiled.

    python tests/fused_triton_child.py DATA_DIR [--slow]
"""
from __future__ import annotations

import json
import os
import sys

os.environ["HARNESS_FUSED_INTERPRET"] = "1"  # the test opt-in: fused reaches "cpu" through the interpreter
os.environ.setdefault("HARNESS_THREADS", "1")

import numpy as np

from backends.torch import TorchBackend
from backends.torch.fused import GPU_BLOCKS
from harness import parity
from harness.config import ParityConfig
from harness.data import load_dataset

SEED = 1337


def context(data, dtype: str) -> parity.Context:
    return parity.Context.build(ParityConfig(variant="1989", dtype=dtype, device="cpu", seed=SEED), data)


def figures(check: dict) -> dict:
    """Per check: passed, its summary and max |a - b| per tensor (worst over k / examples)."""
    per: dict[str, float] = {}
    for r in check["rows"]:
        if r.get("max_abs") is not None:
            key = r["tensor"] + (f" k={r['k']}" if r.get("k") is not None else "")
            per[key] = max(per.get(key, 0.0), r["max_abs"])
    errors = [r["error"] for r in check["rows"] if r.get("error")]
    return {"passed": check["passed"], "summary": check["summary"], "max_abs": per, "errors": errors}


def step_losses(ctx: parity.Context, ref: parity.Target, fused: parity.Target, k: int) -> dict:
    """The loss train_steps returns for each of k steps in one call: the kernel's own forward pass."""
    want, got = (ctx.session(t).train_steps(ctx.first_steps.slice(0, k)) for t in (ref, fused))
    c = parity.compare(got, want, ctx.tol["step_losses"], np.arange(k))
    return {"passed": c["passed"], "summary": f"step losses: largest |a-b| {c['max_abs']:.3g}",
            "max_abs": {"step losses": c["max_abs"]}, "errors": []}


def main(data_dir: str, slow: bool) -> dict:
    backend = TorchBackend()
    assert backend.strategy_devices("fused") == ["cpu"], backend.strategy_devices("fused")
    ref, fused = parity.Target(backend, "eager"), [parity.Target(backend, "fused")]
    usps = load_dataset("usps", data_dir)
    synthetic = load_dataset("synthetic", data_dir)
    out: dict = {}
    for dtype in ("float64", "float32"):
        ctx = context(usps, dtype)
        out[f"usps {dtype} forward"] = figures(parity.check_forward(ctx, ref, fused, n=64))
        out[f"usps {dtype} grads"] = figures(parity.check_grads(ctx, ref, fused, n=2))
        out[f"usps {dtype} steps"] = figures(parity.check_steps(ctx, ref, fused, [2] if not slow else [1, 20]))
        out[f"usps {dtype} trajectory"] = figures(parity.check_trajectory(ctx, ref, fused, 3 if not slow else 30))
        out[f"usps {dtype} step losses"] = step_losses(ctx, ref, fused[0], 3 if not slow else 50)
    ctx = context(synthetic, "float64")
    out["synthetic float64 steps"] = figures(parity.check_steps(ctx, ref, fused, [3]))
    out["environment"] = ctx.session(fused[0]).environment()
    # the tiles the GPU runs (GPU_BLOCKS): many more, smaller tile operations, slower to interpret
    os.environ["HARNESS_FUSED_BLOCKS"] = ",".join(f"{k}={v}" for k, v in GPU_BLOCKS.items())
    for dtype in ("float64", "float32") if slow else ("float64",):
        ctx = context(usps, dtype)
        out[f"usps {dtype} grads, GPU tiles"] = figures(parity.check_grads(ctx, ref, fused, n=1))
    if slow:
        out["usps float64 steps, GPU tiles"] = figures(parity.check_steps(context(usps, "float64"), ref, fused, [2]))
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], "--slow" in sys.argv[2:])))
