"""`harness compare A B` (issue 18 item 9): a statistical test on the timed windows each result now
keeps, and a regression gate (--fail-above PCT) that never says slower or faster on nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.gate import MIN_WINDOWS, ratio_test
from harness.schema import checked_result

pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    """One real `harness run` (torch eager, 60 synthetic examples in windows of 5: 11 timed windows)."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("a")
    assert main(["run", "--dataset", "synthetic", "--epochs", "1", "--limit", "60", "--window", "5", "--threads", "1",
                 "--results-dir", str(out)]) == 0
    (path,) = out.glob("run-*.json")
    return path


def _scaled(src: Path, dest_dir: Path, factor: float, drop_windows: bool = False) -> Path:
    """A copy of a run result whose timed windows (and medians) are `factor` times the original's."""
    d = json.loads(src.read_text())
    t = d["timing"]
    if drop_windows:
        del t["us_per_example_windows"]
    else:
        t["us_per_example_windows"] = [x * factor for x in t["us_per_example_windows"]]
    t["us_per_example"] *= factor
    t["us_per_example_stats"] = {k: (v * factor if k != "n" and v is not None else v)
                                 for k, v in t["us_per_example_stats"].items()}
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / src.name
    out.write_text(json.dumps(d))
    return out


def _compare(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["compare", *map(str, args)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_a_run_keeps_its_timed_windows_schema_valid(run_file):
    d = checked_result(json.loads(run_file.read_text()))
    windows = d["timing"]["us_per_example_windows"]
    assert len(windows) >= MIN_WINDOWS and all(w > 0 for w in windows)
    assert d["timing"]["us_per_example_stats"]["n"] == len(windows)


def test_compare_a_file_with_itself_passes_the_gate_and_claims_nothing(run_file, capsys):
    code, out, _ = _compare(capsys, run_file, run_file, "--fail-above", "10")
    assert code == 0
    assert "same path" in out and "slower" not in out.replace("B slower than A by more", "") and "faster" not in out


def test_compare_against_a_copy_three_times_slower_fails_the_gate(run_file, tmp_path, capsys):
    slow = _scaled(run_file, tmp_path / "slow", 3.0)
    code, out, _ = _compare(capsys, run_file, slow, "--fail-above", "10")
    assert code == 1 and "gate FAIL" in out and ": slower;" in out
    code, out, _ = _compare(capsys, run_file, slow, "--fail-above", "10", "--json")
    res = json.loads(out)
    (row,) = res["comparisons"]
    assert code == 1 and res["failed"] == [row["configuration"]] and row["gate"] == "fail"
    assert row["ratio"] == pytest.approx(3.0) and row["ratio_lower_bound"] > 1.1 and row["p_value"] < 0.05
    # the other way round: faster, and the gate passes
    code, out, _ = _compare(capsys, slow, run_file, "--fail-above", "10")
    assert code == 0 and ": faster;" in out and "gate PASS" in out


def test_compare_of_directories_and_an_identical_copy(run_file, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(run_file, copy / run_file.name)
    (copy / "sweep-manifest.json").write_text("{}")  # not a result: ignored, not an error
    code, out, _ = _compare(capsys, run_file.parent, copy, "--fail-above", "10")
    assert code == 0 and "identical windows" in out and "faster" not in out


def test_no_windows_is_no_verdict_and_the_gate_refuses_to_pass_on_it(run_file, tmp_path, capsys):
    """A result written before windows were kept: said, never 'no difference'; with --fail-above,
    exit 2 (a gate that cannot judge must not go green)."""
    old = _scaled(run_file, tmp_path / "old", 3.0, drop_windows=True)
    code, out, err = _compare(capsys, run_file, old)
    assert code == 0 and "no samples: B kept no per-window times" in out
    code, out, err = _compare(capsys, run_file, old, "--fail-above", "10")
    assert code == 2 and "NOT JUDGED" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("harness: error: nothing judged")


def test_ratio_test_needs_enough_windows_and_is_reproducible():
    few = ratio_test([1.0] * (MIN_WINDOWS - 1), [3.0] * 10, fail_above=10)
    assert few["verdict"].startswith("too few windows") and few["gate"] is None and few["ratio"] is None
    a = [100.0 + (i % 7) for i in range(40)]
    b = [x * 1.02 for x in a]  # 2% slower: beyond noise here, but under a 10% gate
    r1, r2 = ratio_test(a, b, fail_above=10), ratio_test(a, b, fail_above=10)
    assert r1 == r2 and r1["gate"] == "pass" and 1.0 < r1["ratio"] < 1.1
    assert ratio_test(a, b, fail_above=1)["gate"] == "fail"


def test_a_bench_row_keeps_each_timed_round(tmp_path):
    pytest.importorskip("torch")
    assert main(["bench", "--backends", "torch", "--strategies", "eager", "--dataset", "synthetic", "--window", "4",
                 "--rounds", "6", "--threads", "1", "--results-dir", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("bench-*.json")
    (row,) = checked_result(json.loads(path.read_text()))["rows"]
    assert len(row["us_per_example_windows"]) == 6 and sorted(row["us_per_example_windows"])[2] > 0


def test_pytest_benchmark_rounds_saved_with_their_data_are_tested_per_example(tmp_path, capsys):
    """pytest-benchmark --benchmark-save-data keeps each round (seconds) in stats.data: scaled to
    us per example like the median, they are the samples; without it, no verdict is claimed."""
    from tests.test_report import benchmark_file

    def with_rounds(us: float) -> dict:
        doc = benchmark_file([("torch", "eager", "cpu", us, 64, us / 10)])
        doc["benchmarks"][0]["stats"]["data"] = [us * 64e-6 * (1 + 0.01 * (i % 5)) for i in range(12)]
        return doc

    a, b, bare = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bare.json"
    a.write_text(json.dumps(with_rounds(800.0)))
    b.write_text(json.dumps(with_rounds(1600.0)))
    bare.write_text(json.dumps(benchmark_file([("torch", "eager", "cpu", 1600.0, 64, 160.0)])))
    code, out, _ = _compare(capsys, a, b, "--fail-above", "10", "--json")
    (row,) = json.loads(out)["comparisons"]
    assert code == 1 and row["windows_a"] == 12 and row["median_a_us"] == pytest.approx(800 * 1.015)
    assert row["ratio"] == pytest.approx(2.0) and row["verdict"] == "slower"
    code, out, _ = _compare(capsys, a, bare)
    assert code == 0 and "no samples: B kept no per-window times" in out


def test_compare_refuses_a_fifo_operand_at_once(tmp_path, capsys):
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    other = tmp_path / "x.json"
    other.write_text("{}")
    code, _, err = _compare(capsys, fifo, other)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "fifo.json" in err
