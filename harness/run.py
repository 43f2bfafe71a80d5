"""`harness run`: one backend x strategy x device, a whole training run, one result file."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .backend import Backend, DeviceUnavailable, refuse_interpreted
from .data import Dataset
from .errors import BackendFailure, UnknownStrategy, UnknownVariant
from .plugins import one_line
from .results import now_iso, write_result
from .spec import VARIANTS, Variant, init_params
from .timing import environment
from .train import DEFAULT_WINDOW, NonFiniteLoss, SplitEval, train


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UnknownVariant(f"unknown variant {name!r}; available: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def check_target(backend: Backend, strategy: str | None, device: str) -> str:
    """Validate strategy and device for `backend`; return the strategy (default: the first)."""
    strategy = strategy or backend.strategies[0]
    if strategy not in backend.strategies:
        raise UnknownStrategy(
            f"backend {backend.name!r} has no strategy {strategy!r}; available: {', '.join(backend.strategies)}")
    devs = backend.strategy_devices(strategy)
    if device not in devs:
        raise DeviceUnavailable(
            f"backend {backend.name!r} strategy {strategy!r} cannot reach device {device!r} here; "
            f"available: {', '.join(devs) or 'none'}")
    return strategy


def run_training(
    backend: Backend,
    *,
    strategy: str,
    device: str,
    variant: Variant,
    data: Dataset,
    epochs: int,
    seed: int,
    dtype: str,
    results_dir: Path,
    window: int = DEFAULT_WINDOW,
    limit: int | None = None,
    save_params: bool = False,
    on_epoch: Callable[[int, dict, SplitEval, SplitEval], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, dict]:
    """Train and write the result file atomically; nothing is written unless training completes."""
    params0 = init_params(seed, dtype, variant)
    env = environment()
    env["backend"] = backend.environment(device)  # pins precision too, before the session
    started = now_iso()
    try:
        session = backend.session(variant=variant, params=params0, dtype=dtype, device=device,
                                  strategy=strategy)
        if hasattr(session, "environment"):  # optional: settings only the session knows (threads)
            env["session"] = session.environment()
        refuse_interpreted(session, "harness run")
        log = train(session, variant, data, epochs=epochs, seed=seed, dtype=dtype, window=window,
                    limit=limit, on_epoch=on_epoch, progress=progress)
    except (NonFiniteLoss, KeyboardInterrupt, DeviceUnavailable):
        raise
    except Exception as e:  # a bug in the plugin: name it, keep the traceback's last frame
        raise BackendFailure(f"backend {backend.name!r} strategy {strategy!r} failed: {one_line(e)}; "
                             "no result written") from e
    te = log.final_test
    missed = np.flatnonzero(te.predictions != data.test_labels)
    result = {
        "kind": "run",
        "started": started,
        "finished": now_iso(),
        "backend": backend.name,
        "strategy": strategy,
        "device": device,
        "variant": variant.name,
        "variant_config": variant.to_dict(),
        "dataset": data.name,
        "dataset_source": data.source,
        "n_train": len(data.train_x) if limit is None else min(limit, len(data.train_x)),
        "n_test": len(data.test_x),
        "seed": seed,
        "dtype": dtype,
        "epochs": log.epochs,
        "final": {k: log.epochs[-1][k] for k in
                  ("train_error", "train_misses", "test_error", "test_misses", "train_loss", "test_loss")},
        "test_missed": {"indices": missed.tolist(), "predicted": te.predictions[missed].tolist(),
                        "labels": data.test_labels[missed].tolist()},
        "timing": log.timing(window),
        "environment": env,
    }
    stem = f"run-{backend.name}-{strategy}-{device.replace(':', '')}-{variant.name}-{data.name}"
    attachments = {".npz": _npz(session.get_params())} if save_params else None
    path = write_result(results_dir, result, stem, attachments)  # .json and .npz together or neither
    return path, result


def _npz(params: dict) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **params)
    return buf.getvalue()
