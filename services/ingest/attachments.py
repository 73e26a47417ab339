"""Attachments, pure: what a file is, judged by its content and never by its name, and the text
that can be read of it, so that a marking inside an attachment blocks its item like one in the
body. What cannot be read (an image, a damaged or encrypted file, text beyond the limit) is
said, so that a reviewer looks at it."""

import io
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from services.ingest.domain import CONTROL_CHARACTERS

MAX_BYTES = 20 * 1024 * 1024  # each file
MAX_TEXT_CHARS = 200_000  # read of each file: the rest waits for a reviewer's eyes
# Read of all of one item's files together: the item's text travels in its documents and events
# (twice in one document with its staged event), which must stay under 16 MB with a full body.
MAX_TEXT_CHARS_PER_ITEM = 600_000
MAX_XML_BYTES = 50 * 1024 * 1024  # an office file's part, uncompressed: beyond it, a zip bomb

PDF, DOCX, XLSX = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
JPEG, PNG = "image/jpeg", "image/png"
ACCEPTED = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX", JPEG: "JPEG", PNG: "PNG"}
_OFFICE_PARTS = {DOCX: "word/document.xml", XLSX: "xl/workbook.xml"}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


class AttachmentRefused(ValueError):
    """A file that is not accepted, with the reason a clerk can act on."""


def media_type_of(data: bytes) -> str:
    """The file's type from its first bytes (and, for office files, the parts inside)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile as error:
            raise AttachmentRefused("a damaged ZIP archive, neither DOCX nor XLSX") from error
        for media_type, part in _OFFICE_PARTS.items():
            if part in names:
                return media_type
        raise AttachmentRefused("a ZIP archive, but neither a DOCX nor an XLSX document")
    raise AttachmentRefused(f"not one of {', '.join(ACCEPTED.values())} (judged by its content)")


def check_size(size: int) -> None:
    if size == 0:
        raise AttachmentRefused("empty")
    if size > MAX_BYTES:
        raise AttachmentRefused(f"{size:,} bytes; at most {MAX_BYTES:,} are accepted")


@dataclass(frozen=True)
class ReadText:
    text: str
    unread: str | None = None  # why (some of) the file could not be read


def read_text(data: bytes, media_type: str) -> ReadText:
    """The text of a PDF, DOCX or XLSX, up to MAX_TEXT_CHARS; for anything else, why not."""
    try:
        match media_type:
            case "application/pdf":
                text = _pdf_text(data)
            case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
                text = _docx_text(data)
            case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                text = _xlsx_text(data)
            case _:
                return ReadText("", "图片附件无法自动审查文字，请人工查看")
    except (PyPdfError, zipfile.BadZipFile, ElementTree.ParseError, KeyError, ValueError, _TooLarge) as error:
        return ReadText("", f"附件文字无法读取（{type(error).__name__}），请人工查看")
    if len(text) > MAX_TEXT_CHARS:
        return ReadText(
            text[:MAX_TEXT_CHARS],
            f"附件文字超过{MAX_TEXT_CHARS}字，仅自动审查了前{MAX_TEXT_CHARS}字，请人工查看其余部分",
        )
    if not text.strip():
        return ReadText("", "附件中没有可读取的文字（可能是扫描件），请人工查看")
    return ReadText(text)


def within_item_budget(texts: list[str]) -> list[tuple[str, str | None]]:
    """Each file's text cut to what is left of the item's budget, with why where it was cut."""
    left, kept = MAX_TEXT_CHARS_PER_ITEM, []
    for text in texts:
        cut = text[: max(left, 0)]
        left -= len(cut)
        note = (
            None
            if cut == text
            else f"本事项附件文字合计超过{MAX_TEXT_CHARS_PER_ITEM}字，此附件有未自动审查的部分，请人工查看"
        )
        kept.append((cut, note))
    return kept


class _TooLarge(Exception):
    pass


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("encrypted")
    pages, length = [], 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        length += len(pages[-1])
        if length > MAX_TEXT_CHARS:
            break
    return _clean("\n".join(pages))


def _xml_part(data: bytes, name: str) -> ElementTree.Element:
    archive = zipfile.ZipFile(io.BytesIO(data))
    if archive.getinfo(name).file_size > MAX_XML_BYTES:
        raise _TooLarge(name)
    return ElementTree.fromstring(archive.read(name))


def _docx_text(data: bytes) -> str:
    body = _xml_part(data, "word/document.xml")
    paragraphs = ("".join(t.text or "" for t in p.iter(f"{_W}t")) for p in body.iter(f"{_W}p"))
    return _clean("\n".join(paragraphs))


def _xlsx_text(data: bytes) -> str:
    """The workbook's shared strings: where a spreadsheet keeps its text cells."""
    try:
        strings = _xml_part(data, "xl/sharedStrings.xml")
    except KeyError:
        return ""
    cells = ("".join(t.text or "" for t in si.iter(f"{_S}t")) for si in strings.iter(f"{_S}si"))
    return _clean("\n".join(cells))


def _clean(text: str) -> str:
    """No NUL or other control characters reach storage (they break it), line breaks stay."""
    return CONTROL_CHARACTERS.sub(" ", text)


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_filename(name: str | None) -> str:
    """The name the clerk gave, without paths or control characters, for display only."""
    cleaned = _UNSAFE_NAME.sub("_", (name or "").strip())[-120:]
    return cleaned or "附件"
