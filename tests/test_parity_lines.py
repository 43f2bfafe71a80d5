"""harness.parity's lines word for word: a tolerance's rule text (each part and how the parts are
joined), and where one_line says a plugin's error came from (its own code, in a package or not)."""
from __future__ import annotations

import sys
import textwrap

import pytest

from harness.errors import Unsupported
from harness.parity.compare import _plugin_root, one_line
from harness.parity.tolerances import Tol


@pytest.mark.parametrize("tol, step, n, text", [
    (Tol(), None, None, "0"),
    (Tol(atol=1e-6), None, None, "1e-06"),
    (Tol(rtol=1e-5), None, None, "1e-05·|b|"),
    (Tol(scale=1e-7), None, None, "1e-07·max|b|"),
    (Tol(atol=1e-6, rtol=1e-5), None, None, "1e-06+1e-05·|b|"),
    (Tol(atol=1e-6, scale=1e-7, rtol=1e-5), None, None, "1e-06+1e-07·max|b|+1e-05·|b|"),
    (Tol(scale=3e-7, rtol=2e-5), None, None, "3e-07·max|b|+2e-05·|b|"),
    (Tol(rtol=0.15), None, None, "0.15·|b|"),  # float32 modern eval_losses: `.0e` printed it as 1e-01
    (Tol(atol=2e-7, power=1.5), None, None, "2e-07·k^1.5"),
    (Tol(atol=2e-7, power=1.5), 4, None, "1.6e-06"),  # 2e-7 * 4**1.5 = 1.6e-6, not rounded to 2e-06
    (Tol(atol=2e-7, power=1.5, rtol=1e-5), 1, None, "2e-07+1e-05·|b|"),
    (Tol(atol=1e-6, horizon=20), None, None, "1e-06 (judged to step 20)"),
    (Tol(atol=1e-6, rtol=1e-5, horizon=20), 5, None, "1e-06+1e-05·|b|"),  # at a step: no horizon note
    (Tol(atol=2, count=True), None, None, "2"),
    (Tol(atol=2, rtol=0.01, count=True), None, None, "2+1%·n"),
    (Tol(atol=2, rtol=0.01, count=True), None, 300, "5"),  # floor(2 + 0.01 * 300)
    (Tol(atol=0, rtol=0.005, count=True), None, 199, "0"),  # floor(0.995)
])
def test_tolerance_text_whole(tol, step, n, text):
    assert tol.text(step=step, n=n) == text


def test_tolerance_record_carries_its_rule_text():
    d = Tol(atol=1e-6, scale=1e-7, rtol=1e-5, power=1.0, horizon=30, why="measured").to_dict()
    assert d == {"atol": 1e-6, "rtol": 1e-5, "scale": 1e-7, "power": 1.0, "horizon": 30, "count": False,
                 "rule": "1e-06·k^1+1e-07·max|b|+1e-05·|b| (judged to step 30)", "why": "measured"}


def _plugin(tmp_path, monkeypatch, files: dict[str, str], module: str):
    for rel, src in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(src))
    monkeypatch.syspath_prepend(str(tmp_path))
    top = module.split(".")[0]
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        monkeypatch.delitem(sys.modules, name)
    mod = __import__(module, fromlist=["Backend"])
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        monkeypatch.setitem(sys.modules, name, sys.modules[name])  # removed again after the test
    return mod.Backend()


def _error(backend):
    try:
        backend.train()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("no error")


SESSION = """
def steps():
    raise RuntimeError("boom")
"""

# a Backend in a package, calling into its sibling module `session`
PACKAGED_BACKEND = """
from . import session
class Backend:
    def train(self):
        session.steps()
"""


def test_a_plugin_in_a_top_level_packages_init_owns_its_sibling_modules(tmp_path, monkeypatch):
    """Backend class in `verdtoy/__init__.py` (module name without a dot): the plugin is the
    whole folder, so a frame in verdtoy/session.py is its own code."""
    b = _plugin(tmp_path, monkeypatch, {"verdtoy/__init__.py": PACKAGED_BACKEND, "verdtoy/session.py": SESSION}, "verdtoy")
    assert _plugin_root(b) == str(tmp_path / "verdtoy") + "/"
    assert one_line(_error(b), b) == "RuntimeError: boom (in plugin code at verdtoy/session.py:3 in steps)"


