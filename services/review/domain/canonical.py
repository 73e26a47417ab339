"""The canonical text screening matches in, and the way back from it to what the clerk wrote.

A reader does not see the characters a clerk typed: a browser decodes `&#23494;` to 密 and hides
a zero-width space, the portal renders `秘*密*` as 秘密, a font draws 機 and ㊙ and ⭐ much like 机
and 秘 and ★. So each published field is screened in every form a reader may see it in — as
written, with HTML entities decoded, with HTML tags taken out, and (the body) rendered from
Markdown to its visible text — and each form is folded to one canonical text: compatibility
forms to plain ones (NFKC: full-width letters, circled and compatibility ideographs, Kangxi
radicals), case folded, the traditional and Japanese forms of the marking words simplified, every
star-like glyph made ★, and format characters, combining marks, variation selectors, tag
characters, controls and invisible fillers removed — to a fixpoint, since each character's fold
is computed until it no longer changes.

Every step keeps a map back to the text it came from (`Rewrite`, `Alignment`), so a match in the
canonical text is a span of the raw text the reviewer sees and redacts. Every step is linear in
its input: regular expressions that cannot backtrack across the text, and `str.translate`.
"""

import html
import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import accumulate, repeat
from operator import getitem

from shared.rendering import shown, shows_as_written

STAR = "★"
# Characters that read as a star or an asterisk: by their Unicode names, and a few by their looks.
_STAR_NAMES = re.compile(r"\b(STARS?|ASTERISKS?|ASTERISM|FLORETTE|SPARKLES?|PENTAGRAM|SNOWFLAKE|SEXTILE)\b")
_NOT_STARS = re.compile(r"^(HEXAGRAM FOR|CUNEIFORM|NIGHT WITH STARS|GRINNING FACE WITH STAR EYES)")
# The four-pointed cusps and the concave-sided diamond are drawn as ✦ and ✧ are.
_STAR_LOOKALIKES = "※⁕⊹✱❋🌟💫🎇۞𓇼᪥⯌⯍⯎⯏⟡"
# The marking words' traditional and Japanese forms (and variants) that NFKC leaves alone.
_VARIANTS = {
    "機": "机",
    "祕": "秘",
    "袐": "秘",
    "宻": "密",
    "絕": "绝",
    "絶": "绝",
    "級": "级",
    "別": "别",
    "內": "内",
    "資": "资",
    "註": "注",
    "僅": "仅",
    "閱": "阅",
    "謹": "谨",
    "檔": "档",
    "啓": "启",
    "啟": "启",
    "長": "长",
    "間": "间",
    "種": "种",
}
# Code points no font draws visibly although Unicode calls them letters or symbols (Hangul and
# braille fillers), and the default-ignorable ones of other categories.
_BLANKS = "\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0"
_REMOVED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Mc", "Me"}


def _is_star(char: str) -> bool:
    name = unicodedata.name(char, "")
    return char in _STAR_LOOKALIKES or (bool(_STAR_NAMES.search(name)) and not _NOT_STARS.match(name))


def _fold_once(char: str) -> str:
    if char.isspace():
        return " "
    if char in _BLANKS or unicodedata.category(char) in _REMOVED_CATEGORIES:
        return ""
    if _is_star(char):
        return STAR
    folded = unicodedata.normalize("NFKC", char).casefold()
    return "".join(_VARIANTS.get(c, c) if len(folded) == 1 else _fold_once(c) for c in folded)


@cache
def fold_char(char: str) -> str:
    """One character's canonical form, folded until it no longer changes."""
    folded = _fold_once(char)
    while (again := "".join(_fold_once(c) for c in folded)) != folded:
        folded = again
    return folded


