"""Fast per-example torch strategies: `compiled` and `cudagraph`.

Both keep the arithmetic of `eager` (torch_backend.EagerSession): batch size 1,
examples in order, one update per example, SGD or AdamW exactly as
torch.optim computes them (single-tensor path, same order of operations), the
per-step learning rate and dropout mask handed over by the core. Only the way
the work reaches the hardware changes:

  compiled   the network as a pure function of its parameters, convolutions
             written as matmuls over gathered patches (im2col with index
             tensors built once), gradients by torch.func (PyTorch autograd,
             traced), the update written by hand, and K training steps
             unrolled into one torch.compile(fullgraph=True, dynamic=False)
             call. A chunk of n examples runs as n // K K-step calls and
             n % K one-step calls: two graphs (two functions, so neither
             counts as a recompile of the other), each compiled once per
             dtype; every shape is static.
  cudagraph  (CUDA only) the same K-step function, uncompiled, captured once
             in a torch.cuda.CUDAGraph over static buffers (parameters,
             optimiser state, one packed block of K examples, losses) and
             replayed per K examples; the remainder replays a one-step graph.

Inputs of each step are packed into one row per example (see `feed_layout`):
the image, the ±1 targets, the label, the optimiser's per-step scalars and the
dropout mask. The per-step scalars are computed on the host in Python floats
as torch.optim computes them (lr; for AdamW also 1 - lr*wd, lr / (1 - b1**t),
(1 - b2**t)**0.5), so float64 runs agree with `eager` to rounding (~1e-15 over
a 512-step pass, both variants).

Measured (2-core Xeon with AVX-512, shared and noisy; USPS, 1989, float32,
medians of interleaved 256-example windows, us/example; eager ~940 with 1
thread and oneDNN off, ~1,800-2,600 as `eager` runs by default):
  K = 4 / 8 / 16 / 32 steps per call      ~105 / ~90 / ~72 / ~69
  C++ wrapper off (K=8)                   ~126 (vs ~83 with it, same run)
  2 intra-op threads (K=8)                ~250: OpenMP hand-offs cost more than
                                          these tiny matmuls gain; 1 thread is set
                                          while training and restored after
  H2 as one masked dense 12x12 matmul     same as the three groups (~91 vs ~90)
  oneDNN (mkldnn) off                     no change (inductor calls mm directly)
  patches by F.unfold instead of gathers  ~1.5x slower
  matmuls as products + sums (generated)  ~2x slower than extern mm calls
  inductor's C++ GEMM template (autotune) slightly slower
  one flat parameter vector               ~1.5x slower (slicing backward)
Compile, cold cache: K=16 ~90 s, K=8 ~65 s (+ ~6 s for the one-step graph);
inductor's on-disk cache makes later processes start in seconds.

This module imports torch at the top: torch_backend imports it lazily, only
when one of these strategies is asked for.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from harness.backend import Steps
from harness.spec import H2_INPUTS, PARAM_NAMES, Variant

DEFAULT_UNROLL = 16  # K for `compiled`: training steps per compiled call
DEFAULT_GRAPH_UNROLL = 16  # K for `cudagraph`: training steps per graph replay
DEFAULT_THREADS = 1  # intra-op threads while `compiled` trains on CPU (None: torch's setting)
DEFAULT_CPP_WRAPPER = True  # inductor's C++ wrapper: less Python per call, longer compile
DEFAULT_H2 = "grouped"  # "grouped": a batched matmul over the 3 groups; "dense": masked 12x12 kernel

N_PIX = 256


# --------------------------------------------------------------------------- layout


def _h1_index() -> np.ndarray:
    """(25, 64) indices into x's 256 pixels + one -1 (index 256): H1's padded 5x5 stride-2 patches."""
    idx = np.empty((25, 64), dtype=np.int64)
    for ky in range(5):
        for kx in range(5):
            for oy in range(8):
                for ox in range(8):
                    y, x = 2 * oy + ky - 2, 2 * ox + kx - 2
                    inside = 0 <= y < 16 and 0 <= x < 16
                    idx[ky * 5 + kx, oy * 8 + ox] = y * 16 + x if inside else 256
    return idx


def _h2_patch(c: int, ky: int, kx: int, oy: int, ox: int) -> int:
    """Index into H1's 768 units + one -1 (index 768) of input plane c at kernel tap (ky, kx)."""
    y, x = 2 * oy + ky - 2, 2 * ox + kx - 2
    return c * 64 + y * 8 + x if (0 <= y < 8 and 0 <= x < 8) else 768


