"""The JAX backend's network: a Flax linen module and the H2 product with its written-out VJP.

Imports jax and flax at the top: functions.net_module() imports this module on first use, only when
a session, a model or a compiled function is asked for. Parameters are in the
internal layout of layout.py; the gather tables come from harness.tables
(through layout.py's internal column order). The padding value and H2's
connection table are fields of the module (`pad_value`, `h2_inputs`), which
functions.make_model fills from harness.spec when it builds a session.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from harness.spec import SCALED_TANH_A, SCALED_TANH_S

from . import layout

HI = lax.Precision.HIGHEST  # on every dot and convolution: full fp32 on GPU/TPU
DN = ("NHWC", "HWIO", "NHWC")  # the evaluation convolutions' dimension numbers

# What each `impl` runs; recorded with a result, and tested against the traced program.
IMPL = {
    "patches": "im2col: both convolutions as matmuls over gathered patches; H2 one dense masked "
               "(12, 300) product with a written-out VJP",
    "conv": f"lax.conv_general_dilated {DN[0]}/{DN[1]}, H2 as one dense 12->12 convolution "
            "(exact zeros where planes are unconnected)",
}


def gather(flat, index):
    return flat.at[index].get(mode="promise_in_bounds")


def with_sentinel(a, value: float):
    """a flattened, with the padding value appended: the index tables' sentinel points at it."""
    return jnp.concatenate([a.reshape(-1), jnp.full((1,), value, a.dtype)])


@functools.cache
def h2_product(pad_value: float, h2_inputs: tuple):
    """H2's pre-activation (12, 16) from its dense kernel w (12, 300) and H1's output h (12, 64).

    The product over gathered patches. Its VJP is written out because the one JAX derives
    costs about a quarter of the XLA:CPU training step (docs/performance.md): the patches'
    gradient is formed transposed, dz^T @ w (16, 300), and folded back into h by gathers and
    sums over precomputed positions (layout.H2_COL2IM: col2im without a scatter). The gradient
    of w's unconnected entries (from `h2_inputs`) is set to exactly 0, so they stay 0 under
    SGD and AdamW (zero gradient, zero moments, zero decay of a zero).
    """
    mask = layout.h2_mask(h2_inputs)  # (12, 300) bool

    @jax.custom_vjp
    def product(w, h):
        return jnp.dot(w, gather(with_sentinel(h, pad_value), layout.H2_PATCHES_INTERNAL), precision=HI)

    def fwd(w, h):
        P2 = gather(with_sentinel(h, pad_value), layout.H2_PATCHES_INTERNAL)  # (300, 16): padded H1
        return jnp.dot(w, P2, precision=HI), (w, P2)

    def bwd(res, dz):  # dz (12, 16)
        w, P2 = res
        dw = jnp.where(mask, jnp.dot(dz, P2.T, precision=HI), jnp.zeros((), dz.dtype))  # (12, 300)
        dP2T = jnp.dot(dz.T, w, precision=HI).reshape(-1)  # (16 * 300,): the patches' gradient, transposed
        pieces = []
        for _, _, pos in layout.H2_COL2IM:  # H1's columns grouped by reads: (12, n, k) positions
            s = gather(dP2T, pos[..., 0])
            for k in range(1, pos.shape[-1]):  # elementwise sums: XLA fuses them into one loop
                s = s + gather(dP2T, pos[..., k])
            pieces.append(s)
        return dw, jnp.concatenate(pieces, axis=1)  # (12, 64), H1's internal column order

    product.defvjp(fwd, bwd)
    return product


def activation(name: str):
    """The nonlinearity `name` (spec.HIDDEN_ACTIVATIONS / OUTPUT_ACTIVATIONS) in jnp."""
    A, S = SCALED_TANH_A, SCALED_TANH_S
    return {"tanh": jnp.tanh, "scaled_tanh": lambda a: A * jnp.tanh(S * a), "relu": jax.nn.relu,
            "linear": lambda a: a}[name]


def conv_nhwc(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), "VALID", dimension_numbers=DN, precision=HI)


def pad_nhwc(x, pad_value: float):
    return jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=pad_value)


