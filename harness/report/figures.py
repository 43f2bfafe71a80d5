"""The figures of `harness report`, as PNG bytes (matplotlib, Agg backend).

matplotlib is imported when a figure is drawn (`pyplot()`), never when this module is: the rest
of the harness, and `harness report --compare`, work without it. Each function takes pyplot
(from `pyplot()`) and plain data, and returns PNG bytes; the caller writes them atomically.
"""
from __future__ import annotations

import io
import math

from .load import ReportError

DPI = 110
NICE_PERCENT = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]


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


MARKERS = "os^Dv<>pPX*h"


def _styles(plt, series: list[dict]) -> list[dict]:
    """Per series: colour, marker, width. Earlier lines wider: lines that coincide (backends that
    agree) stay visible, one inside the other; no markers on long runs."""
    colors = _colors(plt, len(series))
    many = max((len(x["epoch"]) for x in series), default=0) > 30
    return [{"color": colors[i], "marker": MARKERS[i % len(MARKERS)], "markersize": 0 if many else 4,
             "linewidth": max(1.2, 3.2 - 0.5 * i)} for i in range(len(series))]


def _error_axis(ax, split: str, series: list[dict], styles: list[dict], paper: dict, last_epoch: int) -> bool:
    """One split's error (%) against pass on a log axis; True when some pass had no miss (0%, drawn
    as an open marker on the bottom edge)."""
    from matplotlib.ticker import (
        FixedLocator,
        FuncFormatter,
        MaxNLocator,
        NullFormatter,
    )

    key = f"{split}_error"
    lows = []
    for s, st in zip(series, styles):
        pos = [(e, v * 100) for e, v in zip(s["epoch"], s[key]) if v is not None and v > 0]
        lows += [v for _, v in pos]
        ax.plot([e for e, _ in pos], [v for _, v in pos], **st)
    ref = paper.get(key)
    if ref:
        ax.axhline(ref * 100, color="0.3", linestyle="--", linewidth=1.2)
        ax.annotate(f"paper 1989: {ref * 100:.2f}%", (0.01, ref * 100), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(0, 3), fontsize=8, color="0.3")
        lows.append(ref * 100)
    ax.set_yscale("log")
    bottom = min(lows) / 2 if lows else 0.01
    top = max(lows) * 1.6 if lows else 100
    ax.set_ylim(bottom, top)
    any_zero = False
    for s, st in zip(series, styles):  # 0% (no miss): open markers on the bottom edge
        zero = [e for e, v in zip(s["epoch"], s[key]) if v is not None and v <= 0]
        if zero:
            any_zero = True
            ax.plot(zero, [bottom * 1.05] * len(zero), linestyle="none", marker="o", markersize=6,
                    markerfacecolor="none", color=st["color"], clip_on=False)
    ax.yaxis.set_major_locator(FixedLocator([t for t in NICE_PERCENT if bottom <= t <= top]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5 if last_epoch < 10 else 0, last_epoch + (0.5 if last_epoch < 10 else last_epoch * 0.03))
    ax.set_xlabel("pass (epoch) over the training set")
    ax.set_ylabel(f"{split} error (% of {split} set, log scale)")
    ax.set_title(f"{split} error after each pass")
    ax.grid(True, which="both", alpha=0.3)
    return any_zero


def _final(s: dict, key: str) -> str:
    v = next((v for v in s[key][::-1] if v is not None), None)
    return "-" if v is None else f"{v * 100:.2f}%"


def learning_curves(plt, variant: str, series: list[dict], paper: dict, datasets: list[str]) -> bytes:
    """Train and test error (%) against pass, one line per series, the paper's figures dashed.

    series: [{label, epoch: [...], train_error: [fraction | None], test_error: [...]}].
    Error axes are logarithmic (errors span 10% to 0.1%); a pass with no miss (0%) is drawn
    at the bottom edge as an open marker.
    """
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharex=True)
    styles = _styles(plt, series)
    last_epoch = max((e for x in series for e in x["epoch"]), default=1)
    any_zero = False
    for ax, split in zip(axes, ("train", "test")):
        any_zero |= _error_axis(ax, split, series, styles, paper, last_epoch)
    handles = [Line2D([], [], **st, label=f"{s['label']}: {_final(s, 'train_error')} train, "
                                          f"{_final(s, 'test_error')} test after pass {s['epoch'][-1]}")
               for s, st in zip(series, styles)]
    handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.2,
                          label=f"paper 1989 (USPS): {paper['train_error'] * 100:.2f}% train, "
                                f"{paper['test_error'] * 100:.2f}% test"))
    if any_zero:
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker="o", markerfacecolor="none",
                              label="0 misses (drawn on the bottom edge)"))
    ncol = min(len(handles), 2)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    ds = ", ".join(datasets)
    fig.suptitle(f"Learning curves, variant {variant} ({ds}): error after each pass", fontsize=13)
    legend_rows = math.ceil(len(handles) / ncol)
    fig.tight_layout(rect=(0, 0.04 + 0.045 * legend_rows, 1, 1))
    return png_bytes(plt, fig)


def throughput(plt, figs: list, source: str) -> bytes:
    """Horizontal bars of us/example (median, log scale) with p25-p75 whiskers, one per configuration,
    fastest at the top, coloured by backend."""
    n = len(figs)
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.45 * n))
    backends = sorted({str(f.key[0]) for f in figs})
    color_of = dict(zip(backends, _colors(plt, len(backends))))
    ys = list(range(n))[::-1]  # figs are sorted fastest first: fastest at the top
    meds = [f.median for f in figs]
    lo = [f.median - f.spread[0] if f.spread else 0 for f in figs]
    hi = [f.spread[1] - f.median if f.spread else 0 for f in figs]
    lo = [max(v, 0) for v in lo]
    hi = [max(v, 0) for v in hi]
    colors = [color_of[str(f.key[0])] for f in figs]
    left = min(meds + [f.spread[0] for f in figs if f.spread and f.spread[0] > 0]) / 3
    right = max(meds + [f.spread[1] for f in figs if f.spread]) * 4
    ax.barh(ys, [m - left for m in meds], left=left, color=colors, alpha=0.85, height=0.6)
    ax.errorbar(meds, ys, xerr=[lo, hi], fmt="none", ecolor="0.15", capsize=3, linewidth=1)
    for y, f in zip(ys, figs):
        x = f.spread[1] if f.spread else f.median
        ax.text(x * 1.08, y, f"{f.median:,.1f} us", va="center", fontsize=9)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlim(left, right)
    ax.set_yticks(ys)
    ax.set_yticklabels([f.label for f in figs])
    ax.set_xlabel("microseconds per training example (batch size 1: forward + backward + update), log scale")
    ax.set_title("Training throughput: median us/example, whiskers p25-p75 (lower is faster)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=color_of[b], label=b) for b in backends], title="backend", fontsize=8,
              loc="upper right")  # fastest (shortest bars) at the top: the emptiest corner
    fig.text(0.01, 0.0, f"source: {source}", fontsize=7, color="0.4", ha="left", va="top",
             transform=fig.transFigure, wrap=True)
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
