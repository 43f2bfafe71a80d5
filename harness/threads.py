"""$HARNESS_THREADS (and --threads): the CPU threads of a framework's intra-op pool, checked once
in the core so that every backend receives a sane whole number or nothing."""
from __future__ import annotations

import os

from .errors import UsageError

MAX_THREADS = 4096
ENV = "HARNESS_THREADS"


class ThreadsError(UsageError):
    """$HARNESS_THREADS is not a whole number 1..MAX_THREADS (a usage error, exit 2)."""


def threads_from_env() -> int | None:
    """$HARNESS_THREADS as an int (None when unset or empty); ThreadsError when it is not usable."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = None
    if n is None or not 1 <= n <= MAX_THREADS:
        raise ThreadsError(f"${ENV}={raw[:40]!r} is not a number of threads: use a whole number "
                           f"from 1 to {MAX_THREADS}, or unset it for the framework's own choice")
    return n
