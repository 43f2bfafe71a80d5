"""`cudagraph`, and what it shares with `compiled`: a functional session (parameters as plain
tensors, evaluation, gradients) that trains through CUDA graphs over static buffers.

Both torch fast strategies keep the arithmetic of `eager` (backends/torch/eager.py): batch size
1, examples in order, one update per example, SGD or AdamW exactly as torch.optim computes them
(single-tensor path, same order of operations), the per-step learning rate and dropout mask
handed over by the core. Only the way the work reaches the hardware changes.

  cudagraph  (CUDA only) the K-step function of functional.py, uncompiled, captured once
             in a torch.cuda.CUDAGraph over static buffers (parameters,
             optimiser state, one packed block of K examples, losses) and
             replayed per K examples; the remainder replays a one-step graph.

Inputs of each step are packed into one row per example (functional.FeedLayout):
the image, the ±1 targets, the label, the optimiser's per-step scalars and the
dropout mask. The per-step scalars are computed on the host in Python floats
as torch.optim computes them (lr; for AdamW also 1 - lr*wd, lr / (1 - b1**t),
(1 - b2**t)**0.5), so float64 runs agree with `eager` to rounding (~1e-15 over
a 512-step pass, both variants).

This module imports torch at the top: the backend's face imports it only when `compiled` or
`cudagraph` is asked for.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from harness.backend import Steps
from harness.spec import PARAM_NAMES, Variant

from . import kernels
from .framework import sync
from .functional import (
    EVAL_IMPL,
    STEP_FUNCTIONS,
    compiled_eval,
    eval_forward,
    eval_layers,
    make_tables,
    pack_feed,
    step_config,
    step_loss,
)
from .settings import session_environment

DEFAULT_GRAPH_UNROLL = 16  # K for `cudagraph`: training steps per graph replay


class _EagerReplay:
    """What a captured graph does, run eagerly: lets CPU tests check the buffer logic of CUDA graphs."""

    def __init__(self, record):
        self.record = record

    def replay(self):
        self.record()


class FunctionalSession:
    """What `compiled` and `cudagraph` share: parameters as plain tensors, evaluation, gradients,
    and training through CUDA graphs over static buffers (`_graph_train_steps`)."""

    def __init__(self, variant: Variant, params, dtype: str, device, *, unroll: int, patches: str):
        if variant.batch_size != 1:
            raise ValueError("per-example strategies need batch_size 1")
        self.variant, self.device = variant, torch.device(device)
        self.tdtype = getattr(torch, dtype)
        self.np_dtype = np.dtype(dtype)
        self.unroll = int(unroll)
        if self.unroll < 1:
            raise ValueError("unroll must be >= 1")
        self.P = tuple(torch.tensor(np.array(params[n]), dtype=self.tdtype, device=self.device)
                       for n in PARAM_NAMES)
        self.kind = variant.optimizer.kind
        if self.kind not in ("sgd", "adamw"):
            raise ValueError(f"unknown optimiser {self.kind!r}")
        # AdamW: exp_avg x8, then exp_avg_sq x8, sixteen distinct tensors (graphs update them in place)
        self.S: tuple = tuple(torch.zeros_like(p) for p in self.P + self.P) if self.kind == "adamw" else ()
        self.n_steps = 0  # optimiser steps taken (AdamW's bias corrections)
        self.cfg = step_config(variant, patches)
        self.T = make_tables(self.device, patches)
        self.graphs: dict[int, tuple] = {}  # K -> (graph, feed buffer, loss buffer)
        self.emulate = False  # True: graphs replaced by eager execution (CPU tests of the buffer logic)
        self.settings: dict = {"unroll": self.unroll, "patches": patches}

    # -- evaluation and parity: convolutions; compiled once per split shape on CUDA
    def _eval(self, which: str):
        return compiled_eval(which) if self.device.type == "cuda" else \
            {"layers": eval_layers, "forward": eval_forward}[which]

    def forward(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=self.tdtype, device=self.device)
            out = self._eval("forward")(self.P, xt, self.T.h2_dense, self.cfg)
        return out.cpu().numpy()

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=self.tdtype, device=self.device)
            layers = self._eval("layers")(self.P, xt, self.T.h2_dense, self.cfg)
        return {k: v.cpu().numpy() for k, v in layers.items()}

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError("loss_and_grads takes a single example")
        row = torch.as_tensor(pack_feed(self.variant, steps, self.n_steps, self.np_dtype)[0], device=self.device)
        G, loss = torch.func.grad_and_value(step_loss)(self.P, row, self.T, self.cfg)
        return float(loss), {n: g.detach().cpu().numpy().copy() for n, g in zip(PARAM_NAMES, G)}

    def get_params(self):
        return {n: p.detach().cpu().numpy().copy() for n, p in zip(PARAM_NAMES, self.P)}

    def environment(self) -> dict:
        """This session's settings, to record with a result."""
        return {**session_environment(torch, EVAL_IMPL), "strategy_settings": dict(self.settings),
                "dtype": str(self.tdtype).replace("torch.", ""), "device": str(self.device),
                "eval_compiled": self.device.type == "cuda"}

    def sync(self):
        sync(torch, self.device)

    def kernels_per_example(self, steps: Steps) -> dict:
        return kernels.count(self, steps, self.device)

    # -- training through CUDA graphs
    def _step_function(self, k: int):
        """The k-step function a graph captures (K-step or one-step)."""
        raise NotImplementedError

    def _warm_feed(self, k: int):
        """A harmless block for warm-up and capture: zero images, label 0, finite scalars."""
        f = self.cfg.feed
        feed = torch.zeros((k, f.width), dtype=self.tdtype, device=self.device)
        feed[:, f.cols("hyper")] = 1.0  # SGD: lr; AdamW: lr, decay, step size, sqrt(bias correction 2)
        feed[:, f.cols("mask")] = 1.0
        return feed

    def _graph(self, k: int):
        if k in self.graphs:
            return self.graphs[k]
        feed = self._warm_feed(k)
        losses = torch.zeros(k, dtype=self.tdtype, device=self.device)
        fn = self._step_function(k)

        def record():  # k steps, then the new parameters and state into the static buffers
            P, S, out = fn(self.P, self.S, feed, self.T, self.cfg)
            for dst, src in zip(self.P + self.S, P + S):
                dst.copy_(src)
            losses.copy_(out)

        if self.emulate:
            self.graphs[k] = (_EagerReplay(record), feed, losses)
            return self.graphs[k]
        with torch.cuda.device(self.device):
            # Warm up on a side stream (compilation, cuBLAS handles, autograd's stream bookkeeping,
            # the allocator), discarding the results: the parameters must not move.
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    fn(self.P, self.S, feed, self.T, self.cfg)
            torch.cuda.current_stream(self.device).wait_stream(side)
            torch.cuda.synchronize(self.device)
            graph = torch.cuda.CUDAGraph()
            # Capture records kernels without running them: the parameters stay as they are. Each
            # graph has its own memory pool; nothing in a pool outlives a replay (the new parameters,
            # state and losses are copied into buffers allocated outside the capture).
            with torch.cuda.graph(graph):
                record()
            torch.cuda.synchronize(self.device)
        self.graphs[k] = (graph, feed, losses)
        return self.graphs[k]

    def _on_device(self):
        return torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext()

    def _graphs_for(self, n: int) -> tuple:
        """The K-step graph (if n >= K) and the one-step graph (if n % K), captured on first use."""
        K = self.unroll
        return (self._graph(K) if n >= K else None), (self._graph(1) if n % K else None)

    def _graph_train_steps(self, steps: Steps) -> np.ndarray:
        """The chunk to the device in one copy; per block a device copy and a replay; losses back once."""
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        K = self.unroll
        host = torch.from_numpy(pack_feed(self.variant, steps, self.n_steps, self.np_dtype))
        with self._on_device():
            big, small = self._graphs_for(n)
            if self.device.type == "cuda":
                chunk = host.pin_memory().to(self.device, non_blocking=True)
            else:
                chunk = host.to(self.device)
            out = torch.empty(n, dtype=self.tdtype, device=self.device)
            i = 0
            while i < n:
                graph, feed, losses = big if n - i >= K else small
                k = feed.shape[0]
                feed.copy_(chunk[i:i + k])
                graph.replay()
                out[i:i + k].copy_(losses)
                i += k
            self.n_steps += n
            return out.to(torch.float64).cpu().numpy()  # the one synchronisation of the chunk


