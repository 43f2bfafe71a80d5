"""The JAX/Flax backend: a pluggy plugin registered through the `harness` entry-point group.

jax, flax and optax are imported lazily, inside functions, so a machine without
them lists this backend as unavailable instead of failing to start the harness.

Strategies (all train at batch size 1, in order, one optimiser update per example):
  step  the loop a JAX user writes: one jitted training step per example, called
        from Python (params and opt_state donated). The chunk is put on the device
        once and the step indexes it (passing per-example host slices instead cost
        ~10% more on CPU, and a host-to-device copy per step on a GPU); the losses
        stay on the device and are fetched once per call.
  scan  the whole chunk of examples in one jitted `lax.scan` over examples,
        carrying (params, opt_state), the carry's buffers donated; SCAN_UNROLL
        examples per loop iteration.
  fused one Pallas kernel launch per chunk, the loop over examples inside it
        (backends/jax_fused.py): CUDA GPUs; the CPU only through Pallas's
        interpreter, for tests, with HARNESS_FUSED_INTERPRET=1.

Design:
- The network is a Flax linen module (`LeNet1989`) that declares each parameter
  tensor with `self.param`, named after the paper; training steps are pure
  functions of the params pytree, applied with `module.apply`, so they jit, scan
  and donate without any state threading (linen rather than nnx for exactly that).
- Layout: the canonical NCHW / OIHW one with trailing dimensions merged (H1w
  (12, 25), H1b (12, 64)...) and H2's kernel stored dense, (12, 300) with zeros
  where planes are unconnected: see backends/jax_layout.py.
- The training step (module impl "patches") computes both convolutions as matrix
  products over patches gathered with precomputed indices (im2col), H2 as one
  (12, 300) @ (300, 16) product with the dense kernel (`h2_product`), whose VJP
  is written out: the unconnected entries' gradient set to zero, and the
  patches' gradient folded back into H1 by a gather-and-sum instead of the
  scatter and transposed-operand product JAX derives (~11% off the step on
  XLA:CPU; the profile is in `h2_product`'s docstring and
  scripts/profile_cpu.py). For one example on XLA:CPU the patches path is about
  4x faster than `lax.conv` (~130 -> ~30 us per training example). Batched
  evaluation (impl "conv") uses `lax.conv_general_dilated` in NHWC with H2 as one
  dense convolution, faster than the gathers for a whole split. Both paths are
  tested against each other and against torch.
- Every dot and convolution passes `precision=lax.Precision.HIGHEST` (full fp32 on
  GPU/TPU, where JAX lowers precision by default).
- float64: each session enters `jax.enable_x64(dtype == "float64")`, a scoped,
  thread-local context, around every call into JAX (tracing, transfers,
  execution); the global `jax_enable_x64` flag is never changed.
- Optimiser: `optax.inject_hyperparams(optax.sgd | optax.adamw)` so the learning
  rate of each example is an input of the jitted step. optax.adamw computes
  p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p), torch.optim.AdamW
  p * (1 - lr * wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps): the same
  formula, so the two agree to float64 round-off (tested over 50 steps).
"""
from __future__ import annotations

import functools
import os

import numpy as np

from harness.backend import BackendUnavailable, DeviceUnavailable, Steps
from harness.hookspecs import hookimpl
from harness.spec import Variant

from . import jax_layout as layout

STRATEGIES = ("step", "scan", "fused")  # the first is the default: the idiomatic loop; fused: jax_fused.py
# Examples per iteration of the scan's loop body (lax.scan unroll), by jax platform.
# Measured, 1989 variant, float32, us per example:
#   cpu, a shared 2-core AVX-512 Xeon, USPS, 30 interleaved windows of 1,024 (min / median):
#     unroll 1: 25.7 / 38.5, 2: 25.2 / 38.0, 4: 24.3 / 37.9 (a noisy moment; no difference
#     beyond noise), compile 0.9 / 1.0 / 1.5 s. XLA:CPU runs the loop body as ~35 kernel calls
#     whatever the unroll (scripts/profile_cpu.py), so 1: the cheapest compile.
#   gpu, one H200, synthetic data (1989 / modern), before H2's VJP was written out: unroll
#     1: 37 / 48, 4: 32 / 40, 8: 35 / 41, 16: 32 / 40, 32: 35 / 44 (compile 1.4 s at 1, 8-23 s at 32).
#   tpu: not measured; 4 like the gpu.
SCAN_UNROLL = {"cpu": 1, "gpu": 4, "cuda": 4, "rocm": 4, "tpu": 4}


