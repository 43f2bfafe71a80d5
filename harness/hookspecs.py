"""The hook specifications: the one contract between the harness and its plugins."""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_register_backends(register):
    """Register the backends this plugin provides.

    Called once when the plugin manager loads. A plugin must not import its
    framework here: a backend whose framework is missing is registered all the
    same and reports itself unavailable from ``Backend.check()``.

    :param register: call ``register(backend)`` once per backend, where
        ``backend`` implements :class:`harness.backend.Backend`.
    :return: None
    """
