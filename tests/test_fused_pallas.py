"""The jax `fused` strategy: one Pallas kernel per chunk of examples (backends/jax/fused*.py).

On the CPU the kernel runs through Pallas's interpreter (interpret=True), reachable only with
HARNESS_FUSED_INTERPRET=1 (set here with monkeypatch, so it never leaks into other tests).
Parity is judged by harness.parity's own checks and tolerances against torch eager, on real
USPS and on synthetic data, in float64 and float32. The kernel's GPU lowering (Pallas ->
Triton IR) is checked on the CPU too; compiling and running it needs a GPU (skipped here).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("torch")

from backends.jax import fused as F
from backends.jax import fused_kernel as K
from backends.jax import layout as jax_layout
from harness import parity as P
from harness import plugins
from harness.config import ParityConfig
from harness.data import load_dataset
from harness.draws import pass_steps
from harness.spec import PARAM_NAMES, VARIANTS, init_params

V = VARIANTS["1989"]
KS = [1, 10]  # one bucket (16): one interpreter compile per dtype


@pytest.fixture
def opted_in(monkeypatch):
    monkeypatch.setenv(F.INTERPRET_ENV, "1")


def backends():
    reg = plugins.get_registry()
    return reg.get("torch"), reg.get("jax")


def context(data, dtype: str, device: str = "cpu", seed: int = 1337, variant=V) -> P.Context:
    return P.Context.build(ParityConfig(variant=variant.name, dtype=dtype, device=device, seed=seed), data)


def assert_passed(result: dict) -> None:
    assert result["passed"], result["summary"] + "\n" + "\n".join(
        f"{r['target']} {r['tensor']} k={r.get('k')} {r['max_abs']} tol {r['tol']} {r.get('error', '')}"
        for r in result["rows"] if not r["passed"])


# ----------------------------------------------------------------------------- layout and index tables


def test_layout_round_trip_is_exact_and_pads_with_zeros():
    p = init_params(3, "float64", V)
    p = {k: v + np.random.default_rng(0).uniform(-1, 1, v.shape) for k, v in p.items()}  # biases non-zero
    f = F.to_fused(p, np.float64)
    assert {k: v.shape for k, v in f.items()} == K.FUSED_SHAPES
    back = F.to_canonical(f)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(back[k], p[k])
        assert back[k].flags.c_contiguous
    assert not f["H1w"][12:].any() and not f["H1w"][:, 25:].any()
    assert not f["H3w"][30:].any() and not f["H3w"][:, 12:].any() and not f["outw"][10:].any()
    # H2w: exactly the dense kernel of jax_layout, in the padded (o, c, tap) grid
    dense = jax_layout.from_canonical(p)["H2w_dense"].reshape(12, 12, 25)
    np.testing.assert_array_equal(f["H2w"].reshape(16, 16, 32)[:12, :12, :25], dense)
    assert np.count_nonzero(f["H2w"]) == np.count_nonzero(dense) == 12 * 8 * 25


def test_index_arithmetic_matches_the_tables():
    """The kernel's iota arithmetic computes the same gathers as jax_layout's NumPy tables."""
    flat, inside, real = K.h1_patch_index(np)
    want = jax_layout.H1_PATCHES  # (25, 64), 256 = the -1 sentinel
    np.testing.assert_array_equal(inside[:25], want != 256)
    np.testing.assert_array_equal(np.where(inside[:25], flat[:25], 256), want)
    assert not inside[25:].any() and real[:25].all() and not real[25:].any()

    c, pos, inside2, real2 = K.h2_patch_index(np)
    rows = (np.arange(12)[:, None] * 32 + np.arange(25)[None]).reshape(-1)  # the real rows of P2
    want2 = jax_layout.H2_PATCHES  # (300, 16) into (12, 64), 768 = sentinel
    got2 = np.where(inside2[rows], c[rows] * 64 + pos[rows], 768)
    np.testing.assert_array_equal(got2, want2)
    assert real2.sum() == 300 * 16 and real2[rows].all()

    conn = K.h2_connected(np).reshape(16, 16, 32)
    np.testing.assert_array_equal(conn[:12, :12, :25], jax_layout.H2_MASK.reshape(12, 12, 25))
    assert conn.sum() == 12 * 8 * 25


def test_col2im_gather_is_the_adjoint_of_the_patch_gather():
    """sum over P2 of g * gather(h) == sum over h of h * col2im(g), for random h and g."""
    rng = np.random.default_rng(1)
    h = np.zeros((16, 64))
    h[:12] = rng.normal(size=(12, 64))
    g = rng.normal(size=(512, 16))
    c, pos, inside, _ = K.h2_patch_index(np)
    patches = np.where(inside, h[c, pos], 0.0)  # the gather without its -1 padding (a constant)
    row, col, valid = K.h2_col2im_index(np)
    folded = np.where(valid, g[row, col], 0.0).sum(axis=2)  # (16, 64)
    np.testing.assert_allclose((patches * g).sum(), (h * folded).sum(), rtol=1e-12)
    # each H1 position is read by 1 to 9 (tap, output) pairs, as jax_layout counts them
    reads = valid.sum(axis=2)[:12]
    np.testing.assert_array_equal(reads[0], jax_layout.reads_per_element(jax_layout.H2_PATCHES, 768)[:64])


# ----------------------------------------------------------------------------- devices, support, protocol


def test_cpu_only_with_the_opt_in(monkeypatch):
    _, jax_b = backends()
    monkeypatch.delenv(F.INTERPRET_ENV, raising=False)
    assert "cpu" not in jax_b.strategy_devices("fused")
    with pytest.raises(ValueError, match=F.INTERPRET_ENV):
        jax_b.session(variant=V, params=init_params(1), dtype="float32", device="cpu", strategy="fused")
    monkeypatch.setenv(F.INTERPRET_ENV, "1")
    assert jax_b.strategy_devices("fused")[0] == "cpu"


def test_supports_both_variants_and_names_what_it_cannot():
    import dataclasses

    _, jax_b = backends()
    for name in ("1989", "modern"):
        for dtype in ("float32", "float64"):
            assert jax_b.supports("fused", VARIANTS[name], dtype) is None
    assert "float16" in jax_b.supports("fused", V, "float16")
    odd = dataclasses.replace(V, name="odd", hidden_activation="sigmoid")
    assert "sigmoid" in jax_b.supports("fused", odd, "float32")
    assert jax_b.supports("scan", odd, "float32") is None  # only fused is partial
    with pytest.raises(ValueError, match="sigmoid"):
        F.FusedSession(odd, init_params(1, "float32"), "float32", None, True)


@pytest.mark.parametrize("name", ["1989", pytest.param("modern", marks=pytest.mark.slow)])
def test_session_protocol_and_padding_stays_zero(opted_in, name):
    """Chunks of uneven length carry the state on; padded and unconnected weights (and AdamW's
    moments there) stay exactly zero."""
    _, jax_b = backends()
    v = VARIANTS[name]
    data = load_dataset("synthetic", seed=2)
    steps = pass_steps(v, data, 2, 0, v.epochs, "float64", limit=12)
    s = jax_b.session(variant=v, params=init_params(2, "float64", v), dtype="float64", device="cpu",
                      strategy="fused")
    assert s.environment()["interpreted"] is True
    assert s.train_steps(steps.slice(0, 0)).shape == (0,)
    losses = np.concatenate([s.train_steps(steps.slice(0, 5)), s.train_steps(steps.slice(5, 12))])
    assert losses.dtype == np.float64 and losses.shape == (12,) and np.all(losses > 0)
    assert s.updates == 12
    s.sync()
    conn = K.h2_connected(np)
    for j in range(0, len(s.state), 8):  # parameters, then AdamW's m and v
        f = dict(zip(K.FUSED_NAMES, (np.asarray(a) for a in s.state[j:j + 8])))
        assert not f["H2w"][~conn].any(), "an unconnected or padded H2 entry moved"
        assert not f["H1w"][:, 25:].any() and not f["H1b"][12:].any() and not f["outb"][10:].any()
        assert not f["H3w"][30:].any() and not f["H3w"][:, 12:].any() and not f["outw"][:, 30:].any()
    assert s.forward(data.test_x[:7]).shape == (7, 10)
    loss, grads = s.loss_and_grads(steps.slice(0, 1))
    assert isinstance(loss, float) and set(grads) == set(PARAM_NAMES)


def test_optimizer_table_is_torchs_arithmetic():
    modern = VARIANTS["modern"]
    lr = modern.lr_schedule(100, 7, 10)
    table = F.optimizer_table(modern, lr, first_step=7)  # updates 8, 9, 10
    opt = modern.optimizer
    for row, rate, t in zip(table, lr, (8, 9, 10)):
        np.testing.assert_array_equal(row, [rate, 1 - rate * opt.weight_decay, rate / (1 - opt.beta1 ** t),
                                            (1 - opt.beta2 ** t) ** 0.5])
    np.testing.assert_array_equal(F.optimizer_table(V, np.full(3, 0.03), 5), [[0.03, 0, 0, 0]] * 3)


# ----------------------------------------------------------------------------- parity (interpreter)


PARITY_CASES = [("1989", "float64"), ("1989", "float32"), ("modern", "float64"),
                pytest.param("modern", "float32", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name,dtype", PARITY_CASES)
def test_parity_on_usps_against_torch_eager(opted_in, usps, name, dtype):
    """Parameters after k steps (one call) and after every step (one call each), USPS seed 1337."""
    torch_b, jax_b = backends()
    ctx = context(usps, dtype, variant=VARIANTS[name])
    ref, fused = P.Target(torch_b, "eager"), P.Target(jax_b, "fused")
    steps = P.check_steps(ctx, ref, [fused], KS)
    assert_passed(steps)
    assert {(r["k"], r["tensor"]) for r in steps["rows"]} == {(k, n) for k in KS for n in PARAM_NAMES}
    traj = P.check_trajectory(ctx, ref, [fused], max(KS))
    assert_passed(traj)
    assert len(traj["trace"]["max_abs"]["jax:fused"]) == max(KS)


def test_parity_on_synthetic_float64(opted_in):
    torch_b, jax_b = backends()
    ctx = context(load_dataset("synthetic", seed=5), "float64", seed=5)
    assert_passed(P.check_steps(ctx, P.Target(torch_b, "eager"), [P.Target(jax_b, "fused")], [16]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["1989", "modern"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_parity_whole_pass_on_usps(opted_in, usps, name, dtype):
    """300 USPS examples in chunks of 256 (two buckets), then evaluation: losses, misses, parameters."""
    torch_b, jax_b = backends()
    ctx = context(usps, dtype, variant=VARIANTS[name])
    assert_passed(P.check_passes(ctx, P.Target(torch_b, "eager"), [P.Target(jax_b, "fused")], 1, 300))


# ----------------------------------------------------------------------------- the GPU


@pytest.mark.parametrize("name", ["1989", "modern"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lowers_to_triton_ir(name, dtype):
    """Pallas -> Triton IR for a CUDA GPU, on this machine: every primitive has a Triton lowering,
    every loaded block is a power of two, every dot is at least 16 x 16 x 16 (float64's minimum)."""
    text = K.lower_for_gpu(16, dtype, F.recipe_of(VARIANTS[name]))
    assert "__gpu$xla.gpu.triton" in text or "triton_kernel_call" in text
    assert ("lenet1989_fused_sgd" if name == "1989" else "lenet1989_fused_adamw") in text


def gpu_or_skip():
    import jax

    try:
        return jax.devices("gpu")[0]
    except RuntimeError:
        pytest.skip("jax sees no GPU here: the Triton kernel itself is not run")


@pytest.mark.parametrize("name", ["1989", "modern"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpu_kernel_matches_step_on_the_gpu(usps, name, dtype):
    """On a GPU: the compiled kernel against jax `step` on the same GPU, by parity's checks."""
    gpu_or_skip()
    _, jax_b = backends()
    ctx = context(usps, dtype, device="cuda", variant=VARIANTS[name])
    s = ctx.session(P.Target(jax_b, "fused"))
    assert s.environment()["interpreted"] is False
    ref, fused = P.Target(jax_b, "step"), P.Target(jax_b, "fused")
    assert_passed(P.check_steps(ctx, ref, [fused], [1, 10, 100, 300]))
    assert_passed(P.check_trajectory(ctx, ref, [fused], 20))


def triton_module(dtype: str, recipe) -> str:
    """The kernel's Triton IR as text, captured from Pallas's Triton lowering (a private function:
    skip if this jax moved it)."""
    lowering = pytest.importorskip("jax._src.pallas.triton.lowering")
    registration = pytest.importorskip("jax._src.pallas.triton.pallas_call_registration")
    if not hasattr(registration.lowering, "lower_jaxpr_to_triton_module"):
        pytest.skip("this jax lowers Pallas to Triton through another function")
    captured, original = [], lowering.lower_jaxpr_to_triton_module

    def capture(*args, **kwargs):
        result = original(*args, **kwargs)
        captured.append(result.module.operation.get_asm(enable_debug_info=False))
        return result

    registration.lowering.lower_jaxpr_to_triton_module = capture
    try:
        K.make_train_chunk.cache_clear()  # a cached jit would not lower again
        K.lower_for_gpu(16, dtype, recipe)
    finally:
        registration.lowering.lower_jaxpr_to_triton_module = original
        K.make_train_chunk.cache_clear()
    assert len(captured) == 1
    return captured[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["1989", "modern"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_triton_compiles_the_kernel_for_sm90(tmp_path, monkeypatch, name, dtype):
    """The installed Triton compiles the kernel's Triton IR to PTX and a cubin for sm_90 (H100/H200)
    without a GPU (~1 min each on a 2-core CPU). jaxlib compiles with its own bundled Triton on the
    device, so this is evidence, not proof, that the GPU build succeeds."""
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget

    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, said explicitly
    path = tmp_path / f"fused_{name}_{dtype}.ttir"
    text = triton_module(dtype, F.recipe_of(VARIANTS[name]))
    assert text.count("gpu.barrier") == 2  # between each scratch store and the gathers that read it
    path.write_text(text)
    compiled = triton.compile(str(path), target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": K.NUM_WARPS, "num_stages": 1})
    assert ".entry lenet1989_fused_" in compiled.asm["ptx"]
    assert len(compiled.asm["cubin"]) > 0


# The knob values the fused kernel declares beyond the named variants' (backends/jax/fused.py
# KNOBS): mixes of 1989's and modern's activations, losses, optimisers and dropout.
KNOB_CASES = [("1989", "activation=relu"), ("1989", "output_activation=linear loss=xent"),
              ("1989", "optimizer=adamw dropout=0.25"), ("modern", "activation=tanh output_activation=tanh loss=mse")]


@pytest.mark.parametrize("base,sets", KNOB_CASES)
def test_parity_of_declared_knob_values_on_usps(opted_in, usps, base, sets):
    from harness.backend import unsupported_reason
    from harness.recipe import Recipe

    torch_b, jax_b = backends()
    r = Recipe.of(base, sets.split())
    assert unsupported_reason(jax_b, "fused", base, "float64", r) is None
    ctx = context(usps, "float64", variant=r.variant_spec())
    assert_passed(P.check_steps(ctx, P.Target(torch_b, "eager"), [P.Target(jax_b, "fused")], KS))


def test_undeclared_knob_values_are_refused():
    from harness.backend import unsupported_reason
    from harness.recipe import Recipe

    _, jax_b = backends()
    for sets in ("activation=scaled_tanh", "output_activation=scaled_tanh", "reduction=sum", "optimizer=sdlm"):
        why = unsupported_reason(jax_b, "fused", "1989", "float32", Recipe.of("1989", [sets]))
        assert why and sets in why and "jax strategies that do: step, scan" in why, why
    with pytest.raises(ValueError, match="reduction=sum"):
        v = Recipe.of("1989", ["reduction=sum"]).variant_spec()
        F.FusedSession(v, init_params(1, "float32", v), "float32", None, True)
