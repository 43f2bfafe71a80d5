"""Rich tables the CLI prints that are more than a loop over rows: a parity check's table.

rich is imported when a table is built, so importing this module costs nothing."""
from __future__ import annotations


def parity_table(check: dict, verbose: bool = False):
    """One check as a rich table. Unless verbose, each passing group (target x k / pass) shows only
    its worst tensor; every failing row is shown."""
    from rich.table import Table

    rows = check["rows"]
    group_key = next((k for k in ("k", "pass", "example") if any(k in r for r in rows)), None)
    show = rows
    if not verbose and check["name"] in ("steps", "passes"):
        show, groups = [], {}
        for r in rows:
            groups.setdefault((r["target"], r.get(group_key)), []).append(r)
        for grp in groups.values():
            bad = [r for r in grp if not r["passed"]]
            if bad:
                show += bad
                continue
            measured = [r for r in grp if r.get("max_abs") is not None and not r.get("count")]
            judged = [r for r in measured if "unjudged" not in r or r.get("judged_to")]
            if judged:  # the worst judged tensor, then whatever went beyond tolerance past the horizon
                w = dict(max(judged, key=lambda r: r["max_abs"]))
                w["worst_of"] = len(judged)
                show.append(w)
            show += [r for r in grp if r.get("count") or (r.get("within_tol") is False and r not in judged)]
    first_col = check["name"] == "trajectory"
    table = Table()
    for col in ("backend:strategy", "tensor", *(["k"] if group_key == "k" else []),
                *(["pass"] if group_key == "pass" else []), *(["example"] if group_key == "example" else []),
                "max |a-b|", "max rel", "tol", "result", *(["first divergent step"] if first_col else [])):
        table.add_column(col, justify="right" if col not in ("backend:strategy", "tensor") else "left")

    def num(v, count=False):
        if v is None:
            return "-"
        return f"{int(v)}" if count else f"{v:.3g}"

    for r in show:
        cells = [r["target"], r["tensor"]]
        if group_key:
            cells.append(str(r.get(group_key, "-")))
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
