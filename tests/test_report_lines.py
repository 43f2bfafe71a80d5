"""REPORT.md's sections as the reader sees them: whole lines, whole tables (header, alignment row,
body rows) of every section harness/report/sections.py writes, and the exact values of the helpers
behind them (seeds, fmt, markdown, parity_matrix). Substring checks elsewhere let a changed token,
a lost blank line or a left-aligned numeric column through (issue 24 item 9: mutation survivors)."""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

import pytest

from harness.report import fmt, markdown, sections
from harness.report import seeds as S
from harness.report.load import scan
from harness.report.publish import Staging
from harness.report.runs import runs_table
from tests.test_report import bench_result, parity_result, run_result, write
from tests.test_seeds import _run as seed_run


class Ctx(sections.Context):
    """A context that stages no PNG: each figure is 'drawn' under its name (the text is what is pinned)."""

    def figure(self, name, draw):
        return name


def _ctx(d: Path, cls=Ctx) -> sections.Context:
    return cls(d, scan(d), None, Staging(d), None)


@pytest.fixture
def rd(tmp_path):
    """Two seeds of one configuration, a parity result, a bench result and a file that is no result."""
    d = tmp_path / "res"
    d.mkdir()
    write(d / "run-a.json", run_result("torch", "eager", final_test=(0.0523, 105), us=(760.0, 740.0, 790.0),
                                       seed=1, finished="2026-01-01T00:00:00+00:00"))
    write(d / "run-b.json", run_result("torch", "eager", final_test=(0.0593, 119), us=(700.0, 690.0, 720.0),
                                       seed=2, finished="2026-01-01T01:00:00+00:00"))
    write(d / "parity-1.json", parity_result())
    write(d / "bench.json", bench_result())
    write(d / "junk.json", {"hello": 1})
    return d


MATRIX = [
    "## Parity matrix", "",
    ("Each backend:strategy against the reference (vs), per variant, dtype and device, from the latest parity "
     "result of each: the largest max |a - b| of each check (counts of misses left out), and the verdict over all "
     "its rows (PASS to step N: within tolerance up to that step of a chaotic float32 pass, beyond it after). The "
     "Parity section below has every row of the latest result."), "",
    ("| variant | dtype | device | backend:strategy | vs | forward | trajectory | largest difference | result | file |\n"
    "|---|---|---|---|---|---:|---:|---:|---|---|\n"
    "| 1989 | float64 | cpu | jax:scan | torch:eager | 2.2e-16 | 4e-16 | 4e-16 (trajectory all params) | PASS "
    "| [parity-1.json](parity-1.json) |\n"
    "| 1989 | float64 | cpu | torch:compiled | torch:eager | - | 3e-09 (FAIL) | 3e-09 (trajectory H2w) | **FAIL** "
    "| [parity-1.json](parity-1.json) |"), ""]


def test_header_lines(rd):
    md = sections.header(_ctx(rd))
    assert md[:2] == ["# lecun1989 harness report", ""] and md[3:] == [
        "", ("Paper (LeCun et al. 1989, USPS): 0.14% train error (10 misses), 5.00% test error (102 misses) after "
             "23 passes."), ""]
    stamp = re.fullmatch(r"Generated (\S+) by `harness report` from (.+): 2 run result\(s\), 1 bench result\(s\), "
                         r"1 parity result\(s\), 0 pytest-benchmark file\(s\); 1 file\(s\) skipped\.", md[2])
    assert stamp and stamp[2] == markdown.esc(rd)
    t = _dt.datetime.fromisoformat(stamp[1])
    assert t.utcoffset() == _dt.timedelta(0) and t.microsecond == 0
    assert abs((_dt.datetime.now(_dt.timezone.utc) - t).total_seconds()) < 600


def test_parity_matrix_section_whole_table_with_numeric_columns_right_aligned(rd):
    assert sections.parity_matrix(_ctx(rd)) == MATRIX


def test_no_parity_result_no_matrix_and_a_parity_section_that_says_so(tmp_path):
    write(tmp_path / "run-a.json", run_result())
    ctx = _ctx(tmp_path)
    assert sections.parity_matrix(ctx) == []
    assert sections.parity(ctx) == ["## Parity", "", "No parity results.", ""]


def test_runs_section_lines_around_the_runs_table(rd, tmp_path):
    ctx = _ctx(rd)
    head, rows, align = runs_table(ctx.sc.runs, rd)
    assert sections.runs(ctx) == [
        "## Runs", "", markdown.md_table(head, rows, align), "",
        ("Errors and misses are after the last pass. us/example: one training step at batch size 1 (forward, "
         "backward, update), median over timed windows after warm-up, with the 25th-75th percentile spread; "
         "compile s: the warm-up windows' time beyond the steady rate."), ""]
    write(tmp_path / "bench.json", bench_result())
    empty = _ctx(tmp_path)
    assert sections.runs(empty) == ["## Runs", "", "No run results.", ""]
    assert sections.curves(empty) == [] and sections.gallery(empty) == [] and sections.seeds(empty) == []


SEEDS = [
    "## Over seeds", "",
    ("### Over seeds: AMD EPYC 7B13, device cpu\n\n"
    "| configuration | n seeds (runs) | test error % mean ± sd | min–max | train error % mean ± sd | min–max | test loss "
    "| train loss | us/example median of medians (min–max) | us/example mean over passes (median; min–max) |\n"
    "|---|---|---|---|---|---|---|---|---|---|\n"
    "| torch:eager 1989 usps float32 4 passes | 2 (2) | 5.58 ± 0.49 | 5.23–5.93 | 0.14 ± 0.00 | 0.14–0.14 "
    "| 7.29e-02 ± 0.0e+00 | 4.61e-02 ± 0.0e+00 | 730.0 (700.0–760.0) | - |\n\n"
    "The paper's figures (1989: 0.14% train / 5.00% test error, train MSE 2.5e-3, test MSE 1.8e-2) against the "
    "seed spread, judged two ways: within the observed min–max, and within mean ± 2 sd (sd over seeds, n-1).\n\n"
    "| configuration | figure | paper | seeds: mean ± sd | min–max | paper within min–max "
    "| paper within mean ± 2 sd |\n"
    "|---|---|---|---|---|---|---|\n"
    "| torch:eager 1989 usps float32 4 passes | train error | 0.14% | 0.14 ± 0.00 | 0.14–0.14 | yes | yes |\n"
    "| torch:eager 1989 usps float32 4 passes | test error | 5.00% | 5.58 ± 0.49 | 5.23–5.93 | no | yes |\n"
    "| torch:eager 1989 usps float32 4 passes | train loss | 2.5e-03 | 4.61e-02 ± 0.0e+00 | 4.61e-02–4.61e-02 "
    "| no | no |\n"
    "| torch:eager 1989 usps float32 4 passes | test loss | 1.8e-02 | 7.29e-02 ± 0.0e+00 | 7.29e-02–7.29e-02 "
    "| no | no |\n"), "",
    "![test error over seeds](seeds-test-error.png)",
    "Final test error of each seed (one dot each), per configuration, a bar at the median; dashed: the paper's 5.00%.",
    ""]


def test_over_seeds_section_whole_tables(rd):
    assert sections.seeds(_ctx(rd)) == SEEDS


