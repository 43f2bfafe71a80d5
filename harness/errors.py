"""User-facing error types: the CLI prints their message on one line and exits 2."""
from __future__ import annotations

from .backend import BackendUnavailable, DeviceUnavailable
from .data import DataError
from .plugins import PluginError, UnknownBackend
from .results import ResultsDirError


class UnknownStrategy(Exception):
    pass


class UnknownVariant(Exception):
    pass


class Unsupported(Exception):
    """A backend does not support the variant / dtype / strategy combination asked for
    (its declared `variants`, `dtypes` or `supports()`): the message says what it supports."""


USAGE_ERRORS = (
    UnknownBackend, UnknownStrategy, UnknownVariant, BackendUnavailable, DeviceUnavailable,
    DataError, ResultsDirError, PluginError, Unsupported,
)


class BackendFailure(Exception):
    """A backend raised while building a session or training: a plugin bug, named, exit 1."""