def _h2_index_grouped() -> np.ndarray:
    """(3, 200, 16): for each group of 4 H2 planes, its 8 input planes' patches (rows: plane, ky, kx)."""
    idx = np.empty((3, 200, 16), dtype=np.int64)
    for g in range(3):
        ins = H2_INPUTS[4 * g]
        assert all(H2_INPUTS[4 * g + r] == ins for r in range(4))
        for j, c in enumerate(ins):
            for ky in range(5):
                for kx in range(5):
                    for oy in range(4):
                        for ox in range(4):
                            idx[g, j * 25 + ky * 5 + kx, oy * 4 + ox] = _h2_patch(c, ky, kx, oy, ox)
    return idx


def _h2_index_dense() -> tuple[np.ndarray, np.ndarray]:
    """(300, 16) patches of all 12 planes, and (12, 300) indices into H2w's 2400 values + one 0."""
    idx = np.empty((300, 16), dtype=np.int64)
    for c in range(12):
        for ky in range(5):
            for kx in range(5):
                for oy in range(4):
                    for ox in range(4):
                        idx[c * 25 + ky * 5 + kx, oy * 4 + ox] = _h2_patch(c, ky, kx, oy, ox)
    widx = np.full((12, 300), 2400, dtype=np.int64)
    for o, ins in enumerate(H2_INPUTS):
        for j, c in enumerate(ins):
            widx[o, c * 25:(c + 1) * 25] = o * 200 + j * 25 + np.arange(25)
    return idx, widx


def make_indices(device, h2: str = DEFAULT_H2, patches: str = "index") -> tuple:
    """The index tensors the functional network gathers with, on `device`."""
    t = lambda a: torch.as_tensor(a, device=device)
    if h2 not in ("grouped", "dense"):
        raise ValueError(f"h2 must be 'grouped' or 'dense', not {h2!r}")
    if patches not in ("index", "unfold"):
        raise ValueError(f"patches must be 'index' or 'unfold', not {patches!r}")
    i2, w2 = _h2_index_dense()
    if patches == "unfold":  # indices of the planes each group sees (rows of the unfolded patches)
        planes = np.array([H2_INPUTS[4 * g] for g in range(3)], dtype=np.int64).reshape(24)
        return (None, t(planes), t(w2))
    return (t(_h1_index()), t(_h2_index_grouped() if h2 == "grouped" else i2), t(w2))


