"""The plugin registry's words for each way a plugin can fail an author (harness.plugins): a hook
that registers nothing, a hook not marked @hookimpl, an entry point with no hook, a registration that
raises, a backend name registered twice, a check() that raises; each reason exact, and the errors
`get` raises naming what is known and available."""
from __future__ import annotations

import types

import pluggy
import pytest

from harness import hookspecs, plugins
from harness.backend import BackendUnavailable
from harness.errors import PluginError, UnknownBackend
from harness.hookspecs import hookimpl


class _Backend:
    strategies = ("only",)
    description = "test backend"

    def __init__(self, name, check_raises=None):
        self.name, self.check_raises = name, check_raises

    def check(self):
        if self.check_raises is not None:
            raise self.check_raises

    def strategy_devices(self, strategy):
        return ["cpu"]


class RegistersNothing:
    @hookimpl
    def harness_register_backends(self, register):
        pass


class NotMarked:
    def harness_register_backends(self, register):
        register(_Backend("never"))


class Raises:
    @hookimpl
    def harness_register_backends(self, register):
        raise RuntimeError("plugin bug")


class Twice:
    @hookimpl
    def harness_register_backends(self, register):
        register(_Backend("dup-x"))


def _pm(*plugins_):
    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(hookspecs)
    for p in plugins_:
        pm.register(p)
    return pm


def test_registers_nothing_says_which_mistake_it_was():
    hooked, unmarked = RegistersNothing(), NotMarked()
    pm = _pm(hooked, unmarked)
    assert plugins._registers_nothing(pm, hooked) == (
        "registered no backend: its harness_register_backends never called register(...)")
    assert plugins._registers_nothing(pm, unmarked) == (
        "registered no backend: its harness_register_backends is not marked @hookimpl (harness.hookimpl), "
        "so pluggy never calls it")
    module = types.ModuleType("mymodule")
    pm.register(module)
    assert plugins._registers_nothing(pm, module) == (
        "registered no backend: the entry point's object (mymodule) has no harness_register_backends")
    bare = object()
    assert plugins._registers_nothing(pm, bare) == (
        "registered no backend: the entry point's object (object) has no harness_register_backends")


@pytest.fixture
def registered():
    added = []

    def add(plugin, name):
        plugins.register_plugin(plugin, name=name)
        added.append(plugin)

    yield add
    for p in added:
        plugins.unregister_plugin(p)


def test_registry_records_each_failing_plugin_by_name(registered):
    registered(RegistersNothing(), "t-nothing")
    registered(NotMarked(), "t-unmarked")
    registered(Raises(), "t-raises")
    registered(Twice(), "t-twice-1")
    registered(Twice(), "t-twice-2")
    reg = plugins.get_registry()
    assert reg.broken["t-nothing"].reason.endswith("never called register(...)")
    assert "is not marked @hookimpl" in reg.broken["t-unmarked"].reason
    assert {"t-nothing", "t-unmarked"} <= reg.empty and "t-raises" not in reg.empty
    assert reg.broken["t-raises"].reason.startswith("registration failed: RuntimeError: plugin bug")
    assert "dup-x" in reg.backends
    assert reg.broken["dup-x"].reason in ("registered twice (again by plugin 't-twice-1')",
                                          "registered twice (again by plugin 't-twice-2')")
    with pytest.raises(UnknownBackend) as e:
        reg.get("never")
    msg = str(e.value)
    assert msg.startswith("unknown backend 'never'; known backends: ")
    known = msg.split("known backends: ", 1)[1].split(";", 1)[0]
    assert "t-nothing" not in known and "t-unmarked" not in known  # empty plugins are not backends
    assert "; plugin 't-nothing' registered no backend: its harness_register_backends never called" in msg
    assert "; plugin 't-unmarked' registered no backend" in msg
    with pytest.raises(PluginError, match=r"^backend plugin 't-raises' is broken: registration failed"):
        reg.get("t-raises")


def test_reason_unavailable_asks_check_once_and_names_a_plugin_bug():
    reg = plugins.Registry(backends={"ok": _Backend("ok"),
                                     "gone": _Backend("gone", BackendUnavailable("no framework")),
                                     "bug": _Backend("bug", ZeroDivisionError("oops"))})
    assert reg.reason_unavailable("ok") is None
    assert reg.reason_unavailable("gone") == "no framework"
    assert reg.reason_unavailable("bug") == "check() raised ZeroDivisionError: oops"
    reg.backends["gone"].check_raises = None  # asked once: the first answer stands
    assert reg.reason_unavailable("gone") == "no framework"
    assert reg.available() == ["ok"]
    assert reg.names() == ["bug", "gone", "ok"]
    assert reg.get("ok") is reg.backends["ok"]
    with pytest.raises(BackendUnavailable) as e:
        reg.get("bug")
    assert str(e.value) == "backend 'bug' is unavailable: check() raised ZeroDivisionError: oops (available: ok)"
    with pytest.raises(UnknownBackend, match=r"^unknown backend 'x'; known backends: bug, gone, ok$"):
        reg.get("x")
    with pytest.raises(UnknownBackend, match=r"known backends: none$"):
        plugins.Registry().get("x")


def test_backends_registered_is_gone_after_the_block():
    with plugins.backends_registered(_Backend("t-temp"), name="t-temp-plugin"):
        assert plugins.get_registry().get("t-temp").name == "t-temp"
    with pytest.raises(UnknownBackend):
        plugins.get_registry().get("t-temp")


def test_one_line_names_the_type_the_words_and_the_innermost_real_frame():
    def inner():
        raise ValueError("bad thing")

    try:
        inner()
    except ValueError as e:
        got = plugins.one_line(e)
    line = inner.__code__.co_firstlineno + 1
    assert got == f"ValueError: bad thing (at {__file__}:{line})"
    assert plugins.one_line(KeyError("k")) == "KeyError: 'k'"  # never raised: no frame to name


def test_errors_exit_codes_and_families():
    from harness import errors

    usage = [errors.UnknownBackend, errors.UnknownStrategy, errors.ConfigError, errors.UnknownVariant,
             errors.RecipeError, errors.PluginError, errors.BackendUnavailable, errors.DeviceUnavailable,
             errors.Unsupported, errors.DataError, errors.ResultsDirError]
    assert all(issubclass(c, errors.UsageError) and c("x").exit_code == 2 for c in usage)
    assert all(issubclass(c, ValueError) for c in (errors.ConfigError, errors.UnknownVariant, errors.RecipeError))
    assert errors.BackendFailure("x").exit_code == 1 and issubclass(errors.BackendFailure, errors.Failure)
    assert errors.ResultWriteError("m", None, "{}").exit_code == 1
    e = errors.NonFiniteLoss(0, 3, float("inf"))
    assert (e.epoch, e.step, e.value, e.exit_code) == (0, 3, float("inf"), 1)
    assert str(e) == "loss became inf at pass 1, step 3 (example index 3); training stopped, no result written"
    assert errors.USAGE_ERRORS == (errors.UsageError,)
