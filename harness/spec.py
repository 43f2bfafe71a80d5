"""The network as data: shapes, H2's connectivity, initialisation, the variants.

Everything here is framework-free and identical for every backend. Parameter
names follow the paper and karpathy/lecun1989-repro (H1w, H1b, ...).
docs/spec.md states, as formulas, everything a backend computes from these:

    H1  = act(conv(pad(x), H1w) + H1b)           x (n, 1, 16, 16) -> (n, 12, 8, 8)
    H2  = act(conv_o(pad(H1)[H2_INPUTS[o]], H2w[o]) + H2b)          -> (n, 12, 4, 4)
    H2' = H2 * mask (training, modern: the core's mask, already scaled by 1/(1-p))
    H3  = act(flatten_CHW(H2') @ H3w + H3b)                         -> (n, 30)
    out = out_act(H3 @ outw + outb)                                 -> (n, 10)

pad: PAD entries of PAD_VALUE (-1) on each side of both spatial axes, for H1's
and for H2's input alike (after H1's nonlinearity, whatever the activation);
conv: cross-correlation with KERNEL x KERNEL windows at stride STRIDE (no flip,
like torch.nn.functional.conv2d), the windows starting at padded index 0, 2, 4...
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

# Canonical layout (channel-major, like the paper's figures and torch's OIHW).
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (12, 1, 5, 5),
    "H1b": (12, 8, 8),  # untied biases: one per unit
    "H2w": (12, 8, 5, 5),  # each output plane sees 8 of H1's 12 planes
    "H2b": (12, 4, 4),
    "H3w": (192, 30),  # rows: H2's output flattened as (C, H, W)
    "H3b": (30,),
    "outw": (30, 10),
    "outb": (10,),
}
PARAM_NAMES: tuple[str, ...] = tuple(PARAM_SHAPES)

# H2 output plane o sees these H1 planes, in this order (H2w[o] holds them so).
H2_INPUTS: tuple[tuple[int, ...], ...] = (
    *[tuple(range(8))] * 4,  # planes 0-3 see 0-7
    *[tuple(range(4, 12))] * 4,  # planes 4-7 see 4-11
    *[(0, 1, 2, 3, 8, 9, 10, 11)] * 4,  # planes 8-11 see 0-3 and 8-11
)


def _h2_groups(h2_inputs) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """(output planes, their shared input planes) for each run of consecutive output planes
    with the same inputs."""
    groups: list[tuple[list[int], tuple[int, ...]]] = []
    for o, ins in enumerate(h2_inputs):
        if groups and groups[-1][1] == tuple(ins):
            groups[-1][0].append(o)
        else:
            groups.append(([o], tuple(ins)))
    return tuple((tuple(outs), ins) for outs, ins in groups)


# The output planes that share an input set (for sliced convs): three groups of 4,
# derived from H2_INPUTS so the table is written once.
H2_GROUPS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = _h2_groups(H2_INPUTS)

INPUT_SHAPE = (1, 16, 16)
KERNEL = 5  # H1 and H2: 5x5 windows
STRIDE = 2  # H1: 16 -> 8 (padded 20, windows at 0, 2, ..., 14); H2: 8 -> 4 (padded 12, at 0, 2, 4, 6)
PAD = 2  # on each side of both spatial axes, for H1's and H2's input
PAD_VALUE = -1.0  # the paper pads with "background", which is -1 in [-1, 1]
N_CLASSES = 10

# Fan-in per layer, for U(-2.4/sqrt(F), 2.4/sqrt(F)).
FAN_IN = {"H1w": 1 * 5 * 5, "H2w": 8 * 5 * 5, "H3w": 192, "outw": 30}

# Initialisation bounds, Variant.init: weights U(-2.4/d, 2.4/d) with d =
#   "sqrt_fan_in": sqrt(F), karpathy/lecun1989-repro's reading ("as described in the paper to my
#                  best ability, but it doesn't look right"), the harness's default;
#   "fan_in":      F, what the 1989 paper and LeNet-5's appendix A print ("a uniform distribution
#                  between -2.4/F_i and 2.4/F_i where F_i is the number of inputs (fan-in)").
INITS = ("sqrt_fan_in", "fan_in")

# Expected counts; checked below from the shapes so a typo cannot hide.
N_PARAMS = 9760
N_PARAMS_PER_LAYER = {"H1": 1068, "H2": 2592, "H3": 5790, "out": 310}
N_MACS = 63_660
N_ACTIVATIONS = 1000


def count_params() -> dict[str, int]:
    per_layer: dict[str, int] = {}
    for name, shape in PARAM_SHAPES.items():
        layer = name[:-1]
        per_layer[layer] = per_layer.get(layer, 0) + math.prod(shape)
    return per_layer


def count_macs() -> int:
    h1 = 12 * 8 * 8 * (1 * 5 * 5)  # 19,200
    h2 = 12 * 4 * 4 * (8 * 5 * 5)  # 38,400
    h3 = 192 * 30  # 5,760
    out = 30 * 10  # 300
    return h1 + h2 + h3 + out


def count_activations() -> int:
    return 12 * 8 * 8 + 12 * 4 * 4 + 30 + 10


assert count_params() == N_PARAMS_PER_LAYER, count_params()
assert sum(count_params().values()) == N_PARAMS
assert count_macs() == N_MACS
assert count_activations() == N_ACTIVATIONS


@dataclass(frozen=True)
class SGD:
    lr: float
    kind: str = "sgd"


@dataclass(frozen=True)
class AdamW:
    lr_start: float
    lr_end: float  # decayed linearly over the whole run, per example
    beta1: float
    beta2: float
    eps: float
    # decoupled: each step p <- p (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps), bias-corrected
    # m_hat, v_hat, eps outside the square root (torch.optim.AdamW and optax.adamw; docs/spec.md)
    weight_decay: float
    kind: str = "adamw"


@dataclass(frozen=True)
class SDLM:
    """Stochastic diagonal Levenberg-Marquardt (LeCun 1987; Becker & LeCun 1988; "Efficient
    BackProp" 1998; LeNet-5, LeCun et al. 1998, appendix C and section III.C): parameter k steps by
    eps_pass / (mu + h_k) times its gradient, h_k the diagonal Gauss-Newton estimate of the
    Hessian averaged over `hessian_examples` training examples drawn before each pass
    (harness/sdlm.py; docs/sdlm.md derives the constants for this loss).

    `epsilon`: ((passes, eps), ...) in order, then `epsilon_after` for every later pass.
    """

    epsilon: tuple[tuple[int, float], ...]
    epsilon_after: float
    mu: float
    hessian_examples: int
    output_curvature: float  # Gauss-Newton d2E/dy2 of one output for this loss
    kind: str = "sdlm"

    def epsilon_of_pass(self, epoch: int) -> float:
        """eps of pass `epoch` (0-based)."""
        end = 0
        for passes, eps in self.epsilon:
            end += passes
            if epoch < end:
                return eps
        return self.epsilon_after


# LeNet-5 (LeCun et al. 1998), section III.C, for the method of its appendix C: eps 0.0005 for
# 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001; mu = 0.02; h re-estimated
# on 500 examples before each pass. eps is left as it is: a (damped) Newton step
# eps * g / (mu + h) does not change when the loss is scaled by c if mu is scaled by c too
# (g, h -> c g, c h). LeNet-5's loss is a plain sum of squares over its output
# units (Gauss-Newton d2E/dy2 = 2 per unit); this one, the mean over 10 outputs of (y - t)^2, has
# 2/10 per unit: c = 1/10, so mu = 0.02 / 10.
LENET5_EPSILON = ((2, 5e-4), (3, 2e-4), (3, 1e-4), (4, 5e-5))
LENET5_EPSILON_AFTER = 1e-5
LENET5_MU = 0.02
LENET5_HESSIAN_EXAMPLES = 500
MSE_MEAN_OVER = 10  # outputs the 1989 loss averages over
SDLM_1989 = SDLM(
    epsilon=LENET5_EPSILON,
    epsilon_after=LENET5_EPSILON_AFTER,
    mu=LENET5_MU / MSE_MEAN_OVER,
    hessian_examples=LENET5_HESSIAN_EXAMPLES,
    output_curvature=2.0 / MSE_MEAN_OVER,
)


@dataclass(frozen=True)
class Variant:
    name: str
    hidden_activation: str  # "tanh" | "relu" in H1-H3
    output_activation: str  # "tanh" | "linear"
    # "mse": mean over the 10 outputs of (target - out)^2, ±1 targets (+1 at the label);
    # "xent": -log softmax(out)[label] on the linear output (docs/spec.md)
    loss: str
    optimizer: SGD | AdamW | SDLM
    epochs: int
    outb_init: float
    augment_shift: int = 0  # roll each training example by (dy, dx) in [-s, s]^2, wrap-around
    dropout: float = 0.0  # on H2's output, masks drawn by the core
    batch_size: int = 1  # per-example training; every variant
    init: str = "sqrt_fan_in"  # weight bounds 2.4/sqrt(F) or 2.4/F: see INITS

    def lr_schedule(self, n_steps_total: int, start: int, stop: int, per_pass: int | None = None) -> np.ndarray:
        """Learning rate of global steps [start, stop), float64 (SDLM: eps of each step's pass,
        `per_pass` steps a pass, by default stop - start)."""
        steps = np.arange(start, stop, dtype=np.float64)
        opt = self.optimizer
        if isinstance(opt, SGD):
            return np.full(stop - start, opt.lr)
        if isinstance(opt, SDLM):
            n = per_pass or max(stop - start, 1)
            return np.array([opt.epsilon_of_pass(int(s) // n) for s in steps], dtype=np.float64)
        frac = steps / max(n_steps_total - 1, 1)
        return opt.lr_start + (opt.lr_end - opt.lr_start) * frac

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


VARIANTS: dict[str, Variant] = {
    "1989": Variant(
        name="1989",
        hidden_activation="tanh",
        output_activation="tanh",
        loss="mse",
        optimizer=SGD(lr=0.03),
        epochs=23,
        outb_init=-1.0,
    ),
    "modern": Variant(
        name="modern",
        hidden_activation="relu",
        output_activation="linear",
        loss="xent",
        optimizer=AdamW(
            lr_start=3e-4, lr_end=1e-4, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01
        ),
        epochs=80,
        outb_init=0.0,
        augment_shift=1,
        dropout=0.25,
    ),
}
# The paper's optimiser on the 1989 net and loss; the same initialisation as "1989", so the
# comparison with it changes only the optimiser. And with the initialisation the paper prints
# (2.4/F, not 2.4/sqrt(F)).
VARIANTS["1989-sdlm"] = replace(VARIANTS["1989"], name="1989-sdlm", optimizer=SDLM_1989)
VARIANTS["1989-sdlm-fanin"] = replace(VARIANTS["1989-sdlm"], name="1989-sdlm-fanin", init="fan_in")

DTYPES = ("float32", "float64")


def init_params(seed: int, dtype: str = "float32", variant: str | Variant = "1989") -> dict[str, np.ndarray]:
    """Initial parameters in canonical layout, drawn in NumPy from `seed`.

    Weights U(-2.4/sqrt(F), 2.4/sqrt(F)) with F the fan-in (U(-2.4/F, 2.4/F) where
    variant.init == "fan_in"); biases 0, except outb = variant.outb_init (-1 in the
    1989 variant). Drawn in float64 and cast, so float32 and float64 runs start
    from the same values.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    v = VARIANTS[variant] if isinstance(variant, str) else variant
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for name in PARAM_NAMES:
        shape = PARAM_SHAPES[name]
        if name in FAN_IN:
            bound = 2.4 / (FAN_IN[name] if v.init == "fan_in" else math.sqrt(FAN_IN[name]))
            p = rng.uniform(-bound, bound, size=shape)
        elif name == "outb":
            p = np.full(shape, v.outb_init)
        else:
            p = np.zeros(shape)
        params[name] = p.astype(dtype)
    return params


def nonzero_params(seed: int, dtype: str = "float32", variant: str | Variant = "1989") -> dict[str, np.ndarray]:
    """init_params(seed, dtype, variant) with every bias drawn too (U(-0.5, 0.5), from a stream of its own):
    parameters where no tensor is zero, so a forward pass that drops or misplaces a bias shows
    (at the initial parameters every bias but outb is 0)."""
    params = init_params(seed, dtype, variant)
    rng = np.random.default_rng([seed, 1989])  # not the weights' stream: the weights stay init_params's
    for name in PARAM_NAMES:
        if name not in FAN_IN:
            params[name] = rng.uniform(-0.5, 0.5, size=PARAM_SHAPES[name]).astype(dtype)
    return params


def check_params(params: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless `params` is a complete canonical parameter set."""
    missing = set(PARAM_NAMES) - set(params)
    extra = set(params) - set(PARAM_NAMES)
    if missing or extra:
        raise ValueError(f"parameter names differ: missing {sorted(missing)}, extra {sorted(extra)}")
    for name, shape in PARAM_SHAPES.items():
        if tuple(params[name].shape) != shape:
            raise ValueError(f"{name} has shape {tuple(params[name].shape)}, expected {shape}")


def h2_dense_mask() -> np.ndarray:
    """(12, 12) 0/1 matrix: mask[o, i] = 1 when H2 output plane o sees H1 plane i."""
    m = np.zeros((12, 12))
    for o, ins in enumerate(H2_INPUTS):
        m[o, list(ins)] = 1
    return m


def h2w_dense(H2w: np.ndarray) -> np.ndarray:
    """(12, 8, 5, 5) canonical H2w -> (12, 12, 5, 5) dense kernel with zeros where unconnected."""
    dense = np.zeros((12, 12, 5, 5), dtype=H2w.dtype)
    for o, ins in enumerate(H2_INPUTS):
        dense[o, list(ins)] = H2w[o]
    return dense
