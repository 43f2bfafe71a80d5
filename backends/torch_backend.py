"""The PyTorch backend: a pluggy plugin registered through the `harness` entry-point group.

torch is imported lazily, inside methods, so a machine without torch lists
this backend as unavailable instead of failing to start the harness.

Strategies:
  eager      the idiomatic loop a PyTorch user writes: an nn.Module, autograd,
             torch.optim (SGD or AdamW), one example at a time.
  compiled   torch.func + torch.compile, 16 steps per compiled call (torch_fast.py);
             on CUDA each compiled call is replayed through a CUDA graph.
  cudagraph  the same steps, uncompiled, captured in a CUDA graph and replayed (CUDA only).
  fused      one Triton kernel launch per chunk of examples (CUDA; 1989 only; torch_fused.py).

The padding value and H2's connection table are read from harness.spec (and its
index tables from harness.tables) when a session is built.

Threads: $HARNESS_THREADS (set by `harness run --threads N`) sets torch's
intra-op thread count; otherwise torch's default stands.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from harness import spec, tables
from harness.backend import BackendUnavailable, DeviceUnavailable, Steps
from harness.hookspecs import hookimpl
from harness.spec import PARAM_NAMES, Variant

if os.environ.get("HARNESS_FUSED_INTERPRET") == "1":  # test opt-in: fused through Triton's interpreter,
    os.environ.setdefault("TRITON_INTERPRET", "1")  # which Triton reads once, at its first import (torch_fused.py)

# strategy -> "module:SessionClass" (a module of this package, imported only when the strategy is
# asked for); the first is the default. Adding a strategy: one line here and a session class
# taking (variant, params, dtype, device).
SESSIONS = {
    "eager": "torch_backend:EagerSession",
    "compiled": "torch_fast:CompiledSession",
    "cudagraph": "torch_fast:CudaGraphSession",
    "fused": "torch_backend:fused_session",
}
STRATEGIES = tuple(SESSIONS)
CUDA_ONLY = ("cudagraph",)  # strategies no other device reaches


def _torch():
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising OSError
        raise BackendUnavailable(f"torch cannot be imported ({type(e).__name__}: {e}); "
                                 "install with: pip install 'lecun1989-harness[torch]'") from e
    return torch


def requested_threads() -> int | None:
    n = os.environ.get("HARNESS_THREADS")
    return int(n) if n else None


def apply_threads(torch) -> None:
    n = requested_threads()
    if n and torch.get_num_threads() != n:
        torch.set_num_threads(n)


# What session() pins before building a model: full float32 precision, no TF32 in cuBLAS or
# cuDNN (torch's cuDNN default allows it).
PINNED_PRECISION = {"cuda.matmul.allow_tf32": False, "cudnn.allow_tf32": False,
                    "float32_matmul_precision": "highest"}


def precision_settings(torch) -> dict:
    """torch's precision flags as they stand (reads only)."""
    return {
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "mkldnn.enabled": torch.backends.mkldnn.enabled,
    }


def pin_precision(torch) -> dict:
    """Set PINNED_PRECISION (process-wide torch flags); the flags as they then stand."""
    torch.backends.cuda.matmul.allow_tf32 = PINNED_PRECISION["cuda.matmul.allow_tf32"]
    torch.backends.cudnn.allow_tf32 = PINNED_PRECISION["cudnn.allow_tf32"]
    torch.set_float32_matmul_precision(PINNED_PRECISION["float32_matmul_precision"])
    return precision_settings(torch)


def fused_session(variant: Variant, params, dtype: str, device):
    """`fused` (torch_fused.py, which imports Triton: imported only when fused is asked for)."""
    from . import torch_fused

    return torch_fused.FusedSession(_torch(), variant, params, dtype, device)


def session_environment(torch, eval_impl: str) -> dict:
    """What every torch session records: the settings it trains under, and its evaluation code path."""
    return {"torch_num_threads": torch.get_num_threads(), "precision": precision_settings(torch),
            "eval_impl": eval_impl}


def resolve_device(torch, device: str, available: list[str]):
    if device not in available:
        raise DeviceUnavailable(
            f"torch cannot reach device {device!r} here; available: {', '.join(available)}")
    return torch.device(device)


