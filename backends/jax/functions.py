"""The jitted functions of a variant: the training step, the scan over a chunk, gradients and
evaluation, built from the Flax module and the optax optimiser, shared by every session.

- The network (network.py, imported on first use: it imports jax and flax at its top) is a Flax
  linen module that declares each parameter tensor with `self.param`, named after the paper;
  training steps are pure functions of the params pytree, applied with `module.apply`, so they
  jit, scan and donate without any state threading.
- Training (impl "patches"): both convolutions as matrix products over patches gathered with
  harness.tables' index tables, H2 as one dense product whose VJP is written out. Evaluation
  (impl "conv"): lax.conv_general_dilated in NHWC with H2 as one dense convolution, one jitted
  call per batch shape. network.IMPL says which is which and is recorded with a result.
- The padding value and H2's connection table are read from harness.spec when a session is
  built (spec_key()); the jitted functions are cached per value.
- Every dot and convolution passes `precision=lax.Precision.HIGHEST` (full fp32 on GPU/TPU,
  where JAX lowers precision by default).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from harness import spec
from harness.spec import Variant

from .framework import import_jax
from .optimizers import make_optimizer

PRECISION = "HIGHEST"  # lax.Precision on every dot and convolution
# Examples per iteration of the scan's loop body (lax.scan unroll), by jax platform: on CPU
# unrolling made no difference beyond noise and costs compile time; on a GPU 4 was among the
# fastest (measurements: docs/performance.md). TPU: not measured; as the GPU.
SCAN_UNROLL = {"cpu": 1, "gpu": 4, "cuda": 4, "rocm": 4, "tpu": 4}


def scan_unroll(platform: str) -> int:
    return SCAN_UNROLL.get(platform, 1)


def net_module():
    """backends.jax.network (imports jax and flax at its top), imported on first use."""
    import_jax()
    from . import network

    return network


def spec_key() -> tuple[float, tuple]:
    """What a model reads from harness.spec when it is built: the padding value and H2's table."""
    return float(spec.PAD_VALUE), tuple(tuple(ins) for ins in spec.H2_INPUTS)


def make_model(variant: Variant, impl: str = "patches", layers: bool = False, key: tuple | None = None):
    """The linen module for `variant`; `key` (spec_key()) defaults to the spec as it stands."""
    pad_value, h2_inputs = spec_key() if key is None else key
    return net_module().LeNet1989(hidden_activation=variant.hidden_activation,
                                  output_activation=variant.output_activation, impl=impl, layers=layers,
                                  pad_value=pad_value, h2_inputs=h2_inputs)


def make_loss(variant: Variant, model):
    """loss(params, x, target, label, mask) on one example."""
    import jax.numpy as jnp
    import optax

    if variant.loss not in ("mse", "xent"):
        raise ValueError(f"unknown loss {variant.loss!r}")

    def loss(params, x, target, label, mask):
        out = model.apply({"params": params}, x, mask)  # (10,)
        if variant.loss == "mse":
            sq = (target - out) ** 2
            return jnp.mean(sq) if variant.reduction == "mean" else jnp.sum(sq)
        return optax.softmax_cross_entropy_with_integer_labels(out, label)

    return loss


def make_train_step(variant: Variant, model, opt):
    """(params, opt_state, x, target, label, lr, mask) -> (params, opt_state, loss): one example."""
    import jax
    import optax

    loss_fn = make_loss(variant, model)

    def train_step(params, opt_state, x, target, label, lr, mask):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, target, label, mask)
        opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step


class Compiled(NamedTuple):
    """The jitted functions of a variant, shared by its sessions (jit caches per dtype, shape, device).

    step(params, opt_state, xs, i): one example, xs[i], of a device-resident chunk; params and
        opt_state donated. scan(carry, xs): every example of xs in order, carry donated.
    grads(params, x, target, label, mask): loss and gradients. forward(params, x): a batch's
    outputs (one jitted call per batch shape); each layer's outputs: compiled_layers().
    """

    step: object
    scan: object
    grads: object
    forward: object


@functools.cache
def compiled_functions(variant: Variant, unroll: int = 1, key: tuple | None = None) -> Compiled:
    """Compiled for `variant` and spec_key() `key` (default: the spec as it stands)."""
    if key is None:
        return compiled_functions(variant, unroll, spec_key())
    jax = import_jax()
    from jax import lax

    model = make_model(variant, "patches", key=key)
    eval_model = make_model(variant, "conv", key=key)
    train_step = make_train_step(variant, model, make_optimizer(variant))

    def step_at(params, opt_state, xs, i):
        x, tg, lb, lr, mask = xs
        return train_step(params, opt_state, x[i], tg[i], lb[i], lr[i], None if mask is None else mask[i])

    def scan(carry, xs):
        def body(carry, ex):
            params, opt_state, loss = train_step(*carry, *ex)
            return (params, opt_state), loss
        return lax.scan(body, carry, xs, unroll=unroll)

    return Compiled(jax.jit(step_at, donate_argnums=(0, 1)),
                    jax.jit(scan, donate_argnums=(0,)),
                    jax.jit(jax.value_and_grad(make_loss(variant, model))),
                    jax.jit(lambda p, x: eval_model.apply({"params": p}, x)))


@functools.cache
def compiled_layers(variant: Variant, key: tuple):
    """layers(params, x): each layer's output on a batch, canonical layout, one jitted call."""
    model = make_model(variant, "conv", layers=True, key=key)
    return import_jax().jit(lambda p, x: model.apply({"params": p}, x))
