"""`harness data fetch|list`: get the data sets ahead of time, and say where each one is, whether
it verified, and where it would come from. Self-contained: the CLI adds it with add_command."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import DataError
from .checks import _file_digest
from .fetch import (
    ENV_MIRROR,
    ENV_OFFLINE,
    candidate_urls,
    mirror_base,
    offline,
    present,
)
from .paths import ENV_DATA_DIR, data_dir_origin, default_data_dir, resolve_data_dir
from .registry import REGISTRY

_ALL = "all"


def _data_dir_option(f):
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=f"The data directory (default: ${ENV_DATA_DIR}, else a per-user cache: "
                             f"{default_data_dir()}).")(f)


def _names(values: tuple[str, ...], default: tuple[str, ...]) -> list[str]:
    """--dataset given as repeated options or a comma list; 'all' for every data set with files."""
    names = [n.strip().lower() for v in values for n in v.split(",") if n.strip()] or list(default)
    if _ALL in names:
        return list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY and n != "synthetic"]
    if unknown:
        raise click.BadParameter(f"unknown data set {unknown[0]!r}; available: {', '.join(REGISTRY)}, synthetic "
                                 f"(needs no files), {_ALL}", param_hint="--dataset")
    return names


@click.group()
def data():
    """Get the data sets ahead of time (`fetch`), or see where they are (`list`).

    \b
    A data set missing from the data directory is fetched on first use anyway. Sources, in order:
      $HARNESS_DATA_MIRROR   a base URL serving the data directory's layout (usps/usps.h5, ...)
      the public sources     `harness data list` names them; not tried when $HARNESS_DATA_OFFLINE=1
    Each file is checked against its known hash; a wrong one is refused and removed.
    """


@data.command()
@click.option("--datasets", "--dataset", "datasets", multiple=True, metavar="NAME",
              help=f"Data set(s) to fetch: {', '.join(REGISTRY)} or {_ALL} (repeat, or comma-separated; "
                   "default: usps, the one every command uses unless told otherwise).")
@_data_dir_option
@click.option("--quiet", "-q", is_flag=True, help="Say nothing while downloading (no lines, no progress bar).")
def fetch(datasets, data_dir, quiet):
    """Fetch and verify data sets into the data directory (created if missing).

    Each file is checked against its known hash, then the data set is read once and checked
    (shapes, value ranges, class counts), exactly as a run would read it."""
    from . import load_dataset

    names = _names(datasets, ("usps",))
    if data_dir is not None:
        try:
            Path(data_dir).expanduser().mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # resolve_data_dir says what is wrong with it, in one line
    root = resolve_data_dir(data_dir)
    for name in names:
        if name == "synthetic":
            click.echo("synthetic: nothing to fetch (built in)")
            continue
        ds = load_dataset(name, root, download=True, quiet=quiet)
        origin = ds.source["origin"]
        click.echo(f"{name}: ready in {root} ({data_dir_origin(root)}): {origin['source']}, "
                   f"{ds.source['n_train']} train + {ds.source['n_test']} test images")
        fetched = {f["path"]: f["url"] for f in origin["fetched"]}
        for f in ds.source["files"]:
            alg = "sha256" if "sha256" in f else "md5"
            how = f"fetched from {fetched[f['path']]}" if f["path"] in fetched else "already here"
            click.echo(f"  {f['path']}  {alg} {f[alg]} verified, {how}")
    return 0


@data.command(name="list")
@_data_dir_option
def list_(data_dir):
    """Each data set: where it is, whether its files verify, and where it would come from."""
    root = resolve_data_dir(data_dir)
    click.echo(f"data directory: {root} ({data_dir_origin(root)})")
    mirror = mirror_base()
    click.echo(f"mirror (${ENV_MIRROR}): {mirror or 'not set'}; public sources: "
               f"{f'off (${ENV_OFFLINE})' if offline() else 'on'}")
    for name, srcs in REGISTRY.items():
        click.echo("")
        click.echo(f"{name}: {_status(root, name)}")
        for src in srcs:
            click.echo(f"  source {src.key}: {src.title}" + (f" <{src.page}>" if src.page else ""))
            for f in src.files:
                click.echo(f"    {f.path}  [{_file_state(root, f)}]")
                click.echo(f"      from: {_from(f)}")
    click.echo("")
    click.echo("synthetic: built in, no files")
    return 0


def _from(f) -> str:
    urls = candidate_urls(f)
    if urls:
        return ", ".join(urls)
    return (f"nowhere: public sources off (${ENV_OFFLINE}) and no mirror set" if f.urls
            else f"nowhere: only a mirror serves it, and ${ENV_MIRROR} is not set")


def _status(root: Path, name: str) -> str:
    src = present(root, name)
    if src is None:
        return "missing (fetched on first use, or now with `harness data fetch --dataset " + name + "`)"
    bad = [f.path for f in src.files if _file_state(root, f) != "verified"]
    return (f"here: the {src.key} source, " + ("verified" if not bad else f"WRONG HASH: {', '.join(bad)} "
                                               "(replace it, or remove it to fetch it again)"))


def _file_state(root: Path, f) -> str:
    path = root / f.path
    if not path.exists():
        return "missing"
    if not path.is_file():
        return "not a file"
    try:
        return "verified" if _file_digest(path, f.algorithm) == f.digest else f"wrong {f.algorithm}"
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
