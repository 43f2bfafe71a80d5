"""`harness report`: a markdown report and PNG figures from a results directory, and
`harness report --compare A B`.

    load         read and check every file against its schema; sort into runs, benches,
                 parities, pytest-benchmark files, skipped (with why)
    runs         run results: final metrics, labels, the table of runs, curves, gallery choice
    timings      one Figure per timed configuration; the throughput selection
    parity_view  a parity check's rows and divergence traces
    seeds        runs that differ only by seed: tables over seeds, curves with a band
    gallery      the missed test digits' images
    figures      the PNG figures (matplotlib, imported when one is drawn)
    markdown     escaping every value from a file for markdown and HTML; links, tables
    fmt          numbers and timestamps; plain-text tables
    sections     REPORT.md's sections
    publish      staging directory, swap all files in together, a lock per directory
    build        the report;  compare: --compare

Framework-free; matplotlib only through report.figures, when a figure is drawn: `--compare`
works without it.
"""
from .build import REPORT_NAME, Outcome, build_report
from .compare import compare_files, compare_rows, load_figures
from .load import Loaded, ReportError, Scan, scan
from .parity_view import parity_rows, parity_traces
from .runs import curve_groups, environment_summary, gallery_choices
from .sections import PAPER_1989
from .timings import Figure, throughput_figures

__all__ = [
           "PAPER_1989",
           "REPORT_NAME",
           "Figure",
           "Loaded",
           "Outcome",
           "ReportError",
           "Scan",
           "build_report",
           "compare_files",
           "compare_rows",
           "curve_groups",
           "environment_summary",
           "gallery_choices",
           "load_figures",
           "parity_rows",
           "parity_traces",
           "scan",
           "throughput_figures",
]
