"""Unit pins of the report's bookkeeping (harness/report/**), each function called on its own with
small inputs: the messages it composes, the keys and headers it writes, the labels it builds, the
way it matches, stages and counts. Whole-report tests (test_report.py) read these only through
REPORT.md; a token changed here would pass them (issue 24 item 9: mutation survivors)."""
from __future__ import annotations

import csv
import io
import typing
from pathlib import Path

import numpy as np
import pytest

from harness.report import (
    build,
    compare,
    curves,
    export,
    gate,
    parity_matrix,
    parity_view,
    seeds,
    timings,
)
from harness.report.load import Loaded, ReportError, Scan, load_one
from tests.test_report import bench_result, benchmark_file, run_result, write
from tests.test_seeds import _run as seed_run

NO_MISSES = {"indices": [], "predicted": [], "labels": []}


# ----------------------------------------------------------------------------- build / load messages


@pytest.mark.parametrize("n, ellipsis", [(1, False), (3, False), (4, True), (7, True)])
def test_nothing_to_report_names_the_first_three_skipped_files_and_marks_more(n, ellipsis):
    sc = Scan(skipped=[(Path(f"f{k}.json"), f"why {k}") for k in range(n)])
    msg = str(build._nothing_to_report(Path("res"), sc))
    assert msg.startswith("nothing to report in res: no run, bench or parity results and no pytest-benchmark JSON; ")
    assert f"{n} file{'s' if n != 1 else ''} skipped: f0.json (why 0)" in msg
    assert msg.count(".json (why") == min(n, 3)
    assert msg.endswith(", ...") is ellipsis


def test_nothing_to_report_in_an_empty_directory_says_no_json_files():
    assert str(build._nothing_to_report(Path("res"), Scan())).endswith("pytest-benchmark JSON (no *.json files)")


def test_load_one_names_a_file_that_is_neither_a_result_nor_a_pytest_benchmark(tmp_path):
    p = write(tmp_path / "other.json", {"hello": 1})
    with pytest.raises(ReportError) as e:
        load_one(p)
    assert str(e.value) == f"{p}: neither a harness result nor a pytest-benchmark JSON file"


# ----------------------------------------------------------------------------- compare: pairing


def fig(key, name=None, median=10.0, samples=None, label=None):
    return timings.Figure(tuple(key), label or timings.label(tuple(key)), median, name=name, samples=samples)


def test_pair_falls_back_to_backend_strategy_device_and_uses_the_partner_once():
    a = [fig(("torch", "eager", "cpu", "float32", "1989")), fig(("jax", "scan", "cpu", "float32", "1989"))]
    loose = fig(("torch", "eager", "cpu", None, None))  # B does not record dtype or variant
    other = fig(("tf", "xla", "cpu", None, None))
    pairs, only_a, only_b = compare._pair(a, [loose, other])
    assert [(x.key, y.key) for x, y in pairs] == [(a[0].key, loose.key)]
    assert only_a == [a[1]]
    assert only_b == [other]  # the partner taken by the fallback is not also "only in B"


def test_pair_fallback_refuses_an_ambiguous_match():
    a = [fig(("torch", "eager", "cpu", "float32", "1989")), fig(("torch", "eager", "cpu", "float64", "1989"))]
    b = [fig(("torch", "eager", "cpu", None, None)), fig(("jax", "scan", "cpu", None, None))]
    pairs, only_a, only_b = compare._pair(a, b)
    assert pairs == [] and only_a == a and only_b == b


# ----------------------------------------------------------------------------- gate


def test_ratio_test_on_one_distribution_says_no_difference_beyond_noise():
    xs = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8]
    r = gate.ratio_test(xs, list(reversed(xs)), fail_above=5.0)
    assert r["verdict"] == "no difference beyond noise"
    assert r["gate"] == "pass" and r["ratio"] == 1.0


