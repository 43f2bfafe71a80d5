"""Kernels per training example for any torch session, read from torch.profiler.

`count(session, steps)` trains `steps` under torch.profiler and counts:
- on CUDA: the GPU kernels that ran (CUPTI's kernel activities, which include the kernels a
  replayed CUDA graph runs; memory copies and sets left out), and the launches the host made
  (cudaLaunchKernel, cuLaunchKernel for Triton's kernels, cudaGraphLaunch for a whole graph);
- on the CPU: the aten operators dispatched from outside aten (by Python, autograd or a compiled
  graph; not the operators those call in turn). These are operators, not kernel launches, and
  labelled so; inductor's generated C++ kernels run inside a compiled graph call and are not seen.
Each is divided by the number of examples. The session trains on: call it after timing.
"""
from __future__ import annotations

LAUNCH_CALLS = frozenset({"cudaLaunchKernel", "cudaLaunchKernelExC", "cudaLaunchCooperativeKernel",
                          "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch"})


def _profile(session, steps, cuda: bool):
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    session.sync()
    with profile(activities=activities) as prof:
        session.train_steps(steps)
        session.sync()
    return prof


def _kind(ev) -> str:
    """Kineto's activity type ("kernel", "gpu_memcpy", "cuda_runtime", "cpu_op", ...)."""
    kind = getattr(ev, "activity_type", None)
    if callable(kind):
        return kind()
    from torch.autograd import DeviceType

    if ev.device_type() == DeviceType.CUDA:
        return "gpu_memcpy" if ev.name().lower().startswith(("memcpy", "memset")) else "kernel"
    return "cpu_op"


def cuda_counts(prof) -> tuple[int, int]:
    """(GPU kernels run, launch calls made by the host) in a CUDA profile."""
    events = prof.profiler.kineto_results.events()
    kernels = sum(1 for e in events if _kind(e) == "kernel")
    launches = sum(1 for e in events if e.name() in LAUNCH_CALLS)
    return kernels, launches


def cpu_ops(prof) -> int:
    """aten operators whose caller is not an aten operator."""
    return sum(1 for e in prof.events() if e.name.startswith("aten::")
               and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")))


def count(session, steps, device) -> dict:
    """Kernels (CUDA) or aten operators (CPU) per example; launches per example on CUDA."""
    n = len(steps)
    cuda = getattr(device, "type", str(device).split(":")[0]) == "cuda"
    prof = _profile(session, steps, cuda)
    if cuda:
        kernels, launches = cuda_counts(prof)
        out = {"kernels": kernels / n, "unit": "kernels", "dispatches": launches / n,
               "how": f"torch.profiler: CUDA kernel activities (CUPTI; a CUDA graph's kernels included) "
                      f"over {n} examples; dispatches: cudaLaunchKernel/cuLaunchKernel/cudaGraphLaunch calls"}
    else:
        out = {"kernels": cpu_ops(prof) / n, "unit": "aten ops", "dispatches": None,
               "how": f"torch.profiler: aten operators dispatched from outside aten over {n} examples "
                      f"(operators, not launches; inductor's C++ kernels inside a compiled graph not seen)"}
    if not out["kernels"]:
        raise RuntimeError("the profile holds no kernel or operator events")
    return {**out, "examples": n}
