"""What parity records and decides, pinned where the seed-2 mutation sample found it loose: a check
result's verdict in its summary, which row is "largest", the run's timestamps, where a plugin's own
code is (for naming the frame that raised), the recipe the reference is resolved with, and SDLM's
h re-estimated before each of parity's passes as train() does. Framework-free fakes throughout."""
from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from harness import plugins
from harness.config import ParityConfig, RunConfig
from harness.data import Dataset
from harness.errors import Unsupported
from harness.parity import Context, Target, check_passes, tolerances
from harness.parity import run as run_mod
from harness.parity.compare import one_line
from harness.parity.rows import _largest, check_result
from harness.parity.select import select_targets
from harness.parity.tolerances import Tol
from harness.recipe import Recipe
from harness.spec import PARAM_SHAPES, VARIANTS
from harness.train import train
from tests.test_limit_denominators import DATA, PredictingBackend, PredictingSession
from tests.test_parity_select import _Two

TOL = Tol(atol=1e-6)


def _row(target, max_abs, passed=True, **extra):
    return {"target": target, "tensor": "W", "max_abs": max_abs, "max_rel": max_abs, "tol": "1e-06",
            "passed": passed, "where": None, **extra}


# ----------------------------------------------------------------- check_result and its largest row


def test_a_passing_check_says_pass_and_a_failing_one_fail_in_its_summary():
    ok = check_result("steps", "T", [_row("a:x", 1e-9)], {"params": TOL})
    assert ok == {"name": "steps", "title": "T", "passed": True,
                  "summary": "steps: PASS: largest |a-b| 1e-09 (a:x W; tol 1e-06)",
                  "largest": {"target": "a:x", "tensor": "W", "max_abs": 1e-9, "max_rel": 1e-9, "k": None,
                              "pass": None},
                  "tolerances": {"params": TOL.to_dict()}, "rows": [_row("a:x", 1e-9)]}
    bad = check_result("steps", "T", [_row("a:x", 1e-9), _row("b:y", 0.5, passed=False, k=3)], {"params": TOL},
                       extra={"more": 1})
    assert bad["passed"] is False and bad["more"] == 1
    assert bad["summary"] == "steps: FAIL: largest |a-b| 0.5 (b:y W, k 3; tol 1e-06); 1 failing: b:y W k=3"
    empty = check_result("steps", "T", [], {})
    assert (empty["passed"], empty["summary"], empty["largest"]) == (False, "steps: FAIL", None)


def test_the_largest_row_is_a_judged_measured_one_else_any_measured_one():
    judged, unjudged = _row("a:x", 0.1), _row("b:y", 9.0, unjudged=3)
    partly = _row("c:z", 0.2, unjudged=1, judged_to=50)  # judged up to its horizon: it counts
    count = _row("d:w", 99.0, count=True)  # a count is never the largest |a-b|
    inf, none = _row("e:v", float("inf")), _row("f:u", None)
    assert _largest([judged, unjudged, count, inf, none]) is judged
    assert _largest([unjudged, judged]) is judged
    assert _largest([judged, unjudged, partly]) is partly
    assert _largest([unjudged, _row("g:t", 1.0, unjudged=2)]) is unjudged  # only unjudged: the largest of them
    assert _largest([count, inf, none]) is None
    summary = check_result("steps", "T", [judged, unjudged], {"params": TOL})["summary"]
    assert summary.startswith("steps: PASS: largest |a-b| 0.1 (a:x W;") and "beyond the horizon" not in summary


def test_the_summary_names_each_failing_row_as_what_failed():
    rows = [{"target": "ref:x", "tensor": "-", "passed": False, "error": "ValueError: v", "reference": True,
             "max_abs": None},
            {"target": "b:y", "tensor": "-", "passed": False, "error": "KeyError: 'k'", "max_abs": None},
            _row("c:z", 0.5, passed=False, first_step=12, k=3),
            {**_row("c:z", 0.1, passed=False, k=7), "tensor": "H2w"}]
    assert check_result("passes", "T", rows, {})["summary"] == (
        "passes: FAIL: largest |a-b| 0.5 (c:z W, k 3; tol 1e-06); 4 failing: ref:x: ValueError: v, "
        "b:y raised KeyError: 'k', c:z W from step 12, c:z H2w k=7")


def test_the_summary_lists_six_failing_names_once_each_then_dots():
    rows = [{**_row(f"t{i}", float(i), passed=False), "tol": "1"} for i in range(7)]
    rows.append(dict(rows[0]))  # the same target and tensor again: named once, counted twice
    assert check_result("x", "T", rows, {})["summary"] == (
        "x: FAIL: largest |a-b| 6 (t6 W; tol 1); 8 failing: t0 W, t1 W, t2 W, t3 W, t4 W, t5 W ...")


