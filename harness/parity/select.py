"""Which backend x strategy is the reference and which are compared against it (--backends, --strategies,
--reference, --device)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backend import Backend, DeviceUnavailable
from ..errors import UnknownStrategy
from .compare import one_line


@dataclass(frozen=True)
class Target:
    """One backend x strategy, as compared."""

    backend: Backend
    strategy: str

    @property
    def label(self) -> str:
        return f"{self.backend.name}:{self.strategy}"


@dataclass
class Selection:
    reference: Target
    targets: list[Target]
    notes: list[str] = field(default_factory=list)  # what was skipped and why
    self_check: bool = False  # the reference is its only target: a determinism check


def _split_spec(spec: str) -> tuple[str, str | None]:
    name, _, strategy = spec.strip().partition(":")
    return name.strip(), (strategy.strip() or None)


def select_targets(registry, backends: list[str] | None, strategies: list[str] | None,
                   reference: str | None, device: str) -> Selection:
    """Resolve --backends / --strategies / --reference / --device into a reference and targets.

    Unknown names raise the usage errors of harness.errors (exit 2). A backend or
    strategy that cannot reach `device` is skipped with a note; an error only when
    nothing is left to compare.
    """
    notes: list[str] = []
    names = list(dict.fromkeys(backends)) if backends else None
    if names is None:
        # torch first (the framework of karpathy/lecun1989-repro, the default reference), then by name:
        # plugins register in no fixed order, and the default reference must not depend on it.
        names = sorted(registry.available(), key=lambda n: (n != "torch", n))
        for n in registry.names():
            if n not in names:
                notes.append(f"backend {n} skipped: {registry.reason_unavailable(n)}")
    backs = [registry.get(n) for n in names]  # UnknownBackend / BackendUnavailable: usage errors
    ref_name, ref_strategy = _split_spec(reference) if reference else (None, None)
    ref_backend = registry.get(ref_name) if ref_name else None
    if ref_backend is not None and ref_strategy is not None and ref_strategy not in ref_backend.strategies:
        raise UnknownStrategy(f"backend {ref_name!r} has no strategy {ref_strategy!r}; "
                              f"available: {', '.join(ref_backend.strategies)}")

    # Which strategies of which backend: plain names apply to every backend that has them,
    # backend:strategy to that backend only.
    wanted: dict[str, list[str]] = {b.name: list(b.strategies) for b in backs}
    if strategies:
        plain = [s for s in (x.strip() for x in strategies) if s and ":" not in s]
        qualified = [_split_spec(s) for s in strategies if ":" in s]
        for s in plain:
            if not any(s in b.strategies for b in backs):
                known = ", ".join(f"{b.name}:{t}" for b in backs for t in b.strategies)
                raise UnknownStrategy(f"no selected backend has a strategy {s!r}; available: {known}")
        for bname, s in qualified:
            if bname not in wanted:
                raise UnknownStrategy(f"strategy {bname}:{s} names backend {bname!r}, which is not among "
                                      f"--backends ({', '.join(wanted)})")
            if s not in registry.get(bname).strategies:
                raise UnknownStrategy(f"backend {bname!r} has no strategy {s!r}; available: "
                                      f"{', '.join(registry.get(bname).strategies)}")
        for b in backs:
            chosen = [s for s in b.strategies if s in plain or (b.name, s) in qualified]
            if not chosen:
                notes.append(f"backend {b.name} skipped: none of the strategies asked for "
                             f"({', '.join(strategies)}); it has {', '.join(b.strategies)}")
            wanted[b.name] = chosen

    def reachable(b: Backend, s: str) -> bool:
        try:
            return device in b.strategy_devices(s)
        except Exception as e:  # noqa: BLE001 -- a plugin bug: say so, skip the strategy
            notes.append(f"{b.name}:{s} skipped: strategy_devices() raised {one_line(e)}")
            return False

    pool: list[Target] = []
    for b in backs:
        for s in wanted[b.name]:
            if reachable(b, s):
                pool.append(Target(b, s))
            else:
                try:
                    devs = ", ".join(b.strategy_devices(s)) or "none"
                except Exception:  # noqa: BLE001 -- reported just above
                    devs = "?"
                notes.append(f"{b.name}:{s} skipped: cannot reach device {device!r} here (reaches: {devs})")

    if ref_backend is not None:
        s = ref_strategy or ref_backend.strategies[0]
        if not reachable(ref_backend, s):
            raise DeviceUnavailable(f"reference {ref_backend.name}:{s} cannot reach device {device!r} here; "
                                    f"it reaches: {', '.join(ref_backend.strategy_devices(s)) or 'none'}")
        ref = Target(ref_backend, s)
    else:
        if not pool:
            raise DeviceUnavailable(f"no selected backend can reach device {device!r}: " + "; ".join(notes))
        # The first backend's first strategy (its idiomatic one), even where --strategies left it out.
        first = pool[0].backend
        s0 = first.strategies[0]
        ref = Target(first, s0) if reachable(first, s0) else pool[0]
    targets = [t for t in pool if t.label != ref.label]
    self_check = False
    if not targets:
        targets = [ref]
        self_check = True
        notes.append(f"only {ref.label} selected: compared against a second session of itself "
                     "(a determinism check)")
    return Selection(ref, targets, notes, self_check)


