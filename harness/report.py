"""`harness report`: a markdown report and PNG figures from a results directory, and
`harness report --compare A B`.

Reads every file in the results directory and sorts it into:

  run results      (kind "run", harness run)       -> the table of runs, learning curves,
                                                      the gallery of missed test digits
  bench results    (kind "bench", rows of timings) -> throughput
  parity results   (kind "parity", harness parity) -> the latest one: per-check table,
                                                      divergence against step
  pytest-benchmark JSON (top-level "benchmarks")   -> throughput (preferred when present)

Anything else (not JSON, not a harness result, another schema version, a kind this
module does not know, a result missing what it needs) is listed as skipped, with why,
and never stops the report.

This module is framework-free and imports matplotlib only through harness.plots, lazily:
`--compare` and the markdown work without it.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .results import SCHEMA_VERSION, atomic_write_bytes, atomic_write_text, load_results

REPORT_NAME = "REPORT.md"

# LeCun et al. 1989, on USPS: 10 train misses of 7291, 102 test misses of 2007.
PAPER_1989 = {"train_error": 0.0014, "test_error": 0.0500, "train_misses": 10, "test_misses": 102}

KNOWN_KINDS = ("run", "bench", "parity")
FRAMEWORK_KEYS = ("torch", "jax", "jaxlib", "flax", "optax", "tensorflow", "mlx")


class ReportError(Exception):
    """A user-facing problem with the report as a whole (one line; the CLI exits 2)."""


# ----------------------------------------------------------------------------- small helpers


def _num(v) -> float | None:
    """A finite float, or None (for None, strings, NaN, inf, bools)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def fmt_pct(v) -> str:
    """An error fraction as a percentage, as `harness run` prints it: 0.05 -> '5.00%'."""
    v = _num(v)
    return "-" if v is None else f"{v * 100:.2f}%"


def fmt_us(v) -> str:
    v = _num(v)
    if v is None:
        return "-"
    return f"{v:,.1f}" if v >= 10 else f"{v:.2f}"  # as `harness run` prints it (.1f)


def fmt_s(v) -> str:
    v = _num(v)
    return "-" if v is None else f"{v:.1f}"


def fmt_ratio(v) -> str:
    v = _num(v)
    return "-" if v is None else f"{v:.3f}"


def _int_or_dash(v) -> str:
    return "-" if isinstance(v, bool) or not isinstance(v, int) else str(v)


def _md_cell(v) -> str:
    s = "-" if v is None else str(v)
    return s.replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one letter per column, l or r."""
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text aligned table for the terminal."""
    align = align or "l" * len(header)
    cells = [[str(c) for c in header]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def _when(path: Path, d: dict) -> str:
    """A sortable UTC timestamp: the result's own (finished / started / datetime), else the file's mtime."""
    for k in ("finished", "created", "started", "datetime"):
        v = d.get(k)
        if isinstance(v, str) and v:
            try:
                t = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                if t.tzinfo is None:
                    t = t.astimezone()
                return t.astimezone(_dt.timezone.utc).isoformat(timespec="seconds")
            except ValueError:
                continue
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- validation


def _is_pytest_benchmark(d) -> bool:
    return isinstance(d, dict) and isinstance(d.get("benchmarks"), list) and "schema_version" not in d


def _check_run(d: dict) -> str | None:
    """Why a run result cannot be reported, or None if it can."""
    for k in ("backend", "strategy", "device", "variant"):
        if not isinstance(d.get(k), str):
            return f"run result without {k!r}"
    eps = d.get("epochs")
    if not isinstance(eps, list) or not eps:
        return "run result without per-pass metrics ('epochs')"
    for e in eps:
        if not isinstance(e, dict) or _num(e.get("train_error")) is None and _num(e.get("test_error")) is None:
            return "run result whose 'epochs' entries have no train_error / test_error"
    if d.get("timing") is not None and not isinstance(d.get("timing"), dict):
        return "run result with a malformed 'timing'"
    return None


def _check_bench(d: dict) -> str | None:
    rows = d.get("rows")
    if not isinstance(rows, list) or not rows:
        return "bench result without 'rows'"
    if not all(isinstance(r, dict) for r in rows):
        return "bench result with malformed 'rows'"
    if not any(_num(r.get("us_per_example")) is not None for r in rows):
        return "bench result with no us_per_example in any row"
    return None


def _check_parity(d: dict) -> str | None:
    checks = d.get("checks")
    if isinstance(checks, dict):
        checks = list(checks.values())
    if not isinstance(checks, list) or not checks:
        return "parity result without 'checks'"
    if not all(isinstance(c, dict) for c in checks):
        return "parity result with malformed 'checks'"
    return None


def _check_pytest_benchmark(d: dict) -> str | None:
    bms = d["benchmarks"]
    if not bms:
        return "pytest-benchmark file with no benchmarks"
    good = [b for b in bms if isinstance(b, dict) and isinstance(b.get("stats"), dict)
            and _num(b["stats"].get("median")) is not None]
    if not good:
        return "pytest-benchmark file whose benchmarks have no stats.median"
    return None


# ----------------------------------------------------------------------------- the scan


@dataclass
class Loaded:
    path: Path
    data: dict
    when: str


@dataclass
class Scan:
    runs: list[Loaded] = field(default_factory=list)
    benches: list[Loaded] = field(default_factory=list)
    parities: list[Loaded] = field(default_factory=list)
    pytest_benchmarks: list[Loaded] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return bool(self.runs or self.benches or self.parities or self.pytest_benchmarks)


def scan(results_dir: Path) -> Scan:
    """Sort every *.json file of `results_dir` into runs, benches, parities, pytest-benchmark files
    and skipped (with why). Never raises for a bad file."""
    results_dir = Path(results_dir)
    loaded, skipped = load_results(results_dir)
    out = Scan()
    for path, why in skipped:
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError):
            out.skipped.append((path, why))
            continue
        if _is_pytest_benchmark(d):
            bad = _check_pytest_benchmark(d)
            if bad:
                out.skipped.append((path, bad))
            else:
                out.pytest_benchmarks.append(Loaded(path, d, _when(path, d)))
        else:
            out.skipped.append((path, why))
    for path, d in loaded:
        kind = d.get("kind")
        check = {"run": _check_run, "bench": _check_bench, "parity": _check_parity}.get(kind)
        if check is None:
            why = "harness result without a 'kind'" if kind is None else \
                f"unknown result kind {kind!r} (known: {', '.join(KNOWN_KINDS)})"
            out.skipped.append((path, why))
            continue
        try:
            bad = check(d)
        except Exception as e:  # noqa: BLE001 -- a structure so odd that the checks trip: skip it
            bad = f"malformed {kind} result ({type(e).__name__}: {e})"
        if bad:
            out.skipped.append((path, bad))
            continue
        item = Loaded(path, d, _when(path, d))
        {"run": out.runs, "bench": out.benches, "parity": out.parities}[kind].append(item)
    for lst in (out.runs, out.benches, out.parities, out.pytest_benchmarks):
        lst.sort(key=lambda x: (x.when, x.path.name))
    out.skipped.sort(key=lambda pw: pw[0].name)
    return out


