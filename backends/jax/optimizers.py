"""The optax optimisers of the variants, each with its learning rate a hyper-parameter set per step.

`optax.inject_hyperparams(optax.sgd | optax.adamw)`, so the learning rate of each example is an
input of the jitted step. optax.adamw computes p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p),
torch.optim.AdamW p * (1 - lr * wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps): the same
formula, so the two agree to float64 round-off (tested over 50 steps).

SDLM: optax.chain(scale by a per-parameter tree held in the optimiser state, sgd), wrapped in
inject_hyperparams like the others so each step's eps arrives as the learning rate. The scale
1 / (mu + h) lives in the state, so the jitted `step` and `scan` train unchanged: the SDLM
session (sdlm.py) swaps the tree in between calls.

jax and optax are imported inside the functions (this module is imported before they are).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from harness.spec import Variant


class ScaleState(NamedTuple):
    scale: Any  # a tree like the parameters: 1 / (mu + h), internal layout


def scale_by_state():
    """An optax.GradientTransformation: each update times the scale held in the state (ones
    until the core sets it)."""
    import jax
    import jax.numpy as jnp
    import optax

    def init(params):
        return ScaleState(jax.tree.map(jnp.ones_like, params))

    def update(updates, state, params=None):
        return jax.tree.map(lambda g, s: g * s, updates, state.scale), state

    return optax.GradientTransformation(init, update)


def sdlm_optimizer():
    """theta -= lr * scale * grad, lr (eps of the step) injected per step like SGD's."""
    import optax

    return optax.inject_hyperparams(
        lambda learning_rate: optax.chain(scale_by_state(), optax.sgd(learning_rate)))(learning_rate=0.0)


def make_optimizer(variant: Variant):
    """optax optimiser of `variant`, its learning rate a hyper-parameter set per step."""
    import optax

    opt = variant.optimizer
    if opt.kind == "sdlm":  # sgd with per-parameter step scales
        return sdlm_optimizer()
    if opt.kind == "sgd":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=opt.lr)
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=opt.lr_start, b1=opt.beta1, b2=opt.beta2, eps=opt.eps,
        weight_decay=opt.weight_decay)
