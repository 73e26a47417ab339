"""How an item's text reaches readers: Markdown-like text rendered to HTML by cmark-gfm (the
CommonMark reference implementation, linear in its input whatever the input: a hostile body cannot
stall a page or a screening), raw HTML in the text omitted, then sanitised by nh3, whose
allow-list is the last word on what reaches a browser. Screening reads `visible_text`, what a
reader of that HTML sees, so that what goes online is what was screened. Pure."""

import re
from itertools import accumulate, repeat
from operator import le, mul

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
# Every tag, whole (to split the markup at); and each tag's slash, or its name if it is void
# (br, hr, img, input: neither opens nor closes an element).
_TAG = re.compile(r"(</?[a-z][a-z0-9]*\b[^>]*>)")
_STEPS = re.compile(r"<(?:(/)|(?=(br|hr|img|input)\b))?[a-z][a-z0-9]*\b[^>]*>")
_STEP = {("/", ""): -1, ("", ""): 1}  # a void tag, ("", name): 0


def _within_depth(markup: str) -> str:
    """cmark's HTML (well-formed: every element closed in order) with the elements nested deeper
    than MAX_DEPTH left out, their content kept. Linear, and without a Python step per tag (a
    body of a million `>` is two million tags)."""
    steps = list(map(_STEP.get, _STEPS.findall(markup), repeat(0)))
    after = list(accumulate(steps))  # the depth after each tag
    if max(after, default=0) <= MAX_DEPTH:
        return markup  # any real document
    # An element's tags are kept if it is within the depth: an opening tag's is the depth after
    # it, a closing tag's the depth before it (the larger of the two); a void tag always.
    depths = map(mul, map(max, after, accumulate(steps, initial=0)), map(abs, steps))
    parts = _TAG.split(markup)
    parts[1::2] = map(mul, parts[1::2], map(le, depths, repeat(MAX_DEPTH)))
    return "".join(parts)


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
