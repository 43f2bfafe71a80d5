"""The report's figure functions called on their own (harness/report/figures.py, ablation.figure), each
figure read back through its matplotlib objects: where values are drawn (zeros on the bottom edge, the
baseline's mean, the paper's line), what the labels and legends say, which row is which, on which panel
the legend stands. Whole-report tests draw these figures but read few of their details."""
from __future__ import annotations

import pytest

from harness.report import ablation, figures
from harness.report.timings import Figure
from tests.test_ablation import BASE, FAR, NEAR

pytest.importorskip("matplotlib")


class Kept:
    """pyplot, except that the figure functions' plt.close(fig) keeps the figure for the test to read."""

    def __init__(self, plt):
        self._plt, self.figs = plt, []

    def __getattr__(self, name):
        return getattr(self._plt, name)

    def close(self, fig):
        self.figs.append(fig)


@pytest.fixture
def plt():
    kept = Kept(figures.pyplot())
    yield kept
    for fig in kept.figs:
        kept._plt.close(fig)


def seed_series(epoch, **metrics):
    out = {"seed": 1, "epoch": list(epoch)}
    for m in ("train_error", "test_error", "train_loss", "test_loss"):
        out[m] = metrics.get(m, [None] * len(out["epoch"]))
    return out


# ----------------------------------------------------------------------------- learning curves


def test_curve_zeros_are_open_markers_on_the_bottom_edge_at_their_passes(plt):
    s = seed_series([1, 2, 3, 4], train_error=[0.02, 0.0, 0.01, 0.0], test_error=[0.06, 0.05, 0.05, 0.05])
    groups = [{"label": "jax:scan", "seeds": [s], "n": 1, "finals": [0.05]}]
    figures.learning_curves(plt, "Learning curves", groups, {})
    train_err = plt.figs[0].axes[0]
    (marks,) = [ln for ln in train_err.get_lines() if ln.get_linestyle() == "None"]
    bottom = train_err.get_ylim()[0]
    assert list(marks.get_xdata()) == [2, 4]
    assert list(marks.get_ydata()) == pytest.approx([bottom * 1.05] * 2)
    assert marks.get_marker() == "o" and marks.get_markerfacecolor() == "none"
    (line,) = [ln for ln in train_err.get_lines() if ln.get_linestyle() == "-"]
    assert list(line.get_xdata()) == [1, 3] and list(line.get_ydata()) == pytest.approx([2.0, 1.0])  # in %
    assert train_err.get_yscale() == "log" and bottom == pytest.approx(1.0 / 1.8)
    legend = [t.get_text() for t in plt.figs[0].legends[0].get_texts()]
    assert "none at that pass (0: drawn on the bottom edge)" in legend
    assert not [ln for ln in plt.figs[0].axes[1].get_lines() if ln.get_linestyle() == "None"]  # test error: no 0


