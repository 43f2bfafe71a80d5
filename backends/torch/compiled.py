"""`compiled`: torch.func + torch.compile, K training steps per compiled call.

The network as a pure function of its parameters (functional.py), convolutions written as
matmuls over gathered patches (im2col, index tables from harness.tables), gradients by
torch.func (PyTorch autograd, traced), the update written by hand, and K training steps
unrolled into one torch.compile(fullgraph=True, dynamic=False) call. A chunk of n examples
runs as n // K K-step calls and n % K one-step calls: two graphs (two functions, so neither
counts as a recompile of the other), each compiled once per dtype; every shape is static. On
CUDA the compiled K-step call is captured in a CUDA graph and replayed, as `cudagraph` does
(graphs.py, whose session this one extends). Why these choices (K, one thread, the C++
wrapper, gathers rather than F.unfold): docs/performance.md.

This module imports torch at the top: the backend's face imports it only when `compiled` is
asked for.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch

from harness.backend import Steps

from .functional import STEP_FUNCTIONS, compiled_steps, pack_feed
from .graphs import FunctionalSession, cuda_device

DEFAULT_UNROLL = 16  # K for `compiled`: training steps per compiled call
DEFAULT_THREADS = 1  # intra-op threads while `compiled` trains on CPU (None: torch's setting)
DEFAULT_CPP_WRAPPER = True  # inductor's C++ wrapper on CPU: less Python per call, longer compile


class CompiledSession(FunctionalSession):
    """`compiled`: K unrolled steps per torch.compile call; the remainder one step per call.

    On CPU, while training it sets torch's intra-op threads to `threads` (1: at this size two
    threads are slower, docs/performance.md) and restores the previous count after each
    train_steps call, so evaluation and other sessions see the process's setting.
    On CUDA (`cuda_graphs`, default on there) each compiled K-step and one-step call is captured
    once in a CUDA graph and replayed, so inductor's fusion and graph replay add up.
    compile=False runs the same functions eagerly (checks, debugging); emulate=True replaces
    capture by eager execution of the recorded function (CPU tests of the graph path).
    """

    def __init__(self, variant, params, dtype, device, *, unroll: int = DEFAULT_UNROLL,
                 patches: str = "index", threads: int | None = DEFAULT_THREADS,
                 cpp_wrapper: bool = DEFAULT_CPP_WRAPPER, compile: bool = True,
                 cuda_graphs: bool | None = None, emulate: bool = False):
        device = cuda_device(device)
        super().__init__(variant, params, dtype, device, unroll=unroll, patches=patches)
        on_cpu = self.device.type == "cpu"
        self.threads = threads if on_cpu else None
        self.cpp_wrapper = bool(cpp_wrapper) and on_cpu
        self.cuda_graphs = (self.device.type == "cuda") if cuda_graphs is None else bool(cuda_graphs)
        if self.cuda_graphs and self.device.type != "cuda" and not emulate:
            raise ValueError(f"CUDA graphs need a CUDA device, not {self.device}")
        self.emulate = emulate
        if compile:
            self.block = compiled_steps(self.kind, "block", self.cpp_wrapper)
            self.one = compiled_steps(self.kind, "one", self.cpp_wrapper)
        else:  # the same functions run eagerly: quick checks of the arithmetic, debugging
            self.block, self.one = STEP_FUNCTIONS[self.kind, "block"], STEP_FUNCTIONS[self.kind, "one"]
        self.settings.update({"train_num_threads": self.threads, "cpp_wrapper": self.cpp_wrapper,
                              "compile": compile, "cuda_graphs": self.cuda_graphs})

    def _step_function(self, k: int):
        return self.block if k == self.unroll else self.one

    @contextlib.contextmanager
    def _cpu_threads(self):
        prev = torch.get_num_threads()
        set_threads = self.threads is not None and self.threads != prev
        if set_threads:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            if set_threads:
                torch.set_num_threads(prev)

    def train_steps(self, steps: Steps) -> np.ndarray:
        if self.cuda_graphs:
            try:  # capture before any replay: a failure here leaves parameters and step count untouched
                with self._on_device():
                    self._graphs_for(len(steps))
            except RuntimeError as e:
                self.cuda_graphs = False
                reason = f"capture failed, trained without CUDA graphs: {type(e).__name__}: {e}"[:400]
                self.settings.update(cuda_graphs=False, cuda_graphs_error=reason)
                warnings.warn(f"torch compiled: {reason}", RuntimeWarning, stacklevel=2)
        if self.cuda_graphs:
            return self._graph_train_steps(steps)
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        feed = torch.from_numpy(pack_feed(self.variant, steps, self.n_steps, self.np_dtype)).to(self.device)
        K = self.unroll
        P, S, losses = self.P, self.S, []
        with self._cpu_threads():
            i = 0
            while i < n:
                k = K if n - i >= K else 1
                P, S, loss = (self.block if k == K else self.one)(P, S, feed[i:i + k], self.T, self.cfg)
                losses.append(loss)
                i += k
        self.P, self.S = P, S
        self.n_steps += n
        return torch.cat(losses).to(torch.float64).cpu().numpy()
