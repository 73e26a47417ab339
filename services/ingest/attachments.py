"""Attachments, pure: what a file is, judged by its content and never by its name, and every part
of it that a reader could see, read as text of its kind (office.py, pdfs.py), so that a marking
anywhere inside an attachment blocks its item like one in the body. What cannot be read is said:
an image, a damaged file or text beyond the budget for a reviewer's eyes; content inside a file
that could not be read at all (an OLE object, an attached file) as an `unread` part, which
screening blocks."""

import io
import re
import zipfile

from services.ingest import office, pdfs
from services.ingest.parts import (
    MAX_TEXT_CHARS,
    MAX_TEXT_CHARS_PER_ITEM,
    Limits,
    ReadFile,
    Texts,
    fair_caps,
    within_item_budget,
)
from services.ingest.xmltext import XmlRefused
from shared.domain import AttachmentPartKind as Kind

__all__ = [
    "ITEM_BUDGET_NOTE",
    "MAX_TEXT_CHARS",
    "MAX_TEXT_CHARS_PER_ITEM",
    "Limits",
    "ReadFile",
    "fair_caps",
    "within_item_budget",
]

MAX_BYTES = 20 * 1024 * 1024  # each file
ITEM_BUDGET_NOTE = f"本事项附件文字合计超过{MAX_TEXT_CHARS_PER_ITEM}字，此附件有未自动审查的部分，请人工查看"

PDF, DOCX, XLSX = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
JPEG, PNG = "image/jpeg", "image/png"
ACCEPTED = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX", JPEG: "JPEG", PNG: "PNG"}
_OFFICE_PARTS = {DOCX: "word/document.xml", XLSX: "xl/workbook.xml"}


class AttachmentRefused(ValueError):
    """A file that is not accepted, with the reason a clerk can act on."""


def media_type_of(data: bytes, limits: Limits = Limits()) -> str:
    """The file's type from its first bytes (and, for office files, the parts inside). An office
    file whose archive would take too much to read (a zip bomb) is refused here, before reading."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            names = set(archive.namelist())
            office.check_archive(archive, len(data), limits)
        except zipfile.BadZipFile as error:
            raise AttachmentRefused("a damaged ZIP archive, neither DOCX nor XLSX") from error
        except office.ArchiveRefused as error:
            raise AttachmentRefused(str(error)) from error
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


def read_parts(data: bytes, media_type: str, limits: Limits = Limits(), depth: int = 0) -> ReadFile:
    """Every part of a PDF, DOCX or XLSX that carries text, each up to the file's budget; for an
    image, why it is not read. Pure and bounded by `limits`; run it in a worker (reader.py)."""
    if media_type not in (PDF, DOCX, XLSX):
        return ReadFile((), "图片附件无法自动审查文字，请人工查看")
    texts = Texts(limits.max_text_chars)
    try:
        if media_type == PDF:
            pdfs.read_pdf(data, limits, texts)
        else:
            archive = zipfile.ZipFile(io.BytesIO(data))
            office.check_archive(archive, len(data), limits)
            office.read_office(archive, limits, texts, lambda inner: _embedded(inner, limits, depth))
    except (pdfs.PdfRefused, office.ArchiveRefused, XmlRefused) as why:
        texts.unread(f"附件未能读取：{why}")
    except Exception as error:  # a hostile file may fail a parser in any way
        texts.unread(f"附件未能读取（{type(error).__name__}），可能已损坏")
    return texts.result()


def _embedded(data: bytes, limits: Limits, depth: int) -> ReadFile:
    """A document inside a document (a chart's workbook, an attached report): read in turn if it
    is one we read, and not too deep; else unread."""
    if depth >= limits.max_depth:
        return ReadFile(((Kind.UNREAD, "嵌套过深，未读取"),))
    try:
        media_type = media_type_of(data, limits)
    except AttachmentRefused as why:
        return ReadFile(((Kind.UNREAD, f"未能读取：{why}"),))
    return read_parts(data, media_type, limits, depth + 1)


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_filename(name: str | None) -> str:
    """The name the clerk gave, without paths or control characters, for display only."""
    cleaned = _UNSAFE_NAME.sub("_", (name or "").strip())[-120:]
    return cleaned or "附件"
