"""lecun1989 harness: the public API a backend plugin or a test suite builds on.

    from harness import Backend, Session, Steps, BackendUnavailable, DeviceUnavailable, hookimpl, RunConfig

Names are imported on first use (PEP 562), so `import harness` stays cheap and
the core imports no framework. `harness.testing` is the conformance kit.
"""
from __future__ import annotations

import importlib

# public name -> the module defining it
_API = {
    "Backend": "harness.backend",
    "Session": "harness.backend",
    "Steps": "harness.backend",
    "BackendOptions": "harness.backend",
    "SessionOptions": "harness.backend",
    "BackendUnavailable": "harness.backend",
    "DeviceUnavailable": "harness.backend",
    "unsupported_reason": "harness.backend",
    "hookimpl": "harness.hookspecs",
    "RunConfig": "harness.config",
    "Variant": "harness.spec",
    "VARIANTS": "harness.spec",
    "PluginError": "harness.plugins",
    "UnknownBackend": "harness.plugins",
    "UnknownStrategy": "harness.errors",
    "UnknownVariant": "harness.errors",
    "Unsupported": "harness.errors",
    "BackendFailure": "harness.errors",
}
__all__ = [  # noqa: RUF022 -- kept equal to sorted(_API), tested
    "Backend",
    "BackendFailure",
    "BackendOptions",
    "BackendUnavailable",
    "DeviceUnavailable",
    "PluginError",
    "RunConfig",
    "Session",
    "SessionOptions",
    "Steps",
    "UnknownBackend",
    "UnknownStrategy",
    "UnknownVariant",
    "Unsupported",
    "VARIANTS",
    "Variant",
    "hookimpl",
    "unsupported_reason",
]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
