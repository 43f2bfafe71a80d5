"""The layout the XLA strategy's compiled loop computes in, and its gather tables (NumPy only).

Inside one compiled call the parameters (and AdamW's moments) are carried channel-major,
with trailing dimensions merged, H2's kernel dense and the two fully connected weights
transposed: the orientation in which XLA:CPU's products over gathered patches and its
matrix-vector loops read their operands contiguously (docs/performance.md):

    H1w (12, 25)   H1b (12, 64)   H2w (12, 300): column i * 25 + kh * 5 + kw, exact zeros
    where output plane o does not see H1 plane i   H2b (12, 16)   H3w (30, 192): canonical
    H3w transposed   H3b (30,)   outw (10, 30)   outb (10,)

It is converted from the variables' layout (layout.py) once at the start of a call and back
at its end, each way one gather per tensor: TO[name] indexes the TensorFlow-layout tensor
flattened with one zero appended (H2's unconnected entries point at it), FROM[name] the
internal tensor flattened. The patch tables are harness.tables' (canonical order, which the
channel-major layout shares); H2_ADJOINT is their transpose, for H2's written-out gradient.
"""
from __future__ import annotations

import numpy as np

from harness import spec, tables
from harness.spec import PARAM_NAMES

from . import layout

SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (12, 25), "H1b": (12, 64), "H2w": (12, 300), "H2b": (12, 16),
    "H3w": (30, 192), "H3b": (30,), "outw": (10, 30), "outb": (10,),
}


def adjoint_index(index: np.ndarray, size: int) -> np.ndarray:
    """The transpose of the gather `out = concat(src, [pad])[index]` as a gather-and-sum.

    :return: int32 (size, k): for each source element, the positions of `index` (flattened)
        that read it, padded with index.size, which points at a zero appended to the flattened
        cotangent: grad_src = concat(d.flatten(), [0])[adjoint].sum(-1). Reads of the sentinel
        (padding) take no gradient.
    """
    flat = np.asarray(index).reshape(-1)
    reads = [np.flatnonzero(flat == j) for j in range(size)]
    out = np.full((size, max(len(r) for r in reads)), flat.size, np.int32)
    for j, r in enumerate(reads):
        out[j, :len(r)] = r
    return out


def _canonical_to_internal(name: str, a: np.ndarray, fill) -> np.ndarray:
    """One canonical tensor (here: of indices) in the internal layout; H2's gaps hold `fill`."""
    if name == "H2w":
        dense = np.full((12, 12, spec.KERNEL, spec.KERNEL), fill, a.dtype)
        for o, ins in enumerate(spec.H2_INPUTS):
            dense[o, list(ins)] = a[o]
        a = dense
    if name in ("H3w", "outw"):
        a = a.T
    return np.ascontiguousarray(a.reshape(SHAPES[name]))


class Tables:
    """Gather tables, from harness.spec as it stands when built (a changed spec: build anew)."""

    def __init__(self):
        self.h1 = tables.h1_patches()  # (25, 64) into x (256) + sentinel
        self.h2 = tables.h2_patches()  # (300, 16) into H1 (12 * 64, channel-major) + sentinel
        self.h2_adjoint = adjoint_index(self.h2.T, 12 * 64)  # (768, 9) into H2's patches' cotangent, transposed
        sizes = {k: int(np.prod(s)) for k, s in layout.TF_SHAPES.items()}
        where = layout.to_canonical({k: np.arange(n).reshape(layout.TF_SHAPES[k]) for k, n in sizes.items()})
        self.to = {k: _canonical_to_internal(k, where[k], sizes[k]).astype(np.int32) for k in PARAM_NAMES}
        self.back = {}
        for k in PARAM_NAMES:
            flat = self.to[k].reshape(-1)
            back = np.empty(sizes[k], np.int32)
            back[flat[flat < sizes[k]]] = np.flatnonzero(flat < sizes[k])
            self.back[k] = back.reshape(layout.TF_SHAPES[k])
        self.h2_mask = self.to["H2w"] < sizes["H2w"]  # (12, 300): connected entries