def test_over_seeds_section_without_a_strip_figure_and_absent_for_one_seed(rd, tmp_path):
    class NoFigure(Ctx):
        def figure(self, name, draw):
            return None

    assert sections.seeds(_ctx(rd, NoFigure)) == SEEDS[:4]
    write(tmp_path / "run-a.json", run_result(seed=1))
    write(tmp_path / "run-b.json", run_result(seed=1, finished="2026-01-02T00:00:00+00:00"))  # one seed twice
    assert sections.seeds(_ctx(tmp_path)) == []


def test_curves_section_lines(rd):
    assert sections.curves(_ctx(rd)) == [
        "## Learning curves", "", "### Recipes 1989*", "", "![learning curves, 1989](curves-1989.png)", "",
        ("Error and loss after each pass: one colour per configuration, one thin line per seed (the latest run of "
         "each); dashed: the paper's 1989 figures. 1 configuration(s), 2 seed line(s)."), "",
        "Drawn: torch:eager (2 seeds).", ""]


def test_curves_section_one_seed_and_no_figure(tmp_path):
    class NoFigure(Ctx):
        def figure(self, name, draw):
            return None

    write(tmp_path / "run-m.json", run_result(variant="modern", dataset="synthetic", n_train=512, n_test=256,
                                             final_test=(0.1, 3), missed={"indices": [], "predicted": [],
                                                                           "labels": []}))
    assert sections.curves(_ctx(tmp_path, NoFigure)) == [
        "## Learning curves", "", "### Recipes modern*", "", "",
        ("Error and loss after each pass: one colour per configuration, one thin line per seed (the latest run of "
         "each); dashed: the paper's 1989 figures. 1 configuration(s), 1 seed line(s)."), "",
        "Drawn: torch:eager (1 seed).", ""]


THROUGHPUT_HEAD = ("| machine | backend/strategy/device | us/example (median) | p25-p75 | examples/s | compile s "
                   "| environment | measured | source |\n|---|---|---:|---:|---:|---:|---|---|---|")


def test_throughput_section_whole_table(rd):
    assert sections.throughput(_ctx(rd)) == [
        "## Throughput", "", "![throughput](throughput.png)", "",
        "Source: run and bench results. Lower is faster. The latest figure of each configuration on each machine.",
        "",
        THROUGHPUT_HEAD + "\n"
        "| AMD EPYC 7B13 | torch/eager/cpu (1989) | 700.0 | 690.0-720.0 | 1,429 | 1.5 "
        "| AMD EPYC 7B13 · torch 9.9.9 · 1 thread of 2 cores | 2026-01-01 | run-b.json |\n"
        "| unknown CPU | jax/scan/cpu | 55.0 | 53.0-58.0 | 18,182 | 4.0 | - | 2026-01-02 | bench.json |\n"
        "| unknown CPU | torch/compiled/cpu | 95.0 | 90.0-99.0 | 10,526 | 30.0 | - | 2026-01-02 | bench.json |", ""]


def test_throughput_section_with_a_kernels_column_and_without_timings(tmp_path):
    b = bench_result()
    b["rows"] = b["rows"][1:]
    b["rows"][0]["kernel_count"] = {"kernels": 34.0, "unit": "XLA thunks"}
    b["rows"][0]["p25"] = b["rows"][0]["p75"] = None
    write(tmp_path / "bench.json", b)
    md = sections.throughput(_ctx(tmp_path))
    assert md[6:] == [
        ("| machine | backend/strategy/device | us/example (median) | per example (profiler) | p25-p75 | examples/s "
        "| compile s | environment | measured | source |\n|---|---|---:|---:|---:|---:|---:|---|---|---|\n"
        "| unknown CPU | jax/scan/cpu | 55.0 | 34.0 XLA thunks | - | 18,182 | 4.0 | - | 2026-01-02 | bench.json |"),
        ""]
    assert md[:6] == ["## Throughput", "", "![throughput](throughput.png)", "",
                      ("Source: run and bench results. Lower is faster. The latest figure of each configuration on "
                      "each machine."), ""]
    p = parity_result()
    (tmp_path / "bench.json").unlink()
    write(tmp_path / "parity.json", p)
    assert sections.throughput(_ctx(tmp_path)) == ["## Throughput", "", "No timings.", ""]


def test_gallery_section_lines_for_a_skipped_gallery_and_for_no_missed_digit(tmp_path):
    write(tmp_path / "run-a.json", run_result(missed={"indices": [1], "predicted": [2], "labels": [3, 4]}))
    ctx = _ctx(tmp_path)
    what = "recipe 1989, usps: torch/eager/cpu after 4 passes (run-a.json)"
    why = "run-a.json: malformed test_missed (lists of different lengths)"
    assert sections.gallery(ctx) == ["## Missed test digits", "", (f"Gallery skipped for {markdown.esc(what)}: "
                                     f"{markdown.esc(why)}."), ""]
    assert ctx.notes == [f"gallery skipped for {what}: {why}"]
    write(tmp_path / "run-a.json", run_result(missed={"indices": [], "predicted": [], "labels": []}))
    assert sections.gallery(_ctx(tmp_path)) == ["## Missed test digits", "", (f"For {markdown.esc(what)}: no test "
                                                "digit missed."), ""]


def test_gallery_section_lines_with_tiles(tmp_path):
    from tests.test_report import synthetic_missed

    write(tmp_path / "run-s.json", run_result(variant="modern", dataset="synthetic", passes=6, n_train=512,
                                             n_test=256, final_test=(30 / 256, 30), missed=synthetic_missed()))
    seen = []

    class Named(Ctx):
        def figure(self, name, draw):
            seen.append(name)
            return name

    assert sections.gallery(_ctx(tmp_path, Named)) == [
        "## Missed test digits", "", "### recipe modern, synthetic: torch/eager/cpu after 6 passes (run-s.json)", "",
        "![missed test digits](gallery-modern-synthetic.png)", "",
        "Each digit: true label → predicted label, and its index in the test set.", ""]
    assert seen == ["gallery-modern-synthetic.png"]


PARITY = [
    "## Parity", "",
    ("Latest parity result: [parity-1.json](parity-1.json) (2026-01-03T00:00:00+00:00): **FAIL**; reference "
     "torch:eager, device cpu, dtype float64, variant 1989, dataset usps, seed 1337."), "",
    "Compared: jax:scan, torch:compiled.", "",
    "### forward: PASS", "", "forward outputs", "",
    ("| backend/strategy | tensor | max abs | max rel | tol | result |\n|---|---|---:|---:|---:|---:|\n"
    "| jax:scan | outputs | 2.2e-16 | 1e-15 | 1e-12 | PASS |"), "",
    "forward: PASS", "",
    "### trajectory: FAIL", "", "parameter trajectory", "",
    ("| backend/strategy | tensor | max abs | max rel | tol | result | first divergent step |\n"
    "|---|---|---:|---:|---:|---:|---:|\n"
    "| jax:scan | all params | 4e-16 | 1e-13 | 1e-10 | PASS | - |\n"
    "| torch:compiled | H2w | 3e-09 | 1e-07 | 1e-10 | FAIL | 7 |"), "",
    "trajectory: FAIL", "",
    "### Divergence against step", "", "![parity divergence](parity-divergence.png)", "",
    "max |a - b| over every parameter after each per-example step, against the reference; dashed: the tolerance.",
    ""]


