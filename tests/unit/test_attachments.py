import io
import zipfile

import pytest

from services.ingest.attachments import (
    DOCX,
    MAX_BYTES,
    MAX_TEXT_CHARS,
    MAX_TEXT_CHARS_PER_ITEM,
    PDF,
    PNG,
    XLSX,
    AttachmentRefused,
    check_size,
    media_type_of,
    read_text,
    safe_filename,
    within_item_budget,
)
from tests.documents import docx, pdf, png, xlsx


def test_the_type_is_judged_by_content_whatever_the_name_says():
    assert media_type_of(pdf("通知")) == PDF
    assert media_type_of(docx("通知")) == DOCX
    assert media_type_of(xlsx("通知")) == XLSX
    assert media_type_of(png()) == PNG
    assert media_type_of(b"\xff\xd8\xff\xe0" + b"\0" * 20) == "image/jpeg"
    for refused in (b"MZ\x90\x00 an executable", b"<html><script>", b"PK\x03\x04broken"):
        with pytest.raises(AttachmentRefused):
            media_type_of(refused)
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "x")
    with pytest.raises(AttachmentRefused, match="neither a DOCX nor an XLSX"):
        media_type_of(plain_zip.getvalue())


def test_sizes_are_bounded():
    check_size(MAX_BYTES)
    for size in (0, MAX_BYTES + 1):
        with pytest.raises(AttachmentRefused):
            check_size(size)


def test_text_is_read_from_pdf_docx_and_xlsx_and_an_image_is_left_to_a_reviewer():
    assert read_text(pdf("关于秋季征兵的通告"), PDF).text == "关于秋季征兵的通告"
    assert read_text(docx("第一段", "第二段"), DOCX).text == "第一段\n第二段"
    assert read_text(xlsx("姓名", "电话"), XLSX).text == "姓名\n电话"
    image = read_text(png(), PNG)
    assert image.text == "" and "人工查看" in image.unread


def test_a_damaged_or_endless_file_is_left_to_a_reviewer_not_an_error():
    damaged = read_text(b"%PDF-1.7 garbage", PDF)
    assert damaged.text == "" and "无法读取" in damaged.unread
    long = read_text(docx("字" * (MAX_TEXT_CHARS + 10)), DOCX)
    assert len(long.text) == MAX_TEXT_CHARS and "其余部分" in long.unread
    controls = read_text(docx("a\x01b"), DOCX)
    assert "\x01" not in controls.text


def test_names_are_kept_for_display_only_without_paths():
    assert safe_filename("../../etc/passwd") == ".._.._etc_passwd"
    assert safe_filename(None) == "附件"


def test_an_items_files_share_one_text_budget_and_what_is_cut_is_said():
    texts = ["字" * MAX_TEXT_CHARS] * 4
    kept = within_item_budget(texts)
    assert sum(len(text) for text, _ in kept) == MAX_TEXT_CHARS_PER_ITEM
    assert [note is None for _, note in kept] == [True, True, True, False]
    assert kept[3][0] == "" or (len(kept[3][0]) < MAX_TEXT_CHARS and "人工查看" in kept[3][1])
