"""`eager`: the loop most TensorFlow ports write. tf.GradientTape around the forward pass of one
example, the gradients applied op by op (optim.apply, the spec's formulas), every op
dispatched eagerly from Python."""
from __future__ import annotations

import numpy as np

from harness.backend import Steps

from . import network, optim, settings
from .base import TFSession

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)


class EagerSession(TFSession):
    strategy = "eager"
    grads_jit = None

    def train_steps(self, steps: Steps) -> np.ndarray:
        x, target, label, lr, mask = self._inputs(steps)
        p = network.as_dict(self.params)
        losses = []
        with tf.device(self.device):
            for i in range(len(steps)):
                with tf.GradientTape() as tape:
                    loss = self.net.loss(p, x[i:i + 1], target[i:i + 1], label[i:i + 1],
                                         None if mask is None else mask[i:i + 1])
                optim.apply(self.variant, self.params, self.state, tape.gradient(loss, self.params), lr[i])
                losses.append(loss)
            return tf.stack(losses).numpy().astype(np.float64) if losses else np.zeros(0)