def test_parity_section_every_line(rd):
    assert sections.parity(_ctx(rd)) == PARITY


def test_parity_section_names_older_results_and_a_pass_without_facts(rd):
    p = parity_result()
    p.update(finished="2026-01-04T00:00:00+00:00", passed=True, config={}, trace={})
    p["checks"] = [{"name": "forward", "passed": True, "rows": []}]
    write(rd / "parity-2.json", p)
    assert sections.parity(_ctx(rd)) == [
        "## Parity", "", "Latest parity result: [parity-2.json](parity-2.json) (2026-01-04T00:00:00+00:00): **PASS**.",
        "", "### forward: PASS", "", "Older parity results: [parity-1.json](parity-1.json).", ""]


def test_parity_section_draws_the_most_divergent_targets_when_there_are_too_many(tmp_path, monkeypatch):
    n = sections.figures.MAX_LINES + 2
    p = parity_result()
    p["trace"] = {"step": [1, 2], "tol": [1e-10, 1e-10],
                  "max_abs": {f"t{k}:x": [1e-12 * k, None] for k in range(n)}}
    p["checks"] = [{"name": "forward", "passed": True, "rows": []}]
    write(tmp_path / "parity.json", p)
    drawn = []
    monkeypatch.setattr(sections.figures, "divergence", lambda plt, traces, title: drawn.append((traces, title)))

    class Keep(Ctx):
        def figure(self, name, draw):
            draw(None)
            return name

    md = sections.parity(_ctx(tmp_path, Keep))
    [(traces, title)] = drawn
    assert [t["label"] for t in traces] == [f"t{k}:x" for k in range(n - 1, 1, -1)]
    assert title == ("Parity: parameter divergence per step\nreference torch:eager, device cpu, dtype float64, "
                     "variant 1989, dataset usps, seed 1337")
    assert md[-2] == ("max |a - b| over every parameter after each per-example step, against the reference; "
                      "dashed: the tolerance. The most divergent drawn: 2 more targets not drawn (first 10 of 12 "
                      "shown).")


def test_skipped_section_lists_files_then_notes(rd):
    ctx = _ctx(rd)
    ctx.notes.append("a *note*")
    assert sections.skipped(ctx) == ["## Skipped files and notes", "",
                                     "- skipped: junk.json: not a harness result (no schema\\_version)",
                                     "- note: a \\*note\\*", ""]
    empty = _ctx(rd)
    empty.sc.skipped.clear()
    assert sections.skipped(empty) == []


# ----------------------------------------------------------------------------- Context.figure


class _Plt:
    def __init__(self):
        self.closed = []

    def close(self, what):
        self.closed.append(what)


def test_figure_stages_each_png_under_a_name_of_its_own(tmp_path):
    ctx = sections.Context(tmp_path, scan(tmp_path), None, Staging(tmp_path), _Plt())
    try:
        assert ctx.figure("a.png", lambda plt: b"one") == "a.png"
        assert ctx.figure("a.png", lambda plt: b"two") == "a-2.png"
        assert ctx.figure("a.png", lambda plt: b"three") == "a-3.png"
        assert ctx.stage.names == ["a.png", "a-2.png", "a-3.png"]
        assert (ctx.stage.dir / "a-3.png").read_bytes() == b"three"
        assert ctx.figure("b.png", lambda plt: None) is None and ctx.notes == [] and ctx.plt.closed == []
    finally:
        ctx.stage.discard()


def test_figure_that_fails_is_noted_and_closed(tmp_path):
    ctx = sections.Context(tmp_path, scan(tmp_path), None, Staging(tmp_path), _Plt())

    def boom(plt):
        raise ValueError("bad\ndata " + "x" * 200)

    try:
        assert ctx.figure("c.png", boom) is None
        assert ctx.notes == [f"figure c.png not drawn (ValueError: {fmt.plain('bad data ' + 'x' * 200, 120)})"]
        assert len(ctx.notes[0]) == len("figure c.png not drawn (ValueError: )") + 120
        assert ctx.plt.closed == ["all"] and ctx.stage.names == []
    finally:
        ctx.stage.discard()


@pytest.mark.parametrize("s, want", [("torch:eager", "torch-eager"), ("a b/c", "a-b-c"), ("-.x.-", "x"),
                                     ("...", "x"), ("", "x"), ("é_1.2", "é_1.2"), ("y" * 70, "y" * 60)])
def test_slug(s, want):
    assert sections.slug(s) == want


# ----------------------------------------------------------------------------- seeds helpers


def test_n_train_note_empty_when_the_runs_agree_and_exact_when_they_differ():
    assert S.n_train_note({"n_train": [7291]}) == "" and S.n_train_note({"n_train": []}) == ""
    assert S.n_train_note({}) == "" and S.n_train_note({"n_train": None}, markdown=False) == ""
    text = (" (warning: its runs trained on different numbers of examples per pass, 512, 7291: the data files "
            "differ; averaged, but not like for like)")
    assert S.n_train_note({"n_train": [512, 7291]}, markdown=False) == text
    assert S.n_train_note({"n_train": [512, 7291]}) == text  # nothing in it to escape; the space kept
    assert S.n_train_note({"n_train": [1, 2]}, markdown=True).startswith(" (warning: ")


def test_group_table_row_carries_the_n_train_warning_in_its_configuration_cell():
    a, b = seed_run(1, 0.05), seed_run(2, 0.06)
    b["n_train"] = 512
    s = S.summarize_group([a, b])
    assert s["n_train"] == [512, 7291]
    [(key, _)] = [(k, v) for (_, _, k), v in S.group_runs([a, b]).items()]
    head, rule, row = S._group_table([(key, s)])
    assert head.count("|") == 11 and rule == "|---|---|---|---|---|---|---|---|---|---|"
    assert row == ("| jax:scan 1989 usps float32 3 passes (warning: its runs trained on different numbers of "
                   "examples per pass, 512, 7291: the data files differ; averaged, but not like for like) | 2 (2) "
                   "| 5.50 ± 0.71 | 5.00–6.00 | 0.20 ± 0.00 | 0.20–0.20 | 2.00e-02 ± 0.0e+00 | 2.50e-03 ± 0.0e+00 "
                   "| 30.0 (30.0–30.0) | 45.0 (45.0–45.0) |")


def test_label_names_limit_threads_and_recipe_knobs():
    key = dict(zip(S.GROUP_FIELDS, ("jax", "scan", "cpu", "1989", (("lr", 0.5), ("init", "fanin")), "usps",
                                    "float32", 3, 100, 2)))
    k = tuple(key[f] for f in S.GROUP_FIELDS)
    assert S._label(k, markdown=False) == "jax:scan 1989 lr=0.5 init=fanin usps float32 3 passes limit 100 threads 2"
    key.update(limit=None, threads=None, backend="a*b")
    k = tuple(key[f] for f in S.GROUP_FIELDS)
    assert S._label(k) == "a\\*b:scan 1989 lr=0.5 init=fanin usps float32 3 passes"
    assert S._label(k, markdown=False) == "a*b:scan 1989 lr=0.5 init=fanin usps float32 3 passes"


