"""The jax `fused` strategy: a whole chunk of examples trained by one Pallas kernel launch.

The kernel is fused_kernel.py (one program; a `fori_loop` over examples;
forward, backward and optimiser update per example; parameters and optimiser state carried
on chip). This module
holds what is around it: the fused layout's conversions, which devices and variants the
strategy supports, and the Session.

Where it runs:
- on a CUDA GPU through the Pallas Triton lowering (`compiler_params=pallas.triton.
  CompilerParams`: Mosaic GPU, the default GPU lowering of this jax, is not used);
- on the CPU only through Pallas's interpreter (`interpret=True`), and only when the
  environment opts in with HARNESS_FUSED_INTERPRET=1 (tests do). Such a session says
  `environment()["interpreted"] = True`, so `run` and `bench` can refuse to time it.

Supported: both variants (1989: tanh, mean squared error, SGD; modern: ReLU, linear output,
softmax cross-entropy, dropout masks drawn by the core, AdamW in torch.optim's arithmetic
with its per-step scalars computed on the host), float32 and float64 (float64 dots on the GPU
are Triton's fp64 MMA, which needs M >= 16, N >= 8, K >= 16: every dot here is at least
16 x 16 x 16). A variant with another activation, loss or optimiser is declared unsupported
(`unsupported`, JaxBackend.supports).

forward, loss_and_grads and evaluation reuse the `step` strategy's jitted functions on the
same parameters (converted); only train_steps runs the kernel, and parity checks it.
"""
from __future__ import annotations

import os

import numpy as np

from harness.backend import Steps, undeclared
from harness.knobs import ANY
from harness.spec import H2_INPUTS, PARAM_NAMES, PARAM_SHAPES, Variant, check_params

from . import fused_kernel as K
from . import kernels, layout
from .framework import import_jax
from .functions import compiled_functions

INTERPRET_ENV = "HARNESS_FUSED_INTERPRET"
WARPS_ENV = "HARNESS_FUSED_NUM_WARPS"  # GPU: warps of the kernel's one program, to try others than the default
MIN_BUCKET = 16  # chunks are padded to a power of two >= this: one compile per bucket


def interpret_opted_in() -> bool:
    return os.environ.get(INTERPRET_ENV, "") == "1"


def num_warps() -> int:
    value = os.environ.get(WARPS_ENV, "") or str(K.NUM_WARPS)
    if value not in ("1", "2", "4", "8", "16", "32"):
        raise ValueError(f"{WARPS_ENV} must be a power of two from 1 to 32, not {value!r}")
    return int(value)


def fused_devices(device_table: dict) -> list[str]:
    """Devices the fused strategy reaches: jax's CUDA GPUs, and "cpu" only when opted in."""
    devs = [name for name, d in device_table.items() if d.platform == "gpu"]
    if interpret_opted_in():
        devs.insert(0, "cpu")
    return devs


# The recipe knobs the kernel computes (JaxBackend.knobs; its AdamW constants: any value).
KNOBS = {"activation": ("tanh", "relu"), "output_activation": ("tanh", "linear"), "loss": ("mse", "xent"),
         "reduction": ("mean",), "optimizer": ("sgd", "adamw"), "dropout": ANY}
ADAMW_KNOBS = {"adamw_beta1": ANY, "adamw_beta2": ANY, "adamw_eps": ANY, "adamw_weight_decay": ANY}


def recipe_of(variant: Variant) -> K.Recipe:
    """What the kernel must do for `variant`; ValueError naming what it cannot."""
    if why := undeclared(variant, {**KNOBS, **ADAMW_KNOBS}, "jax fused"):
        raise ValueError(why)
    opt = variant.optimizer
    if variant.batch_size != 1:
        raise ValueError("jax fused trains one example at a time")
    adamw = (opt.beta1, opt.beta2, opt.eps) if opt.kind == "adamw" else None
    return K.Recipe(variant.hidden_activation, variant.output_activation, variant.loss, adamw, variant.dropout > 0)


def unsupported(variant: Variant | str, dtype: str) -> str | None:
    """None when the fused kernel trains `variant` in `dtype`, else the reason. A variant's name is
    judged by its dtype only (its knobs, by KNOBS through JaxBackend.knobs); a Variant by its knobs too."""
    if str(dtype) not in ("float32", "float64"):
        return f"jax fused supports float32 and float64, not {dtype!r}"
    if isinstance(variant, str):
        return None
    try:
        recipe_of(variant)
    except ValueError as e:
        return str(e)
    return None


