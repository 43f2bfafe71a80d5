"""torch `compiled` and `cudagraph` strategies against `eager`, in float64 (micrograd-style parity).

The compiled strategy's arithmetic is checked three ways, cheapest first:
the functional network and its gradients uncompiled (no compile time), the
same K-step functions uncompiled over a pass, and then under torch.compile
(K=2 in the default run: two small graphs per variant; the shipped default
K=16, in float32, is under -m slow).

On a machine with CUDA, `cuda_smoke()` checks and times `cudagraph` and `compiled` (CUDA graphs):

    python -c "import sys; sys.path.insert(0, 'tests'); import test_torch_strategies as t; t.cuda_smoke()"

and test_cudagraph_matches_eager_on_cuda runs the same checks under pytest.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.torch import TorchBackend, functional, graphs
from backends.torch import compiled as torch_compiled
from backends.torch.eager import EagerSession
from backends.torch.network import make_net
from harness.backend import DeviceUnavailable, Steps, unsupported_reason
from harness.spec import PARAM_NAMES, VARIANTS, init_params

SEED = 1234
TOL64 = 1e-10  # float64: same arithmetic up to summation order, hundreds of steps

CUDA = torch.cuda.is_available()


# Calls torch directly (reference runs, tiny ops): one intra-op thread, restored afterwards.
pytestmark = pytest.mark.usefixtures("torch_one_thread")

# The variants the fast strategies train (SDLM is eager only: tests/test_sdlm.py)
FAST_VARIANTS = [n for n in VARIANTS if unsupported_reason(TorchBackend(), "compiled", n, "float64") is None]


def make_steps(variant, n: int, dtype: str, epoch: int = 0) -> Steps:
    """Steps of a pass over the synthetic data set (512 examples), as the core draws them."""
    from harness.data import load_dataset
    from harness.draws import pass_steps

    return pass_steps(variant, load_dataset("synthetic", dtype=dtype), SEED, epoch, 3, dtype, limit=n)


def eager(variant, dtype="float64"):
    return EagerSession(variant, init_params(SEED, dtype, variant), dtype, "cpu")


def compiled(variant, dtype="float64", **kw):
    return torch_compiled.CompiledSession(variant, init_params(SEED, dtype, variant), dtype, "cpu", **kw)


def assert_params_close(a: dict, b: dict, tol: float, what: str = ""):
    for name in PARAM_NAMES:
        err = np.abs(a[name] - b[name]).max()
        assert err <= tol * max(1.0, np.abs(b[name]).max()), f"{what}{name}: max |a - b| = {err:.3e}"


def run_chunks(session, steps: Steps, bounds) -> np.ndarray:
    return np.concatenate([session.train_steps(steps.slice(a, b)) for a, b in bounds])


# ---------------------------------------------------------------- layout and functional pieces


def test_feed_layout_packs_what_the_step_reads():
    """pack_feed's columns are where FeedLayout says, which is where step_loss reads them."""
    for v in map(VARIANTS.get, FAST_VARIANTS):
        f = functional.feed_layout(v)
        steps = make_steps(v, 3, "float64", epoch=1)
        rows = functional.pack_feed(v, steps, 5, np.float64)
        assert rows.shape[1] == f.width and f.width % 16 == 0 and f.width >= f.mask + f.n_mask
        np.testing.assert_array_equal(rows[:, f.cols("x")], steps.x.reshape(3, 256))
        np.testing.assert_array_equal(rows[:, f.cols("tgt")], steps.targets)
        np.testing.assert_array_equal(rows[:, f.cols("label")][:, 0], steps.labels)
        np.testing.assert_array_equal(rows[:, f.cols("hyper")][:, 0], steps.lr)
        if v.dropout:
            np.testing.assert_array_equal(rows[:, f.cols("mask")], steps.mask.reshape(3, 192))
        else:
            assert f.n_mask == 0


