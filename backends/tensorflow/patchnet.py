"""The network for one example in the internal layout of internal.py, for the XLA strategy:
both convolutions as products over patches gathered with harness.tables' index tables, H2
one dense (12, 300) @ (300, 16) product with a written-out gradient (the one TensorFlow
derives for a gather is a scatter-add; this one masks the kernel's gradient and folds the
patches' gradient back with gathers and a sum). Timings: docs/performance.md.
"""
from __future__ import annotations

import functools

from harness.spec import PARAM_NAMES, Variant

from . import internal, network, settings

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)


class PatchNet(network.Net):
    """`loss_internal` on one example and internal parameters; `output` (and so `loss`) on
    TensorFlow-layout parameters, converted (differentiably) first: for the gradients parity
    compares. `layers` (evaluation, a batch) is Net's."""

    def __init__(self, variant: Variant, key: tuple):
        super().__init__(variant, key)
        self.t = internal.Tables()

    def to_internal(self, values) -> list:
        """Tensors in spec.PARAM_NAMES order, TensorFlow layout -> internal layout."""
        return [tf.gather(tf.concat([tf.reshape(v, [-1]), tf.zeros([1], v.dtype)], 0), self.t.to[k])
                for k, v in zip(PARAM_NAMES, values)]

    def from_internal(self, values) -> list:
        return [tf.gather(tf.reshape(v, [-1]), self.t.back[k]) for k, v in zip(PARAM_NAMES, values)]

    def _with_pad(self, a):
        return tf.concat([tf.reshape(a, [-1]), tf.fill([1], tf.cast(self.pad_value, a.dtype))], 0)

    def _h2(self, w, h1):
        """H2's pre-activation (12, 16) from its dense kernel w (12, 300) and H1's output h1 (12, 64)."""
        mask, adjoint = self.t.h2_mask, self.t.h2_adjoint

        @tf.custom_gradient
        def product(w, h1):
            P2 = tf.gather(self._with_pad(h1), self.t.h2)  # (300, 16): padded H1's 5x5 windows

            def grad(dz):  # (12, 16)
                dw = tf.where(mask, tf.matmul(dz, P2, transpose_b=True), tf.zeros((), dz.dtype))  # (12, 300)
                dP2T = tf.reshape(tf.matmul(dz, w, transpose_a=True), [-1])  # (16 * 300,): transposed
                dh1 = tf.reduce_sum(tf.gather(tf.concat([dP2T, tf.zeros([1], dz.dtype)], 0), adjoint), axis=1)
                return dw, tf.reshape(dh1, (12, 64))  # col2im as gathers and a sum: no scatter

            return tf.matmul(w, P2), grad

        return product(w, h1)

    def output_internal(self, q: dict, x, mask=None):
        """One example x (16, 16) or (1, 16, 16) -> out (10,); `mask` (12, 4, 4), canonical."""
        P1 = tf.gather(self._with_pad(x), self.t.h1)  # (25, 64): padded x's 5x5 windows
        h1 = self.act(tf.matmul(q["H1w"], P1) + q["H1b"])  # (12, 64): (C, position)
        h2 = self.act(self._h2(q["H2w"], h1) + q["H2b"])  # (12, 16)
        h2d = h2 if mask is None else h2 * tf.reshape(mask, (12, 16))
        h3 = self.act(tf.linalg.matvec(q["H3w"], tf.reshape(h2d, [192])) + q["H3b"])  # (30,), (C, H, W) order
        return self.out_act(tf.linalg.matvec(q["outw"], h3) + q["outb"])  # (10,)

    def loss_internal(self, q: dict, x, target, label, mask=None):
        return self.loss_of(self.output_internal(q, x, mask), target, label)

    def output(self, p: dict, x, mask=None):
        """One example in the network's NHWC interface: x (1, 16, 16, 1), mask (1, 4, 4, 12) -> (1, 10)."""
        q = dict(zip(PARAM_NAMES, self.to_internal([p[k] for k in PARAM_NAMES])))
        m = None if mask is None else tf.transpose(tf.reshape(mask, (16, 12)))  # (12, 16), channel-major
        return self.output_internal(q, x, m)[None]


@functools.cache
def build(variant: Variant, key: tuple) -> PatchNet:
    """The patch network for `variant` under the spec `key` (network.spec_key()), shared by sessions."""
    return PatchNet(variant, key)