def test_ratio_test_computes_in_double_precision_whatever_the_windows_type():
    a = [3.0, 3.1, 2.9, 3.05, 2.95, 3.02]
    b = [1.0, 1.1, 0.9, 1.05, 0.95, 1.01]
    ref = gate.ratio_test(a, b)
    got = gate.ratio_test(list(np.asarray(a, dtype=np.float32)), list(np.asarray(b, dtype=np.float32)))
    # float32 windows hold slightly other values: compare with the same values read as Python floats
    same = gate.ratio_test([float(x) for x in np.asarray(a, dtype=np.float32)],
                           [float(x) for x in np.asarray(b, dtype=np.float32)])
    assert got == same
    assert ref["verdict"] == got["verdict"] == "faster"


def test_entry_names_every_field_of_the_configuration():
    key = ("torch", "eager", "cuda", "float64", "modern")
    xs = [10.0, 11.0, 12.0, 10.5, 11.5]
    e = gate._entry(fig(key, samples=xs, label="A"), fig(key, samples=[x * 2 for x in xs], label="B"), 0.95, None)
    assert {k: e[k] for k in ("configuration", "backend", "strategy", "device", "dtype", "variant")} == {
        "configuration": "A vs B", "backend": "torch", "strategy": "eager", "device": "cuda", "dtype": "float64",
        "variant": "modern"}
    assert e["verdict"] == "slower" and e["gate"] is None


# ----------------------------------------------------------------------------- learning-curve labels


def test_part_of_a_label_shows_pairs_as_name_value_and_anything_else_as_itself():
    assert curves._part("recipe", (("targets", 0.8), "odd", ("a", "b", "c"))) == "targets=0.8 odd ('a', 'b', 'c')"
    assert curves._part("epochs", 23) == "23 passes" and curves._part("limit", 500) == "limit 500"
    assert curves._part("recipe", ()) is None and curves._part("device", None) is None
    assert curves._part("device", "cuda") == "cuda"


def test_config_label_names_backend_and_strategy_once_even_when_they_vary():
    key = (("backend", "jax"), ("strategy", "scan"), ("device", "cuda"), ("variant", "1989"), ("recipe", ()))
    assert curves.config_label(key, ("backend", "strategy")) == "jax:scan"
    assert curves.config_label(key, ("backend", "device")) == "jax:scan cuda"
    assert curves.config_label(key, ("variant",)) == "jax:scan 1989"


def test_series_numbers_passes_from_one_where_a_pass_records_no_epoch():
    r = Loaded(Path("r.json"), {"epochs": [{"epoch": 5, "test_error": 0.1}, {"test_error": 0.05},
                                           {"epoch": "x", "test_error": 0.04}]}, "")
    s = curves._series(r, 3)
    assert s["seed"] == 3 and s["epoch"] == [5, 2, 3]
    assert s["test_error"] == [0.1, 0.05, 0.04] and s["train_error"] == [None, None, None]


# ----------------------------------------------------------------------------- parity tables


def test_parity_matrix_verdict_takes_the_earliest_horizon_of_the_rows_beyond_tolerance():
    rows = [{"passed": True, "within_tol": True, "judged_to": 3},  # within tolerance: no horizon
            {"passed": True, "within_tol": False, "judged_to": 40},
            {"passed": True, "within_tol": False, "judged_to": 12}]
    assert parity_matrix._verdict(rows) == "PASS to step 12"
    assert parity_matrix._verdict(rows[:1]) == "PASS"
    assert parity_matrix._verdict([{"passed": True, "within_tol": False}]) == "PASS to a horizon"
    assert parity_matrix._verdict(rows + [{"passed": False}]) == "FAIL"
    assert parity_matrix._verdict(rows + [{"passed": None}]) == "-"
    assert parity_matrix._verdict([]) == parity_matrix.NO_ROWS


def test_parity_row_cells_show_a_dash_for_what_a_row_does_not_record():
    assert parity_view._row_cells({"passed": True}, None, False) == ["-", "-", "-", "-", "-", "PASS"]
    cells = parity_view._row_cells({"target": "jax:scan", "tensor": "H1w", "max_abs": 1e-9, "max_rel": 2e-7,
                                    "tol": 1e-8, "passed": False, "first_step": 4}, None, True)
    assert cells[:2] == ["jax:scan", "H1w"] and cells[-2:] == ["FAIL", "4"]


