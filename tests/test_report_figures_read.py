"""What each report figure draws, read back through matplotlib's artists on the Figure it made:
where points, bars, whiskers and reference lines stand, what titles, labels, tick labels,
annotations and legends say, the limits and scales, and what is left out and said. Colours,
font sizes and line widths are style, not read here."""
from __future__ import annotations

import pytest

from harness.report import ablation, figures
from harness.report.timings import Figure
from tests import test_report_figure_units as units
from tests.test_ablation import BASE, FAR, _run
from tests.test_report_figure_units import seed_series

pytest.importorskip("matplotlib")

plt = units.plt  # the fixture: pyplot whose figures stay open for the test to read


def _xy(line):
    return list(line.get_xdata()), list(line.get_ydata())


# ----------------------------------------------------------------------------- divergence


def test_divergence_floor_is_a_tenth_below_the_smallest_value_or_tolerance(plt):
    traces = [{"label": "a", "steps": [1, 2, 3], "values": [0.0, 1e-9, 2e-9], "tol": [1e-12, None, 1e-12]}]
    figures.divergence(plt, traces, "Parity")
    ax = plt.figs[0].axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert lines["a (0 at 1 step, drawn at the bottom)"].get_ydata()[0] == pytest.approx(1e-13)  # below the tol
    tol = lines["tolerance"].get_ydata()
    assert tol[0] == pytest.approx(1e-12) and tol[1] != tol[1] and tol[2] == pytest.approx(1e-12)  # None: a gap
    (cross,) = [ln for ln in ax.get_lines() if ln.get_marker() == "X"]
    assert _xy(cross) == ([3], [2e-9])  # step 1's 0 is within; step 2 has no tolerance to be beyond


def test_divergence_of_zeros_only_sits_at_1e_17_or_below_its_tolerance(plt):
    figures.divergence(plt, [{"label": "a", "steps": [1, 2], "values": [0.0, 0.0]}], "Parity")
    figures.divergence(plt, [{"label": "a", "steps": [1, 2], "values": [0.0, None], "tol": [4e-10, 0.0]}], "Parity")
    (zeros,) = plt.figs[0].axes[0].get_lines()
    assert _xy(zeros) == ([1, 2], pytest.approx([1e-17, 1e-17]))
    line = {ln.get_label(): ln for ln in plt.figs[1].axes[0].get_lines()}["a (0 at 1 step, drawn at the bottom)"]
    assert list(line.get_ydata()) == pytest.approx([4e-11, 4e-11])


def test_divergence_labels_axes_title_and_legend(plt):
    traces = [{"label": "jax:scan", "steps": [1, 2], "values": [1e-12, 3e-12]},
              {"label": "torch:eager", "steps": [1, 2], "values": [2e-12, 1e-9], "tol": [1e-10, 1e-10]}]
    figures.divergence(plt, traces, "Parity: steps")
    ax = plt.figs[0].axes[0]
    assert ax.get_title() == "Parity: steps"
    assert ax.get_xlabel() == "per-example training step"
    assert ax.get_ylabel() == "max |a - b| over all parameters (log scale)"
    assert ax.get_yscale() == "log"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "vs reference"
    assert [t.get_text() for t in legend.get_texts()] == ["jax:scan", "torch:eager", "tolerance",
                                                         "first step beyond tolerance"]
    (cross,) = [ln for ln in ax.get_lines() if ln.get_marker() == "X"]
    assert _xy(cross) == ([2], [1e-9]) and cross.get_linestyle() == "None"
    (note,) = ax.texts
    assert note.get_text() == "step 2" and tuple(note.xy) == (2, 1e-9)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert _xy(lines["jax:scan"]) == ([1, 2], [1e-12, 3e-12]) and lines["tolerance"].get_linestyle() == "--"


# ----------------------------------------------------------------------------- ablation


def _failed():
    return [_run(s, e, recipe=(("optimizer", "sdlm"),), train_error=e, started="2026-01-04")
            for s, e in zip((1, 2), (0.50, 0.61))]


