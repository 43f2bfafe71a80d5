"""The JAX/Flax backend: a pluggy plugin registered through the `harness` entry-point group.

jax, flax and optax are imported lazily, inside functions, so a machine without
them lists this backend as unavailable instead of failing to start the harness.

Strategies (all train at batch size 1, in order, one optimiser update per example):
  step  the loop a JAX user writes: one jitted training step per example, called
        from Python (params and opt_state donated). The chunk is put on the device
        once and the step indexes it (per-example host slices would cost a
        host-to-device copy per step on a GPU); the losses
        stay on the device and are fetched once per call.
  scan  the whole chunk of examples in one jitted `lax.scan` over examples,
        carrying (params, opt_state), the carry's buffers donated; SCAN_UNROLL
        examples per loop iteration.
  fused one Pallas kernel launch per chunk, the loop over examples inside it
        (backends/jax_fused.py): CUDA GPUs; the CPU only through Pallas's
        interpreter, for tests, with HARNESS_FUSED_INTERPRET=1.

Design (timings behind these choices: docs/performance.md):
- The network (backends/jax_net.py, imported lazily) is a Flax linen module that
  declares each parameter tensor with `self.param`, named after the paper; training
  steps are pure functions of the params pytree, applied with `module.apply`, so
  they jit, scan and donate without any state threading.
- Layout: the canonical one with trailing dimensions merged and H2's kernel stored
  dense, (12, 300) with zeros where planes are unconnected (backends/jax_layout.py).
- Training (impl "patches"): both convolutions as matrix products over patches
  gathered with harness.tables' index tables, H2 as one dense product whose VJP is
  written out. Evaluation (impl "conv"): lax.conv_general_dilated in NHWC with H2 as
  one dense convolution, one jitted call per batch shape. jax_net.IMPL says which
  is which and is recorded with a result.
- The padding value and H2's connection table are read from harness.spec when a
  session is built (spec_key()); the jitted functions are cached per value.
- Every dot and convolution passes `precision=lax.Precision.HIGHEST` (full fp32 on
  GPU/TPU, where JAX lowers precision by default).
- float64: each session enters `jax.enable_x64(dtype == "float64")`, a scoped,
  thread-local context, around every call into JAX; the global flag is never changed.
- Optimiser: `optax.inject_hyperparams(optax.sgd | optax.adamw)` so the learning
  rate of each example is an input of the jitted step. optax.adamw computes
  p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p), torch.optim.AdamW
  p * (1 - lr * wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps): the same
  formula, so the two agree to float64 round-off (tested over 50 steps).
- Threads: XLA's CPU pool follows $HARNESS_THREADS (backends/jax_threads.py).
"""
from __future__ import annotations

import functools
import importlib
import os
from typing import NamedTuple

import numpy as np

from harness import spec
from harness.backend import BackendUnavailable, DeviceUnavailable, Steps
from harness.hookspecs import hookimpl
from harness.spec import Variant

from . import jax_layout as layout
from . import jax_threads

# strategy -> "module:SessionClass" (a module of this package, imported when the strategy is asked
# for); the first is the default, the idiomatic loop. Adding a strategy: one line here and a session
# class taking (variant, params, dtype, device, strategy, device_name), device a jax device.
SESSIONS = {
    "step": "jax_backend:JaxSession",
    "scan": "jax_backend:JaxSession",
    "fused": "jax_backend:fused_session",
}
STRATEGIES = tuple(SESSIONS)
# Examples per iteration of the scan's loop body (lax.scan unroll), by jax platform: on CPU
# unrolling made no difference beyond noise and costs compile time; on a GPU 4 was among the
# fastest (measurements: docs/performance.md). TPU: not measured; as the GPU.
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
    jax_threads.create_clients(jax)  # the CPU pool sized by HARNESS_THREADS, before any use
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


def _net():
    """backends.jax_net (imports jax and flax at its top), imported on first use."""
    _jax()
    from . import jax_net

    return jax_net


def _lib():
    """(jax, jax.numpy, jax.lax, jax_net.LeNet1989): kept for backends/jax_fused.py."""
    jax_net = _net()
    return jax_net.jax, jax_net.jnp, jax_net.lax, jax_net.LeNet1989


def spec_key() -> tuple[float, tuple]:
    """What a model reads from harness.spec when it is built: the padding value and H2's table."""
    return float(spec.PAD_VALUE), tuple(tuple(ins) for ins in spec.H2_INPUTS)


def make_model(variant: Variant, impl: str = "patches", layers: bool = False, key: tuple | None = None):
    """The linen module for `variant`; `key` (spec_key()) defaults to the spec as it stands."""
    pad_value, h2_inputs = spec_key() if key is None else key
    return _net().LeNet1989(hidden_activation=variant.hidden_activation,
                            output_activation=variant.output_activation, impl=impl, layers=layers,
                            pad_value=pad_value, h2_inputs=h2_inputs)


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


