"""The sweep manifest: every sweep's points and their states, in the results directory.

Any number of sweeps may write into one results directory, one after another or at the same
time; none erases what another recorded. Two files hold it:

- `.sweep/journal.jsonl`: an append-only journal of changes, one JSON line each: a sweep
  started or ended, a point joined a sweep, a point's state changed. Appends are made under
  an exclusive lock (`.sweep/lock`), so a state change costs one short append, however large
  the grid.
- `sweep-manifest.json`: the journal folded into one view, rewritten (temporary file + rename)
  when a sweep ends: every sweep (its grid, host, pid, start, end, outcome) and every point,
  keyed by identity (`point_id`), with its state, last reason, every failure, its attempts,
  its result file and the sweeps it belongs to. It names the journal it folded (`journal.id`)
  and how much of it (`journal.bytes`); readers fold the rest of the journal on top. When no
  other sweep is running, the journal is then replaced by an empty one with a new id.

States: pending (not run yet, or interrupted), running, done (with its result file), failed
(with the reason).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import uuid
from pathlib import Path

from ..config import RunConfig
from ..errors import Failure, UsageError
from ..files import FileRefused, read_bounded
from ..results import SWEEP_MANIFEST, atomic_write_text, now_iso

MANIFEST_NAME = SWEEP_MANIFEST
MANIFEST_VERSION = 2
STATES = ("pending", "running", "done", "failed")
SWEEP_DIR = ".sweep"  # hidden: never read as results; holds the journal, the lock, claims, work
JOURNAL = "journal.jsonl"
LOCK = "lock"


class SweepLayoutError(UsageError):
    """Something other than what the sweep keeps sits where it keeps it (a directory named
    sweep-manifest.json, a file named .sweep): nothing was run."""


class SweepStorageError(Failure):
    """The sweep's bookkeeping could not be written (a full disk, a vanished directory)."""


def point_id(cfg: RunConfig) -> str:
    """A readable unique name of a point: its label plus the threads it declares."""
    return cfg.label() + ("" if cfg.threads is None else f" threads {cfg.threads}")


def _new_point(config: dict | None) -> dict:
    return {"config": config, "state": "pending", "reason": None, "result": None, "attempts": 0,
            "sweeps": [], "failures": [], "updated": None, "by": None}


_TYPES = {"state": str, "reason": str, "result": str, "attempts": int, "sweeps": list, "failures": list,
          "updated": str, "by": dict, "config": dict}


def _clean(p: dict) -> dict:
    """A point of a snapshot with every field of its type (a hand-edited manifest may hold anything):
    a field of another type takes its default."""
    e = _new_point(None)
    for k, v in p.items():
        if k in _TYPES and isinstance(v, _TYPES[k]) and not isinstance(v, bool):
            e[k] = v
    e["sweeps"] = [s for s in e["sweeps"] if isinstance(s, str)]
    e["failures"] = [f for f in e["failures"] if isinstance(f, dict)]
    return e


def _typed(v, kind: type, none: bool = False):
    if (v is None and none) or (isinstance(v, kind) and not isinstance(v, bool)):
        return v
    raise TypeError(f"{v!r} is not a {kind.__name__}")