# ----------------------------------------------------------------------------- layout


def to_fused(params: dict[str, np.ndarray], dtype) -> dict[str, np.ndarray]:
    """Canonical parameters -> the kernel's padded layout (fused_kernel's docstring)."""
    check_params(params)
    p = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
    out = {k: np.zeros(s, dtype) for k, s in K.FUSED_SHAPES.items()}
    out["H1w"][:12, :25] = p["H1w"].reshape(12, 25)
    out["H1b"][:12] = p["H1b"].reshape(12, 64)
    H2w = out["H2w"].reshape(16, 16, 32)  # a view: [o, c, tap]
    for o, ins in enumerate(H2_INPUTS):
        H2w[o, list(ins), :25] = p["H2w"][o].reshape(8, 25)
    out["H2b"][:12] = p["H2b"].reshape(12, 16)
    out["H3w"][:30, :12] = p["H3w"].T.reshape(30, 12, 16)
    out["H3b"][:30] = p["H3b"]
    out["outw"][:10, :30] = p["outw"].T
    out["outb"][:10] = p["outb"]
    return out


def to_canonical(fused: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The kernel's padded layout -> canonical parameters (fresh C-contiguous arrays)."""
    f = {k: np.asarray(v) for k, v in fused.items()}
    H2w = f["H2w"].reshape(16, 16, 32)
    out = {
        "H1w": f["H1w"][:12, :25].reshape(12, 1, 5, 5),
        "H1b": f["H1b"][:12].reshape(12, 8, 8),
        "H2w": np.stack([H2w[o, list(ins), :25] for o, ins in enumerate(H2_INPUTS)]).reshape(12, 8, 5, 5),
        "H2b": f["H2b"][:12].reshape(12, 4, 4),
        "H3w": f["H3w"][:30, :12].reshape(30, 192).T,
        "H3b": f["H3b"][:30],
        "outw": f["outw"][:10, :30].T,
        "outb": f["outb"][:10],
    }
    return {k: np.array(out[k].reshape(PARAM_SHAPES[k]), order="C", copy=True) for k in PARAM_NAMES}


def bucket(n: int) -> int:
    """The padded chunk length for n examples: a power of two, at least MIN_BUCKET."""
    return max(MIN_BUCKET, 1 << (max(n, 1) - 1).bit_length())


def optimizer_table(variant: Variant, lr: np.ndarray, first_step: int) -> np.ndarray:
    """(n, 4) float64 per-example optimiser scalars, computed as torch.optim computes them (in
    Python floats): SGD (lr, 0, 0, 0); AdamW (lr, 1 - lr wd, lr / (1 - beta1^t), sqrt(1 - beta2^t))
    with t = first_step + 1, ... the update's number."""
    lr = np.asarray(lr, np.float64)
    table = np.zeros((len(lr), 4))
    table[:, 0] = lr
    opt = variant.optimizer
    if opt.kind == "adamw":
        t = np.arange(first_step + 1, first_step + 1 + len(lr), dtype=np.float64)
        table[:, 1] = 1 - lr * opt.weight_decay
        table[:, 2] = lr / (1 - opt.beta1 ** t)
        table[:, 3] = np.sqrt(1 - opt.beta2 ** t)
    return table


def chunk_inputs(variant: Variant, steps: Steps, dtype, first_step: int) -> tuple:
    """(count, x (m, 256), t (m, 16), opt (m, 4), mask (m, 16, 16) or None) with m = bucket(n);
    padding rows are zeros. t: the ±1 targets (mse) or the one-hot labels (xent)."""
    n, m = len(steps), bucket(len(steps))
    x = np.zeros((m, 256), dtype)
    x[:n] = np.asarray(steps.x).reshape(n, 256)
    t = np.zeros((m, K.N4), dtype)
    if variant.loss == "xent":
        t[np.arange(n), np.asarray(steps.labels)] = 1
    else:
        t[:n, :K.N_OUT] = steps.targets
    opt = np.zeros((m, 4), dtype)
    opt[:n] = optimizer_table(variant, steps.lr, first_step)
    mask = None
    if variant.dropout > 0:
        if steps.mask is None:
            raise ValueError(f"the {variant.name} variant drops out H2's outputs: its steps need masks")
        mask = np.zeros((m, K.C2, K.Q2), dtype)
        mask[:n, :12] = np.asarray(steps.mask).reshape(n, 12, 16)
    return np.array([n], np.int32), x, t, opt, mask


# ----------------------------------------------------------------------------- session


class FusedSession:
    """One model trained by the fused Pallas kernel on one jax device, in one dtype."""

    def __init__(self, variant: Variant, params: dict[str, np.ndarray], dtype: str, device, interpret: bool):
        reason = unsupported(variant, dtype)
        if reason:
            raise ValueError(reason)
        self.recipe = recipe_of(variant)
        self.updates = 0  # updates done: AdamW's step number
        self.jax = import_jax()
        self.variant, self.dtype, self.device, self.interpret = variant, np.dtype(dtype), device, interpret
        self.num_warps = num_warps()
        _, _, self._grads, self._forward = compiled_functions(variant)
        with self._scope():
            fused = to_fused(params, self.dtype)
            state = [fused[k] for k in K.FUSED_NAMES]
            if self.recipe.adamw is not None:  # AdamW's moments m and v start at zero
                state += [np.zeros_like(a) for a in state] * 2
            self.state = tuple(self.jax.device_put(a, device) for a in state)

    def _scope(self):
        return self.jax.enable_x64(bool(self.dtype == np.float64))

    def environment(self) -> dict:
        opt = "AdamW" if self.recipe.adamw else "SGD"
        return {"interpreted": self.interpret,
                "kernel": f"one pallas_call per chunk: fori_loop over examples, forward + backward + {opt}",
                "lowering": "pallas interpret=True (CPU)" if self.interpret else "pallas triton",
                "num_warps": None if self.interpret else self.num_warps,
                "chunk_buckets": f"powers of two >= {MIN_BUCKET} (one compile each)"}

    def train_steps(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        count, *inputs = chunk_inputs(self.variant, steps, self.dtype, self.updates)
        with self._scope():
            f = K.make_train_chunk(len(inputs[0]), self.dtype.name, self.interpret, self.num_warps, self.recipe)
            count, x, t, opt, mask = self.jax.device_put((count, *inputs), self.device)
            self.state, losses = f(count, x, t, opt, mask, self.state)
            self.updates += n
            return np.asarray(losses)[:n].astype(np.float64)

    @property
    def params(self) -> tuple:
        """The 8 parameter arrays (fused layout) on the device."""
        return self.state[:8]

    def _internal(self):
        """The parameters in the jax backend's internal layout, on the device (for forward, grads)."""
        return self.jax.device_put(layout.from_canonical(self.get_params(), self.dtype), self.device)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return np.array(self._forward(self._internal(), xd))

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, got {len(steps)}")
        with self._scope():
            x = np.ascontiguousarray(steps.x[0], dtype=self.dtype)
            tg = np.ascontiguousarray(steps.targets[0], dtype=self.dtype)
            mask = None if steps.mask is None else np.ascontiguousarray(steps.mask[0], dtype=self.dtype)
            loss, grads = self._grads(self._internal(), x, tg, np.int32(steps.labels[0]), mask)
            return float(loss), layout.to_canonical(self.jax.device_get(grads))

    def get_params(self) -> dict[str, np.ndarray]:
        with self._scope():
            host = self.jax.device_get(self.params)
        return to_canonical(dict(zip(K.FUSED_NAMES, host)))

    def sync(self) -> None:
        self.jax.block_until_ready(self.state)

    def kernels_per_example(self, steps: Steps) -> dict:
        return kernels.count(self, steps)


def make_session(variant: Variant, params: dict[str, np.ndarray], dtype: str, device_name: str, device):
    """The fused session on `device` (a jax device): the GPU kernel, or the interpreter on an
    opted-in CPU."""
    if device.platform == "cpu":
        if not interpret_opted_in():
            raise ValueError(f"jax fused runs on a CUDA GPU; on the CPU only through Pallas's interpreter, "
                             f"for tests, with {INTERPRET_ENV}=1")
        return FusedSession(variant, params, dtype, device, interpret=True)
    if device.platform != "gpu":
        raise ValueError(f"jax fused runs on a CUDA GPU, not on {device_name!r} ({device.platform})")
    return FusedSession(variant, params, dtype, device, interpret=False)
