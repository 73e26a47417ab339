import pytest

from services.review.domain.canonical import as_written
from services.review.domain.screening import (
    KEPT_PER_RULE,
    WordList,
    blocks,
    screen,
    screen_content,
)
from shared.events import Attachment, AttachmentPart
from tests.unit.factories import content


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
        "组织观看电影《秘密花园》。",  # a title, not a bracketed level
        "做好国家秘密载体管理，落实保密责任制。",
        "“机密”与“秘密”的区别。",
        "解密后的档案向社会开放。",
        # the legal name of a kind of publication (《内部资料性出版物管理办法》) and of the licence
        # a county issues for one: a service guide, not a marking
        "内部资料性出版物准印证核发办事指南",
        "依据《内部资料性出版物管理办法》第十条，申请人应提交以下材料。",
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


def test_every_published_field_is_screened():
    item = content(
        title="秘密★1年 通知",
        body="内部资料",
        document_number="机密★ 〔2026〕3号",
        attachments=(attachment("普通内容", filename="机密★.docx"),),
    )
    findings = screen_content(item)
    assert {f.field for f in findings} == {"title", "body", "document_number", "attachments.0.filename"}
    assert all(f.severity == "block" for f in findings)


def test_folding_maps_back_to_what_was_written():
    text = as_written("Ａ１ 機\u200b\n密")
    assert text.visible == "a1 机 密" and text.compact == "a1机密"
    assert text.raw_span(2, 4, compact=True) == (3, 7)


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


# The walk-arounds of issue 10: each reaches the portal as a marking a reader sees.
WALK_AROUNDS = [
    # a header's colon written with a look-alike (ratio, modifier letters, vertical forms)
    "密级∶机密",
    "密级꞉机密",
    "保密级别ː绝密",
    "密级︓秘密",
    # Markdown and HTML the portal renders after screening
    "秘*密*★1年",
    "秘`密`★",
    "秘[密]()★",
    "秘[密](https://example.gov.cn)★",
    "秘密\\*1年",
    "秘&#23494;★",
    "&#x79D8;&#x5BC6;&#x2605;",
    "秘密&starf;",
    "机密&#9733;",
    "内部&#36164;料",
    "秘<b></b>密★",
    "秘<!-- 注释 -->密★",
    "秘<span style=x>密</span>★",
    "机~~密~~★",
    "- 机\n- 密★",
    "| 机 | 密★ |\n|---|---|",
    # characters screening did not fold
    "机\u200e密\u200f★",
    "机\u202a密\u202e★\u202c",
    "机\u2066密\u2069★",
    "机\u2063密★",
    "机\u034f密★",
    "机\u180e密★",
    "机\u061c密★",
    "机\ufe0f密\ufe00★",
    "机\U000e0100密★",
    "机\U000e0041密\U000e007f★",
    "机\u0301密\u20dd★",
    "机\x85密\x9f★",
    "机\u2800密\u3164★",
    "机密⚝",
    "机密✡",
    "机密🌠",
    "机密🟀",
    "机密⯨",
    "机密⭐\ufe0f",
    "内部㊮料",
    "㊙密★",
    "内部\u2f42件",  # ⽂, the Kangxi radical
    "保密級別：機密",
    "密級:祕密",
    "〖机密〗",
    "⟦绝密⟧",
    "《秘密》",
    "｛机密｝",
    "﹝秘密﹞",
    # found by an adversarial review from outside
    "\u202e年1★密秘\u202c",  # a right-to-left override: the reader sees 秘密★1年
    "\u202e】密机【\u202c",
    "绝\u1160密★",
    "袐密★",
    "秘密💫",
    "⟮机密⟯",
    "❨秘密❩",
    "密级——机密",
    "密级：-机密",
    "秘密·★1年",
    "秘密：★1年",
    "⸨机密⸩",  # any opening and closing punctuation Unicode has
    "⟬秘密⟭",
    "⦓绝密⦔",
    "⧼机密⧽",
    "⌈秘密⌉",
    "⹕机密⹖",
    "秘密⯌1年",  # a four-pointed cusp, drawn as ✦ is
    "机密⯎",
    "绝密⟡",
    "秘密・★1年",  # the katakana middle dot many input methods type for ·
    "秘密･★1年",
    "秘密‧★1年",
    "秘密∙★1年",
    "秘密⋅★1年",
    "秘密⸱★1年",
    "秘密◦★1年",
    "密级ー机密",
    # bidirectional text, as a browser lays it out (checked against the Unicode Bidirectional
    # Algorithm): an embedding or isolate swaps the runs of Chinese around the star, a
    # right-to-left mark swaps the star and the punctuation beside it
    "\u202b★秘密\u202c",  # right-to-left embedding: the reader sees 秘密★
    "\u2067★机密\u2069",  # right-to-left isolate: 机密★
    "\u2068\u200f★绝密\u2069",  # first-strong isolate opened by a right-to-left mark: 绝密★
    "\u2068\u05d0★秘密\u2069",  # … or by a Hebrew letter: 秘密★א
    "\u202b★秘`密`\u202c",  # the same with Markdown in the middle
    "秘密\u200f，★\u200f",  # right-to-left marks: 秘密★，
    "秘密\u061c!★\u061c",  # Arabic letter marks: 秘密★!
    "\u202b资料\u200f内部\u202c",  # 内部资料
    # the controls written as entities, which a browser decodes before it lays the text out
    "&#x202e;年1★密秘&#x202c;",
    "&#8235;★秘密&#8236;",
    "&rlm;秘密，★&rlm;",
]