def make_net(torch, variant: Variant):
    """The nn.Module class for `variant`; padding value and H2's connections read from harness.spec
    when the class is made (so a session follows the spec it was built under)."""
    nn, F = torch.nn, torch.nn.functional
    act = torch.tanh if variant.hidden_activation == "tanh" else torch.relu
    out_act = torch.tanh if variant.output_activation == "tanh" else (lambda t: t)
    pad, pad_value = (spec.PAD,) * 4, float(spec.PAD_VALUE)
    groups = tables.h2_groups()  # (output planes, the H1 planes they see), in output order

    class Net(nn.Module):
        """LeCun et al. 1989, parameters in the canonical layout (see harness.spec)."""

        def __init__(self, params: dict[str, np.ndarray]):
            super().__init__()
            for name in PARAM_NAMES:
                setattr(self, name, nn.Parameter(torch.from_numpy(np.array(params[name]))))
            for g, (outs, ins) in enumerate(groups):
                self.register_buffer(f"h2_in{g}", torch.tensor(ins), persistent=False)
            self.h2_out = [slice(outs[0], outs[-1] + 1) for outs, _ in groups]

        def layers(self, x, mask=None) -> dict:
            """Each layer's output after its nonlinearity (the output layer: the output)."""
            x = F.pad(x, pad, "constant", pad_value)  # (B, 1, 20, 20)
            h1 = act(F.conv2d(x, self.H1w, stride=2) + self.H1b)  # (B, 12, 8, 8)
            x = F.pad(h1, pad, "constant", pad_value)  # (B, 12, 12, 12)
            # H2: one convolution per group of output planes over the 8 input planes they share
            sums = [F.conv2d(x[:, getattr(self, f"h2_in{g}")], self.H2w[o], stride=2)  # (B, |group|, 4, 4)
                    for g, o in enumerate(self.h2_out)]
            h2 = act(torch.cat(sums, dim=1) + self.H2b)  # (B, 12, 4, 4)
            x = h2 if mask is None else h2 * mask  # dropout mask drawn by the core, already scaled
            h3 = act(x.flatten(start_dim=1) @ self.H3w + self.H3b)  # (B, 30), (C, H, W) order
            return {"H1": h1, "H2": h2, "H3": h3, "out": out_act(h3 @ self.outw + self.outb)}  # out (B, 10)

        def forward(self, x, mask=None):
            return self.layers(x, mask)["out"]  # (B, 10)

    return Net


def loss_fn(torch, variant: Variant):
    F = torch.nn.functional
    if variant.loss == "mse":
        return lambda out, target, label: torch.mean((target - out) ** 2)
    return lambda out, target, label: F.cross_entropy(out, label)


def make_optimizer(torch, variant: Variant, params):
    opt = variant.optimizer
    if opt.kind == "sgd":
        return torch.optim.SGD(params, lr=opt.lr)
    return torch.optim.AdamW(params, lr=opt.lr_start, betas=(opt.beta1, opt.beta2),
                             eps=opt.eps, weight_decay=opt.weight_decay)


class EagerSession:
    """`eager`: the idiomatic loop (nn.Module, autograd, torch.optim), one example at a time."""

    def __init__(self, variant: Variant, params, dtype: str, device):
        torch = _torch()
        self.torch, self.variant, self.device = torch, variant, torch.device(device)
        self.tdtype = getattr(torch, dtype)
        Net = make_net(torch, variant)
        self.net = Net(params).to(device=device, dtype=self.tdtype)
        self.loss = loss_fn(torch, variant)
        self.opt = make_optimizer(torch, variant, self.net.parameters())

    def _tensors(self, steps: Steps):
        t = self.torch
        kw = {"device": self.device}
        x = t.as_tensor(steps.x, **kw, dtype=self.tdtype)
        tg = t.as_tensor(steps.targets, **kw, dtype=self.tdtype)
        lb = t.as_tensor(steps.labels, **kw)
        mask = None if steps.mask is None else t.as_tensor(steps.mask, **kw, dtype=self.tdtype)
        return x, tg, lb, mask

    def _adjust_grads(self) -> None:
        """Between backward and the optimiser step: nothing here (SDLM scales each gradient)."""

    def train_steps(self, steps: Steps) -> np.ndarray:
        x, tg, lb, mask = self._tensors(steps)
        group = self.opt.param_groups[0]
        self.net.train()
        losses = []
        for i in range(len(steps)):
            group["lr"] = float(steps.lr[i])
            out = self.net(x[i:i + 1], None if mask is None else mask[i:i + 1])
            loss = self.loss(out, tg[i:i + 1], lb[i:i + 1])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self._adjust_grads()
            self.opt.step()
            losses.append(loss.detach())
        return self.torch.stack(losses).double().cpu().numpy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with self.torch.no_grad():
            out = self.net(self.torch.as_tensor(x, device=self.device, dtype=self.tdtype))
        return out.cpu().numpy()

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.net.eval()
        with self.torch.no_grad():
            layers = self.net.layers(self.torch.as_tensor(x, device=self.device, dtype=self.tdtype))
        return {k: v.cpu().numpy() for k, v in layers.items()}

    def loss_and_grads(self, steps: Steps):
        x, tg, lb, mask = self._tensors(steps)
        self.net.zero_grad(set_to_none=True)
        loss = self.loss(self.net(x, mask), tg, lb)
        loss.backward()
        grads = {n: p.grad.detach().cpu().numpy().copy() for n, p in self.net.named_parameters()}
        self.net.zero_grad(set_to_none=True)
        return float(loss.detach().cpu()), grads

    def get_params(self):
        return {n: p.detach().cpu().numpy().copy() for n, p in self.net.named_parameters()}

    def environment(self) -> dict:
        return session_environment(self.torch, "torch conv2d NCHW/OIHW, H2 as one conv2d per group of "
                                   "output planes over the input planes they share (harness.tables.h2_groups)")

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            self.torch.mps.synchronize()

    def kernels_per_example(self, steps: Steps) -> dict:
        from . import torch_kernels
        return torch_kernels.count(self, steps, self.device)


