"""Which points already have a result: matched by configuration identity, never by file name."""
from __future__ import annotations

import typing
from pathlib import Path

from ..config import IDENTITY, RunConfig
from ..data import MNIST_SIZES, SYNTHETIC_SIZES
from ..results import load_results

FULL_TRAIN = {"usps": 7291, "mnist": MNIST_SIZES["train"], "synthetic": SYNTHETIC_SIZES["train"]}


def _norm_limit(dataset: str, limit: int | None) -> int | None:
    full = FULL_TRAIN.get(dataset)
    return None if limit is None or (full is not None and limit >= full) else int(limit)


def point_key(cfg: RunConfig) -> tuple:
    """Identity, with the limit normalised (a limit >= the training set is no limit)."""
    d = cfg.identity()
    d["limit"] = _norm_limit(cfg.dataset, cfg.limit)
    return tuple(d[k] for k in IDENTITY)


# RunConfig's field -> the types its value may have (str | None -> (str, NoneType)).
_FIELD_TYPES = {name: typing.get_args(hint) or (hint,) for name, hint in typing.get_type_hints(RunConfig).items()}


def _typed_fields(cfg: dict) -> bool:
    """Every RunConfig field `cfg` holds has its field's type (an integer is not a bool)."""
    return all(isinstance(v, _FIELD_TYPES[k]) and not (isinstance(v, bool) and bool not in _FIELD_TYPES[k])
               for k, v in cfg.items() if k in _FIELD_TYPES)


def _recorded_config(result: dict) -> dict | None:
    """The configuration a result records: its own `config`, or the sweep point that made it. The
    schema types `config` but not `sweep` (free-form): one whose fields have the wrong types (a list
    for a backend) is no configuration."""
    sweep = result.get("sweep") if isinstance(result.get("sweep"), dict) else {}
    for cfg in (result.get("config"), sweep.get("config")):
        if isinstance(cfg, dict) and _typed_fields(cfg):
            return cfg
    return None


def result_config(result: dict) -> RunConfig | None:
    """The RunConfig of a run result, recorded or derived from its top-level fields (results
    written before `config` was recorded: threads then unknown, None); None if not a run result."""
    if result.get("kind") != "run":
        return None
    recorded = _recorded_config(result)
    if recorded is not None:
        return RunConfig.from_dict(recorded)
    try:
        return RunConfig(
            backend=result["backend"], strategy=result["strategy"], device=result["device"],
            variant=result["variant"], dataset=result["dataset"], dtype=result["dtype"],
            seed=int(result["seed"]), epochs=len(result["epochs"]),
            limit=_norm_limit(result["dataset"], result.get("n_train")))
    except (KeyError, TypeError, ValueError):
        return None


def result_key(result: dict) -> tuple | None:
    cfg = result_config(result)
    return None if cfg is None else point_key(cfg)


# A result's threads when it does not record them (threads are not part of the identity).
UNKNOWN_THREADS = "unknown"


def finished_points(results_dir: Path) -> dict[tuple, list[tuple]]:
    """point_key -> [(threads or UNKNOWN_THREADS, result file)] for every run result in `results_dir`."""
    if not Path(results_dir).is_dir():
        return {}
    found: dict[tuple, list[tuple]] = {}
    loaded, _ = load_results(results_dir)
    for path, result in loaded:
        cfg = result_config(result)
        if cfg is not None:
            threads = cfg.threads if _recorded_config(result) is not None else UNKNOWN_THREADS
            found.setdefault(point_key(cfg), []).append((threads, path))
    return found


def result_for(found: dict[tuple, list[tuple]], cfg: RunConfig) -> Path | None:
    """A result of this point: same identity, and the same threads where the result records them."""
    for threads, path in found.get(point_key(cfg), []):
        if threads == UNKNOWN_THREADS or threads == cfg.threads:
            return path
    return None
