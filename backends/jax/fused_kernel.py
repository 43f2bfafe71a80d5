"""One Pallas kernel that trains a whole chunk of examples in order (the jax `fused` strategy).

One `pallas_call`, no grid (a single program): the parameters (and AdamW's moments) are read
from their refs once, carried through a `lax.fori_loop` over the chunk's examples (on a GPU:
registers of the one CTA, with spills to local memory), and written back once at the end.
Each iteration is one example's forward pass, backward pass and optimiser update. What is
trained is fixed at trace time by a `Recipe`: the 1989 variant (tanh, mean squared error over
the 10 outputs, SGD) or the modern one (ReLU, linear output, softmax cross-entropy, a dropout
mask on H2's output, AdamW).

Layout ("fused layout", backends/jax/fused.py converts): every dimension a power of two,
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

Phases of one example (shapes padded; tanh stands for the recipe's activation):
  H1    patches P1 (32, 64) gathered from the input ref, -1 outside the image;
        h1 = tanh(H1w @ P1 + H1b) (16, 64)
  H2    h1 stored to a scratch ref, barrier, patches P2 (512, 16) gathered from it;
        h2 = tanh(H2w @ P2 + H2b) (16, 16)
  H3    h3 = tanh(sum(H3w * h2) + H3b) (32,): a broadcast product and two reductions
        (a matrix-vector product: Triton's dot wants every side >= 16)
  out   y = tanh(sum(outw * h3) + outb) (16,), the first 10 real
  loss  mse, or cross-entropy over the 10 real outputs; its gradient dy
  back  the same in reverse; H2's patch gradient H2w^T @ d2 (512, 16) goes to a second
        scratch ref, barrier, and is folded back into H1's positions by a gather over
        the <= 9 (tap, output) pairs that read each position (col2im without a scatter)
  step  SGD p -= lr * g, or AdamW (_Step.update), for every tensor; H2's gradient masked to
        the connected entries, so every padded or unconnected weight stays exactly 0

Pallas features used: `pallas_call` with `input_output_aliases` (the parameters updated in
place), refs indexed by integer arrays (gathers from global memory: lowered by the Triton
backend to pointer arithmetic), `lax.fori_loop` with a dynamic trip count (scf.for),
`jnp.dot` / `lax.dot_general` at `Precision.HIGHEST` (IEEE fp32 in Triton, not TF32), and
`pallas.triton.debug_barrier` between a scratch store and the gathers that read it.

Why the Triton lowering (`compiler_params=pallas.triton.CompilerParams`) and not Mosaic GPU,
this jax's default GPU lowering for `pallas_call`: Pallas-Triton expresses every phase above
(gathers and stores through computed pointers, IEEE fp32 and fp64 dots, barriers), and its
lowering runs without a GPU, so it is checked here (`lower_for_gpu`). Mosaic GPU's lowering
stopped at the first iota of a probe kernel ("Failed to infer the output layout of the iota";
it wants explicit layouts, plgpu.layout_cast) and was not pursued. jax-triton (the issue's
fallback) is not needed: nothing here is beyond Pallas.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# Padded sizes (powers of two) and the real ones.
C1, T1, Q1 = 16, 32, 64  # H1: planes, taps (25 real), positions (8 x 8)
C2, K2, Q2 = 16, 512, 16  # H2: planes, patch rows (12 planes x 32 taps), positions (4 x 4)
N3, N4 = 32, 16  # H3 units (30 real), outputs (10 real)
REAL_PLANES, TAPS, N_OUT = 12, 25, 10
# GPU only: warps of the single program. Not timed (no GPU here). What Triton 3.9 builds for
# sm_90a on the CPU (tests/test_fused_pallas.py, slow), registers a thread / spill stack:
#   1989 float32: 8 warps 255 / 1.0 KB, 16 warps 128 / 0.7 KB; modern float32, 16 warps 128 / 1.3 KB;
#   float64, 16 warps: 64 / 3.4 KB (1989), 4.3 KB (modern). Shared memory 80 KB (f32), 152 KB (f64).
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


@dataclass(frozen=True)
class Recipe:
    """What the kernel trains, fixed at trace time (from a harness Variant: see backends/jax/fused.py)."""

    hidden: str = "tanh"  # H1-H3: "tanh" | "relu"
    output: str = "tanh"  # "tanh" | "linear"
    loss: str = "mse"  # "mse" on ±1 targets | "xent" (softmax cross-entropy on one-hot targets)
    adamw: tuple[float, float, float] | None = None  # (beta1, beta2, eps); None: SGD
    dropout: bool = False  # a mask (already scaled) on H2's output per example


class _Step:
    """One example's phases, traced inside the kernel; `r` holds the refs by name."""

    def __init__(self, recipe: Recipe, r: dict, interpret: bool):
        import jax.numpy as jnp
        from jax import lax

        self.jnp, self.lax, self.recipe, self.r, self.interpret = jnp, lax, recipe, r, interpret
        self.dt = r["params_in"][0].dtype
        self.x_flat, self.x_inside, self.x_real = h1_patch_index(jnp)
        self.c2, self.pos2, self.in2, self.real2 = h2_patch_index(jnp)
        self.connected = h2_connected(jnp)
        self.crow, self.ccol, self.cvalid = h2_col2im_index(jnp)
        self.out_real = lax.broadcasted_iota(jnp.int32, (N4,), 0) < N_OUT

    def barrier(self):
        # Not in the interpreter: it runs one thread (nothing to wait for) and has no rule for the
        # barrier (jax 0.10.2: NotImplementedError, no lowering of debug_barrier_p for the CPU).
        if not self.interpret:
            from jax.experimental.pallas import triton as pltriton

            pltriton.debug_barrier()

    def dot(self, a, b, ca, cb):  # contract a's dim ca with b's dim cb
        dims = (((ca,), (cb,)), ((), ()))
        return self.lax.dot_general(a, b, dims, precision=self.lax.Precision.HIGHEST, preferred_element_type=self.dt)

    def act(self, z, hidden=True):
        kind = self.recipe.hidden if hidden else self.recipe.output
        return {"tanh": self.jnp.tanh, "relu": lambda t: self.jnp.maximum(t, 0.0), "linear": lambda t: t}[kind](z)

    def act_grad(self, h, dh, hidden=True):
        """dL/dz from dL/dh and the activation's output h."""
        kind = self.recipe.hidden if hidden else self.recipe.output
        if kind == "tanh":
            return dh * (1.0 - h * h)
        return self.jnp.where(h > 0.0, dh, 0.0) if kind == "relu" else dh

    def forward(self, i, W):
        """Example i: the activations (padded shapes in comments)."""
        jnp, r = self.jnp, self.r
        H1w, H1b, H2w, H2b, H3w, H3b, outw, outb = W
        P1 = jnp.where(self.x_inside, r["x"][i, self.x_flat], jnp.where(self.x_real, -1.0, 0.0))  # (32, 64)
        h1 = self.act(self.dot(H1w, P1, 1, 0) + H1b)  # (16, 64)
        r["s1"][...] = h1
        self.barrier()
        P2 = jnp.where(self.in2, r["s1"][self.c2, self.pos2], jnp.where(self.real2, -1.0, 0.0))  # (512, 16)
        h2 = self.act(self.dot(H2w, P2, 1, 0) + H2b)  # (16, 16)
        mask = r["mask"][i] if self.recipe.dropout else None  # (16, 16)
        h2m = h2 if mask is None else h2 * mask
        h3 = self.act(jnp.sum(jnp.sum(H3w * h2m[None], axis=2), axis=1) + H3b)  # (32,)
        y = self.act(jnp.sum(outw * h3[None, :], axis=1) + outb, hidden=False)  # (16,), 10 real
        return P1, h1, P2, h2, mask, h2m, h3, y

    def loss_and_dy(self, i, y):
        """The loss of example i and its gradient with respect to the outputs y (16,)."""
        jnp, t = self.jnp, self.r["t"][i, :]  # ±1 targets (mse) or one-hot (xent); 0 beyond 10
        if self.recipe.loss == "mse":
            err = jnp.where(self.out_real, y - t, 0.0)
            return jnp.sum(err * err) / N_OUT, (2.0 / N_OUT) * err
        top = jnp.max(jnp.where(self.out_real, y, -jnp.inf))
        e = jnp.where(self.out_real, jnp.exp(y - top), 0.0)
        total = jnp.sum(e)
        return jnp.log(total) + top - jnp.sum(t * y), e / total - t

    def backward(self, W, acts, dy):
        """Every parameter's gradient, in W's order and layout."""
        jnp, r = self.jnp, self.r
        H2w, H3w, outw = W[2], W[4], W[6]
        P1, h1, P2, h2, mask, h2m, h3, y = acts
        d4 = self.act_grad(y, dy, hidden=False)  # (16,)
        d3 = self.act_grad(h3, jnp.sum(outw * d4[:, None], axis=0))  # (32,)
        dh2m = jnp.sum(H3w * d3[:, None, None], axis=0)  # (16, 16)
        d2 = self.act_grad(h2, dh2m if mask is None else dh2m * mask)
        r["s2"][...] = self.dot(H2w, d2, 0, 0)  # (512, 16): the gradient of P2
        self.barrier()
        dh1 = jnp.sum(jnp.where(self.cvalid, r["s2"][self.crow, self.ccol], 0.0), axis=2)  # (16, 64)
        d1 = self.act_grad(h1, dh1)
        return (self.dot(d1, P1, 1, 1), d1,  # (16, 32), (16, 64)
                jnp.where(self.connected, self.dot(d2, P2, 1, 1), 0.0), d2,  # (16, 512), (16, 16)
                d3[:, None, None] * h2m[None], d3,  # (32, 16, 16), (32,)
                d4[:, None] * h3[None, :], d4)  # (16, 32), (16,)

    def update(self, i, state, grads):
        """SGD: p -= lr g. AdamW as torch.optim.AdamW computes it, with its scalars from the host:
        opt[i] = (lr, 1 - lr wd, lr / (1 - beta1^t), sqrt(1 - beta2^t))."""
        opt = self.r["opt"]
        if self.recipe.adamw is None:
            lr = opt[i, 0]
            return (tuple(w - lr * g for w, g in zip(state[0], grads)),)
        b1, b2, eps = self.recipe.adamw
        decay, step, bc2_sqrt = opt[i, 1], opt[i, 2], opt[i, 3]
        M = tuple(m + (g - m) * (1.0 - b1) for m, g in zip(state[1], grads))
        V = tuple(v * b2 + (g * g) * (1.0 - b2) for v, g in zip(state[2], grads))
        W = tuple(w * decay - step * (m / (self.jnp.sqrt(v) / bc2_sqrt + eps))
                  for w, m, v in zip(state[0], M, V))
        return W, M, V


