"""The text of a DOCX or an XLSX, every entry of its archive: a file goes online whole, so what
any reader of it could see is read — the body and its page headers and footers, notes, comments,
tracked changes, field codes, text boxes, alt text, properties; a workbook's strings, formulas,
sheet names (hidden ones too), comments, defined names, charts — each as a part of its kind.

An entry is known by its path; an XML entry of no known path has all its text read (as `other`),
so a part moved elsewhere by its relationships still is. An entry that is not XML is an image (its
text is not read, as in a PDF), a font or printer settings (no text a reader sees), a document
embedded in this one (read in turn, once deep), or else content that could not be read — an OLE
object, macros — said as such, so that screening blocks the file."""

import re
import zipfile
from collections.abc import Callable, Iterator
from xml.parsers import expat

from services.ingest.parts import RATIO_FROM, Limits, ReadFile, Texts
from services.ingest.xmltext import CONTEXT, Profile, XmlRefused, read_xml, tags_removed
from shared.domain import AttachmentPartKind as Kind

_PARAGRAPHS = frozenset({"p", "br", "cr", "tr"})
_OBJECT_TEXT = {  # names and descriptions of pictures, shapes and tables
    ("docPr", "descr"): Kind.ALT_TEXT,
    ("docPr", "title"): Kind.ALT_TEXT,
    ("cNvPr", "descr"): Kind.ALT_TEXT,
    ("cNvPr", "title"): Kind.ALT_TEXT,
    ("shape", "alt"): Kind.ALT_TEXT,
    ("imagedata", "title"): Kind.ALT_TEXT,
    ("tblCaption", "val"): Kind.ALT_TEXT,
    ("tblDescription", "val"): Kind.ALT_TEXT,
    ("textpath", "string"): CONTEXT,  # WordArt, and the watermark a page header draws
}
_WORD_TEXT = {
    "t": CONTEXT,
    "delText": Kind.DELETIONS,
    "instrText": Kind.FIELD_CODES,
    "delInstrText": Kind.DELETIONS,
}
_WORD_ATTRIBUTES = {
    **_OBJECT_TEXT,
    ("fldSimple", "instr"): Kind.FIELD_CODES,
    ("comment", "author"): Kind.COMMENTS,
    ("comment", "initials"): Kind.COMMENTS,
    ("person", "author"): Kind.COMMENTS,
    # Form fields and content controls: their names, help, choices and defaults.
    ("name", "val"): Kind.FORM_FIELDS,
    ("helpText", "val"): Kind.FORM_FIELDS,
    ("statusText", "val"): Kind.FORM_FIELDS,
    ("default", "val"): Kind.FORM_FIELDS,
    ("listEntry", "val"): Kind.FORM_FIELDS,
    ("listItem", "displayText"): Kind.FORM_FIELDS,
    ("listItem", "value"): Kind.FORM_FIELDS,
    ("alias", "val"): Kind.FORM_FIELDS,
    ("tag", "val"): Kind.FORM_FIELDS,
    ("lvlText", "val"): Kind.DOCUMENT,  # list numbering shown before each item ("第%1条")
    ("docVar", "name"): Kind.PROPERTIES,  # document variables, hidden in settings
    ("docVar", "val"): Kind.PROPERTIES,
}
# What the body shows elsewhere than in its paragraphs, and what tracked changes keep.
_BODY_CONTEXTS = {"txbxContent": Kind.TEXT_BOXES, "moveFrom": Kind.DELETIONS}
_NOTE_CONTEXTS = {"moveFrom": Kind.DELETIONS}


def _word(kind: Kind | None, contexts: dict[str, Kind] = _NOTE_CONTEXTS) -> Profile:
    return Profile(kind, _WORD_TEXT, contexts=contexts, attributes=_WORD_ATTRIBUTES, breaks=_PARAGRAPHS)


_DRAWING = Profile(
    Kind.TEXT_BOXES, {"t": CONTEXT, "v": CONTEXT}, attributes=_OBJECT_TEXT, breaks=_PARAGRAPHS | {"pt"}
)
_PROPERTIES = Profile(Kind.PROPERTIES, all_text=True, attributes={("property", "name"): Kind.PROPERTIES})
_ALL_TEXT = Profile(Kind.OTHER, all_text=True)
# Styles, themes, settings: only the few values a reader sees there (and any non-ASCII value).
_QUIET = Profile(
    None,
    attributes={k: _WORD_ATTRIBUTES[k] for k in (("lvlText", "val"), ("docVar", "name"), ("docVar", "val"))},
)
_HEADER_FOOTER = {
    **{name: Kind.HEADERS for name in ("oddHeader", "evenHeader", "firstHeader")},
    **{name: Kind.FOOTERS for name in ("oddFooter", "evenFooter", "firstFooter")},
}
_HEADER_CODES = re.compile(r'&"[^"]*"|&K[0-9A-Fa-f]{6}|&K\d\d[+-]\d{3}|&\d+|&[A-Za-z]')


