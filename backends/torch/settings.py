"""The process-wide torch settings a session trains under: full float32 precision and the
thread count, applied by the backend's session() (never by environment(), which only reads).

Threads: $HARNESS_THREADS (set by `harness run --threads N`) sets torch's intra-op thread
count; otherwise torch's default stands.
"""
from __future__ import annotations

import os

# What session() pins before building a model: full float32 precision, no TF32 in cuBLAS or
# cuDNN (torch's cuDNN default allows it).
PINNED_PRECISION = {"cuda.matmul.allow_tf32": False, "cudnn.allow_tf32": False,
                    "float32_matmul_precision": "highest"}


def requested_threads() -> int | None:
    n = os.environ.get("HARNESS_THREADS")
    return int(n) if n else None


def apply_threads(torch) -> None:
    n = requested_threads()
    if n and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def precision_settings(torch) -> dict:
    """torch's precision flags as they stand (reads only)."""
    return {
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "mkldnn.enabled": torch.backends.mkldnn.enabled,
    }


def pin_precision(torch) -> dict:
    """Set PINNED_PRECISION (process-wide torch flags); the flags as they then stand."""
    torch.backends.cuda.matmul.allow_tf32 = PINNED_PRECISION["cuda.matmul.allow_tf32"]
    torch.backends.cudnn.allow_tf32 = PINNED_PRECISION["cudnn.allow_tf32"]
    torch.set_float32_matmul_precision(PINNED_PRECISION["float32_matmul_precision"])
    return precision_settings(torch)


def session_environment(torch, eval_impl: str) -> dict:
    """What every torch session records: the settings it trains under, and its evaluation code path."""
    return {"torch_num_threads": torch.get_num_threads(), "precision": precision_settings(torch),
            "eval_impl": eval_impl}