# ----------------------------------------------------------------------------- runs


def environment_summary(env) -> str:
    """'AMD EPYC 7B13 · torch 2.13.0 · 2 threads' from a result's environment (defensively)."""
    if not isinstance(env, dict):
        return "-"
    be = env.get("backend") if isinstance(env.get("backend"), dict) else {}
    parts = []
    dev = be.get("device_name")
    cpu = env.get("cpu_model")
    if isinstance(dev, str) and dev and dev.lower() not in ("cpu",):
        parts.append(dev)
    elif isinstance(cpu, str) and cpu:
        parts.append(cpu)
    fw = [f"{k} {be[k]}" for k in FRAMEWORK_KEYS if isinstance(be.get(k), str)]
    parts += fw
    for k in ("cuda",):
        if isinstance(be.get(k), str):
            parts.append(f"CUDA {be[k]}")
    threads = next((be[k] for k in sorted(be) if k.endswith("num_threads") and "interop" not in k
                    and isinstance(be[k], int)), None)
    if threads is None:
        threads = next((be[k] for k in sorted(be) if "threads" in k and isinstance(be[k], int)), None)
    aff = env.get("cpu_affinity")
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
    """us_per_example median / p25 / p75, compile and eval time, from result['timing'] (defensively)."""
    t = d.get("timing") if isinstance(d.get("timing"), dict) else {}
    s = t.get("us_per_example_stats") if isinstance(t.get("us_per_example_stats"), dict) else {}
    med = _num(s.get("median"))
    if med is None:
        med = _num(t.get("us_per_example"))
    return {"median": med, "p25": _num(s.get("p25")), "p75": _num(s.get("p75")), "n": s.get("n"),
            "compile_s": _num(t.get("compile_s_estimate")), "examples_per_s": _num(t.get("examples_per_s")),
            "train_s": _num(t.get("train_s_total")), "eval_s": _num(t.get("eval_s_total"))}


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


def runs_table(runs: list[Loaded]) -> tuple[list[str], list[list], str]:
    header = ["backend", "strategy", "device", "variant", "dataset", "dtype", "passes", "train n",
              "train error", "train misses", "test error", "test misses", "us/example (median)",
              "us/example p25-p75", "compile s", "environment", "result"]
    align = "llllllrrrrrrrrrll"
    rows = []
    for r in runs:
        d = r.data
        f = run_final(d)
        t = run_timing(d)
        spread = f"{fmt_us(t['p25'])}-{fmt_us(t['p75'])}" if t["p25"] is not None and t["p75"] is not None else "-"
        rows.append([d["backend"], d["strategy"], d["device"], d["variant"], d.get("dataset", "-"),
                     d.get("dtype", "-"), len(d["epochs"]), _int_or_dash(d.get("n_train")),
                     fmt_pct(f["train_error"]), _int_or_dash(f["train_misses"]),
                     fmt_pct(f["test_error"]), _int_or_dash(f["test_misses"]),
                     fmt_us(t["median"]), spread, fmt_s(t["compile_s"]),
                     environment_summary(d.get("environment")), f"[{r.path.name}]({r.path.name})"])
    return header, rows, align


