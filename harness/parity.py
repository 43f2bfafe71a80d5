"""Cross-backend comparison: does every backend x strategy compute what the reference computes?

Same seed, same canonical initial parameters (spec.init_params), same examples,
same draws (draws.pass_steps): every (backend, strategy) is compared on its own
against one reference (backend, strategy) in five checks:

  forward     outputs on a batch of real examples (evaluation mode);
  grads       loss and every parameter's gradient on single examples
              (with the dropout masks and shifts of the first training steps);
  steps       parameters after k per-example steps, for each k (k steps in one
              train_steps call, from the start);
  trajectory  max |a - b| over all parameters after every step, one step per
              train_steps call, up to max(k), and the first step at which any
              tensor goes beyond tolerance;
  passes      whole passes (train_steps in chunks), then evaluation of train and
              test: per-step losses, losses, misses and predictions, and the
              parameters at the end of each pass.

Everything here is pure: functions return plain data (JSON-able dicts); the
CLI prints. The core never imports a framework: backends are reached only
through the Backend / Session protocol.
"""
from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .backend import Backend, DeviceUnavailable, Steps
from .data import Dataset
from .draws import pass_steps
from .errors import UnknownStrategy
from .spec import PARAM_NAMES, Variant, init_params

EPS = 1e-12  # in max |a - b| / (|b| + EPS): reported only, keeps exact zeros in b from dividing by 0

CHECKS = ("forward", "grads", "steps", "trajectory", "passes")
DEFAULT_STEPS = (1, 10, 100)
N_FORWARD = 256  # test images in the forward check
N_GRAD = 4  # single examples in the gradient check
CHUNK = 256  # examples per train_steps call over a whole pass (as `harness run` trains)


# ----------------------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Tol:
    """An element passes when |a - b| <= atol(step) + scale * max|b| + rtol * |b|.

    `scale` is relative to the largest entry of the reference tensor (rounding in a
    sum grows with the size of its terms, not of its result). atol(step) =
    atol * step ** power for values after `step` updates: every step carries, and
    may amplify, the rounding differences of the steps before it.

    `horizon`: beyond this many steps the comparison is reported but not judged
    (where float32 training is measured to be chaotic, two correct backends part
    ways; float64 is then the arbiter of arithmetic).

    `count`: the tolerance is on integers (misses, differing predictions): at most
    atol + rtol * n may differ, n the number of examples evaluated.
    """

    atol: float = 0.0
    rtol: float = 0.0
    scale: float = 0.0
    power: float = 0.0
    horizon: int | None = None
    count: bool = False
    why: str = ""

    def atol_at(self, step):
        """atol after `step` updates (a number, or an array of steps)."""
        if step is None or self.power == 0.0:
            return self.atol
        return self.atol * np.maximum(np.asarray(step, dtype=np.float64), 1.0) ** self.power

    def judged(self, step) -> np.ndarray | bool:
        if self.horizon is None or step is None:
            return True
        return np.asarray(step) <= self.horizon

    def allowed_count(self, n: int) -> int:
        return math.floor(self.atol + self.rtol * n)

    def text(self, step: int | None = None, n: int | None = None) -> str:
        if self.count:
            if n is not None:
                return f"{self.allowed_count(n)}"
            return f"{int(self.atol)}" + (f"+{self.rtol:.0%}·n" if self.rtol else "")
        parts = []
        if self.atol or not (self.rtol or self.scale):
            if self.power and step is None:
                parts.append(f"{self.atol:.1g}·k^{self.power:g}")
            else:
                parts.append(f"{float(self.atol_at(step)):.1g}")
        if self.scale:
            parts.append(f"{self.scale:.0e}·max|b|")
        if self.rtol:
            parts.append(f"{self.rtol:.0e}·|b|")
        out = "+".join(parts)
        if self.horizon is not None and step is None:
            out += f" (judged to step {self.horizon})"
        return out

    def to_dict(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol, "scale": self.scale, "power": self.power,
                "horizon": self.horizon, "count": self.count, "rule": self.text(), "why": self.why}