def test_a_plugin_in_a_packages_module_owns_the_package(tmp_path, monkeypatch):
    b = _plugin(tmp_path, monkeypatch, {"verdtoy2/__init__.py": "", "verdtoy2/backend.py": PACKAGED_BACKEND, "verdtoy2/session.py": SESSION}, "verdtoy2.backend")
    assert _plugin_root(b) == str(tmp_path / "verdtoy2") + "/"
    assert one_line(_error(b), b) == "RuntimeError: boom (in plugin code at verdtoy2/session.py:3 in steps)"


def test_a_one_file_plugin_owns_only_its_file(tmp_path, monkeypatch):
    """A top-level module file: its folder holds other code (here a helper module), not the plugin's."""
    b = _plugin(tmp_path, monkeypatch, {"verdtoy3.py": """
        import verdtoy3_helper
        class Backend:
            def train(self):
                verdtoy3_helper.steps()
        """, "verdtoy3_helper.py": SESSION}, "verdtoy3")
    assert _plugin_root(b) == str(tmp_path / "verdtoy3.py")
    assert one_line(_error(b), b) == (
        f"RuntimeError: boom (in plugin code at {tmp_path.name}/verdtoy3.py:5 in train)")


# -- a check's result and its one-line summary ---------------------------------------------------------

from harness.parity.rows import _largest, check_result, error_row, row, versus
from harness.parity.select import Target

T = Tol(atol=1e-6)


def _r(target, tensor, max_abs, passed=True, **extra):
    return {"target": target, "tensor": tensor, "max_abs": max_abs, "max_rel": max_abs / 2, "tol": "1e-06",
            "passed": passed, "where": None, **extra}


@pytest.mark.parametrize("rows, summary", [
    ([], "c: FAIL"),
    ([_r("a:s", "H1w", 2e-7)], "c: PASS: largest |a-b| 2e-07 (a:s H1w; tol 1e-06)"),
    ([_r("a:s", "H1w", 2e-7, k=3, example=4), _r("a:s", "H2w", 1e-7, k=1)],
     "c: PASS: largest |a-b| 2e-07 (a:s H1w, k 3, example 4; tol 1e-06)"),
    ([_r("a:s", "loss", 0.5, passed=False, **{"pass": 2}), _r("b:s", "H1w", 0.25, passed=False, k=5),
      _r("b:s", "H1w", 0.125, passed=False, k=5), _r("c:s", "H2b", 0.1, passed=False, first_step=7)],
     "c: FAIL: largest |a-b| 0.5 (a:s loss, pass 2; tol 1e-06); 4 failing: a:s loss, b:s H1w k=5, c:s H2b from step 7"),
    ([error_row("ref:s", "the reference raised X; nothing compared", reference=True)],
     "c: FAIL; 1 failing: ref:s: the reference raised X; nothing compared"),
    ([_r("a:s", "H1w", 1e-7), error_row("b:s", "ValueError: no")],
     "c: FAIL: largest |a-b| 1e-07 (a:s H1w; tol 1e-06); 1 failing: b:s raised ValueError: no"),
    ([_r(f"t{i}:s", "H1w", 1.0 + i, passed=False) for i in range(7)],
     ("c: FAIL: largest |a-b| 7 (t6:s H1w; tol 1e-06); 7 failing: t0:s H1w, t1:s H1w, t2:s H1w, t3:s H1w, "
      "t4:s H1w, t5:s H1w ...")),
    ([_r(f"t{i}:s", "H1w", 1.0 + i, passed=False) for i in range(6)],
     ("c: FAIL: largest |a-b| 6 (t5:s H1w; tol 1e-06); 6 failing: t0:s H1w, t1:s H1w, t2:s H1w, t3:s H1w, "
      "t4:s H1w, t5:s H1w")),
])
def test_a_checks_summary_whole(rows, summary):
    assert check_result("c", "title", rows, {"params": T})["summary"] == summary


