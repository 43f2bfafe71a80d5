"""The rich tables the CLI prints (harness.cli.tables), rendered to plain text: each cell that
carries a verdict or a figure has one right spelling (PASS / FAIL / info, a count as an integer and
no relative error, the element where a difference is worst, the first divergent step, a backend's
status, declared variants and dtypes)."""
from __future__ import annotations

from rich.console import Console

from harness.cli.tables import (
    backends_table,
    bench_table,
    knob_support_table,
    knobs_table,
    parity_table,
)


def _text(table) -> str:
    console = Console(record=True, width=400, color_system=None)
    console.print(table)
    return console.export_text()


def _rows(table) -> list[list[str]]:
    """The table's cells, row by row, as the renderer got them (markup included)."""
    cols = [[str(c) for c in col._cells] for col in table.columns]
    return [list(r) for r in zip(*cols)]


def _headers(table) -> list[str]:
    return [str(c.header) for c in table.columns]


def _row(**kw) -> dict:
    return {"target": "torch:eager", "tensor": "H1w", "max_abs": 2e-7, "max_rel": 3e-6, "tol": "1e-5",
            "passed": True, **kw}


# -- parity_table ----------------------------------------------------------------------------------

def test_parity_verdicts_pass_fail_info():
    check = {"name": "forward", "rows": [_row(), _row(tensor="H2w", passed=False),
                                         _row(tensor="H3w", within_tol=False), _row(tensor="outw", within_tol=True)]}
    table = parity_table(check)
    assert _headers(table) == ["backend:strategy", "tensor", "max |a-b|", "max rel", "tol", "result"]
    assert [r[-1] for r in _rows(table)] == ["[green]PASS[/]", "[red]FAIL[/]", "[yellow]info[/]", "[green]PASS[/]"]
    assert _rows(table)[0] == ["torch:eager", "H1w", "2e-07", "3e-06", "1e-5", "[green]PASS[/]"]
    text = _text(table)
    assert text.count("PASS") == 2 and text.count("FAIL") == 1 and text.count("info") == 1


def test_parity_counts_print_as_integers_with_no_relative_error():
    table = parity_table({"name": "eval", "rows": [_row(tensor="misses", max_abs=3.0, max_rel=0.5, count=1),
                                                   _row(tensor="loss", max_abs=3.0, max_rel=0.5)]})
    assert [r[2:4] for r in _rows(table)] == [["3", "-"], ["3", "0.5"]]


def test_parity_missing_figures_are_dashes():
    assert _rows(parity_table({"name": "eval", "rows": [_row(max_abs=None, max_rel=None)]}))[0][2:4] == ["-", "-"]


def test_parity_tensor_cell_names_where_and_why():
    rows = [_row(where=[0, 3, 2], max_abs=1e-3), _row(where=[1], max_abs=0.0), _row(judged_to=7),
            _row(worst_of=6), _row(value=5, reference=4), _row(of=10), _row(value=5, reference=4, of=10)]
    cells = [r[1] for r in _rows(parity_table({"name": "forward", "rows": rows}, verbose=True))]
    assert cells == ["H1w[0,3,2]", "H1w", "H1w (judged to step 7)", "H1w (worst of 6)", "H1w (5 vs 4)",
                     "H1w (of 10)", "H1w (5 vs 4)"]


def test_parity_error_rows_fail_with_their_error():
    rows = [_row(error="boom"), _row(tensor="-", error="no session")]
    got = _rows(parity_table({"name": "forward", "rows": rows}))
    assert got == [["torch:eager", "H1w: boom", "-", "-", "1e-5", "[red]FAIL[/]"],
                   ["torch:eager", "no session", "-", "-", "1e-5", "[red]FAIL[/]"]]


def test_parity_trajectory_has_the_first_divergent_step_and_group_column():
    rows = [_row(k=1, first_step=None), _row(k=2, first_step=17, passed=False)]
    table = parity_table({"name": "trajectory", "rows": rows})
    assert _headers(table) == ["backend:strategy", "tensor", "k", "max |a-b|", "max rel", "tol", "result",
                               "first divergent step"]
    assert [(r[2], r[-1]) for r in _rows(table)] == [("1", "-"), ("2", "17")]


def test_parity_steps_fold_passing_groups_unless_verbose():
    rows = [_row(k=1, tensor="H1w", max_abs=1e-9), _row(k=1, tensor="H2w", max_abs=5e-7),
            _row(k=2, tensor="H1w", passed=False), _row(k=2, tensor="H2w")]
    folded = _rows(parity_table({"name": "steps", "rows": rows}))
    assert [(r[1].split(" ")[0], r[2]) for r in folded] == [("H2w", "1"), ("H1w", "2")]
    assert "worst of 2" in folded[0][1]
    assert len(_rows(parity_table({"name": "steps", "rows": rows}, verbose=True))) == 4
    assert len(_rows(parity_table({"name": "forward", "rows": rows}))) == 4  # only steps/passes fold


# -- backends_table --------------------------------------------------------------------------------

class _B:
    def __init__(self, name, strategies, devices, description="", variants=None, dtypes=None):
        self.name, self.strategies, self.devices, self.description = name, strategies, devices, description
        if variants is not None:
            self.variants = variants
        if dtypes is not None:
            self.dtypes = dtypes

    def strategy_devices(self, s):
        return self.devices.get(s, [])


class _Reg:
    def __init__(self, backends, reasons):
        self.backends, self.reasons = backends, reasons

    def names(self):
        return sorted({*self.backends, *self.reasons})

    def reason_unavailable(self, name):
        return self.reasons.get(name)


