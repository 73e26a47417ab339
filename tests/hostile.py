"""Hostile documents built in the tests: DOCX, XLSX and PDF files with a text hidden in one part
only (a footnote, a tracked deletion, a hidden sheet's name, a PDF form field…), each with the
kind of part it must be read as; and zip bombs.

The office files are written as raw ZIP and XML, so that every place a writer (or a hostile
clerk) can put text is reached, not only those a library offers; `ordinary_*` build the same with
the libraries clerks' tools are made of (python-docx, openpyxl, pypdf)."""

import io
import zipfile

from pypdf import PdfReader, PdfWriter
from pypdf.annotations import FreeText, Link, Text
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from shared.domain import AttachmentPartKind as Kind
from tests.documents import pdf

NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml" '
    'xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math"'
)
CLEAN = "关于做好秋季森林防火工作的通知"


def _zip(entries: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def _types() -> str:
    return (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    )


def _word_part(root: str, inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><w:{root} {NAMESPACES}>{inner}</w:{root}>'


def _paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def docx_with(body: str = "", **entries: str | bytes) -> bytes:
    """A DOCX whose body is a clean paragraph and `body` (XML), with further entries by path."""
    document = _word_part("document", f"<w:body>{_paragraph(CLEAN)}{body}</w:body>")
    return _zip({"[Content_Types].xml": _types(), "word/document.xml": document, **entries})


def _props(inner: str, root: str = "cp:coreProperties") -> str:
    return (
        f'<?xml version="1.0"?><{root} xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes" '
        f'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties">{inner}</{root}>'
    )


def footnotes(text: str) -> str:
    return _word_part("footnotes", f'<w:footnote w:id="1">{_paragraph(text)}</w:footnote>')


def _drawing(inner: str, descr: str = "") -> str:
    return (
        f'<w:p><w:r><w:drawing><wp:anchor><wp:docPr id="1" name="图形 1" descr="{descr}"/>'
        f"<a:graphic><a:graphicData><wps:wsp><wps:txbx>{inner}</wps:txbx></wps:wsp></a:graphicData>"
        "</a:graphic></wp:anchor></w:drawing></w:r></w:p>"
    )


def hidden_in_docx(text: str) -> dict[str, tuple[bytes, Kind]]:
    """A DOCX for each place `text` can hide in, with the kind of part it must be read as."""
    p = _paragraph(text)
    return {
        "page header": (docx_with(**{"word/header1.xml": _word_part("hdr", p)}), Kind.HEADERS),
        "watermark": (
            docx_with(
                **{
                    "word/header2.xml": _word_part(
                        "hdr",
                        f'<w:p><w:r><w:pict><v:shape><v:textpath string="{text}"/></v:shape></w:pict></w:r></w:p>',
                    )
                }
            ),
            Kind.HEADERS,
        ),
        "page footer": (docx_with(**{"word/footer1.xml": _word_part("ftr", p)}), Kind.FOOTERS),
        "footnote": (docx_with(**{"word/footnotes.xml": footnotes(text)}), Kind.FOOTNOTES),
        "endnote": (
            docx_with(
                **{"word/endnotes.xml": _word_part("endnotes", f'<w:endnote w:id="1">{p}</w:endnote>')}
            ),
            Kind.ENDNOTES,
        ),
        "comment": (
            docx_with(
                **{
                    "word/comments.xml": _word_part(
                        "comments", f'<w:comment w:id="0" w:author="张三">{p}</w:comment>'
                    )
                }
            ),
            Kind.COMMENTS,
        ),
        "comment author": (
            docx_with(
                **{
                    "word/comments.xml": _word_part(
                        "comments", f'<w:comment w:id="0" w:author="{text}">{_paragraph("同意")}</w:comment>'
                    )
                }
            ),
            Kind.COMMENTS,
        ),
        "tracked deletion": (
            docx_with(f"<w:p><w:del w:author='李四'><w:r><w:delText>{text}</w:delText></w:r></w:del></w:p>"),
            Kind.DELETIONS,
        ),
        "tracked move": (
            docx_with(f"<w:p><w:moveFrom><w:r><w:t>{text}</w:t></w:r></w:moveFrom></w:p>"),
            Kind.DELETIONS,
        ),
        "tracked insertion": (
            docx_with(f"<w:p><w:ins><w:r><w:t>{text}</w:t></w:r></w:ins></w:p>"),
            Kind.DOCUMENT,
        ),
        "hidden text": (
            docx_with(f"<w:p><w:r><w:rPr><w:vanish/></w:rPr><w:t>{text}</w:t></w:r></w:p>"),
            Kind.DOCUMENT,
        ),
        "runs split, prefix renamed": (
            docx_with(
                '<x:p xmlns:x="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                + "".join(f"<x:r><x:t>{c}</x:t></x:r>" for c in text)
                + "</x:p>"
            ),
            Kind.DOCUMENT,
        ),
        "strict ooxml": (
            docx_with(
                f'<s:p xmlns:s="http://purl.oclc.org/ooxml/wordprocessingml/main"><s:r><s:t>{text}</s:t></s:r></s:p>'
            ),
            Kind.DOCUMENT,
        ),
        "field code": (
            docx_with(f"<w:p><w:r><w:instrText> MERGEFIELD {text} </w:instrText></w:r></w:p>"),
            Kind.FIELD_CODES,
        ),
        "simple field": (docx_with(f'<w:p><w:fldSimple w:instr=" TITLE {text} "/></w:p>'), Kind.FIELD_CODES),
        "text box": (docx_with(_drawing(f"<w:txbxContent>{p}</w:txbxContent>")), Kind.TEXT_BOXES),
        "vml text box": (
            docx_with(
                f"<w:p><w:r><w:pict><v:shape><v:textbox><w:txbxContent>{p}</w:txbxContent></v:textbox></v:shape></w:pict></w:r></w:p>"
            ),
            Kind.TEXT_BOXES,
        ),
        "picture description": (docx_with(_drawing("", descr=text)), Kind.ALT_TEXT),
        "table caption": (
            docx_with(f'<w:tbl><w:tblPr><w:tblCaption w:val="{text}"/></w:tblPr></w:tbl>'),
            Kind.ALT_TEXT,
        ),
        "equation": (docx_with(f"<w:p><m:oMath><m:r><m:t>{text}</m:t></m:r></m:oMath></w:p>"), Kind.DOCUMENT),
        "form field": (
            docx_with(
                f'<w:p><w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:helpText w:type="text" w:val="{text}"/></w:ffData></w:fldChar></w:r></w:p>'
            ),
            Kind.FORM_FIELDS,
        ),
        "core properties": (
            docx_with(
                **{
                    "docProps/core.xml": _props(
                        f"<dc:title>年度报告</dc:title><cp:keywords>{text}</cp:keywords>"
                    )
                }
            ),
            Kind.PROPERTIES,
        ),
        "app properties": (
            docx_with(**{"docProps/app.xml": _props(f"<Company>{text}</Company>", "Properties")}),
            Kind.PROPERTIES,
        ),
        "custom property": (
            docx_with(
                **{
                    "docProps/custom.xml": _props(
                        f'<property name="密级"><vt:lpwstr>{text}</vt:lpwstr></property>', "Properties"
                    )
                }
            ),
            Kind.PROPERTIES,
        ),
        "document variable": (
            docx_with(
                **{
                    "word/settings.xml": _word_part(
                        "settings", f'<w:docVars><w:docVar w:name="v" w:val="{text}"/></w:docVars>'
                    )
                }
            ),
            Kind.PROPERTIES,
        ),
        "custom xml": (
            docx_with(**{"customXml/item1.xml": f"<root><level>{text}</level></root>"}),
            Kind.PROPERTIES,
        ),
        "glossary": (
            docx_with(
                **{
                    "word/glossary/document.xml": _word_part(
                        "glossaryDocument", f"<w:docParts><w:docPart>{p}</w:docPart></w:docParts>"
                    )
                }
            ),
            Kind.OTHER,
        ),
        "smartart": (
            docx_with(
                **{
                    "word/diagrams/data1.xml": f'<dgm:dataModel xmlns:dgm="d" xmlns:a="a"><a:p><a:r><a:t>{text}</a:t></a:r></a:p></dgm:dataModel>'
                }
            ),
            Kind.TEXT_BOXES,
        ),
        "chart title": (
            docx_with(
                **{
                    "word/charts/chart1.xml": f'<c:chartSpace xmlns:c="c" xmlns:a="a"><c:title><a:t>{text}</a:t></c:title></c:chartSpace>'
                }
            ),
            Kind.TEXT_BOXES,
        ),
        "style name": (
            docx_with(
                **{"word/styles.xml": _word_part("styles", f'<w:style><w:name w:val="{text}"/></w:style>')}
            ),
            Kind.OTHER,
        ),
        "part of no known name": (docx_with(**{"word/notes-of-mine.xml": f"<x>{text}</x>"}), Kind.OTHER),
        "embedded document": (
            docx_with(**{"word/embeddings/Microsoft_Word_Document.docx": docx_with(_paragraph(text))}),
            Kind.EMBEDDED,
        ),
        "embedded ole object": (
            docx_with(**{"word/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0" + text.encode("utf-16-le")}),
            Kind.UNREAD,
        ),
    }


_S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def xlsx_with(cells: str = "", sheets: str = "", sheet_extra: str = "", **entries: str | bytes) -> bytes:
    """An XLSX with one clean sheet holding `cells` (row XML) and `sheet_extra` after its data."""
    workbook = f'<?xml version="1.0"?><workbook {_S}><sheets><sheet name="Sheet1" sheetId="1"/>{sheets}</sheets></workbook>'
    sheet = (
        f'<?xml version="1.0"?><worksheet {_S}><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>{cells}</row>'
        f"</sheetData>{sheet_extra}</worksheet>"
    )
    strings = f'<?xml version="1.0"?><sst {_S}><si><t>{CLEAN}</t></si></sst>'
    return _zip(
        {
            "[Content_Types].xml": _types(),
            "xl/workbook.xml": workbook,
            "xl/worksheets/sheet1.xml": sheet,
            "xl/sharedStrings.xml": strings,
            **entries,
        }
    )


def hidden_in_xlsx(text: str) -> dict[str, tuple[bytes, Kind]]:
    half = len(text) // 2
    return {
        "shared string": (
            xlsx_with(
                **{
                    "xl/sharedStrings.xml": f"<sst {_S}><si><t>{CLEAN}</t></si><si><r><t>{text[:half]}</t></r><r><t>{text[half:]}</t></r></si></sst>"
                }
            ),
            Kind.DOCUMENT,
        ),
        "inline string": (xlsx_with(f'<c r="B1" t="inlineStr"><is><t>{text}</t></is></c>'), Kind.DOCUMENT),
        "formula": (xlsx_with(f'<c r="B1"><f>"{text}"&amp;A1</f></c>'), Kind.FIELD_CODES),
        "formula result": (xlsx_with(f'<c r="B1" t="str"><f>A1</f><v>{text}</v></c>'), Kind.DOCUMENT),
        "very hidden sheet name": (
            xlsx_with(sheets=f'<sheet name="{text}" sheetId="2" state="veryHidden"/>'),
            Kind.SHEET_NAMES,
        ),
        "defined name": (
            xlsx_with(
                **{
                    "xl/workbook.xml": f'<workbook {_S}><sheets><sheet name="S"/></sheets><definedNames><definedName name="n" hidden="1">"{text}"</definedName></definedNames></workbook>'
                }
            ),
            Kind.SHEET_NAMES,
        ),
        "comment": (
            xlsx_with(
                **{
                    "xl/comments1.xml": f'<comments {_S}><authors><author>王五</author></authors><commentList><comment ref="A1"><text><r><t>{text}</t></r></text></comment></commentList></comments>'
                }
            ),
            Kind.COMMENTS,
        ),
        "threaded comment": (
            xlsx_with(
                **{
                    "xl/threadedComments/threadedComment1.xml": f'<ThreadedComments xmlns="t"><threadedComment ref="A1"><text>{text}</text></threadedComment></ThreadedComments>'
                }
            ),
            Kind.COMMENTS,
        ),
        "page header with codes": (
            xlsx_with(
                sheet_extra=f'<headerFooter><oddHeader>&amp;C&amp;"宋体,加粗"{text[:1]}&amp;K00FF00{text[1:]}</oddHeader></headerFooter>'
            ),
            Kind.HEADERS,
        ),
        "page footer": (
            xlsx_with(sheet_extra=f"<headerFooter><evenFooter>&amp;R{text}</evenFooter></headerFooter>"),
            Kind.FOOTERS,
        ),
        "data validation prompt": (
            xlsx_with(
                sheet_extra=f'<dataValidations><dataValidation prompt="{text}" sqref="A1"/></dataValidations>'
            ),
            Kind.FORM_FIELDS,
        ),
        "properties": (
            xlsx_with(**{"docProps/core.xml": _props(f"<dc:subject>{text}</dc:subject>")}),
            Kind.PROPERTIES,
        ),
        "chart title": (
            xlsx_with(
                **{
                    "xl/charts/chart1.xml": f'<c:chartSpace xmlns:c="c" xmlns:a="a"><c:title><c:tx><c:rich><a:p><a:r><a:t>{text}</a:t></a:r></a:p></c:rich></c:tx></c:title></c:chartSpace>'
                }
            ),
            Kind.TEXT_BOXES,
        ),
        "text box": (
            xlsx_with(
                **{
                    "xl/drawings/drawing1.xml": f'<xdr:wsDr xmlns:xdr="x" xmlns:a="a"><xdr:sp><xdr:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></xdr:txBody></xdr:sp></xdr:wsDr>'
                }
            ),
            Kind.TEXT_BOXES,
        ),
        "table column": (
            xlsx_with(
                **{
                    "xl/tables/table1.xml": f'<table {_S} name="T" displayName="T"><tableColumns><tableColumn id="1" name="{text}"/></tableColumns></table>'
                }
            ),
            Kind.SHEET_NAMES,
        ),
        "legacy vml, not well-formed": (
            xlsx_with(
                **{
                    "xl/drawings/vmlDrawing1.vml": f"<xml><v:shape><v:textbox><div>{text}<br></div></v:textbox></v:shape></xml>"
                }
            ),
            Kind.TEXT_BOXES,
        ),
        "embedded ole object": (
            xlsx_with(**{"xl/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0"}),
            Kind.UNREAD,
        ),
        "macros": (xlsx_with(**{"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}), Kind.UNREAD),
    }


def _writer() -> PdfWriter:
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf(CLEAN))))
    return writer


def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf_field(text: str) -> bytes:
    writer = _writer()
    field = DictionaryObject(
        {
            NameObject("/FT"): NameObject("/Tx"),
            NameObject("/T"): TextStringObject("level"),
            NameObject("/TU"): TextStringObject("密级"),
            NameObject("/V"): TextStringObject(text),
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4),
        }
    )
    reference = writer._add_object(field)
    writer.pages[0][NameObject("/Annots")] = ArrayObject([reference])
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([reference])}
    )
    return _written(writer)


