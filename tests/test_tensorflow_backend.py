"""The TensorFlow backend: layout conversions, registration, and parity with torch eager.

Offline and CPU-only. tensorflow is imported only through the backend (settings.load()),
never by `import tensorflow` here: the backend's import applies settings (RTLD_LOCAL
libraries, scoped logging) that the rest of this process relies on. float64 must agree
with torch to round-off; float32 to the tolerances the jax backend's tests use.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("tensorflow") is None:
    pytest.skip("tensorflow is not installed", allow_module_level=True)

from backends import tensorflow as tf_backend
from backends.tensorflow import layout, settings
from harness import plugins
from harness.backend import DeviceUnavailable, Session, unsupported_reason
from harness.spec import PARAM_NAMES, PARAM_SHAPES, VARIANTS, init_params
from tests.backend_helpers import make_steps, torch_session

pytestmark = pytest.mark.usefixtures("torch_one_thread")

STRATEGIES = ("eager", "function", "xla")
VARIANT_NAMES = ("1989", "modern")


def tf_session(variant, dtype, strategy, seed=1):
    return tf_backend.TensorFlowBackend().session(variant=variant, params=init_params(seed, dtype, variant),
                                                  dtype=dtype, device="cpu", strategy=strategy)


def max_abs(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in b)


def random_canonical(seed: int, dtype: str) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(dtype) for k, s in PARAM_SHAPES.items()}


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layout_round_trip_is_exact(dtype):
    p = random_canonical(3, dtype)
    tfp = layout.from_canonical(p)
    assert {k: v.shape for k, v in tfp.items()} == layout.TF_SHAPES
    assert all(v.dtype == np.dtype(dtype) and v.flags.c_contiguous for v in tfp.values())
    back = layout.to_canonical(tfp)
    for k in PARAM_NAMES:
        assert back[k].shape == PARAM_SHAPES[k]
        np.testing.assert_array_equal(back[k], p[k])


def test_layout_means_channels_last():
    """Each entry lands where a channels-last network reads it (not only a round trip)."""
    p = random_canonical(4, "float64")
    t = layout.from_canonical(p)
    o, k, u, v = 7, 5, 1, 3
    assert t["H1w"][u, v, 0, o] == p["H1w"][o, 0, u, v]
    assert t["H2w"][u, v, k, o] == p["H2w"][o, k, u, v]  # k-th plane of spec.H2_INPUTS[o]
    assert t["H1b"][2, 6, o] == p["H1b"][o, 2, 6] and t["H2b"][3, 1, o] == p["H2b"][o, 3, 1]
    # H3: H2's output flattened channels-last times the permuted rows = canonical flatten times H3w
    h2 = np.random.default_rng(5).normal(size=(3, 12, 4, 4))
    np.testing.assert_allclose(layout.nhwc(h2).reshape(3, 192) @ t["H3w"], h2.reshape(3, 192) @ p["H3w"],
                               rtol=0, atol=1e-12)  # the same terms, summed in another order
    np.testing.assert_array_equal(layout.nchw(layout.nhwc(h2)), h2)


def test_layout_copies_never_alias_and_checks_shapes():
    p = init_params(3, "float64")
    t = layout.from_canonical(p)
    t["outb"][0] = 123.0
    assert p["outb"][0] != 123.0
    back = layout.to_canonical(t)
    back["H3w"][0, 0] = 7.0
    assert t["H3w"][layout.H3_RANK[0], 0] != 7.0
    with pytest.raises(ValueError, match="H1w has shape"):
        layout.to_canonical({**t, "H1w": p["H1w"]})  # canonical shape where the TF one belongs


def test_internal_layout_of_the_compiled_loop():
    """internal.Tables: TensorFlow layout -> the XLA loop's layout and back, one gather each way,
    exact; H2 dense with zeros where planes are unconnected; H3w and outw transposed."""
    from backends.tensorflow import internal
    from harness.spec import h2w_dense

    t = internal.Tables()
    p = random_canonical(6, "float64")
    tfp = layout.from_canonical(p)
    inside = {k: np.concatenate([tfp[k].reshape(-1), [0.0]])[t.to[k]] for k in PARAM_NAMES}
    assert {k: a.shape for k, a in inside.items()} == internal.SHAPES
    np.testing.assert_array_equal(inside["H2w"], h2w_dense(p["H2w"]).reshape(12, 300))
    assert not inside["H2w"][~t.h2_mask].any() and t.h2_mask.sum() == 12 * 8 * 25
    np.testing.assert_array_equal(inside["H3w"], p["H3w"].T)
    np.testing.assert_array_equal(inside["outw"], p["outw"].T)
    np.testing.assert_array_equal(inside["H1b"], p["H1b"].reshape(12, 64))
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(inside[k].reshape(-1)[t.back[k]], tfp[k])


def test_adjoint_index_is_the_transpose_of_the_patch_gather():
    """<patches(h), d> == <h, adjoint(d)> for any h, d: H2's written-out gradient folds the patches'
    gradient back exactly (padding positions take none)."""
    from backends.tensorflow import internal
    from harness import tables

    t = internal.Tables()
    rng = np.random.default_rng(1)
    h = rng.normal(size=12 * 64)
    d = rng.normal(size=t.h2.shape)  # (300, 16), the patches' cotangent
    inside = t.h2 < h.size
    want = np.dot(tables.patches_numpy(h.reshape(12, 8, 8), t.h2)[inside], d[inside])
    folded = np.concatenate([d.T.reshape(-1), [0.0]])[t.h2_adjoint].sum(axis=1)  # transposed, as the step reads it
    assert np.dot(h, folded) == pytest.approx(want, rel=1e-12)
    assert (t.h2_adjoint < d.size).sum() == inside.sum()  # each in-bounds read once, no more


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_gradients_come_back_canonical_and_match_torch_float64(name):
    """Layout conversion of gradients: every strategy's gradients equal torch's, tensor by tensor."""
    v = VARIANTS[name]
    steps = make_steps(v, 2, "float64", seed=2)
    t = torch_session(v, "float64")
    for strategy in STRATEGIES:
        s = tf_session(v, "float64", strategy)
        for i in range(2):
            lt, gt = t.loss_and_grads(steps.slice(i, i + 1))
            ls, gs = s.loss_and_grads(steps.slice(i, i + 1))
            assert ls == pytest.approx(lt, rel=1e-13)
            assert {k: g.shape for k, g in gs.items()} == PARAM_SHAPES
            for k in PARAM_NAMES:
                np.testing.assert_allclose(gs[k], gt[k], rtol=0, atol=1e-13 * (1 + np.abs(gt[k]).max()),
                                           err_msg=f"{strategy} {k}")
        np.testing.assert_array_equal(s.get_params()["H1w"], init_params(1, "float64", v)["H1w"])


# ----------------------------------------------------------------------------- plugin


def test_registers_through_entry_point():
    reg = plugins.get_registry()
    assert reg.reason_unavailable("tensorflow") is None
    b = reg.get("tensorflow")
    assert isinstance(b, tf_backend.TensorFlowBackend)
    assert b.strategies == STRATEGIES
    assert "cpu" in b.devices() and all(b.strategy_devices(s) == b.devices() for s in STRATEGIES)


def test_unknown_device_strategy_and_sdlm():
    b = tf_backend.TensorFlowBackend()
    v = VARIANTS["1989"]
    with pytest.raises(DeviceUnavailable, match="available: cpu"):
        b.session(variant=v, params=init_params(0), dtype="float32", device="cuda:7", strategy="xla")
    with pytest.raises(DeviceUnavailable, match="names no device"):
        tf_backend.tf_device("tpu")
    with pytest.raises(ValueError, match="eager, function, xla"):
        b.session(variant=v, params=init_params(0), dtype="float32", device="cpu", strategy="graph")
    for strategy in STRATEGIES:
        why = unsupported_reason(b, strategy, "1989-sdlm", "float64")
        assert why and "does not implement optimizer=sdlm (implements: sgd, adamw)" in why
        assert unsupported_reason(b, strategy, "modern", "float32") is None
        with pytest.raises(ValueError, match="SDLM"):
            b.session(variant=VARIANTS["1989-sdlm"], params=init_params(0), dtype="float64", device="cpu",
                      strategy=strategy)


def test_environment_records_versions_and_settings():
    env = tf_backend.TensorFlowBackend().environment("cpu")
    assert env["tensorflow"] and env["device"] == "/CPU:0" and env["device_name"] == "cpu"
    assert env["tensor_float_32"] is False and env["op_determinism"] is True
    assert env["log"]["TF_CPP_MIN_LOG_LEVEL"] and env["onednn"]["TF_ENABLE_ONEDNN_OPTS"]
    assert {"requested", "intra_op", "inter_op", "honoured"} <= set(env["threads"])
    s = tf_session(VARIANTS["1989"], "float32", "xla")
    assert s.environment()["strategy"] == "xla" and s.environment()["threads"] == env["threads"]


def test_session_protocol_dtypes_and_copies():
    v = VARIANTS["1989"]
    p = init_params(1, "float64", v)
    s = tf_backend.TensorFlowBackend().session(variant=v, params=p, dtype="float64", device="cpu",
                                               strategy="function")
    assert isinstance(s, Session)
    assert all(var.dtype.name == "float64" for var in s.params)
    out = s.forward(make_steps(v, 5, "float64").x)
    assert out.dtype == np.float64 and out.shape == (5, 10)
    p["H1w"][:] = 0  # the session copied its parameters in
    got = s.get_params()
    assert np.any(got["H1w"] != 0)
    got["H3w"][:] = 0  # and hands copies out
    assert np.any(s.get_params()["H3w"] != 0)
    losses = s.train_steps(make_steps(v, 3, "float64"))
    assert losses.dtype == np.float64 and losses.shape == (3,)
    assert s.train_steps(make_steps(v, 0, "float64")).shape == (0,)
    s32 = tf_session(v, "float32", "eager")
    assert s32.forward(make_steps(v, 2, "float32").x).dtype == np.float32
    assert all(a.dtype == np.float32 for a in s32.get_params().values())


# ----------------------------------------------------------------------------- parity with torch


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_forty_steps_match_torch_float64(name):
    """Every strategy, two calls of uneven length (state carries across calls): torch's trajectory."""
    v = VARIANTS[name]
    steps = make_steps(v, 40, "float64", seed=3, n_total=200)
    t = torch_session(v, "float64")
    lt = t.train_steps(steps)
    want = t.get_params()
    for strategy in STRATEGIES:
        s = tf_session(v, "float64", strategy)
        ls = np.concatenate([s.train_steps(steps.slice(0, 15)), s.train_steps(steps.slice(15, 40))])
        np.testing.assert_allclose(ls, lt, rtol=1e-11, atol=0, err_msg=strategy)
        assert max_abs(s.get_params(), want) < 1e-12, strategy


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_forward_and_activations_match_torch(name):
    v = VARIANTS[name]
    for dtype, tol in (("float64", 1e-13), ("float32", 2e-6)):
        x = make_steps(v, 9, dtype, seed=5).x
        t = torch_session(v, dtype)
        want, want_layers = t.forward(x), t.activations(x)
        s = tf_session(v, dtype, "eager")
        np.testing.assert_allclose(s.forward(x), want, rtol=0, atol=tol)
        got = s.activations(x)
        for k in ("H1", "H2", "H3", "out"):
            assert got[k].shape == want_layers[k].shape
            np.testing.assert_allclose(got[k], want_layers[k], rtol=0, atol=tol, err_msg=k)


