"""Grid expansion: command-line lists or a TOML file -> a list of RunConfig points.

A point IS a RunConfig, checked by harness.config's one validator as it is made (a value out
of bounds: GridError, before any point runs). Defaults are made explicit here (strategy: the
backend's first; epochs: the variant's) so a point's identity is what its result will record;
points that are the same configuration (e.g. a limit beyond the data set) are one point.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the package it came from
    import tomli as tomllib

from ..config import RunConfig
from ..errors import ConfigError, RecipeError
from ..files import MAX_GRID_BYTES, FileRefused, read_bounded
from ..recipe import parse_sets
from ..spec import VARIANTS


class GridError(Exception):
    """A malformed grid (bad list, bad TOML, unknown field): one line for the user."""


# command-line / TOML list name -> RunConfig field
AXES = {"backends": "backend", "strategies": "strategy", "devices": "device", "variants": "variant",
        "dtypes": "dtype", "datasets": "dataset", "seeds": "seed", "epochs": "epochs",
        "limit": "limit", "threads": "threads"}
INT_AXES = {"seeds", "epochs", "limit", "threads"}
CONFIG_FIELDS = {f.name for f in fields(RunConfig)}
AXIS_OF_FIELD = {f: a for a, f in AXES.items()}  # seed -> seeds: a TOML key may name either
# More points than this is almost surely a typo (`1-10000000`); --max-points raises it.
MAX_POINTS = 100_000


@dataclass
class Grid:
    points: list[RunConfig]
    # custom Ray resources per point (by RunConfig), e.g. {"h100": 1}; absent: none
    resources: dict[RunConfig, dict[str, float]] = field(default_factory=dict)
    spec: dict = field(default_factory=dict)  # what the user asked, recorded in the manifest

    def resources_for(self, cfg: RunConfig) -> dict[str, float]:
        return self.resources.get(cfg, {})


def _too_many(n: int, max_points: int, what: str) -> GridError:
    return GridError(f"{what} has {n:,} points, more than the {max_points:,} a sweep may have "
                     "(--max-points raises the bound)")


def parse_ints(text: str | int | list, name: str = "seeds", max_points: int = MAX_POINTS) -> list[int]:
    """`1-10`, `1,2,5`, `1-3,7` (or a TOML list / int) -> a list of ints, in order, no duplicates;
    at most `max_points` of them (a range is measured before it is expanded)."""
    if isinstance(text, int) and not isinstance(text, bool):
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
                if len(out) + hi - lo + 1 > max_points:
                    raise _too_many(len(out) + hi - lo + 1, max_points, f"--{name} {text}")
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


def _axis_values(name: str, value, max_points: int = MAX_POINTS) -> list:
    if value is None:
        return [None]
    if name in INT_AXES:
        return parse_ints(value, name, max_points)
    names = parse_names(value)
    if not names:  # '' or ',' would make a grid of no points: a sweep that passes on nothing
        raise GridError(f"--{name} {value!r} names nothing; name at least one, or leave it out for the default")
    return names


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


def _point(d: dict) -> RunConfig:
    """A RunConfig from a point's fields, through the one validator."""
    try:
        return RunConfig.from_dict(d)
    except ConfigError as e:
        raise GridError(str(e)) from None


def _resolve(cfg: RunConfig, strategies_of: dict[str, tuple] | None) -> RunConfig:
    strategy = cfg.strategy
    if strategies_of is not None:
        if cfg.backend not in strategies_of:
            raise GridError(f"unknown backend {cfg.backend!r}; available: {', '.join(strategies_of)}")
        avail = strategies_of[cfg.backend]
        strategy = strategy or avail[0]
        if strategy not in avail:
            raise GridError(f"backend {cfg.backend!r} has no strategy {strategy!r}; available: {', '.join(avail)}")
    return replace(cfg, strategy=strategy, epochs=VARIANTS[cfg.variant].epochs if cfg.epochs is None else cfg.epochs)


# Recipe knobs in a grid: `set` (the command line's --set KNOB=V1,V2, a TOML table of knob = value
# or list) forms a product like the lists; `recipe` (a TOML table, e.g. in a [[configs]] table)
# is one recipe. Values are checked by the one validator (harness.recipe) as each point is made.
SET = "set"


