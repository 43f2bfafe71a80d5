"""SIGTERM (what kill, systemd, Slurm and Ray send) handled like Ctrl-C: it raises `Terminated`,
a KeyboardInterrupt, so that every `finally` and `except BaseException` that cleans up after an
interrupted write runs for it too; the CLI then prints one line and exits 143 (128 + 15)."""
from __future__ import annotations

import contextlib
import signal

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_seen = {"sigterm": False}


def _raise_terminated(signum, frame):
    _seen["sigterm"] = True
    raise Terminated()


def sigterm_received() -> bool:
    """Whether SIGTERM arrived (within terminate_as_interrupt): for a KeyboardInterrupt that lost
    its type on the way (Ray's blocking calls re-raise a plain one)."""
    return _seen["sigterm"]


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within: SIGTERM raises Terminated. Outside the main thread (where Python cannot set handlers)
    nothing changes. The previous handler is restored afterwards."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    _seen["sigterm"] = False
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