def test_the_papers_line_in_each_panel_is_drawn_as_its_legend_says(plt):
    s = seed_series([1, 2], train_error=[0.01, 0.002], test_error=[0.07, 0.06], train_loss=[0.01, 0.005],
                    test_loss=[0.03, 0.02])
    paper = {"train_error": 0.0014, "test_error": 0.05, "train_loss": 2.5e-3, "test_loss": 1.8e-2}
    figures.learning_curves(plt, "Learning curves", [{"label": "x", "seeds": [s], "n": 1, "finals": [0.06]}], paper)
    fig = plt.figs[0]
    (handle,) = [h for h in fig.legends[0].legend_handles if h.get_label().startswith("paper 1989")]
    assert handle.get_label() == "paper 1989 (USPS): 0.14% train, 5.00% test error and its MSE losses"
    for ax, (key, _) in zip(fig.axes, figures.PANELS):
        (ref,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        scale = 100 if key.endswith("error") else 1
        assert list(ref.get_ydata()) == pytest.approx([paper[key] * scale] * 2), key
        assert (ref.get_color(), ref.get_linewidth()) == (handle.get_color(), handle.get_linewidth())


# ----------------------------------------------------------------------------- seeds strip


def test_seed_strip_lists_the_first_row_at_the_top_with_its_own_dots(plt):
    rows = [("first", [0.05, 0.06]), ("second", [0.10]), ("third", [0.20, 0.21, 0.22])]
    figures.seed_strip(plt, rows, 0.05)
    ax = plt.figs[0].axes[0]
    ticks = {round(t): lab.get_text() for t, lab in zip(ax.get_yticks(), ax.get_yticklabels())}
    assert ticks == {2: "first", 1: "second", 0: "third"}
    for (label, vals), dots in zip(rows, ax.collections):
        y = {v: k for k, v in ticks.items()}[label]
        xy = dots.get_offsets()
        assert sorted(x for x, _ in xy) == pytest.approx(sorted(v * 100 for v in vals))
        assert all(abs(yy - y) < 0.25 for _, yy in xy)
    assert ax.xaxis.get_major_formatter()(5.0, 0) == "5%"


# ----------------------------------------------------------------------------- throughput


def test_throughput_backend_legend_stands_on_the_top_panel(plt):
    fa = Figure(("jax", "scan", "cpu", "float32", "1989"), "jax/scan/cpu", 50.0, 45.0, 60.0)
    fb = Figure(("torch", "eager", "cpu", "float32", "1989"), "torch/eager/cpu", 300.0, 250.0, 320.0)
    figures.throughput(plt, [("CPU A", [fa, fb]), ("CPU B", [fb])], "bench.json")
    top, bottom = plt.figs[0].axes[:2]
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["jax", "torch"]
    assert bottom.get_legend() is None
    assert bottom.get_xscale() == "log" and bottom.get_xlim() == pytest.approx((45.0 / 2, 320.0 * 4))


# ----------------------------------------------------------------------------- divergence


def test_divergence_draws_zero_and_missing_steps_at_the_floor_and_says_how_many(plt):
    traces = [{"label": "jax:scan", "steps": [1, 2, 3, 4], "values": [0.0, 1e-15, None, 4e-15]},
              {"label": "tf:xla", "steps": [1, 2, 3, 4], "values": [0.0, 0.0, 2e-15, 3e-15]},
              {"label": "torch:compiled", "steps": [1, 2], "values": [0.0, 0.0]}]
    figures.divergence(plt, traces, "Parity")
    ax = plt.figs[0].axes[0]
    floor = 1e-16  # a tenth of the smallest positive difference
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    one = lines["jax:scan (0 at 1 step, drawn at the bottom)"]
    assert list(one.get_ydata()) == pytest.approx([floor, 1e-15, floor, 4e-15])
    assert list(lines["tf:xla (0 at 2 steps, drawn at the bottom)"].get_ydata()) == pytest.approx(
        [floor, floor, 2e-15, 3e-15])
    assert list(lines["torch:compiled: identical (0) at every step, drawn at the bottom"].get_ydata()) == pytest.approx(
        [floor] * 2)
    assert ax.get_yscale() == "log"


def test_divergence_marks_the_first_step_beyond_tolerance_once(plt):
    traces = [{"label": "a", "steps": [1, 2, 3], "values": [1e-12, 5e-10, 9e-10], "tol": [1e-10] * 3},
              {"label": "b", "steps": [1, 2, 3], "values": [1e-12, 1e-11, 2e-10], "tol": [1e-10] * 3}]
    figures.divergence(plt, traces, "Parity")
    ax = plt.figs[0].axes[0]
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "X"]
    assert [(list(c.get_xdata()), list(c.get_ydata())) for c in crosses] == [([2], [5e-10]), ([3], [2e-10])]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels.count("first step beyond tolerance") == 1 and labels.count("tolerance") == 1
    assert [t.get_text() for t in ax.texts] == ["step 2", "step 3"]


# ----------------------------------------------------------------------------- ablation


def test_ablation_axis_cap_without_values_is_twice_the_papers_figure():
    empty = ablation.groups_of([])
    assert ablation._axis_cap(empty, "test_error") == pytest.approx(2 * 5.00 * 1.02)


def test_ablation_axis_cap_keeps_a_failed_recipe_from_squeezing_the_rest():
    failed = [dict(r, final=dict(r["final"], test_error=0.5)) for r in NEAR]  # did not train: 50% error
    groups = ablation.groups_of(BASE + FAR + failed)
    base_mean = sum(r["final"]["test_error"] for r in BASE) / len(BASE)  # the median of the three means
    assert ablation._axis_cap(groups, "test_error") == pytest.approx(2 * base_mean * 100)
    groups = ablation.groups_of(BASE + FAR)
    assert ablation._axis_cap(groups, "test_error") == pytest.approx(max(r["final"]["test_error"] for r in BASE) * 102)


