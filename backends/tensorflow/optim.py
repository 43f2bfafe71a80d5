"""SGD and AdamW as docs/spec.md writes them, on TensorFlow tensors (no Keras optimiser).

Keras's AdamW (keras 3) decays theta before its Adam step, as the spec does, but takes the step
as lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps): in the spec's terms an epsilon
of eps / sqrt(1 - beta2^t) (3.2e-7 instead of 1e-8 at t = 1). Close, not equal; so these are
the spec's formulas, term for term:

    SGD    theta <- theta - lr * g
    AdamW  theta <- theta * (1 - lr * lambda)
           m <- beta1 m + (1 - beta1) g            v <- beta2 v + (1 - beta2) g^2
           theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

`update` is functional (tensors in, tensors out), so the XLA strategy carries the state
through its loop; `apply` assigns its results to tf.Variables, for the eager and tf.function
strategies. State: () for SGD; (m..., v..., t) for AdamW, with t
the number of updates so far, in the session's dtype.
"""
from __future__ import annotations

from harness.spec import Variant

from . import settings

tf = settings.load()  # tensorflow, imported under the backend's settings (settings.py)


def init_state(variant: Variant, params, dtype) -> tuple:
    """Zero moments and t = 0 (AdamW), or nothing (SGD)."""
    kind = variant.optimizer.kind
    if kind == "sgd":
        return ()
    if kind != "adamw":
        raise ValueError(f"the tensorflow backend implements SGD and AdamW, not {kind!r}")
    zeros = [tf.zeros_like(p) for p in params]
    return (*zeros, *[tf.zeros_like(p) for p in params], tf.zeros((), dtype))


def update(variant: Variant, params, state, grads, lr):
    """One step: (new params, new state). `lr` a scalar tensor in the params' dtype."""
    o = variant.optimizer
    if o.kind == "sgd":
        return [p - lr * g for p, g in zip(params, grads)], ()
    n = len(params)
    m, v, t = state[:n], state[n:2 * n], state[2 * n] + 1
    # tf.constant, not tf.cast: tf.cast(0.999, float64) goes through float32 (0.99900001287...),
    # which moves 1 - beta2^t by 1.3e-5 relative
    bc1 = 1 - tf.pow(tf.constant(o.beta1, t.dtype), t)
    bc2 = 1 - tf.pow(tf.constant(o.beta2, t.dtype), t)
    new_p, new_m, new_v = [], [], []
    for p, mi, vi, g in zip(params, m, v, grads):
        p = p * (1 - lr * o.weight_decay)  # decoupled decay, on theta before this step
        mi = o.beta1 * mi + (1 - o.beta1) * g
        vi = o.beta2 * vi + (1 - o.beta2) * tf.square(g)
        new_p.append(p - lr * (mi / bc1) / (tf.sqrt(vi / bc2) + o.eps))
        new_m.append(mi)
        new_v.append(vi)
    return new_p, (*new_m, *new_v, t)


def state_variables(variant: Variant, params, dtype) -> tuple:
    """init_state as tf.Variables (created under the caller's device scope)."""
    return tuple(tf.Variable(s, trainable=False) for s in init_state(variant, params, dtype))


def apply(variant: Variant, params, state, grads, lr) -> None:
    """`update` on tf.Variables (params and state), assigned in place (eager, or inside a tf.function)."""
    new_p, new_s = update(variant, [p.read_value() for p in params], [s.read_value() for s in state], grads, lr)
    for var, value in zip((*params, *state), (*new_p, *new_s)):
        var.assign(value)
