"""The escape functions of the report, one character at a time.

Every character esc / esc_block promise to make inert has its own assertion, from lists written
here (not read from the implementation, so a character dropped from its pattern shows): the
markdown specials backslash-escaped, the HTML specials as entities, whitespace and line breaks
folded into one space, every other control character (and the bidi controls) shown as U+FFFD,
block syntax at the start of a line made inert. Where markdown-it (rich's markdown parser) is
installed, the escaped text is also rendered: it must come out as the same plain text.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.report.markdown import esc, esc_block, image, link, md_table
from harness.report.sections import plain

MARKDOWN_SPECIALS = ["\\", "`", "*", "_", "[", "]", "|", "!", "~", "$"]
HTML_SPECIALS = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
# Whitespace, and what Python (str.splitlines) or a browser would break a line at.
BREAKS = ["\n", "\r", "\r\n", "\t", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029",
          "\u00a0", "\u3000"]
CONTROLS = [chr(c) for c in range(0x110) if unicodedata.category(chr(c)) == "Cc"]
BIDI = ["\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
        "\u2066", "\u2067", "\u2068", "\u2069"]


def _name(c: str) -> str:
    return f"U+{ord(c[0]):04X}" + ("+" if len(c) > 1 else "")


@pytest.mark.parametrize("c", MARKDOWN_SPECIALS, ids=_name)
def test_markdown_specials_are_backslash_escaped(c):
    assert esc(c) == "\\" + c
    assert esc(f"a{c}b{c}") == f"a\\{c}b\\{c}"


@pytest.mark.parametrize("c, entity", HTML_SPECIALS.items(), ids=[_name(c) for c in HTML_SPECIALS])
def test_html_specials_are_entities(c, entity):
    assert esc(c) == entity
    assert esc(f"a{c}b{c}") == f"a{entity}b{entity}"


@pytest.mark.parametrize("c", BREAKS, ids=_name)
def test_whitespace_and_line_breaks_fold_into_one_space(c):
    out = esc(f"a{c}b{c}{c}c{c}")
    assert out == "a b c"
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize("c", CONTROLS + BIDI, ids=_name)
def test_no_control_character_comes_through(c):
    """Folded to a space if it is whitespace, else U+FFFD: never raw, never silently gone."""
    for f in (esc, esc_block):
        out = f(f"a{c}b")
        assert out in ("a b", "a\ufffdb"), repr(out)
        assert len(out.splitlines()) == 1
    fig = plain(f"a{c}b")  # figures: controls removed
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in fig) and len(fig.splitlines()) == 1


def test_plain_text_is_unchanged():
    text = "jax:scan@cpu 1989 usps float64 seed 1337 (23 passes) 5.00% 1,234.5 us/example ±0.1 – é"
    assert esc(text) == text and esc_block(text) == text


# A line of its own: what it would start, and what esc_block must make of it.
BLOCKS = {
    "# x": "\\# x", "## x": "\\## x", "+ x": "\\+ x", "- x": "\\- x", "= x": "\\= x", "* x": "\\* x",
    "> x": "&gt; x", "1. x": "1\\. x", "1) x": "1\\) x", "123456789. x": "123456789\\. x",
    "---": "\\---", "===": "\\===", "***": "\\*\\*\\*", "___": "\\_\\_\\_", "```": "\\`\\`\\`",
    "~~~": "\\~\\~\\~", "<div>": "&lt;div&gt;", "    indented": "indented", "| a |": "\\| a \\|",
    "[x]: http://a": "\\[x\\]: http://a",
}


@pytest.mark.parametrize("text, want", BLOCKS.items(), ids=list(BLOCKS))
def test_block_syntax_at_the_start_of_a_line_is_inert(text, want):
    assert esc_block(text) == want


# ----------------------------------------------------------------------------- rendered


@pytest.fixture(scope="module")
def md():
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


HOSTILE = ["*a*", "**a**", "_a_", "`a`", "``a``", "[a](http://x)", "![a](x.png)", "<http://x>", "~~a~~",
           "<b>a</b>", "<script>x</script>", "a|b", "&amp;", "&#60;", "\\*a\\*", "a\\", "[a]", "!", "$x$",
           *MARKDOWN_SPECIALS, *HTML_SPECIALS]


def _only_text(tokens) -> str:
    """The text of the inline tokens, asserting that they hold nothing but text."""
    inline = [t for t in tokens if t.type == "inline"]
    assert all(c.type == "text" for t in inline for c in t.children), [(c.type, c.content) for t in inline
                                                                      for c in t.children]
    return "".join(c.content for t in inline for c in t.children)


@pytest.mark.parametrize("text", HOSTILE)
def test_an_escaped_table_cell_renders_as_its_own_text(md, text):
    tokens = md.parse(md_table(["h"], [[esc(text)]]) + "\n")
    assert [t.type for t in tokens].count("td_open") == 1
    cell = tokens[[t.type for t in tokens].index("td_open") + 1]
    assert _only_text([cell]) == text


@pytest.mark.parametrize("text", [*BLOCKS, *HOSTILE])
def test_an_escaped_line_renders_as_one_paragraph_of_its_own_text(md, text):
    tokens = md.parse(esc_block(text) + "\n")
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    assert _only_text(tokens) == " ".join(text.split())


@pytest.mark.parametrize("c", [*MARKDOWN_SPECIALS, *HTML_SPECIALS, " ", "(", ")", "#", "?", "%"], ids=_name)
def test_links_and_images_quote_the_target_and_escape_the_text(md, tmp_path, c):
    name = f"run{c}x.png"
    url = quote(name)
    assert set(url) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%_.-~")
    for text, want_href in ((link(tmp_path / name, tmp_path), url), (image(name, f"figure {c}"), url)):
        tokens = md.parse(text + "\n")
        kids = tokens[1].children
        kind = "link_open" if text.startswith("[") else "image"
        assert [k.type for k in kids if k.type in ("link_open", "image")] == [kind]
        assert next(k for k in kids if k.type == kind).attrGet("src" if kind == "image" else "href") == want_href
    assert link(Path("/elsewhere") / name, tmp_path) == esc(name)  # outside the results directory: no link