def test_a_summary_beyond_the_horizon_says_so_and_counts_what_was_not_judged():
    """Rows past the horizon: reported (the largest of all steps), not judged; counts never the largest."""
    rows = [_r("a:s", "H1w", 0.5, unjudged=3, within_tol=False, max_abs_all=0.75),
            _r("a:s", "train misses", 4.0, count=True, unjudged=1, within_tol=False)]
    tols = {"params": Tol(atol=1e-6, horizon=20)}
    r = check_result("t", "title", rows, tols)
    assert r["passed"] is True and r["summary"] == (
        "t: PASS: largest |a-b| 0.5 (a:s H1w; tol 1e-06) [beyond the horizon: reported, not judged]; "
        "past the horizon (step 20), 2 rows beyond tolerance, up to 0.75 (reported, not judged)")
    rows = [_r("a:s", "H1w", 0.25, unjudged=3, within_tol=False, judged_to=12),
            _r("a:s", "H2w", 0.5, unjudged=3, within_tol=True)]
    assert check_result("t", "title", rows, tols)["summary"] == (
        "t: PASS: largest |a-b| 0.25 (a:s H1w; tol 1e-06); past the horizon (step 12), 1 rows beyond tolerance, "
        "up to 0.25 (reported, not judged)")
    rows = [_r("a:s", "test misses", 4.0, count=True, unjudged=1, within_tol=False)]
    assert check_result("t", "title", rows, {"m": Tol(atol=1, count=True, horizon=30)})["summary"] == (
        "t: PASS; past the horizon (step 30), 1 rows beyond tolerance (reported, not judged)")


def test_the_largest_row_is_judged_finite_and_never_a_count():
    judged, beyond = _r("a:s", "H1w", 0.25), _r("a:s", "H2w", 0.5, unjudged=2)
    assert _largest([judged, beyond, _r("a:s", "x", float("inf")), _r("a:s", "n", 9.0, count=True),
                     error_row("b:s", "boom")]) is judged
    assert _largest([beyond]) is beyond  # nothing judged: the largest reported
    part = _r("a:s", "H3w", 0.75, unjudged=2, judged_to=5)  # judged up to its horizon: judged
    assert _largest([judged, part]) is part
    assert _largest([_r("a:s", "x", float("nan")), error_row("b:s", "boom")]) is None
    r = check_result("c", "title", [judged, beyond], {"params": T}, {"extra": 1})
    assert r["largest"] == {"target": "a:s", "tensor": "H1w", "max_abs": 0.25, "max_rel": 0.125, "k": None,
                            "pass": None}
    assert (r["name"], r["title"], r["extra"], r["tolerances"]) == ("c", "title", 1, {"params": T.to_dict()})


def test_a_row_whole():
    cmp = {"max_abs": 0.5, "max_rel": 0.25, "passed": False, "where": [1, 2], "step_at": 4, "unjudged": 2,
           "within_tol": False, "max_abs_all": 0.75, "judged_to": 3, "other": "dropped"}
    assert row("a:s", "H1w", cmp, Tol(atol=2e-7, power=1.5), 9, k=3) == {
        "target": "a:s", "tensor": "H1w", "k": 3, "max_abs": 0.5, "max_rel": 0.25, "tol": "1.6e-06", "passed": False,
        "where": [1, 2], "unjudged": 2, "within_tol": False, "max_abs_all": 0.75, "judged_to": 3}
    assert row("a:s", "misses", {"max_abs": 1.0, "max_rel": 0.5, "passed": True}, Tol(atol=1, rtol=0.01, count=True),
               None, 200) == {"target": "a:s", "tensor": "misses", "max_abs": 1.0, "max_rel": 0.5, "tol": "3",
                              "passed": True, "where": None, "count": True}
    assert error_row("a:s", "boom", k=2) == {"target": "a:s", "tensor": "-", "k": 2, "max_abs": None, "max_rel": None,
                                             "tol": "-", "passed": False, "where": None, "error": "boom"}


class _B:
    name = "b"