def test_adamw_scalars_follow_torch():
    v = VARIANTS["modern"]
    lr = v.lr_schedule(100, 10, 13)
    s = functional.optimizer_scalars(v, lr, first_step=10)
    o = v.optimizer
    for i, t in enumerate((11, 12, 13)):
        assert s[i, 0] == lr[i]
        assert s[i, 1] == 1 - lr[i] * o.weight_decay
        assert s[i, 2] == lr[i] / (1 - o.beta1 ** float(t))
        assert s[i, 3] == (1 - o.beta2 ** float(t)) ** 0.5


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("patches", functional.PATCHES)
def test_functional_forward_matches_conv_net(variant, patches):
    v = VARIANTS[variant]
    params = init_params(SEED, "float64", v)
    net = make_net(torch, v)(params).double()
    steps = make_steps(v, 40, "float64")
    x = torch.from_numpy(steps.x)
    mask = None if steps.mask is None else torch.from_numpy(steps.mask)
    T = functional.make_tables("cpu", patches)
    cfg = functional.step_config(v, patches)
    P = tuple(torch.from_numpy(params[n]) for n in PARAM_NAMES)
    with torch.no_grad():
        ref = net(x, mask).numpy()
        got = functional.net_forward(P, x.reshape(40, 256), T, cfg,
                                     None if mask is None else mask.reshape(40, 192)).numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_forward_and_loss_and_grads_match_eager(variant):
    v = VARIANTS[variant]
    e, c = eager(v), compiled(v, compile=False)
    steps = make_steps(v, 64, "float64")
    np.testing.assert_allclose(c.forward(steps.x), e.forward(steps.x), rtol=0, atol=1e-13)
    for i in (0, 7, 33):
        le, ge = e.loss_and_grads(steps.slice(i, i + 1))
        lc, gc = c.loss_and_grads(steps.slice(i, i + 1))
        assert abs(le - lc) <= 1e-13 * max(1.0, abs(le))
        assert_params_close(gc, ge, 1e-12, f"grad step {i} ")
    with pytest.raises(ValueError):
        c.loss_and_grads(steps.slice(0, 2))


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_functional_steps_match_eager_uncompiled(variant):
    """The K-step functions (hand-written SGD / AdamW), run without compiling, over 90 steps."""
    v = VARIANTS[variant]
    steps = make_steps(v, 90, "float64")
    e, c = eager(v), compiled(v, unroll=4, compile=False)
    bounds = [(0, 37), (37, 38), (38, 90)]  # 37 = 9*4 + 1, 1, 52 = 13*4
    np.testing.assert_allclose(run_chunks(c, steps, bounds), run_chunks(e, steps, bounds), rtol=0, atol=TOL64)
    assert_params_close(c.get_params(), e.get_params(), TOL64)


# ---------------------------------------------------------------- compiled


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_compiled_matches_eager_float64(variant):
    """Under torch.compile, over 60 steps in chunks whose lengths are not multiples of K."""
    v = VARIANTS[variant]
    steps = make_steps(v, 60, "float64")
    e, c = eager(v), compiled(v, unroll=2)
    bounds = [(0, 25), (25, 26), (26, 60)]  # 25 = 12*2 + 1, 1, 34 = 17*2
    np.testing.assert_allclose(run_chunks(c, steps, bounds), run_chunks(e, steps, bounds), rtol=0, atol=TOL64)
    assert_params_close(c.get_params(), e.get_params(), TOL64)
    np.testing.assert_allclose(c.forward(steps.x), e.forward(steps.x), rtol=0, atol=TOL64)
    # a second session reuses the compiled graphs, and starts from its own copy of the parameters
    c2 = compiled(v, unroll=2)
    assert_params_close(c2.get_params(), init_params(SEED, "float64", v), 0.0)
    ref = eager(v).train_steps(steps.slice(0, 25))
    np.testing.assert_allclose(c2.train_steps(steps.slice(0, 25)), ref, rtol=0, atol=TOL64)


