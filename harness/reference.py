"""The network's forward pass from harness.spec alone, in NumPy: the reference backends are tested against.

Written as directly as the spec reads (pad with spec.PAD_VALUE, 5x5 stride-2
windows, untied biases, H2 output plane o summing over the H1 planes
spec.H2_INPUTS[o] with H2w[o] in that order), with no table or trick shared with
a backend, so a backend that hard-codes a padding value or a connection table
differs from it. Evaluation mode: no dropout.
"""
from __future__ import annotations

import numpy as np

from . import spec
from .spec import Variant


def activation(name: str):
    """The nonlinearity `name` of spec.HIDDEN_ACTIVATIONS / OUTPUT_ACTIVATIONS, in NumPy."""
    A, S = spec.SCALED_TANH_A, spec.SCALED_TANH_S
    return {"tanh": np.tanh, "scaled_tanh": lambda a: A * np.tanh(S * a), "relu": lambda a: np.maximum(a, 0),
            "linear": lambda a: a}[name]


def derivative(name: str, a, y, step=lambda a: (a > 0).astype(a.dtype), ones_like=np.ones_like):
    """f'(a) of activation `name`, from its input a and output y = f(a) (ReLU: 0 at a = 0).

    Written with arithmetic operators only, so a backend passes its own arrays (torch tensors, jax
    tracers) with its `step` (a > 0 as 0/1 in a's dtype) and `ones_like`: one formula for all."""
    A, S = spec.SCALED_TANH_A, spec.SCALED_TANH_S
    if name == "tanh":
        return 1.0 - y * y
    if name == "scaled_tanh":  # A S (1 - tanh(S a)^2), tanh(S a) = y / A
        return A * S * (1.0 - (y / A) ** 2)
    if name == "relu":
        return step(a)
    if name == "linear":
        return ones_like(a)
    raise ValueError(f"unknown activation {name!r}")


def conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, C, H, W) padded by spec.PAD with spec.PAD_VALUE, w (O, C, 5, 5), stride 2 -> (n, O, H', W')."""
    p = spec.PAD
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=spec.PAD_VALUE)
    out = (xp.shape[2] - spec.KERNEL) // spec.STRIDE + 1
    # windows (n, C, out, out, 5, 5)
    win = np.lib.stride_tricks.sliding_window_view(xp, (spec.KERNEL, spec.KERNEL), axis=(2, 3))[:, :, ::spec.STRIDE, ::spec.STRIDE]
    assert win.shape[2] == out
    return np.einsum("ncyxij,ocij->noyx", win, w)


def activations(params: dict[str, np.ndarray], variant: Variant, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each layer's output after its nonlinearity for a batch x (n, 1, 16, 16), in x's dtype.

    :return: "H1" (n, 12, 8, 8), "H2" (n, 12, 4, 4), "H3" (n, 30), "out" (n, 10).
    """
    spec.check_params(params)
    dt = np.asarray(x).dtype
    p = {k: np.asarray(v, dtype=dt) for k, v in params.items()}
    act, out_act = activation(variant.hidden_activation), activation(variant.output_activation)
    x = np.asarray(x, dtype=dt).reshape(-1, *spec.INPUT_SHAPE)
    h1 = act(conv(x, p["H1w"]) + p["H1b"])  # (n, 12, 8, 8)
    planes = [conv(h1[:, list(ins)], p["H2w"][o:o + 1]) for o, ins in enumerate(spec.H2_INPUTS)]
    h2 = act(np.concatenate(planes, axis=1) + p["H2b"])  # (n, 12, 4, 4)
    h3 = act(h2.reshape(len(x), -1) @ p["H3w"] + p["H3b"])  # (n, 30), (C, H, W) flatten
    out = out_act(h3 @ p["outw"] + p["outb"])  # (n, 10)
    return {"H1": h1, "H2": h2, "H3": h3, "out": out}


def forward(params: dict[str, np.ndarray], variant: Variant, x: np.ndarray) -> np.ndarray:
    """Outputs (n, 10) for x (n, 1, 16, 16), evaluation mode."""
    return activations(params, variant, x)["out"]
