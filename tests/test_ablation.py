"""The report's ablation section (harness/report/ablation.py) on synthetic results: grouping by
recipe, the baseline each recipe is compared with, Welch's test, the table and the section."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from harness.config import RunConfig
from harness.report import ablation as A


def _run(seed, test_error, *, recipe=(), variant="1989", backend="jax", strategy="scan", epochs=None,
         train_error=0.003, started="2026-01-01T00:00:00", threads=1):
    cfg = RunConfig(backend=backend, strategy=strategy, variant=variant, seed=seed, threads=threads,
                    epochs=epochs or (80 if variant == "modern" else 23), recipe=tuple(recipe))
    final = {"train_error": train_error, "test_error": test_error, "train_loss": 0.002, "test_loss": 0.04}
    return {"schema_version": 1, "kind": "run", "config": cfg.to_dict(), "seed": seed, "started": started,
            "finished": started, "backend": backend, "strategy": strategy, "device": "cpu", "variant": variant,
            "dataset": "usps", "dtype": "float32", "epochs": [], "final": final}


BASE = [_run(s, e) for s, e in zip((1337, 1, 2, 3, 4), (0.0598, 0.0608, 0.0608, 0.0608, 0.0593))]
FAR = [_run(s, e, recipe=(("targets", 0.8), ("init", "fan_in")), started="2026-01-02")
       for s, e in zip((1337, 1, 2, 3, 4), (0.0508, 0.0528, 0.0533, 0.0518, 0.0513))]
NEAR = [_run(s, e, recipe=(("targets", 0.9),), started="2026-01-03")
        for s, e in zip((1337, 1, 2, 3, 4), (0.0588, 0.0613, 0.0603, 0.0598, 0.0608))]


# ----------------------------------------------------------------------------- Welch's test


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 3.0, 12.7])
def test_t_tails_match_closed_forms(t):
    # df = 1 is the Cauchy distribution, df = 2 has a closed form too: no statistics package needed
    assert A.t_sf2(t, 1.0) == pytest.approx(1 - 2 * math.atan(t) / math.pi, abs=1e-12)
    assert A.t_sf2(t, 2.0) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)


def test_betainc_identities():
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert A.betainc(1.0, 1.0, x) == pytest.approx(x, abs=1e-13)
        assert A.betainc(3.0, 1.0, x) == pytest.approx(x ** 3, abs=1e-13)
        assert A.betainc(2.5, 4.0, x) + A.betainc(4.0, 2.5, 1 - x) == pytest.approx(1.0, abs=1e-12)


def test_welch_by_hand_and_against_scipy():
    a, b = [5.08, 5.28, 5.33, 5.18, 5.13], [5.98, 6.08, 6.08, 6.08, 5.93]
    w = A.welch(a, b)
    va, vb = np.var(a, ddof=1) / 5, np.var(b, ddof=1) / 5
    assert w.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert w.t == pytest.approx((np.mean(a) - np.mean(b)) / math.sqrt(va + vb))
    assert w.df == pytest.approx((va + vb) ** 2 / (va ** 2 / 4 + vb ** 2 / 4))
    assert w.p < 1e-4
    stats = pytest.importorskip("scipy.stats")
    for x, y in ((a, b), ([1.0, 2.0, 3.5], [1.5, 2.2, 2.9, 4.0]), ([0.1, 0.4, 0.2, 0.3, 0.9], [0.5, 0.45, 0.6])):
        ref = stats.ttest_ind(x, y, equal_var=False)
        got = A.welch(x, y)
        assert got.t == pytest.approx(ref.statistic, rel=1e-10)
        assert got.p == pytest.approx(ref.pvalue, rel=1e-8)


def test_welch_degenerate_samples():
    assert A.welch([1.0], [1.0, 2.0]) is None  # one value: no spread to judge by
    assert A.welch([2.0, 2.0], [2.0, 2.0]).p == 1.0
    assert A.welch([2.0, 2.0], [3.0, 3.0]).p == 0.0


# ----------------------------------------------------------------------------- groups and baselines


def test_groups_by_recipe_one_run_per_seed_in_run_order():
    repeat = dict(BASE[0], finished="2026-01-09", started="2026-01-09")  # a seed run again counts once
    groups = A.groups_of(NEAR + BASE + FAR + [repeat, {"kind": "run"}])
    assert [g.label() for g in groups] == ["1989", "1989 targets=0.8 init=fan_in", "1989 targets=0.9"]
    assert [len(g.runs) for g in groups] == [5, 5, 5]
    assert groups[0].is_baseline() and not groups[1].is_baseline()


def test_passes_other_than_the_variants_are_part_of_the_label_and_not_the_baseline():
    g = A.groups_of([_run(1, 0.05, epochs=80)])[0]
    assert g.label() == "1989 passes=80" and not g.is_baseline()
    assert A.groups_of([_run(1, 0.05, variant="modern")])[0].label() == "modern"


def test_thread_count_does_not_split_a_recipe():
    groups = A.groups_of([_run(1, 0.06, threads=1), _run(2, 0.06, threads=2)])
    assert len(groups) == 1 and len(groups[0].runs) == 2


def test_baseline_is_the_same_backend_strategy():
    torch = [_run(s, 0.05, recipe=(("targets", 0.8),), backend="torch", strategy="eager") for s in (1, 2)]
    groups = A.groups_of(BASE + FAR + torch)
    by = {(g.key["backend"], g.label()): g for g in groups}
    assert A.baseline_of(by[("jax", "1989 targets=0.8 init=fan_in")], groups) is by[("jax", "1989")]
    assert A.baseline_of(by[("torch", "1989 targets=0.8")], groups) is None  # no torch baseline
    assert A.compare(by[("torch", "1989 targets=0.8")], None)["test_error"] is None


def test_has_ablation_needs_a_baseline_of_two_seeds_and_another_recipe():
    assert not A.has_ablation(A.groups_of(BASE))
    assert not A.has_ablation(A.groups_of(BASE[:1] + FAR))
    assert A.has_ablation(A.groups_of(BASE[:2] + FAR))


# ----------------------------------------------------------------------------- table and section


def _rows(md: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in md.splitlines()[2:]]
    return {r[0].strip(): [c.strip() for c in r] for r in rows}


def test_table_says_which_changes_lie_beyond_seed_noise():
    groups = A.groups_of(BASE + FAR + NEAR)
    rows = _rows(A.table(groups))
    base, far, near = rows["1989 (baseline)"], rows["1989 targets=0.8 init=fan\\_in"], rows["1989 targets=0.9"]
    assert base[2] == "5" and base[3] == "6.03 ± 0.07 (5.93–6.08)" and base[7] == "-"
    assert far[3].startswith("5.20 ± 0.10 (5.08–5.33)")
    assert far[7].startswith("-0.83 (**yes**, p=") and far[8].startswith("+0.00 (no, p=1)")
    assert near[7].startswith("-0.01 (no, p=")


def test_section_draws_the_figure_and_is_absent_without_a_baseline():
    drawn = {}

    def figure(name, draw):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        drawn[name] = draw(plt)
        return name

    pytest.importorskip("matplotlib")
    ctx = SimpleNamespace(sc=SimpleNamespace(runs=[SimpleNamespace(data=d) for d in BASE + FAR]), figure=figure)
    md = "\n".join(A.section(ctx))
    assert md.startswith("## Ablation") and "Welch" in md and "ablation.png" in md
    assert drawn["ablation.png"].startswith(b"\x89PNG")
    ctx.sc.runs = [SimpleNamespace(data=d) for d in FAR + NEAR]
    assert A.section(ctx) == []


def test_report_has_the_ablation_section(tmp_path):
    pytest.importorskip("matplotlib")
    from harness.report import build_report
    from tests.test_report import run_result

    cases = (("base", (), (0.060, 0.061, 0.059)), ("t08", (("targets", 0.8),), (0.050, 0.051, 0.052)))
    for name, recipe, errs in cases:
        for seed, e in zip((1, 2, 3), errs):
            d = run_result("jax", "scan", seed=seed, passes=23, final_test=(e, round(e * 2007)))
            d["config"] = RunConfig(backend="jax", strategy="scan", seed=seed, epochs=23, recipe=recipe).to_dict()
            (tmp_path / f"run-{name}-{seed}.json").write_text(json.dumps(d))
    build_report(tmp_path)
    md = (tmp_path / "REPORT.md").read_text()
    assert "## Ablation" in md and (tmp_path / "ablation.png").is_file()
    assert "| 1989 targets=0.8 | jax:scan | 3 | 5.10 ± 0.10 (5.00–5.20)" in md


def test_a_recipe_that_failed_to_train_does_not_set_the_figures_scale():
    failed = [_run(s, e, recipe=(("optimizer", "sdlm"),), train_error=e, started="2026-01-04")
              for s, e in zip((1, 2), (0.50, 0.61))]
    groups = A.groups_of(BASE + FAR + failed)
    cap = A._axis_cap(groups, "test_error")
    assert cap == pytest.approx(2 * 6.03)  # twice the baseline's mean (the median recipe's too), not 61%
    assert A._axis_cap(A.groups_of(BASE + FAR), "test_error") == pytest.approx(6.08 * 1.02)  # nothing cut


def test_the_figure_draws_at_most_max_rows_recipes_baseline_first_and_says_what_it_left_out(monkeypatch):
    """200 recipes must not make a 90-inch figure: the figure keeps the baseline and the first recipes,
    within figures.MAX_ROWS rows, names how many it left out, and its PNG stays within MAX_INCHES;
    the table still lists every recipe."""
    pytest.importorskip("matplotlib")
    import struct

    from harness.report import figures as F

    many = [_run(s, 0.05 + k / 1e4, recipe=(("targets", round(0.5 + k / 100, 2)),), started=f"2026-01-02T00:{k:02d}")
            for k in range(40) for s in (1, 2)]
    groups = A.groups_of(many + BASE)  # the baseline comes last in run order
    assert len(groups) == 41
    shown, note = A.drawn(groups)
    assert len(shown) == F.MAX_ROWS and any(g.is_baseline() for g in shown)
    assert note == f"9 more recipes not drawn (first {F.MAX_ROWS} of 41 shown)"
    assert [g for g in groups if g in shown] == shown  # the table's order kept
    assert A.drawn(A.groups_of(BASE + FAR)) == (A.groups_of(BASE + FAR), None)

    drawn = {}

    def figure(name, draw):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        drawn[name] = draw(plt)
        return name

    titles = []
    real = A.figure
    monkeypatch.setattr(A, "figure", lambda plt, gs, title: titles.append((len(gs), title)) or real(plt, gs, title))
    ctx = SimpleNamespace(sc=SimpleNamespace(runs=[SimpleNamespace(data=d) for d in many + BASE]), figure=figure)
    md = "\n".join(A.section(ctx))
    assert md.count("| 1989 targets=") == 40  # every recipe in the table
    assert titles == [(F.MAX_ROWS, "Ablation: error after the last pass, per recipe, against the paper (1989)\n" + note)]
    width, height = struct.unpack(">II", drawn["ablation.png"][16:24])
    assert height <= F.MAX_INCHES[1] * 110 and width <= F.MAX_INCHES[0] * 110 * 1.2


def test_table_header_alignment_and_each_cell_as_written():
    """The whole table as REPORT.md shows it: its header, numbers right-aligned, the device named
    where it is not the CPU, '-' for an sd of one seed, a change without a baseline, a figure not recorded."""
    cuda = [_run(s, 0.06 + s / 1000, started="2026-01-06") for s in (1, 2)]
    for r in cuda:
        r["config"]["device"] = r["device"] = "cuda"
    md = A.table(A.groups_of(BASE + FAR + cuda + [_run(3, 0.07, recipe=(("targets", 0.5),), started="2026-01-07")]))
    assert md.splitlines() == [
        ("| recipe | backend | n | test error % | train error % | test loss | train loss | Δ test (beyond noise?) "
         "| Δ train (beyond noise?) |"),
        "|---|---|---:|---|---|---|---|---|---|",
        ("| 1989 (baseline) | jax:scan | 5 | 6.03 ± 0.07 (5.93–6.08) | 0.30 ± 0.00 (0.30–0.30) | 4.00e-02 ± 0.0e+00 "
         "| 2.00e-03 ± 0.0e+00 | - | - |"),
        ("| 1989 targets=0.8 init=fan\\_in | jax:scan | 5 | 5.20 ± 0.10 (5.08–5.33) | 0.30 ± 0.00 (0.30–0.30) "
         "| 4.00e-02 ± 0.0e+00 | 2.00e-03 ± 0.0e+00 | -0.83 (**yes**, p=1.4e-06) | +0.00 (no, p=1) |"),
        ("| 1989 (baseline) | jax:scan@cuda | 2 | 6.15 ± 0.07 (6.10–6.20) | 0.30 ± 0.00 (0.30–0.30) "
         "| 4.00e-02 ± 0.0e+00 | 2.00e-03 ± 0.0e+00 | - | - |"),
        ("| 1989 targets=0.5 | jax:scan | 1 | 7.00 ± - (7.00–7.00) | 0.30 ± - (0.30–0.30) | 4.00e-02 ± - "
         "| 2.00e-03 ± - | - | - |")]
    empty = A.table(A.groups_of([dict(r, final={}) for r in BASE]))
    assert empty.splitlines()[2] == "| 1989 (baseline) | jax:scan | 5 | - | - | - | - | - | - |"


def test_each_summary_cell_prints_its_own_numbers_at_a_scale_rounding_cannot_hide():
    """Mean, sd, min and max each read back as percent (or in e-notation), with values whose every
    digit shows a slip of 1 % in a scale factor (sd 0.07 % would round 0.0707 back to 0.07)."""
    s = {"n": 4, "mean": 0.5, "sd": 0.25, "min": 0.125, "max": 0.75}
    assert A._pct(s) == "50.00 ± 25.00 (12.50–75.00)"
    assert A._pct({**s, "sd": None}) == "50.00 ± - (12.50–75.00)"
    assert A._pct({**s, "n": 0}) == "-"
    assert A._sci(s) == "5.00e-01 ± 2.5e-01" and A._sci({**s, "sd": None}) == "5.00e-01 ± -"
    assert A._sci({**s, "n": 0}) == "-"
