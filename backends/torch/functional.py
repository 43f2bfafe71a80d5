"""The per-example training step of `compiled` and `cudagraph` as pure torch functions.

Configuration (`StepConfig`, `FeedLayout`: named, no positional tuples or literal
offsets), the index tables on a device (`Tables`, from harness.tables), the
packed per-step rows, the network written as matmuls over gathered patches, the
hand-written SGD and AdamW updates in torch.optim's order, K unrolled steps, and
their torch.compile wrappers. Sessions live in graphs.py and compiled.py.

This module imports torch at the top: it is imported only when a fast strategy is asked for.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from harness import spec, tables
from harness.backend import Steps
from harness.spec import Variant

from .network import activation, squared_error

N_PIX = 256
PATCHES = ("index", "unfold")


# --------------------------------------------------------------------------- configuration


class FeedLayout(NamedTuple):
    """Column offsets of the packed per-step row: x, tgt, label, the optimiser's scalars, mask.

    Rows are padded to `width`, a multiple of 16 values, so every row starts 64-byte aligned
    (inductor copies misaligned inputs). `mask` is 0 wide without dropout.
    """

    x: int
    tgt: int
    label: int
    hyper: int
    n_hyper: int
    mask: int
    n_mask: int
    width: int

    def cols(self, name: str) -> slice:
        start = getattr(self, name)
        return slice(start, start + {"x": N_PIX, "tgt": 10, "label": 1, "hyper": self.n_hyper,
                                     "mask": self.n_mask}[name])


def feed_layout(variant: Variant) -> FeedLayout:
    n_hyper = 1 if variant.optimizer.kind == "sgd" else 4
    n_mask = 192 if variant.dropout else 0
    x, tgt, label, hyper = 0, N_PIX, N_PIX + 10, N_PIX + 11
    mask = hyper + n_hyper
    return FeedLayout(x, tgt, label, hyper, n_hyper, mask, n_mask, -(-(mask + n_mask) // 16) * 16)


class StepConfig(NamedTuple):
    """The constants of a training step, passed to the compiled functions.

    A NamedTuple rather than a dataclass: dynamo guards a tuple of constants by value, so a new
    session with an equal configuration reuses the compiled graphs.
    """

    hidden: str  # "tanh" | "relu"
    output: str  # "tanh" | "linear"
    loss: str  # "mse" | "xent"
    reduction: str  # mse over the outputs: "mean" | "sum"
    patches: str  # "index": gathers with index tables; "unfold": F.pad + F.unfold
    pad_value: float  # spec.PAD_VALUE
    feed: FeedLayout
    adam: tuple[float, float, float]  # AdamW's (beta1, beta2, eps); () for SGD


def step_config(variant: Variant, patches: str) -> StepConfig:
    if patches not in PATCHES:
        raise ValueError(f"patches must be one of {', '.join(PATCHES)}, not {patches!r}")
    opt = variant.optimizer
    adam = (opt.beta1, opt.beta2, opt.eps) if opt.kind == "adamw" else ()
    return StepConfig(variant.hidden_activation, variant.output_activation, variant.loss, variant.reduction, patches,
                      float(spec.PAD_VALUE), feed_layout(variant), adam)


class Tables(NamedTuple):
    """Index tensors the functional network gathers with (harness.tables), on one device."""

    h1: torch.Tensor | None  # (25, 64) H1's patches ("index" only)
    h2: torch.Tensor  # "index": (G, 200, 16) each group's patches; "unfold": (G * 8,) planes read
    h2_dense: torch.Tensor  # (12, 300) into H2w's 2400 values + one 0: the masked dense kernel
    groups: int  # groups of H2 output planes that share their input planes
    group_size: int  # output planes per group


def make_tables(device, patches: str) -> Tables:
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)
    groups = tables.h2_groups()
    dense = t(tables.h2_dense_index())
    if patches == "unfold":
        return Tables(None, t(tables.h2_group_planes()), dense, len(groups), len(groups[0][0]))
    return Tables(t(tables.h1_patches()), t(tables.h2_group_patches()), dense, len(groups), len(groups[0][0]))


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
    width = feed_layout(variant).width
    used = sum(p.shape[1] for p in parts)
    if width > used:
        parts.append(np.zeros((n, width - used)))
    return np.ascontiguousarray(np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=1))


# --------------------------------------------------------------------------- the network as a function


def _act(name: str):
    return activation(torch, name)


def _with_pad(a, pad_value: float):
    """a (B, m) -> (B, m + 1): the padding sentinel appended, which index tables point at."""
    return torch.cat((a, torch.full((a.shape[0], 1), pad_value, dtype=a.dtype, device=a.device)), dim=1)


def _patches_h1(x, T: Tables, cfg: StepConfig):
    """(B, 25, 64) 5x5 stride-2 patches of x (B, 256), padded with the spec's value."""
    B = x.shape[0]
    if cfg.patches == "unfold":
        xp = F.pad(x.reshape(B, 1, 16, 16), (2, 2, 2, 2), "constant", cfg.pad_value)  # (B, 1, 20, 20)
        return F.unfold(xp, 5, stride=2)
    return _with_pad(x, cfg.pad_value)[:, T.h1]


