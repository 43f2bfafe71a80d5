"""Gather tables for the network's convolutions, built from harness.spec alone (NumPy, no framework).

Backends that compute the two 5x5 stride-2 convolutions as matrix products over
gathered patches ("im2col") read their index tables here, so the geometry is
written once. The padding value is never materialised in a table: an index equal
to the input's size points at one sentinel element, spec.PAD_VALUE, appended to
the flattened input.

Everything reads harness.spec when called (never at import), so a session built
after spec.H2_INPUTS or spec.PAD_VALUE changed follows the change (tests do that).
"""
from __future__ import annotations

import numpy as np

from . import spec

KERNEL = spec.KERNEL
STRIDE = spec.STRIDE
H1_SIZE = 16  # H1's input: (1, 16, 16)
H2_SIZE = 8  # H2's input: H1's output (12, 8, 8)


def out_size(size: int) -> int:
    return (size + 2 * spec.PAD - KERNEL) // STRIDE + 1


def patch_index(size: int, channels: int) -> np.ndarray:
    """Gather index for the patches of a 5x5 stride-2 convolution over a (channels, size, size)
    input padded by spec.PAD with spec.PAD_VALUE.

    :return: int32 (channels * 25, out * out) with out = out_size(size); row
        c * 25 + kh * 5 + kw (OIHW order of a kernel's in-plane, kh, kw), column oh * out + ow.
        Entries index the flattened input; the value channels * size * size selects the
        sentinel (a padding position).
    """
    out = out_size(size)
    c, kh, kw, oh, ow = np.meshgrid(np.arange(channels), np.arange(KERNEL), np.arange(KERNEL),
                                    np.arange(out), np.arange(out), indexing="ij")
    y = oh * STRIDE + kh - spec.PAD
    x = ow * STRIDE + kw - spec.PAD
    inside = (y >= 0) & (y < size) & (x >= 0) & (x < size)
    flat = c * size * size + np.clip(y, 0, size - 1) * size + np.clip(x, 0, size - 1)
    idx = np.where(inside, flat, channels * size * size)
    return idx.reshape(channels * KERNEL * KERNEL, out * out).astype(np.int32)


def h1_patches() -> np.ndarray:
    """(25, 64) into the flattened (1, 16, 16) input; 256 is the padding sentinel."""
    return patch_index(H1_SIZE, 1)


def h2_patches() -> np.ndarray:
    """(300, 16) into the flattened (12, 8, 8) H1 output; 768 is the padding sentinel."""
    return patch_index(H2_SIZE, 12)


def h2_groups() -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """spec.H2_INPUTS as groups (output planes, their shared input planes) of equal size, in
    output order: runs of consecutive planes that see the same inputs, or one plane per group
    when the runs differ in length (so that every group has the same shape)."""
    runs: list[tuple[list[int], tuple[int, ...]]] = []
    for o, ins in enumerate(spec.H2_INPUTS):
        if runs and runs[-1][1] == tuple(ins):
            runs[-1][0].append(o)
        else:
            runs.append(([o], tuple(ins)))
    if len({len(outs) for outs, _ in runs}) != 1:
        runs = [([o], tuple(ins)) for o, ins in enumerate(spec.H2_INPUTS)]
    return tuple((tuple(outs), ins) for outs, ins in runs)


def h2_group_patches() -> np.ndarray:
    """(G, 8 * 25, 16): for each group of h2_groups(), the patches of its input planes in its
    order (rows: plane, kh, kw), into H1's flattened output + sentinel 768."""
    per_plane = h2_patches().reshape(12, KERNEL * KERNEL, 16)
    return np.stack([per_plane[list(ins)].reshape(-1, 16) for _, ins in h2_groups()])


def h2_group_planes() -> np.ndarray:
    """(G * 8,) int32: the H1 planes each group reads, concatenated in h2_groups() order."""
    return np.array([c for _, ins in h2_groups() for c in ins], dtype=np.int32)


def h2_mask() -> np.ndarray:
    """(12, 12) bool: mask[o, i] when H2 output plane o sees H1 plane i."""
    return spec.h2_dense_mask().astype(bool)


def patches_numpy(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The patch gather for one example (C, H, W), in NumPy, padding with spec.PAD_VALUE."""
    x = np.asarray(x)
    return np.concatenate([x.reshape(-1), [spec.PAD_VALUE]]).astype(x.dtype)[index]


def h2_dense_index() -> np.ndarray:
    """(12, 12 * 25) int32 into canonical H2w flattened (12 * 8 * 25 values) + one 0 at 2400:
    H2's kernel as a dense 12 -> 12 convolution, 0 where plane o does not see plane i."""
    idx = np.full((12, 12 * KERNEL * KERNEL), 12 * 8 * KERNEL * KERNEL, dtype=np.int32)
    taps = np.arange(KERNEL * KERNEL)
    for o, ins in enumerate(spec.H2_INPUTS):
        for j, c in enumerate(ins):
            idx[o, c * 25:(c + 1) * 25] = o * 200 + j * 25 + taps
    return idx