# ----------------------------------------------------------------------------- seeds


def test_yes_is_yes_no_or_a_dash_when_not_judged():
    assert [seeds._yes(b) for b in (True, False, None)] == ["yes", "no", "-"]


def test_strip_rows_label_plain_text_and_a_long_device_cut_to_twenty_characters():
    device = "cuda:0 NVIDIA H200 141GB HBM3e"
    runs = [seed_run(s, 0.05 + s / 100, device=device, strategy="scan_*x*") for s in (1, 2)]
    (label, vals), = seeds.strip_rows(runs)[0]
    assert sorted(vals) == pytest.approx([0.06, 0.07])
    assert label.startswith("jax:scan_*x* 1989 usps float32 3 passes")  # plain text: no markdown escapes
    assert label.endswith(", " + device[:17] + "...")


# ----------------------------------------------------------------------------- timings


def test_pytest_figure_scales_by_steps_when_the_benchmark_gives_no_us_per_example(tmp_path):
    b = benchmark_file([("jax", "scan", "cpu", 50.0, 1000, 4.0)])
    del b["benchmarks"][0]["extra_info"]["us_per_example"]
    [f] = timings.figures_of_pytest_benchmark(Loaded(tmp_path / "b.json", b, "2026-01-02"))
    assert f.median == pytest.approx(50.0) and f.spread == pytest.approx((48.0, 52.0))
    b["benchmarks"][0]["extra_info"].pop("steps")
    assert timings.figures_of_pytest_benchmark(Loaded(tmp_path / "b.json", b, "2026-01-02")) == []


def test_a_bench_row_inherits_the_results_backend_and_carries_its_environment(tmp_path):
    b = bench_result()
    b["backend"], b["environment"] = "torch", {"cpu_model": "AMD EPYC 7B13"}
    del b["rows"][0]["backend"]
    b["rows"][1]["environment"] = {"jax": "0.9.1"}
    f0, f1 = timings.figures_of_bench(Loaded(tmp_path / "bench.json", b, "2026-01-02"))
    assert f0.key[0] == "torch" and f0.env == "AMD EPYC 7B13"
    assert f1.key[0] == "jax" and f1.env.startswith("AMD EPYC 7B13 · jax 0.9.1")


# ----------------------------------------------------------------------------- export


class FakeWriter:
    """tensorboardX's SummaryWriter as the export uses it, recording instead of writing."""
    scalars: typing.ClassVar[list] = []

    def __init__(self, logdir, flush_secs):
        self.logdir = logdir

    def add_text(self, tag, text, step, walltime):
        pass

    def add_scalar(self, tag, v, step, walltime):
        FakeWriter.scalars.append((self.logdir, tag, step, v))

    def close(self):
        pass


@pytest.fixture
def exported(tmp_path, monkeypatch):
    d = tmp_path / "results"
    d.mkdir()
    write(d / "run-a.json", run_result(seed=1, passes=3, missed=NO_MISSES))
    write(d / "run-b.json", run_result("jax", "scan", seed=2, passes=2, missed=NO_MISSES))
    write(d / "bench.json", bench_result())
    FakeWriter.scalars = []
    monkeypatch.setattr(export, "summary_writer", lambda: FakeWriter)
    return d


def test_export_counts_the_scalars_and_event_directories_it_wrote(exported):
    out = export.export_results(exported, tensorboard=True)
    assert out.counts["event directories"] == 2
    assert out.counts["scalars"] == len(FakeWriter.scalars) > 0
    assert {Path(logdir).name for logdir, *_ in FakeWriter.scalars} == {"run-a", "run-b"}


def test_bench_csv_header_names_every_column(exported):
    export.export_results(exported)
    with open(exported / "export" / "bench.csv", newline="", encoding="utf-8") as f:
        head = next(csv.reader(io.StringIO(f.read())))
    assert head == ["file", "measured", "kind", "machine", "backend", "strategy", "device", "dtype", "variant",
                    "name", "us_per_example_median", "us_per_example_p25", "us_per_example_p75", "examples_per_s",
                    "compile_s", "kernels_per_example", "environment"]


