"""Unit pins of `harness report --compare` and `harness export`'s cell-level helpers: the spread
test at its boundary, B/A where A is zero or missing, the JSON of a comparison, the warning on
unlike training sets; CSV cells (formula defusing per character, numbers, JSON), event tags and
steps, run directories. Each is read by whole-command tests only in passing."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.report import compare, export
from harness.report.load import Loaded
from harness.report.timings import Figure
from tests.test_report import run_result

KEY = ("torch", "eager", "cpu", "float32", "1989")


def fig(median=100.0, p25=None, p75=None, key=KEY, label="torch/eager/cpu", **kw):
    return Figure(key, label, median, p25, p75, **kw)


# ----------------------------------------------------------------------------- compare


@pytest.mark.parametrize("a, b, want", [
    ((90.0, 110.0), (111.0, 130.0), "yes"),
    ((111.0, 130.0), (90.0, 110.0), "yes"),
    ((90.0, 110.0), (110.0, 130.0), "no"),  # touching ranges overlap: not beyond the spread
    ((110.0, 130.0), (90.0, 110.0), "no"),
    ((90.0, 110.0), (95.0, 105.0), "no"),
    ((90.0, 110.0), None, "n/a"),
    (None, (90.0, 110.0), "n/a"),
])
def test_beyond_spread_only_when_the_p25_p75_ranges_do_not_touch(a, b, want):
    fa = fig(100.0, *(a or (None, None)))
    fb = fig(100.0, *(b or (None, None)))
    assert compare.beyond_spread(fa, fb) == want


def test_ratio_is_b_over_a_and_none_where_a_is_zero_or_either_is_missing():
    assert compare._ratio(4.0, 2.0) == 0.5 and compare._ratio(1.0, 2.0) == 2.0
    assert compare._ratio(0, 2.0) is None and compare._ratio(None, 2.0) is None
    assert compare._ratio(2.0, None) is None
    assert compare._ratio(1, 10 ** 400) is None  # too large for a float: no ratio, no crash


def test_compare_pairs_as_json_data():
    a = fig(100.0, 90.0, 110.0, test_error=0.05, train_error=0.002, test_misses=100, train_misses=15, n_train=7291)
    b = fig(50.0, 45.0, 55.0, test_error=0.04, train_error=0.001, test_misses=80, train_misses=7, n_train=7291)
    other = fig(10.0, key=("jax", "scan", "cuda", "float32", "1989"), label="jax/scan/cuda")
    res = compare.compare_pairs([a, other], [b])
    [p] = res["pairs"]
    assert p["a"] == {"label": "torch/eager/cpu", "us_per_example": 100.0, "p25": 90.0, "p75": 110.0,
                      "train_error": 0.002, "test_error": 0.05, "train_misses": 15, "test_misses": 100,
                      "n_train": 7291}
    assert p["b"]["us_per_example"] == 50.0 and p["b"]["test_misses"] == 80
    assert p["ratio_us_per_example"] == 0.5 and p["ratio_test_error"] == pytest.approx(0.8)
    assert p["beyond_spread"] is True
    assert (res["only_a"], res["only_b"]) == (["jax/scan/cuda"], [])
    near = compare.compare_pairs([a], [fig(105.0, 100.0, 120.0)])["pairs"][0]
    assert near["beyond_spread"] is False
    assert compare.compare_pairs([fig()], [fig()])["pairs"][0]["beyond_spread"] is None


def test_compare_rows_give_each_metric_with_misses_and_warn_on_unlike_training_sets():
    a = fig(100.0, 90.0, 110.0, test_error=0.05, test_misses=100, n_train=7291)
    b = fig(200.0, test_error=0.06, test_misses=None, n_train=500, label="torch/eager/cpu new")
    rows, notes = compare.compare_rows([a], [b])
    assert rows == [
        ["torch/eager/cpu vs torch/eager/cpu new", "us/example", "100.0 [90.0-110.0]", "200.0", "2.000", "n/a"],
        ["torch/eager/cpu vs torch/eager/cpu new", "test error", "5.00% (100)", "6.00%", "1.200", "n/a"],
    ]
    assert notes == [("warning: torch/eager/cpu: A trained on 7291 examples per pass, B on 500: the errors (and "
                     "compile share) are not like for like")]
    assert compare.compare_rows([fig(n_train=7291)], [fig(n_train=7291)])[1] == []


def test_compare_rows_show_a_metric_one_side_lacks_and_one_label_for_one_configuration():
    a = fig(100.0, train_error=0.002, train_misses=15, test_error=0.05, test_misses=100)
    b = fig(100.0, test_error=0.05, test_misses=80)
    rows, _ = compare.compare_rows([a], [b])
    assert rows == [["torch/eager/cpu", "us/example", "100.0", "100.0", "1.000", "n/a"],
                    ["torch/eager/cpu", "train error", "0.20% (15)", "-", "-", "n/a"],
                    ["torch/eager/cpu", "test error", "5.00% (100)", "5.00% (80)", "1.000", "n/a"]]
    assert compare.compare_rows([fig()], [fig()])[0] == [["torch/eager/cpu", "us/example", "100.0", "100.0",
                                                          "1.000", "n/a"]]  # no error recorded: no error rows
    rows, _ = compare.compare_rows([fig(test_error=0.05)], [fig(test_error=0.04, test_misses=3)])
    assert rows[1] == ["torch/eager/cpu", "test error", "5.00%", "4.00% (3)", "0.800", "n/a"]


# ----------------------------------------------------------------------------- export cells


@pytest.mark.parametrize("c", ["=", "+", "-", "@", "\t", "\r"])
def test_each_formula_lead_character_is_defused(c):
    assert export.cell(f"{c}1+1") == f"'{c}1+1"
    assert export.cell(f"a{c}1") == f"a{c}1"  # only at the start


def test_cells_keep_numbers_and_write_structures_as_sorted_json():
    assert export.cell(None) == "" and export.cell(0) == 0 and export.cell(-1.5) == -1.5 and export.cell(True) is True
    assert export.cell({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    assert export.cell(("x", 1)) == '["x", 1]'
    assert export.number(7) == 7 and export.number(True) is None and export.number(float("nan")) is None
    assert export.number(0.25) == 0.25 and export.number("3") is None


def test_csv_bytes_header_then_rows_newline_terminated():
    assert export.csv_bytes(["a", "b"], [[1, None], ["=x", {"k": 1}]]) == b'a,b\n1,\n\'=x,"{""k"": 1}"\n'


def test_run_directory_and_relative_names(tmp_path):
    assert export._run_dir(tmp_path / "sub" / "run-1.json", tmp_path) == f"sub{os.sep}run-1".replace(os.sep, "__")
    assert export._run_dir(tmp_path / "run-1.json", tmp_path) == "run-1"
    outside = Path("/elsewhere/r.json")
    assert export._rel(outside, tmp_path) == str(outside)


def test_curve_rows_number_the_passes_and_carry_every_pass_key(tmp_path):
    d = run_result(passes=3)
    d["epochs"][1].pop("epoch")
    d["epochs"][2]["epoch"] = 9
    head, rows = export.curve_rows([Loaded(tmp_path / "r.json", d, "2026-01-01")], tmp_path)
    assert head[-len(export.PASS_KEYS) - 1:] == ["pass", *export.PASS_KEYS]
    assert [row[head.index("pass")] for row in rows] == [1, 2, 9]
    assert rows[0][head.index("test_misses")] == d["epochs"][0]["test_misses"]
    assert rows[2][head.index("train_pass_loss")] == d["epochs"][2]["train_pass_loss"]


class Recorder:
    """A SummaryWriter stand-in that records what write_events gives it."""
    log: list = []  # noqa: RUF012 -- one list per test, reset there

    def __init__(self, logdir, flush_secs):
        Recorder.log.append(("open", logdir, flush_secs))

    def add_text(self, tag, text, step, walltime):
        Recorder.log.append(("text", tag, step, walltime))

    def add_scalar(self, tag, v, step, walltime):
        Recorder.log.append(("scalar", tag, step, v, walltime))

    def close(self):
        Recorder.log.append(("close",))


def test_write_events_tags_each_pass_figure_at_its_pass_with_the_runs_time(tmp_path):
    Recorder.log = []
    d = run_result(passes=2)
    d["epochs"][1]["test_error"] = None  # not recorded: no scalar
    n = export.write_events(Recorder, tmp_path / "ev", Loaded(tmp_path / "r.json", d, "2026-01-01T00:00:00+00:00"))
    t = 1767225600.0  # 2026-01-01T00:00:00Z
    scalars = [e for e in Recorder.log if e[0] == "scalar"]
    assert n == len(scalars) == 2 * len(export.PASS_KEYS) - 1
    assert ("scalar", "test/error", 1, d["epochs"][0]["test_error"], t) in scalars
    assert ("scalar", "train/misses", 2, d["epochs"][1]["train_misses"], t) in scalars
    assert not any(tag == "test/error" and step == 2 for _, tag, step, *_ in scalars)
    assert Recorder.log[0] == ("open", str(tmp_path / "ev"), 3600) and Recorder.log[1] == ("text", "config", 0, t)
    assert Recorder.log[-1] == ("close",)


def test_text_table_header_rule_then_rows_aligned():
    from harness.report.fmt import text_table

    assert text_table(["name", "n"], [["a", 10], ["bbbbbb", None]], "lr").splitlines() == [
        "name     n", "------  --", "a       10", "bbbbbb   -"]


def test_welch_without_spread_gives_an_infinite_t_of_the_differences_sign():
    from harness.report.ablation import welch

    assert welch([2.0, 2.0], [3.0, 3.0]).t == float("-inf")
    assert welch([3.0, 3.0], [2.0, 2.0]).t == float("inf")
    assert welch([2.0, 2.0], [2.0, 2.0]).t == 0.0


def test_pooled_figures_of_one_configuration_keep_every_window_and_name_every_file():
    from harness.report.gate import _pooled

    a = fig(2.0, samples=[1.0, 2.0, 3.0], source="a.json")
    b = fig(4.5, samples=[4.0, 5.0], source="b.json")
    other = fig(9.0, key=("jax", "scan", "cpu", "float32", "1989"), samples=[9.0], source="c.json")
    p, o = _pooled([b, a, other])
    assert (p.samples, p.median, p.source) == ([4.0, 5.0, 1.0, 2.0, 3.0], 3.0, "a.json, b.json")
    assert o is other
    [n] = _pooled([fig(7.0, source="x.json"), fig(8.0, source="y.json")])  # no windows kept: the first median
    assert (n.samples, n.median) == (None, 7.0)