# Measured on a 2-core AMD EPYC, CPU, USPS, seed 1337 (other seeds where said):
# torch 2.13 (eager, compiled) against the jax backend (step, scan; Precision.HIGHEST)
# and, for float32, against torch in float64 from the same float32-rounded start.
# Largest |a - b| over all elements:
#
#                         float64, torch vs jax      float32, torch vs jax     float32 vs float64
#   forward (256 test)    1.4e-15 (modern 3.2e-15)   9.5e-7 (modern 1.9e-6)    7.5e-7 (modern 1.5e-6)
#   loss, one example     2.2e-16 (modern 2.2e-16)   3.6e-7 (3.3 ulp)          2.2e-7 (modern 4.1e-7)
#   grads, one example    5.0e-16 (modern 8.9e-16)   1.2e-6 x the tensor's max|g|, 1989 and modern
#   params, 1989          k=100 4.4e-16              k=100 1.2e-7              k=1 5e-8, 100 6e-7,
#                         pass (7291) 2.5e-15        pass 1.1e-6, 3 passes     1000 1.3e-6, pass 1.3e-5,
#                                                    2.3e-6                    3 passes 5.5e-5 (k^0.7)
#   params, modern        k=100 8.3e-16              k=100 2.6e-6; ~2e-8 k until a first jump between
#                         pass 1.1e-14               steps 460 and 720 (8 runs, seeds 1-6 and 1337),
#                                                    to 1e-4..3e-3; 2e-2 by 1000, 0.045 by 2000
#   step losses           1989 3.9e-15, modern       1989 1.9e-6 in a pass; modern 7e-7 at step 1,
#                         9.2e-14 in a pass          1.8e-5 by 100, 4.3e-5 by 300, 0.4 by 1000
#   misses, predictions   all equal (1989 330/197,   1989: all equal after 1, 2, 3 passes;
#                         modern 574/700)            modern, 2000 steps: misses differ by up to 15
#                                                    (0.75%), predictions of 2.5-3% of examples,
#                                                    eval losses by 1.4% (relative); a whole pass,
#                                                    torch vs jax: misses 566/540 and 224/210,
#                                                    train loss 3.0% (relative)
#
# Where the modern variant's float32 chaos comes from: ReLU kinks (a pre-activation
# 1 ulp from 0 takes the other branch) and AdamW dividing by sqrt(v) (a gradient
# entry near 0 whose rounding flips its sign moves its weight by ~lr the other way).
# The 1989 variant (tanh, SGD) has neither and stays smooth.
#
# The float64 tolerances sit >=1000x above what two correct backends show (and at
# DESIGN.md's ~1e-10 for a pass) and >=1e4x below the smallest bug the tests plant
# (a weight nudged by 1e-6). The float32 ones sit >=5-10x above the measured float32
# drift; a 1e-6 nudge hides in float32's own drift after a few steps, so parity
# defaults to float64.
_F64 = {
    "forward": Tol(1e-12, why="outputs of <=200-term sums in [-1, 1]; measured 3.2e-15"),
    "loss": Tol(1e-12, why="loss of one example; measured 1.3e-15"),
    "grads": Tol(1e-12, why="gradients of one example; measured 2.6e-15"),
    "params": Tol(1e-10, why="DESIGN.md: float64 backends agree to ~1e-10 over a whole pass; measured "
                             "2.5e-15 after a pass (1989), 1.1e-14 (modern)"),
    "step_losses": Tol(1e-10, why="loss of each step of a pass, as the parameters; measured 9.2e-14"),
    "eval_losses": Tol(1e-10, why="mean evaluation losses; measured 3e-16"),
    "misses": Tol(0, count=True, why="float64 agreement to 1e-10 cannot move an argmax: misses equal"),
    "predictions": Tol(0, count=True, why="and every single prediction equal (measured: all equal)"),
}
_F32 = {
    "forward": Tol(1e-5, why="float32 eps 6e-8 through 4 layers; measured 9.5e-7 (modern 1.9e-6) torch "
                             "vs jax, 1.5e-6 vs float64"),
    "loss": Tol(1e-7, rtol=2e-6, why="loss of one example, ~1 ulp relative; measured 4.1e-7 on a "
                                     "loss of 3.3 (rel 1.2e-7)"),
    "grads": Tol(scale=1e-5, why="rounding in a gradient grows with the tensor's scale: measured "
                                 "1.2e-6 x max|g| of the tensor (torch vs jax and vs float64)"),
    "params": Tol(5e-7, power=0.7, why="per-example SGD carries each step's rounding on: measured 5e-8 "
                                       "(k=1) to 1.3e-6 (k=1000), 1.3e-5 after a 7291-step pass, 5.5e-5 "
                                       "after 3 passes; 5e-7 k^0.7 is >=10x above all of them"),
    "step_losses": Tol(5e-7, rtol=1e-5, power=0.7,
                       why="follow the parameters: measured 1.3e-7 at step 1, 1.3e-6 at 1000, 9.5e-6 in "
                           "pass 1, 1.7e-5 in pass 3 (rel 5e-5 on the smallest losses)"),
    "eval_losses": Tol(rtol=1e-4, why="mean losses: measured 4e-8 absolute, 2e-6 relative"),
    "misses": Tol(3, count=True, why="measured: identical after 1-3 passes; a miss flips only where two "
                                     "outputs are within the ~1e-5 drift; 3 allowed"),
    "predictions": Tol(6, count=True, why="measured: all identical after 1-3 passes; 6 allowed "
                                          "(each flipped miss is a differing prediction)"),
}
_F32_MODERN = {
    **_F32,
    "params": Tol(2e-7, power=1.0, horizon=300,
                  why="measured ~2e-8 k (3.3e-8 at k=1, 2.1e-6 at 100, 9.9e-6 at 400), then chaotic: "
                      "first jumps at steps 460-720 (8 runs), 0.045 after 2000 steps; judged to step 300"),
    "step_losses": Tol(1e-6, rtol=1e-5, power=1.0, horizon=300,
                       why="cross-entropy on linear outputs is ~10x more sensitive than the parameters: "
                           "measured 7.2e-7 at step 1 (rel 2e-7), 1.8e-5 by 100, 4.3e-5 by 300, 0.4 by 1000; "
                           "judged to step 300"),
    "eval_losses": Tol(rtol=0.15, why="past the chaotic point two correct runs are two trainings from one "
                                      "start: measured 1.4% relative after 2000 steps, 3.0% after a 7291-step "
                                      "pass (torch vs jax); catches only gross errors, float64 is the arbiter"),
    "misses": Tol(3, rtol=0.02, count=True, why="measured up to 15 of 2000 (0.75%) after 2000 steps, 26 of "
                                                "7291 and 14 of 2007 after a pass; 3 + 2% of n allowed"),
    "predictions": Tol(6, count=True, horizon=300,
                       why="measured 2.5-3% of examples differ after 2000 steps: judged only for passes "
                           "of <=300 steps"),
}
TOLERANCES: dict[tuple[str, str], dict[str, Tol]] = {
    ("1989", "float64"): _F64,
    ("modern", "float64"): _F64,
    ("1989", "float32"): _F32,
    ("modern", "float32"): _F32_MODERN,
}


