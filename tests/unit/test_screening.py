import pytest

from services.review.domain.screening import FoldedText, WordList, blocks, screen, screen_item


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
        "【机密】",
        "〔 秘 密 〕",
        "[绝密]",
        "絶密★启用前",
        "內部資料",
        "密 級 ： 祕 密",
        "机密 ★ １０年",
        "秘密※",
        "保密级别：机密",
        "机密✩3年",
        "机\n密\n★\n1\n年",
        "秘密\n★\n",
        "机密🌟5年",
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
        "严禁将**机密**文件带出办公场所。",  # Markdown emphasis, not a star
        "组织观看电影《秘密》。",  # a title, not a bracketed level
        "做好国家秘密载体管理，落实保密责任制。",
        "“机密”与“秘密”的区别。",
        "解密后的档案向社会开放。",
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


def test_folding_keeps_offsets_and_compact_spans_map_back():
    text = FoldedText.of("Ａ１ 機\n密")
    assert text.folded == "a1 机\n密" and text.compact == "a1机密"
    assert text.span_of_compact(2, 4) == (3, 6)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("身份证号11010519491231002X，", "citizen-id"),
        ("身份证号 11010519491231002x", "citizen-id"),
        ("老身份证110105491231002", "citizen-id"),
        ("联系电话：13800138000", "mobile-number"),
        ("联系电话：138 0013 8000", "mobile-number"),
        ("联系电话：+86 138-0013-8000", "mobile-number"),
        ("办公室电话：0376-2123456", "landline-number"),
        ("办公室电话：（0376）2123456", "landline-number"),
        ("卡号6222 0202 0011 2233 446", "bank-card"),
        ("卡号4111111111111111", "bank-card"),
        ("邮箱：zhangsan@example.gov.cn", "email-address"),
        ("邮箱：ＺＨＡＮＧ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "email-address"),
    ],
)
def test_personal_data_is_flagged(text, rule):
    findings = screen("body", text)
    assert [f.rule for f in findings] == [rule]
    assert findings[0].severity == "flag"
    assert not blocks(findings)


@pytest.mark.parametrize(
    "text",
    [
        "身份证号110105194912310021",  # wrong check digit
        "身份证号110105194913310020",  # no 13th month (and not a card number either)
        "卡号4111111111111112",  # fails Luhn
        "统一社会信用代码91410000MA40ABCD1X",  # an organisation's public identifier
        "文号：罗政办〔2015〕83号，2018年共发布443条",
        "订单号12345678901234567",
    ],
)
def test_numbers_that_are_not_personal_data_pass(text):
    assert screen("body", text) == []


def test_a_word_list_matches_across_spaces_and_case():
    words = WordList.of([("拆迁补偿标准", "flag", "须分管领导确认"), ("Project X", "block", "")])
    findings = screen("body", "关于拆迁 补偿\n标准的说明；PROJECT  x 进展", words)
    assert [(f.rule, f.severity, f.excerpt) for f in findings] == [
        ("word-list", "flag", "拆迁 补偿\n标准"),
        ("word-list", "block", "PROJECT  x"),
    ]
