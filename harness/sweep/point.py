"""One sweep point, executed anywhere: `harness run` in a child process writing into a private
directory, read back and returned as data. The child never writes into the sweep's results
directory: only the driver does.

The private directory (`tempfiles.mkdtemp`: named after this process's host and pid) sits in
`workdir` when the executor gives one (the local executor: the results directory's
`.sweep/work/`, where a later sweep finds and adopts a finished result whose driver was
killed before it stored it), else under the system's temporary directory (a Ray worker, whose
disk the driver cannot see; leftovers of dead workers there are removed by the next point).
`point.meta` in it says whose it is: the point, this process, the child.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import tempfiles
from ..config import RunConfig
from ..results import atomic_write_text, now_iso, read_json
from .claims import owner, process_record

REASON_CHARS = 500
META = "point.meta"
_ACTIVE: set[str] = set()  # private directories of this process's points, running or kept


def active(d: Path) -> bool:
    """Whether `d` is a private directory this process is still using."""
    return str(d) in _ACTIVE


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the worker that started it dies (a cancelled Ray task)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def command(cfg: RunConfig, tmp: str, save_params: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "harness.cli", "run", *cfg.to_args(), "-q", "--results-dir", tmp]
    return cmd + (["--save-params"] if save_params else [])


def _signal_name(n: int) -> str | None:
    try:
        return signal.Signals(n).name
    except ValueError:
        return None


def exit_reason(rc: int) -> str:
    """`killed by SIGKILL (signal 9)` for a child a signal ended; `exit status N` otherwise, with the
    signal named when N is 128 + a signal (the child handled it and exited so)."""
    if rc < 0:
        return f"killed by {_signal_name(-rc) or 'signal'} (signal {-rc})"
    if rc > 128 and (name := _signal_name(rc - 128)):
        return f"exit status {rc} (128 + {name}: stopped by signal {rc - 128})"
    return f"exit status {rc}"


def _reason(proc_rc: int, stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("harness: error:")]
    text = (errs or lines or [""])[-1]
    return exit_reason(proc_rc) + (f": {text[:REASON_CHARS]}" if text else "")


def _private_dir(workdir: Path | None) -> Path:
    if workdir is None:
        workdir = Path(tempfile.gettempdir()) / "harness-points"
        workdir.mkdir(parents=True, exist_ok=True)
        tempfiles.remove_stale(workdir)  # points of workers that died here before
    else:
        workdir.mkdir(parents=True, exist_ok=True)
    return tempfiles.mkdtemp(workdir, "point")


def _child_env(cfg: RunConfig, env: dict | None, cotenants: int | None) -> dict:
    child_env = {**os.environ, **(env or {})}
    child_env.pop("HARNESS_COTENANTS", None)
    if cfg.threads is None and "OMP_NUM_THREADS" not in (env or {}):
        child_env.pop("OMP_NUM_THREADS", None)  # Ray sets it to the task's CPUs; no threads: the framework's choice
    if cotenants is not None:  # known at start (local: 0); Ray fills it in from its ledger afterwards
        child_env["HARNESS_COTENANTS"] = str(cotenants)
    return child_env


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait(proc: subprocess.Popen, timeout: float | None) -> tuple[str, str, bool]:
    """(stdout, stderr, whether the child ran past `timeout` seconds and was stopped)."""
    try:
        return (*proc.communicate(timeout=timeout), False)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return (*proc.communicate(), True)
    except BaseException:  # interrupted or cancelled: take the child down with us
        _stop(proc)
        raise


def read_back(d: Path, out: dict) -> dict:
    """Fill `out` with the one result (and .npz) in private directory `d`, or a reason."""
    files = sorted(d.glob("*.json"))
    if len(files) != 1:
        return {**out, "ok": False, "reason": f"expected one result file, found {len(files)}"}
    try:
        out["result"] = read_json(files[0])
    except ValueError as e:
        return {**out, "ok": False, "reason": f"its result {files[0].name} {e}"}
    out["result_name"] = files[0].name
    npz = files[0].with_suffix(".npz")
    out["npz"] = npz.read_bytes() if npz.exists() else None
    out["ok"] = True
    return out


def run_point(cfg_dict: dict, *, cotenants: int | None = 0, save_params: bool = False, env: dict | None = None,
              where: dict | None = None, workdir: Path | None = None, keep: bool = False,
              timeout: float | None = None) -> dict:
    """Run one point; return {"ok", "result" | "reason", "npz", "where", "seconds", ...}.
    A child still running after `timeout` seconds is stopped and the point fails, saying so.

    `where` (node id, assigned resources) is filled in by the executor; hostname and pid here.
    With `keep`, a finished point's private directory is left for the caller (`out["workdir"]`),
    who removes it (`discard`) once the result is stored.
    """
    cfg = RunConfig.from_dict(cfg_dict)
    out = {"ok": False, "where": {**(where or {}), "hostname": platform.node(), "pid": os.getpid()},
           "cotenants_at_start": cotenants}
    t0 = time.monotonic()
    d = _private_dir(Path(workdir) if workdir is not None else None)
    _ACTIVE.add(str(d))
    kept = False
    try:
        meta = {"config": cfg.to_dict(), "owner": owner("", role="point runner"), "where": out["where"],
                "cotenants": cotenants, "child": None, "started": now_iso()}
        atomic_write_text(d / META, json.dumps(meta) + "\n")  # before the child: whose directory this is
        proc = subprocess.Popen(command(cfg, str(d), save_params), env=_child_env(cfg, env, cotenants),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509 (only a prctl, no locks)
        atomic_write_text(d / META, json.dumps({**meta, "child": process_record(proc.pid)}) + "\n")
        stdout, stderr, late = _wait(proc, timeout)
        out["seconds"] = time.monotonic() - t0
        out["stdout_tail"] = stdout[-2000:]
        if late:
            return {**out, "reason": f"ran past --point-timeout {timeout:g} s; stopped ({exit_reason(proc.returncode)})"}
        if proc.returncode != 0:
            return {**out, "reason": _reason(proc.returncode, stderr)}
        out = read_back(d, out)
        kept = keep and out["ok"]
        if kept:
            out["workdir"] = str(d)
        return out
    finally:
        if not kept:
            shutil.rmtree(d, ignore_errors=True)
            _ACTIVE.discard(str(d))


def let_go(out: dict) -> None:
    """Keep a private directory whose result could not be stored, for a later sweep to adopt."""
    _ACTIVE.discard(out.get("workdir"))


def discard(out: dict) -> None:
    """Remove a kept private directory (its result is stored)."""
    if out.get("workdir"):
        shutil.rmtree(out["workdir"], ignore_errors=True)
        _ACTIVE.discard(out["workdir"])