def _fold_tables() -> tuple[list[str], re.Pattern, re.Pattern]:
    """The one-for-one folds of the Basic Multilingual Plane as a `str.translate` table, a
    pattern of the characters of the BMP that fold to nothing (taken out in one pass: a hostile
    body is a million of them), and one of the characters folded one by one (with a map back):
    those of the BMP whose fold is more than one character, and every character beyond the BMP
    — rare in text, mostly unassigned, and a regular expression with their thousand ranges would
    test each character of every text against all of them.

    The table is a list with an entry for every character of the BMP, not a dict of those that
    change: `str.translate` looks each character up, and a dict's miss (most characters) costs
    an exception raised and caught inside it, 2.5 times the time of the whole lookup in a list.
    Characters beyond it (only those a fold produced are left) are not in the list: kept."""
    table, removed, expanded = [chr(code) for code in range(0x10000)], [], []
    for code in range(0x10000):
        char = chr(code)
        category = unicodedata.category(char)
        if category == "Cn" or category in ("Co", "Cs"):
            removed.append(code)  # unassigned and private: removed, checked without computing
            continue
        if category.startswith("L") and not unicodedata.decomposition(char) and char.casefold() == char:
            if char not in _VARIANTS and char not in _BLANKS:
                continue  # the bulk of letters and ideographs: their own canonical form
        folded = fold_char(char)
        if not folded:
            removed.append(code)
        elif len(folded) > 1:
            expanded.append(code)
        elif folded != char:
            table[code] = folded
    return (
        table,
        re.compile(_character_class(removed, beyond="")),
        re.compile(_character_class(expanded, beyond="\U00010000-\U0010ffff")),
    )


