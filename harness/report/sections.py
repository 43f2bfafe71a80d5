"""REPORT.md's sections, each a list of markdown lines. Every value from a result file goes
through markdown.esc (names, CPU models, file names, parity texts), or esc_block where it
starts a line;
figures are drawn through Context.figure, which stages the PNG or notes why it was not drawn."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from . import figures
from . import seeds as S
from .ablation import section as ablation
from .fmt import fmt_pct, fmt_s, fmt_us, plain
from .gallery import gallery_images
from .load import Scan
from .markdown import esc, esc_block, image, link, md_table
from .parity_view import parity_rows, parity_traces
from .publish import Staging
from .runs import (
    curve_groups,
    curve_series,
    gallery_choices,
    recipe_label,
    run_label,
    runs_table,
    subset_note,
)
from .timings import throughput_figures

# LeCun et al. 1989, on USPS: 10 train misses of 7291, 102 test misses of 2007.
PAPER_1989 = {"train_error": 0.0014, "test_error": 0.0500, "train_misses": 10, "test_misses": 102}


def slug(s) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(s)[:60]).strip("-.") or "x"


@dataclass
class Context:
    results_dir: Path
    sc: Scan
    data_dir: Path | None
    stage: Staging
    plt: object
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str, draw) -> str | None:
        """Stage the PNG that draw(plt) returns as `name`; None (and a note) if drawing fails."""
        try:
            png = draw(self.plt)
        except Exception as e:  # noqa: BLE001 -- matplotlib on odd data: the rest of the report still matters
            self.plt.close("all")
            self.notes.append(f"figure {name} not drawn ({type(e).__name__}: {plain(e, 120)})")
            return None
        stem, n = name[:-4], 2
        while name in self.stage.names:  # two variants whose names slug alike: one figure each
            name, n = f"{stem}-{n}.png", n + 1
        return self.stage.add(name, png)


def header(ctx: Context) -> list[str]:
    sc = ctx.sc
    return ["# lecun1989 harness report", "",
            (f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} by `harness report` "
            f"from {esc(ctx.results_dir)}: {len(sc.runs)} run result(s), {len(sc.benches)} bench result(s), "
            f"{len(sc.parities)} parity result(s), {len(sc.pytest_benchmarks)} pytest-benchmark file(s); "
            f"{len(sc.skipped)} file(s) skipped."), "",
            (f"Paper (LeCun et al. 1989, USPS): {fmt_pct(PAPER_1989['train_error'])} train error "
            f"({PAPER_1989['train_misses']} misses), {fmt_pct(PAPER_1989['test_error'])} test error "
            f"({PAPER_1989['test_misses']} misses) after 23 passes."), ""]


def runs(ctx: Context) -> list[str]:
    if not ctx.sc.runs:
        return ["## Runs", "", "No run results.", ""]
    head, rows, align = runs_table(ctx.sc.runs, ctx.results_dir)
    return ["## Runs", "", md_table(head, rows, align), "",
            ("Errors and misses are after the last pass. us/example: one training step at batch size 1 "
            "(forward, backward, update), median over timed windows after warm-up, with the "
            "25th-75th percentile spread; compile s: the warm-up windows' time beyond the steady rate."), ""]


def curves(ctx: Context) -> list[str]:
    if not ctx.sc.runs:
        return []
    md = ["## Learning curves", ""]
    for variant, lines in curve_groups(ctx.sc.runs).items():
        series = [dict(s, label=plain(s["label"])) for s in curve_series(lines)]
        datasets = sorted({plain(r.data.get("dataset"), 30) for r in lines.values()})
        title = plain(variant, 30)
        name = ctx.figure(f"curves-{slug(variant)}.png", lambda plt, v=title, s=series, ds=datasets:
                          figures.learning_curves(plt, v, s, PAPER_1989, ds))
        md += [f"### Recipe {esc(variant)}", ""]
        if name:
            md += [image(name, f"learning curves, recipe {variant}"), ""]
        md += [(f"Train and test error after each pass, one line per backend/strategy/device (the latest "
                f"run of each); dashed: the paper's 1989 figures. {len(lines)} line(s)."), ""]
    return md


def throughput(ctx: Context) -> list[str]:
    figs, source = throughput_figures(ctx.sc)
    if not figs:
        return ["## Throughput", "", "No timings.", ""]
    for f in figs:
        f.label = plain(f.label)
    name = ctx.figure("throughput.png", lambda plt: figures.throughput(plt, figs, plain(source, 200)))
    md = ["## Throughput", ""] + ([image(name, "throughput"), ""] if name else [])
    counted = any(f.kernels != "-" for f in figs)  # harness bench --kernels: a column beside us/example
    rows = [[esc(f.label), fmt_us(f.median), *([esc(f.kernels)] if counted else []),
             f"{fmt_us(f.spread[0])}-{fmt_us(f.spread[1])}" if f.spread else "-",
             "-" if f.examples_per_s is None else f"{f.examples_per_s:,.0f}", fmt_s(f.compile_s), esc(f.env),
             esc(f.source)] for f in figs]
    head = ["backend/strategy/device", "us/example (median)", *(["per example (profiler)"] if counted else []),
            "p25-p75", "examples/s", "compile s", "environment", "source"]
    align = "lr" + ("r" if counted else "") + "rrrll"
    return md + [f"Source: {esc(source)}. Lower is faster.", "", md_table(head, rows, align), ""]


def seeds(ctx: Context) -> list[str]:
    """Runs that differ only by seed, as distributions (report.seeds), when some configuration has
    two seeds or more; learning curves with a band across seeds."""
    results = [r.data for r in ctx.sc.runs]
    groups = S.group_runs(results)
    if not any(len(S.one_per_seed(g)) > 1 for g in groups.values()):
        return []
    md = ["## Over seeds", "", S.seed_tables(results), ""]
    at = S.GROUP_FIELDS.index("variant")
    for variant in sorted({S.family(key[2][at]) for key in groups}):
        name = ctx.figure(f"seeds-curves-{slug(variant)}.png", lambda plt, v=variant: S.curves_png(results, v))
        if name:
            md += [image(name, f"learning curves across seeds, variants {variant}*"),
                   ("Mean over seeds per configuration, with a band from the lowest to the highest seed."), ""]
    return md


def _gallery_one(ctx: Context, r) -> list[str]:
    d = r.data
    what = (f"recipe {recipe_label(d)}, {d.get('dataset')}: {run_label(d)} after {len(d['epochs'])} passes "
            f"({r.path.name})")
    tiles, why = gallery_images(r, ctx.data_dir)
    if tiles is None:
        ctx.notes.append(f"gallery skipped for {what}: {why}")
        return [f"Gallery skipped for {esc(what)}: {esc(why)}.", ""]
    if not tiles:
        return [f"For {esc(what)}: no test digit missed.", ""]
    n_missed, n_test = len(d["test_missed"]["indices"]), d.get("n_test")
    title = (f"Test digits missed by {run_label(d)}{subset_note(d)}, recipe {recipe_label(d)}, after "
             f"{len(d['epochs'])} passes: {n_missed}" + (f" of {n_test}" if isinstance(n_test, int) else "")
             + ("" if n_missed <= len(tiles) else f" (first {len(tiles)} shown)"))
    name = ctx.figure(f"gallery-{slug(recipe_label(d))}-{slug(d.get('dataset'))}.png",
                      lambda plt: figures.gallery(plt, tiles, plain(title, 160)))
    md = [f"### {esc(what)}", ""]
    if name:
        md += [image(name, "missed test digits"), ""]
    return md + ["Each digit: true label → predicted label, and its index in the test set.", ""]


def gallery(ctx: Context) -> list[str]:
    if not ctx.sc.runs:
        return []
    md = ["## Missed test digits", ""]
    for r in gallery_choices(ctx.sc.runs):
        md += _gallery_one(ctx, r)
    return md


def _parity_facts(d: dict) -> list[str]:
    cfg = d.get("config") or {}
    facts = [f"{k} {cfg[k]}" for k in ("reference", "device", "dtype", "variant", "dataset", "seed")
             if k in cfg and cfg[k] is not None]
    if isinstance(d.get("recipe"), dict) and d["recipe"].get("set"):  # a parity of a recipe: its label
        facts.append(f"recipe {d['recipe'].get('label')}")
    if cfg.get("self_check"):
        facts.append("self-check (the reference against itself)")
    return facts


def _parity_check(c: dict) -> list[str]:
    cv = {True: "PASS", False: "FAIL"}.get(c.get("passed"), "?")
    md = [f"### {esc(c.get('name', 'check'))}: {cv}", ""]
    if c.get("title"):
        md += [esc_block(c["title"]), ""]
    head, rows = parity_rows(c)
    if rows:
        md += [md_table(head, [[esc(x) for x in r] for r in rows], "l" * 2 + "r" * (len(head) - 2)), ""]
    if c.get("summary"):
        md += [esc_block(c["summary"]), ""]
    return md


def parity(ctx: Context) -> list[str]:
    if not ctx.sc.parities:
        return ["## Parity", "", "No parity results.", ""]
    p = ctx.sc.parities[-1]
    d, facts = p.data, _parity_facts(p.data)
    verdict = {True: "PASS", False: "FAIL"}.get(d.get("passed"), "?")
    md = ["## Parity", "", f"Latest parity result: {link(p.path, ctx.results_dir)} ({esc(p.when)}): **{verdict}**"
          + (f"; {esc(', '.join(facts))}" if facts else "") + ".", ""]
    targets = (d.get("config") or {}).get("targets")
    if targets:
        md += [f"Compared: {esc(', '.join(targets))}.", ""]
    for c in d["checks"]:
        md += _parity_check(c)
    traces = [dict(t, label=plain(t["label"])) for t in parity_traces(d)]
    title = "Parity: parameter divergence per step" + (f"\n{plain(', '.join(facts), 150)}" if facts else "")
    name = ctx.figure("parity-divergence.png", lambda plt: figures.divergence(plt, traces, title)) if traces else None
    if name:
        md += ["### Divergence against step", "", image(name, "parity divergence"), "",
               ("max |a - b| over every parameter after each per-example step, against the reference; "
                "dashed: the tolerance."), ""]
    if len(ctx.sc.parities) > 1:
        md += [f"Older parity results: {', '.join(link(x.path, ctx.results_dir) for x in ctx.sc.parities[:-1])}.", ""]
    return md


def skipped(ctx: Context) -> list[str]:
    if not (ctx.sc.skipped or ctx.notes):
        return []
    return (["## Skipped files and notes", ""] + [f"- skipped: {esc(p.name)}: {esc(why)}" for p, why in ctx.sc.skipped]
            + [f"- note: {esc(n)}" for n in ctx.notes] + [""])


SECTIONS = (header, runs, seeds, ablation, curves, throughput, gallery, parity, skipped)