def latest_per_label(runs: list[Loaded], extra: tuple[str, ...]) -> dict[str, Loaded]:
    """label -> the latest run with that label (runs are sorted oldest first)."""
    out: dict[str, Loaded] = {}
    for r in runs:
        out[run_label(r.data, extra) + subset_note(r.data)] = r
    return dict(sorted(out.items()))


def curve_groups(runs: list[Loaded]) -> dict[str, dict[str, Loaded]]:
    """variant -> {line label -> latest run}: what each learning-curve figure draws."""
    by_variant: dict[str, list[Loaded]] = {}
    for r in runs:
        by_variant.setdefault(r.data["variant"], []).append(r)
    out = {}
    for v in sorted(by_variant, key=lambda v: (v != "1989", v != "modern", v)):
        rs = by_variant[v]
        extra = varying([r.data for r in rs], ("dtype", "dataset", "seed", "n_train"))
        out[v] = latest_per_label(rs, extra)
    return out


def gallery_choices(runs: list[Loaded]) -> list[Loaded]:
    """One run per (variant, dataset): the one trained longest on most data, latest on ties."""
    best: dict[tuple, Loaded] = {}
    for r in runs:
        d = r.data
        if not isinstance(d.get("test_missed"), dict):
            continue
        key = (d["variant"], d.get("dataset"))
        score = (len(d["epochs"]), d.get("n_train") or 0, r.when)
        cur = best.get(key)
        if cur is None or score >= (len(cur.data["epochs"]), cur.data.get("n_train") or 0, cur.when):
            best[key] = r
    return [best[k] for k in sorted(best, key=lambda k: (str(k[0]), str(k[1])))]


# ----------------------------------------------------------------------------- throughput


@dataclass
class Figure:
    """One timed configuration: a run, a bench row or a pytest benchmark."""

    key: tuple  # (backend, strategy, device, dtype, variant)
    label: str
    median: float | None
    p25: float | None = None
    p75: float | None = None
    compile_s: float | None = None
    examples_per_s: float | None = None
    source: str = ""
    when: str = ""
    train_error: float | None = None
    test_error: float | None = None
    train_misses: int | None = None
    test_misses: int | None = None
    name: str | None = None  # a pytest benchmark's name
    env: str = "-"  # environment summary

    @property
    def spread(self) -> tuple[float, float] | None:
        if self.p25 is None or self.p75 is None:
            return None
        return (min(self.p25, self.p75), max(self.p25, self.p75))


def _label(key: tuple, show: tuple[bool, ...] = (True, True, True, True, True)) -> str:
    backend, strategy, device, dtype, variant = key
    s = "/".join(str(x) for x in (backend, strategy, device) if x is not None) or "?"
    if show[3] and dtype:
        s += f" {dtype}"
    if show[4] and variant:
        s += f" ({variant})"
    return s


def figures_of_run(r: Loaded) -> list[Figure]:
    d = r.data
    t = run_timing(d)
    f = run_final(d)
    key = (d["backend"], d["strategy"], d["device"], d.get("dtype"), d["variant"])
    return [Figure(key, _label(key), t["median"], t["p25"], t["p75"], t["compile_s"], t["examples_per_s"],
                   r.path.name, r.when, _num(f["train_error"]), _num(f["test_error"]),
                   f["train_misses"] if isinstance(f["train_misses"], int) else None,
                   f["test_misses"] if isinstance(f["test_misses"], int) else None,
                   env=environment_summary(d.get("environment")))]


def figures_of_bench(r: Loaded) -> list[Figure]:
    out = []
    d = r.data
    for row in d["rows"]:
        med = _num(row.get("us_per_example"))
        if med is None:
            continue
        key = (row.get("backend", d.get("backend")), row.get("strategy"), row.get("device", d.get("device")),
               row.get("dtype", d.get("dtype")), row.get("variant", d.get("variant")))
        eps = _num(row.get("examples_per_s"))
        core = d.get("environment") if isinstance(d.get("environment"), dict) else {}
        env = {**core, "backend": row["environment"]} if isinstance(row.get("environment"), dict) else core
        out.append(Figure(key, _label(key), med, _num(row.get("p25")), _num(row.get("p75")),
                          _num(row.get("compile_s")), eps if eps is not None else 1e6 / med if med else None,
                          r.path.name, r.when, env=environment_summary(env)))
    return out


