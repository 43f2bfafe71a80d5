"""jax, flax and optax, imported on first use, and the devices jax reaches (the package's lowest
module besides threads.py).

Nothing here imports jax at import time: `import_jax()` does, when a session or a query needs
it, so a machine without jax lists the backend as unavailable instead of failing to start the
harness.
"""
from __future__ import annotations

from harness.backend import BackendUnavailable, DeviceUnavailable

from . import threads

INSTALL_HINT = "install with: pip install 'lecun1989-harness[jax]'"


def import_jax():
    """Import jax, flax.linen and optax; BackendUnavailable with the reason if any fails."""
    try:
        import flax.linen  # noqa: F401
        import jax
        import optax  # noqa: F401
    except Exception as e:  # ImportError, or a broken install raising something else
        raise BackendUnavailable(f"jax/flax/optax cannot be imported ({type(e).__name__}: {e}); "
                                 f"{INSTALL_HINT}") from e
    threads.create_clients(jax)  # the CPU pool sized by HARNESS_THREADS, before any use
    return jax


def _platform_devices(jax, platform: str) -> list:
    try:
        return list(jax.devices(platform))
    except RuntimeError:  # "Unknown backend" / no such platform here
        return []


def device_table(jax) -> dict[str, object]:
    """Device names, torch-style ("cpu", "cuda", "cuda:N", "tpu", "tpu:N"), -> jax devices."""
    table: dict[str, object] = {"cpu": jax.devices("cpu")[0]}
    gpus = _platform_devices(jax, "gpu")
    if gpus:
        table["cuda"] = gpus[0]
        table.update({f"cuda:{i}": d for i, d in enumerate(gpus)})
    tpus = _platform_devices(jax, "tpu")
    if tpus:
        table["tpu"] = tpus[0]
        table.update({f"tpu:{i}": d for i, d in enumerate(tpus)})
    return table


def resolve_device(jax, device: str):
    table = device_table(jax)
    if device not in table:
        raise DeviceUnavailable(f"jax cannot reach device {device!r} here; available: {', '.join(table)}")
    return table[device]