def test_a_largest_row_beyond_the_horizon_is_said_to_be_unjudged():
    r = {**_row("a", 0.3, unjudged=2, within_tol=False, example=5), "tol": "1", "pass": 2}
    out = check_result("traj", "T", [r], {"params": Tol(atol=1, horizon=40)})
    assert out["summary"] == (
        "traj: PASS: largest |a-b| 0.3 (a W, pass 2, example 5; tol 1) [beyond the horizon: reported, not judged]; "
        "past the horizon (step 40), 1 rows beyond tolerance, up to 0.3 (reported, not judged)")
    assert out["largest"] == {"target": "a", "tensor": "W", "max_abs": 0.3, "max_rel": 0.3, "k": None, "pass": 2}


# ----------------------------------------------------------------- run_parity's timestamps


class _Other(PredictingBackend):
    name = "other"


def test_run_parity_records_when_it_started_and_finished(monkeypatch):
    stamps = iter(["2026-01-01T00:00:00Z", "2026-01-01T00:00:07Z"])
    monkeypatch.setattr(run_mod, "now_iso", lambda: next(stamps))
    config = ParityConfig(dataset="synthetic", dtype="float64", seed=1, steps=(), passes=1, checks=("passes",))
    sel = run_mod.Selection(Target(PredictingBackend(), "s"), [Target(_Other(), "s")])
    monkeypatch.setattr(run_mod, "supported", lambda selection, *a: selection)  # the fakes declare nothing
    result = run_mod.run_parity(sel, config, DATA)
    assert (result["started"], result["finished"]) == ("2026-01-01T00:00:00Z", "2026-01-01T00:00:07Z")
    assert result["kind"] == "parity" and result["passed"] is True and result["failed_targets"] == []
    assert result["summary"] == [c["summary"] for c in result["checks"]] and result["summary"][0].startswith(
        "passes: PASS")
    assert result["config"]["targets"] == ["other:s"] and result["config"]["reference"] == "predicting:s"
    assert set(result) == {"kind", "started", "finished", "config", "recipe", "notes", "tolerances", "environment",
                           "checks", "trace", "passed", "failed_targets", "summary"}
    assert {k: result["config"][k] for k in ("self_check", "dataset", "dataset_source", "variant")} == {
        "self_check": False, "dataset": "fake", "dataset_source": DATA.source, "variant": "1989"}
    assert result["config"]["variant_config"] == VARIANTS["1989"].to_dict()
    assert result["recipe"] == Recipe("1989").to_dict() and result["notes"] == [] and result["trace"] is None
    assert result["tolerances"] == {k: t.to_dict() for k, t in tolerances("float64", VARIANTS["1989"]).items()}
    assert result["environment"]["backends"] == {"predicting": {}, "other": {}}
    assert set(result["environment"]["core"]) >= {"python", "numpy"}


def test_a_backend_whose_environment_raises_is_recorded_not_fatal(monkeypatch):
    class Broken(_Other):
        name = "broken"

        def environment(self, device):
            raise RuntimeError("no driver")

    sel = run_mod.Selection(Target(PredictingBackend(), "s"), [Target(Broken(), "s")])
    env = run_mod.environments(sel, "cpu")
    assert env["backends"]["predicting"] == {}
    assert env["backends"]["broken"]["error"].startswith("RuntimeError: no driver (at ")


# ----------------------------------------------------------------- where a plugin's own code is


def _import(tmp_path, monkeypatch, files: dict[str, str], module: str):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0] in {r.split("/")[0].removesuffix(".py") for r in files}]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module(module)


def _raise_from(backend):
    try:
        backend.run()
    except ValueError as e:
        return e


def test_a_packaged_plugins_own_code_is_every_module_of_its_package(tmp_path, monkeypatch):
    mod = _import(tmp_path, monkeypatch, {
        "vpkg_parity/__init__.py": "",
        "vpkg_parity/backend.py": "class B:\n    def run(self):\n        from .session import go\n        go()\n",
        "vpkg_parity/session.py": "def go():\n    raise ValueError('bad')\n",
    }, "vpkg_parity.backend")
    b = mod.B()
    assert one_line(_raise_from(b), b) == "ValueError: bad (in plugin code at vpkg_parity/session.py:2 in go)"


def test_a_one_file_plugins_own_code_is_that_file_not_its_neighbours(tmp_path, monkeypatch):
    mod = _import(tmp_path, monkeypatch, {
        "vflat_parity.py": "import vhelper_parity\nclass B:\n    def run(self):\n        vhelper_parity.go()\n",
        "vhelper_parity.py": "def go():\n    raise ValueError('bad')\n",
    }, "vflat_parity")
    b = mod.B()
    name = tmp_path.name
    assert one_line(_raise_from(b), b) == f"ValueError: bad (in plugin code at {name}/vflat_parity.py:4 in run)"


# ----------------------------------------------------------------- the reference resolved with the recipe


