"""The text of a PDF, everything a reader of it could see: its pages' text, annotations (notes,
their pop-ups, links), form fields (values, names, tooltips, choices), the document information
and XMP metadata, bookmarks, layer names. Attached files are said to be unread, so that screening
blocks the file.

pypdf reads hostile files, and a damaged object can fail it in ways of its own (any exception):
each section is read on its own, and one that fails is said to be unread, never dropped. Pages
and objects are counted before anything is read; pages sharing one content stream are read once."""

import io
import re
from collections.abc import Iterator

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject

from services.ingest.parts import Limits, Texts
from services.ingest.xmltext import Profile, read_xml
from shared.domain import AttachmentPartKind as Kind

_SPACES = re.compile(r"\s+")
_PADDING = re.compile(r"[ \t]+")  # layout mode pads columns with spaces
MAX_WALK = 10_000  # annotations, fields, bookmarks or names visited in one tree
_XMP = Profile(Kind.PROPERTIES, all_text=True)


class PdfRefused(ValueError):
    """A PDF that is not read at all: encrypted, or larger than it may be."""


def read_pdf(data: bytes, limits: Limits, texts: Texts) -> None:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise PdfRefused("加密的PDF")
    objects = sum(len(v) for v in reader.xref.values()) + len(reader.xref_objStm)
    if objects > limits.max_pdf_objects:
        raise PdfRefused(f"PDF有{objects:,}个对象，超过{limits.max_pdf_objects:,}个")
    root = reader.trailer["/Root"].get_object()
    for section, read in (
        ("页面文字", lambda: _pages(reader, limits, texts)),
        ("文档信息", lambda: _info(reader, texts)),
        ("XMP元数据", lambda: _xmp(root, texts)),
        ("书签", lambda: _outline(root, texts)),
        ("表单域", lambda: _fields(root, texts)),
        ("附件", lambda: _attached_files(root, texts)),
        ("图层", lambda: _layers(root, texts)),
    ):
        try:
            read()
        except Exception as error:  # a damaged section is said, never dropped
            texts.unread(f"{section}未能读取（{type(error).__name__}）")


def _pages(reader: PdfReader, limits: Limits, texts: Texts) -> None:
    count = len(reader.pages)
    if count > limits.max_pdf_pages:
        texts.unread(f"第{limits.max_pdf_pages + 1}页至第{count}页未读取（最多读取{limits.max_pdf_pages}页）")
    seen: set = set()
    for number in range(min(count, limits.max_pdf_pages)):
        page = reader.pages[number]
        contents = _identity(page.raw_get("/Contents") if "/Contents" in page else None)
        if not texts.full(Kind.DOCUMENT) and contents not in seen:
            seen.add(contents)
            try:
                drawn = page.extract_text() or ""
                texts.add(Kind.DOCUMENT, drawn)
                texts.line(Kind.DOCUMENT)
                # A page draws its glyphs in any order: 秘密★ may be drawn ★ first. The text as
                # laid out on the page is read too wherever it differs.
                shown = _PADDING.sub(" ", page.extract_text(extraction_mode="layout") or "")
                if _SPACES.sub("", shown) != _SPACES.sub("", drawn):
                    texts.add(Kind.DOCUMENT, shown)
                    texts.line(Kind.DOCUMENT)
            except Exception as error:  # see the module's docstring
                texts.unread(f"第{number + 1}页的文字未能读取（{type(error).__name__}）")
        _annotations(page, texts)


def _identity(contents) -> tuple:
    """Which content streams a page shows (by object number), so a shared one is read once."""
    raw = contents if isinstance(contents, ArrayObject) else [contents]
    return tuple((r.idnum, r.generation) if isinstance(r, IndirectObject) else id(r) for r in raw)


def _annotations(page, texts: Texts) -> None:
    for annotation in _resolved(page.get("/Annots"))[:MAX_WALK]:
        if not isinstance(annotation, DictionaryObject):
            continue
        subtype = annotation.get("/Subtype")
        if subtype == "/Widget":
            _field(annotation, texts)
            continue
        if subtype == "/FileAttachment":
            texts.unread(f"注释中附带的文件“{_file_name(annotation.get('/FS'))}”未能读取")
        for key in ("/Contents", "/T", "/Subj", "/RC"):
            _add(texts, Kind.ANNOTATIONS, annotation.get(key))
        action = _resolved_one(annotation.get("/A"))
        if isinstance(action, DictionaryObject):
            _add(texts, Kind.ANNOTATIONS, action.get("/URI"))


def _info(reader: PdfReader, texts: Texts) -> None:
    info = _resolved_one(reader.trailer.get("/Info"))
    if isinstance(info, DictionaryObject):
        for key, value in list(info.items())[:MAX_WALK]:
            _add(texts, Kind.PROPERTIES, key.lstrip("/"))
            _add(texts, Kind.PROPERTIES, value)