def test_cell_formatters_exact():
    one = S.spread([0.05])
    assert S._pct(one) == ("5.00 ± -", "5.00–5.00") and S._sci(one) == "5.00e-02 ± -"
    assert S._pct(S.spread([])) == ("-", "-") and S._sci(S.spread([None])) == "-" and S._us(S.spread([])) == "-"
    assert S._us(S.spread([30.0, 10.0, 12.0])) == "12.0 (10.0–30.0)"
    assert S._sci(S.spread([1e-3, 3e-3])) == "2.00e-03 ± 1.4e-03"
    assert [S._yes(x) for x in (None, True, False)] == ["-", "yes", "no"]


def test_spread_within_and_machine_exact():
    s = S.spread([1.0, None, 3.0, 2.0])
    assert s == {"n": 3, "mean": 2.0, "sd": 1.0, "min": 1.0, "max": 3.0, "median": 2.0}
    assert S.within(4.0, s) == {"min_max": False, "mean_2sd": True}
    assert S.within(3.0, s) == {"min_max": True, "mean_2sd": True}
    assert S.within(1.0, s) == {"min_max": True, "mean_2sd": True}
    assert S.within(0.0, s) == {"min_max": False, "mean_2sd": True}  # |0 - 2| == 2 sd: within
    assert S.within(-0.01, s) == {"min_max": False, "mean_2sd": False}
    assert S.within(2.0, S.spread([2.0])) == {"min_max": True, "mean_2sd": None}
    assert S.machine({"environment": {"cpu_model": "X"}}) == "X"
    assert S.machine({"environment": {"cpu_model": ""}}) == "unknown CPU" and S.machine({}) == "unknown CPU"
    assert S.machine({"device": "cpu:0", "environment": {"cpu_model": 3}}) == "unknown CPU"
    gpu = {"device": "cuda", "environment": {"backend": {"device_kind": "TPU v5", "device_name": ""}}}
    assert S.machine(gpu) == "TPU v5"
    assert S.machine({"device": "cuda", "environment": {"backend": "str"}}) == "cuda"
    assert S.machine({"device": "cuda", "environment": {"backend": {"device_name": "H100",
                                                                    "device_kind": "k"}}}) == "H100"
    assert [S.family(v) for v in ("1989", "1989-sdlm-fanin", "modern")] == ["1989", "1989", "modern"]


def test_one_per_seed_keeps_the_latest_run_of_each_seed():
    old, new, other = seed_run(1, 0.05, finished="2"), seed_run(1, 0.07, finished="3"), seed_run(2, 0.06, finished="1")
    kept = S.one_per_seed([new, other, old])
    assert [r["final"]["test_error"] for r in kept] == [0.06, 0.07]
    s = S.summarize_group([new, other, old])
    assert (s["n"], s["runs"], s["seeds"]) == (2, 3, [1, 2]) and s["test_error"]["max"] == 0.07


def test_strip_rows_and_the_paper_flag():
    runs = [seed_run(1, 0.05), seed_run(2, 0.06), seed_run(1, 0.04, cpu="CPU B")]
    rows, paper = S.strip_rows(runs)
    assert rows == [("jax:scan 1989 usps float32 3 passes, cpu", [0.04, 0.06])] and paper is True
    for r in runs:
        r["config"]["dataset"] = r["dataset"] = "mnist"
    rows, paper = S.strip_rows(runs)
    assert rows == [("jax:scan 1989 mnist float32 3 passes, cpu", [0.04, 0.06])] and paper is False
    nofinal = seed_run(3, 0.05)
    nofinal["final"] = {"test_error": None}
    assert S.strip_rows([nofinal]) == ([], False)


def test_seed_tables_without_runs_and_paper_rows_only_for_1989_on_usps():
    assert S.seed_tables([{"kind": "parity"}]) == "No run results to group over seeds.\n"
    runs = [seed_run(1, 0.05), seed_run(2, 0.06)]
    for r in runs:
        r["config"]["dataset"] = r["dataset"] = "mnist"
    md = S.seed_tables(runs)
    assert md.startswith("### Over seeds: CPU A, device cpu\n\n| configuration |")
    assert "The paper's figures" not in md and md.endswith("|\n")


# ----------------------------------------------------------------------------- fmt


def test_when_falls_back_to_the_files_mtime(tmp_path):
    p = write(tmp_path / "r.json", "{}")
    os.utime(p, (1_700_000_000, 1_700_000_000))
    assert fmt.when(p, {}) == "2023-11-14T22:13:20+00:00"
    assert fmt.when(p, {"finished": "not a time", "created": "", "started": 5}) == "2023-11-14T22:13:20+00:00"
    assert fmt.when(tmp_path / "gone.json", {}) == "1970-01-01T00:00:00+00:00"


def test_when_reads_the_first_parseable_stamp_in_utc_to_the_second():
    d = {"finished": "bad", "created": "2026-01-02T03:04:05.678+02:00", "started": "2026-05-05T00:00:00Z"}
    assert fmt.when(Path("x"), d) == "2026-01-02T01:04:05+00:00"
    assert fmt.when(Path("x"), {"datetime": "2026-05-05T00:00:00Z"}) == "2026-05-05T00:00:00+00:00"
    assert fmt.when(Path("x"), {"started": "2026-05-05T00:00:00+00:00", "datetime": "2027-01-01"}) == \
        "2026-05-05T00:00:00+00:00"
    naive = fmt.when(Path("x"), {"finished": "2026-05-05T12:00:00"})  # local time, shown in UTC
    want = _dt.datetime(2026, 5, 5, 12).astimezone().astimezone(_dt.timezone.utc).isoformat(timespec="seconds")
    assert naive == want


def test_number_formatters_exact():
    assert [fmt.fmt_us(v) for v in (9.999, 10.0, 1234.56, None, "x")] == ["10.00", "10.0", "1,234.6", "-", "-"]
    assert [fmt.fmt_pct(v) for v in (0.05, 0, None)] == ["5.00%", "0.00%", "-"]
    assert [fmt.fmt_s(v) for v in (1.25, None)] == ["1.2", "-"] and fmt.fmt_ratio(1.23456) == "1.235"
    assert [fmt.int_or_dash(v) for v in (3, True, 3.0, None)] == ["3", "-", "-", "-"]
    assert [fmt.fmt_g(v) for v in (3.14159e-9, float("inf"), float("nan"), None, "t", True, 10**400, 7)] == \
        ["3.14e-09", "inf", "nan", "-", "t", "True", "inf", "7"]
    assert [fmt.fmt_g(v, count=True) for v in (7, 7.9, 10**400)] == ["7", "7", "1" + "0" * 400]
    assert [fmt.num(v) for v in (True, "1", float("nan"), float("-inf"), 10**400, 2)] == \
        [None, None, None, None, None, 2.0]


def test_plain_folds_controls_and_cuts_at_the_limit():
    assert fmt.plain("a\x00b\n\tc  d") == "ab c d"
    assert fmt.plain("x" * 90) == "x" * 90 and fmt.plain("x" * 91) == "x" * 87 + "..."
    assert fmt.plain("abcdef", 5) == "ab..."


def test_text_table_exact():
    assert fmt.text_table(["a", "bb"], [["xyz", 1], [None, 22]], "lr") == "a    bb\n---  --\nxyz   1\n-    22"
    assert fmt.text_table(["h", "k"], [["x", "y"]]) == "h  k\n-  -\nx  y"


