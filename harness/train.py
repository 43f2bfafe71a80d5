"""The training driver: passes, evaluation after each, timing windows, NaN guard."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import sdlm
from .backend import Session, Steps
from .config import RunConfig
from .data import Dataset, targets_pm1
from .draws import pass_steps
from .errors import NonFiniteLoss
from .recipe import of_config
from .spec import Variant
from .timing import clock, summarize


def losses_of(variant: Variant, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-example loss, computed by the core in float64 from a backend's outputs."""
    out = outputs.astype(np.float64)
    if variant.loss == "mse":
        sq = (out - targets_pm1(labels, "float64", variant.targets)) ** 2
        return sq.mean(axis=1) if variant.reduction == "mean" else sq.sum(axis=1)
    if variant.loss == "xent":
        m = out.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(out - m).sum(axis=1, keepdims=True)))[:, 0]
        return lse - out[np.arange(len(out)), labels]
    raise ValueError(f"unknown loss {variant.loss!r}")


@dataclass
class SplitEval:
    loss: float
    error: float  # fraction
    misses: int
    predictions: np.ndarray

    def line(self, split: str) -> str:
        # The line karpathy/lecun1989-repro prints, so runs can be compared by eye.
        return f"eval: split {split:5s}. loss {self.loss:e}. error {self.error * 100:.2f}%. misses: {self.misses}"


# Examples per forward call in evaluation: a whole USPS split (7,291 / 2,007) in one call, so a
# compiling backend meets two shapes rather than three (the last, ragged chunk of 2048s was a
# third compile) and a call's overhead is paid once per split; ~22 MB of activations at most.
EVAL_BATCH = 8192


def evaluate(session: Session, variant: Variant, x: np.ndarray, labels: np.ndarray,
             batch: int = EVAL_BATCH) -> SplitEval:
    outs = np.concatenate([session.forward(x[i:i + batch]) for i in range(0, len(x), batch)])
    pred = outs.argmax(axis=1)
    misses = int((pred != labels).sum())
    return SplitEval(float(losses_of(variant, outs, labels).mean()), misses / len(labels), misses, pred)


@dataclass
class TrainLog:
    epochs: list[dict] = field(default_factory=list)
    window_us: list[float] = field(default_factory=list)  # steady-state windows, us/example
    warmup_s: float = 0.0  # wall time of windows that met a new shape (compilation inside)
    warmup_examples: int = 0
    examples: int = 0
    train_s: float = 0.0
    eval_s: float = 0.0
    final_test: SplitEval | None = None

    def timing(self, window: int) -> dict:
        stats = summarize(self.window_us)
        med = stats["median"]
        compile_s = None
        if med is not None:
            compile_s = max(self.warmup_s - self.warmup_examples * med * 1e-6, 0.0)
        steady = self.examples - self.warmup_examples
        return {
            "us_per_example": med,
            # the mean over the whole pass: steady windows' train time / their examples
            "us_per_example_mean": (self.train_s - self.warmup_s) * 1e6 / steady if steady else None,
            "us_per_example_stats": stats,
            # every steady window's us/example, in order: the samples `harness compare` tests
            "us_per_example_windows": [round(u, 4) for u in self.window_us],
            "examples_per_s": (1e6 / med) if med else None,
            "window": window,
            "warmup_s": self.warmup_s,
            "compile_s_estimate": compile_s,
            "train_s_total": self.train_s,
            "eval_s_total": self.eval_s,
        }


def train_pass(session: Session, steps: Steps, epoch: int, window: int, log: TrainLog,
               seen_shapes: set[int], progress: Callable[[int], None] | None = None) -> float:
    """One pass over `steps` in windows; returns the mean training loss of the pass."""
    total = 0.0
    n = len(steps)
    for start in range(0, n, window):
        chunk = steps.slice(start, min(start + window, n))
        session.sync()
        t0 = clock()
        losses = session.train_steps(chunk)  # returns host values: the device is synchronised
        dt = clock() - t0
        log.train_s += dt
        log.examples += len(chunk)
        bad = ~np.isfinite(losses)
        if bad.any():
            i = int(np.argmax(bad))
            raise NonFiniteLoss(epoch, start + i, float(losses[i]))
        total += float(losses.sum())
        if len(chunk) in seen_shapes:
            log.window_us.append(dt * 1e6 / len(chunk))
        else:  # first window of this length: may include tracing / compilation
            seen_shapes.add(len(chunk))
            log.warmup_s += dt
            log.warmup_examples += len(chunk)
        if progress:
            progress(len(chunk))
    return total / n


def train(
    session: Session,
    config: RunConfig,
    data: Dataset,
    *,
    on_epoch: Callable[[int, dict, SplitEval, SplitEval], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> TrainLog:
    """Train for `config.epochs` passes (None: the variant's), evaluating train and test after each.

    From `config` the core takes variant and recipe, seed, dtype, epochs, limit and window; the session
    already embodies backend, strategy and device.
    """
    variant = of_config(config).variant_spec()
    seed, dtype, window, limit = config.seed, config.dtype, config.window, config.limit
    epochs = config.epochs or variant.epochs
    log = TrainLog()
    seen: set[int] = set()
    train_x, train_labels = data.train_x, data.train_labels
    if limit is not None:
        train_x, train_labels = train_x[:limit], train_labels[:limit]
    for epoch in range(epochs):
        steps = pass_steps(variant, data, seed, epoch, epochs, dtype, limit=limit)
        t_h = clock()
        h_summary = sdlm.before_pass(session, variant, data, seed, epoch, dtype, limit) if sdlm.is_sdlm(variant) else None
        t_h = clock() - t_h  # SDLM's estimate of h: outside the timed windows, recorded per pass
        mean_loss = train_pass(session, steps, epoch, window, log, seen, progress)
        t0 = clock()
        tr = evaluate(session, variant, train_x, train_labels)
        te = evaluate(session, variant, data.test_x, data.test_labels)
        log.eval_s += clock() - t0
        entry = {
            "epoch": epoch + 1,
            "train_pass_loss": mean_loss,
            "train_loss": tr.loss, "train_error": tr.error, "train_misses": tr.misses,
            "test_loss": te.loss, "test_error": te.error, "test_misses": te.misses,
        }
        if h_summary is not None:
            entry.update(hessian_s=t_h, hessian=h_summary)
        if not (np.isfinite(tr.loss) and np.isfinite(te.loss)):
            raise NonFiniteLoss(epoch, len(steps) - 1, tr.loss if not np.isfinite(tr.loss) else te.loss)
        log.epochs.append(entry)
        log.final_test = te
        if on_epoch:
            on_epoch(epoch, entry, tr, te)
    return log
