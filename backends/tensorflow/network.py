"""The network and the losses of docs/spec.md in TensorFlow ops, channels-last (layout.py).

Importing it imports tensorflow, through settings.load() (as every module of this package
that uses tensorflow does), so the import always runs under the backend's settings.

Parameters are a dict name -> tensor or tf.Variable in layout.TF_SHAPES. H2 is one dense
12 -> 12 tf.nn.conv2d whose kernel is made from H2w (5, 5, 8, 12), exact zeros where an
output plane does not see an H1 plane (Net.dense_h2): one convolution where one per group of
planes (with its channel gathers and kernel slices) made the traced step twice as long and
~30% slower; TensorFlow's grouped convolution has no gradient on the CPU outside XLA.
The padding value and H2's table are read from harness.spec when a Net is built.
"""
from __future__ import annotations

import functools

import numpy as np

from harness import spec
from harness.spec import PARAM_NAMES, Variant

from . import settings

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)

IMPL = {"conv": "tf.nn.conv2d NHWC/HWIO; H2 one dense 12->12 conv2d, its kernel H2w times a 0/1 selection "
                "of the planes each output plane sees",
        "patches": "im2col, one example, channel-major inside the compiled loop: both convolutions as "
                   "matmuls over patches gathered with harness.tables' index tables; H2 one dense "
                   "(12, 300) @ (300, 16) product, zeros where planes are unconnected, with a written-out "
                   "gradient (masked; col2im as gathers and a sum, no scatter)"}


def spec_key() -> tuple:
    """What a Net reads from harness.spec when it is built: the padding, H2's table."""
    return float(spec.PAD_VALUE), spec.PAD, tuple(tuple(ins) for ins in spec.H2_INPUTS)


def h2_selection() -> np.ndarray:
    """(12, 8, 12) 0/1: [o, k, c] = 1 where the k-th H1 plane H2 plane o sees (spec.H2_INPUTS[o][k],
    as it stands) is plane c."""
    select = np.zeros((12, 8, 12))
    for o, ins in enumerate(spec.H2_INPUTS):
        select[o, np.arange(len(ins)), list(ins)] = 1.0
    return select


def _identity(t):
    return t


def activation(name: str):
    """The nonlinearity `name` (spec.HIDDEN_ACTIVATIONS / OUTPUT_ACTIVATIONS) in TensorFlow ops."""
    A, S = spec.SCALED_TANH_A, spec.SCALED_TANH_S
    return {"tanh": tf.tanh, "scaled_tanh": lambda a: A * tf.tanh(S * a), "relu": tf.nn.relu,
            "linear": _identity}[name]


class Net:
    """LeCun et al. 1989 as TensorFlow ops for `variant`, under the spec as it stood when built."""

    def __init__(self, variant: Variant, key: tuple):
        if key != spec_key():
            raise ValueError("a Net is built under the spec it is keyed by")
        self.variant = variant
        self.act, self.out_act = activation(variant.hidden_activation), activation(variant.output_activation)
        if variant.loss not in ("mse", "xent"):
            raise ValueError(f"unknown loss {variant.loss!r}")
        self.pad_value, pad, _ = key
        self.paddings = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
        # (the H1 planes a group reads, its output planes as a slice of H2w's last axis)
        self.h2_select = {dt: h2_selection().astype(dt) for dt in ("float32", "float64")}

    def dense_h2(self, h2w):
        """H2w (5, 5, 8, 12) -> the dense HWIO kernel (5, 5, 12, 12): per output plane, its 8 input
        planes' taps times a 0/1 selection of where they sit among the 12 (exact: each entry is one
        product with 1, plus exact zeros). Two small batched products, forward and backward, where a
        gather's gradient (a segment sum) took ~45 us per step."""
        taps = tf.transpose(tf.reshape(h2w, (25, 8, 12)), (2, 0, 1))  # (12, 25, 8): (o, tap, k)
        dense = tf.matmul(taps, self.h2_select[h2w.dtype.name])  # (12, 25, 12): (o, tap, c)
        return tf.reshape(tf.transpose(dense, (1, 2, 0)), (5, 5, 12, 12))

    def layers(self, p: dict, x, mask=None) -> dict:
        """x (B, 16, 16, 1) -> each layer's output after its nonlinearity, NHWC; `mask` (B, 4, 4, 12)."""
        xp = tf.pad(x, self.paddings, constant_values=self.pad_value)  # (B, 20, 20, 1)
        h1 = self.act(tf.nn.conv2d(xp, p["H1w"], 2, "VALID") + p["H1b"])  # (B, 8, 8, 12)
        h1p = tf.pad(h1, self.paddings, constant_values=self.pad_value)  # (B, 12, 12, 12)
        w2 = self.dense_h2(p["H2w"])  # (5, 5, 12, 12)
        h2 = self.act(tf.nn.conv2d(h1p, w2, 2, "VALID") + p["H2b"])  # (B, 4, 4, 12); w2 (5, 5, 12, 12)
        h2d = h2 if mask is None else h2 * mask  # dropout mask drawn by the core, already scaled
        h3 = self.act(tf.matmul(tf.reshape(h2d, (-1, 192)), p["H3w"]) + p["H3b"])  # (B, 30), (H, W, C) order
        out = self.out_act(tf.matmul(h3, p["outw"]) + p["outb"])  # (B, 10)
        return {"H1": h1, "H2": h2, "H3": h3, "out": out}

    def output(self, p: dict, x, mask=None):
        return self.layers(p, x, mask)["out"]

    def loss(self, p: dict, x, target, label, mask=None):
        """The loss of docs/spec.md, averaged over the batch (one example in training)."""
        return self.loss_of(self.output(p, x, mask), target, label)

    def loss_of(self, out, target, label):
        """mse: (target - out)^2, its mean over the outputs (or, reduction "sum", its sum); xent:
        softmax cross-entropy; batch mean."""
        if self.variant.loss == "mse":
            if self.variant.reduction == "sum":
                return tf.reduce_mean(tf.reduce_sum(tf.square(target - out), axis=-1))
            return tf.reduce_mean(tf.square(target - out))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label, logits=out))


@functools.cache
def build(variant: Variant, key: tuple) -> Net:
    """The network for `variant` under the spec `key` (spec_key()), shared by sessions."""
    return Net(variant, key)


def as_dict(values) -> dict:
    """A sequence in spec.PARAM_NAMES order -> {name: value}."""
    return dict(zip(PARAM_NAMES, values))