@pytest.mark.parametrize("text", WALK_AROUNDS)
def test_walk_arounds_of_the_marking_are_blocked(text):
    assert blocks(screen("body", f"正文开头。\n{text}\n正文结尾。", markdown=True))


@pytest.mark.parametrize(
    "text, excerpt",
    [
        ("\u202e年1★密秘\u202c", "★密秘"),
        ("\u202b★秘密\u202c", "★秘密"),
        ("秘密\u200f，★\u200f", "秘密\u200f，★"),
    ],
)
def test_a_marking_found_in_a_reordered_form_points_at_what_the_clerk_wrote(text, excerpt):
    """Its span covers the marking's characters in the raw text (it was empty, or ended before it
    started, when the form had them the other way round)."""
    (finding,) = [f for f in screen("body", text, markdown=True) if f.severity == "block"]
    assert finding.start < finding.end and finding.excerpt == excerpt


@pytest.mark.parametrize("text", WALK_AROUNDS[:14])
def test_html_walk_arounds_are_blocked_in_fields_that_are_not_markdown(text):
    if "`" in text or "[" in text or "*" in text or "~" in text:
        return  # Markdown: rendered in the body only
    assert blocks(screen("document_number", text))


@pytest.mark.parametrize(
    "text",
    [
        "国家秘密的密级（绝密、机密、秘密）由定密责任人确定。",
        "依法确定密级，秘密级事项的保密期限一般不超过十年。",
        "阿拉伯文\u061c段落：مرحبا",
    ],
)
def test_a_sentence_that_explains_the_levels_is_not_a_marking(text):
    assert not blocks(screen("body", text, markdown=True))


def test_a_finding_in_a_rendered_form_points_at_what_the_clerk_wrote():
    body = "第一段。\n\n第二段：秘*密*★1年，其余。"
    [finding] = [f for f in screen("body", body, markdown=True) if f.severity == "block"]
    assert body[finding.start : finding.end] == "秘*密*★"


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        # far down a long body, each block found again from where the renderer says it starts
        (
            "## 标题\n\n" + "1. 普通内容**加粗**，见[附件](a.pdf)。\n" * 300 + "\n末段：秘*密*★1年。",
            "秘*密*★",
        ),
        # a cell whose first character is also the previous cell's
        ("| 机 | 机 |\n|---|---|\n| 机 | 机*密*★ |", "机*密*★"),
        ("> 引用\n> - 列表\n>   - 机`密`★\n", "机`密`★"),
        ("第一行\r\n\r\n第二行\r秘&#23494;★", "秘&#23494;★"),
    ],
)
def test_a_finding_far_down_a_rendered_body_points_at_what_the_clerk_wrote(body, excerpt):
    [finding] = [f for f in screen("body", body, markdown=True) if f.severity == "block"]
    assert body[finding.start : finding.end] == excerpt