@pytest.mark.slow
@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_compiled_defaults_float32_no_recompiles(variant):
    """The shipped configuration (K=16, C++ wrapper, 1 thread): float32 agreement, no recompiles."""
    from torch._dynamo.utils import counters

    v = VARIANTS[variant]
    steps = make_steps(v, 300, "float32")
    e, c = eager(v, "float32"), compiled(v, "float32")
    torch.set_num_threads(2)
    try:
        first = c.train_steps(steps.slice(0, 19))  # compiles the K-step and the one-step graphs
        assert torch.get_num_threads() == 2  # trains on 1 thread, restores the process's count after
    finally:
        torch.set_num_threads(1)
    graphs = counters["stats"]["unique_graphs"]
    rest = run_chunks(c, steps, [(19, 64), (64, 65), (65, 300)])
    assert counters["stats"]["unique_graphs"] == graphs, "a chunk length caused a recompile"
    ref = e.train_steps(steps.slice(0, 300))
    # float32: summation orders differ (im2col matmuls vs convolutions, fused kernels); over a
    # 512-step pass the losses stayed within 1.5e-6 and the parameters within 4e-7 (both
    # variants): 2e-5 leaves room for other CPUs' vector widths without hiding a wrong update.
    np.testing.assert_allclose(np.concatenate([first, rest]), ref, rtol=0, atol=2e-5)
    assert_params_close(c.get_params(), e.get_params(), 2e-5)


# ---------------------------------------------------------------- recipe knobs


# The knob values compiled and cudagraph compute beyond the named variants (harness/spec.py KNOBS;
# reduction=sum at lr 0.003: the steps of 1989's mean at 0.03, see tests/test_recipe_parity.py).
KNOB_RECIPES = [("1989", "activation=scaled_tanh output_activation=scaled_tanh"),
                ("1989", "reduction=sum sgd_lr=0.003"), ("1989", "loss=xent"),
                ("modern", "activation=scaled_tanh output_activation=scaled_tanh"),
                ("modern", "loss=mse output_activation=tanh reduction=sum")]


def knob_variant(base: str, sets: str):
    from harness.recipe import variant_of

    v = variant_of(base, sets.split())
    for strategy in ("compiled", "cudagraph"):  # declared, so these checks are what backs the claim
        assert unsupported_reason(TorchBackend(), strategy, base, "float64", _recipe(v)) is None
    return v


def _recipe(v):
    from harness.recipe import Recipe

    return Recipe.of_variant(v)


@pytest.mark.parametrize("base,sets", KNOB_RECIPES)
def test_knobs_forward_grads_and_steps_match_eager_uncompiled(base, sets):
    v = knob_variant(base, sets)
    steps = make_steps(v, 40, "float64")
    e, c = eager(v), compiled(v, unroll=4, compile=False)
    np.testing.assert_allclose(c.forward(steps.x), e.forward(steps.x), rtol=0, atol=1e-13)
    le, ge = e.loss_and_grads(steps.slice(3, 4))
    lc, gc = c.loss_and_grads(steps.slice(3, 4))
    assert abs(le - lc) <= 1e-13 * max(1.0, abs(le))
    assert_params_close(gc, ge, 1e-12, "grad ")
    bounds = [(0, 13), (13, 40)]
    np.testing.assert_allclose(run_chunks(c, steps, bounds), run_chunks(e, steps, bounds), rtol=0, atol=TOL64)
    assert_params_close(c.get_params(), e.get_params(), TOL64)
    g = graphs.CudaGraphSession(v, init_params(SEED, "float64", v), "float64", "cpu", unroll=8, emulate=True)
    np.testing.assert_allclose(run_chunks(g, steps, bounds), run_chunks(eager(v), steps, bounds), rtol=0,
                               atol=TOL64)


@pytest.mark.slow
def test_knobs_compiled_matches_eager_float64():
    """One recipe with every new value compiled computes (scaled tanh in and out, sum reduction),
    under torch.compile (~40 s of compiling on a 2-core CPU: -m slow; the same functions
    uncompiled are checked by default, above)."""
    v = knob_variant("1989", "activation=scaled_tanh output_activation=scaled_tanh reduction=sum sgd_lr=0.003")
    steps = make_steps(v, 30, "float64")
    e, c = eager(v), compiled(v, unroll=2)
    bounds = [(0, 13), (13, 30)]
    np.testing.assert_allclose(run_chunks(c, steps, bounds), run_chunks(e, steps, bounds), rtol=0, atol=TOL64)
    assert_params_close(c.get_params(), e.get_params(), TOL64)


# ---------------------------------------------------------------- cudagraph


