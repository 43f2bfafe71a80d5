"""What a killed sweep left behind, taken back by the next one.

A sweep killed outright (SIGKILL, a lost machine) cannot clean up. Its points' private
directories (`.sweep/work/`) may hold a result its child finished but the driver never
stored; its claims and its own live marker stay; the manifest still says its points run.
The next sweep into the directory, before it runs anything:

- adopts each finished result of a dead point's private directory: the file must pass the
  result schema and record the configuration `point.meta` says was run; it is stored like any
  returned result (its `sweep` block says `recovered`), unless the point already has one;
- removes every private directory whose runner and child are both dead (adopted or not);
- breaks dead claims, and records each dead sweep as ended ("died") and its running points
  as pending again (the reason names the dead sweep).

Directories of a live runner, or of another host (whose processes cannot be seen from here),
are left alone.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RunConfig
from ..results import now_iso, read_json
from ..schema import validate_result
from ..tempfiles import host_tag
from .claims import process_alive
from .manifest import point_id
from .match import point_key, result_config
from .point import META, active, read_back


@dataclass
class Recovered:
    adopted: list[tuple[RunConfig, dict]] = field(default_factory=list)  # (point, out) to store
    removed: list[Path] = field(default_factory=list)  # private directories removed
    notes: list[str] = field(default_factory=list)


def _dead(meta: dict | None, d: Path) -> bool:
    """Whether the runner and the child of private directory `d` are gone (this host only)."""
    from ..tempfiles import stale

    if not isinstance(meta, dict):
        return stale(d)  # no meta: judge by the runner named in the directory's name
    runner, child = meta.get("owner") or {}, meta.get("child") or {}
    if runner.get("host_tag") != host_tag():
        return False
    if runner.get("pid") == os.getpid() and process_alive(runner.get("pid"), runner.get("pid_start")):
        return not active(d)  # this process: left by an earlier sweep of it (the Python API), or in use
    # a child whose pid was never recorded died with its runner (PR_SET_PDEATHSIG)
    return not process_alive(runner.get("pid"), runner.get("pid_start")) and \
        not process_alive(child.get("pid"), child.get("pid_start"))


def _adoptable(d: Path, meta: dict) -> tuple[RunConfig, dict] | str:
    """(the point, its out) from a dead point's private directory, or why not."""
    try:
        cfg = RunConfig.from_dict(meta["config"])
        out = read_back(d, {"where": dict(meta.get("where") or {}),
                            "cotenants_at_start": meta.get("cotenants"), "cotenants_max": meta.get("cotenants"),
                            "seconds": None})
    except (KeyError, TypeError, ValueError, OSError) as e:
        return f"unreadable ({e})"
    if not out["ok"]:
        return out["reason"]
    if why := validate_result(out["result"]):
        return f"its result fails the schema: {why}"
    got = result_config(out["result"])
    if got is None or point_key(got) != point_key(cfg):
        return "its result is not of the point it was started for"
    return cfg, out


def recover_work(workdir: Path, has_result: Callable[[RunConfig], bool]) -> Recovered:
    """Adopt and clean the private directories of dead points in `workdir` (see the module doc)."""
    rec = Recovered()
    try:
        dirs = sorted(p for p in Path(workdir).iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return rec
    for d in dirs:
        try:
            meta = read_json(d / META, 1 << 20, "a point's meta file")
        except ValueError:
            meta = None
        if not _dead(meta, d):
            continue
        if isinstance(meta, dict) and list(d.glob("*.json")):
            got = _adoptable(d, meta)
            if isinstance(got, str):
                rec.notes.append(f"not adopted from {d.name}: {got}")
            elif has_result(got[0]):
                rec.notes.append(f"{point_id(got[0])}: already has a result; {d.name} dropped")
            else:  # stored by the caller, who then removes `d` (point.discard)
                got[1].update(workdir=str(d), recovered=now_iso())
                rec.adopted.append(got)
                continue
        shutil.rmtree(d, ignore_errors=True)
        rec.removed.append(d)
    return rec
