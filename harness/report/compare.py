"""`harness report --compare A B`: two run, bench or pytest-benchmark files side by side: B/A of
us/example and of the final errors, and whether the difference exceeds the recorded spread."""
from __future__ import annotations

from pathlib import Path

from .fmt import fmt_pct, fmt_ratio, fmt_us, text_table
from .load import ReportError, load_one
from .timings import (
    Figure,
    figures_of_bench,
    figures_of_pytest_benchmark,
    figures_of_run,
)

COMPARE_HEADER = ["figure", "metric", "A", "B", "B/A", "beyond p25-p75 spread?"]


def load_figures(path: Path) -> tuple[str, list[Figure]]:
    """(what the file is, its figures); ReportError for anything --compare cannot use."""
    item = load_one(path)
    kind = item.data.get("kind", "pytest-benchmark") if "schema_version" in item.data else "pytest-benchmark"
    if kind == "pytest-benchmark":
        figs = figures_of_pytest_benchmark(item)
        if not figs:
            raise ReportError(f"{path}: no benchmark says how many examples a round is (extra_info steps "
                              "or us_per_example)")
        return kind, figs
    if kind == "run":
        return kind, figures_of_run(item)
    if kind == "bench":
        return kind, figures_of_bench(item)
    raise ReportError(f"{path}: --compare takes run, bench or pytest-benchmark files, not a {kind!r} result")


def _key(f: Figure):
    return f.key if any(f.key) else (f.name,)


def _pair(a: list[Figure], b: list[Figure]) -> tuple[list[tuple[Figure, Figure]], list[Figure], list[Figure]]:
    """Match figures of A and B by configuration (then by benchmark name, then by backend / strategy /
    device alone where that is unambiguous: one side may not record dtype or variant); one each: pair."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])], [], []
    bmap: dict = {}
    for f in b:
        bmap.setdefault(_key(f), f)
    pairs, only_a, used = [], [], set()
    for f in a:
        g = bmap.get(_key(f))
        if g is None and f.name is not None:
            g = next((x for x in b if x.name == f.name and id(x) not in used), None)
        if g is None or id(g) in used:
            only_a.append(f)
        else:
            used.add(id(g))
            pairs.append((f, g))
    for f in list(only_a):
        cands = [g for g in b if id(g) not in used and g.key[:3] == f.key[:3] and any(f.key[:3])]
        if len(cands) == 1 and sum(1 for x in only_a if x.key[:3] == f.key[:3]) == 1:
            used.add(id(cands[0]))
            pairs.append((f, cands[0]))
            only_a.remove(f)
    return pairs, only_a, [f for f in b if id(f) not in used]


def beyond_spread(fa: Figure, fb: Figure) -> str:
    """'yes' when the p25-p75 ranges of A and B do not overlap, 'no' when they do, 'n/a' without both."""
    sa, sb = fa.spread, fb.spread
    if sa is None or sb is None:
        return "n/a"
    return "yes" if sa[1] < sb[0] or sb[1] < sa[0] else "no"


def _ratio(x, y):
    try:
        return y / x if x not in (None, 0) and y is not None else None
    except (OverflowError, ZeroDivisionError):
        return None


def _pair_rows(fa: Figure, fb: Figure) -> list[list]:
    label = fa.label if fa.label == fb.label else f"{fa.label} vs {fb.label}"

    def us_cell(f):
        return fmt_us(f.median) + (f" [{fmt_us(f.spread[0])}-{fmt_us(f.spread[1])}]" if f.spread else "")

    rows = [[label, "us/example", us_cell(fa), us_cell(fb), fmt_ratio(_ratio(fa.median, fb.median)),
             beyond_spread(fa, fb)]]
    for metric, misses in (("train_error", "train_misses"), ("test_error", "test_misses")):
        ea, eb = getattr(fa, metric), getattr(fb, metric)
        if ea is None and eb is None:
            continue
        ma, mb = getattr(fa, misses), getattr(fb, misses)
        rows.append([label, metric.replace("_", " "), fmt_pct(ea) + (f" ({ma})" if ma is not None else ""),
                     fmt_pct(eb) + (f" ({mb})" if mb is not None else ""), fmt_ratio(_ratio(ea, eb)), "n/a"])
    return rows


def compare_pairs(a: list[Figure], b: list[Figure]) -> dict:
    """The comparison as data (`report --compare --json`, docs/cli.md): each matched pair's figures
    with B/A, and the labels of what only one side has."""
    pairs, only_a, only_b = _pair(a, b)

    def side(f: Figure) -> dict:
        return {"label": f.label, "us_per_example": f.median, "p25": f.p25, "p75": f.p75,
                "train_error": f.train_error, "test_error": f.test_error, "train_misses": f.train_misses,
                "test_misses": f.test_misses, "n_train": f.n_train}

    return {"pairs": [{"a": side(fa), "b": side(fb), "ratio_us_per_example": _ratio(fa.median, fb.median),
                       "ratio_test_error": _ratio(fa.test_error, fb.test_error),
                       "beyond_spread": {"yes": True, "no": False}.get(beyond_spread(fa, fb))}
                      for fa, fb in pairs],
            "only_a": [f.label for f in only_a], "only_b": [f.label for f in only_b]}


def compare_rows(a: list[Figure], b: list[Figure]) -> tuple[list[list], list[str]]:
    """Rows [figure, metric, A, B, B/A, beyond spread?], and notes: warnings on pairs trained on
    different numbers of examples, then unmatched figures."""
    pairs, only_a, only_b = _pair(a, b)
    rows, warnings = [], []
    for fa, fb in pairs:
        rows += _pair_rows(fa, fb)
        if fa.n_train is not None and fb.n_train is not None and fa.n_train != fb.n_train:
            warnings.append(f"warning: {fa.label}: A trained on {fa.n_train} examples per pass, B on "
                            f"{fb.n_train}: the errors (and compile share) are not like for like")
    notes = [f"only in A: {f.label}" for f in only_a] + [f"only in B: {f.label}" for f in only_b]
    return rows, warnings + notes


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
