"""`harness report`: a markdown report and PNG figures from a results directory, and
`harness report --compare A B`.

    load         read and check every file against its schema; sort into runs, benches,
                 parities, pytest-benchmark files, skipped (with why)
    runs         run results: final metrics, labels, the table of runs, gallery choice
    curves       learning curves grouped by recorded configuration, one line per seed
    timings      one Figure per timed configuration; the throughput selection, panels per machine
    parity_view  a parity check's rows and divergence traces
    parity_matrix  variant x dtype x device x backend:strategy -> largest difference, verdict
    seeds        runs that differ only by seed: tables over seeds, the test error strip plot
    gallery      the missed test digits' images
    figures      the PNG figures (matplotlib, imported when one is drawn), and their size bounds
    markdown     escaping every value from a file for markdown and HTML; links, tables
    fmt          numbers and timestamps; plain-text tables
    sections     REPORT.md's sections
    publish      staging directory, swap all files in together, a lock per directory
    build        the report;  compare: --compare;  export: `harness export` (CSV, TensorBoard)

Framework-free; matplotlib only through report.figures, when a figure is drawn: `--compare`
works without it.
"""
from .build import REPORT_NAME, Outcome, build_report
from .compare import compare_files, compare_rows, load_figures
from .curves import curve_figures
from .load import Loaded, ReportError, Scan, scan
from .parity_view import parity_rows, parity_traces
from .runs import environment_summary, gallery_choices
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
           "curve_figures",
           "environment_summary",
           "gallery_choices",
           "load_figures",
           "parity_rows",
           "parity_traces",
           "scan",
           "throughput_figures",
]
