"""The fused Triton kernel: one launch trains a chunk of examples in order (1989 variant).

One program (one CTA, grid (1,)) loops over the chunk's examples. Per example it
runs eight phases, each spread over all of the program's lanes as a small 2-D
gather-multiply-reduce tile, with a barrier wherever one phase reads what the
one before wrote:

    H1 fwd | H2 fwd | H3 fwd | out fwd + loss + out bwd | H3 bwd | H2 bwd | H1 bwd | update

Every gather index (padding, H2's plane connectivity, the transposed gather of
H1's backward pass) is computed from (unit, tap) with integer arithmetic; no
index table is loaded. Nothing but the parameters, the chunk's inputs and
targets and a 2,000-element scratch vector is touched: the 9,760 parameters
are updated in place in their flat buffer (canonical order of
harness.spec.PARAM_NAMES), activations and deltas live in the scratch vector.
Both are global memory: 39 KB + 8 KB in float32, small enough to stay in the
SM's L1 / the L2 for the whole launch, but not registers or shared memory.

With GRADS_ONLY the update phase writes each gradient to G instead of
changing the parameters (the kernel's own backward pass, for parity).

This module is imported twice by backends.torch.fused: once as is (compiled
for the GPU) and once with TRITON_INTERPRET=1 (Triton's interpreter, on the
CPU); `@triton.jit` decides which at import time.
"""
import triton
import triton.language as tl
from triton.language.extra import libdevice

# Offsets into the flat parameter vector (PARAM_NAMES order); 9,760 in all.
H1W = tl.constexpr(0)  # (12, 1, 5, 5)
H1B = tl.constexpr(300)  # (12, 8, 8)
H2W = tl.constexpr(1068)  # (12, 8, 5, 5)
H2B = tl.constexpr(3468)  # (12, 4, 4)
H3W = tl.constexpr(3660)  # (192, 30)
H3B = tl.constexpr(9420)  # (30,)
OUTW = tl.constexpr(9450)  # (30, 10)
OUTB = tl.constexpr(9750)  # (10,)
N_PARAMS = 9760

# Offsets into the scratch vector: activations A*, deltas (dL/d pre-activation) D*.
A1 = tl.constexpr(0)  # H1 (12, 8, 8)
A2 = tl.constexpr(768)  # H2 (12, 4, 4)
A3 = tl.constexpr(960)  # H3 (30,)
D1 = tl.constexpr(1000)
D2 = tl.constexpr(1768)
D3 = tl.constexpr(1960)
DOUT = tl.constexpr(1990)
SCRATCH = 2000


@triton.jit
def _tanh(a, LIBDEVICE: tl.constexpr):
    if LIBDEVICE:  # the GPU: __nv_tanhf / __nv_tanh
        t = libdevice.tanh(a)
    else:  # the interpreter has no libdevice
        e = tl.exp(-2.0 * tl.abs(a))
        t = (1.0 - e) / (1.0 + e)
        t = tl.where(a < 0, -t, t)
    return t


