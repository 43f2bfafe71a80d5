"""`function`: one tf.function call per example. The step (forward, GradientTape, the spec's
update assigned to the variables) is traced once per variant, dtype and spec, shared by every
session, which passes its own variables; the chunk is split into per-example tensors once."""
from __future__ import annotations

import functools

import numpy as np

from harness.backend import Steps
from harness.spec import Variant

from . import network, optim, settings
from .base import TFSession, build

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)


@functools.cache
def train_step(variant: Variant, key: tuple, impl: str):
    """step(params, state, x, target, label, lr, mask) -> loss: one example, variables updated."""
    net = build(variant, key, impl)

    def step(params, state, x, target, label, lr, mask):
        with tf.GradientTape() as tape:
            loss = net.loss(network.as_dict(params), x, target, label, mask)
        optim.apply(variant, params, state, tape.gradient(loss, params), lr)
        return loss

    return tf.function(step, autograph=False)


class FunctionSession(TFSession):
    strategy = "function"
    grads_jit = False
    impl = "conv"

    def train_steps(self, steps: Steps, step=None) -> np.ndarray:
        """`step`: another traced step to train with (fresh_step(), for kernels.py); default the shared one."""
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        x, target, label, lr, mask = self._inputs(steps)
        step = step or train_step(self.variant, self.key, self.impl)
        with tf.device(self.device):
            per = [tf.split(t, n) for t in (x, target, label)] + [tf.unstack(lr)]
            masks = [None] * n if mask is None else tf.split(mask, n)
            losses = [self._call(step, self.params, self.state, *ex, m) for *ex, m in zip(*per, masks)]
            return tf.stack(losses).numpy().astype(np.float64)

    def fresh_step(self):
        """The step traced anew, its graph executor cold: once warm, TensorFlow's executor runs the ops
        it has found cheap inline, where its profiler no longer sees them (kernels.py counts on this)."""
        return train_step.__wrapped__(self.variant, self.key, self.impl)
