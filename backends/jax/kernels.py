"""Kernels per training example for any jax session, read from jax's profiler.

`count(session, steps)` trains `steps` under `jax.profiler.trace` and counts, in the trace:
- on a GPU: the kernels the device ran (CUPTI's events on the `/device:GPU:N` planes' stream
  lines; memory copies and sets left out), and
- on the CPU: the XLA thunks the CPU runtime executed (fusions, library calls such as the
  YNNPACK/Eigen matrix products, copies, loops): operations, not launches, and labelled so;
and on both the compiled executables the host dispatched (one per call of a jitted function).
Each is divided by the number of examples. The session trains on: call it after timing.
"""
from __future__ import annotations

import glob
import re
import tempfile

# Trace events on the CPU runtime's thread that are bookkeeping, not an operation of the program.
_CPU_BOOKKEEPING = re.compile(r"^(end: |ThunkExecutor::|ThreadpoolListener::)")
# Host-side events, one per executable dispatched (the names differ between PjRt clients; a
# dispatch may show several of them, nested, so the largest count of one name is taken).
_DISPATCH = re.compile(r"Executable::Execute(HelperOnSingleDevice|Helper|Sharded|)$")
# The CPU runtime's threads (tf_XLAPjRtCpuClient/..., its worker pools), not its compiler's
# (tf_xla-cpu-codegen, tf_PjRtCompilerThreadPool): a trace may catch a compilation too.
_CPU_RUNTIME = re.compile(r"^tf_XLA")
_NOT_A_KERNEL = re.compile(r"^(memcpy|memset|Memcpy|Memset|cudaMemcpy|cuMemcpy)")


def _trace(session, steps):
    """The ProfileData of one session.train_steps(steps) call."""
    import jax

    with tempfile.TemporaryDirectory(prefix="harness-kernels-") as d:
        session.sync()
        with jax.profiler.trace(d):
            session.train_steps(steps)
            session.sync()
        files = glob.glob(f"{d}/**/*.xplane.pb", recursive=True)
        if not files:
            raise RuntimeError("jax.profiler wrote no trace")
        return jax.profiler.ProfileData.from_file(files[0])


def _dispatches(profile) -> int:
    counts: dict[str, int] = {}
    for plane in profile.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            for e in line.events:
                if _DISPATCH.search(e.name):
                    counts[e.name] = counts.get(e.name, 0) + 1
    return max(counts.values(), default=0)


def _gpu_kernels(profile) -> int | None:
    """Kernel events on the GPU planes' stream lines (every line where none is named a stream)."""
    planes = [p for p in profile.planes if p.name.startswith("/device:GPU")]
    if not planes:
        return None
    n = 0
    for p in planes:
        lines = list(p.lines)
        streams = [ln for ln in lines if ln.name.lower().startswith("stream")] or lines
        n += sum(1 for ln in streams for e in ln.events if not _NOT_A_KERNEL.match(e.name))
    return n


def _cpu_thunks(profile) -> int:
    """Operations the XLA CPU runtime executed: events on its client threads, bookkeeping left out."""
    n = 0
    for plane in profile.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if _CPU_RUNTIME.search(line.name):
                n += sum(1 for e in line.events if not _CPU_BOOKKEEPING.match(e.name))
    return n


def count(session, steps) -> dict:
    """Kernels (GPU) or XLA thunks (CPU) per example, and executables dispatched per example."""
    n = len(steps)
    profile = _trace(session, steps)
    kernels = _gpu_kernels(profile)
    if kernels is None and getattr(getattr(session, "device", None), "platform", "cpu") == "gpu":
        raise RuntimeError("jax.profiler's trace has no GPU plane: CUPTI was not available to it "
                           "(another profiler in this process holding it?)")
    if kernels is not None:
        unit, how = "kernels", (f"jax.profiler: GPU kernel events (CUPTI, stream lines, copies left out) "
                                f"over {n} examples")
    else:
        kernels = _cpu_thunks(profile)
        unit, how = "XLA thunks", (f"jax.profiler: XLA CPU thunks executed (fusions, library calls, copies, "
                                   f"loops; not launches) over {n} examples")
    if kernels == 0:
        raise RuntimeError("the profiler trace holds no kernel or thunk events")
    return {"kernels": kernels / n, "unit": unit, "dispatches": _dispatches(profile) / n,
            "examples": n, "how": how}
