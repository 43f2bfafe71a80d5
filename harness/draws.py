"""Every random or scheduled decision of a training pass, drawn in NumPy by the core.

Backends never draw their own random numbers for training: given the same
seed they receive the same rolled images, dropout masks and learning rates,
so they do the same arithmetic and parity can compare them step by step.
Draws are made once per pass, as arrays, outside the timed loop.
"""
from __future__ import annotations

import numpy as np

from .backend import Steps
from .data import Dataset, targets_pm1
from .spec import FAN_IN, PARAM_NAMES, PARAM_SHAPES, Variant, init_params


def pass_rng(seed: int, epoch: int) -> np.random.Generator:
    # Independent stream per (seed, pass): pass k's draws don't depend on how many came before.
    return np.random.default_rng([seed, epoch])


def roll_images(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Roll each image x[i] (C, H, W) by shifts[i] = (dy, dx) with wrap-around, like np.roll."""
    n, _, h, w = x.shape
    rows = (np.arange(h)[None, :] - shifts[:, :1]) % h  # (n, h): new[r] = old[r - dy]
    cols = (np.arange(w)[None, :] - shifts[:, 1:]) % w  # (n, w)
    return x[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]


def draw_pass(variant: Variant, n: int, seed: int, epoch: int, dtype: str) -> dict[str, np.ndarray]:
    """The raw random draws of one pass: shifts (n, 2) and dropout masks (n, 12, 4, 4), if any."""
    rng = pass_rng(seed, epoch)
    out: dict[str, np.ndarray] = {}
    if variant.augment_shift:
        s = variant.augment_shift
        out["shifts"] = rng.integers(-s, s + 1, size=(n, 2))
    if variant.dropout:
        p = variant.dropout
        keep = rng.random((n, 12, 4, 4)) >= p
        out["mask"] = (keep / (1.0 - p)).astype(dtype)  # inverted dropout: scale kept units
    return out


def pass_steps(variant: Variant, data: Dataset, seed: int, epoch: int, n_epochs: int, dtype: str,
               limit: int | None = None) -> Steps:
    """Everything pass `epoch` (0-based) of a run of `n_epochs` feeds the backend, in order."""
    x, labels = data.train_x, data.train_labels
    if limit is not None:
        x, labels = x[:limit], labels[:limit]
    n = len(x)
    draws = draw_pass(variant, n, seed, epoch, dtype)
    if "shifts" in draws:
        x = roll_images(x, draws["shifts"])
    lr = variant.lr_schedule(n * n_epochs, epoch * n, (epoch + 1) * n, per_pass=n)
    return Steps(
        x=np.ascontiguousarray(x, dtype=dtype),
        targets=targets_pm1(labels, dtype, variant.targets),
        labels=labels.astype(np.int64),
        lr=lr,
        mask=draws.get("mask"),
    )


def nonzero_params(seed: int, dtype: str = "float32", variant: str | Variant = "1989") -> dict[str, np.ndarray]:
    """init_params(seed, dtype, variant) with every bias drawn too (U(-0.5, 0.5), from a stream of its own):
    parameters where no tensor is zero, so a forward pass that drops or misplaces a bias shows
    (at the initial parameters every bias but outb is 0)."""
    params = init_params(seed, dtype, variant)
    rng = np.random.default_rng([seed, 1989])  # not the weights' stream: the weights stay init_params's
    for name in PARAM_NAMES:
        if name not in FAN_IN:
            params[name] = rng.uniform(-0.5, 0.5, size=PARAM_SHAPES[name]).astype(dtype)
    return params
