"""One sweep point, executed anywhere: `harness run` in a child process writing into a private
temporary directory, read back and returned as data. This module never sees the sweep's results
directory: only the driver writes there."""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import RunConfig

REASON_CHARS = 500


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


def _reason(proc_rc: int, stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("harness: error:")]
    text = (errs or lines or [f"exit status {proc_rc}"])[-1]
    return f"exit status {proc_rc}: {text[:REASON_CHARS]}"


def run_point(cfg_dict: dict, *, cotenants: int | None = 0, save_params: bool = False, env: dict | None = None,
              where: dict | None = None) -> dict:
    """Run one point; return {"ok", "result" | "reason", "npz", "where", "seconds", "tmp"}.

    `where` (node id, assigned resources) is filled in by the executor; hostname and pid here.
    """
    cfg = RunConfig.from_dict(cfg_dict)
    child_env = {**os.environ, **(env or {})}
    child_env.pop("HARNESS_COTENANTS", None)
    if cfg.threads is None and "OMP_NUM_THREADS" not in (env or {}):
        child_env.pop("OMP_NUM_THREADS", None)  # Ray sets it to the task's CPUs; no threads: the framework's choice
    if cotenants is not None:  # known at start (local: 0); Ray fills it in from its ledger afterwards
        child_env["HARNESS_COTENANTS"] = str(cotenants)
    out = {"ok": False, "where": {**(where or {}), "hostname": platform.node(), "pid": os.getpid()},
           "cotenants_at_start": cotenants}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="harness-point-") as tmp:
        out["tmp"] = tmp
        proc = subprocess.Popen(command(cfg, tmp, save_params), env=child_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)  # noqa: PLW1509 (only a prctl, no locks)
        try:
            stdout, stderr = proc.communicate()
        except BaseException:  # interrupted or cancelled: take the child down with us
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        out["seconds"] = time.monotonic() - t0
        out["stdout_tail"] = stdout[-2000:]
        files = sorted(Path(tmp).glob("*.json"))
        if proc.returncode != 0 or len(files) != 1:
            why = _reason(proc.returncode, stderr) if proc.returncode else f"expected one result file, found {len(files)}"
            return {**out, "reason": why}
        out["result"] = json.loads(files[0].read_text())
        out["result_name"] = files[0].name
        npz = files[0].with_suffix(".npz")
        out["npz"] = npz.read_bytes() if npz.exists() else None
        out["ok"] = True
    return out
