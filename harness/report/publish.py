"""Putting the report's files in place: all written into a staging directory first, then swapped
in together (old versions restored if a swap fails), under a lock so that concurrent
`harness report`s into one directory take turns."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .. import tempfiles


@contextlib.contextmanager
def report_lock(results_dir: Path):
    """An exclusive lock on the results directory (flock on the directory itself: no lock file);
    without fcntl (Windows), no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(results_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class Staging:
    """Files for `results_dir`, written to a temporary directory inside it until `commit`."""

    def __init__(self, results_dir: Path):
        self.results_dir = Path(results_dir)
        self.dir = tempfiles.mkdtemp(self.results_dir, "REPORT")
        self.names: list[str] = []

    def add(self, name: str, data: bytes) -> str:
        (self.dir / name).write_bytes(data)
        self.names.append(name)
        return name

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _backup(self) -> Path:
        """Hard links (else copies) of the files about to be replaced; OSError if one is in the way."""
        old = self.dir / ".old"
        old.mkdir()
        for name in self.names:
            dest = self.results_dir / name
            if dest.is_dir() and not dest.is_symlink():
                raise IsADirectoryError(21, "a directory is in the way", str(dest))
            if dest.is_file():
                try:
                    os.link(dest, old / name)
                except OSError:
                    shutil.copy2(dest, old / name)
        return old

    def commit(self) -> list[Path]:
        """Move every staged file into place, all or none (a failed move puts the old ones back)."""
        old = self._backup()
        done: list[str] = []
        try:
            for name in self.names:
                os.replace(self.dir / name, self.results_dir / name)
                done.append(name)
        except BaseException:
            for name in reversed(done):
                with contextlib.suppress(OSError):
                    if (old / name).exists():
                        os.replace(old / name, self.results_dir / name)
                    else:
                        os.unlink(self.results_dir / name)
            raise
        finally:
            self.discard()
        return [self.results_dir / n for n in self.names]