def test_float32_trains_like_torch():
    v = VARIANTS["modern"]
    steps = make_steps(v, 20, "float32", seed=4)
    t = torch_session(v, "float32")
    lt = t.train_steps(steps)
    for strategy in STRATEGIES:
        s = tf_session(v, "float32", strategy)
        np.testing.assert_allclose(s.train_steps(steps), lt, rtol=1e-4, err_msg=strategy)
        assert all(p.dtype == np.float32 for p in s.get_params().values())
        assert max_abs(s.get_params(), t.get_params()) < 1e-5, strategy


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_real_usps_examples_match_torch_float64(usps, name):
    """300 USPS examples through harness.draws (augmentation and dropout included), every strategy."""
    from harness.draws import pass_steps

    v = VARIANTS[name]
    steps = pass_steps(v, usps, seed=1337, epoch=0, n_epochs=v.epochs, dtype="float64", limit=300)
    t = torch_session(v, "float64", seed=1337)
    lt = t.train_steps(steps)
    for strategy in STRATEGIES:
        s = tf_session(v, "float64", strategy, seed=1337)
        np.testing.assert_allclose(s.train_steps(steps), lt, rtol=1e-10, err_msg=strategy)
        assert max_abs(s.get_params(), t.get_params()) < 1e-10, strategy


