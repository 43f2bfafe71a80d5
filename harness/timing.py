"""Clocks, statistics and environment metadata (framework-free)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

clock = time.perf_counter


def summarize(values_us: list[float] | np.ndarray) -> dict:
    """Median and spread of per-example times (microseconds)."""
    a = np.asarray(values_us, dtype=np.float64)
    if a.size == 0:
        return {"median": None, "p25": None, "p75": None, "min": None, "max": None, "n": 0}
    return {
        "median": float(np.median(a)),
        "p25": float(np.percentile(a, 25)),
        "p75": float(np.percentile(a, 75)),
        "min": float(a.min()),
        "max": float(a.max()),
        "n": int(a.size),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def busy_warning() -> str | None:
    """A warning when the machine is busier than its cores (1-minute load average), else None."""
    load = load_average()
    cores = usable_cores()
    if load is None or load[0] <= cores:
        return None
    return (f"warning: load average {load[0]:.2f} exceeds this machine's {cores} cores: "
            "other processes compete with this run, so its timing is pessimistic")


def cotenants() -> int | None:
    """How many other sweep points a sweep started beside this run on this machine ($HARNESS_COTENANTS)."""
    try:
        return int(os.environ["HARNESS_COTENANTS"])
    except (KeyError, ValueError):
        return None


def environment() -> dict:
    """What the core knows of the machine; backends add their framework's part."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "numpy": np.__version__,
        "env_threads": {k: os.environ[k] for k in (
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS",
            "CUDA_VISIBLE_DEVICES") if k in os.environ},
        "git_commit": git_commit(),
        "load_average_at_start": load_average(),  # 1, 5, 15 minutes
        "cotenants": cotenants(),
    }
