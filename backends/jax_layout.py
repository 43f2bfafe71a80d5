"""The JAX backend's parameter layout and its gather tables, in NumPy only (no jax import).

Internal layout: the canonical one (NCHW / OIHW, (C, H, W) biases) with the
trailing dimensions of each tensor merged, so the training step's matrix
products read the weights as they are stored, and the optimiser's elementwise
loops run along long rows (XLA:CPU vectorises a loop over a trailing
dimension of 5 poorly: AdamW's update of a (12, 12, 5, 5) kernel cost 3x that of
the same kernel stored (12, 300)):

    H1w (12, 25)    H1w[o, kh * 5 + kw]            H1b (12, 64)   (C, H * W)
    H2w_dense (12, 300)   H2w_dense[o, i * 25 + kh * 5 + kw]: H2's kernel as a
                    dense 12 -> 12 convolution, exact zeros where output plane o
                    does not see H1 plane i (harness.spec.h2w_dense)
    H2b (12, 16)    H3w (192, 30)   H3b (30,)   outw (30, 10)   outb (10,)

Why H2 is stored dense: the training step computes H2 as one matrix product
(12, 300) @ (300, 16) over gathered patches, which XLA:CPU runs much faster
than three sliced convolutions, and storing the kernel dense saves gathering
the canonical kernel into a dense one (and scattering its gradient back) every
step. The gradient of every unconnected entry is set to exactly 0 (H2_MASK), so
those entries stay exactly 0 under SGD and AdamW (zero gradient, zero moments,
zero decay) and the dense product computes the sparse layer. `to_canonical`
reads the connected entries back out; the round trip is exact.

Gather tables: the training step runs both convolutions as matrix products over
patches gathered with precomputed indices ("im2col"). The padding value -1 is
not materialised: an index equal to the input's size points at a -1 sentinel
appended to the flattened input.
"""
from __future__ import annotations

import numpy as np

from harness.spec import (
    H2_INPUTS,
    PAD,
    PARAM_NAMES,
    PARAM_SHAPES,
    check_params,
    h2_dense_mask,
    h2w_dense,
)

KERNEL = 5
STRIDE = 2

INTERNAL_SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (12, 25), "H1b": (12, 64),
    "H2w_dense": (12, 300), "H2b": (12, 16),
    "H3w": (192, 30), "H3b": (30,), "outw": (30, 10), "outb": (10,),
}
INTERNAL_NAMES: tuple[str, ...] = tuple(INTERNAL_SHAPES)
_INTERNAL_NAME = {name: ("H2w_dense" if name == "H2w" else name) for name in PARAM_NAMES}

# (12, 300) bool: H2w_dense[o, i * 25 + k] may be non-zero only where H2 plane o sees H1 plane i.
H2_MASK: np.ndarray = np.repeat(h2_dense_mask().astype(bool), KERNEL * KERNEL, axis=1)


def from_canonical(params: dict[str, np.ndarray], dtype: str | np.dtype | None = None) -> dict[str, np.ndarray]:
    """Canonical parameters (harness.spec layout) -> internal layout; fresh arrays, never views."""
    check_params(params)
    out: dict[str, np.ndarray] = {}
    for name in PARAM_NAMES:
        a = np.asarray(params[name])
        a = a.astype(dtype if dtype is not None else a.dtype, copy=True)
        if name == "H2w":
            a = h2w_dense(a)  # (12, 12, 5, 5), zeros where unconnected
        key = _INTERNAL_NAME[name]
        out[key] = np.ascontiguousarray(a.reshape(INTERNAL_SHAPES[key]))
    return out


def to_canonical(internal: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Internal layout (parameters, gradients or optimiser moments) -> canonical; fresh arrays."""
    missing = set(INTERNAL_NAMES) - set(internal)
    if missing:
        raise ValueError(f"internal parameters lack {sorted(missing)}")
    out: dict[str, np.ndarray] = {}
    for name in PARAM_NAMES:
        a = np.asarray(internal[_INTERNAL_NAME[name]])
        if name == "H2w":
            dense = a.reshape(12, 12, KERNEL, KERNEL)
            a = np.stack([dense[o, list(ins)] for o, ins in enumerate(H2_INPUTS)])  # (12, 8, 5, 5)
        out[name] = np.array(a.reshape(PARAM_SHAPES[name]), copy=True)
    return out


def patch_index(size: int, channels: int) -> np.ndarray:
    """Gather index for the patches of a 5x5 stride-2 convolution over a (channels, size, size)
    input padded by 2 with -1.

    :return: int32 (channels * 25, out * out) with out = (size + 4 - 5) // 2 + 1; row
        c * 25 + kh * 5 + kw (OIHW order of a kernel's in-plane, kh, kw), column oh * out + ow.
        Entries index the flattened input; the value channels * size * size selects the -1
        sentinel (a padding position).
    """
    out = (size + 2 * PAD - KERNEL) // STRIDE + 1
    c, kh, kw, oh, ow = np.meshgrid(np.arange(channels), np.arange(KERNEL), np.arange(KERNEL),
                                    np.arange(out), np.arange(out), indexing="ij")
    y = oh * STRIDE + kh - PAD
    x = ow * STRIDE + kw - PAD
    inside = (y >= 0) & (y < size) & (x >= 0) & (x < size)
    flat = c * size * size + np.clip(y, 0, size - 1) * size + np.clip(x, 0, size - 1)
    idx = np.where(inside, flat, channels * size * size)
    return idx.reshape(channels * KERNEL * KERNEL, out * out).astype(np.int32)


H1_PATCHES = patch_index(16, 1)  # (25, 64) into the flattened (1, 16, 16) input + sentinel
H2_PATCHES = patch_index(8, 12)  # (300, 16) into the flattened (12, 8, 8) H1 output + sentinel


def inverse_index(index: np.ndarray, size: int) -> np.ndarray:
    """For each of `size` source elements, the flat positions of `index` that read it.

    :return: int32 (size, m), m the most reads of one element; row j lists the positions p
        (row-major in `index`) with index.flat[p] == j, padded with index.size, which selects a
        zero sentinel appended to the flattened cotangent. Sentinel reads (index == size) are
        dropped: padding has no gradient. Summing a cotangent's gathered rows is the adjoint of
        the patch gather (col2im) without a scatter.
    """
    flat = np.asarray(index).reshape(-1)
    reads = [np.flatnonzero(flat == j) for j in range(size)]
    out = np.full((size, max(len(r) for r in reads)), flat.size, np.int32)
    for j, r in enumerate(reads):
        out[j, :len(r)] = r
    return out


# (768, 9): for each H1 output element (c * 64 + y * 8 + x), where it sits in the flattened
# transposed patches P2^T (16, 300); H2's backward sums these to get the gradient of H1's output.
H2_PATCHES_T_INVERSE = inverse_index(H2_PATCHES.T, 12 * 8 * 8)


def patches_numpy(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Reference implementation of the patch gather for one example (C, H, W), in NumPy."""
    flat = np.concatenate([np.asarray(x).reshape(-1), [-1.0]]).astype(np.asarray(x).dtype)
    return flat[index]