def figures_of_pytest_benchmark(r: Loaded) -> list[Figure]:
    """us/example from extra_info (else stats.median / steps); the spread from stats q1 / q3 (else iqr),
    scaled the same way. Benchmarks that say nothing about examples per round are left out."""
    out = []
    mi = r.data.get("machine_info") if isinstance(r.data.get("machine_info"), dict) else {}
    cpu = mi.get("cpu") if isinstance(mi.get("cpu"), dict) else {}
    env = cpu.get("brand_raw") if isinstance(cpu.get("brand_raw"), str) else "-"
    for b in r.data["benchmarks"]:
        if not isinstance(b, dict) or not isinstance(b.get("stats"), dict):
            continue
        st = b["stats"]
        ex = b.get("extra_info") if isinstance(b.get("extra_info"), dict) else {}
        params = b.get("params") if isinstance(b.get("params"), dict) else {}
        med_s = _num(st.get("median"))
        if med_s is None:
            continue
        us = _num(ex.get("us_per_example"))
        steps = _num(ex.get("steps"))
        if us is not None and med_s > 0:
            scale = us / med_s
        elif steps:
            scale = 1e6 / steps
            us = med_s * scale
        else:
            continue
        q1, q3 = _num(st.get("q1")), _num(st.get("q3"))
        if q1 is None or q3 is None:
            iqr = _num(st.get("iqr"))
            q1, q3 = (med_s - iqr / 2, med_s + iqr / 2) if iqr is not None else (None, None)
        p25 = _num(ex.get("p25")) if _num(ex.get("p25")) is not None else (q1 * scale if q1 is not None else None)
        p75 = _num(ex.get("p75")) if _num(ex.get("p75")) is not None else (q3 * scale if q3 is not None else None)

        key = tuple(_pick(ex, params, k) for k in ("backend", "strategy", "device", "dtype", "variant"))
        name = b.get("name") if isinstance(b.get("name"), str) else None
        label = _label(key) if any(key[:3]) else (name or "?")
        out.append(Figure(key, label, us, p25, p75, _num(ex.get("compile_s")), 1e6 / us if us else None,
                          r.path.name, r.when, name=name, env=env))
    return out


def _pick(extra_info: dict, params: dict, k: str) -> str | None:
    v = extra_info.get(k, params.get(k))
    return v if isinstance(v, str) else None


def throughput_figures(sc: Scan) -> tuple[list[Figure], str]:
    """The latest figure per configuration, and where they come from. pytest-benchmark files when
    there are any, else bench and run results."""
    if sc.pytest_benchmarks:
        figs = [f for r in sc.pytest_benchmarks for f in figures_of_pytest_benchmark(r)]
        source = "pytest-benchmark " + ", ".join(r.path.name for r in sc.pytest_benchmarks)
    else:
        figs = []
        source = "run and bench results"
    if not figs:
        figs = [f for r in sc.benches for f in figures_of_bench(r)] + \
               [f for r in sc.runs for f in figures_of_run(r)]
        if sc.pytest_benchmarks:
            source = "run and bench results (the pytest-benchmark files have no per-example figures)"
    else:  # devices the suite did not time (a GPU timed with `harness bench`) still get their bars
        covered = {f.key[2] for f in figs}
        extra = [f for r in sc.benches for f in figures_of_bench(r) if f.key[2] not in covered]
        if extra:
            figs += extra
            source += " + " + ", ".join(sorted({f.source for f in extra}))
    figs = [f for f in figs if f.median is not None and f.median > 0]
    latest: dict[tuple, Figure] = {}
    for f in sorted(figs, key=lambda f: f.when):
        latest[f.key if any(f.key) else (f.name,)] = f
    figs = list(latest.values())
    # labels: show dtype / variant only where they vary
    keyed = [f for f in figs if any(f.key)]
    show = (True, True, True, len({f.key[3] for f in keyed}) > 1, len({f.key[4] for f in keyed}) > 1)
    for f in keyed:
        f.label = _label(f.key, show)
    figs.sort(key=lambda f: f.median)
    return figs, source


# ----------------------------------------------------------------------------- parity


def parity_checks(d: dict) -> list[dict]:
    checks = d.get("checks")
    if isinstance(checks, dict):
        checks = [dict(v, name=v.get("name", k)) if isinstance(v, dict) else v for k, v in checks.items()]
    return [c for c in (checks or []) if isinstance(c, dict)]


def _row_target(r: dict) -> str:
    for k in ("target", "backend/strategy", "label"):
        if isinstance(r.get(k), str):
            return r[k]
    parts = [str(r[k]) for k in ("backend", "strategy", "device") if r.get(k) is not None]
    return "/".join(parts) or "-"


def _fmt_g(v, count=False) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        if isinstance(v, float) and math.isinf(v):
            return "inf"
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        return f"{int(v)}" if count else f"{v:.3g}"
    return "-" if v is None else str(v)