def test_ablation_figure_draws_the_baseline_mean_and_the_paper_in_percent(plt):
    groups = ablation.groups_of(BASE + FAR)
    ablation.figure(plt, groups, "Ablation")
    test_ax, train_ax = plt.figs[0].axes[:2]
    for ax, f, paper in ((test_ax, "test_error", 5.0), (train_ax, "train_error", 0.14)):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        mean = sum(r["final"][f] for r in BASE) / len(BASE) * 100
        assert list(lines["baseline mean"].get_xdata()) == pytest.approx([mean] * 2)
        assert list(lines[f"paper {paper:.2f}%"].get_xdata()) == pytest.approx([paper] * 2)
        assert ax.get_xlabel() == f"{f.replace('_', ' ')} % (dots: seeds; diamond: mean ± sd)"
    ticks = {round(t): lab.get_text() for t, lab in zip(test_ax.get_yticks(), test_ax.get_yticklabels())}
    assert ticks == {1: "1989", 0: "1989 targets=0.8 init=fan_in"}  # in run order, the first at the top


def test_learning_curve_panels_share_the_pass_axis_labelled_below(plt):
    s = seed_series([1, 2, 3], train_error=[0.02, 0.01, 0.005], test_error=[0.07, 0.06, 0.05])
    figures.learning_curves(plt, "Learning curves", [{"label": "x", "seeds": [s], "n": 1, "finals": [0.05]}], {})
    axes = plt.figs[0].axes[:4]
    assert all(axes[0].get_shared_x_axes().joined(axes[0], ax) for ax in axes[1:])
    assert [ax.get_xlabel() for ax in axes] == ["", "", "pass (epoch) over the training set",
                                                "pass (epoch) over the training set"]
    assert [ax.get_title() for ax in axes] == [title for _, title in figures.PANELS]


def test_gallery_mosaic_frames_each_digit_and_labels_it_above_and_below(plt):
    import matplotlib
    import numpy as np

    img = np.full((16, 16), -1.0)
    img[4:12, 6:10] = 1.0  # a black bar on white
    tiles = [(img, 3, 8, 17), (-img, 5, 6, 42)]
    with matplotlib.rc_context({"savefig.format": "svg"}):  # whatever the user's default: PNG bytes
        png = figures.gallery(plt, tiles, "Missed")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    ax = plt.figs[0].axes[0]
    mosaic = ax.images[0].get_array()
    y0, x0 = 8, 2  # label band above, padding at the side
    assert mosaic[y0 + 4, x0 + 6, 0] == 0.0 and mosaic[y0, x0, 0] == 1.0  # ink black, paper white
    frame = 0.88
    assert mosaic[y0 - 1, x0 - 1, 0] == frame and mosaic[y0 + 16, x0 + 16, 0] == frame
    assert mosaic[y0 + 17, x0, 0] == 1.0 and mosaic[y0, x0 + 17, 0] == 1.0  # one pixel of frame, no more
    x1 = x0 + 20  # the second tile
    assert mosaic[y0 + 4, x1 + 6, 0] == 1.0 and mosaic[y0, x1, 0] == 0.0
    texts = {t.get_text(): t.get_position()[1] for t in ax.texts}
    assert set(texts) == {"3 → 8", "#17", "5 → 6", "#42"}
    assert texts["3 → 8"] < y0 and texts["#17"] > y0 + 16  # image rows grow downwards: label above, index below


def test_throughput_panel_titles_say_when_each_machine_was_measured(plt):
    a = Figure(("jax", "scan", "cpu", "float32", "1989"), "jax/scan/cpu", 50.0, when="2026-01-05T10:00:00+00:00")
    b = Figure(("torch", "eager", "cpu", "float32", "1989"), "torch/eager/cpu", 80.0, when="2026-01-02T09:00:00+00:00")
    c = Figure(("torch", "eager", "cpu", "float32", "1989"), "torch/eager/cpu", 90.0, when="2026-01-03T00:00:00+00:00")
    d = Figure(("jax", "scan", "cpu", "float32", "1989"), "jax/scan/cpu", 60.0)  # no date recorded
    figures.throughput(plt, [("CPU A", [a, b]), ("CPU B", [c]), ("CPU C", [d])], "bench.json")
    assert [ax.get_title(loc="left") for ax in plt.figs[0].axes[:3]] == [
        "CPU A (measured 2026-01-02 to 2026-01-05)", "CPU B (measured 2026-01-03)", "CPU C"]


def test_seed_strip_title_carries_the_note_on_what_was_left_out(plt):
    figures.seed_strip(plt, [("a", [0.05])], None, "3 more configurations not drawn")
    ax = plt.figs[0].axes[0]
    assert ax.get_title() == "Test error over seeds\n3 more configurations not drawn"
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]  # no paper line when not the paper's setting


