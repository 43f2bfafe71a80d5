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
from dataclasses import asdict, dataclass

import numpy as np

from .knobs import NONZERO, VALUE, Knob, show

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


# LeNet-5 (LeCun et al. 1998) trained with "a schedule per pass" of 60,000 updates: an SDLM
# schedule "per_update" counts its passes in those units rather than in passes over this data.
LENET5_PASS_UPDATES = 60_000
SDLM_SCHEDULES = ("per_pass", "per_update")


@dataclass(frozen=True)
class SDLM:
    """Stochastic diagonal Levenberg-Marquardt (LeCun 1987; Becker & LeCun 1988; "Efficient
    BackProp" 1998; LeNet-5, LeCun et al. 1998, appendix C and section III.C): parameter k steps by
    eps / (mu + h_k) times its gradient, h_k the diagonal Gauss-Newton estimate of the
    Hessian averaged over `hessian_examples` training examples drawn before each pass
    (harness/sdlm.py; docs/sdlm.md derives the constants for this loss).

    `epsilon`: ((passes, eps), ...) in order, then `epsilon_after` for every later pass; each eps
    times `eps_scale`. `schedule`: "per_pass" (a pass is one over the training data) or
    "per_update" (a pass is LENET5_PASS_UPDATES updates, LeNet-5's).
    """

    epsilon: tuple[tuple[int, float], ...]
    epsilon_after: float
    mu: float
    hessian_examples: int
    output_curvature: float  # Gauss-Newton d2E/dy2 of one output for this loss
    kind: str = "sdlm"
    schedule: str = "per_pass"
    eps_scale: float = 1.0

    def epsilon_of_pass(self, epoch: int) -> float:
        """eps of pass `epoch` (0-based) of the schedule (times eps_scale)."""
        end = 0
        for passes, eps in self.epsilon:
            end += passes
            if epoch < end:
                return eps * self.eps_scale
        return self.epsilon_after * self.eps_scale

    def epsilon_at(self, step: int, per_pass: int) -> float:
        """eps of global step `step` (0-based) when a pass over the data is `per_pass` steps."""
        return self.epsilon_of_pass(step // (per_pass if self.schedule == "per_pass" else LENET5_PASS_UPDATES))


# LeNet-5 (LeCun et al. 1998), section III.C, for the method of its appendix C: eps 0.0005 for
# 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001; mu = 0.02; h re-estimated
# on 500 examples before each pass. eps is left as it is: a (damped) Newton step
# eps * g / (mu + h) does not change when the loss is scaled by c if mu is scaled by c too
# (g, h -> c g, c h). LeNet-5's loss is a plain sum of squares over its output
# units (Gauss-Newton d2E/dy2 = 2 per unit); this one, the mean over 10 outputs of (y - t)^2, has
# 2/10 per unit: c = 1/10, so mu = 0.02 / 10 (the knob sdlm_mu is LeNet-5's: scaled so by the loss).
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

# LeNet-5's and "Efficient BackProp"'s sigmoid, f(a) = A tanh(S a): f(±1) = ±1, f'(0) ~ 1.14.
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0
HIDDEN_ACTIVATIONS = ("tanh", "scaled_tanh", "relu")
OUTPUT_ACTIVATIONS = ("tanh", "scaled_tanh", "linear")
REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class Variant:
    """A recipe as the backends read it: built by `build_variant` from knob values (KNOBS)."""

    name: str  # the named variant the recipe starts from
    hidden_activation: str  # HIDDEN_ACTIVATIONS, in H1-H3
    output_activation: str  # OUTPUT_ACTIVATIONS
    # "mse": (t_k - out_k)^2 over the 10 outputs, `reduction` mean or sum, targets ±`targets`;
    # "xent": -log softmax(out)[label] (docs/spec.md)
    loss: str
    optimizer: SGD | AdamW | SDLM
    epochs: int
    outb_init: float
    augment_shift: int = 0  # roll each training example by (dy, dx) in [-s, s]^2, wrap-around
    dropout: float = 0.0  # on H2's output, masks drawn by the core
    batch_size: int = 1  # per-example training; every variant
    init: str = "sqrt_fan_in"  # weight bounds 2.4/sqrt(F) or 2.4/F: see INITS
    targets: float = 1.0  # mse: +t at the label, -t elsewhere (the core's Steps.targets)
    reduction: str = "mean"  # mse over the 10 outputs: "mean" or "sum"
    sets: tuple[tuple[str, object], ...] = ()  # the knobs set otherwise than `name` sets them (a Recipe's)

    def lr_schedule(self, n_steps_total: int, start: int, stop: int, per_pass: int | None = None) -> np.ndarray:
        """Learning rate of global steps [start, stop), float64 (SDLM: eps of each step's pass,
        `per_pass` steps a pass, by default stop - start)."""
        steps = np.arange(start, stop, dtype=np.float64)
        opt = self.optimizer
        if isinstance(opt, SGD):
            return np.full(stop - start, opt.lr)
        if isinstance(opt, SDLM):
            n = per_pass or max(stop - start, 1)
            return np.array([opt.epsilon_at(int(s), n) for s in steps], dtype=np.float64)
        frac = steps / max(n_steps_total - 1, 1)
        return opt.lr_start + (opt.lr_end - opt.lr_start) * frac

    @property
    def label(self) -> str:
        """The recipe's readable name: the variant's, then each knob set otherwise, e.g.
        "1989 targets=0.8 init=fan_in"."""
        return " ".join([self.name, *(f"{k}={show(v)}" for k, v in self.sets)])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sets"], d["label"] = dict(self.sets), self.label
        return d


_OPT = ("optimizer", ("sgd",)), ("optimizer", ("adamw",)), ("optimizer", ("sdlm",))
_MSE = ("loss", ("mse",))
_UNIT = {"lo": 0.0, "hi": 1.0}
# Every recipe knob, once: name, values, formula in one line (docs/spec.md, "Recipe knobs", has
# each in full), when it has an effect, and whether a backend computes it (it must then declare
# the values it implements: harness.backend.knob_unsupported).
KNOBS: dict[str, Knob] = {k.name: k for k in (
    Knob("targets", "number", "mse targets: +t at the label, -t elsewhere", lo=0.0, hi=2.0, open="lo",
         applies=_MSE),
    Knob("activation", "choice", "H1-H3's f: tanh(a), 1.7159 tanh(2a/3), or max(a, 0)",
         HIDDEN_ACTIVATIONS, backend=VALUE),
    Knob("output_activation", "choice", "the output's f: tanh(a), 1.7159 tanh(2a/3), or a",
         OUTPUT_ACTIVATIONS, backend=VALUE),
    Knob("init", "choice", "weights U(-2.4/d, 2.4/d), d = sqrt(F) or F (F the fan-in)", INITS),
    Knob("outb_init", "number", "the output biases' initial value", lo=-2.0, hi=2.0),
    Knob("loss", "choice", "mse: (t - y)^2 over the outputs; xent: log sum exp(y) - y_label", ("mse", "xent"),
         backend=VALUE),
    Knob("reduction", "choice", "mse over the 10 outputs: their mean or their sum", REDUCTIONS, applies=_MSE,
         backend=VALUE),
    Knob("optimizer", "choice", "theta's update: sgd, adamw or sdlm", ("sgd", "adamw", "sdlm"), backend=VALUE),
    Knob("sgd_lr", "number", "SGD: theta -= lr g", **_UNIT, open="lo", applies=_OPT[0]),
    Knob("adamw_lr", "number", "AdamW: lr at the first step", **_UNIT, open="lo", applies=_OPT[1]),
    Knob("adamw_lr_end", "number", "AdamW: lr at the last step (linear per step)", **_UNIT, applies=_OPT[1]),
    Knob("adamw_beta1", "number", "AdamW: m <- b1 m + (1 - b1) g", **_UNIT, open="hi", applies=_OPT[1],
         backend=VALUE),
    Knob("adamw_beta2", "number", "AdamW: v <- b2 v + (1 - b2) g^2", **_UNIT, open="hi", applies=_OPT[1],
         backend=VALUE),
    Knob("adamw_eps", "number", "AdamW: m_hat / (sqrt(v_hat) + eps)", **_UNIT, open="both", applies=_OPT[1],
         backend=VALUE),
    Knob("adamw_weight_decay", "number", "AdamW: theta <- theta (1 - lr wd)", **_UNIT, open="hi",
         applies=_OPT[1], backend=VALUE),
    Knob("sdlm_mu", "number", "SDLM: eps / (mu c + h), mu of a sum of squares, c = 1/10 (mean) or 1 (sum)",
         lo=0.0, hi=100.0, open="lo", applies=_OPT[2]),
    Knob("sdlm_schedule", "choice", "SDLM: LeNet-5's eps schedule by pass of this data, or by LeNet-5's "
         "60,000 updates", SDLM_SCHEDULES, applies=_OPT[2]),
    Knob("sdlm_eps_scale", "number", "SDLM: every eps of the schedule times this", lo=0.0, hi=1000.0, open="lo",
         applies=_OPT[2]),
    Knob("sdlm_examples", "int", "SDLM: training examples h is averaged over, drawn before each pass",
         lo=1, hi=100_000, applies=_OPT[2]),
    Knob("shift", "int", "roll each training example by (dy, dx) in [-s, s]^2, wrap-around", lo=0, hi=4),
    Knob("dropout", "number", "p: H2's outputs dropped (mask / (1 - p)) in training", lo=0.0, hi=0.9,
         backend=NONZERO),
    Knob("passes", "int", "passes over the training data", lo=1, hi=10_000),
)}

# A named variant is a named set of knob values: 1989's, and what each other changes.
PRESETS: dict[str, dict] = {"1989": {
    "targets": 1.0, "activation": "tanh", "output_activation": "tanh", "init": "sqrt_fan_in",
    "outb_init": -1.0, "loss": "mse", "reduction": "mean", "optimizer": "sgd", "sgd_lr": 0.03,
    "adamw_lr": 3e-4, "adamw_lr_end": 1e-4, "adamw_beta1": 0.9, "adamw_beta2": 0.999, "adamw_eps": 1e-8,
    "adamw_weight_decay": 0.01, "sdlm_mu": LENET5_MU, "sdlm_schedule": "per_pass", "sdlm_eps_scale": 1.0,
    "sdlm_examples": LENET5_HESSIAN_EXAMPLES, "shift": 0, "dropout": 0.0, "passes": 23,
}}
PRESETS["modern"] = {**PRESETS["1989"], "activation": "relu", "output_activation": "linear", "outb_init": 0.0,
                     "loss": "xent", "optimizer": "adamw", "shift": 1, "dropout": 0.25, "passes": 80}
# The paper's optimiser on the 1989 net and loss; the same initialisation as "1989", so the
# comparison with it changes only the optimiser. And with the initialisation the paper prints
# (2.4/F, not 2.4/sqrt(F)).
PRESETS["1989-sdlm"] = {**PRESETS["1989"], "optimizer": "sdlm"}
PRESETS["1989-sdlm-fanin"] = {**PRESETS["1989-sdlm"], "init": "fan_in"}
# The recipe the 1989 paper's text supports that came closest to its 5.00% / 0.14% (docs/fidelity.md:
# each choice, its source, the measurements): targets inside tanh's quasilinear range (+-0.9, not
# its asymptotes +-1) and the printed initialisation U(-2.4/F, 2.4/F); SGD as in `1989`.
PRESETS["1989-paper"] = {**PRESETS["1989"], "targets": 0.9, "init": "fan_in"}
assert all(set(p) == set(KNOBS) for p in PRESETS.values())


def build_variant(name: str, k: dict, sets: tuple = ()) -> Variant:
    """The Variant of knob values `k` (every knob of KNOBS, values already checked); `sets`: the
    knobs among them set otherwise than variant `name` sets them."""
    mean = k["reduction"] == "mean"
    curvature = 2.0 / MSE_MEAN_OVER if mean else 2.0  # d2E/dy2 of one output
    optimizer = {
        "sgd": lambda: SGD(lr=k["sgd_lr"]),
        "adamw": lambda: AdamW(lr_start=k["adamw_lr"], lr_end=k["adamw_lr_end"], beta1=k["adamw_beta1"],
                               beta2=k["adamw_beta2"], eps=k["adamw_eps"], weight_decay=k["adamw_weight_decay"]),
        "sdlm": lambda: SDLM(epsilon=LENET5_EPSILON, epsilon_after=LENET5_EPSILON_AFTER,
                             mu=k["sdlm_mu"] / MSE_MEAN_OVER if mean else k["sdlm_mu"],
                             hessian_examples=k["sdlm_examples"], output_curvature=curvature,
                             schedule=k["sdlm_schedule"], eps_scale=k["sdlm_eps_scale"]),
    }[k["optimizer"]]()
    return Variant(name=name, hidden_activation=k["activation"], output_activation=k["output_activation"],
                   loss=k["loss"], optimizer=optimizer, epochs=k["passes"], outb_init=k["outb_init"],
                   augment_shift=k["shift"], dropout=k["dropout"], init=k["init"], targets=k["targets"],
                   reduction=k["reduction"], sets=tuple(sets))


VARIANTS: dict[str, Variant] = {name: build_variant(name, values) for name, values in PRESETS.items()}


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
