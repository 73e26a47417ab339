"""Reading large attachments: for a large DOCX, XLSX and PDF (and the hostile shapes issue 10
names), the time `read_parts` takes and the peak memory of the process reading it, each in a
fresh process of its own (as ingest's budgeted workers are), so one file's memory is not another's.

    .venv/bin/python bench/attachments.py [--paragraphs 20000] [--cells 200000] [--pages 500]

Ingest's budget per file (GONGKAI_ATTACHMENT_READ_SECONDS, _READ_MEMORY_MB): 30 s and 1024 MB of
address space by default; every file here should stay far below both.
"""

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.ingest.attachments import DOCX, PDF, XLSX, read_parts
from tests.documents import pdf_pages
from tests.hostile import _paragraph, _word_part, docx_with, footnotes, xlsx_with

LINE = "根据《中华人民共和国政府信息公开条例》规定，现将本镇2026年财政预算执行情况公开如下。"


def large_docx(paragraphs: int) -> bytes:
    body = "".join(_paragraph(f"{n}. {LINE}") for n in range(paragraphs))
    header = _word_part("hdr", _paragraph("某某镇人民政府"))
    return docx_with(
        body, **{"word/footnotes.xml": footnotes("注：数据截至年底。"), "word/header1.xml": header}
    )


def large_xlsx(cells: int) -> bytes:
    rows = "".join(
        f'<c r="B{n}" t="inlineStr"><is><t>第{n}行 {LINE[:20]}</t></is></c><c r="C{n}"><v>{n * 3.5}</v></c>'
        for n in range(cells // 2)
    )
    return xlsx_with(rows)


def large_pdf(pages: int) -> bytes:
    return pdf_pages([f"第{n}页 {LINE}" for n in range(pages)])


def deep_docx(depth: int) -> bytes:
    """Elements nested `depth` deep (ids random, so that it is no zip bomb): the reader's stack."""
    opening = "".join(f'<w:r w:rsidR="{random.getrandbits(32):08X}">' for _ in range(depth))
    return docx_with("<w:p>" + opening + "<w:t>深</w:t>" + "</w:r>" * depth + "</w:p>")


def _status(field: str) -> float:
    """A figure of /proc/self/status, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _measure(data: bytes, media_type: str, answer) -> None:
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) counts from here
    started = time.process_time()
    read = read_parts(data, media_type)
    elapsed = time.process_time() - started
    answer.send((elapsed, before, _status("VmHWM"), read.text_chars(), [k.value for k, _ in read.parts]))


def measure(label: str, data: bytes, media_type: str) -> None:
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    process = context.Process(target=_measure, args=(data, media_type, theirs))
    process.start()
    elapsed, before, peak, chars, kinds = mine.recv()
    process.join()
    print(
        f"  {label:34s} {len(data) / 2**20:7.2f} MB  {elapsed:6.2f} s CPU  "
        f"peak {peak:6.0f} MB (before {before:4.0f} MB)  {chars:9,} chars  {', '.join(kinds)}"
    )


def main(paragraphs: int, cells: int, pages: int) -> None:
    print("reading attachments, each in a fresh process (CPU time, peak resident memory):")
    measure(f"DOCX, {paragraphs:,} paragraphs", large_docx(paragraphs), DOCX)
    measure(f"XLSX, {cells:,} cells", large_xlsx(cells), XLSX)
    measure(f"PDF, {pages:,} pages", large_pdf(pages), PDF)
    measure("DOCX, elements 100,000 deep", deep_docx(100_000), DOCX)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=20_000)
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=500)
    main(**vars(parser.parse_args()))