class _ReluOnB(_Two):
    name = "reluonb"

    def knobs(self, strategy):
        return {"activation": ("relu", "tanh")} if strategy == "b" else {}


@pytest.fixture
def reg():
    with plugins.backends_registered(_ReluOnB(), name="parity-records-test"):
        yield plugins.get_registry()


def test_the_reference_is_resolved_with_the_recipe(reg):
    relu = Recipe("1989", {"activation": "relu"})
    with pytest.raises(Unsupported, match=r"reluonb:a does not implement activation"):
        select_targets(reg, ["reluonb"], None, "reluonb:a", "cpu", variant="1989", dtype="float32", recipe=relu)
    s = select_targets(reg, ["reluonb"], None, "reluonb:b", "cpu", variant="1989", dtype="float32", recipe=relu)
    assert s.reference.label == "reluonb:b" and s.self_check
    # no --reference: the idiomatic strategy (a) cannot train relu, so the first target that can leads
    s = select_targets(reg, ["reluonb"], None, None, "cpu", variant="1989", dtype="float32", recipe=relu)
    assert s.reference.label == "reluonb:b"
    # and without the knob the idiomatic strategy leads
    s = select_targets(reg, ["reluonb"], None, None, "cpu", variant="1989", dtype="float32", recipe=Recipe("1989"))
    assert s.reference.label == "reluonb:a" and [t.label for t in s.targets] == ["reluonb:b"]


# ----------------------------------------------------------------- SDLM: h before each of parity's passes


class _SdlmSession(PredictingSession):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def hessian_diag(self, steps):
        self.log.append(tuple(np.rint(np.asarray(steps.x)[:, 0, 1, 1] * 1000).astype(int)))  # which examples
        return {k: np.ones(shape) for k, shape in PARAM_SHAPES.items()}

    def set_step_scale(self, scale):
        pass


class _SdlmBackend(PredictingBackend):
    name = "sdlm-fake"

    def __init__(self):
        super().__init__()
        self.logs = []

    def session(self, *, variant, params, dtype, device, strategy):
        self.logs.append([])
        self.sessions.append(_SdlmSession(self.logs[-1]))
        return self.sessions[-1]


def _ided(n_train=600, n_test=10):
    """Images carrying their index (pixel [1, 1]) and the class a PredictingSession predicts: more
    examples than SDLM's 500 for h, so each pass's subset is a different draw."""
    x = np.zeros((n_train + n_test, 1, 16, 16))
    labels = np.arange(n_train + n_test) % 10
    x[:, 0, 0, 0], x[:n_train, 0, 1, 1] = labels / 10, np.arange(n_train) / 1000
    return Dataset("ided", x[:n_train], labels[:n_train], x[n_train:], labels[n_train:], {"n_train": n_train})


def test_parity_passes_estimate_h_before_each_pass_as_train_does():
    variant, data = VARIANTS["1989-sdlm"], _ided()
    trained: list = []
    train(_SdlmSession(trained), RunConfig(backend="sdlm-fake", strategy="s", dataset="synthetic", dtype="float64",
                                           seed=1, epochs=3, variant="1989-sdlm", window=4), data)
    assert len(trained) == 3 and len(set(trained)) == 3  # one estimate per pass, each on its own subset
    config = ParityConfig(dataset="synthetic", dtype="float64", seed=1, steps=(), variant="1989-sdlm")
    ctx = Context(config=config, data=data, variant=variant, params0={}, first_steps=None,
                  tol=tolerances("float64", variant))
    ref, other = _SdlmBackend(), type("OtherSdlm", (_SdlmBackend,), {"name": "other-sdlm"})()
    result = check_passes(ctx, Target(ref, "s"), [Target(other, "s")], passes=3, limit=None, chunk=8)
    assert result["passed"], result["summary"]
    assert ref.logs == [trained] and other.logs == [trained]


# ----------------------------------------------------------------- what the backends declare they support


class _ModernOnly(_Other):
    name = "modernonly"
    variants = ("modern",)


def test_supported_skips_undeclared_targets_with_a_note_and_refuses_an_unsupported_reference():
    ref, other, modern = Target(PredictingBackend(), "s"), Target(_Other(), "s"), Target(_ModernOnly(), "s")
    why = "backend 'modernonly' does not support variant '1989' (supports: modern)"
    s = run_mod.supported(run_mod.Selection(ref, [modern, other], ["earlier"]), "1989", "float64")
    assert [t.label for t in s.targets] == ["other:s"] and not s.self_check
    assert s.notes == ["earlier", f"modernonly:s skipped: {why}"]
    s = run_mod.supported(run_mod.Selection(ref, [modern]), "1989", "float64")
    assert [t.label for t in s.targets] == ["predicting:s"] and s.self_check
    assert s.notes == [f"modernonly:s skipped: {why}", ("no target left: predicting:s compared against a second "
                       "session of itself (a determinism check)")]
    with pytest.raises(Unsupported) as e:
        run_mod.supported(run_mod.Selection(modern, [ref]), "1989", "float64")
    assert str(e.value) == f"reference modernonly:s: {why}; choose another with --reference"