# ----------------------------------------------------------------------------- markdown


def test_md_table_and_link_exact(tmp_path):
    assert markdown.md_table(["a", "b"], [["x", None], ["1\n2", 3]], "lr") == \
        "| a | b |\n|---|---:|\n| x | - |\n| 1 2 | 3 |"
    assert markdown.md_table(["a"], []) == "| a |\n|---|"
    assert markdown.link(tmp_path / "r 1.json", tmp_path) == "[r 1.json](r%201.json)"
    assert markdown.link(tmp_path / "sub" / "r.json", tmp_path) == "r.json"
    assert markdown.image("a b.png", "x_y") == "![x\\_y](a%20b.png)"
    assert markdown.esc_block("12) x") == "12\\) x" and markdown.esc_block("- y") == "\\- y"
    assert markdown.esc_block("=") == "\\=" and markdown.esc_block("a-") == "a-"
    assert markdown.esc("<a\u202e\x07>") == "&lt;a\ufffd\ufffd&gt;"


# ----------------------------------------------------------------------------- gate: the verdict's conditions

from harness.report import gate

W = [100.0, 101.0, 99.0, 100.5, 99.5]  # five windows: enough for a verdict


def _fixed(monkeypatch, boots, p):
    """ratio_test with its bootstrap ratios and Mann-Whitney p chosen: each condition tried alone."""
    import numpy as np
    import scipy.stats

    seen = []

    class R:
        pvalue = p

    def mwu(x, y, alternative):
        seen.append((list(x), list(y), alternative))
        return R()

    monkeypatch.setattr(gate, "_bootstrap_ratios", lambda a, b: np.asarray(boots, dtype=np.float64))
    monkeypatch.setattr(scipy.stats, "mannwhitneyu", mwu)
    return seen


@pytest.mark.parametrize("lo, hi, p, verdict", [
    (0.80, 0.90, 0.01, "faster"),
    (0.80, 0.90, 0.05, "no difference beyond noise"),   # p not below alpha: interval alone says nothing
    (0.80, 0.90, 0.50, "no difference beyond noise"),
    (0.80, 1.00, 0.01, "no difference beyond noise"),   # the interval reaches 1
    (0.80, 1.20, 0.01, "no difference beyond noise"),   # the interval straddles 1
    (1.10, 1.20, 0.01, "slower"),
    (1.10, 1.20, 0.05, "no difference beyond noise"),
    (1.10, 1.20, 0.50, "no difference beyond noise"),
    (1.00, 1.20, 0.01, "no difference beyond noise"),
])
def test_ratio_test_says_faster_or_slower_only_when_p_and_the_interval_agree(monkeypatch, lo, hi, p, verdict):
    import numpy as np

    boots = np.asarray([lo] * 100 + [hi] * 100)  # the interval's ends exactly lo and hi
    alpha = 1.0 - 0.95
    seen = _fixed(monkeypatch, boots, alpha if p == 0.05 else p)
    r = gate.ratio_test(W, [2 * x for x in W])
    assert r["verdict"] == verdict
    assert seen == [([2 * x for x in W], W, "two-sided")]
    assert r["ratio_ci"] == [lo, hi] and r["ratio_lower_bound"] == lo
    assert (r["median_a_us"], r["median_b_us"], r["ratio"]) == (100.0, 200.0, 2.0)
    assert r["gate"] is None and r["windows_a"] == r["windows_b"] == 5


def test_ratio_test_confidence_sets_alpha_and_the_interval(monkeypatch):
    import numpy as np

    boots = np.linspace(0.5, 1.5, 1001)
    _fixed(monkeypatch, boots, 0.15)
    r = gate.ratio_test(W, W[::-1], confidence=0.8)
    assert r["ratio_ci"] == pytest.approx([0.6, 1.4]) and r["ratio_lower_bound"] == pytest.approx(0.7)
    assert r["p_value"] == 0.15 and r["verdict"] == "no difference beyond noise"
    _fixed(monkeypatch, np.full(100, 0.9), 0.15)
    assert gate.ratio_test(W, W, confidence=0.8)["verdict"] == "faster"  # 0.15 < 0.2
    assert gate.ratio_test(W, W, confidence=0.9)["verdict"] == "no difference beyond noise"


@pytest.mark.parametrize("lower, fail_above, want", [(1.1, 10, "pass"), (1.1000001, 10, "fail"), (0.5, 0, "pass"),
                                                     (1.0000001, 0, "fail"), (1.3, 25, "fail"), (1.2, 25, "pass")])
def test_gate_fails_only_when_the_lower_bound_exceeds_one_plus_pct(monkeypatch, lower, fail_above, want):
    import numpy as np

    _fixed(monkeypatch, np.full(50, lower), 0.9)
    r = gate.ratio_test(W, W, fail_above=fail_above)
    assert r["gate"] == want and r["ratio_lower_bound"] == lower


def test_ratio_test_drops_non_positive_windows_and_needs_five_a_side():
    r = gate.ratio_test([0.0, -1.0, *W[:4]], W)
    assert r["verdict"] == "too few windows (4 in A, 5 in B; at least 5 each)"
    assert {k: v for k, v in r.items() if k != "verdict"} == {
        "windows_a": 4, "windows_b": 5, "median_a_us": None, "median_b_us": None, "ratio": None, "ratio_ci": None,
        "ratio_lower_bound": None, "p_value": None, "gate": None}
    assert gate.ratio_test(W, W[:4], fail_above=5)["verdict"] == "too few windows (5 in A, 4 in B; at least 5 each)"
    assert gate.ratio_test(W, [0.0, -2.0, *W[:4]])["verdict"] == "too few windows (5 in A, 4 in B; at least 5 each)"
    ok = gate.ratio_test([0.0, *W], W, fail_above=5)
    assert ok["windows_a"] == 5 and ok["verdict"] == "no difference beyond noise" and ok["gate"] == "pass"
    assert gate.ratio_test(None, W)["verdict"] == ("no samples: A kept no per-window times (a file written before "
                                                  "they were kept?)")
    assert gate.ratio_test([], None)["verdict"].startswith("no samples: B kept")
    assert gate.ratio_test([], [])["verdict"] == "too few windows (0 in A, 0 in B; at least 5 each)"


def test_bootstrap_ratios_are_reproducible_complete_and_bounded_in_memory(monkeypatch):
    import numpy as np

    a, b = np.asarray(W), np.asarray([2 * x for x in W])
    r = gate._bootstrap_ratios(a, b)
    assert len(r) == gate.N_BOOT == 2000 and np.array_equal(r, gate._bootstrap_ratios(a, b))
    assert np.all((r >= 99.0 * 2 / 101.0) & (r <= 101.0 * 2 / 99.0))
    assert not np.array_equal(r, gate._bootstrap_ratios(a, b, seed=1))
    monkeypatch.setattr(gate, "MAX_BOOT_CELLS", 7)  # one resample per block: still N_BOOT of them
    small = gate._bootstrap_ratios(a, b)
    one = np.asarray([1000.0, 1.0, 1.0, 1.0, 1.0])  # the first window drawn like any other: some medians are 1000
    ones = np.ones(5)
    assert gate._bootstrap_ratios(one, ones).min() == pytest.approx(0.001)
    assert gate._bootstrap_ratios(ones, one).max() == pytest.approx(1000.0)
    assert len(small) == 2000 and np.all(gate._bootstrap_ratios(np.full(5, 3.0), np.full(7, 6.0)) == 2.0)


