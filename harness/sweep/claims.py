"""Claims: which sweep runs which point right now, so that sweeps sharing a results directory
share the work instead of running each point once each.

A claim is a small file in `.sweep/claims/` (one per point, named by a hash of its identity)
holding its owner: sweep id, host, pid and the process's start time. It is created with an
exclusive link (it fails when the file exists) under the manifest's lock, and removed when the
point is finished. A claim whose owner is dead is broken by the next sweep that wants the point:
on the owner's host, dead means no such process (or a zombie, or a different process that
reused the pid); from another host, which cannot see the owner's processes, dead means the
owner stopped refreshing the claim's modification time for LEASE_S seconds (a live owner
refreshes it every HEARTBEAT_S). Each running sweep holds such a claim on itself too, in
`.sweep/live/`.

The local executor runs one point at a time on a host across every sweep into the same
results directory (`host_slot`, an flock that dies with its holder), so its timings stay
clean when two sweeps share the directory.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import threading
import time
from pathlib import Path

from ..files import read_bounded
from ..results import now_iso
from ..tempfiles import host_tag, mkstemp, remove_stale, writer_alive

LEASE_S = 120.0
HEARTBEAT_S = 15.0


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    """(state letter, start time in clock ticks since boot) of `pid` from /proc; Nones when unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None, None
    fields = text[text.rfind(")") + 2:].split()  # after the command name, which may hold spaces
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None, None


def process_record(pid: int) -> dict:
    """A process of this host, identified beyond its pid (which the kernel reuses)."""
    return {"host_tag": host_tag(), "pid": pid, "pid_start": _proc_stat(pid)[1]}


def owner(sweep: str, **extra) -> dict:
    """This process as the owner of a claim."""
    return {"sweep": sweep, "host": platform.node(), "host_tag": host_tag(), "pid": os.getpid(),
            "pid_start": _proc_stat(os.getpid())[1], "since": now_iso(), **extra}


def process_alive(pid, pid_start=None) -> bool:
    """Whether process `pid` of this host runs (not a zombie; the same process when `pid_start` is known)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not writer_alive(pid):
        return False
    state, start = _proc_stat(pid)
    if state == "Z":
        return False
    return not (isinstance(pid_start, int) and start is not None and start != pid_start)


def owner_alive(who: dict | None, mtime: float, now: float | None = None) -> bool:
    """Whether the owner of a claim last modified at `mtime` still lives (see the module's doc)."""
    if not isinstance(who, dict):
        return (now or time.time()) - mtime < LEASE_S  # unreadable: only a fresh one counts
    if who.get("host_tag") == host_tag():
        return process_alive(who.get("pid"), who.get("pid_start"))
    return (now or time.time()) - mtime < LEASE_S


def key_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".claim"


class Claims:
    """The claim files of one directory held by one owner. Create and break them with the
    manifest's lock held; touch and release them at any time."""

    def __init__(self, directory: Path, who: dict):
        self.dir, self.who = Path(directory), who
        self.held: dict[str, Path] = {}

    def read(self, path: Path) -> tuple[dict | None, float]:
        """(the claim's owner record or None if unreadable, its modification time);
        FileNotFoundError when there is no claim."""
        mtime = path.stat().st_mtime
        try:
            data = json.loads(read_bounded(path, 65536, "a claim"))  # a FIFO in its place: refused
        except FileNotFoundError:
            raise
        except (OSError, ValueError):
            data = None
        return (data if isinstance(data, dict) else None), mtime

    def holder(self, key: str) -> dict | None:
        """The live owner of `key`'s claim, if another holds it; None if free (or ours)."""
        if key in self.held:
            return None
        path = self.dir / key_name(key)
        try:
            who, mtime = self.read(path)
        except FileNotFoundError:
            return None
        if not owner_alive(who, mtime):
            return None
        return who or {"unreadable": str(path)}

    def acquire(self, key: str, **extra) -> dict | None:
        """Claim `key`: None when it is now ours, else the live owner's record. A dead owner's
        claim is broken first."""
        if key in self.held:
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / key_name(key)
        body = json.dumps({**self.who, "point": key, "at": now_iso(), **extra}).encode()
        for _ in range(2):
            fd, tmp = mkstemp(self.dir, path.name)
            try:
                os.write(fd, body)
                os.close(fd)
                os.link(tmp, path)  # fails if the claim exists
                self.held[key] = path
                return None
            except FileExistsError:
                if (holder := self.holder(key)) is not None:
                    return holder
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # its owner is dead: break it, then try once more
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return self.holder(key) or {"unknown": str(path)}

    def release(self, key: str) -> None:
        path = self.held.pop(key, None)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def release_all(self) -> None:
        for key in list(self.held):
            self.release(key)

    def touch(self) -> None:
        for path in list(self.held.values()):
            with contextlib.suppress(OSError):
                os.utime(path)

    def _judged(self):
        """(path, owner record or {}, alive) for every claim file in the directory (ours: alive)."""
        for path in self._files():
            try:
                who, mtime = self.read(path)
            except FileNotFoundError:
                continue
            yield path, who or {}, path in self.held.values() or owner_alive(who, mtime)

    def live(self) -> list[dict]:
        """The owners of every live claim in the directory (ours included)."""
        return [who for _, who, alive in self._judged() if alive]

    def break_dead(self) -> list[dict]:
        """Remove every claim whose owner is dead (and their writers' temporaries); the owners removed."""
        remove_stale(self.dir)
        gone = []
        for path, who, alive in self._judged():
            if not alive:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    gone.append(who)
        return gone

    def _files(self) -> list[Path]:
        try:
            return sorted(self.dir.glob("*.claim"))
        except OSError:
            return []


@contextlib.contextmanager
def heartbeat(*claims: Claims, every: float = HEARTBEAT_S):
    """Within: a daemon thread refreshes the claims' modification times every `every` seconds."""
    stop = threading.Event()

    def beat():
        while not stop.wait(every):
            for c in claims:
                c.touch()

    t = threading.Thread(target=beat, name="sweep-heartbeat", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)


@contextlib.contextmanager
def host_slot(directory: Path):
    """Hold this host's slot for local points in `directory` (blocks while another sweep's local
    point runs here). An flock: released when the holder ends, however it ends."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"slot-{host_tag()}", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
