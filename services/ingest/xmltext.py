"""The text of an untrusted XML part, streamed through expat, read by a profile that says which
elements and attributes carry text of which kind.

Safe by construction: a document type declaration (where entity bombs and external entities
live) is refused outright, so no entity is ever expanded; the input is fed in chunks and counted,
so memory stays bounded whatever the part's header claims. Elements are known by their local name
alone, so a renamed namespace prefix (or Strict OOXML's other namespaces) hides nothing."""

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from xml.parsers import expat

from services.ingest.parts import Texts
from shared.domain import AttachmentPartKind as Kind

CHUNK = 64 * 1024
CONTEXT = object()  # "of the kind of the element it is in"


class XmlRefused(ValueError):
    """A part that is not read: a DTD in it, or more bytes than it may have."""


@dataclass(frozen=True)
class Profile:
    """How one kind of XML part carries its text."""

    base: Kind | None  # the kind of its text; None: only what `text` and `attributes` name
    # Elements whose character data is text: of a kind of their own, or of the context's.
    text: dict[str, Kind | object] = field(default_factory=dict)
    all_text: bool = False  # every element's character data is text (metadata, custom XML)
    # Elements whose whole content is of another kind (a text box inside the body).
    contexts: dict[str, Kind] = field(default_factory=dict)
    # (element, attribute) whose value is text: of a kind of its own, or of the context's.
    attributes: dict[tuple[str, str], Kind | object] = field(default_factory=dict)
    breaks: frozenset[str] = frozenset()  # elements that end a line (paragraphs, cells)
    skip: tuple[str, str, str] | None = None  # (element, attribute, value): content not text
    rewrite: dict[Kind, Callable[[str], str]] = field(default_factory=dict)  # text as a reader sees it


def read_xml(chunks: Iterable[bytes], profile: Profile, texts: Texts, max_bytes: int) -> int:
    """Read one part into `texts`; returns the bytes it had. Raises XmlRefused, expat.ExpatError."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    reading = _Reading(profile, texts)
    parser.StartElementHandler = reading.start
    parser.EndElementHandler = reading.end
    parser.CharacterDataHandler = reading.characters
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise XmlRefused(f"more than {max_bytes:,} bytes")
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return size


def _refuse_dtd(*_args) -> None:
    raise XmlRefused("a document type declaration (entities are never expanded)")


def _local(name: str) -> str:
    return name.rpartition(" ")[2]


class _Reading:
    """One pass over one part: a stack of (context kind, kind of the element's character data,
    whether the element is skipped)."""

    def __init__(self, profile: Profile, texts: Texts):
        self.profile, self.texts = profile, texts
        self.stack: list[tuple[Kind | None, Kind | None, bool]] = [(profile.base, None, False)]

    def start(self, name: str, attributes: dict[str, str]) -> None:
        profile, local = self.profile, _local(name)
        kind, _, skipped = self.stack[-1]
        if profile.skip and local == profile.skip[0] and attributes.get(profile.skip[1]) == profile.skip[2]:
            skipped = True
        elif local in profile.contexts and kind is not None:
            kind = profile.contexts[local]
        for attribute, value in attributes.items():
            self._attribute(local, _local(attribute), value, kind)
        of_text = profile.text.get(local, CONTEXT if profile.all_text else None)
        if of_text is CONTEXT:
            of_text = kind
        self.stack.append((kind, None if skipped else of_text, skipped))

    def _attribute(self, element: str, attribute: str, value: str, kind: Kind | None) -> None:
        target = self.profile.attributes.get((element, attribute))
        if target is not None:
            target = kind if target is CONTEXT else target
            if target is not None:
                self.texts.add(target, value)
                self.texts.line(target)
        elif not value.isascii():
            # A value no rule names but a reader may see (an object's name, a style's name…):
            # read once, since the same font name may stand on every run of the document.
            self.texts.once(Kind.OTHER, value)

    def characters(self, data: str) -> None:
        of_text = self.stack[-1][1]
        if of_text is not None:
            rewrite = self.profile.rewrite.get(of_text)
            self.texts.add(of_text, rewrite(data) if rewrite else data)

    def end(self, name: str) -> None:
        kind, of_text, _ = self.stack.pop()
        if _local(name) in self.profile.breaks or self.profile.all_text:
            target = of_text or kind
            if target is not None:
                self.texts.line(target)


_TAG = re.compile(r"<[^<>]*>")


def tags_removed(data: bytes) -> str:
    """The text of a part that is not well-formed XML (legacy VML is often not): what a lenient
    reader would show, read rather than dropped."""
    return html.unescape(_TAG.sub(" ", data.decode("utf-8", "replace")))