def knob_lists(value, where: str = "--set") -> dict[str, list]:
    """{knob: [values]} from --set texts ("KNOB=V1,V2") or a TOML table; GridError when malformed."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        try:
            texts = parse_sets(value)
        except RecipeError as e:
            raise GridError(str(e)) from None
        return {k: parse_names(v) or [v] for k, v in texts.items()}
    if not isinstance(value, dict):
        raise GridError(f"{where}: set must be a table of knob = value or list of values, not {_show(value)}")
    out = {}
    for k, v in value.items():
        vals = v if isinstance(v, list) else [v]
        if not vals or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in vals):
            raise GridError(f"{where}: set.{k} = {_show(v)} should be a value or a list of values")
        out[str(k)] = list(dict.fromkeys(vals))
    return out


def _recipes(knobs: dict[str, list], base: dict) -> list[dict | None]:
    """Every combination of the knob lists, over the base's own `recipe` ([None]: no knob at all)."""
    if not knobs:
        return [None]
    own = dict(base.get("recipe") or {})
    return [{**own, **dict(zip(knobs, combo))} for combo in itertools.product(*knobs.values())]


def expand(lists: dict, base: dict | None = None, strategies_of: dict[str, tuple] | None = None,
           max_points: int = MAX_POINTS) -> list[RunConfig]:
    """The full product of the given lists (keys of AXES, and SET; None or absent: the default).

    `base` holds scalar RunConfig fields shared by every point (e.g. window, a recipe). `strategies_of`
    maps each backend to its strategies (the first is its default) to resolve and check them.
    A product of more than `max_points` points is refused before it is built.
    """
    lists = dict(lists)
    recipes = _recipes(knob_lists(lists.pop(SET)) if lists.get(SET) else {}, base or {})
    unknown = set(lists) - set(AXES)
    if unknown:
        raise GridError(f"unknown grid list(s) {', '.join(sorted(unknown))}; available: {', '.join(AXES)}")
    vals = {k: _axis_values(k, lists.get(k), max_points) for k in AXES}
    backends = vals.pop("backends")
    strategies = vals.pop("strategies")
    if backends == [None] and not any(s and ":" in s for s in strategies):
        backends = [(base or {}).get("backend", RunConfig.backend)]  # the default backend
    pairs = _pairs(backends, strategies, strategies_of)
    if not pairs:
        raise GridError("no backend x strategy pair matches the lists given")
    n = len(pairs) * len(recipes) * math.prod(len(vals[k]) for k in vals)
    if n > max_points:
        raise _too_many(n, max_points, "the grid")
    points = []
    rest = list(vals)
    for (b, s), recipe, combo in itertools.product(pairs, recipes, itertools.product(*(vals[k] for k in rest))):
        d = dict(base or {})
        d.update({"backend": b, "strategy": s, **({"recipe": recipe} if recipe is not None else {})})
        d.update({AXES[k]: v for k, v in zip(rest, combo) if v is not None})
        points.append(_resolve(_point({k: v for k, v in d.items() if v is not None or k == "strategy"}),
                               strategies_of))
    return list(dict.fromkeys(points))


RAY_OWN = ("CPU", "GPU", "memory", "object_store_memory")  # Ray's own: declared by threads and device


def check_resources(res, where: str) -> dict[str, float]:
    """Custom Ray resources: a table of name -> a positive, finite amount; GridError otherwise."""
    if not isinstance(res, dict):
        raise GridError(f"{where}: resources must be a table of name = amount, not {_show(res)}")
    out = {}
    for k, v in res.items():
        if not _is_num(v) or not math.isfinite(v) or v <= 0:
            raise GridError(f"{where}: resource {k} = {_show(v)}: an amount must be a positive number")
        if k in RAY_OWN:
            raise GridError(f"{where}: resource {k!r} is Ray's own: threads and device declare it")
        out[str(k)] = float(v)
    return out


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_value(where: str, key: str, v) -> None:
    """A TOML value of the type its key takes (a scalar where a value is expected, a name or a
    list of names for a name axis, integers or ranges for an integer axis); GridError otherwise."""
    axis = key if key in AXES else AXIS_OF_FIELD.get(key)
    if key == SET:  # a table of knob = value or list of values
        knob_lists(v, where)
        return
    if key == "recipe":  # one recipe: a table of knob = value
        if not isinstance(v, dict):
            raise GridError(f"{where}: recipe = {_show(v)} should be a table of knob = value")
        knob_lists({k: [x] for k, x in v.items()}, where)
        return
    if axis in INT_AXES:
        one, want = (lambda x: _is_int(x) or isinstance(x, str)), "an integer, a range such as \"1-10\", or a list of them"
    elif axis is not None:
        one, want = (lambda x: isinstance(x, str)), "a name or a list of names"
    else:  # a field that is not a grid axis (window): one integer
        if not _is_int(v):
            raise GridError(f"{where}: {key} = {_show(v)} should be one integer")
        return
    if not (one(v) or (isinstance(v, list) and v and all(one(x) for x in v))):
        raise GridError(f"{where}: {key} = {_show(v)} should be {want}")


