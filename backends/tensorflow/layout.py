"""The TensorFlow backend's parameter layout: channels-last, in NumPy only (no tensorflow import).

TensorFlow's CPU convolutions take NHWC inputs and HWIO kernels (its CPU kernels and
their gradients support no NCHW), so the backend keeps the idiomatic Keras layout and
converts at the boundary:

    H1w  (5, 5, 1, 12)   HWIO: H1w_tf[u, v, 0, o] = H1w[o, 0, u, v]
    H1b  (8, 8, 12)      (H, W, C)
    H2w  (5, 5, 8, 12)   H2w_tf[u, v, k, o] = H2w[o, k, u, v]: k-th of the 8 H1 planes
                         plane o sees (spec.H2_INPUTS[o][k]), as in the canonical layout
    H2b  (4, 4, 12)      (H, W, C)
    H3w  (192, 30)       rows in the (H, W, C) flatten order of H2's NHWC output:
                         H3w_tf[(i * 4 + j) * 12 + o] = H3w[o * 16 + i * 4 + j]
    H3b (30,)  outw (30, 10)  outb (10,)   as canonical

Every map is a permutation of entries, so it converts gradients and optimiser moments
exactly as it converts parameters, and the round trip is exact.
"""
from __future__ import annotations

import numpy as np

from harness.spec import PARAM_NAMES, check_params

TF_SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (5, 5, 1, 12), "H1b": (8, 8, 12),
    "H2w": (5, 5, 8, 12), "H2b": (4, 4, 12),
    "H3w": (192, 30), "H3b": (30,), "outw": (30, 10), "outb": (10,),
}
# H3w_tf row r (H, W, C order) is canonical row H3_ROWS[r] (C, H, W order); H3_RANK inverts it.
H3_ROWS: np.ndarray = np.arange(192).reshape(12, 4, 4).transpose(1, 2, 0).reshape(-1)
H3_RANK: np.ndarray = np.argsort(H3_ROWS)

_TO_TF = {
    "H1w": lambda a: a.transpose(2, 3, 1, 0), "H2w": lambda a: a.transpose(2, 3, 1, 0),
    "H1b": lambda a: a.transpose(1, 2, 0), "H2b": lambda a: a.transpose(1, 2, 0),
    "H3w": lambda a: a[H3_ROWS],
}
_TO_CANONICAL = {
    "H1w": lambda a: a.transpose(3, 2, 0, 1), "H2w": lambda a: a.transpose(3, 2, 0, 1),
    "H1b": lambda a: a.transpose(2, 0, 1), "H2b": lambda a: a.transpose(2, 0, 1),
    "H3w": lambda a: a[H3_RANK],
}


def _same(a):
    return a


def from_canonical(params: dict[str, np.ndarray], dtype=None) -> dict[str, np.ndarray]:
    """Canonical parameters -> TensorFlow layout; fresh C-contiguous arrays, never views."""
    check_params(params)
    out = {}
    for name in PARAM_NAMES:
        a = np.asarray(params[name])
        a = _TO_TF.get(name, _same)(a.astype(dtype if dtype is not None else a.dtype, copy=False))
        out[name] = np.array(a, order="C", copy=True)
    return out


def to_canonical(tf_params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TensorFlow layout (parameters, gradients or moments) -> canonical; fresh arrays."""
    missing = set(PARAM_NAMES) - set(tf_params)
    if missing:
        raise ValueError(f"TensorFlow-layout tensors lack {sorted(missing)}")
    out = {}
    for name in PARAM_NAMES:
        a = np.asarray(tf_params[name])
        if a.shape != TF_SHAPES[name]:
            raise ValueError(f"{name} has shape {a.shape}, expected {TF_SHAPES[name]} (TensorFlow layout)")
        out[name] = np.array(_TO_CANONICAL.get(name, _same)(a), order="C", copy=True)
    return out


def nhwc(x: np.ndarray) -> np.ndarray:
    """(n, C, H, W) -> (n, H, W, C), contiguous (for C = 1 the same memory order)."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))


def nchw(x: np.ndarray) -> np.ndarray:
    """(n, H, W, C) -> (n, C, H, W), contiguous."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))
