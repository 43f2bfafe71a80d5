"""A synthetic data set that needs no files: learnable random digits."""

from __future__ import annotations

import numpy as np

SYNTHETIC_SIZES = {"train": 512, "test": 256}


def _make_synthetic(seed: int, sizes: dict | None = None):
    """Deterministic, learnable random digits: one random prototype per class
    plus noise, clipped to [-1, 1]; labels cycle 0..9 then are shuffled."""
    sizes = dict(SYNTHETIC_SIZES if sizes is None else sizes)
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(-1.0, 1.0, size=(10, 256))
    splits = {}
    for split in ("train", "test"):
        n = sizes[split]
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        x = np.clip(prototypes[labels] + rng.normal(0.0, 0.5, size=(n, 256)), -1.0, 1.0)
        splits[split] = (x, labels)
    source = {
        "seed": seed,
        "n_train": sizes["train"],
        "n_test": sizes["test"],
        "generator": "numpy.random.default_rng(seed): class prototypes U(-1, 1) + N(0, 0.5) noise, clipped",
    }
    return splits, source
