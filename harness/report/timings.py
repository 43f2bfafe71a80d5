"""Timings: one Figure per timed configuration, from run results, bench rows and pytest-benchmark
files; the throughput chart's choice of the latest figure per configuration."""
from __future__ import annotations

from dataclasses import dataclass

from .figures import MAX_PANELS, MAX_ROWS, bounded
from .fmt import num, plain
from .load import Loaded, Scan
from .runs import environment_summary, run_final, run_timing
from .seeds import machine


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
    n_train: int | None = None  # a run's training examples per pass
    kernels: str = "-"  # a bench row's kernels per example (harness bench --kernels), with its unit
    samples: list[float] | None = None  # us/example of each timed window (harness compare's test); None: not kept
    machine: str = "?"  # the CPU model, or the accelerator's name (report.seeds.machine)

    @property
    def spread(self) -> tuple[float, float] | None:
        if self.p25 is None or self.p75 is None:
            return None
        return (min(self.p25, self.p75), max(self.p25, self.p75))


def label(key: tuple, show: tuple[bool, ...] = (True, True, True, True, True)) -> str:
    backend, strategy, device, dtype, variant = key
    s = "/".join(str(x) for x in (backend, strategy, device) if x is not None) or "?"
    if show[3] and dtype:
        s += f" {dtype}"
    if show[4] and variant:
        s += f" ({variant})"
    return s


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def samples(values) -> list[float] | None:
    """The finite per-window figures of a list, or None where the file kept none."""
    if not isinstance(values, list):
        return None
    out = [float(v) for v in values if num(v) is not None]
    return out or None


def figures_of_run(r: Loaded) -> list[Figure]:
    d = r.data
    t, f = run_timing(d), run_final(d)
    windows = samples((d.get("timing") or {}).get("us_per_example_windows"))
    key = (d["backend"], d["strategy"], d["device"], d.get("dtype"), d["variant"])
    return [Figure(key, label(key), t["median"], t["p25"], t["p75"], t["compile_s"], t["examples_per_s"],
                   r.path.name, r.when, num(f["train_error"]), num(f["test_error"]),
                   _int(f["train_misses"]), _int(f["test_misses"]),
                   env=environment_summary(d.get("environment")), n_train=_int(d.get("n_train")),
                   machine=machine(d), samples=windows)]


def kernels_text(row: dict) -> str:
    """'36.0 XLA thunks (0.02 dispatches)' from a bench row's kernel_count, or '-'."""
    k = row.get("kernel_count") if isinstance(row.get("kernel_count"), dict) else {}
    n = num(k.get("kernels")) if k else num(row.get("kernels_per_example"))
    if n is None:
        return "-"
    unit = k.get("unit") if isinstance(k.get("unit"), str) else ""
    d = num(k.get("dispatches"))
    return f"{n:.1f} {unit}".strip() + ("" if d is None else f" ({d:.2f} dispatches)")


def figures_of_bench(r: Loaded) -> list[Figure]:
    out = []
    d = r.data
    core = d.get("environment") or {}
    for row in d["rows"]:
        med = num(row.get("us_per_example"))
        if med is None:
            continue
        key = (row.get("backend", d.get("backend")), row.get("strategy"), row.get("device", d.get("device")),
               row.get("dtype", d.get("dtype")), row.get("variant", d.get("variant")))
        eps = num(row.get("examples_per_s"))
        env = {**core, "backend": row["environment"]} if isinstance(row.get("environment"), dict) else core
        out.append(Figure(key, label(key), med, num(row.get("p25")), num(row.get("p75")),
                          num(row.get("compile_s")), eps if eps is not None else 1e6 / med if med else None,
                          r.path.name, r.when, env=environment_summary(env), kernels=kernels_text(row),
                          machine=machine({"device": key[2], "environment": env}),
                          samples=samples(row.get("us_per_example_windows"))))
    return out


