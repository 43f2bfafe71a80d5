"""The figures of `harness report`, as PNG bytes (matplotlib, Agg backend).

matplotlib is imported when a figure is drawn (`pyplot()`), never when this module is: the rest
of the harness, and `harness report --compare`, work without it. Each function takes pyplot
(from `pyplot()`) and plain data, and returns PNG bytes; the caller writes them atomically.
"""
from __future__ import annotations

import io
import math
import statistics

from .load import ReportError

DPI = 110


def pyplot():
    """matplotlib.pyplot on the Agg backend, or ReportError('... install matplotlib ...')."""
    try:
        import matplotlib
    except ImportError as e:
        raise ReportError("harness report draws its figures with matplotlib, which is not installed: "
                          "install matplotlib (pip install 'lecun1989-harness[report]')") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(plt, fig) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def plain_log_ticks(axis, fmt: str = "{:g}") -> None:
    """Log-scale tick labels as plain text: the report draws with mathtext off (a '$' in a name
    from a result file is text), under which matplotlib's default log labels print as TeX source."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt.format(v)))
    axis.set_minor_formatter(NullFormatter())


def _colors(plt, n: int):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


# ----------------------------------------------------------------------------- bounds
# Every figure is bounded in size whatever the results directory holds: thousands of runs are
# aggregated by configuration and drawn up to these caps, and a note in the figure (and in
# REPORT.md) says what was left out. The report's sections apply them through `bounded`.
MAX_INCHES = (16.0, 20.0)  # width, height: at DPI 110 at most 1760 x 2200 pixels
MAX_LINES = 10  # configurations (one colour each) in a learning-curve or divergence figure
MAX_SEEDS = 40  # seed lines drawn per configuration
MAX_ROWS = 32  # rows of a dot or strip plot, all panels together
MAX_PANELS = 6  # machines (panel rows) in the throughput figure


def bounded(items: list, cap: int, noun: str) -> tuple[list, str | None]:
    """The first `cap` of `items`, and a note naming how many `noun` were left out (None if none)."""
    items = list(items)
    if len(items) <= cap:
        return items, None
    return items[:cap], f"{len(items) - cap} more {noun} not drawn (first {cap} of {len(items)} shown)"


def size(width: float, height: float) -> tuple[float, float]:
    """A figure size in inches, within MAX_INCHES."""
    return min(width, MAX_INCHES[0]), min(height, MAX_INCHES[1])


def nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks from lo to hi (positive), for a log axis."""
    if not (lo > 0 and hi >= lo):
        return []
    out = []
    for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        out += [m * 10.0 ** k for m in (1, 2, 5)]
    return [round(t, 12) for t in out if lo <= t <= hi]


def _percent_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))


# ----------------------------------------------------------------------------- learning curves

PANELS = (("train_error", "train error (% of the training set)"), ("test_error", "test error (% of the test set)"),
          ("train_loss", "train loss"), ("test_loss", "test loss"))


