"""How an item's text reaches readers: Markdown-like text rendered to HTML by cmark-gfm (the
CommonMark reference implementation, linear in its input whatever the input: a hostile body cannot
stall a page or a screening), raw HTML in the text omitted, then sanitised by nh3, whose
allow-list is the last word on what reaches a browser. Screening reads `visible_text`, what a
reader of that HTML sees, so that what goes online is what was screened. Pure."""

import html
import re

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markupsafe import Markup

# A line break in the text is a line break on the page, as clerks write; raw HTML is left out.
_OPTIONS = Options.CMARK_OPT_HARDBREAKS
_EXTENSIONS = ["table", "strikethrough", "autolink"]
_TAGS = {
    "p",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "del",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "hr",
}
# No `title` attributes: a tooltip is text screening would have to find apart from the page's.
_ATTRIBUTES = {"a": {"href"}}
_SCHEMES = {"http", "https", "mailto"}


def body_html(text: str) -> Markup:
    rendered = cmarkgfm.markdown_to_html_with_extensions(text, options=_OPTIONS, extensions=_EXTENSIONS)
    clean = nh3.clean(
        _within_depth(rendered),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(clean)


# Deeper than any real document nests quotes and lists; a sanitiser's tree grows with the depth
# (100,000 nested `>` took minutes), so deeper elements are dropped and their text kept.
MAX_DEPTH = 32
_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)\b[^>]*>")
_VOID = {"br", "hr", "img", "input"}


def _within_depth(markup: str) -> str:
    """cmark's HTML (well-formed: every element closed in order) with the elements nested deeper
    than MAX_DEPTH left out, their content kept. Linear."""
    out, kept, depth, at = [], [], 0, 0
    for tag in _TAG.finditer(markup):
        closing, name = tag.group(1), tag.group(2)
        out.append(markup[at : tag.start()])
        at = tag.end()
        if name in _VOID:
            out.append(tag.group())
        elif closing:
            if kept and kept.pop():
                depth -= 1
                out.append(tag.group())
        else:
            kept.append(depth < MAX_DEPTH)
            if kept[-1]:
                depth += 1
                out.append(tag.group())
    out.append(markup[at:])
    return "".join(out)


# Elements that begin a new line on the page; every other tag joins the text on either side.
_BLOCK_TAG = re.compile(r"</?(?:p|br|h[1-6]|ul|ol|li|blockquote|pre|table|thead|tbody|tr|th|td|hr)\b[^>]*>")
_INLINE_TAG = re.compile(r"<[^>]*>")


def visible_text(text: str) -> str:
    """The characters a reader sees of the rendered body, in order, with line breaks where the
    page breaks lines (the sanitised HTML is well-formed: a `<` in text is always `&lt;`)."""
    markup = str(body_html(text))
    return html.unescape(_INLINE_TAG.sub("", _BLOCK_TAG.sub("\n", markup)))


# What Markdown (with the table, strikethrough and autolink extensions) or HTML can act on: a
# character that opens inline markup, an entity or raw HTML, or a line that opens a block (a
# heading, quote, list item, thematic break, setext underline, table delimiter row such as `:-`).
_MARKUP = re.compile(r"[\\`*_\[\]<>&~|]|^[ \t]*(?:[#+=:-]|[0-9]{1,9}[.)])", re.MULTILINE)


def shows_as_written(text: str) -> bool:
    """Whether the page shows the text's own characters, in order, only its white space
    changed: nothing in it that Markdown or HTML would hide or turn into other characters."""
    return _MARKUP.search(text) is None