class Compiled(NamedTuple):
    """The jitted functions of a variant, shared by its sessions (jit caches per dtype, shape, device).

    step(params, opt_state, xs, i): one example, xs[i], of a device-resident chunk; params and
        opt_state donated. scan(carry, xs): every example of xs in order, carry donated.
    grads(params, x, target, label, mask): loss and gradients. forward(params, x): a batch's
    outputs (one jitted call per batch shape); each layer's outputs: compiled_layers().
    """

    step: object
    scan: object
    grads: object
    forward: object


@functools.cache
def compiled_functions(variant: Variant, unroll: int = 1, key: tuple | None = None) -> Compiled:
    """Compiled for `variant` and spec_key() `key` (default: the spec as it stands)."""
    if key is None:
        return compiled_functions(variant, unroll, spec_key())
    jax = _jax()
    from jax import lax

    model = make_model(variant, "patches", key=key)
    eval_model = make_model(variant, "conv", key=key)
    train_step = make_train_step(variant, model, make_optimizer(variant))

    def step_at(params, opt_state, xs, i):
        x, tg, lb, lr, mask = xs
        return train_step(params, opt_state, x[i], tg[i], lb[i], lr[i], None if mask is None else mask[i])

    def scan(carry, xs):
        def body(carry, ex):
            params, opt_state, loss = train_step(*carry, *ex)
            return (params, opt_state), loss
        return lax.scan(body, carry, xs, unroll=unroll)

    return Compiled(jax.jit(step_at, donate_argnums=(0, 1)),
                    jax.jit(scan, donate_argnums=(0,)),
                    jax.jit(jax.value_and_grad(make_loss(variant, model))),
                    jax.jit(lambda p, x: eval_model.apply({"params": p}, x)))


@functools.cache
def compiled_layers(variant: Variant, key: tuple):
    """layers(params, x): each layer's output on a batch, canonical layout, one jitted call."""
    model = make_model(variant, "conv", layers=True, key=key)
    return _jax().jit(lambda p, x: model.apply({"params": p}, x))


def fused_session(variant: Variant, params, dtype: str, device, strategy: str, device_name: str):
    """`fused` (backends/jax_fused.py, imported only when fused is asked for)."""
    from .jax_fused import make_session

    return make_session(variant, params, dtype, device_name, device)


class JaxSession:
    """One model on one jax device, in one dtype, trained with `step` or `scan`."""

    def __init__(self, variant: Variant, params: dict[str, np.ndarray], dtype: str, device, strategy: str,
                 device_name: str | None = None):
        jax = _jax()
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.variant, self.dtype, self.device, self.strategy = variant, np.dtype(dtype), device, strategy
        self.x64 = self.dtype == np.float64
        self.opt = make_optimizer(variant)
        self.unroll = scan_unroll(device.platform)
        self.key = spec_key()
        self.fns = compiled_functions(variant, self.unroll, self.key)
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
                (self.params, self.opt_state), losses = self.fns.scan((self.params, self.opt_state), xs)
            else:
                out = []
                for i in range(n):
                    self.params, self.opt_state, loss = self.fns.step(self.params, self.opt_state, xs, i)
                    out.append(loss)
                losses = self.jnp.stack(out)
            return np.asarray(losses).astype(np.float64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return np.array(self.fns.forward(self.params, xd))

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with self._scope():
            xd = self.jax.device_put(np.ascontiguousarray(x, dtype=self.dtype), self.device)
            return {k: np.array(v) for k, v in compiled_layers(self.variant, self.key)(self.params, xd).items()}

    def environment(self) -> dict:
        """This session's code paths and settings, to record with a result."""
        return {"train_impl": _net().IMPL["patches"], "eval_impl": _net().IMPL["conv"],
                "scan_unroll": self.unroll, "dtype": str(self.dtype), "device": str(self.device),
                "xla_cpu_threads": jax_threads.record()}

    def loss_and_grads(self, steps: Steps):
        if len(steps) != 1:
            raise ValueError(f"loss_and_grads takes one example, got {len(steps)}")
        with self._scope():
            x, tg, lb, _, mask = self._inputs(steps)
            loss, grads = self.fns.grads(self.params, x[0], tg[0], lb[0], None if mask is None else mask[0])
            return float(loss), layout.to_canonical(self.jax.device_get(grads))

    def get_params(self) -> dict[str, np.ndarray]:
        with self._scope():
            return layout.to_canonical(self.jax.device_get(self.params))

    def sync(self) -> None:
        self.jax.block_until_ready((self.params, self.opt_state))

    def kernels_per_example(self, steps: Steps) -> dict:
        from . import jax_kernels
        return jax_kernels.count(self, steps)


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
            "train_impl": _net().IMPL["patches"],
            "eval_impl": _net().IMPL["conv"],
            "xla_cpu_threads": jax_threads.record(),
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
        if strategy != "fused" and variant.optimizer.kind == "sdlm":
            from .jax_sdlm import SdlmJaxSession  # the second-derivative pass

            return SdlmJaxSession(variant, params, str(dtype), dev, strategy, device_name=device)
        module, cls = SESSIONS[strategy].split(":")
        make = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
        return make(variant, params, str(dtype), dev, strategy, device_name=device)


@hookimpl
def harness_register_backends(register):
    register(JaxBackend())