def test_compare_text_every_line(tmp_path):
    row = {"configuration": "torch/eager/cpu", "median_a_us": 100.0, "median_b_us": 123.456, "windows_a": 12,
           "windows_b": 10, "ratio": 1.23456, "ratio_ci": [1.2, 1.25], "p_value": 0.000123, "verdict": "slower",
           "gate": "fail"}
    bare = {"configuration": "jax\nscan", "median_a_us": None, "median_b_us": None, "windows_a": 0, "windows_b": 3,
            "ratio": None, "ratio_ci": None, "p_value": None, "verdict": "too few", "gate": None}
    res = {"a": "a.json", "b": "b\x1b.json", "a_kind": "run", "b_kind": "bench", "same_file": False,
           "confidence": 0.9, "comparisons": [row, bare], "only_in_a": ["x"], "only_in_b": ["y", "z"],
           "fail_above_pct": 7.5, "failed": ["torch/eager/cpu"], "unjudged": ["jax scan"], "exit_code": 1}
    assert gate.compare_text(res).splitlines() == [
        "A: a.json (run)", "B: b.json (bench)", "",
        ("torch/eager/cpu: median us per example A 100 (12 windows), B 123.5 (10); B/A 1.235 [1.200, 1.250] at 90%, "
         "Mann-Whitney p=0.000123: slower; gate FAIL"),
        "jax scan: median us per example A - (0 windows), B - (3); B/A -: too few",
        "only in A: x", "only in B: y", "only in B: z", "",
        "FAIL: B slower than A by more than 7.5% at 90% confidence: torch/eager/cpu"]
    res.update(failed=[], exit_code=2, comparisons=[], only_in_a=[], only_in_b=[], same_file=True)
    assert gate.compare_text(res).splitlines() == [
        "A: a.json (run)", "B: b.json (bench)", "", "A and B are the same path: no difference can be claimed.", "",
        "no configuration of A matches one of B (by backend, strategy, device, dtype, variant or name)", "",
        "NOT JUDGED: jax scan could not be tested"]
    res.update(unjudged=[])
    assert gate.compare_text(res).splitlines()[-1] == "NOT JUDGED: no configuration in common"
    res.update(exit_code=0, fail_above_pct=None)
    assert gate.compare_text(res).splitlines()[-1] == ("no configuration of A matches one of B (by backend, "
                                                       "strategy, device, dtype, variant or name)")


def _timed_run(path, windows, backend="torch", **kw):
    r = run_result(backend, **kw)
    if windows is not None:
        r["timing"]["us_per_example_windows"] = windows
    return write(path, r)


def test_compare_paths_document_and_exit_codes(tmp_path):
    a = _timed_run(tmp_path / "a.json", [100.0, 101.0, 99.0, 100.5, 99.5, 100.2])
    b = _timed_run(tmp_path / "b.json", [200.0, 201.0, 199.0, 200.5, 199.5, 200.2])
    res = gate.compare_paths(a, b, fail_above=10)
    [row] = res.pop("comparisons")
    assert res == {"a": str(a), "b": str(b), "a_kind": "run", "b_kind": "run", "same_file": False,
                   "confidence": 0.95, "fail_above_pct": 10, "min_windows": 5, "only_in_a": [], "only_in_b": [],
                   "failed": [row["configuration"]], "unjudged": [], "exit_code": 1}
    assert (row["backend"], row["strategy"], row["device"], row["dtype"], row["variant"]) == \
        ("torch", "eager", "cpu", "float32", "1989")
    assert (row["a_source"], row["b_source"], row["verdict"], row["gate"]) == ("a.json", "b.json", "slower", "fail")
    assert gate.compare_paths(b, a, fail_above=10)["exit_code"] == 0
    assert gate.compare_paths(a, b)["exit_code"] == 0  # no gate asked: the verdict is information
    c = _timed_run(tmp_path / "c.json", None)
    assert gate.compare_paths(a, c)["exit_code"] == 0 and gate.compare_paths(a, c, fail_above=5)["exit_code"] == 2
    for bad in (0.49, 1.0):
        with pytest.raises(gate.ReportError) as e:
            gate.compare_paths(a, b, confidence=bad)
        assert str(e.value) == f"--confidence must be in [0.5, 1), not {bad}"
    assert gate.compare_paths(a, b, confidence=0.5)["confidence"] == 0.5


