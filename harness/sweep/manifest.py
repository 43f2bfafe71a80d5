"""The sweep manifest: the grid and each point's state, one JSON file in the results directory.

States: pending (not run yet, or interrupted), running, done (with its result file), failed
(with the reason). Every change rewrites the file atomically (temporary file + rename), so an
interrupted sweep leaves the last complete manifest, never a half-written one.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import RunConfig
from ..results import atomic_write_text, now_iso

MANIFEST_NAME = "sweep-manifest.json"
MANIFEST_VERSION = 1
STATES = ("pending", "running", "done", "failed")


def point_id(cfg: RunConfig) -> str:
    """A readable unique name of a point: its label plus the threads it declares."""
    return cfg.label() + ("" if cfg.threads is None else f" threads {cfg.threads}")


class Manifest:
    def __init__(self, results_dir: Path, points: list[RunConfig], spec: dict | None = None):
        self.path = Path(results_dir) / MANIFEST_NAME
        self.spec = spec or {}
        self.created = now_iso()
        self.entries = {point_id(c): {"config": c.to_dict(), "state": "pending", "reason": None,
                                      "result": None, "attempts": 0} for c in points}

    def set(self, cfg: RunConfig, state: str, *, reason: str | None = None, result: str | None = None,
            write: bool = True) -> None:
        assert state in STATES, state
        e = self.entries[point_id(cfg)]
        if state == "running":
            e["attempts"] += 1
        e.update(state=state, reason=reason, updated=now_iso())
        if result is not None:
            e["result"] = result
        if write:
            self.write()

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for e in self.entries.values():
            out[e["state"]] += 1
        return out

    def to_dict(self) -> dict:
        return {"kind": "sweep-manifest", "manifest_version": MANIFEST_VERSION, "created": self.created,
                "updated": now_iso(), "grid": self.spec, "counts": self.counts(),
                "points": [{"id": k, **v} for k, v in self.entries.items()]}

    def write(self) -> None:
        atomic_write_text(self.path, json.dumps(self.to_dict(), indent=1, default=str) + "\n")


def read_manifest(results_dir: Path) -> dict | None:
    path = Path(results_dir) / MANIFEST_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