def _pytest_figure(b: dict, r: Loaded, env: str) -> Figure | None:
    """us/example from extra_info (else stats.median / steps); the spread from stats q1 / q3 (else iqr),
    scaled the same way. None for a benchmark that says nothing about examples per round."""
    st, ex = b["stats"], b.get("extra_info") or {}
    params = b.get("params") if isinstance(b.get("params"), dict) else {}
    med_s, us, steps = num(st.get("median")), num(ex.get("us_per_example")), num(ex.get("steps"))
    if med_s is None:
        return None
    if us is not None and med_s > 0:
        scale = us / med_s
    elif steps:
        scale = 1e6 / steps
        us = med_s * scale
    else:
        return None
    q1, q3 = num(st.get("q1")), num(st.get("q3"))
    iqr = num(st.get("iqr"))
    if (q1 is None or q3 is None) and iqr is not None:
        q1, q3 = med_s - iqr / 2, med_s + iqr / 2
    p25 = num(ex.get("p25")) if num(ex.get("p25")) is not None else (q1 * scale if q1 is not None else None)
    p75 = num(ex.get("p75")) if num(ex.get("p75")) is not None else (q3 * scale if q3 is not None else None)
    key = tuple(_pick(ex, params, k) for k in ("backend", "strategy", "device", "dtype", "variant"))
    name = b.get("name") if isinstance(b.get("name"), str) else None
    rounds = samples(st.get("data"))  # seconds per round, kept with --benchmark-save-data
    device = str(key[2] or "cpu")
    mach = env if device.startswith("cpu") and env != "-" else _pick(ex, params, "device_name") or device
    return Figure(key, label(key) if any(key[:3]) else (name or "?"), num(us), num(p25), num(p75),
                  num(ex.get("compile_s")), num(1e6 / us) if us else None, r.path.name, r.when, name=name, env=env,
                  machine=mach, samples=None if rounds is None else [x * scale for x in rounds])


def figures_of_pytest_benchmark(r: Loaded) -> list[Figure]:
    mi = r.data.get("machine_info") if isinstance(r.data.get("machine_info"), dict) else {}
    cpu = mi.get("cpu") if isinstance(mi.get("cpu"), dict) else {}
    env = cpu.get("brand_raw") if isinstance(cpu.get("brand_raw"), str) else "-"
    figs = [_pytest_figure(b, r, env) for b in r.data["benchmarks"]]
    return [f for f in figs if f is not None]


def _pick(extra_info: dict, params: dict, k: str) -> str | None:
    v = extra_info.get(k, params.get(k))
    return v if isinstance(v, str) else None


def _candidates(sc: Scan) -> tuple[list[Figure], bool]:
    """Every timing figure the report may show, and whether pytest-benchmark files gave some: then
    theirs and `harness bench`'s (runs, timed while training and evaluating, only without them)."""
    figs = [f for r in sc.pytest_benchmarks for f in figures_of_pytest_benchmark(r)]
    benches = [f for r in sc.benches for f in figures_of_bench(r)]
    if figs:
        return figs + benches, True
    return benches + [f for r in sc.runs for f in figures_of_run(r)], False


def _source(kept: list[Figure], pytest: bool, sc: Scan) -> str:
    """Which files the figures shown come from."""
    names = sorted({f.source for f in kept})
    if pytest:
        return ", ".join(names)
    return "run and bench results" + (" (the pytest-benchmark files have no per-example figures)"
                                      if sc.pytest_benchmarks else "")


def throughput_figures(sc: Scan) -> tuple[list[Figure], str]:
    """The latest figure per machine and configuration, whichever file holds it (a newer `harness
    bench` replaces an older pytest-benchmark figure, and the reverse), fastest first, and where
    they come from."""
    figs, pytest = _candidates(sc)
    latest: dict[tuple, Figure] = {}
    for f in sorted((f for f in figs if f.median is not None and f.median > 0), key=lambda f: f.when):
        latest[(f.machine, *(f.key if any(f.key) else (f.name,)))] = f
    figs = list(latest.values())
    keyed = [f for f in figs if any(f.key)]  # labels show dtype / variant only where they vary
    show = (True, True, True, len({f.key[3] for f in keyed}) > 1, len({f.key[4] for f in keyed}) > 1)
    for f in keyed:
        f.label = label(f.key, show)
    figs.sort(key=lambda f: f.median)
    return figs, _source(figs, pytest, sc)


def machine_panels(figs: list[Figure]) -> tuple[list[tuple[str, list[Figure]]], str | None]:
    """The throughput figure's panels: [(machine, its figures fastest first)], the fastest machine
    first, within MAX_PANELS machines and MAX_ROWS rows in all; and a note on what was left out."""
    by: dict[str, list[Figure]] = {}
    for f in figs:  # fastest first already
        by.setdefault(plain(f.machine, 60), []).append(f)
    panels, note = bounded(list(by.items()), MAX_PANELS, "machines")
    per = max(1, MAX_ROWS // max(1, len(panels)))
    notes = [note] if note else []
    out = []
    for mach, fs in panels:
        kept, n = bounded(fs, per, f"configurations on {mach}")
        out.append((mach, kept))
        notes += [n] if n else []
    return out, "; ".join(notes) or None