def test_compare_paths_of_directories_pool_windows_and_label_pairs(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    _timed_run(tmp_path / "A" / "r1.json", [100.0, 101.0, 99.0])
    _timed_run(tmp_path / "A" / "r2.json", [100.5, 99.5, 100.2], finished="2026-01-02T00:00:00+00:00")
    _timed_run(tmp_path / "B" / "r.json", [100.0, 101.0, 99.0, 100.5, 99.5, 100.2], backend="jax")
    res = gate.compare_paths(tmp_path / "A", tmp_path / "B")
    assert res["a_kind"] == "directory of 2 timed result files" and res["b_kind"] == "directory of 1 timed result file"
    [row] = res["comparisons"]
    assert row["windows_a"] == 6 and row["a_source"] == "r1.json, r2.json"
    assert row["configuration"].endswith(" vs " + row["configuration"].split(" vs ")[1]) and " vs " in row["configuration"]
    assert row["verdict"] == "identical windows in A and B (the same measurement twice?): no difference can be claimed"
    (tmp_path / "E").mkdir()
    with pytest.raises(gate.ReportError) as e:
        gate.load_side(tmp_path / "E")
    assert str(e.value) == f"{tmp_path / 'E'}: no run, bench or pytest-benchmark result with a timing in this directory"


# ----------------------------------------------------------------------------- parity matrix: rows, order, latest


def _parity(tmp_path, name, when, variant="1989", self_check=False, checks=None, targets=None):
    from harness.report.load import Loaded

    cfg = {"reference": "torch:eager", "variant": variant, "dtype": "float64", "device": "cpu",
           "targets": targets or []}
    if self_check:
        cfg["self_check"] = True
    return Loaded(tmp_path / name, {"config": cfg, "checks": checks or []}, when)


def _row(target, tensor, max_abs, passed=True, **kw):
    return {"target": target, "tensor": tensor, "max_abs": max_abs, "passed": passed, **kw}


def test_matrix_latest_result_wins_checks_in_canonical_order_1989_first(tmp_path):
    from harness.report import parity_matrix as PM

    old = _parity(tmp_path, "old.json", "1", checks=[{"name": "forward", "rows": [_row("jax:scan", "out", 1.0)]}])
    new = _parity(tmp_path, "new.json", "2", checks=[
        {"name": "custom", "rows": [_row("jax:scan", "x", 2e-9)]},
        {"name": "trajectory", "rows": [_row("jax:scan", "H1w", 3e-9, within_tol=False, judged_to=40),
                                        _row("jax:scan", "H2w", 5e-9, within_tol=False, judged_to=30)]},
        {"name": "forward", "rows": [_row("jax:scan", "out", 1e-16), _row("jax:scan", "miss", 7, count=True)]}])
    modern = _parity(tmp_path, "m.json", "3", variant="modern", self_check=True, targets=["tf:xla"],
                     checks=[{"rows": [_row("a:b", "y", None, passed=None)]}])
    names, rows = PM.matrix([old, new, modern])
    assert names == ["forward", "trajectory", "custom", "check"]
    assert [(r["variant"], r["target"], r["reference"], r["path"].name) for r in rows] == [
        ("1989", "jax:scan", "torch:eager", "new.json"),
        ("modern", "a:b", "torch:eager (self-check)", "m.json"),
        ("modern", "tf:xla", "torch:eager (self-check)", "m.json")]
    jax = rows[0]
    assert jax["checks"] == {"custom": (2e-9, "PASS"), "trajectory": (5e-9, "PASS to step 30"),
                             "forward": (1e-16, "PASS")}
    assert (jax["largest"], jax["where"], jax["verdict"]) == (5e-9, "trajectory H2w", "PASS to step 30")
    assert PM.cells(jax, names) == ["1e-16", "5e-09 (PASS to step 30)", "2e-09", "-"]
    assert PM.cells(rows[1], names) == ["-", "-", "-", "- (-)"] and rows[1]["verdict"] == "-"
    assert (rows[2]["checks"], rows[2]["verdict"], rows[2]["largest"], rows[2]["where"]) == ({}, PM.NO_ROWS, None, "")
    assert (rows[0]["dtype"], rows[0]["device"]) == ("float64", "cpu")


# ----------------------------------------------------------------------------- report --compare's table, whole

LEGEND = ("B/A < 1: B is faster (us/example) or makes fewer errors. beyond spread: the p25-p75 ranges of A and B do "
          "not overlap (the difference exceeds the recorded spread); n/a: no spread recorded.")


def test_compare_files_every_line(tmp_path):
    from harness.report.compare import compare_files

    a = write(tmp_path / "a.json", run_result(us=(100.0, 95.0, 105.0), final_test=(0.05, 100)))
    b = write(tmp_path / "b.json", run_result(us=(50.0, 48.0, 52.0), final_test=(0.06, 120), n_train=512))
    lab = "torch/eager/cpu float32 (1989)"
    assert compare_files(a, b).splitlines() == [
        f"A: {a} (run)", f"B: {b} (run)", "",
        "figure                          metric                        A                 B    B/A  beyond p25-p75 spread?",
        "------------------------------  -----------  ------------------  ----------------  -----  ----------------------",
        f"{lab}  us/example   100.0 [95.0-105.0]  50.0 [48.0-52.0]  0.500  yes",
        f"{lab}  train error          0.14% (10)        0.14% (10)  1.000  n/a",
        f"{lab}  test error          5.00% (100)       6.00% (120)  1.200  n/a", "",
        (f"warning: {lab}: A trained on 7291 examples per pass, B on 512: the errors (and compile share) are not like "
        "for like"), "", LEGEND]
    c = write(tmp_path / "c.json", bench_result())
    assert compare_files(a, c).splitlines() == [
        f"A: {a} (run)", f"B: {c} (bench)", "",
        "no figure of A matches one of B (by backend, strategy, device, dtype, variant or name)", "",
        f"only in A: {lab}", "only in B: torch/compiled/cpu float32", "only in B: jax/scan/cpu float32", "", LEGEND]
    same = write(tmp_path / "d.json", run_result(us=(100.0, 95.0, 105.0), final_test=(0.05, 100)))
    assert compare_files(a, same).splitlines()[-3:] == [
        f"{lab}  test error          5.00% (100)         5.00% (100)  1.000  n/a", "", LEGEND]


# ----------------------------------------------------------------------------- build: its refusals, whole


def test_build_report_refusals_word_for_word(tmp_path):
    import errno

    from harness.report import build

    e = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "REPORT.md"))
    assert str(build._write_failed(tmp_path, e)) == (
        f"could not write the report into {tmp_path}: No space left on device ({tmp_path / 'REPORT.md'}); no report "
        "file was replaced")
    assert str(build._write_failed(tmp_path, OSError("odd"))) == (
        f"could not write the report into {tmp_path}: odd; no report file was replaced")
    with pytest.raises(build.ReportError) as ei:
        build.build_report(tmp_path / "nope")
    assert str(ei.value) == f"results directory {tmp_path / 'nope'} does not exist"
    f = write(tmp_path / "f.json", "{}")
    with pytest.raises(build.ReportError) as ei:
        build.build_report(f)
    assert str(ei.value) == f"results directory {f} is not a directory"


def test_build_report_writes_the_sections_in_order_and_returns_what_it_wrote(rd):
    from harness.report import build

    out = build.build_report(rd, rd.parent / "no-data")  # no data: the gallery is skipped, with a note
    md = (rd / "REPORT.md").read_text()
    heads = [ln for ln in md.splitlines() if ln.startswith("## ")]
    assert heads == ["## Parity matrix", "## Runs", "## Over seeds", "## Learning curves", "## Throughput",
                     "## Missed test digits", "## Parity", "## Skipped files and notes"]
    assert md.endswith("\n") and not md.endswith("\n\n")
    assert out.report == rd / "REPORT.md" and out.skipped == [(rd / "junk.json", out.skipped[0][1])]
    assert sorted(p.name for p in out.figures) == ["curves-1989.png", "parity-divergence.png", "seeds-test-error.png",
                                                   "throughput.png"]
    assert all(p.parent == rd and p.is_file() for p in out.figures) and out.notes[0].startswith("gallery skipped")
    assert sorted(p.name for p in rd.iterdir()) == sorted(
        ["REPORT.md", "bench.json", "junk.json", "parity-1.json", "run-a.json", "run-b.json",
         *(p.name for p in out.figures)])


def test_strip_png_hands_the_figure_its_rows_the_papers_line_and_the_bound(monkeypatch):
    calls = []
    monkeypatch.setattr(S.figures, "seed_strip", lambda plt, rows, paper, note: calls.append((rows, paper, note))
                        or b"PNG")
    monkeypatch.setattr(S.figures, "MAX_ROWS", 2)
    runs = [seed_run(1, 0.05, epochs=e) for e in (1, 2, 3)]
    assert S.strip_png("plt", runs) == b"PNG"
    [(rows, paper, note)] = calls
    assert [r[0] for r in rows] == ["jax:scan 1989 usps float32 1 passes, cpu", "jax:scan 1989 usps float32 2 passes, cpu"]
    assert paper == 0.05 and note == "1 more configurations not drawn (first 2 of 3 shown)"
    for r in runs:
        r["config"]["dataset"] = r["dataset"] = "mnist"
    S.strip_png("plt", runs[:1])
    assert calls[-1][1:] == (None, None)
    assert S.strip_png("plt", [{"kind": "parity"}]) is None and len(calls) == 2


def test_seed_section_markdown_and_its_figure(monkeypatch):
    monkeypatch.setattr(S.figures, "pyplot", lambda: "plt")
    monkeypatch.setattr(S, "strip_png", lambda plt, results: b"PNG" if results else None)
    runs = [seed_run(1, 0.05), seed_run(2, 0.06)]
    md, pngs = S.seed_section(runs)
    assert md == "\n".join(["## Over seeds", "", S.seed_tables(runs), "![test error over seeds](seeds-test-error.png)",
                            ""])
    assert pngs == {"seeds-test-error.png": b"PNG"} and S.STRIP_NAME == "seeds-test-error.png"
    assert S.seed_section([]) == ("## Over seeds\n\nNo run results to group over seeds.\n", {})