def test_export_stages_inside_the_output_directory(exported, monkeypatch):
    """The staging directory is made in the output directory (same file system: each os.replace into
    place is one atomic rename), never in the system's temporary directory."""
    made = []
    real = export.tempfiles.mkdtemp

    def spy(directory, final_name):
        made.append(real(directory, final_name))
        return made[-1]

    monkeypatch.setattr(export.tempfiles, "mkdtemp", spy)
    out = exported / "elsewhere"
    export.export_results(exported, out)
    assert len(made) == 1 and made[0].parent == out and not made[0].exists()


# ----------------------------------------------------------------------------- runs table and gallery choice


def loaded(d: dict, name="run.json", when="2026-01-01T00:00:00+00:00") -> Loaded:
    return Loaded(Path(name), d, when)


def test_runs_table_row_holds_each_column_of_the_run(tmp_path):
    from harness.report.runs import RUNS_HEADER, runs_table

    d = run_result(final_train=(0.0014, 10), final_test=(0.0523, 105))
    bare = dict(d)
    del bare["dtype"]
    head, rows, align = runs_table([loaded(d, str(tmp_path / "a.json")), loaded(bare, str(tmp_path / "b.json"))],
                                   tmp_path)
    assert head == RUNS_HEADER and len(align) == len(head)
    row = dict(zip(head, rows[0]))
    assert (row["dtype"], row["train misses"], row["test misses"], row["train error"]) == ("float32", "10", "105",
                                                                                         "0.14%")
    assert row["environment"] == "AMD EPYC 7B13 · torch 9.9.9 · 1 thread of 2 cores"
    assert dict(zip(head, rows[1]))["dtype"] == "-"  # a result that records no dtype


def test_run_timing_reads_every_figure_of_the_timing_block():
    from harness.report.runs import run_timing

    t = run_timing(run_result(us=(100.0, 95.0, 105.0), compile_s=1.5))
    assert t == {"median": 100.0, "p25": 95.0, "p75": 105.0, "n": 20, "compile_s": 1.5, "examples_per_s": 1e4,
                 "train_s": 10.0, "eval_s": 1.0}


def test_recipe_label_is_the_results_label_else_its_variant():
    from harness.report.runs import recipe_label

    d = run_result()
    assert recipe_label(d) == "1989"
    assert recipe_label(dict(d, recipe={"label": "1989 targets=0.8"})) == "1989 targets=0.8"
    assert recipe_label(dict(d, recipe={"label": 3})) == "1989"


def test_gallery_shows_the_run_trained_on_most_data_then_the_latest():
    from harness.report.runs import gallery_choices

    full = loaded(run_result(n_train=7291, missed=NO_MISSES), "full.json", "2026-01-01")
    part = loaded(run_result(n_train=500, missed=NO_MISSES), "part.json", "2026-02-01")  # newer, less data
    later = loaded(run_result(n_train=7291, missed=NO_MISSES), "later.json", "2026-03-01")
    assert gallery_choices([full, part]) == [full]
    assert gallery_choices([part, full]) == [full]
    assert gallery_choices([full, part, later]) == [later]


def test_one_per_seed_keeps_the_latest_run_a_run_without_finish_time_counting_as_oldest():
    a, b = seed_run(1, 0.05, finished="2026-01-02"), seed_run(1, 0.07)
    del b["finished"]
    assert seeds.one_per_seed([a, b]) == [a] and seeds.one_per_seed([b, a]) == [a]


def test_spread_of_nothing_and_its_percent_cells():
    empty = seeds.spread([None])
    assert empty == {"n": 0, "mean": None, "sd": None, "min": None, "max": None, "median": None}
    assert seeds._pct(empty) == ("-", "-")
    assert seeds._pct(seeds.spread([0.05])) == ("5.00 ± -", "5.00–5.00")
    assert seeds._pct(seeds.spread([0.04, 0.06])) == ("5.00 ± 1.41", "4.00–6.00")


