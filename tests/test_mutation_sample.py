"""scripts/mutation_sample.py: a stratified random sample of mutants and the whole core's estimate."""
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("mutmut")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
try:
    import mutation_sample as ms
finally:
    sys.path.pop(0)
from tests.test_mutation_scores import _meta  # the same .meta files mutmut writes


def test_allocation_is_proportional_with_a_floor_and_sums_to_the_size():
    sizes = {"a": 800, "b": 150, "c": 45, "d": 5}
    take = ms.allocate(sizes, 100)
    assert sum(take.values()) == 100
    assert take == {"a": 79, "b": 15, "c": 4, "d": 2}
    # a module smaller than the floor is taken whole; never more than a module has
    assert ms.allocate({"a": 10, "b": 1}, 5) == {"a": 4, "b": 1}
    assert ms.allocate({"a": 3, "b": 2}, 100) == {"a": 3, "b": 2}
    assert ms.allocate({"a": 3}, 0) == {"a": 0}


def test_the_draw_is_stratified_reproducible_and_changes_with_the_seed():
    module_of = {f"m{i}.x__mutmut_{j}": f"harness/m{i}.py" for i in range(3) for j in range(1, 101)}
    one = ms.draw(module_of, 30, seed=1, prefixes=[])
    assert one == ms.draw(module_of, 30, seed=1, prefixes=[])
    assert one != ms.draw(module_of, 30, seed=2, prefixes=[])
    assert len(one) == len(set(one)) == 30
    assert [sum(n.startswith(f"m{i}.") for n in one) for i in range(3)] == [10, 10, 10]
    assert {module_of[n] for n in ms.draw(module_of, 5, seed=1, prefixes=["harness/m2"])} == {"harness/m2.py"}


def test_wilson_interval_known_values():
    lo, hi = ms.wilson(9, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.5958, 0.9821)
    assert ms.wilson(0, 0) == (0.0, 1.0)
    lo, hi = ms.wilson(10, 10)
    assert hi == 1.0 and round(lo, 4) == 0.7225


def test_stratified_estimate_weights_modules_by_their_mutants():
    # module A: 900 mutants, 10 sampled, 9 killed; module B: 100 mutants, 10 sampled, 1 killed
    est, half = ms.stratified([(900, 10, 9), (100, 10, 1)])
    assert est == pytest.approx(0.9 * 0.9 + 0.1 * 0.1)
    var = 0.81 * (1 - 10 / 900) * (0.09 * 10 / 9) / 10 + 0.01 * (1 - 10 / 100) * (0.09 * 10 / 9) / 10
    assert half == pytest.approx(ms.Z95 * math.sqrt(var))
    # a module tested whole has no sampling error
    assert ms.stratified([(10, 10, 7)]) == (pytest.approx(0.7), 0.0)
    assert math.isnan(ms.stratified([(10, 0, 0)])[0])


def test_estimate_reads_the_verdicts_of_the_sampled_names(tmp_path):
    # exit codes as mutmut writes them: 1 killed, 0 survived, 33 no tests, -24 timeout, None not run
    _meta(tmp_path, "harness/a.py", {"a1": 1, "a2": 0, "a3": 33, "a4": -24, "a5": None, "a6": 1})
    _meta(tmp_path, "harness/b.py", {"b1": 1, "b2": 1})
    rows, whole, total = ms.estimate(tmp_path, ["a1", "a2", "a3", "a4", "a5", "b1"])
    assert rows[0] == ["harness/a.py", "6", "5", "4", "2", "1", "1", "1", "50", "15-85"]
    assert rows[1][:5] == ["harness/b.py", "2", "1", "1", "1"]
    assert total["not checked"] == 1 and total["killed"] == 2
    # 6/8 of the weight on a (2 of 4 caught), 2/8 on b (1 of 1)
    assert whole[1].startswith(f"killed {100 * (6 / 8 * 0.5 + 2 / 8 * 1):.1f} %")
    assert whole[2].startswith(f"untested {100 * (6 / 8 * 0.25):.1f} %")
    assert len(whole) == 3  # no trace yet: no exact untested count
    # mutmut's trace: the function of a1..a6 is called by a test, b's by none
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"tests_by_mangled_function_name": {"a": ["t"], "b": []}}))
    _meta(tmp_path, "harness/a.py", {"a__mutmut_1": 1, "a__mutmut_2": 0})
    _meta(tmp_path, "harness/b.py", {"b__mutmut_1": 1})
    assert ms.traced_untested(tmp_path, ms.verdicts(tmp_path)[0]) == 1
    assert ms.estimate(tmp_path, ["a__mutmut_1"])[1][-1].endswith("1 of 3 (33.3 %)")
    with pytest.raises(SystemExit, match="no longer exist"):
        ms.estimate(tmp_path, ["gone"])


def test_cli_draw_and_estimate(tmp_path, capsys):
    _meta(tmp_path, "harness/a.py", {f"a{i}": 1 for i in range(20)})
    assert ms.main(["draw", "--size", "4", "--mutants", str(tmp_path)]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 4
    sample = tmp_path / "s.txt"
    sample.write_text("\n".join(names))
    assert ms.main(["estimate", "--sample", str(sample), "--mutants", str(tmp_path), "--markdown"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| module | mutants | sampled |")
    assert out[-1].startswith("whole core: 20 of 20 mutants") and "killed 100.0 % ± 0.0" in out[-1]
    assert ms.main(["draw", "--size", "0", "--mutants", str(tmp_path)]) == 2
    assert ms.main(["draw", "--mutants", str(tmp_path / "none")]) == 2


def test_listed_equivalents_are_left_out_of_a_second_estimate(tmp_path, capsys):
    # a: 8 mutants, 4 sampled: 2 killed, 2 survived of which 1 listed as equivalent; b: 2 of 2 sampled, both killed
    _meta(tmp_path, "harness/a.py", {"a1": 1, "a2": 1, "a3": 0, "a4": 0, "a5": 1, "a6": 1, "a7": 1, "a8": 1})
    _meta(tmp_path, "harness/b.py", {"b1": 1, "b2": 1})
    names = ["a1", "a2", "a3", "a4", "b1", "b2"]
    _, whole, _ = ms.estimate(tmp_path, names, {"a4", "a6", "zz"})  # names outside the sample are ignored
    # a's population becomes 8 * 3/4 = 6 non-equivalent mutants, of which 2/3 killed; b: 2 of 2
    assert whole[1].startswith(f"killed {100 * (8 / 10 * 0.5 + 2 / 10):.1f} %")
    assert whole[3].startswith("excluding the 1 sampled mutants listed as equivalent: "
                               f"killed {100 * (6 / 8 * 2 / 3 + 2 / 8):.1f} % ± ")
    assert len(ms.estimate(tmp_path, names)[1]) == 3  # no list, no second figure
    with pytest.raises(SystemExit, match="a1 is listed as equivalent but is killed"):
        ms.estimate(tmp_path, names, {"a1"})
    listed = tmp_path / "eq.txt"
    listed.write_text("# seed 1's equivalents\na4   # the default is never read\n\n")
    assert ms.read_equivalent(listed) == {"a4"}
    sample = tmp_path / "s.txt"
    sample.write_text("\n".join(names))
    assert ms.main(["estimate", "--sample", str(sample), "--mutants", str(tmp_path), "--equivalent", str(listed)]) == 0
    assert "excluding the 1 sampled mutants listed as equivalent: killed 75.0 % ± " in capsys.readouterr().out