# ----------------------------------------------------------------------------- a GPU


@pytest.mark.parametrize("dtype,atol", [("float64", 1e-10), ("float32", 2e-5)])
def test_cuda_matches_torch_cpu(dtype, atol):
    """On a GPU TensorFlow sees (skipped elsewhere): memory growth on, no TF32, and every strategy's
    outputs, gradients and 40-step trajectory as torch eager's on the CPU (float32 to 2e-5 shows full
    float32 products: TF32 would miss by ~1e-3)."""
    b = tf_backend.TensorFlowBackend()
    if "cuda" not in b.devices():
        pytest.skip("tensorflow sees no GPU here")
    env = b.environment("cuda")
    assert env["tensor_float_32"] is False and env["gpu_memory_growth"]
    assert all(v is True for v in env["gpu_memory_growth"].values())
    for name in VARIANT_NAMES:
        v = VARIANTS[name]
        steps = make_steps(v, 40, dtype, seed=8, n_total=100)
        t = torch_session(v, dtype)
        want_fwd, (want_loss, want_grads) = t.forward(steps.x[:9]), t.loss_and_grads(steps.slice(0, 1))
        want_losses = t.train_steps(steps)
        for strategy in STRATEGIES:
            s = b.session(variant=v, params=init_params(1, dtype, v), dtype=dtype, device="cuda", strategy=strategy)
            np.testing.assert_allclose(s.forward(steps.x[:9]), want_fwd, rtol=0, atol=atol)
            loss, grads = s.loss_and_grads(steps.slice(0, 1))
            assert loss == pytest.approx(want_loss, rel=atol) and max_abs(grads, want_grads) < 100 * atol
            np.testing.assert_allclose(s.train_steps(steps), want_losses, rtol=100 * atol)
            assert max_abs(s.get_params(), t.get_params()) < 100 * atol, (name, strategy)