def test_seed_table_counts_seeds_and_runs():
    runs = [seed_run(1, 0.05, finished="1"), seed_run(1, 0.05, finished="2"), seed_run(2, 0.06)]
    table = seeds.seed_tables(runs)
    row = next(line for line in table.splitlines() if line.startswith("| jax:scan"))
    assert row.split(" | ")[1] == "2 (3)"  # 2 seeds, 3 runs


# ----------------------------------------------------------------------------- gallery images


def test_gallery_images_accept_every_digit_as_a_prediction(tmp_path):
    from harness.data import load_dataset
    from harness.report.gallery import gallery_images

    data = load_dataset("synthetic", None, seed=1337)
    idx = [i for i in range(40) if int(data.test_labels[i]) != 9][:3]
    d = run_result(dataset="synthetic", missed={"indices": idx, "labels": [int(data.test_labels[i]) for i in idx],
                                                "predicted": [9, 0, 9]})
    tiles, why = gallery_images(loaded(d), tmp_path)
    assert why is None and [(t, p, i) for _, t, p, i in tiles] == [(int(data.test_labels[i]), p, i)
                                                                   for i, p in zip(idx, [9, 0, 9])]
    d["test_missed"]["predicted"] = [10, 0, 9]
    assert gallery_images(loaded(d), tmp_path) == (None, "run.json: test_missed predictions that are not digits 0..9")


def test_gallery_names_the_data_set_it_could_not_load(tmp_path):
    from harness.report.gallery import _load

    data, why = _load({"dataset": "usps", "seed": 1}, tmp_path / "empty")
    assert data is None and why.startswith("the usps data could not be loaded (")


# ----------------------------------------------------------------------------- staging


def test_report_staging_lives_inside_the_results_directory(tmp_path):
    from harness.report.publish import Staging

    st = Staging(tmp_path)
    try:
        assert st.dir.parent == tmp_path and st.names == []
        st.add("REPORT.md", b"x")
        assert st.names == ["REPORT.md"]
    finally:
        st.discard()



@pytest.mark.parametrize("fail_at", [None, 2])
def test_staging_without_hard_links_backs_up_by_copy_and_restores_on_a_failed_swap(tmp_path, monkeypatch, fail_at):
    """A file system without hard links (os.link refused): the old files are copied aside; a swap
    failing half way puts them back; one that succeeds leaves the new files and no backup."""
    import errno
    import os

    from harness.report import publish

    (tmp_path / "REPORT.md").write_text("old report")
    (tmp_path / "a.png").write_bytes(b"old figure")

    def no_link(*_a):
        raise OSError(errno.EPERM, "Operation not permitted")

    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(publish.os, "link", no_link)
    monkeypatch.setattr(publish.os, "replace", replace)
    st = publish.Staging(tmp_path)
    st.add("a.png", b"new figure")
    st.add("REPORT.md", b"new report")
    if fail_at is None:
        assert st.commit() == [tmp_path / "a.png", tmp_path / "REPORT.md"]
        assert (tmp_path / "REPORT.md").read_text() == "new report" and (tmp_path / "a.png").read_bytes() == b"new figure"
    else:
        with pytest.raises(OSError, match="No space left"):
            st.commit()
        assert (tmp_path / "REPORT.md").read_text() == "old report" and (tmp_path / "a.png").read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["REPORT.md", "a.png"]  # no staging, no backup left


# ----------------------------------------------------------------------------- sections of REPORT.md


def test_sections_say_when_there_is_nothing_of_their_kind(tmp_path):
    from harness.report import build_report
    from tests.test_report import parity_result

    write(tmp_path / "parity.json", parity_result(n_steps=3))
    md = build_report(tmp_path).report.read_text()
    lines = md.splitlines()
    for title, nothing in (("## Runs", "No run results."), ("## Throughput", "No timings.")):
        assert lines[lines.index(title) + 2] == nothing


