"""`harness run`: one backend x strategy x device, a whole training run, one result file."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .backend import refuse_interpreted
from .config import RunConfig
from .data import Dataset
from .errors import BackendFailure, HarnessError
from .plugins import one_line
from .recipe import of_config
from .results import now_iso, write_result
from .spec import Variant, init_params
from .targets import Target
from .timing import environment
from .train import SplitEval, TrainLog, train


def run_training(
    target: Target,
    config: RunConfig,
    data: Dataset,
    results_dir: Path,
    *,
    save_params: bool = False,
    on_epoch: Callable[[int, dict, SplitEval, SplitEval], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, dict]:
    """Train `target` as `config` says (resolved: strategy and epochs explicit) and write the
    result file atomically; nothing is written unless training completes."""
    if (target.backend.name, target.strategy, target.device) != (config.backend, config.strategy, config.device):
        raise ValueError(f"target {target.label_with_device} is not the one {config.label()} names")
    if config.epochs is None:
        raise ValueError("run_training needs a resolved RunConfig (RunConfig.resolved: epochs explicit)")
    backend, variant = target.backend, of_config(config).variant_spec()  # the variant with its recipe knobs
    params0 = init_params(config.seed, config.dtype, variant)
    env = environment()
    env["backend"] = backend.environment(target.device)  # describes only: session() applies the settings
    started = now_iso()
    try:
        session = backend.session(variant=variant, params=params0, dtype=config.dtype, device=target.device,
                                  strategy=target.strategy)
        if hasattr(session, "environment"):  # optional: settings only the session knows (threads)
            env["session"] = session.environment()
        refuse_interpreted(session, "harness run")
        log = train(session, config, data, on_epoch=on_epoch, progress=progress)
    except (HarnessError, KeyboardInterrupt):  # NonFiniteLoss, DeviceUnavailable...: already said
        raise
    except Exception as e:  # a bug in the plugin: name it, keep the traceback's last frame
        raise BackendFailure(f"backend {backend.name!r} strategy {target.strategy!r} failed: {one_line(e)}; "
                             "no result written") from e
    result = _result(target, config, variant, data, log, started, env)
    stem = f"run-{backend.name}-{target.strategy}-{target.device.replace(':', '')}-{variant.name}-{data.name}"
    attachments = {".npz": _npz(session.get_params())} if save_params else None
    path = write_result(results_dir, result, stem, attachments)  # .json and .npz together or neither
    return path, result


def _npz(params: dict) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **params)
    return buf.getvalue()


def _result(target: Target, config: RunConfig, variant: Variant, data: Dataset, log: TrainLog,
            started: str, env: dict) -> dict:
    """The result of a finished run; `config` records the resolved RunConfig."""
    te = log.final_test
    missed = np.flatnonzero(te.predictions != data.test_labels)
    return {
        "kind": "run",
        "started": started,
        "finished": now_iso(),
        "backend": target.backend.name,
        "strategy": target.strategy,
        "device": target.device,
        "variant": variant.name,
        "variant_config": variant.to_dict(),
        "recipe": of_config(config).to_dict(),  # the variant, its label, the knobs set and every knob's value
        "dataset": data.name,
        "dataset_source": data.source,
        "n_train": len(data.train_x) if config.limit is None else min(config.limit, len(data.train_x)),
        "n_test": len(data.test_x),
        "seed": config.seed,
        "dtype": config.dtype,
        "config": config.to_dict(),
        "epochs": log.epochs,
        "final": {k: log.epochs[-1][k] for k in
                  ("train_error", "train_misses", "test_error", "test_misses", "train_loss", "test_loss")},
        "test_missed": {"indices": missed.tolist(), "predicted": te.predictions[missed].tolist(),
                        "labels": data.test_labels[missed].tolist()},
        "timing": log.timing(config.window),
        "environment": env,
    }
