"""torch `fused`: one Triton kernel launch trains a whole chunk of examples (fused_kernel.py).

The session keeps the 9,760 parameters in one flat device buffer in canonical
order; the kernel updates it in place, one SGD step per example, and the
evaluation forward pass (plain torch ops, batched) reads the same buffer
through views. Supported: the 1989 variant (tanh, MSE, SGD) in float32 and
float64; the modern variant is declared unsupported.

Reachable on CUDA when torch sees a GPU and triton imports. Tests may opt in to
Triton's interpreter on the CPU with HARNESS_FUSED_INTERPRET=1: Triton decides
interpretation once, when it is first imported (its own library functions are
wrapped then), so the whole process interprets and `fused` then reaches "cpu"
only. Such a session says {"interpreted": True} in environment(), and
`harness run` / `harness bench` refuse it: an interpreter is never timed.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

from harness.backend import undeclared
from harness.spec import PARAM_NAMES, PARAM_SHAPES, Variant

from . import kernels
from .framework import sync
from .network import make_net

INTERPRET_ENV = "HARNESS_FUSED_INTERPRET"
# Tiles (constexpr block sizes of the kernel's phases) and warps of the one program.
# GPU: small tiles (<= 4096 elements, 8-16 per lane) over 8 warps; the interpreter runs one numpy
# operation per tile op, so there the largest tiles are the fastest.
GPU_BLOCKS = {"BU1": 64, "BU2": 32, "BR2": 64, "BR3": 64, "BD1": 32, "BW2": 128, "BW1": 64}
INTERPRETER_BLOCKS = {"BU1": 256, "BU2": 256, "BR2": 256, "BR3": 256, "BD1": 256, "BW2": 2048, "BW1": 512}
NUM_WARPS = 8
# num_stages=1: no loads software-pipelined ahead of the barriers that order the phases;
# FMA contraction pinned on (Triton 3.9's default, which 3.10 changes).
LAUNCH = {"num_stages": 1, "enable_fp_fusion": True}


def interpret_requested() -> bool:
    return os.environ.get(INTERPRET_ENV) == "1"


# The recipe knobs the kernel computes (TorchBackend.knobs): the 1989 variant's values only.
KNOBS = {"activation": ("tanh",), "output_activation": ("tanh",), "loss": ("mse",), "reduction": ("mean",),
         "optimizer": ("sgd",), "dropout": (0.0,)}


def unsupported(variant: str | Variant, dtype: str) -> str | None:
    """Why the fused kernel cannot train `variant` in `dtype`, or None. A variant's name is judged by
    its dtype only (its knobs, by KNOBS through TorchBackend.knobs); a Variant by its knobs too."""
    if not isinstance(variant, str) and (why := undeclared(variant, KNOBS, "the fused Triton kernel")):
        return why + "; it is written for the 1989 variant's tanh, mean squared error and SGD"
    if dtype not in ("float32", "float64"):
        return f"the fused Triton kernel runs float32 and float64, not {dtype}"
    return None


def devices(torch, all_devices: list[str]) -> list[str]:
    """Where `fused` runs: cuda devices (compiled kernel), or "cpu" alone under the interpreter opt-in."""
    if importlib.util.find_spec("triton") is None:
        return []
    if interpret_requested():
        return ["cpu"]
    return [d for d in all_devices if d.startswith("cuda")] if torch.cuda.is_available() else []


def kernel_module(interpret: bool):
    """The kernel module, with triton imported in the mode asked for (decided at triton's first import)."""
    if interpret and "triton" not in sys.modules:
        os.environ["TRITON_INTERPRET"] = "1"
    import triton

    from . import fused_kernel as K  # imports triton, in the mode just decided

    interpreted = not isinstance(K.fused_sgd, triton.runtime.JITFunction)
    if interpreted != interpret:
        raise RuntimeError(
            f"triton was first imported {'with' if interpreted else 'without'} TRITON_INTERPRET=1; "
            f"fused {'on cuda' if not interpret else 'through the interpreter'} needs a fresh process "
            f"({'unset' if interpreted else 'set'} {INTERPRET_ENV} before anything imports triton)")
    return K


def blocks_from_env(default: dict[str, int]) -> dict[str, int]:
    """HARNESS_FUSED_BLOCKS='BU1=128,BW2=256' overrides tiles (for tuning on a GPU)."""
    out = dict(default)
    for item in filter(None, os.environ.get("HARNESS_FUSED_BLOCKS", "").split(",")):
        name, _, value = item.partition("=")
        if name.strip() not in out:
            raise ValueError(f"HARNESS_FUSED_BLOCKS: unknown tile {name!r}; known: {', '.join(out)}")
        out[name.strip()] = int(value)
    return out


class FusedSession:
    def __init__(self, torch, variant: Variant, params, dtype: str, device):
        reason = unsupported(variant, dtype)
        if reason:
            raise ValueError(reason)
        self.torch, self.variant, self.device, self.dtype = torch, variant, device, dtype
        self.interpreted = device.type == "cpu"
        self.K = kernel_module(self.interpreted)
        self.blocks = blocks_from_env(INTERPRETER_BLOCKS if self.interpreted else GPU_BLOCKS)
        self.num_warps = int(os.environ.get("HARNESS_FUSED_WARPS", NUM_WARPS))
        tdtype = getattr(torch, dtype)
        flat = np.concatenate([np.asarray(params[n], dtype=dtype).reshape(-1) for n in PARAM_NAMES])
        self.P = torch.tensor(flat, dtype=tdtype, device=device)  # (9760,) updated in place by the kernel
        self.G = torch.zeros_like(self.P)  # gradients (loss_and_grads)
        self.S = torch.zeros(self.K.SCRATCH, dtype=tdtype, device=device)  # activations and deltas
        self.views = self._views()
        self.net = self._net(params)

    def _views(self) -> dict:
        out, off = {}, 0
        for name in PARAM_NAMES:
            size = int(np.prod(PARAM_SHAPES[name]))
            out[name] = self.P[off:off + size].view(PARAM_SHAPES[name])
            off += size
        return out

    def _net(self, params):
        """The eager module for evaluation, its parameters views of the kernel's buffer."""
        net = make_net(self.torch, self.variant)(params)
        for name, view in self.views.items():
            net._parameters[name] = self.torch.nn.Parameter(view, requires_grad=False)
        return net.eval()

    def _launch(self, steps, grads_only: bool):
        t, n = self.torch, len(steps)
        kw = {"device": self.device, "dtype": self.P.dtype}
        x = t.as_tensor(np.ascontiguousarray(steps.x).reshape(n, 256), **kw)
        tg = t.as_tensor(np.ascontiguousarray(steps.targets), **kw)
        lr = t.as_tensor(np.asarray(steps.lr), **kw)
        loss = t.empty(n, **kw)
        self.K.fused_sgd[(1,)](self.P, self.G, self.S, x, tg, lr, loss, n, GRADS_ONLY=grads_only,
                               LIBDEVICE=not self.interpreted, num_warps=self.num_warps, **LAUNCH, **self.blocks)
        return loss

    def train_steps(self, steps) -> np.ndarray:
        if steps.mask is not None:
            raise ValueError("the fused kernel has no dropout (1989 variant only)")
        if len(steps) == 0:
            return np.zeros(0)
        return self._launch(steps, grads_only=False).double().cpu().numpy()

    def loss_and_grads(self, steps):
        """The kernel's own backward pass (GRADS_ONLY: gradients written, parameters unchanged)."""
        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, not {len(steps)}")
        loss = float(self._launch(steps, grads_only=True).cpu()[0])
        g, off, grads = self.G.cpu().numpy(), 0, {}
        for name in PARAM_NAMES:
            size = int(np.prod(PARAM_SHAPES[name]))
            grads[name] = g[off:off + size].reshape(PARAM_SHAPES[name]).copy()
            off += size
        return loss, grads

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.net(self.torch.as_tensor(x, device=self.device, dtype=self.P.dtype)).cpu().numpy()

    def get_params(self):
        return {n: v.cpu().numpy().copy() for n, v in self.views.items()}

    def sync(self):
        sync(self.torch, self.device)

    def kernels_per_example(self, steps) -> dict:
        return kernels.count(self, steps, self.device)

    def environment(self) -> dict:
        return {"interpreted": self.interpreted, "fused": {
            "kernel": "triton", "programs": 1, "num_warps": self.num_warps, "blocks": dict(self.blocks), **LAUNCH,
            "tanh": "exp formula (interpreter)" if self.interpreted else "libdevice",
            "state": "flat parameters + 2000-element scratch in global memory (L1/L2-resident)"}}