def tolerances(dtype: str, variant: Variant | str = "1989") -> dict[str, Tol]:
    """The tolerances of `dtype` for `variant` (a variant not measured gets the strictest
    of the measured ones: 1989's, with no horizon)."""
    name = variant if isinstance(variant, str) else variant.name
    return TOLERANCES.get((name, dtype), TOLERANCES[("1989", dtype)])


# ----------------------------------------------------------------------------- comparison


def compare(a, b, tol: Tol, step=None) -> dict:
    """max |a - b|, max |a - b| / (|b| + EPS), where it is largest, whether every judged element passes.

    `step` (a number or an array broadcasting against `a`) is the number of updates
    behind each element: it grows the tolerance (Tol.power) and decides which
    elements are judged (Tol.horizon); the others are reported only.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return {"max_abs": math.inf, "max_rel": math.inf, "passed": False, "where": None,
                "error": f"shape {a.shape} differs from the reference's {b.shape}"}
    if a.size == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "passed": True, "where": None}
    d = np.abs(a - b)
    same_nonfinite = (~np.isfinite(a)) & (a == b)  # inf == inf
    d = np.where(same_nonfinite, 0.0, d)
    d = np.where(np.isnan(d), np.inf, d)  # NaN on one side only: infinitely wrong
    finite_b = np.abs(np.nan_to_num(b, posinf=0.0, neginf=0.0))
    limit = tol.atol_at(step) + tol.scale * float(finite_b.max()) + tol.rtol * finite_b
    judged = np.broadcast_to(tol.judged(step), d.shape)
    ok = d <= limit
    passed = bool(np.all(ok | ~judged))
    rel = d / (finite_b + EPS)
    # Figures over the judged elements (all of them when none is judged: then reported only);
    # where: the largest |a - b|, or, on failure, the element furthest beyond its tolerance.
    shown = judged if judged.any() else np.ones_like(judged)
    key = np.where(shown, d, -1.0) if passed else np.where(judged, d / np.maximum(limit, 1e-300), -1.0)
    worst = np.unravel_index(int(np.argmax(key)), d.shape)
    out = {
        "max_abs": float(d[shown].max()),
        "max_rel": float(rel[shown].max()),
        "passed": passed,
        "where": [int(i) for i in worst] if d.ndim else None,
    }
    if step is not None and np.ndim(step) > 0:  # the step behind the element shown
        out["step_at"] = int(np.broadcast_to(step, d.shape)[worst])
    if not judged.all():
        out["unjudged"] = int((~judged).sum())  # elements beyond the horizon: reported only
        out["within_tol"] = bool(np.all(ok))
        out["max_abs_all"] = float(d.max())
        if judged.any():
            out["judged_to"] = tol.horizon
    return out


def compare_count(a: int, b: int, tol: Tol, n: int, step: int | None = None) -> dict:
    """Integer counts: |a - b| <= tol.allowed_count(n) (judged only up to the horizon)."""
    d = abs(int(a) - int(b))
    ok = d <= tol.allowed_count(n)
    judged = bool(tol.judged(step))
    out = {"max_abs": float(d), "max_rel": d / max(abs(int(b)), 1), "passed": ok or not judged, "where": None}
    if not judged:
        out["unjudged"] = 1
        out["within_tol"] = ok
    return out


def one_line(e: BaseException) -> str:
    """The exception's one-line summary, with the innermost frame: 'ValueError: ... (at f.py:12)'."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    msg = msg if len(msg) <= 200 else msg[:197] + "..."
    tb = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    where = f" (at {tb[0].filename.rsplit('/', 1)[-1]}:{tb[0].lineno})" if tb else ""
    return f"{type(e).__name__}: {msg}{where}".replace(": (at", " (at")


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One backend x strategy, as compared."""

    backend: Backend
    strategy: str

    @property
    def label(self) -> str:
        return f"{self.backend.name}:{self.strategy}"


@dataclass
class Selection:
    reference: Target
    targets: list[Target]
    notes: list[str] = field(default_factory=list)  # what was skipped and why
    self_check: bool = False  # the reference is its only target: a determinism check


def _split_spec(spec: str) -> tuple[str, str | None]:
    name, _, strategy = spec.strip().partition(":")
    return name.strip(), (strategy.strip() or None)


def select_targets(registry, backends: list[str] | None, strategies: list[str] | None,
                   reference: str | None, device: str) -> Selection:
    """Resolve --backends / --strategies / --reference / --device into a reference and targets.

    Unknown names raise the usage errors of harness.errors (exit 2). A backend or
    strategy that cannot reach `device` is skipped with a note; an error only when
    nothing is left to compare.
    """
    notes: list[str] = []
    names = list(dict.fromkeys(backends)) if backends else None
    if names is None:
        # torch first (the framework of karpathy/lecun1989-repro, the default reference), then by name:
        # plugins register in no fixed order, and the default reference must not depend on it.
        names = sorted(registry.available(), key=lambda n: (n != "torch", n))
        for n in registry.names():
            if n not in names:
                notes.append(f"backend {n} skipped: {registry.reason_unavailable(n)}")
    backs = [registry.get(n) for n in names]  # UnknownBackend / BackendUnavailable: usage errors
    ref_name, ref_strategy = _split_spec(reference) if reference else (None, None)
    ref_backend = registry.get(ref_name) if ref_name else None
    if ref_backend is not None and ref_strategy is not None and ref_strategy not in ref_backend.strategies:
        raise UnknownStrategy(f"backend {ref_name!r} has no strategy {ref_strategy!r}; "
                              f"available: {', '.join(ref_backend.strategies)}")

    # Which strategies of which backend: plain names apply to every backend that has them,
    # backend:strategy to that backend only.
    wanted: dict[str, list[str]] = {b.name: list(b.strategies) for b in backs}
    if strategies:
        plain = [s for s in (x.strip() for x in strategies) if s and ":" not in s]
        qualified = [_split_spec(s) for s in strategies if ":" in s]
        for s in plain:
            if not any(s in b.strategies for b in backs):
                known = ", ".join(f"{b.name}:{t}" for b in backs for t in b.strategies)
                raise UnknownStrategy(f"no selected backend has a strategy {s!r}; available: {known}")
        for bname, s in qualified:
            if bname not in wanted:
                raise UnknownStrategy(f"strategy {bname}:{s} names backend {bname!r}, which is not among "
                                      f"--backends ({', '.join(wanted)})")
            if s not in registry.get(bname).strategies:
                raise UnknownStrategy(f"backend {bname!r} has no strategy {s!r}; available: "
                                      f"{', '.join(registry.get(bname).strategies)}")
        for b in backs:
            chosen = [s for s in b.strategies if s in plain or (b.name, s) in qualified]
            if not chosen:
                notes.append(f"backend {b.name} skipped: none of the strategies asked for "
                             f"({', '.join(strategies)}); it has {', '.join(b.strategies)}")
            wanted[b.name] = chosen

    def reachable(b: Backend, s: str) -> bool:
        try:
            return device in b.strategy_devices(s)
        except Exception as e:  # noqa: BLE001 -- a plugin bug: say so, skip the strategy
            notes.append(f"{b.name}:{s} skipped: strategy_devices() raised {one_line(e)}")
            return False

    pool: list[Target] = []
    for b in backs:
        for s in wanted[b.name]:
            if reachable(b, s):
                pool.append(Target(b, s))
            else:
                try:
                    devs = ", ".join(b.strategy_devices(s)) or "none"
                except Exception:  # noqa: BLE001 -- reported just above
                    devs = "?"
                notes.append(f"{b.name}:{s} skipped: cannot reach device {device!r} here (reaches: {devs})")

    if ref_backend is not None:
        s = ref_strategy or ref_backend.strategies[0]
        if not reachable(ref_backend, s):
            raise DeviceUnavailable(f"reference {ref_backend.name}:{s} cannot reach device {device!r} here; "
                                    f"it reaches: {', '.join(ref_backend.strategy_devices(s)) or 'none'}")
        ref = Target(ref_backend, s)
    else:
        if not pool:
            raise DeviceUnavailable(f"no selected backend can reach device {device!r}: " + "; ".join(notes))
        # The first backend's first strategy (its idiomatic one), even where --strategies left it out.
        first = pool[0].backend
        s0 = first.strategies[0]
        ref = Target(first, s0) if reachable(first, s0) else pool[0]
    targets = [t for t in pool if t.label != ref.label]
    self_check = False
    if not targets:
        targets = [ref]
        self_check = True
        notes.append(f"only {ref.label} selected: compared against a second session of itself "
                     "(a determinism check)")
    return Selection(ref, targets, notes, self_check)


# ----------------------------------------------------------------------------- the checks


@dataclass
class Context:
    variant: Variant
    data: Dataset
    dtype: str
    device: str
    seed: int
    params0: dict[str, np.ndarray]
    first_steps: Steps  # pass 0's steps, for grads / steps / trajectory
    tol: dict[str, Tol]

    def session(self, target: Target):
        params = {n: p.copy() for n, p in self.params0.items()}
        return target.backend.session(variant=self.variant, params=params, dtype=self.dtype,
                                      device=self.device, strategy=target.strategy)


def _row(target: str, tensor: str, cmp: dict, tol: Tol, step: int | None = None, n: int | None = None,
         **extra) -> dict:
    """One row of a check's table: a target's tensor compared with the reference's."""
    row = {"target": target, "tensor": tensor, **extra, "max_abs": cmp["max_abs"], "max_rel": cmp["max_rel"],
           "tol": tol.text(cmp.get("step_at", step), n), "passed": cmp["passed"], "where": cmp.get("where")}
    if tol.count:
        row["count"] = True
    for k in ("error", "unjudged", "within_tol", "max_abs_all", "judged_to"):
        if k in cmp:
            row[k] = cmp[k]
    return row


