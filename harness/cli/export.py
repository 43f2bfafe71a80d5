"""`harness export`: a results directory as CSV, and optionally TensorBoard event files
(harness.report.export)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..report import ReportError
from ..report.export import EXPORT_DIR, TB_DIR, export_results
from .options import _dir_not_empty


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", callback=_dir_not_empty,
              show_default=True, help="Results to read (run, bench and pytest-benchmark JSON files).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, callback=_dir_not_empty,
              help=f"Where to write (default: <results-dir>/{EXPORT_DIR}); created if missing. Files of an "
                   "earlier export there are replaced, each whole.")
@click.option("--tensorboard", is_flag=True, default=False,
              help=f"Also write each run's per-pass error, loss and misses as TensorBoard event files, one "
                   f"directory per run under <out-dir>/{TB_DIR} (`tensorboard --logdir` on it). Needs "
                   "tensorboardX: pip install 'lecun1989-harness[export]'.")
def export(results_dir, out_dir, tensorboard):
    """Export results as CSV, and optionally as TensorBoard event files.

    Writes runs.csv (one row per run: its configuration, final errors and losses, timing,
    machine), curves.csv (one row per run and pass) and bench.csv (one row per timed configuration
    of bench results and pytest-benchmark files) from every result in --results-dir. Files that
    are not usable results are listed as skipped. Nothing half-written: each file is written aside
    and moved into place whole."""
    try:
        done = export_results(Path(results_dir), out_dir, tensorboard)
    except ReportError as e:
        raise UsageError(str(e)) from e
    for path, why in done.skipped:
        click.echo(f"skipped: {path}: {why}", err=True)
    counts = ", ".join(f"{n} {what}" if what in ("scalars", "event directories") else f"{what} ({n} rows)"
                       for what, n in done.counts.items())
    click.echo(f"wrote {done.out_dir}: {counts}")
    return 0
