"""Reading a results directory: every *.json file checked against its schema (harness.schema)
and sorted into runs, benches, parities and pytest-benchmark files; anything else is skipped
with why, never fatal. `load_one` does the same for one file of `--compare`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..results import load_results, read_json
from ..schema import checked_result, is_pytest_benchmark, pytest_benchmark_error
from .fmt import when


class ReportError(UsageError):
    """A user-facing problem with the report as a whole (one line; the CLI exits 2)."""


@dataclass
class Loaded:
    path: Path
    data: dict
    when: str


@dataclass
class Scan:
    runs: list[Loaded] = field(default_factory=list)
    benches: list[Loaded] = field(default_factory=list)
    parities: list[Loaded] = field(default_factory=list)
    pytest_benchmarks: list[Loaded] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return bool(self.runs or self.benches or self.parities or self.pytest_benchmarks)


def _pytest_benchmark(path: Path) -> tuple[Loaded | None, str | None]:
    try:
        d = read_json(path)
    except ValueError as e:
        return None, str(e)
    bad = pytest_benchmark_error(d)
    return (None, bad) if bad else (Loaded(path, d, when(path, d)), None)


def scan(results_dir: Path) -> Scan:
    """Sort every *.json file of `results_dir` into runs, benches, parities, pytest-benchmark files
    and skipped (with why). Never raises for a bad file."""
    loaded, skipped = load_results(Path(results_dir))
    out = Scan()
    for path, why in skipped:
        item = None
        if why == "pytest-benchmark file":
            item, why = _pytest_benchmark(path)
        if item is None:
            out.skipped.append((path, why))
        else:
            out.pytest_benchmarks.append(item)
    for path, d in loaded:
        item = Loaded(path, d, when(path, d))
        {"run": out.runs, "bench": out.benches, "parity": out.parities}[d["kind"]].append(item)
    for lst in (out.runs, out.benches, out.parities, out.pytest_benchmarks):
        lst.sort(key=lambda x: (x.when, x.path.name))
    out.skipped.sort(key=lambda pw: pw[0].name)
    return out


def load_one(path: Path) -> Loaded:
    """One result or pytest-benchmark file, checked; ReportError saying why it is unusable."""
    path = Path(path)
    try:
        d = read_json(path)
    except ValueError as e:
        raise ReportError(f"{path}: {e}") from None
    if is_pytest_benchmark(d):
        bad = pytest_benchmark_error(d)
    else:
        try:
            d, bad = checked_result(d), None
        except ValueError as e:
            bad = str(e)
            if bad.startswith("not a harness result"):
                bad = "neither a harness result nor a pytest-benchmark JSON file"
    if bad:
        raise ReportError(f"{path}: {bad}")
    return Loaded(path, d, when(path, d))
