"""The `1989-paper` variant (docs/fidelity.md): the recipe the 1989 paper's text supports that came
closest to its figures. Listed wherever variants are, validated like every named set of knobs,
recorded in full in a result, and different from `1989` in exactly the knobs docs/fidelity.md gives."""
from __future__ import annotations

import json

import pytest

from harness import spec
from harness.cli import main
from harness.errors import RecipeError
from harness.recipe import Recipe, check_overrides
from harness.spec import PRESETS, VARIANTS
from tests.conftest import requires_torch

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# What docs/fidelity.md says the recipe changes from karpathy's `1989`, and nothing else.
PAPER_CHANGES = {"targets": 0.9, "init": "fan_in"}


def test_it_is_1989_with_the_papers_targets_and_initialisation():
    changed = {k: v for k, v in PRESETS["1989-paper"].items() if PRESETS["1989"][k] != v}
    assert changed == PAPER_CHANGES
    v = VARIANTS["1989-paper"]
    assert (v.name, v.targets, v.init, v.loss, v.optimizer) == ("1989-paper", 0.9, "fan_in", "mse", spec.SGD(0.03))
    assert v.epochs == 23 and not v.sets  # a named variant: no knob set otherwise than itself


def test_its_values_pass_the_knob_validator_and_its_fidelity_doc_names_it():
    for name, value in PRESETS["1989-paper"].items():
        assert spec.KNOBS[name].parse(str(value)) == value, name
    assert Recipe.of("1989", [f"{k}={v}" for k, v in PAPER_CHANGES.items()]).variant_spec().targets == 0.9
    with pytest.raises(RecipeError, match="knob targets=2.5"):
        check_overrides("1989-paper", {"targets": "2.5"})
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "fidelity.md").read_text()
    assert "`1989-paper`" in doc and "quasilinear range of the sigmoid" in doc and "2.4/F_i" in doc


def test_it_is_listed(capsys):
    for argv in (["recipes"], ["run", "--help"], ["parity", "--help"]):
        assert main(argv) == 0
        assert "1989-paper" in capsys.readouterr().out, argv


def test_a_bad_knob_on_it_is_one_line_and_exit_2(capsys, tmp_path):
    code = main(["run", "--variant", "1989-paper", "--set", "targets=0", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "knob targets=0" in err
    assert not list(tmp_path.glob("*.json"))


@requires_torch
def test_it_is_recorded_in_the_result(data_dir, tmp_path):
    out = tmp_path / "r"
    assert main(["run", "--variant", "1989-paper", "--epochs", "1", "--dataset", "synthetic", "--limit", "16",
                 "-q", "--results-dir", str(out)]) == 0
    [path] = out.glob("run-*.json")
    r = json.loads(path.read_text())
    assert r["variant"] == "1989-paper" and r["config"]["variant"] == "1989-paper"
    assert r["recipe"]["variant"] == "1989-paper" and r["recipe"]["knobs"] == {**PRESETS["1989-paper"], "passes": 1}
    assert r["variant_config"]["targets"] == 0.9 and r["variant_config"]["init"] == "fan_in"
