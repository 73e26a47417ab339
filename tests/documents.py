"""Real documents made in the tests, so that attachments are checked as clerks send them: a PDF
whose text a reader extracts (a Type0 font with a ToUnicode map), a DOCX, an XLSX, a PNG."""

import io
import struct
import zipfile
import zlib


def pdf(text: str) -> bytes:
    """A one-page PDF showing `text`; each character is a glyph the ToUnicode map names."""
    return pdf_pages([text])


def pdf_pages(texts: list[str]) -> bytes:
    """A PDF of one page per text, each with a content stream of its own, sharing one font."""
    return pdf_placed([[(72, 720, text)] for text in texts])


def pdf_placed(pages: list[list[tuple[int, int, str]]]) -> bytes:
    """A PDF whose pages draw each (x, y, text) where it says, in the order given: the order
    its content streams draw in, not the order a reader sees on the page."""
    texts = ["".join(text for _, _, text in runs) for runs in pages]
    chars = list(dict.fromkeys("".join(texts)))
    code = {c: i + 1 for i, c in enumerate(chars)}
    cmap_entries = "\n".join(f"<{code[c]:04X}> <{ord(c):04X}>" for c in chars)
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CMapName /Gongkai def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        f"{len(chars)} beginbfchar\n{cmap_entries}\nendbfchar\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end"
    ).encode()
    first_page = 6  # objects 1-5: catalog, pages, the two fonts, the map; then page and content pairs
    kids = " ".join(f"{first_page + 2 * n} 0 R" for n in range(len(texts)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(texts)} >>".encode(),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ]
    for n, runs in enumerate(pages):
        content = " ".join(
            f"BT /F1 12 Tf {x} {y} Td <{''.join(f'{code[c]:04X}' for c in text)}> Tj ET"
            for x, y, text in runs
        ).encode()
        objects += [
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (first_page + 2 * n + 1),
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _office(part: str, xml: str, extra: dict[str, str] | None = None) -> bytes:
    """An Office Open XML package holding `part` (and `extra` parts)."""
    types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in {"[Content_Types].xml": types, part: xml, **(extra or {})}.items():
            archive.writestr(name, content)
    return out.getvalue()


def docx(*paragraphs: str) -> bytes:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>'
    return _office("word/document.xml", document)


def xlsx(*cells: str) -> bytes:
    s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    items = "".join(f"<si><t>{c}</t></si>" for c in cells)
    strings = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{s}">{items}</sst>'
    return _office(
        "xl/workbook.xml", f'<?xml version="1.0"?><workbook xmlns="{s}"/>', {"xl/sharedStrings.xml": strings}
    )


def png() -> bytes:
    """A 1×1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )
