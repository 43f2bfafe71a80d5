"""`harness report` and `harness report --compare`, offline, on synthetic result files."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.results import SCHEMA_VERSION

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- builders


def run_result(backend="torch", strategy="eager", device="cpu", variant="1989", dataset="usps", *,
               passes=4, n_train=7291, n_test=2007, final_train=(0.0014, 10), final_test=(0.0523, 105),
               us=(100.0, 95.0, 105.0), compile_s=1.5, seed=1337, missed=None, finished="2026-01-01T00:00:00+00:00",
               dtype="float32"):
    """A run result as harness.run writes it, with curves falling geometrically to the finals."""
    epochs = []
    for i in range(passes):
        f = (passes - 1 - i)  # 0 at the last pass
        tr = final_train[0] + (0.08 - final_train[0]) * (1 - i / passes) ** 3
        te = final_test[0] + (0.2 - final_test[0]) * (1 - i / passes) ** 3
        epochs.append({"epoch": i + 1, "train_pass_loss": 0.1 * 0.8 ** i, "train_loss": 0.09 * 0.8 ** i,
                       "train_error": final_train[0] if f == 0 else tr,
                       "train_misses": final_train[1] if f == 0 else round(tr * n_train),
                       "test_loss": 0.1 * 0.9 ** i, "test_error": final_test[0] if f == 0 else te,
                       "test_misses": final_test[1] if f == 0 else round(te * n_test)})
    med, p25, p75 = us
    if missed is None:
        idx = list(range(final_test[1]))
        missed = {"indices": idx, "predicted": [(i + 1) % 10 for i in idx], "labels": [i % 10 for i in idx]}
    return {
        "schema_version": SCHEMA_VERSION, "kind": "run", "started": finished, "finished": finished,
        "backend": backend, "strategy": strategy, "device": device, "variant": variant, "dataset": dataset,
        "n_train": n_train, "n_test": n_test, "seed": seed, "dtype": dtype, "epochs": epochs,
        "final": {k: epochs[-1][k] for k in ("train_error", "train_misses", "test_error", "test_misses",
                                             "train_loss", "test_loss")},
        "test_missed": missed,
        "timing": {"us_per_example": med,
                   "us_per_example_stats": {"median": med, "p25": p25, "p75": p75, "min": p25 * 0.9,
                                            "max": p75 * 1.2, "n": 20},
                   "examples_per_s": 1e6 / med, "window": 256, "warmup_s": 2.0, "compile_s_estimate": compile_s,
                   "train_s_total": 10.0, "eval_s_total": 1.0},
        "environment": {"python": "3.11.9", "cpu_model": "AMD EPYC 7B13", "cpu_count": 2, "cpu_affinity": 2,
                        "backend": {backend: "9.9.9", f"{backend}_num_threads": 1, "device_name": device}},
    }


def synthetic_missed(seed=1337, n=30):
    """test_missed for the synthetic data set: true labels that match the data, wrong predictions."""
    from harness.data import load_dataset

    labels = load_dataset("synthetic", None, seed=seed).test_labels
    idx = list(range(0, 2 * n, 2))
    return {"indices": idx, "labels": [int(labels[i]) for i in idx],
            "predicted": [int((labels[i] + 3) % 10) for i in idx]}


def benchmark_file(entries, when="2026-01-02T00:00:00+00:00"):
    """A pytest-benchmark JSON file: entries [(backend, strategy, device, us_per_example, steps, iqr_us)]."""
    bms = []
    for backend, strategy, device, us, steps, iqr_us in entries:
        med_s = us * steps * 1e-6
        half = iqr_us * steps * 1e-6 / 2
        bms.append({
            "group": None, "name": f"test_train_steps[{backend}-{strategy}-{device}]",
            "fullname": f"tests/bench/test_bench.py::test_train_steps[{backend}-{strategy}-{device}]",
            "params": {"backend": backend, "strategy": strategy, "device": device}, "param": f"{backend}-{strategy}",
            "extra_info": {"us_per_example": us, "steps": steps, "dtype": "float32", "strategy": strategy,
                           "device": device, "backend": backend},
            "options": {"timer": "perf_counter"},
            "stats": {"min": med_s - 2 * half, "max": med_s + 3 * half, "mean": med_s, "stddev": half,
                      "rounds": 10, "median": med_s, "iqr": 2 * half, "q1": med_s - half, "q3": med_s + half,
                      "iqr_outliers": 0, "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": med_s - 2 * half,
                      "hd15iqr": med_s + 3 * half, "ops": 1 / med_s, "total": 10 * med_s, "iterations": 1},
        })
    return {"machine_info": {"cpu": {"brand_raw": "AMD EPYC 7B13"}}, "commit_info": {"id": "abc"},
            "benchmarks": bms, "datetime": when, "version": "5.1.0"}


def parity_result(n_steps=20):
    """A parity result in harness.parity's shape (trace: step, tol, max_abs per target)."""
    rows_forward = [{"target": "jax:scan", "tensor": "outputs", "max_abs": 2.2e-16, "max_rel": 1e-15,
                     "tol": "1e-12", "atol": 1e-12, "rtol": 0.0, "passed": True, "where": [0, 3]}]
    rows_traj = [{"target": "jax:scan", "tensor": "all params", "max_abs": 4e-16, "max_rel": 1e-13,
                  "tol": "1e-10", "passed": True, "first_step": None},
                 {"target": "torch:compiled", "tensor": "H2w", "max_abs": 3e-9, "max_rel": 1e-7,
                  "tol": "1e-10", "passed": False, "first_step": 7}]
    trace = {"step": list(range(1, n_steps + 1)), "tol": [1e-10] * n_steps,
             "max_abs": {"jax:scan": [1e-17 * (s + 1) for s in range(n_steps)],
                         "torch:compiled": [1e-12 * 2.0 ** s for s in range(n_steps)]}}
    return {
        "schema_version": SCHEMA_VERSION, "kind": "parity", "finished": "2026-01-03T00:00:00+00:00",
        "config": {"reference": "torch:eager", "targets": ["jax:scan", "torch:compiled"], "device": "cpu",
                   "dtype": "float64", "variant": "1989", "dataset": "usps", "seed": 1337},
        "checks": [
            {"name": "forward", "title": "forward outputs", "passed": True, "summary": "forward: PASS",
             "rows": rows_forward},
            {"name": "trajectory", "title": "parameter trajectory", "passed": False,
             "summary": "trajectory: FAIL", "rows": rows_traj, "trace": trace},
        ],
        "trace": trace, "passed": False, "failed_targets": ["torch:compiled"],
    }