def parity_rows(check: dict) -> tuple[list[str], list[list]]:
    """A check's rows for the markdown table. For checks with many rows per group (steps, passes: every
    tensor after each k / pass), each passing group shows only its worst tensor; failures all show."""
    rows = [r for r in check.get("rows") or [] if isinstance(r, dict)]
    group_key = next((k for k in ("k", "pass", "example") if any(k in r for r in rows)), None)
    show = rows
    if len(rows) > 30:
        show, groups = [], {}
        for r in rows:
            groups.setdefault((_row_target(r), r.get(group_key)), []).append(r)
        for grp in groups.values():
            bad = [r for r in grp if not r.get("passed", True)]
            if bad:
                show += bad
                continue
            measured = [r for r in grp if _num(r.get("max_abs")) is not None and not r.get("count")]
            if measured:
                w = dict(max(measured, key=lambda r: r["max_abs"]))
                if len(measured) > 1:
                    w["tensor"] = f"{w.get('tensor', '-')} (worst of {len(measured)})"
                show.append(w)
            show += [r for r in grp if r.get("count")]
    has_first = any("first_step" in r or "first_divergent_step" in r for r in rows)
    header = ["backend/strategy", "tensor"] + ([group_key] if group_key else []) + \
        ["max abs", "max rel", "tol", "result"] + (["first divergent step"] if has_first else [])
    out = []
    for r in show:
        count = bool(r.get("count"))
        tensor = str(r.get("tensor", "-"))
        if count and "value" in r:
            tensor += f" ({r.get('value')} vs {r.get('reference')})"
        if r.get("error"):
            tensor = f"{tensor}: {r['error']}" if tensor != "-" else str(r["error"])
        passed = r.get("passed")
        verdict = "PASS" if passed is True else "FAIL" if passed is False else "-"
        if passed is True and r.get("within_tol") is False:
            # judged only up to a horizon (float32 chaos): within tolerance there, beyond it after
            verdict = (f"PASS to step {r['judged_to']}, beyond tol after (reported)" if r.get("judged_to")
                       else "beyond tol past the horizon (reported, not judged)")
        cells = [_row_target(r), tensor] + ([_fmt_g(r.get(group_key), True)] if group_key else []) + \
            [_fmt_g(r.get("max_abs"), count), "-" if count else _fmt_g(r.get("max_rel")), _fmt_g(r.get("tol")),
             verdict]
        if has_first:
            fs = r.get("first_step", r.get("first_divergent_step"))
            cells.append("-" if fs is None else _fmt_g(fs, True))
        out.append(cells)
    return header, out


def parity_traces(d: dict) -> list[dict]:
    """Divergence series [{label, steps, values, tol}] from a parity result, whichever of the shapes
    it uses: {"step": [...], "max_abs": {label: [...]}, "tol": [...]}, {label: [...]},
    [{"step", "max_abs", "target"?}], per check or at the top level."""
    found = []
    sources = [(c.get("name", "check"), c.get("trace")) for c in parity_checks(d) if c.get("trace") is not None]
    if not sources and d.get("trace") is not None:
        sources = [("trajectory", d["trace"])]
    for name, tr in sources:
        found += _series(name, tr)
    seen, out = set(), []
    for s in found:
        k = (s["label"], tuple(s["steps"]))
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


def _series(name: str, tr) -> list[dict]:
    def clean(steps, vals, tol=None):
        pts = [(s, _num(v)) for s, v in zip(steps, vals) if _num(s) is not None]
        if not pts:
            return None
        tl = None
        if isinstance(tol, list) and len(tol) == len(steps):
            tl = [_num(t) for t in tol]
        return [p[0] for p in pts], [p[1] for p in pts], tl

    out = []
    if isinstance(tr, dict):
        steps = tr.get("step", tr.get("steps"))
        tol = tr.get("tol")
        vals = tr.get("max_abs", tr.get("divergence"))
        if isinstance(vals, dict):
            for label, v in vals.items():
                if isinstance(v, list):
                    st = steps if isinstance(steps, list) and len(steps) == len(v) else list(range(1, len(v) + 1))
                    c = clean(st, v, tol)
                    if c:
                        out.append({"label": str(label), "steps": c[0], "values": c[1], "tol": c[2]})
        elif isinstance(vals, list):
            st = steps if isinstance(steps, list) and len(steps) == len(vals) else list(range(1, len(vals) + 1))
            c = clean(st, vals, tol)
            if c:
                out.append({"label": name, "steps": c[0], "values": c[1], "tol": c[2]})
        else:  # {label: [values]} or {label: {step, max_abs}}
            for label, v in tr.items():
                if label in ("step", "steps", "tol"):
                    continue
                if isinstance(v, list) and all(_num(x) is not None or x is None for x in v):
                    c = clean(list(range(1, len(v) + 1)), v)
                    if c:
                        out.append({"label": str(label), "steps": c[0], "values": c[1], "tol": None})
                elif isinstance(v, (dict, list)):
                    out += [dict(s, label=f"{label}" if s["label"] == name else f"{label} {s['label']}")
                            for s in _series(name, v)]
    elif isinstance(tr, list) and tr and all(isinstance(p, dict) for p in tr):
        groups: dict[str, list] = {}
        for p in tr:
            label = _row_target(p) if any(k in p for k in ("target", "backend", "label")) else name
            groups.setdefault(label, []).append(p)
        for label, pts in groups.items():
            c = clean([p.get("step") for p in pts], [p.get("max_abs", p.get("divergence")) for p in pts],
                      [p.get("tol") for p in pts] if all("tol" in p for p in pts) else None)
            if c:
                out.append({"label": label, "steps": c[0], "values": c[1], "tol": c[2]})
    return out


# ----------------------------------------------------------------------------- gallery data


