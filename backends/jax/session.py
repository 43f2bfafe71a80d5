"""`step` and `scan`: one model on one jax device, in one dtype, trained at batch size 1, in order,
one optimiser update per example.

  step  the loop a JAX user writes: one jitted training step per example, called from Python
        (params and opt_state donated). The chunk is put on the device once and the step
        indexes it (per-example host slices would cost a host-to-device copy per step on a
        GPU); the losses stay on the device and are fetched once per call.
  scan  the whole chunk of examples in one jitted `lax.scan` over examples, carrying
        (params, opt_state), the carry's buffers donated; functions.SCAN_UNROLL examples per
        loop iteration.

Parameters live in the internal layout of layout.py. float64: each session enters
`jax.enable_x64(dtype == "float64")`, a scoped, thread-local context, around every call into
JAX; the global flag is never changed.
"""
from __future__ import annotations

import numpy as np

from harness.backend import Steps
from harness.spec import Variant

from . import kernels, layout, threads
from .framework import import_jax
from .functions import (
    compiled_functions,
    compiled_layers,
    net_module,
    scan_unroll,
    spec_key,
)
from .optimizers import make_optimizer


class JaxSession:
    """One model on one jax device, in one dtype, trained with `step` or `scan`."""

    def __init__(self, variant: Variant, params: dict[str, np.ndarray], dtype: str, device, strategy: str,
                 device_name: str | None = None):
        jax = import_jax()
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.variant, self.dtype, self.device, self.strategy = variant, np.dtype(dtype), device, strategy
        self.x64 = self.dtype == np.float64
        self.opt = make_optimizer(variant)
        self.unroll = scan_unroll(device.platform)
        self.key = spec_key()
        self.fns = compiled_functions(variant, self.unroll, self.key)
        with self._scope():
            self.params = jax.device_put(layout.from_canonical(params, self.dtype), device)
            self.opt_state = jax.device_put(self.opt.init(self.params), device)

    def _scope(self):
        return self.jax.enable_x64(bool(self.x64))

    def _inputs(self, steps: Steps):
        dt = self.dtype
        host = (
            np.ascontiguousarray(steps.x, dtype=dt),
            np.ascontiguousarray(steps.targets, dtype=dt),
            np.ascontiguousarray(steps.labels, dtype=np.int32),
            np.ascontiguousarray(steps.lr, dtype=dt),
            None if steps.mask is None else np.ascontiguousarray(steps.mask, dtype=dt),
        )
        return self.jax.device_put(host, self.device)

    def train_steps(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        with self._scope():
            xs = self._inputs(steps)
            if self.strategy == "scan":
                (self.params, self.opt_state), losses = self.fns.scan((self.params, self.opt_state), xs)
            else:
                out = []
                for i in range(n):
                    self.params, self.opt_state, loss = self.fns.step(self.params, self.opt_state, xs, i)
                    out.append(loss)
                losses = self.jnp.stack(out)
            return np.asarray(losses).astype(np.float64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return np.array(self.fns.forward(self.params, xd))

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return {k: np.array(v) for k, v in compiled_layers(self.variant, self.key)(self.params, xd).items()}

    def environment(self) -> dict:
        """This session's code paths and settings, to record with a result."""
        return {"train_impl": net_module().IMPL["patches"], "eval_impl": net_module().IMPL["conv"],
                "scan_unroll": self.unroll, "dtype": str(self.dtype), "device": str(self.device),
                "xla_cpu_threads": threads.record()}

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, got {len(steps)}")
        with self._scope():
            x, tg, lb, _, mask = self._inputs(steps)
            loss, grads = self.fns.grads(self.params, x[0], tg[0], lb[0], None if mask is None else mask[0])
            return float(loss), layout.to_canonical(self.jax.device_get(grads))

    def get_params(self) -> dict[str, np.ndarray]:
        with self._scope():
            return layout.to_canonical(self.jax.device_get(self.params))

    def sync(self) -> None:
        self.jax.block_until_ready((self.params, self.opt_state))

    def kernels_per_example(self, steps: Steps) -> dict:
        return kernels.count(self, steps)
