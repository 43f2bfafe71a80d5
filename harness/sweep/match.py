"""Which points already have a result: matched by configuration identity, never by file name.
Configurations are read back from result files by RunConfig.from_result (harness.config), the one reader."""
from __future__ import annotations

from pathlib import Path

from ..config import (
    TRAIN_SIZES,
    RunConfig,
    recorded_config,
    result_config,
)
from ..results import load_results

FULL_TRAIN = TRAIN_SIZES  # its old name here
__all__ = ["FULL_TRAIN", "UNKNOWN_THREADS", "finished_points", "point_key", "result_config", "result_for",
           "result_key"]


def point_key(cfg: RunConfig) -> tuple:
    """The identity (RunConfig.key); its limit is normalised where the configuration is made (a limit
    >= the training set is no limit)."""
    return cfg.key()


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
            threads = cfg.threads if recorded_config(result) is not None else UNKNOWN_THREADS
            found.setdefault(point_key(cfg), []).append((threads, path))
    return found


def result_for(found: dict[tuple, list[tuple]], cfg: RunConfig) -> Path | None:
    """A result of this point: same identity, and the same threads where the result records them."""
    for threads, path in found.get(point_key(cfg), []):
        if threads == UNKNOWN_THREADS or threads == cfg.threads:
            return path
    return None
