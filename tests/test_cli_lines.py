"""The CLI's own lines and documents, whole: `report --compare --json` (both operand blocks, each
pair's sides, the notes), `report`'s and `compare`'s stdout/stderr lines and exit statuses, and the
JSON convention's first keys. Substring checks let a changed key or word through (issue 24 item 9)."""
from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.jsonout import JSON_VERSION, _plain, dumps, written
from tests.test_report import bench_result, run_result, write

report_cli = importlib.import_module("harness.cli.report")  # harness.cli.report is also the click command

pytest.importorskip("matplotlib")


def _side(label, us, p25, p75, train=(0.0014, 10), test=(0.05, 100), n_train=7291):
    return {"label": label, "us_per_example": us, "p25": p25, "p75": p75, "train_error": train[0],
            "test_error": test[0], "train_misses": train[1], "test_misses": test[1], "n_train": n_train}


def test_report_compare_json_is_the_whole_document(tmp_path, capsys):
    a = write(tmp_path / "a.json", run_result(us=(100.0, 95.0, 105.0), final_test=(0.05, 100)))
    b = write(tmp_path / "b.json", run_result(us=(50.0, 48.0, 52.0), final_test=(0.06, 120), n_train=512))
    assert main(["report", "--compare", str(a), str(b), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    label = "torch/eager/cpu float32 (1989)"
    assert doc == {
        "command": "report --compare", "json_version": 1,
        "a": {"path": str(a), "kind": "run"}, "b": {"path": str(b), "kind": "run"},
        "pairs": [{"a": _side(label, 100.0, 95.0, 105.0), "b": _side(label, 50.0, 48.0, 52.0, test=(0.06, 120),
                                                                     n_train=512),
                   "ratio_us_per_example": 0.5, "ratio_test_error": pytest.approx(1.2), "beyond_spread": True}],
        "only_a": [], "only_b": [],
        "notes": [(f"warning: {label}: A trained on 7291 examples per pass, B on 512: the errors (and compile share) "
                  "are not like for like")]}


def test_compare_doc_names_each_operand_and_what_only_one_side_has(tmp_path):
    a = write(tmp_path / "a.json", bench_result())
    r = bench_result()
    r["rows"][1]["backend"] = "tf"
    b = write(tmp_path / "b.json", r)
    doc = report_cli.compare_doc(a, b)
    assert doc["a"] == {"path": a, "kind": "bench"} and doc["b"] == {"path": b, "kind": "bench"}
    assert [p["a"]["label"] for p in doc["pairs"]] == ["torch/compiled/cpu float32"]
    assert doc["only_a"] == ["jax/scan/cpu float32"] and doc["only_b"] == ["tf/scan/cpu float32"]
    assert doc["notes"] == ["only in A: jax/scan/cpu float32", "only in B: tf/scan/cpu float32"]


def test_report_prints_what_it_wrote_and_what_it_skipped(tmp_path, capsys):
    write(tmp_path / "bench.json", bench_result())
    write(tmp_path / "junk.json", {"hello": 1})
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines() == [f"wrote {tmp_path / 'REPORT.md'} and 1 figure(s): throughput.png"]
    assert cap.err.splitlines() == [f"skipped: {tmp_path / 'junk.json'}: not a harness result (no schema_version)"]
    assert main(["report", "--results-dir", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"command": "report", "json_version": 1, "report": str(tmp_path / "REPORT.md"),
                   "figures": [str(tmp_path / "throughput.png")], "notes": [],
                   "skipped": [{"path": str(tmp_path / "junk.json"),
                                "reason": "not a harness result (no schema_version)"}]}


def test_report_without_figures_says_only_what_it_wrote_and_its_notes(tmp_path, capsys, monkeypatch):
    from harness.report import build

    write(tmp_path / "bench.json", bench_result())
    out = build.Outcome(tmp_path / "REPORT.md", [], [], ["a note"])
    monkeypatch.setattr(report_cli, "build_report", lambda results_dir, data_dir: out)
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert cap.out == f"wrote {tmp_path / 'REPORT.md'}\n" and cap.err == "note: a note\n"


def test_report_compare_text_then_the_test_of_the_windows(tmp_path, capsys, monkeypatch):
    a = write(tmp_path / "a.json", run_result())
    b = write(tmp_path / "b.json", run_result())
    monkeypatch.setattr(report_cli, "compare_files", lambda x, y: f"TABLE {x.name} {y.name}")
    monkeypatch.setattr(report_cli, "compare_text", lambda res: f"TEST {res}")
    monkeypatch.setattr(report_cli, "compare_paths", lambda x, y: "R")
    assert main(["report", "--compare", str(a), str(b)]) == 0
    assert capsys.readouterr().out == "TABLE a.json b.json\n\nTEST R\n"

    def no_scipy(x, y):
        raise ImportError("No module named 'scipy'")

    monkeypatch.setattr(report_cli, "compare_paths", no_scipy)
    assert main(["report", "--compare", str(a), str(b)]) == 0
    assert capsys.readouterr().out == ("TABLE a.json b.json\n\n(no test of the timed windows: No module named "
                                       "'scipy'; pip install 'lecun1989-harness[report]')\n")


def test_report_of_nothing_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--results-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        (f"harness: error: nothing to report in {tmp_path}: no run, bench or parity results and no pytest-benchmark "
        "JSON (no *.json files)")]


def _windows_run(path, windows, **kw):
    r = run_result(**kw)
    if windows is not None:
        r["timing"]["us_per_example_windows"] = windows
    return write(path, r)


def test_compare_exit_two_names_what_could_not_be_judged(tmp_path, capsys):
    pytest.importorskip("scipy")
    a = _windows_run(tmp_path / "a.json", [100.0, 101.0, 99.0, 100.5, 99.5])
    b = _windows_run(tmp_path / "b.json", None)
    assert main(["compare", str(a), str(b), "--fail-above", "5"]) == 2
    cap = capsys.readouterr()
    assert cap.err.splitlines() == [
        ("harness: error: nothing judged: torch/eager/cpu float32 (1989) could not be tested (no or too few timed "
        "windows)")]
    assert cap.out.splitlines()[-1] == "NOT JUDGED: torch/eager/cpu float32 (1989) could not be tested"
    c = write(tmp_path / "c.json", bench_result())
    assert main(["compare", str(a), str(c), "--fail-above", "5", "--json"]) == 2
    cap = capsys.readouterr()
    assert json.loads(cap.out)["command"] == "compare"
    assert cap.err.splitlines() == ["harness: error: nothing judged: no configuration of A matches one of B"]
    assert main(["compare", str(a), str(a)]) == 0
    assert capsys.readouterr().out.splitlines()[3] == "A and B are the same path: no difference can be claimed."


def test_json_convention_first_keys_and_plain_values(tmp_path):
    assert JSON_VERSION == 1
    text = dumps("x", {"t": (1, 2), "s": {3}, "p": Path("a/b"), "n": -math.inf, 4: "k", "o": object.__name__})
    assert list(json.loads(text)) == ["command", "json_version", "t", "s", "p", "n", "4", "o"]
    assert text.startswith('{\n  "command": "x",\n  "json_version": 1,\n')
    assert _plain({"a": [float("nan"), 1.5, (Path("x"),)], 1: frozenset()}) == {"a": [None, 1.5, ["x"]], "1": []}
    f = write(tmp_path / "r.json", {"k": 1})
    assert written(f, extra=2) == {"path": f, "extra": 2, "result": {"k": 1}}
    assert list(written(f, extra=2)) == ["path", "extra", "result"]


def test_backends_json_rows_whole():
    from harness.cli.backends import backends_rows
    from tests.test_cli_tables import _B, _Reg

    reg = _Reg({"aa": _B("aa", ("eager", "jit"), {"eager": ["cpu", "eager-dev"], "jit": ["cpu", "jit-dev"]}, "d",
                         variants=("1989",), dtypes=("float32", "float64")),
                "bb": _B("bb", ("loop",), {}, description="B")}, {"bb": "pip install x", "cc": "failed to import"})
    assert backends_rows(reg) == [
        {"name": "aa", "available": True, "reason": None, "description": "d",
         "strategies": [{"name": "eager", "idiomatic": True, "devices": ["cpu", "eager-dev"]},
                        {"name": "jit", "idiomatic": False, "devices": ["cpu", "jit-dev"]}],
         "variants": ["1989"], "dtypes": ["float32", "float64"]},
        {"name": "bb", "available": False, "reason": "pip install x", "description": "B",
         "strategies": [{"name": "loop", "idiomatic": True, "devices": None}], "variants": None, "dtypes": None},
        {"name": "cc", "available": False, "reason": "failed to import", "description": None, "strategies": [],
         "variants": None, "dtypes": None}]


def test_a_write_failure_says_where_and_prints_the_measurements(capsys):
    from harness.cli import _write_failed
    from harness.errors import ResultWriteError

    e = ResultWriteError("could not write r.json: disk full", None, "MEASUREMENTS\n")
    assert _write_failed(e) == 1
    cap = capsys.readouterr()
    assert cap.err == "harness: error: could not write r.json: disk full\n" and cap.out == "MEASUREMENTS\n"
    e.fallback = "saved elsewhere"
    assert _write_failed(e) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == "harness: error: could not write r.json: disk full\n"


def test_the_idiom_is_timed_on_the_runs_device_with_the_runs_window(monkeypatch):
    from harness.targets import Target
    from tests.test_idiom_line import CONFIG, _Backend, _Clock, _data, idiom

    monkeypatch.setattr(idiom, "load_average", lambda: None)
    asked = []
    monkeypatch.setattr(idiom, "time_idiom", lambda target, config, data, window: asked.append(
        (target.backend.name, target.strategy, target.device, config, window)) or [100.0, 100.0])
    b = _Backend(_Clock(), devices=("cpu", "cuda"))
    line = idiom.idiom_cost(Target(b, "fast", "cuda"), CONFIG, _data(), run_median_us=None, n_train=30)
    assert asked == [("np", "loop", "cuda", CONFIG, 30)]
    assert line == ("the loop idiom (np:loop, `--strategy loop`): 100.0 us/example, measured just now over 2 "
                    "windows of 30 examples after a warm-up window")


def test_the_idiom_session_is_built_like_the_runs(monkeypatch):
    from dataclasses import replace

    from harness.targets import Target
    from tests.test_idiom_line import CONFIG, _Backend, _Clock, _data, idiom

    built = []
    real = idiom.make_session
    monkeypatch.setattr(idiom, "make_session", lambda target, bc: built.append(bc) or real(target, bc))
    # every field away from BenchConfig's defaults, so that one left out shows
    config = replace(CONFIG, threads=3, seed=7, variant="1989-paper", dtype="float64", recipe={"targets": 0.8})
    us = idiom.time_idiom(Target(_Backend(_Clock()), "loop"), config, _data(), 8)
    [bc] = built
    assert (bc.variant, bc.dataset, bc.dtype, bc.seed, bc.window, bc.rounds, bc.threads, bc.recipe) == (
        "1989-paper", "synthetic", "float64", 7, 8, idiom.ROUNDS, 3, (("targets", 0.8),))
    assert len(us) == idiom.ROUNDS


def test_a_plugin_backend_that_declares_no_strategies_is_listed_with_none_not_a_traceback():
    """A third-party object with only a name (no `strategies`, `variants`, `dtypes`, `description`
    attributes, or `strategies = None`): `harness backends --json` lists it with what it has."""
    from types import SimpleNamespace

    from harness.cli.backends import backends_rows
    from tests.test_cli_tables import _Reg

    reg = _Reg({"bare": SimpleNamespace(name="bare"), "none": SimpleNamespace(name="none", strategies=None)},
               {"bare": "declares nothing", "none": "declares nothing"})
    assert backends_rows(reg) == [
        {"name": name, "available": False, "reason": "declares nothing", "description": None, "strategies": [],
         "variants": None, "dtypes": None} for name in ("bare", "none")]
