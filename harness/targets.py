"""The one resolver of backend x strategy x device (and variant): what `run`, `bench` and `parity` train.

Names the user gives (--backend(s), --strategy/--strategies, --device(s)) become Targets
here and nowhere else. An unknown backend, strategy or device is a usage error naming what
is available (harness.errors, exit 2). A combination a backend declares it does not
support (its `variants`, `dtypes` or `supports()`, asked through
backend.unsupported_reason) is refused where one target was asked for (`run`, or a
backend/strategy named explicitly to `bench`), and skipped with the reason where a matrix
is swept (`bench`, `parity`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .backend import Backend, unsupported_reason
from .config import RunConfig
from .errors import DeviceUnavailable, UnknownStrategy, UnknownVariant, Unsupported
from .plugins import one_line
from .recipe import of_config
from .spec import VARIANTS, Variant


@dataclass(frozen=True)
class Target:
    """One backend x strategy on one device."""

    backend: Backend
    strategy: str
    # parity's checks build sessions on the device of their Context; Target(backend, strategy),
    # as callers of parity wrote it before targets carried a device, means the CPU
    device: str = "cpu"

    @property
    def label(self) -> str:
        """backend:strategy, as --strategies and --reference name it (and parity results record it)."""
        return f"{self.backend.name}:{self.strategy}"

    @property
    def label_with_device(self) -> str:
        return f"{self.label}@{self.device}"


@dataclass
class Matrix:
    """The targets a sweep trains, and a note for each backend or strategy it left out."""

    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # one {"backend", "strategy", "device", "reason"} per target left out as unsupported
    skipped: list[dict] = field(default_factory=list)


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UnknownVariant(f"unknown variant {name!r}; available: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def split_spec(spec: str) -> tuple[str, str | None]:
    """'backend:strategy' -> (backend, strategy); 'backend' -> (backend, None)."""
    name, _, strategy = spec.strip().partition(":")
    return name.strip(), (strategy.strip() or None)


def choose_backends(registry, names: Iterable[str] | None, notes: list[str]) -> list[Backend]:
    """The backends named (unknown or unusable: usage error), or every available one, torch first."""
    if names:
        return [registry.get(n) for n in dict.fromkeys(names)]
    # torch first (the framework of karpathy/lecun1989-repro, the default reference), then by name:
    # plugins register in no fixed order, and defaults must not depend on it.
    chosen = sorted(registry.available(), key=lambda n: (n != "torch", n))
    notes += [f"backend {n} skipped: {registry.reason_unavailable(n)}" for n in registry.names() if n not in chosen]
    return [registry.get(n) for n in chosen]


def choose_strategies(backends: list[Backend], specs: Iterable[str] | None,
                      notes: list[str]) -> list[tuple[Backend, str]]:
    """(backend, strategy) pairs: every strategy, or those named; a plain NAME applies to every
    backend that has it, BACKEND:NAME to that backend only. Unknown names: UnknownStrategy."""
    if not specs:
        return [(b, s) for b in backends for s in b.strategies]
    specs = [s.strip() for s in specs if s.strip()]
    plain = [s for s in specs if ":" not in s]
    qualified = [split_spec(s) for s in specs if ":" in s]
    by_name = {b.name: b for b in backends}
    for s in plain:
        if not any(s in b.strategies for b in backends):
            known = ", ".join(f"{b.name}:{t}" for b in backends for t in b.strategies)
            raise UnknownStrategy(f"no selected backend has a strategy {s!r}; available: {known}")
    for bname, s in qualified:
        if bname not in by_name:
            raise UnknownStrategy(f"strategy {bname}:{s} names backend {bname!r}, which is not among "
                                  f"the selected backends ({', '.join(by_name)})")
        if s not in by_name[bname].strategies:
            raise UnknownStrategy(f"backend {bname!r} has no strategy {s!r}; available: "
                                  f"{', '.join(by_name[bname].strategies)}")
    pairs = []
    for b in backends:
        chosen = [s for s in b.strategies if s in plain or (b.name, s) in qualified]
        if not chosen:
            notes.append(f"backend {b.name} skipped: none of the strategies asked for "
                         f"({', '.join(specs)}); it has {', '.join(b.strategies)}")
        pairs += [(b, s) for s in chosen]
    return pairs


def strategy_devices(backend: Backend, strategy: str) -> list[str] | str:
    """The devices `strategy` reaches here, or why that cannot be told (a plugin bug)."""
    try:
        return list(backend.strategy_devices(strategy))
    except Exception as e:  # noqa: BLE001 -- a plugin bug: say so, skip the strategy
        return f"strategy_devices() raised {one_line(e)}"


def _bench_devices(devs: list[str]) -> list[str]:
    # "cuda" and "cuda:0" are the same device: a sweep times it once, as "cuda"
    return [d for d in devs if not (d.startswith("cuda:") and "cuda" in devs)]


def _unsupported(b: Backend, strategy: str, variant: str | None, dtype: str | None, recipe=None) -> str | None:
    # variant or dtype None: the caller does not ask about support (a selection made before either is known)
    return None if variant is None or dtype is None else unsupported_reason(b, strategy, variant, dtype, recipe)


def resolve(registry, backend: str, strategy: str | None, device: str, *,
            variant: str | None, dtype: str | None, recipe=None) -> Target:
    """The one target `harness run` trains: every mistake or unsupported combination is a usage error."""
    b = registry.get(backend)  # UnknownBackend / PluginError / BackendUnavailable
    strategy = strategy or b.strategies[0]
    if strategy not in b.strategies:
        raise UnknownStrategy(f"backend {b.name!r} has no strategy {strategy!r}; available: {', '.join(b.strategies)}")
    devs = strategy_devices(b, strategy)
    if isinstance(devs, str) or device not in devs:
        reaches = devs if isinstance(devs, str) else ", ".join(devs) or "none"
        raise DeviceUnavailable(f"backend {b.name!r} strategy {strategy!r} cannot reach device {device!r} here; "
                                f"available: {reaches}")
    why = _unsupported(b, strategy, variant, dtype, recipe)
    if why:
        raise Unsupported(why)
    return Target(b, strategy, device)


def resolve_config(registry, config: RunConfig) -> tuple[Target, RunConfig]:
    """The target a run's configuration names, and the configuration with its defaults made
    explicit (strategy, passes): what `harness run` trains and what its result records."""
    recipe = of_config(config)
    target = resolve(registry, config.backend, config.strategy, config.device, variant=config.variant,
                     dtype=config.dtype, recipe=recipe)
    return target, config.resolved(strategy=target.strategy, epochs=config.epochs or recipe.variant_spec().epochs)


def resolve_matrix(registry, backends: Iterable[str] | None, strategies: Iterable[str] | None,
                   devices: Iterable[str] | None, *, variant: str | None, dtype: str | None,
                   refuse_named: bool = False, recipe=None) -> Matrix:
    """Every backend x strategy x device selected (default: all available, each strategy on every
    device it reaches), minus what cannot run here, each left out with a note.

    Unknown names raise usage errors; an empty matrix is the caller's to judge. A combination a
    backend does not support is skipped with its reason, unless `refuse_named` and the user named
    it (BACKEND, BACKEND:STRATEGY or a plain strategy NAME that then runs nowhere): then it is refused,
    whatever left it out (refuse_skipped_names)."""
    backends = list(backends) if backends else None
    strategies = list(strategies) if strategies else None
    wanted = list(dict.fromkeys(devices)) if devices else None
    m = Matrix()
    pairs = choose_strategies(choose_backends(registry, backends, m.notes), strategies, m.notes)
    named = {split_spec(s) for s in strategies or () if ":" in s}
    for b, s in pairs:
        devs = strategy_devices(b, s)
        if isinstance(devs, str):
            m.notes.append(f"{b.name}:{s} skipped: {devs}")
            continue
        here = [d for d in devs if d in wanted] if wanted else _bench_devices(devs)
        if not here:
            where = f"device {', '.join(repr(d) for d in wanted)}" if wanted else "any device"
            m.notes.append(f"{b.name}:{s} skipped: cannot reach {where} here (reaches: {', '.join(devs) or 'none'})")
            continue
        why = _unsupported(b, s, variant, dtype, recipe)
        if why and refuse_named and (b.name, s) in named:
            raise Unsupported(why)
        if why:
            m.notes.append(f"{b.name}:{s} skipped: {why}")
            m.skipped += [{"backend": b.name, "strategy": s, "device": d, "reason": why} for d in here]
            continue
        m.targets += [Target(b, s, d) for d in here]
    if refuse_named:
        refuse_skipped_names(m, backends, strategies, m.targets)
    return m


def _why_left_out(m: Matrix, backend: str, strategy: str | None = None) -> tuple[type, str]:
    """The error class and the notes that say why `backend` (or its `strategy`) has no target."""
    reasons = [x["reason"] for x in m.skipped if x["backend"] == backend
               and (strategy is None or x["strategy"] == strategy)]
    if reasons:  # what the backend declares it does not support: its own words
        return Unsupported, reasons[0]
    heads = (f"backend {backend} skipped", f"{backend}:{strategy or ''}")
    notes = [n for n in m.notes if n.startswith(heads)]
    error = DeviceUnavailable if any("cannot reach" in n for n in notes) else UnknownStrategy
    return error, "; ".join(notes) or "nothing of it was selected"


def refuse_skipped_names(m: Matrix, backends: Iterable[str] | None, strategies: Iterable[str] | None,
                         used: Iterable[Target]) -> None:
    """A backend or strategy the user named that nothing in `used` runs is a usage error (exit 2),
    never a quiet skip: a verdict over the rest would claim what was not checked. BACKEND and
    BACKEND:NAME must each run somewhere; a plain NAME must run on at least one backend."""
    used = list(used)
    for name in dict.fromkeys(backends or ()):
        if not any(t.backend.name == name for t in used):
            error, why = _why_left_out(m, name)
            raise error(why if error is Unsupported else f"backend {name} was asked for but nothing of it "
                        f"can run: {why}")
    for spec in dict.fromkeys(s.strip() for s in strategies or () if s.strip()):
        name, strategy = split_spec(spec)
        if strategy is None:  # a plain NAME: every selected backend that has it
            if not any(t.strategy == name for t in used):
                raise UnknownStrategy(f"strategy {name} was asked for but runs nowhere: "
                                      + ("; ".join(n for n in m.notes if f":{name} skipped" in n) or "no backend has it"))
        elif not any((t.backend.name, t.strategy) == (name, strategy) for t in used):
            error, why = _why_left_out(m, name, strategy)
            raise error(why if error is Unsupported else f"{spec} was asked for but cannot run: {why}")