class View:
    """Every sweep and every point, folded from the snapshot and the journal's records."""

    def __init__(self, sweeps: dict | None = None, points: dict | None = None):
        self.sweeps: dict[str, dict] = sweeps or {}
        self.points: dict[str, dict] = points or {}

    @classmethod
    def from_snapshot(cls, d: dict) -> View:
        if not isinstance(d, dict) or not isinstance(d.get("points"), list):
            return cls()
        points = {}
        for p in d["points"]:
            if isinstance(p, dict) and isinstance(p.get("id"), str):
                points[p["id"]] = _clean(p)
        sweeps = d.get("sweeps")
        if isinstance(sweeps, dict):
            sweeps = {k: v for k, v in sweeps.items() if isinstance(v, dict)}
        else:  # a version-1 manifest: one sweep, its grid
            sweeps = {"v1": {"grid": d.get("grid"), "started": d.get("created"), "state": "ended"}}
            for e in points.values():
                e["sweeps"] = ["v1"]
        return cls(sweeps, points)

    def apply(self, rec: dict) -> None:
        """Fold one journal record; TypeError for a record whose fields are not of their types
        (the caller skips it: a journal may have been edited by hand)."""
        op = rec.get("op")
        if op in ("sweep", "sweep-end"):
            sid = _typed(rec.get("sweep"), str)
            if op == "sweep":
                self.sweeps[sid] = {k: v for k, v in rec.items() if k not in ("op", "sweep")}
            else:
                self.sweeps.setdefault(sid, {}).update(state=rec.get("state"), ended=rec.get("at"),
                                                       outcome=rec.get("outcome"))
        elif op == "add":
            e = self.points.setdefault(_typed(rec.get("id"), str), _new_point(None))
            if e["config"] is None:
                e["config"] = _typed(rec.get("config"), dict, none=True)
            if rec.get("sweep") not in e["sweeps"]:
                e["sweeps"].append(_typed(rec.get("sweep"), str))
        elif op == "state":
            self._state(rec)

    def _state(self, rec: dict) -> None:
        state = rec.get("state")
        if state not in STATES:
            raise TypeError(f"unknown state {state!r}")
        reason, result = _typed(rec.get("reason"), str, none=True), _typed(rec.get("result"), str, none=True)
        e = self.points.setdefault(_typed(rec.get("id"), str), _new_point(None))
        if state == "running":
            e["attempts"] += 1
        if state == "failed":
            e["failures"].append({"reason": reason, "sweep": rec.get("sweep"), "at": rec.get("at")})
        e.update(state=state, reason=reason, updated=rec.get("at"),
                 by={k: rec.get(k) for k in ("sweep", "host", "pid")})
        if result is not None:
            e["result"] = result

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for e in self.points.values():
            out[e["state"]] = out.get(e["state"], 0) + 1
        return out

    def to_dict(self, journal: dict | None = None) -> dict:
        return {"kind": "sweep-manifest", "manifest_version": MANIFEST_VERSION, "updated": now_iso(),
                "journal": journal, "counts": self.counts(), "sweeps": self.sweeps,
                "points": [{"id": k, **v} for k, v in self.points.items()]}


def _parse_lines(data: bytes) -> tuple[list[dict], int]:
    """The complete lines' records (a line that is not a JSON object is skipped) and the bytes used."""
    end = data.rfind(b"\n") + 1
    recs = []
    for line in data[:end].splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut short by a writer killed mid-append
        if isinstance(rec, dict):
            recs.append(rec)
    return recs, end


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def snapshot_text(d: dict) -> str:
    """The manifest as JSON with one point per line: compact, and still read (and grepped) by eye."""
    head = json.dumps({**{k: v for k, v in d.items() if k != "points"}, "points": []}, indent=1, default=str)
    points = ",\n".join(json.dumps(p, separators=(",", ":"), default=str) for p in d["points"])
    return head[:head.rindex("[]")] + ("[\n" + points + "\n]\n}\n" if points else "[]\n}\n")


