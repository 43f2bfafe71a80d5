"""The five checks, each a `versus` of the reference and every target: forward (with each layer's
activations where the sessions offer them), grads, steps, trajectory, passes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import sdlm
from ..backend import Steps
from ..config import CHUNK, N_FORWARD, N_GRAD, ParityConfig
from ..data import Dataset
from ..draws import nonzero_params, pass_steps
from ..recipe import of_config
from ..spec import PARAM_NAMES, Variant, init_params
from ..train import evaluate
from .compare import compare, compare_count
from .rows import row, versus
from .select import Target
from .tolerances import Tol, tolerances

LAYERS = ("H1", "H2", "H3", "out")  # forward order; gradients go wrong first in the reverse order


@dataclass(frozen=True)
class Context:
    """What every check starts from: the configuration (harness.config.ParityConfig) and what
    follows from it with the data: the variant, initial parameters, pass 1's steps, tolerances."""

    config: ParityConfig
    data: Dataset
    variant: Variant
    params0: dict[str, np.ndarray]
    first_steps: Steps  # pass 0's steps, for grads / steps / trajectory
    tol: dict[str, Tol]

    @classmethod
    def build(cls, config: ParityConfig, data: Dataset) -> Context:
        if config.steps and config.steps[-1] > len(data.train_x):
            raise ValueError(f"--steps {config.steps[-1]} exceeds the {len(data.train_x)} training examples "
                             f"of {data.name}")
        v = of_config(config).variant_spec()  # the variant with its recipe knobs
        first = pass_steps(v, data, config.seed, 0, max(config.passes, v.epochs), config.dtype)
        return cls(config, data, v, init_params(config.seed, config.dtype, v), first, tolerances(config.dtype, v))

    @property
    def dtype(self) -> str:
        return self.config.dtype

    @property
    def device(self) -> str:
        return self.config.device

    @property
    def seed(self) -> int:
        return self.config.seed

    def session(self, target: Target, params0: dict[str, np.ndarray] | None = None):
        params = {n: p.copy() for n, p in (self.params0 if params0 is None else params0).items()}
        s = target.backend.session(variant=self.variant, params=params, dtype=self.dtype,
                                   device=self.device, strategy=target.strategy)
        if sdlm.is_sdlm(self.variant):  # SDLM: its own estimate of h before training (harness/sdlm.py)
            sdlm.before_pass(s, self.variant, self.data, self.seed, 0, self.dtype)
        return s


def _first_failing(rows: list[dict], order: tuple[str, ...], layer_of) -> dict[str, str | None]:
    """Per target: the first layer, in `order`, with a failing row (None when none fails);
    layer_of(row) is the layer a row belongs to, or None."""
    out: dict[str, str | None] = {}
    for r in rows:
        out.setdefault(r["target"], None)
    for target in out:
        bad = {layer_of(r) for r in rows if r["target"] == target and not r["passed"]}
        out[target] = next((layer for layer in order if layer in bad), None)
    return out


def _say_first(result: dict, first: dict[str, str | None], what: str) -> dict:
    result["first_layer"] = first
    named = [f"{t} {layer}" for t, layer in first.items() if layer is not None]
    if named:
        result["summary"] += f"; {what}: " + ", ".join(named)
    return result


# where the forward check looks: the initial parameters (every bias but outb is 0 there, so a dropped
# bias is invisible), and the same weights with every bias drawn by the core (nonzero_params)
FORWARD_AT = (("initial parameters", ""), ("every bias non-zero", " (non-zero biases)"))


