"""Grid expansion: command-line lists or a TOML file -> a list of RunConfig points.

A point IS a RunConfig. Defaults are made explicit here (strategy: the backend's first;
epochs: the variant's) so a point's identity is what its result will record.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the package it came from
    import tomli as tomllib

from ..config import RunConfig
from ..data import DATASETS
from ..spec import DTYPES, VARIANTS


class GridError(Exception):
    """A malformed grid (bad list, bad TOML, unknown field): one line for the user."""


# command-line / TOML list name -> RunConfig field
AXES = {"backends": "backend", "strategies": "strategy", "devices": "device", "variants": "variant",
        "dtypes": "dtype", "datasets": "dataset", "seeds": "seed", "epochs": "epochs",
        "limit": "limit", "threads": "threads"}
INT_AXES = {"seeds", "epochs", "limit", "threads"}
CONFIG_FIELDS = {f.name for f in fields(RunConfig)}


@dataclass
class Grid:
    points: list[RunConfig]
    # custom Ray resources per point (by RunConfig), e.g. {"h100": 1}; absent: none
    resources: dict[RunConfig, dict[str, float]] = field(default_factory=dict)
    spec: dict = field(default_factory=dict)  # what the user asked, recorded in the manifest

    def resources_for(self, cfg: RunConfig) -> dict[str, float]:
        return self.resources.get(cfg, {})


def parse_ints(text: str | int | list, name: str = "seeds") -> list[int]:
    """`1-10`, `1,2,5`, `1-3,7` (or a TOML list / int) -> a list of ints, in order, no duplicates."""
    if isinstance(text, int):
        return [text]
    if isinstance(text, list):
        parts = [str(x) for x in text]
    else:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
    out: list[int] = []
    try:
        for p in parts:
            if "-" in p:
                a, b = p.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise GridError(f"--{name}: range {p!r} runs backwards")
                out += range(lo, hi + 1)
            else:
                out.append(int(p))
    except ValueError:
        raise GridError(f"--{name}: {text!r} is not a list of integers (e.g. 1-10 or 1,2,5)") from None
    if not out:
        raise GridError(f"--{name}: empty list")
    return list(dict.fromkeys(out))


def parse_names(text: str | list) -> list[str]:
    items = text if isinstance(text, list) else str(text).split(",")
    return list(dict.fromkeys(str(s).strip() for s in items if str(s).strip()))


def _axis_values(name: str, value) -> list:
    if value is None:
        return [None]
    return parse_ints(value, name) if name in INT_AXES else parse_names(value)


def _pairs(backends: list, strategies: list, strategies_of: dict[str, tuple] | None) -> list[tuple]:
    """(backend, strategy) pairs: `backend:name` pins a backend; a plain name goes with every
    chosen backend that has it; no strategies: each backend's default (its first)."""
    pairs = []
    for s in strategies:
        if s is not None and ":" in s:
            b, name = s.split(":", 1)
            if backends != [None] and b not in backends:
                continue
            pairs.append((b, name))
        else:
            for b in backends:
                if b is None:
                    raise GridError(f"strategy {s!r} needs a backend: write backend:{s} or give --backends")
                if s is None or strategies_of is None or s in strategies_of.get(b, (s,)):
                    pairs.append((b, s))
    return pairs


def _resolve(cfg: RunConfig, strategies_of: dict[str, tuple] | None) -> RunConfig:
    if cfg.variant not in VARIANTS:
        raise GridError(f"unknown variant {cfg.variant!r}; available: {', '.join(VARIANTS)}")
    if cfg.dataset not in DATASETS:
        raise GridError(f"unknown data set {cfg.dataset!r}; available: {', '.join(DATASETS)}")
    if cfg.dtype not in DTYPES:
        raise GridError(f"unknown dtype {cfg.dtype!r}; available: {', '.join(DTYPES)}")
    strategy = cfg.strategy
    if strategies_of is not None:
        if cfg.backend not in strategies_of:
            raise GridError(f"unknown backend {cfg.backend!r}; available: {', '.join(strategies_of)}")
        avail = strategies_of[cfg.backend]
        strategy = strategy or avail[0]
        if strategy not in avail:
            raise GridError(f"backend {cfg.backend!r} has no strategy {strategy!r}; available: {', '.join(avail)}")
    return replace(cfg, strategy=strategy, epochs=cfg.epochs or VARIANTS[cfg.variant].epochs)


