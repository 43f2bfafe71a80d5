"""The JAX/Flax backend: layout, plugin registration, and parity with torch eager.

Offline and CPU-only. Tolerances: float64 must agree with torch to round-off
(different summation orders: ~1e-15 relative per operation, a few orders more
after 50 steps of SGD/AdamW); float32 forward outputs to ~1e-5, since the two
frameworks sum the 200- and 192-term dot products in different orders.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

from backends import jax as jax_backend
from backends.jax import layout
from backends.jax.functions import make_model
from harness import plugins, tables
from harness.backend import BackendUnavailable, DeviceUnavailable, Session
from harness.spec import PARAM_NAMES, PARAM_SHAPES, VARIANTS, h2w_dense, init_params
from tests.backend_helpers import BUSY_THREADS as BUSY
from tests.backend_helpers import make_steps, max_rel, torch_session

REPO = Path(__file__).resolve().parents[1]

VARIANT_NAMES = ("1989", "modern")
# Every train_steps call here has length CHUNK, every forward batch length BATCH: one
# compilation per variant x dtype keeps the file fast.
CHUNK = 25
BATCH = 37
XLA_STRATEGIES = ("step", "scan")  # the fused Pallas kernel has its own tests: tests/test_fused_pallas.py


# Calls torch directly (reference runs, tiny ops): one intra-op thread, restored afterwards.
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def jax_session(variant, dtype, strategy="scan", seed=1):
    return jax_backend.JaxBackend().session(variant=variant, params=init_params(seed, dtype, variant),
                                            dtype=dtype, device="cpu", strategy=strategy)


# ----------------------------------------------------------------------------- layout


def test_layout_round_trip_is_exact():
    for dtype in ("float32", "float64"):
        p = init_params(3, dtype, "1989")
        p["H2b"] = np.random.default_rng(0).normal(size=(12, 4, 4)).astype(dtype)
        internal = layout.from_canonical(p)
        assert {k: v.shape for k, v in internal.items()} == layout.INTERNAL_SHAPES
        assert all(v.dtype == np.dtype(dtype) for v in internal.values())
        back = layout.to_canonical(internal)
        assert set(back) == set(PARAM_NAMES)
        for name in PARAM_NAMES:
            assert back[name].shape == PARAM_SHAPES[name] and back[name].dtype == np.dtype(dtype)
            np.testing.assert_array_equal(back[name], p[name])
        # the dense H2 kernel is the spec's, zeros where unconnected
        np.testing.assert_array_equal(internal["H2w_dense"], h2w_dense(p["H2w"]).reshape(12, 300))
        assert not np.any(internal["H2w_dense"][~layout.h2_mask()])


def test_layout_copies_never_alias():
    p = init_params(3, "float64", "1989")
    internal = layout.from_canonical(p)
    internal["H1w"][0, 0] = 123.0
    assert p["H1w"][0, 0, 0, 0] != 123.0
    back = layout.to_canonical(internal)
    back["H3w"][0, 0] = 7.0
    assert internal["H3w"][0, 0] != 7.0


def test_patch_index_matches_padded_convolution_windows():
    rng = np.random.default_rng(0)
    for size, channels, idx in ((16, 1, layout.H1_PATCHES), (8, 12, layout.H2_PATCHES)):
        x = rng.normal(size=(channels, size, size))
        padded = np.pad(x, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
        out = (size + 4 - 5) // 2 + 1
        want = np.stack([padded[:, 2 * i:2 * i + 5, 2 * j:2 * j + 5].reshape(-1)
                         for i in range(out) for j in range(out)], axis=1)
        np.testing.assert_array_equal(tables.patches_numpy(x, idx), want)


def test_internal_tables_relabel_the_canonical_ones():
    # H1's output stored in H1_ORDER: the internal gathers read the same values
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 16, 16))
    np.testing.assert_array_equal(tables.patches_numpy(x, layout.H1_PATCHES_INTERNAL),
                                  tables.patches_numpy(x, layout.H1_PATCHES)[:, layout.H1_ORDER])
    h = rng.normal(size=(12, 64))  # canonical (C, H * W)
    np.testing.assert_array_equal(tables.patches_numpy(h[:, layout.H1_ORDER], layout.H2_PATCHES_INTERNAL),
                                  tables.patches_numpy(h, layout.H2_PATCHES))
    assert sorted(layout.H1_ORDER) == list(range(64))


def test_col2im_groups_are_the_adjoint_of_the_patch_gather():
    # <patches(h), d> == <h, col2im(d)> for every h and d: the gather-and-sum that H2's VJP uses
    # is exactly the transpose of the patch gather (padding positions take no gradient)
    rng = np.random.default_rng(1)
    h = rng.normal(size=(12, 64))  # internal column order
    d = rng.normal(size=layout.H2_PATCHES_INTERNAL.shape)  # (300, 16)
    flat = d.T.reshape(-1)
    col2im = np.concatenate([flat[pos].sum(axis=-1) for _, _, pos in layout.H2_COL2IM], axis=1)
    inside = layout.H2_PATCHES_INTERNAL < h.size
    want = np.dot(tables.patches_numpy(h, layout.H2_PATCHES_INTERNAL)[inside], d[inside])
    assert np.dot(h.reshape(-1), col2im.reshape(-1)) == pytest.approx(want, rel=1e-12)
    # one read per use, no padding reads; groups tile the 64 columns in order
    assert sum(pos.size for _, _, pos in layout.H2_COL2IM) == inside.sum() == 3468
    assert layout.H2_COL2IM[0][0] == 0 and layout.H2_COL2IM[-1][1] == 64
    assert all(a[1] == b[0] for a, b in zip(layout.H2_COL2IM, layout.H2_COL2IM[1:]))


# ----------------------------------------------------------------------------- plugin


def test_registers_through_entry_point():
    reg = plugins.get_registry()
    assert reg.reason_unavailable("jax") is None
    b = reg.get("jax")
    assert isinstance(b, jax_backend.JaxBackend)
    assert b.strategies == ("step", "scan", "fused")
    assert "cpu" in b.devices()
    assert b.strategy_devices("scan") == b.devices()


def test_environment_records_versions_and_precision():
    env = jax_backend.JaxBackend().environment("cpu")
    for key in ("jax", "jaxlib", "flax", "optax", "platform", "device_kind", "x64", "precision"):
        assert env[key] is not None, key
    assert env["platform"] == "cpu"
    assert "HIGHEST" in env["precision"]["dot_and_conv"]


def test_unknown_device_and_strategy():
    b = jax_backend.JaxBackend()
    v = VARIANTS["1989"]
    with pytest.raises(DeviceUnavailable, match="available: cpu"):
        b.session(variant=v, params=init_params(0), dtype="float32", device="cuda:7", strategy="scan")
    with pytest.raises(ValueError, match="step, scan"):
        b.session(variant=v, params=init_params(0), dtype="float32", device="cpu", strategy="pmap")


def test_check_reports_missing_jax(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_optax(name, *args, **kwargs):
        if name == "optax" or name.startswith("optax."):
            raise ImportError("No module named 'optax'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optax)
    with pytest.raises(BackendUnavailable, match=r"optax.*pip install"):
        jax_backend.JaxBackend().check()


def test_session_protocol_and_float64_is_real():
    s = jax_session(VARIANTS["1989"], "float64")
    assert isinstance(s, Session)
    out = s.forward(make_steps(VARIANTS["1989"], BATCH, "float64").x)
    assert out.dtype == np.float64 and out.shape == (BATCH, 10)
    with jax.enable_x64(True):  # the jitted function itself computes in float64
        x = jax.numpy.zeros((BATCH, 1, 16, 16), jax.numpy.float64)
        assert s.fns.forward(s.params, x).dtype == jax.numpy.float64
    assert all(v.dtype == np.float64 for v in s.get_params().values())
    # the session's scope did not leak into the global config
    assert not jax.config.jax_enable_x64


def test_params_are_copied_in_and_out():
    v = VARIANTS["1989"]
    p = init_params(1, "float64", v)
    s = jax_backend.JaxBackend().session(variant=v, params=p, dtype="float64", device="cpu", strategy="step")
    p["H1w"][:] = 0
    got = s.get_params()
    assert np.any(got["H1w"] != 0)
    got["H3w"][:] = 0
    assert np.any(s.get_params()["H3w"] != 0)
    s.train_steps(make_steps(v, 2, "float64"))  # step strategy: no compilation per length
    assert np.any(got["H1b"] == 0) and np.any(s.get_params()["H1b"] != 0)


# ----------------------------------------------------------------------------- parity with torch


@pytest.mark.parametrize("name", VARIANT_NAMES)
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_forward_matches_torch(name, dtype, tol):
    v = VARIANTS[name]
    x = make_steps(v, BATCH, dtype, seed=5).x
    want = torch_session(v, dtype).forward(x)
    s = jax_session(v, dtype)
    got = s.forward(x)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    # the training path (im2col, one example at a time) computes the same outputs
    patches = make_model(v, "patches")  # vmapped over the batch
    with jax.enable_x64(dtype == "float64"):
        got = np.asarray(jax.jit(lambda p, x: patches.apply({"params": p}, x))(s.params, x))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_loss_and_grads_match_torch_float64(name):
    v = VARIANTS[name]
    t, s = torch_session(v, "float64"), jax_session(v, "float64")
    steps = make_steps(v, 3, "float64", seed=2)
    for i in range(3):
        one = steps.slice(i, i + 1)
        lt, gt = t.loss_and_grads(one)
        lj, gj = s.loss_and_grads(one)
        assert lj == pytest.approx(lt, rel=1e-13)
        assert set(gj) == set(PARAM_NAMES)
        assert all(gj[k].shape == PARAM_SHAPES[k] for k in gj)
        assert max_rel(gj, gt) < 1e-12
    # parameters unchanged by loss_and_grads
    np.testing.assert_array_equal(s.get_params()["H1w"], init_params(1, "float64", v)["H1w"])


def test_float32_is_float32_and_matches_torch():
    v = VARIANTS["modern"]
    steps = make_steps(v, CHUNK, "float32", seed=4)
    t, s = torch_session(v, "float32"), jax_session(v, "float32")
    assert s.forward(make_steps(v, BATCH, "float32").x).dtype == np.float32
    lt, gt = t.loss_and_grads(steps.slice(0, 1))
    lj, gj = s.loss_and_grads(steps.slice(0, 1))
    assert isinstance(lj, float) and all(g.dtype == np.float32 for g in gj.values())
    assert lj == pytest.approx(lt, rel=1e-5)
    assert max_rel(gj, gt) < 1e-4
    losses = s.train_steps(steps)
    assert losses.dtype == np.float64 and losses.shape == (CHUNK,)  # the protocol's return type
    np.testing.assert_allclose(losses, t.train_steps(steps), rtol=1e-4)
    assert all(p.dtype == np.float32 for p in s.get_params().values())
    assert max_rel(s.get_params(), t.get_params()) < 1e-4


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_fifty_steps_match_torch_float64(name):
    v = VARIANTS[name]
    steps = make_steps(v, 50, "float64", seed=3, n_total=200)
    t = torch_session(v, "float64")
    lt = t.train_steps(steps)
    want = t.get_params()
    got = {}
    for strategy in XLA_STRATEGIES:
        s = jax_session(v, "float64", strategy)
        # two calls of uneven length: state carries across calls
        lj = np.concatenate([s.train_steps(steps.slice(i, i + CHUNK)) for i in range(0, 50, CHUNK)])
        np.testing.assert_allclose(lj, lt, rtol=1e-10, atol=0)
        got[strategy] = s.get_params()
        for k in PARAM_NAMES:
            np.testing.assert_allclose(got[strategy][k], want[k], rtol=0, atol=1e-10, err_msg=f"{strategy} {k}")
        # H2's unconnected kernel entries are still exactly zero inside the session
        dense = np.asarray(s.params["H2w_dense"])
        assert not np.any(dense[~layout.h2_mask()])
    # the two strategies do the same arithmetic in a different loop: they agree to round-off
    assert max_rel(got["step"], got["scan"]) < 1e-13


def test_strategies_agree_float32():
    v = VARIANTS["1989"]
    steps = make_steps(v, 2 * CHUNK, "float32", seed=6)
    out = {}
    for strategy in XLA_STRATEGIES:
        s = jax_session(v, "float32", strategy)
        losses = [s.train_steps(steps.slice(i, i + CHUNK)) for i in (0, CHUNK)]
        out[strategy] = (np.concatenate(losses), s.get_params())
    np.testing.assert_allclose(out["step"][0], out["scan"][0], rtol=1e-5)
    assert max_rel(out["step"][1], out["scan"][1]) < 1e-5


def test_real_usps_pass_matches_torch(usps):
    """200 real USPS examples through harness.draws, 1989 variant, float64: same as torch."""
    from harness.draws import pass_steps

    v = VARIANTS["1989"]
    steps = pass_steps(v, usps, seed=1337, epoch=0, n_epochs=1, dtype="float64", limit=200)
    t = torch_session(v, "float64", seed=1337)
    s = jax_session(v, "float64", "scan", seed=1337)
    lt = t.train_steps(steps)
    lj = np.concatenate([s.train_steps(steps.slice(i, i + CHUNK)) for i in range(0, 200, CHUNK)])
    np.testing.assert_allclose(lj, lt, rtol=1e-9)
    assert max_rel(s.get_params(), t.get_params()) < 1e-9
    x = usps.test_x[:8 * BATCH].astype(np.float64)
    got = np.concatenate([s.forward(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])
    np.testing.assert_allclose(got, t.forward(x), rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- accelerators


@pytest.mark.parametrize("device", ["cuda", "tpu"])
@pytest.mark.parametrize("dtype,atol", [("float64", 1e-10), ("float32", 2e-5)])
def test_accelerator_matches_torch_cpu(device, dtype, atol):
    """On a GPU/TPU (skipped where jax sees none): same outputs, gradients and 50-step
    trajectories as torch eager on the CPU. float32 to 2e-5 shows full-precision matmuls
    and convolutions (TF32 or bf16 passes would miss by ~1e-3)."""
    b = jax_backend.JaxBackend()
    if device not in b.devices():
        pytest.skip(f"jax sees no {device} here")
    env = b.environment(device)
    assert env["platform"] in ("gpu", "cuda", "rocm", "tpu") and env["device_kind"]
    for name in VARIANT_NAMES:
        v = VARIANTS[name]
        steps = make_steps(v, 2 * CHUNK, dtype, seed=8, n_total=100)
        t = torch_session(v, dtype)
        want_fwd = t.forward(steps.x[:BATCH])
        want_loss, want_grads = t.loss_and_grads(steps.slice(0, 1))
        want_losses = t.train_steps(steps)
        want = t.get_params()
        for strategy in XLA_STRATEGIES:
            s = b.session(variant=v, params=init_params(1, dtype, v), dtype=dtype, device=device,
                          strategy=strategy)
            got_fwd = s.forward(steps.x[:BATCH])
            assert got_fwd.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got_fwd, want_fwd, rtol=0, atol=atol)
            loss, grads = s.loss_and_grads(steps.slice(0, 1))
            assert loss == pytest.approx(want_loss, rel=atol)
            assert max_rel(grads, want_grads) < 100 * atol
            losses = np.concatenate([s.train_steps(steps.slice(i, i + CHUNK)) for i in (0, CHUNK)])
            np.testing.assert_allclose(losses, want_losses, rtol=100 * atol)
            assert max_rel(s.get_params(), want) < 100 * atol, (name, strategy)


# ----------------------------------------------------------------------------- recorded settings


def test_recorded_eval_impl_is_the_traced_program():
    """The recorded eval_impl says NHWC and H2 as one dense convolution: the lowered forward has
    exactly two convolutions, both NHWC/HWIO, the second with a 12 -> 12 kernel."""
    import re

    s = jax_session(VARIANTS["1989"], "float32")
    desc = s.environment()["eval_impl"]
    assert desc == jax_backend.JaxBackend().environment("cpu")["eval_impl"]
    assert "NHWC/HWIO" in desc and "one dense 12->12 convolution" in desc
    text = s.fns.forward.lower(s.params, np.zeros((3, 1, 16, 16), np.float32)).as_text()
    convs = re.findall(r"stablehlo.convolution.*", text)
    assert len(convs) == 2, convs
    assert all("dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]" in c for c in convs), convs
    assert "tensor<5x5x12x12xf32>" in convs[1]


BUSY_THREADS = BUSY + """
from backends import jax as jax_backend
from backends.jax import threads as jax_threads
jax_backend.JaxBackend().check()
import jax, jax.numpy as jnp
a = jnp.ones((1200, 1200))
f = jax.jit(lambda a: jnp.tanh(a @ a) @ a)
busy = busy_threads(lambda: f(a).block_until_ready())
print(jax_threads.record()["intra_op_pool"], busy)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_xla_cpu_pool_follows_harness_threads():
    """With HARNESS_THREADS=1 one thread does a large matmul's work (XLA's default: one per CPU)."""
    import subprocess
    import sys

    env = {**os.environ, "HARNESS_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", BUSY_THREADS], env=env, capture_output=True, text=True, check=False,
                         timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    pool, busy = map(int, out.stdout.split())
    assert (pool, busy) == (1, 1)


def test_threads_record_says_when_not_honoured(monkeypatch):
    from backends.jax import threads as jax_threads

    jax_backend.JaxBackend().check()  # the clients exist from here on
    pool = jax_threads.record()["intra_op_pool"]
    monkeypatch.setenv("HARNESS_THREADS", str((pool or 1) + 5))
    rec = jax_backend.JaxBackend().environment("cpu")["xla_cpu_threads"]
    assert rec["honoured"] is False and rec["reason"] and rec["requested"] == (pool or 1) + 5


def test_evaluation_compiles_once_per_split_shape(usps):
    """Evaluation is one jitted call per split; later passes reuse it (no recompilation per pass)."""
    from harness.train import evaluate

    v = VARIANTS["1989"]
    s = jax_session(v, "float32")
    x_train, x_test = usps.train_x[:700], usps.test_x[:300]
    evaluate(s, v, x_train, usps.train_labels[:700])
    evaluate(s, v, x_test, usps.test_labels[:300])
    compiled = s.fns.forward._cache_size()
    for _ in range(2):
        evaluate(s, v, x_train, usps.train_labels[:700])
        evaluate(s, v, x_test, usps.test_labels[:300])
    assert s.fns.forward._cache_size() == compiled
