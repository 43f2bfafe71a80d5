"""`xla`: tf.function(jit_compile=True), one call per chunk of examples; the loop over the
examples is a tf.while_loop inside the compiled function (as jax's scan), carrying the
parameters and optimiser state as tensors, assigned to the variables once at its end.

Inside the compiled function the parameters are carried in the layout of internal.py (the
network of patchnet.py), converted once per call each way. It takes a chunk padded to CHUNK
examples and the number n to train on (the loop's trip count is a tensor), so one
compilation serves every chunk length up to CHUNK; longer calls are split. It is traced
once per variant, dtype and spec and shared by every session, which passes its own variables.
"""
from __future__ import annotations

import functools

import numpy as np

from harness.backend import Steps
from harness.spec import PARAM_NAMES, Variant

from . import optim, settings
from .base import TFSession, build

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)

CHUNK = 256  # examples per compiled call (harness run's default window)


@functools.cache
def train_chunk(variant: Variant, key: tuple, impl: str):
    """run(params, state, x, target, label, lr, mask, n) -> losses (CHUNK,): the first n examples."""
    net = build(variant, key, impl)

    def run(params, state, x, target, label, lr, mask, n):
        masks = None if mask is None else tf.transpose(tf.reshape(mask, (-1, 16, 12)), (0, 2, 1))  # (CHUNK, 12, 16)

        def body(i, q, s, losses):
            with tf.GradientTape() as tape:
                tape.watch(q)
                loss = net.loss_internal(dict(zip(PARAM_NAMES, q)), x[i], target[i], label[i],
                                         None if masks is None else masks[i])
            q, s = optim.update(variant, q, s, tape.gradient(loss, q), lr[i])
            return i + 1, list(q), tuple(s), losses.write(i, loss)

        q, s = convert(net.to_internal, [v.read_value() for v in params], [v.read_value() for v in state])
        _, q, s, losses = tf.while_loop(lambda i, *_: i < n, body,
                                        (tf.constant(0), q, s, tf.TensorArray(x.dtype, size=x.shape[0])))
        q, s = convert(net.from_internal, q, s)
        for var, value in zip((*params, *state), (*q, *s)):
            var.assign(value)
        return losses.stack()

    return tf.function(run, jit_compile=True, autograph=False)


def convert(fn, params, state) -> tuple[list, tuple]:
    """Parameters and AdamW's moments (state = (m..., v..., t)) through a layout conversion `fn`."""
    n = len(params)
    moments = [fn(state[i:i + n]) for i in range(0, len(state) - 1, n)]
    return list(fn(params)), (*[v for m in moments for v in m], *state[len(state) - 1:])


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
    impl = "patches"

    def train_steps(self, steps: Steps) -> np.ndarray:
        out = [self._chunk(steps.slice(i, i + CHUNK)) for i in range(0, len(steps), CHUNK)]
        return np.concatenate(out) if out else np.zeros(0)

    def _chunk(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        padded = Steps(*(pad(a, CHUNK) for a in (steps.x, steps.targets, steps.labels, steps.lr)),
                       None if steps.mask is None else pad(steps.mask, CHUNK))
        run = train_chunk(self.variant, self.key, self.impl)
        with tf.device(self.device):
            losses = self._call(run, self.params, self.state, *self._inputs(padded), tf.constant(n, tf.int32))
        return losses.numpy()[:n].astype(np.float64)