def test_ablation_draws_each_seed_as_a_dot_and_a_mean_with_its_sd(plt):
    import numpy as np

    groups = ablation.groups_of(BASE + FAR + [_run(9, 0.07, recipe=(("targets", 0.5),), started="2026-01-03")])
    ablation.figure(plt, groups, "Ablation")
    ax = plt.figs[0].axes[0]
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert [ln.get_linestyle() for ln in dots] == ["None"] * 3  # dots, not a line over the seeds
    for ln, runs, y in zip(dots, (BASE, FAR, [None]), (2, 1, 0)):
        xs, ys = _xy(ln)
        if runs[0] is not None:
            assert xs == pytest.approx([r["final"]["test_error"] * 100 for r in runs])
        assert ys == [y] * len(xs)
    assert _xy(dots[2]) == ([pytest.approx(7.0)], [0])  # one seed: its dot drawn
    bars = ax.containers
    assert len(bars) == 3 and not ax.texts  # every recipe within the axis: no "mean ... >" words
    for bar, runs, y in zip(bars, (BASE, FAR), (2, 1)):
        v = np.array([r["final"]["test_error"] for r in runs]) * 100
        mean_line, _, (whisker,) = bar.lines
        assert _xy(mean_line) == ([pytest.approx(v.mean())], [y]) and mean_line.get_marker() == "D"
        (seg,) = whisker.get_segments()
        assert [p[0] for p in seg] == pytest.approx([v.mean() - v.std(ddof=1), v.mean() + v.std(ddof=1)])
    single = bars[2]
    assert single.has_xerr is False and _xy(single.lines[0]) == ([pytest.approx(7.0)], [0])


def test_ablation_says_the_mean_of_a_recipe_beyond_the_axis_in_words_at_its_edge(plt):
    groups = ablation.groups_of(BASE + FAR + _failed())
    ablation.figure(plt, groups, "Ablation")
    fig = plt.figs[0]
    for ax, f in zip(fig.axes[:2], ("test_error", "train_error")):
        cap = ablation._axis_cap(groups, f)
        (words,) = ax.texts
        assert words.get_text() == "mean 55.5% >" and tuple(words.xy) == pytest.approx((cap, 0))
        failed_dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"][2]
        assert _xy(failed_dots) == ([pytest.approx(cap)] * 2, [0, 0])  # drawn at the edge
        assert len(ax.containers) == 2  # no diamond for the failed recipe
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            f"paper {ablation.PAPER_1989[f] * 100:.2f}%", "baseline mean"]
        assert ax.get_legend()._loc == 4  # lower right
    assert fig._suptitle.get_text() == "Ablation"
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["1989", "1989 targets=0.8 init=fan_in", "1989 optimizer=sdlm"]
    assert list(fig.axes[0].get_yticks()) == [2, 1, 0]


