"""How long one state change of a sweep point takes to record, at N points (default 100,000).

Measures, in one process and one temporary directory:
- append: what a state change costs now (one journal line under the lock, as Book.claim and
  Book.finish do), median over --repeat changes, and its size in bytes;
- rewrite: what it cost before the journal (the whole manifest rewritten, indented, atomically,
  twice per point), median over a few rewrites, and the file's size;
- the one-time costs now: registering N points at the start, folding them into the manifest
  at the end.

    .venv/bin/python scripts/manifest_write_time.py --points 100000
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.config import RunConfig
from harness.results import atomic_write_text
from harness.sweep.manifest import JOURNAL, SWEEP_DIR, Ledger, point_id


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=200, help="state changes timed (append)")
    ap.add_argument("--rewrites", type=int, default=5, help="whole-manifest rewrites timed (before)")
    args = ap.parse_args()
    points = [RunConfig(backend="torch", strategy="eager", dataset="synthetic", epochs=1, seed=s)
              for s in range(args.points)]
    d = Path(tempfile.mkdtemp(prefix="manifest-bench-"))
    ledger = Ledger(d)

    def register():
        with ledger.locked():
            ledger.append([{"op": "sweep", "sweep": "s", "state": "running"}]
                          + [{"op": "add", "id": point_id(c), "config": c.to_dict(), "sweep": "s"} for c in points])

    t_register = _timed(register)
    journal = d / SWEEP_DIR / JOURNAL
    appends, sizes = [], []
    for c in points[: args.repeat]:
        before = journal.stat().st_size

        def change(c=c):
            with ledger.locked():
                ledger.append([{"op": "state", "id": point_id(c), "state": "running", "sweep": "s",
                                "host": "h", "pid": 1, "at": "2026-01-01T00:00:00+00:00"}])
        appends.append(_timed(change))
        sizes.append(journal.stat().st_size - before)

    old_path = d / "old-manifest.json"
    rewrites = [_timed(lambda: atomic_write_text(old_path, json.dumps(ledger.view.to_dict(), indent=1) + "\n"))
                for _ in range(args.rewrites)]
    t_compact = _timed(lambda: ledger.compact(rotate=False))
    load = os.getloadavg()
    print(f"points {args.points:,}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"now, per state change: median {statistics.median(appends) * 1e3:.2f} ms "
          f"(min {min(appends) * 1e3:.2f}, max {max(appends) * 1e3:.2f}; {len(appends)} changes), "
          f"{statistics.median(sizes):.0f} bytes appended")
    print(f"before, per state change (whole manifest rewritten): median {statistics.median(rewrites):.2f} s "
          f"({len(rewrites)} rewrites), {old_path.stat().st_size / 1e6:.1f} MB written")
    print(f"ratio before/now: {statistics.median(rewrites) / statistics.median(appends):,.0f}x")
    print(f"now, once per sweep: registering the points {t_register:.2f} s "
          f"({journal.stat().st_size / 1e6:.1f} MB journal); folding into the manifest at the end "
          f"{t_compact:.2f} s ({ledger.path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
