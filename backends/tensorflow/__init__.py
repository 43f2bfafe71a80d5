"""The TensorFlow backend: a pluggy plugin registered through the `harness` entry-point group.

This face holds the Backend class and its registration; the leaves (settings, layout,
internal, network, patchnet, optim, base, eager, function, xla, kernels; docs/backends.md)
never import it (import-linter holds this: .importlinter). Importing this package imports
no tensorflow: `check()`, `devices()`, `environment()` and `session()` import it through
settings.load(), which applies and records the backend's process-wide settings (logging,
oneDNN, threads, determinism; settings.py). A machine without tensorflow lists this
backend as unavailable, with the reason.

Strategies (all train at batch size 1, in order, one update per example, with the
network of network.py and the spec's SGD/AdamW of optim.py):
  eager     the loop most TensorFlow ports write: tf.GradientTape per example, every op
            dispatched eagerly (eager.py);
  function  one tf.function call per example, traced once (function.py);
  xla       tf.function(jit_compile=True), one call per chunk of examples with the loop
            over them inside the compiled function (xla.py).
Each strategy is a lazy factory: its module (which imports tensorflow) is imported when a
session of it is asked for. Parameters live in the channels-last layout of layout.py.
SDLM (variants 1989-sdlm*) is not implemented: knobs() says so (its optimizer values), and every
other recipe knob value is (KNOBS: the activations, the losses and their reduction, AdamW's constants,
dropout).
"""
from __future__ import annotations

from harness.backend import DeviceUnavailable
from harness.hookspecs import hookimpl
from harness.knobs import ANY
from harness.spec import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, REDUCTIONS

from . import settings


def _eager(variant, params, dtype, device):
    from .eager import EagerSession
    return EagerSession(variant, params, dtype, device)


def _function(variant, params, dtype, device):
    from .function import FunctionSession
    return FunctionSession(variant, params, dtype, device)


def _xla(variant, params, dtype, device):
    from .xla import XlaSession
    return XlaSession(variant, params, dtype, device)


# strategy -> factory(variant, params, dtype, device) -> Session; the first is the default.
SESSIONS = {"eager": _eager, "function": _function, "xla": _xla}
STRATEGIES = tuple(SESSIONS)
DTYPES = ("float32", "float64")
# The recipe knobs every strategy computes (harness.backend.Backend.knobs): all values but SDLM.
KNOBS = {"activation": HIDDEN_ACTIVATIONS, "output_activation": OUTPUT_ACTIVATIONS, "loss": ("mse", "xent"),
         "reduction": REDUCTIONS, "optimizer": ("sgd", "adamw"), "adamw_beta1": ANY, "adamw_beta2": ANY,
         "adamw_eps": ANY, "adamw_weight_decay": ANY, "dropout": ANY}


def tf_device(device: str) -> str:
    """The harness's device name -> TensorFlow's: cpu -> /CPU:0, cuda -> /GPU:0, cuda:N -> /GPU:N."""
    if device == "cpu":
        return "/CPU:0"
    kind, _, index = device.partition(":")
    if kind == "cuda" and (index == "" or index.isdigit()):
        return f"/GPU:{index or 0}"
    raise DeviceUnavailable(f"tensorflow names no device {device!r}; use cpu, cuda or cuda:N")


class TensorFlowBackend:
    name = "tensorflow"
    strategies = STRATEGIES
    description = "TensorFlow (GradientTape eager; tf.function per example; XLA jit_compile over a chunk)"
    dtypes = DTYPES

    def check(self) -> None:
        settings.load()

    def devices(self) -> list[str]:
        tf = settings.load()
        gpus = tf.config.list_physical_devices("GPU")
        return ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(len(gpus))] if gpus else [])

    def strategy_devices(self, strategy: str) -> list[str]:
        self._strategy(strategy)
        return self.devices()

    def knobs(self, strategy: str) -> dict:
        return KNOBS

    def supports(self, strategy: str, variant, dtype: str) -> str | None:
        """None for SGD and AdamW; SDLM's second-derivative pass is not written here. A variant's name
        passes (its knobs, the optimiser's included, are judged by knobs()); a Variant is judged here."""
        v = None if isinstance(variant, str) else variant
        if v is not None and v.optimizer.kind not in ("sgd", "adamw"):
            return (f"the tensorflow backend implements SGD and AdamW (docs/spec.md), not "
                    f"{v.optimizer.kind.upper()} (variant {v.name}: second-derivative pass, per-parameter steps)")
        return None

    def environment(self, device: str) -> dict:
        tf = settings.load()
        env = {"tensorflow": tf.__version__, "device": tf_device(device),
               "built_with_cuda": tf.test.is_built_with_cuda(), **settings.record(tf)}
        if device == "cpu":
            env["device_name"] = "cpu"
        else:
            gpus = tf.config.list_physical_devices("GPU")
            index = int(tf_device(device).rsplit(":", 1)[1])
            details = tf.config.experimental.get_device_details(gpus[index]) if index < len(gpus) else {}
            env["device_name"] = details.get("device_name", device)
            env["compute_capability"] = details.get("compute_capability")
        return env

    def session(self, *, variant, params, dtype, device, strategy):
        """A fresh session; settings.load() (the process-wide settings) runs first, every time."""
        make = self._strategy(strategy)
        if str(dtype) not in DTYPES:
            raise ValueError(f"dtype must be float32 or float64, not {dtype!r}")
        if (reason := self.supports(strategy, variant, str(dtype))) is not None:
            raise ValueError(reason)
        settings.load()
        if device not in self.devices():
            raise DeviceUnavailable(f"tensorflow cannot reach device {device!r} here; "
                                    f"available: {', '.join(self.devices())}")
        return make(variant, params, str(dtype), tf_device(device))

    @staticmethod
    def _strategy(strategy: str):
        if strategy not in SESSIONS:
            raise ValueError(f"unknown tensorflow strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        return SESSIONS[strategy]


@hookimpl
def harness_register_backends(register):
    register(TensorFlowBackend())