def test_backends_table_rows():
    reg = _Reg({"aa": _B("aa", ("eager", "jit"), {"eager": ["cpu", "cuda:0"]}, "A's [b]desc[/b]", variants=("1989",)),
                "bb": _B("bb", ("loop",), {}, dtypes=("float64",))},
               {"bb": "pip install 'x[bb]'", "cc": "failed to import"})
    table = backends_table(reg)
    assert table.title == "harness backends"
    assert _headers(table) == ["backend", "status", "strategies", "devices", "variants", "dtypes", "description / reason"]
    aa, bb, cc = _rows(table)
    assert aa == ["aa", "[green]available[/]", "eager, jit", "eager: cpu, cuda:0\njit: no device here", "1989", "all",
                  "A's [b]desc[/b]"]
    assert bb == ["bb", "[red]unavailable[/]", "loop", "-", "all", "float64", "pip install 'x\\[bb]'"]
    assert cc == ["cc", "[red]unavailable[/]", "-", "-", "-", "-", "failed to import"]
    text = _text(table)
    assert "harness backends" in text and "pip install 'x[bb]'" in text


# -- bench_table -----------------------------------------------------------------------------------

def _bench_row(backend, device, us, **kw):
    return {"backend": backend, "strategy": "eager", "device": device, "us_per_example": us, "p25": us - 1,
            "p75": us + 1.25, "examples_per_s": 1e6 / us, "compile_s": 1.25, "speedup_vs_slowest": 2.0, **kw}


def test_bench_table_fastest_first_per_device():
    result = {"variant": "1989", "dtype": "float32", "recipe": {"label": "1989+x"},
              "rows": [_bench_row("slow", "cpu", 200.0), _bench_row("gpu", "cuda", 5.0), _bench_row("fast", "cpu", 100.0)]}
    table = bench_table(result, "usps", kernels=False)
    assert table.title == "harness bench: recipe 1989+x, usps, float32, us per training example"
    assert [r[0] for r in _rows(table)] == ["fast", "slow", "gpu"]
    assert _rows(table)[0] == ["fast", "eager", "cpu", "100.0", "99.0-101.2", "10000", "1.2", "2.0x"]
    assert "per example (profiler)" not in _headers(table)
    result["rows"] = [_bench_row("k", "cpu", 10.0, kernel_count={"kernels": 34.0, "unit": "XLA thunks"})]
    del result["recipe"]
    table = bench_table(result, "mnist", kernels=True)
    assert table.title.startswith("harness bench: recipe 1989, mnist")
    assert _headers(table)[-1] == "per example (profiler)" and _rows(table)[0][-1] == "34.0 XLA thunks"


# -- knobs ----------------------------------------------------------------------------------------

def test_knobs_table_is_knob_rows_under_a_header_of_the_variants():
    from harness.recipe import knob_rows
    from harness.spec import PRESETS

    table = knobs_table()
    assert table.title == "recipe knobs: --set KNOB=VALUE (a named variant is a named set of them)"
    assert _headers(table) == ["knob", "values", "computed by", *PRESETS, "what it sets"]
    assert _rows(table) == knob_rows()


def test_knob_support_table_by_strategy():
    from harness.knobs import ANY
    from harness.spec import KNOBS

    names = [k for k, knob in KNOBS.items() if knob.backend]
    assert len(names) >= 2
    first, second = names[0], names[1]

    class Declares(_B):
        def knobs(self, strategy):
            return {first: ANY} if strategy == "a" else {second: ("tanh", 0.5)}

    class Registry:
        def available(self):
            return ["dec", "plain"]

        def get(self, name):
            return {"dec": Declares("dec", ("a", "b"), {}), "plain": _B("plain", ("eager",), {})}[name]

    table = knob_support_table(Registry())
    assert _headers(table) == ["backend:strategy", *names]
    rows = _rows(table)
    assert [r[0] for r in rows] == ["dec:a", "dec:b", "plain:eager"]
    assert rows[0][1] == "any" and rows[0][2] == "variant's"
    assert rows[1][1] == "variant's" and rows[1][2] == "tanh, 0.5"
    assert rows[2][1:] == ["variant's"] * len(names)


# -- every table's header and alignment: names are words, figures line up on the right ----------------

def _justify(table) -> dict[str, str]:
    return {str(c.header): c.justify for c in table.columns}


def test_bench_table_headers_and_alignment():
    result = {"variant": "1989", "dtype": "float64", "rows": [_bench_row("a", "cpu", 10.0)]}
    bench_cols = ["backend", "strategy", "device", "us/example (median)", "p25-p75", "examples/s", "compile s",
                  "speed-up vs slowest"]
    assert _headers(bench_table(result, "usps", kernels=False)) == bench_cols
    table = bench_table(result, "usps", kernels=True)
    assert _headers(table) == [*bench_cols, "per example (profiler)"]
    assert _justify(table) == {"backend": "left", "strategy": "left", "device": "left",
                               **{c: "right" for c in [*bench_cols[3:], "per example (profiler)"]}}


def test_parity_table_alignment_with_group_and_step_columns():
    table = parity_table({"name": "trajectory", "rows": [_row(k=1, first_step=3)]})
    assert _justify(table) == {"backend:strategy": "left", "tensor": "left", "k": "right", "max |a-b|": "right",
                               "max rel": "right", "tol": "right", "result": "right", "first divergent step": "right"}


def test_listing_tables_are_left_aligned_words_with_their_titles():
    class Registry:
        def available(self):
            return []

    support = knob_support_table(Registry())
    assert support.title == ("knobs a backend computes, by strategy (other values are refused, naming the "
                             "strategies that have them)")
    for table in (backends_table(_Reg({}, {})), knobs_table(), support):
        assert set(_justify(table).values()) == {"left"}, table.title
