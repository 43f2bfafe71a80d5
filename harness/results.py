"""Result schema, atomic JSON writes, loading."""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1


class ResultsDirError(Exception):
    """The results directory cannot be created or written."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def ensure_writable(results_dir: Path) -> Path:
    """Create `results_dir` if needed and check that a file can be written there."""
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".probe-", delete=True):
            pass
    except OSError as e:
        raise ResultsDirError(f"results directory {results_dir} is not writable: {e.strerror or e}") from e
    return results_dir


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename: all or nothing."""
    atomic_write_bytes(path, text.encode())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, fsync, rename: all or nothing."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_result(results_dir: Path, result: dict, stem: str) -> Path:
    """Write `result` as `<results_dir>/<stem>-<timestamp>.json` atomically; return the path."""
    results_dir = ensure_writable(Path(results_dir))
    result = {"schema_version": SCHEMA_VERSION, **result}
    ts = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = results_dir / f"{stem}-{ts}.json"
    n = 1
    while path.exists():
        n += 1
        path = results_dir / f"{stem}-{ts}-{n}.json"
    atomic_write_text(path, json.dumps(result, indent=1, default=_json_default) + "\n")
    return path


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_results(results_dir: Path) -> tuple[list[tuple[Path, dict]], list[tuple[Path, str]]]:
    """Every harness result in `results_dir`: (loaded [(path, result)], skipped [(path, why)]).

    Files that are not JSON, not harness results, or of another schema are skipped, not fatal.
    """
    loaded, skipped = [], []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            skipped.append((path, f"not valid JSON ({e})"))
            continue
        if not isinstance(data, dict) or "schema_version" not in data:
            if isinstance(data, dict) and "benchmarks" in data:
                skipped.append((path, "pytest-benchmark file"))
            else:
                skipped.append((path, "not a harness result (no schema_version)"))
            continue
        if data["schema_version"] != SCHEMA_VERSION:
            skipped.append((path, f"schema version {data['schema_version']!r}, expected {SCHEMA_VERSION}"))
            continue
        loaded.append((path, data))
    return loaded, skipped