def test_runs_and_throughput_tables_align_numbers_right_and_explain_their_columns(tmp_path):
    from harness.report import build_report

    write(tmp_path / "run.json", run_result(missed=NO_MISSES))
    md = build_report(tmp_path).report.read_text()
    lines = md.splitlines()
    assert lines[lines.index("## Parity") + 2] == "No parity results."
    start = lines.index("## Throughput")
    head = next(i for i in range(start, len(lines)) if lines[i].startswith("| machine"))
    assert lines[head + 1] == "|---|---|---:|---:|---:|---:|---|---|---|"
    assert "## Runs" in lines
    assert ("Errors and misses are after the last pass. us/example: one training step at batch size 1 (forward, "
            "backward, update), median over timed windows after warm-up, with the 25th-75th percentile spread; "
            "compile s: the warm-up windows' time beyond the steady rate.") in lines


def test_figure_of_a_run_carries_its_windows_and_training_set_size(tmp_path):
    d = run_result(n_train=500)
    d["timing"]["us_per_example_windows"] = [100.0, "x", 101.5, None, 99.0]
    [f] = timings.figures_of_run(loaded(d))
    assert f.samples == [100.0, 101.5, 99.0] and f.n_train == 500
    assert (f.median, f.spread, f.test_misses) == (100.0, (95.0, 105.0), 105)


def test_learning_curve_title_cuts_a_long_recipe_family_to_thirty_characters(tmp_path, monkeypatch):
    from harness.report import build_report, figures

    titles = []
    monkeypatch.setattr(figures, "learning_curves", lambda plt, title, *a: titles.append(title) or b"png")
    long = "v" * 45
    write(tmp_path / "run.json", run_result(variant=long, missed=NO_MISSES))
    build_report(tmp_path)
    assert titles == [f"Learning curves, {'v' * 27}...* recipes (usps)"]


def test_gallery_figure_is_named_after_the_recipe_and_data_set(tmp_path):
    from harness.report import build_report
    from tests.test_report import synthetic_missed

    r = run_result(dataset="synthetic", missed=synthetic_missed(n=3))
    r["recipe"] = {"variant": "1989", "label": "1989 targets=0.8", "set": {"targets": 0.8}, "knobs": {"targets": 0.8}}
    write(tmp_path / "run.json", r)
    out = build_report(tmp_path, data_dir=tmp_path)
    assert "gallery-1989-targets-0.8-synthetic.png" in {p.name for p in out.figures}
    assert "![missed test digits](gallery-1989-targets-0.8-synthetic.png)" in out.report.read_text()


def test_parity_row_verdict_for_each_state_of_a_row():
    v = parity_view._verdict
    assert v({"passed": True}) == "PASS" and v({"passed": False}) == "FAIL" and v({}) == "-"
    assert v({"passed": None}) == "-"
    assert v({"passed": True, "within_tol": False, "judged_to": 12}) == "PASS to step 12, beyond tol after (reported)"
    assert v({"passed": True, "within_tol": False}) == "beyond tol past the horizon (reported, not judged)"


def test_pytest_figure_spread_from_q1_and_q3_else_from_the_iqr(tmp_path):
    b = benchmark_file([("jax", "scan", "cpu", 50.0, 1000, 4.0)])
    st = b["benchmarks"][0]["stats"]
    st["q1"], st["q3"] = st["median"] - 0.001, st["median"] + 0.003  # asymmetric: 1 us below, 3 above
    [f] = timings.figures_of_pytest_benchmark(Loaded(tmp_path / "b.json", b, "2026-01-02"))
    assert f.spread == pytest.approx((49.0, 53.0))
    del st["q1"]
    [f] = timings.figures_of_pytest_benchmark(Loaded(tmp_path / "b.json", b, "2026-01-02"))
    assert f.spread == pytest.approx((48.0, 52.0))  # median ± iqr/2


def test_subset_note_for_a_run_on_part_of_its_training_set():
    from harness.report.runs import subset_note

    d = run_result(n_train=500)
    assert subset_note(d) == ""  # the full size not recorded
    d["dataset_source"] = {"n_train": 7291}
    assert subset_note(d) == " (500 of 7291 train)"
    assert subset_note(dict(d, n_train=7291)) == ""