def _character_class(codes: list[int], beyond: str) -> str:
    ranges, start = [], None
    for previous, code in zip([None, *codes], codes, strict=False):
        if start is None:
            start = code
        elif code != previous + 1:
            ranges.append((start, previous))
            start = code
    if start is not None:
        ranges.append((start, codes[-1]))
    parts = (re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return "[" + "".join(parts) + beyond + "]+"


_ONE_FOR_ONE, _REMOVED, _EXPANDED = _fold_tables()


class Rewrite:
    """A text made from a source by replacing some of its spans, and the way back: a character
    of the text maps to the source character it came from, or to the whole span it replaced."""

    def __init__(self, source: str, pieces: Iterable[tuple[int, int, str]]):
        """`pieces`: (start, end, replacement) of the source, in order, never overlapping."""
        out, last = [], 0
        self._target_starts: list[int] = []
        self._pieces: list[tuple[int, int, int, int]] = []  # target start, target length, source start, end
        length = 0
        for start, end, replacement in pieces:
            out.append(source[last:start])
            length += start - last
            self._target_starts.append(length)
            self._pieces.append((length, len(replacement), start, end))
            out.append(replacement)
            length += len(replacement)
            last = end
        out.append(source[last:])
        self.text = "".join(out)

    @property
    def unchanged(self) -> bool:
        return not self._pieces

    def source_span(self, index: int) -> tuple[int, int]:
        """The source span character `index` of the text came from."""
        n = bisect_right(self._target_starts, index) - 1
        if n < 0:
            return index, index + 1
        target, length, start, end = self._pieces[n]
        if index < target + length:
            return start, end
        source = end + index - target - length
        return source, source + 1


class Removal(Rewrite):
    """The source with every match of `pattern` taken out: the text made in one pass, the way
    back only when first asked for. A hostile text has a million matches, and most forms are
    never asked about: a Python step per match, to map what no finding needs, was most of the
    time of a body of bidirectional controls."""

    def __init__(self, source: str, pattern: re.Pattern):
        self._source, self._pattern = source, pattern
        self.text, self._removed = pattern.subn("", source)

    @property
    def unchanged(self) -> bool:
        return not self._removed

    @cached_property
    def _spans(self) -> list[tuple[int, int]]:
        if not self._removed:
            return []  # nothing to find again (most texts: no format characters, no bold)
        return [m.span() for m in self._pattern.finditer(self._source)]

    @cached_property
    def _target_starts(self) -> list[int]:
        removed_before = accumulate((end - start for start, end in self._spans), initial=0)
        return [start - r for (start, _), r in zip(self._spans, removed_before, strict=False)]

    @cached_property
    def _pieces(self) -> list[tuple[int, int, int, int]]:
        return [(t, 0, s, e) for t, (s, e) in zip(self._target_starts, self._spans, strict=True)]


def rewrite(source: str, pattern: re.Pattern, replace: Callable[[re.Match], str]) -> Rewrite:
    return Rewrite(source, ((m.start(), m.end(), replace(m)) for m in pattern.finditer(source)))


class Alignment:
    """The way back from a rendered text (Markdown to what a reader sees) to its source: each
    rendered character is found in order in the source, as itself or as the entity it was
    written as; what the renderer dropped (markup, link targets) is skipped over. A run of text
    the renderer left as it was maps back whole. Computed the first time it is asked, and only
    within the block (paragraph, list item, cell…) asked about, from where the renderer says
    the block starts: a finding at the end of a long body costs its block, not the whole body."""

    WINDOW = 512  # how far ahead a character is looked for: markup between two is never longer
    LONGEST_RUN = 4096

    def __init__(self, rendered: str, source: str, blocks: list[tuple[int, int, int]]):
        """`blocks`: (offset in `rendered`, line and byte column in `source`) of each block."""
        self.rendered, self.source = rendered, source
        self._blocks = blocks
        self._block_starts = [at for at, _, _ in blocks]
        self._block: int | None = None  # the block the pieces are of
        self._starts: list[int] = []  # rendered start of each piece
        self._pieces: list[tuple[int, int, bool]] = []  # source start, end, verbatim
        self._rendered_at = self._source_at = self._entity = 0

    def source_span(self, index: int) -> tuple[int, int]:
        block = bisect_right(self._block_starts, index) - 1
        if block != self._block:
            self._enter(block)
        while self._rendered_at <= index:
            self._next_piece()
        n = bisect_right(self._starts, index) - 1
        start, end, verbatim = self._pieces[n]
        if verbatim:
            at = start + index - self._starts[n]
            return at, at + 1
        return start, end

    @cached_property
    def _entities(self) -> list[tuple[int, int, str]]:
        return [(m.start(), m.end(), html.unescape(m.group())) for m in _ENTITY.finditer(self.source)]

    @cached_property
    def _line_starts(self) -> list[int]:
        # lines and their ends alternate in the split: every other sum of lengths is a start
        return list(accumulate(map(len, _LINE_END.split(self.source)), initial=0))[::2]

    def _enter(self, block: int) -> None:
        self._block, self._starts, self._pieces = block, [], []
        if block < 0:  # before the first block
            self._rendered_at = self._source_at = 0
        else:
            at, line, column = self._blocks[block]
            self._rendered_at, self._source_at = at, self._source_offset(line, column)
        self._entity = bisect_left(self._entities, (self._source_at,))

    def _source_offset(self, line: int, column: int) -> int:
        """The source offset of a line (cmark's: ended by LF, CR or CR LF) and byte column."""
        start = self._line_starts[min(line, len(self._line_starts)) - 1]
        head = self.source[start : start + column - 1].encode()[: column - 1]
        return start + len(head.decode(errors="ignore"))

    def _piece(self, length: int, start: int, end: int, verbatim: bool) -> None:
        self._starts.append(self._rendered_at)
        self._pieces.append((start, end, verbatim))
        self._rendered_at += length
        if end > start:
            self._source_at = end

    def _next_piece(self) -> None:
        at, char = self._source_at, self.rendered[self._rendered_at]
        if char.isspace():
            return self._piece(1, at, at, False)  # line breaks the renderer made: zero width
        found = self.source.find(char, at, at + self.WINDOW)
        while self._entity < len(self._entities) and self._entities[self._entity][0] < at:
            self._entity += 1
        next_entity = len(self.source)
        if self._entity < len(self._entities):
            start, end, decoded = self._entities[self._entity]
            if decoded == char and (found < 0 or start < found) and start < at + self.WINDOW:
                return self._piece(1, start, end, False)
            next_entity = start
        if found < 0:
            return self._piece(1, at, at, False)  # not in the source nearby: zero width
        length = self._verbatim_run(found, next_entity if next_entity > found else len(self.source))
        self._piece(length, found, found + length, True)

    def _verbatim_run(self, found: int, limit: int) -> int:
        """How many characters from here are the source's from `found` on, up to `limit`:
        doubling while they agree, then halving between (a few comparisons of slices as long as
        the run itself: a run between two pieces of markup is short, and slicing thousands of
        characters for each of them was most of a Markdown body's screening)."""
        rendered, source, at = self.rendered, self.source, self._rendered_at
        most = min(self.LONGEST_RUN, len(rendered) - at, limit - found)
        low, step = 1, 1  # the first `low` characters agree
        while low < most:
            probe = min(low + step, most)
            if not source.startswith(rendered[at + low : at + probe], found + low):
                break
            low, step = probe, step * 2
        else:
            return low
        high = min(low + step, most) - 1  # the first `high + 1` do not all agree
        while low < high:
            middle = (low + high + 1) // 2
            if source.startswith(rendered[at + low : at + middle], found + low):
                low = middle
            else:
                high = middle - 1
        return low


class Reversal:
    """A text read in reverse, as a right-to-left override shows it, and the way back."""

    def __init__(self, source: str):
        self.source, self.rendered = source, source[::-1]

    def source_span(self, index: int) -> tuple[int, int]:
        at = len(self.source) - 1 - index
        return at, at + 1


class Reordering:
    """A text with its pieces put in another order, some of them reversed (as a bidirectional
    layout shows them), and the way back. Built and mapped a piece at a time, not a character
    at a time: a hostile body is a million characters in a few hundred thousand pieces."""

    def __init__(self, source: str, pieces: list[tuple[int, int, bool]], shown: list[str]):
        """`pieces`: (start, end, reversed) of the source, in the order they are shown;
        `shown`: each as it is shown."""
        self.source, self._pieces = source, pieces
        self.rendered = "".join(shown)
        self._starts = list(accumulate(map(len, shown), initial=0))

    def source_span(self, index: int) -> tuple[int, int]:
        n = bisect_right(self._starts, index) - 1
        start, end, turned = self._pieces[n]
        at = end - 1 - (index - self._starts[n]) if turned else start + index - self._starts[n]
        return at, at + 1


Backmap = Rewrite | Alignment | Reversal | Reordering


@dataclass
class Canonical:
    """One form of a field, folded: `visible` keeps white space (numbers are matched in it),
    `compact` has none (markings and listed words are matched in it, since real text breaks
    them with spaces and line breaks)."""

    raw: str
    visible: str
    compact: str
    _to_raw: list[Backmap]  # visible → … → raw, innermost last
    _compact: Rewrite

    def raw_span(self, start: int, end: int, compact: bool = False) -> tuple[int, int]:
        """Where [start, end) of the visible (or compact) text stands in the raw text."""
        if end <= start:
            return (s := self._raw_index(start, compact)[0]), s
        # The hull of the match's characters in the raw text: a reordered form (reversed, or in
        # display order) may have them in another order there, its ends anywhere among them.
        # Every character of a match of a reordered form (a marking is short; a longer match
        # only by its ends, so that a hostile 100,000-character address costs nothing).
        reordered = any(isinstance(b, Reversal | Reordering) for b in self._to_raw)
        inner = range(start, end) if reordered and end - start <= 256 else (start, end - 1)
        spans = [self._raw_index(i, compact) for i in inner]
        return min(s for s, _ in spans), max(e for _, e in spans)

    def _raw_index(self, index: int, compact: bool) -> tuple[int, int]:
        first, last = self._compact.source_span(index) if compact else (index, index + 1)
        for backmap in self._to_raw:
            first = backmap.source_span(first)[0] if first < _length(backmap) else _end(backmap)
            last = backmap.source_span(last - 1)[1] if last > 0 else 0
        return first, max(first, last)


def _length(backmap: Backmap) -> int:
    return len(backmap.text) if isinstance(backmap, Rewrite) else len(backmap.rendered)


def _end(backmap: Backmap) -> int:
    return (
        len(backmap.source)
        if not isinstance(backmap, Rewrite)
        else backmap.source_span(_length(backmap) - 1)[1]
    )


_SPACES = re.compile(" +")


def canonical(raw: str, form: str, backmaps: list[Backmap]) -> Canonical:
    """Fold `form` (raw itself, or a form made of it through `backmaps`)."""
    removed = Removal(form, _REMOVED)
    expanded = rewrite(removed.text, _EXPANDED, lambda m: "".join(map(fold_char, m.group())))
    visible = expanded.text.translate(_ONE_FOR_ONE)
    compact = Removal(visible, _SPACES)
    # A step that changed nothing is left out of the way back (most do, in ordinary text): each
    # finding is mapped through every step, twice.
    steps = [b for b in (expanded, removed, *backmaps) if not (isinstance(b, Rewrite) and b.unchanged)]
    return Canonical(raw, visible, compact.text, steps, compact)


# ---- the forms a reader may see -------------------------------------------------------------

_LINE_END = re.compile(r"(\r\n?|\n)")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};?)")
_MARKDOWN_BOLD = re.compile(r"\*\*")  # emphasis, not a pair of stars (`**机密**` is no marking)
# Markup an HTML renderer hides: comments, and tags. `[^<>]` keeps the scan linear: a `<` never
# starts a search that runs to the end of the text.
_TAG = re.compile(r"<[A-Za-z/?!][^<>]*>")
_HIDDEN_ELEMENTS = re.compile(r"<(script|style|template)\b[^<>]*>", re.IGNORECASE)


