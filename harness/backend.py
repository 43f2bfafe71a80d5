"""The Backend / Session protocol every plugin implements.

The core owns *what* is computed (spec, data, hyper-parameters, randomness,
evaluation arithmetic, timing; docs/spec.md says all of it); a backend owns
*how*: turning canonical parameters into its own layout, training steps one
example at a time, the forward pass, gradients for parity, and handing
parameters back.

No hidden call order. The core may call a backend's methods in any order
after `check()` succeeded: `session()` may be the first call the core makes
(a session applies whatever process-wide settings it needs, e.g. full-precision
float32 matmuls or a thread count, itself, every time), and `environment()`
only describes: it may be called before, after or without any session, and no
session may depend on it having run. What the core calls, and when (this list is
exact: tests/test_protocol.py checks it against the core's source):

    Backend.name / strategies / description   listing, naming targets, reports
    Backend.check()                      once, when the backend is first listed or used
    Backend.strategy_devices(strategy)   `harness backends`; choosing targets (run, parity, bench)
    Backend.environment(device)          recorded with a result
    Backend.session(...)                 a fresh model; then only Session methods:
    Session.train_steps / forward / loss_and_grads / get_params / sync

Optional members (absent = the default), each called only where present, are declared in
`BackendOptions` (variants, dtypes, supports, knobs) and `SessionOptions` (environment, activations,
kernels_per_example, and SDLM's hessian_diag and set_step_scale); a plugin written before they
existed keeps working.

`devices()` was required once but the core never called it (devices are asked per strategy):
it is no longer part of the protocol. A plugin may keep it (the built-in backends do, for their
own strategy_devices); nothing calls it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import BackendUnavailable, DeviceUnavailable  # noqa: F401 -- raised by plugins; imported from here
from .knobs import ANY, show
from .recipe import Recipe, active
from .spec import KNOBS, PRESETS, Variant


def refuse_interpreted(session, command: str) -> None:
    """`run` and `bench` never time an interpreter: refuse a session whose optional
    environment() says {"interpreted": True} (a fused kernel run through Triton's or
    Pallas's interpreter on the CPU, which only tests opt in to)."""
    env = session.environment() if hasattr(session, "environment") else {}
    if env.get("interpreted"):
        raise DeviceUnavailable(f"{command} never times an interpreter: this session runs its kernel "
                                "interpreted on the CPU (HARNESS_FUSED_INTERPRET=1, a test opt-in); "
                                "unset it and use a cuda device")


@dataclass
class Steps:
    """What one call of Session.train_steps consumes: n examples, in order, one update each.

    Everything random or scheduled was decided by the core: `x` is already
    augmented (rolled), `lr` is the learning rate of each step, `mask` the
    dropout mask of each step (already scaled by 1/(1-p)), or None.
    """

    x: np.ndarray  # (n, 1, 16, 16)
    targets: np.ndarray  # (n, 10): ±1 targets (used by the mse loss)
    labels: np.ndarray  # (n,) int64 (used by the xent loss)
    lr: np.ndarray  # (n,) float64
    mask: np.ndarray | None = None  # (n, 12, 4, 4) or None

    def __len__(self) -> int:
        return len(self.x)

    def slice(self, start: int, stop: int) -> Steps:
        return Steps(
            self.x[start:stop],
            self.targets[start:stop],
            self.labels[start:stop],
            self.lr[start:stop],
            None if self.mask is None else self.mask[start:stop],
        )


@runtime_checkable
class Session(Protocol):
    """One model on one device, in one dtype, trained with one strategy.

    What each method computes is docs/spec.md's forward pass, loss and optimiser
    update, in the session's dtype. Optional methods: see `SessionOptions`.
    """

    def train_steps(self, steps: Steps) -> np.ndarray:
        """Train on each example of `steps` in order, one optimiser update per example.

        :return: the loss of each example before its update, shape (n,), float64
            (returning it synchronises the device).
        """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the network on a batch, evaluation mode (no dropout): (n, 10).

        `x`: (n, 1, 16, 16) in the session's dtype. For the 1989 variant the outputs
        are tanh's; for modern the logits (no softmax).
        """

    def loss_and_grads(self, steps: Steps) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient of every parameter on a single example (len(steps) == 1).

        Training mode: the example's dropout mask (steps.mask) applies. Gradients
        come back in canonical layout, one per name of spec.PARAM_NAMES, as NumPy
        arrays. Parameters and optimiser state are not changed.
        """

    def get_params(self) -> dict[str, np.ndarray]:
        """Current parameters in canonical layout, as NumPy arrays."""

    def sync(self) -> None:
        """Wait until all queued device work has finished (before reading a clock)."""


class SessionOptions(Protocol):
    """Optional Session methods: the core calls each only where the session has it."""

    def environment(self) -> dict:
        """Settings only the session knows (e.g. the thread count it trains with), recorded
        with a run's result as `environment.session`."""

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluation-mode activations of a batch after each layer's nonlinearity (for the
        output layer: the output, as forward() returns it), canonical layout:
        "H1" (n, 12, 8, 8), "H2" (n, 12, 4, 4), "H3" (n, 30), "out" (n, 10).

        `harness parity` compares them layer by layer and names the first layer that
        differs; without this method it compares the outputs only.
        """

    def kernels_per_example(self, steps: Steps) -> dict | None:
        """Train `steps` under the framework's profiler and count what ran, per example:
        {"kernels": float, "unit": "kernels" (GPU launches) or what was counted instead
        ("aten ops", "XLA thunks"), "dispatches": host calls per example or None,
        "examples": int, "how": str}. `harness bench --kernels` calls it after the timing
        (harness/kernels.py); the session trains on.
        """

    def hessian_diag(self, steps: Steps) -> dict[str, np.ndarray]:
        """SDLM (a variant whose optimizer is spec.SDLM): the diagonal Gauss-Newton estimate h of
        every parameter, averaged over the examples of `steps`, canonical layout, NumPy arrays
        (the recursion of harness/sdlm.py, whose `hessian_diag_numpy` is the reference). Changes
        no parameter. Called before each pass (harness.sdlm.before_pass) and by
        `harness parity` for an SDLM variant; a session that trains SDLM has it and
        set_step_scale (harness.sdlm.before_pass names what is missing otherwise).
        """

    def set_step_scale(self, scale: dict[str, np.ndarray]) -> None:
        """SDLM: the per-parameter step scale 1 / (mu + h), canonical layout, computed by the
        core; every later training step updates theta -= lr * scale * grad."""


@runtime_checkable
class Backend(Protocol):
    """A framework, with its strategies and the devices it reaches.

    Attributes: `name` (str), `strategies` (tuple of str, the first is the
    default), `description` (one line).

    Optional declared support (BackendOptions; absent = everything): `variants`,
    `dtypes` and ``supports(strategy, variant, dtype)``. The core asks only
    through `unsupported_reason`: `run` and `bench` refuse an unsupported
    combination, `parity` and `bench` over a matrix skip it with the reason.
    """

    name: str
    strategies: tuple[str, ...]
    description: str

    def check(self) -> None:
        """Import the framework; raise BackendUnavailable(reason) if it cannot be used."""

    def strategy_devices(self, strategy: str) -> list[str]:
        """Devices on which `strategy` runs here, named like torch: "cpu", "cuda", "cuda:0",
        "mps", "tpu" (e.g. torch cudagraph: cuda only; empty where the strategy reaches none)."""

    def environment(self, device: str) -> dict:
        """Versions and settings to record with a result (framework version, device name, the
        precision settings its sessions apply). Describes only: no session may rely on it having
        been called (the core calls it before, after, or without sessions)."""

    def session(
        self,
        *,
        variant: Variant,
        params: dict[str, np.ndarray],
        dtype: str,
        device: str,
        strategy: str,
    ) -> Session:
        """A fresh model initialised from canonical `params` (copied, never aliased).

        `variant`: a spec.Variant (its name in `variant.name`); `dtype`: "float32" or
        "float64"; `device`: one of strategy_devices(strategy), else raise
        DeviceUnavailable. Applies every process-wide setting the session relies on
        (precision, threads) itself: it may be the first call the core makes.
        """


class BackendOptions(Protocol):
    """Optional Backend members, each defaulting to "everything" where absent."""

    variants: tuple[str, ...]  # names of spec.VARIANTS this backend implements
    dtypes: tuple[str, ...]  # names of spec.DTYPES

    def supports(self, strategy: str, variant: str, dtype: str) -> str | None:
        """None when `strategy` runs `variant` in `dtype`, else the reason (finer than the tuples)."""

    def knobs(self, strategy: str) -> dict:
        """The values of the backend-computed recipe knobs (spec.KNOBS whose `backend` is set:
        activations, loss, reduction, optimiser and its AdamW constants, dropout) that `strategy`
        implements: {knob: tuple of values, or harness.knobs.ANY}. A knob left out, or every knob
        when this method is absent, is implemented only at the named variant's own value: a
        backend is never handed a value it did not declare. Knobs the core computes (targets,
        initialisation, learning rates and SDLM's constants, shifts, passes) need no declaration.
        """


def knob_unsupported(backend, strategy: str, recipe) -> str | None:
    """Why `strategy` of `backend` cannot train `recipe` (harness.recipe.Recipe), or None.

    Each knob a backend computes, where it has an effect, must be declared by `knobs(strategy)`
    (its value, or ANY), or else equal the named variant's own value (a backend written before
    knobs existed, or silent about this knob, implements what the variant names and nothing else).
    """
    name = getattr(backend, "name", type(backend).__name__)
    why = _knob_missing(backend, strategy, recipe)
    if why is None:
        return None
    others = [s for s in getattr(backend, "strategies", ()) if s != strategy
              and _knob_missing(backend, s, recipe) is None]
    return f"{name}:{strategy} does not implement {why}" + (
        f"; {name} strategies that do: {', '.join(others)}" if others else "")


def _knob_missing(backend, strategy: str, recipe) -> str | None:
    """'knob=value (what is implemented)' for the first knob `strategy` does not implement, or None."""
    declared = backend.knobs(strategy) if callable(getattr(backend, "knobs", None)) else {}
    values, base = recipe.knobs(), PRESETS[recipe.variant]
    for key, knob in KNOBS.items():
        if not knob.backend or not active(key, values):
            continue
        value, allowed = values[key], declared.get(key)
        if allowed is None:
            if knob.feature(value) != knob.feature(base[key]):
                return (f"{key}={show(value)} (it declares no values of knob {key}: only the "
                        f"{recipe.variant} variant's own, {show(base[key])})")
        elif allowed != ANY and value not in tuple(allowed):
            return f"{key}={show(value)} (implements: {', '.join(show(v) for v in allowed) or 'none'})"
    return None


def backend_knobs(v: Variant) -> dict:
    """The values, read back from a Variant, of the knobs a backend computes (KNOBS whose
    `backend` is set) that have an effect in it."""
    out = {"activation": v.hidden_activation, "output_activation": v.output_activation, "loss": v.loss,
           "optimizer": v.optimizer.kind, "dropout": v.dropout}
    if v.loss == "mse":
        out["reduction"] = v.reduction
    if v.optimizer.kind == "adamw":
        o = v.optimizer
        out.update(adamw_beta1=o.beta1, adamw_beta2=o.beta2, adamw_eps=o.eps, adamw_weight_decay=o.weight_decay)
    return out


def undeclared(variant: Variant, declared: dict, what: str) -> str | None:
    """For a session handed `variant` directly: the first knob value it computes that `declared`
    (a `knobs(strategy)` table) does not list, or None. `what` names the strategy."""
    for key, value in backend_knobs(variant).items():
        allowed = declared.get(key, (PRESETS[variant.name][key],) if variant.name in PRESETS else ())
        if allowed != ANY and value not in tuple(allowed):
            return f"{what} does not implement {key}={show(value)} (implements: {', '.join(map(show, allowed))})"
    return None


def declared_support(backend) -> dict[str, list[str] | None]:
    """What a backend declares it runs: {"variants": [...], "dtypes": [...]}, None for "everything"
    (nothing declared). `supports()` and `knobs()` may narrow it per strategy."""
    out = {}
    for what in ("variants", "dtypes"):
        declared = getattr(backend, what, None)
        out[what] = None if declared is None else [str(v) for v in declared]
    return out


def unsupported_reason(backend, strategy: str, variant: str, dtype: str, recipe=None) -> str | None:
    """Why `backend` cannot run `strategy` with `variant` in `dtype` (and, given a
    harness.recipe.Recipe of that variant, its knobs), or None if it can.

    Reads the backend's optional declarations: `variants`, `dtypes` (tuples of
    names; absent or None = everything), `supports(strategy, variant, dtype)` and
    `knobs(strategy)` (knob_unsupported; without `recipe`, the variant's own knob values).
    """
    name = getattr(backend, "name", type(backend).__name__)
    for what, value, declared in (
        ("variant", variant, getattr(backend, "variants", None)),
        ("dtype", dtype, getattr(backend, "dtypes", None)),
    ):
        if declared is not None and value not in tuple(declared):
            return f"backend {name!r} does not support {what} {value!r} (supports: {', '.join(declared)})"
    supports = getattr(backend, "supports", None)
    if callable(supports):
        reason = supports(strategy, variant, dtype)
        if reason:
            return f"backend {name!r} does not support strategy {strategy!r} with variant {variant!r} in {dtype}: {reason}"
    if recipe is None and variant in PRESETS:  # the named variant's own knob values
        recipe = Recipe(variant)
    if recipe is not None and (reason := knob_unsupported(backend, strategy, recipe)):
        return f"backend {name!r} does not support recipe {recipe.label!r}: {reason}"
    return None
