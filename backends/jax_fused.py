"""The jax `fused` strategy: a whole chunk of examples trained by one Pallas kernel launch.

The kernel is backends/jax_fused_kernel.py (one program; a `fori_loop` over examples;
forward, backward and SGD update per example; parameters carried on chip). This module
holds what is around it: the fused layout's conversions, which devices and variants the
strategy supports, and the Session.

Where it runs:
- on a CUDA GPU through the Pallas Triton lowering (`compiler_params=pallas.triton.
  CompilerParams`: Mosaic GPU, the default GPU lowering of this jax, is not used);
- on the CPU only through Pallas's interpreter (`interpret=True`), and only when the
  environment opts in with HARNESS_FUSED_INTERPRET=1 (tests do). Such a session says
  `environment()["interpreted"] = True`, so `run` and `bench` can refuse to time it.

Supported: the 1989 variant, float32 and float64 (float64 dots on the GPU are Triton's
fp64 MMA, which needs M >= 16, N >= 8, K >= 16: every dot here is at least 16 x 16 x 16).
Not supported: the modern variant (ReLU, softmax cross-entropy, AdamW moments and dropout
masks are not in the kernel).

forward, loss_and_grads and evaluation reuse the `step` strategy's jitted functions on the
same parameters (converted); only train_steps runs the kernel, and parity checks it.
"""
from __future__ import annotations

import os

import numpy as np

from harness.backend import Steps
from harness.spec import H2_INPUTS, PARAM_NAMES, PARAM_SHAPES, Variant, check_params

from . import jax_fused_kernel as K

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


def unsupported(variant: Variant | str, dtype: str) -> str | None:
    """None when the fused kernel trains `variant` in `dtype`, else the reason."""
    name = variant if isinstance(variant, str) else variant.name
    if name != "1989":
        return (f"jax fused trains only the 1989 variant (tanh, mse, SGD); {name!r} needs ReLU, "
                "cross-entropy, AdamW and dropout, which the kernel does not have")
    if str(dtype) not in ("float32", "float64"):
        return f"jax fused supports float32 and float64, not {dtype!r}"
    return None


# ----------------------------------------------------------------------------- layout


def to_fused(params: dict[str, np.ndarray], dtype) -> dict[str, np.ndarray]:
    """Canonical parameters -> the kernel's padded layout (jax_fused_kernel's docstring)."""
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


def chunk_inputs(steps: Steps, dtype) -> tuple[np.ndarray, ...]:
    """(count, x (m, 256), targets (m, 16), lr (m,)) with m = bucket(n); padding rows are zeros."""
    n, m = len(steps), bucket(len(steps))
    x = np.zeros((m, 256), dtype)
    x[:n] = np.asarray(steps.x).reshape(n, 256)
    t = np.zeros((m, K.N4), dtype)
    t[:n, :K.N_OUT] = steps.targets
    lr = np.zeros(m, dtype)
    lr[:n] = steps.lr
    return np.array([n], np.int32), x, t, lr


# ----------------------------------------------------------------------------- session


class FusedSession:
    """One model trained by the fused Pallas kernel on one jax device, in one dtype."""

    def __init__(self, variant: Variant, params: dict[str, np.ndarray], dtype: str, device, interpret: bool):
        from . import jax_backend

        reason = unsupported(variant, dtype)
        if reason:
            raise ValueError(reason)
        self.jax, self.jnp, _, _ = jax_backend._lib()
        self.variant, self.dtype, self.device, self.interpret = variant, np.dtype(dtype), device, interpret
        self.num_warps = num_warps()
        _, _, self._grads, self._forward = jax_backend.compiled_functions(variant)
        with self._scope():
            fused = to_fused(params, self.dtype)
            self.params = tuple(self.jax.device_put(fused[k], device) for k in K.FUSED_NAMES)

    def _scope(self):
        return self.jax.enable_x64(bool(self.dtype == np.float64))

    def environment(self) -> dict:
        return {"interpreted": self.interpret,
                "kernel": "one pallas_call per chunk: fori_loop over examples, forward + backward + SGD",
                "lowering": "pallas interpret=True (CPU)" if self.interpret
                else "pallas triton", "num_warps": None if self.interpret else self.num_warps}

    def train_steps(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        if steps.mask is not None:
            raise ValueError("jax fused has no dropout: the 1989 variant draws no masks")
        inputs = chunk_inputs(steps, self.dtype)
        with self._scope():
            f = K.make_train_chunk(len(inputs[1]), self.dtype.name, self.interpret, self.num_warps)
            self.params, losses = f(*self.jax.device_put(inputs, self.device), self.params)
            return np.asarray(losses)[:n].astype(np.float64)

    def _internal(self):
        """The parameters in the jax backend's internal layout, on the device (for forward, grads)."""
        from . import jax_layout

        return self.jax.device_put(jax_layout.from_canonical(self.get_params(), self.dtype), self.device)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return np.array(self._forward(self._internal(), xd))

    def loss_and_grads(self, steps: Steps):
        from . import jax_layout

        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, got {len(steps)}")
        with self._scope():
            x = np.ascontiguousarray(steps.x[0], dtype=self.dtype)
            tg = np.ascontiguousarray(steps.targets[0], dtype=self.dtype)
            loss, grads = self._grads(self._internal(), x, tg, np.int32(steps.labels[0]), None)
            return float(loss), jax_layout.to_canonical(self.jax.device_get(grads))

    def get_params(self) -> dict[str, np.ndarray]:
        with self._scope():
            host = self.jax.device_get(self.params)
        return to_canonical(dict(zip(K.FUSED_NAMES, host)))

    def sync(self) -> None:
        self.jax.block_until_ready(self.params)


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