def _written(raw: str) -> tuple[str, list[Backmap]]:
    bold = Removal(raw, _MARKDOWN_BOLD)
    return bold.text, [bold]


def as_written(raw: str) -> Canonical:
    return canonical(raw, *_written(raw))


def _decoded(raw: str) -> tuple[str, list[Backmap]]:
    decoded = rewrite(raw, _ENTITY, lambda m: html.unescape(m.group()))
    bold = Removal(decoded.text, _MARKDOWN_BOLD)
    return bold.text, [bold, decoded]


def _hidden_markup(text: str) -> Iterable[tuple[int, int, str]]:
    """Comments, hidden elements with their content, and tags, as (start, end, "") in order."""
    lowered, at = text.lower(), 0
    while (start := text.find("<", at)) >= 0:
        if text.startswith("<!--", start):
            close = text.find("-->", start + 4)
            end = len(text) if close < 0 else close + 3
        elif hidden := _HIDDEN_ELEMENTS.match(text, start):
            close = lowered.find(f"</{hidden.group(1).lower()}", hidden.end())
            end = len(text) if close < 0 else (lowered.find(">", close) + 1 or len(text))
        elif tag := _TAG.match(text, start):
            end = tag.end()
        else:
            at = start + 1
            continue
        yield start, end, ""
        at = end