def bench_result():
    return {"schema_version": SCHEMA_VERSION, "kind": "bench", "finished": "2026-01-02T00:00:00+00:00",
            "rows": [{"backend": "torch", "strategy": "compiled", "device": "cpu", "dtype": "float32",
                      "us_per_example": 95.0, "p25": 90.0, "p75": 99.0, "compile_s": 30.0,
                      "examples_per_s": 1e6 / 95},
                     {"backend": "jax", "strategy": "scan", "device": "cpu", "dtype": "float32",
                      "us_per_example": 55.0, "p25": 53.0, "p75": 58.0, "compile_s": 4.0,
                      "examples_per_s": 1e6 / 55}]}


def write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.fixture
def results(tmp_path):
    d = tmp_path / "results"
    d.mkdir()
    write(d / "run-torch-eager-cpu-1989-usps.json", run_result(
        "torch", "eager", final_train=(0.0014, 10), final_test=(0.0523, 105), us=(760.0, 740.0, 790.0)))
    write(d / "run-jax-scan-cpu-1989-usps.json", run_result(
        "jax", "scan", final_train=(0.0032, 23), final_test=(0.0593, 119), us=(55.0, 53.0, 58.0), compile_s=4.2))
    write(d / "run-torch-eager-cpu-modern-synthetic.json", run_result(
        "torch", "eager", variant="modern", dataset="synthetic", passes=6, n_train=512, n_test=256,
        final_train=(0.0, 0), final_test=(30 / 256, 30), us=(900.0, 880.0, 950.0), missed=synthetic_missed()))
    write(d / "bench-pytest.json", benchmark_file([("torch", "eager", "cpu", 750.0, 64, 20.0),
                                                  ("jax", "scan", "cpu", 54.0, 7291, 2.0)]))
    write(d / "corrupt.json", '{"schema_version": 1, "kind": "run", "backend": ')
    old = run_result()
    old["schema_version"] = 0
    write(d / "old-schema.json", old)
    write(d / "package.json", {"name": "not-a-result", "version": "1.0"})
    write(d / "notes.txt", "not json at all, and not *.json either")
    return d