class Ledger:
    """The manifest of one results directory: its snapshot, its journal and their lock."""

    def __init__(self, results_dir: Path, strict: bool = False):
        self.results_dir = Path(results_dir)
        self.strict = strict  # a sweep's own ledger: an unreadable manifest is refused, not overwritten
        self.path = self.results_dir / MANIFEST_NAME
        self.dir = self.results_dir / SWEEP_DIR
        self.journal = self.dir / JOURNAL
        self.view = View()
        self._jid: str | None = None  # the journal folded so far, and how far
        self._offset = 0
        self._loaded = False

    def check_layout(self) -> None:
        """Refuse (SweepLayoutError) anything but a directory where one goes, or anything but a
        regular file (a directory, a FIFO, a device, a symbolic link) where a file goes."""
        for path, want_dir in ((self.path, False), (self.dir, True), (self.journal, False),
                               (self.dir / LOCK, False), (self.dir / "claims", True), (self.dir / "live", True),
                               (self.dir / "work", True)):
            if path.is_symlink() or (path.exists() and not (path.is_dir() if want_dir else path.is_file())):
                what = "a directory" if want_dir else "a regular file"
                raise SweepLayoutError(f"{path} is in the way: the sweep keeps {what} there; move it away")

    @contextlib.contextmanager
    def locked(self, shared: bool = False):
        """Hold `.sweep/lock` (exclusive to change, shared to read)."""
        with self._storage("lock"):
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def _storage(self, what: str):
        """OSError while keeping the manifest -> SweepStorageError, one line."""
        try:
            yield
        except OSError as e:
            raise SweepStorageError(f"cannot keep the sweep manifest in {self.results_dir} ({what}: "
                                    f"{e.strerror or e}); finished results are on disk, run the sweep "
                                    "again to resume") from e

    def _open_journal(self):
        """The journal opened for reading, never blocking (a FIFO in its place is refused)."""
        fd = os.open(self.journal, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SweepLayoutError(f"{self.journal} is in the way: the sweep keeps a regular file there; move it away")
        return os.fdopen(fd, "rb")

    def _head(self) -> tuple[str | None, int]:
        """The journal's id and the length of its first line; (None, 0) when there is none."""
        try:
            with self._open_journal() as f:
                head = f.readline(4096)
        except FileNotFoundError:
            return None, 0
        try:
            return json.loads(head).get("id"), len(head)
        except (ValueError, AttributeError):
            return None, len(head)

    def _read_journal(self, offset: int) -> tuple[list[dict], int]:
        """(records from `offset` on, the offset after the last complete line)."""
        _, head = self._head()
        start = max(offset, head)
        try:
            with self._open_journal() as f:
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            return [], 0
        recs, used = _parse_lines(data)
        return recs, start + used

    def load(self) -> View:
        """The whole view: snapshot, then the journal's records it does not hold yet."""
        try:
            snap = json.loads(read_bounded(self.path, None, "the sweep manifest"))
        except FileNotFoundError:
            snap = {}
        except (OSError, FileRefused, ValueError) as e:  # UnicodeDecodeError, RecursionError's kin too
            if self.strict:  # it would be overwritten, and what it holds lost: refuse instead
                raise SweepLayoutError(f"{self.path} is not a readable sweep manifest ({str(e)[:200]}); "
                                       "move it away (nothing was run)") from None
            snap = {}
        if self.strict and snap != {} and (not isinstance(snap, dict) or snap.get("kind") != "sweep-manifest"):
            raise SweepLayoutError(f"{self.path} is not a sweep manifest; move it away (nothing was run)")
        self.view, self._loaded = View.from_snapshot(snap), True
        j = snap.get("journal") if isinstance(snap, dict) else None
        jid, _ = self._head()
        start = j.get("bytes", 0) if isinstance(j, dict) and jid is not None and j.get("id") == jid else 0
        self._fold_from(jid, start)
        return self.view

    def _fold_from(self, jid: str | None, offset: int) -> None:
        recs, end = self._read_journal(offset)
        for rec in recs:
            try:
                self.view.apply(rec)
            except (KeyError, TypeError, AttributeError):
                continue  # a record not of this version's making
        self._jid, self._offset = jid, end

    def refresh(self) -> View:
        """Fold what others appended since (call with the lock held)."""
        jid, _ = self._head()
        if not self._loaded or jid != self._jid:  # first, or a new journal (compacted meanwhile)
            return self.load()
        self._fold_from(jid, self._offset)
        return self.view

    def append(self, records: list[dict]) -> None:
        """Append `records` to the journal and fold them (call with the lock held, after refresh)."""
        if not records:
            return
        self.refresh()
        data = b"".join(json.dumps(r, separators=(",", ":"), default=str).encode() + b"\n" for r in records)
        with self._storage("journal"):
            if self._jid is None:
                self._new_journal()
            fd = os.open(self.journal, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a line cut short by a killed writer stays on its own
                write_all(fd, data)
            finally:
                os.close(fd)
        # the lock is held and the view was current: what follows the offset is what we just wrote
        for rec in records:
            self.view.apply(rec)
        self._offset = size + len(data)

    def _new_journal(self) -> None:
        self._jid = uuid.uuid4().hex
        atomic_write_text(self.journal, json.dumps({"op": "journal", "id": self._jid, "created": now_iso()}) + "\n")
        self._offset = 0

    def compact(self, rotate: bool) -> None:
        """Write the folded view as the snapshot (call with the lock held); with `rotate`, start
        an empty journal (only when no other sweep is reading this one)."""
        self.refresh()
        with self._storage("manifest"):
            journal = {"id": self._jid, "bytes": self._offset} if self._jid else None
            atomic_write_text(self.path, snapshot_text(self.view.to_dict(journal)))
            if rotate and self._jid is not None:
                self._new_journal()


def read_manifest(results_dir: Path) -> dict | None:
    """Every sweep and point recorded in `results_dir` (snapshot + journal), or None if none."""
    ledger = Ledger(results_dir)
    if not ledger.path.is_file() and not ledger.journal.is_file():
        return None
    if (ledger.dir / LOCK).is_file() and os.access(ledger.dir, os.W_OK):
        with ledger.locked(shared=True):
            view = ledger.load()
    else:
        view = ledger.load()
    return view.to_dict({"id": ledger._jid, "bytes": ledger._offset})
