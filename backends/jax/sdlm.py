"""SDLM for the jax backend: the second-derivative pass, and the session that hands the step scale
to the optimiser.

- The optimiser (optimizers.sdlm_optimizer) keeps the scale 1 / (mu + h) in its state, so the
  jitted `step` and `scan` train unchanged: `SdlmJaxSession.set_step_scale` swaps the tree in
  between calls.
- `hessian_diag`: the recursion of harness/sdlm.py on canonical parameters in jnp, the
  convolution adjoints taken with jax.vjp of the convolution at squared operands; jitted.
Imported only when the SDLM variant is asked for.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from harness.reference import derivative
from harness.spec import H2_INPUTS, PARAM_NAMES

from . import layout
from .network import activation as _act
from .optimizers import ScaleState
from .session import JaxSession

HI = lax.Precision.HIGHEST
DN = ("NCHW", "OIHW", "NCHW")


def _conv(u, w):
    return lax.conv_general_dilated(u, w, (2, 2), "VALID", dimension_numbers=DN, precision=HI)


def _pad(x):
    return jnp.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)


def _derivative(name, a, y):
    """f'(a) from the input a and output y = f(a): harness.reference's formula on jax arrays."""
    return derivative(name, a, y, lambda t: (t > 0).astype(t.dtype), jnp.ones_like)


_H2_ROWS = np.array([list(ins) for ins in H2_INPUTS], np.int32)  # (12, 8): the H1 planes each H2 plane sees
_H2_OUT = np.arange(12, dtype=np.int32)[:, None]


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def hessian_diag(p, hidden: str, output: str, curvature: float, _x64: bool, x):
    """h per parameter (canonical layout), averaged over the batch x (B, 1, 16, 16)."""
    act = _act(hidden)
    b = x.shape[0]
    u1 = _pad(x)  # (B, 1, 20, 20)
    a1 = _conv(u1, p["H1w"]) + p["H1b"]
    y1 = act(a1)  # (B, 12, 8, 8)
    u2 = _pad(y1)  # (B, 12, 12, 12)
    w2 = jnp.zeros((12, 12, 5, 5), x.dtype).at[_H2_OUT, _H2_ROWS].set(p["H2w"])
    a2 = _conv(u2, w2) + p["H2b"]
    y2 = act(a2)  # (B, 12, 4, 4)
    y2f = y2.reshape(b, 192)
    a3 = jnp.dot(y2f, p["H3w"], precision=HI) + p["H3b"]
    y3 = act(a3)  # (B, 30)
    a4 = jnp.dot(y3, p["outw"], precision=HI) + p["outb"]
    out = _act(output)(a4)  # (B, 10)
    h = {}
    d4 = curvature * _derivative(output, a4, out) ** 2
    h["outw"], h["outb"] = jnp.dot((y3 ** 2).T, d4, precision=HI), d4.sum(0)
    d3 = _derivative(hidden, a3, y3) ** 2 * jnp.dot(d4, (p["outw"] ** 2).T, precision=HI)  # (B, 30)
    h["H3w"], h["H3b"] = jnp.dot((y2f ** 2).T, d3, precision=HI), d3.sum(0)
    d2 = _derivative(hidden, a2, y2) ** 2 * jnp.dot(d3, (p["H3w"] ** 2).T, precision=HI).reshape(b, 12, 4, 4)
    _, by_w = jax.vjp(lambda w: _conv(u2 ** 2, w), w2 ** 2)  # adjoint in w: sum of squared inputs x d2
    h["H2w"] = by_w(d2)[0][_H2_OUT, _H2_ROWS]  # (12, 8, 5, 5)
    h["H2b"] = d2.sum(0)
    _, by_u = jax.vjp(lambda u: _conv(u, w2 ** 2), u2 ** 2)  # adjoint in u: squared weights x d2
    d1 = _derivative(hidden, a1, y1) ** 2 * by_u(d2)[0][:, :, 2:10, 2:10]  # padding receives nothing
    _, by_w1 = jax.vjp(lambda w: _conv(u1 ** 2, w), p["H1w"] ** 2)
    h["H1w"], h["H1b"] = by_w1(d1)[0], d1.sum(0)
    return {k: h[k] / b for k in PARAM_NAMES}


class SdlmJaxSession(JaxSession):
    """The jax session (step or scan) with the SDLM optimiser's two extra methods."""

    def hessian_diag(self, steps) -> dict[str, np.ndarray]:
        v = self.variant
        with self._scope():
            p = {k: jnp.asarray(a) for k, a in self.get_params().items()}
            x = self.jax.device_put(np.ascontiguousarray(steps.x, dtype=self.dtype), self.device)
            h = hessian_diag(self.jax.device_put(p, self.device), v.hidden_activation, v.output_activation,
                             v.optimizer.output_curvature, bool(self.x64), x)
            return {k: np.array(a) for k, a in self.jax.device_get(h).items()}

    def set_step_scale(self, scale: dict[str, np.ndarray]) -> None:
        """Per-parameter step scale 1 / (mu + h), canonical layout (from the core)."""
        with self._scope():
            tree = self.jax.device_put(layout.from_canonical(scale, self.dtype), self.device)
            st = self.opt_state
            self.opt_state = st._replace(inner_state=(ScaleState(tree), *st.inner_state[1:]))