def scan_unroll(platform: str) -> int:
    return SCAN_UNROLL.get(platform, 1)


PRECISION = "HIGHEST"  # lax.Precision on every dot and convolution
INSTALL_HINT = "install with: pip install 'lecun1989-harness[jax]'"


def _jax():
    """Import jax, flax.linen and optax; BackendUnavailable with the reason if any fails."""
    try:
        import flax.linen  # noqa: F401
        import jax
        import optax  # noqa: F401
    except Exception as e:  # ImportError, or a broken install raising something else
        raise BackendUnavailable(f"jax/flax/optax cannot be imported ({type(e).__name__}: {e}); "
                                 f"{INSTALL_HINT}") from e
    return jax


def _platform_devices(jax, platform: str) -> list:
    try:
        return list(jax.devices(platform))
    except RuntimeError:  # "Unknown backend" / no such platform here
        return []


def device_table(jax) -> dict[str, object]:
    """Device names, torch-style ("cpu", "cuda", "cuda:N", "tpu", "tpu:N"), -> jax devices."""
    table: dict[str, object] = {"cpu": jax.devices("cpu")[0]}
    gpus = _platform_devices(jax, "gpu")
    if gpus:
        table["cuda"] = gpus[0]
        table.update({f"cuda:{i}": d for i, d in enumerate(gpus)})
    tpus = _platform_devices(jax, "tpu")
    if tpus:
        table["tpu"] = tpus[0]
        table.update({f"tpu:{i}": d for i, d in enumerate(tpus)})
    return table


def resolve_device(jax, device: str):
    table = device_table(jax)
    if device not in table:
        raise DeviceUnavailable(f"jax cannot reach device {device!r} here; available: {', '.join(table)}")
    return table[device]