def test_throughput_table_says_when_each_figure_was_measured(tmp_path):
    from harness.report import build_report

    write(tmp_path / "run.json", run_result(missed=NO_MISSES, finished="2026-01-05T10:00:00+00:00"))
    lines = build_report(tmp_path).report.read_text().splitlines()
    head = next(i for i in range(lines.index("## Throughput"), len(lines)) if lines[i].startswith("| machine"))
    cols = [c.strip() for c in lines[head].strip("|").split("|")]
    row = [c.strip() for c in lines[head + 2].strip("|").split("|")]
    assert (row[cols.index("measured")], row[cols.index("source")]) == ("2026-01-05", "run.json")


# ----------------------------------------------------------------------------- more pins (a second random self-check)


def test_config_label_is_cut_to_eighty_characters():
    key = (("backend", "jax"), ("strategy", "scan"), ("device", "d" * 100))
    label = curves.config_label(key, ("device",))
    assert len(label) == 80 and label == ("jax:scan " + "d" * 100)[:77] + "..."


def test_parity_matrix_row_names_variant_dtype_device_and_a_self_check_reference(tmp_path):
    from tests.test_report import parity_result

    p = parity_result()
    p["config"].update(self_check=True, dtype="float64", device="cuda")
    _, rows = parity_matrix.matrix([Loaded(tmp_path / "p.json", p, "2026-01-03")])
    row = next(r for r in rows if r["target"] == "jax:scan")
    assert (row["variant"], row["dtype"], row["device"]) == ("1989", "float64", "cuda")
    assert row["reference"] == "torch:eager (self-check)"
    p["config"]["self_check"] = False
    _, rows = parity_matrix.matrix([Loaded(tmp_path / "p.json", p, "2026-01-03")])
    assert rows[0]["reference"] == "torch:eager"


def test_a_count_row_names_its_value_against_the_reference():
    cells = parity_view._row_cells({"target": "t", "tensor": "misses", "count": True, "value": 3, "reference": 5,
                                    "max_abs": 2, "passed": False}, None, False)
    assert cells[1:3] == ["misses (3 vs 5)", "2"]
    assert parity_view._row_cells({"target": "t", "tensor": "misses", "count": True}, None, False)[1] == "misses"


def test_every_heading_of_the_report_stands_on_its_own_line(tmp_path):
    from harness.report import build_report

    write(tmp_path / "run.json", run_result(missed=NO_MISSES))
    lines = build_report(tmp_path).report.read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("#")]
    assert len(heads) >= 4 and all(lines[i + 1] == "" for i in heads)


def test_runs_csv_header(tmp_path):
    head, _ = export.run_rows([loaded(run_result(), str(tmp_path / "r.json"))], tmp_path)
    assert head[:2] == ["file", "finished"]
    assert head[head.index("passes"):] == [
        "passes", "n_train", "n_test", "final_train_error", "final_train_misses", "final_test_error",
        "final_test_misses", "final_train_loss", "final_test_loss", "us_per_example_median", "us_per_example_p25",
        "us_per_example_p75", "examples_per_s", "compile_s", "machine", "environment"]


def test_gallery_keeps_one_run_per_recipe_and_data_set_in_that_order():
    """A USPS and an MNIST run of one recipe are two galleries (their digits are different images);
    a second recipe is a third; sorted by recipe, then data set."""
    from harness.report.runs import gallery_choices

    usps = loaded(run_result(n_train=7291, missed=NO_MISSES), "usps.json", "2026-01-01")
    mnist = loaded(dict(run_result(n_train=500, missed=NO_MISSES), dataset="mnist"), "mnist.json", "2026-02-01")
    other = loaded(dict(run_result(n_train=10, missed=NO_MISSES), recipe={"label": "1989 targets=0.8"}),
                   "other.json", "2026-03-01")
    no_missed = loaded(dict(run_result(n_train=9999, missed=NO_MISSES), test_missed=None), "none.json", "2026-04-01")
    assert gallery_choices([other, mnist, usps, no_missed]) == [mnist, usps, other]