# ----------------------------------------------------------------------------- rules every figure keeps


def _curve_group(label="x", n_epochs=3):
    s = seed_series(range(1, n_epochs + 1), train_error=[0.02] * n_epochs, test_error=[0.06] * n_epochs)
    return {"label": label, "seeds": [s], "n": 1, "finals": [0.06]}


def _timing(k, us=50.0):
    return Figure(("jax", f"s{k}", "cpu", "float32", "1989"), f"jax/s{k}/cpu", us, us * 0.9, us * 1.2)


def _tile(k):
    import numpy as np

    return (np.zeros((16, 16)), k % 10, (k + 1) % 10, k)


def _draw_each(plt, n):
    """Every figure of the report drawn with `n` rows (configurations, timings, recipes, digits)."""
    groups = ablation.groups_of(BASE + FAR + NEAR)
    return {
        "learning_curves": figures.learning_curves(plt, "t", [_curve_group(f"c{k}") for k in range(n)], {}),
        "throughput": figures.throughput(plt, [("CPU A", [_timing(k) for k in range(n)])], "b.json"),
        "seed_strip": figures.seed_strip(plt, [(f"r{k}", [0.05]) for k in range(n)], 0.05),
        "divergence": figures.divergence(plt, [{"label": f"t{k}", "steps": [1, 2], "values": [1e-9, 2e-9]}
                                               for k in range(n)], "t"),
        "ablation": ablation.figure(plt, (groups * n)[:n], "t"),
        "gallery": figures.gallery(plt, [_tile(k) for k in range(n)], "t"),
    }


def test_every_figure_is_png_whatever_the_users_savefig_format(plt):
    import matplotlib

    with matplotlib.rc_context({"savefig.format": "svg"}):
        pngs = _draw_each(plt, 3)
    for name, png in pngs.items():
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name


@pytest.mark.filterwarnings("ignore:Tight layout not applied")
def test_figures_with_rows_grow_a_row_at_a_time_and_stay_within_the_bound(plt, monkeypatch):
    """More rows make a taller figure (each row readable), never one beyond MAX_INCHES; the
    divergence figure has no rows (one line per target) and keeps its size."""
    first, second = _draw_each(plt, 3), _draw_each(plt, 12)
    sizes = [tuple(f.get_size_inches()) for f in plt.figs]
    first, second = dict(zip(first, sizes[:len(first)])), dict(zip(second, sizes[len(first):]))
    for name in ("throughput", "seed_strip", "ablation"):  # one row per configuration or recipe
        assert second[name][1] - first[name][1] >= 9 * 0.3, name
    assert second["learning_curves"][1] > first["learning_curves"][1]  # a taller legend below the panels
    assert second["gallery"] == pytest.approx((first["gallery"][0] * 4, first["gallery"][1]))  # one row of 12
    assert second["divergence"] == first["divergence"] == (10, 5)
    plt.figs.clear()
    monkeypatch.setattr(figures, "png_bytes", lambda plt, fig: plt.close(fig))  # sizes only: nothing rendered
    figures.learning_curves(plt, "t", [_curve_group(f"c{k}") for k in range(95)], {})  # 48 legend rows
    figures.throughput(plt, [("CPU A", [_timing(k) for k in range(60)])], "b.json")
    figures.seed_strip(plt, [(f"r{k}", [0.05]) for k in range(60)], 0.05)
    for f in plt.figs:
        w, h = f.get_size_inches()
        assert w <= figures.MAX_INCHES[0] and h == figures.MAX_INCHES[1]


def test_divergence_marks_each_step_of_a_short_trace_only(plt):
    steps = list(range(1, 52))
    traces = [{"label": "short", "steps": steps[:50], "values": [1e-9] * 50},
              {"label": "long", "steps": steps, "values": [1e-9] * 51}]
    figures.divergence(plt, traces, "Parity")
    lines = {ln.get_label(): ln for ln in plt.figs[0].axes[0].get_lines()}
    assert lines["short"].get_marker() == "." and lines["long"].get_marker() in ("None", "", None)


def _rgba(c):
    from matplotlib.colors import to_rgba

    return to_rgba(c)