def _curve_panel(ax, groups: list[dict], colors, key: str, ref) -> bool:
    """One quantity against pass, one thin line per seed in its configuration's colour, log y; True
    when some pass had none (0, drawn as an open marker on the bottom edge)."""
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter

    scale = 100.0 if key.endswith("error") else 1.0
    vals = [v * scale for g in groups for s in g["seeds"] for v in s[key] if v is not None and v > 0]
    if ref:
        vals.append(ref * scale)
    ax.set_title(dict(PANELS)[key], fontsize=10)
    if not vals:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="0.4")
        return False
    bottom, top = min(vals) / 1.8, max(vals) * 1.6
    zero = False
    for i, (g, c) in enumerate(zip(groups, colors)):
        # earlier configurations drawn wider: backends that agree to the last digit coincide, and the
        # later line then runs inside the earlier one instead of hiding it
        lw = (1.8 if len(g["seeds"]) == 1 else 0.9) * (1 + 1.2 * (len(groups) - 1 - i) / max(1, len(groups) - 1))
        for s in g["seeds"]:
            pts = [(e, v * scale) for e, v in zip(s["epoch"], s[key]) if v is not None and v > 0]
            ax.plot([e for e, _ in pts], [v for _, v in pts], color=c, linewidth=lw)
            zeros = [e for e, v in zip(s["epoch"], s[key]) if v is not None and v <= 0]
            if zeros:
                zero = True
                ax.plot(zeros, [bottom * 1.05] * len(zeros), linestyle="none", marker="o", markersize=5,
                        markerfacecolor="none", color=c, clip_on=False)
    if ref:
        ax.axhline(ref * scale, color="0.25", linestyle="--", linewidth=1.1)
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    ax.yaxis.set_major_locator(FixedLocator(nice_log_ticks(bottom, top)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    if scale == 100.0:
        _percent_axis(ax.yaxis)
    else:
        plain_log_ticks(ax.yaxis)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, which="major", alpha=0.3)
    return zero


def _group_legend(g: dict) -> str:
    finals = sorted(v * 100 for v in g["finals"])
    n = g["n"]
    text = f"{g['label']}: {n} seed{'s' if n != 1 else ''}"
    if not finals:
        return text
    med = statistics.median(finals)
    return text + (f", final test error {med:.2f}%" if n == 1 else
                   f", final test error median {med:.2f}% ({finals[0]:.2f}–{finals[-1]:.2f}%)")


def learning_curves(plt, title: str, groups: list[dict], paper: dict, note: str | None = None) -> bytes:
    """Train and test error (%) and loss against pass, log scales: each configuration one colour,
    each of its seeds one thin line (a band would turn one seed's plateau into a false cliff); the
    paper's figures dashed where given (`paper`: train_error, test_error, and losses if comparable).

    groups: [{label, seeds: [{seed, epoch: [...], train_error: [fraction | None], test_error,
    train_loss, test_loss}], n: seeds in all, finals: every seed's final test error}], at most
    MAX_LINES of them (report.curves.drawable caps them; `note` says what was left out).
    """
    from matplotlib.lines import Line2D

    colors = _colors(plt, len(groups))
    handles = [Line2D([], [], color=c, linewidth=2, label=_group_legend(g)) for g, c in zip(groups, colors)]
    if paper.get("test_error"):
        handles.append(Line2D([], [], color="0.25", linestyle="--", linewidth=1.1,
                              label=f"paper 1989 (USPS): {paper['train_error'] * 100:.2f}% train, "
                                    f"{paper['test_error'] * 100:.2f}% test error"
                                    + (" and its MSE losses" if paper.get("test_loss") else "")))
    rows = math.ceil((len(handles) + 2) / 2)
    fig, axes = plt.subplots(2, 2, figsize=size(13, 8.2 + 0.26 * rows), sharex=True)
    zero = False
    for ax, (key, _) in zip(axes.flat, PANELS):
        zero |= _curve_panel(ax, groups, colors, key, paper.get(key))
    for ax in axes[1]:
        ax.set_xlabel("pass (epoch) over the training set")
    if zero:
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker="o", markerfacecolor="none",
                              label="none at that pass (0: drawn on the bottom edge)"))
    if note:
        handles.append(Line2D([], [], linestyle="none", label=note))
    fig.legend(handles=handles, loc="lower center", ncol=min(2, len(handles)), fontsize=8.5, frameon=False)
    fig.suptitle(title + "\nthin lines: one per seed", fontsize=12)
    fig.tight_layout(rect=(0, 0.025 * rows + 0.02, 1, 1))
    return png_bytes(plt, fig)


# ----------------------------------------------------------------------------- throughput