def test_a_finding_in_decoded_text_points_at_the_entities():
    body = "前文秘&#23494;&starf;后文"
    [finding] = screen("body", body)
    assert body[finding.start : finding.end] == "秘&#23494;&starf;"


def attachment(text: str, unread: str | None = None, filename: str = "意见.pdf", kind: str = "document"):
    parts = (AttachmentPart(kind=kind, text=text),) if text else ()
    return Attachment(
        id="a" * 24,
        filename=filename,
        media_type="application/pdf",
        size=1,
        sha256="0" * 64,
        parts=parts,
        unread=unread,
    )


def test_a_marking_in_any_part_of_an_attachment_blocks_the_item():
    item = content(attachments=(attachment("普通内容"), attachment("页眉：机密★10年", kind="headers")))
    findings = screen_content(item)
    assert blocks(findings)
    [marking] = findings
    assert marking.field == "attachments.1.headers" and marking.excerpt == "机密★"


def test_an_attachment_recorded_before_parts_is_still_screened():
    old = Attachment(
        id="a" * 24,
        filename="意见.pdf",
        media_type="application/pdf",
        size=1,
        sha256="0" * 64,
        text="内部资料",
    )
    [marking] = screen_content(content(attachments=(old,)))
    assert marking.field == "attachments.0.document"


def test_what_could_not_be_read_is_flagged_for_a_reviewer():
    [flag] = screen_content(content(attachments=(attachment("", "图片附件无法自动审查文字，请人工查看"),)))
    assert flag.severity == "flag" and flag.rule == "attachment-unread" and "意见.pdf" in flag.message


def test_findings_are_bounded_and_the_rest_counted():
    body = "，".join(f"1380{n:07d}" for n in range(25_000))
    findings = screen("body", body, markdown=True)
    kept = [f for f in findings if ":more:" not in f.id]
    [summary] = [f for f in findings if ":more:" in f.id]
    assert len(kept) == KEPT_PER_RULE and all(f.rule == "mobile-number" for f in kept)
    assert f"另有{25_000 - KEPT_PER_RULE}处" in summary.message and summary.severity == "flag"


def test_content_inside_a_file_that_could_not_be_read_blocks_the_item():
    unread = attachment("嵌入对象“word/embeddings/oleObject1.bin”未能读取", kind="unread")
    findings = screen_content(content(attachments=(attachment("普通内容"), unread)))
    [block] = [f for f in findings if f.severity == "block"]
    assert block.rule == "attachment-part-unread" and block.field == "attachments.1.unread"
    assert "oleObject1.bin" in block.message


def test_an_item_blocked_for_an_unread_part_is_not_called_classified():
    from services.review.domain.decisions import screened

    item = content(attachments=(attachment("附件“a.bin”未能读取", kind="unread"),))
    event = screened("s1", 1, item, 2, screen_content(item)).event
    assert event.data.reason == "other"


@pytest.mark.xfail(
    strict=True,
    reason="not fixed, a judgement call: the body as written (which the platform receives as Markdown) "
    "is screened with a list item's * taken for a star, so a line ending with 国家秘密 followed by a "
    "bulleted line is blocked, though the portal shows a bullet, not a star",
)
def test_a_bulleted_list_after_a_line_ending_with_a_level_word_is_not_a_marking():
    body = "保密宣传教育月主要内容：\n* 严禁在互联网上存储、处理国家秘密\n* 加强涉密计算机管理"
    assert not blocks(screen("body", body, markdown=True))


def test_a_listed_word_that_blocks_still_blocks_after_many_that_flag():
    words = WordList.of([("预算", "flag", ""), ("拆迁名单", "block", "")])
    body = "预算。" * (KEPT_PER_RULE + 5) + "拆迁名单" + "预算。" * 5
    findings = screen("body", body, words, markdown=True)
    assert blocks(findings)
    [summary] = [f for f in findings if ":more:" in f.id]
    assert summary.severity == "block" and "拆迁名单" in summary.message