def test_versus_names_a_raising_target_and_goes_on_and_a_raising_reference_stops():
    ref, good, bad = Target(_B(), "ref"), Target(_B(), "good"), Target(_B(), "bad")

    def run(t):
        if t.strategy == "bad":
            raise ValueError("no")
        return 1.0

    rows_of = lambda t, got, want: [row(t.label, "x", {"max_abs": abs(got - want), "max_rel": 0.0, "passed": True}, T)]
    r = versus("v", "title", ref, [bad, good], run, rows_of, {"p": T}, error_extra=lambda t: {"steps_done": 2})
    assert [(x["target"], x["tensor"], x.get("steps_done")) for x in r["rows"]] == [("b:bad", "-", 2), ("b:good", "x", None)]
    assert r["rows"][0]["error"].startswith("ValueError: no (") and r["passed"] is False
    r = versus("v", "title", bad, [good], run, rows_of, {"p": T})
    assert r["tolerances"] == {} and len(r["rows"]) == 1 and r["rows"][0]["reference"] is True
    assert r["rows"][0]["error"].startswith("the reference raised ValueError: no (")
    assert r["rows"][0]["error"].endswith("; nothing compared")


# -- the checks run, in order, with SDLM's h checked after the gradients ------------------------------------

def test_an_sdlm_run_checks_its_h_after_the_gradients(monkeypatch):
    from types import SimpleNamespace

    from harness.parity import run as prun
    from harness.parity.select import Selection
    from harness.spec import VARIANTS

    calls = []
    for name in ("check_forward", "check_grads", "check_steps", "check_trajectory", "check_passes"):
        monkeypatch.setattr(prun.ch, name, lambda *a, _n=name: calls.append(_n) or {"name": _n[6:]})
    monkeypatch.setattr(prun, "check_hessian", lambda ctx, ref, targets: calls.append(
        ("check_hessian", ref.label, [t.label for t in targets])) or {"name": "grads"})
    ref, a = Target(SimpleNamespace(name="ref"), "s"), Target(SimpleNamespace(name="a"), "s")
    cfg = SimpleNamespace(steps=(2,), passes=1, checks=("forward", "grads", "steps", "trajectory", "passes"),
                          n_forward=3, n_grad=2, limit=None, chunk=None)
    log = []
    for variant, hessian in (("1989-sdlm", True), ("1989", False)):
        calls.clear(), log.clear()
        out = prun._run_checks(SimpleNamespace(config=cfg, variant=VARIANTS[variant]), Selection(ref, [a]), log.append)
        assert len(out) == 5 + hessian
        assert calls == ["check_forward", "check_grads", *([("check_hessian", "ref:s", ["a:s"])] if hessian else []),
                         "check_steps", "check_trajectory", "check_passes"]
        assert log == ["forward: a:s vs ref:s", "grads: a:s vs ref:s", *(["hessian (SDLM's h): a:s vs ref:s"] if hessian
                       else []), "steps k=2: a:s vs ref:s", "trajectory over 2 steps: a:s vs ref:s",
                       "passes (1): a:s vs ref:s"]


@pytest.mark.parametrize("text, steps", [("1,10,100", [1, 10, 100]), (" 5 , 1,5,0 ", [1, 5]), ("", []), ("0", []),
                                         ([3, 1, 3], [1, 3]), ((0, 2), [2]), (",,", [])])
def test_parse_steps(text, steps):
    from harness.parity.run import parse_steps

    assert parse_steps(text) == steps


@pytest.mark.parametrize("text, words", [
    ("1,x", "--steps must be a comma-separated list of integers, not '1,x'"),
    ("1.5", "--steps must be a comma-separated list of integers, not '1.5'"),
    ("3,-1", "--steps must be >= 0, not '3,-1'"),
    ([2, -4], "--steps must be >= 0, not [2, -4]"),
])
def test_parse_steps_refusals_whole(text, words):
    from harness.parity.run import parse_steps

    with pytest.raises(ValueError) as e:
        parse_steps(text)
    assert str(e.value) == words


