"""Run results: final metrics, timing, labels, the table of runs, which run each learning curve
and each gallery shows. Results reaching here passed the run schema (harness.schema)."""
from __future__ import annotations

import json
from pathlib import Path

from .fmt import fmt_pct, fmt_s, fmt_us, int_or_dash, num
from .load import Loaded
from .markdown import esc, link

FRAMEWORK_KEYS = ("torch", "jax", "jaxlib", "flax", "optax", "tensorflow", "mlx")


def _threads(be: dict):
    threads = next((be[k] for k in sorted(be) if k.endswith("num_threads") and "interop" not in k
                    and isinstance(be[k], int)), None)
    if threads is None:
        threads = next((be[k] for k in sorted(be) if "threads" in k and isinstance(be[k], int)), None)
    return threads


def environment_summary(env) -> str:
    """'AMD EPYC 7B13 · torch 2.13.0 · 2 threads' from a result's environment (plain text, unescaped)."""
    if not isinstance(env, dict):
        return "-"
    be = env.get("backend") if isinstance(env.get("backend"), dict) else {}
    parts = []
    dev, cpu = be.get("device_name"), env.get("cpu_model")
    if isinstance(dev, str) and dev and dev.lower() != "cpu":
        parts.append(dev)
    elif isinstance(cpu, str) and cpu:
        parts.append(cpu)
    parts += [f"{k} {be[k]}" for k in FRAMEWORK_KEYS if isinstance(be.get(k), str)]
    if isinstance(be.get("cuda"), str):
        parts.append(f"CUDA {be['cuda']}")
    threads, aff = _threads(be), env.get("cpu_affinity")
    if threads is not None:
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}"
                     + (f" of {aff} cores" if isinstance(aff, int) else ""))
    elif isinstance(aff, int):
        parts.append(f"{aff} cores")
    return " · ".join(parts) or "-"


def run_final(d: dict) -> dict:
    """Final metrics: result['final'] when present, else the last pass."""
    last = d["epochs"][-1]
    final = d.get("final") if isinstance(d.get("final"), dict) else {}
    return {k: final.get(k, last.get(k)) for k in
            ("train_error", "train_misses", "test_error", "test_misses", "train_loss", "test_loss")}


def run_timing(d: dict) -> dict:
    """us_per_example median / p25 / p75, compile and eval time, from result['timing']."""
    t = d.get("timing") or {}
    s = t.get("us_per_example_stats") or {}
    med = num(s.get("median"))
    if med is None:
        med = num(t.get("us_per_example"))
    return {"median": med, "p25": num(s.get("p25")), "p75": num(s.get("p75")), "n": s.get("n"),
            "compile_s": num(t.get("compile_s_estimate")), "examples_per_s": num(t.get("examples_per_s")),
            "train_s": num(t.get("train_s_total")), "eval_s": num(t.get("eval_s_total"))}


def recipe_label(d: dict) -> str:
    """The recipe a run trained (its variant and the knobs set otherwise, e.g. "1989 targets=0.8"):
    the result's recipe label, or its variant for results recorded before knobs existed."""
    label = (d.get("recipe") or {}).get("label") if isinstance(d.get("recipe"), dict) else None
    return label if isinstance(label, str) else str(d["variant"])


def run_label(d: dict, extra: tuple[str, ...] = ()) -> str:
    s = f"{d['backend']}/{d['strategy']}/{d['device']}"
    for k in extra:
        v = d.get(k)
        if k == "n_train" and v is not None:
            s += f" {v} train"
        elif k == "seed" and v is not None:
            s += f" seed {v}"
        elif v is not None:
            s += f" {v}"
    return s


def subset_note(d: dict) -> str:
    """' (500 of 7291 train)' for a run trained on part of its training set (--limit), else ''."""
    n, src = d.get("n_train"), d.get("dataset_source")
    full = src.get("n_train") if isinstance(src, dict) else None
    if isinstance(n, int) and isinstance(full, int) and n < full:
        return f" ({n} of {full} train)"
    return ""


def varying(dicts: list[dict], keys: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `keys` whose value differs between `dicts`."""
    return tuple(k for k in keys if len({json.dumps(d.get(k), sort_keys=True) for d in dicts}) > 1)


RUNS_HEADER = ["backend", "strategy", "device", "recipe", "dataset", "dtype", "passes", "train n",
               "train error", "train misses", "test error", "test misses", "us/example (median)",
               "us/example p25-p75", "compile s", "environment", "result"]


def runs_table(runs: list[Loaded], results_dir: Path) -> tuple[list[str], list[list], str]:
    """The table of runs, every value from a file escaped."""
    rows = []
    for r in runs:
        d = r.data
        f, t = run_final(d), run_timing(d)
        spread = f"{fmt_us(t['p25'])}-{fmt_us(t['p75'])}" if t["p25"] is not None and t["p75"] is not None else "-"
        names = [esc(d[k]) for k in ("backend", "strategy", "device")] + [esc(recipe_label(d))]
        rows.append(names + [esc(d.get("dataset", "-")), esc(d.get("dtype", "-")), len(d["epochs"]),
                             int_or_dash(d.get("n_train")), fmt_pct(f["train_error"]), int_or_dash(f["train_misses"]),
                             fmt_pct(f["test_error"]), int_or_dash(f["test_misses"]), fmt_us(t["median"]), spread,
                             fmt_s(t["compile_s"]), esc(environment_summary(d.get("environment"))),
                             link(r.path, results_dir)])
    return RUNS_HEADER, rows, "llllllrrrrrrrrrll"


def latest_per_label(runs: list[Loaded], extra: tuple[str, ...]) -> dict[str, Loaded]:
    """label -> the latest run with that label (runs are sorted oldest first)."""
    out: dict[str, Loaded] = {}
    for r in runs:
        out[run_label(r.data, extra) + subset_note(r.data)] = r
    return dict(sorted(out.items()))


def curve_groups(runs: list[Loaded]) -> dict[str, dict[str, Loaded]]:
    """recipe (harness.recipe label) -> {line label -> latest run}: what each learning-curve figure draws."""
    by_variant: dict[str, list[Loaded]] = {}
    for r in runs:
        by_variant.setdefault(recipe_label(r.data), []).append(r)
    out = {}
    for v in sorted(by_variant, key=lambda v: (v != "1989", v != "modern", v)):
        rs = by_variant[v]
        extra = varying([r.data for r in rs], ("dtype", "dataset", "seed", "n_train"))
        out[v] = latest_per_label(rs, extra)
    return out


def curve_series(lines: dict[str, Loaded]) -> list[dict]:
    """The learning-curve figure's data: [{label, epoch, train_error, test_error}]."""
    series = []
    for label, r in lines.items():
        eps = r.data["epochs"]
        series.append({"label": label, "epoch": [e.get("epoch", i + 1) for i, e in enumerate(eps)],
                       "train_error": [num(e.get("train_error")) for e in eps],
                       "test_error": [num(e.get("test_error")) for e in eps]})
    return series


def gallery_choices(runs: list[Loaded]) -> list[Loaded]:
    """One run per (recipe, dataset): the one trained longest on most data, latest on ties."""
    best: dict[tuple, Loaded] = {}

    def score(r: Loaded):
        return (len(r.data["epochs"]), r.data.get("n_train") or 0, r.when)

    for r in runs:
        if not isinstance(r.data.get("test_missed"), dict):
            continue
        key = (recipe_label(r.data), r.data.get("dataset"))
        if key not in best or score(r) >= score(best[key]):
            best[key] = r
    return [best[k] for k in sorted(best, key=lambda k: (str(k[0]), str(k[1])))]
