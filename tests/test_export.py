"""`harness export`: runs, per-pass curves and timing rows as CSV, per-pass scalars as TensorBoard
event files, read back with the csv module and with TensorBoard's own reader; nothing half-written."""
import csv
import json
import subprocess
import sys

import pytest

from harness.cli import main
from harness.report import export as E
from tests.test_report import bench_result, benchmark_file, run_result, write

NO_MISSES = {"indices": [], "predicted": [], "labels": []}


# TensorBoard's own reader, in a child process: with TensorFlow installed, tensorboard imports it, and
# TensorFlow then loaded beside torch in one process can abort a later import of Triton; the marker
# module tensorboard.compat.notf makes it use its TensorFlow-free stub (its documented switch).
READ_EVENTS = """
import json, sys, types
sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1])
ea.Reload()
print(json.dumps({tag: [[s.step, s.value] for s in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}))
"""


def read_events(logdir) -> dict:
    """{tag: [[step, value], ...]} of an event directory, read by TensorBoard's EventAccumulator."""
    proc = subprocess.run([sys.executable, "-c", READ_EVENTS, str(logdir)], check=False, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def results(tmp_path):
    d = tmp_path / "results"
    d.mkdir()
    write(d / "run-torch.json", run_result(seed=7, passes=3, final_test=(0.0523, 105), us=(760.0, 740.0, 790.0),
                                           missed=NO_MISSES))
    write(d / "run-jax.json", run_result("jax", "scan", seed=8, passes=5, final_test=(0.0593, 119),
                                         missed=NO_MISSES, finished="2026-01-02T00:00:00+00:00"))
    write(d / "bench-result.json", bench_result())
    write(d / "bench-pytest.json", benchmark_file([("jax", "scan", "cpu", 54.0, 7291, 2.0)]))
    write(d / "corrupt.json", "{")
    return d


def test_csv_files_hold_every_run_pass_and_timing_row(results, capsys):
    assert main(["export", "--results-dir", str(results)]) == 0
    cap = capsys.readouterr()
    assert "runs.csv (2 rows), curves.csv (8 rows), bench.csv (3 rows)" in cap.out
    assert "skipped: " in cap.err and "corrupt.json" in cap.err
    out = results / "export"
    runs = {r["file"]: r for r in read_csv(out / "runs.csv")}
    assert set(runs) == {"run-torch.json", "run-jax.json"}
    t = runs["run-torch.json"]
    assert (t["backend"], t["strategy"], t["seed"], t["passes"], t["final_test_misses"]) == ("torch", "eager", "7", "3", "105")
    assert (t["variant"], t["recipe"]) == ("1989", "1989")
    assert float(t["final_test_error"]) == 0.0523 and float(t["us_per_example_median"]) == 760.0
    assert float(t["us_per_example_p25"]) == 740.0 and t["machine"] == "AMD EPYC 7B13"

    curves = read_csv(out / "curves.csv")
    jax = [r for r in curves if r["file"] == "run-jax.json"]
    src = run_result("jax", "scan", seed=8, passes=5, final_test=(0.0593, 119), missed=NO_MISSES)["epochs"]
    assert [int(r["pass"]) for r in jax] == [1, 2, 3, 4, 5]
    assert [float(r["test_error"]) for r in jax] == [e["test_error"] for e in src]  # repr round-trips exactly
    assert [float(r["train_loss"]) for r in jax] == [e["train_loss"] for e in src]
    assert {r["seed"] for r in jax} == {"8"}

    bench = {(r["kind"], r["backend"], r["strategy"]): r for r in read_csv(out / "bench.csv")}
    assert set(bench) == {("bench", "torch", "compiled"), ("bench", "jax", "scan"), ("pytest-benchmark", "jax", "scan")}
    assert float(bench["bench", "jax", "scan"]["us_per_example_p75"]) == 58.0
    assert float(bench["pytest-benchmark", "jax", "scan"]["us_per_example_median"]) == pytest.approx(54.0)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_text_a_spreadsheet_would_run_is_defused(tmp_path):
    write(tmp_path / "run.json", run_result("=HYPERLINK(\"x\")", "@sum", missed=NO_MISSES))
    assert main(["export", "--results-dir", str(tmp_path)]) == 0
    (row,) = read_csv(tmp_path / "export" / "runs.csv")
    assert (row["backend"], row["strategy"]) == ("'=HYPERLINK(\"x\")", "'@sum")
    assert E.cell(-1.5) == -1.5 and E.cell(None) == "" and E.cell({"b": 1}) == '{"b": 1}'


def test_tensorboard_event_files_read_back_with_tensorboards_reader(results, capsys):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    assert main(["export", "--results-dir", str(results), "--tensorboard"]) == 0
    assert "2 event directories" in capsys.readouterr().out
    tb = results / "export" / "tensorboard"
    assert sorted(p.name for p in tb.iterdir()) == ["run-jax", "run-torch"]
    got = read_events(tb / "run-jax")
    assert set(got) == set(E.PASS_KEYS.values())
    src = run_result("jax", "scan", seed=8, passes=5, final_test=(0.0593, 119), missed=NO_MISSES)["epochs"]
    assert [step for step, _ in got["test/error"]] == [1, 2, 3, 4, 5]
    assert [v for _, v in got["test/error"]] == pytest.approx([e["test_error"] for e in src], rel=1e-6)  # float32
    assert [v for _, v in got["test/misses"]] == [e["test_misses"] for e in src]

    # a second export replaces each run's directory whole: one event file, not two curves on top of each other
    assert main(["export", "--results-dir", str(results), "--tensorboard"]) == 0
    assert len(list((tb / "run-jax").iterdir())) == 1


def test_tensorboard_without_its_writer_is_one_line_and_writes_nothing(results, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    assert main(["export", "--results-dir", str(results), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tensorboardX" in err[0] and "[export]" in err[0]
    assert not (results / "export").exists()


def test_a_failure_midway_leaves_the_earlier_export_as_it_was(results, monkeypatch):
    pytest.importorskip("tensorboardX")
    assert main(["export", "--results-dir", str(results), "--tensorboard"]) == 0
    out = results / "export"
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write(results / "run-third.json", run_result("jax", "step", missed=NO_MISSES))
    calls = []

    def fail_on_second(writer, logdir, r):
        calls.append(r.path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the event files are written
        return real(writer, logdir, r)

    real = E.write_events
    monkeypatch.setattr(E, "write_events", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        E.export_results(results, tensorboard=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # every file the old export wrote, byte for byte; no new or partial one


def test_nothing_to_export_and_a_bad_directory_are_usage_errors(tmp_path, capsys):
    write(tmp_path / "corrupt.json", "{")
    assert main(["export", "--results-dir", str(tmp_path)]) == 2
    assert "nothing to export" in capsys.readouterr().err
    assert main(["export", "--results-dir", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "export").exists()


def test_exporting_again_replaces_the_csv_files_in_a_directory_that_exists(results, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    first = E.export_results(results, out)
    assert sorted(p.name for p in first.files) == ["bench.csv", "curves.csv", "runs.csv"]
    assert first.counts == {"runs.csv": 2, "curves.csv": 8, "bench.csv": 3} and first.out_dir == out
    assert [p.name for p, _ in first.skipped] == ["corrupt.json"]
    write(results / "run-third.json", run_result("jax", "step", missed=NO_MISSES))
    again = E.export_results(results, out)  # into the same, now existing, directory
    assert again.counts["runs.csv"] == 3 and len(read_csv(out / "runs.csv")) == 3
    assert (out / "notes.txt").read_text() == "mine"  # what the export does not write is left alone
    assert sorted(p.name for p in out.iterdir()) == ["bench.csv", "curves.csv", "notes.txt", "runs.csv"]


def test_nothing_to_export_says_whole_how_many_files_were_skipped_and_only_when_some_were(tmp_path):
    from harness.report.load import ReportError

    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    with pytest.raises(ReportError) as e:
        E.export_results(tmp_path / "empty")
    assert str(e.value) == (f"nothing to export in {tmp_path / 'empty'}: no run or bench results and no "
                            "pytest-benchmark JSON")
    write(tmp_path / "bad" / "corrupt.json", "{")
    write(tmp_path / "bad" / "other.json", "[]")
    with pytest.raises(ReportError) as e:
        E.export_results(tmp_path / "bad")
    assert str(e.value).endswith("no run or bench results and no pytest-benchmark JSON (2 file(s) skipped)")
    with pytest.raises(ReportError) as e:
        E.export_results(tmp_path / "bad" / "corrupt.json")
    assert str(e.value) == f"results directory {tmp_path / 'bad' / 'corrupt.json'} is not a directory"
