"""The plugin example of docs/plugins.md (once the README's) is a correct backend: extracted into a package,
registered through the plugin hook, it passes `harness parity` against torch; variants of it planted with a wrong H2
connection table (forward) or a wrong H2 gradient are named at H2; one declaring only 1989 and float32 is
skipped elsewhere with the reason, never failed."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness import plugins
from harness.cli import main

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--steps", "1,10", "--passes", "1", "--limit", "48"]


def readme_plugin_source() -> str:
    """The python block of docs/plugins.md that starts with '# my_numpy_backend/harness_plugin.py'."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "plugins.md").read_text(), flags=re.DOTALL)
    [src] = [b for b in blocks if b.startswith("# my_numpy_backend/harness_plugin.py")]
    return src


def load_readme_plugin(tmp_path: Path, module: str = "my_numpy_backend.harness_plugin"):
    """Write the example's block into a package under tmp_path and import it as `module` (a fresh module
    object each time, so tests may alter one copy without touching another)."""
    pkg = tmp_path / "my_numpy_backend"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    path = pkg / "harness_plugin.py"
    path.write_text(readme_plugin_source())
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@contextlib.contextmanager
def registered(plugin, name: str):
    """A plugin module registered through the hook, as an entry point's would be; gone afterwards."""
    plugins.register_plugin(plugin, name=name)
    try:
        yield
    finally:
        plugins.unregister_plugin(plugin)


