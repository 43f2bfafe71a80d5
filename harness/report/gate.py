"""`harness compare A B`: whether B's per-example time differs from A's beyond noise, per
configuration, and the regression gate (--fail-above PCT). The JSON keys are documented in
docs/compare.md and only ever added to.

The samples are the timed windows' us/example (a run's `timing.us_per_example_windows`, a bench
row's `us_per_example_windows`, a pytest-benchmark file's rounds where --benchmark-save-data kept
them), pooled per configuration where a directory holds several files of it. Two tests on them:

- Mann-Whitney U (two-sided, scipy) on A's and B's windows: is there a difference at all;
- a percentile bootstrap of the ratio of medians B/A (fixed seed: the same files give the same
  answer): how large. The gate fails when the one-sided lower bound of that ratio, at the stated
  confidence, exceeds 1 + PCT/100: B slower than A by more than PCT, at that confidence.

"slower" or "faster" is said only when both agree (p below 1 - confidence and the two-sided
interval excludes 1); never on too few windows, on files without samples, or on a file compared
with itself.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .compare import _pair, load_figures
from .fmt import plain
from .load import ReportError, scan
from .timings import (
    Figure,
    figures_of_bench,
    figures_of_pytest_benchmark,
    figures_of_run,
)

MIN_WINDOWS = 5  # fewer timed windows on a side: no verdict
N_BOOT = 2000
MAX_BOOT_CELLS = 4_000_000  # resamples x windows drawn at once (memory bound on long runs)


@dataclass
class Side:
    """One operand: the path, what it holds, and its figures pooled per configuration."""

    path: Path
    kind: str
    figures: list[Figure]


def _pooled(figs: list[Figure]) -> list[Figure]:
    """One Figure per configuration: the windows of every file of it together; its median theirs."""
    groups: dict[tuple, list[Figure]] = {}
    for f in figs:
        groups.setdefault(f.key if any(f.key) else (f.name,), []).append(f)
    out = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            out.append(first)
            continue
        pooled = [x for f in group for x in (f.samples or [])] or None
        sources = ", ".join(sorted({f.source for f in group}))
        out.append(replace(first, samples=pooled, source=sources,
                           median=float(np.median(pooled)) if pooled else first.median))
    return out


def load_side(path: Path) -> Side:
    """A result file (run, bench, pytest-benchmark) or a directory of them; ReportError (exit 2) when
    it holds nothing timed."""
    path = Path(path)
    if not path.is_dir():
        kind, figs = load_figures(path)
        return Side(path, kind, _pooled(figs))
    s = scan(path)
    figs = [f for r in s.runs for f in figures_of_run(r)] + [f for b in s.benches for f in figures_of_bench(b)]
    figs += [f for p in s.pytest_benchmarks for f in figures_of_pytest_benchmark(p)]
    if not figs:
        raise ReportError(f"{path}: no run, bench or pytest-benchmark result with a timing in this directory")
    n = len(s.runs) + len(s.benches) + len(s.pytest_benchmarks)
    return Side(path, f"directory of {n} timed result file{'s' if n != 1 else ''}", _pooled(figs))


def _bootstrap_ratios(a: np.ndarray, b: np.ndarray, seed: int = 0) -> np.ndarray:
    """Medians of resampled B over medians of resampled A, N_BOOT times (in blocks: bounded memory)."""
    rng = np.random.default_rng(seed)
    block = max(1, MAX_BOOT_CELLS // max(len(a), len(b)))
    out = []
    for start in range(0, N_BOOT, block):
        k = min(block, N_BOOT - start)
        ma = np.median(a[rng.integers(0, len(a), (k, len(a)))], axis=1)
        mb = np.median(b[rng.integers(0, len(b), (k, len(b)))], axis=1)
        out.append(mb / ma)
    return np.concatenate(out)


def ratio_test(a: list[float] | None, b: list[float] | None, confidence: float = 0.95,
               fail_above: float | None = None) -> dict:
    """The test of B's windows against A's (see the module docstring); `verdict` one of slower, faster,
    no difference beyond noise, no samples, too few windows; `gate` fail / pass, or None (not asked,
    or nothing to judge)."""
    xa = np.asarray([x for x in a or [] if x > 0], dtype=np.float64)
    xb = np.asarray([x for x in b or [] if x > 0], dtype=np.float64)
    out = {"windows_a": len(xa), "windows_b": len(xb), "median_a_us": None, "median_b_us": None, "ratio": None,
           "ratio_ci": None, "ratio_lower_bound": None, "p_value": None, "verdict": None, "gate": None}
    if a is None or b is None:
        missing = " and ".join(s for s, x in (("A", a), ("B", b)) if x is None)
        out["verdict"] = f"no samples: {missing} kept no per-window times (a file written before they were kept?)"
        return out
    if min(len(xa), len(xb)) < MIN_WINDOWS:
        out["verdict"] = f"too few windows ({len(xa)} in A, {len(xb)} in B; at least {MIN_WINDOWS} each)"
        return out
    # scipy: the [report] extra, imported here: loading and pairing need none
    from scipy.stats import mannwhitneyu

    ma, mb = float(np.median(xa)), float(np.median(xb))
    boots = _bootstrap_ratios(xa, xb)
    alpha = 1.0 - confidence
    lo, hi = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    lower = float(np.quantile(boots, alpha))  # one-sided: B/A is above this with `confidence`
    p = float(mannwhitneyu(xb, xa, alternative="two-sided").pvalue)
    out.update(median_a_us=ma, median_b_us=mb, ratio=mb / ma, ratio_ci=[lo, hi], ratio_lower_bound=lower,
               p_value=p)
    if p < alpha and lo > 1:
        out["verdict"] = "slower"
    elif p < alpha and hi < 1:
        out["verdict"] = "faster"
    else:
        out["verdict"] = "no difference beyond noise"
    if fail_above is not None:
        out["gate"] = "fail" if lower > 1 + fail_above / 100 else "pass"
    return out


def _entry(fa: Figure, fb: Figure, confidence: float, fail_above: float | None) -> dict:
    backend, strategy, device, dtype, variant = fa.key
    out = {"configuration": fa.label if fa.label == fb.label else f"{fa.label} vs {fb.label}",
            "backend": backend, "strategy": strategy, "device": device, "dtype": dtype, "variant": variant,
            "a_source": fa.source, "b_source": fb.source,
            **ratio_test(fa.samples, fb.samples, confidence, fail_above)}
    if fa.samples is not None and fa.samples == fb.samples:  # a copy, or one measurement read twice
        out["verdict"] = "identical windows in A and B (the same measurement twice?): no difference can be claimed"
    return out


def compare_paths(a: Path, b: Path, confidence: float = 0.95, fail_above: float | None = None) -> dict:
    """The comparison as a JSON-able dict (docs/compare.md); `exit_code` 1 when the gate failed, 2
    when --fail-above was asked and some configuration could not be judged (or none matched)."""
    if not 0.5 <= confidence < 1:
        raise ReportError(f"--confidence must be in [0.5, 1), not {confidence}")
    same = Path(a).resolve() == Path(b).resolve()
    sa, sb = load_side(a), load_side(b)
    pairs, only_a, only_b = _pair(sa.figures, sb.figures)
    rows = [_entry(fa, fb, confidence, fail_above) for fa, fb in pairs]
    if same:  # the same samples on both sides: nothing can be said beyond "identical"
        for r in rows:
            r["verdict"] = "same path: A compared with itself, no difference can be claimed"
    unjudged = [r["configuration"] for r in rows if r["ratio"] is None]
    failed = [r["configuration"] for r in rows if r["gate"] == "fail"]
    exit_code = 1 if failed else 2 if fail_above is not None and (unjudged or not rows) else 0
    return {"a": str(a), "b": str(b), "a_kind": sa.kind, "b_kind": sb.kind, "same_file": same,
            "confidence": confidence, "fail_above_pct": fail_above, "min_windows": MIN_WINDOWS,
            "comparisons": rows, "only_in_a": [f.label for f in only_a], "only_in_b": [f.label for f in only_b],
            "failed": failed, "unjudged": unjudged, "exit_code": exit_code}


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def compare_text(res: dict) -> str:
    """The comparison for a terminal: one line per configuration, then what the gate decided."""
    c = res["confidence"]
    out = [f"A: {plain(res['a'], 300)} ({res['a_kind']})", f"B: {plain(res['b'], 300)} ({res['b_kind']})", ""]
    if res["same_file"]:
        out += ["A and B are the same path: no difference can be claimed.", ""]
    for r in res["comparisons"]:
        ci = r["ratio_ci"]
        out.append(f"{plain(r['configuration'])}: median us per example A {_fmt(r['median_a_us'], '.4g')} "
                   f"({r['windows_a']} windows), B {_fmt(r['median_b_us'], '.4g')} ({r['windows_b']}); "
                   f"B/A {_fmt(r['ratio'], '.3f')}"
                   + (f" [{ci[0]:.3f}, {ci[1]:.3f}] at {c:.0%}, Mann-Whitney p={r['p_value']:.3g}" if ci else "")
                   + f": {r['verdict']}" + (f"; gate {r['gate'].upper()}" if r["gate"] else ""))
    if not res["comparisons"]:
        out.append("no configuration of A matches one of B (by backend, strategy, device, dtype, variant or name)")
    out += [f"only in A: {plain(x)}" for x in res["only_in_a"]] + [f"only in B: {plain(x)}" for x in res["only_in_b"]]
    pct = res["fail_above_pct"]
    if pct is not None:
        out.append("")
        if res["failed"]:
            out.append(f"FAIL: B slower than A by more than {pct:g}% at {c:.0%} confidence: "
                       + ", ".join(map(plain, res["failed"])))
        elif res["exit_code"] == 2:
            out.append("NOT JUDGED: " + ("; ".join(map(plain, res["unjudged"])) + " could not be tested" if res["unjudged"]
                                         else "no configuration in common"))
        else:
            out.append(f"PASS: no configuration of B slower than A by more than {pct:g}% at {c:.0%} confidence "
                       f"({len(res['comparisons'])} compared)")
    return "\n".join(out)