def _error_row(target: str, error: str, **extra) -> dict:
    return {"target": target, "tensor": "-", **extra, "max_abs": None, "max_rel": None, "tol": "-",
            "passed": False, "where": None, "error": error}


def _check_result(name: str, title: str, rows: list[dict], tols: dict[str, Tol], extra: dict | None = None) -> dict:
    passed = all(r["passed"] for r in rows) and bool(rows)
    measured = [r for r in rows if r.get("max_abs") is not None and math.isfinite(r["max_abs"])
                and not r.get("count")]
    judged = [r for r in measured if "unjudged" not in r or r.get("judged_to")]
    largest = max(judged or measured, key=lambda r: r["max_abs"], default=None)
    failed = [r for r in rows if not r["passed"]]
    if largest is not None:
        where = "".join(f", {k} {largest[k]}" for k in ("k", "pass", "example") if largest.get(k) is not None)
        summary = (f"{name}: {'PASS' if passed else 'FAIL'}: largest |a-b| {largest['max_abs']:.3g} "
                   f"({largest['target']} {largest['tensor']}{where}; tol {largest['tol']})")
    else:
        summary = f"{name}: {'PASS' if passed else 'FAIL'}"
    if largest is not None and "unjudged" in largest and not largest.get("judged_to"):
        summary += " [beyond the horizon: reported, not judged]"
    if failed:
        names = list(dict.fromkeys(
            f"{r['target']} {r['tensor']}" + (f" from step {r['first_step']}" if r.get("first_step") is not None
                                             else f" k={r['k']}" if r.get("k") is not None else "")
            for r in failed))
        summary += f"; {len(failed)} failing: " + ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
    unjudged = [r for r in rows if r.get("within_tol") is False]
    if unjudged:
        values = [r.get("max_abs_all", r["max_abs"]) for r in unjudged if not r.get("count")]
        top = f", up to {max(values):.3g}" if values else ""
        summary += (f"; past the horizon (step {unjudged[0].get('judged_to') or _horizon(tols)}), "
                    f"{len(unjudged)} rows beyond tolerance{top} (reported, not judged)")
    out = {"name": name, "title": title, "passed": passed, "summary": summary,
           "largest": None if largest is None else {k: largest.get(k) for k in
                                                     ("target", "tensor", "max_abs", "max_rel", "k", "pass")},
           "tolerances": {k: t.to_dict() for k, t in tols.items()}, "rows": rows}
    if extra:
        out.update(extra)
    return out


