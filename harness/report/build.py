"""`harness report`: REPORT.md and its figures, from every result in a results directory, written
together or not at all, one report at a time per directory."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import tempfiles
from . import figures
from .load import ReportError, Scan, scan
from .publish import Staging, report_lock
from .sections import SECTIONS, Context

REPORT_NAME = "REPORT.md"


@dataclass
class Outcome:
    report: Path
    figures: list[Path]
    skipped: list[tuple[Path, str]]
    notes: list[str]


def _nothing_to_report(results_dir: Path, sc: Scan) -> ReportError:
    n = len(sc.skipped)
    names = ", ".join(f"{p.name} ({why})" for p, why in sc.skipped[:3]) + (", ..." if n > 3 else "")
    return ReportError(f"nothing to report in {results_dir}: no run, bench or parity results and no "
                       f"pytest-benchmark JSON" + (f"; {n} file{'s' if n != 1 else ''} skipped: {names}"
                                                   if n else " (no *.json files)"))


def _write_failed(results_dir: Path, e: OSError) -> ReportError:
    what = f" ({e.filename})" if getattr(e, "filename", None) else ""
    return ReportError(f"could not write the report into {results_dir}: {e.strerror or e}{what}; "
                       "no report file was replaced")


def _render(results_dir: Path, sc: Scan, data_dir, stage: Staging) -> Context:
    plt = figures.pyplot()  # imports matplotlib (Agg): a clear error if it is missing
    ctx = Context(results_dir, sc, data_dir, stage, plt)
    md: list[str] = []
    # no mathtext: a '$' in a backend name is text, not a formula that may fail to parse
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        for section in SECTIONS:
            md += section(ctx)
    stage.add(REPORT_NAME, ("\n".join(md).rstrip() + "\n").encode())
    return ctx


def build_report(results_dir: Path, data_dir: Path | None = None) -> Outcome:
    """Write <results_dir>/REPORT.md and its PNG figures, replaced together or not at all; return what
    was written, skipped and noted. Raises ReportError when there is nothing to report, matplotlib is
    missing, or the files cannot be written (then nothing was replaced)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"results directory {results_dir} "
                          + ("is not a directory" if results_dir.exists() else "does not exist"))
    sc = scan(results_dir)
    if not sc.usable:
        raise _nothing_to_report(results_dir, sc)
    try:
        with report_lock(results_dir):
            tempfiles.remove_stale(results_dir)
            stage = Staging(results_dir)
            try:
                ctx = _render(results_dir, sc, data_dir, stage)
                written = stage.commit()
            finally:
                stage.discard()
    except OSError as e:
        raise _write_failed(results_dir, e) from e
    return Outcome(results_dir / REPORT_NAME, [p for p in written if p.name != REPORT_NAME], sc.skipped, ctx.notes)
