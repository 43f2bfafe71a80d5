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
import uuid
from pathlib import Path

from ..config import RunConfig
from ..errors import Failure, UsageError
from ..files import FileRefused, read_bounded
from ..results import atomic_write_text, now_iso

MANIFEST_NAME = "sweep-manifest.json"
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
                points[p["id"]] = {**_new_point(p.get("config")), **{k: v for k, v in p.items() if k != "id"}}
        sweeps = d.get("sweeps")
        if not isinstance(sweeps, dict):  # a version-1 manifest: one sweep, its grid
            sweeps = {"v1": {"grid": d.get("grid"), "started": d.get("created"), "state": "ended"}}
            for e in points.values():
                e["sweeps"] = ["v1"]
        return cls(sweeps, points)

    def apply(self, rec: dict) -> None:
        op = rec.get("op")
        if op == "sweep":
            self.sweeps[rec["sweep"]] = {k: v for k, v in rec.items() if k not in ("op", "sweep")}
        elif op == "sweep-end":
            self.sweeps.setdefault(rec["sweep"], {}).update(state=rec.get("state"), ended=rec.get("at"),
                                                             outcome=rec.get("outcome"))
        elif op == "add":
            e = self.points.setdefault(rec["id"], _new_point(rec.get("config")))
            if e["config"] is None:
                e["config"] = rec.get("config")
            if rec.get("sweep") not in e["sweeps"]:
                e["sweeps"].append(rec.get("sweep"))
        elif op == "state":
            self._state(rec)

    def _state(self, rec: dict) -> None:
        e = self.points.setdefault(rec["id"], _new_point(rec.get("config")))
        state = rec["state"]
        if state == "running":
            e["attempts"] += 1
        if state == "failed":
            e["failures"].append({"reason": rec.get("reason"), "sweep": rec.get("sweep"), "at": rec.get("at")})
        e.update(state=state, reason=rec.get("reason"), updated=rec.get("at"),
                 by={k: rec.get(k) for k in ("sweep", "host", "pid")})
        if rec.get("result") is not None:
            e["result"] = rec["result"]

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

    def __init__(self, results_dir: Path):
        self.results_dir = Path(results_dir)
        self.path = self.results_dir / MANIFEST_NAME
        self.dir = self.results_dir / SWEEP_DIR
        self.journal = self.dir / JOURNAL
        self.view = View()
        self._jid: str | None = None  # the journal folded so far, and how far
        self._offset = 0
        self._loaded = False

    def check_layout(self) -> None:
        """Refuse (SweepLayoutError) when a directory sits where a file goes, or the reverse."""
        for path, want_dir in ((self.path, False), (self.dir, True), (self.journal, False),
                               (self.dir / LOCK, False)):
            if path.is_symlink() or (path.exists() and path.is_dir() != want_dir):
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

    def _head(self) -> tuple[str | None, int]:
        """The journal's id and the length of its first line; (None, 0) when there is none."""
        try:
            with open(self.journal, "rb") as f:
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
            with open(self.journal, "rb") as f:
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
        except (OSError, FileRefused, ValueError):
            snap = {}
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