@triton.jit
def _h2_plane(g, j):
    """H1 plane seen by slot j of an H2 output plane in group g (planes 4g..4g+3):
    g 0 sees 0-7, g 1 sees 4-11, g 2 sees 0-3 and 8-11."""
    return tl.where(g == 2, j + 4 * (j // 4), j + 4 * g)


@triton.jit
def _h1_forward(P, S, x_ptr, BU: tl.constexpr, LIBDEVICE: tl.constexpr):
    """H1 = tanh(conv(pad(x, -1), H1w, stride 2) + H1b): 768 units of 25 taps."""
    k = tl.arange(0, 32)  # (32,) taps (ky, kx), 25 used
    for u0 in range(0, 768, BU):
        u = u0 + tl.arange(0, BU)  # (BU,) units (c, y, x)
        c, y, xx = u // 64, (u // 8) % 8, u % 8
        iy = 2 * y[:, None] + (k // 5)[None, :] - 2  # (BU, 32)
        ix = 2 * xx[:, None] + (k % 5)[None, :] - 2
        used = (u < 768)[:, None] & (k < 25)[None, :]
        inside = used & (iy >= 0) & (iy < 16) & (ix >= 0) & (ix < 16)
        xv = tl.load(x_ptr + iy * 16 + ix, mask=inside, other=-1.0)  # padding reads -1
        w = tl.load(P + H1W + c[:, None] * 25 + k[None, :], mask=used, other=0.0)
        a = tl.sum(xv * w, axis=1) + tl.load(P + H1B + u, mask=u < 768, other=0.0)
        tl.store(S + A1 + u, _tanh(a, LIBDEVICE), mask=u < 768)


@triton.jit
def _h2_forward(P, S, BU: tl.constexpr, BR: tl.constexpr, LIBDEVICE: tl.constexpr):
    """H2 = tanh(sparse conv(pad(H1, -1), H2w, stride 2) + H2b): 192 units of 8 x 25 taps."""
    for u0 in range(0, 192, BU):
        u = u0 + tl.arange(0, BU)  # (BU,) units (o, y, x)
        o, y, xx = u // 16, (u // 4) % 4, u % 4
        acc = tl.zeros([BU], dtype=P.dtype.element_ty)
        for r0 in range(0, 200, BR):
            r = r0 + tl.arange(0, BR)  # (BR,) taps (j, ky, kx) of H2w[o]
            ip = _h2_plane((o // 4)[:, None], (r // 25)[None, :])  # (BU, BR) H1 plane
            iy = 2 * y[:, None] + ((r // 5) % 5)[None, :] - 2
            ix = 2 * xx[:, None] + (r % 5)[None, :] - 2
            used = (u < 192)[:, None] & (r < 200)[None, :]
            inside = used & (iy >= 0) & (iy < 8) & (ix >= 0) & (ix < 8)
            h = tl.load(S + A1 + ip * 64 + iy * 8 + ix, mask=inside, other=-1.0)
            w = tl.load(P + H2W + o[:, None] * 200 + r[None, :], mask=used, other=0.0)
            acc += tl.sum(h * w, axis=1)
        a = acc + tl.load(P + H2B + u, mask=u < 192, other=0.0)
        tl.store(S + A2 + u, _tanh(a, LIBDEVICE), mask=u < 192)


@triton.jit
def _h3_forward(P, S, BR: tl.constexpr, LIBDEVICE: tl.constexpr):
    """H3 = tanh(H2 (flattened C, H, W) @ H3w + H3b): 30 units of 192 inputs."""
    c = tl.arange(0, 32)  # (32,) units, 30 used
    acc = tl.zeros([32], dtype=P.dtype.element_ty)
    for r0 in range(0, 192, BR):
        r = r0 + tl.arange(0, BR)  # (BR,) inputs
        m = (r < 192)[:, None] & (c < 30)[None, :]
        w = tl.load(P + H3W + r[:, None] * 30 + c[None, :], mask=m, other=0.0)  # (BR, 32)
        h = tl.load(S + A2 + r, mask=r < 192, other=0.0)
        acc += tl.sum(h[:, None] * w, axis=0)
    a = acc + tl.load(P + H3B + c, mask=c < 30, other=0.0)
    tl.store(S + A3 + c, _tanh(a, LIBDEVICE), mask=c < 30)


@triton.jit
def _out_forward_backward(P, S, t_ptr, LIBDEVICE: tl.constexpr):
    """out = tanh(H3 @ outw + outb); the loss mean((t - out)^2) and its delta at out. Returns the loss."""
    c = tl.arange(0, 32)  # (32,) H3 units, 30 used
    o = tl.arange(0, 16)  # (16,) outputs, 10 used
    m = (c < 30)[:, None] & (o < 10)[None, :]
    w = tl.load(P + OUTW + c[:, None] * 10 + o[None, :], mask=m, other=0.0)  # (32, 16)
    h = tl.load(S + A3 + c, mask=c < 30, other=0.0)
    y = _tanh(tl.sum(h[:, None] * w, axis=0) + tl.load(P + OUTB + o, mask=o < 10, other=0.0), LIBDEVICE)
    err = tl.where(o < 10, y - tl.load(t_ptr + o, mask=o < 10, other=0.0), 0.0)  # (16,)
    tl.store(S + DOUT + o, err * 0.2 * (1.0 - y * y), mask=o < 10)  # d mean(err^2)/dy = 2 err / 10
    sq = tl.sum(err * err, axis=0)
    if sq.dtype == tl.float32:  # IEEE division, as torch.mean (fp32 `/` is approximate in Triton)
        loss = tl.div_rn(sq, 10.0)
    else:  # fp64 `/` is div.rn.f64 (div_rn and fdiv(ieee_rounding) take fp32 only in Triton 3.9)
        loss = sq / 10.0
    return loss


@triton.jit
def _h3_backward(P, S):
    """D3 = (1 - H3^2) * (outw @ DOUT)."""
    c = tl.arange(0, 32)
    o = tl.arange(0, 16)
    m = (c < 30)[:, None] & (o < 10)[None, :]
    w = tl.load(P + OUTW + c[:, None] * 10 + o[None, :], mask=m, other=0.0)  # (32, 16)
    d = tl.load(S + DOUT + o, mask=o < 10, other=0.0)
    h = tl.load(S + A3 + c, mask=c < 30, other=0.0)
    tl.store(S + D3 + c, tl.sum(w * d[None, :], axis=1) * (1.0 - h * h), mask=c < 30)


@triton.jit
def _h2_backward(P, S, BR: tl.constexpr):
    """D2 = (1 - H2^2) * (H3w @ D3)."""
    c = tl.arange(0, 32)
    d = tl.load(S + D3 + c, mask=c < 30, other=0.0)
    for r0 in range(0, 192, BR):
        r = r0 + tl.arange(0, BR)  # (BR,) H2 units
        m = (r < 192)[:, None] & (c < 30)[None, :]
        w = tl.load(P + H3W + r[:, None] * 30 + c[None, :], mask=m, other=0.0)  # (BR, 32)
        h = tl.load(S + A2 + r, mask=r < 192, other=0.0)
        tl.store(S + D2 + r, tl.sum(w * d[None, :], axis=1) * (1.0 - h * h), mask=r < 192)


@triton.jit
def _h1_backward(P, S, BU: tl.constexpr):
    """D1 = (1 - H1^2) * (transposed sparse conv of D2 with H2w), gathered per H1 unit.

    H1 plane ip is seen by the 4 planes of two groups (ga, gb); unit (ip, py, px) is tap
    (ky, kx) = (py + 2 - 2y, px + 2 - 2x) of at most 3 x 3 H2 positions (y, x): 8 x 9 terms.
    """
    q = tl.arange(0, 128)  # (128,) terms (oi, dy, dx), 72 used
    oi, dy, dx = q // 9, (q // 3) % 3, q % 3
    for u0 in range(0, 768, BU):
        u = u0 + tl.arange(0, BU)  # (BU,) H1 units (ip, py, px)
        ip, py, px = (u // 64)[:, None], ((u // 8) % 8)[:, None], (u % 8)[:, None]
        ga = tl.where(ip < 8, 0, 1)
        gb = tl.where((ip < 4) | (ip >= 8), 2, 1)
        g = tl.where(oi[None, :] < 4, ga, gb)  # (BU, 128) group of the H2 plane
        o = 4 * g + oi[None, :] % 4
        j = tl.where((g == 0) | ((g == 2) & (ip < 4)), ip, ip - 4)  # slot of ip in H2w[o]
        y = (py + 2) // 2 - dy[None, :]
        ky = py + 2 - 2 * y
        xx = (px + 2) // 2 - dx[None, :]
        kx = px + 2 - 2 * xx
        valid = (u < 768)[:, None] & (q < 72)[None, :] & (y >= 0) & (y < 4) & (ky < 5) & (xx >= 0) & (xx < 4) & (kx < 5)
        w = tl.load(P + H2W + o * 200 + j * 25 + ky * 5 + kx, mask=valid, other=0.0)
        d = tl.load(S + D2 + o * 16 + y * 4 + xx, mask=valid, other=0.0)
        h = tl.load(S + A1 + u, mask=u < 768, other=0.0)
        tl.store(S + D1 + u, tl.sum(w * d, axis=1) * (1.0 - h * h), mask=u < 768)


@triton.jit
def _apply(P, G, off, g, lr, m, GRADS_ONLY: tl.constexpr):
    """SGD on the parameters at `off` (p -= lr g), or, with GRADS_ONLY, g written to G."""
    if GRADS_ONLY:
        tl.store(G + off, g, mask=m)
    else:
        p = tl.load(P + off, mask=m, other=0.0)
        tl.store(P + off, p - lr * g, mask=m)


@triton.jit
def _update_dense(P, G, S, lr, BR: tl.constexpr, GRADS_ONLY: tl.constexpr):
    """outw, outb, H3w, H3b: gradient = input activation x delta."""
    c = tl.arange(0, 32)
    o = tl.arange(0, 16)
    dout = tl.load(S + DOUT + o, mask=o < 10, other=0.0)
    h3 = tl.load(S + A3 + c, mask=c < 30, other=0.0)
    m = (c < 30)[:, None] & (o < 10)[None, :]
    _apply(P, G, OUTW + c[:, None] * 10 + o[None, :], h3[:, None] * dout[None, :], lr, m, GRADS_ONLY)
    _apply(P, G, OUTB + o, dout, lr, o < 10, GRADS_ONLY)
    d3 = tl.load(S + D3 + c, mask=c < 30, other=0.0)
    for r0 in range(0, 192, BR):
        r = r0 + tl.arange(0, BR)
        h2 = tl.load(S + A2 + r, mask=r < 192, other=0.0)
        mr = (r < 192)[:, None] & (c < 30)[None, :]
        _apply(P, G, H3W + r[:, None] * 30 + c[None, :], h2[:, None] * d3[None, :], lr, mr, GRADS_ONLY)
    _apply(P, G, H3B + c, d3, lr, c < 30, GRADS_ONLY)


@triton.jit
def _update_h2(P, G, S, lr, BW: tl.constexpr, GRADS_ONLY: tl.constexpr):
    """H2w[o, j, ky, kx] -= lr sum over the 16 positions of D2[o] x pad(H1)[plane, tap]; H2b -= lr D2."""
    s = tl.arange(0, 16)  # (16,) positions (y, x)
    for w0 in range(0, 2400, BW):
        wi = w0 + tl.arange(0, BW)  # (BW,) weights (o, j, ky, kx)
        o = wi // 200
        ip = _h2_plane(o // 4, (wi // 25) % 8)
        iy = 2 * (s // 4)[None, :] + ((wi // 5) % 5)[:, None] - 2  # (BW, 16)
        ix = 2 * (s % 4)[None, :] + (wi % 5)[:, None] - 2
        used = (wi < 2400)[:, None]
        inside = used & (iy >= 0) & (iy < 8) & (ix >= 0) & (ix < 8)
        h = tl.load(S + A1 + ip[:, None] * 64 + iy * 8 + ix, mask=inside, other=-1.0)
        d = tl.load(S + D2 + o[:, None] * 16 + s[None, :], mask=used, other=0.0)
        _apply(P, G, H2W + wi, tl.sum(h * d, axis=1), lr, wi < 2400, GRADS_ONLY)
    b = tl.arange(0, 256)
    _apply(P, G, H2B + b, tl.load(S + D2 + b, mask=b < 192, other=0.0), lr, b < 192, GRADS_ONLY)


@triton.jit
def _update_h1(P, G, S, x_ptr, lr, BW: tl.constexpr, GRADS_ONLY: tl.constexpr):
    """H1w[c, ky, kx] -= lr sum over the 64 positions of D1[c] x pad(x)[tap]; H1b -= lr D1."""
    s = tl.arange(0, 64)  # (64,) positions (y, x)
    for w0 in range(0, 300, BW):
        wi = w0 + tl.arange(0, BW)  # (BW,) weights (c, ky, kx)
        iy = 2 * (s // 8)[None, :] + ((wi // 5) % 5)[:, None] - 2  # (BW, 64)
        ix = 2 * (s % 8)[None, :] + (wi % 5)[:, None] - 2
        used = (wi < 300)[:, None]
        inside = used & (iy >= 0) & (iy < 16) & (ix >= 0) & (ix < 16)
        xv = tl.load(x_ptr + iy * 16 + ix, mask=inside, other=-1.0)
        d = tl.load(S + D1 + (wi // 25)[:, None] * 64 + s[None, :], mask=used, other=0.0)
        _apply(P, G, H1W + wi, tl.sum(xv * d, axis=1), lr, wi < 300, GRADS_ONLY)
    for b0 in range(0, 768, 256):
        b = b0 + tl.arange(0, 256)
        _apply(P, G, H1B + b, tl.load(S + D1 + b), lr, b < 768, GRADS_ONLY)


@triton.jit(do_not_specialize=["n"])  # one compilation for every chunk length
def fused_sgd(P, G, S, X, T, LR, LOSS, n,
              GRADS_ONLY: tl.constexpr, LIBDEVICE: tl.constexpr,
              BU1: tl.constexpr, BU2: tl.constexpr, BR2: tl.constexpr, BR3: tl.constexpr,
              BD1: tl.constexpr, BW2: tl.constexpr, BW1: tl.constexpr):
    """Train on examples 0..n-1 of X (n, 256) / T (n, 10) in order, SGD with LR[i]; LOSS[i] = loss
    before example i's update. P (9760,) parameters, S (2000,) scratch, G (9760,) gradients."""
    for i in range(n):
        x_ptr = X + i * 256
        _h1_forward(P, S, x_ptr, BU1, LIBDEVICE)
        tl.debug_barrier()
        _h2_forward(P, S, BU2, BR2, LIBDEVICE)
        tl.debug_barrier()
        _h3_forward(P, S, BR3, LIBDEVICE)
        tl.debug_barrier()
        tl.store(LOSS + i, _out_forward_backward(P, S, T + i * 10, LIBDEVICE))
        tl.debug_barrier()
        _h3_backward(P, S)
        tl.debug_barrier()
        _h2_backward(P, S, BR3)
        tl.debug_barrier()
        _h1_backward(P, S, BD1)
        tl.debug_barrier()
        lr = tl.load(LR + i)
        _update_dense(P, G, S, lr, BR3, GRADS_ONLY)
        _update_h2(P, G, S, lr, BW2, GRADS_ONLY)
        _update_h1(P, G, S, x_ptr, lr, BW1, GRADS_ONLY)
        tl.debug_barrier()
