"""SDLM (variant 1989-sdlm): the schedule, the core's draws, the second-derivative pass and its
checks against exact Jacobians, the backends' h and per-parameter steps, the training hook."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness import sdlm, spec
from harness.backend import Steps, unsupported_reason
from harness.config import RunConfig
from harness.data import load_dataset, targets_pm1
from harness.train import train

V = spec.VARIANTS["1989-sdlm"]


def _x(n: int, seed: int = 0, dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 16, 16)).astype(dtype)


def _steps(x: np.ndarray, lr: float = 0.0) -> Steps:
    labels = np.arange(len(x)) % 10
    return Steps(x=x, targets=targets_pm1(labels, x.dtype.name), labels=labels.astype(np.int64),
                 lr=np.full(len(x), lr))


# ----------------------------------------------------------------------------- spec and core


def test_epsilon_schedule_is_lenet5s_by_pass():
    opt = V.optimizer
    want = [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 11
    assert [opt.epsilon_of_pass(e) for e in range(23)] == want
    # lr_schedule: each step gets the eps of its pass
    lr = V.lr_schedule(100 * 23, 4 * 100, 6 * 100, per_pass=100)
    assert (lr[:100] == 2e-4).all() and (lr[100:] == 1e-4).all()
    assert math.isclose(opt.mu, 0.002) and opt.hessian_examples == 500
    assert math.isclose(opt.output_curvature, 0.2)


def test_sdlm_starts_where_1989_starts_and_fanin_reads_the_paper():
    for seed in (0, 1337):
        a, b = spec.init_params(seed, "float64", "1989"), spec.init_params(seed, "float64", "1989-sdlm")
        assert all((a[k] == b[k]).all() for k in spec.PARAM_NAMES)  # only the optimiser differs
    f = spec.init_params(0, "float64", "1989-sdlm-fanin")
    for name, fan_in in spec.FAN_IN.items():
        assert 0.9 * 2.4 / fan_in < np.abs(f[name]).max() <= 2.4 / fan_in


def test_hessian_indices_are_seeded_distinct_and_per_pass():
    a = sdlm.hessian_indices(V, 7291, 1337, 0)
    assert len(a) == 500 and len(np.unique(a)) == 500 and a.min() >= 0 and a.max() < 7291
    assert (a == sdlm.hessian_indices(V, 7291, 1337, 0)).all()
    assert not np.array_equal(a, sdlm.hessian_indices(V, 7291, 1337, 1))
    assert not np.array_equal(a, sdlm.hessian_indices(V, 7291, 1, 0))
    assert (sdlm.hessian_indices(V, 40, 1337, 0) == np.arange(40)).all()  # fewer examples than 500


def test_step_scale_and_check_hessian():
    h = {k: np.full(s, 0.5) for k, s in spec.PARAM_SHAPES.items()}
    scale = sdlm.step_scale(h, 0.002, "float32")
    assert all(s.dtype == np.float32 and np.allclose(s, 1 / 0.502) for s in scale.values())
    sdlm.check_hessian(h)
    for bad in (-1.0, np.nan):
        with pytest.raises(ValueError, match="H3b"):
            sdlm.check_hessian({**h, "H3b": np.full(30, bad)})
    with pytest.raises(ValueError, match="no outb"):
        sdlm.check_hessian({k: v for k, v in h.items() if k != "outb"})


def test_unsupported_names_the_strategies_that_do():
    assert sdlm.unsupported("1989", "compiled", "torch", ("eager",)) is None
    assert sdlm.unsupported(V, "eager", "torch", ("eager",)) is None
    why = sdlm.unsupported("1989-sdlm", "compiled", "torch", ("eager",))
    assert "torch:compiled" in why and "eager" in why


# SDLM with the knobs its h depends on: the scaled tanh's f' and the sum's curvature 2 (harness/spec.py)
KNOB_SETS = ["", "activation=scaled_tanh output_activation=scaled_tanh", "reduction=sum",
             "activation=relu output_activation=linear"]


# ----------------------------------------------------------------------------- the recursion, checked
# against exact Jacobians (torch.func, float64)


def _torch_layers(torch):
    F = torch.nn.functional
    sel = torch.zeros(12, 8, 12, dtype=torch.float64)  # sel[o, s, i] = 1: slot s of plane o is H1 plane i
    for o, ins in enumerate(spec.H2_INPUTS):
        sel[o, range(8), list(ins)] = 1.0

    def pad(t):
        return F.pad(t, (2, 2, 2, 2), "constant", -1.0)

    return {  # each layer's pre-activation from (weight, bias, its input), one example
        1: lambda w, b, x: F.conv2d(pad(x[None]), w, stride=2)[0] + b,
        2: lambda w, b, y: F.conv2d(pad(y[None]), torch.einsum("osi,oshw->oihw", sel, w), stride=2)[0] + b,
        3: lambda w, b, y: y.reshape(192) @ w + b,
        4: lambda w, b, y: y @ w + b,
    }


def _exact(params: dict, x: np.ndarray):
    """(exact Gauss-Newton diagonal, the recursion built from each layer's Jacobian), one example.

    Exact: c * sum_j (dy_j / dtheta)^2 from the whole net's Jacobian. The second squares each
    layer's Jacobian elementwise before chaining them: D_4 = c f'(a_4)^2, D_l = f'(a_l)^2 *
    (J_{l+1}^2)^T D_{l+1} with J_{l+1} = da_{l+1}/dy_l, and h_theta = (J_theta^2)^T D_l with
    J_theta = da_l/dtheta. A convolution connects an input to an output unit through at most one
    weight, and a weight to an output unit through one input, so squaring a Jacobian entry squares
    one connection: this is the LeCun recursion (a sum of squared path derivatives), computed
    from autograd Jacobians instead of squared weights and convolution adjoints.
    """
    torch = pytest.importorskip("torch")
    from torch.func import jacrev

    L = _torch_layers(torch)
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    names = {1: ("H1w", "H1b"), 2: ("H2w", "H2b"), 3: ("H3w", "H3b"), 4: ("outw", "outb")}
    c = V.optimizer.output_curvature

    def net(q):
        y = torch.tensor(x[0], dtype=torch.float64)
        for i in range(1, 5):
            y = torch.tanh(L[i](q[names[i][0]], q[names[i][1]], y))
        return y

    J = jacrev(net)(p)
    exact = {k: (c * (J[k] ** 2).sum(0)).numpy() for k in spec.PARAM_NAMES}
    ys = [torch.tensor(x[0], dtype=torch.float64)]
    for i in range(1, 5):
        ys.append(torch.tanh(L[i](p[names[i][0]], p[names[i][1]], ys[-1])))
    D = c * (1 - ys[4] ** 2) ** 2
    chain = {}
    for i in (4, 3, 2, 1):
        w, b = p[names[i][0]], p[names[i][1]]
        jw, jb, jy = jacrev(L[i], argnums=(0, 1, 2))(w, b, ys[i - 1])
        n = D.numel()
        chain[names[i][0]] = ((jw.reshape(n, -1) ** 2).T @ D.reshape(n)).reshape(w.shape).numpy()
        chain[names[i][1]] = ((jb.reshape(n, -1) ** 2).T @ D.reshape(n)).reshape(b.shape).numpy()
        if i > 1:
            D = (1 - ys[i - 1] ** 2) ** 2 * ((jy.reshape(n, -1) ** 2).T @ D.reshape(n)).reshape(ys[i - 1].shape)
    return exact, chain


@pytest.mark.parametrize("seed", [1])
def test_recursion_exact_where_each_weight_has_one_path_and_a_squared_jacobian_chain_everywhere(seed):
    params = spec.init_params(seed, "float64", V)
    params["H1b"] = np.random.default_rng(seed).normal(0, 0.3, (12, 8, 8))  # biases off zero: a general point
    x = _x(1, seed)
    h = sdlm.hessian_diag_numpy(params, V, x)
    exact, chain = _exact(params, x)
    for k in spec.PARAM_NAMES:  # the recursion is the squared-Jacobian chain, for every tensor
        np.testing.assert_allclose(h[k], chain[k], rtol=1e-10, atol=1e-15 * np.abs(chain[k]).max(), err_msg=k)
    # out and H3 reach each output through a single unit: no cross terms, the recursion is exact
    for k in ("outw", "outb", "H3w", "H3b"):
        np.testing.assert_allclose(h[k], exact[k], rtol=1e-10, atol=1e-15, err_msg=k)
    # H2 and H1 reach the outputs through many paths (and H1w/H2w are shared): the recursion
    # drops the cross terms, so it is not the exact Gauss-Newton diagonal there
    for k in ("H2w", "H2b", "H1w", "H1b"):
        assert np.abs(h[k] - exact[k]).max() > 1e-3 * np.abs(exact[k]).max(), k


@pytest.mark.parametrize("sets", KNOB_SETS)
def test_numpy_forward_is_the_networks(sets):
    torch = pytest.importorskip("torch")
    from backends.torch.network import make_net
    from harness import reference
    from harness.recipe import variant_of

    v = variant_of("1989-sdlm", sets.split())
    params = spec.init_params(3, "float64", v)
    x = _x(5, 3)
    want = make_net(torch, v)(params).double()(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(sdlm.forward_numpy(params, v, x)["out"], want, rtol=0, atol=1e-14)
    np.testing.assert_allclose(reference.forward(params, v, x), want, rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------- the backends


def _session(backend: str, strategy: str, dtype: str, seed: int = 3, variant=V):
    if backend == "torch":
        pytest.importorskip("torch")
        from backends.torch import TorchBackend as B
    else:
        pytest.importorskip("jax")
        from backends.jax import JaxBackend as B
    return B().session(variant=variant, params=spec.init_params(seed, dtype, variant), dtype=dtype, device="cpu",
                       strategy=strategy)


TARGETS = [("torch", "eager"), ("jax", "step"), ("jax", "scan")]


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-13), ("float32", 5e-6)])
@pytest.mark.parametrize("backend,strategy", TARGETS)
@pytest.mark.parametrize("sets", KNOB_SETS)
def test_backend_h_matches_the_numpy_reference(backend, strategy, dtype, rtol, sets, torch_one_thread):
    from harness.recipe import variant_of

    v = variant_of("1989-sdlm", sets.split())
    s = _session(backend, strategy, dtype, variant=v)
    x = _x(9, 4, dtype)
    got = s.hessian_diag(_steps(x))
    want = sdlm.hessian_diag_numpy(spec.init_params(3, "float64", v), v, x.astype("float64"))
    for k in spec.PARAM_NAMES:
        assert got[k].shape == spec.PARAM_SHAPES[k]
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=rtol * np.abs(want[k]).max(), err_msg=k)


@pytest.mark.parametrize("backend,strategy", TARGETS)
def test_a_step_is_eps_times_scale_times_grad(backend, strategy, torch_one_thread):
    s = _session(backend, strategy, "float64")
    x = _x(1, 5)
    rng = np.random.default_rng(5)
    scale = {k: rng.uniform(0.5, 400.0, shp) for k, shp in spec.PARAM_SHAPES.items()}
    s.set_step_scale(scale)
    p0 = s.get_params()
    _, g = s.loss_and_grads(_steps(x))
    s.train_steps(_steps(x, lr=3e-4))
    p1 = s.get_params()
    for k in spec.PARAM_NAMES:
        np.testing.assert_allclose(p1[k], p0[k] - 3e-4 * scale[k] * g[k], rtol=0, atol=1e-14, err_msg=k)


def test_torch_fast_strategies_declare_sdlm_unsupported():
    pytest.importorskip("torch")
    from backends.torch import TorchBackend

    b = TorchBackend()  # SDLM is the knob optimizer=sdlm, declared by Backend.knobs
    assert unsupported_reason(b, "eager", "1989-sdlm", "float64") is None
    assert unsupported_reason(b, "compiled", "1989", "float64") is None
    why = unsupported_reason(b, "compiled", "1989-sdlm", "float32")
    assert "optimizer=sdlm" in why and "strategies that do: eager" in why
    with pytest.raises(ValueError, match="does not implement SDLM"):
        b.session(variant=V, params=spec.init_params(0, "float32", V), dtype="float32", device="cpu",
                  strategy="compiled")


# ----------------------------------------------------------------------------- the training hook


class Recorder:
    """A session that records what the core asks of it (numbers from the NumPy reference)."""

    def __init__(self):
        self.params = spec.init_params(0, "float64", V)
        self.calls: list[tuple] = []

    def hessian_diag(self, steps):
        self.calls.append(("h", steps.x.copy()))
        return sdlm.hessian_diag_numpy(self.params, V, steps.x)

    def set_step_scale(self, scale):
        self.calls.append(("scale", scale))

    def train_steps(self, steps):
        self.calls.append(("train", steps.lr.copy()))
        return np.zeros(len(steps))

    def forward(self, x):
        return sdlm.forward_numpy(self.params, V, x)["out"]

    def sync(self):
        pass


def test_a_session_without_the_sdlm_methods_is_named():
    class Plain:
        def train_steps(self, steps):
            return np.zeros(len(steps))

    with pytest.raises(TypeError, match="Plain has no hessian_diag / set_step_scale"):
        sdlm.before_pass(Plain(), V, load_dataset("synthetic", dtype="float64"), 0, 0, "float64")


def test_train_reestimates_h_before_each_pass_on_the_drawn_examples():
    data = load_dataset("synthetic", dtype="float64")
    s = Recorder()
    n = len(data.train_x)
    assert n > V.optimizer.hessian_examples  # so h sees a drawn subset
    log = train(s, RunConfig(variant=V.name, dataset="synthetic", dtype="float64", seed=7, epochs=3, window=1000),
                data)
    kinds = [c[0] for c in s.calls]
    assert kinds == ["h", "scale", "train"] * 3
    for e in range(3):
        _, hx = s.calls[3 * e]
        want = data.train_x[sdlm.hessian_indices(V, n, 7, e)]
        assert np.array_equal(hx, want)
        h = sdlm.hessian_diag_numpy(s.params, V, want)
        scale = s.calls[3 * e + 1][1]
        assert all(np.allclose(scale[k], 1 / (V.optimizer.mu + h[k])) for k in spec.PARAM_NAMES)
        assert (s.calls[3 * e + 2][1] == V.optimizer.epsilon_of_pass(e)).all()
        assert set(log.epochs[e]["hessian"]) == set(spec.PARAM_NAMES)


# ----------------------------------------------------------------------------- the seed table script


def test_seed_table_means_and_sds(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for seed, test_err in ((1, 0.05), (2, 0.07)):
        final = {"train_error": 0.001, "test_error": test_err, "train_loss": 3e-3, "test_loss": 4e-2}
        r = {"kind": "run", "variant": "1989-sdlm", "backend": "jax", "strategy": "scan", "dtype": "float32",
             "seed": seed, "epochs": [{**final, "epoch": 1}], "final": final}
        (tmp_path / f"run-{seed}.json").write_text(json.dumps(r))
    out = subprocess.run([sys.executable, str(root / "scripts" / "sdlm_seed_table.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("| 1989-sdlm"))
    assert "| 2 (1, 2) |" in row and "| 6.00 ± 1.41 |" in row  # mean 6%, sample sd sqrt(2)%
    bad = subprocess.run([sys.executable, str(root / "scripts" / "sdlm_seed_table.py"), str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "not a folder" in bad.stderr
