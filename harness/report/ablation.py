"""The report's ablation section: recipes against the baseline (`1989` as it is), over seeds.

Runs are grouped by what they compute (backend, strategy, device, variant, recipe knobs, data
set, dtype, passes, limit; not the machine or thread count, which change only the time), one
run per seed. Each group is compared with the baseline of the same backend, strategy, device,
data set and dtype: the difference of mean test (and train) error, and whether it lies beyond
seed noise by Welch's unequal-variance t-test, two-sided at 5% (`welch`; Student's tail from
scipy's incomplete beta function, scipy being in the [report] extra beside matplotlib). Pure functions of loaded result dicts, plus `section`,
the hook sections.py calls.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..config import result_config
from ..knobs import show
from ..spec import VARIANTS
from .figures import MAX_ROWS, bounded, size
from .markdown import esc, image, md_table
from .seeds import PAPER_1989, one_per_seed, spread

BASELINE = "1989"
ALPHA = 0.05  # two-sided level of the test "beyond seed noise"
KEY_FIELDS = ("backend", "strategy", "device", "variant", "recipe", "dataset", "dtype", "epochs", "limit")
# The fields a recipe and its baseline share: what is compared is the recipe, nothing else.
SAME = ("backend", "strategy", "device", "dataset", "dtype", "limit")
FIGURES = ("test_error", "train_error", "test_loss", "train_loss")


@dataclass
class Welch:
    diff: float  # mean(a) - mean(b)
    t: float
    df: float
    p: float  # two-sided


def betainc(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    # scipy: the [report] extra, as matplotlib
    from scipy.special import betainc as _betainc

    return float(_betainc(a, b, min(max(x, 0.0), 1.0)))


def t_sf2(t: float, df: float) -> float:
    """Two-sided tail of Student's t: P(|T| >= |t|) with `df` degrees of freedom."""
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch(a, b) -> Welch | None:
    """Welch's t-test of mean(a) against mean(b) (unequal variances, Welch-Satterthwaite degrees
    of freedom); None with fewer than two values on a side. Two samples without spread: p is 1
    when their means agree, else 0 (any difference is beyond a noise of zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return None
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    if va + vb == 0.0:
        return Welch(diff, math.copysign(math.inf, diff) if diff else 0.0, math.nan, 1.0 if diff == 0 else 0.0)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return Welch(diff, t, df, t_sf2(t, df))


@dataclass
class Group:
    key: dict  # KEY_FIELDS -> value (recipe: a tuple of (knob, value))
    runs: list  # one result per seed
    started: str  # the earliest run's start: groups are listed in the order they were run

    def values(self, figure: str) -> list[float]:
        return [r["final"][figure] for r in self.runs if isinstance(r["final"].get(figure), (int, float))]

    def label(self) -> str:
        """`1989 targets=0.8 init=fan_in`, with `passes=N` where the passes are not the variant's."""
        k = self.key
        parts = [str(k["variant"]), *(f"{n}={show(v)}" for n, v in k["recipe"])]
        v = VARIANTS.get(k["variant"])
        if v is None or v.epochs != k["epochs"]:
            parts.append(f"passes={k['epochs']}")
        return " ".join(parts)

    def is_baseline(self) -> bool:
        k = self.key
        return k["variant"] == BASELINE and not k["recipe"] and k["epochs"] == VARIANTS[BASELINE].epochs


def groups_of(results: list[dict]) -> list[Group]:
    """Run results with a final figure, grouped by KEY_FIELDS, one run per seed, in run order."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    for r in results:
        cfg = result_config(r)
        if cfg is None or not isinstance(r.get("final"), dict):
            continue
        by[tuple(getattr(cfg, f) for f in KEY_FIELDS)].append(r)
    out = [Group(dict(zip(KEY_FIELDS, key)), one_per_seed(runs), min(str(r.get("started", "")) for r in runs))
           for key, runs in by.items()]
    return sorted(out, key=lambda g: (g.started, g.label()))


def baseline_of(g: Group, groups: list[Group]) -> Group | None:
    """The baseline group g is compared with: the same backend, strategy, device, data set and dtype."""
    for b in groups:
        if b.is_baseline() and all(b.key[f] == g.key[f] for f in SAME):
            return b
    return None


def compare(g: Group, base: Group | None) -> dict:
    """figure -> Welch of g against its baseline (None: no baseline, or too few seeds)."""
    if base is None or base is g:
        return {f: None for f in FIGURES}
    return {f: welch(g.values(f), base.values(f)) for f in FIGURES}


def has_ablation(groups: list[Group]) -> bool:
    """Whether there is something to ablate: a baseline of 2+ seeds and another group beside it."""
    return any(b.is_baseline() and len(b.runs) > 1 and any(baseline_of(g, groups) is b and g is not b
                                                           for g in groups) for b in groups)


def _pct(s: dict) -> str:
    if not s["n"]:
        return "-"
    sd = "-" if s["sd"] is None else f"{s['sd'] * 100:.2f}"
    return f"{s['mean'] * 100:.2f} ± {sd} ({s['min'] * 100:.2f}–{s['max'] * 100:.2f})"


def _sci(s: dict) -> str:
    if not s["n"]:
        return "-"
    sd = "-" if s["sd"] is None else f"{s['sd']:.1e}"
    return f"{s['mean']:.2e} ± {sd}"


def _change(w: Welch | None, scale: float = 100.0, unit: str = "") -> str:
    if w is None:
        return "-"
    verdict = "**yes**" if w.p < ALPHA else "no"
    return f"{w.diff * scale:+.2f}{unit} ({verdict}, p={w.p:.2g})"


def table(groups: list[Group]) -> str:
    """One row per group: test and train error as mean ± sd (min–max), n; losses as mean ± sd; the
    change of mean test and train error against the baseline, in points, with the test's verdict."""
    head = ["recipe", "backend", "n", "test error %", "train error %", "test loss", "train loss",
            "Δ test (beyond noise?)", "Δ train (beyond noise?)"]
    rows = []
    for g in groups:
        w = compare(g, baseline_of(g, groups))
        s = {f: spread(g.values(f)) for f in FIGURES}
        who = f"{g.key['backend']}:{g.key['strategy']}" + ("" if g.key["device"] == "cpu" else f"@{g.key['device']}")
        rows.append([esc(g.label()) + (" (baseline)" if g.is_baseline() else ""), esc(who), str(len(g.runs)),
                     _pct(s["test_error"]), _pct(s["train_error"]), _sci(s["test_loss"]), _sci(s["train_loss"]),
                     _change(w["test_error"]), _change(w["train_error"])])
    return md_table(head, rows, "llrllllll")