class _Decl:
    def __init__(self, name, dtypes=None):
        self.name, self.dtypes = name, dtypes

    def environment(self, device):
        if self.name == "broken":
            raise RuntimeError("no device")
        return {"device": device}


def test_supported_skips_with_a_note_and_falls_back_to_a_determinism_check():
    from harness.errors import Unsupported
    from harness.parity.run import environments, supported
    from harness.parity.select import Selection

    ref, ok, f32 = Target(_Decl("ref"), "s"), Target(_Decl("ok"), "s"), Target(_Decl("f32", ("float32",)), "s")
    sel = supported(Selection(ref, [f32, ok], notes=["before"]), "1989", "float64")
    assert sel.targets == [ok] and sel.self_check is False
    assert sel.notes == ["before", "f32:s skipped: backend 'f32' does not support dtype 'float64' (supports: float32)"]
    sel = supported(Selection(ref, [f32]), "1989", "float64")
    assert sel.targets == [ref] and sel.self_check is True and sel.notes == [
        "f32:s skipped: backend 'f32' does not support dtype 'float64' (supports: float32)",
        "no target left: ref:s compared against a second session of itself (a determinism check)"]
    with pytest.raises(Unsupported) as e:
        supported(Selection(f32, [ok]), "1989", "float64")
    assert str(e.value) == ("reference f32:s: backend 'f32' does not support dtype 'float64' (supports: float32); "
                            "choose another with --reference")
    env = environments(Selection(ref, [Target(_Decl("broken"), "s"), Target(_Decl("ref"), "t")]), "cpu")
    assert list(env["backends"]) == ["ref", "broken"] and env["backends"]["ref"] == {"device": "cpu"}
    assert env["backends"]["broken"]["error"].startswith("RuntimeError: no device (at test_parity_lines.py:")
    assert isinstance(env["core"], dict) and env["core"]


# -- the tolerance table: a tolerance loosened (or tightened) by accident is a changed verdict ---------------

F64 = {"forward": (1e-12, 0, 0, 0, None), "loss": (1e-12, 0, 0, 0, None), "grads": (1e-12, 0, 0, 0, None),
       "params": (1e-10, 0, 0, 0, None), "step_losses": (1e-10, 0, 0, 0, None), "eval_losses": (1e-10, 0, 0, 0, None),
       "misses": (0, 0, 0, 0, None), "predictions": (0, 0, 0, 0, None)}
F32 = {"forward": (1e-5, 0, 0, 0, None), "loss": (1e-7, 2e-6, 0, 0, None), "grads": (0, 0, 1e-5, 0, None),
       "params": (5e-7, 0, 0, 0.7, None), "step_losses": (5e-7, 1e-5, 0, 0.7, None),
       "eval_losses": (0, 1e-4, 0, 0, None), "misses": (3, 0, 0, 0, None), "predictions": (6, 0, 0, 0, None)}
F32_MODERN = {**F32, "params": (2e-7, 0, 0, 1.0, 300), "step_losses": (1e-6, 1e-5, 0, 1.0, 300),
              "eval_losses": (0, 0.15, 0, 0, None), "misses": (3, 0.02, 0, 0, None), "predictions": (6, 0, 0, 0, 300)}


def _judged_to(table, horizon):
    return {k: v if k in ("forward", "loss", "grads") else (*v[:4], horizon) for k, v in table.items()}


@pytest.mark.parametrize("variant, dtype, want", [
    ("1989", "float64", F64), ("modern", "float64", F64), ("1989", "float32", F32), ("modern", "float32", F32_MODERN),
    ("1989-sdlm", "float64", _judged_to(F64, 7291)), ("1989-sdlm", "float32", _judged_to(F32, 7291)),
    ("1989-sdlm-fanin", "float64", _judged_to(F64, 7291)), ("1989-sdlm-fanin", "float32", _judged_to(F32, 7291)),
    ("not-measured", "float32", F32),  # a variant not measured: 1989's
])
def test_the_tolerance_table(variant, dtype, want):
    from harness.parity.tolerances import tolerances

    got = tolerances(dtype, variant)
    assert {k: (t.atol, t.rtol, t.scale, t.power, t.horizon) for k, t in got.items()} == want
    assert [k for k, t in got.items() if t.count] == ["misses", "predictions"]
    assert all(t.why for t in got.values())  # each says why


