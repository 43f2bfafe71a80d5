"""The plugin manager: inline plugins, failing entry points, clear errors."""
import importlib.metadata

import pytest

from harness import plugins
from harness.backend import BackendUnavailable
from harness.cli import main
from harness.hookspecs import hookimpl


class FakeBackend:
    name = "fake"
    strategies = ("only",)
    description = "a backend registered inline by a test"

    def check(self):
        pass

    def devices(self):
        return ["cpu"]

    def strategy_devices(self, strategy):
        return ["cpu"]

    def environment(self, device):
        return {}

    def session(self, **kw):
        raise NotImplementedError


class MissingFramework(FakeBackend):
    name = "ghost"

    def check(self):
        raise BackendUnavailable("ghostframework cannot be imported (ModuleNotFoundError)")


class InlinePlugin:
    @hookimpl
    def harness_register_backends(self, register):
        register(FakeBackend())
        register(MissingFramework())


@pytest.fixture
def inline_plugin():
    p = InlinePlugin()
    plugins.register_plugin(p, name="inline-test")
    yield p
    plugins.unregister_plugin(p)


def test_inline_plugin_registers_and_unregisters(inline_plugin):
    reg = plugins.get_registry()
    assert reg.get("fake").description.startswith("a backend registered inline")
    assert "fake" in reg.available()
    plugins.unregister_plugin(inline_plugin)
    with pytest.raises(plugins.UnknownBackend, match="unknown backend 'fake'; known backends: .*torch"):
        plugins.get_registry().get("fake")
    plugins.register_plugin(inline_plugin, name="inline-test")  # for the fixture's teardown


def test_unavailable_backend_says_why(inline_plugin):
    reg = plugins.get_registry()
    assert "ghostframework" in reg.reason_unavailable("ghost")
    with pytest.raises(BackendUnavailable, match="ghost.*unavailable.*ghostframework"):
        reg.get("ghost")


def test_builtin_backends_come_from_entry_points():
    names = {ep.name for ep in importlib.metadata.entry_points(group="harness")}
    assert {"torch", "jax"} <= names
    assert {"torch", "jax"} <= set(plugins.get_registry().names())


def _more_entry_points(monkeypatch, extra):
    """The installed `harness` entry points followed by `extra`, for the length of a fixture."""
    real = importlib.metadata.entry_points

    def fake(**kw):
        eps = real(**kw)
        return list(eps) + extra if kw.get("group") == "harness" else eps

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    plugins.reset()
    yield
    monkeypatch.undo()
    plugins.reset()


@pytest.fixture
def broken_entry_points(monkeypatch):
    """Add entry points that fail at import and at registration, as a third party's might."""
    yield from _more_entry_points(monkeypatch, [
        importlib.metadata.EntryPoint("brokenimport", "harness_nosuch_plugin_module", "harness"),
        importlib.metadata.EntryPoint("brokenregister", "tests.broken_plugin", "harness"),
    ])


def test_failing_entry_points_are_reported_not_fatal(broken_entry_points, capsys):
    reg = plugins.get_registry()
    assert "harness_nosuch_plugin_module" in reg.broken["brokenimport"].reason
    assert "ModuleNotFoundError" in reg.broken["brokenimport"].reason
    assert "registration failed" in reg.broken["brokenregister"].reason
    assert "torch" in reg.backends  # the others still work
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "brokenimport" in out and "unavailable" in out
    with pytest.raises(plugins.PluginError, match="brokenimport"):
        reg.get("brokenimport")


def test_backends_lists_strategies_and_says_when_one_reaches_no_device(capsys, monkeypatch):
    class OnlyOnCuda:
        name, strategies, description = "cudaonly", ("fast", "slow"), "test backend"

        def check(self):
            pass

        def devices(self):
            return ["cpu"]

        def strategy_devices(self, strategy):
            return [] if strategy == "fast" else ["cpu"]

    with plugins.backends_registered(OnlyOnCuda(), name="cudaonly"):  # through the plugin hook
        assert main(["backends"]) == 0
        out = capsys.readouterr().out
        assert "fast: no device here" in out and "slow: cpu" in out


def test_cli_unknown_backend_is_one_line_exit_2(capsys):
    assert main(["run", "--backend", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown backend 'nosuch'" in err[0] and "torch" in err[0]


@pytest.fixture
def twice_named_entry_points(monkeypatch):
    """A name declared by two entry points (a package installed twice, or two distributions that
    chose the same name): the first one found is the plugin, the others are skipped."""
    yield from _more_entry_points(monkeypatch, [
        importlib.metadata.EntryPoint("torch", "harness_nosuch_second_torch", "harness"),
        importlib.metadata.EntryPoint("twicebroken", "harness_nosuch_first", "harness"),
        importlib.metadata.EntryPoint("twicebroken", "harness_nosuch_second", "harness"),
    ])


def test_the_first_entry_point_of_a_name_wins(twice_named_entry_points):
    import backends.torch

    pm = plugins.get_plugin_manager()
    assert pm.get_plugin("torch") is backends.torch  # the second "torch" was never imported
    reg = plugins.get_registry()
    assert "torch" not in reg.broken and "torch" in reg.backends
    reason = reg.broken["twicebroken"].reason  # one record, of the first entry point
    assert reason.startswith("import of harness_nosuch_first failed: ModuleNotFoundError: "
                             "No module named 'harness_nosuch_first' (at ")
    assert "harness_nosuch_second" not in reason