def expand(lists: dict, base: dict | None = None, strategies_of: dict[str, tuple] | None = None) -> list[RunConfig]:
    """The full product of the given lists (keys of AXES; None or absent: the default).

    `base` holds scalar RunConfig fields shared by every point (e.g. window). `strategies_of`
    maps each backend to its strategies (the first is its default) to resolve and check them.
    """
    unknown = set(lists) - set(AXES)
    if unknown:
        raise GridError(f"unknown grid list(s) {', '.join(sorted(unknown))}; available: {', '.join(AXES)}")
    vals = {k: _axis_values(k, lists.get(k)) for k in AXES}
    backends = vals.pop("backends")
    strategies = vals.pop("strategies")
    if backends == [None] and not any(s and ":" in s for s in strategies):
        backends = [(base or {}).get("backend", RunConfig.backend)]  # the default backend
    pairs = _pairs(backends, strategies, strategies_of)
    if not pairs:
        raise GridError("no backend x strategy pair matches the lists given")
    points = []
    rest = list(vals)
    for (b, s), combo in itertools.product(pairs, itertools.product(*(vals[k] for k in rest))):
        d = dict(base or {})
        d.update({"backend": b, "strategy": s})
        d.update({AXES[k]: v for k, v in zip(rest, combo) if v is not None})
        points.append(_resolve(RunConfig.from_dict({k: v for k, v in d.items() if v is not None or k == "strategy"}),
                               strategies_of))
    return list(dict.fromkeys(points))


def load_toml(path: Path, strategies_of: dict[str, tuple] | None = None) -> Grid:
    """A grid from TOML: top-level lists (as on the command line) form a product; or
    `[[configs]]` tables, each a partial RunConfig (with optional `resources`), crossed with the
    top-level lists (typically `seeds`). Top-level `resources` apply to every point."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise GridError(f"cannot read grid file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"grid file {path} is not valid TOML: {e}") from None
    configs = doc.pop("configs", None)
    resources = doc.pop("resources", {})
    base = {k: doc.pop(k) for k in list(doc) if k in CONFIG_FIELDS}
    if doc.keys() - AXES.keys():
        bad = sorted(doc.keys() - AXES.keys())
        raise GridError(f"grid file {path}: unknown key(s) {', '.join(bad)}; lists: {', '.join(AXES)}; "
                        f"fields: {', '.join(sorted(CONFIG_FIELDS))}; tables: configs, resources")
    grid = Grid(points=[], spec={"file": str(path), **doc, **base, "configs": configs, "resources": resources})
    for entry in configs or [{}]:
        entry = dict(entry)
        res = {**resources, **entry.pop("resources", {})}
        bad = set(entry) - CONFIG_FIELDS - set(AXES)
        if bad:
            raise GridError(f"grid file {path}: unknown field(s) in [[configs]]: {', '.join(sorted(bad))}")
        lists, own_base = dict(doc), dict(base)
        for k, v in entry.items():  # a config's own value (scalar or list) overrides the top-level one
            axis = k if k in AXES else next((a for a, f in AXES.items() if f == k), None)
            if axis is None:
                own_base[k] = v
            else:
                lists[axis] = v
        for cfg in expand(lists, own_base, strategies_of):
            if cfg not in grid.resources:
                grid.points.append(cfg)
                grid.resources[cfg] = {k: float(v) for k, v in res.items()}
    return grid