# ----------------------------------------------------------------- every check's title and summary, whole


@pytest.fixture(scope="module")
def numpy_pair(tmp_path_factory):
    """The README's NumPy backend as reference, and a second copy of it under another name as target."""
    from tests.test_readme_plugin import load_readme_plugin

    mod = load_readme_plugin(tmp_path_factory.mktemp("np"), "my_numpy_records.harness_plugin")
    other = type("OtherNumpy", (mod.NumpyBackend,), {"name": "other-np"})
    s = mod.NumpyBackend.strategies[0]
    return Target(mod.NumpyBackend(), s), Target(other(), s)


@pytest.mark.parametrize("passes, n_forward, shown", [(2, 5, 5), (1, 1000, 256)])
def test_every_checks_title_says_what_was_compared(numpy_pair, passes, n_forward, shown):
    from harness.data import load_dataset

    config = ParityConfig(dataset="synthetic", dtype="float64", seed=1, steps=(1, 3), passes=passes, limit=8,
                          n_forward=n_forward, n_grad=2, chunk=4)
    ref, target = numpy_pair
    result = run_mod.run_parity(run_mod.Selection(ref, [target]), config, load_dataset("synthetic", dtype="float64",
                                                                                       seed=1))
    s = target.strategy
    assert {c["name"]: c["title"] for c in result["checks"]} == {
        "forward": (f"forward outputs on the first {shown} test images (evaluation mode), at the initial parameters "
                    "and with every bias non-zero"),
        "grads": "loss and gradient of every parameter on each of the first 2 training examples (pass 1's draws)",
        "steps": "parameters after k per-example steps, k in 1, 3 (a fresh session per k, k steps in one "
                 "train_steps call)",
        "trajectory": "parameter trajectory: after each of the first 3 steps, one step per train_steps call",
        "passes": (f"{passes} whole pass{'es' if passes > 1 else ''} of 8 examples (train_steps in chunks of 4), "
                   "then evaluation of train (8) and test (256)"),
    }
    assert result["summary"] == [
        f"forward: PASS: largest |a-b| 0 (other-np:{s} outputs; tol 1e-12)",
        f"grads: PASS: largest |a-b| 0 (other-np:{s} loss, example 0; tol 1e-12)",
        f"steps: PASS: largest |a-b| 0 (other-np:{s} H1w, k 1; tol 1e-10)",
        f"trajectory: PASS: largest |a-b| 0 (other-np:{s} H1w; tol 1e-10)",
        f"passes: PASS: largest |a-b| 0 (other-np:{s} step losses, pass 1; tol 1e-10)",
    ]


# ----------------------------------------------------------------- compare works in float64


def test_compare_reports_float32_tensors_by_their_float64_values():
    """A float32 backend's tensors are compared in float64: |a-b|, the relative figure and the verdict
    are those of the same values held in float64 (no float32 rounding in |b| + EPS or rtol * |b|)."""
    from harness.parity.compare import compare

    b = np.array([3e-13, 1.0, 0.3], np.float32)
    a = np.array([1e-13, 1.0 + 2**-20, 0.3], np.float32)
    for tol in (Tol(rtol=0.1), Tol(atol=1e-6), Tol(scale=1e-6)):
        assert compare(a, b, tol) == compare(a.astype(np.float64), b.astype(np.float64), tol)


class _KnobsNone(PredictingBackend):
    name = "knobless"

    def knobs(self, strategy):
        return {}  # implements no knob beyond the variant's own values


class _Relu(PredictingBackend):
    def knobs(self, strategy):
        return {"activation": ("tanh", "relu")}


class _OtherRelu(_Relu):
    name = "other"


def test_run_parity_leaves_out_a_target_that_cannot_train_the_configs_recipe_and_says_why():
    """The Python API's way in (no CLI before it): the recipe travels with the support check, so a
    target that does not implement a knob is skipped with its reason, not compared on another recipe."""
    config = ParityConfig(dataset="synthetic", dtype="float64", seed=1, steps=(), passes=1, checks=("passes",),
                          recipe=(("activation", "relu"),))
    sel = run_mod.Selection(Target(_Relu(), "s"), [Target(_KnobsNone(), "s"), Target(_OtherRelu(), "s")])
    result = run_mod.run_parity(sel, config, DATA)
    assert result["config"]["targets"] == ["other:s"] and result["config"]["self_check"] is False
    [note] = result["notes"]
    assert note.startswith("knobless:s skipped: backend 'knobless' does not support recipe '1989 activation=relu': ")
