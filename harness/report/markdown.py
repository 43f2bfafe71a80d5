"""Writing values from result files into REPORT.md: escaped for markdown and HTML, links only
to files inside the results directory."""
from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote

# Characters with an inline meaning in (GitHub) markdown: emphasis, code, links and images
# ([ ] and !; without them parentheses are inert), tables, strikethrough, math. & < > " ' are
# HTML-escaped instead (a backslash before them would make the entity itself literal text).
_MARKDOWN = re.compile(r"([\\`*_\[\]|!~$])")
# Control characters that are not whitespace (those are folded into one space), and the bidi
# controls that reorder what follows them: raw, they are invisible in a browser, live in a terminal
# that shows REPORT.md (ESC), or make a cell read backwards (U+202E). Shown as U+FFFD instead.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def esc(value) -> str:
    """`value` as inert text in a markdown line or table cell: one line (whitespace, line breaks
    included, folded into single spaces), other control characters as U+FFFD, markdown specials
    backslash-escaped, HTML specials as entities. Never put one at the start of a line (block
    syntax such as '1.' or '---' there: esc_block)."""
    s = _CONTROLS.sub("\ufffd", " ".join(str(value).split()))
    return html.escape(_MARKDOWN.sub(r"\\\1", s), quote=True)


def link(path: Path, results_dir: Path) -> str:
    """A markdown link to `path` if it lies directly in `results_dir`, else its escaped name alone."""
    path = Path(path)
    if path.parent.resolve() != Path(results_dir).resolve() or "/" in path.name or path.name in ("", ".", ".."):
        return esc(path.name)
    return f"[{esc(path.name)}]({quote(path.name)})"


def image(name: str, alt: str) -> str:
    """An image link to a figure the report wrote itself (a plain name in the results directory)."""
    return f"![{esc(alt)}]({quote(name)})"


def _cell(v) -> str:
    return "-" if v is None else str(v).replace("\n", " ")


def md_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one letter per column, l or r. Cells must already be
    escaped (esc) where they come from a file; the header is ours."""
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def esc_block(value) -> str:
    """esc(value) for a line of its own: block syntax at its start ('# ', '- ', '1.', '===') made inert."""
    s = esc(value)
    m = re.match(r"(\d{1,9})([.)])", s)
    if m:
        return m[1] + "\\" + m[2] + s[m.end():]
    return "\\" + s if s[:1] in ("#", "+", "-", "=", "*") else s
