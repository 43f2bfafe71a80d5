"""Where the data live: --data-dir, $HARNESS_DATA_DIR or a per-user cache."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

ENV_DATA_DIR = "HARNESS_DATA_DIR"
_WHERE = f"--data-dir or ${ENV_DATA_DIR}"


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("lecun1989-harness")) / "data"


def resolve_data_dir(cli_value: str | Path | None = None) -> Path:
    """--data-dir, else $HARNESS_DATA_DIR, else default_data_dir().

    A directory the user named must exist; the default need not (yet), also when handed back here."""
    if cli_value is not None and str(cli_value) != "" and Path(cli_value).expanduser() == default_data_dir():
        return default_data_dir()
    for value, origin in ((cli_value, "--data-dir"), (os.environ.get(ENV_DATA_DIR), f"${ENV_DATA_DIR}")):
        if value is not None and str(value) != "":
            path = Path(value).expanduser()
            if not path.is_dir():
                what = "is not a directory" if path.exists() else "does not exist"
                raise DataError(f"data directory {path} (from {origin}) {what}")
            return path
    return default_data_dir()


def data_dir_origin(path: Path) -> str:
    """Where a resolved data directory came from, for messages: '$HARNESS_DATA_DIR', 'the default ...'."""
    env = os.environ.get(ENV_DATA_DIR)
    if env and Path(env).expanduser() == Path(path):
        return f"from ${ENV_DATA_DIR}"
    if Path(path) == default_data_dir():
        return f"the default, a per-user cache; --data-dir or ${ENV_DATA_DIR} choose another"
    return "from --data-dir"
