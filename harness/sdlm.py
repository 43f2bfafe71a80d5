"""Stochastic diagonal Levenberg-Marquardt (SDLM): what the core decides, and a NumPy reference.

The update of parameter k at a step of pass p is

    theta_k -= eps_p / (mu + h_k) * dE/dtheta_k

with h_k the diagonal of the Gauss-Newton approximation of the Hessian, estimated by
back-propagating second derivatives (LeCun 1987; "Efficient BackProp" 1998, section 9;
LeNet-5, LeCun et al. 1998, appendix C) and averaged over a subset of training examples
drawn before each pass. The core decides everything that is not arithmetic: which examples
estimate h and when (`hessian_indices`, drawn in NumPy from the seed), each step's eps
(spec.Variant.lr_schedule: the Steps' `lr`), and the per-parameter step scale 1 / (mu + h)
(`step_scale`), which it hands to the session; a session then updates
theta -= lr * scale * grad. Backends compute h in their framework (optional Session methods
`hessian_diag(steps)` and `set_step_scale(scale)`); `hessian_diag_numpy` below is the
framework-free reference they are checked against.

The second-derivative recursion for the loss E = c sum_j (y_j - t_j)^2, y = f(a), c = 1/10 (the
mean over the 10 outputs) or 1 (their sum: the knob `reduction`), for any f of the knobs
`activation` and `output_activation` (f' from harness.reference.derivative):
  output unit j   d2E/da_j^2 = 2c f'(a_j)^2      (Gauss-Newton: the f'' term is dropped; 2c is
                                                  SDLM.output_curvature)
  hidden unit i   d2E/da_i^2 = f'(a_i)^2 sum_k w_ki^2 d2E/da_k^2   (off-diagonal terms dropped)
  weight w_ki     h = sum over its connections of x_i^2 d2E/da_k^2  (a shared weight: all of them)
  bias (untied)   h = d2E/da^2 of its unit
Padding (-1) is a constant input: it counts as x^2 = 1 in a weight's sum and receives nothing.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .backend import Steps
from .data import Dataset, targets_pm1
from .reference import activation, derivative
from .spec import (
    H2_INPUTS,
    PAD,
    PAD_VALUE,
    PARAM_NAMES,
    PARAM_SHAPES,
    SDLM,
    VARIANTS,
    Variant,
    h2w_dense,
)

SDLM_STREAM = 15  # third entry of the seed sequence of h's draws: apart from the passes' draws


def is_sdlm(variant: Variant) -> bool:
    return isinstance(variant.optimizer, SDLM)


def unsupported(variant: Variant | str, strategy: str, backend: str, strategies: tuple[str, ...]) -> str | None:
    """For a Backend's `supports`: the reason `strategy` cannot train `variant` when only
    `strategies` implement SDLM, or None (a name that is no variant: None, left to the caller)."""
    v = VARIANTS.get(variant) if isinstance(variant, str) else variant
    if v is None or not is_sdlm(v) or strategy in strategies:
        return None
    return (f"{backend}:{strategy} does not implement SDLM (variant {v.name}: second-derivative pass, "
            f"per-parameter steps); {backend} strategies that do: {', '.join(strategies)}")


def hessian_indices(variant: Variant, n_train: int, seed: int, epoch: int) -> np.ndarray:
    """The training examples (indices, sorted) that estimate h before pass `epoch` (0-based)."""
    rng = np.random.default_rng([seed, epoch, SDLM_STREAM])
    k = min(variant.optimizer.hessian_examples, n_train)
    return np.sort(rng.choice(n_train, size=k, replace=False))


def hessian_steps(data: Dataset, indices: np.ndarray, dtype: str, t: float = 1.0) -> Steps:
    """The examples of `indices` as Steps, targets ±t (lr unused: estimating h changes no
    parameter; Gauss-Newton's h does not depend on the targets)."""
    labels = data.train_labels[indices]
    return Steps(x=np.ascontiguousarray(data.train_x[indices], dtype=dtype),
                 targets=targets_pm1(labels, dtype, t), labels=labels.astype(np.int64),
                 lr=np.zeros(len(indices)))


def step_scale(h: dict[str, np.ndarray], mu: float, dtype: str) -> dict[str, np.ndarray]:
    """1 / (mu + h) per parameter, canonical layout; the session multiplies each gradient by it."""
    return {k: (1.0 / (mu + np.asarray(h[k], dtype=np.float64))).astype(dtype) for k in PARAM_NAMES}


def check_hessian(h: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless h is complete, canonical, finite and >= 0 (a sum of squares)."""
    for k, shape in PARAM_SHAPES.items():
        if k not in h:
            raise ValueError(f"hessian_diag returned no {k}")
        a = np.asarray(h[k])
        if a.shape != shape:
            raise ValueError(f"hessian_diag's {k} has shape {a.shape}, expected {shape}")
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"hessian_diag's {k} has {int((~np.isfinite(a)).sum())} non-finite and "
                             f"{int((a < 0).sum())} negative entries: a sum of squares is finite and >= 0")


def before_pass(session, variant: Variant, data: Dataset, seed: int, epoch: int, dtype: str,
                limit: int | None = None) -> dict:
    """Re-estimate h on pass `epoch`'s subset and hand the step scale to the session.

    :return: a summary per tensor (mean and max of h) for the run's log.
    """
    missing = [m for m in ("hessian_diag", "set_step_scale") if not hasattr(session, m)]
    if missing:
        raise TypeError(f"{type(session).__name__} has no {' / '.join(missing)}: its backend does not "
                        f"implement SDLM (variant {variant.name}); declare it in Backend.supports")
    n_train = len(data.train_x) if limit is None else min(limit, len(data.train_x))
    idx = hessian_indices(variant, n_train, seed, epoch)
    h = session.hessian_diag(hessian_steps(data, idx, dtype, variant.targets))
    check_hessian(h)
    session.set_step_scale(step_scale(h, variant.optimizer.mu, dtype))
    return {k: {"mean": float(np.mean(h[k])), "max": float(np.max(h[k]))} for k in PARAM_NAMES}


# ----------------------------------------------------------------------------- NumPy reference


def _pad(x: np.ndarray) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)), constant_values=PAD_VALUE)


def _patches(u: np.ndarray) -> np.ndarray:
    """(B, C, H, W) padded input -> (B, C * 25, oh * ow) patches of a 5x5 stride-2 convolution."""
    w = sliding_window_view(u, (5, 5), axis=(2, 3))[:, :, ::2, ::2]  # (B, C, oh, ow, 5, 5)
    b, c, oh, ow = w.shape[:4]
    return w.transpose(0, 1, 4, 5, 2, 3).reshape(b, c * 25, oh * ow)


def _col2im(dp: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Adjoint of _patches: (B, C * 25, oh * ow) -> (B, C, H, W) padded input, summing overlaps."""
    b, c, hh, ww = shape
    oh, ow = (hh - 5) // 2 + 1, (ww - 5) // 2 + 1
    d = dp.reshape(b, c, 5, 5, oh, ow)
    out = np.zeros(shape, dtype=dp.dtype)
    for kh in range(5):
        for kw in range(5):
            out[:, :, kh:kh + 2 * oh:2, kw:kw + 2 * ow:2] += d[:, :, kh, kw]
    return out


def forward_numpy(params: dict[str, np.ndarray], variant: Variant, x: np.ndarray) -> dict:
    """The forward pass in NumPy, keeping what the second-derivative pass needs.

    :return: {"u1", "u2": padded inputs of H1 and H2, "a1".."a4": pre-activations,
        "y1".."y3": hidden outputs, "out": the output}.
    """
    p = {k: np.asarray(v) for k, v in params.items()}
    act = variant.hidden_activation
    c: dict = {"u1": _pad(np.asarray(x).reshape(-1, 1, 16, 16))}  # (B, 1, 20, 20)
    b = len(c["u1"])
    c["a1"] = (p["H1w"].reshape(12, 25) @ _patches(c["u1"])).reshape(b, 12, 8, 8) + p["H1b"]
    c["y1"] = activation(act)(c["a1"])  # (B, 12, 8, 8)
    c["u2"] = _pad(c["y1"])  # (B, 12, 12, 12)
    w2 = h2w_dense(p["H2w"]).reshape(12, 300)
    c["a2"] = (w2 @ _patches(c["u2"])).reshape(b, 12, 4, 4) + p["H2b"]
    c["y2"] = activation(act)(c["a2"])  # (B, 12, 4, 4)
    c["a3"] = c["y2"].reshape(b, 192) @ p["H3w"] + p["H3b"]
    c["y3"] = activation(act)(c["a3"])  # (B, 30)
    c["a4"] = c["y3"] @ p["outw"] + p["outb"]
    c["out"] = activation(variant.output_activation)(c["a4"])  # (B, 10)
    return c


def _h2_canonical(dense: np.ndarray) -> np.ndarray:
    """(12, 12, 5, 5) dense H2 kernel -> the (12, 8, 5, 5) connected entries."""
    return np.stack([dense[o, list(ins)] for o, ins in enumerate(H2_INPUTS)])


def hessian_diag_numpy(params: dict[str, np.ndarray], variant: Variant, x: np.ndarray) -> dict[str, np.ndarray]:
    """h in canonical layout, averaged over the examples of x (B, 1, 16, 16), in x's dtype.

    The recursion of the module docstring, layer by layer: d2E/da^2 for each layer's
    pre-activation (d4 .. d1), then each parameter's sum over its connections.
    """
    if variant.loss != "mse":
        raise ValueError(f"the second-derivative pass is defined for the mse loss, not {variant.loss!r}")
    p = {k: np.asarray(v) for k, v in params.items()}
    c = forward_numpy(p, variant, x)
    b = len(c["out"])
    act = variant.hidden_activation
    fp = lambda i: derivative(act, c[f"a{i}"], c[f"y{i}"]) ** 2
    h: dict[str, np.ndarray] = {}
    d4 = variant.optimizer.output_curvature * derivative(variant.output_activation, c["a4"], c["out"]) ** 2
    h["outw"], h["outb"] = (c["y3"] ** 2).T @ d4, d4.sum(0)  # (30, 10), (10,)
    d3 = fp(3) * (d4 @ (p["outw"] ** 2).T)  # (B, 30)
    y2 = c["y2"].reshape(b, 192)
    h["H3w"], h["H3b"] = (y2 ** 2).T @ d3, d3.sum(0)  # (192, 30), (30,)
    d2 = fp(2) * (d3 @ (p["H3w"] ** 2).T).reshape(b, 12, 4, 4)
    d2f = d2.reshape(b, 12, 16)
    P2sq = _patches(c["u2"]) ** 2  # (B, 300, 16)
    h["H2w"] = _h2_canonical(np.einsum("bop,bkp->ok", d2f, P2sq).reshape(12, 12, 5, 5))
    h["H2b"] = d2.sum(0)
    w2sq = h2w_dense(p["H2w"]).reshape(12, 300) ** 2  # zeros where unconnected: nothing flows there
    du2 = _col2im(np.einsum("ok,bop->bkp", w2sq, d2f), c["u2"].shape)  # (B, 12, 12, 12)
    d1 = fp(1) * du2[:, :, PAD:-PAD, PAD:-PAD]  # (B, 12, 8, 8): padding receives nothing
    P1sq = _patches(c["u1"]) ** 2  # (B, 25, 64)
    h["H1w"] = np.einsum("bop,bkp->ok", d1.reshape(b, 12, 64), P1sq).reshape(12, 1, 5, 5)
    h["H1b"] = d1.sum(0)
    return {k: (h[k] / b).astype(p[k].dtype) for k in PARAM_NAMES}
