"""What every TensorFlow session shares: parameters in tf.Variables (layout.py), inputs as
tensors, evaluation, gradients for parity, the parameters read back in canonical layout.

Importing it imports tensorflow through settings.load() (a strategy's module imports this
one; the backend's face imports neither until a session is asked for). A strategy
subclasses TFSession with its `train_steps`, the network its step trains (`impl`), and how
its gradients are computed (`grads_jit`: None eager, False a tf.function, True an
XLA-compiled tf.function), so parity checks each strategy's own program.
"""
from __future__ import annotations

import functools

import numpy as np

from harness.backend import Steps
from harness.spec import PARAM_NAMES, Variant

from . import layout, network, optim, patchnet, settings

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)


def build(variant: Variant, key: tuple, impl: str) -> network.Net:
    """The network of `impl` (network.IMPL): "conv" (network.py) or "patches" (patchnet.py)."""
    return (patchnet.build if impl == "patches" else network.build)(variant, key)


def loss_and_grads_fn(net: network.Net):
    """(params, x, target, label, mask) -> (loss, gradients in TF layout), params tf.Variables."""
    def loss_and_grads(params, x, target, label, mask):
        with tf.GradientTape() as tape:
            loss = net.loss(network.as_dict(params), x, target, label, mask)
        return loss, tape.gradient(loss, params)
    return loss_and_grads


@functools.cache
def compiled_grads(variant: Variant, key: tuple, impl: str, jit: bool):
    return tf.function(loss_and_grads_fn(build(variant, key, impl)), jit_compile=jit, autograph=False)


@functools.cache
def compiled_layers(variant: Variant, key: tuple):
    """Each layer's outputs on a batch, evaluation mode: one traced call per batch shape."""
    net = network.build(variant, key)
    return tf.function(lambda params, x: net.layers(network.as_dict(params), x), reduce_retracing=True,
                       autograph=False)


class TFSession:
    """One model on one TensorFlow device (a device string, "/CPU:0"), in one dtype."""

    strategy = ""
    grads_jit: bool | None = None  # None: eager tape; False: tf.function; True: XLA
    impl = "conv"  # the training step's network (network.IMPL)

    def __init__(self, variant: Variant, params: dict[str, np.ndarray], dtype: str, device: str):
        settings.pin(tf)  # full float32 on GPUs, every session
        self.variant, self.dtype, self.device = variant, np.dtype(dtype), device
        self.key = network.spec_key()
        self.net = build(variant, self.key, self.impl)
        self._concrete: dict = {}
        tfp = layout.from_canonical(params, self.dtype)
        with tf.device(device):
            self.params = tuple(tf.Variable(tfp[k], name=k) for k in PARAM_NAMES)
            self.state = optim.state_variables(variant, self.params, tf.as_dtype(self.dtype))

    def _inputs(self, steps: Steps) -> tuple:
        """x (n, 16, 16, 1), targets (n, 10), labels (n,) int32, lr (n,), mask (n, 4, 4, 12) or None."""
        dt = self.dtype
        host = (layout.nhwc(steps.x).astype(dt, copy=False), np.asarray(steps.targets, dt),
                np.asarray(steps.labels, np.int32), np.asarray(steps.lr, dt))
        mask = None if steps.mask is None else layout.nhwc(steps.mask).astype(dt, copy=False)
        with tf.device(self.device):
            return (*(tf.convert_to_tensor(a) for a in host), None if mask is None else tf.convert_to_tensor(mask))

    def _call(self, fn, *args):
        """fn(*args) through the concrete function it traced for args like these: a tf.function's
        own call matches its 25 variable arguments against its signatures every time (~0.5 ms)."""
        key = (fn, tuple(a is None for a in args))
        if key not in self._concrete:
            self._concrete[key] = fn.get_concrete_function(*args)
        return self._concrete[key](*args)

    def _x(self, x: np.ndarray):
        with tf.device(self.device):
            return tf.convert_to_tensor(layout.nhwc(x).astype(self.dtype, copy=False))

    def forward(self, x: np.ndarray) -> np.ndarray:
        with tf.device(self.device):
            return compiled_layers(self.variant, self.key)(self.params, self._x(x))["out"].numpy()

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with tf.device(self.device):
            got = compiled_layers(self.variant, self.key)(self.params, self._x(x))
        return {k: (layout.nchw(v.numpy()) if v.shape.rank == 4 else v.numpy()) for k, v in got.items()}

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, got {len(steps)}")
        fn = (loss_and_grads_fn(self.net) if self.grads_jit is None
              else compiled_grads(self.variant, self.key, self.impl, self.grads_jit))
        x, target, label, _, mask = self._inputs(steps)
        with tf.device(self.device):
            loss, grads = fn(self.params, x, target, label, mask)
        return float(loss.numpy()), layout.to_canonical({k: g.numpy() for k, g in zip(PARAM_NAMES, grads)})

    def get_params(self) -> dict[str, np.ndarray]:
        return layout.to_canonical({k: v.numpy() for k, v in zip(PARAM_NAMES, self.params)})

    def sync(self) -> None:
        sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
        if sync is not None and not self.device.upper().startswith("/CPU"):
            sync()  # GPU: wait for queued kernels (on the CPU, ops have finished when they return)

    def kernels_per_example(self, steps: Steps) -> dict:
        from . import kernels
        return kernels.count(self, steps)

    def environment(self) -> dict:
        return {"strategy": self.strategy, "train_impl": network.IMPL[self.impl], "eval_impl": network.IMPL["conv"],
                "dtype": str(self.dtype), "device": self.device,
                "threads": settings.threads_record(tf)}