def check_forward(ctx: Context, ref: Target, targets: list[Target], n: int = N_FORWARD) -> dict:
    """Outputs on test images, and each layer's activations where both sessions have activations(),
    at the initial parameters and again where every tensor is non-zero (FORWARD_AT)."""
    title = (f"forward outputs on the first {min(n, len(ctx.data.test_x))} test images (evaluation mode), "
             "at the initial parameters and with every bias non-zero")
    x = np.ascontiguousarray(ctx.data.test_x[:n], dtype=ctx.dtype)
    tol = ctx.tol["forward"]
    unlocalised: list[str] = []
    drawn = nonzero_params(ctx.seed, ctx.dtype, ctx.variant)

    def run(t: Target):
        got = []
        for params in (None, drawn):
            s = ctx.session(t, params)
            out = np.asarray(s.forward(x))
            acts = getattr(s, "activations", None)
            got.append((out, None if acts is None else {k: np.asarray(v) for k, v in acts(x).items()}))
        return got

    def rows_at(t: Target, got, want, at: str, suffix: str):
        rows = [row(t.label, "outputs" + suffix, compare(got[0], want[0], tol), tol, params=at)]
        if got[1] is None or want[1] is None:
            return rows
        missing = [k for k in LAYERS if k not in got[1]]
        if missing:
            raise KeyError(f"activations() returned no {', '.join(missing)}")
        return rows + [row(t.label, f"{k} activations{suffix}", compare(got[1][k], want[1][k], tol), tol,
                           layer=k, params=at) for k in LAYERS]

    def rows_of(t: Target, got, want):
        if got[0][1] is None or want[0][1] is None:
            unlocalised.append(t.label)
        return [r for (at, suffix), g, w in zip(FORWARD_AT, got, want) for r in rows_at(t, g, w, at, suffix)]

    result = versus("forward", title, ref, targets, run, rows_of, {"forward": tol})
    first = _first_failing(result["rows"], LAYERS, lambda r: r.get("layer"))
    result["layers_not_compared"] = unlocalised  # a side without activations(): outputs only
    return _say_first(result, {t: f for t, f in first.items() if t not in unlocalised},
                      "first layer that differs")


def _worst_per_tensor(label: str, got: list, want: list, tl: Tol, tg: Tol) -> list[dict]:
    """Loss and gradient rows of one target: per tensor, its worst example."""
    per_tensor: dict[str, tuple[dict, int]] = {}
    for i, ((la, ga), (lb, gb)) in enumerate(zip(got, want)):
        cands = {"loss": compare(la, lb, tl)}
        missing = [k for k in PARAM_NAMES if k not in ga]
        if missing:
            raise KeyError(f"loss_and_grads returned no gradient for {', '.join(missing)}")
        for k in PARAM_NAMES:
            cands[k] = compare(ga[k], gb[k], tg)
        for k, c in cands.items():
            prev = per_tensor.get(k)
            if prev is None or (not c["passed"] and prev[0]["passed"]) or (
                    c["passed"] == prev[0]["passed"] and c["max_abs"] > prev[0]["max_abs"]):
                per_tensor[k] = (c, i)
    return [row(label, k, c, tl if k == "loss" else tg, example=i) for k, (c, i) in per_tensor.items()]


def check_grads(ctx: Context, ref: Target, targets: list[Target], n: int = N_GRAD,
                forward_first: dict[str, str | None] | None = None) -> dict:
    """Loss and every gradient on single examples; names the layer whose gradient goes wrong first
    in backpropagation order (out, H3, H2, H1), unless the forward check already named the first
    layer that differs (`forward_first`, its first_layer): a wrong forward pass makes every gradient
    after it wrong too, so that layer is the one to look at."""
    n = min(n, len(ctx.first_steps))
    title = f"loss and gradient of every parameter on each of the first {n} training examples (pass 1's draws)"
    tl, tg = ctx.tol["loss"], ctx.tol["grads"]

    def run(t: Target):
        s = ctx.session(t)
        out = []
        for i in range(n):
            loss, grads = s.loss_and_grads(ctx.first_steps.slice(i, i + 1))
            out.append((float(loss), {k: np.asarray(v) for k, v in grads.items()}))
        return out

    result = versus("grads", title, ref, targets, run, lambda t, got, want: _worst_per_tensor(
        t.label, got, want, tl, tg), {"loss": tl, "grads": tg})
    layer_of = lambda r: r["tensor"][:-1] if r["tensor"] in PARAM_NAMES else None  # "H2w" -> "H2"
    first = _first_failing(result["rows"], LAYERS[::-1], layer_of)
    fwd = {t: f for t, f in (forward_first or {}).items() if f is not None and t in first}
    if fwd:
        result["first_layer_from_forward"] = sorted(fwd)
    _say_first(result, {t: f for t, f in first.items() if t not in fwd},
               "first layer whose gradient differs (backprop order out, H3, H2, H1)")
    result["first_layer"].update(fwd)
    if fwd:
        result["summary"] += "; first layer that differs, from the forward check: " + ", ".join(
            f"{t} {f}" for t, f in fwd.items())
    return result


