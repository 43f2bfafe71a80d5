"""The JAX backend's parameter layout and its gather tables, in NumPy only (no jax import).

Internal layout: the canonical one (NCHW / OIHW, (C, H, W) biases) with the
trailing dimensions of each tensor merged, so the training step's matrix
products read the weights as they are stored, and the optimiser's elementwise
loops run along long rows (XLA:CPU vectorises a loop over a trailing dimension of
5 poorly; docs/performance.md):

    H1w (12, 25)    H1w[o, kh * 5 + kw]            H1b (12, 64)   (C, H1_ORDER position)
    H2w_dense (12, 300)   H2w_dense[o, i * 25 + kh * 5 + kw]: H2's kernel as a
                    dense 12 -> 12 convolution, exact zeros where output plane o
                    does not see H1 plane i (harness.spec.h2w_dense)
    H2b (12, 16)    H3w (30, 192)   H3b (30,)   outw (10, 30)   outb (10,)

H1b's 64 columns (and so H1's output in the training step) are H1's 8 x 8 positions in
H1_ORDER, grouped by how many of H2's patches read each one, so H2's backward folds the
patches' gradient back with one read per use (H2_COL2IM; below).

H3w and outw are stored transposed, (out, in) like torch.nn.Linear: for one example
XLA:CPU emits their matrix-vector products as its own small loops, which run along a
contiguous row this way and along a stride of 30 or 10 the canonical way.

Why H2 is stored dense: the training step computes H2 as one matrix product
(12, 300) @ (300, 16) over gathered patches, which XLA:CPU runs much faster
than three sliced convolutions, and storing the kernel dense saves gathering
the canonical kernel into a dense one (and scattering its gradient back) every
step. The gradient of every unconnected entry is set to exactly 0 (H2_MASK), so
those entries stay exactly 0 under SGD and AdamW (zero gradient, zero moments,
zero decay) and the dense product computes the sparse layer. `to_canonical`
reads the connected entries back out; the round trip is exact.

Gather tables: the training step runs both convolutions as matrix products over
patches gathered with the index tables of harness.tables (the padding value is a
sentinel appended to the flattened input). The tables the step uses (*_INTERNAL)
are those relabelled to read H1's output in H1_ORDER. They depend on the geometry
only; what depends on H2's connection table (h2_mask) is computed when asked for.
"""
from __future__ import annotations

import numpy as np

from harness import spec, tables
from harness.spec import PARAM_NAMES, PARAM_SHAPES, check_params

KERNEL = tables.KERNEL

INTERNAL_SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (12, 25), "H1b": (12, 64),
    "H2w_dense": (12, 300), "H2b": (12, 16),
    "H3w": (30, 192), "H3b": (30,), "outw": (10, 30), "outb": (10,),
}
TRANSPOSED = ("H3w", "outw")  # stored as the transpose of their canonical (in, out) shape
INTERNAL_NAMES: tuple[str, ...] = tuple(INTERNAL_SHAPES)
_INTERNAL_NAME = {name: ("H2w_dense" if name == "H2w" else name) for name in PARAM_NAMES}



def h2_mask(h2_inputs=None) -> np.ndarray:
    """(12, 300) bool: H2w_dense[o, i * 25 + k] may be non-zero only where H2 plane o sees H1 plane i
    (in `h2_inputs`, default spec.H2_INPUTS)."""
    m = np.zeros((12, 12), dtype=bool)
    for o, ins in enumerate(spec.H2_INPUTS if h2_inputs is None else h2_inputs):
        m[o, list(ins)] = True
    return np.repeat(m, KERNEL * KERNEL, axis=1)


# The mask of spec.H2_INPUTS as imported (for checks such as the fused kernel's tests). Models
# read h2_mask() when they are built, so they follow a changed spec.
H2_MASK: np.ndarray = h2_mask()