def _untagged(raw: str) -> tuple[str, list[Backmap]]:
    untagged = Rewrite(raw, _hidden_markup(raw))
    decoded = rewrite(untagged.text, _ENTITY, lambda m: html.unescape(m.group()))
    return decoded.text, [decoded, untagged]


def _rendered(raw: str) -> tuple[str, list[Backmap]]:
    text, blocks = shown(raw)
    return text, [Alignment(text, raw, blocks)]


# Controls that make a browser draw what follows from right to left, mirrored: `\u202e年1★密秘`
# is seen as 秘密★1年.
_RIGHT_TO_LEFT = re.compile("[\u200f\u061c\u202b\u202e\u2067]")


class _CodeSet:
    """A set of code points matched in linear time, fast on text that is mostly outside it.
    A character class spanning the planes is slow: the engine tests a character outside it (every
    Chinese character, here) against each of its ranges beyond the BMP one by one (1.3 ms for
    10 KB). So the BMP part is one class (a table lookup), and the part beyond the BMP is only
    tried where the text has characters beyond the BMP."""

    def __init__(self, codes: list[int]):
        basic = _character_class([c for c in codes if c < 0x10000], beyond="")[:-1]
        beyond = _character_class([c for c in codes if c >= 0x10000], beyond="")[:-1]
        self._first = re.compile(basic[:-1] + "\U00010000-\U0010ffff]")  # or beyond the BMP
        self._basic, self._beyond = re.compile(basic), re.compile(beyond)
        # A run of either: the part beyond the BMP behind a look-ahead that fails at once on
        # every other character; possessive, so that a run is never given back.
        self.run = re.compile(f"(?:{basic}++|(?=[\U00010000-\U0010ffff]){beyond}++)++")

    def search(self, text: str, start: int = 0, end: int = sys.maxsize) -> bool:
        """Whether text[start:end] has one of the set (one scan, unless it has characters
        beyond the BMP)."""
        first = self._first.search(text, start, end)
        if first is None or first.group() < "\U00010000":
            return first is not None
        at = first.start()
        return bool(self._basic.search(text, at, end) or self._beyond.search(text, at, end))

    def in_each(self, texts: list[str]) -> list[bool]:
        """`search` of each text, the scans run by one `map` (the Python step only for a text
        whose first candidate is beyond the BMP)."""
        firsts = map(self._first.search, texts)
        return [
            f is not None and (f.group() < "\U00010000" or self.search(t))
            for f, t in zip(firsts, texts, strict=True)
        ]


