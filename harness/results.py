"""Result files: exclusive names, all-or-nothing writes, nothing lost on a failed write, loading.

A result `<stem>-<timestamp>.json` (and, with --save-params, its `.npz`) is written to
temporaries first, then published by hard-linking each to its final name, which fails
rather than overwrites when the name is taken: any number of simultaneous writers each
keep their own file (the next free name gets a `-2`, `-3`, ... suffix). The `.npz` is
linked before the `.json` and removed again if the `.json` cannot be: a reader (who reads
only `*.json`) never sees a result without its parameters.

A write that fails after training (full disk, a directory made read-only) does not lose
the measurements: they go to a fresh directory under the system's temporary directory,
and `ResultWriteError` says where (or carries the JSON text, when even that fails).
"""
from __future__ import annotations

import datetime as _dt
import errno
import itertools
import json
import os
import tempfile
from pathlib import Path

from . import tempfiles
from .errors import ResultsDirError, ResultWriteError
from .files import MAX_RESULT_BYTES, FileRefused, read_bounded
from .schema import SCHEMA_VERSION, validate_result


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _timestamp() -> str:
    """The time part of a result's name (tests pin it to force name collisions)."""
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def ensure_writable(results_dir: Path) -> Path:
    """Create `results_dir` if needed, check that a file can be written there, and remove the
    temporaries that killed writers left behind."""
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfiles.mkstemp(results_dir, "probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ResultsDirError(f"results directory {results_dir} is not writable: {e.strerror or e}") from e
    tempfiles.remove_stale(results_dir)
    return results_dir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_temp(directory: Path, final_name: str, data: bytes) -> str:
    """A fsynced temporary file in `directory` holding `data`, with the usual mode; its path."""
    fd, tmp = tempfiles.mkstemp(directory, final_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, fsync, rename: all or nothing."""
    path = Path(path)
    tmp = _write_temp(path.parent, path.name, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _claim(tmp: str, final: Path) -> None:
    """Give `tmp` the name `final` unless that name exists (FileExistsError)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError as e:  # a file system without hard links: claim with O_EXCL, then fill
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, final)


def _publish(results_dir: Path, stem: str, files: dict[str, bytes]) -> Path:
    """Write `files` ({suffix: bytes}, ".json" last) under the first free `<stem>-<ts>[-n]`."""
    tmps = {}
    try:
        for suffix, data in files.items():
            tmps[suffix] = _write_temp(results_dir, f"{stem}{suffix}", data)
        ts = _timestamp()
        for n in itertools.count(1):
            base = results_dir / (f"{stem}-{ts}" + ("" if n == 1 else f"-{n}"))
            claimed = []
            try:
                for suffix, tmp in tmps.items():
                    _claim(tmp, base.with_name(base.name + suffix))
                    claimed.append(base.with_name(base.name + suffix))
            except BaseException as e:
                for p in claimed:
                    _unlink(p)
                if isinstance(e, FileExistsError):
                    continue
                raise
            return base.with_name(base.name + ".json")
    finally:
        for tmp in tmps.values():
            _unlink(tmp)
    raise AssertionError("unreachable")


def _keep_elsewhere(stem: str, files: dict[str, bytes]) -> Path | None:
    """Save `files` into a new directory under the system's temporary directory; its path or None."""
    try:
        d = Path(tempfile.mkdtemp(prefix="harness-unsaved-"))
        for suffix, data in files.items():
            (d / f"{stem}{suffix}").write_bytes(data)
        return d / f"{stem}.json"
    except OSError:
        return None


def write_result(results_dir: Path, result: dict, stem: str, attachments: dict[str, bytes] | None = None) -> Path:
    """Write `result` as `<results_dir>/<stem>-<timestamp>[-n].json`, with `attachments` ({".npz": bytes})
    under the same name, all or nothing; return the .json path. Raises ResultWriteError (the data kept
    elsewhere) when the results directory cannot take it."""
    result = {"schema_version": SCHEMA_VERSION, **result}
    text = json.dumps(result, indent=1, default=_json_default) + "\n"
    files = {**(attachments or {}), ".json": text.encode()}
    try:
        return _publish(ensure_writable(Path(results_dir)), stem, files)
    except (OSError, ResultsDirError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        kept = _keep_elsewhere(stem, files)
        where = f"kept in {kept}" + (f" (with its {', '.join(attachments)})" if attachments else "") if kept \
            else "printed below on stdout (no temporary directory could take it either)"
        raise ResultWriteError(f"could not write the result into {results_dir} ({why}); the result is {where}",
                               kept, text) from e


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path, limit: int | None = MAX_RESULT_BYTES, what: str = "a result file"):
    """A file's JSON, or ValueError naming why it is unusable (unreadable, not a regular file, larger
    than `limit` bytes, not JSON, nested too deep)."""
    try:
        return json.loads(read_bounded(path, limit, what))
    except FileRefused:
        raise
    except OSError as e:
        raise ValueError(f"cannot be read ({e.strerror or e})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"not valid JSON ({e})") from None


# What `harness sweep` writes beside the results (harness.sweep.manifest): not a result, never a bad file
SWEEP_MANIFEST = "sweep-manifest.json"


def load_results(results_dir: Path) -> tuple[list[tuple[Path, dict]], list[tuple[Path, str]]]:
    """Every harness result in `results_dir` that passes its schema: (loaded [(path, result)],
    skipped [(path, why)]). Anything else is skipped with the reason, never fatal; pytest-benchmark
    files are skipped here ("pytest-benchmark file") and read by the report on their own."""
    loaded, skipped = [], []
    for path in sorted(Path(results_dir).glob("*.json")):
        if path.name == SWEEP_MANIFEST:
            continue
        if not path.is_file():
            skipped.append((path, "not a file"))
            continue
        try:
            data = read_json(path)
        except ValueError as e:
            skipped.append((path, str(e)))
            continue
        if isinstance(data, dict) and "schema_version" not in data and "benchmarks" in data:
            skipped.append((path, "pytest-benchmark file"))
            continue
        why = validate_result(data)
        if why:
            skipped.append((path, why))
        else:
            loaded.append((path, data))
    return loaded, skipped
