"""The JAX/Flax backend: a pluggy plugin registered through the `harness` entry-point group.

This face holds the Backend class and its registration only; the leaves below it do the work
and never import it (import-linter holds this: .importlinter):

  threads.py       XLA's CPU thread pool sized by $HARNESS_THREADS
  framework.py     jax, flax and optax imported on first use; the devices jax reaches
  layout.py        the internal parameter layout and its gather tables (NumPy only)
  network.py       the Flax linen module (imports jax and flax at its top)
  optimizers.py    the optax optimisers, learning rate injected per step (SDLM's included)
  functions.py     the jitted step, scan, gradients and evaluation of a variant
  session.py       `step` (one jitted step per example) and `scan` (lax.scan over a chunk)
  fused.py         `fused`: one Pallas kernel launch per chunk (CUDA; the CPU through the
                   interpreter with HARNESS_FUSED_INTERPRET=1, for tests)
  fused_kernel.py  the Pallas kernel itself
  sdlm.py          the SDLM variant's second-derivative pass and its session
  kernels.py       kernels per example, read from jax's profiler

Strategies (all train at batch size 1, in order, one optimiser update per example): `step`,
`scan`, `fused`. Importing this package imports no jax: a machine without it lists the backend
as unavailable instead of failing to start the harness. Each strategy is a factory that imports
its module when a session is asked for. Timings behind the design: docs/performance.md.
"""
from __future__ import annotations

import os

from harness.hookspecs import hookimpl
from harness.knobs import ANY
from harness.spec import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, REDUCTIONS

from . import fused, threads
from .framework import device_table, import_jax, resolve_device
from .functions import PRECISION, net_module, scan_unroll


def _xla(variant, params, dtype, device, strategy, device_name):
    from .session import JaxSession

    return JaxSession(variant, params, dtype, device, strategy, device_name=device_name)


def _fused(variant, params, dtype, device, strategy, device_name):
    from .fused import make_session

    return make_session(variant, params, dtype, device_name, device)


def _sdlm(variant, params, dtype, device, strategy, device_name):
    from .sdlm import SdlmJaxSession  # the second-derivative pass

    return SdlmJaxSession(variant, params, dtype, device, strategy, device_name=device_name)


# strategy -> factory (variant, params, dtype, device: a jax device, strategy, device_name) ->
# Session, importing its module when called; the first is the default, the idiomatic loop.
# Adding a strategy: one line here and a leaf module.
SESSIONS = {"step": _xla, "scan": _xla, "fused": _fused}
STRATEGIES = tuple(SESSIONS)
SDLM_SESSIONS = {"step": _sdlm, "scan": _sdlm}  # the strategies that train the SDLM variant
# The recipe knobs each strategy computes (harness.backend.Backend.knobs): step and scan every
# value (SDLM's second-derivative pass included); fused what its Pallas kernel is written for
# (fused.KNOBS: the 1989 and modern variants' activations, losses and optimisers; mean reduction).
KNOBS = {s: {"activation": HIDDEN_ACTIVATIONS, "output_activation": OUTPUT_ACTIVATIONS, "loss": ("mse", "xent"),
             "reduction": REDUCTIONS, "optimizer": ("sgd", "adamw", "sdlm"), **fused.ADAMW_KNOBS, "dropout": ANY}
         for s in SDLM_SESSIONS}
KNOBS["fused"] = {**fused.KNOBS, **fused.ADAMW_KNOBS}


class JaxBackend:
    name = "jax"
    strategies = STRATEGIES
    description = "JAX + Flax linen + optax (jit per step, or lax.scan over examples)"

    def check(self) -> None:
        import_jax()

    def devices(self) -> list[str]:
        return list(device_table(import_jax()))

    def strategy_devices(self, strategy: str) -> list[str]:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown jax strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        if strategy == "fused":
            return fused.fused_devices(device_table(import_jax()))
        return self.devices()

    def supports(self, strategy: str, variant, dtype: str) -> str | None:
        """None when `strategy` trains `variant` in `dtype`, else the reason (fused is partial;
        the recipe's knobs, SDLM's included, are declared by knobs())."""
        return fused.unsupported(variant, dtype) if strategy == "fused" else None

    def knobs(self, strategy: str) -> dict:
        return KNOBS.get(strategy, {})

    def environment(self, device: str) -> dict:
        jax = import_jax()
        import flax
        import jaxlib
        import optax

        dev = resolve_device(jax, device)
        return {
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
            "train_impl": net_module().IMPL["patches"],
            "eval_impl": net_module().IMPL["conv"],
            "xla_cpu_threads": threads.record(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "platform_version": getattr(getattr(dev, "client", None), "platform_version", None),
        }

    def session(self, *, variant, params, dtype, device, strategy):
        jax = import_jax()
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown jax strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        if str(dtype) not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, not {dtype!r}")
        dev = resolve_device(jax, device)
        if variant.optimizer.kind == "sdlm" and strategy not in SDLM_SESSIONS:
            raise ValueError(f"jax:{strategy} does not implement SDLM; jax strategies that do: "
                             f"{', '.join(SDLM_SESSIONS)}")
        factories = SDLM_SESSIONS if variant.optimizer.kind == "sdlm" else SESSIONS
        return factories[strategy](variant, params, str(dtype), dev, strategy, device)


@hookimpl
def harness_register_backends(register):
    register(JaxBackend())