def _h2(h, H2w, T: Tables, cfg: StepConfig):
    """H2's weighted sums (B, 192) in (C, H, W) order, before bias, from H1's output h (B, 768).

    One batched matmul over the groups of output planes that share their inputs (tables.h2_groups).
    """
    B, G = h.shape[0], T.groups
    if cfg.patches == "unfold":
        hp = F.pad(h.reshape(B, 12, 8, 8), (2, 2, 2, 2), "constant", cfg.pad_value)  # (B, 12, 12, 12)
        p = F.unfold(hp, 5, stride=2).reshape(B, 12, 400)  # rows (plane, ky, kx)
        # each group's planes; a plane may be picked by several groups (index_select's backward sums them)
        p = torch.index_select(p, 1, T.h2).reshape(B, G, 200, 16)
    else:
        p = _with_pad(h, cfg.pad_value)[:, T.h2]  # (B, G, 200, 16)
    return (H2w.reshape(G, T.group_size, 200) @ p).reshape(B, 192)  # (B, G, group, 16)


def net_layers(P, x, T: Tables, cfg: StepConfig, mask=None) -> dict:
    """Each layer's output, "H1" (B, 768), "H2" (B, 192), "H3" (B, 30), "out" (B, 10), for x (B, 256).

    P the 8 parameters in canonical shapes. Same arithmetic as network.py's Net (pad with
    spec.PAD_VALUE, stride-2 5x5 convolutions, untied biases), written as patches and matmuls.
    """
    H1w, H1b, H2w, H2b, H3w, H3b, outw, outb = P
    act, out_act = _act(cfg.hidden), _act(cfg.output)
    B = x.shape[0]
    h1 = act(H1w.reshape(12, 25) @ _patches_h1(x, T, cfg) + H1b.reshape(12, 64)).reshape(B, 768)  # (B, 12*64)
    h2 = act(_h2(h1, H2w, T, cfg) + H2b.reshape(192))  # (B, 192)
    if mask is not None:
        h2 = h2 * mask  # dropout mask drawn by the core, already scaled
    h3 = act(h2 @ H3w + H3b)  # (B, 30)
    return {"H1": h1, "H2": h2, "H3": h3, "out": out_act(h3 @ outw + outb)}  # out (B, 10)


def net_forward(P, x, T: Tables, cfg: StepConfig, mask=None):
    """Outputs (B, 10) for x (B, 256)."""
    return net_layers(P, x, T, cfg, mask)["out"]


EVAL_IMPL = "torch conv2d NCHW/OIHW, H2 as one dense 12->12 convolution (zeros where unconnected)"


def eval_layers(P, x, dense_index, cfg: StepConfig) -> dict:
    """Each layer's output, canonical shapes, for x (B, 1, 16, 16), with convolutions (EVAL_IMPL).

    H2 is one convolution with the masked dense (12, 12, 5, 5) kernel: the zeros add exact zeros,
    so it computes the grouped sums, in another order. Fast on batches; evaluation only.
    """
    H1w, H1b, H2w, H2b, H3w, H3b, outw, outb = P
    act, out_act = _act(cfg.hidden), _act(cfg.output)
    h = F.pad(x, (2, 2, 2, 2), "constant", cfg.pad_value)  # (B, 1, 20, 20)
    h1 = act(F.conv2d(h, H1w, stride=2) + H1b)  # (B, 12, 8, 8)
    h = F.pad(h1, (2, 2, 2, 2), "constant", cfg.pad_value)  # (B, 12, 12, 12)
    w = torch.cat((H2w.reshape(2400), H2w.new_zeros(1)))[dense_index]  # (12, 300)
    h2 = act(F.conv2d(h, w.reshape(12, 12, 5, 5), stride=2) + H2b)  # (B, 12, 4, 4)
    h3 = act(h2.flatten(1) @ H3w + H3b)  # (B, 30)
    return {"H1": h1, "H2": h2, "H3": h3, "out": out_act(h3 @ outw + outb)}  # out (B, 10)


