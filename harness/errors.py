"""Every user-facing error of the harness, and the exit status each gives.

`harness` (cli.main) catches HarnessError once: it prints the message as one line on
stderr and exits with the error's `exit_code`:

    2  UsageError: something the user asked for cannot be done here (an unknown name, a
       device or backend not reachable, a combination a backend does not support, bad
       data, a results directory that cannot be written); nothing was run.
    1  Failure: the run itself went wrong (a NaN loss, a backend that raised); nothing
       was written that claims success.

The classes keep the names and modules they always had (harness.data.DataError,
harness.backend.BackendUnavailable, ...): they are defined here and re-exported there, so
`except DataError` and plugins raising BackendUnavailable keep working. This module
imports nothing from the harness, so every module can import it.
"""
from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness reports to a user as one line."""

    exit_code = 1


class UsageError(HarnessError):
    """A user mistake or a request this machine cannot meet: exit 2, nothing run."""

    exit_code = 2


class Failure(HarnessError):
    """The work itself failed (not the request): exit 1."""

    exit_code = 1


# --- usage errors (exit 2)

class UnknownBackend(UsageError):
    """An unknown backend name; the message lists the known ones."""


class UnknownStrategy(UsageError):
    """A strategy no selected backend has; the message lists the available ones."""


class ConfigError(UsageError, ValueError):
    """A configuration out of bounds (harness.config's one validator), however it entered: the
    command line, a sweep, RunConfig(...) from Python. Also a ValueError, as Python callers expect."""


class UnknownVariant(ConfigError):
    """An unknown variant name; the message lists the variants."""


class RecipeError(ConfigError):
    """An unknown recipe knob, a bad value, or a knob set where it has no effect: the message
    names the knob and what it allows."""


class PluginError(UsageError):
    """A plugin failed to import or to register; the message names it."""


class BackendUnavailable(UsageError):
    """Raised by Backend.check() when the framework is missing or broken: the reason."""


class DeviceUnavailable(UsageError):
    """Raised when a backend cannot reach the device asked for: says which it can."""


class Unsupported(UsageError):
    """A backend does not support the variant / dtype / strategy combination asked for
    (its declared `variants`, `dtypes` or `supports()`): the message says what it supports."""


class DataError(UsageError):
    """Data set missing, corrupt or unreadable; the message is one line naming the file."""


class ResultsDirError(UsageError):
    """The results directory cannot be created or written."""


# --- failures (exit 1)

class BackendFailure(Failure):
    """A backend raised while building a session or training: a plugin bug, named, exit 1."""


class ResultWriteError(Failure):
    """Writing a finished result failed; `fallback` is where it was kept instead (or None, and
    `text` is the result's JSON, for the caller to print)."""

    def __init__(self, message: str, fallback, text: str):
        super().__init__(message)
        self.fallback, self.text = fallback, text


class NonFiniteLoss(Failure):
    """Training produced a NaN or infinite loss; says at which pass and step."""

    def __init__(self, epoch: int, step: int, value: float):
        self.epoch, self.step, self.value = epoch, step, value
        super().__init__(
            f"loss became {value} at pass {epoch + 1}, step {step} (example index {step}); "
            "training stopped, no result written"
        )


# The usage errors by their old grouping (cli.main caught this tuple before HarnessError existed).
USAGE_ERRORS = (UsageError,)