def test_cudagraph_buffer_logic_emulated_on_cpu():
    """cudagraph's static buffers, packing, remainder graph and loss collection, with capture replaced
    by eager execution of the recorded function (what a replay does), on CPU in float64."""
    for name in FAST_VARIANTS:
        v = VARIANTS[name]
        steps = make_steps(v, 70, "float64")
        e = eager(v)
        g = graphs.CudaGraphSession(v, init_params(SEED, "float64", v), "float64", "cpu",
                                        unroll=8, emulate=True)
        static = [p.data_ptr() for p in g.P + g.S]
        bounds = [(0, 21), (21, 22), (22, 70)]  # 21 = 2*8 + 5, 1, 48 = 6*8
        np.testing.assert_allclose(run_chunks(g, steps, bounds), run_chunks(e, steps, bounds), rtol=0, atol=TOL64)
        assert_params_close(g.get_params(), e.get_params(), TOL64, f"{name} ")
        assert [p.data_ptr() for p in g.P + g.S] == static  # updated in place, never rebound
        assert sorted(g.graphs) == [1, 8]


def test_cudagraph_listed_only_on_cuda():
    b = TorchBackend()
    devs = b.strategy_devices("cudagraph")
    assert all(d.startswith("cuda") for d in devs)
    assert bool(devs) == CUDA
    assert "cpu" in b.strategy_devices("compiled") and "cpu" in b.strategy_devices("eager")
    assert set(b.strategies) >= {"eager", "compiled", "cudagraph"} and b.strategies[0] == "eager"
    if not CUDA:
        v = VARIANTS["1989"]
        with pytest.raises(DeviceUnavailable):
            b.session(variant=v, params=init_params(0, "float32", v), dtype="float32", device="cpu",
                      strategy="cudagraph")


def test_backend_dispatches_to_the_fast_sessions():
    b = TorchBackend()
    v = VARIANTS["1989"]
    s = b.session(variant=v, params=init_params(0, "float32", v), dtype="float32", device="cpu",
                  strategy="compiled")
    assert isinstance(s, torch_compiled.CompiledSession)
    env = s.environment()["strategy_settings"]
    assert env["unroll"] == torch_compiled.DEFAULT_UNROLL and env["train_num_threads"] == torch_compiled.DEFAULT_THREADS
    with pytest.raises(ValueError, match="available"):
        b.session(variant=v, params=init_params(0, "float32", v), dtype="float32", device="cpu",
                  strategy="nope")


def cuda_smoke(n: int = 300, windows: int = 5, window: int = 256) -> dict:
    """On a CUDA machine: cudagraph and compiled (through CUDA graphs) vs eager, float64 parity for both
    variants, evaluation compiled once per shape, then us/example of eager, cudagraph and compiled on
    the 1989 variant in float32. Prints and returns a dict."""
    from torch._dynamo.utils import counters

    assert torch.cuda.is_available(), "cuda_smoke needs CUDA"
    b = TorchBackend()
    dev = "cuda"
    out: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    fast = ("cudagraph", "compiled")
    for name in FAST_VARIANTS:
        v = VARIANTS[name]
        steps = make_steps(v, n, "float64")
        p0 = init_params(SEED, "float64", v)
        ref = b.session(variant=v, params=p0, dtype="float64", device=dev, strategy="eager")
        bounds = [(0, 37), (37, 38), (38, n)]
        le = run_chunks(ref, steps, bounds)
        pe = ref.get_params()
        for strategy in fast:
            g = b.session(variant=v, params=p0, dtype="float64", device=dev, strategy=strategy)
            lg = run_chunks(g, steps, bounds)
            pg = g.get_params()
            out[f"{strategy}_{name}_float64_loss_maxdiff"] = float(np.abs(le - lg).max())
            out[f"{strategy}_{name}_float64_param_maxdiff"] = float(max(np.abs(pe[k] - pg[k]).max() for k in pe))
            np.testing.assert_allclose(lg, le, rtol=0, atol=TOL64)
            assert_params_close(pg, pe, TOL64, f"{strategy} {name} ")
            if strategy == "compiled":
                assert g.environment()["strategy_settings"]["cuda_graphs"] is True
            one = steps.slice(5, 6)
            l1, g1 = ref.loss_and_grads(one)
            l2, g2 = g.loss_and_grads(one)
            assert abs(l1 - l2) < 1e-12 and all(np.abs(g1[k] - g2[k]).max() < 1e-12 for k in g1)
            np.testing.assert_allclose(g.forward(steps.x), ref.forward(steps.x), rtol=0, atol=TOL64)
            # evaluation: compiled once per batch shape, reused by later passes
            g.forward(steps.x[:100])
            graphs = counters["stats"]["unique_graphs"]
            for _ in range(3):
                g.forward(steps.x)
                g.forward(steps.x[:100])
            assert counters["stats"]["unique_graphs"] == graphs, "evaluation recompiled"
    # timing, float32, 1989: first window excluded (capture / compile / warm-up)
    v = VARIANTS["1989"]
    steps = make_steps(v, 2 * window, "float32")
    for strategy in ("eager",) + fast:
        s = b.session(variant=v, params=init_params(SEED, "float32", v), dtype="float32", device=dev,
                      strategy=strategy)
        t0 = time.perf_counter()
        s.train_steps(steps.slice(0, window))
        out[f"{strategy}_first_window_s"] = time.perf_counter() - t0
        us = []
        for w in range(1, windows + 1):
            s.sync()
            t0 = time.perf_counter()
            s.train_steps(steps.slice((w % 2) * window, (w % 2 + 1) * window))
            us.append((time.perf_counter() - t0) * 1e6 / window)
        out[f"{strategy}_us_per_example_median"] = float(np.median(us))
    print(out)
    return out


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cudagraph_matches_eager_on_cuda():
    cuda_smoke(n=120, windows=2)


