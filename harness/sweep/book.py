"""One sweep's bookkeeping in a results directory: its record in the manifest (harness/sweep/
manifest.py), its claims on points (harness/sweep/claims.py), its live marker, and what it
does about other sweeps, live or dead, that share the directory."""
from __future__ import annotations

import os
import platform
import secrets
import time
from pathlib import Path

from ..config import RunConfig
from ..results import now_iso, read_json
from ..schema import validate_result
from ..tempfiles import remove_stale
from .claims import Claims, owner
from .manifest import Ledger, point_id
from .match import point_key, result_config

POLL_S = 1.0  # how often a sweep looks whether points another sweep runs are finished


def _who(e: dict) -> str:
    by = e.get("by") or {}
    return f"sweep {by.get('sweep')} on {by.get('host')} (pid {by.get('pid')})"


def holder_text(h: dict) -> str:
    return f"sweep {h.get('sweep')} on {h.get('host')} (pid {h.get('pid')})"


class Book:
    def __init__(self, results_dir: Path, executor: str = "local"):
        self.results_dir = Path(results_dir)
        self.ledger = Ledger(self.results_dir, strict=True)
        self.ledger.check_layout()
        self.id = f"{time.strftime('%Y%m%dT%H%M%S')}-{platform.node()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.who = owner(self.id, executor=executor)
        self.claims = Claims(self.ledger.dir / "claims", self.who)
        self.live = Claims(self.ledger.dir / "live", self.who)
        self.workdir = self.ledger.dir / "work"
        self._failures_at_start: dict[str, int] = {}
        self._closed = False

    def _rec(self, op: str, **fields) -> dict:
        return {"op": op, "sweep": self.id, "host": self.who["host"], "pid": self.who["pid"], "at": now_iso(),
                **fields}

    def open(self, points: list[RunConfig], spec: dict) -> list[str]:
        """Register this sweep and its points; reap dead sweeps and claims. Notes on what was reaped."""
        with self.ledger.locked():
            view = self.ledger.refresh()
            remove_stale(self.ledger.dir)  # temporaries of writers killed mid-write
            self.live.acquire(self.id)
            notes = self._reap()
            recs = [self._rec("sweep", grid=spec, points=len(points), executor=self.who.get("executor"),
                              state="running", started=now_iso())]
            for cfg in points:
                pid = point_id(cfg)
                known = (view.points.get(pid) or {}).get("config") is not None
                recs.append({"op": "add", "id": pid, "sweep": self.id, **({} if known else {"config": cfg.to_dict()})})
            self.ledger.append(recs)
            self._failures_at_start = {point_id(c): len(self.ledger.view.points[point_id(c)]["failures"])
                                       for c in points}
        return notes

    def _reap(self) -> list[str]:
        """Sweeps recorded as running whose live marker is dead: ended ("died"), their running
        points pending again; dead claims broken."""
        view, recs, notes = self.ledger.view, [], []
        self.live.break_dead()
        for sid, s in view.sweeps.items():
            if s.get("state") != "running" or sid == self.id or self.live.holder(sid) is not None:
                continue
            recs.append({**self._rec("sweep-end", state="died"), "sweep": sid})
            stuck = [k for k, e in view.points.items()
                     if e["state"] == "running" and (e.get("by") or {}).get("sweep") == sid]
            why = f"its sweep {sid} died (host {s.get('host')}, pid {s.get('pid')})"
            recs += [self._rec("state", id=k, state="pending", reason=why) for k in stuck]
            notes.append(why + (f"; {len(stuck)} of its points were running, now pending" if stuck else ""))
        self.ledger.append(recs)
        self.claims.break_dead()
        return notes

    def claim(self, cfg: RunConfig) -> tuple[str, str | None]:
        """("mine", None): the point is ours to run (recorded running); ("done", by whom) or
        ("failed", reason): another sweep finished it since this one started; ("busy", by whom):
        another live sweep runs it now."""
        pid = point_id(cfg)
        with self.ledger.locked():
            e = self.ledger.refresh().points.get(pid) or {}
            if e.get("state") == "done" and self._result_ok(e.get("result"), cfg):
                return "done", f"{e['result']}, by {_who(e)}"
            if (e.get("state") == "failed" and (e.get("by") or {}).get("sweep") != self.id
                    and len(e.get("failures") or ()) > self._failures_at_start.get(pid, 0)):
                return "failed", f"failed in {_who(e)}: {e.get('reason')}"
            holder = self.claims.acquire(pid)
            if holder is not None:
                return "busy", holder_text(holder)
            self.ledger.append([self._rec("state", id=pid, state="running")])
        return "mine", None

    def _result_ok(self, name, cfg: RunConfig) -> bool:
        """Whether result file `name` exists, passes the schema and is of point `cfg`."""
        if not isinstance(name, str) or "/" in name:
            return False
        try:
            r = read_json(self.results_dir / name)
        except ValueError:
            return False
        got = None if validate_result(r) else result_config(r)
        return got is not None and point_key(got) == point_key(cfg) and got.threads in (cfg.threads, None)

    def finish(self, cfg: RunConfig, state: str, *, reason: str | None = None, result: str | None = None) -> None:
        """Record a point this sweep ran (or found, or adopted) as done or failed; release its claim."""
        pid = point_id(cfg)
        with self.ledger.locked():
            self.ledger.append([self._rec("state", id=pid, state=state, reason=reason, result=result)])
            self.claims.release(pid)

    def found(self, cfgs_and_results: list[tuple[RunConfig, str]]) -> None:
        """Record points whose results were found on disk as done (where the manifest says otherwise)."""
        with self.ledger.locked():
            view = self.ledger.refresh()
            self.ledger.append([self._rec("state", id=point_id(c), state="done", result=name,
                                          reason="found its result in the results directory")
                                for c, name in cfgs_and_results
                                if (view.points.get(point_id(c)) or {}).get("result") != name
                                or view.points[point_id(c)]["state"] != "done"])

    def wait_for_any(self, busy: list[RunConfig], stop_after: float | None = None) -> list[RunConfig]:
        """Block until at least one of `busy` is no longer claimed by a live sweep; all of `busy`."""
        t0 = time.monotonic()
        while stop_after is None or time.monotonic() - t0 < stop_after:
            time.sleep(POLL_S)
            with self.ledger.locked():
                if any(self.claims.holder(point_id(c)) is None for c in busy):
                    return list(busy)
        return list(busy)

    def close(self, state: str, outcome: dict | None = None) -> None:
        """Record the end (interrupted points pending again), fold the journal into the
        manifest, drop every claim and the live marker."""
        if self._closed:
            return
        self._closed = True
        try:
            with self.ledger.locked():
                recs = [self._rec("state", id=k, state="pending", reason="interrupted") for k in self.claims.held]
                self.ledger.append(recs + [self._rec("sweep-end", state=state, outcome=outcome)])
                others = [w for w in self.live.live() if w.get("sweep") != self.id]
                self.ledger.compact(rotate=not others)
        finally:  # even when the manifest cannot be written: the next sweep then reaps this one
            self.claims.release_all()
            self.live.release_all()
