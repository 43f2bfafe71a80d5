"""`harness export`: the results of a directory as CSV (runs, per-pass curves, timing rows), and
optionally each run's per-pass scalars as TensorBoard event files, where ML users already look.

Read as the report reads them (report.load: every file checked against its schema, anything else
skipped with why). Written into a staging directory first, then moved into place file by file
(CSV) and run by run (one event directory per run, replaced whole): an interrupted export leaves
the previous files or the new ones, never half of one.

Framework-free: TensorBoard's writer (tensorboardX, the `export` extra) is imported only when
event files are asked for.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import tempfiles
from .curves import identity
from .fmt import num
from .load import Loaded, ReportError, Scan, scan
from .publish import report_lock
from .runs import environment_summary, recipe_label, run_final, run_timing
from .seeds import machine
from .timings import figures_of_bench, figures_of_pytest_benchmark

EXPORT_DIR = "export"  # the default output, inside the results directory
TB_DIR = "tensorboard"  # event files: <out>/tensorboard/<run file's stem>/events.out.tfevents.*
# Per-pass quantities of a run result (its `epochs`), as CSV columns and TensorBoard tags.
PASS_KEYS = {"train_error": "train/error", "test_error": "test/error", "train_loss": "train/loss",
             "test_loss": "test/loss", "train_misses": "train/misses", "test_misses": "test/misses",
             "train_pass_loss": "train/pass_loss"}
TB_MISSING = ("TensorBoard export needs tensorboardX, which is not installed: "
              "pip install 'lecun1989-harness[export]' (or leave out --tensorboard for CSV only)")


@dataclass
class Exported:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # rows per CSV, event directories


def cell(v):
    """A CSV cell: numbers as they are, None empty, mappings and lists as JSON; text that a
    spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe."""
    if v is None:
        return ""
    if isinstance(v, (bool, int, float)):
        return v
    text = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else str(v)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def number(v):
    """An int as it is (misses), else report.fmt.num's float or None (what is not a finite number)."""
    return v if isinstance(v, int) and not isinstance(v, bool) else num(v)


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([[cell(v) for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def _identity_fields(runs: list[Loaded]) -> list[str]:
    """The identity fields of every run, in the order harness.config names them (a field a newer
    result adds, such as a recipe knob, becomes a column)."""
    return list(dict.fromkeys(k for r in runs for k in columns(r.data)))


def columns(d: dict) -> dict:
    """A run's identity as columns: the recipe as harness.recipe labels it ("1989 targets=0.8"; the
    variant alone where no knob is set otherwise), the other fields as recorded."""
    return {k: recipe_label(d) if k == "recipe" else v for k, v in identity(d).items()}


def run_rows(runs: list[Loaded], results_dir: Path) -> tuple[list[str], list[list]]:
    """runs.csv: one row per run result: where, its identity, final metrics, timing, machine."""
    ident = _identity_fields(runs)
    finals = ["train_error", "train_misses", "test_error", "test_misses", "train_loss", "test_loss"]
    head = (["file", "finished", *ident, "passes", "n_train", "n_test", *[f"final_{k}" for k in finals],
             "us_per_example_median", "us_per_example_p25", "us_per_example_p75", "examples_per_s", "compile_s",
             "machine", "environment"])
    rows = []
    for r in runs:
        d, i = r.data, columns(r.data)
        f, t = run_final(d), run_timing(d)
        rows.append([_rel(r.path, results_dir), r.when, *[i.get(k) for k in ident], len(d["epochs"]),
                     d.get("n_train"), d.get("n_test"), *[number(f[k]) for k in finals],
                     t["median"], t["p25"], t["p75"], t["examples_per_s"], t["compile_s"], machine(d),
                     environment_summary(d.get("environment"))])
    return head, rows


def curve_rows(runs: list[Loaded], results_dir: Path) -> tuple[list[str], list[list]]:
    """curves.csv, long format: one row per run and pass, the run's identity on each row."""
    ident = _identity_fields(runs)
    head = ["file", *ident, "pass", *PASS_KEYS]
    rows = []
    for r in runs:
        i = columns(r.data)
        for n, e in enumerate(r.data["epochs"], 1):
            step = e.get("epoch") if isinstance(e.get("epoch"), int) else n
            rows.append([_rel(r.path, results_dir), *[i.get(k) for k in ident], step,
                         *[number(e.get(k)) for k in PASS_KEYS]])
    return head, rows


def bench_rows(sc: Scan, results_dir: Path) -> tuple[list[str], list[list]]:
    """bench.csv: every timed configuration of `harness bench` results and pytest-benchmark files."""
    head = ["file", "measured", "kind", "machine", "backend", "strategy", "device", "dtype", "variant", "name",
            "us_per_example_median", "us_per_example_p25", "us_per_example_p75", "examples_per_s", "compile_s",
            "kernels_per_example", "environment"]
    rows = []
    for kind, loaded, read in (("bench", sc.benches, figures_of_bench),
                               ("pytest-benchmark", sc.pytest_benchmarks, figures_of_pytest_benchmark)):
        for r in loaded:
            for f in read(r):
                rows.append([_rel(r.path, results_dir), f.when, kind, f.machine, *f.key, f.name, f.median,
                             f.p25, f.p75, f.examples_per_s, f.compile_s, None if f.kernels == "-" else f.kernels,
                             f.env])
    return head, rows


def _rel(path: Path, base: Path) -> str:
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- TensorBoard


def summary_writer():
    """tensorboardX's SummaryWriter; ReportError (one line, exit 2) naming the extra if missing."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise ReportError(TB_MISSING) from e
    return SummaryWriter


def write_events(writer_cls, logdir: Path, r: Loaded) -> int:
    """One run's per-pass scalars (PASS_KEYS' tags, step = pass) and its configuration (as text)
    into an event file in `logdir`; how many scalars were written."""
    t = _dt.datetime.fromisoformat(r.when).timestamp()  # the run's time (report.fmt.when: UTC ISO)
    n = 0
    w = writer_cls(logdir=str(logdir), flush_secs=3600)
    try:
        w.add_text("config", "\n".join(f"    {k}: {v}" for k, v in columns(r.data).items()), 0, walltime=t)
        for i, e in enumerate(r.data["epochs"], 1):
            step = e.get("epoch") if isinstance(e.get("epoch"), int) else i
            for key, tag in PASS_KEYS.items():
                v = num(e.get(key))
                if v is not None:
                    w.add_scalar(tag, v, step, walltime=t)
                    n += 1
    finally:
        w.close()
    return n


# ----------------------------------------------------------------------------- writing


def _stage(sc: Scan, results_dir: Path, stage: Path, tensorboard: bool) -> tuple[list[str], dict[str, int]]:
    """Every file of the export written under `stage`; (top-level names to move, counts)."""
    names, counts = [], {}
    for name, (head, rows) in (("runs.csv", run_rows(sc.runs, results_dir)),
                               ("curves.csv", curve_rows(sc.runs, results_dir)),
                               ("bench.csv", bench_rows(sc, results_dir))):
        (stage / name).write_bytes(csv_bytes(head, rows))
        names.append(name)
        counts[name] = len(rows)
    if tensorboard:
        writer = summary_writer()
        (stage / TB_DIR).mkdir()
        counts["event directories"] = counts["scalars"] = 0
        for r in sc.runs:
            counts["scalars"] += write_events(writer, stage / TB_DIR / _run_dir(r.path, results_dir), r)
            counts["event directories"] += 1
    return names, counts


def _run_dir(path: Path, results_dir: Path) -> str:
    """A run's event directory: its file's name without .json (unique in a results directory)."""
    return _rel(path, results_dir).removesuffix(".json").replace(os.sep, "__")


def _move_in(stage: Path, out_dir: Path, names: list[str]) -> list[Path]:
    """CSV files replaced one by one (os.replace: each whole); each run's event directory replaced
    whole (the old one moved aside first, then removed)."""
    moved = []
    for name in names:
        os.replace(stage / name, out_dir / name)
        moved.append(out_dir / name)
    if (stage / TB_DIR).is_dir():
        (out_dir / TB_DIR).mkdir(exist_ok=True)
        aside = stage / ".old"
        aside.mkdir()
        for run in sorted(p.name for p in (stage / TB_DIR).iterdir()):
            dest = out_dir / TB_DIR / run
            if dest.exists() or dest.is_symlink():
                os.replace(dest, aside / run)
            os.replace(stage / TB_DIR / run, dest)
            moved.append(dest)
    return moved


def export_results(results_dir: Path, out_dir: Path | None = None, tensorboard: bool = False) -> Exported:
    """Write runs.csv, curves.csv, bench.csv (and with `tensorboard`, event files) into `out_dir`
    (default <results_dir>/export). ReportError when there is nothing to export, the writer is
    missing or the files cannot be written (then nothing was replaced)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"results directory {results_dir} "
                          + ("is not a directory" if results_dir.exists() else "does not exist"))
    sc = scan(results_dir)
    if not (sc.runs or sc.benches or sc.pytest_benchmarks):
        raise ReportError(f"nothing to export in {results_dir}: no run or bench results and no "
                          "pytest-benchmark JSON" + (f" ({len(sc.skipped)} file(s) skipped)" if sc.skipped else ""))
    if tensorboard:
        summary_writer()  # before anything is written: a missing extra is said first
    out_dir = Path(out_dir) if out_dir is not None else results_dir / EXPORT_DIR
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with report_lock(out_dir):
            tempfiles.remove_stale(out_dir)
            stage = tempfiles.mkdtemp(out_dir, "export")
            try:
                names, counts = _stage(sc, results_dir, stage, tensorboard)
                files = _move_in(stage, out_dir, names)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except OSError as e:
        what = f" ({e.filename})" if getattr(e, "filename", None) else ""
        raise ReportError(f"could not write the export into {out_dir}: {e.strerror or e}{what}") from e
    return Exported(out_dir, files, sc.skipped, counts)