def from_canonical(params: dict[str, np.ndarray], dtype: str | np.dtype | None = None) -> dict[str, np.ndarray]:
    """Canonical parameters (harness.spec layout) -> internal layout; fresh arrays, never views."""
    check_params(params)
    out: dict[str, np.ndarray] = {}
    for name in PARAM_NAMES:
        a = np.asarray(params[name])
        a = a.astype(dtype if dtype is not None else a.dtype, copy=True)
        if name == "H2w":
            a = spec.h2w_dense(a)  # (12, 12, 5, 5), zeros where unconnected
        if name in TRANSPOSED:
            a = a.T
        if name == "H1b":
            a = a.reshape(12, 64)[:, H1_ORDER]
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
            a = np.stack([dense[o, list(ins)] for o, ins in enumerate(spec.H2_INPUTS)])  # (12, 8, 5, 5)
        if name in TRANSPOSED:
            a = a.T
        if name == "H1b":
            a = a.reshape(12, 64)[:, H1_RANK]
        out[name] = np.array(a.reshape(PARAM_SHAPES[name]), copy=True, order="C")
    return out


H1_PATCHES = tables.h1_patches()  # (25, 64) into the flattened (1, 16, 16) input + sentinel
H2_PATCHES = tables.h2_patches()  # (300, 16) into the flattened (12, 8, 8) H1 output + sentinel


def reads_per_element(index: np.ndarray, size: int) -> np.ndarray:
    """How many entries of the gather `index` read each of `size` source elements (sentinels aside)."""
    return np.bincount(np.asarray(index).reshape(-1), minlength=size + 1)[:size]


# H1's output positions in the internal order: grouped by how many of H2's patches read them
# (1, 2, 3, 4, 6 or 9: border and parity), canonical order within a group. H1b's columns, and so
# H1's output, are stored in this order; it lets H2's backward fold the patches' gradient back
# with exactly one read per use (3,468 reads) instead of 9 per element with zero padding (6,912).
_READS_H1 = reads_per_element(H2_PATCHES, 12 * 64).reshape(12, 64)[0]  # (64,), the same for every plane
H1_ORDER: np.ndarray = np.argsort(-_READS_H1, kind="stable").astype(np.int32)  # internal column -> canonical position
H1_RANK: np.ndarray = np.argsort(H1_ORDER).astype(np.int32)  # canonical position -> internal column

# The gather tables the training step uses, in the internal order.
H1_PATCHES_INTERNAL = np.ascontiguousarray(H1_PATCHES[:, H1_ORDER])  # (25, 64): columns in H1_ORDER
# (300, 16) into H1's output in internal order; the sentinel 768 (768 % 64 == 0) maps to itself
H2_PATCHES_INTERNAL = np.where(H2_PATCHES < 12 * 64, H2_PATCHES // 64 * 64 + H1_RANK[H2_PATCHES % 64],
                               H2_PATCHES).astype(np.int32)


def col2im_groups(index: np.ndarray, size: int, channels: int) -> tuple[tuple[int, int, np.ndarray], ...]:
    """The adjoint of the patch gather `index` (col2im) as gathers, grouped by reads per element.

    `index` (rows, cols) reads a (channels, size // channels) source flattened; the adjoint sums,
    for each source element, the cotangent entries at the positions that read it. Source columns
    that are read equally often must be contiguous (the internal order makes them so).

    :return: (start, stop, positions) per group: positions int32 (channels, stop - start, k) into
        the flattened cotangent of index.T (cols, rows), k the reads of each element in columns
        [start, stop) of every channel.
    """
    flat = np.asarray(index).T.reshape(-1)  # positions in the transposed cotangent
    per = size // channels
    reads = [np.flatnonzero(flat == j) for j in range(size)]
    counts = np.array([len(r) for r in reads]).reshape(channels, per)
    if not (counts == counts[0]).all():
        raise ValueError("every channel must be read alike")
    groups = []
    start = 0
    while start < per:
        k = counts[0, start]
        stop = start
        while stop < per and counts[0, stop] == k:
            stop += 1
        pos = np.array([[reads[c * per + i] for i in range(start, stop)] for c in range(channels)], np.int32)
        groups.append((start, stop, pos.reshape(channels, stop - start, k)))
        start = stop
    if len(groups) != len(set(counts[0].tolist())):
        raise ValueError("columns read equally often are not contiguous")
    return tuple(groups)


# H2's backward: for each group of H1 output columns (internal order), where each element sits in
# the flattened transposed patches P2^T (16, 300).
H2_COL2IM = col2im_groups(H2_PATCHES_INTERNAL, 12 * 64, 12)