def eval_forward(P, x, dense_index, cfg: StepConfig):
    """Outputs (B, 10) for x (B, 1, 16, 16)."""
    return eval_layers(P, x, dense_index, cfg)["out"]


def loss_of(out, tgt, label, loss: str, reduction: str = "mean"):
    """Loss of one example, as network.loss_fn computes it; out (1, 10)."""
    if loss == "mse":
        return squared_error(torch, out, tgt, reduction)
    return F.cross_entropy(out, label)


def step_loss(P, row, T: Tables, cfg: StepConfig):
    """Loss of one training step; `row` one packed example (FeedLayout)."""
    f = cfg.feed
    x = row[f.x:f.x + N_PIX].reshape(1, N_PIX)
    mask = row[f.mask:f.mask + f.n_mask].reshape(1, 192) if f.n_mask else None
    out = net_forward(P, x, T, cfg, mask)
    label = row[f.label:f.label + 1].to(torch.int64)
    return loss_of(out, row[f.tgt:f.tgt + 10].reshape(1, 10), label, cfg.loss, cfg.reduction)


def _sgd_update(P, S, G, hyper, cfg: StepConfig):
    """torch.optim.SGD (no momentum, no weight decay): param.add_(grad, alpha=-lr)."""
    lr = hyper[0]  # a 0-d tensor: this step's learning rate
    return tuple(p - lr * g for p, g in zip(P, G)), S


def _adamw_update(P, S, G, hyper, cfg: StepConfig):
    """torch.optim.AdamW; hyper = (lr, 1 - lr*wd, lr / (1 - b1**t), (1 - b2**t)**0.5) of this step."""
    decay, step_size, bc2_sqrt = hyper[1], hyper[2], hyper[3]
    beta1, beta2, eps = cfg.adam
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


def _steps(P, S, feed, T: Tables, cfg: StepConfig, update):
    """len(feed) training steps, unrolled: returns new parameters, new optimiser state, losses."""
    grad_fn = torch.func.grad_and_value(step_loss)
    f = cfg.feed
    losses = []
    for i in range(feed.shape[0]):
        row = feed[i]
        G, loss = grad_fn(P, row, T, cfg)
        P, S = update(P, S, G, row[f.hyper:f.hyper + f.n_hyper], cfg)
        losses.append(loss)
    return P, S, torch.stack(losses)


# Four functions with the same body, so that torch.compile (which caches per code object)
# keeps the K-step and the one-step graph of each optimiser apart: each compiles once per
# dtype and device, and a one-step call never shows up as a recompile of the K-step one.
def sgd_block(P, S, feed, T, cfg):
    return _steps(P, S, feed, T, cfg, _sgd_update)


def sgd_one(P, S, feed, T, cfg):
    return _steps(P, S, feed, T, cfg, _sgd_update)


def adamw_block(P, S, feed, T, cfg):
    return _steps(P, S, feed, T, cfg, _adamw_update)


def adamw_one(P, S, feed, T, cfg):
    return _steps(P, S, feed, T, cfg, _adamw_update)


STEP_FUNCTIONS = {("sgd", "block"): sgd_block, ("sgd", "one"): sgd_one,
              ("adamw", "block"): adamw_block, ("adamw", "one"): adamw_one}
_COMPILED: dict = {}


def compiled_steps(kind: str, which: str, cpp_wrapper: bool):
    """The torch.compile wrapper of (optimiser, "block" | "one"), shared by all sessions.

    dynamic=False: every shape is static. Dynamo guards on dtype, device,
    shapes, the constant config and torch's thread count, so a process compiles
    each (dtype, K, config, thread count) once, whatever the number of sessions.
    """
    key = (kind, which, cpp_wrapper)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(STEP_FUNCTIONS[kind, which], fullgraph=True, dynamic=False,
                                       options={"cpp_wrapper": True} if cpp_wrapper else None)
    return _COMPILED[key]


_COMPILED_EVAL: dict = {}


def compiled_eval(which: str):
    """eval_layers / eval_forward under torch.compile (CUDA evaluation: one compiled call per
    split, each split's shape compiled once per process; dynamic=False, so no recompile per pass)."""
    if which not in _COMPILED_EVAL:
        fn = {"layers": eval_layers, "forward": eval_forward}[which]
        _COMPILED_EVAL[which] = torch.compile(fn, fullgraph=True, dynamic=False)
    return _COMPILED_EVAL[which]