@functools.cache
def _lib():
    """The jax-dependent pieces, built once on first use (jax imported lazily)."""
    jax = _jax()
    import flax.linen as nn
    import jax.numpy as jnp
    from jax import lax

    HI = lax.Precision.HIGHEST
    DN = ("NHWC", "HWIO", "NHWC")

    def gather(flat, index):
        return flat.at[index].get(mode="promise_in_bounds")

    def with_sentinel(a, value):
        return jnp.concatenate([a.reshape(-1), jnp.full((1,), value, a.dtype)])

    @jax.custom_vjp
    def h2_product(w, h):
        """H2's pre-activation (12, 16) from its dense kernel w (12, 300) and H1's output h (12, 64).

        The product over gathered patches. Its VJP is written out because the one JAX derives
        cost about a quarter of the XLA:CPU training step (scripts/profile_cpu.py on a 2-core
        Xeon: a scatter 14.5%, Eigen 12.1%): it scatters the patches' gradient back into h (a
        serial loop) and computes w^T @ dz as a transposed-operand product that XLA hands to
        Eigen, which packs it first. Here the patches' gradient is formed transposed,
        dz^T @ w (16, 300), an ordinary product, and folded back into h by gathers and sums over
        precomputed positions, one read per use (layout.H2_COL2IM: col2im without a scatter).
        The gradient of w's unconnected entries is set to exactly 0, so they stay 0 under SGD
        and AdamW (zero gradient, zero moments, zero decay of a zero).
        """
        return jnp.dot(w, gather(with_sentinel(h, -1), layout.H2_PATCHES_INTERNAL), precision=HI)

    def h2_product_fwd(w, h):
        P2 = gather(with_sentinel(h, -1), layout.H2_PATCHES_INTERNAL)  # (300, 16): H1 padded by 2 with -1
        return jnp.dot(w, P2, precision=HI), (w, P2)

    def h2_product_bwd(res, dz):  # dz (12, 16)
        w, P2 = res
        dw = jnp.where(layout.H2_MASK, jnp.dot(dz, P2.T, precision=HI), jnp.zeros((), dz.dtype))  # (12, 300)
        dP2T = jnp.dot(dz.T, w, precision=HI).reshape(-1)  # (16 * 300,): the patches' gradient, transposed
        pieces = []
        for _, _, pos in layout.H2_COL2IM:  # H1's columns grouped by reads: (12, n, k) positions
            s = gather(dP2T, pos[..., 0])
            for k in range(1, pos.shape[-1]):  # elementwise sums: XLA fuses them into one loop
                s = s + gather(dP2T, pos[..., k])
            pieces.append(s)
        return dw, jnp.concatenate(pieces, axis=1)  # (12, 64), H1's internal column order

    h2_product.defvjp(h2_product_fwd, h2_product_bwd)

    def activation(name):
        return {"tanh": jnp.tanh, "relu": jax.nn.relu, "linear": lambda t: t}[name]

    def forward_patches(p, x, mask, act, out_act):
        """One example x (1, 16, 16) -> (10,): convolutions as products over gathered patches."""
        P1 = gather(with_sentinel(x, -1), layout.H1_PATCHES_INTERNAL)  # (25, 64): padded by 2 with -1
        h = act(jnp.dot(p["H1w"], P1, precision=HI) + p["H1b"])  # (12, 64): (C, position in H1_ORDER)
        h = act(h2_product(p["H2w_dense"], h) + p["H2b"])  # (12, 16); unconnected entries 0, gradient 0
        if mask is not None:
            h = h * mask.reshape(12, 16)  # dropout mask drawn by the core, already scaled
        h = act(jnp.dot(p["H3w"], h.reshape(192), precision=HI) + p["H3b"])  # (30,), (C, H, W) flatten
        return out_act(jnp.dot(p["outw"], h, precision=HI) + p["outb"])  # (10,)

    def conv_nhwc(x, w):
        return lax.conv_general_dilated(x, w, (2, 2), "VALID", dimension_numbers=DN, precision=HI)

    def pad_nhwc(x):
        return jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)

    def forward_conv(p, x, mask, act, out_act):
        """A batch x (B, 1, 16, 16) -> (B, 10) with lax.conv in NHWC, H2 as one dense convolution.

        NHWC/HWIO and H2 as one 12 -> 12 convolution with the dense kernel (exact zeros where
        planes are unconnected) evaluate 9,298 USPS images in ~0.10 s on a 2-core Xeon, against
        ~0.16 s for NCHW with H2 as the three sliced convolutions of DESIGN.md; the zeros add
        nothing, only the summation order differs (~1e-7 in float32).
        """
        x = x.reshape(x.shape[0], 16, 16, 1)  # C = 1: NCHW -> NHWC is a reshape
        w1 = p["H1w"].reshape(12, 5, 5).transpose(1, 2, 0)[:, :, None, :]  # HWIO (5, 5, 1, 12)
        b1 = p["H1b"][:, layout.H1_RANK].reshape(12, 8, 8)  # internal column order -> canonical (C, H, W)
        h = act(conv_nhwc(pad_nhwc(x), w1) + b1.transpose(1, 2, 0))  # (B, 8, 8, 12)
        w2 = p["H2w_dense"].reshape(12, 12, 5, 5).transpose(2, 3, 1, 0)  # OIHW -> HWIO (5, 5, 12, 12)
        h = act(conv_nhwc(pad_nhwc(h), w2) + p["H2b"].reshape(12, 4, 4).transpose(1, 2, 0))  # (B, 4, 4, 12)
        h = h.transpose(0, 3, 1, 2)  # (B, 12, 4, 4): the canonical (C, H, W) flatten order
        if mask is not None:
            h = h * mask
        h = act(jnp.dot(h.reshape(h.shape[0], 192), p["H3w"].T, precision=HI) + p["H3b"])  # (B, 30)
        return out_act(jnp.dot(h, p["outw"].T, precision=HI) + p["outb"])  # (B, 10)

    class LeNet1989(nn.Module):
        """LeCun et al. 1989. Parameters in the internal layout of backends/jax_layout.py.

        x (1, 16, 16) -> (10,) for one example, x (B, 1, 16, 16) -> (B, 10) for a batch.
        `impl`: "patches" (products over gathered patches, vmapped over a batch) or "conv".
        """

        hidden_activation: str = "tanh"
        output_activation: str = "tanh"
        impl: str = "patches"

        @nn.compact
        def __call__(self, x, mask=None):
            p = {name: self.param(name, nn.initializers.zeros_init(), shape, x.dtype)
                 for name, shape in layout.INTERNAL_SHAPES.items()}
            act, out_act = activation(self.hidden_activation), activation(self.output_activation)
            single = x.ndim == 3
            if self.impl == "conv":
                out = forward_conv(p, x[None] if single else x,
                                   None if mask is None else (mask[None] if single else mask), act, out_act)
                return out[0] if single else out
            if single:
                return forward_patches(p, x, mask, act, out_act)
            if mask is None:
                return jax.vmap(lambda xi: forward_patches(p, xi, None, act, out_act))(x)
            return jax.vmap(lambda xi, mi: forward_patches(p, xi, mi, act, out_act))(x, mask)

    return jax, jnp, lax, LeNet1989


