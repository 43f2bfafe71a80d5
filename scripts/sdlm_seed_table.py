"""The SGD-vs-SDLM seed table and learning curves from `harness run` result files.

    python scripts/sdlm_seed_table.py results/sdlm            # markdown table on stdout
    python scripts/sdlm_seed_table.py results/sdlm --plot results/sdlm/curves-sdlm.png

Groups run results by (variant, backend, strategy, dtype, epochs) and prints, per group, the
number of seeds and mean ± sd (sample sd, n - 1) of the final train/test error and MSE, beside
the paper's figures (0.14% / 5.00% error, 2.5e-3 / 1.8e-2 MSE).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PAPER = {"train_error": 0.0014, "test_error": 0.0500, "train_loss": 2.5e-3, "test_loss": 1.8e-2}


def load_runs(folder: Path) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for path in sorted(folder.glob("run-*.json")):
        r = json.loads(path.read_text())
        if r.get("kind") != "run":
            continue
        key = (r["variant"], r["backend"], r["strategy"], r["dtype"], len(r["epochs"]))
        groups.setdefault(key, []).append(r)
    return groups


def mean_sd(values: list[float], scale: float, fmt: str, unit: str = "") -> str:
    """'m ± sd' of values * scale (sample sd; one value: no sd), `unit` after each ('e-3')."""
    a = np.asarray(values, dtype=np.float64) * scale
    if len(a) < 2:
        return f"{a.mean():{fmt}}{unit}"
    return f"{a.mean():{fmt}}{unit} ± {a.std(ddof=1):{fmt}}{unit}"


def table(groups: dict[tuple, list[dict]]) -> str:
    head = "| variant | backend:strategy | dtype | passes | seeds | train error % | test error % | train MSE | test MSE |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for (variant, backend, strategy, dtype, passes), runs in sorted(groups.items()):
        f = [r["final"] for r in runs]
        seeds = ", ".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        lines.append(
            f"| {variant} | {backend}:{strategy} | {dtype} | {passes} | {len(runs)} ({seeds}) "
            f"| {mean_sd([x['train_error'] for x in f], 100, '.2f')} "
            f"| {mean_sd([x['test_error'] for x in f], 100, '.2f')} "
            f"| {mean_sd([x['train_loss'] for x in f], 1e3, '.2f', 'e-3')} "
            f"| {mean_sd([x['test_loss'] for x in f], 1e2, '.2f', 'e-2')} |")
    lines.append(f"| paper (1989) | - | - | 23 | - | {PAPER['train_error'] * 100:.2f} | {PAPER['test_error'] * 100:.2f} "
                 f"| 2.5e-3 | 1.8e-2 |")
    return "\n".join(lines)


def plot(groups: dict[tuple, list[dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (variant, backend, strategy, _dtype, _passes), runs in sorted(groups.items()):
        for ax, split in zip(axes, ("train", "test")):
            err = np.array([[e[f"{split}_error"] * 100 for e in r["epochs"]] for r in runs])
            x = np.arange(1, err.shape[1] + 1)
            line, = ax.plot(x, err.mean(0), label=f"{variant} ({backend}:{strategy}, {len(runs)} seeds)")
            ax.fill_between(x, err.min(0), err.max(0), color=line.get_color(), alpha=0.2)
    for ax, split in zip(axes, ("train", "test")):
        ax.axhline(PAPER[f"{split}_error"] * 100, color="k", ls="--", lw=1, label="paper")
        ax.set(title=f"{split} error (mean, band: min-max over seeds)", xlabel="pass", ylabel="%", yscale="log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--plot", type=Path, help="also write learning curves (PNG) here")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"sdlm_seed_table: {args.folder} is not a folder", file=sys.stderr)
        return 2
    groups = load_runs(args.folder)
    if not groups:
        print(f"sdlm_seed_table: no run-*.json results in {args.folder}", file=sys.stderr)
        return 2
    print(table(groups))
    if args.plot:
        plot(groups, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