@pytest.mark.parametrize("sets, horizon", [
    ({"sgd_lr": "0.1"}, 2048),  # a step of exactly LARGE_STEP: chaotic, not yet a large step
    ({"sgd_lr": "0.1001"}, 32),
    ({"sgd_lr": "0.03"}, None),  # the named variants' step
    ({"sgd_lr": "0.0301"}, 2048),
    ({"reduction": "sum"}, 32),  # 0.03 x 10 per example
    ({"activation": "relu"}, 2048),
    ({"loss": "xent"}, 2048),
])
def test_a_recipes_horizon_at_each_bound(sets, horizon):
    from harness.parity.tolerances import tolerances
    from harness.recipe import variant_of

    got = tolerances("float64", variant_of("1989", sets))
    assert got["params"].horizon == horizon and got["forward"].horizon is None
    if horizon is not None:
        assert got["params"].why.endswith(f"judged to step {horizon}, reported after it")


def test_a_context_refuses_steps_beyond_the_data_it_is_given_whole():
    from dataclasses import replace

    from harness.config import ParityConfig
    from harness.data import load_dataset
    from harness.parity.checks import Context

    d = load_dataset("synthetic", dtype="float64")
    small = replace(d, train_x=d.train_x[:100], train_labels=d.train_labels[:100])
    cfg = ParityConfig(steps=(1, 5, 300), dataset="synthetic")
    with pytest.raises(ValueError) as e:
        Context.build(cfg, small)
    assert str(e.value) == "--steps 300 exceeds the 100 training examples of synthetic"
    ctx = Context.build(ParityConfig(steps=(1, 100), dataset="synthetic"), small)  # exactly all of them: fine
    assert len(ctx.first_steps) >= 100 and ctx.dtype == "float64" and ctx.seed == cfg.seed and ctx.device == "cpu"


# -- the dtype reaches the reference's resolution too ----------------------------------------------------------

def test_the_reference_is_resolved_for_the_dtype_compared():
    """A reference named with --reference, or the first backend's idiomatic strategy, that does not
    support the dtype: refused (named) or passed over (default) -- never compared in a dtype it lacks."""
    from harness import plugins
    from harness.parity.select import select_targets
    from tests.test_parity_select import _Two

    class _F64Second(_Two):
        name = "f64second"

        def supports(self, strategy, variant, dtype):
            return "float32 only" if strategy == "a" and dtype == "float64" else None

    with plugins.backends_registered(_F64Second(), name="dtype-test"):
        reg = plugins.get_registry()
        sel = select_targets(reg, ["f64second"], None, None, "cpu", variant="1989", dtype="float64")
        assert sel.reference.label == "f64second:b" and sel.self_check is True
        assert sel.notes[0] == ("f64second:a skipped: backend 'f64second' does not support strategy 'a' with "
                                "variant '1989' in float64: float32 only")
        with pytest.raises(Unsupported) as e:
            select_targets(reg, ["f64second"], None, "f64second:a", "cpu", variant="1989", dtype="float64")
        assert str(e.value) == ("backend 'f64second' does not support strategy 'a' with variant '1989' in float64: "
                                "float32 only")
        sel = select_targets(reg, ["f64second"], None, None, "cpu", variant="1989", dtype="float32")
        assert (sel.reference.label, [t.label for t in sel.targets]) == ("f64second:a", ["f64second:b"])


def test_a_float32_reference_is_compared_in_float64():
    """The tolerance is computed in float64 whatever the reference's dtype: in float32, atol 1e-12
    would round to 9.99999996e-13 and a difference of exactly 1e-12 would fail."""
    import numpy as np

    from harness.parity.compare import compare

    got = compare(np.array([1e-12, 0.5]), np.array([0.0, 0.5], dtype=np.float32), Tol(atol=1e-12))
    assert got == {"max_abs": 1e-12, "max_rel": pytest.approx(1.0), "passed": True, "where": [0]}