def _params_rows(label: str, got: dict, want: dict, tol: Tol, step: int | None, **extra) -> list[dict]:
    missing = [k for k in PARAM_NAMES if k not in got]
    if missing:
        raise KeyError(f"get_params returned no {', '.join(missing)}")
    return [row(label, k, compare(got[k], want[k], tol, step), tol, step, **extra) for k in PARAM_NAMES]


def check_steps(ctx: Context, ref: Target, targets: list[Target], ks: list[int]) -> dict:
    title = (f"parameters after k per-example steps, k in {', '.join(map(str, ks))} "
             "(a fresh session per k, k steps in one train_steps call)")
    tol = ctx.tol["params"]

    def run(t: Target) -> dict[int, dict]:
        out = {}
        for k in ks:
            s = ctx.session(t)
            s.train_steps(ctx.first_steps.slice(0, k))
            out[k] = s.get_params()
        return out

    def rows_of(t: Target, got, want):
        return [r for k in ks for r in _params_rows(t.label, got[k], want[k], tol, k, k=k)]

    return versus("steps", title, ref, targets, run, rows_of, {"params": tol})


class _Trajectory:
    """One target's trajectory compared step by step: the first step beyond tolerance, the worst tensor."""

    def __init__(self, tol: Tol):
        self.tol, self.div = tol, []
        self.first_step = self.first = self.worst = self.first_unjudged = None

    def add(self, step: int, got: dict, want: dict) -> None:
        cmps = {k: compare(got[k], want[k], self.tol, step) for k in PARAM_NAMES}
        if step > 0:
            self.div.append(max(c["max_abs"] for c in cmps.values()))
        failing = {k: c for k, c in cmps.items() if not c["passed"]}
        if failing and self.first_step is None:
            self.first_step = step
            self.first = max(failing.items(), key=lambda kc: kc[1]["max_abs"])
        if self.first_unjudged is None and any(c.get("within_tol") is False for c in cmps.values()):
            self.first_unjudged = step  # beyond the horizon: reported, not judged
        top = max(cmps.items(), key=lambda kc: kc[1]["max_abs"])
        if self.worst is None or top[1]["max_abs"] > self.worst[1]["max_abs"]:
            self.worst = top

    def row(self, label: str, n_steps: int) -> dict:
        if self.first_step is None:
            out = row(label, *self.worst, self.tol, n_steps, first_step=None, worst_of=len(PARAM_NAMES))
            if self.first_unjudged is not None:
                out["first_step_beyond_horizon"] = self.first_unjudged
            return out
        out = row(label, *self.first, self.tol, self.first_step, first_step=self.first_step)
        out["max_abs_all_steps"] = max(self.div) if self.div else None
        return out


def check_trajectory(ctx: Context, ref: Target, targets: list[Target], n_steps: int) -> dict:
    """Train one step per train_steps call; after every step compare every tensor with the reference.

    Step s (1-based) means: after the first s updates. first_step is the smallest
    s at which some tensor is beyond tolerance; `tensor` names the worst one there.
    """
    title = f"parameter trajectory: after each of the first {n_steps} steps, one step per train_steps call"
    tol = ctx.tol["params"]
    seen: dict[str, _Trajectory] = {}

    def run(t: Target):
        s = ctx.session(t)
        yield s.get_params()
        for i in range(n_steps):
            s.train_steps(ctx.first_steps.slice(i, i + 1))
            yield s.get_params()

    def rows_of(t: Target, got, want):
        traj = seen[t.label] = _Trajectory(tol)
        for step, params in enumerate(got):
            traj.add(step, params, want[step])
        return [traj.row(t.label, n_steps)]

    def error_extra(t: Target) -> dict:
        traj = seen.get(t.label) or _Trajectory(tol)
        return {"first_step": traj.first_step, "steps_done": len(traj.div)}

    result = versus("trajectory", title, ref, targets, run, rows_of, {"params": tol}, error_extra, want_of=list)
    steps = range(1, n_steps + 1)
    result["trace"] = {"step": list(steps), "tol": [float(tol.atol_at(s)) for s in steps], "horizon": tol.horizon,
                       "max_abs": {label: tr.div for label, tr in seen.items()}}
    return result


