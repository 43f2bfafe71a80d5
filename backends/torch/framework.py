"""torch itself, imported on first use, and the devices it reaches (the package's lowest module).

Nothing here imports torch at import time: `import_torch()` does, when a session or a query
needs it, so a machine without torch lists the backend as unavailable instead of failing to
start the harness.
"""
from __future__ import annotations

from harness.backend import BackendUnavailable, DeviceUnavailable

INSTALL_HINT = "install with: pip install 'lecun1989-harness[torch]'"


def import_torch():
    """The torch module; BackendUnavailable with the reason if it cannot be imported."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising OSError
        raise BackendUnavailable(f"torch cannot be imported ({type(e).__name__}: {e}); {INSTALL_HINT}") from e
    return torch


def all_devices(torch) -> list[str]:
    """Every device torch reaches here: "cpu", then "cuda" and "cuda:N", then "mps"."""
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
        devs += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devs.append("mps")
    return devs


def resolve_device(torch, device: str, available: list[str]):
    """`device` as a torch.device, or DeviceUnavailable naming the devices available."""
    if device not in available:
        raise DeviceUnavailable(
            f"torch cannot reach device {device!r} here; available: {', '.join(available)}")
    return torch.device(device)


def sync(torch, device) -> None:
    """Wait for the work queued on `device` (a torch.device); nothing to wait for on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
