"""Per-module mutation scores from what `mutmut run` (tox -e mutation) left in mutants/.

    python scripts/mutation_scores.py [--markdown] [PREFIX ...]

One row per mutated module (or only those whose path starts with a PREFIX, e.g. harness/sweep/):
how many mutants, how many were killed, survived, had no test calling their function, ran out of
time, or were not tested yet; killed% and untested% are of the mutants tested so far (not checked
ones left out), the whole-core totals last. Reads the .meta files mutmut keeps beside each mutated
file; the status of each exit code is mutmut's own (mutmut.stats).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

COLUMNS = ("killed", "survived", "no tests", "timeout", "other", "not checked")


def _status_of():
    try:
        from mutmut.stats import status_by_exit_code
    except ImportError:
        sys.exit("mutation_scores.py: mutmut is not installed (pip install mutmut==3.8.1, or tox -e mutation)")
    return status_by_exit_code


def module_counts(mutants: Path, prefixes: list[str]) -> dict[str, Counter]:
    """{source path: Counter of statuses folded into COLUMNS} for every .meta file under `mutants`."""
    status_of = _status_of()
    out: dict[str, Counter] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        path = meta.relative_to(mutants).as_posix()[: -len(".meta")]
        if prefixes and not any(path.startswith(p) for p in prefixes):
            continue
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        c = Counter()
        for code in codes.values():
            status = status_of[code]
            c[status if status in COLUMNS else "other"] += 1
        if codes:
            out[path] = c
    return out


def row(name: str, c: Counter) -> list[str]:
    checked = sum(c.values()) - c["not checked"]
    pct = (lambda n: f"{100 * n / checked:.1f}") if checked else (lambda n: "-")
    return [name, str(sum(c.values()))] + [str(c[k]) for k in COLUMNS] + [pct(c["killed"]), pct(c["no tests"])]


def print_table(head: list[str], rows: list[list[str]], markdown: bool) -> None:
    """A markdown table, or aligned columns (first left, the rest right)."""
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prefixes", nargs="*", help="only modules whose path starts with one of these")
    ap.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's directory (default: mutants)")
    ap.add_argument("--markdown", action="store_true", help="a markdown table")
    args = ap.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"mutation_scores.py: no {args.mutants}/ here: run `tox -e mutation` (or `mutmut run`) first",
              file=sys.stderr)
        return 2
    counts = module_counts(args.mutants, args.prefixes)
    total = sum(counts.values(), Counter())
    head = ["module", "mutants", *COLUMNS, "killed%", "untested%"]
    print_table(head, [row(p, c) for p, c in counts.items()] + [row("total", total)], args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
