"""Temporary files that say who wrote them, so that a later run can tell a dead writer's
leftovers (SIGKILL, power loss) from a live writer's work in progress.

A temporary name is `.<final name>.<host tag>-<pid>-<random>.tmp`: never `*.json`, so never
read as a result. `remove_stale` deletes only those whose writer ran on this host and is
gone; a live process's temporaries (or another host's, on a shared disk) are left alone.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

_NAME = re.compile(r"^\..*\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


def host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _affixes(final_name: str) -> tuple[str, str]:
    return f".{final_name}.{host_tag()}-{os.getpid()}-", ".tmp"


def mkstemp(directory: Path, final_name: str) -> tuple[int, str]:
    """(fd, path) of a new temporary file in `directory` on its way to `final_name`."""
    prefix, suffix = _affixes(final_name)
    return tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)


def mkdtemp(directory: Path, final_name: str) -> Path:
    """A new temporary directory in `directory` (a staging area for `final_name`)."""
    prefix, suffix = _affixes(final_name)
    return Path(tempfile.mkdtemp(dir=directory, prefix=prefix, suffix=suffix))


def writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or a pid we cannot ask about): leave it
    return True


def stale(path: Path) -> bool:
    """Whether `path` is a harness temporary whose writer (on this host) is gone."""
    m = _NAME.match(path.name)
    return bool(m) and m["host"] == host_tag() and not writer_alive(int(m["pid"]))


def remove_stale(directory: Path) -> list[Path]:
    """Remove the temporaries of dead writers in `directory`; return what was removed."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not stale(p):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass  # gone already, or not ours to remove: harmless
    return removed