def _horizon(tols: dict[str, Tol]) -> int | None:
    return next((t.horizon for t in tols.values() if t.horizon is not None), None)


def _ref_failed(name: str, title: str, ref: Target, e: BaseException) -> dict:
    """The reference itself raised: nothing can be compared in this check; the row names the reference."""
    return _check_result(name, title, [_error_row(ref.label, f"the reference raised {one_line(e)}; "
                                                             "nothing compared", reference=True)], {})


def check_forward(ctx: Context, ref: Target, targets: list[Target], n: int = N_FORWARD) -> dict:
    title = f"forward outputs on the first {min(n, len(ctx.data.test_x))} test images (evaluation mode)"
    x = np.ascontiguousarray(ctx.data.test_x[:n], dtype=ctx.dtype)
    tol = ctx.tol["forward"]
    try:
        want = np.asarray(ctx.session(ref).forward(x))
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return _ref_failed("forward", title, ref, e)
    rows = []
    for t in targets:
        try:
            got = np.asarray(ctx.session(t).forward(x))
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(_error_row(t.label, one_line(e)))
            continue
        rows.append(_row(t.label, "outputs", compare(got, want, tol), tol))
    return _check_result("forward", title, rows, {"forward": tol})


def check_grads(ctx: Context, ref: Target, targets: list[Target], n: int = N_GRAD) -> dict:
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

    try:
        want = run(ref)
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return _ref_failed("grads", title, ref, e)
    rows = []
    for t in targets:
        try:
            got = run(t)
            per_tensor: dict[str, tuple[dict, int]] = {}
            for i, ((la, ga), (lb, gb)) in enumerate(zip(got, want)):
                cands = {"loss": compare(la, lb, tl)}
                missing = [k for k in PARAM_NAMES if k not in ga]
                if missing:
                    raise KeyError(f"loss_and_grads returned no gradient for {', '.join(missing)}")
                for k in PARAM_NAMES:
                    cands[k] = compare(ga[k], gb[k], tg)
                for k, c in cands.items():  # keep, per tensor, the worst example
                    prev = per_tensor.get(k)
                    if prev is None or (not c["passed"] and prev[0]["passed"]) or (
                            c["passed"] == prev[0]["passed"] and c["max_abs"] > prev[0]["max_abs"]):
                        per_tensor[k] = (c, i)
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(_error_row(t.label, one_line(e)))
            continue
        for k, (c, i) in per_tensor.items():
            rows.append(_row(t.label, k, c, tl if k == "loss" else tg, example=i))
    return _check_result("grads", title, rows, {"loss": tl, "grads": tg})


