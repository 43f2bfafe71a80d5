"""`harness parity`'s own lines (harness.cli.parity): the header naming what is compared and on
what (targets, reference, device, dtype, recipe, data with the examples used, seed, steps, passes),
each check's summary, the verdict and where the result went; with --json, stdout holds the one JSON
object. torch eager against a second registration of itself under another name: a quick PASS."""
from __future__ import annotations

import json

import pytest

from harness import plugins
from harness.cli import main

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def twin():
    from backends.torch import TorchBackend

    class Twin(TorchBackend):
        name = "twin"
        strategies = ("eager",)

    with plugins.backends_registered(Twin(), name="twin-test"):
        yield


ARGS = ["--backends", "torch,twin", "--strategies", "eager", "--dataset", "synthetic", "--steps", "1",
        "--passes", "0", "--limit", "16", "--dtype", "float64", "--seed", "7"]


def test_the_header_verdict_and_result_lines(twin, tmp_path, capsys):
    assert main(["parity", *ARGS, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(ln for ln in lines if ln.startswith("harness parity: "))
    assert head.startswith("harness parity: twin:eager vs reference torch:eager; device cpu, float64, recipe 1989, "
                           "dataset synthetic (16 train / ")
    assert head.endswith(" test), seed 7, steps 1, passes 0")
    (path,) = tmp_path.glob("parity-*.json")
    assert lines[-1] == f"result: {path}"
    assert lines[-2].startswith("parity PASS")
    res = json.loads(path.read_text())
    for c in res["checks"]:
        assert c["summary"] in out


def test_json_keeps_stdout_for_the_object(twin, tmp_path, capsys):
    assert main(["parity", *ARGS, "--json", "--results-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["command"] == "parity" and doc["passed"] is True and doc["result"]["passed"] is True
    assert "harness parity: twin:eager vs reference torch:eager" in err


def test_progress_names_each_check_on_stderr(twin, tmp_path, capsys):
    assert main(["parity", *ARGS, "--json", "--results-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    checking = [ln for ln in err.splitlines() if ln.startswith("checking ")]
    assert checking and all(ln.endswith(": twin:eager vs torch:eager") for ln in checking), err