def _without_header_codes(text: str) -> str:
    return _HEADER_CODES.sub("", text)


_SHEET = Profile(
    Kind.DOCUMENT,
    {
        "t": CONTEXT,
        "v": CONTEXT,
        "f": Kind.FIELD_CODES,
        **_HEADER_FOOTER,
        "formula1": Kind.FORM_FIELDS,
        "formula2": Kind.FORM_FIELDS,
    },
    attributes={
        **{("dataValidation", a): Kind.FORM_FIELDS for a in ("prompt", "promptTitle", "error", "errorTitle")},
        ("hyperlink", "display"): Kind.ANNOTATIONS,
        ("hyperlink", "tooltip"): Kind.ANNOTATIONS,
    },
    breaks=frozenset({"c", "f", "row", *_HEADER_FOOTER}),
    skip=("c", "t", "s"),  # a shared string's number, not text: the text is in sharedStrings
    # A page header's codes (&L, &"宋体,加粗", &12, &K00FF00…) would stand between the characters
    # of a marking: what is read is what the printed header shows.
    rewrite={Kind.HEADERS: _without_header_codes, Kind.FOOTERS: _without_header_codes},
)
_WORKBOOK = Profile(
    None,
    {"definedName": Kind.SHEET_NAMES},
    attributes={("sheet", "name"): Kind.SHEET_NAMES, ("definedName", "name"): Kind.SHEET_NAMES},
    breaks=frozenset({"definedName"}),
)
_CELLS = Profile(Kind.DOCUMENT, {"t": CONTEXT}, breaks=frozenset({"si"}))
_COMMENTS = Profile(
    Kind.COMMENTS,
    {"t": CONTEXT, "author": CONTEXT, "text": CONTEXT},
    breaks=frozenset({"comment", "author", "threadedComment", "p"}),
)
_PERSONS = Profile(None, attributes={("person", "displayName"): Kind.COMMENTS})
_TABLES = Profile(
    None,
    attributes={(e, a): Kind.SHEET_NAMES for e in ("table", "tableColumn") for a in ("name", "displayName")},
)
_PIVOT_CACHE = Profile(None, attributes={("s", "v"): Kind.DOCUMENT, ("cacheField", "name"): Kind.DOCUMENT})

# (path pattern, profile): the first that matches an entry's path (case is ignored) reads it.
_XML_ENTRIES: list[tuple[re.Pattern, Profile]] = [
    (re.compile(p, re.IGNORECASE), profile)
    for p, profile in (
        (r"word/document\d*\.xml", _word(Kind.DOCUMENT, _BODY_CONTEXTS)),
        (r"word/header\d*\.xml", _word(Kind.HEADERS)),
        (r"word/footer\d*\.xml", _word(Kind.FOOTERS)),
        (r"word/footnotes\.xml", _word(Kind.FOOTNOTES)),
        (r"word/endnotes\.xml", _word(Kind.ENDNOTES)),
        (r"word/(comments|people)\w*\.xml", _word(Kind.COMMENTS)),
        (r"word/glossary/document\.xml", _word(Kind.OTHER)),  # building blocks kept in the file
        (r"(word|xl)/(charts|diagrams|drawings)/.*\.xml", _DRAWING),
        (r"docprops/.*\.xml|customxml/.*\.xml", _PROPERTIES),
        (r"xl/(work|chart|dialog|macro)sheets/.*\.xml", _SHEET),
        (r"xl/workbook\.xml", _WORKBOOK),
        (r"xl/sharedstrings\.xml", _CELLS),
        (r"xl/(comments\d*|comments/.*|threadedcomments/.*)\.xml", _COMMENTS),
        (r"xl/persons/.*\.xml", _PERSONS),
        (r"xl/tables/.*\.xml", _TABLES),
        (r"xl/pivotcache/.*\.xml", _PIVOT_CACHE),
        (
            r"\[content_types\]\.xml|.*\.rels|(word|xl)/(glossary/)?(styles\w*|fonttable|websettings|settings"
            r"|numbering|theme/.*|calcchain|commentsids|commentsextensible|customizations|pivottables/.*"
            r"|ctrlprops/.*|connections)\.xml",
            _QUIET,
        ),
        (r".*\.vml", Profile(Kind.TEXT_BOXES, all_text=True, attributes=_OBJECT_TEXT)),
    )
]
_IMAGES = re.compile(r".*\.(png|jpe?g|jfif|gif|bmp|tiff?|emf|wmf|emz|wmz|wdp|hdp|ico|svgz?)$", re.IGNORECASE)
_NO_TEXT = re.compile(  # no text a reader sees: fonts, printer settings, the first page's thumbnail
    r"(.*\.(odttf|ttf|otf|fntdata)|(word|xl)/printersettings/.*|docprops/thumbnail\..*|.*/)$", re.IGNORECASE
)
_EMBEDDED_DOCUMENTS = re.compile(r".*\.(docx|docm|xlsx|xlsm|pdf)$", re.IGNORECASE)
_XML = re.compile(r".*\.(xml|rels|vml)$", re.IGNORECASE)

