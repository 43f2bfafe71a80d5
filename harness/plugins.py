"""The plugin manager: loads the `harness` entry-point group and collects backends."""
from __future__ import annotations

import contextlib
import importlib.metadata
import traceback
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .backend import Backend, BackendUnavailable
from .errors import PluginError, UnknownBackend


@dataclass
class BrokenPlugin:
    """A plugin that raised while loading or registering."""

    name: str
    reason: str


@dataclass
class Registry:
    backends: dict[str, Backend] = field(default_factory=dict)
    broken: dict[str, BrokenPlugin] = field(default_factory=dict)
    _unavailable: dict[str, str] = field(default_factory=dict)
    _checked: set[str] = field(default_factory=set)
    empty: set[str] = field(default_factory=set)  # plugins (by name) that registered no backend

    def reason_unavailable(self, name: str) -> str | None:
        """None when the backend can be used, else why not (the framework's import error...)."""
        if name in self.broken:
            return self.broken[name].reason
        if name not in self._checked:
            self._checked.add(name)
            try:
                self.backends[name].check()
            except BackendUnavailable as e:
                self._unavailable[name] = str(e)
            except Exception as e:  # noqa: BLE001 -- a plugin bug must not break the harness
                self._unavailable[name] = f"check() raised {type(e).__name__}: {e}"
        return self._unavailable.get(name)

    def available(self) -> list[str]:
        return [n for n in self.backends if self.reason_unavailable(n) is None]

    def names(self) -> list[str]:
        return sorted(set(self.backends) | set(self.broken))

    def get(self, name: str) -> Backend:
        """The backend called `name`, usable here; else UnknownBackend / PluginError / BackendUnavailable."""
        if name in self.broken:
            raise PluginError(f"backend plugin {name!r} is broken: {self.broken[name].reason}")
        if name not in self.backends:
            known = ", ".join(n for n in self.names() if n not in self.empty) or "none"
            empty = "".join(f"; plugin {n!r} {self.broken[n].reason}" for n in sorted(self.empty))
            raise UnknownBackend(f"unknown backend {name!r}; known backends: {known}{empty}")
        reason = self.reason_unavailable(name)
        if reason is not None:
            avail = ", ".join(self.available()) or "none"
            raise BackendUnavailable(f"backend {name!r} is unavailable: {reason} (available: {avail})")
        return self.backends[name]


def _registers_nothing(pm: pluggy.PluginManager, plugin: object) -> str:
    """Why a plugin that loaded registered no backend, in words its author can act on."""
    if pm.get_hookcallers(plugin):
        return "registered no backend: its harness_register_backends never called register(...)"
    if callable(getattr(plugin, "harness_register_backends", None)):
        return ("registered no backend: its harness_register_backends is not marked @hookimpl "
                "(harness.hookimpl), so pluggy never calls it")
    what = getattr(plugin, "__name__", type(plugin).__name__)
    return f"registered no backend: the entry point's object ({what}) has no harness_register_backends"


def one_line(e: BaseException) -> str:
    """An exception as one line, with the innermost frame of real code."""
    # The innermost frame of real code (importlib's frozen frames say nothing to a user).
    last = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith("<")][-1:]
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(e).__name__}: {e}{where}"


_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every entry point of group `harness` loaded.

    An entry point that raises at import is recorded as a BrokenPlugin, not fatal.
    """
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("harness")
        pm.add_hookspecs(hookspecs)
        broken: dict[str, BrokenPlugin] = {}
        for ep in importlib.metadata.entry_points(group="harness"):
            if pm.get_plugin(ep.name) is not None or ep.name in broken:
                continue
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as e:  # noqa: BLE001 -- a plugin that fails to import is listed, not fatal
                broken[ep.name] = BrokenPlugin(ep.name, f"import of {ep.value} failed: {one_line(e)}")
        pm._harness_broken = broken  # type: ignore[attr-defined]
        _pm = pm
    return _pm


def get_registry(refresh: bool = False) -> Registry:
    """All backends: those registered by plugins, and the broken plugins with their reasons."""
    global _registry
    if _registry is None or refresh:
        pm = get_plugin_manager()
        reg = Registry(broken=dict(getattr(pm, "_harness_broken", {})))
        for plugin in pm.get_plugins():
            name = pm.get_name(plugin) or repr(plugin)
            registered: list[Backend] = []
            try:
                # Call each plugin's impl on its own so one failing registration
                # is reported with its name and the others still register.
                caller = pm.subset_hook_caller("harness_register_backends", remove_plugins=[
                    p for p in pm.get_plugins() if p is not plugin])
                caller(register=registered.append)
            except Exception as e:  # noqa: BLE001 -- a failing registration is listed, not fatal
                reg.broken[name] = BrokenPlugin(name, f"registration failed: {one_line(e)}")
                continue
            if not registered:  # a forgotten @hookimpl reads as "unknown backend" unless said here
                reg.broken[name] = BrokenPlugin(name, _registers_nothing(pm, plugin))
                reg.empty.add(name)
                continue
            for backend in registered:
                if backend.name in reg.backends:
                    reg.broken[backend.name] = BrokenPlugin(
                        backend.name, f"registered twice (again by plugin {name!r})")
                    continue
                reg.backends[backend.name] = backend
        _registry = reg
    return _registry


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin object (a module or instance with hookimpls); for tests and embedding."""
    get_plugin_manager().register(plugin, name=name)
    get_registry(refresh=True)


def unregister_plugin(plugin: object = None, name: str | None = None) -> None:
    get_plugin_manager().unregister(plugin, name=name)
    get_registry(refresh=True)


class _BackendsPlugin:
    """A plugin offering given backend objects through the hook an entry-point plugin implements."""

    def __init__(self, backends: tuple):
        self.backends = backends

    @hookspecs.hookimpl
    def harness_register_backends(self, register):
        for b in self.backends:
            register(b)


@contextlib.contextmanager
def backends_registered(*backends: object, name: str):
    """Register backend objects for the length of a with-block (tests, embedding); they go through
    the same hook, checks and registry as an installed plugin's, and are gone afterwards."""
    plugin = _BackendsPlugin(backends)
    register_plugin(plugin, name=name)
    try:
        yield plugin
    finally:
        unregister_plugin(plugin)


def reset() -> None:
    """Forget the loaded plugins; the next call reloads the entry points (for tests)."""
    global _pm, _registry
    _pm, _registry = None, None
