"""scripts/mutation_scores.py: the per-module table read from mutmut's .meta files."""
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("mutmut")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
try:
    import mutation_scores
finally:
    sys.path.pop(0)


def _meta(root: Path, path: str, codes: dict) -> None:
    p = root / (path + ".meta")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"exit_code_by_key": codes}))


def test_counts_and_percentages_per_module(tmp_path, capsys):
    _meta(tmp_path, "harness/a.py", {"a1": 1, "a2": 3, "a3": 0, "a4": 33, "a5": None, "a6": -24})
    _meta(tmp_path, "harness/sweep/b.py", {"b1": 1})
    _meta(tmp_path, "harness/empty.py", {})
    counts = mutation_scores.module_counts(tmp_path, [])
    assert counts == {"harness/a.py": Counter({"killed": 2, "survived": 1, "no tests": 1, "not checked": 1,
                                               "timeout": 1}),
                      "harness/sweep/b.py": Counter({"killed": 1})}
    # killed% and untested% of the 5 tested (not checked left out)
    assert mutation_scores.row("a", counts["harness/a.py"]) == ["a", "6", "2", "1", "1", "1", "0", "1", "40.0", "20.0"]
    assert mutation_scores.row("n", Counter({"not checked": 2}))[-2:] == ["-", "-"]
    assert list(mutation_scores.module_counts(tmp_path, ["harness/sweep/"])) == ["harness/sweep/b.py"]
    assert mutation_scores.main(["--mutants", str(tmp_path), "--markdown"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| module | mutants | killed |") and out[-1].startswith("| total | 7 | 3 |")


def test_no_mutants_directory_is_one_line_exit_2(tmp_path, capsys):
    assert mutation_scores.main(["--mutants", str(tmp_path / "none")]) == 2
    assert "run `tox -e mutation`" in capsys.readouterr().err
