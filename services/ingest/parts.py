"""What is read of a file, part by part, pure: the limits a hostile file is read within, the
collector every reader writes its text into, and the fair cut of parts to a text budget."""

import re
from dataclasses import dataclass, field

from shared.domain import CONTROL_CHARACTERS
from shared.domain import AttachmentPartKind as Kind

MAX_TEXT_CHARS = 200_000  # read of each file: the rest waits for a reviewer's eyes
# Read of all of one item's files together: the item's text travels in its documents and events
# (twice in one document with its staged event), which must stay under 16 MB with a full body.
MAX_TEXT_CHARS_PER_ITEM = 600_000
_SURROGATES = re.compile("[\ud800-\udfff]")  # a PDF's broken strings: storage refuses them


@dataclass(frozen=True)
class Limits:
    """How much of an untrusted file is read before it is refused or left unread."""

    max_entries: int = 2_000  # entries of an office file's ZIP archive
    max_uncompressed_bytes: int = 200 * 2**20  # all of its entries together, uncompressed
    max_ratio: int = 200  # uncompressed to compressed, for an entry of more than RATIO_FROM bytes
    max_pdf_pages: int = 2_000
    max_pdf_objects: int = 500_000
    max_text_chars: int = MAX_TEXT_CHARS
    max_depth: int = 1  # documents inside documents that are read (a chart's workbook in a DOCX)


RATIO_FROM = 1 * 2**20  # small entries may compress very well without being a bomb


@dataclass(frozen=True)
class ReadFile:
    """What was read of one file: its parts' text by kind, and why a reviewer must look at it."""

    parts: tuple[tuple[Kind, str], ...] = ()
    unread: str | None = None  # a note for the whole file (an image, text beyond the budget)

    def text_chars(self) -> int:
        return sum(len(text) for _, text in self.parts)


class Texts:
    """The text found in a file, collected by kind as a reader meets it, each kind within the
    file's budget (so a hostile file cannot make the reader hold more), what lies beyond counted."""

    def __init__(self, cap: int):
        self.cap = cap
        self._chunks: dict[Kind, list[str]] = {}
        self._lengths: dict[Kind, int] = {}
        self.beyond = 0  # characters found beyond the cap, not kept
        self._seen: set[str] = set()  # the values met in attributes (read once each)
        self._unread: list[str] = []

    def add(self, kind: Kind, text: str) -> None:
        if not text:
            return
        room = self.cap - self._lengths.get(kind, 0)
        if len(text) > room:
            self.beyond += len(text) - max(room, 0)
            text = text[: max(room, 0)]
            if not text:
                return
        self._chunks.setdefault(kind, []).append(text)
        self._lengths[kind] = self._lengths.get(kind, 0) + len(text)

    def line(self, kind: Kind) -> None:
        """End the line of `kind`'s text (a paragraph, a cell): only for the reviewer's eyes, as
        markings are matched with white space removed."""
        chunks = self._chunks.get(kind)
        if chunks and not chunks[-1].endswith("\n"):
            self.add(kind, "\n")

    def once(self, kind: Kind, text: str) -> None:
        """A value met many times (an attribute, a font name) is read once."""
        if text and text not in self._seen and len(self._seen) < self.cap:
            self._seen.add(text)
            self.add(kind, text)
            self.line(kind)

    def first_time(self, thing: object) -> bool:
        """Whether an object (of the reader's own) is met for the first time in this file."""
        key = f"\0{id(thing)}"  # no attribute value has a NUL: the two kinds of key never meet
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def full(self, kind: Kind) -> bool:
        return self._lengths.get(kind, 0) >= self.cap

    def unread(self, what: str) -> None:
        """Something in the file that could not be read: said, so that screening blocks it."""
        if len(self._unread) < 100:
            self._unread.append(what)
        elif len(self._unread) == 100:
            self._unread.append("……")

    def merge(self, read: ReadFile, kind: Kind, where: str) -> None:
        """A document found inside this one, read: its text as `kind`, what it left unread kept."""
        for part_kind, text in read.parts:
            if part_kind == Kind.UNREAD:
                self.unread(f"{where}：{text}")
            else:
                self.add(kind, text)
                self.line(kind)
        if read.unread:
            self.unread(f"{where}：{read.unread}")

    def result(self, note: str | None = None) -> ReadFile:
        texts = {kind: clean("".join(chunks)).strip() for kind, chunks in self._chunks.items()}
        if self._unread:
            texts[Kind.UNREAD] = "；".join(self._unread)
        parts = [(kind, text) for kind, text in texts.items() if text]
        kept = fair_cut([text for _, text in parts], self.cap)
        cut = self.beyond or any(len(k) < len(t) for k, (_, t) in zip(kept, parts, strict=True))
        parts = [(kind, text) for (kind, _), text in zip(parts, kept, strict=True) if text]
        if cut:
            note = note or (
                f"附件文字超过{self.cap}字，仅自动审查了各部分的前{self.cap}字以内，请人工查看其余部分"
            )
        elif not parts:
            note = note or "附件中没有可读取的文字（可能是扫描件），请人工查看"
        return ReadFile(tuple(parts), note)


def clean(text: str) -> str:
    """No NUL or other control characters reach storage (they break it), line breaks stay."""
    return _SURROGATES.sub(" ", CONTROL_CHARACTERS.sub(" ", text))


def fair_caps(lengths: list[int], budget: int) -> list[int]:
    """How much of each text a budget keeps, fairly: short texts whole, the budget left shared
    equally by the long ones. So a marking in a short part (a footnote, a header) is never cut
    away by a long body beside it."""
    caps = [0] * len(lengths)
    left, waiting = budget, len(lengths)
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        caps[index] = min(lengths[index], left // waiting) if waiting else 0
        left -= caps[index]
        waiting -= 1
    return caps


def fair_cut(texts: list[str], budget: int) -> list[str]:
    return [text[:cap] for text, cap in zip(texts, fair_caps([len(t) for t in texts], budget), strict=True)]


@dataclass
class _Budgeted:
    parts: list[tuple[Kind, str]] = field(default_factory=list)
    cut: bool = False


def within_item_budget(files: list[list[tuple[Kind, str]]], budget: int = MAX_TEXT_CHARS_PER_ITEM):
    """Each file's parts cut fairly to the item's budget, and for each file whether it was cut.
    What says a part went unread is never cut: it is what blocks the item."""
    flat = [(n, kind, text) for n, parts in enumerate(files) for kind, text in parts]
    kept = fair_cut([text for _, kind, text in flat if kind != Kind.UNREAD], budget)
    out = [_Budgeted() for _ in files]
    cut_texts = iter(kept)
    for n, kind, text in flat:
        kept_text = text if kind == Kind.UNREAD else next(cut_texts)
        out[n].cut |= len(kept_text) < len(text)
        if kept_text:
            out[n].parts.append((kind, kept_text))
    return [(b.parts, b.cut) for b in out]
