"""The report's exact words where a result file leaves something out or nothing can be said: the
placeholder a missing field becomes (a parity row without a target or tensor, a check without a
name or verdict), the verdict sentences of `harness compare`, the messages of an empty seed table
and of an export that could not be written, and where a pytest-benchmark figure's machine and
spread come from when its file omits them. Whole-report tests look for these by substring, or
not at all (issue 24 item 9: the seed-2 mutation sample's survivors)."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from harness.report import export, gate, parity_matrix, sections, seeds, timings
from harness.report.load import Loaded, ReportError
from tests.test_report import benchmark_file, run_result, write

# ----------------------------------------------------------------------------- parity: missing fields


def _parity(checks, config=None):
    return {"kind": "parity", "config": config if config is not None else {}, "checks": checks}


def test_parity_matrix_shows_a_dash_for_a_row_without_target_tensor_or_configuration(tmp_path):
    p = _parity([{"name": "trajectory", "rows": [{"max_abs": 3e-7, "passed": True}]}])  # no target, no tensor
    _, rows = parity_matrix.matrix([Loaded(tmp_path / "p.json", p, "2026-01-03")])
    (row,) = rows
    assert (row["variant"], row["dtype"], row["device"], row["target"]) == ("-", "-", "-", "-")
    assert row["reference"] == "-"
    assert (row["largest"], row["where"]) == (3e-7, "trajectory -")


def test_parity_matrix_names_a_check_without_a_name_check(tmp_path):
    p = _parity([{"rows": [{"target": "jax:scan", "tensor": "H1w", "max_abs": 1e-9, "passed": True}]}],
                {"targets": ["jax:scan", "tf:xla"]})
    names, rows = parity_matrix.matrix([Loaded(tmp_path / "p.json", p, "2026-01-03")])
    assert names == ["check"]
    by_target = {r["target"]: r for r in rows}
    assert by_target["jax:scan"]["where"] == "check H1w"
    assert by_target["jax:scan"]["checks"] == {"check": (1e-9, "PASS")}
    assert by_target["tf:xla"]["verdict"] == parity_matrix.NO_ROWS  # asked for, no row came back


def test_largest_skips_counts_and_missing_values_and_names_the_tensor():
    rows = [("a", {"tensor": "misses", "count": True, "max_abs": 9.0}), ("a", {"tensor": "H1w", "max_abs": None}),
            ("b", {"tensor": "out", "max_abs": 2e-6}), ("c", {"max_abs": 1e-6})]
    assert parity_matrix._largest(rows) == (2e-6, "b out")
    assert parity_matrix._largest(rows[:2]) == (None, "")
    assert parity_matrix._largest(rows[3:]) == (1e-6, "c -")


def test_parity_check_heading_title_and_summary():
    c = {"name": "forward", "passed": True, "title": "Forward pass at the initial weights", "summary": "all equal",
         "rows": []}
    assert sections._parity_check(c) == ["### forward: PASS", "", "Forward pass at the initial weights", "",
                                         "all equal", ""]
    assert sections._parity_check({"passed": False, "rows": []}) == ["### check: FAIL", ""]
    assert sections._parity_check({"rows": []}) == ["### check: ?", ""]  # no verdict recorded
    assert sections._parity_check({"passed": None, "title": "", "rows": []}) == ["### check: ?", ""]


def test_parity_section_says_unknown_for_a_result_without_a_verdict(tmp_path):
    from harness.report import build_report
    from tests.test_report import parity_result

    d = parity_result()
    del d["passed"]
    d["checks"][0]["title"] = "Trajectory over 20 steps"
    write(tmp_path / "parity.json", d)
    md = build_report(tmp_path).report.read_text()
    assert "): **?**" in md and "\nTrajectory over 20 steps\n" in md


# ----------------------------------------------------------------------------- compare: verdict sentences


def _bench(us: float, n_rounds: int | None = 12) -> dict:
    doc = benchmark_file([("torch", "eager", "cpu", us, 64, us / 10)])
    if n_rounds is not None:
        doc["benchmarks"][0]["stats"]["data"] = [us * 64e-6 * (1 + 0.01 * (i % 5)) for i in range(n_rounds)]
    return doc


SAME = "same path: A compared with itself, no difference can be claimed"
IDENTICAL = "identical windows in A and B (the same measurement twice?): no difference can be claimed"


def test_compare_a_path_with_itself_says_so_in_the_json_and_the_text(tmp_path):
    a = write(tmp_path / "a.json", _bench(800.0))
    res = gate.compare_paths(a, a, fail_above=10)
    (row,) = res["comparisons"]
    assert row["verdict"] == SAME and res["same_file"] is True and res["exit_code"] == 0
    lines = gate.compare_text(res).splitlines()
    assert lines[3:5] == ["A and B are the same path: no difference can be claimed.", ""]
    assert lines[5].endswith(f": {SAME}; gate PASS")


def test_compare_of_a_copy_says_identical_windows(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write(tmp_path / "a" / "bench.json", _bench(800.0))
    b = Path(shutil.copy(a, tmp_path / "b" / "bench.json"))
    res = gate.compare_paths(a, b)
    (row,) = res["comparisons"]
    assert row["verdict"] == IDENTICAL and res["same_file"] is False
    assert "A and B are the same path" not in gate.compare_text(res)


@pytest.mark.parametrize("a_rounds, b_rounds, verdict", [
    (None, 12, "no samples: A kept no per-window times (a file written before they were kept?)"),
    (12, None, "no samples: B kept no per-window times (a file written before they were kept?)"),
    (None, None, "no samples: A and B kept no per-window times (a file written before they were kept?)"),
    (4, 12, "too few windows (4 in A, 12 in B; at least 5 each)"),
    (12, 3, "too few windows (12 in A, 3 in B; at least 5 each)"),
])
def test_compare_says_why_it_gives_no_verdict(tmp_path, a_rounds, b_rounds, verdict):
    a = write(tmp_path / "a.json", _bench(800.0, a_rounds))
    b = write(tmp_path / "b.json", _bench(1600.0, b_rounds))
    res = gate.compare_paths(a, b, fail_above=10)
    (row,) = res["comparisons"]
    assert row["verdict"] == verdict and row["gate"] is None
    assert res["unjudged"] == [row["configuration"]] and res["exit_code"] == 2
    assert gate.compare_text(res).splitlines()[-1] == f"NOT JUDGED: {row['configuration']} could not be tested"


def test_compare_text_last_line_for_each_outcome_of_the_gate(tmp_path):
    a = write(tmp_path / "a.json", _bench(800.0))
    b = write(tmp_path / "b.json", _bench(1600.0))
    res = gate.compare_paths(a, b, fail_above=10)
    conf = res["comparisons"][0]["configuration"]
    assert gate.compare_text(res).splitlines()[-1] == f"FAIL: B slower than A by more than 10% at 95% confidence: {conf}"
    res = gate.compare_paths(b, a, fail_above=10)
    assert gate.compare_text(res).splitlines()[-1] == (
        "PASS: no configuration of B slower than A by more than 10% at 95% confidence (1 compared)")
    assert gate.compare_text(gate.compare_paths(a, b)).splitlines()[-1].endswith(": slower")  # no gate asked


# ----------------------------------------------------------------------------- seeds: fixed texts


def test_seed_tables_without_runs_says_so_in_one_line():
    assert seeds.seed_tables([]) == "No run results to group over seeds.\n"
    assert seeds.seed_tables([{"kind": "parity"}]) == "No run results to group over seeds.\n"


def test_seed_tables_of_the_papers_setting_states_how_it_judges_the_paper():
    from tests.test_seeds import _run

    md = seeds.seed_tables([_run(1, 0.05), _run(2, 0.06)])
    assert ("The paper's figures (1989: 0.14% train / 5.00% test error, train MSE 2.5e-3, test MSE 1.8e-2) "
            "against the seed spread, judged two ways: within the observed min–max, and within mean ± 2 sd "
            "(sd over seeds, n-1).") in md.splitlines()
    assert md.splitlines()[0] == "### Over seeds: CPU A, device cpu"
    other = _run(1, 0.05)
    other["dataset"] = other["config"]["dataset"] = "mnist"
    assert "The paper's figures" not in seeds.seed_tables([other])  # not the paper's data: no comparison


def test_seed_table_cells_without_values():
    empty = {"n": 0, "sd": None}
    assert seeds._pct(empty) == ("-", "-") and seeds._sci(empty) == "-" and seeds._us(empty) == "-"
    one = {"n": 1, "mean": 0.05, "sd": None, "min": 0.05, "max": 0.05, "median": 30.0}
    assert seeds._pct(one) == ("5.00 ± -", "5.00–5.00") and seeds._sci(one) == "5.00e-02 ± -"
    assert [seeds._yes(b) for b in (None, True, False)] == ["-", "yes", "no"]


# ----------------------------------------------------------------------------- export: the error message


@pytest.mark.parametrize("err, said", [
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (OSError(errno.EACCES, "Permission denied", "/x/runs.csv"), "Permission denied (/x/runs.csv)"),
    (OSError("disk gone"), "disk gone"),
])
def test_export_names_what_could_not_be_written_and_only_the_file_it_knows(tmp_path, monkeypatch, err, said):
    write(tmp_path / "run.json", run_result())

    def fail(*_a, **_k):
        raise err

    monkeypatch.setattr(export, "_stage", fail)
    with pytest.raises(ReportError) as e:
        export.export_results(tmp_path)
    assert str(e.value) == f"could not write the export into {tmp_path / 'export'}: {said}"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == []  # the staging directory removed


# ----------------------------------------------------------------------------- pytest-benchmark figures


def _one(tmp_path, doc) -> timings.Figure:
    (f,) = timings.figures_of_pytest_benchmark(Loaded(tmp_path / "b.json", doc, "2026-01-02"))
    return f


@pytest.mark.parametrize("device, cpu, device_name, machine", [
    ("cpu", "AMD EPYC 7B13", "ignored", "AMD EPYC 7B13"),  # a CPU benchmark: the CPU it ran on
    ("cpu", None, "fake cpu", "fake cpu"),  # no CPU recorded: the backend's device name
    ("cpu", None, None, "cpu"),
    ("cuda", "AMD EPYC 7B13", "NVIDIA H100", "NVIDIA H100"),  # an accelerator: its name, not the host's CPU
    ("cuda", "AMD EPYC 7B13", None, "cuda"),
])
def test_pytest_figure_machine_is_the_cpu_or_the_accelerator_it_ran_on(tmp_path, device, cpu, device_name, machine):
    doc = benchmark_file([("jax", "scan", device, 50.0, 1000, 4.0)])
    if cpu is None:
        del doc["machine_info"]
    if device_name is not None:
        doc["benchmarks"][0]["extra_info"]["device_name"] = device_name
    f = _one(tmp_path, doc)
    assert f.machine == machine and f.env == (cpu or "-")
    doc["benchmarks"][0]["params"]["device_name"] = doc["benchmarks"][0]["extra_info"].pop("device_name", None)
    assert _one(tmp_path, doc).machine == machine  # the same when pytest's params carry it


def test_pytest_figure_spread_is_none_without_quartiles_or_iqr_and_prefers_extra_info(tmp_path):
    doc = benchmark_file([("jax", "scan", "cpu", 50.0, 1000, 4.0)])
    st, ex = doc["benchmarks"][0]["stats"], doc["benchmarks"][0]["extra_info"]
    for k in ("q1", "q3", "iqr"):
        del st[k]
    f = _one(tmp_path, doc)
    assert (f.p25, f.p75, f.spread) == (None, None, None) and f.median == pytest.approx(50.0)
    ex["p25"], ex["p75"] = 47.0, 55.0  # the benchmark's own per-example quartiles win
    st["q1"], st["q3"] = st["median"] * 0.5, st["median"] * 2
    f = _one(tmp_path, doc)
    assert (f.p25, f.p75) == (47.0, 55.0)
    del ex["p75"]
    assert _one(tmp_path, doc).p75 == pytest.approx(100.0)



# ----------------------------------------------------------------------------- runs table and identity


def test_runs_table_row_column_by_column_and_its_dashes(tmp_path):
    from harness.report.runs import runs_table

    d = run_result(final_train=(0.0014, 10), final_test=(0.0523, 105), compile_s=1.5)
    bare = {k: v for k, v in d.items() if k not in ("n_train", "seed", "config", "timing", "dataset", "environment")}
    head, rows, _ = runs_table([Loaded(tmp_path / "a.json", d, ""), Loaded(tmp_path / "b.json", bare, "")], tmp_path)
    assert dict(zip(head, rows[0])) == {
        "backend": "torch", "strategy": "eager", "device": "cpu", "recipe": "1989", "dataset": "usps",
        "dtype": "float32", "seed": "1337", "passes": 4, "train n": "7291", "train error": "0.14%",
        "train misses": "10", "test error": "5.23%", "test misses": "105", "us/example (median)": "100.0",
        "us/example p25-p75": "95.0-105.0", "compile s": "1.5",
        "environment": "AMD EPYC 7B13 · torch 9.9.9 · 1 thread of 2 cores", "result": "[a.json](a.json)"}
    assert dict(zip(head, rows[1])) == {
        "backend": "torch", "strategy": "eager", "device": "cpu", "recipe": "1989", "dataset": "-",
        "dtype": "float32", "seed": "-", "passes": 4, "train n": "-", "train error": "0.14%",
        "train misses": "10", "test error": "5.23%", "test misses": "105", "us/example (median)": "-",
        "us/example p25-p75": "-", "compile s": "-", "environment": "-", "result": "[b.json](b.json)"}


def test_identity_of_a_result_harness_config_cannot_read_counts_its_passes():
    from harness.config import result_config
    from harness.report.curves import config_key, identity

    def unreadable(passes):
        d = run_result(passes=passes)
        del d["seed"]  # a result RunConfig.from_result refuses: its recorded fields stand for its identity
        return d

    d = unreadable(4)
    assert result_config(d) is None
    assert identity(d) == {"backend": "torch", "strategy": "eager", "device": "cpu", "variant": "1989",
                           "recipe": {}, "dataset": "usps", "dtype": "float32", "seed": None, "epochs": 4,
                           "limit": None}
    assert config_key(d) != config_key(unreadable(6))  # 4 and 6 passes: two configurations, two colours
    assert identity(dict(d, recipe={"set": {"targets": 0.8}}))["recipe"] == {"targets": 0.8}
    assert identity(dict(d, recipe={"set": "odd"}))["recipe"] == {}


# ----------------------------------------------------------------------------- fmt: at each boundary


def test_plain_keeps_text_of_exactly_the_limit_and_cuts_one_more():
    from harness.report.fmt import plain

    assert plain("a" * 90) == "a" * 90 and plain("a" * 91) == "a" * 87 + "..."
    assert plain("abcdef", 6) == "abcdef" and plain("abcdefg", 6) == "abc..."
    assert plain(" a\x00b\n\tc ") == "ab c"  # controls dropped, white space one blank


def test_fmt_us_switches_to_one_decimal_at_ten():
    from harness.report.fmt import fmt_us

    assert [fmt_us(v) for v in (9.99, 10, 1234.56, None, float("nan"))] == ["9.99", "10.0", "1,234.6", "-", "-"]


# ----------------------------------------------------------------------------- sections: parity lines, paper


def test_parity_section_names_the_compared_targets_and_the_older_results(tmp_path):
    from harness.report import build_report
    from tests.test_report import parity_result

    old = parity_result()
    write(tmp_path / "parity-old.json", dict(old, finished="2026-01-01T00:00:00+00:00"))
    write(tmp_path / "parity-new.json", dict(old, finished="2026-01-02T00:00:00+00:00"))
    lines = build_report(tmp_path).report.read_text().splitlines()
    assert "Compared: jax:scan, torch:compiled." in lines
    (older,) = [x for x in lines if x.startswith("Older parity results: ")]
    assert older.count("parity-") == 2 and older.endswith(".")  # one link: its text and its target


@pytest.mark.parametrize("variant, losses", [("1989", True), ("modern", False)])
def test_learning_curves_compare_losses_with_the_paper_only_for_its_recipe(tmp_path, monkeypatch, variant, losses):
    from harness.report import build_report
    from harness.report import figures as F
    from harness.report.seeds import PAPER_1989

    seen = []
    monkeypatch.setattr(F, "learning_curves", lambda plt, title, groups, paper, note=None: seen.append(paper))
    write(tmp_path / "run.json", run_result(variant=variant))
    build_report(tmp_path)
    errors = {k: PAPER_1989[k] for k in ("train_error", "test_error")}
    assert seen == [dict(PAPER_1989) if losses else errors]
    assert ("test_loss" in seen[0]) is losses


# ----------------------------------------------------------------------------- throughput: which files, which labels


def test_throughput_source_names_the_pytest_benchmark_files_else_says_runs_and_bench(tmp_path):
    from harness.report.load import Scan
    from tests.test_report import bench_result

    bench = Loaded(tmp_path / "bench.json", bench_result(), "2026-01-02T00:00:00+00:00")
    run = Loaded(tmp_path / "run.json", run_result(), "2026-01-01T00:00:00+00:00")
    pb = Loaded(tmp_path / "pb.json", benchmark_file([("jax", "scan", "cpu", 50.0, 1000, 4.0)]), "2026-01-03")
    figs, source = timings.throughput_figures(Scan(runs=[run], benches=[bench], pytest_benchmarks=[pb]))
    # pytest-benchmark figures there: theirs and bench's, not the runs' (timed while training and evaluating)
    assert source == "bench.json, pb.json" and sorted(f.source for f in figs) == ["bench.json", "bench.json", "pb.json"]
    figs, source = timings.throughput_figures(Scan(runs=[run], benches=[bench]))
    assert source == "run and bench results" and "run.json" in {f.source for f in figs}
    bare = benchmark_file([("jax", "scan", "cpu", 50.0, 1000, 4.0)])
    del bare["benchmarks"][0]["extra_info"]["us_per_example"], bare["benchmarks"][0]["extra_info"]["steps"]
    no_per_example = Loaded(tmp_path / "pb.json", bare, "2026-01-03")
    _, source = timings.throughput_figures(Scan(runs=[run], benches=[bench], pytest_benchmarks=[no_per_example]))
    assert source == "run and bench results (the pytest-benchmark files have no per-example figures)"


def test_throughput_labels_show_dtype_and_variant_only_where_they_vary(tmp_path):
    from harness.report.load import Scan
    from tests.test_report import bench_result

    b = bench_result()
    b["rows"][1]["dtype"] = "float64"
    figs, _ = timings.throughput_figures(Scan(benches=[Loaded(tmp_path / "bench.json", b, "2026-01-02")]))
    assert [f.label for f in figs] == ["jax/scan/cpu float64", "torch/compiled/cpu float32"]  # fastest first
    b["rows"][1]["dtype"] = "float32"
    figs, _ = timings.throughput_figures(Scan(benches=[Loaded(tmp_path / "bench.json", b, "2026-01-02")]))
    assert [f.label for f in figs] == ["jax/scan/cpu", "torch/compiled/cpu"]


def test_parity_facts_name_each_setting_the_recipe_and_a_self_check():
    d = {"config": {"reference": "torch:eager", "device": "cpu", "dtype": "float64", "variant": "1989",
                    "dataset": "synthetic", "seed": 0, "self_check": True, "targets": ["jax:scan"]},
         "recipe": {"set": {"targets": 0.8}, "label": "1989 targets=0.8"}}
    assert sections._parity_facts(d) == ["reference torch:eager", "device cpu", "dtype float64", "variant 1989",
                                         "dataset synthetic", "seed 0", "recipe 1989 targets=0.8",
                                         "self-check (the reference against itself)"]
    d["config"].update(seed=None, self_check=False)
    del d["config"]["dataset"]
    d["recipe"]["set"] = {}  # no knob set: the variant says it all
    assert sections._parity_facts(d) == ["reference torch:eager", "device cpu", "dtype float64", "variant 1989"]
    assert sections._parity_facts({}) == []


def test_a_folded_group_of_rows_without_a_tensor_is_a_dash_and_its_count():
    from harness.report import parity_view

    rows = [{"target": "jax:scan", "max_abs": 1e-9 * i, "passed": True} for i in range(1, 4)]
    (worst,) = parity_view._folded(rows, "target")
    assert worst["tensor"] == "- (worst of 3)" and worst["max_abs"] == pytest.approx(3e-9)
    named = [dict(r, tensor=f"H{i}w") for i, r in enumerate(rows, 1)]
    assert [r["tensor"] for r in parity_view._folded(named, "target")] == ["H3w (worst of 3)"]


def test_a_runs_timing_figure_carries_its_final_errors_and_misses(tmp_path):
    d = run_result(final_train=(0.0014, 10), final_test=(0.0523, 105))
    (f,) = timings.figures_of_run(Loaded(tmp_path / "run.json", d, "2026-01-02"))
    assert (f.train_error, f.test_error, f.train_misses, f.test_misses) == (0.0014, 0.0523, 10, 105)
    assert (f.n_train, f.source, f.when) == (7291, "run.json", "2026-01-02")