def test_ablation_names_other_backends_and_draws_no_baseline_mean_without_one(plt):
    runs = [_run(s, 0.06, backend="torch", strategy="eager", recipe=(("targets", 0.8),)) for s in (1, 2)]
    groups = ablation.groups_of(runs)
    ablation.figure(plt, groups, "t")
    ax = plt.figs[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1989 targets=0.8 [torch:eager]"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["paper 5.00%"]
    (paper,) = [ln for ln in ax.get_lines() if ln.get_label() == "paper 5.00%"]
    assert list(paper.get_xdata()) == pytest.approx([5.0, 5.0]) and paper.get_linestyle() == ":"


# ----------------------------------------------------------------------------- throughput


def test_throughput_draws_medians_with_quartile_whiskers_fastest_at_the_top(plt):
    fa = Figure(("jax", "scan", "cpu", "float32", "1989"), "jax/scan/cpu", 50.0, 45.0, 60.0)
    fb = Figure(("torch", "eager", "cpu", "float32", "1989"), "torch/eager/cpu", 300.0, 320.0, 250.0)  # p25 > p75
    fc = Figure(("torch", "eager", "cpu", "float32", "1989"), "no spread", 80.0)
    figures.throughput(plt, [("CPU A", [fa, fb]), ("CPU B", [fc])], "bench.json", "2 more machines not drawn")
    fig = plt.figs[0]
    top, bottom = fig.axes[:2]
    assert [t.get_text() for t in top.get_yticklabels()] == ["jax/scan/cpu", "torch/eager/cpu"]
    assert list(top.get_yticks()) == [1, 0] and top.get_ylim() == pytest.approx((-0.6, 1.6))
    assert bottom.get_ylim() == pytest.approx((-0.6, 0.6))
    (a, b) = top.containers
    assert _xy(a.lines[0]) == ([50.0], [1]) and _xy(b.lines[0]) == ([300.0], [0])
    assert [p[0] for p in a.lines[2][0].get_segments()[0]] == pytest.approx([45.0, 60.0])
    assert [p[0] for p in b.lines[2][0].get_segments()[0]] == pytest.approx([250.0, 320.0])
    (c,) = bottom.containers
    assert [p[0] for p in c.lines[2][0].get_segments()[0]] == pytest.approx([80.0, 80.0])  # no spread: none
    words = {t.get_text(): t.get_position() for t in top.texts}
    assert words == {"50.0 us": pytest.approx((66.0, 1)), "300.0 us": pytest.approx((352.0, 0))}
    assert {t.get_text(): t.get_position() for t in bottom.texts} == {"80.0 us": pytest.approx((88.0, 0))}
    assert bottom.get_xlim() == pytest.approx((45.0 / 2, 320.0 * 4))
    assert bottom.get_xlabel().startswith("microseconds per training example (batch size 1")
    assert "dot: median, whiskers: p25-p75" in bottom.get_xlabel() and top.get_xlabel() == ""
    assert fig._suptitle.get_text() == "Training throughput per machine (lower is faster)"
    assert [t.get_text() for t in fig.texts if t is not fig._suptitle] == [
        "source: bench.json; 2 more machines not drawn"]
    assert top.get_legend().get_title().get_text() == "backend"
    handles = top.get_legend().legend_handles  # dots, as the figures they stand for
    assert [(h.get_marker(), h.get_linestyle()) for h in handles] == [("o", "None"), ("o", "None")]


def test_throughput_axis_starts_at_half_the_fastest_median_when_its_p25_is_unknown(plt):
    f = Figure(("jax", "scan", "cpu", None, None), "jax/scan/cpu", 10.0, 0.0, 12.0)  # p25 0: not a bound
    g = Figure(("jax", "jit", "cpu", None, None), "jax/jit/cpu", 40.0)
    figures.throughput(plt, [("CPU", [f, g])], "x.json")
    ax = plt.figs[0].axes[0]
    assert ax.get_xlim() == pytest.approx((10.0 / 2, 40.0 * 4))
    fig = plt.figs[0]
    assert [t.get_text() for t in fig.texts if t is not fig._suptitle] == ["source: x.json"]


# ----------------------------------------------------------------------------- seeds strip


def test_seed_strip_marks_each_median_and_the_papers_figure(plt):
    rows = [("a", [0.05, 0.07, 0.06]), ("b", [0.10])]
    figures.seed_strip(plt, rows, 0.05)
    ax = plt.figs[0].axes[0]
    bars = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert [_xy(b) for b in bars] == [([pytest.approx(6.0)] * 2, pytest.approx([1 - 0.32, 1 + 0.32])),
                                      ([pytest.approx(10.0)] * 2, pytest.approx([-0.32, 0.32]))]
    (paper,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert list(paper.get_xdata()) == pytest.approx([5.0, 5.0])
    (words,) = ax.texts
    assert words.get_text() == "paper 1989: 5.00%" and tuple(words.xy) == pytest.approx((5.0, 2 - 0.45))
    ys = sorted(y for _, y in ax.collections[0].get_offsets())
    assert ys == pytest.approx([1 - 0.22, 1.0, 1 + 0.22])  # three seeds spread over the row
    assert list(ax.collections[1].get_offsets()[:, 1]) == [0.0]  # one seed on its row
    assert ax.get_ylim() == pytest.approx((-0.7, 2 - 0.2))
    assert ax.get_xlabel() == ("test error after the last pass (% of the test set): one dot per seed, bar at the "
                               "median")
    assert ax.get_title() == "Test error over seeds"


# ----------------------------------------------------------------------------- learning curves


def test_learning_curve_axes_run_from_below_the_least_to_above_the_most_with_1_2_5_ticks(plt):
    s = seed_series([1, 2, 3], train_error=[0.1, 0.02, 0.01], test_error=[0.2, 0.08, 0.05],
                    train_loss=[0.5, 0.1, 0.05])
    paper = {"train_error": 0.0014, "test_error": 0.05}
    figures.learning_curves(plt, "Curves", [{"label": "x", "seeds": [s], "n": 1, "finals": [0.05]}], paper,
                            "1 more configuration not drawn")
    fig = plt.figs[0]
    train_err, test_err, train_loss, test_loss = fig.axes[:4]
    assert train_err.get_ylim() == pytest.approx((0.14 / 1.8, 10.0 * 1.6))  # the paper's 0.14% counts
    assert test_err.get_ylim() == pytest.approx((5.0 / 1.8, 20.0 * 1.6))
    assert train_loss.get_ylim() == pytest.approx((0.05 / 1.8, 0.5 * 1.6))
    assert list(train_err.get_yticks()) == pytest.approx(figures.nice_log_ticks(0.14 / 1.8, 16.0))
    assert list(train_loss.get_yticks()) == pytest.approx([0.05, 0.1, 0.2, 0.5])
    assert train_loss.get_yscale() == "log" and train_loss.yaxis.get_major_formatter()(0.2, 0) == "0.2"
    assert [t.get_text() for t in test_loss.texts] == ["not recorded"]  # nothing to draw: said
    assert not test_loss.get_lines()
    assert fig._suptitle.get_text() == "Curves\nthin lines: one per seed"
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "x: 1 seed, final test error 5.00%", "paper 1989 (USPS): 0.14% train, 5.00% test error",
        "1 more configuration not drawn"]
    assert legend._ncols == 2
    (line,) = [ln for ln in train_err.get_lines() if ln.get_linestyle() == "-"]
    assert _xy(line) == ([1, 2, 3], pytest.approx([10.0, 2.0, 1.0]))
    assert train_err.xaxis.get_major_locator()._integer


def test_learning_curves_of_one_configuration_have_a_one_column_legend(plt):
    s = seed_series([1, 2], train_error=[0.1, 0.02], test_error=[0.2, 0.08])
    figures.learning_curves(plt, "t", [{"label": "x", "seeds": [s], "n": 1, "finals": [0.08]}], {})
    assert plt.figs[0].legends[0]._ncols == 1


def test_each_seed_of_a_configuration_is_its_own_line_in_the_configurations_colour(plt):
    a = seed_series([1, 2], train_error=[0.1, 0.02], test_error=[0.2, 0.08])
    b = seed_series([1, 2], train_error=[0.2, 0.04], test_error=[0.3, 0.09])
    c = seed_series([1, 2], train_error=[0.3, 0.05], test_error=[0.4, 0.1])
    groups = [{"label": "x", "seeds": [a, b], "n": 2, "finals": [0.08, 0.09]},
              {"label": "y", "seeds": [c], "n": 1, "finals": [0.1]}]
    figures.learning_curves(plt, "t", groups, {})
    lines = plt.figs[0].axes[0].get_lines()
    assert [_xy(ln)[1] for ln in lines] == [pytest.approx([10.0, 2.0]), pytest.approx([20.0, 4.0]),
                                            pytest.approx([30.0, 5.0])]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_linewidth() > lines[2].get_linewidth()  # the earlier configuration wider: never hidden


# ----------------------------------------------------------------------------- gallery


def test_gallery_is_one_mosaic_sized_by_its_rows_and_columns_under_its_title(plt):
    import numpy as np

    tiles = [(np.zeros((16, 16)), k, k + 1, k) for k in range(5)]
    figures.gallery(plt, tiles, "Missed digits", cols=2)
    fig = plt.figs[0]
    (ax,) = fig.axes
    assert ax.images[0].get_array().shape == (3 * 30, 2 * 20, 3)
    assert tuple(fig.get_size_inches()) == pytest.approx((2 * 20 * 0.055, 3 * 30 * 0.055 + 0.75))
    (title,) = fig.texts
    assert title.get_text() == "Missed digits\n(each: true label → predicted label; #index in the test set)"
    assert not ax.axison
    wide = figures.gallery(plt, tiles[:1], "t", cols=12)  # fewer digits than columns: one column
    assert wide.startswith(b"\x89PNG") and plt.figs[1].axes[0].images[0].get_array().shape == (30, 20, 3)


# ----------------------------------------------------------------------------- no noise on stderr


def test_drawing_every_figure_warns_of_nothing(plt):
    """matplotlib's warnings reach the user's terminal during `harness report`: a figure drawn as
    intended raises none (a grid switched off with line settings given, say, warns)."""
    import warnings

    from tests.test_report_figure_units import _draw_each

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pngs = _draw_each(plt, 3)
    assert set(pngs) == {"learning_curves", "throughput", "seed_strip", "divergence", "ablation", "gallery"}


def test_a_zero_at_some_pass_is_marked_in_its_configurations_colour(plt):
    """The open markers on the bottom edge say which configuration reached 0: each in its line's colour."""
    a = seed_series([1, 2, 3], train_error=[0.1, 0.02, 0.0], test_error=[0.2, 0.08, 0.07])
    b = seed_series([1, 2, 3], train_error=[0.2, 0.0, 0.01], test_error=[0.3, 0.09, 0.08])
    groups = [{"label": "x", "seeds": [a], "n": 1, "finals": [0.07]}, {"label": "y", "seeds": [b], "n": 1, "finals": [0.08]}]
    figures.learning_curves(plt, "t", groups, {})
    ax = plt.figs[0].axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    marks = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None"]
    assert [list(m.get_xdata()) for m in marks] == [[3], [2]]
    assert [m.get_color() for m in marks] == [ln.get_color() for ln in lines]
    assert lines[0].get_color() != lines[1].get_color()


def test_throughput_panels_are_as_tall_as_their_rows_need(plt):
    """Each machine's panel gets height for its rows (0.45 in + 0.32 in a row), so rows read alike in every panel."""
    three = [Figure(("jax", f"s{k}", "cpu", None, None), f"s{k}", 10.0 * (k + 1)) for k in range(3)]
    figures.throughput(plt, [("A", three), ("B", three[:1])], "x.json")
    fig = plt.figs[0]
    a, b = (ax.get_position().height for ax in fig.axes[:2])
    assert a / b == pytest.approx((0.45 + 0.32 * 3) / (0.45 + 0.32))
    assert fig.get_size_inches()[1] == pytest.approx(0.45 + 0.32 * 3 + 0.45 + 0.32 + 1.3)
