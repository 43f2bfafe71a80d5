"""Checks shared by the readers: digests, one split's shapes/ranges/labels, one-line reasons."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import DataError


def _one_line(e: BaseException, limit: int = 160) -> str:
    """An exception as a short single-line reason, for DataError messages."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(path: Path, algorithm: str, expected: str) -> str:
    got = _file_digest(path, algorithm)
    if got != expected:
        raise DataError(
            f"{path}: {algorithm.upper()} mismatch: expected {expected}, got {got} "
            "(corrupt or a different version of the file; replace it)"
        )
    return got


def _check_split(path: Path, what: str, x: np.ndarray, y: np.ndarray, lo: float, hi: float,
                 expected_counts=None) -> None:
    """Shapes, value range, labels 0..9 and (optionally) per-class counts of one split."""
    if x.ndim != 2 or x.shape[1] != 256:
        raise DataError(f"{path}: {what} images have shape {x.shape}, expected (n, 256)")
    if y.shape != (x.shape[0],):
        raise DataError(f"{path}: {what} has {x.shape[0]} images but labels of shape {y.shape}")
    if not np.all((x >= lo) & (x <= hi)):  # also catches NaN
        raise DataError(f"{path}: {what} pixel values outside [{lo:g}, {hi:g}] (or NaN)")
    bad = np.flatnonzero((y < 0) | (y > 9) | (y != np.round(y)))
    if bad.size:
        raise DataError(f"{path}: {what} label {y[bad[0]].item()} at index {bad[0]} is not a digit 0..9")
    if expected_counts is not None:
        counts = np.bincount(y.astype(np.int64), minlength=10).tolist()
        if counts != list(expected_counts):
            raise DataError(f"{path}: {what} class counts {counts} differ from the expected {list(expected_counts)}")
