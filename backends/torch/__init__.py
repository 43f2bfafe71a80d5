"""The PyTorch backend: a pluggy plugin registered through the `harness` entry-point group.

This face holds the Backend class and its registration only; the leaves below it do the work
and never import it (import-linter holds this: .importlinter):

  framework.py     torch imported on first use, the devices it reaches, sync
  settings.py      the precision and thread settings a session pins
  network.py       the nn.Module, loss and torch.optim optimiser
  eager.py         `eager`: the idiomatic loop (nn.Module, autograd, torch.optim), one example at a time
  functional.py    the training step as pure torch functions (torch.func), K steps unrolled
  graphs.py        `cudagraph`: K steps captured once in a CUDA graph and replayed (CUDA only);
                   the functional session `compiled` shares
  compiled.py      `compiled`: torch.compile of K steps per call (a CUDA graph around it on CUDA)
  fused.py         `fused`: one Triton kernel launch per chunk of examples (CUDA; 1989 only)
  fused_kernel.py  the Triton kernel itself
  sdlm.py          the SDLM variant's second-derivative pass and its eager session
  kernels.py       kernels per example, read from torch.profiler

Importing this package imports no torch: a machine without torch lists the backend as
unavailable instead of failing to start the harness. Each strategy is a factory that imports its
module when a session is asked for (the fast strategies' modules import torch, and Triton, at
their top).
"""
from __future__ import annotations

import os

from harness.hookspecs import hookimpl
from harness.knobs import ANY
from harness.sdlm import unsupported as sdlm_unsupported
from harness.spec import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, REDUCTIONS

from . import fused
from .framework import all_devices, import_torch, resolve_device
from .settings import (
    PINNED_PRECISION,
    apply_threads,
    pin_precision,
    precision_settings,
    requested_threads,
)

if fused.interpret_requested():  # test opt-in: fused through Triton's interpreter, which Triton
    os.environ.setdefault("TRITON_INTERPRET", "1")  # reads once, at its first import


def _eager(variant, params, dtype, device):
    from .eager import EagerSession

    return EagerSession(variant, params, dtype, device)


def _compiled(variant, params, dtype, device):
    from .compiled import CompiledSession

    return CompiledSession(variant, params, dtype, device)


def _cudagraph(variant, params, dtype, device):
    from .graphs import CudaGraphSession

    return CudaGraphSession(variant, params, dtype, device)


def _fused(variant, params, dtype, device):
    from .fused import FusedSession

    return FusedSession(import_torch(), variant, params, dtype, device)


def _sdlm_eager(variant, params, dtype, device):
    from .sdlm import SdlmEagerSession  # the second-derivative pass

    return SdlmEagerSession(variant, params, dtype, device)


# strategy -> factory (variant, params, dtype, device: a torch.device) -> Session, importing its
# module when called; the first is the default. Adding a strategy: one line here and a leaf module.
SESSIONS = {"eager": _eager, "compiled": _compiled, "cudagraph": _cudagraph, "fused": _fused}
STRATEGIES = tuple(SESSIONS)
SDLM_SESSIONS = {"eager": _sdlm_eager}  # the strategies that train the SDLM variant
CUDA_ONLY = ("cudagraph",)  # strategies no other device reaches
# The recipe knobs each strategy computes (harness.backend.Backend.knobs): eager every value
# (SDLM's second-derivative pass included), compiled and cudagraph (one functional step, two
# launchers) all but SDLM; fused only the 1989 variant's values.
_FUNCTIONAL_KNOBS = {"activation": HIDDEN_ACTIVATIONS, "output_activation": OUTPUT_ACTIVATIONS,
                     "loss": ("mse", "xent"), "reduction": REDUCTIONS, "optimizer": ("sgd", "adamw"),
                     "adamw_beta1": ANY, "adamw_beta2": ANY, "adamw_eps": ANY, "adamw_weight_decay": ANY,
                     "dropout": ANY}
KNOBS = {"eager": {**_FUNCTIONAL_KNOBS, "optimizer": ("sgd", "adamw", "sdlm")},
         "compiled": _FUNCTIONAL_KNOBS, "cudagraph": _FUNCTIONAL_KNOBS, "fused": fused.KNOBS}


class TorchBackend:
    name = "torch"
    strategies = STRATEGIES
    description = "PyTorch (nn.Module + autograd + torch.optim)"

    def check(self) -> None:
        import_torch()

    def devices(self) -> list[str]:
        return all_devices(import_torch())

    def strategy_devices(self, strategy: str) -> list[str]:
        devs = self.devices()
        if strategy in CUDA_ONLY:  # none on a CPU-only machine
            return [d for d in devs if d.startswith("cuda")]
        if strategy == "fused":
            return fused.devices(import_torch(), devs)
        return devs

    def supports(self, strategy: str, variant: str, dtype: str) -> str | None:
        # SDLM, activations, losses...: the recipe's knobs, declared by knobs()
        return fused.unsupported(variant, dtype) if strategy == "fused" else None

    def knobs(self, strategy: str) -> dict:
        return KNOBS.get(strategy, {})

    def environment(self, device: str) -> dict:
        """Versions and settings; reads only. The thread count and precision are those session()
        sets (HARNESS_THREADS; PINNED_PRECISION), which each session's environment() confirms."""
        torch = import_torch()
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
        torch = import_torch()
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown torch strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        if (reason := sdlm_unsupported(variant, strategy, self.name, tuple(SDLM_SESSIONS))) is not None:
            raise ValueError(reason)  # a Variant object here: its optimiser, whatever its name
        dev = resolve_device(torch, device, self.strategy_devices(strategy))
        pin_precision(torch)
        apply_threads(torch)
        factories = SDLM_SESSIONS if variant.optimizer.kind == "sdlm" else SESSIONS
        return factories[strategy](variant, params, dtype, dev)


@hookimpl
def harness_register_backends(register):
    register(TorchBackend())