def _params_rows(label: str, got: dict, want: dict, tol: Tol, step: int | None, **extra) -> list[dict]:
    missing = [k for k in PARAM_NAMES if k not in got]
    if missing:
        raise KeyError(f"get_params returned no {', '.join(missing)}")
    return [_row(label, k, compare(got[k], want[k], tol, step), tol, step, **extra) for k in PARAM_NAMES]


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

    try:
        want = run(ref)
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return _ref_failed("steps", title, ref, e)
    rows = []
    for t in targets:
        try:
            got = run(t)
            rows += [r for k in ks for r in _params_rows(t.label, got[k], want[k], tol, k, k=k)]
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(_error_row(t.label, one_line(e)))
    return _check_result("steps", title, rows, {"params": tol})


def check_trajectory(ctx: Context, ref: Target, targets: list[Target], n_steps: int) -> dict:
    """Train one step per train_steps call; after every step compare every tensor with the reference.

    Step s (1-based) means: after the first s updates. first_step is the smallest
    s at which some tensor is beyond tolerance; `tensor` names the worst one there.
    """
    title = f"parameter trajectory: after each of the first {n_steps} steps, one step per train_steps call"
    tol = ctx.tol["params"]

    def trajectory(t: Target):
        s = ctx.session(t)
        yield s.get_params()
        for i in range(n_steps):
            s.train_steps(ctx.first_steps.slice(i, i + 1))
            yield s.get_params()

    try:
        want = list(trajectory(ref))
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return _ref_failed("trajectory", title, ref, e)
    rows, trace = [], {}
    for t in targets:
        div: list[float] = []
        first_step, first_tensor, first_cmp, worst_cmp, first_unjudged = None, None, None, None, None
        try:
            for step, got in enumerate(trajectory(t)):
                cmps = {k: compare(got[k], want[step][k], tol, step) for k in PARAM_NAMES}
                if step > 0:
                    div.append(max(c["max_abs"] for c in cmps.values()))
                failing = {k: c for k, c in cmps.items() if not c["passed"]}
                if failing and first_step is None:
                    first_step = step
                    first_tensor, first_cmp = max(failing.items(), key=lambda kc: kc[1]["max_abs"])
                if first_unjudged is None and any(c.get("within_tol") is False for c in cmps.values()):
                    first_unjudged = step  # beyond the horizon: reported, not judged
                top = max(cmps.items(), key=lambda kc: kc[1]["max_abs"])
                if worst_cmp is None or top[1]["max_abs"] > worst_cmp[1]["max_abs"]:
                    worst_cmp = top
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(_error_row(t.label, one_line(e), first_step=first_step, steps_done=len(div)))
            trace[t.label] = div
            continue
        trace[t.label] = div
        if first_step is None:
            rows.append(_row(t.label, worst_cmp[0], worst_cmp[1], tol, n_steps, first_step=None,
                             worst_of=len(PARAM_NAMES)))
            if first_unjudged is not None:
                rows[-1]["first_step_beyond_horizon"] = first_unjudged
        else:
            row = _row(t.label, first_tensor, first_cmp, tol, first_step, first_step=first_step)
            row["max_abs_all_steps"] = max(div) if div else None
            rows.append(row)
    extra = {"trace": {"step": list(range(1, n_steps + 1)),
                       "tol": [float(tol.atol_at(s)) for s in range(1, n_steps + 1)],
                       "horizon": tol.horizon,
                       "max_abs": trace}}
    return _check_result("trajectory", title, rows, {"params": tol}, extra)


