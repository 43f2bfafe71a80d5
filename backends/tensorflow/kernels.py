"""Kernels per training example for any TensorFlow session, read from TensorFlow's profiler.

`count(session, steps)` trains `steps` under tf.profiler and counts, in the trace (XSpace
protobuf, parsed with the xplane_pb2 TensorFlow ships):
- on a GPU: the kernels on the `/device:GPU:N` planes' stream lines (copies and sets left out);
- on the CPU, by what the strategy runs: the XLA thunks executed (events carrying an `hlo_op`:
  fusions, library matmuls, copies, loops) where there are any; else the ops TensorFlow's graph
  executor ran (`name:Type` events on its tf_Compute threads); else the ops executed eagerly.
  Operations, not launches, and labelled so;
and the calls into TensorFlow's runtime from Python (EagerKernelExecute: an eager op, a function
call, a copy) as dispatches. Each divided by the number of examples. The session trains on.
"""
from __future__ import annotations

import glob
import re
import tempfile

from . import settings

_NOT_A_KERNEL = re.compile(r"^(memcpy|memset|Memcpy|Memset)")
_GRAPH_OP = re.compile(r"^[^:]+:[A-Za-z0-9_]+$")  # "name:OpType"; bookkeeping events are "Class::method"
# Examples traced; the rest of `steps` trains untraced. TensorFlow's graph executor, once it has
# timed its ops, runs the cheap ones inline, where the profiler no longer sees them (77 ops per
# example of `function` cold, ~7 after a few thousand calls; host_tracer_level=3 changes nothing):
# a session that offers fresh_step() is traced through a step traced anew, its executor cold.
TRACED = 16


def _trace(session, steps, fresh_step=None):
    """The XSpace of one session.train_steps(steps) call (with a freshly traced step where the
    session offers one)."""
    tf = settings.load()
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory(prefix="harness-kernels-") as d:
        session.sync()
        tf.profiler.experimental.start(d)
        try:
            session.train_steps(steps, step=fresh_step()) if fresh_step else session.train_steps(steps)
            session.sync()
        finally:
            tf.profiler.experimental.stop()
        files = glob.glob(f"{d}/**/*.xplane.pb", recursive=True)
        if not files:
            raise RuntimeError("tf.profiler wrote no trace")
        space = xplane_pb2.XSpace()
        with open(files[0], "rb") as f:
            space.ParseFromString(f.read())
    return space


def tally(space) -> dict[str, int]:
    """Counts in a trace: gpu_kernels (None without a GPU plane), xla_thunks, graph_ops, eager_ops."""
    out = {"gpu_kernels": None, "xla_thunks": 0, "graph_ops": 0, "eager_ops": 0}
    for plane in space.planes:
        name_of = {k: m.name for k, m in plane.event_metadata.items()}
        stat_of = {k: m.name for k, m in plane.stat_metadata.items()}
        if plane.name.startswith("/device:GPU"):
            lines = [ln for ln in plane.lines if "stream" in ln.name.lower()] or list(plane.lines)
            n = sum(1 for ln in lines for e in ln.events if not _NOT_A_KERNEL.match(name_of[e.metadata_id]))
            out["gpu_kernels"] = (out["gpu_kernels"] or 0) + n
            continue
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for e in line.events:
                name = name_of[e.metadata_id]
                if any(stat_of.get(s.metadata_id) == "hlo_op" for s in e.stats):
                    out["xla_thunks"] += 1
                elif _GRAPH_OP.match(name):
                    out["graph_ops"] += 1
                elif name == "EagerKernelExecute":
                    out["eager_ops"] += 1
    return out


def count(session, steps) -> dict:
    """Kernels (GPU), or XLA thunks / graph ops / eager ops (CPU), and dispatches, per example, over
    the first TRACED examples of `steps` (the others train after)."""
    n = min(len(steps), TRACED)
    c = tally(_trace(session, steps.slice(0, n), getattr(session, "fresh_step", None)))
    if len(steps) > n:
        session.train_steps(steps.slice(n, len(steps)))
    if c["gpu_kernels"]:
        kernels, unit, what = c["gpu_kernels"], "kernels", "GPU kernel events (stream lines, copies left out)"
    elif c["xla_thunks"]:
        kernels, unit, what = c["xla_thunks"], "XLA thunks", "XLA CPU thunks executed (events with an hlo_op)"
    elif c["graph_ops"]:
        kernels, unit, what = c["graph_ops"], "TF graph ops", "ops run by TensorFlow's graph executor"
    else:
        kernels, unit, what = c["eager_ops"], "TF eager ops", "ops executed eagerly (EagerKernelExecute)"
    if not kernels:
        raise RuntimeError("the profiler trace holds no kernel or op events")
    return {"kernels": kernels / n, "unit": unit, "dispatches": c["eager_ops"] / n, "examples": n,
            "how": f"tf.profiler: {what} over {n} examples; dispatches: calls into TensorFlow's runtime "
                   f"from Python (EagerKernelExecute)"}
