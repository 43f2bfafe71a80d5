"""A plugin that imports fine but raises while registering (used by test_plugins)."""
from harness.hookspecs import hookimpl


@hookimpl
def harness_register_backends(register):
    raise RuntimeError("this plugin is broken on purpose")