def check_passes(ctx: Context, ref: Target, targets: list[Target], passes: int, limit: int | None,
                 chunk: int = CHUNK) -> dict:
    n_train = len(ctx.data.train_x) if limit is None else min(limit, len(ctx.data.train_x))
    n_epochs = max(passes, ctx.variant.epochs)  # the lr schedule of a full run's first passes
    title = (f"{passes} whole pass{'es' if passes > 1 else ''} of {n_train} examples (train_steps in chunks of "
             f"{chunk}), then evaluation of train ({n_train}) and test ({len(ctx.data.test_x)})")
    from .train import evaluate

    tp, tsl, tel = ctx.tol["params"], ctx.tol["step_losses"], ctx.tol["eval_losses"]
    tm, tpr = ctx.tol["misses"], ctx.tol["predictions"]
    train_x, train_labels = ctx.data.train_x[:n_train], ctx.data.train_labels[:n_train]
    all_steps = [pass_steps(ctx.variant, ctx.data, ctx.seed, e, n_epochs, ctx.dtype, limit=limit)
                 for e in range(passes)]

    def run(t: Target) -> list[dict]:
        s = ctx.session(t)
        out = []
        for steps in all_steps:
            losses = np.concatenate([np.asarray(s.train_steps(steps.slice(i, min(i + chunk, len(steps)))),
                                                dtype=np.float64).reshape(-1)
                                     for i in range(0, len(steps), chunk)])
            tr = evaluate(s, ctx.variant, train_x, train_labels)
            te = evaluate(s, ctx.variant, ctx.data.test_x, ctx.data.test_labels)
            out.append({"losses": losses, "train": tr, "test": te, "params": s.get_params()})
        return out

    try:
        want = run(ref)
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return _ref_failed("passes", title, ref, e)
    rows, metrics = [], {ref.label: [_metrics(w) for w in want]}
    for t in targets:
        try:
            got = run(t)
            metrics[t.label] = [_metrics(g) for g in got]
            for p, (g, w) in enumerate(zip(got, want), start=1):
                step = p * n_train  # updates behind the end-of-pass values
                # the loss of step i of the pass is taken after (p - 1) * n + i updates
                behind = (p - 1) * n_train + np.arange(len(w["losses"]))
                rows.append(_row(t.label, "step losses", compare(g["losses"], w["losses"], tsl, behind), tsl,
                                 pass_=p))
                for split in ("train", "test"):
                    gs, ws = g[split], w[split]
                    n = len(ws.predictions)
                    rows.append(_row(t.label, f"{split} loss", compare(gs.loss, ws.loss, tel, step), tel, step,
                                     pass_=p))
                    rows.append(_row(t.label, f"{split} misses", compare_count(gs.misses, ws.misses, tm, n, step),
                                     tm, step, n, pass_=p, value=gs.misses, reference=ws.misses))
                    differ = int((np.asarray(gs.predictions) != np.asarray(ws.predictions)).sum())
                    rows.append(_row(t.label, f"{split} predictions differing", compare_count(differ, 0, tpr, n, step),
                                     tpr, step, n, pass_=p, of=n))
                rows += _params_rows(t.label, g["params"], w["params"], tp, step, pass_=p)
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(_error_row(t.label, one_line(e)))
    for r in rows:  # "pass" is a keyword: rows say pass, not pass_
        if "pass_" in r:
            r["pass"] = r.pop("pass_")
    return _check_result("passes", title, rows, {"params": tp, "step_losses": tsl, "eval_losses": tel,
                                                 "misses": tm, "predictions": tpr},
                         {"metrics": metrics, "n_train": n_train})


