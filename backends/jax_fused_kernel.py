"""One Pallas kernel that trains a whole chunk of examples in order (the jax `fused` strategy).

One `pallas_call`, no grid (a single program): the parameters are read from their refs
once, carried through a `lax.fori_loop` over the chunk's examples (on a GPU: registers of
the one CTA, with spills to local memory), and written back once at the end. Each
iteration is one example's forward pass, backward pass and SGD update (the 1989 variant:
tanh everywhere, mean squared error over the 10 outputs, p -= lr * grad).

Layout ("fused layout", backends/jax_fused.py converts): every dimension a power of two,
as the Pallas Triton lowering wants, padded with exact zeros that stay zero:

    H1w (16, 32)      [o, kh * 5 + kw]               12 planes, 25 taps
    H1b (16, 64)      [o, y * 8 + x]
    H2w (16, 512)     [o, c * 32 + kh * 5 + kw]      dense 12 -> 12 kernel, zeros where
                                                     plane o does not see plane c
    H2b (16, 16)      [o, y * 4 + x]
    H3w (32, 16, 16)  [j, c, y * 4 + x]              canonical H3w[c * 16 + y * 4 + x, j]
    H3b (32,)   outw (16, 32) [m, j]   outb (16,)

No index table is loaded: every gather index comes from `jnp.arange` (iota) and integer
arithmetic on (output position, tap) inside the kernel, and H2's connection table is the
rule "plane o does not see the third of H1's planes numbered (o // 4 + 2) % 3".

Phases of one example (shapes padded):
  H1    patches P1 (32, 64) gathered from the input ref, -1 outside the image;
        h1 = tanh(H1w @ P1 + H1b) (16, 64)
  H2    h1 stored to a scratch ref, barrier, patches P2 (512, 16) gathered from it;
        h2 = tanh(H2w @ P2 + H2b) (16, 16)
  H3    h3 = tanh(sum(H3w * h2) + H3b) (32,): a broadcast product and two reductions
        (a matrix-vector product: Triton's dot wants every side >= 16)
  out   y = tanh(sum(outw * h3) + outb) (16,), the first 10 real
  back  the same in reverse; H2's patch gradient H2w^T @ d2 (512, 16) goes to a second
        scratch ref, barrier, and is folded back into H1's positions by a gather over
        the <= 9 (tap, output) pairs that read each position (col2im without a scatter)
  SGD   p -= lr * g for every tensor; H2's gradient masked to the connected entries

Pallas features used: `pallas_call` with `input_output_aliases` (the parameters updated in
place), refs indexed by integer arrays (gathers from global memory: lowered by the Triton
backend to pointer arithmetic), `lax.fori_loop` with a dynamic trip count (scf.for),
`jnp.dot` / `lax.dot_general` at `Precision.HIGHEST` (IEEE fp32 in Triton, not TF32), and
`pallas.triton.debug_barrier` between a scratch store and the gathers that read it.
"""
from __future__ import annotations

import functools

import numpy as np

# Padded sizes (powers of two) and the real ones.
C1, T1, Q1 = 16, 32, 64  # H1: planes, taps (25 real), positions (8 x 8)
C2, K2, Q2 = 16, 512, 16  # H2: planes, patch rows (12 planes x 32 taps), positions (4 x 4)
N3, N4 = 32, 16  # H3 units (30 real), outputs (10 real)
REAL_PLANES, TAPS, N_OUT = 12, 25, 10
# GPU only: warps of the single program. Not timed (no GPU here); what ptxas 12.8 reports for the
# float32 kernel on sm_90a (Triton 3.9 on the CPU, see the tests' module docstring): 8 warps use
# 255 registers a thread and spill 1.4 KB, 16 warps 128 registers and spill 0.8 KB.
NUM_WARPS = 16

FUSED_SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (C1, T1), "H1b": (C1, Q1), "H2w": (C2, K2), "H2b": (C2, Q2),
    "H3w": (N3, C2, Q2), "H3b": (N3,), "outw": (N4, N3), "outb": (N4,),
}
FUSED_NAMES = tuple(FUSED_SHAPES)


def _iota(xp, shape, dim):
    """int32 indices along `dim` of `shape`: an iota in the kernel (xp = jax.numpy), or NumPy's
    (xp = numpy: tests evaluate the same index arithmetic without tracing)."""
    if xp is np:
        return np.broadcast_to(np.arange(shape[dim], dtype=np.int32).reshape(
            [-1 if d == dim else 1 for d in range(len(shape))]), shape)
    from jax import lax

    return lax.broadcasted_iota(xp.int32, shape, dim)