def test_reference_lines_are_grey_or_dark_and_never_a_series_colour(plt):
    """The tolerance, the paper's figures and the baseline's mean must not be mistaken for a
    configuration or a target: each is grey (or black/red) and differs from every data line's colour."""
    traces = [{"label": f"t{k}", "steps": [1, 2], "values": [1e-11, 2e-11], "tol": [1e-10, 1e-10]} for k in range(3)]
    figures.divergence(plt, traces, "Parity")
    ax = plt.figs[0].axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    tol = _rgba(lines.pop("tolerance").get_color())
    assert tol[0] == tol[1] == tol[2] and tol[0] < 0.5  # a dark grey
    assert all(_rgba(ln.get_color()) != tol for ln in lines.values())
    paper = {"train_error": 0.0014, "test_error": 0.05}
    figures.learning_curves(plt, "t", [_curve_group(f"c{k}") for k in range(3)], paper)
    ax = plt.figs[1].axes[0]
    (ref,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    data = {_rgba(ln.get_color()) for ln in ax.get_lines() if ln.get_linestyle() == "-"}
    assert len(data) == 3 and _rgba(ref.get_color()) not in data


def test_learning_curve_legend_entries_draw_what_they_stand_for(plt):
    s = seed_series([1, 2], train_error=[0.01, 0.0], test_error=[0.07, 0.06])
    groups = [{"label": "x", "seeds": [s], "n": 1, "finals": [0.06]}]
    figures.learning_curves(plt, "t", groups, {"train_error": 0.0014, "test_error": 0.05}, "2 more not drawn")
    handles = {h.get_label(): h for h in plt.figs[0].legends[0].legend_handles}
    note = handles["2 more not drawn"]
    assert note.get_linestyle() == "None" and note.get_marker() in ("None", "", None)  # words only
    zero = handles["none at that pass (0: drawn on the bottom edge)"]
    assert zero.get_linestyle() == "None" and zero.get_marker() == "o"
    config = handles["x: 1 seed, final test error 6.00%"]
    assert config.get_linestyle() == "-" and config.get_marker() in ("None", "", None)
    (paper,) = [h for k, h in handles.items() if k.startswith("paper 1989")]
    assert paper.get_linestyle() == "--"


def test_gallery_labels_stand_centred_over_and_under_their_digit(plt):
    import numpy as np

    tiles = [(np.zeros((16, 16)), k, k + 1, 100 + k) for k in range(5)]
    figures.gallery(plt, tiles, "Missed", cols=3)
    ax = plt.figs[0].axes[0]
    mosaic = ax.images[0].get_array()
    pos = {t.get_text(): t.get_position() for t in ax.texts}
    for k in range(5):
        r, c = divmod(k, 3)
        ink = np.argwhere(mosaic[:, :, 0] == 1.0 - 0.5)  # the digits' grey (image 0: mid ink)
        cols = sorted({x for y, x in ink if c * 20 <= x < (c + 1) * 20 and r * 30 <= y < (r + 1) * 30})
        centre = (cols[0] + cols[-1]) / 2  # pixel centres: the middle of the digit's 16 columns
        assert pos[f"{k} → {k + 1}"][0] == pytest.approx(centre), k
        assert pos[f"#{100 + k}"][0] == pytest.approx(centre), k


def test_tick_labels_are_plain_numbers_on_every_log_axis(plt):
    """mathtext is off in the report: each log axis labels its ticks as plain text, in its unit."""
    s = seed_series([1, 2], train_error=[0.02, 0.01], test_error=[0.07, 0.06], train_loss=[0.02, 0.002],
                    test_loss=[0.03, 0.02])
    figures.learning_curves(plt, "t", [{"label": "x", "seeds": [s], "n": 1, "finals": [0.06]}], {})
    figures.throughput(plt, [("CPU A", [_timing(0, 250.0)])], "b.json")
    figures.divergence(plt, [{"label": "a", "steps": [1, 2], "values": [1e-12, 3e-9]}], "t")
    curves, speed, div = plt.figs[0].axes, plt.figs[1].axes[0], plt.figs[2].axes[0]
    for ax in curves[:2]:  # errors in %
        assert ax.yaxis.get_major_formatter()(2.0, 0) == "2%" and ax.yaxis.get_minor_formatter()(3.0, 0) == ""
    for ax in curves[2:]:  # losses as they are
        assert ax.yaxis.get_major_formatter()(0.02, 0) == "0.02" and ax.yaxis.get_major_formatter()(1e-5, 0) == "1e-05"
        assert ax.yaxis.get_minor_formatter()(0.03, 0) == ""
    assert speed.xaxis.get_major_formatter()(200.0, 0) == "200" and speed.xaxis.get_minor_formatter()(300.0, 0) == ""
    assert div.yaxis.get_major_formatter()(1e-12, 0) == "1e-12" and div.yaxis.get_minor_formatter()(3e-12, 0) == ""
