"""The conformance kit: plain functions a plugin's own pytest suite calls to check its backend.

    from harness.testing import assert_parity, assert_session_conforms

    def test_protocol():
        assert_session_conforms("mine")                    # shapes and types of every Session method

    def test_agrees_with_torch():
        assert_parity("mine", reference="torch", dtype="float64")

`backend` is the name of a registered backend (installed through the `harness` entry-point
group) or a Backend object, which is then registered for the length of the call only. The
parity checks are `harness parity`'s (harness.parity), on a small workload by default
(synthetic data, 64 examples); pass dataset="usps" and data_dir=... for the real data.
docs/testing.md has the details.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from . import parity as par
from . import plugins
from .backend import Backend, Steps, unsupported_reason
from .config import ParityConfig, RunConfig
from .data import load_dataset, resolve_data_dir
from .errors import ConfigError, DeviceUnavailable, Unsupported
from .parity.compare import one_line
from .recipe import of_config
from .spec import PARAM_SHAPES, VARIANTS, init_params
from .targets import strategy_devices

ACTIVATION_SHAPES = {"H1": (12, 8, 8), "H2": (12, 4, 4), "H3": (30,), "out": (10,)}


@contextlib.contextmanager
def _resolved(backend: str | Backend) -> Iterator[Backend]:
    """The registered backend of that name, or the object, registered for the with-block if it is not."""
    reg = plugins.get_registry()
    if isinstance(backend, str):
        yield reg.get(backend)
        return
    if reg.backends.get(backend.name) is backend:
        yield backend
        return
    if backend.name in reg.names():
        raise ValueError(f"another backend named {backend.name!r} is registered; pass its name instead")
    with plugins.backends_registered(backend, name=f"harness.testing:{backend.name}"):
        yield plugins.get_registry().get(backend.name)


def run_parity(backend: str | Backend, *, reference: str = "torch", strategies: list[str] | None = None,
               variant: str = "1989", dtype: str = "float64", dataset: str = "synthetic",
               data_dir: str | None = None, device: str = "cpu", seed: int = 1337,
               steps: tuple[int, ...] = (1, 10), passes: int = 1, limit: int | None = 64,
               recipe: dict | None = None) -> dict:
    """`harness parity` of every strategy of `backend` (or `strategies`) against `reference`
    ("BACKEND" or "BACKEND:STRATEGY"); returns the parity result (the JSON `harness parity` writes).
    `recipe`: knobs of `variant` set otherwise ({knob: value}, as `--set`; harness/spec.py KNOBS).

    The options become a harness.config.ParityConfig, checked by the one validator (ConfigError,
    a ValueError, for a value out of bounds, e.g. limit=-5). Raises Unsupported when the backend
    does not support `variant` in `dtype` (a parity run would skip it and pass without comparing
    anything), and the registry's errors for unknown names.
    """
    config = ParityConfig(reference=reference, strategies=tuple(strategies) if strategies else None,
                          device=device, variant=variant, dataset=dataset, dtype=dtype, seed=seed,
                          steps=par.parse_steps(steps), passes=passes, limit=limit, recipe=recipe or ())
    with _resolved(backend) as b:
        chosen = _strategies(b, config)
        config = replace(config, backends=tuple(dict.fromkeys((reference.partition(":")[0], b.name))),
                         strategies=tuple(f"{b.name}:{s}" for s in chosen))
        sel = par.select(plugins.get_registry(), config)
        if sel.self_check:
            raise ConfigError(f"{sel.reference.label} is both the reference and the only strategy of "
                              f"{b.name} asked for: nothing would be compared; choose another reference")
        data = load_dataset(config.dataset, resolve_data_dir(data_dir), dtype=config.dtype, seed=config.seed)
        return par.run_parity(sel, config, data)


def _devices(b: Backend, strategy: str) -> list[str]:
    devs = strategy_devices(b, strategy)  # a str: why it could not be told
    return devs if isinstance(devs, list) else []


def _strategies(b: Backend, config: ParityConfig) -> list[str]:
    """The strategies of `b` to compare: those named, else every one that reaches the device (none:
    DeviceUnavailable); a named one it does not support: Unsupported, never a vacuous pass."""
    chosen = list(config.strategies or [])
    if not chosen:
        chosen = [s for s in b.strategies if config.device in _devices(b, s)]
        if not chosen:
            raise DeviceUnavailable(f"no strategy of backend {b.name!r} reaches device {config.device!r}")
    for s in chosen:
        reason = unsupported_reason(b, s, config.variant, config.dtype, of_config(config))
        if reason is not None:
            raise Unsupported(reason)
    return chosen


def assert_parity(backend: str | Backend, **kwargs) -> dict:
    """run_parity(backend, **kwargs), raising AssertionError with every check's summary unless it
    passed and actually compared the backend; returns the result."""
    res = run_parity(backend, **kwargs)
    name = backend if isinstance(backend, str) else backend.name
    compared = [t for t in res["config"]["targets"] if t.split(":")[0] == name and t != res["config"]["reference"]]
    if not res["passed"] or not compared or res["config"].get("self_check"):
        lines = [*res["summary"], *(f"note: {n}" for n in res["notes"])]
        raise AssertionError(f"parity of {name} against {res['config']['reference']} failed:\n  " + "\n  ".join(lines))
    return res


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def assert_session_conforms(backend: str | Backend, *, strategy: str | None = None, variant: str = "1989",
                            dtype: str = "float64", device: str = "cpu", seed: int = 0) -> None:
    """Every Session method returns what the protocol says (names, shapes, dtypes); no reference needed.

    Checks get_params (the canonical parameters it was given, copied), forward (n, 10), the optional
    activations, loss_and_grads (a finite loss, one canonical gradient per parameter, parameters
    unchanged), train_steps (one finite loss per example, parameters changed) and sync. The options
    are checked as a harness.config.RunConfig (ConfigError for a value out of bounds).
    """
    cfg = RunConfig(backend=backend if isinstance(backend, str) else backend.name, strategy=strategy,
                    variant=variant, dtype=dtype, device=device, seed=seed)
    with _resolved(backend) as b:
        strategy = cfg.strategy or b.strategies[0]
        try:
            _conforms(b, strategy, VARIANTS[cfg.variant], dtype, device, seed)
        except AssertionError:
            raise
        except Exception as e:  # a method that raises or is missing: its words and the plugin's own frame
            raise AssertionError(f"{b.name}:{strategy}: {one_line(e, b)}") from e


def _conforms(b: Backend, strategy: str, v, dtype: str, device: str, seed: int) -> None:
    p0 = init_params(seed, dtype, v)
    s = b.session(variant=v, params={k: a.copy() for k, a in p0.items()}, dtype=dtype, device=device,
                  strategy=strategy)
    label = f"{b.name}:{strategy}"
    _check_params(label, s.get_params(), p0, same=True)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (3, 1, 16, 16)).astype(dtype)
    out = np.asarray(s.forward(x))
    _expect(out.shape == (3, 10), f"{label}: forward returned shape {out.shape}, expected (3, 10)")
    if hasattr(s, "activations"):
        acts = s.activations(x)
        for k, shape in ACTIVATION_SHAPES.items():
            got = None if k not in acts else np.asarray(acts[k]).shape
            _expect(got == (3, *shape), f"{label}: activations()[{k!r}] has shape {got}, expected {(3, *shape)}")
        np.testing.assert_allclose(acts["out"], out, rtol=1e-5, atol=1e-6, err_msg=f"{label}: activations out")
    steps = _steps(rng, 3, dtype, v)
    loss, grads = s.loss_and_grads(steps.slice(0, 1))
    _expect(np.isfinite(loss), f"{label}: loss_and_grads returned a non-finite loss {loss}")
    _check_params(label, grads, p0, same=False, what="loss_and_grads gradient")
    _check_params(label, s.get_params(), p0, same=True, what="get_params after loss_and_grads")
    losses = np.asarray(s.train_steps(steps))
    _expect(losses.shape == (3,) and bool(np.all(np.isfinite(losses))),
            f"{label}: train_steps returned {losses!r}, expected 3 finite losses")
    s.sync()
    after = s.get_params()
    _expect(any(not np.array_equal(after[k], p0[k]) for k in p0), f"{label}: train_steps changed no parameter")


def _steps(rng: np.random.Generator, n: int, dtype: str, variant) -> Steps:
    labels = rng.integers(0, 10, n)
    targets = -np.ones((n, 10), dtype=dtype)
    targets[np.arange(n), labels] = 1
    mask = None
    if variant.dropout:
        mask = ((rng.random((n, 12, 4, 4)) >= variant.dropout) / (1 - variant.dropout)).astype(dtype)
    return Steps(rng.uniform(-1, 1, (n, 1, 16, 16)).astype(dtype), targets, labels.astype(np.int64),
                 np.full(n, 0.01), mask)


def _check_params(label: str, got: dict, want: dict, same: bool, what: str = "get_params") -> None:
    _expect(set(got) == set(PARAM_SHAPES), f"{label}: {what} has names {sorted(got)}, expected {sorted(PARAM_SHAPES)}")
    for k, shape in PARAM_SHAPES.items():
        a = np.asarray(got[k])
        _expect(a.shape == shape, f"{label}: {what} {k} has shape {a.shape}, expected {shape} (canonical layout)")
        _expect(np.issubdtype(a.dtype, np.floating), f"{label}: {what} {k} is {a.dtype}, not floating-point")
        if same:
            np.testing.assert_array_equal(a, want[k], err_msg=f"{label}: {what} {k} differs from the parameters given")
