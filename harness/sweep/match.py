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
    """Identity (limit normalised: a limit >= the training set is no limit) plus threads."""
    d = cfg.identity()
    d["limit"] = _norm_limit(cfg.dataset, cfg.limit)
    return tuple(d[k] for k in IDENTITY) + (cfg.threads,)


def result_config(result: dict) -> RunConfig | None:
    """The RunConfig a run result records, or one derived from its top-level fields (results
    written before `config` was recorded); None for anything that is not a run result."""
    if result.get("kind") != "run":
        return None
    if isinstance(result.get("config"), dict):
        return RunConfig.from_dict(result["config"])
    try:
        env_threads = (result.get("environment") or {}).get("env_threads") or {}
        threads = env_threads.get("OMP_NUM_THREADS")
        return RunConfig(
            backend=result["backend"], strategy=result["strategy"], device=result["device"],
            variant=result["variant"], dataset=result["dataset"], dtype=result["dtype"],
            seed=int(result["seed"]), epochs=len(result["epochs"]),
            limit=_norm_limit(result["dataset"], result.get("n_train")),
            threads=int(threads) if threads is not None else None)
    except (KeyError, TypeError, ValueError):
        return None


def result_key(result: dict) -> tuple | None:
    cfg = result_config(result)
    return None if cfg is None else point_key(cfg)


def finished_points(results_dir: Path) -> dict[tuple, Path]:
    """point_key -> result file, for every run result already in `results_dir`."""
    if not Path(results_dir).is_dir():
        return {}
    found = {}
    loaded, _ = load_results(results_dir)
    for path, result in loaded:
        key = result_key(result)
        if key is not None:
            found.setdefault(key, path)
    return found