def h1_patch_index(jnp):
    """Index into the flattened 16 x 16 input for P1 (32, 64), and where it is inside the image.

    Row k = kh * 5 + kw (k < 25 real), column p = y * 8 + x (H1's output position).
    """
    k, p = _iota(jnp, (T1, Q1), 0), _iota(jnp, (T1, Q1), 1)
    iy = 2 * (p // 8) + k // 5 - 2
    ix = 2 * (p % 8) + k % 5 - 2
    inside = (k < TAPS) & (iy >= 0) & (iy < 16) & (ix >= 0) & (ix < 16)
    flat = jnp.clip(iy, 0, 15) * 16 + jnp.clip(ix, 0, 15)
    return flat, inside, k < TAPS


def h2_patch_index(jnp):
    """Plane and position in H1's output (16, 64) for P2 (512, 16), and where it is inside.

    Row r = c * 32 + kh * 5 + kw, column p = y * 4 + x (H2's output position).
    """
    r, p = _iota(jnp, (K2, Q2), 0), _iota(jnp, (K2, Q2), 1)
    c, k = r // T1, r % T1
    iy = 2 * (p // 4) + k // 5 - 2
    ix = 2 * (p % 4) + k % 5 - 2
    real = (k < TAPS) & (c < REAL_PLANES)
    inside = real & (iy >= 0) & (iy < 8) & (ix >= 0) & (ix < 8)
    pos = jnp.clip(iy, 0, 7) * 8 + jnp.clip(ix, 0, 7)
    return c, pos, inside, real


def h2_connected(jnp):
    """(16, 512) bool: H2w[o, c * 32 + k] is a real weight (plane o sees plane c, tap k < 25)."""
    o, r = _iota(jnp, (C2, K2), 0), _iota(jnp, (C2, K2), 1)
    c, k = r // T1, r % T1
    return (o < REAL_PLANES) & (c < REAL_PLANES) & (k < TAPS) & (c // 4 != (o // 4 + 2) % 3)


def h2_col2im_index(jnp):
    """For each H1 output (plane c, position q) the <= 9 entries of P2's gradient that read it.

    (16, 64, 16): candidate j = 4 a + b takes kh = y % 2 + 2 a, kw = x % 2 + 2 b (the taps of
    the right parity), at H2 position ((y + 2 - kh) / 2, (x + 2 - kw) / 2) when inside.
    :return: row and column into the (512, 16) gradient, and the valid mask.
    """
    shape = (C1, Q1, 16)
    c, q, j = _iota(jnp, shape, 0), _iota(jnp, shape, 1), _iota(jnp, shape, 2)
    y, x, a, b = q // 8, q % 8, j // 4, j % 4
    kh, kw = y % 2 + 2 * a, x % 2 + 2 * b
    oy, ox = (y + 2 - kh + 8) // 2 - 4, (x + 2 - kw + 8) // 2 - 4  # + 8 .. - 4: no negative //
    valid = (kh < 5) & (kw < 5) & (oy >= 0) & (oy < 4) & (ox >= 0) & (ox < 4) & (c < REAL_PLANES)
    row = c * T1 + jnp.clip(kh, 0, 4) * 5 + jnp.clip(kw, 0, 4)
    col = jnp.clip(oy, 0, 3) * 4 + jnp.clip(ox, 0, 3)
    return row, col, valid


def _kernel_body(count_ref, x_ref, t_ref, lr_ref, *refs, interpret: bool):
    """The kernel: refs are the 8 parameters in, the 8 parameters out, losses, two scratch refs."""
    import jax.numpy as jnp
    from jax import lax
    from jax.experimental.pallas import triton as pltriton

    params_in, params_out = refs[:8], refs[8:16]
    loss_ref, s1_ref, s2_ref = refs[16:]
    dt = params_in[0].dtype
    HI = lax.Precision.HIGHEST

    def barrier():
        if not interpret:  # the interpreter runs one thread: nothing to wait for
            pltriton.debug_barrier()

    def dot(a, b, ca, cb):  # contract a's dim ca with b's dim cb
        return lax.dot_general(a, b, (((ca,), (cb,)), ((), ())), precision=HI, preferred_element_type=dt)

    x_flat, x_inside, x_real = h1_patch_index(jnp)
    c2, pos2, in2, real2 = h2_patch_index(jnp)
    connected = h2_connected(jnp)
    crow, ccol, cvalid = h2_col2im_index(jnp)
    out_real = lax.broadcasted_iota(jnp.int32, (N4,), 0) < N_OUT

    def example(i, W):
        H1w, H1b, H2w, H2b, H3w, H3b, outw, outb = W
        lr = lr_ref[i]
        # forward
        P1 = jnp.where(x_inside, x_ref[i, x_flat], jnp.where(x_real, -1.0, 0.0))  # (32, 64)
        h1 = jnp.tanh(dot(H1w, P1, 1, 0) + H1b)  # (16, 64)
        s1_ref[...] = h1
        barrier()
        P2 = jnp.where(in2, s1_ref[c2, pos2], jnp.where(real2, -1.0, 0.0))  # (512, 16)
        h2 = jnp.tanh(dot(H2w, P2, 1, 0) + H2b)  # (16, 16)
        h3 = jnp.tanh(jnp.sum(jnp.sum(H3w * h2[None], axis=2), axis=1) + H3b)  # (32,)
        y = jnp.tanh(jnp.sum(outw * h3[None, :], axis=1) + outb)  # (16,)
        err = jnp.where(out_real, y - t_ref[i, :], 0.0)  # (16,): yhat - target, 10 real
        loss_ref[i] = jnp.sum(err * err) / N_OUT
        # backward
        d4 = (2.0 / N_OUT) * err * (1.0 - y * y)  # (16,)
        d3 = jnp.sum(outw * d4[:, None], axis=0) * (1.0 - h3 * h3)  # (32,)
        d2 = jnp.sum(H3w * d3[:, None, None], axis=0) * (1.0 - h2 * h2)  # (16, 16)
        s2_ref[...] = dot(H2w, d2, 0, 0)  # (512, 16): the gradient of P2
        barrier()
        dh1 = jnp.sum(jnp.where(cvalid, s2_ref[crow, ccol], 0.0), axis=2)  # (16, 64)
        d1 = dh1 * (1.0 - h1 * h1)
        grads = (dot(d1, P1, 1, 1), d1,  # (16, 32), (16, 64)
                 jnp.where(connected, dot(d2, P2, 1, 1), 0.0), d2,  # (16, 512), (16, 16)
                 d3[:, None, None] * h2[None], d3,  # (32, 16, 16), (32,)
                 d4[:, None] * h3[None, :], d4)  # (16, 32), (16,)
        return tuple(w - lr * g for w, g in zip(W, grads))

    W = lax.fori_loop(0, count_ref[0], example, tuple(r[...] for r in params_in))
    for r, w in zip(params_out, W):
        r[...] = w


@functools.cache
def make_train_chunk(n: int, dtype: str, interpret: bool, num_warps: int = NUM_WARPS):
    """jit((count, x, t, lr, params) -> (params, losses)) for a chunk padded to n examples.

    count (1,) int32: the examples actually trained (<= n); x (n, 256), t (n, 16) (targets,
    10 real), lr (n,); params: the 8 fused-layout arrays (donated, updated in place).
    """
    import jax
    import jax.numpy as jnp
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import triton as pltriton

    dt = jnp.dtype(dtype)
    param_shapes = [jax.ShapeDtypeStruct(FUSED_SHAPES[k], dt) for k in FUSED_NAMES]
    out_shape = (*param_shapes, jax.ShapeDtypeStruct((n,), dt),
                 jax.ShapeDtypeStruct((C1, Q1), dt), jax.ShapeDtypeStruct((K2, Q2), dt))
    call = pl.pallas_call(
        functools.partial(_kernel_body, interpret=interpret),
        out_shape=out_shape,
        input_output_aliases={4 + j: j for j in range(8)},
        interpret=interpret,
        compiler_params=None if interpret else pltriton.CompilerParams(num_warps=num_warps, num_stages=1),
        name="lenet1989_fused_sgd",
    )

    def train_chunk(count, x, t, lr, params):
        *new, losses, _, _ = call(count, x, t, lr, *params)
        return tuple(new), losses

    return jax.jit(train_chunk, donate_argnums=(4,))


def lower_for_gpu(n: int, dtype: str):
    """The kernel lowered for a CUDA GPU (Pallas -> Triton IR), without one: StableHLO text.

    Runs the Pallas Triton lowering on any machine (it falls back to compute capability 9.0
    when no GPU is present), so unsupported primitives, non-power-of-two shapes and dot
    shape limits show here. Compiling the Triton IR to PTX happens only on a GPU.
    """
    import jax

    f = make_train_chunk(n, dtype, False)
    args = (np.zeros(1, np.int32), np.zeros((n, 256), dtype), np.zeros((n, 16), dtype), np.zeros(n, dtype),
            tuple(np.zeros(FUSED_SHAPES[k], dtype) for k in FUSED_NAMES))
    with jax.enable_x64(dtype == "float64"):
        return f.trace(*args).lower(lowering_platforms=("cuda",)).as_text()
