"""The PyTorch backend: a pluggy plugin registered through the `harness` entry-point group.

torch is imported lazily, inside methods, so a machine without torch lists
this backend as unavailable instead of failing to start the harness.

Strategies:
  eager      the idiomatic loop a PyTorch user writes: an nn.Module, autograd,
             torch.optim (SGD or AdamW), one example at a time.
  compiled   torch.func + torch.compile, 16 steps per compiled call (torch_fast.py).
  cudagraph  the same steps captured in a CUDA graph and replayed (CUDA only).
  fused      one Triton kernel launch per chunk of examples (CUDA; 1989 only; torch_fused.py).

Threads: $HARNESS_THREADS (set by `harness run --threads N`) sets torch's
intra-op thread count; otherwise torch's default stands.
"""
from __future__ import annotations

import os

import numpy as np

from harness.backend import BackendUnavailable, DeviceUnavailable, Steps
from harness.hookspecs import hookimpl
from harness.spec import PARAM_NAMES, Variant

if os.environ.get("HARNESS_FUSED_INTERPRET") == "1":  # test opt-in: fused through Triton's interpreter,
    os.environ.setdefault("TRITON_INTERPRET", "1")  # which Triton reads once, at its first import (torch_fused.py)

STRATEGIES = ("eager", "compiled", "cudagraph", "fused")  # compiled, cudagraph: torch_fast.py; fused: torch_fused.py


def _torch():
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising OSError
        raise BackendUnavailable(f"torch cannot be imported ({type(e).__name__}: {e}); "
                                 "install with: pip install 'lecun1989-harness[torch]'") from e
    return torch


def apply_threads(torch) -> None:
    n = os.environ.get("HARNESS_THREADS")
    if n and torch.get_num_threads() != int(n):
        torch.set_num_threads(int(n))


def pin_precision(torch) -> dict:
    """Full float32 precision: no TF32 in cuBLAS or cuDNN (torch's cuDNN default allows it)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return {
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "mkldnn.enabled": torch.backends.mkldnn.enabled,
    }


def resolve_device(torch, device: str, available: list[str]):
    if device not in available:
        raise DeviceUnavailable(
            f"torch cannot reach device {device!r} here; available: {', '.join(available)}")
    return torch.device(device)


def make_net(torch, variant: Variant):
    nn, F = torch.nn, torch.nn.functional
    act = torch.tanh if variant.hidden_activation == "tanh" else torch.relu
    out_act = torch.tanh if variant.output_activation == "tanh" else (lambda t: t)

    class Net(nn.Module):
        """LeCun et al. 1989, parameters in the canonical layout (see harness.spec)."""

        def __init__(self, params: dict[str, np.ndarray]):
            super().__init__()
            for name in PARAM_NAMES:
                setattr(self, name, nn.Parameter(torch.from_numpy(np.array(params[name]))))

        def forward(self, x, mask=None):
            # x: (B, 1, 16, 16)
            x = F.pad(x, (2, 2, 2, 2), "constant", -1.0)  # (B, 1, 20, 20)
            x = act(F.conv2d(x, self.H1w, stride=2) + self.H1b)  # (B, 12, 8, 8)
            x = F.pad(x, (2, 2, 2, 2), "constant", -1.0)  # (B, 12, 12, 12)
            # H2: three sliced convolutions, each 4 output planes over 8 input planes
            s1 = F.conv2d(x[:, 0:8], self.H2w[0:4], stride=2)  # (B, 4, 4, 4)
            s2 = F.conv2d(x[:, 4:12], self.H2w[4:8], stride=2)  # (B, 4, 4, 4)
            s3 = F.conv2d(torch.cat((x[:, 0:4], x[:, 8:12]), dim=1), self.H2w[8:12], stride=2)
            x = act(torch.cat((s1, s2, s3), dim=1) + self.H2b)  # (B, 12, 4, 4)
            if mask is not None:
                x = x * mask  # dropout mask drawn by the core, already scaled
            x = x.flatten(start_dim=1)  # (B, 192), (C, H, W) order
            x = act(x @ self.H3w + self.H3b)  # (B, 30)
            return out_act(x @ self.outw + self.outb)  # (B, 10)

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
    def __init__(self, torch, variant: Variant, params, dtype: str, device):
        self.torch, self.variant, self.device = torch, variant, device
        self.tdtype = getattr(torch, dtype)
        Net = make_net(torch, variant)
        self.net = Net(params).to(device=device, dtype=self.tdtype)
        self.loss = loss_fn(torch, variant)
        self.opt = make_optimizer(torch, variant, self.net.parameters())

    def _tensors(self, steps: Steps):
        t = self.torch
        kw = dict(device=self.device)
        x = t.as_tensor(steps.x, **kw, dtype=self.tdtype)
        tg = t.as_tensor(steps.targets, **kw, dtype=self.tdtype)
        lb = t.as_tensor(steps.labels, **kw)
        mask = None if steps.mask is None else t.as_tensor(steps.mask, **kw, dtype=self.tdtype)
        return x, tg, lb, mask

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
            self.opt.step()
            losses.append(loss.detach())
        return self.torch.stack(losses).double().cpu().numpy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with self.torch.no_grad():
            out = self.net(self.torch.as_tensor(x, device=self.device, dtype=self.tdtype))
        return out.cpu().numpy()

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

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            self.torch.mps.synchronize()


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
        if strategy == "cudagraph":  # CUDA graphs: CUDA devices only (none on a CPU-only machine)
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
        torch = _torch()
        apply_threads(torch)
        env = {
            "torch": torch.__version__,
            "torch_num_threads": torch.get_num_threads(),
            "torch_num_interop_threads": torch.get_num_interop_threads(),
            "precision": pin_precision(torch),
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
        if strategy == "eager":
            return EagerSession(torch, variant, params, dtype, dev)
        if strategy == "fused":  # Triton imported only when fused is asked for
            from . import torch_fused

            return torch_fused.FusedSession(torch, variant, params, dtype, dev)
        # torch_fast imports torch at its top: imported only when a fast strategy is asked for
        from . import torch_fast

        if strategy == "compiled":
            return torch_fast.CompiledSession(variant, params, dtype, dev)
        return torch_fast.CudaGraphSession(variant, params, dtype, dev)


@hookimpl
def harness_register_backends(register):
    register(TorchBackend())
