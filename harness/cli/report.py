"""`harness report`: REPORT.md and its figures, or --compare A B (harness.report)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..report import ReportError, build_report, compare_files
from .options import _dir_not_empty


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", callback=_dir_not_empty,
              show_default=True, help="Results to read; REPORT.md and the PNG figures are written here too.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding usps/ and mnist/, for the gallery of missed digits "
                   "(default: $HARNESS_DATA_DIR, else a per-user cache; no data: no gallery).")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              metavar="A B", help="Compare two result files or two pytest-benchmark JSON files: ratio B/A of "
                                  "us/example and final errors, and whether it exceeds the recorded spread.")
def report(results_dir, data_dir, compare):
    """Write REPORT.md and PNG figures into --results-dir from every result there (runs, bench,
    parity, pytest-benchmark JSON): the table of runs, learning curves, throughput, missed test
    digits, parity. Files that are not usable results are listed as skipped. With --compare A B,
    print a comparison table instead (writes nothing)."""
    try:
        if compare:
            click.echo(compare_files(*compare))
            return 0
        outcome = build_report(results_dir, data_dir)
    except ReportError as e:
        raise UsageError(str(e)) from e
    for path, why in outcome.skipped:
        click.echo(f"skipped: {path}: {why}", err=True)
    for note in outcome.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {outcome.report}" + (f" and {len(outcome.figures)} figure(s): "
                                             + ", ".join(p.name for p in outcome.figures) if outcome.figures else ""))
    return 0