def _kernel_body(*refs, recipe: Recipe, interpret: bool):
    """refs: count, x, t, opt, [mask], parameters (8) [, AdamW m (8), v (8)] in; the same state
    out, then losses and the two scratch refs."""
    from jax import lax

    n_state = 8 if recipe.adamw is None else 24
    names = ["count", "x", "t", "opt"] + (["mask"] if recipe.dropout else [])
    r = dict(zip(names, refs))
    state_in = refs[len(names):len(names) + n_state]
    state_out = refs[len(names) + n_state:len(names) + 2 * n_state]
    r["loss"], r["s1"], r["s2"] = refs[len(names) + 2 * n_state:]
    r["params_in"] = state_in[:8]
    step = _Step(recipe, r, interpret)

    def example(i, state):
        state = (state[:8],) if recipe.adamw is None else (state[:8], state[8:16], state[16:])
        acts = step.forward(i, state[0])
        loss, dy = step.loss_and_dy(i, acts[-1])
        r["loss"][i] = loss
        return sum(step.update(i, state, step.backward(state[0], acts, dy)), ())

    final = lax.fori_loop(0, r["count"][0], example, tuple(ref[...] for ref in state_in))
    for ref, value in zip(state_out, final):
        ref[...] = value


@functools.cache
def make_train_chunk(n: int, dtype: str, interpret: bool, num_warps: int = NUM_WARPS,
                     recipe: Recipe = Recipe()):
    """jit((count, x, t, opt, mask, state) -> (state, losses)) for a chunk padded to n examples.

    count (1,) int32: the examples actually trained (<= n); x (n, 256); t (n, 16) (targets or
    one-hot labels, 10 real); opt (n, 4) (Recipe/_Step.update); mask (n, 16, 16) or None;
    state: the 8 fused-layout parameters, then AdamW's 8 m and 8 v (donated, updated in place).
    """
    import jax
    import jax.numpy as jnp
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import triton as pltriton

    dt = jnp.dtype(dtype)
    n_state = 8 if recipe.adamw is None else 24
    n_inputs = 4 + recipe.dropout
    state_shapes = [jax.ShapeDtypeStruct(FUSED_SHAPES[k], dt) for k in FUSED_NAMES] * (n_state // 8)
    out_shape = (*state_shapes, jax.ShapeDtypeStruct((n,), dt),
                 jax.ShapeDtypeStruct((C1, Q1), dt), jax.ShapeDtypeStruct((K2, Q2), dt))
    call = pl.pallas_call(
        functools.partial(_kernel_body, recipe=recipe, interpret=interpret),
        out_shape=out_shape,
        input_output_aliases={n_inputs + j: j for j in range(n_state)},
        interpret=interpret,
        compiler_params=None if interpret else pltriton.CompilerParams(num_warps=num_warps, num_stages=1),
        name="lenet1989_fused_" + ("adamw" if recipe.adamw else "sgd"),
    )

    def train_chunk(count, x, t, opt, mask, state):
        *new, losses, _, _ = call(count, x, t, opt, *(() if mask is None else (mask,)), *state)
        return tuple(new), losses

    return jax.jit(train_chunk, donate_argnums=(5,))


def lower_for_gpu(n: int, dtype: str, recipe: Recipe = Recipe()):
    """The kernel lowered for a CUDA GPU (Pallas -> Triton IR), without one: StableHLO text.

    Runs the Pallas Triton lowering on any machine (it falls back to compute capability 9.0
    when no GPU is present), so unsupported primitives, non-power-of-two shapes and dot
    shape limits show here. Compiling the Triton IR to PTX happens only on a GPU.
    """
    import jax

    f = make_train_chunk(n, dtype, False, NUM_WARPS, recipe)
    state = tuple(np.zeros(FUSED_SHAPES[k], dtype) for k in FUSED_NAMES) * (1 if recipe.adamw is None else 3)
    mask = np.zeros((n, C2, Q2), dtype) if recipe.dropout else None
    args = (np.zeros(1, np.int32), np.zeros((n, 256), dtype), np.zeros((n, N4), dtype), np.zeros((n, 4), dtype),
            mask, state)
    with jax.enable_x64(dtype == "float64"):
        return f.trace(*args).lower(lowering_platforms=("cuda",)).as_text()
