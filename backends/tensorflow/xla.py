"""`xla`: tf.function(jit_compile=True), one call per chunk of examples; the loop over the
examples is a tf.while_loop inside the compiled function (as jax's scan), carrying the
parameters and optimiser state as tensors, assigned to the variables once at its end.

The compiled function takes a chunk padded to CHUNK examples and the number n to train on
(the loop's trip count is a tensor), so one compilation serves every chunk length up to
CHUNK; longer calls are split. It is traced once per variant, dtype and spec and shared by
every session, which passes its own variables.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from harness.backend import Steps
from harness.spec import Variant

from . import network, optim
from .base import TFSession

CHUNK = 256  # examples per compiled call (harness run's default window)


@functools.cache
def train_chunk(variant: Variant, key: tuple):
    """run(params, state, x, target, label, lr, mask, n) -> losses (CHUNK,): the first n examples."""
    net = network.build(variant, key)

    def run(params, state, x, target, label, lr, mask, n):
        def body(i, p, s, losses):
            with tf.GradientTape() as tape:
                tape.watch(p)
                loss = net.loss(network.as_dict(p), x[i][None], target[i][None], label[i][None],
                                None if mask is None else mask[i][None])
            p, s = optim.update(variant, p, s, tape.gradient(loss, p), lr[i])
            return i + 1, list(p), tuple(s), losses.write(i, loss)

        carry = (tf.constant(0), [v.read_value() for v in params], tuple(v.read_value() for v in state),
                 tf.TensorArray(x.dtype, size=x.shape[0]))
        _, p, s, losses = tf.while_loop(lambda i, *_: i < n, body, carry)
        for var, value in zip((*params, *state), (*p, *s)):
            var.assign(value)
        return losses.stack()

    return tf.function(run, jit_compile=True, autograph=False)


def pad(a: np.ndarray, size: int) -> np.ndarray:
    """`a` with zeros appended along its first axis up to `size` (never trained on)."""
    if len(a) == size:
        return a
    out = np.zeros((size, *a.shape[1:]), a.dtype)
    out[:len(a)] = a
    return out


class XlaSession(TFSession):
    strategy = "xla"
    grads_jit = True

    def train_steps(self, steps: Steps) -> np.ndarray:
        out = [self._chunk(steps.slice(i, i + CHUNK)) for i in range(0, len(steps), CHUNK)]
        return np.concatenate(out) if out else np.zeros(0)

    def _chunk(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        padded = Steps(*(pad(a, CHUNK) for a in (steps.x, steps.targets, steps.labels, steps.lr)),
                       None if steps.mask is None else pad(steps.mask, CHUNK))
        run = train_chunk(self.variant, self.key)
        with tf.device(self.device):
            losses = run(self.params, self.state, *self._inputs(padded), tf.constant(n, tf.int32))
        return losses.numpy()[:n].astype(np.float64)
