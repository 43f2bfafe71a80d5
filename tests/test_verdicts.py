"""Verdicts that cannot pass on nothing (issue 18 items 1 and 2): a backend the user named that ends
up skipped is a usage error, never a green "every backend agrees" over a self-comparison; the forward
check looks at parameters where every tensor is non-zero, so a plugin that drops a bias fails,
named at its layer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import plugins
from harness.cli import main
from tests.test_readme_plugin import load_readme_plugin, registered

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

QUICK = ["--dataset", "synthetic", "--steps", "1", "--passes", "0"]


def _parity(tmp_path: Path, *args: str) -> tuple[int, dict | None]:
    out = tmp_path / f"results{len(list(tmp_path.glob('results*')))}"
    code = main(["parity", "--results-dir", str(out), *args])
    files = sorted(out.glob("parity-*.json")) if out.is_dir() else []
    return code, (json.loads(files[-1].read_text()) if files else None)


def _mine(tmp_path: Path, module: str, name: str = "mine"):
    """The README's NumPy backend under another name (a third party's plugin)."""
    mod = load_readme_plugin(tmp_path, module)
    mod.NumpyBackend.name = name
    return mod


# ----------------------------------------------------------------------------- 1. a vacuous PASS


def test_a_named_backend_that_would_be_skipped_is_a_usage_error(tmp_path, capsys):
    """`parity --backends torch,mine --variant modern`, mine declaring only 1989: before, mine was
    skipped, torch compared with itself and the verdict read "PASS: every backend agrees" (exit 0).
    Now: exit 2, one line naming mine and why, and no result file."""
    mod = _mine(tmp_path, "mine_1989")
    mod.NumpyBackend.variants = ("1989",)
    with registered(mod, "mine-1989"):
        code, res = _parity(tmp_path, "--backends", "torch,mine", "--strategies", "eager", "--variant", "modern",
                            *QUICK)
    captured = capsys.readouterr()
    assert "every backend agrees" not in captured.out
    assert code == 2 and res is None
    (line,) = captured.err.strip().splitlines()
    assert "mine" in line and "does not support variant 'modern'" in line


def test_a_self_comparison_is_labelled_a_determinism_check_never_agreement(tmp_path, capsys):
    code, res = _parity(tmp_path, "--backends", "torch", "--strategies", "eager", *QUICK)
    out = capsys.readouterr().out
    assert code == 0 and res["config"]["self_check"] is True
    assert "every backend agrees" not in out
    assert "determinism check" in out.splitlines()[-2]  # the verdict line, before "result: ..."


# ----------------------------------------------------------------------------- 2. blind checks


def _drop_h2b(mod) -> None:
    """The plugin's forward pass (training and evaluation) leaves out H2's bias."""
    inner = mod.NumpySession._forward

    def forward_without_h2b(self, x, mask=None):
        kept = self.p["H2b"]
        self.p["H2b"] = np.zeros_like(kept)
        try:
            return inner(self, x, mask)
        finally:
            self.p["H2b"] = kept

    mod.NumpySession._forward = forward_without_h2b


def test_a_plugin_that_drops_a_bias_fails_forward_named_at_its_layer(tmp_path, capsys):
    """At the initial parameters every bias but outb is zero, so a forward pass without H2b is right
    there: before, forward and grads passed (with --steps 0 --passes 0, the whole parity did). The
    forward check also runs where every tensor is non-zero, and names H2."""
    mod = _mine(tmp_path, "mine_no_h2b")
    _drop_h2b(mod)
    with registered(mod, "mine-no-h2b"):
        code, res = _parity(tmp_path, "--backends", "torch,mine", "--strategies", "eager", "--dataset", "synthetic",
                            "--steps", "0", "--passes", "0")
    assert code == 1 and res["passed"] is False
    fwd = next(c for c in res["checks"] if c["name"] == "forward")
    assert fwd["passed"] is False
    assert fwd["first_layer"] == {"mine:eager": "H2"}
    assert "first layer that differs: mine:eager H2" in fwd["summary"]
    assert "mine:eager" in res["failed_targets"]


def test_parity_with_no_check_left_to_run_is_refused_not_passed():
    """checks=("passes",) with passes=0 (the Python API) runs nothing: before, passed=True over zero
    checks; now a ConfigError (exit 2 on the command line)."""
    from harness import parity as par
    from harness.config import ParityConfig
    from harness.data import load_dataset
    from harness.errors import ConfigError

    config = ParityConfig(backends=("torch",), strategies=("torch:eager", "torch:compiled"), checks=("passes",),
                          passes=0, dataset="synthetic")
    sel = par.select(plugins.get_registry(), config)
    with pytest.raises(ConfigError, match="nothing to check"):
        par.run_parity(sel, config, load_dataset("synthetic", None, dtype=config.dtype, seed=config.seed))


def test_testing_refuses_a_self_comparison_and_assert_parity_needs_another_implementation():
    """harness.testing: the backend's only strategy being the reference compares nothing (refused),
    and limit=0 (zero examples) is refused by the validator rather than blamed on the reference."""
    from harness import testing
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="nothing would be compared"):
        testing.run_parity("torch", strategies=["eager"], reference="torch:eager", dataset="synthetic")
    with pytest.raises(ConfigError, match="--limit 0"):
        testing.run_parity("torch", strategies=["compiled"], dataset="synthetic", limit=0)


# ----------------------------------------------------------------------------- 3. the kit names the cause


def _plugin_from_source(tmp_path: Path, module: str, name: str, edit) -> object:
    """The README plugin, its source edited by `edit`, as a package module of its own file."""
    import importlib.util

    from tests.test_readme_plugin import readme_plugin_source

    pkg = tmp_path / module
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    path = pkg / "harness_plugin.py"
    path.write_text(edit(readme_plugin_source()))
    spec = importlib.util.spec_from_file_location(f"{module}.harness_plugin", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.NumpyBackend.name = name
    return mod


def _raising_loss_and_grads(src: str) -> str:
    head = "    def loss_and_grads(self, steps: Steps):\n"
    assert head in src
    return src.replace(head, head + "        raise ValueError('the plugin broke here')\n")


def test_a_raising_session_method_shows_its_words_and_the_plugins_frame(tmp_path, capsys):
    """Before: the summary read 'mine:eager -' and the frame was the harness's (checks.py).
    Now the CLI summary and harness.testing's assertion name the exception and the plugin's line."""
    from harness.testing import assert_parity, assert_session_conforms

    mod = _plugin_from_source(tmp_path, "raising_pkg", "mine", _raising_loss_and_grads)
    with registered(mod, "mine-raising"):
        code, res = _parity(tmp_path, "--backends", "torch,mine", "--strategies", "eager", *QUICK)
        out = capsys.readouterr().out
        with pytest.raises(AssertionError) as parity_error:
            assert_parity("mine", reference="torch:eager", steps=(1,), passes=0)
        with pytest.raises(AssertionError) as conform_error:
            assert_session_conforms("mine")
    assert code == 1
    grads = next(c for c in res["checks"] if c["name"] == "grads")
    want = "mine:eager raised ValueError: the plugin broke here (in plugin code at raising_pkg/harness_plugin.py:"
    assert want in grads["summary"] and "in loss_and_grads)" in grads["summary"]
    assert want in out.replace("\n", "")  # the CLI's summary line (rich may wrap it)
    assert want in str(parity_error.value)
    assert "ValueError: the plugin broke here (in plugin code at raising_pkg/harness_plugin.py:" \
        in str(conform_error.value)


def test_a_missing_session_method_is_named_and_said_not_to_be_the_plugins_frame(tmp_path):
    from harness.testing import assert_session_conforms

    mod = _plugin_from_source(tmp_path, "missing_pkg", "mine", lambda s: s)
    del mod.NumpySession.train_steps
    with registered(mod, "mine-missing"), pytest.raises(AssertionError) as e:
        assert_session_conforms("mine")
    assert "has no attribute 'train_steps'" in str(e.value) and "no frame of the plugin's own code" in str(e.value)


def test_an_entry_point_that_registers_nothing_is_reported_as_such(tmp_path, capsys):
    """A forgotten @hookimpl: before, 'unknown backend'; now the plugin is listed with why."""
    mod = _plugin_from_source(tmp_path, "nohook_pkg", "nohook", lambda s: s.replace("@hookimpl\n", ""))
    with registered(mod, "nohook"):
        assert main(["parity", "--backends", "torch,nohook", "--results-dir", str(tmp_path / "r"), *QUICK]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "'nohook'" in line and "not marked @hookimpl" in line
        assert "not marked @hookimpl" in plugins.get_registry().reason_unavailable("nohook")
        assert main(["backends"]) == 0
        assert "nohook" in capsys.readouterr().out


def test_a_reference_that_ran_is_never_said_to_be_skipped(tmp_path):
    mod = _mine(tmp_path, "mine_ref")
    with registered(mod, "mine-ref"):
        code, res = _parity(tmp_path, "--backends", "torch,mine", "--strategies", "mine:eager", "--reference",
                            "torch:eager", *QUICK)
    assert code == 0 and res["config"]["reference"] == "torch:eager" and res["config"]["targets"] == ["mine:eager"]
    assert not [n for n in res["notes"] if "torch" in n and "skipped" in n], res["notes"]


# ----------------------------------------------------------------------------- 4. what a backend declares


def test_backends_shows_each_backends_declared_variants_and_dtypes(tmp_path, capsys, monkeypatch):
    from harness.backend import declared_support

    monkeypatch.setenv("COLUMNS", "250")  # one line per row
    mod = _mine(tmp_path, "mine_declares")
    mod.NumpyBackend.variants, mod.NumpyBackend.dtypes = ("1989",), ("float32",)
    assert declared_support(mod.NumpyBackend()) == {"variants": ["1989"], "dtypes": ["float32"]}
    with registered(mod, "mine-declares"):
        assert main(["backends"]) == 0
    out = capsys.readouterr().out
    mine = next(ln for ln in out.splitlines() if "│ mine " in ln)
    cells = [c.strip() for c in mine.split("│")]
    assert cells[5:7] == ["1989", "float32"], cells
    torch_row = next(ln for ln in out.splitlines() if "│ torch " in ln)
    assert [c.strip() for c in torch_row.split("│")][5] == "all"  # declares none: every variant
