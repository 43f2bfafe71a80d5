"""`harness report`: REPORT.md and its figures, or --compare A B (harness.report)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..report import ReportError, build_report, compare_files
from ..report.compare import compare_pairs, compare_rows, load_figures
from ..report.gate import compare_paths, compare_text
from .jsonout import emit, json_option
from .options import _dir_not_empty


def compare_doc(a: Path, b: Path) -> dict:
    """`report --compare A B --json`: the files, each matched pair's figures with B/A, what only one
    side has, and the table's notes (keys: docs/cli.md)."""
    ka, fa = load_figures(a)
    kb, fb = load_figures(b)
    return {"a": {"path": a, "kind": ka}, "b": {"path": b, "kind": kb}, **compare_pairs(fa, fb),
            "notes": compare_rows(fa, fb)[1]}


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", callback=_dir_not_empty,
              show_default=True, help="Results to read; REPORT.md and the PNG figures are written here too.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding usps/ and mnist/, for the gallery of missed digits "
                   "(default: $HARNESS_DATA_DIR, else a per-user cache; no data: no gallery).")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              metavar="A B", help="Compare two result files or two pytest-benchmark JSON files: ratio B/A of "
                                  "us/example and final errors, and whether it exceeds the recorded spread; then "
                                  "`harness compare A B`'s test of the timed windows (its alias; the gate: "
                                  "harness compare --fail-above).")
@json_option
def report(results_dir, data_dir, compare, as_json):
    """Write REPORT.md and PNG figures into --results-dir from every result there (runs, bench,
    parity, pytest-benchmark JSON): the table of runs, learning curves, throughput, missed test
    digits, parity. Files that are not usable results are listed as skipped. With --compare A B,
    print a comparison table instead (writes nothing)."""
    try:
        if compare:  # the table of figures, then `harness compare`'s test of the timed windows
            if as_json:
                emit("report --compare", compare_doc(*compare))
                return 0
            click.echo(compare_files(*compare))
            try:
                click.echo("\n" + compare_text(compare_paths(*compare)))
            except ImportError as e:  # scipy: the [report] extra
                click.echo(f"\n(no test of the timed windows: {e}; pip install 'lecun1989-harness[report]')")
            return 0
        outcome = build_report(results_dir, data_dir)
    except ReportError as e:
        raise UsageError(str(e)) from e
    if as_json:
        emit("report", {"report": outcome.report, "figures": outcome.figures, "notes": outcome.notes,
                        "skipped": [{"path": p, "reason": why} for p, why in outcome.skipped]})
        return 0
    for path, why in outcome.skipped:
        click.echo(f"skipped: {path}: {why}", err=True)
    for note in outcome.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {outcome.report}" + (f" and {len(outcome.figures)} figure(s): "
                                             + ", ".join(p.name for p in outcome.figures) if outcome.figures else ""))
    return 0