def _pass_rows(label: str, p: int, n_train: int, g: dict, w: dict, tol: dict[str, Tol]) -> list[dict]:
    """Rows of pass p (1-based) of one target: step losses, evaluation of train and test, parameters."""
    step = p * n_train  # updates behind the end-of-pass values
    behind = (p - 1) * n_train + np.arange(len(w["losses"]))  # the loss of step i is taken after these
    tsl, tel, tm, tpr = tol["step_losses"], tol["eval_losses"], tol["misses"], tol["predictions"]
    at = {"pass": p}
    rows = [row(label, "step losses", compare(g["losses"], w["losses"], tsl, behind), tsl, **at)]
    for split in ("train", "test"):
        gs, ws = g[split], w[split]
        n = len(ws.predictions)
        rows.append(row(label, f"{split} loss", compare(gs.loss, ws.loss, tel, step), tel, step, **at))
        rows.append(row(label, f"{split} misses", compare_count(gs.misses, ws.misses, tm, n, step),
                        tm, step, n, **at, value=gs.misses, reference=ws.misses))
        differ = int((np.asarray(gs.predictions) != np.asarray(ws.predictions)).sum())
        rows.append(row(label, f"{split} predictions differing", compare_count(differ, 0, tpr, n, step),
                        tpr, step, n, **at, of=n))
    return rows + _params_rows(label, g["params"], w["params"], tol["params"], step, **at)


def _metrics(m: dict) -> dict:
    return {"train_pass_loss": float(np.mean(m["losses"])), "train_loss": m["train"].loss,
            "train_misses": m["train"].misses, "test_loss": m["test"].loss, "test_misses": m["test"].misses}


def check_passes(ctx: Context, ref: Target, targets: list[Target], passes: int, limit: int | None,
                 chunk: int = CHUNK) -> dict:
    n_train = len(ctx.data.train_x) if limit is None else min(limit, len(ctx.data.train_x))
    n_epochs = max(passes, ctx.variant.epochs)  # the lr schedule of a full run's first passes
    title = (f"{passes} whole pass{'es' if passes > 1 else ''} of {n_train} examples (train_steps in chunks of "
             f"{chunk}), then evaluation of train ({n_train}) and test ({len(ctx.data.test_x)})")
    tols = {k: ctx.tol[k] for k in ("params", "step_losses", "eval_losses", "misses", "predictions")}
    train_x, train_labels = ctx.data.train_x[:n_train], ctx.data.train_labels[:n_train]
    all_steps = [pass_steps(ctx.variant, ctx.data, ctx.seed, e, n_epochs, ctx.dtype, limit=limit)
                 for e in range(passes)]
    metrics: dict[str, list[dict]] = {}

    def run(t: Target) -> list[dict]:
        s = ctx.session(t)
        out = []
        for e, steps in enumerate(all_steps):
            if e and sdlm.is_sdlm(ctx.variant):  # h re-estimated before each pass, as in train()
                sdlm.before_pass(s, ctx.variant, ctx.data, ctx.seed, e, ctx.dtype, limit)
            losses = np.concatenate([np.asarray(s.train_steps(steps.slice(i, min(i + chunk, len(steps)))),
                                                dtype=np.float64).reshape(-1)
                                     for i in range(0, len(steps), chunk)])
            tr = evaluate(s, ctx.variant, train_x, train_labels)
            te = evaluate(s, ctx.variant, ctx.data.test_x, ctx.data.test_labels)
            out.append({"losses": losses, "train": tr, "test": te, "params": s.get_params()})
        metrics[t.label] = [_metrics(o) for o in out]
        return out

    def rows_of(t: Target, got, want):
        return [r for p, (g, w) in enumerate(zip(got, want), start=1)
                for r in _pass_rows(t.label, p, n_train, g, w, tols)]

    result = versus("passes", title, ref, targets, run, rows_of, tols)
    result.update({"metrics": metrics, "n_train": n_train})
    return result