def feed_layout(variant: Variant) -> dict[str, slice]:
    """Columns of the packed per-step row: x, tgt, label, the optimiser's scalars, mask."""
    n_hyper = 1 if variant.optimizer.kind == "sgd" else 4
    cols, start = {}, 0  # _step_loss reads these offsets as constants
    for name, width in (("x", N_PIX), ("tgt", 10), ("label", 1), ("hyper", n_hyper),
                        ("mask", 192 if variant.dropout else 0)):
        cols[name] = slice(start, start + width)
        start += width
    # rows padded to a multiple of 16 values, so every row starts 64-byte aligned (inductor
    # copies misaligned inputs)
    cols["width"] = slice(0, -(-start // 16) * 16)
    return cols


def optimizer_scalars(variant: Variant, lr: np.ndarray, first_step: int) -> np.ndarray:
    """(n, n_hyper) float64 per-step scalars, computed as torch.optim's single-tensor path does.

    SGD: lr.  AdamW at step t (1-based): lr, 1 - lr*wd, lr / (1 - b1**t), (1 - b2**t)**0.5.
    """
    opt = variant.optimizer
    if opt.kind == "sgd":
        return np.asarray(lr, dtype=np.float64)[:, None]
    out = np.empty((len(lr), 4))
    for i, lr_i in enumerate(lr):
        lr_i = float(lr_i)
        step = float(first_step + i + 1)  # torch keeps `step` as a float tensor and reads .item()
        bias_correction1 = 1 - opt.beta1 ** step
        bias_correction2 = 1 - opt.beta2 ** step
        out[i] = (lr_i, 1 - lr_i * opt.weight_decay, lr_i / bias_correction1, bias_correction2 ** 0.5)
    return out


def pack_feed(variant: Variant, steps: Steps, first_step: int, dtype) -> np.ndarray:
    """(n, width) rows, one per step, in `dtype` (labels are exact small integers)."""
    n = len(steps)
    parts = [np.asarray(steps.x).reshape(n, N_PIX), np.asarray(steps.targets),
             np.asarray(steps.labels).reshape(n, 1), optimizer_scalars(variant, steps.lr, first_step)]
    if variant.dropout:
        if steps.mask is None:
            raise ValueError(f"variant {variant.name!r} has dropout {variant.dropout}: steps.mask is required")
        parts.append(np.asarray(steps.mask).reshape(n, 192))
    width = feed_layout(variant)["width"].stop
    used = sum(p.shape[1] for p in parts)
    if width > used:
        parts.append(np.zeros((n, width - used)))
    return np.ascontiguousarray(np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=1))


# --------------------------------------------------------------------------- the network as a function


def _act(name: str):
    return {"tanh": torch.tanh, "relu": torch.relu, "linear": (lambda t: t)}[name]


def _patches_h1(x, idx, patches: str):
    """(B, 25, 64) 5x5 stride-2 patches of x (B, 256) padded by 2 with -1."""
    B = x.shape[0]
    if patches == "unfold":
        xp = F.pad(x.reshape(B, 1, 16, 16), (2, 2, 2, 2), "constant", -1.0)  # (B, 1, 20, 20)
        return F.unfold(xp, 5, stride=2)
    pad = torch.full((B, 1), -1.0, dtype=x.dtype, device=x.device)
    return torch.cat((x, pad), dim=1)[:, idx[0]]  # -1 where padded


def _h2(h, H2w, idx, h2: str, patches: str):
    """H2's weighted sums (B, 192) in (C, H, W) order, before bias, from H1's output h (B, 768)."""
    B = h.shape[0]
    if patches == "unfold":
        hp = F.pad(h.reshape(B, 12, 8, 8), (2, 2, 2, 2), "constant", -1.0)  # (B, 12, 12, 12)
        p = F.unfold(hp, 5, stride=2)  # (B, 300, 16): rows (plane, ky, kx)
        if h2 == "grouped":  # each group's 8 planes; every plane is picked twice (summed in either order)
            p = torch.index_select(p.reshape(B, 12, 400), 1, idx[1]).reshape(B, 3, 200, 16)
    else:
        hx = torch.cat((h, torch.full((B, 1), -1.0, dtype=h.dtype, device=h.device)), dim=1)  # (B, 769)
        p = hx[:, idx[1]]  # grouped (B, 3, 200, 16) / dense (B, 300, 16)
    if h2 == "grouped":
        return (H2w.reshape(3, 4, 200) @ p).reshape(B, 192)  # (B, 3, 4, 16): group, plane, position
    # the masked dense kernel (12, 300), zeros where a plane is not connected
    w = torch.index_select(torch.cat((H2w.reshape(2400), H2w.new_zeros(1))), 0, idx[2].reshape(3600))
    return (w.reshape(12, 300) @ p).reshape(B, 192)


def net_forward(P, x, idx, h2: str, hidden: str, output: str, mask=None, patches: str = "index"):
    """Outputs (B, 10) for x (B, 256); P the 8 parameters in canonical shapes.

    Same arithmetic as make_net's Net (pad with -1, stride-2 5x5 convolutions,
    untied biases), written as patches and matmuls. `patches`: "index" gathers
    them with index tensors (fastest under inductor on CPU); "unfold" uses
    F.pad + F.unfold (for CUDA graphs: see CudaGraphSession).
    """
    H1w, H1b, H2w, H2b, H3w, H3b, outw, outb = P
    act, out_act = _act(hidden), _act(output)
    B = x.shape[0]
    h = act(H1w.reshape(12, 25) @ _patches_h1(x, idx, patches) + H1b.reshape(12, 64))  # (B, 12, 64)
    h = act(_h2(h.reshape(B, 768), H2w, idx, h2, patches) + H2b.reshape(192))  # (B, 192)
    if mask is not None:
        h = h * mask  # dropout mask drawn by the core, already scaled
    h = act(h @ H3w + H3b)  # (B, 30)
    return out_act(h @ outw + outb)  # (B, 10)


def eval_forward(P, x, widx, hidden: str, output: str):
    """Outputs (B, 10) for x (B, 1, 16, 16) with convolutions (fast on batches; evaluation only).

    H2 is one convolution with the masked dense (12, 12, 5, 5) kernel: the zeros add exact zeros,
    so it computes the sliced convolutions' sums, in another order.
    """
    H1w, H1b, H2w, H2b, H3w, H3b, outw, outb = P
    act, out_act = _act(hidden), _act(output)
    h = F.pad(x, (2, 2, 2, 2), "constant", -1.0)  # (B, 1, 20, 20)
    h = act(F.conv2d(h, H1w, stride=2) + H1b)  # (B, 12, 8, 8)
    h = F.pad(h, (2, 2, 2, 2), "constant", -1.0)  # (B, 12, 12, 12)
    w = torch.index_select(torch.cat((H2w.reshape(2400), H2w.new_zeros(1))), 0, widx.reshape(3600))
    h = act(F.conv2d(h, w.reshape(12, 12, 5, 5), stride=2) + H2b)  # (B, 12, 4, 4)
    h = act(h.flatten(1) @ H3w + H3b)  # (B, 30)
    return out_act(h @ outw + outb)  # (B, 10)


def loss_of(out, tgt, label, loss: str):
    """Loss of one example, as torch_backend.loss_fn computes it; out (1, 10)."""
    if loss == "mse":
        return torch.mean((tgt - out) ** 2)
    return F.cross_entropy(out, label)


def _step_loss(P, row, idx, cfg):
    """Loss of one training step; `row` one packed example (feed_layout), cfg a tuple of constants."""
    h2, patches, hidden, output, loss, n_hyper, has_mask = cfg
    x = row[0:256].reshape(1, N_PIX)
    mask = row[267 + n_hyper:267 + n_hyper + 192].reshape(1, 192) if has_mask else None
    out = net_forward(P, x, idx, h2, hidden, output, mask, patches)
    label = row[266:267].to(torch.int64)
    return loss_of(out, row[256:266].reshape(1, 10), label, loss)


def _sgd_update(P, S, G, hyper, opt):
    """torch.optim.SGD (no momentum, no weight decay): param.add_(grad, alpha=-lr)."""
    lr = hyper[0]  # a 0-d tensor: this step's learning rate
    return tuple(p - lr * g for p, g in zip(P, G)), S


def _adamw_update(P, S, G, hyper, opt):
    """torch.optim.AdamW; hyper = (lr, 1 - lr*wd, lr / (1 - b1**t), (1 - b2**t)**0.5) of this step."""
    decay, step_size, bc2_sqrt = hyper[1], hyper[2], hyper[3]
    beta1, beta2, eps = opt
    M, V = S[:8], S[8:]
    newP, newM, newV = [], [], []
    for p, g, m, v in zip(P, G, M, V):
        # torch.optim.AdamW, _single_tensor_adam with decoupled weight decay, in its order:
        p = p * decay  # param.mul_(1 - lr * weight_decay)
        m = torch.lerp(m, g, 1 - beta1)  # exp_avg.lerp_(grad, 1 - beta1)
        v = v * beta2 + (1 - beta2) * g * g  # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
        denom = torch.sqrt(v) / bc2_sqrt + eps  # (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        p = p + (-step_size) * m / denom  # param.addcdiv_(exp_avg, denom, value=-step_size)
        newP.append(p)
        newM.append(m)
        newV.append(v)
    return tuple(newP), tuple(newM) + tuple(newV)


def _steps(P, S, feed, idx, cfg, opt, update):
    """len(feed) training steps, unrolled: returns new parameters, new optimiser state, losses."""
    grad_fn = torch.func.grad_and_value(_step_loss)
    n_hyper = cfg[5]
    losses = []
    for i in range(feed.shape[0]):
        row = feed[i]
        G, loss = grad_fn(P, row, idx, cfg)
        P, S = update(P, S, G, row[267:267 + n_hyper], opt)
        losses.append(loss)
    return P, S, torch.stack(losses)


# Four functions with the same body, so that torch.compile (which caches per code object)
# keeps the K-step and the one-step graph of each optimiser apart: each compiles once per
# dtype and device, and a one-step call never shows up as a recompile of the K-step one.
def sgd_block(P, S, feed, idx, cfg, opt):
    return _steps(P, S, feed, idx, cfg, opt, _sgd_update)


def sgd_one(P, S, feed, idx, cfg, opt):
    return _steps(P, S, feed, idx, cfg, opt, _sgd_update)


def adamw_block(P, S, feed, idx, cfg, opt):
    return _steps(P, S, feed, idx, cfg, opt, _adamw_update)


def adamw_one(P, S, feed, idx, cfg, opt):
    return _steps(P, S, feed, idx, cfg, opt, _adamw_update)


_FUNCTIONS = {("sgd", "block"): sgd_block, ("sgd", "one"): sgd_one,
              ("adamw", "block"): adamw_block, ("adamw", "one"): adamw_one}
_COMPILED: dict = {}


def compiled_steps(kind: str, which: str, cpp_wrapper: bool, options: dict | None = None):
    """The torch.compile wrapper of (optimiser, "block" | "one"), shared by all sessions.

    dynamic=False: every shape is static. Dynamo guards on dtype, device,
    shapes, the constant config and torch's thread count, so a process compiles
    each (dtype, K, config, thread count) once, whatever the number of sessions.
    """
    options = {**(options or {}), **({"cpp_wrapper": True} if cpp_wrapper else {})}
    key = (kind, which, tuple(sorted(options.items())))
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(_FUNCTIONS[kind, which], fullgraph=True, dynamic=False,
                                       options=options or None)
    return _COMPILED[key]


# --------------------------------------------------------------------------- sessions


class _FunctionalSession:
    """What `compiled` and `cudagraph` share: parameters as plain tensors, forward, grads."""

    def __init__(self, variant: Variant, params, dtype: str, device, *, unroll: int, h2: str, patches: str):
        if variant.batch_size != 1:
            raise ValueError("per-example strategies need batch_size 1")
        self.variant, self.device = variant, torch.device(device)
        self.tdtype = getattr(torch, dtype)
        self.np_dtype = np.dtype(dtype)
        self.unroll, self.h2 = int(unroll), h2
        if self.unroll < 1:
            raise ValueError("unroll must be >= 1")
        self.P = tuple(torch.tensor(np.array(params[n]), dtype=self.tdtype, device=self.device)
                       for n in PARAM_NAMES)
        opt = variant.optimizer
        self.kind = opt.kind
        if opt.kind == "sgd":
            self.S: tuple = ()
            self.opt = ()
        elif opt.kind == "adamw":
            # exp_avg x8, then exp_avg_sq x8: sixteen distinct tensors (cudagraph updates them in place)
            self.S = tuple(torch.zeros_like(p) for p in self.P + self.P)
            self.opt = (opt.beta1, opt.beta2, opt.eps)
        else:
            raise ValueError(f"unknown optimiser {opt.kind!r}")
        self.n_steps = 0  # optimiser steps taken (AdamW's bias corrections)
        self.idx = make_indices(self.device, h2, patches)
        self.cols = feed_layout(variant)
        n_hyper = self.cols["hyper"].stop - self.cols["hyper"].start
        assert (self.cols["tgt"].start, self.cols["label"].start, self.cols["hyper"].start) == (256, 266, 267)
        self.cfg = (h2, patches, variant.hidden_activation, variant.output_activation, variant.loss,
                    n_hyper, bool(variant.dropout))

    # -- evaluation and parity: plain (uncompiled) torch
    def forward(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=self.tdtype, device=self.device)
            out = eval_forward(self.P, xt, self.idx[2], *self.cfg[2:4])
        return out.cpu().numpy()

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError("loss_and_grads takes a single example")
        row = torch.as_tensor(pack_feed(self.variant, steps, self.n_steps, self.np_dtype)[0], device=self.device)
        G, loss = torch.func.grad_and_value(_step_loss)(self.P, row, self.idx, self.cfg)
        return float(loss), {n: g.detach().cpu().numpy().copy() for n, g in zip(PARAM_NAMES, G)}

    def get_params(self):
        return {n: p.detach().cpu().numpy().copy() for n, p in zip(PARAM_NAMES, self.P)}

    def environment(self) -> dict:
        """This session's settings, to record with a result (the backend's environment() is taken
        before the session exists and shows torch's process-wide thread count)."""
        return {"strategy_settings": dict(self.settings), "dtype": str(self.tdtype).replace("torch.", ""),
                "device": str(self.device)}

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()


class CompiledSession(_FunctionalSession):
    """`compiled`: K unrolled steps per torch.compile call; the remainder one step per call.

    While training on CPU it sets torch's intra-op threads to `threads` (1: at this size two
    threads are ~3x slower) and restores the previous count after each train_steps call, so
    evaluation and other sessions see the process's setting; environment() records it.
    Knobs (measured in the module docstring): unroll, h2, patches, threads, cpp_wrapper,
    mkldnn (None: leave torch's flag), inductor_options; compile=False runs the same
    functions eagerly (checks, debugging).
    """

    def __init__(self, variant, params, dtype, device, *, unroll: int = DEFAULT_UNROLL, h2: str = DEFAULT_H2,
                 patches: str = "index", threads: int | None = DEFAULT_THREADS, cpp_wrapper: bool = DEFAULT_CPP_WRAPPER,
                 mkldnn: bool | None = None, compile: bool = True, inductor_options: dict | None = None):
        super().__init__(variant, params, dtype, device, unroll=unroll, h2=h2, patches=patches)
        self.threads = threads if self.device.type == "cpu" else None
        self.mkldnn = mkldnn
        self.cpp_wrapper = bool(cpp_wrapper) and self.device.type == "cpu"
        if compile:
            self.block = compiled_steps(self.kind, "block", self.cpp_wrapper, inductor_options)
            self.one = compiled_steps(self.kind, "one", self.cpp_wrapper, inductor_options)
        else:  # the same functions run eagerly: quick checks of the arithmetic, debugging
            self.block, self.one = _FUNCTIONS[self.kind, "block"], _FUNCTIONS[self.kind, "one"]
        self.settings = {
            "unroll": self.unroll, "h2": h2, "patches": patches, "train_num_threads": self.threads,
            "cpp_wrapper": self.cpp_wrapper, "mkldnn": mkldnn, "compile": compile,
            "inductor_options": dict(inductor_options or {}),
        }

    @contextlib.contextmanager
    def _cpu_settings(self):
        prev = torch.get_num_threads()
        set_threads = self.threads is not None and self.threads != prev
        if set_threads:
            torch.set_num_threads(self.threads)
        try:
            if self.mkldnn is None:
                yield
            else:
                with torch.backends.mkldnn.flags(enabled=self.mkldnn):
                    yield
        finally:
            if set_threads:
                torch.set_num_threads(prev)

    def train_steps(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        feed = torch.from_numpy(pack_feed(self.variant, steps, self.n_steps, self.np_dtype)).to(self.device)
        K = self.unroll
        P, S, losses = self.P, self.S, []
        with self._cpu_settings():
            i = 0
            while n - i >= K:
                P, S, l = self.block(P, S, feed[i:i + K], self.idx, self.cfg, self.opt)
                losses.append(l)
                i += K
            while i < n:
                P, S, l = self.one(P, S, feed[i:i + 1], self.idx, self.cfg, self.opt)
                losses.append(l)
                i += 1
        self.P, self.S = P, S
        self.n_steps += n
        return torch.cat(losses).to(torch.float64).cpu().numpy()


class _EagerReplay:
    """What a captured graph does, run eagerly: lets CPU tests check the buffer logic of `cudagraph`."""

    def __init__(self, record):
        self.record = record

    def replay(self):
        self.record()


class CudaGraphSession(_FunctionalSession):
    """`cudagraph`: K functional steps captured once in a CUDA graph, replayed per K examples.

    Static buffers: the parameters and the optimiser state (updated in place by
    the graph), one packed block of K examples (`feed`, written by a
    device-to-device copy before each replay) and the K losses. The learning
    rate and the other per-step scalars travel in the feed, as device values, so
    nothing in a pass waits on the host: the chunk goes to the device in one
    copy, each block is a copy and a replay, and the losses come back once at
    the end. A chunk's remainder (n % K) replays a one-step graph that shares
    the parameter and state buffers.

    Patches come from F.pad + F.unfold (patches="unfold"): their backward is
    col2im, a gather-style kernel, deterministic and capturable, where the
    backward of an index gather is index_put with accumulation, which sorts its
    indices on CUDA and has been reported to break capture (pytorch#105439).
    The groups' planes are picked with index_select, whose backward adds
    exactly two contributions into each zeroed plane (the same sum in either
    order, even with atomics). `emulate=True` replaces capture by eager
    execution of the same recorded function (CPU tests of the buffer logic).
    """

    def __init__(self, variant, params, dtype, device, *, unroll: int = DEFAULT_GRAPH_UNROLL,
                 h2: str = DEFAULT_H2, patches: str = "unfold", emulate: bool = False):
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device.type != "cuda" and not emulate:
            raise ValueError(f"cudagraph runs on CUDA devices only, not {device}")
        super().__init__(variant, params, dtype, device, unroll=unroll, h2=h2, patches=patches)
        self.emulate = emulate
        self.update = _sgd_update if self.kind == "sgd" else _adamw_update
        self.graphs: dict[int, tuple] = {}  # K -> (graph, feed buffer, loss buffer)
        self.settings = {"unroll": self.unroll, "h2": h2, "patches": patches}

    def _body(self, feed):
        return _steps(self.P, self.S, feed, self.idx, self.cfg, self.opt, self.update)

    def _warm_feed(self, k: int):
        """A harmless block for warm-up and capture: zero images, label 0, finite scalars."""
        feed = torch.zeros((k, self.cols["width"].stop), dtype=self.tdtype, device=self.device)
        feed[:, self.cols["hyper"]] = 1.0  # SGD: lr; AdamW: lr, decay, step size, sqrt(bias correction 2)
        if self.cols["mask"].stop > self.cols["mask"].start:
            feed[:, self.cols["mask"]] = 1.0
        return feed

    def _graph(self, k: int):
        if k in self.graphs:
            return self.graphs[k]
        feed = self._warm_feed(k)
        losses = torch.zeros(k, dtype=self.tdtype, device=self.device)

        def record():  # K steps, then the new parameters and state into the static buffers
            P, S, out = self._body(feed)
            for dst, src in zip(self.P + self.S, P + S):
                dst.copy_(src)
            losses.copy_(out)

        if self.emulate:
            self.graphs[k] = (_EagerReplay(record), feed, losses)
            return self.graphs[k]
        with torch.cuda.device(self.device):
            # Warm up on a side stream (cuBLAS handles, autograd's stream bookkeeping, the
            # allocator), discarding the results: the parameters must not move.
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._body(feed)
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

    def train_steps(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        K = self.unroll
        host = torch.from_numpy(pack_feed(self.variant, steps, self.n_steps, self.np_dtype))
        with torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            big = self._graph(K) if n >= K else None
            small = self._graph(1) if n % K else None
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
