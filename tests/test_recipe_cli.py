"""Recipe knobs on the command line: `--set KNOB=VALUE` of run, bench, parity and sweep, `harness
recipes`; every knob refused in one line (exit 2) when its value is bad, and recorded in the result
when it is good; runs that differ only in a knob are different points, grouped apart."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.knobs import show
from harness.spec import KNOBS
from tests.conftest import requires_torch
from tests.test_recipe import BAD, CASES

pytestmark = pytest.mark.usefixtures("torch_one_thread")

QUICK = ["--dataset", "synthetic", "--limit", "16", "-q"]


def one_result(out: Path) -> dict:
    [path] = sorted(out.glob("*.json"))
    return json.loads(path.read_text())


def test_run_help_shows_set(capsys):
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--set KNOB=VALUE" in text and "harness recipes" in text
    for command in ("bench", "parity", "sweep"):
        assert main([command, "--help"]) == 0
        assert "--set" in capsys.readouterr().out, command


def test_recipes_and_set_help_list_every_knob_and_each_variants_value(capsys):
    for argv in (["recipes"], ["run", "--set", "help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        for name in KNOBS:
            assert name in out, (argv, name)
        assert "1989-sdlm-fanin" in out and "scaled_tanh" in out


@requires_torch
def test_recipes_say_which_strategy_implements_which_values(capsys):
    assert main(["recipes"]) == 0
    assert "torch:eager" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(KNOBS))
def test_every_knob_bad_value_is_one_line_and_exit_2(capsys, tmp_path, name):
    bad = BAD[KNOBS[name].kind][0]
    code = main(["run", "--variant", CASES[name][0], "--set", f"{name}={bad}", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("harness: error: ")
    assert f"knob {name}={bad}" in err and KNOBS[name].allowed() in err
    assert not list(tmp_path.glob("*.json"))  # nothing run, nothing written


@pytest.mark.parametrize("argv", [["bench"], ["parity"], ["sweep", "--dry-run"]])
def test_every_command_checks_the_knobs(capsys, tmp_path, argv):
    for sets, says in ((["targets=2.5"], "knob targets=2.5: must be a number in (0, 2]"),
                       (["nope=1"], "unknown knob 'nope'; knobs: targets,"),
                       (["adamw_beta1=0.5"], "adamw_beta1=0.5 has no effect with optimizer=sgd")):
        code = main([*argv, *(a for s in sets for a in ("--set", s)), "--results-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and says in err, (argv, err)


@requires_torch
@pytest.mark.parametrize("name", list(KNOBS))
def test_every_knob_is_recorded_in_the_result(data_dir, tmp_path, name):
    base, value, _ = CASES[name]
    out = tmp_path / "results"
    epochs = [] if name == "passes" else ["--epochs", "1"]
    code = main(["run", "--variant", base, "--set", f"{name}={value}", *epochs, *QUICK, "--results-dir", str(out)])
    assert code == 0
    r = one_result(out)
    want = KNOBS[name].parse(value)
    assert r["recipe"]["knobs"][name] == want and r["recipe"]["set"][name] == want
    assert r["recipe"]["variant"] == base and f"{name}={show(want)}" in r["recipe"]["label"]
    if name == "passes":  # a run's passes are its epochs
        assert r["config"]["epochs"] == want and len(r["epochs"]) == want and "passes" not in r["config"]["recipe"]
    else:
        assert r["config"]["recipe"] == {name: want}
    assert set(r["recipe"]["knobs"]) == set(KNOBS)


@requires_torch
def test_a_strategy_that_does_not_implement_a_knob_is_refused_naming_those_that_do(capsys, tmp_path):
    code = main(["run", "--strategy", "compiled", "--set", "optimizer=sdlm", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "torch:compiled does not implement optimizer=sdlm" in err and "strategies that do: eager" in err
    code = main(["run", "--epochs", "3", "--set", "passes=5", "--results-dir", str(tmp_path)])
    assert code == 2 and "--epochs 3 and --set passes=5 disagree" in capsys.readouterr().err


@requires_torch
def test_runs_that_differ_only_in_a_knob_are_points_apart_and_grouped_apart(data_dir, tmp_path, capsys):
    out = tmp_path / "results"
    grid = ["sweep", "--seeds", "1,2", "--set", "targets=0.8,1", "--epochs", "1", "--limit", "16",
            "--datasets", "synthetic", "--results-dir", str(out)]
    assert main([*grid, "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "4 point(s)" in listed and "1989 targets=0.8 synthetic" in listed
    assert main(grid) == 0
    assert "4 run" in capsys.readouterr().out
    assert main(grid) == 0  # each point found again by its configuration, knob included
    assert "4 found, 0 run" in capsys.readouterr().out
    labels = sorted(json.loads(p.read_text())["recipe"]["label"] for p in out.glob("run-*.json"))
    assert labels == ["1989 passes=1"] * 2 + ["1989 targets=0.8 passes=1"] * 2
    assert main(["report", "--results-dir", str(out)]) == 0
    md = (out / "REPORT.md").read_text()
    seeds = md[md.index("## Over seeds"):]
    assert "torch:eager 1989 synthetic" in seeds and "torch:eager 1989 targets=0.8 synthetic" in seeds
    # learning curves: one figure for the 1989 family, each recipe a configuration of it, its seeds its lines
    curves = md[md.index("## Learning curves"):]
    assert "### Recipes 1989*" in curves and "2 configuration(s), 4 seed line(s)" in curves
    assert "Drawn: torch:eager 1989 (2 seeds); torch:eager 1989 targets=0.8 (2 seeds)." in curves


def test_conformance_kit_takes_a_recipe():
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    from harness.errors import Unsupported
    from harness.testing import assert_parity

    res = assert_parity("jax", reference="torch:eager", strategies=["step"], recipe={"activation": "scaled_tanh"},
                        steps=(1,), passes=0)
    assert res["recipe"]["label"] == "1989 activation=scaled_tanh"
    with pytest.raises(Unsupported, match="jax:fused does not implement activation=scaled_tanh"):
        assert_parity("jax", reference="torch:eager", strategies=["fused"], recipe={"activation": "scaled_tanh"})


def test_the_grid_of_docs_sweep_md_makes_one_point_per_recipe_and_seed(tmp_path, capsys):
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "sweep.md").read_text()
    [toml] = [b for b in re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL) if "recipe = " in b]
    grid = tmp_path / "ablation.toml"
    grid.write_text(toml)
    assert main(["sweep", str(grid), "--dry-run", "--results-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "25 point(s)" in out  # 5 seeds x (baseline, one recipe, 3 targets)
    for label in ("1989 usps", "1989 targets=0.8 init=fan_in usps", "1989 targets=0.7 usps", "1989 targets=0.9 usps"):
        assert f"jax:scan@cpu {label} float32 seed 5 23 passes" in out, label
