"""The NumPy reference the backends are checked against (harness.reference), against loops written
from the spec's words: each activation and its derivative (a finite difference; ReLU's 0 at 0), the
padded 5x5 stride-2 convolution element by element, H2's plane-by-plane connection table, and the
whole forward pass."""
from __future__ import annotations

import numpy as np
import pytest

from harness import reference, spec
from harness.spec import VARIANTS, init_params

A = np.linspace(-2.5, 2.5, 41)


@pytest.mark.parametrize("name", ["tanh", "scaled_tanh", "relu", "linear"])
def test_each_derivative_is_its_activations_slope(name):
    f = reference.activation(name)
    a = A[np.abs(A) > 1e-3]  # away from ReLU's kink
    h = 1e-6
    numeric = (f(a + h) - f(a - h)) / (2 * h)
    np.testing.assert_allclose(reference.derivative(name, a, f(a)), numeric, rtol=1e-6, atol=1e-8)


def test_activations_values():
    np.testing.assert_allclose(reference.activation("scaled_tanh")(A), 1.7159 * np.tanh(A * 2 / 3))
    np.testing.assert_array_equal(reference.activation("relu")(A), np.where(A > 0, A, 0.0))
    np.testing.assert_array_equal(reference.activation("linear")(A), A)
    np.testing.assert_array_equal(reference.activation("tanh")(A), np.tanh(A))


def test_relu_derivative_is_zero_at_zero_and_unknown_names_refused():
    a = np.array([-1.0, 0.0, 2.0])
    assert list(reference.derivative("relu", a, np.maximum(a, 0))) == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        reference.derivative("gelu", a, a)
    with pytest.raises(KeyError):
        reference.activation("gelu")


def _conv_loop(x, w):
    """The spec's words: pad by 2 with -1, 5x5 windows every 2 pixels, sum over input planes."""
    n, c, hgt, wid = x.shape
    xp = np.full((n, c, hgt + 4, wid + 4), -1.0)
    xp[:, :, 2:-2, 2:-2] = x
    oh = (hgt + 4 - 5) // 2 + 1
    out = np.zeros((n, w.shape[0], oh, oh))
    for b in range(n):
        for o in range(w.shape[0]):
            for y in range(oh):
                for x_ in range(oh):
                    out[b, o, y, x_] = np.sum(xp[b, :, 2 * y:2 * y + 5, 2 * x_:2 * x_ + 5] * w[o])
    return out


def test_conv_is_the_padded_stride_2_window_sum():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 8, 8))
    w = rng.normal(size=(4, 3, 5, 5))
    got = reference.conv(x, w)
    assert got.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(got, _conv_loop(x, w), rtol=1e-12, atol=1e-12)


def _forward_loop(p, x, act, out_act):
    h1 = act(_conv_loop(x, p["H1w"]) + p["H1b"])
    h2 = np.zeros((len(x), 12, 4, 4))
    for o, ins in enumerate(spec.H2_INPUTS):  # plane o: its H1 planes, H2w[o] in that order
        h2[:, o] = _conv_loop(h1[:, list(ins)], p["H2w"][o:o + 1])[:, 0]
    h2 = act(h2 + p["H2b"])
    h3 = act(h2.reshape(len(x), -1) @ p["H3w"] + p["H3b"])
    return h1, h2, h3, out_act(h3 @ p["outw"] + p["outb"])


@pytest.mark.parametrize("variant", ["1989", "modern"])
def test_forward_matches_the_loops_at_parameters_with_every_tensor_nonzero(variant):
    v = VARIANTS[variant]
    rng = np.random.default_rng(1)
    p = init_params(3, "float64", v)
    for k in ("H1b", "H2b", "H3b", "outb"):
        p[k] = rng.uniform(-0.5, 0.5, spec.PARAM_SHAPES[k])
    x = rng.uniform(-1, 1, (2, 1, 16, 16))
    acts = reference.activations(p, v, x)
    want = _forward_loop(p, x, reference.activation(v.hidden_activation), reference.activation(v.output_activation))
    for k, w in zip(("H1", "H2", "H3", "out"), want):
        assert acts[k].shape == w.shape
        np.testing.assert_allclose(acts[k], w, rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_array_equal(reference.forward(p, v, x), acts["out"])


def test_forward_keeps_the_inputs_dtype():
    v = VARIANTS["1989"]
    x = np.zeros((1, 1, 16, 16), dtype=np.float32)
    assert reference.forward(init_params(0, "float64", v), v, x).dtype == np.float32