class LeNet1989(nn.Module):
    """LeCun et al. 1989. Parameters in the internal layout of backends/jax/layout.py.

    x (1, 16, 16) -> (10,) for one example, x (B, 1, 16, 16) -> (B, 10) for a batch.
    `impl`: "patches" (products over gathered patches, vmapped over a batch) or "conv" (IMPL).
    `layers`: return each layer's output in canonical layout ("conv" only; see layers_conv).
    """

    hidden_activation: str = "tanh"
    output_activation: str = "tanh"
    impl: str = "patches"
    layers: bool = False
    pad_value: float = -1.0
    h2_inputs: tuple = ()

    @nn.compact
    def __call__(self, x, mask=None):
        p = {name: self.param(name, nn.initializers.zeros_init(), shape, x.dtype)
             for name, shape in layout.INTERNAL_SHAPES.items()}
        single = x.ndim == 3
        if self.impl == "conv":
            xb = x[None] if single else x
            mb = None if mask is None else (mask[None] if single else mask)
            out = self.layers_conv(p, xb, mb)
            if self.layers:
                return out
            return out["out"][0] if single else out["out"]
        if self.layers:
            raise ValueError("layers=True needs impl='conv'")
        if single:
            return self.forward_patches(p, x, mask)
        if mask is None:
            return jax.vmap(lambda xi: self.forward_patches(p, xi, None))(x)
        return jax.vmap(lambda xi, mi: self.forward_patches(p, xi, mi))(x, mask)

    def forward_patches(self, p, x, mask):
        """One example x (1, 16, 16) -> (10,): convolutions as products over gathered patches."""
        act, out_act = activation(self.hidden_activation), activation(self.output_activation)
        P1 = gather(with_sentinel(x, self.pad_value), layout.H1_PATCHES_INTERNAL)  # (25, 64): padded x
        h = act(jnp.dot(p["H1w"], P1, precision=HI) + p["H1b"])  # (12, 64): (C, position in H1_ORDER)
        h = act(h2_product(self.pad_value, self.h2_inputs)(p["H2w_dense"], h) + p["H2b"])  # (12, 16)
        if mask is not None:
            h = h * mask.reshape(12, 16)  # dropout mask drawn by the core, already scaled
        h = act(jnp.dot(p["H3w"], h.reshape(192), precision=HI) + p["H3b"])  # (30,), (C, H, W) flatten
        return out_act(jnp.dot(p["outw"], h, precision=HI) + p["outb"])  # (10,)

    def layers_conv(self, p, x, mask) -> dict:
        """A batch x (B, 1, 16, 16) -> each layer's output, canonical layout, with lax.conv (IMPL["conv"]).

        NHWC/HWIO with H2 as one 12 -> 12 convolution with the dense kernel is the fastest
        evaluation measured (docs/performance.md); the zeros add nothing, only the summation
        order differs from the patches path (~1e-7 in float32).
        """
        act, out_act = activation(self.hidden_activation), activation(self.output_activation)
        x = x.reshape(x.shape[0], 16, 16, 1)  # C = 1: NCHW -> NHWC is a reshape
        w1 = p["H1w"].reshape(12, 5, 5).transpose(1, 2, 0)[:, :, None, :]  # HWIO (5, 5, 1, 12)
        b1 = p["H1b"][:, layout.H1_RANK].reshape(12, 8, 8)  # internal column order -> canonical (C, H, W)
        h1 = act(conv_nhwc(pad_nhwc(x, self.pad_value), w1) + b1.transpose(1, 2, 0))  # (B, 8, 8, 12)
        w2 = p["H2w_dense"].reshape(12, 12, 5, 5).transpose(2, 3, 1, 0)  # OIHW -> HWIO (5, 5, 12, 12)
        h2 = act(conv_nhwc(pad_nhwc(h1, self.pad_value), w2)
                 + p["H2b"].reshape(12, 4, 4).transpose(1, 2, 0))  # (B, 4, 4, 12)
        h2 = h2.transpose(0, 3, 1, 2)  # (B, 12, 4, 4): the canonical (C, H, W) order
        h = h2 if mask is None else h2 * mask
        h3 = act(jnp.dot(h.reshape(h.shape[0], 192), p["H3w"].T, precision=HI) + p["H3b"])  # (B, 30)
        out = out_act(jnp.dot(h3, p["outw"].T, precision=HI) + p["outb"])  # (B, 10)
        return {"H1": h1.transpose(0, 3, 1, 2), "H2": h2, "H3": h3, "out": out}
