"""Values the report's helpers compute, read directly: the log axis ticks, the caps and notes of
bounded figures, legend texts, the parity traces' steps and tolerances, the timing figures of
pytest-benchmark and bench files (us/example, examples/s, spread), and bench.csv's cells."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.report import export, figures, parity_view, timings
from harness.report.load import Loaded, Scan
from harness.report.timings import Figure

# ----------------------------------------------------------------------------- figures' helpers


def test_nice_log_ticks_are_one_two_five_times_powers_of_ten_within_the_range():
    assert figures.nice_log_ticks(1.0, 100.0) == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]  # both ends kept
    assert figures.nice_log_ticks(0.3, 120.0) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    assert figures.nice_log_ticks(0.0012, 0.03) == [0.002, 0.005, 0.01, 0.02]  # rounded: 0.002, not 0.0020000000000000005
    assert figures.nice_log_ticks(3.0, 4.0) == []  # no 1-2-5 value between
    assert figures.nice_log_ticks(7.0, 7.0) == []
    assert figures.nice_log_ticks(5.0, 5.0) == [5.0]
    assert figures.nice_log_ticks(0.0, 10.0) == [] and figures.nice_log_ticks(-1.0, 10.0) == []  # not positive
    assert figures.nice_log_ticks(10.0, 1.0) == []  # hi below lo


def test_bounded_keeps_the_first_cap_and_names_what_it_left_out():
    assert figures.bounded((1, 2, 3), 3, "runs") == ([1, 2, 3], None)
    assert figures.bounded([1, 2, 3, 4, 5], 3, "runs") == ([1, 2, 3], "2 more runs not drawn (first 3 of 5 shown)")
    assert figures.bounded([], 0, "runs") == ([], None)


def test_size_is_capped_at_max_inches_each_way():
    assert figures.size(3.0, 4.0) == (3.0, 4.0)
    assert figures.size(16.0, 20.0) == (16.0, 20.0)
    assert figures.size(30.0, 4.0) == (16.0, 4.0)
    assert figures.size(3.0, 40.0) == (3.0, 20.0)


def test_group_legend_gives_seeds_and_the_final_test_error():
    assert figures._group_legend({"label": "a", "n": 1, "finals": [0.0523]}) == "a: 1 seed, final test error 5.23%"
    assert figures._group_legend({"label": "b", "n": 3, "finals": [0.07, 0.05, 0.06]}) == (
        "b: 3 seeds, final test error median 6.00% (5.00–7.00%)")
    assert figures._group_legend({"label": "c", "n": 2, "finals": []}) == "c: 2 seeds"
    assert figures._group_legend({"label": "d", "n": 0, "finals": []}) == "d: 0 seeds"


def test_dates_are_the_first_and_last_day_measured():
    def f(when):
        return Figure(("jax",), "x", 1.0, when=when)

    assert figures._dates([f("2026-01-05T10:00:00"), f("2026-01-02T23:59:00"), f("2026-01-03")]) == (
        "2026-01-02 to 2026-01-05")
    assert figures._dates([f("2026-01-05T10:00:00"), f("2026-01-05T11:00:00"), f("")]) == "2026-01-05"
    assert figures._dates([f(""), f("")]) == ""


# ----------------------------------------------------------------------------- parity traces


def test_a_trace_without_steps_is_numbered_from_one_and_keeps_its_tolerance():
    s = parity_view._series("jax:scan", [], [1e-9, 2e-9, 3e-9], [1e-8, 1e-8, 1e-8])
    assert s == {"label": "jax:scan", "steps": [1, 2, 3], "values": [1e-9, 2e-9, 3e-9], "tol": [1e-8, 1e-8, 1e-8]}
    short = parity_view._series("t", [4, 8], [1e-9, "x", None], None)  # steps shorter than the values
    assert short == {"label": "t", "steps": [1, 2, 3], "values": [1e-9, None, None], "tol": None}
    kept = parity_view._series("t", [4, 8], [1e-9, 2e-9], [1e-8, "bad"])
    assert kept["steps"] == [4, 8] and kept["tol"] == [1e-8, None]
    assert parity_view._series("t", [4, 8], [1e-9, 2e-9], [1e-8])["tol"] is None  # tolerance not one per step
    assert parity_view._series("t", [4, 8], [1e-9, 2e-9], 1e-8)["tol"] is None
    assert parity_view._series("t", [], [], [1e-8]) is None


def test_parity_traces_from_each_check_else_the_top_level_once_each():
    tr = {"step": [1, 2], "tol": [1e-8, 1e-8], "max_abs": {"a": [1e-9, 2e-9], "b": [0.0, 1e-10]}}
    d = {"checks": [{"name": "steps", "trace": tr}, {"name": "x"}, {"name": "again", "trace": tr}]}
    out = parity_view.parity_traces(d)
    assert [(s["label"], s["steps"], s["values"], s["tol"]) for s in out] == [
        ("a", [1, 2], [1e-9, 2e-9], [1e-8, 1e-8]), ("b", [1, 2], [0.0, 1e-10], [1e-8, 1e-8])]
    top = parity_view.parity_traces({"checks": [{"name": "x"}], "trace": {"max_abs": {"c": [5e-9]}}})
    assert top == [{"label": "c", "steps": [1], "values": [5e-9], "tol": None}]
    assert parity_view.parity_traces({"checks": [{"name": "x", "trace": {"step": [1]}}], "trace": tr}) == []
    assert parity_view.parity_traces({"checks": []}) == []


# ----------------------------------------------------------------------------- timing figures


def _loaded(data=None, name="bench.json", when="2026-01-02T00:00:00+00:00"):
    return Loaded(Path("/results") / name, data or {}, when)


def _bench(us=50.0, **extra):
    ex = {"backend": "jax", "strategy": "scan", "device": "cpu", "dtype": "float32", "variant": "1989"}
    ex.update(extra)
    return ex


def test_pytest_figure_scales_median_and_quartiles_to_us_per_example():
    b = {"name": "test_x", "extra_info": _bench(us_per_example=50.0, compile_s=2.5),
         "stats": {"median": 0.01, "q1": 0.009, "q3": 0.012, "iqr": 0.5, "data": [0.01, 0.011]}}
    f = timings._pytest_figure(b, _loaded(), "AMD EPYC")
    assert f.median == 50.0 and f.examples_per_s == pytest.approx(1e6 / 50.0)
    assert (f.p25, f.p75) == pytest.approx((45.0, 60.0))  # q1, q3 at 5000 us per second of round
    assert f.samples == pytest.approx([50.0, 55.0])
    assert f.compile_s == 2.5 and f.name == "test_x" and f.source == "bench.json"
    assert f.when == "2026-01-02T00:00:00+00:00"
    assert f.key == ("jax", "scan", "cpu", "float32", "1989") and f.label == "jax/scan/cpu float32 (1989)"
    assert f.machine == "AMD EPYC" and f.env == "AMD EPYC"


def test_pytest_figure_from_steps_and_iqr_when_the_file_says_no_more():
    b = {"name": "test_y", "params": {"backend": "torch", "strategy": "eager", "device": "cuda:0",
                                      "device_name": "NVIDIA H200"},
         "extra_info": {"steps": 200}, "stats": {"median": 0.01, "iqr": 0.002}}
    f = timings._pytest_figure(b, _loaded(), "AMD EPYC")
    assert f.median == pytest.approx(50.0) and f.examples_per_s == pytest.approx(2e4)  # 1e6 / us
    assert (f.p25, f.p75) == pytest.approx((45.0, 55.0))
    assert f.samples is None and f.compile_s is None
    assert f.key == ("torch", "eager", "cuda:0", None, None) and f.label == "torch/eager/cuda:0"
    assert f.machine == "NVIDIA H200"  # an accelerator: its name, not the CPU's
    b["params"].pop("device_name")
    assert timings._pytest_figure(b, _loaded(), "AMD EPYC").machine == "cuda:0"


def test_pytest_figure_quartiles_of_extra_info_win_and_unnamed_keys_use_the_name():
    b = {"name": "test_z", "extra_info": {"us_per_example": 80.0, "p25": 70.0, "p75": 99.0},
         "stats": {"median": 0.04, "q1": 0.001, "q3": 0.002}}
    f = timings._pytest_figure(b, _loaded(), "-")
    assert (f.median, f.p25, f.p75) == (80.0, 70.0, 99.0)
    assert f.label == "test_z" and f.machine == "cpu"  # no CPU model recorded: the device
    assert timings._pytest_figure(dict(b, name=None), _loaded(), "-").label == "?"


def test_pytest_figure_is_none_without_examples_per_round():
    assert timings._pytest_figure({"stats": {"median": 0.01}, "extra_info": {}}, _loaded(), "-") is None
    assert timings._pytest_figure({"stats": {"median": None}, "extra_info": {"us_per_example": 5.0}},
                                  _loaded(), "-") is None
    zero = timings._pytest_figure({"stats": {"median": 0.0}, "extra_info": {"us_per_example": 5.0, "steps": 10}},
                                  _loaded(), "-")
    assert zero.median == 0.0 and zero.examples_per_s is None  # no division by zero


def test_figures_of_pytest_benchmark_take_the_cpu_model_of_machine_info():
    data = {"machine_info": {"cpu": {"brand_raw": "Intel Xeon"}},
            "benchmarks": [{"name": "a", "extra_info": _bench(us_per_example=10.0), "stats": {"median": 0.1}},
                           {"name": "b", "extra_info": {}, "stats": {"median": 0.1}}]}
    (f,) = timings.figures_of_pytest_benchmark(_loaded(data))
    assert (f.name, f.env, f.machine) == ("a", "Intel Xeon", "Intel Xeon")
    data["machine_info"] = {"cpu": "x"}
    (f,) = timings.figures_of_pytest_benchmark(_loaded(data))
    assert f.env == "-" and f.machine == "cpu"


def _bench_result(rows, when="2026-01-02T00:00:00+00:00", name="bench.json"):
    return _loaded({"kind": "bench", "environment": {"cpu_model": "AMD EPYC 7B13"}, "rows": rows}, name, when)


def _row(strategy, us, **kw):
    return {"backend": "jax", "strategy": strategy, "device": "cpu", "dtype": "float32", "variant": "1989",
            "us_per_example": us, **kw}


def test_bench_figures_take_examples_per_s_from_the_row_else_from_the_median():
    r = _bench_result([_row("scan", 50.0, examples_per_s=123.0, p25=45.0, p75=60.0),
                       _row("jit", 40.0), _row("none", None),
                       _row("k", 20.0, kernel_count={"kernels": 36, "unit": "XLA thunks", "dispatches": 0.02})])
    scan, jit, k = timings.figures_of_bench(r)
    assert (scan.median, scan.p25, scan.p75, scan.examples_per_s) == (50.0, 45.0, 60.0, 123.0)
    assert jit.examples_per_s == pytest.approx(1e6 / 40.0) and jit.kernels == "-"
    assert k.kernels == "36.0 XLA thunks (0.02 dispatches)"
    assert scan.machine == "AMD EPYC 7B13" and scan.source == "bench.json"


def test_kernels_text_from_the_count_or_the_older_field():
    assert timings.kernels_text({"kernel_count": {"kernels": 12.34, "unit": "launches"}}) == "12.3 launches"
    assert timings.kernels_text({"kernel_count": {"kernels": 12, "unit": 3}}) == "12.0"
    assert timings.kernels_text({"kernels_per_example": 7}) == "7.0"
    assert timings.kernels_text({"kernel_count": {"unit": "x"}}) == "-"
    assert timings.kernels_text({}) == "-"


def test_throughput_keeps_sub_microsecond_figures_and_drops_zero_and_unknown():
    fast = [_row("tiny", 0.5), _row("one", 1.0), _row("zero", 0.0), _row("slow", 300.0)]
    sc = Scan(benches=[_bench_result(fast)])
    figs, source = timings.throughput_figures(sc)
    assert [(f.key[1], f.median) for f in figs] == [("tiny", 0.5), ("one", 1.0), ("slow", 300.0)]  # fastest first
    assert [f.label for f in figs] == ["jax/tiny/cpu", "jax/one/cpu", "jax/slow/cpu"]  # one dtype, one variant: unsaid
    assert source == "run and bench results"


def test_throughput_takes_the_latest_figure_per_configuration_and_labels_what_varies():
    old = _bench_result([_row("scan", 90.0), _row("jit", 70.0)], when="2026-01-01", name="old.json")
    new = _bench_result([_row("scan", 50.0), _row("jit", 80.0, dtype="float64")], when="2026-01-03", name="new.json")
    figs, _ = timings.throughput_figures(Scan(benches=[new, old]))
    assert [(f.label, f.median, f.source) for f in figs] == [
        ("jax/scan/cpu float32", 50.0, "new.json"), ("jax/jit/cpu float32", 70.0, "old.json"),
        ("jax/jit/cpu float64", 80.0, "new.json")]


def test_machine_panels_cap_rows_per_machine_and_say_what_was_left_out():
    figs = [Figure(("jax", f"s{k}", "cpu", None, None), f"s{k}", float(k + 1), machine=f"m{k % 8}")
            for k in range(48)]  # 8 machines, 6 figures each, fastest first
    panels, note = timings.machine_panels(figs)
    assert [m for m, _ in panels] == [f"m{k}" for k in range(6)]
    assert figures.MAX_ROWS // 6 == 5 and all(len(fs) == 5 for _, fs in panels)
    assert [f.label for f in panels[0][1]] == ["s0", "s8", "s16", "s24", "s32"]
    assert note == "; ".join(["2 more machines not drawn (first 6 of 8 shown)"] + [
        f"1 more configurations on m{k} not drawn (first 5 of 6 shown)" for k in range(6)])
    one, none = timings.machine_panels(figs[:3])
    assert none is None and one == [("m0", [figs[0]]), ("m1", [figs[1]]), ("m2", [figs[2]])]
    (only,), _ = timings.machine_panels([Figure(("jax",), "x", 1.0, machine="M" * 80)])
    assert only[0] == "M" * 57 + "..."  # a machine's name cut to 60 characters


# ----------------------------------------------------------------------------- bench.csv


def test_bench_rows_leave_the_kernels_cell_empty_without_a_count(tmp_path):
    r = Loaded(tmp_path / "b.json", _bench_result([_row("scan", 50.0), _row("k", 20.0, kernel_count={
        "kernels": 36, "unit": "XLA thunks"})]).data, "2026-01-02")
    head, rows = export.bench_rows(Scan(benches=[r]), tmp_path)
    by = {row[head.index("strategy")]: dict(zip(head, row)) for row in rows}
    assert by["scan"]["kernels_per_example"] is None and by["k"]["kernels_per_example"] == "36.0 XLA thunks"
    assert by["scan"]["file"] == "b.json" and by["scan"]["kind"] == "bench"
    assert by["scan"]["examples_per_s"] == pytest.approx(2e4) and by["scan"]["machine"] == "AMD EPYC 7B13"
    csv_text = export.csv_bytes(head, rows).decode()
    assert ",'-," not in csv_text and "-" not in csv_text.splitlines()[1].split(",")[head.index("kernels_per_example")]


# ----------------------------------------------------------------------------- runs


def test_environment_summary_names_the_machine_frameworks_and_threads():
    from harness.report.runs import environment_summary as env

    assert env(None) == "-" and env({}) == "-" and env({"backend": "x"}) == "-"
    be = {"torch": "2.13.0", "torch_interop_threads": 4, "torch_num_threads": 2, "flax": 3}
    assert env({"cpu_model": "AMD EPYC", "backend": be, "cpu_affinity": 8}) == "AMD EPYC · torch 2.13.0 · 2 threads of 8 cores"
    gpu = {"device_name": "NVIDIA H200", "jaxlib": "0.5", "jax": "0.5", "cuda": "12.4", "intra_op_threads": 1}
    assert env({"cpu_model": "AMD EPYC", "backend": gpu}) == "NVIDIA H200 · jax 0.5 · jaxlib 0.5 · CUDA 12.4 · 1 thread"
    assert env({"cpu_model": "AMD EPYC", "backend": {"device_name": "CPU"}, "cpu_affinity": 2}) == "AMD EPYC · 2 cores"
    assert env({"cpu_model": "", "backend": {"device_name": ""}}) == "-"


def test_threads_prefer_the_num_threads_setting_over_other_thread_counts():
    from harness.report.runs import _threads

    assert _threads({"a_threads": 7, "torch_num_threads": 3, "torch_num_interop_threads": 9}) == 3
    assert _threads({"b_threads": 7, "a_threads": "x", "torch_num_threads": "4"}) == 7
    assert _threads({"x": 1, "interop_threads": 5}) == 5  # no num_threads: any thread count
    assert _threads({}) is None


def test_run_label_appends_the_fields_asked_for():
    from harness.report.runs import run_label

    d = {"backend": "jax", "strategy": "scan", "device": "cpu", "n_train": 500, "seed": 3, "dtype": "float64",
         "variant": None}
    assert run_label(d) == "jax/scan/cpu"
    assert run_label(d, ("n_train", "seed", "dtype", "variant")) == "jax/scan/cpu 500 train seed 3 float64"
    assert run_label(dict(d, n_train=None, seed=None), ("n_train", "seed")) == "jax/scan/cpu"


def test_run_final_takes_the_final_block_and_the_last_pass_for_what_it_lacks():
    from harness.report.runs import run_final

    last = {"train_error": 0.01, "train_misses": 73, "test_error": 0.06, "test_misses": 120, "train_loss": 0.1,
            "test_loss": 0.2}
    d = {"epochs": [{"test_error": 0.5}, last], "final": {"test_error": 0.05, "test_misses": 100}}
    assert run_final(d) == dict(last, test_error=0.05, test_misses=100)
    assert run_final(dict(d, final=None)) == last


# ----------------------------------------------------------------------------- learning-curve data


def _curve_group(label, n_seeds, final=0.05):
    from harness.report.curves import Group

    seeds = [{"seed": s, "epoch": [1, 2], "test_error": [0.1, final + s / 1000]} for s in range(n_seeds)]
    return Group((("backend", label),), label, seeds)


def test_drawable_caps_configurations_and_seeds_and_says_so_in_one_note():
    from harness.report import curves

    groups = [_curve_group(f"c{k}", 45 if k < 2 else 1) for k in range(12)]
    drawn, note = curves.drawable(groups)
    assert [d["label"] for d in drawn] == [f"c{k}" for k in range(10)]
    assert [len(d["seeds"]) for d in drawn[:3]] == [40, 40, 1] and [d["n"] for d in drawn[:3]] == [45, 45, 1]
    assert note == ("2 more configurations not drawn (first 10 of 12 shown); "
                    "10 more seeds not drawn (first 40 of each of 2 configurations)")
    assert drawn[2]["finals"] == [0.05]
    one, note = curves.drawable([_curve_group("x", 41)])
    assert note == "1 more seeds not drawn (first 40 of each of 1 configuration)" and one[0]["seeds"][-1]["seed"] == 39
    assert curves.drawable([_curve_group("x", 2)])[1] is None


def test_finals_are_each_seeds_last_recorded_test_error():
    from harness.report import curves
    from harness.report.curves import Group

    g = Group((), "x", [{"test_error": [0.1, 0.06, None]}, {"test_error": [None, None]}, {"test_error": [0.2, 0.07]}])
    assert curves.finals(g) == [0.06, 0.07]


def test_curve_series_number_passes_from_one_where_a_pass_lacks_its_number():
    from harness.report import curves

    r = Loaded(Path("r.json"), {"epochs": [{"epoch": 5, "test_error": 0.1}, {"epoch": "x", "test_error": "bad"},
                                           {"train_loss": 0.5}]}, "")
    s = curves._series(r, 7)
    assert s["seed"] == 7 and s["epoch"] == [5, 2, 3]
    assert s["test_error"] == [0.1, None, None] and s["train_loss"] == [None, None, 0.5]
    assert sorted([3, None, "a", 1], key=curves._seed_order) == [1, 3, "a", None]


def test_curve_figures_one_per_family_1989_first_labelled_by_what_varies():
    from harness.report import curves
    from tests.test_report import run_result

    runs = [Loaded(Path(f"{k}.json"), d, d["finished"]) for k, d in enumerate([
        run_result("torch", "eager", variant="modern", seed=1),
        run_result("jax", "scan", seed=2), run_result("jax", "scan", seed=1),
        run_result("torch", "eager", seed=1),
        run_result("torch", "eager", seed=1, final_test=(0.0499, 100), finished="2026-01-02T00:00:00+00:00")])]
    figs = curves.curve_figures(runs)
    assert list(figs) == ["1989", "modern"]
    assert [g.label for g in figs["1989"]] == ["jax:scan", "torch:eager"]
    jax, torch = figs["1989"]
    assert [s["seed"] for s in jax.seeds] == [1, 2]
    assert len(torch.seeds) == 1 and torch.seeds[0]["test_error"][-1] == 0.0499  # a repeated seed: its later run
    assert curves.datasets(figs["1989"]) == ["usps"]


def test_colours_tell_up_to_twenty_series_apart():
    plt = figures.pyplot()
    for n in (1, 3, 10, 11, 20):
        assert len(set(figures._colors(plt, n))) == n, n
    assert len(figures._colors(plt, 25)) == 25  # beyond twenty: repeated, never short


def test_a_bench_figures_key_takes_each_field_from_its_row_else_from_the_result():
    """backend, device, dtype and variant: the row's own, else the bench result's; never another field's."""
    own = _row("scan", 50.0, device="cuda", dtype="float64", variant="modern")
    bare = {"strategy": "jit", "us_per_example": 40.0}
    r = _loaded({"kind": "bench", "backend": "torch", "device": "cpu", "dtype": "float32", "variant": "1989",
                 "environment": {}, "rows": [own, bare]}, "bench.json", "2026-01-02T00:00:00+00:00")
    a, b = timings.figures_of_bench(r)
    assert a.key == ("jax", "scan", "cuda", "float64", "modern")
    assert b.key == ("torch", "jit", "cpu", "float32", "1989")


@pytest.mark.parametrize("v, want", [(7, 7), (0, 0), (True, None), (False, None), (7.0, None), ("7", None),
                                     (None, None), ([7], None)])
def test_a_count_read_from_a_result_is_an_int_or_nothing(v, want):
    """Misses and n_train come from files: only a real int (not a bool, a float or a string) counts."""
    got = timings._int(v)
    assert got == want and type(got) is type(want)
