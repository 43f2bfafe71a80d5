"""Reading a file someone named (a result, a grid, a `--compare` operand), safely.

Only regular files are read: a FIFO would block until a writer comes (forever), a device
such as /dev/zero or /dev/urandom never ends. And at most a bounded number of bytes: a huge
file would be read whole into memory until the OOM killer came. The file is opened
non-blocking (opening a FIFO does not wait for a writer) and checked on the open descriptor,
so a file swapped after the check is not read either.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

MIB = 1 << 20
# A run result is ~10-50 KiB, a parity result a few hundred KiB, a pytest-benchmark file a few MiB.
MAX_RESULT_BYTES = 64 * MIB
MAX_GRID_BYTES = 1 * MIB  # a TOML grid is a few hundred bytes
LIMIT_ENV = "HARNESS_MAX_FILE_MB"  # raises (or lowers) every bound here


class FileRefused(ValueError):
    """The file is not a regular file, or larger than the bound: the message says which."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def bound(default: int) -> int:
    """`default`, unless $HARNESS_MAX_FILE_MB sets another bound (in MiB)."""
    try:
        mb = float(os.environ[LIMIT_ENV])
    except (KeyError, ValueError):
        return default
    return int(mb * MIB) if mb > 0 else default


def _check(st: os.stat_result, limit: int | None, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"is {_kind(st.st_mode)}, not a regular file; {what} must be a regular file")
    if limit is not None and st.st_size > limit:
        raise FileRefused(f"is {st.st_size / MIB:.1f} MiB, more than the {limit / MIB:g} MiB {what} may be "
                          f"(${LIMIT_ENV} raises the bound)")


def read_bounded(path: Path, limit: int | None = MAX_RESULT_BYTES, what: str = "a result file") -> bytes:
    """The bytes of regular file `path`, at most `limit` (None: no bound); FileRefused for a FIFO,
    device, socket or directory, or a file larger than the bound; OSError if it cannot be opened."""
    limit = None if limit is None else bound(limit)
    _check(os.stat(path), limit, what)  # refuse before opening: opening some devices has effects
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        _check(os.fstat(fd), limit, what)  # the file actually opened
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if limit is not None and total > limit:  # it grew while being read
                raise FileRefused(f"grew past the {limit / MIB:g} MiB {what} may be while being read")
    finally:
        os.close(fd)