def cuda_device(device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


class CudaGraphSession(FunctionalSession):
    """`cudagraph`: K functional steps, uncompiled, captured once in a CUDA graph, replayed per K examples.

    Static buffers: the parameters and the optimiser state (updated in place by
    the graph), one packed block of K examples (`feed`, written by a
    device-to-device copy before each replay) and the K losses. The learning
    rate and the other per-step scalars travel in the feed, as device values, so
    nothing in a pass waits on the host. A chunk's remainder (n % K) replays a
    one-step graph that shares the parameter and state buffers.

    Patches come from F.pad + F.unfold (patches="unfold"): their backward is
    col2im, a gather-style kernel, deterministic and capturable, where the
    backward of an index gather is index_put with accumulation, which sorts its
    indices on CUDA and has been reported to break capture (pytorch#105439).
    The groups' planes are picked with index_select, whose backward adds
    each plane's contributions into a zeroed plane (the same sum in either
    order, even with atomics, for the two contributions of the paper's table).
    `emulate=True` replaces capture by eager execution of the same recorded
    function (CPU tests of the buffer logic).
    """

    def __init__(self, variant, params, dtype, device, *, unroll: int = DEFAULT_GRAPH_UNROLL,
                 patches: str = "unfold", emulate: bool = False):
        device = cuda_device(device)
        if device.type != "cuda" and not emulate:
            raise ValueError(f"cudagraph runs on CUDA devices only, not {device}")
        super().__init__(variant, params, dtype, device, unroll=unroll, patches=patches)
        self.emulate = emulate

    def _step_function(self, k: int):
        return STEP_FUNCTIONS[self.kind, "block" if k == self.unroll else "one"]

    def train_steps(self, steps: Steps) -> np.ndarray:
        return self._graph_train_steps(steps)
