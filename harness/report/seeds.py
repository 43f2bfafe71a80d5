"""Reports over seeds: runs that differ only by seed, grouped, as mean ± sd, min–max and n.

Pure functions of loaded result dicts (no files): `seed_tables` gives markdown, `strip_png` the
final test error of each seed per configuration against the paper's, `seed_section` both.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..config import result_config
from ..knobs import show
from . import figures
from .fmt import num, plain
from .markdown import esc

# LeCun et al. 1989, on their data (USPS): the 1989 variant's figures after 23 passes.
PAPER_1989 = {"train_error": 0.0014, "test_error": 0.0500, "train_loss": 2.5e-3, "test_loss": 1.8e-2}
STRIP_NAME = "seeds-test-error.png"  # the report's strip plot of test error over seeds
# Everything but the seed (and the timing window) that a sweep point is: runs on other thread counts
# compute the same errors but are timed apart, so they are other groups (docs/sweep.md, "Over seeds");
# runs that differ in a recipe knob (RunConfig.recipe) compute other things: groups apart too.
GROUP_FIELDS = ("backend", "strategy", "device", "variant", "recipe", "dataset", "dtype", "epochs", "limit",
                "threads")


def _text(v) -> str | None:
    return v if isinstance(v, str) and v else None


def machine(result: dict) -> str:
    """The machine a result ran on, as tables split them: the CPU model, or the device's name
    (always a string: the backend's environment is free-form, a device name may be anything)."""
    env = result.get("environment") or {}
    if str(result.get("device", "cpu")).startswith("cpu"):
        return _text(env.get("cpu_model")) or "unknown CPU"
    be = env.get("backend") if isinstance(env.get("backend"), dict) else {}
    return _text(be.get("device_name")) or _text(be.get("device_kind")) or str(result.get("device", "?"))


def _seed(r: dict):
    """A run's seed as its configuration records it (a result may lack the top-level field)."""
    cfg = result_config(r)
    return cfg.seed if cfg is not None else r.get("seed")


def group_runs(results: list[dict]) -> dict[tuple, list[dict]]:
    """(machine, device, config without seed) -> runs, for every run result."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in results:
        cfg = result_config(r)
        if cfg is None or not r.get("final"):
            continue
        groups[(machine(r), cfg.device, tuple(getattr(cfg, f) for f in GROUP_FIELDS))].append(r)
    return dict(groups)


def spread(values) -> dict:
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None, "median": None}
    return {"n": int(a.size), "mean": float(a.mean()), "sd": float(a.std(ddof=1)) if a.size > 1 else None,
            "min": float(a.min()), "max": float(a.max()), "median": float(np.median(a))}


def within(value: float, s: dict) -> dict:
    """Whether `value` lies in the seed spread: min–max, and mean ± 2 sd (None when sd is undefined)."""
    two_sd = None if s["sd"] is None else bool(abs(value - s["mean"]) <= 2 * s["sd"])
    return {"min_max": bool(s["min"] <= value <= s["max"]), "mean_2sd": two_sd}


def _pct(s: dict) -> tuple[str, str]:
    if not s["n"]:
        return "-", "-"
    sd = "-" if s["sd"] is None else f"{s['sd'] * 100:.2f}"
    return f"{s['mean'] * 100:.2f} ± {sd}", f"{s['min'] * 100:.2f}–{s['max'] * 100:.2f}"


def _sci(s: dict) -> str:
    if not s["n"]:
        return "-"
    return f"{s['mean']:.2e} ± " + ("-" if s["sd"] is None else f"{s['sd']:.1e}")


def one_per_seed(runs: list[dict]) -> list[dict]:
    """The latest run of each seed: a repeated seed computes the same numbers, it is not a new sample."""
    latest: dict = {}
    for r in sorted(runs, key=lambda r: str(r.get("finished", ""))):
        latest[_seed(r)] = r
    return list(latest.values())


def summarize_group(runs: list[dict]) -> dict:
    """Errors and losses over distinct seeds; per-example time over every run (each a measurement)."""
    fin = [r["final"] for r in one_per_seed(runs)]
    timing = [r.get("timing") or {} for r in runs]
    return {
        "n": len(fin), "runs": len(runs), "seeds": sorted({_seed(r) for r in runs}),  # grouped runs all have a config: int seeds
        **{k: spread(f.get(k) for f in fin) for k in ("train_error", "test_error", "train_loss", "test_loss")},
        "us_median": spread(t.get("us_per_example") for t in timing),
        "us_mean": spread(t.get("us_per_example_mean") for t in timing),
        # training examples per pass: the same configuration on data files of other sizes is not a seed
        "n_train": sorted({r["n_train"] for r in runs if isinstance(r.get("n_train"), int)}),
    }


def n_train_note(s: dict, markdown: bool = True) -> str:
    """'' or a warning that the group's runs trained on different numbers of examples per pass."""
    if len(s.get("n_train") or ()) < 2:
        return ""
    text = (f"(warning: its runs trained on different numbers of examples per pass, "
            f"{', '.join(map(str, s['n_train']))}: the data files differ; averaged, but not like for like)")
    # the space outside: esc and plain fold leading whitespace away (the cell read "3 passes(warning: ...")
    return " " + (esc(text) if markdown else plain(text, 300))


def _label(key: tuple, markdown: bool = True) -> str:
    """The configuration's name; for markdown, escaped for markdown and HTML (its parts come from
    result files); else plain text for a figure."""
    d = dict(zip(GROUP_FIELDS, key))
    recipe = " ".join([str(d["variant"]), *(f"{k}={show(v)}" for k, v in d["recipe"])])
    text = (f"{d['backend']}:{d['strategy']} {recipe} {d['dataset']} {d['dtype']} {d['epochs']} passes"
            + ("" if d["limit"] is None else f" limit {d['limit']}")
            + ("" if d["threads"] is None else f" threads {d['threads']}"))
    return esc(text) if markdown else plain(text)


def _us(s: dict) -> str:
    return "-" if not s["n"] else f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})"


