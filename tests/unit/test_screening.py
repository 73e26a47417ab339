import pytest

from services.review.domain.screening import blocks, fold, screen, screen_item


@pytest.mark.parametrize(
    "text",
    [
        "机密★10年",
        "绝密★长期",
        "秘密★2026年12月31日",
        "机密★",
        "机 密 ★ 1 年",
        "机\n密\n★",
        "机密☆5年",
        "机密＊5年",
        "机密*5年",
        "機密★10年",
        "密级：秘密",
        "密级:机密",
        "内部资料 注意保存",
        "本文件仅供内部使用",
        "内部文件",
    ],
)
def test_markings_block_in_every_form(text):
    assert blocks(screen("body", f"正文开头。{text}正文结尾。"))


@pytest.mark.parametrize(
    "text",
    [
        "严守工作秘密，做好保密工作。",
        "增强数据机密性保护。",
        "该档案已经解密，现予公开。",
        "荣获三星级★文明单位。",
        "绝密档案管理培训的通知",  # a word, not a marking
    ],
)
def test_ordinary_text_is_not_blocked(text):
    assert not blocks(screen("body", text))


def test_span_points_into_the_original_text():
    original = "标题：机 密 ★ 3年，其余"
    [finding] = screen("title", original)
    assert original[finding.start : finding.end] == "机 密 ★"
    assert finding.excerpt == "机 密 ★"
    assert finding.field == "title" and finding.severity == "block"


def test_title_and_body_are_both_screened():
    findings = screen_item("秘密★1年 通知", "内部资料")
    assert {f.field for f in findings} == {"title", "body"}


def test_fold_maps_full_width_and_drops_spaces():
    folded = fold("Ａ１ 机密")
    assert folded.text == "A1机密"
    assert folded.origin == (0, 1, 3, 4)