def make_model(variant: Variant, impl: str = "patches"):
    """The linen module for `variant`."""
    _, _, _, LeNet1989 = _lib()
    return LeNet1989(hidden_activation=variant.hidden_activation,
                     output_activation=variant.output_activation, impl=impl)


def make_optimizer(variant: Variant):
    """optax optimiser whose learning rate is a hyper-parameter set per step (see module doc)."""
    import optax

    opt = variant.optimizer
    if opt.kind == "sdlm":  # sgd with per-parameter step scales: backends/jax_sdlm.py
        from .jax_sdlm import sdlm_optimizer
        return sdlm_optimizer()
    if opt.kind == "sgd":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=opt.lr)
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=opt.lr_start, b1=opt.beta1, b2=opt.beta2, eps=opt.eps,
        weight_decay=opt.weight_decay)


def make_loss(variant: Variant, model):
    """loss(params, x, target, label, mask) on one example."""
    import jax.numpy as jnp
    import optax

    if variant.loss not in ("mse", "xent"):
        raise ValueError(f"unknown loss {variant.loss!r}")

    def loss(params, x, target, label, mask):
        out = model.apply({"params": params}, x, mask)  # (10,)
        if variant.loss == "mse":
            return jnp.mean((target - out) ** 2)
        return optax.softmax_cross_entropy_with_integer_labels(out, label)

    return loss


def make_train_step(variant: Variant, model, opt):
    """(params, opt_state, x, target, label, lr, mask) -> (params, opt_state, loss): one example."""
    import jax
    import optax

    loss_fn = make_loss(variant, model)

    def train_step(params, opt_state, x, target, label, lr, mask):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, target, label, mask)
        opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step


@functools.cache
def compiled_functions(variant: Variant, unroll: int = 1):
    """The jitted functions of a variant, shared by its sessions (jit caches per dtype, shape, device).

    step(params, opt_state, xs, i): one example, xs[i], of a device-resident chunk; params and
        opt_state donated. scan(carry, xs): every example of xs in order, carry donated.
    grads(params, x, target, label, mask): loss and gradients. forward(params, x): a batch.
    """
    jax, _, lax, _ = _lib()
    model = make_model(variant, "patches")
    eval_model = make_model(variant, "conv")
    train_step = make_train_step(variant, model, make_optimizer(variant))

    def step_at(params, opt_state, xs, i):
        x, tg, lb, lr, mask = xs
        return train_step(params, opt_state, x[i], tg[i], lb[i], lr[i], None if mask is None else mask[i])

    def scan(carry, xs):
        def body(carry, ex):
            params, opt_state, loss = train_step(*carry, *ex)
            return (params, opt_state), loss
        return lax.scan(body, carry, xs, unroll=unroll)

    return (jax.jit(step_at, donate_argnums=(0, 1)),
            jax.jit(scan, donate_argnums=(0,)),
            jax.jit(jax.value_and_grad(make_loss(variant, model))),
            jax.jit(lambda p, x: eval_model.apply({"params": p}, x)))


