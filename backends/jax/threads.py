"""XLA's CPU thread pool follows $HARNESS_THREADS (no jax import here; jax is handed in).

jax 0.10 offers no option for the size of the CPU client's intra-op thread pool:
XLA sizes it, once, when the client is created, from the CPUs the creating
thread may run on (its affinity mask). So the client is created with the calling
thread's mask narrowed to HARNESS_THREADS CPUs; afterwards every thread of the
process gets its mask back, so the pool's N threads run on any CPU, not pinned.
(`--xla_cpu_multi_thread_eigen=false` alone is not enough: XLA still runs
independent work on several pool threads.) When the pool cannot follow the
setting (jax's backends were created before this backend ran, no affinity
control on this platform, more threads asked for than CPUs), `record()` says
so; nothing is silently ignored.
"""
from __future__ import annotations

import os

_STATE: dict = {}  # how jax's clients were created, filled once per process


def requested() -> int | None:
    n = os.environ.get("HARNESS_THREADS")
    return int(n) if n else None


def _tasks() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def create_clients(jax) -> None:
    """Create jax's backends (first call only), the CPU pool sized by HARNESS_THREADS if set."""
    if _STATE:
        return
    from jax._src import xla_bridge

    n = requested()
    if xla_bridge.backends_are_initialized():
        _STATE.update(requested=n, pool=None,
                      reason="jax's backends existed before the harness's jax backend first ran")
        return
    if n is None:
        jax.devices()
        _STATE.update(requested=None, pool=None, reason="none requested: XLA's default, one per CPU")
        return
    if not hasattr(os, "sched_setaffinity"):
        jax.devices()
        _STATE.update(requested=n, pool=None, reason="no sched_setaffinity on this platform")
        return
    cpus = sorted(os.sched_getaffinity(0))
    masks = {t: os.sched_getaffinity(t) for t in _tasks()}
    os.sched_setaffinity(0, cpus[:n])
    try:
        jax.devices()  # creates every backend's client; the CPU pool gets min(n, len(cpus)) threads
    finally:
        for t in _tasks():  # threads born while narrowed (the pool's) get the caller's own mask
            try:
                os.sched_setaffinity(t, masks.get(t, set(cpus)))
            except OSError:  # a thread that has exited meanwhile
                pass
    _STATE.update(requested=n, pool=min(n, len(cpus)),
                  reason=None if n <= len(cpus) else f"only {len(cpus)} CPUs available")


def record() -> dict:
    """What to record: threads requested now, the pool size set at creation, and whether they agree."""
    now = requested()
    pool = _STATE.get("pool")
    honoured = now is None or pool == now
    rec = {"requested": now, "intra_op_pool": pool, "honoured": honoured,
           "how": "CPU client created with the creating thread's affinity narrowed to N CPUs, then restored"}
    if not honoured:
        rec["reason"] = _STATE.get("reason") or f"the pool was created for {_STATE.get('requested')} threads"
    return rec