def _metrics(m: dict) -> dict:
    return {"train_pass_loss": float(np.mean(m["losses"])), "train_loss": m["train"].loss,
            "train_misses": m["train"].misses, "test_loss": m["test"].loss, "test_misses": m["test"].misses}


# ----------------------------------------------------------------------------- the whole comparison


def parse_steps(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """'1,10,100' -> [1, 10, 100] (sorted, unique, each >= 1); '' or '0' -> []."""
    if isinstance(text, (list, tuple)):
        vals = [int(v) for v in text]
    else:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"--steps must be a comma-separated list of integers, not {text!r}") from None
    if any(v < 0 for v in vals):
        raise ValueError(f"--steps must be >= 0, not {text!r}")
    return sorted({v for v in vals if v > 0})


def run_parity(
    selection: Selection,
    *,
    variant: Variant,
    data: Dataset,
    dtype: str = "float64",
    device: str = "cpu",
    seed: int = 1337,
    steps: list[int] | tuple[int, ...] = DEFAULT_STEPS,
    passes: int = 1,
    limit: int | None = None,
    n_forward: int = N_FORWARD,
    n_grad: int = N_GRAD,
    chunk: int = CHUNK,
    checks: tuple[str, ...] = CHECKS,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run every check; return the result (JSON-able) with `passed` overall. Never raises for a
    backend's failure: a backend that raises is a failed row naming it, and the others go on."""
    from .results import now_iso
    from .timing import environment

    log = log or (lambda msg: None)
    ref, targets = selection.reference, selection.targets
    ks = parse_steps(steps)
    if ks and max(ks) > len(data.train_x):
        raise ValueError(f"--steps {max(ks)} exceeds the {len(data.train_x)} training examples of {data.name}")
    started = now_iso()
    env: dict = {"core": environment(), "backends": {}}
    for t in [ref, *targets]:
        if t.backend.name not in env["backends"]:
            try:  # also pins precision (TF32 off, HIGHEST matmuls) before any session
                env["backends"][t.backend.name] = t.backend.environment(device)
            except Exception as e:  # noqa: BLE001 -- recorded; the checks will name the backend
                env["backends"][t.backend.name] = {"error": one_line(e)}
    n_epochs = max(passes, variant.epochs)
    first = pass_steps(variant, data, seed, 0, n_epochs, dtype)
    ctx = Context(variant, data, dtype, device, seed, init_params(seed, dtype, variant), first,
                  tolerances(dtype, variant))
    results = []
    vs = " ".join(t.label for t in targets)
    if "forward" in checks:
        log(f"forward: {vs} vs {ref.label}")
        results.append(check_forward(ctx, ref, targets, n_forward))
    if "grads" in checks:
        log(f"grads: {vs} vs {ref.label}")
        results.append(check_grads(ctx, ref, targets, n_grad))
    if ks and "steps" in checks:
        log(f"steps k={','.join(map(str, ks))}: {vs} vs {ref.label}")
        results.append(check_steps(ctx, ref, targets, ks))
    if ks and "trajectory" in checks:
        log(f"trajectory over {max(ks)} steps: {vs} vs {ref.label}")
        results.append(check_trajectory(ctx, ref, targets, max(ks)))
    if passes > 0 and "passes" in checks:
        log(f"passes ({passes}): {vs} vs {ref.label}")
        results.append(check_passes(ctx, ref, targets, passes, limit, chunk))
    passed = all(c["passed"] for c in results)
    failed_targets = sorted({r["target"] for c in results for r in c["rows"] if not r["passed"]})
    traj = next((c for c in results if c["name"] == "trajectory"), None)
    return {
        "kind": "parity",
        "started": started,
        "finished": now_iso(),
        "config": {
            "reference": ref.label, "targets": [t.label for t in targets], "self_check": selection.self_check,
            "device": device, "dtype": dtype, "variant": variant.name, "variant_config": variant.to_dict(),
            "dataset": data.name, "dataset_source": data.source, "seed": seed, "steps": ks, "passes": passes,
            "limit": limit, "n_forward": n_forward, "n_grad": n_grad, "chunk": chunk,
        },
        "notes": list(selection.notes),
        "tolerances": {k: t.to_dict() for k, t in ctx.tol.items()},
        "environment": env,
        "checks": results,
        "trace": None if traj is None else traj["trace"],
        "passed": passed,
        "failed_targets": failed_targets,
        "summary": [c["summary"] for c in results],
    }


def result_stem(result: dict) -> str:
    c = result["config"]
    return f"parity-{c['variant']}-{c['dtype']}-{c['dataset']}-{c['device'].replace(':', '')}"