def _xmp(root: DictionaryObject, texts: Texts) -> None:
    metadata = _resolved_one(root.get("/Metadata"))
    if isinstance(metadata, StreamObject):
        data = metadata.get_data()
        read_xml([data], _XMP, texts, max(len(data), 1))


def _outline(root: DictionaryObject, texts: Texts) -> None:
    outlines = _resolved_one(root.get("/Outlines"))
    if isinstance(outlines, DictionaryObject):
        for item in _linked(outlines.raw_get("/First") if "/First" in outlines else None):
            _add(texts, Kind.ANNOTATIONS, item.get("/Title"))


def _linked(first) -> Iterator[DictionaryObject]:
    """A bookmark tree, depth first, each item once (a hostile tree may loop) and MAX_WALK at most."""
    stack, seen = [first], set()
    while stack and len(seen) < MAX_WALK:
        reference = stack.pop()
        item = _resolved_one(reference)
        key = _key(reference, item)
        if not isinstance(item, DictionaryObject) or key in seen:
            continue
        seen.add(key)
        yield item
        stack += [item.raw_get(k) for k in ("/Next", "/First") if k in item]


def _fields(root: DictionaryObject, texts: Texts) -> None:
    form = _resolved_one(root.get("/AcroForm"))
    if not isinstance(form, DictionaryObject):
        return
    stack, seen = list(_resolved(form.get("/Fields"))), set()
    while stack and len(seen) < MAX_WALK:
        field = stack.pop()
        if not isinstance(field, DictionaryObject) or id(field) in seen:
            continue
        seen.add(id(field))
        _field(field, texts)
        stack += _resolved(field.get("/Kids"))


def _field(field: DictionaryObject, texts: Texts) -> None:
    """A form field's value, default, name, tooltip and choices: all shown by a viewer. A field
    met both as a page's widget and in the form's tree is read once (pypdf resolves an object to
    one Python object)."""
    if not texts.first_time(field):
        return
    for key in ("/V", "/DV", "/T", "/TU", "/TM", "/Opt"):
        _add(texts, Kind.FORM_FIELDS, field.get(key))
    look = _resolved_one(field.get("/MK"))
    if isinstance(look, DictionaryObject):
        _add(texts, Kind.FORM_FIELDS, look.get("/CA"))  # a button's caption


def _attached_files(root: DictionaryObject, texts: Texts) -> None:
    names = _resolved_one(root.get("/Names"))
    if not isinstance(names, DictionaryObject):
        return
    stack, visited = [names.get("/EmbeddedFiles")], 0
    while stack and visited < MAX_WALK:
        node = _resolved_one(stack.pop())
        visited += 1
        if not isinstance(node, DictionaryObject):
            continue
        pairs = _resolved(node.get("/Names"))
        for name, spec in zip(pairs[::2], pairs[1::2], strict=False):
            texts.unread(f"PDF附带的文件“{_file_name(spec) or name}”未能读取")
        stack += _resolved(node.get("/Kids"))


def _layers(root: DictionaryObject, texts: Texts) -> None:
    properties = _resolved_one(root.get("/OCProperties"))
    if isinstance(properties, DictionaryObject):
        for layer in _resolved(properties.get("/OCGs"))[:MAX_WALK]:
            if isinstance(layer, DictionaryObject):
                _add(texts, Kind.ANNOTATIONS, layer.get("/Name"))


def _file_name(spec) -> str:
    spec = _resolved_one(spec)
    if isinstance(spec, DictionaryObject):
        return str(spec.get("/UF") or spec.get("/F") or "")
    return str(spec or "")


def _add(texts: Texts, kind: Kind, value) -> None:
    """A value's text: a string, the strings of an array (a choice field's options), a stream's
    text (rich text values); names and numbers as written."""
    value = _resolved_one(value)
    if isinstance(value, StreamObject):
        value = value.get_data().decode("utf-8", "replace")
    if isinstance(value, ArrayObject):
        for item in value[:MAX_WALK]:
            _add(texts, kind, item)
        return
    if value is None or isinstance(value, DictionaryObject):
        return
    text = str(value)
    texts.add(kind, text[1:] if isinstance(value, NameObject) else text)
    texts.line(kind)


def _resolved_one(value):
    return value.get_object() if isinstance(value, IndirectObject) else value


def _resolved(value) -> list:
    value = _resolved_one(value)
    return [_resolved_one(v) for v in value] if isinstance(value, ArrayObject) else []


def _key(reference, item) -> object:
    return (reference.idnum, reference.generation) if isinstance(reference, IndirectObject) else id(item)