def md_section(md: str, title: str) -> str:
    start = md.index(f"## {title}\n")
    nxt = md.find("\n## ", start + 3)
    return md[start:] if nxt < 0 else md[start:nxt]


def table_rows(section: str) -> list[list[str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, [c.strip() for c in ln.strip("|").split("|")])) for ln in lines[2:]]


def assert_png(path: Path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000, path
    import matplotlib.image

    img = matplotlib.image.imread(path)  # decodes: a valid PNG
    assert img.shape[0] > 100 and img.shape[1] > 100


# ----------------------------------------------------------------------------- report


def test_report_writes_markdown_tables_and_pngs(results, tmp_path, capsys):
    write(results / "parity-1989-float64.json", parity_result())
    write(results / "bench-result.json", bench_result())
    code = main(["report", "--results-dir", str(results), "--data-dir", str(tmp_path)])  # no usps there
    cap = capsys.readouterr()
    assert code == 0, cap.err
    md = (results / "REPORT.md").read_text()

    rows = table_rows(md_section(md, "Runs"))
    got = {(r["backend"], r["strategy"], r["recipe"]): r for r in rows}
    assert set(got) == {("torch", "eager", "1989"), ("jax", "scan", "1989"), ("torch", "eager", "modern")}
    r = got["torch", "eager", "1989"]
    assert (r["train error"], r["train misses"], r["test error"], r["test misses"]) == ("0.14%", "10", "5.23%", "105")
    assert (r["us/example (median)"], r["us/example p25-p75"], r["passes"]) == ("760.0", "740.0-790.0", "4")
    assert "AMD EPYC 7B13" in r["environment"] and "torch 9.9.9" in r["environment"]
    r = got["jax", "scan", "1989"]
    assert (r["train error"], r["test error"], r["test misses"], r["compile s"]) == ("0.32%", "5.93%", "119", "4.2")
    r = got["torch", "eager", "modern"]
    assert (r["dataset"], r["train error"], r["train misses"], r["test error"]) == ("synthetic", "0.00%", "0", "11.72%")

    # throughput: from the pytest-benchmark file (preferred over runs and bench results)
    tp = md_section(md, "Throughput")
    assert "bench-pytest.json" in tp
    trows = {r["backend/strategy/device"]: r for r in table_rows(tp)}
    assert set(trows) == {"torch/eager/cpu", "jax/scan/cpu"}
    assert trows["jax/scan/cpu"]["us/example (median)"] == "54.0"
    assert trows["jax/scan/cpu"]["p25-p75"] == "53.0-55.0"  # q1 / q3 scaled to per example

    # skipped, with why: in REPORT.md and on stderr
    for name, why in [("corrupt.json", "not valid JSON"), ("old-schema.json", "schema version 0"),
                      ("package.json", "not a harness result")]:
        assert f"skipped: {name}: " in md and why in md
        assert any(ln.startswith("skipped: ") and name in ln and why in ln for ln in cap.err.splitlines())
    assert "bench-pytest.json" not in cap.err  # the benchmark file is used, not skipped

    # the gallery: the synthetic run gets one, the usps runs' data is not in --data-dir: a note
    assert "Gallery skipped for recipe 1989, usps" in md
    assert "note: gallery skipped" in cap.err

    # parity: per-check table and the divergence plot
    par = md_section(md, "Parity")
    assert "**FAIL**" in par and "### trajectory: FAIL" in par
    prow = next(r for r in table_rows(par.split("### trajectory")[1]) if r["backend/strategy"] == "torch:compiled")
    assert (prow["tensor"], prow["result"], prow["first divergent step"]) == ("H2w", "FAIL", "7")

    pngs = ["curves-1989.png", "curves-modern.png", "throughput.png", "gallery-modern-synthetic.png",
            "parity-divergence.png"]
    for name in pngs:
        assert_png(results / name)
        assert f"]({name})" in md
    assert not (results / "gallery-1989-usps.png").exists()
    assert not list(results.glob(".*tmp"))  # atomic writes leave nothing behind
    assert "wrote" in cap.out and all(n in cap.out for n in pngs)


def test_throughput_falls_back_to_runs_and_bench_results(results):
    (results / "bench-pytest.json").unlink()
    write(results / "bench-result.json", bench_result())
    assert main(["report", "--results-dir", str(results)]) == 0
    tp = md_section((results / "REPORT.md").read_text(), "Throughput")
    labels = {r["backend/strategy/device"]: r for r in table_rows(tp)}
    # runs of both variants: the variant is part of the label; bench rows have none
    assert labels["torch/compiled/cpu"]["us/example (median)"] == "95.0"
    assert labels["torch/eager/cpu (1989)"]["us/example (median)"] == "760.0"
    assert labels["torch/eager/cpu (modern)"]["p25-p75"] == "880.0-950.0"
    assert_png(results / "throughput.png")


def test_nothing_usable_is_a_clear_message(tmp_path, capsys):
    d = tmp_path / "junk"
    d.mkdir()
    write(d / "corrupt.json", "{")
    write(d / "other.json", [1, 2, 3])
    assert main(["report", "--results-dir", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing to report" in err[0] and "corrupt.json" in err[0]
    assert not (d / "REPORT.md").exists()

    assert main(["report", "--results-dir", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_matplotlib_says_install_it(results, capsys, monkeypatch):
    for m in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, m)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["report", "--results-dir", str(results)]) == 2
    assert "install matplotlib" in capsys.readouterr().err
    assert not (results / "REPORT.md").exists()


def test_core_imports_no_matplotlib_and_no_framework():
    code = ("import sys, harness.cli, harness.report; "
            "bad = [m for m in ('matplotlib', 'torch', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- compare


def test_compare_two_run_results(tmp_path, capsys):
    a = write(tmp_path / "a.json", run_result(us=(100.0, 95.0, 105.0), final_test=(0.05, 100)))
    b = write(tmp_path / "b.json", run_result(us=(50.0, 48.0, 52.0), final_test=(0.06, 120)))
    c = write(tmp_path / "c.json", run_result(us=(103.0, 99.0, 110.0), final_test=(0.05, 100)))
    assert main(["report", "--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    us = next(ln for ln in out.splitlines() if " us/example " in ln)
    assert "0.500" in us and us.rstrip().endswith("yes")  # 2x faster, IQRs disjoint
    test = next(ln for ln in out.splitlines() if "test error" in ln)
    assert "5.00% (100)" in test and "6.00% (120)" in test and "1.200" in test
    assert main(["report", "--compare", str(a), str(c)]) == 0
    us = next(ln for ln in capsys.readouterr().out.splitlines() if " us/example " in ln)
    assert "1.030" in us and us.rstrip().endswith("no")  # within the spread
    assert not list(tmp_path.glob("REPORT.md"))


def test_compare_two_benchmark_files_matches_by_configuration(tmp_path, capsys):
    a = write(tmp_path / "a.json", benchmark_file([("torch", "eager", "cpu", 800.0, 64, 20.0),
                                                   ("jax", "scan", "cpu", 60.0, 7291, 2.0)]))
    b = write(tmp_path / "b.json", benchmark_file([("jax", "scan", "cpu", 45.0, 7291, 2.0),
                                                   ("torch", "eager", "cuda", 300.0, 64, 5.0),
                                                   ("torch", "eager", "cpu", 810.0, 64, 40.0)]))
    assert main(["report", "--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if " us/example " in ln}
    assert "0.750" in lines["jax/scan/cpu"] and lines["jax/scan/cpu"].rstrip().endswith("yes")
    assert "1.012" in lines["torch/eager/cpu"] and lines["torch/eager/cpu"].rstrip().endswith("no")
    assert "only in B: torch/eager/cuda" in out


def test_compare_rejects_what_it_cannot_compare(tmp_path, capsys):
    a = write(tmp_path / "a.json", run_result())
    p = write(tmp_path / "p.json", parity_result())
    bad = write(tmp_path / "bad.json", "{not json")
    assert main(["report", "--compare", str(a), str(p)]) == 2
    assert "not a 'parity' result" in capsys.readouterr().err
    assert main(["report", "--compare", str(a), str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["report", "--compare", str(a), str(tmp_path / "missing.json")]) == 2


# ----------------------------------------------------------------------------- pieces


def test_parity_traces_read_the_shape_parity_writes_and_the_schema_refuses_others():
    from harness.report import parity_traces
    from harness.schema import validate_result

    top = {"checks": [{"name": "x", "rows": []}], "trace": {"step": [1, 2, 3], "max_abs": {"a:b": [0.0, 1e-9, 2e-9]}}}
    (s,) = parity_traces(top)
    assert s["label"] == "a:b" and s["steps"] == [1, 2, 3] and s["values"] == [0.0, 1e-9, 2e-9]
    assert validate_result(parity_result()) is None
    listed = dict(parity_result(), trace=[{"step": 1, "target": "j", "max_abs": 1e-3}])
    assert "does not match the schema at trace" in validate_result(listed)


def test_unknown_kind_and_malformed_run_are_skipped(results, capsys):
    write(results / "weird.json", {"schema_version": SCHEMA_VERSION, "kind": "sweep"})
    broken = run_result()
    broken["epochs"] = []
    write(results / "broken-run.json", broken)
    assert main(["report", "--results-dir", str(results)]) == 0
    err = capsys.readouterr().err
    assert "weird.json: unknown result kind 'sweep'" in err
    assert "broken-run.json: run result does not match the schema at epochs" in err


def test_latest_run_per_line_and_zero_errors_plot(tmp_path):
    """Two runs of the same configuration: the table lists both, the curve shows the latest."""
    from harness.report import curve_groups, scan

    d = tmp_path / "r"
    d.mkdir()
    write(d / "a.json", run_result(finished="2026-01-01T00:00:00+00:00", final_test=(0.07, 140)))
    write(d / "b.json", run_result(finished="2026-02-01T00:00:00+00:00", final_train=(0.0, 0)))
    sc = scan(d)
    (lines,) = curve_groups(sc.runs).values()
    assert [r.path.name for r in lines.values()] == ["b.json"]
    assert main(["report", "--results-dir", str(d)]) == 0
    assert len(table_rows(md_section((d / "REPORT.md").read_text(), "Runs"))) == 2
    assert_png(d / "curves-1989.png")


def test_compare_matches_on_backend_strategy_device_when_one_side_lacks_variant(tmp_path, capsys):
    a = write(tmp_path / "bench.json", bench_result() | {"variant": "1989"})
    b = write(tmp_path / "pb.json", benchmark_file([("jax", "scan", "cpu", 44.0, 7291, 2.0)]))
    assert main(["report", "--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("jax/scan/cpu"))
    assert "0.800" in line and "only in A: torch/compiled/cpu" in out


def test_parity_rows_say_when_a_row_is_judged_only_to_a_horizon():
    from harness.report import parity_rows

    check = {"rows": [
        {"target": "jax:scan", "tensor": "H1w", "pass": 1, "max_abs": 1e-7, "tol": 1e-5, "passed": True,
         "within_tol": True},
        {"target": "jax:step", "tensor": "H1w", "pass": 1, "max_abs": 0.3, "tol": 1e-5, "passed": True,
         "within_tol": False, "unjudged": 4, "judged_to": 300},
    ]}
    _, rows = parity_rows(check)
    assert rows[0][-1] == "PASS"
    assert rows[1][-1] == "PASS to step 300, beyond tol after (reported)"
