"""The report's figures people read (issue 19 item 8): the Runs table's seed column, the parity matrix,
one thin line per seed (no band), percent ticks on error axes, throughput dots per machine, the strip
plot of test error over seeds, and sizes bounded whatever the results directory holds."""
import struct

import pytest

from harness.cli import main
from harness.report import figures
from harness.report.parity_matrix import NO_ROWS
from tests.test_report import md_section, parity_result, run_result, table_rows, write

pytest.importorskip("matplotlib")

NO_MISSES = {"indices": [], "predicted": [], "labels": []}


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def captured(monkeypatch):
    """The matplotlib figures the report draws, kept open instead of encoded (figure.png_bytes)."""
    kept = []

    def keep(plt, fig):
        kept.append(fig)
        return b"\x89PNG\r\n\x1a\n"  # a stand-in: the test reads the figure, not its pixels

    monkeypatch.setattr(figures, "png_bytes", keep)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def test_runs_table_has_a_seed_column(tmp_path):
    for seed in (3, 11):
        write(tmp_path / f"run-{seed}.json", run_result(seed=seed, missed=NO_MISSES,
                                                        finished=f"2026-01-0{seed % 9}T00:00:00+00:00"))
    assert main(["report", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    rows = table_rows(md_section((tmp_path / "REPORT.md").read_text(), "Runs"))
    assert sorted(r["seed"] for r in rows) == ["11", "3"]


def test_parity_matrix_stands_near_the_top_with_each_targets_verdict(tmp_path):
    p = parity_result()
    p["config"]["targets"].append("tensorflow:xla")  # asked for, but no row came back: never a PASS
    write(tmp_path / "parity.json", p)
    write(tmp_path / "run.json", run_result(missed=NO_MISSES))
    assert main(["report", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    md = (tmp_path / "REPORT.md").read_text()
    assert md.index("## Parity matrix") < md.index("## Runs") < md.index("## Learning curves")
    rows = {r["backend:strategy"]: r for r in table_rows(md_section(md, "Parity matrix"))}
    assert set(rows) == {"jax:scan", "torch:compiled", "tensorflow:xla"}
    scan, compiled, tf = rows["jax:scan"], rows["torch:compiled"], rows["tensorflow:xla"]
    assert (scan["variant"], scan["dtype"], scan["device"], scan["vs"]) == ("1989", "float64", "cpu", "torch:eager")
    assert scan["result"] == "PASS" and scan["largest difference"].startswith("4e-16")
    assert (scan["forward"], scan["trajectory"]) == ("2.2e-16", "4e-16")
    assert compiled["result"] == "**FAIL**" and compiled["largest difference"].startswith("3e-09 (trajectory H2w)")
    assert tf["result"] == NO_ROWS and tf["forward"] == "-"


def test_learning_curves_draw_one_thin_line_per_seed_and_percent_ticks(tmp_path, captured):
    for seed in (1, 2, 3):
        write(tmp_path / f"run-torch-{seed}.json", run_result(seed=seed, missed=NO_MISSES, final_test=(0.05 + seed / 1000, 100)))
    write(tmp_path / "run-jax.json", run_result("jax", "scan", seed=1, missed=NO_MISSES))
    assert main(["report", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    curves = next(f for f in captured if f._suptitle and "Learning curves" in f._suptitle.get_text())
    train_err, test_err, train_loss, test_loss = curves.axes[:4]
    for ax in (train_err, test_err, train_loss, test_loss):
        drawn = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 4]  # passes=4: the seeds' lines
        assert len(drawn) == 4, ax.get_title()  # 3 torch seeds + 1 jax seed, each its own line
        assert not ax.collections  # no min-max band (fill_between makes a PolyCollection)
    curves.canvas.draw()
    for ax in (train_err, test_err):
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert labels and all(t.endswith("%") for t in labels), labels
    assert not any(t.get_text().endswith("%") for t in train_loss.get_yticklabels())


def test_throughput_dots_with_whiskers_one_row_per_machine(tmp_path, captured):
    for cpu, us in (("CPU A", (80.0, 70.0, 95.0)), ("CPU B", (200.0, 150.0, 260.0))):
        r = run_result(us=us, missed=NO_MISSES)
        r["environment"]["cpu_model"] = cpu
        write(tmp_path / f"run-{cpu[-1]}.json", r)
    assert main(["report", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    fig = next(f for f in captured if f._suptitle and "throughput" in f._suptitle.get_text())
    assert [ax.get_title(loc="left").split(" (")[0] for ax in fig.axes] == ["CPU A", "CPU B"]  # fastest first
    for ax, (med, lo, hi) in zip(fig.axes, ((80.0, 70.0, 95.0), (200.0, 150.0, 260.0))):
        (dot,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        assert list(dot.get_xdata()) == [med]
        (whisker,) = ax.collections  # errorbar's LineCollection: p25 to p75
        assert [tuple(x for x, _ in seg) for seg in whisker.get_segments()] == [(lo, hi)]
        assert not ax.patches  # dots, not bars


def test_strip_plot_of_test_error_over_seeds_against_the_paper(tmp_path, captured):
    finals = {1: 0.0573, 2: 0.0608, 3: 0.0598}
    for seed, err in finals.items():
        write(tmp_path / f"run-{seed}.json", run_result(seed=seed, missed=NO_MISSES, final_test=(err, round(err * 2007))))
    assert main(["report", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    assert "](seeds-test-error.png)" in (tmp_path / "REPORT.md").read_text()
    fig = next(f for f in captured if f.axes and f.axes[0].get_title().startswith("Test error over seeds"))
    ax = fig.axes[0]
    (dots,) = ax.collections
    assert sorted(round(x, 6) for x, _ in dots.get_offsets()) == sorted(round(v * 100, 6) for v in finals.values())
    assert any(list(ln.get_xdata()) == [5.0, 5.0] and ln.get_linestyle() == "--" for ln in ax.get_lines())


def test_three_thousand_runs_give_bounded_figures(tmp_path, capsys):
    """Issue 18 item 8: thousands of runs aggregate per configuration and are drawn up to caps, so no
    figure grows with the number of runs (a 3,000-run directory once gave a 31,000-pixel-tall one)."""
    cpus = [f"CPU model {k}" for k in range(8)]
    n = 0
    for limit in range(1000, 1060):  # 60 configurations (the training-set limit is part of the identity)
        for seed in range(50):  # 50 seeds each: 3,000 runs
            r = run_result(seed=seed, passes=2, n_train=limit, missed=NO_MISSES,
                           final_test=(0.05 + seed / 10000, 100), us=(50.0 + limit - 1000, 45.0 + limit - 1000, 70.0 + limit - 1000))
            r["environment"]["cpu_model"] = cpus[n % len(cpus)]
            write(tmp_path / f"run-{n:04d}.json", r)
            n += 1
    assert n == 3000
    assert main(["report", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    md = (tmp_path / "REPORT.md").read_text()
    assert len(table_rows(md_section(md, "Runs"))) == 3000  # the table keeps every run
    pngs = sorted(tmp_path.glob("*.png"))
    assert {p.name for p in pngs} >= {"curves-1989.png", "throughput.png", "seeds-test-error.png"}
    w_max, h_max = (int(x * figures.DPI) for x in figures.MAX_INCHES)
    for p in pngs:
        w, h = png_size(p)
        assert w <= w_max and h <= h_max, (p.name, w, h)
    # what was left out is said, not silently dropped
    curves = md_section(md, "Learning curves")
    assert "60 configuration(s), 3000 seed line(s). 50 more configurations not drawn" in curves
    assert "100 more seeds not drawn (first 40 of each of 10 configurations)" in curves
    assert "2 more machines not drawn" in md_section(md, "Throughput")


def test_recipes_of_one_family_are_configurations_of_one_figure_labelled_by_their_knobs(tmp_path):
    """A recipe knob is part of a run's identity: runs of the 1989 variant with targets=0.8 are their
    own configuration (own colour, own seeds), labelled as harness.recipe names the recipe."""
    from harness.report import curve_figures, scan

    for seed in (1, 2):
        write(tmp_path / f"run-plain-{seed}.json", run_result(seed=seed, missed=NO_MISSES))
        r = run_result(seed=seed, missed=NO_MISSES)
        r["recipe"] = {"variant": "1989", "label": "1989 targets=0.8", "set": {"targets": 0.8},
                       "knobs": {"targets": 0.8}}
        write(tmp_path / f"run-knob-{seed}.json", r)
    sc = scan(tmp_path)
    assert (len(sc.runs), sc.skipped) == (4, [])
    [(fam, groups)] = curve_figures(sc.runs).items()
    assert fam == "1989"
    assert sorted((g.label, len(g.seeds)) for g in groups) == [("torch:eager 1989", 2), ("torch:eager 1989 targets=0.8", 2)]


def test_throughput_shows_the_latest_figure_per_machine_and_configuration_whichever_file(tmp_path):
    """A newer `harness bench` replaces an older pytest-benchmark figure of the same machine and
    configuration (and an older one does not): the table says "the latest figure"."""
    from tests.test_report import bench_result, benchmark_file

    write(tmp_path / "suite.json", benchmark_file([("jax", "scan", "cpu", 54.0, 7291, 2.0),
                                                   ("torch", "compiled", "cpu", 60.0, 64, 2.0)], when="2026-01-02T00:00:00+00:00"))
    for name, finished, scale in (("bench-new.json", "2026-02-01T00:00:00+00:00", 0.5),
                                  ("bench-old.json", "2025-12-01T00:00:00+00:00", 3.0)):
        b = bench_result()
        b["finished"], b["environment"] = finished, {"cpu_model": "AMD EPYC 7B13"}
        b["rows"] = [dict(row, us_per_example=row["us_per_example"] * scale) for row in b["rows"]
                     if row["backend"] == "jax"]
        write(tmp_path / name, b)
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    rows = {r["backend/strategy/device"]: r for r in table_rows(md_section((tmp_path / "REPORT.md").read_text(), "Throughput"))}
    assert (rows["jax/scan/cpu"]["source"], rows["jax/scan/cpu"]["us/example (median)"]) == ("bench-new.json", "27.5")
    assert rows["torch/compiled/cpu"]["source"] == "suite.json"  # the bench results do not time it


def test_divergence_figure_draws_at_most_max_lines_targets_the_most_divergent(tmp_path, captured):
    p = parity_result()
    trace = p["checks"][1]["trace"]
    n = figures.MAX_LINES + 5
    trace["max_abs"] = {f"plugin{k}:step": [1e-15 * (k + 1)] * len(trace["step"]) for k in range(n)}
    p["trace"] = trace
    write(tmp_path / "parity.json", p)
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    fig = next(f for f in captured if f.axes and f.axes[0].get_title().startswith("Parity: parameter divergence"))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    drawn = sorted(int(t.split(":")[0].removeprefix("plugin")) for t in labels if t.startswith("plugin"))
    assert drawn == list(range(5, n))  # the 10 largest divergences
    assert "5 more targets not drawn" in (tmp_path / "REPORT.md").read_text()
