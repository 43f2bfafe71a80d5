"""parity's bookkeeping as units, on small numpy arrays (no framework, no training): a trajectory's
row (the first step beyond tolerance and its worst tensor, or the worst of every tensor when
none fails), the first failing layer per target, a parameter set missing a tensor, a pass's rows,
and the row and check-result shapes every check shares. The torch parity runs (test_parity)
check the same code end to end; these pin each promise where a wrong index or key would hide."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness.parity import checks
from harness.parity.rows import check_result, row
from harness.parity.tolerances import Tol
from harness.spec import PARAM_NAMES

TOL = Tol(atol=1e-3)


def _params(value: float = 0.0, **at) -> dict:
    return {k: np.full(3, at.get(k, value)) for k in PARAM_NAMES}


def test_a_trajectory_within_tolerance_reports_its_worst_tensor_of_all():
    tr = checks._Trajectory(TOL)
    tr.add(0, _params(), _params())
    tr.add(1, _params(H2w=5e-4), _params())
    tr.add(2, _params(H3b=2e-4), _params())
    r = tr.row("jax:scan", 2)
    assert r["target"] == "jax:scan" and r["tensor"] == "H2w" and r["passed"]
    assert r["first_step"] is None and r["worst_of"] == len(PARAM_NAMES) == 8
    assert r["max_abs"] == pytest.approx(5e-4)
    assert "first_step_beyond_horizon" not in r and "max_abs_all_steps" not in r


def test_a_trajectory_names_the_first_failing_step_and_its_worst_tensor():
    tr = checks._Trajectory(TOL)
    tr.add(0, _params(), _params())
    tr.add(1, _params(H1w=5e-4), _params())
    tr.add(2, _params(H1b=2e-3, outw=4e-3), _params())  # first step beyond: outw is its worst
    tr.add(3, _params(H1b=9e-2), _params())  # worse later, but not first
    r = tr.row("t", 3)
    assert (r["tensor"], r["first_step"], r["passed"]) == ("outw", 2, False)
    assert r["max_abs"] == pytest.approx(4e-3)
    assert r["max_abs_all_steps"] == pytest.approx(9e-2)  # the largest over every step after the start
    assert "worst_of" not in r


def test_a_trajectory_beyond_its_horizon_is_reported_with_the_step_it_parted_at():
    tol = Tol(atol=1e-3, horizon=1)
    tr = checks._Trajectory(tol)
    tr.add(1, _params(), _params())
    tr.add(2, _params(H2b=1.0), _params())
    r = tr.row("t", 2)
    assert r["passed"] and r["first_step"] is None and r["first_step_beyond_horizon"] == 2


def test_first_failing_layer_per_target_in_the_given_order():
    rows = [{"target": "a", "layer": "H3", "passed": False}, {"target": "a", "layer": "H1", "passed": True},
            {"target": "a", "layer": "H2", "passed": False}, {"target": "b", "layer": "out", "passed": True},
            {"target": "c", "layer": "out", "passed": False}]
    assert checks._first_failing(rows, checks.LAYERS, lambda r: r["layer"]) == {"a": "H2", "b": None, "c": "out"}
    backprop = tuple(reversed(checks.LAYERS))
    assert checks._first_failing(rows, backprop, lambda r: r["layer"]) == {"a": "H3", "b": None, "c": "out"}


def test_say_first_names_only_targets_with_a_failing_layer():
    result = checks._say_first({"summary": "forward: FAIL"}, {"a": "H2", "b": None, "c": "out"}, "first layer")
    assert result["summary"] == "forward: FAIL; first layer: a H2, c out"
    assert result["first_layer"] == {"a": "H2", "b": None, "c": "out"}
    result = checks._say_first({"summary": "forward: PASS"}, {"b": None}, "first layer")
    assert result["summary"] == "forward: PASS"


def test_params_rows_one_per_tensor_and_a_missing_tensor_is_named():
    rows = checks._params_rows("t", _params(H1w=1.0), _params(), TOL, 7, k=7)
    assert [r["tensor"] for r in rows] == list(PARAM_NAMES)
    assert [r["passed"] for r in rows] == [k != "H1w" for k in PARAM_NAMES]
    assert all(r["k"] == 7 for r in rows)
    got = {k: v for k, v in _params().items() if k not in ("H2b", "outw")}
    with pytest.raises(KeyError, match="get_params returned no H2b, outw"):
        checks._params_rows("t", got, _params(), TOL, None)


def test_worst_per_tensor_prefers_a_failing_example_and_names_missing_gradients():
    want = [(0.5, _params()), (0.5, _params()), (0.5, _params())]
    got = [(0.5, _params(H1w=5e-4)), (0.5, _params(H1w=2e-3)), (0.5009, _params(H1w=9e-4))]
    rows = {r["tensor"]: r for r in checks._worst_per_tensor("t", got, want, TOL, TOL)}
    assert (rows["H1w"]["example"], rows["H1w"]["passed"]) == (1, False)
    assert (rows["loss"]["example"], rows["loss"]["passed"]) == (2, True)
    with pytest.raises(KeyError, match="loss_and_grads returned no gradient for outb"):
        checks._worst_per_tensor("t", [(0.5, {k: v for k, v in _params().items() if k != "outb"})],
                                 want[:1], TOL, TOL)


def _eval(loss, misses, predictions):
    return SimpleNamespace(loss=loss, misses=misses, predictions=np.asarray(predictions))


def test_pass_rows_judge_losses_misses_predictions_and_params_of_each_split():
    tol = {"step_losses": TOL, "eval_losses": TOL, "misses": Tol(atol=0, count=True),
           "predictions": Tol(atol=1, count=True), "params": TOL}
    w = {"losses": np.array([0.5, 0.4]), "train": _eval(0.3, 2, [1, 2, 3, 4]), "test": _eval(0.6, 1, [0, 0, 1]),
         "params": _params()}
    g = {"losses": np.array([0.5, 0.4]), "train": _eval(0.3, 3, [1, 2, 3, 5]), "test": _eval(0.7, 1, [0, 0, 1]),
         "params": _params()}
    rows = {r["tensor"]: r for r in checks._pass_rows("t", 2, 2, g, w, tol)}
    assert list(rows)[:9] == ["step losses", "train loss", "train misses", "train predictions differing",
                              "test loss", "test misses", "test predictions differing", *PARAM_NAMES[:2]]
    assert all(r["pass"] == 2 for r in rows.values())
    assert rows["train misses"]["passed"] is False and (rows["train misses"]["value"], rows["train misses"]["reference"]) == (3, 2)
    assert rows["train predictions differing"]["max_abs"] == 1 and rows["train predictions differing"]["of"] == 4
    assert rows["train predictions differing"]["passed"] and rows["train loss"]["passed"]
    assert rows["test loss"]["passed"] is False and rows["test misses"]["passed"]
    assert checks._metrics(g) == {"train_pass_loss": pytest.approx(0.45), "train_loss": 0.3, "train_misses": 3,
                                  "test_loss": 0.7, "test_misses": 1}


def test_a_row_takes_the_tolerance_at_the_step_shown_and_keeps_what_compare_found():
    tol = Tol(atol=1e-3, power=1.0)
    cmp = {"max_abs": 0.5, "max_rel": 1.0, "passed": True, "where": [2], "step_at": 100, "unjudged": 3,
           "within_tol": False, "max_abs_all": 0.9, "judged_to": 50, "ignored": 1}
    r = row("t", "H1w", cmp, tol, step=7, extra_field="x")
    assert r["tol"] == "0.1"  # atol at step 100 (step_at), not at the row's step 7
    assert row("t", "H1w", {k: v for k, v in cmp.items() if k != "step_at"}, tol, step=7)["tol"] == "0.007"
    assert {k: r[k] for k in ("unjudged", "within_tol", "max_abs_all", "judged_to", "where", "extra_field")} == {
        "unjudged": 3, "within_tol": False, "max_abs_all": 0.9, "judged_to": 50, "where": [2], "extra_field": "x"}
    assert "ignored" not in r and "count" not in r
    assert row("t", "misses", {"max_abs": 1.0, "max_rel": 1.0, "passed": True}, Tol(atol=2, count=True), n=10)["count"]


def test_a_check_result_passes_only_with_rows_all_passing_and_says_its_largest():
    rows = [row("a", "H1w", {"max_abs": 0.2, "max_rel": 0.1, "passed": True}, TOL),
            row("a", "misses", {"max_abs": 9.0, "max_rel": 1.0, "passed": True}, Tol(atol=9, count=True), n=10),
            row("b", "H2w", {"max_abs": 0.1, "max_rel": 0.1, "passed": False}, TOL)]
    out = check_result("steps", "title", rows, {"params": TOL})
    assert out["passed"] is False and out["largest"]["tensor"] == "H1w"  # a count is never the largest
    assert out["summary"] == "steps: FAIL: largest |a-b| 0.2 (a H1w; tol 0.001); 1 failing: b H2w"
    assert check_result("steps", "t", rows[:1], {})["passed"] is True
    assert check_result("steps", "t", [], {})["passed"] is False  # no rows: nothing compared, no PASS


@pytest.mark.parametrize("inf", [np.inf, -np.inf])
def test_an_infinite_reference_entry_does_not_widen_the_tolerance_of_the_others(inf):
    """scale * max|b| is over b's finite entries: an inf (of either sign) that both sides share
    is equal, and must not make every other difference pass."""
    from harness.parity.compare import compare

    b = np.array([inf, 1.0, 2.0])
    with np.errstate(invalid="ignore"):  # inf - inf, which compare sets to 0 where both are the same inf
        out = compare(np.array([inf, 1.0, 2.5]), b, Tol(scale=1e-6))
        assert out["passed"] is False and out["max_abs"] == 0.5 and out["where"] == [2]
        assert compare(np.array([inf, 1.0, 2.0 + 1e-7]), b, Tol(scale=1e-6))["passed"] is True  # 1e-7 <= 2e-6


@pytest.mark.parametrize("sets, dtype, base, horizon", [
    ({"activation": "relu"}, "float32", ("modern", "float32"), None),  # ReLU in float32: modern's measured chaos
    ({"optimizer": "adamw"}, "float32", ("modern", "float32"), None),
    ({"activation": "relu"}, "float64", ("1989", "float64"), 2048),  # float64: judged to the knob's horizon
    ({"targets": "0.8"}, "float32", ("1989", "float32"), None),  # nothing chaotic: 1989's, whole
    ({"activation": "scaled_tanh", "output_activation": "scaled_tanh"}, "float32", ("1989", "float32"), 2048),
])
def test_a_recipes_tolerances_follow_what_it_computes(sets, dtype, base, horizon):
    import importlib

    from harness.recipe import variant_of

    tl = importlib.import_module("harness.parity.tolerances")
    got = tl.tolerances(dtype, variant_of("1989", sets))
    want = tl.TOLERANCES[base]
    assert set(got) == set(want)
    for k, t in got.items():
        judged_whole = k in ("forward", "loss", "grads")
        assert (t.atol, t.rtol, t.scale, t.power, t.count) == (want[k].atol, want[k].rtol, want[k].scale,
                                                                want[k].power, want[k].count), k
        assert t.horizon == (want[k].horizon if horizon is None or judged_whole else horizon), k
        if horizon is not None and not judged_whole:
            assert "amplifies round-off" in t.why and f"judged to step {horizon}" in t.why


def test_the_summary_counts_unjudged_rows_and_the_largest_is_never_a_count():
    """Past the horizon: how many rows, and the largest |a-b| of the values (a count's is no value)."""
    from harness.parity.rows import _summary

    rows = [{"target": "a", "tensor": "H1w", "passed": True, "within_tol": False, "max_abs": 0.1,
             "max_abs_all": 0.3, "unjudged": 2, "judged_to": 50},
            {"target": "a", "tensor": "misses", "passed": True, "within_tol": False, "max_abs": 9.0, "count": True},
            {"target": "a", "tensor": "H2w", "passed": True, "max_abs": 0.01, "tol": "1"}]
    s = _summary("trajectory", rows, True, rows[2], {"params": Tol(atol=1, horizon=50)})
    assert s == ("trajectory: PASS: largest |a-b| 0.01 (a H2w; tol 1); past the horizon (step 50), "
                 "2 rows beyond tolerance, up to 0.3 (reported, not judged)")
    only_counts = _summary("passes", rows[1:2], True, None, {"misses": Tol(atol=1, horizon=7, count=True)})
    assert only_counts == ("passes: PASS; past the horizon (step 7), 1 rows beyond tolerance (reported, not judged)")


def test_the_one_line_verdict_claims_agreement_only_where_it_was_compared():
    from harness.parity.run import _forward_first, verdict

    cfg = {"targets": ["jax:scan", "jax:step"], "reference": "torch:eager"}
    assert verdict({"passed": True, "config": cfg}) == ("PASS: every backend agrees (jax:scan, jax:step against "
                                                        "the reference torch:eager)")
    assert verdict({"passed": True, "config": {**cfg, "targets": ["torch:eager"], "self_check": True}}) == (
        "PASS as a determinism check only: torch:eager against a second session of itself; no other "
        "implementation was compared")
    assert verdict({"passed": False, "failed_targets": ["jax:scan", "jax:step"], "config": cfg}) == (
        "FAIL: mismatch in jax:scan, jax:step")
    assert verdict({"passed": False, "failed_targets": []}) == "FAIL: mismatch in no target (nothing compared)"
    assert verdict({}) == "FAIL: mismatch in no target (nothing compared)"
    checks_run = [{"name": "grads", "first_layer": {"a": "out"}}, {"name": "forward", "first_layer": {"a": "H1"}}]
    assert _forward_first(checks_run) == {"a": "H1"}
    assert _forward_first(checks_run[:1]) is None


class _Plugin:
    def boom(self, msg="bad value\nsecond line"):
        raise ValueError(msg)


def _raised(msg="bad value\nsecond line"):
    try:
        _Plugin().boom(msg)
    except ValueError as e:
        return e


def test_one_line_names_the_exception_and_the_plugins_own_frame():
    import inspect

    from harness.parity.compare import one_line

    line = inspect.getsourcelines(_Plugin.boom)[1] + 1
    e = _raised()
    assert one_line(e, _Plugin()) == f"ValueError: bad value (in plugin code at tests/test_parity_helpers.py:{line} in boom)"
    assert one_line(e) == f"ValueError: bad value (at test_parity_helpers.py:{line})"
    # a backend whose code is elsewhere (here: the harness's own package): no frame of its own
    assert one_line(e, TOL) == (f"ValueError: bad value (at tests/test_parity_helpers.py:{line} in boom; "
                                "no frame of the plugin's own code)")
    assert one_line(_raised("x" * 300)).startswith("ValueError: " + "x" * 197 + "... (at ")
    assert one_line(_raised("")).startswith("ValueError (at ")
    assert one_line(KeyError()) == "KeyError"  # never raised: no frame to name


class _Steps:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def slice(self, i, j):
        return i


def _grads_ctx(wrong: dict[str, dict[str, float]]):
    """A Context stand-in: each target's session returns the reference's gradients (all zero, loss
    0.5) plus the offsets `wrong` gives it, per tensor."""
    from harness.parity.select import Target

    def session(t):
        off = wrong.get(t.label, {})
        return SimpleNamespace(loss_and_grads=lambda i: (0.5, _params(**off)))

    return SimpleNamespace(session=session, first_steps=_Steps(3), tol={"loss": TOL, "grads": TOL}), [
        Target(SimpleNamespace(name=b), "s") for b in ("ref", "good", "bad", "worse")]


def test_grads_name_the_first_wrong_layer_in_backprop_order_or_defer_to_forward():
    ctx, (ref, good, bad, worse) = _grads_ctx({"bad:s": {"H1w": 1.0, "H3b": 1.0}, "worse:s": {"outw": 1.0}})
    r = checks.check_grads(ctx, ref, [good, bad, worse])
    assert r["passed"] is False and r["first_layer"] == {"good:s": None, "bad:s": "H3", "worse:s": "out"}
    assert r["summary"].endswith("; first layer whose gradient differs (backprop order out, H3, H2, H1): "
                                 "bad:s H3, worse:s out")
    assert "first_layer_from_forward" not in r
    # the forward check already named a layer for bad: that one is the one to look at
    r = checks.check_grads(ctx, ref, [good, bad, worse], forward_first={"bad:s": "H1", "good:s": None,
                                                                        "gone:s": "H2"})
    assert r["first_layer"] == {"good:s": None, "bad:s": "H1", "worse:s": "out"}
    assert r["first_layer_from_forward"] == ["bad:s"]
    assert r["summary"].endswith("; first layer whose gradient differs (backprop order out, H3, H2, H1): worse:s out"
                                 "; first layer that differs, from the forward check: bad:s H1")


def test_forward_checks_twice_names_the_first_layer_and_says_which_sides_had_no_layers():
    """At the initial parameters and at drawn non-zero ones: a target that is right only where the
    biases are zero (a dropped bias) fails at the second, named at its first wrong layer."""
    from harness.parity.select import Target
    from harness.spec import VARIANTS

    n = 4

    def session_of(label):
        def session(t, params=None):
            drawn = params is not None
            off = {"bias": {"H2": 1.0, "out": 2.0} if drawn else {}, "noacts": {"out": 1.0}}.get(label, {})
            acts = lambda x: {k: np.full((n, 3), off.get(k, 0.0)) for k in checks.LAYERS if (k, label) != ("H3", "short")}
            s = SimpleNamespace(forward=lambda x: np.full((n, 10), off.get("out", 0.0)))
            if label != "noacts":
                s.activations = acts
            return s
        return session

    ctx = SimpleNamespace(data=SimpleNamespace(test_x=np.zeros((10, 1, 16, 16))), dtype="float64", seed=1,
                          variant=VARIANTS["1989"], tol={"forward": TOL},
                          session=lambda t, params=None: session_of(t.backend.name)(t, params))
    ref, good, bias, noacts, short = (Target(SimpleNamespace(name=b), "s")
                                      for b in ("ref", "good", "bias", "noacts", "short"))
    r = checks.check_forward(ctx, ref, [good, bias, noacts, short], n=n)
    rows = [x for x in r["rows"] if x["target"] == "good:s"]
    assert [(x["tensor"], x["params"]) for x in rows] == [
        (f"{k}{s}", at) for at, s in checks.FORWARD_AT for k in ("outputs", *(f"{L} activations" for L in checks.LAYERS))]
    assert all(x["passed"] for x in rows)
    failing = [x["tensor"] for x in r["rows"] if x["target"] == "bias:s" and not x["passed"]]
    assert failing == ["outputs (non-zero biases)", "H2 activations (non-zero biases)",
                       "out activations (non-zero biases)"]
    assert r["first_layer"] == {"good:s": None, "bias:s": "H2", "short:s": None}  # noacts: outputs only
    assert r["layers_not_compared"] == ["noacts:s"]
    short_row = next(x for x in r["rows"] if x["target"] == "short:s")
    assert short_row["error"].startswith("KeyError: 'activations() returned no H3'")
    assert r["passed"] is False and r["summary"].endswith("; first layer that differs: bias:s H2")


def test_run_checks_runs_what_is_asked_in_order_and_refuses_a_run_of_nothing(monkeypatch):
    from harness.errors import ConfigError
    from harness.parity import run as prun
    from harness.parity.select import Selection, Target
    from harness.spec import VARIANTS

    calls = []
    for name in ("check_forward", "check_grads", "check_steps", "check_trajectory", "check_passes"):
        monkeypatch.setattr(prun.ch, name, lambda *a, _n=name: calls.append((_n, a[3:])) or {"name": _n[6:]})
    ref, a, b = (Target(SimpleNamespace(name=n), "s") for n in ("ref", "a", "b"))
    sel = Selection(ref, [a, b])

    def ctx(**config):
        cfg = {"steps": (), "passes": 0, "checks": ("forward", "grads", "steps", "trajectory", "passes"),
               "n_forward": 3, "n_grad": 2, "limit": None, "chunk": None, **config}
        return SimpleNamespace(config=SimpleNamespace(**cfg), variant=VARIANTS["1989"])

    log = []
    out = prun._run_checks(ctx(steps=(1, 5, 3), passes=2), sel, log.append)
    assert [r["name"] for r in out] == ["forward", "grads", "steps", "trajectory", "passes"]
    assert log == ["forward: a:s b:s vs ref:s", "grads: a:s b:s vs ref:s", "steps k=1,5,3: a:s b:s vs ref:s",
                   "trajectory over 5 steps: a:s b:s vs ref:s", "passes (2): a:s b:s vs ref:s"]
    assert calls[2] == ("check_steps", ([1, 5, 3],)) and calls[3] == ("check_trajectory", (5,))
    calls.clear()
    assert [r["name"] for r in prun._run_checks(ctx(checks=("grads",), steps=(4,)), sel, log.append)] == ["grads"]
    with pytest.raises(ConfigError) as e:
        prun._run_checks(ctx(checks=("steps", "passes"), steps=()), sel, log.append)
    assert str(e.value) == "nothing to check: checks steps,passes with --steps 0 and --passes 0 run none of them"
    with pytest.raises(ConfigError) as e:
        prun._run_checks(ctx(checks=("passes",), steps=(1, 5)), sel, log.append)
    assert str(e.value) == "nothing to check: checks passes with --steps 1,5 and --passes 0 run none of them"
    assert calls == [("check_grads", (2, None))]  # nothing ran for a refused run


def test_pass_rows_judge_end_of_pass_values_at_the_updates_behind_them():
    """Pass 3 of 5 examples: the evaluations and parameters are 15 updates in, so a tolerance that
    grows with the step is taken at 15; the step losses at the updates behind each (10..14)."""
    grow = Tol(atol=1e-3, power=1.0)
    tol = {"step_losses": grow, "eval_losses": grow, "misses": Tol(atol=0, count=True),
           "predictions": Tol(atol=0, count=True), "params": grow}
    w = {"losses": np.full(5, 0.5), "train": _eval(0.3, 2, [1, 2]), "test": _eval(0.6, 1, [0, 1]),
         "params": _params()}
    rows = {r["tensor"]: r for r in checks._pass_rows("t", 3, 5, w, w, tol)}
    assert rows["train loss"]["tol"] == rows["test loss"]["tol"] == "0.015"
    # step losses: at the step of the largest difference (all equal here: the first, 10 updates behind)
    assert rows[PARAM_NAMES[0]]["tol"] == "0.015" and rows["step losses"]["tol"] == "0.01"
    assert all(r["passed"] and r["pass"] == 3 for r in rows.values())