def _bidi_classes() -> tuple[_CodeSet, re.Pattern]:
    """Characters that make a layout right-to-left (right-to-left letters, marks, embeddings and
    isolates), and runs of left-to-right letters (Chinese among them)."""
    opening, letters = [], []
    for code in range(0x110000):
        kind = unicodedata.bidirectional(chr(code))
        if kind in ("R", "AL", "RLE", "RLO", "RLI", "FSI"):
            opening.append(code)
        elif kind == "L" and not 0xD800 <= code <= 0xDFFF:
            letters.append(code)
    return _CodeSet(opening), re.compile(f"({_CodeSet(letters).run.pattern})")  # split keeps the runs


_OPENS_RIGHT_TO_LEFT, _LEFT_TO_RIGHT_RUN = _bidi_classes()


def _in_display_order(text: str) -> list[tuple[list[tuple[int, int, bool]], list[str]]]:
    """What the Unicode Bidirectional Algorithm may make of a text with right-to-left in it, as
    two orders of its pieces (Reordering's). Beside right-to-left characters, the punctuation,
    stars and digits between runs of letters are drawn reversed (`秘密\u200f，★\u200f` shows
    秘密★，); inside a right-to-left embedding or isolate, the runs of left-to-right letters
    themselves are drawn in reverse order (`\u202b★秘密\u202c` shows 秘密★). Each is
    over-generous where the algorithm would leave a run alone, never blind where it moves one.
    Linear."""
    # Runs of other characters and of letters, alternately (the first and last maybe empty),
    # split and measured without a Python step per run: a hostile body has hundreds of thousands.
    parts = _LEFT_TO_RIGHT_RUN.split(text)
    bounds = list(accumulate(map(len, parts), initial=0))
    others = [True, False] * (len(parts) // 2 + 1)  # which parts are not letters
    turned = [False] * len(parts)
    turned[0::2] = _OPENS_RIGHT_TO_LEFT.in_each(parts[0::2])
    beside = list(zip(bounds, bounds[1:], turned, strict=False))
    embedded = list(zip(bounds, bounds[1:], others, strict=False))[::-1]
    # each part as it is shown, picked from it and its reverse by map, not by a Python step
    both = list(zip(parts, map(getitem, parts, repeat(slice(None, None, -1))), strict=True))
    return [
        (beside, list(map(getitem, both, turned))),
        (embedded, list(map(getitem, both, others))[::-1]),
    ]


def forms(raw: str, markdown: bool) -> list[Canonical]:
    """Every form of a field a reader may see; those that cannot differ from the text as
    written are left out. Right-to-left characters add each form as a layout may order it (in
    each form: an entity `&#x202e;` turns text backwards as the character does)."""
    bases = [_written(raw)]
    if "&" in raw:
        bases.append(_decoded(raw))
    if "<" in raw:
        bases.append(_untagged(raw))
    if markdown and not shows_as_written(raw):
        bases.append(_rendered(raw))
    found = [canonical(raw, text, backmaps) for text, backmaps in bases]
    for text, backmaps in bases:
        if not _OPENS_RIGHT_TO_LEFT.search(text):
            continue  # no right-to-left in it (the characters that turn text backwards among them)
        if _RIGHT_TO_LEFT.search(text):
            reversal = Reversal(text)
            found.append(canonical(raw, reversal.rendered, [reversal, *backmaps]))
        for order, drawn in _in_display_order(text):
            reordering = Reordering(text, order, drawn)
            found.append(canonical(raw, reordering.rendered, [reordering, *backmaps]))
    return found