def _dates(figs: list) -> str:
    days = sorted({f.when[:10] for f in figs if f.when})
    return "" if not days else days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def throughput(plt, panels: list[tuple[str, list]], source: str, note: str | None = None) -> bytes:
    """us/example as dots (median) with p25-p75 whiskers, log x, one panel row per machine
    (`panels`: [(machine, figures fastest first)]), coloured by backend, on one shared x axis."""
    from matplotlib.lines import Line2D

    every = [f for _, figs in panels for f in figs]
    heights = [0.45 + 0.32 * len(figs) for _, figs in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=size(11, sum(heights) + 1.3), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    backends = sorted({str(f.key[0]) for f in every})
    color_of = dict(zip(backends, _colors(plt, len(backends))))
    lows = [f.spread[0] if f.spread and f.spread[0] > 0 else f.median for f in every]
    highs = [f.spread[1] if f.spread else f.median for f in every]
    for ax, (machine, figs) in zip(axes[:, 0], panels):
        ys = list(range(len(figs)))[::-1]  # fastest at the top
        for y, f in zip(ys, figs):
            lo, hi = (f.median - f.spread[0], f.spread[1] - f.median) if f.spread else (0, 0)
            c = color_of[str(f.key[0])]
            ax.errorbar([f.median], [y], xerr=[[max(lo, 0)], [max(hi, 0)]], fmt="o", color=c, ecolor=c,
                        markersize=6, capsize=3, linewidth=1.2)
            ax.text((f.spread[1] if f.spread else f.median) * 1.1, y, f"{f.median:,.1f} us", va="center", fontsize=8)
        ax.set_yticks(ys)
        ax.set_yticklabels([f.label for f in figs], fontsize=9)
        ax.set_ylim(-0.6, len(figs) - 0.4)
        when = _dates(figs)
        ax.set_title(machine + (f" (measured {when})" if when else ""), loc="left", fontsize=10)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    ax = axes[-1, 0]
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlim(min(lows) / 2, max(highs) * 4)
    ax.set_xlabel("microseconds per training example (batch size 1: forward + backward + update), log scale; "
                  "dot: median, whiskers: p25-p75")
    axes[0, 0].legend(handles=[Line2D([], [], color=color_of[b], marker="o", linestyle="none", label=b)
                               for b in backends], title="backend", fontsize=8, loc="upper right")  # fastest at the top-left: its emptiest corner
    fig.suptitle("Training throughput per machine (lower is faster)", fontsize=12)
    fig.text(0.01, 0.0, f"source: {source}" + (f"; {note}" if note else ""), fontsize=7, color="0.4",
             ha="left", va="top", transform=fig.transFigure, wrap=True)
    fig.tight_layout()
    return png_bytes(plt, fig)


# ----------------------------------------------------------------------------- test error over seeds


def seed_strip(plt, rows: list[tuple[str, list[float]]], paper: float | None, note: str | None = None) -> bytes:
    """Final test error of each seed as a dot, one row per configuration (`rows`: [(label,
    [fractions])]), a bar at each row's median, the paper's figure as a dashed vertical line."""
    fig, ax = plt.subplots(figsize=size(10, 1.5 + 0.42 * len(rows)))
    colors = _colors(plt, len(rows))
    n = len(rows)
    for i, ((label, vals), c) in enumerate(zip(rows, colors)):
        y = n - 1 - i
        pct = [v * 100 for v in vals]
        offsets = [0.0] if len(pct) == 1 else [-0.22 + 0.44 * k / (len(pct) - 1) for k in range(len(pct))]
        ax.scatter(pct, [y + o for o in offsets], s=24, color=c, alpha=0.85, zorder=3)
        med = statistics.median(pct)
        ax.plot([med, med], [y - 0.32, y + 0.32], color="0.15", linewidth=1.6, zorder=4)
    if paper is not None:
        ax.axvline(paper * 100, color="firebrick", linestyle="--", linewidth=1.2)
        ax.annotate(f"paper 1989: {paper * 100:.2f}%", (paper * 100, n - 0.45), textcoords="offset points",
                    xytext=(4, 0), fontsize=8, color="firebrick")
    ax.set_yticks(range(n))
    ax.set_yticklabels([label for label, _ in rows][::-1], fontsize=9)
    ax.set_ylim(-0.7, n - 0.2)
    _percent_axis(ax.xaxis)
    ax.set_xlabel("test error after the last pass (% of the test set): one dot per seed, bar at the median")
    ax.set_title("Test error over seeds" + (f"\n{note}" if note else ""), fontsize=11)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return png_bytes(plt, fig)


def gallery(plt, tiles: list, title: str, cols: int = 12) -> bytes:
    """Missed test digits: tiles [(image 16x16 in [-1, 1], true, predicted, index)], each with
    'true → predicted' above it and its test index below.

    Drawn as one mosaic image with text on top (one axes, not one per digit: ~100x faster).
    """
    import numpy as np

    n = len(tiles)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    pad, top, bottom = 2, 8, 6  # pixels around each 16x16 digit: sides, label band, index band
    cw, ch = 16 + 2 * pad, 16 + top + bottom
    mosaic = np.ones((rows * ch, cols * cw, 3))
    for k, (img, true, pred, idx) in enumerate(tiles):
        r, c = divmod(k, cols)
        y0, x0 = r * ch + top, c * cw + pad
        ink = 1.0 - (np.clip(np.asarray(img, dtype=np.float64), -1, 1) + 1) / 2  # -1 white, +1 black
        mosaic[y0 - 1:y0 + 17, x0 - 1:x0 + 17] = 0.88  # a light frame around the digit
        mosaic[y0:y0 + 16, x0:x0 + 16] = ink[..., None]
    unit = 0.055  # inches per mosaic pixel
    head = 0.75  # inches for the title
    w, h = cols * cw * unit, rows * ch * unit
    fig = plt.figure(figsize=(w, h + head))
    ax = fig.add_axes((0, 0, 1, h / (h + head)))
    ax.imshow(mosaic, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    for k, (img, true, pred, idx) in enumerate(tiles):
        r, c = divmod(k, cols)
        xc = c * cw + cw / 2 - 0.5
        ax.text(xc, r * ch + top - 1.8, f"{true} → {pred}", ha="center", va="bottom", fontsize=9.5,
                color="firebrick")
        ax.text(xc, r * ch + top + 16.6, f"#{idx}", ha="center", va="top", fontsize=6.5, color="0.4")
    fig.text(0.5, 1 - 0.12 / (h + head), title + "\n(each: true label → predicted label; #index in the test set)",
             ha="center", va="top", fontsize=10)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return buf.getvalue()


def divergence(plt, traces: list[dict], title: str) -> bytes:
    """max |a - b| over all parameters against step (log y), one line per compared target;
    the tolerance dashed where recorded. Exact agreement (0) is drawn at the bottom edge."""
    fig, ax = plt.subplots(figsize=(10, 5))
    colors = _colors(plt, len(traces))
    pos = [v for t in traces for v in t["values"] if v is not None and v > 0]
    tols = [v for t in traces for v in (t.get("tol") or []) if v is not None and v > 0]
    floor = min(pos + tols) / 10 if (pos or tols) else 1e-17
    drawn_tol = drawn_cross = False
    for c, t in zip(colors, traces):
        vals = [v if (v is not None and v > 0) else floor for v in t["values"]]
        zeros = sum(1 for v in t["values"] if v is not None and v <= 0)
        label = t["label"]
        if zeros == len(vals):
            label += ": identical (0) at every step, drawn at the bottom"
        elif zeros:
            label += f" (0 at {zeros} step{'s' if zeros > 1 else ''}, drawn at the bottom)"
        ax.plot(t["steps"], vals, color=c, linewidth=1.4, marker="." if len(vals) <= 50 else None, label=label)
        tol = t.get("tol")
        if tol and not drawn_tol:
            ax.plot(t["steps"], [v if v else float("nan") for v in tol], color="0.3", linestyle="--",
                    linewidth=1.2, label="tolerance")
            drawn_tol = True
        if tol:  # the first step beyond tolerance
            cross = next(((s, v) for s, v, lim in zip(t["steps"], t["values"], tol)
                          if v is not None and lim is not None and v > lim), None)
            if cross:
                ax.plot([cross[0]], [cross[1]], linestyle="none", marker="X", markersize=10, color=c,
                        markeredgecolor="black", label=None if drawn_cross else "first step beyond tolerance")
                ax.annotate(f"step {cross[0]:g}", cross, textcoords="offset points", xytext=(6, -12), fontsize=8,
                            color=c)
                drawn_cross = True
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis, "{:.0e}")
    ax.set_xlabel("per-example training step")
    ax.set_ylabel("max |a - b| over all parameters (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, title="vs reference")
    fig.tight_layout()
    return png_bytes(plt, fig)
