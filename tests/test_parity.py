"""`harness parity`: correct backends pass, and subtly wrong ones are caught, named and located.

A parity check that cannot fail is worthless: besides backends that must agree
(torch against itself in another strategy, torch against jax), this registers
inline backends that wrap torch but are wrong by a little, and shows that the
check fails, exits 1, and names the tensor (and the step) where it happens.
"""
from __future__ import annotations

import contextlib
import json
import os
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.torch import TorchBackend
from harness import parity as par
from harness import plugins
from harness.backend import Steps
from harness.cli import main
from harness.config import ParityConfig, read_config

DATA_DIR = Path(os.environ.get("HARNESS_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
HAVE_USPS = (DATA_DIR / "usps" / "usps.h5").is_file() or (DATA_DIR / "usps" / "zip.train.gz").is_file()
needs_usps = pytest.mark.skipif(not HAVE_USPS, reason=f"USPS data not found under {DATA_DIR}")

# Small and quick: 2 cores shared; torch eager runs ~1-2 ms per step with one thread.
QUICK = ["--steps", "1,10", "--passes", "1", "--limit", "48"]


# Calls torch directly (reference runs, tiny ops): one intra-op thread, restored afterwards.
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def parity(tmp_path: Path, *args: str) -> tuple[int, dict | None]:
    """Run `harness parity ...` through the CLI; return the exit code and the JSON written (if any)."""
    out = tmp_path / "results"
    code = main(["parity", "--results-dir", str(out), *args])
    files = sorted(out.glob("parity-*.json")) if out.is_dir() else []
    return code, (json.loads(files[-1].read_text()) if files else None)


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


def failing(result: dict, name: str, target: str) -> list[dict]:
    return [r for r in check(result, name)["rows"] if r["target"] == target and not r["passed"]]


# ----------------------------------------------------------------------------- inline backends


class WrappedSession:
    """Delegates to a torch eager session; subclasses plant one bug each."""

    def __init__(self, inner):
        self.inner = inner

    def train_steps(self, steps: Steps) -> np.ndarray:
        return self.inner.train_steps(steps)

    def forward(self, x):
        return self.inner.forward(x)

    def loss_and_grads(self, steps: Steps):
        return self.inner.loss_and_grads(steps)

    def get_params(self):
        return self.inner.get_params()

    def sync(self):
        self.inner.sync()


class OneByOne(WrappedSession):
    """Correct: one inner train_steps call per example (another way to drive the same arithmetic)."""

    def train_steps(self, steps):
        return np.concatenate([self.inner.train_steps(steps.slice(i, i + 1)) for i in range(len(steps))])


class Nudge(WrappedSession):
    """(a) After the 5th update (global step count 5), H3w[0, 0] += 1e-6."""

    count = 0

    def train_steps(self, steps):
        losses = []
        for i in range(len(steps)):
            losses.append(self.inner.train_steps(steps.slice(i, i + 1)))
            self.count += 1
            if self.count == 5:
                with torch.no_grad():
                    self.inner.net.H3w[0, 0] += 1e-6
        return np.concatenate(losses)


def _forward_pad_zero(self, x, mask=None):
    """backends.torch's eager forward with the padding constant 0 instead of -1 (both pads)."""
    F = torch.nn.functional
    x = F.pad(x, (2, 2, 2, 2), "constant", 0.0)
    x = torch.tanh(F.conv2d(x, self.H1w, stride=2) + self.H1b)
    x = F.pad(x, (2, 2, 2, 2), "constant", 0.0)
    s1 = F.conv2d(x[:, 0:8], self.H2w[0:4], stride=2)
    s2 = F.conv2d(x[:, 4:12], self.H2w[4:8], stride=2)
    s3 = F.conv2d(torch.cat((x[:, 0:4], x[:, 8:12]), dim=1), self.H2w[8:12], stride=2)
    x = torch.tanh(torch.cat((s1, s2, s3), dim=1) + self.H2b)
    if mask is not None:
        x = x * mask
    x = torch.tanh(x.flatten(start_dim=1) @ self.H3w + self.H3b)
    return torch.tanh(x @ self.outw + self.outb)


class PadZero(WrappedSession):
    """(b) Pads with 0 instead of -1 (1989 variant)."""

    def __init__(self, inner):
        super().__init__(inner)
        inner.net.forward = types.MethodType(_forward_pad_zero, inner.net)


# A channels-last backend keeps H3w's rows in (H, W, C) order: hwc[r] = chw[PERM[r]].
PERM = np.arange(192).reshape(12, 4, 4).transpose(1, 2, 0).reshape(-1)


class WrongUnpermute(WrappedSession):
    """(c) Converts H3w (and its gradient) back to canonical with PERM again instead of its
    inverse: the forward is right, the canonical H3w and dH3w it hands back are mis-permuted."""

    @staticmethod
    def _back(a):
        hwc = a[PERM]  # what the backend holds, channels-last
        return hwc[PERM]  # bug: should be hwc[np.argsort(PERM)]

    def loss_and_grads(self, steps):
        loss, grads = self.inner.loss_and_grads(steps)
        return loss, {**grads, "H3w": self._back(grads["H3w"])}

    def get_params(self):
        p = self.inner.get_params()
        return {**p, "H3w": self._back(p["H3w"])}


class NoMask(WrappedSession):
    """(d) Ignores the dropout mask the core drew (modern variant)."""

    def train_steps(self, steps):
        return self.inner.train_steps(Steps(steps.x, steps.targets, steps.labels, steps.lr, None))

    def loss_and_grads(self, steps):
        return self.inner.loss_and_grads(Steps(steps.x, steps.targets, steps.labels, steps.lr, None))


class Raises(WrappedSession):
    """A plugin bug: loss_and_grads raises."""

    def loss_and_grads(self, steps):
        raise RuntimeError("boom in loss_and_grads")


class WrapperBackend(TorchBackend):
    """torch, re-registered under another name, each strategy wrapping the session in a class."""

    def __init__(self, name: str, wrappers: dict[str, type], devices: list[str] | None = None):
        self.name = name
        self.strategies = tuple(wrappers)
        self.description = f"torch wrapped: {', '.join(w.__name__ for w in wrappers.values())}"
        self.wrappers = wrappers
        self._devices = devices

    def strategy_devices(self, strategy):
        return self._devices if self._devices is not None else super().strategy_devices(strategy)

    def session(self, *, variant, params, dtype, device, strategy):
        inner = super().session(variant=variant, params=params, dtype=dtype, device=device, strategy="eager")
        return self.wrappers[strategy](inner)


@pytest.fixture
def register():
    """register(name, {strategy: wrapper}) adds an inline plugin; all are unregistered afterwards."""
    with contextlib.ExitStack() as stack:
        def add(name, wrappers, devices=None):
            backend = WrapperBackend(name, wrappers, devices)
            stack.enter_context(plugins.backends_registered(backend, name=f"test-{name}"))
            return backend

        yield add


# ----------------------------------------------------------------------------- correct backends pass


@needs_usps
def test_torch_determinism_on_usps_float64(tmp_path):
    """Real USPS, torch alone: compared against a second session of itself, exactly equal."""
    code, res = parity(tmp_path, "--backends", "torch", "--strategies", "eager", "--data-dir", str(DATA_DIR),
                       *QUICK)
    assert code == 0
    assert res["kind"] == "parity" and res["passed"] is True
    assert res["config"]["dataset"] == "usps" and res["config"]["self_check"] is True
    assert [c["name"] for c in res["checks"]] == ["forward", "grads", "steps", "trajectory", "passes"]
    assert all(r["max_abs"] == 0 for c in res["checks"] for r in c["rows"] if r["max_abs"] is not None)
    assert "torch" in res["environment"]["backends"]
    assert res["environment"]["backends"]["torch"]["precision"]["cuda.matmul.allow_tf32"] is False
    assert len(res["trace"]["max_abs"]["torch:eager"]) == 10


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_correct_wrapper_strategies_pass(tmp_path, register, dtype):
    """Two strategies of another (correct) backend, each compared on its own against torch:eager;
    --strategies by plain name picks them in every backend that has them."""
    register("torchcopy", {"eager": WrappedSession, "onebyone": OneByOne})
    code, res = parity(tmp_path, "--backends", "torch,torchcopy", "--strategies", "eager,onebyone",
                       "--dataset", "synthetic", "--dtype", dtype, *QUICK)
    assert code == 0, res and res["summary"]
    assert res["config"]["reference"] == "torch:eager"
    assert res["config"]["targets"] == ["torchcopy:eager", "torchcopy:onebyone"]
    assert res["tolerances"]["params"] == par.tolerances(dtype, "1989")["params"].to_dict()
    # the configuration is recorded (its reference as resolved) and reads back
    assert read_config(res) == ParityConfig(backends=("torch", "torchcopy"), strategies=("eager", "onebyone"),
                                            reference="torch:eager", dataset="synthetic", dtype=dtype, steps=(1, 10),
                                            passes=1, limit=48)


@needs_usps
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_compiled_vs_eager_on_usps(tmp_path, dtype):
    """torch's other real strategy, on the 1989 data."""
    if "compiled" not in plugins.get_registry().get("torch").strategies:
        pytest.skip("torch has no compiled strategy here")
    code, res = parity(tmp_path, "--backends", "torch", "--strategies", "torch:compiled", "--reference", "torch:eager",
                       "--data-dir", str(DATA_DIR), "--dtype", dtype, *QUICK)
    assert code == 0, res and res["summary"]
    assert res["config"]["targets"] == ["torch:compiled"] and res["config"]["dataset"] == "usps"
    m = check(res, "passes")["metrics"]
    assert [(e["train_misses"], e["test_misses"]) for e in m["torch:compiled"]] == \
        [(e["train_misses"], e["test_misses"]) for e in m["torch:eager"]]


@needs_usps
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_vs_jax_on_usps(tmp_path, dtype):
    reg = plugins.get_registry()
    if "jax" not in reg.backends or reg.reason_unavailable("jax"):
        pytest.skip(f"jax backend unavailable: {reg.reason_unavailable('jax') if 'jax' in reg.names() else 'absent'}")
    jax_strategies = [s for s in reg.backends["jax"].strategies if "cpu" in reg.backends["jax"].strategy_devices(s)]
    code, res = parity(tmp_path, "--backends", "torch,jax", "--strategies", ",".join(("eager", *jax_strategies)),
                       "--data-dir", str(DATA_DIR), "--dtype", dtype, *QUICK)
    assert code == 0, res and res["summary"]
    assert res["config"]["reference"] == "torch:eager"
    assert res["config"]["targets"] == [f"jax:{s}" for s in jax_strategies]
    assert "jax" in res["environment"]["backends"]


# ----------------------------------------------------------------------------- wrong backends are caught


def test_nudged_weight_caught_at_step_5(tmp_path, register):
    """(a) H3w[0,0] += 1e-6 after the 5th update: float64 sees it at step 5, naming H3w."""
    register("nudge", {"eager": Nudge})
    code, res = parity(tmp_path, "--backends", "torch,nudge", "--strategies", "eager", "--dataset", "synthetic",
                       "--steps", "1,10", "--passes", "0")
    assert code == 1 and res["passed"] is False
    [row] = check(res, "trajectory")["rows"]
    assert (row["first_step"], row["tensor"], row["where"]) == (5, "H3w", [0, 0])
    assert row["max_abs"] == pytest.approx(1e-6, rel=1e-3)
    trace = res["trace"]["max_abs"]["nudge:eager"]
    assert max(trace[:4]) < 1e-14 and trace[4] == pytest.approx(1e-6, rel=1e-3)
    assert check(res, "forward")["passed"] and check(res, "grads")["passed"]
    bad = failing(res, "steps", "nudge:eager")
    assert {r["k"] for r in bad} == {10} and "H3w" in {r["tensor"] for r in bad}
    assert res["failed_targets"] == ["nudge:eager"]
    assert "nudge:eager H3w from step 5" in check(res, "trajectory")["summary"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pad_with_zero_caught_in_forward(tmp_path, register, dtype):
    """(b) Padding with 0 instead of -1: the forward check fails, naming outputs."""
    register("pad0", {"eager": PadZero})
    code, res = parity(tmp_path, "--backends", "torch,pad0", "--strategies", "eager", "--dataset", "synthetic",
                       "--dtype", dtype, *QUICK)
    assert code == 1
    rows = check(res, "forward")["rows"]  # at the initial parameters, then with every bias non-zero
    assert [r["tensor"] for r in rows] == ["outputs", "outputs (non-zero biases)"]
    assert all(not r["passed"] and r["max_abs"] > 1e-3 for r in rows)
    summary = check(res, "forward")["summary"]
    assert summary.startswith("forward: FAIL") and "pad0:eager outputs" in summary


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mispermuted_h3w_caught_in_grads(tmp_path, register, dtype):
    """(c) H3w handed back with the wrong row permutation: forward passes, grads fail on H3w only."""
    register("perm", {"eager": WrongUnpermute})
    code, res = parity(tmp_path, "--backends", "torch,perm", "--strategies", "eager", "--dataset", "synthetic",
                       "--dtype", dtype, *QUICK)
    assert code == 1
    assert check(res, "forward")["passed"]
    assert [r["tensor"] for r in failing(res, "grads", "perm:eager")] == ["H3w"]
    assert {r["tensor"] for r in failing(res, "steps", "perm:eager")} == {"H3w"}
    [row] = check(res, "trajectory")["rows"]
    assert (row["first_step"], row["tensor"]) == (0, "H3w")  # wrong from the very first get_params


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ignored_dropout_mask_caught(tmp_path, register, dtype):
    """(d) modern: a backend that ignores the core's dropout mask differs from the first step."""
    register("nomask", {"eager": NoMask})
    code, res = parity(tmp_path, "--backends", "torch,nomask", "--strategies", "eager", "--variant", "modern",
                       "--dataset", "synthetic", "--dtype", dtype, *QUICK)
    assert code == 1
    assert check(res, "forward")["passed"]  # evaluation mode has no dropout: the forward cannot see it
    bad = {r["tensor"] for r in failing(res, "grads", "nomask:eager")}
    assert "loss" in bad and "H3w" in bad
    [row] = check(res, "trajectory")["rows"]
    assert row["first_step"] == 1
    assert not check(res, "passes")["passed"]


def test_backend_that_raises_is_named_and_others_still_compared(tmp_path, register, capsys):
    register("boom", {"eager": Raises})
    register("good", {"eager": WrappedSession})
    code, res = parity(tmp_path, "--backends", "torch,boom,good", "--strategies", "eager", "--dataset", "synthetic",
                       "--steps", "1", "--passes", "0")
    assert code == 1
    [row] = failing(res, "grads", "boom:eager")
    assert row["error"].startswith("RuntimeError: boom in loss_and_grads")
    assert check(res, "forward")["passed"] and check(res, "steps")["passed"]  # boom is fine elsewhere
    assert all(r["passed"] for c in res["checks"] for r in c["rows"] if r["target"] == "good:eager")
    assert res["failed_targets"] == ["boom:eager"]
    out = capsys.readouterr().out
    assert "boom in loss_and_grads" in out and "FAIL" in out


def test_reference_that_raises_is_named(tmp_path, register):
    register("boom", {"eager": Raises})
    code, res = parity(tmp_path, "--backends", "boom,torch", "--strategies", "eager", "--dataset", "synthetic",
                       "--steps", "1", "--passes", "0")
    assert code == 1 and res["config"]["reference"] == "boom:eager"
    [row] = check(res, "grads")["rows"]
    assert row["target"] == "boom:eager" and row["reference"] and "boom in loss_and_grads" in row["error"]
    assert check(res, "forward")["passed"]


# ----------------------------------------------------------------------------- selection and usage errors


def test_a_named_backend_that_cannot_reach_the_device_is_refused_not_skipped(tmp_path, register, capsys):
    """Named with --backends, a backend that cannot reach the device is a usage error (exit 2, one
    line naming it and the device): a PASS over the others would claim it was compared."""
    register("gpuonly", {"eager": WrappedSession}, devices=["cuda"])
    register("good", {"eager": WrappedSession})
    out = tmp_path / "results"
    code = main(["parity", "--backends", "gpuonly,torch,good", "--strategies", "eager", "--dataset", "synthetic",
                 "--steps", "1", "--passes", "0", "--results-dir", str(out)])
    assert code == 2 and not list(out.glob("parity-*.json"))
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "gpuonly" in line and "cuda" in line


@pytest.mark.parametrize("args, message", [
    (["--backends", "nosuch"], "unknown backend 'nosuch'"),
    (["--backends", "torch", "--strategies", "warp"], "no selected backend has a strategy 'warp'"),
    (["--backends", "torch", "--reference", "torch:warp"], "backend 'torch' has no strategy 'warp'"),
    (["--backends", "torch", "--device", "tpu:7"], "cannot reach device 'tpu:7'"),
    (["--backends", "torch", "--steps", "1,x"], "--steps must be a comma-separated list"),
    (["--backends", "torch", "--variant", "1990"], "unknown variant '1990'"),
    (["--backends", "torch", "--steps", "100000"], "exceeds the 512 training examples"),
])
def test_usage_errors_exit_2(tmp_path, capsys, args, message):
    code, res = parity(tmp_path, "--dataset", "synthetic", *args)
    assert code == 2 and res is None
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- comparison rules


def test_compare_rules():
    tol = par.Tol(1e-10, 0.0)
    assert par.compare(np.ones(3), np.ones(3), tol)["passed"]
    c = par.compare(np.array([1.0, 2.0 + 1e-9]), np.array([1.0, 2.0]), tol)
    assert not c["passed"] and c["where"] == [1] and c["max_abs"] == pytest.approx(1e-9, rel=1e-3)
    assert not par.compare(np.array([np.nan]), np.array([0.0]), tol)["passed"]  # NaN on one side
    assert not par.compare(np.zeros((2, 3)), np.zeros((3, 2)), tol)["passed"]  # shapes differ
    assert par.compare(np.array([1.0 + 1e-6]), np.array([1.0]), par.Tol(0.0, 2e-6))["passed"]  # relative part
    grow = par.Tol(1e-7, power=1.5)
    assert grow.atol_at(100) == pytest.approx(1e-4) and grow.atol_at(None) == 1e-7
    for key, tols in par.TOLERANCES.items():  # every tolerance states its reason
        assert all(t.why for t in tols.values()), key
    for variant in ("1989", "modern"):
        # float64 must see a 1e-6 nudge after a whole pass; float32 a 1e-4 one in the first 100 steps
        assert par.tolerances("float64", variant)["params"].atol_at(7291) < 1e-8
        assert par.tolerances("float32", variant)["params"].atol_at(100) < 1e-4
    horizon = par.Tol(1e-7, power=1.0, horizon=300)
    c = par.compare(np.array([0.0, 1.0]), np.array([0.0, 0.0]), horizon, np.array([10, 400]))
    assert c["passed"] and c["within_tol"] is False and c["unjudged"] == 1  # beyond the horizon: reported only
    assert not par.compare(np.array([1.0, 0.0]), np.array([0.0, 0.0]), horizon, np.array([10, 400]))["passed"]
    assert par.Tol(3, rtol=0.02, count=True).allowed_count(2000) == 43


@pytest.mark.parametrize("sets, horizon", [
    ({}, None),                                   # 1989 itself: judged whole
    ({"targets": "0.8", "init": "fan_in"}, None),  # the same step size and arithmetic kind
    ({"activation": "scaled_tanh", "output_activation": "scaled_tanh"}, 2048),
    ({"sgd_lr": "0.05"}, 2048),                   # steps up to 0.1: the measured horizon, by analogy
    ({"reduction": "sum", "sgd_lr": "0.003"}, None),  # the sum's step 10 x 0.003 = 1989's 0.03
    ({"reduction": "sum"}, 32),                   # step 0.3: parts by 1e-10 at ~50 steps (measured)
    ({"sgd_lr": "0.2"}, 32),
])
def test_per_step_horizon_follows_the_step_size_of_the_recipe(sets, horizon):
    from harness.recipe import variant_of
    tol = par.tolerances("float64", variant_of("1989", sets))
    assert tol["params"].horizon == horizon and tol["step_losses"].horizon == horizon
    assert tol["forward"].horizon is None and tol["grads"].horizon is None  # always judged whole
