"""The README's headline table quotes committed result files: every figure in it is the median and
p25-p75 of the bench file it cites, and every parity verdict it states is what the committed parity
files say. A re-measured file (or a hand-edited README) that disagrees fails here."""
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
COLUMNS = {"2-core Xeon CPU": ("cpu", "bench-cpu-"), "NVIDIA H200": ("cuda", "bench-cuda-")}


def headline() -> list[dict]:
    section = README[README.index("## The answer"):README.index("\n## ", README.index("## The answer") + 5)]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:]]


def cited(prefix: str) -> dict:
    [name] = set(re.findall(rf"results/({prefix}[\w.-]+\.json)", README))
    return json.loads((REPO / "results" / name).read_text())


def fmt(v: float) -> str:
    return f"{v:,.1f}"


def test_every_time_in_the_headline_is_the_cited_files_median_and_spread():
    rows = headline()
    checked = 0
    for column, (device, prefix) in COLUMNS.items():
        bench = {(r["backend"], r["strategy"]): r for r in cited(prefix)["rows"] if r["device"] == device}
        for row in rows:
            cell = row[column].replace("**", "")
            m = re.fullmatch(r"([\d,.]+) \(([\d,.]+)–([\d,.]+)\)", cell)
            if not m:
                assert cell in ("-", "not timed yet"), (column, row)
                continue
            b = bench[row["backend"], row["strategy"].strip("`")]
            assert m.groups() == (fmt(b["us_per_example"]), fmt(b["p25"]), fmt(b["p75"])), (column, row)
            checked += 1
    assert checked == 11  # 7 strategies on the CPU, 4 on the H200


def test_parity_verdicts_match_the_committed_parity_files():
    verdicts = {}
    for p in (REPO / "results").glob("parity-*.json"):
        d = json.loads(p.read_text())
        for check in d["checks"]:
            for r in check.get("rows") or []:
                verdicts.setdefault(r["target"], set()).add(r.get("passed"))
    said = [f"{row['backend']}:{row['strategy'].strip('`')}" for row in headline()
            if row["parity vs torch:eager"] == "PASS"]
    assert sorted(said) == ["jax:scan", "jax:step", "torch:compiled", "torch:cudagraph"]
    for target in said:
        assert verdicts.get(target) == {True}, target  # every row of every committed file passed
