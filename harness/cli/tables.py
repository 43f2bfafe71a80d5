"""Rich tables the CLI prints that are more than a loop over rows: a parity check's, the backends',
the bench's.

rich is imported when a table is built. Passing groups are folded by parity.fold, as in REPORT.md."""
from __future__ import annotations

from ..backend import declared_support
from ..kernels import kernels_cell
from ..knobs import ANY, show
from ..parity.fold import fold, group_key
from ..recipe import knob_rows
from ..spec import KNOBS, PRESETS


def parity_table(check: dict, verbose: bool = False):
    """One check as a rich table. Unless verbose, each passing group (target x k / pass) shows only
    its worst tensor; every failing row is shown."""
    from rich.table import Table

    rows = check["rows"]
    key = group_key(rows)
    show = fold(rows, key) if not verbose and check["name"] in ("steps", "passes") else rows
    first_col = check["name"] == "trajectory"
    table = Table()
    for col in ("backend:strategy", "tensor", *([key] if key else []),
                "max |a-b|", "max rel", "tol", "result", *(["first divergent step"] if first_col else [])):
        table.add_column(col, justify="right" if col not in ("backend:strategy", "tensor") else "left")

    def num(v, count=False):
        if v is None:
            return "-"
        return f"{int(v)}" if count else f"{v:.3g}"

    for r in show:
        cells = [r["target"], r["tensor"]]
        if key:
            cells.append(str(r.get(key, "-")))
        if r.get("error"):
            cells += ["-", "-", r["tol"], "[red]FAIL[/]"]
            cells[1] = f"{r['tensor']}: {r['error']}" if r["tensor"] != "-" else r["error"]
        else:
            count = bool(r.get("count"))
            tensor = r["tensor"]
            if r.get("where") and r["max_abs"]:  # the element where it is worst
                tensor += f"[{','.join(map(str, r['where']))}]"
            if r.get("judged_to"):
                tensor += f" (judged to step {r['judged_to']})"
            if r.get("worst_of"):
                tensor += f" (worst of {r['worst_of']})"
            if "reference" in r:
                tensor += f" ({r['value']} vs {r['reference']})"
            elif "of" in r:
                tensor += f" (of {r['of']})"
            cells[1] = tensor
            if not r["passed"]:
                verdict = "[red]FAIL[/]"
            elif r.get("within_tol") is False:  # beyond the tolerance's horizon: reported, not judged
                verdict = "[yellow]info[/]"
            else:
                verdict = "[green]PASS[/]"
            cells += [num(r["max_abs"], count), "-" if count else num(r["max_rel"]), r["tol"], verdict]
        if first_col:
            fs = r.get("first_step")
            cells.append("-" if fs is None else str(fs))
        table.add_row(*cells)
    return table


def backends_table(reg):
    """`harness backends`: every registered backend, available or not (and why), strategies, devices,
    and the variants and dtypes it declares ("all" where it declares none; supports() may narrow
    them per strategy)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="harness backends")
    for col in ("backend", "status", "strategies", "devices", "variants", "dtypes", "description / reason"):
        table.add_column(col)
    for name in reg.names():
        reason = reg.reason_unavailable(name)
        b = reg.backends.get(name)
        decl = declared_support(b) if b is not None else {"variants": [], "dtypes": []}
        support = ["-" if b is None else "all" if v is None else escape(", ".join(v)) for v in decl.values()]
        if reason is None:
            devs = [f"{s}: {', '.join(b.strategy_devices(s)) or 'no device here'}" for s in b.strategies]
            table.add_row(name, "[green]available[/]", ", ".join(b.strategies), "\n".join(devs), *support,
                          b.description)
        else:
            table.add_row(name, "[red]unavailable[/]", ", ".join(getattr(b, "strategies", ())) if b else "-",
                          "-", *support, escape(reason))  # a reason's "pip install '...[extra]'" is not markup
    return table


def bench_table(result: dict, dataset: str, kernels: bool):
    """`harness bench`'s rows, fastest first on each device."""
    from rich.table import Table

    recipe = (result.get("recipe") or {}).get("label", result["variant"])
    table = Table(title=f"harness bench: recipe {recipe}, {dataset}, {result['dtype']}, "
                        "us per training example")
    for col in ("backend", "strategy", "device", "us/example (median)", "p25-p75", "examples/s",
                "compile s", "speed-up vs slowest") + (("per example (profiler)",) if kernels else ()):
        table.add_column(col, justify="right" if col[0] in "uepcs" and col != "strategy" else "left")
    for r in sorted(result["rows"], key=lambda r: (r["device"], r["us_per_example"])):
        table.add_row(r["backend"], r["strategy"], r["device"], f"{r['us_per_example']:.1f}",
                      f"{r['p25']:.1f}-{r['p75']:.1f}", f"{r['examples_per_s']:.0f}", f"{r['compile_s']:.1f}",
                      f"{r['speedup_vs_slowest']:.1f}x", *((kernels_cell(r),) if kernels else ()))
    return table


def knobs_table():
    """Every recipe knob (harness.recipe.knob_rows): values, who computes it, each variant's value."""
    from rich.table import Table

    table = Table(title="recipe knobs: --set KNOB=VALUE (a named variant is a named set of them)")
    for col in ("knob", "values", "computed by", *PRESETS, "what it sets"):
        table.add_column(col)
    for row in knob_rows():
        table.add_row(*row)
    return table


def knob_support_table(registry):
    """Per available backend:strategy, the values of each backend-computed knob it implements
    (Backend.knobs; "variant's" where it declares none: the named variant's own value only)."""
    from rich.table import Table


    names = [k for k, knob in KNOBS.items() if knob.backend]
    table = Table(title="knobs a backend computes, by strategy (other values are refused, naming the strategies "
                        "that have them)")
    for col in ("backend:strategy", *names):
        table.add_column(col)
    for name in registry.available():
        b = registry.get(name)
        declared = getattr(b, "knobs", None)
        for s in b.strategies:
            d = declared(s) if callable(declared) else {}
            table.add_row(f"{name}:{s}", *("any" if d.get(k) == ANY else ", ".join(map(show, d[k])) if k in d
                                           else "variant's" for k in names))
    return table
