"""Options and option callbacks shared by the `harness` commands (run, parity, bench, sweep...)."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..config import RULES
from ..progress import out_console
from ..recipe import parse_sets
from ..spec import DTYPES, VARIANTS
from .tables import knobs_table


def _err(msg: str) -> None:
    """A one-line error on stderr, as `harness` prints every usage error."""
    click.echo(f"harness: error: {msg}", err=True)


def _names(text: str | None) -> list[str] | None:
    """A comma-separated option (--backends, --strategies, --devices) as a list; None: not given."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


# Options shared by the commands that train.
def data_options(f):
    f = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Folder holding usps/ and mnist/ (default: $HARNESS_DATA_DIR, else a per-user cache).")(f)
    f = click.option("--dataset", default="usps", show_default=True,
                     help="Data set: usps (the 1989 data), mnist (karpathy's 16x16 approximation), synthetic.")(f)
    return f


def _set_threads(ctx, param, value):
    # Read by the backends when they build a session (torch.set_num_threads); set before
    # any framework is imported so OpenMP picks it up too.
    if value is not None:
        for var in ("HARNESS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(value)
    ctx.meta["harness_threads"] = value  # for the RunConfig `run` records
    return value


def bounds(name: str) -> click.IntRange:
    """The range harness.config gives the field `name`: an option checks what the configuration would."""
    rule = RULES[name]
    return click.IntRange(min=rule.lo, max=rule.hi)


SEED = bounds("seed")  # what every NumPy generator here accepts


def _dir_not_empty(ctx, param, value):
    """--results-dir '' would silently mean the current directory: refuse it."""
    if value is not None and not str(value).strip():
        raise click.BadParameter("is empty; name a directory ('.' for the current one)", param=param)
    return None if value is None else Path(value)


def _list_not_empty(ctx, param, value):
    """A comma-separated list that names nothing ('' or ',') would silently mean 'all': refuse it.
    A repeated option (a tuple) is checked value by value, then joined with commas:
    `--backend a --backend b` = `--backends a,b`."""
    values = list(value) if isinstance(value, (tuple, list)) else [] if value is None else [value]
    for v in values:
        if not v.replace(",", "").strip():
            raise click.UsageError(f"{param.opts[0]} {v!r} names nothing; name at least one, or leave the "
                                   "option out for all")
    return ",".join(values) if values else None


# The one vocabulary (docs/cli.md): what a command takes as a list answers to the plural and the
# singular name alike, repeated or comma-separated, with the same short flag on every command.
SHORT = {"backend": "-b", "strategy": "-s", "device": "-d"}
PLURAL = {"backend": "backends", "strategy": "strategies", "device": "devices", "variant": "variants",
          "dataset": "datasets", "seed": "seeds", "dtype": "dtypes"}


def list_option(noun: str, help: str, dest: str | None = None, metavar: str = "NAME[,NAME...]"):
    """`--NOUNS/--NOUN [-x]` taking a list: repeat it or separate values with commas (one string,
    comma-joined, reaches the command; None when not given)."""
    names = [f"--{PLURAL[noun]}", f"--{noun}", *([SHORT[noun]] if noun in SHORT else [])]
    return click.option(*names, *([dest] if dest else []), multiple=True, callback=_list_not_empty,
                        metavar=metavar,
                        help=f"{help} Repeat the option or separate with commas; --{noun} and "
                             f"--{PLURAL[noun]} are the same option.")


def _sets(ctx, param, value):
    """--set KNOB=VALUE, repeatable -> {knob: value text}; `--set help` lists the knobs and exits."""
    if any(v.strip() == "help" for v in value):
        out_console().print(knobs_table())
        ctx.exit(0)
    return parse_sets(value)


SET_HELP = ("Set a recipe knob of the variant, KNOB=VALUE; repeatable (e.g. --set targets=0.8 --set "
            "init=fan_in). `--set help` or `harness recipes` lists every knob, its values and each "
            "variant's setting; the formulas: docs/spec.md.")


def recipe_option(f):
    return click.option("--set", "sets", multiple=True, metavar="KNOB=VALUE", callback=_sets, help=SET_HELP)(f)


def common_options(f):
    f = click.option("--threads", type=bounds("threads"), default=None, callback=_set_threads,
                     expose_value=False, is_eager=True,
                     help="CPU threads for the framework's intra-op pool (torch.set_num_threads); "
                          "default: the framework's own choice. One is often fastest for this tiny net.")(f)
    f = click.option("--results-dir", type=click.Path(file_okay=False), default="results",
                     show_default=True, callback=_dir_not_empty,
                     help="Where result JSON files are written (created if missing).")(f)
    f = click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
                     help="Floating-point type of parameters and arithmetic.")(f)
    f = click.option("--seed", type=SEED, default=1337, show_default=True,
                     help="Seed of the initial parameters and of every random draw of training.")(f)
    f = click.option("--variant", default="1989", show_default=True,
                     help=f"Network and training recipe: {', '.join(VARIANTS)} (a named set of knobs: --set).")(f)
    return data_options(recipe_option(f))