def _lists_of(doc: dict, where: str) -> dict:
    """A TOML table's grid keys as {axis: value} (`seed` and `seeds` name the same axis); the
    other RunConfig fields stay under their own names. Every value is type-checked."""
    out: dict = {}
    for k, v in doc.items():
        if k not in AXES and k not in CONFIG_FIELDS and k != SET:
            continue
        _check_value(where, k, v)
        axis = k if k in AXES else AXIS_OF_FIELD.get(k, k)
        if axis in out:
            raise GridError(f"{where}: both {AXES.get(axis, axis)} and {axis} given; give one")
        out[axis] = v
    return out


def read_toml(path: Path) -> dict:
    """A grid file's TOML document; GridError for a file that cannot be read, is not a regular
    file, is too large, is not UTF-8 or is not TOML."""
    try:
        text = read_bounded(path, MAX_GRID_BYTES, "a grid file").decode("utf-8")
        return tomllib.loads(text)
    except FileRefused as e:
        raise GridError(f"grid file {path} {e}") from None
    except OSError as e:
        raise GridError(f"cannot read grid file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise GridError(f"grid file {path} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                        f"{e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"grid file {path} is not valid TOML: {e}") from None


def _configs_of(doc: dict, where: str) -> list[dict]:
    configs = doc.pop("configs", None)
    if configs is None:
        return [{}]
    if not isinstance(configs, list) or not configs or not all(isinstance(c, dict) for c in configs):
        raise GridError(f"{where}: configs must be one or more [[configs]] tables, not {_show(configs)}")
    for i, entry in enumerate(configs):
        bad = set(entry) - CONFIG_FIELDS - set(AXES) - {"resources", SET}
        if bad:
            raise GridError(f"{where}: unknown field(s) in [[configs]] #{i + 1}: {', '.join(sorted(bad))}")
    return configs


def load_toml(path: Path, strategies_of: dict[str, tuple] | None = None, max_points: int = MAX_POINTS) -> Grid:
    """A grid from TOML: top-level lists (as on the command line) form a product; or
    `[[configs]]` tables, each a partial RunConfig (with optional `resources`), crossed with the
    top-level lists (typically `seeds`). Top-level `resources` apply to every point."""
    where = f"grid file {path}"
    doc = read_toml(path)
    configs = _configs_of(doc, where)
    resources = check_resources(doc.pop("resources", {}), where)
    if doc.keys() - AXES.keys() - CONFIG_FIELDS - {SET}:
        bad = sorted(doc.keys() - AXES.keys() - CONFIG_FIELDS - {SET})
        raise GridError(f"{where}: unknown key(s) {', '.join(bad)}; lists: {', '.join(AXES)}; "
                        f"fields: {', '.join(sorted(CONFIG_FIELDS))}; tables: configs, resources, set, recipe")
    top = _lists_of(doc, where)
    grid = Grid(points=[], spec={"file": str(path), **doc, "configs": configs if configs != [{}] else None,
                                 "resources": resources})
    for i, entry in enumerate(configs):
        entry = dict(entry)
        res = {**resources, **check_resources(entry.pop("resources", {}), f"{where}, [[configs]] #{i + 1}")}
        merged = {**top, **_lists_of(entry, f"{where}, [[configs]] #{i + 1}")}  # a config's own values win
        lists = {k: v for k, v in merged.items() if k in AXES or k == SET}
        base = {k: v for k, v in merged.items() if k not in AXES and k != SET}
        for cfg in expand(lists, base, strategies_of, max_points):
            if cfg not in grid.resources:
                grid.points.append(cfg)
                grid.resources[cfg] = dict(res)
        if len(grid.points) > max_points:  # checked per table: at most two tables' worth is ever built
            raise _too_many(len(grid.points), max_points, where)
    return grid
