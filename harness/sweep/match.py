"""Which points already have a result: matched by configuration identity, never by file name."""
from __future__ import annotations

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


def _recorded_config(result: dict) -> dict | None:
    """The configuration a result records: its own `config`, or the sweep point that made it."""
    for cfg in (result.get("config"), (result.get("sweep") or {}).get("config")):
        if isinstance(cfg, dict):
            return cfg
    return None


def result_config(result: dict) -> RunConfig | None:
    """The RunConfig of a run result, recorded or derived from its top-level fields (results
    written before `config` was recorded: threads then unknown, None); None if not a run result."""
    if not isinstance(result, dict) or result.get("kind") != "run":
        return None
    recorded = _recorded_config(result)
    try:
        if recorded is not None:
            cfg = RunConfig.from_dict(recorded)
        else:
            cfg = RunConfig(
                backend=result["backend"], strategy=result["strategy"], device=result["device"],
                variant=result["variant"], dataset=result["dataset"], dtype=result["dtype"],
                seed=result["seed"], epochs=len(result["epochs"]),
                limit=_norm_limit(result["dataset"], result.get("n_train")))
    except (KeyError, TypeError, ValueError):
        return None
    return cfg if _well_typed(cfg) else None


def _well_typed(cfg: RunConfig) -> bool:
    """Every field of the type a RunConfig takes (a result file may hold anything the schema does
    not type, e.g. its `sweep.config`): names are strings, counts integers. Ranges are not checked."""
    def is_int(v, optional):
        return (v is None and optional) or (isinstance(v, int) and not isinstance(v, bool))

    names = (cfg.backend, cfg.device, cfg.variant, cfg.dataset, cfg.dtype)
    return (all(isinstance(v, str) for v in names) and (cfg.strategy is None or isinstance(cfg.strategy, str))
            and is_int(cfg.seed, False) and is_int(cfg.window, False)
            and all(is_int(v, True) for v in (cfg.epochs, cfg.limit, cfg.threads)))


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