# ----------------------------------------------------------------------------- compiled programs


def test_compiled_steps_are_traced_once_for_every_length_and_session():
    """function: one trace per variant and dtype, shared by sessions; xla: one compilation serves every
    chunk length up to its CHUNK, and longer calls are split into chunks."""
    from backends.tensorflow import function, xla

    v = VARIANTS["1989"]
    steps = make_steps(v, xla.CHUNK + 7, "float32", seed=9)
    a, b = tf_session(v, "float32", "xla"), tf_session(v, "float32", "xla")
    a.train_steps(steps.slice(0, 3))
    run = xla.train_chunk(v, a.key, a.impl)
    traced = run.experimental_get_tracing_count()
    assert b.train_steps(steps).shape == (xla.CHUNK + 7,)  # a chunk of CHUNK, then one of 7
    a.train_steps(steps.slice(0, 11))
    assert run.experimental_get_tracing_count() == traced
    f1, f2 = tf_session(v, "float32", "function"), tf_session(v, "float32", "function")
    f1.train_steps(steps.slice(0, 2))
    step = function.train_step(v, f1.key, f1.impl)
    traced = step.experimental_get_tracing_count()
    f2.train_steps(steps.slice(0, 5))
    assert step.experimental_get_tracing_count() == traced


def test_settings_module_state_is_loaded_once():
    assert settings.load() is settings.load()


# ----------------------------------------------------------------------------- the conformance kit


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_conformance_kit_accepts_every_strategy(strategy):
    from harness.testing import assert_session_conforms

    assert_session_conforms("tensorflow", strategy=strategy)
    assert_session_conforms("tensorflow", strategy=strategy, variant="modern", dtype="float32")


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_kit_parity_against_torch(variant):
    """harness parity's five checks (forward with layers, grads, steps, trajectory, a pass), small."""
    pytest.importorskip("torch")
    from harness.testing import assert_parity

    res = assert_parity("tensorflow", reference="torch:eager", variant=variant, dtype="float64")
    assert sorted(res["config"]["targets"]) == [f"tensorflow:{s}" for s in STRATEGIES]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_usps_parity_against_torch(data_dir, variant, dtype):
    """`harness parity --backends torch,tensorflow` as the note shows it: all of USPS, 100 steps, a
    whole pass with evaluation, every strategy; float64 to ~1e-10, float32 to the stated tolerances."""
    pytest.importorskip("torch")
    from harness.testing import assert_parity

    assert_parity("tensorflow", reference="torch:eager", variant=variant, dtype=dtype, dataset="usps",
                  data_dir=str(data_dir), steps=(1, 10, 100), limit=None)


def test_kernels_per_example_counts_what_each_strategy_runs():
    """eager: one dispatch per op; function: one call per example runs a graph of ops; xla: one call
    per chunk runs XLA thunks (harness bench --kernels)."""
    v = VARIANTS["1989"]
    steps = make_steps(v, 4, "float32")
    got = {}
    for strategy in STRATEGIES:
        s = tf_session(v, "float32", strategy)
        s.train_steps(steps)
        got[strategy] = s.kernels_per_example(steps)
    assert {k: c["unit"] for k, c in got.items()} == {"eager": "TF eager ops", "function": "TF graph ops",
                                                        "xla": "XLA thunks"}
    assert got["eager"]["dispatches"] == got["eager"]["kernels"] > 50
    assert 1 <= got["function"]["dispatches"] < 3 and got["function"]["kernels"] > 50
    warm = tf_session(v, "float32", "function")  # a few thousand calls: its executor inlines cheap ops
    for _ in range(12):
        warm.train_steps(make_steps(v, 256, "float32"))
    assert warm.kernels_per_example(steps)["kernels"] == got["function"]["kernels"]  # counted cold all the same
    assert got["xla"]["dispatches"] <= 1 / 4 + 1e-9 and 10 < got["xla"]["kernels"] < got["function"]["kernels"]
