"""The `harness` command: this package's `main` is the console script (`harness.cli:main`).

One module per command, each building its record through the module it belongs to:

    backends  what is installed (harness.plugins)
    run       one training run (harness.run)            parity  the cross-backend checks (harness.parity)
    bench     the timing matrix (harness.bench)         report  REPORT.md, --compare (harness.report)
    sweep     a grid of runs (harness.sweep)              data    fetch, list (harness/data/command.py)
    compare   B's timing against A's, the regression gate (harness.report.gate)
    export    CSV and TensorBoard files (harness.report.export)

`options` holds what several commands share (option sets, callbacks, bounds taken from
harness.config's rules), `tables` the rich tables that are more than a loop over rows. A new
command is a module with a click command and one `cli.add_command` line below.

Note: `harness.cli.run` (and each command's name) is the click command, as it always was;
the module is `sys.modules["harness.cli.run"]` (`from harness.cli.run import ...` works).
"""
from __future__ import annotations

import sys

import click

from ..data.command import data
from ..errors import HarnessError, ResultWriteError, UsageError
from ..signals import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    terminate_as_interrupt,
)
from ..threads import threads_from_env
from .backends import backends
from .bench import bench
from .compare import compare
from .export import export
from .options import (  # noqa: F401 -- also importable from here, as before
    SEED,
    _dir_not_empty,
    _err,
    _list_not_empty,
    _names,
    _set_threads,
    bounds,
    common_options,
    data_options,
)
from .parity import parity
from .recipes import recipes
from .report import report
from .run import run
from .sweep import sweep
from .tables import parity_table as _parity_table  # noqa: F401 -- its old name here

EXIT_USAGE = 2
HarnessUsageError = UsageError  # a user mistake found by the CLI itself (its old name here)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes give one line on stderr and exit status 2, never a traceback;
    SIGTERM is handled like Ctrl-C (exit 143)."""
    with terminate_as_interrupt():
        code = _dispatch(argv)
    if argv is None:
        sys.exit(code)
    return code


def _write_failed(e: ResultWriteError) -> int:
    _err(str(e))
    if e.fallback is None:
        click.echo(e.text, nl=False)  # the measurements, on stdout: nothing is lost
    return 1


def _dispatch(argv: list[str] | None) -> int:
    try:
        threads_from_env()
        rv = cli.main(args=argv, prog_name="harness", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help())
        code = EXIT_USAGE
    except click.UsageError as e:
        _err(e.format_message().replace("\n", " "))
        code = EXIT_USAGE
    except ResultWriteError as e:  # a Failure that keeps the data: says where (before HarnessError)
        code = _write_failed(e)
    except HarnessError as e:  # usage errors exit 2, failures 1 (harness.errors)
        _err(str(e))
        code = e.exit_code
    except (KeyboardInterrupt, click.Abort) as e:  # click turns a KeyboardInterrupt into Abort
        if isinstance(e, Terminated) or isinstance(e.__cause__, Terminated):
            _err("terminated (SIGTERM); no result file was written")
            code = EXIT_TERMINATED
        else:
            _err("interrupted; no result file was written")
            code = EXIT_INTERRUPTED
    return code


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lecun1989-harness")
def cli():
    """Do deep-learning frameworks compute the same thing, and how fast, on LeCun et al.'s
    1989 ConvNet (9,760 parameters, per-example SGD)?

    \b
      harness backends                          what is installed, which devices each reaches
      harness run --backend torch --device cpu  train, evaluate after each pass, time, write results/
    """


cli.add_command(backends)
cli.add_command(run)
cli.add_command(parity)
cli.add_command(report)
cli.add_command(bench)
cli.add_command(compare)
cli.add_command(sweep)
cli.add_command(export)
cli.add_command(recipes)
cli.add_command(data)  # `harness data fetch|list`: its own module, harness/data/command.py
