"""Seed aggregation on fixture results: grouping, mean ± sd, the paper's marks, curves."""
from __future__ import annotations

import pytest

from harness.config import RunConfig
from harness.report.seeds import (
    group_runs,
    seed_section,
    seed_tables,
    spread,
    strip_rows,
    summarize_group,
    within,
)
from tests.conftest import REPO


def _run(seed, test_error, *, strategy="scan", cpu="CPU A", device="cpu", epochs=3, us=30.0, finished="1"):
    cfg = RunConfig(backend="jax", strategy=strategy, device=device, seed=seed, epochs=epochs)
    curve = [{"epoch": i + 1, "train_error": 0.01 / (i + 1), "test_error": test_error + 0.01 / (i + 1),
              "train_loss": 0.003, "test_loss": 0.02} for i in range(epochs)]
    curve[-1]["test_error"] = test_error
    return {"schema_version": 1, "kind": "run", "config": cfg.to_dict(), "seed": seed, "finished": finished,
            "backend": "jax", "strategy": strategy, "device": device, "variant": "1989", "dataset": "usps",
            "dtype": "float32", "n_train": 7291, "epochs": curve,
            "final": {"train_error": 0.002, "test_error": test_error, "train_loss": 0.0025, "test_loss": 0.02},
            "timing": {"us_per_example": us, "us_per_example_mean": us * 1.5},
            "environment": {"cpu_model": cpu, "backend": {"device_name": "NVIDIA H100"}}}


FIXTURE = [_run(1, 0.048), _run(2, 0.052), _run(3, 0.060, us=40.0),
           _run(1, 0.050, strategy="step"), _run(2, 0.058, strategy="step"),
           _run(1, 0.051, cpu="CPU B"),
           _run(1, 0.055, device="cuda"),
           {"kind": "parity"}]


def test_groups_differ_only_by_seed_and_split_by_machine_and_device():
    groups = group_runs(FIXTURE)
    sizes = sorted((m, d, key[1], len(runs)) for (m, d, key), runs in groups.items())
    assert sizes == [("CPU A", "cpu", "scan", 3), ("CPU A", "cpu", "step", 2), ("CPU B", "cpu", "scan", 1),
                     ("NVIDIA H100", "cuda", "scan", 1)]


def test_a_device_name_that_is_not_text_groups_without_crashing():
    """The schema lets `device_name` hold any value (a list, a number): grouping must not hash it as is."""
    odd = _run(1, 0.05, device="cuda")
    odd["environment"]["backend"]["device_name"] = [None]
    groups = group_runs([odd, _run(2, 0.05, device="cuda")])
    # a name that is not text is no name: the device stands for the machine
    assert sorted(m for m, _, _ in groups) == ["NVIDIA H100", "cuda"]
    assert "Over seeds: cuda, device cuda" in seed_tables([odd])


def test_mean_sd_min_max_and_median_of_medians():
    s = summarize_group(FIXTURE[:3])
    te = s["test_error"]
    assert te["n"] == 3 and te["mean"] == pytest.approx(0.0533333, abs=1e-6)
    assert te["sd"] == pytest.approx(0.0061101, abs=1e-6) and (te["min"], te["max"]) == (0.048, 0.060)
    assert s["us_median"]["median"] == 30.0 and s["us_median"]["max"] == 40.0
    assert s["us_mean"]["median"] == 45.0
    assert spread([0.1])["sd"] is None


def test_repeated_seed_counts_once_for_errors():
    s = summarize_group([_run(1, 0.05, finished="1"), _run(1, 0.05, finished="2", us=50.0)])
    assert s["n"] == 1 and s["runs"] == 2 and s["us_median"]["n"] == 2


def test_paper_within_spread_two_ways():
    s = spread([0.048, 0.052, 0.060])
    assert within(0.05, s) == {"min_max": True, "mean_2sd": True}
    assert within(0.07, s) == {"min_max": False, "mean_2sd": False}
    assert within(0.047, s) == {"min_max": False, "mean_2sd": True}  # the two spreads can disagree
    assert within(0.05, spread([0.06]))["mean_2sd"] is None


def test_markdown_tables_per_machine_with_paper_marks():
    md = seed_tables(FIXTURE)
    assert md.count("### Over seeds:") == 3  # CPU A, CPU B, the H100
    assert "### Over seeds: NVIDIA H100, device cuda" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| jax:scan") and "5.33 ± 0.61" in ln)
    assert "4.80–6.00" in row and "| 3 (3) |" in row
    paper = next(ln for ln in md.splitlines() if "test error | 5.00%" in ln and "5.33" in ln)
    assert paper.endswith("| yes | yes |")
    assert "within the observed min–max" in md and "mean ± 2 sd" in md


def test_seed_section_gives_markdown_and_the_strip_plot():
    pytest.importorskip("matplotlib")
    md, figs = seed_section(FIXTURE)
    assert list(figs) == ["seeds-test-error.png"]
    assert figs["seeds-test-error.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "](seeds-test-error.png)" in md and md.startswith("## Over seeds")


def test_strip_rows_one_dot_per_distinct_seed_machines_merged():
    """The strip plot's rows: per configuration and device, the final test error of each seed (a repeated
    seed once, the latest, whichever machine ran it); the paper's line for 1989 on USPS."""
    runs = [_run(1, 0.048, finished="1"), _run(1, 0.051, cpu="CPU B", finished="2"), _run(2, 0.052),
            _run(3, 0.070, finished="0"), _run(3, 0.060, finished="3"), _run(1, 0.050, strategy="step"),
            _run(1, 0.055, device="cuda")]
    rows, paper = strip_rows(runs)
    assert {label: sorted(v) for label, v in rows} == {
        "jax:scan 1989 usps float32 3 passes, cpu": [0.051, 0.052, 0.060],
        "jax:step 1989 usps float32 3 passes, cpu": [0.050],
        "jax:scan 1989 usps float32 3 passes, cuda": [0.055]}
    assert paper is True
    modern = dict(_run(1, 0.03), variant="modern", config=RunConfig(backend="jax", strategy="scan", variant="modern",
                                                                    seed=1, epochs=3).to_dict())
    assert strip_rows([modern])[1] is False  # the paper's figure is not drawn against another recipe


def test_report_has_the_seed_section_only_when_a_configuration_has_several_seeds(tmp_path):
    import json
    import shutil

    from harness.report import build_report

    src = sorted((REPO / "results" / "sweep-usps").glob("run-jax-scan-cpu-1989-*.json"))
    assert len(src) >= 2
    shutil.copy(src[0], tmp_path)
    build_report(tmp_path)
    assert "## Over seeds" not in (tmp_path / "REPORT.md").read_text()
    d = json.loads(src[1].read_text())
    d["backend"] = "<img src=x onerror=alert(1)>"  # a hostile name in one more configuration
    (tmp_path / "hostile.json").write_text(json.dumps(d))
    for p in src[1:]:
        shutil.copy(p, tmp_path)
    build_report(tmp_path)
    md = (tmp_path / "REPORT.md").read_text()
    assert "## Over seeds" in md and "seeds-test-error.png" in md and (tmp_path / "seeds-test-error.png").is_file()
    assert "<img src=x" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