class JaxSession:
    """One model on one jax device, in one dtype, trained with `step` or `scan`."""

    def __init__(self, variant: Variant, params: dict[str, np.ndarray], dtype: str, device, strategy: str):
        jax, jnp, _, _ = _lib()
        self.jax, self.jnp = jax, jnp
        self.variant, self.dtype, self.device, self.strategy = variant, np.dtype(dtype), device, strategy
        self.x64 = self.dtype == np.float64
        self.opt = make_optimizer(variant)
        self.unroll = scan_unroll(device.platform)
        self._step, self._scan, self._grads, self._forward = compiled_functions(variant, self.unroll)
        with self._scope():
            self.params = jax.device_put(layout.from_canonical(params, self.dtype), device)
            self.opt_state = jax.device_put(self.opt.init(self.params), device)

    def _scope(self):
        return self.jax.enable_x64(bool(self.x64))

    def _inputs(self, steps: Steps):
        dt = self.dtype
        host = (
            np.ascontiguousarray(steps.x, dtype=dt),
            np.ascontiguousarray(steps.targets, dtype=dt),
            np.ascontiguousarray(steps.labels, dtype=np.int32),
            np.ascontiguousarray(steps.lr, dtype=dt),
            None if steps.mask is None else np.ascontiguousarray(steps.mask, dtype=dt),
        )
        return self.jax.device_put(host, self.device)

    def train_steps(self, steps: Steps) -> np.ndarray:
        n = len(steps)
        if n == 0:
            return np.zeros(0)
        with self._scope():
            xs = self._inputs(steps)
            if self.strategy == "scan":
                (self.params, self.opt_state), losses = self._scan((self.params, self.opt_state), xs)
            else:
                out = []
                for i in range(n):
                    self.params, self.opt_state, loss = self._step(self.params, self.opt_state, xs, i)
                    out.append(loss)
                losses = self.jnp.stack(out)
            return np.asarray(losses).astype(np.float64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return np.array(self._forward(self.params, xd))

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, got {len(steps)}")
        with self._scope():
            x, tg, lb, _, mask = self._inputs(steps)
            loss, grads = self._grads(self.params, x[0], tg[0], lb[0], None if mask is None else mask[0])
            return float(loss), layout.to_canonical(self.jax.device_get(grads))

    def get_params(self) -> dict[str, np.ndarray]:
        with self._scope():
            return layout.to_canonical(self.jax.device_get(self.params))

    def sync(self) -> None:
        self.jax.block_until_ready((self.params, self.opt_state))


class JaxBackend:
    name = "jax"
    strategies = STRATEGIES
    description = "JAX + Flax linen + optax (jit per step, or lax.scan over examples)"

    def check(self) -> None:
        _jax()

    def devices(self) -> list[str]:
        return list(device_table(_jax()))

    def strategy_devices(self, strategy: str) -> list[str]:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown jax strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        if strategy == "fused":
            from .jax_fused import fused_devices
            return fused_devices(device_table(_jax()))
        return self.devices()

    def supports(self, strategy: str, variant, dtype: str) -> str | None:
        """None when `strategy` trains `variant` in `dtype`, else the reason (fused is partial;
        SDLM: step and scan only, backends/jax_sdlm.py)."""
        from harness.sdlm import unsupported as sdlm_unsupported

        if (why := sdlm_unsupported(variant, strategy, self.name, ("step", "scan"))) is not None:
            return why
        if strategy == "fused":
            from .jax_fused import unsupported
            return unsupported(variant, dtype)
        return None

    def environment(self, device: str) -> dict:
        jax = _jax()
        import flax
        import jaxlib
        import optax

        dev = resolve_device(jax, device)
        env = {
            "jax": jax.__version__,
            "jaxlib": getattr(jaxlib, "__version__", None),
            "flax": flax.__version__,
            "optax": optax.__version__,
            "platform": dev.platform,
            "device_kind": dev.device_kind,
            "device_name": dev.device_kind,
            "device": str(dev),
            "x64": "scoped per session: jax.enable_x64(dtype == 'float64'); "
                   f"global jax_enable_x64={bool(jax.config.jax_enable_x64)}",
            "precision": {
                "dot_and_conv": f"lax.Precision.{PRECISION}",
                "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            },
            "scan_unroll": scan_unroll(dev.platform),
            "train_impl": "im2col: convolutions as matmuls over gathered patches; H2 dense masked (12,300)",
            "eval_impl": "lax.conv_general_dilated NCHW/OIHW, H2 as three sliced convolutions",
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        }
        env["platform_version"] = getattr(getattr(dev, "client", None), "platform_version", None)
        return env

    def session(self, *, variant, params, dtype, device, strategy):
        jax = _jax()
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown jax strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        if str(dtype) not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, not {dtype!r}")
        dev = resolve_device(jax, device)
        if strategy == "fused":
            from .jax_fused import make_session
            return make_session(variant, params, str(dtype), device, dev)
        if variant.optimizer.kind == "sdlm":
            from .jax_sdlm import SdlmJaxSession  # the second-derivative pass
            return SdlmJaxSession(variant, params, str(dtype), dev, strategy)
        return JaxSession(variant, params, str(dtype), dev, strategy)


@hookimpl
def harness_register_backends(register):
    register(JaxBackend())
