"""Issue 18 item 8's report-side cases: the sweep's own manifest is not a bad file; seeds whose files
disagree on n_train are not averaged without a note; a run's window larger than its pass says the
window it really timed."""
from __future__ import annotations

import json
import shutil

import pytest

from harness.cli import main
from harness.report.seeds import seed_tables
from tests.conftest import REPO
from tests.test_seeds import _run


def test_report_does_not_list_the_sweeps_own_manifest_as_a_bad_file(tmp_path, capsys):
    src = sorted((REPO / "results" / "sweep-usps").glob("run-jax-scan-cpu-1989-*.json"))[:1]
    assert src
    shutil.copy(src[0], tmp_path)
    (tmp_path / "sweep-manifest.json").write_text(json.dumps({"version": 2, "points": {}}))
    (tmp_path / "stray.json").write_text("{}")  # a real bad file is still listed
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "sweep-manifest.json" not in err and "stray.json" in err
    assert "sweep-manifest.json" not in (tmp_path / "REPORT.md").read_text()


def test_seeds_whose_files_disagree_on_n_train_carry_a_note():
    a, b, c = _run(1, 0.05), _run(2, 0.06), _run(3, 0.07)
    b["n_train"] = 7000  # the same configuration on another data file
    md = seed_tables([a, b, c])
    assert "different numbers of examples per pass, 7000, 7291" in md
    assert "different numbers of examples" not in seed_tables([a, c])


def test_a_run_window_larger_than_the_pass_says_what_it_timed(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["run", "--dataset", "synthetic", "--epochs", "2", "--limit", "20", "--window", "100000",
                 "--threads", "1", "--results-dir", str(tmp_path)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("us_per_example"))
    assert "1 windows of up to 20 examples" in line and "100000" not in line