class TorchBackend:
    name = "torch"
    strategies = STRATEGIES
    description = "PyTorch (nn.Module + autograd + torch.optim)"

    def check(self) -> None:
        _torch()

    def devices(self) -> list[str]:
        torch = _torch()
        devs = ["cpu"]
        if torch.cuda.is_available():
            devs.append("cuda")
            devs += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devs.append("mps")
        return devs

    def strategy_devices(self, strategy: str) -> list[str]:
        devs = self.devices()
        if strategy in CUDA_ONLY:  # none on a CPU-only machine
            return [d for d in devs if d.startswith("cuda")]
        if strategy == "fused":
            from . import torch_fused

            return torch_fused.devices(_torch(), devs)
        return devs

    def supports(self, strategy: str, variant: str, dtype: str) -> str | None:
        # SDLM: eager only (torch_sdlm.py)
        from harness.sdlm import unsupported as sdlm_unsupported

        if (why := sdlm_unsupported(variant, strategy, self.name, ("eager",))) is not None:
            return why
        if strategy == "fused":
            from . import torch_fused

            return torch_fused.unsupported(variant, dtype)
        return None

    def environment(self, device: str) -> dict:
        """Versions and settings; reads only. The thread count and precision are those session()
        sets (HARNESS_THREADS; PINNED_PRECISION), which each session's environment() confirms."""
        torch = _torch()
        env = {
            "torch": torch.__version__,
            "torch_num_threads": requested_threads() or torch.get_num_threads(),
            "torch_num_interop_threads": torch.get_num_interop_threads(),
            "precision": {**precision_settings(torch), **PINNED_PRECISION},
        }
        dev = torch.device(device)
        if dev.type == "cuda":
            env["device_name"] = torch.cuda.get_device_name(dev)
            env["cuda"] = torch.version.cuda
            env["cudnn"] = torch.backends.cudnn.version()
        else:
            env["device_name"] = dev.type
        return env

    def session(self, *, variant, params, dtype, device, strategy):
        """A session; first pins precision (PINNED_PRECISION) and applies HARNESS_THREADS,
        process-wide, so nothing depends on environment() having been called before."""
        torch = _torch()
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown torch strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        from harness.sdlm import unsupported as sdlm_unsupported

        if (reason := sdlm_unsupported(variant, strategy, self.name, ("eager",))) is not None:
            raise ValueError(reason)
        dev = resolve_device(torch, device, self.strategy_devices(strategy))
        pin_precision(torch)
        apply_threads(torch)
        if strategy == "eager" and variant.optimizer.kind == "sdlm":
            from .torch_sdlm import SdlmEagerSession  # the second-derivative pass

            return SdlmEagerSession(torch, variant, params, dtype, dev)
        module, cls = SESSIONS[strategy].split(":")
        # the fast strategies' modules import torch (and Triton) at their top: imported only when asked for
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(variant, params, dtype, dev)


@hookimpl
def harness_register_backends(register):
    register(TorchBackend())