def gallery_images(run: Loaded, data_dir, max_tiles: int) -> tuple[list | None, str | None]:
    """[(image 16x16, true, predicted, test index)] for the run's missed test digits, or (None, why)."""
    from .data import DataError, load_dataset

    d = run.data
    tm = d["test_missed"]
    idx, pred, lab = tm.get("indices"), tm.get("predicted"), tm.get("labels")
    if not (isinstance(idx, list) and isinstance(pred, list) and isinstance(lab, list)
            and len(idx) == len(pred) == len(lab)):
        return None, f"{run.path.name}: malformed test_missed"
    if not idx:
        return [], None
    try:  # data_dir None: $HARNESS_DATA_DIR, else the per-user cache; never a download from here
        seed = d.get("seed") if isinstance(d.get("seed"), int) else 1337
        data = load_dataset(d.get("dataset", "usps"), data_dir, seed=seed, download=False)
    except DataError as e:
        return None, f"the {d.get('dataset')} data could not be loaded ({e})"
    except Exception as e:  # noqa: BLE001 -- the gallery is an extra: never fail the report for it
        return None, f"the {d.get('dataset')} data could not be loaded ({type(e).__name__}: {e})"
    n = len(data.test_x)
    import numpy as np

    if not all(isinstance(i, int) and 0 <= i < n for i in idx):
        return None, f"{run.path.name}: test_missed indices outside the {n} test images of {data.name}"
    if [int(data.test_labels[i]) for i in idx] != [int(v) for v in lab]:
        return None, (f"the {data.name} test labels here differ from those recorded in {run.path.name} "
                      "(another copy or preprocessing of the data?)")
    return [(np.asarray(data.test_x[i]).reshape(16, 16), int(t), int(p), int(i))
            for i, t, p in list(zip(idx, lab, pred))[:max_tiles]], None


# ----------------------------------------------------------------------------- the report


@dataclass
class Outcome:
    report: Path
    figures: list[Path]
    skipped: list[tuple[Path, str]]
    notes: list[str]


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(s)).strip("-") or "x"


GALLERY_MAX = 144