def _group_table(rows: list[tuple[tuple, dict]]) -> list[str]:
    out = [("| configuration | n seeds (runs) | test error % mean ± sd | min–max | train error % mean ± sd | min–max "
            "| test loss | train loss | us/example median of medians (min–max) | us/example mean over passes "
            "(median; min–max) |"), "|" + "---|" * 10]
    for key, s in rows:
        te, te_r = _pct(s["test_error"])
        tr, tr_r = _pct(s["train_error"])
        out.append(f"| {_label(key)}{n_train_note(s)} | {s['n']} ({s['runs']}) | {te} | {te_r} | {tr} | {tr_r} | {_sci(s['test_loss'])} "
                   f"| {_sci(s['train_loss'])} | {_us(s['us_median'])} | {_us(s['us_mean'])} |")
    return out


def _yes(b) -> str:
    return "-" if b is None else ("yes" if b else "no")


def _paper_table(rows: list[tuple[tuple, dict]]) -> list[str]:
    out = [("| configuration | figure | paper | seeds: mean ± sd | min–max | paper within min–max "
            "| paper within mean ± 2 sd |"), "|" + "---|" * 7]
    for key, s in rows:
        for fig, paper in PAPER_1989.items():
            st = s[fig]
            if not st["n"]:
                continue
            w = within(paper, st)
            if fig.endswith("error"):
                val, rng = _pct(st)
                p = f"{paper * 100:.2f}%"
            else:
                val, rng, p = _sci(st), f"{st['min']:.2e}–{st['max']:.2e}", f"{paper:.1e}"
            out.append(f"| {_label(key)} | {fig.replace('_', ' ')} | {p} | {val} | {rng} | {_yes(w['min_max'])} "
                       f"| {_yes(w['mean_2sd'])} |")
    return out


def seed_tables(results: list[dict]) -> str:
    """Markdown: per machine and device, one row per configuration over its seeds; for the 1989
    variant, whether the paper's figures lie within the seed spread (min–max, and mean ± 2 sd)."""
    groups = group_runs(results)
    if not groups:
        return "No run results to group over seeds.\n"
    by_machine: dict[tuple, list] = defaultdict(list)
    for (mach, dev, key), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _label(kv[0][2]))):
        by_machine[(mach, dev)].append((key, summarize_group(runs)))
    lines = []
    for (mach, dev), rows in by_machine.items():
        lines += [f"### Over seeds: {esc(mach)}, device {esc(dev)}", ""] + _group_table(rows) + [""]
        paper_rows = [(k, s) for k, s in rows if family(dict(zip(GROUP_FIELDS, k))["variant"]) == "1989"
                      and dict(zip(GROUP_FIELDS, k))["dataset"] == "usps"]
        if paper_rows:
            note = ("The paper's figures (1989: 0.14% train / 5.00% test error, train MSE 2.5e-3, test MSE "
                    "1.8e-2) against the seed spread, judged two ways: within the observed min–max, and "
                    "within mean ± 2 sd (sd over seeds, n-1).")
            lines += [note, "", *_paper_table(paper_rows), ""]
    return "\n".join(lines)


def family(variant: str) -> str:
    """Variants compared in one figure and against one paper: `1989`, `1989-sdlm`, `1989-sdlm-fanin`
    are all the 1989 recipe with another optimiser or initialisation."""
    return str(variant).split("-")[0]


def strip_rows(results: list[dict]) -> tuple[list[tuple[str, list[float]]], bool]:
    """The strip plot's rows: per configuration (machines merged: a configuration computes the same
    errors on any), the final test error of each distinct seed; and whether some row is the paper's
    own setting (a 1989-family variant on USPS), against which its 5.00% is drawn."""
    merged: dict[tuple, list[dict]] = defaultdict(list)
    for (_, _, key), runs in group_runs(results).items():
        merged[key] += runs
    rows, paper = [], False
    for key, runs in sorted(merged.items(), key=lambda kv: _label(kv[0], markdown=False)):
        d = dict(zip(GROUP_FIELDS, key))
        finals = [r["final"].get("test_error") if isinstance(r["final"], dict) else None for r in one_per_seed(runs)]
        vals = [v for v in (num(x) for x in finals) if v is not None]
        if vals:
            rows.append((f"{_label(key, markdown=False)}, {plain(d['device'], 20)}", vals))
            paper |= family(d["variant"]) == "1989" and d["dataset"] == "usps"
    return rows, paper


def strip_png(plt, results: list[dict]) -> bytes | None:
    """Test error over seeds as a strip plot (figures.seed_strip), within MAX_ROWS configurations;
    None when no configuration has a final test error."""
    rows, paper = strip_rows(results)
    if not rows:
        return None
    rows, note = figures.bounded(rows, figures.MAX_ROWS, "configurations")
    return figures.seed_strip(plt, rows, PAPER_1989["test_error"] if paper else None, note)


def seed_section(results: list[dict]) -> tuple[str, dict[str, bytes]]:
    """The report's section over seeds: (markdown, {png file name: PNG bytes})."""
    md = ["## Over seeds", "", seed_tables(results)]
    pngs = {}
    png = strip_png(figures.pyplot(), results)
    if png is not None:
        pngs[STRIP_NAME] = png
        md += [f"![test error over seeds]({STRIP_NAME})", ""]
    return "\n".join(md), pngs
