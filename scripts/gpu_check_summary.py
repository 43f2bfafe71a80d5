"""One line per result that gpu-check.sh wrote: each run's misses and times (and, for `compiled`,
whether it replayed CUDA graphs, from the result's environment); each bench row's us/example and
kernels per example; each parity verdict. Reads JSON only (no harness import).
    usage: python scripts/gpu_check_summary.py RESULTS_DIR
"""
import json
import sys
from pathlib import Path


def find(d, key):
    """The first value of `key` anywhere in a nested dict (where a session records it may move)."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            found = find(v, key)
            if found is not None:
                return found
    return None


def seconds(x) -> str:
    return "-" if x is None else f"{x:.1f} s"


def run_line(r: dict) -> str:
    f, t = r["final"], r["timing"]
    line = (f"run {r['backend']}:{r['strategy']}@{r['device']}: {len(r['epochs'])} passes, train misses {f['train_misses']}, test misses {f['test_misses']}, "
            f"us/example {t.get('us_per_example')}, train {seconds(t.get('train_s_total'))}, "
            f"eval {seconds(t.get('eval_s_total'))}")
    if r["strategy"] == "compiled":
        line += f", CUDA graphs: {find(r.get('environment'), 'cuda_graphs')}"
    return line


def bench_lines(r: dict) -> list[str]:
    out = []
    for row in r["rows"]:
        k = row.get("kernel_count") or {}
        out.append(f"bench {row['backend']}:{row['strategy']}@{row['device']}: {row['us_per_example']:.1f} "
                   f"us/example, {k.get('kernels')} {k.get('unit')}, {k.get('dispatches')} dispatches "
                   f"per example ({k.get('how')})")
    return out


def summary(results: Path) -> list[str]:
    lines = []
    for p in sorted(results.glob("*.json")):
        r = json.loads(p.read_text())
        if r.get("kind") == "run":
            lines.append(run_line(r))
        elif r.get("kind") == "bench":
            lines += bench_lines(r)
        elif "passed" in r:
            lines.append(f"parity {p.name}: passed={r['passed']}, failed: {r.get('failed_targets') or 'none'}")
    return lines


if __name__ == "__main__":
    print("\n".join(summary(Path(sys.argv[1]))) or "no results")