def build_report(results_dir: Path, data_dir: Path | None = None) -> Outcome:
    """Write <results_dir>/REPORT.md and its PNG figures (atomically, each); return what was written,
    skipped and noted. Raises ReportError when there is nothing to report or matplotlib is missing."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"results directory {results_dir} does not exist")
    sc = scan(results_dir)
    if not sc.usable:
        n = len(sc.skipped)
        names = ", ".join(f"{p.name} ({why})" for p, why in sc.skipped[:3]) + (", ..." if n > 3 else "")
        raise ReportError(f"nothing to report in {results_dir}: no run, bench or parity results and no "
                          f"pytest-benchmark JSON" + (f"; {n} file{'s' if n != 1 else ''} skipped: {names}"
                                                      if n else " (no *.json files)"))
    from . import plots  # imports matplotlib (Agg): a clear error if it is missing

    plt = plots.pyplot()
    notes: list[str] = []
    written: list[Path] = []

    def save(name: str, png: bytes) -> str:
        path = results_dir / name
        atomic_write_bytes(path, png)
        written.append(path)
        return name

    md = ["# lecun1989 harness report", ""]
    md.append(f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} by `harness report` "
              f"from {results_dir}: {len(sc.runs)} run result(s), {len(sc.benches)} bench result(s), "
              f"{len(sc.parities)} parity result(s), {len(sc.pytest_benchmarks)} pytest-benchmark file(s); "
              f"{len(sc.skipped)} file(s) skipped.")
    md.append("")
    md.append(f"Paper (LeCun et al. 1989, USPS): {fmt_pct(PAPER_1989['train_error'])} train error "
              f"({PAPER_1989['train_misses']} misses), {fmt_pct(PAPER_1989['test_error'])} test error "
              f"({PAPER_1989['test_misses']} misses) after 23 passes.")
    md.append("")

    # --- runs
    md += ["## Runs", ""]
    if sc.runs:
        header, rows, align = runs_table(sc.runs)
        md += [md_table(header, rows, align), ""]
        md.append("Errors and misses are after the last pass. us/example: one training step at batch size 1 "
                  "(forward, backward, update), median over timed windows after warm-up, with the "
                  "25th-75th percentile spread; compile s: the warm-up windows' time beyond the steady rate.")
        md.append("")
    else:
        md += ["No run results.", ""]

    # --- learning curves
    if sc.runs:
        md += ["## Learning curves", ""]
        for variant, lines in curve_groups(sc.runs).items():
            series = []
            for label, r in lines.items():
                eps = [e for e in r.data["epochs"] if isinstance(e, dict)]
                series.append({"label": label,
                               "epoch": [e.get("epoch", i + 1) for i, e in enumerate(eps)],
                               "train_error": [_num(e.get("train_error")) for e in eps],
                               "test_error": [_num(e.get("test_error")) for e in eps]})
            datasets = sorted({str(r.data.get("dataset")) for r in lines.values()})
            png = plots.learning_curves(plt, variant, series, PAPER_1989, datasets)
            name = save(f"curves-{_slug(variant)}.png", png)
            md += [f"### Variant {variant}", "", f"![learning curves, variant {variant}]({name})", ""]
            md.append(f"Train and test error after each pass, one line per backend/strategy/device (the latest "
                      f"run of each); dashed: the paper's 1989 figures. {len(lines)} line(s).")
            md.append("")

    # --- throughput
    figs, source = throughput_figures(sc)
    md += ["## Throughput", ""]
    if figs:
        png = plots.throughput(plt, figs, source)
        name = save("throughput.png", png)
        md += [f"![throughput]({name})", "", f"Source: {source}. Lower is faster.", ""]
        md += [md_table(["backend/strategy/device", "us/example (median)", "p25-p75", "examples/s", "compile s",
                         "environment", "source"],
                        [[f.label, fmt_us(f.median),
                          f"{fmt_us(f.spread[0])}-{fmt_us(f.spread[1])}" if f.spread else "-",
                          "-" if f.examples_per_s is None else f"{f.examples_per_s:,.0f}",
                          fmt_s(f.compile_s), f.env, f.source] for f in figs], "lrrrrll"), ""]
    else:
        md += ["No timings.", ""]

    # --- gallery
    if sc.runs:
        md += ["## Missed test digits", ""]
        for r in gallery_choices(sc.runs):
            d = r.data
            tiles, why = gallery_images(r, data_dir, GALLERY_MAX)
            what = (f"variant {d['variant']}, {d.get('dataset')}: {run_label(d)} after "
                    f"{len(d['epochs'])} passes ({r.path.name})")
            if tiles is None:
                note = f"gallery skipped for {what}: {why}"
                notes.append(note)
                md += [f"Gallery skipped for {what}: {why}.", ""]
                continue
            n_missed = len(d["test_missed"].get("indices") or [])
            if not tiles:
                md += [f"{what}: no test digit missed.", ""]
                continue
            n_test = d.get("n_test")
            title = (f"Test digits missed by {run_label(d)}{subset_note(d)}, variant {d['variant']}, after {len(d['epochs'])} "
                     f"passes: {n_missed}" + (f" of {n_test}" if isinstance(n_test, int) else "")
                     + ("" if n_missed <= len(tiles) else f" (first {len(tiles)} shown)"))
            png = plots.gallery(plt, tiles, title)
            name = save(f"gallery-{_slug(d['variant'])}-{_slug(d.get('dataset'))}.png", png)
            md += [f"### {what}", "", f"![missed test digits]({name})", "",
                   "Each digit: true label → predicted label, and its index in the test set.", ""]

    # --- parity
    md += ["## Parity", ""]
    if sc.parities:
        p = sc.parities[-1]
        d = p.data
        cfg = d.get("config") if isinstance(d.get("config"), dict) else {}
        verdict = {True: "PASS", False: "FAIL"}.get(d.get("passed"), "?")
        facts = [f"{k} {cfg[k]}" for k in ("reference", "device", "dtype", "variant", "dataset", "seed")
                 if k in cfg and not isinstance(cfg[k], (dict, list))]
        if cfg.get("self_check"):
            facts.append("self-check (the reference against itself)")
        md += [f"Latest parity result: [{p.path.name}]({p.path.name}) ({p.when}): **{verdict}**"
               + (f"; {', '.join(facts)}" if facts else "") + ".", ""]
        if isinstance(cfg.get("targets"), list):
            md += [f"Compared: {', '.join(map(str, cfg['targets']))}.", ""]
        for c in parity_checks(d):
            cv = {True: "PASS", False: "FAIL"}.get(c.get("passed"), "?")
            md += [f"### {c.get('name', 'check')}: {cv}", ""]
            if c.get("title"):
                md += [str(c["title"]), ""]
            header, rows = parity_rows(c)
            if rows:
                md += [md_table(header, rows, "l" * 2 + "r" * (len(header) - 2)), ""]
            if c.get("summary"):
                md += [f"{c['summary']}", ""]
        traces = parity_traces(d)
        if traces:
            png = plots.divergence(plt, traces, f"Parity: parameter divergence per step\n{', '.join(facts)}"
                                   if facts else "Parity: parameter divergence per step")
            name = save("parity-divergence.png", png)
            md += ["### Divergence against step", "", f"![parity divergence]({name})", "",
                   ("max |a - b| over every parameter after each per-example step, against the reference; "
                    "dashed: the tolerance."), ""]
        if len(sc.parities) > 1:
            md += [f"Older parity results: {', '.join(x.path.name for x in sc.parities[:-1])}.", ""]
    else:
        md += ["No parity results.", ""]

    # --- skipped and notes
    if sc.skipped or notes:
        md += ["## Skipped files and notes", ""]
        md += [f"- skipped: {path.name}: {why}" for path, why in sc.skipped]
        md += [f"- note: {n}" for n in notes]
        md.append("")

    report = results_dir / REPORT_NAME
    atomic_write_text(report, "\n".join(md).rstrip() + "\n")
    return Outcome(report, written, sc.skipped, notes)


# ----------------------------------------------------------------------------- compare


def load_figures(path: Path) -> tuple[str, list[Figure]]:
    """(what the file is, its figures) for --compare: a run result, a bench result or a pytest-benchmark
    JSON file. Raises ReportError for anything else."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except OSError as e:
        raise ReportError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise ReportError(f"{path} is not valid JSON ({e})") from e
    when = _when(path, d) if isinstance(d, dict) else ""
    if _is_pytest_benchmark(d):
        bad = _check_pytest_benchmark(d)
        if bad:
            raise ReportError(f"{path}: {bad}")
        figs = figures_of_pytest_benchmark(Loaded(path, d, when))
        if not figs:
            raise ReportError(f"{path}: no benchmark says how many examples a round is (extra_info steps "
                              "or us_per_example)")
        return "pytest-benchmark", figs
    if not isinstance(d, dict) or "schema_version" not in d:
        raise ReportError(f"{path} is neither a harness result nor a pytest-benchmark JSON file")
    if d["schema_version"] != SCHEMA_VERSION:
        raise ReportError(f"{path}: schema version {d['schema_version']!r}, expected {SCHEMA_VERSION}")
    kind = d.get("kind")
    if kind == "run":
        bad = _check_run(d)
        if bad:
            raise ReportError(f"{path}: {bad}")
        return "run", figures_of_run(Loaded(path, d, when))
    if kind == "bench":
        bad = _check_bench(d)
        if bad:
            raise ReportError(f"{path}: {bad}")
        return "bench", figures_of_bench(Loaded(path, d, when))
    raise ReportError(f"{path}: --compare takes run, bench or pytest-benchmark files, not a {kind!r} result")