def _axis_cap(groups: list[Group], figure: str) -> float:
    """The right edge of a figure's axis, in %: twice the largest of the paper's figure, the
    baseline's mean and the median recipe's mean, so a recipe that failed to train (50% error)
    does not squeeze the rest; values beyond it are drawn at the edge."""
    means = [float(np.mean(g.values(figure))) for g in groups if g.values(figure)]
    base = [float(np.mean(g.values(figure))) for g in groups if g.is_baseline() and g.values(figure)]
    limit = 2 * max([PAPER_1989[figure], *base, float(np.median(means)) if means else 0.0]) * 100
    top = max((max(g.values(figure)) * 100 for g in groups if g.values(figure)), default=limit)
    return limit if top > limit else top * 1.02


def figure(plt, groups: list[Group], title: str) -> bytes:
    """Test and train error per recipe (a dot per seed, mean ± sd), against the paper's 5.00% and
    0.14% (dotted) and the baseline's mean (dashed). PNG bytes."""
    import io

    fig, axes = plt.subplots(1, 2, figsize=size(12, 0.45 * len(groups) + 1.6), sharey=True)
    y = np.arange(len(groups))[::-1]
    base = next((g for g in groups if g.is_baseline()), None)
    for ax, f in zip(axes, ("test_error", "train_error")):
        cap = _axis_cap(groups, f)
        for yi, g in zip(y, groups):
            v = np.asarray(g.values(f)) * 100
            ax.plot(np.minimum(v, cap), np.full(v.size, yi), "o", ms=3.5, alpha=0.55,
                    color="C0" if not g.is_baseline() else "C3")
            if v.size and v.mean() > cap:  # a recipe that failed to train: its mean in words at the edge
                ax.annotate(f"mean {v.mean():.1f}% >", (cap, yi), ha="right", va="bottom", fontsize=7)
            elif v.size:
                ax.errorbar(v.mean(), yi, xerr=v.std(ddof=1) if v.size > 1 else None, fmt="D", ms=5, color="k",
                            capsize=3)
        ax.axvline(PAPER_1989[f] * 100, color="k", ls=":", lw=1.2, label=f"paper {PAPER_1989[f] * 100:.2f}%")
        if base is not None and base.values(f):
            ax.axvline(np.mean(base.values(f)) * 100, color="C3", ls="--", lw=1, label="baseline mean")
        ax.set_xlabel(f"{f.replace('_', ' ')} % (dots: seeds; diamond: mean ± sd)")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_yticks(y, [g.label() + ("" if g.key["backend"] == "jax" else f" [{g.key['backend']}:"
                                          f"{g.key['strategy']}]") for g in groups], fontsize=7)
    fig.suptitle(title, fontsize=9)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


NOTE = ("Each recipe over its seeds (one run per seed): error after the last pass as mean ± sd (n-1) "
        "with min–max, loss (MSE for mse recipes, cross-entropy for xent) as mean ± sd. Δ: the recipe's "
        "mean minus the baseline's (`1989` on the same backend, strategy, device, data set and dtype), "
        "in points of error; beyond noise: Welch's unequal-variance t-test, two-sided, p < 0.05 "
        "(no correction for the number of recipes compared: with 20 recipes about one 'yes' is "
        "expected by chance). Paper (LeCun et al. 1989): 5.00% test, 0.14% train error.")


def drawn(groups: list[Group]) -> tuple[list[Group], str | None]:
    """The groups the figure draws, in the table's order, within MAX_ROWS rows: the baselines first,
    then the other recipes as they come; and a note naming how many were left out (None if none).
    The table lists every group whatever the figure holds."""
    first = [g for g in groups if g.is_baseline()] + [g for g in groups if not g.is_baseline()]
    kept, note = bounded(first, MAX_ROWS, "recipes")
    keep = {id(g) for g in kept}
    return [g for g in groups if id(g) in keep], note


def section(ctx) -> list[str]:
    """REPORT.md's ablation section ([] when there is no baseline of 2+ seeds with another recipe)."""
    groups = groups_of([r.data for r in ctx.sc.runs])
    if not has_ablation(groups):
        return []
    groups = [g for g in groups if baseline_of(g, groups) is not None]
    shown, note = drawn(groups)
    title = "Ablation: error after the last pass, per recipe, against the paper (1989)"
    name = ctx.figure("ablation.png", lambda plt: figure(plt, shown, title + (f"\n{note}" if note else "")))
    md = ["## Ablation", "", NOTE, "", table(groups), ""]
    return md + ([image(name, "ablation: test and train error per recipe"), ""] if name else [])