def _pdf_with(change) -> bytes:
    writer = _writer()
    change(writer)
    return _written(writer)


def _xmp(text: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:rights>{text}</dc:rights>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def _set_xmp(writer: PdfWriter, text: str) -> None:
    from pypdf.generic import DecodedStreamObject

    stream = DecodedStreamObject()
    stream.set_data(_xmp(text).encode())
    stream[NameObject("/Type")] = NameObject("/Metadata")
    stream[NameObject("/Subtype")] = NameObject("/XML")
    writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)


def _layer(writer: PdfWriter, text: str) -> None:
    layer = writer._add_object(
        DictionaryObject(
            {NameObject("/Type"): NameObject("/OCG"), NameObject("/Name"): TextStringObject(text)}
        )
    )
    writer._root_object[NameObject("/OCProperties")] = DictionaryObject(
        {NameObject("/OCGs"): ArrayObject([layer]), NameObject("/D"): DictionaryObject()}
    )


def hidden_in_pdf(text: str) -> dict[str, tuple[bytes, Kind]]:
    return {
        "page text": (pdf(CLEAN + text), Kind.DOCUMENT),
        "note annotation": (
            _pdf_with(lambda w: w.add_annotation(0, Text(rect=(50, 550, 200, 650), text=text))),
            Kind.ANNOTATIONS,
        ),
        "free text annotation": (
            _pdf_with(lambda w: w.add_annotation(0, FreeText(text=text, rect=(50, 550, 200, 650)))),
            Kind.ANNOTATIONS,
        ),
        "link": (
            _pdf_with(
                lambda w: w.add_annotation(
                    0, Link(rect=(50, 550, 200, 650), url=f"https://example.org/{text}")
                )
            ),
            Kind.ANNOTATIONS,
        ),
        "form field value": (_pdf_field(text), Kind.FORM_FIELDS),
        "document information": (
            _pdf_with(lambda w: w.add_metadata({"/Title": "年度报告", "/Keywords": text})),
            Kind.PROPERTIES,
        ),
        "custom information": (
            _pdf_with(lambda w: w.add_metadata({"/Classification": text})),
            Kind.PROPERTIES,
        ),
        "xmp metadata": (_pdf_with(lambda w: _set_xmp(w, text)), Kind.PROPERTIES),
        "bookmark": (_pdf_with(lambda w: w.add_outline_item(title=text, page_number=0)), Kind.ANNOTATIONS),
        "layer name": (_pdf_with(lambda w: _layer(w, text)), Kind.ANNOTATIONS),
        "attached file": (_pdf_with(lambda w: w.add_attachment("附件.txt", text.encode())), Kind.UNREAD),
    }


def zip_bomb(size: int = 300 * 2**20) -> bytes:
    """A DOCX whose body inflates to `size` bytes of zeros from a few hundred kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _types())
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            block = b"\0" * 2**20
            for _ in range(size // len(block)):
                entry.write(block)
    return out.getvalue()


def many_entries(count: int) -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _types(),
            "word/document.xml": _word_part("document", ""),
            **{f"x/{n}.xml": "<x/>" for n in range(count)},
        }
    )


def entity_bomb() -> bytes:
    """Billion laughs in a DOCX's body: refused, never expanded."""
    dtd = '<!DOCTYPE w [<!ENTITY a "机密★"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    document = f'<?xml version="1.0"?>{dtd}<w:document {NAMESPACES}><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>'
    return _zip({"[Content_Types].xml": _types(), "word/document.xml": document})


def many_small_bombs(count: int = 100) -> bytes:
    """Entries each under a megabyte, highly compressed, together a bomb."""
    zeros = "\0" * (1000 * 1000)
    return _zip(
        {
            "[Content_Types].xml": _types(),
            "word/document.xml": _word_part("document", ""),
            **{f"x/{n}.xml": zeros for n in range(count)},
        }
    )
