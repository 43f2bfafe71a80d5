"""Fetching a data set's files into the data directory: $HARNESS_DATA_MIRROR first, then each
public source of the registry, in order, with pooch (imported lazily).

pooch downloads into a temporary file beside the target, checks the hash, and only then renames
it: a wrong hash, a broken connection or Ctrl-C leaves nothing under the real name (pooch removes
the temporary file). A progress bar is drawn on stderr when it is a terminal.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..errors import DataError
from .checks import _one_line
from .registry import DataFile, Source, sources

ENV_MIRROR = "HARNESS_DATA_MIRROR"
ENV_OFFLINE = "HARNESS_DATA_OFFLINE"
TIMEOUT = (10, 60)  # seconds: to connect, then between bytes (requests' (connect, read))
_CHUNK = 1 << 16


def mirror_base() -> str | None:
    """$HARNESS_DATA_MIRROR as a base URL ending in '/', or None when unset."""
    value = os.environ.get(ENV_MIRROR, "").strip()
    if not value:
        return None
    if not re.match(r"^https?://[^/\s]+", value):
        raise DataError(f"${ENV_MIRROR}={value!r} is not an http:// or https:// URL (a base URL that serves "
                        "files under the data directory's layout, e.g. http://host/data/ for usps/usps.h5)")
    return value.rstrip("/") + "/"


def offline() -> bool:
    """$HARNESS_DATA_OFFLINE set (1, true, yes): no public source is contacted; a mirror still is."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


def candidate_urls(f: DataFile) -> list[str]:
    """Where a file would come from, in order: the mirror, then its public sources."""
    base = mirror_base()
    return ([base + f.path] if base else []) + ([] if offline() else list(f.urls))


def present(data_dir: Path, dataset: str) -> Source | None:
    """The first source whose files are all in the data directory (not yet verified), or None."""
    for src in sources(dataset):
        if all((Path(data_dir) / f.path).is_file() for f in src.files):
            return src
    return None


def ensure(dataset: str, data_dir: Path, download: bool = True, quiet: bool = False):
    """(source, fetched, tried): the source whose files are now all present (None if none is),
    the files fetched now [{"path", "url"}], and the failed attempts [(url, reason)]."""
    src = present(data_dir, dataset)
    if src is not None or not download:
        return src, [], []
    tried: list[tuple[str, str]] = []
    for src in sources(dataset):
        fetched = []
        for f in src.files:
            if (Path(data_dir) / f.path).is_file():
                continue
            url = fetch_file(f, data_dir, tried, quiet)
            if url is None:
                break  # this source cannot be completed: the next one
            fetched.append({"path": f.path, "url": url})
        else:
            return src, fetched, tried
    return None, [], tried


def fetch_file(f: DataFile, data_dir: Path, tried: list, quiet: bool = False) -> str | None:
    """Download one file from its first URL that serves the right bytes; the URL, or None.
    Each failure is appended to `tried` as (url, reason)."""
    import pooch

    target = Path(data_dir) / f.path
    made = [d for d in (target.parent, *target.parent.parents) if not d.exists()]  # pooch creates these
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch says "Downloading ..." at INFO: we say it ourselves
    url = None
    try:
        for candidate in candidate_urls(f):
            if _fetch_one(pooch, f, target, candidate, tried, quiet):
                url = candidate
                return url
        return None
    finally:  # also on Ctrl-C: pooch removed its temporary file; remove the folders it made for it
        logger.setLevel(level)
        if url is None:
            for d in made:
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()


def _fetch_one(pooch, f: DataFile, target: Path, url: str, tried: list, quiet: bool) -> bool:
    if not quiet:
        print(f"harness: fetching {f.path} from {url}", file=sys.stderr, flush=True)
    bar = _Bar(f.path) if not quiet and sys.stderr.isatty() else False
    try:
        pooch.retrieve(url, known_hash=f.known_hash, fname=target.name, path=target.parent,
                       downloader=pooch.HTTPDownloader(progressbar=bar, timeout=TIMEOUT, chunk_size=_CHUNK))
        _usual_mode(target)
        return True
    except Exception as e:  # noqa: BLE001 -- every failure of one URL: the next URL
        tried.append((url, why(e)))
        if not quiet:
            print(f"harness:   failed: {tried[-1][1]}", file=sys.stderr, flush=True)
        return False
    finally:
        if bar:
            bar.close()


def _usual_mode(path: Path) -> None:
    """pooch's temporary file is private (0600): give the data file the mode any new file gets
    here, so a shared data directory stays readable by the others who use it."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def why(e: BaseException) -> str:
    """A download failure as a few words: 'HTTP 404', 'wrong SHA256 (...)', 'cannot connect'..."""
    import requests

    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    if isinstance(e, requests.exceptions.ChunkedEncodingError):
        return "connection broken mid-download (truncated)"
    if isinstance(e, requests.Timeout):
        return "timed out"
    if isinstance(e, requests.ConnectionError):
        return "cannot connect"
    text = str(e)
    m = re.search(r"(\w+) hash of downloaded file .* expected (\S+) but got (\w+)", text)
    if m:
        return f"wrong {m.group(1)} {m.group(3)[:16]}...: refused and removed"
    if isinstance(e, OSError) and e.strerror:
        return f"cannot write ({e.strerror})"
    return f"{type(e).__name__}: {_one_line(e, 100)}"


def tried_text(tried: list, download: bool) -> str:
    """What was tried, for the one-line error."""
    if not download:
        return "download disabled"
    if not tried:
        return (f"nothing to try: ${ENV_OFFLINE} is set and ${ENV_MIRROR} is not" if offline()
                else "no source to try")
    return "tried " + "; ".join(f"{url} ({reason})" for url, reason in tried)


class _Bar:
    """pooch's progress-bar protocol (total, update, reset, close), drawn with rich on stderr."""

    def __init__(self, label: str):
        self.label, self.total, self._progress, self._task = label, 0, None, None

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(TextColumn(self.label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                  console=Console(stderr=True), transient=True)
        self._progress.start()
        self._task = self._progress.add_task("", total=self.total or None)

    def update(self, n: int) -> None:
        if self._progress is None:
            self._start()
        self._progress.advance(self._task, n)

    def reset(self) -> None:
        if self._progress is not None:
            self._progress.reset(self._task, total=self.total or None)

    def close(self) -> None:
        if self._progress is not None:  # also after an error or Ctrl-C mid-download
            self._progress.stop()
            self._progress = None