def conv2d_kernels(session, x) -> list[tuple]:
    """Shapes of the conv2d kernels a session's forward calls, in order."""
    from torch.overrides import TorchFunctionMode

    seen = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is torch.nn.functional.conv2d or func is torch.conv2d:
                seen.append(tuple(args[1].shape))
            return func(*args, **(kwargs or {}))

    with Record():
        session.forward(x)
    return seen


def test_recorded_eval_impl_is_the_code_path():
    """Each torch session's recorded eval_impl describes the convolutions its forward runs."""
    v = VARIANTS["1989"]
    x = make_steps(v, 4, "float64").x
    e, c = eager(v), compiled(v, compile=False)
    assert "one conv2d per group" in e.environment()["eval_impl"]
    assert conv2d_kernels(e, x) == [(12, 1, 5, 5)] + [(4, 8, 5, 5)] * 3
    assert "H2 as one dense 12->12 convolution" in c.environment()["eval_impl"]
    assert conv2d_kernels(c, x) == [(12, 1, 5, 5), (12, 12, 5, 5)]
    assert c.environment()["strategy_settings"]["cuda_graphs"] is False


def test_compiled_graph_path_emulated_on_cpu():
    """`compiled` on CUDA trains through captured graphs: the same buffer logic, run eagerly here."""
    v = VARIANTS["modern"]
    steps = make_steps(v, 21, "float64")
    e = eager(v)
    c = compiled(v, unroll=4, compile=False, cuda_graphs=True, emulate=True)
    static = [p.data_ptr() for p in c.P + c.S]
    bounds = [(0, 9), (9, 21)]  # 9 = 2*4 + 1, 12 = 3*4
    np.testing.assert_allclose(run_chunks(c, steps, bounds), run_chunks(e, steps, bounds), rtol=0, atol=TOL64)
    assert_params_close(c.get_params(), e.get_params(), TOL64)
    assert [p.data_ptr() for p in c.P + c.S] == static and sorted(c.graphs) == [1, 4]
    assert c.environment()["strategy_settings"]["cuda_graphs"] is True
    with pytest.raises(ValueError, match="CUDA"):
        compiled(v, compile=False, cuda_graphs=True)


def test_compiled_falls_back_when_capture_fails(monkeypatch):
    """A capture that fails (before any replay) leaves the session untouched: it trains without CUDA
    graphs, warns, and records why."""
    v = VARIANTS["1989"]
    steps = make_steps(v, 9, "float64")
    c = compiled(v, unroll=4, compile=False, cuda_graphs=True, emulate=True)

    def broken(k):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(c, "_graph", broken)
    with pytest.warns(RuntimeWarning, match="capture failed"):
        got = c.train_steps(steps)
    np.testing.assert_allclose(got, eager(v).train_steps(steps), rtol=0, atol=TOL64)
    env = c.environment()["strategy_settings"]
    assert env["cuda_graphs"] is False and "not permitted" in env["cuda_graphs_error"]