ReadEmbedded = Callable[[bytes], ReadFile]


class ArchiveRefused(ValueError):
    """A ZIP archive too large or too compressed to be read: a zip bomb, or as good as one."""


def check_archive(archive: zipfile.ZipFile, size: int, limits: Limits) -> None:
    """Refuse, from the sizes its directory declares, an archive that would take too much to read
    (reading itself counts the bytes, in case the directory lies)."""
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise ArchiveRefused(f"{len(entries):,} entries in the archive; at most {limits.max_entries:,}")
    total = sum(e.file_size for e in entries)
    if total > limits.max_uncompressed_bytes:
        raise ArchiveRefused(
            f"{total:,} bytes uncompressed; at most {limits.max_uncompressed_bytes:,} (a zip bomb?)"
        )
    if total > RATIO_FROM and total > limits.max_ratio * max(size, 1):
        # Many entries, each too small to be judged alone, can make a bomb together.
        raise ArchiveRefused(
            f"{total:,} bytes uncompressed from {size:,}; at most {limits.max_ratio} to 1 (a zip bomb?)"
        )
    for entry in entries:
        if entry.file_size > RATIO_FROM and entry.file_size > limits.max_ratio * max(entry.compress_size, 1):
            raise ArchiveRefused(
                f"entry {entry.filename[:80]!r} is compressed {entry.file_size // max(entry.compress_size, 1):,} "
                f"to 1; at most {limits.max_ratio} to 1 (a zip bomb?)"
            )


def read_office(archive: zipfile.ZipFile, limits: Limits, texts: Texts, read_embedded: ReadEmbedded) -> None:
    """Every entry of the archive into `texts`; `read_embedded` reads a document found inside."""
    left = limits.max_uncompressed_bytes
    for entry in archive.infolist():
        name = entry.filename
        if _NO_TEXT.fullmatch(name) or _IMAGES.fullmatch(name):
            continue
        if entry.flag_bits & 0x1:
            texts.unread(f"加密的部件“{name}”")
        elif _XML.fullmatch(name):
            left -= _read_xml_entry(archive, entry, texts, left)
        elif _EMBEDDED_DOCUMENTS.fullmatch(name):
            data = b"".join(_chunks(archive, entry, left))
            left -= len(data)
            texts.merge(read_embedded(data), Kind.EMBEDDED, f"嵌入的文档“{name}”")
        else:
            what = "宏" if "vba" in name.lower() else "嵌入的对象" if "embed" in name.lower() else "内容"
            texts.unread(f"{what}“{name}”（{entry.file_size:,}字节）未能读取")


def _read_xml_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, texts: Texts, left: int) -> int:
    profile = next((p for pattern, p in _XML_ENTRIES if pattern.fullmatch(entry.filename)), _ALL_TEXT)
    try:
        return read_xml(_chunks(archive, entry, left), profile, texts, left)
    except XmlRefused as why:
        texts.unread(f"部件“{entry.filename}”未能读取：{why}")
    except expat.ExpatError:
        # Not well-formed (legacy VML often is not): its text read as a lenient reader would show it.
        data = b"".join(_chunks(archive, entry, left))
        texts.add(profile.base or Kind.OTHER, tags_removed(data))
        return len(data)
    return entry.file_size


def _chunks(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, left: int) -> Iterator[bytes]:
    """The entry's bytes, in chunks, never more than `left` in all whatever its header says."""
    read = 0
    with archive.open(entry) as stream:
        while chunk := stream.read(64 * 1024):
            read += len(chunk)
            if read > left:
                raise ArchiveRefused("more bytes uncompressed than the archive may have")
            yield chunk
