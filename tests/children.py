"""`harness` in a child process that a test interrupts with SIGINT (Ctrl-C)."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys

# `python -m harness.cli`, with Python's own Ctrl-C handling whatever this process was started with.
# A process whose SIGINT is ignored (a test run started in the background by a shell without job
# control, under nohup, by some CI runners) passes that on to its children, and Python then installs
# no KeyboardInterrupt handler: the child ignores the test's SIGINT. Seen twice: a run that trained
# all 50 passes and exited 0, and a download that waited for the server to hang up and exited 2.
INTERRUPTIBLE_CLI = [sys.executable, "-c", ("import runpy, signal; signal.signal(signal.SIGINT, "
                                           "signal.default_int_handler); runpy.run_module('harness.cli', "
                                           "run_name='__main__', alter_sys=True)")]


@contextlib.contextmanager
def sigint_ignored():
    """Within: SIGINT ignored in this process, so children started here inherit it ignored."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def interruptible(args: list[str], **kw) -> subprocess.Popen:
    """`harness ARGS` in a child that SIGINT interrupts, started the hard way (SIGINT ignored, as in
    a background job) so that the test's verdict does not depend on how pytest was started."""
    with sigint_ignored():
        return subprocess.Popen([*INTERRUPTIBLE_CLI, *args], **kw)