# ----------------------------------------------------------------------------- what each figure is handed


@pytest.fixture
def drawn(monkeypatch):
    """Each figure function replaced by a recorder of its arguments (title, data, paper's figures, note)."""
    calls = {}
    for name in ("learning_curves", "throughput", "gallery", "divergence"):
        monkeypatch.setattr(sections.figures, name,
                            lambda plt, *args, _n=name: calls.setdefault(_n, []).append(args) or b"PNG")
    monkeypatch.setattr(sections.S, "strip_png", lambda plt, results: calls.setdefault("strip", []).append(
        len(results)) or b"PNG")
    return calls


class Drawing(sections.Context):
    def figure(self, name, draw):
        draw(None)
        return name


def test_figures_get_their_titles_papers_figures_and_notes(rd, drawn, monkeypatch):
    from tests.test_report import synthetic_missed

    write(rd / "run-s.json", run_result(variant="modern", dataset="synthetic", passes=6, n_train=512, n_test=256,
                                        final_test=(5 / 256, 5), missed=synthetic_missed(n=5)))
    monkeypatch.setattr(sections, "gallery_images", lambda r, data_dir: (["t1", "t2", "t3"], None))  # 3 of 5 shown
    ctx = _ctx(rd, Drawing)
    for section in (sections.curves, sections.throughput, sections.gallery, sections.parity, sections.seeds):
        section(ctx)
    [(t1989, data1989, paper1989, note1989), (tmod, _, papermod, _)] = drawn["learning_curves"]
    assert (t1989, tmod) == ("Learning curves, 1989* recipes (usps)", "Learning curves, modern* recipes (synthetic)")
    assert paper1989 is S.PAPER_1989 and papermod == {"train_error": 0.0014, "test_error": 0.05}
    assert [g["label"] for g in data1989] == ["torch:eager"] and note1989 is None
    [(_panels, source, note)] = drawn["throughput"]
    assert source == "run and bench results" and note is None
    [(tiles, title)] = drawn["gallery"][-1:]
    assert title == "Test digits missed by torch/eager/cpu, recipe modern, after 6 passes: 5 of 256 (first 3 shown)"
    assert tiles == ["t1", "t2", "t3"]
    [(traces, title)] = drawn["divergence"]
    assert [t["label"] for t in traces] == ["jax:scan", "torch:compiled"]
    assert title == ("Parity: parameter divergence per step\nreference torch:eager, device cpu, dtype float64, "
                     "variant 1989, dataset usps, seed 1337")
    assert drawn["strip"] == [3]


def test_a_long_gallery_title_is_cut_at_160_characters(tmp_path, drawn, monkeypatch):
    write(tmp_path / "run-s.json", run_result(strategy="s" * 200, variant="modern", dataset="synthetic",
                                              final_test=(0.01, 2), missed={"indices": [0, 2], "labels": [1, 2],
                                                                            "predicted": [3, 4]}, n_test=256))
    monkeypatch.setattr(sections, "gallery_images", lambda r, data_dir: (["t1", "t2"], None))
    sections.gallery(_ctx(tmp_path, Drawing))
    [(_tiles, title)] = drawn["gallery"]
    assert title == "Test digits missed by torch/" + "s" * 129 + "..." and len(title) == 160


def test_esc_controls_and_specials_at_each_boundary():
    bad = "\x00\x08\x0e\x1b\x7f\x84\x86\x9f\u061c\u200e\u200f\u202a\u202e\u2066\u2069"
    assert markdown.esc(bad) == "\ufffd" * len(bad)
    # a joiner and an unassigned code point are kept; no-break spaces are whitespace, folded to one space
    assert markdown.esc("a\u200d\u2065\u202f\u00a0x") == "a\u200d\u2065 x"
    assert markdown.esc("a\x85b\tc\x1cd  e") == "a b c d e"  # whitespace, controls included, folds to one space
    assert markdown.esc("\\`*_[]|!~$") == "\\\\\\`\\*\\_\\[\\]\\|\\!\\~\\$"
    assert markdown.esc("&<>\"'") == "&amp;&lt;&gt;&quot;&#x27;"
    assert [markdown.esc_block(s) for s in ("1. a", "123456789) b", "1234567890. c", "#x", "+x", "=x", "*x")] == [
        "1\\. a", "123456789\\) b", "1234567890. c", "\\#x", "\\+x", "\\=x", "\\*x"]
    assert markdown.link(Path("r.json"), Path("elsewhere")) == "r.json"


def test_curves_section_states_the_bound_note_and_hands_it_to_the_figure(rd, drawn, monkeypatch):
    real = sections.drawable
    monkeypatch.setattr(sections, "drawable", lambda groups: (real(groups)[0], "2 more configurations not drawn"))
    md = sections.curves(_ctx(rd, Drawing))
    assert md[6] == ("Error and loss after each pass: one colour per configuration, one thin line per seed (the latest "
                     "run of each); dashed: the paper's 1989 figures. 1 configuration(s), 2 seed line(s). 2 more "
                     "configurations not drawn.")
    [(_title, _data, _paper, note)] = drawn["learning_curves"]
    assert note == "2 more configurations not drawn"


def test_throughput_section_states_the_figures_note(rd, drawn, monkeypatch):
    real = sections.machine_panels
    monkeypatch.setattr(sections, "machine_panels", lambda figs: (real(figs)[0], "3 more rows not drawn"))
    md = sections.throughput(_ctx(rd, Drawing))
    assert md[4] == ("Source: run and bench results. Lower is faster. The latest figure of each configuration on each "
                     "machine; the figure: 3 more rows not drawn.")
    [(_panels, source, note)] = drawn["throughput"]
    assert (source, note) == ("run and bench results", "3 more rows not drawn")


def test_a_count_rows_cells_are_whole_integers_and_other_rows_three_digits():
    """A count (test misses, predictions differing) prints as the integer it is, never rounded to
    3 digits; a difference prints to 3 digits; a count has no relative difference."""
    from harness.report.parity_view import parity_rows

    header, rows = parity_rows({"rows": [
        _row("jax:scan", "test predictions differing", 12345, count=True, value=12345, reference=0, tol=0),
        _row("jax:scan", "H1w", 12345.678, max_rel=0.0012345, tol=1e-06)]})
    assert header == ["backend/strategy", "tensor", "max abs", "max rel", "tol", "result"]
    assert rows == [["jax:scan", "test predictions differing (12345 vs 0)", "12345", "-", "0", "PASS"],
                    ["jax:scan", "H1w", "1.23e+04", "0.00123", "1e-06", "PASS"]]


def test_a_curves_figure_title_names_every_data_set_of_its_family(rd, drawn):
    write(rd / "run-m.json", run_result(dataset="mnist", n_train=512, n_test=256, final_test=(5 / 256, 5)))
    sections.curves(_ctx(rd, Drawing))
    [(title, _data, _paper, _note)] = drawn["learning_curves"]
    assert title == "Learning curves, 1989* recipes (mnist, usps)"
