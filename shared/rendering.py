"""How an item's text reaches readers: Markdown-like text rendered to HTML by cmark-gfm (the
CommonMark reference implementation, linear in its input whatever the input: a hostile body cannot
stall a page or a screening), raw HTML in the text omitted, then sanitised by nh3, whose
allow-list is the last word on what reaches a browser. Screening reads `visible_text`, what a
reader of that HTML sees, so that what goes online is what was screened. Pure."""

import re
from itertools import accumulate

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


def _markup(text: str, options: int = _OPTIONS) -> str:
    """cmark's HTML of the text, nested no deeper than MAX_DEPTH."""
    return _within_depth(
        cmarkgfm.markdown_to_html_with_extensions(text, options=options, extensions=_EXTENSIONS)
    )


def body_html(text: str) -> Markup:
    clean = nh3.clean(
        _markup(text),
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
# The slash (or not) of every tag that opens or closes an element, void ones left out.
_NESTING = re.compile(r"<(/?)(?!(?:br|hr|img|input)\b)[a-z]")
_STEP = {"": 1, "/": -1}


def _depth(markup: str) -> int:
    """How deep cmark's elements nest, without a Python step per tag."""
    return max(accumulate(map(_STEP.__getitem__, _NESTING.findall(markup))), default=0)


def _within_depth(markup: str) -> str:
    """cmark's HTML (well-formed: every element closed in order) with the elements nested deeper
    than MAX_DEPTH left out, their content kept. Linear; a document within the depth (any real
    one) is answered as it is, without a Python step per tag."""
    if _depth(markup) <= MAX_DEPTH:
        return markup
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
# A block's opening tag with where it starts in the source (line, and column in UTF-8 bytes).
_BLOCK_START = re.compile(
    r'<(?:p|h[1-6]|ul|ol|li|blockquote|pre|table|tr|th|td|hr)\b[^>]*?data-sourcepos="([0-9]+):([0-9]+)-[^>]*>'
)
_MARK = "\0"  # never in cmark's HTML: cmark turns a NUL of its input into U+FFFD


def _unescaped(text: str) -> str:
    """cmark's text with its escapes undone: it writes & < > " as entities and no other (the
    source's entities it has decoded), so four replacements do what `html.unescape` does,
    without its Python call per entity (a million for a body of `&`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def visible_text(text: str) -> str:
    """The characters a reader sees of the rendered body, in order, with line breaks where the
    page breaks lines."""
    return shown(text)[0]


def shown(text: str) -> tuple[str, list[tuple[int, int, int]]]:
    """`visible_text`, and where each of its blocks (paragraph, heading, list item, cell…)
    starts: (offset in the visible text, line and byte column in the source), in order. So a
    character can be found again in the source from its block's start, not from the text's.

    Read from cmark's HTML, not the sanitiser's: cmark's is well-formed, has no raw HTML (it is
    omitted) and no `<` in text (always `&lt;`), so the sanitiser's allow-list only drops
    elements (images, whose text is an attribute) and attributes, never text, and its parse
    keeps the text's order; what a reader sees is the same, without the sanitiser's time (10 s
    for a body of a million `&`)."""
    markup = _markup(text, _OPTIONS | Options.CMARK_OPT_SOURCEPOS)
    starts = [(int(line), int(column)) for line, column in _BLOCK_START.findall(markup)]
    marked = _BLOCK_TAG.sub("\n", _BLOCK_START.sub("\n" + _MARK, markup))
    runs = _unescaped(_INLINE_TAG.sub("", marked)).split(_MARK)
    offsets = accumulate(map(len, runs[:-1]))
    return "".join(runs), [(at, line, column) for at, (line, column) in zip(offsets, starts, strict=True)]


# What Markdown (with the table, strikethrough and autolink extensions) or HTML can act on: a
# character that opens inline markup, an entity or raw HTML, or a line that opens a block (a
# heading, quote, list item, thematic break, setext underline, table delimiter row such as `:-`).
# Two patterns, each of which the engine scans for fast (one for a character of a class, one
# for a line feed), where one with both in it is tried at every character.
_MARKUP_CHARACTER = re.compile(r"[\\`*_\[\]<>&~|]")
_BLOCK_OPENER = re.compile(r"\n[ \t]*(?:[#+=:-]|[0-9]{1,9}[.)])")


def shows_as_written(text: str) -> bool:
    """Whether the page shows the text's own characters, in order, only its white space
    changed: nothing in it that Markdown or HTML would hide or turn into other characters."""
    return not (_MARKUP_CHARACTER.search(text) or _BLOCK_OPENER.search("\n" + text))
