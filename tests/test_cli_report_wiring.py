"""The thin commands over harness.report (harness.cli.report, compare, export): what each prints
and on which stream, its exit status, and a ReportError as one usage line. The report machinery is
replaced by stubs returning known outcomes: these tests pin the commands' own words."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report import ReportError
from harness.report.build import Outcome
from harness.report.export import Exported

report_cli = importlib.import_module("harness.cli.report")
compare_cli = importlib.import_module("harness.cli.compare")
export_cli = importlib.import_module("harness.cli.export")


@pytest.fixture
def results(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    return tmp_path


def test_report_lines(monkeypatch, results, capsys):
    out = Outcome(report=results / "REPORT.md", figures=[results / "f1.png", results / "f2.png"],
                  skipped=[(results / "x.json", "not a result")], notes=["a note"])
    monkeypatch.setattr(report_cli, "build_report", lambda r, d: out)
    assert main(["report", "--results-dir", str(results)]) == 0
    o, e = capsys.readouterr()
    assert o == f"wrote {results / 'REPORT.md'} and 2 figure(s): f1.png, f2.png\n"
    assert e == f"skipped: {results / 'x.json'}: not a result\nnote: a note\n"
    monkeypatch.setattr(report_cli, "build_report", lambda r, d: Outcome(results / "REPORT.md", [], [], []))
    assert main(["report", "--results-dir", str(results)]) == 0
    assert capsys.readouterr().out == f"wrote {results / 'REPORT.md'}\n"


def test_report_json(monkeypatch, results, capsys):
    out = Outcome(report=results / "REPORT.md", figures=[results / "f.png"], skipped=[(results / "x", "why")],
                  notes=["n"])
    monkeypatch.setattr(report_cli, "build_report", lambda r, d: out)
    assert main(["report", "--results-dir", str(results), "--json"]) == 0
    o, e = capsys.readouterr()
    doc = json.loads(o)
    assert doc["command"] == "report" and e == ""
    assert doc["report"] == str(results / "REPORT.md") and doc["figures"] == [str(results / "f.png")]
    assert doc["notes"] == ["n"] and doc["skipped"] == [{"path": str(results / "x"), "reason": "why"}]


def test_report_error_is_one_usage_line(monkeypatch, results, capsys):
    def nothing(r, d):
        raise ReportError("nothing to report in here")

    monkeypatch.setattr(report_cli, "build_report", nothing)
    assert main(["report", "--results-dir", str(results)]) == 2
    assert capsys.readouterr().err == "harness: error: nothing to report in here\n"


def test_report_compare_prints_the_table_then_the_test(monkeypatch, results, capsys):
    monkeypatch.setattr(report_cli, "compare_files", lambda a, b: f"TABLE {Path(a).name} {Path(b).name}")
    monkeypatch.setattr(report_cli, "compare_paths", lambda a, b: {"x": 1})
    monkeypatch.setattr(report_cli, "compare_text", lambda res: f"TEST {res['x']}")
    assert main(["report", "--compare", str(results / "a.json"), str(results / "b.json")]) == 0
    assert capsys.readouterr().out == "TABLE a.json b.json\n\nTEST 1\n"

    def no_scipy(a, b):
        raise ImportError("No module named 'scipy'")

    monkeypatch.setattr(report_cli, "compare_paths", no_scipy)
    assert main(["report", "--compare", str(results / "a.json"), str(results / "b.json")]) == 0
    assert capsys.readouterr().out == ("TABLE a.json b.json\n\n(no test of the timed windows: No module named 'scipy'; "
                                       "pip install 'lecun1989-harness[report]')\n")


def _compare(monkeypatch, res):
    monkeypatch.setattr(compare_cli, "compare_paths", lambda a, b, conf, fail: {**res, "conf": conf, "fail": fail})
    monkeypatch.setattr(compare_cli, "compare_text", lambda r: f"TEXT conf={r['conf']} fail={r['fail']}")


def test_compare_exit_status_is_the_gates(monkeypatch, results, capsys):
    a, b = str(results / "a.json"), str(results / "b.json")
    _compare(monkeypatch, {"exit_code": 0, "unjudged": []})
    assert main(["compare", a, b]) == 0
    assert capsys.readouterr().out == "TEXT conf=0.95 fail=None\n"
    _compare(monkeypatch, {"exit_code": 1, "unjudged": []})
    assert main(["compare", a, b, "--fail-above", "10", "--confidence", "0.9"]) == 1
    assert capsys.readouterr().out == "TEXT conf=0.9 fail=10.0\n"


def test_compare_with_nothing_judged_says_why(monkeypatch, results, capsys):
    a, b = str(results / "a.json"), str(results / "b.json")
    _compare(monkeypatch, {"exit_code": 2, "unjudged": ["torch:eager", "jax:scan"]})
    assert main(["compare", a, b]) == 2
    assert capsys.readouterr().err == ("harness: error: nothing judged: torch:eager; jax:scan could not be tested "
                                       "(no or too few timed windows)\n")
    _compare(monkeypatch, {"exit_code": 2, "unjudged": []})
    assert main(["compare", a, b]) == 2
    assert capsys.readouterr().err == "harness: error: nothing judged: no configuration of A matches one of B\n"


def test_compare_errors_are_usage_errors(monkeypatch, results, capsys):
    a, b = str(results / "a.json"), str(results / "b.json")

    def raising(exc):
        def f(*args):
            raise exc
        return f

    monkeypatch.setattr(compare_cli, "compare_paths", raising(ReportError("no timed windows in A")))
    assert main(["compare", a, b]) == 2
    assert capsys.readouterr().err == "harness: error: no timed windows in A\n"
    monkeypatch.setattr(compare_cli, "compare_paths", raising(ImportError("no scipy")))
    assert main(["compare", a, b]) == 2
    assert capsys.readouterr().err == ("harness: error: harness compare needs scipy (no scipy): pip install "
                                       "'lecun1989-harness[report]'\n")


def test_export_lines(monkeypatch, results, capsys):
    seen = {}

    def fake(r, o, tb):
        seen.update(r=r, o=o, tb=tb)
        return Exported(out_dir=results / "export", skipped=[(results / "x.json", "bad")],
                        counts={"runs.csv": 3, "curves.csv": 40, "scalars": 120, "event directories": 3})

    monkeypatch.setattr(export_cli, "export_results", fake)
    assert main(["export", "--results-dir", str(results), "--tensorboard"]) == 0
    o, e = capsys.readouterr()
    assert seen == {"r": results, "o": None, "tb": True}
    assert o == (f"wrote {results / 'export'}: runs.csv (3 rows), curves.csv (40 rows), 120 scalars, "
                 "3 event directories\n")
    assert e == f"skipped: {results / 'x.json'}: bad\n"