def _pair(a: list[Figure], b: list[Figure]) -> tuple[list[tuple[Figure, Figure]], list[Figure], list[Figure]]:
    """Match figures of A and B by configuration (then by benchmark name); one each: pair them."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])], [], []

    def k(f):
        return f.key if any(f.key) else (f.name,)

    bmap = {}
    for f in b:
        bmap.setdefault(k(f), f)
    pairs, only_a, used = [], [], set()
    for f in a:
        g = bmap.get(k(f))
        if g is None and f.name is not None:
            g = next((x for x in b if x.name == f.name and id(x) not in used), None)
        if g is None or id(g) in used:
            only_a.append(f)
        else:
            used.add(id(g))
            pairs.append((f, g))
    # then by backend / strategy / device alone, where that is unambiguous (one side may not record
    # dtype or variant)
    for f in list(only_a):
        cands = [g for g in b if id(g) not in used and g.key[:3] == f.key[:3] and any(f.key[:3])]
        if len(cands) == 1 and sum(1 for x in only_a if x.key[:3] == f.key[:3]) == 1:
            used.add(id(cands[0]))
            pairs.append((f, cands[0]))
            only_a.remove(f)
    only_b = [f for f in b if id(f) not in used]
    return pairs, only_a, only_b


def beyond_spread(fa: Figure, fb: Figure) -> str:
    """'yes' when the p25-p75 ranges of A and B do not overlap, 'no' when they do, 'n/a' without both."""
    sa, sb = fa.spread, fb.spread
    if sa is None or sb is None:
        return "n/a"
    return "yes" if sa[1] < sb[0] or sb[1] < sa[0] else "no"


def compare_rows(a: list[Figure], b: list[Figure]) -> tuple[list[list], list[str]]:
    """Rows [figure, metric, A, B, B/A, beyond spread?] and notes on unmatched figures."""
    pairs, only_a, only_b = _pair(a, b)
    rows = []
    for fa, fb in pairs:
        label = fa.label if fa.label == fb.label else f"{fa.label} vs {fb.label}"

        def ratio(x, y):
            return y / x if x not in (None, 0) and y is not None else None

        def us_cell(f):
            s = fmt_us(f.median)
            return s + (f" [{fmt_us(f.spread[0])}-{fmt_us(f.spread[1])}]" if f.spread else "")

        rows.append([label, "us/example", us_cell(fa), us_cell(fb), fmt_ratio(ratio(fa.median, fb.median)),
                     beyond_spread(fa, fb)])
        for metric, misses in (("train_error", "train_misses"), ("test_error", "test_misses")):
            ea, eb = getattr(fa, metric), getattr(fb, metric)
            if ea is None and eb is None:
                continue

            def err_cell(e, m):
                return fmt_pct(e) + (f" ({m})" if m is not None else "")

            rows.append([label, metric.replace("_", " "), err_cell(ea, getattr(fa, misses)),
                         err_cell(eb, getattr(fb, misses)), fmt_ratio(ratio(ea, eb)), "n/a"])
    notes = [f"only in A: {f.label}" for f in only_a] + [f"only in B: {f.label}" for f in only_b]
    return rows, notes


COMPARE_HEADER = ["figure", "metric", "A", "B", "B/A", "beyond p25-p75 spread?"]


def compare_files(a: Path, b: Path) -> str:
    """The --compare table as text."""
    ka, fa = load_figures(a)
    kb, fb = load_figures(b)
    rows, notes = compare_rows(fa, fb)
    out = [f"A: {a} ({ka})", f"B: {b} ({kb})", ""]
    if rows:
        out.append(text_table(COMPARE_HEADER, rows, "llrrrl"))
    else:
        out.append("no figure of A matches one of B (by backend, strategy, device, dtype, variant or name)")
    out += [""] + notes if notes else []
    out += ["", ("B/A < 1: B is faster (us/example) or makes fewer errors. beyond spread: the p25-p75 ranges "
                 "of A and B do not overlap (the difference exceeds the recorded spread); n/a: no spread recorded.")]
    return "\n".join(out)