def parity(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "results"
    code = main(["parity", "--results-dir", str(out), *args])
    [file] = sorted(out.glob("parity-*.json"))
    return code, json.loads(file.read_text())


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


def test_readme_block_is_a_short_complete_module():
    src = readme_plugin_source()
    assert "def harness_register_backends" in src and "class NumpySession" in src
    assert len(src.splitlines()) <= 160


@pytest.mark.parametrize("variant", ["1989", "modern"])
def test_readme_plugin_passes_parity_float64(tmp_path, data_dir, variant):
    """On real USPS, against torch:eager: every check passes, forward to ~1e-15."""
    mod = load_readme_plugin(tmp_path)
    with registered(mod, "readme-numpy"):
        code, res = parity(tmp_path, "--backends", "torch,numpy", "--strategies", "eager", "--dtype", "float64",
                           "--variant", variant, "--data-dir", str(data_dir), *QUICK)
    assert code == 0, res["summary"]
    assert res["config"]["targets"] == ["numpy:eager"] and res["config"]["reference"] == "torch:eager"
    assert [c["name"] for c in res["checks"]] == ["forward", "grads", "steps", "trajectory", "passes"]
    assert check(res, "forward")["largest"]["max_abs"] < 1e-13
    assert "numpy" not in plugins.get_registry().backends  # unregistered afterwards


def _wrong_h2_table(mod):
    """Output planes 8-11 read H1 planes 8 and 9 in swapped order: H2w's inputs mis-wired."""
    table = list(mod.H2_INPUTS)
    table[8:12] = [(0, 1, 2, 3, 9, 8, 10, 11)] * 4
    mod.H2_INPUTS = tuple(table)
    mod.NumpyBackend.name = "numpy_h2"


def test_wrong_h2_table_named_as_the_first_layer_that_differs(tmp_path):
    """Two copies of the example backend, the second with a wrong H2 connection table: forward compares
    each layer's activations and names H2 (H1 agrees, H2 and everything after it differs); the
    gradient check names H2 too (issue 18 item 2: before, it named `out`)."""
    good, bad = load_readme_plugin(tmp_path, "readme_good"), load_readme_plugin(tmp_path, "readme_bad")
    _wrong_h2_table(bad)
    with registered(good, "readme-good"), registered(bad, "readme-bad"):
        code, res = parity(tmp_path, "--backends", "numpy,numpy_h2", "--dataset", "synthetic", "--steps", "1",
                           "--passes", "0")
    assert code == 1
    fwd = check(res, "forward")
    assert fwd["first_layer"] == {"numpy_h2:eager": "H2"}
    rows = {r["tensor"]: r["passed"] for r in fwd["rows"] if r["params"] == "initial parameters"}
    assert rows == {"outputs": False, "H1 activations": True, "H2 activations": False, "H3 activations": False,
                    "out activations": False}
    assert "first layer that differs: numpy_h2:eager H2" in fwd["summary"]
    print(fwd["summary"])
    # the gradient check, which would name `out` (the first in backprop order), defers to forward's H2
    grads = check(res, "grads")
    assert grads["passed"] is False and grads["first_layer"] == {"numpy_h2:eager": "H2"}
    assert grads["first_layer_from_forward"] == ["numpy_h2:eager"]
    assert "first layer that differs, from the forward check: numpy_h2:eager H2" in grads["summary"]
    assert "(backprop order out, H3, H2, H1): numpy_h2:eager out" not in grads["summary"]


def test_wrong_h2_gradient_named_in_backprop_order(tmp_path):
    """A backward pass that hands back H2w's gradient with its 8 inputs reversed (forward right): the
    grads check names H2 as the layer whose gradient goes wrong first (out and H3 agree)."""
    good, bad = load_readme_plugin(tmp_path, "readme_good2"), load_readme_plugin(tmp_path, "readme_bad2")
    inner = bad.NumpySession._loss_grads

    def loss_grads(self, *a):
        loss, g = inner(self, *a)
        return loss, {**g, "H2w": g["H2w"][:, ::-1].copy()}

    bad.NumpySession._loss_grads = loss_grads
    bad.NumpyBackend.name = "numpy_dh2"
    with registered(good, "readme-good2"), registered(bad, "readme-bad2"):
        code, res = parity(tmp_path, "--backends", "numpy,numpy_dh2", "--dataset", "synthetic", "--steps", "1",
                           "--passes", "0")
    assert code == 1
    assert check(res, "forward")["passed"]
    grads = check(res, "grads")
    assert grads["first_layer"] == {"numpy_dh2:eager": "H2"}
    assert "first layer whose gradient differs (backprop order out, H3, H2, H1): numpy_dh2:eager H2" in grads["summary"]
    print(grads["summary"])


@pytest.mark.parametrize("dtype, variant, compared", [
    ("float32", "1989", True), ("float64", "1989", False), ("float32", "modern", False)])
def test_declared_support_compared_where_declared_refused_where_named_elsewhere(tmp_path, capsys, dtype, variant,
                                                                                compared):
    """The example backend declaring only 1989 and float32: compared there; named elsewhere, a usage
    error (exit 2, one line with the reason, no result), never torch checked against itself as a PASS."""
    mod = load_readme_plugin(tmp_path)
    mod.NumpyBackend.variants, mod.NumpyBackend.dtypes = ("1989",), ("float32",)
    args = ["--backends", "torch,numpy", "--strategies", "eager", "--dataset", "synthetic", "--dtype", dtype,
            "--variant", variant, "--steps", "1", "--passes", "0"]
    with registered(mod, "readme-numpy-1989-f32"):
        if compared:
            code, res = parity(tmp_path, *args)
            assert code == 0 and res["config"]["targets"] == ["numpy:eager"], res["summary"]
            return
        code = main(["parity", "--results-dir", str(tmp_path / "results"), *args])
    assert code == 2 and not list((tmp_path / "results").glob("parity-*.json"))
    what = f"dtype '{dtype}'" if dtype != "float32" else f"variant '{variant}'"
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "numpy" in line and what in line


def test_numpy_example_agrees_with_itself_batched(tmp_path):
    """forward on a batch equals forward one example at a time (the im2col code is batch-correct)."""
    mod = load_readme_plugin(tmp_path)
    from harness.spec import VARIANTS, init_params

    s = mod.NumpyBackend().session(variant=VARIANTS["1989"], params=init_params(3, "float64"), dtype="float64",
                                   device="cpu", strategy="eager")
    x = np.random.default_rng(0).uniform(-1, 1, (5, 1, 16, 16))
    one = np.concatenate([s.forward(x[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(s.forward(x), one, rtol=0, atol=1e-15)
    assert {k: v.shape for k, v in s.activations(x).items()} == {
        "H1": (5, 12, 8, 8), "H2": (5, 12, 4, 4), "H3": (5, 30), "out": (5, 10)}


def test_conformance_kit_catches_the_wrong_h2_table(tmp_path):
    """harness.testing on a Backend object (registered for the call only): the protocol check passes
    (shapes are right), assert_parity fails naming H2 as the first layer that differs."""
    from harness.testing import assert_parity, assert_session_conforms

    good, bad = load_readme_plugin(tmp_path, "readme_good3"), load_readme_plugin(tmp_path, "readme_bad3")
    _wrong_h2_table(bad)
    backend = bad.NumpyBackend()
    assert_session_conforms(backend)
    with pytest.raises(AssertionError, match="forward: FAIL.*numpy_h2:eager outputs"):
        assert_parity(backend, reference="torch:eager", steps=(1,), passes=0)
    with registered(good, "readme-good3"), \
            pytest.raises(AssertionError, match="first layer that differs: numpy_h2:eager H2"):
        assert_parity(backend, reference="numpy", steps=(1,), passes=0)  # a reference with activations()
    assert "numpy_h2" not in plugins.get_registry().names()


def test_readme_plugin_declares_no_knobs_and_is_never_handed_one_it_does_not_compute(tmp_path, data_dir, capsys):
    """Written before recipe knobs existed: the knobs the core computes reach it as data it already
    reads (targets, initial values, learning rate) and it agrees with torch; a knob it would compute
    (an activation) is never handed to it: named, it is refused with the reason (exit 2), never
    skipped into a PASS of torch against itself."""
    mod = load_readme_plugin(tmp_path)
    assert not hasattr(mod.NumpyBackend, "knobs")
    with registered(mod, "readme-numpy-knobs"):
        code, res = parity(tmp_path, "--backends", "torch,numpy", "--strategies", "eager", "--dtype", "float64",
                           "--data-dir", str(data_dir), "--set", "targets=0.8", "--set", "init=fan_in",
                           "--set", "sgd_lr=0.05", *QUICK)
        assert code == 0, res["summary"]
        assert res["config"]["targets"] == ["numpy:eager"] and res["recipe"]["label"] == \
            "1989 targets=0.8 init=fan_in sgd_lr=0.05"
        capsys.readouterr()
        code = main(["parity", "--results-dir", str(tmp_path / "scaled"), "--backends", "torch,numpy",
                     "--strategies", "eager", "--dataset", "synthetic", "--set", "activation=scaled_tanh",
                     "--steps", "1", "--passes", "0"])
    assert code == 2 and not list((tmp_path / "scaled").glob("parity-*.json"))
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "numpy" in line and "activation=scaled_tanh" in line and "declares no values" in line, line
