"""Learning curves by configuration: run results grouped by the configuration they record (read
through harness.config's one reader) less the seed, one line per seed, one figure per recipe family.

A field added to a run's identity (harness.config.IDENTITY) becomes part of the grouping and, where
it varies, of the labels, with no change here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import IDENTITY, result_config
from ..knobs import show
from .figures import MAX_LINES, MAX_SEEDS, bounded
from .fmt import num, plain
from .load import Loaded
from .seeds import family

METRICS = ("train_error", "test_error", "train_loss", "test_loss")
_ORDER = {"1989": 0, "modern": 1}


def _hashable(v):
    """A configuration value as a dict key: mappings and lists as tuples, recursively."""
    if isinstance(v, dict):
        return tuple((str(k), _hashable(x)) for k, x in v.items())  # in recorded order (knobs: KNOBS order)
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    return v


def identity(result: dict) -> dict:
    """The run's identity (harness.config's reader); for a result that reader refuses (a name no
    plugin here knows, say), the fields it records, its passes counted: still drawn, by its names."""
    cfg = result_config(result)
    if cfg is not None:
        return cfg.identity()
    out = {k: result.get(k) for k in IDENTITY}
    out["epochs"] = len(result.get("epochs") or [])
    recipe = result.get("recipe")  # the result's recipe block: the knobs it set
    out["recipe"] = recipe.get("set") if isinstance(recipe, dict) and isinstance(recipe.get("set"), dict) else {}
    return out


def config_key(result: dict) -> tuple:
    """((field, value), ...) of the run's identity without its seed: what one colour stands for."""
    return tuple((k, _hashable(v)) for k, v in identity(result).items() if k != "seed")


def _part(name: str, value) -> str | None:
    """One field of a configuration's label, as plain text; None where it says nothing."""
    if value is None or value == ():
        return None
    if name == "epochs":
        return f"{value} passes"
    if name == "limit":
        return f"limit {value}"
    if isinstance(value, tuple):  # a mapping recorded in the configuration
        return " ".join(f"{p[0]}={show(p[1])}" if isinstance(p, tuple) and len(p) == 2 else str(p) for p in value)
    return str(value)


def config_label(key: tuple, varying: tuple[str, ...]) -> str:
    """'jax:scan', plus each varying field ('jax:scan cuda float64', 'torch:eager 1989 targets=0.8
    23 passes': the recipe as harness.recipe labels it, its variant and the knobs set otherwise)."""
    d = dict(key)
    parts = [f"{d.get('backend')}:{d.get('strategy')}"]
    if "variant" in varying or "recipe" in varying:
        parts += [p for k in ("variant", "recipe") if (p := _part(k, d.get(k)))]
    parts += [p for k in varying if k not in ("backend", "strategy", "variant", "recipe") and (p := _part(k, d.get(k)))]
    return plain(" ".join(parts), 80)


@dataclass
class Group:
    """One configuration of a figure: its label and the latest run of each seed."""

    key: tuple
    label: str = ""
    seeds: list[dict] = field(default_factory=list)  # [{seed, epoch, train_error, ...}] by seed


def _series(r: Loaded, seed) -> dict:
    eps = r.data["epochs"]
    out = {"seed": seed, "epoch": [e.get("epoch", i + 1) if isinstance(e.get("epoch"), int) else i + 1
                                   for i, e in enumerate(eps)]}
    for m in METRICS:
        out[m] = [num(e.get(m)) for e in eps]
    return out


def _seed_order(seed) -> tuple:
    return (0, seed, "") if isinstance(seed, int) else (1, 0, repr(seed))


def curve_figures(runs: list[Loaded]) -> dict[str, list[Group]]:
    """{recipe family: [Group sorted by label]} for the learning-curve figures. Runs are sorted
    oldest first: a repeated seed shows its latest run (it computes the same numbers)."""
    latest: dict[tuple, dict] = {}
    for r in runs:
        latest.setdefault(config_key(r.data), {})[_hashable(identity(r.data).get("seed"))] = r
    by_family: dict[str, list[Group]] = {}
    for key, seeds in latest.items():
        g = Group(key, seeds=[_series(seeds[s], s) for s in sorted(seeds, key=_seed_order)])
        by_family.setdefault(family(dict(key).get("variant")), []).append(g)
    for groups in by_family.values():
        keys = [dict(g.key) for g in groups]
        names = list(dict.fromkeys(k for d in keys for k in d))
        varying = tuple(k for k in names if len({repr(d.get(k)) for d in keys}) > 1)
        for g in groups:
            g.label = config_label(g.key, varying)
        groups.sort(key=lambda g: g.label)
    return dict(sorted(by_family.items(), key=lambda kv: (_ORDER.get(kv[0], 2), kv[0])))


def datasets(groups: list[Group]) -> list[str]:
    return sorted({str(dict(g.key).get("dataset")) for g in groups})


def drawable(groups: list[Group]) -> tuple[list[dict], str | None]:
    """The learning-curve figure's data within its caps: up to MAX_LINES configurations, up to
    MAX_SEEDS seeds each ([{label, seeds, n: seeds in all}]), and one short note on what was left out
    (its length does not grow with the number of runs)."""
    drawn, note = bounded(groups, MAX_LINES, "configurations")
    cut = [len(g.seeds) - MAX_SEEDS for g in drawn if len(g.seeds) > MAX_SEEDS]
    if cut:
        seeds = (f"{sum(cut)} more seeds not drawn (first {MAX_SEEDS} of each of {len(cut)} "
                 f"configuration{'s' if len(cut) != 1 else ''})")
        note = f"{note}; {seeds}" if note else seeds
    return [{"label": g.label, "seeds": g.seeds[:MAX_SEEDS], "n": len(g.seeds), "finals": finals(g)}
            for g in drawn], note


def finals(g: Group) -> list[float]:
    """The final test error of each of the group's seeds that recorded one."""
    last = [next((v for v in s["test_error"][::-1] if v is not None), None) for s in g.seeds]
    return [v for v in last if v is not None]
