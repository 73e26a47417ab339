"""The annual report against the V2021 form (国办公开办函〔2021〕30号), as an office checks it: each
table's blocks, header rows and merged cells, cell by cell, in HTML, Word and Markdown; the Word
file's page; the title; what a draft shows and a final report never does."""

import io
import re
from datetime import UTC, date, datetime

import lxml.html
import pytest
from docx import Document
from docx.oxml.ns import qn

from services.stats.domain import Scope, figures
from services.stats.rendering import report_docx, report_text
from services.stats.report import (
    DocumentCounts,
    ReportInputs,
    annual_report,
    check,
    finalised,
    not_finalisable,
    unnamed,
)
from shared.domain import DocumentKind, OfficeLevel

# ---- The form, written out from the V2021 format: (text, rowspan, colspan), or text for 1×1 ----

A_FIGURES = ["0", "0", "0"]
V2021_TABLE_A = [
    [("第二十条第（一）项", 1, 4)],
    ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"],
    ["规章", *A_FIGURES],
    ["行政规范性文件", *A_FIGURES],
    [("第二十条第（五）项", 1, 4)],
    ["信息内容", ("本年处理决定数量", 1, 3)],
    ["行政许可", ("0", 1, 3)],
    [("第二十条第（六）项", 1, 4)],
    ["信息内容", ("本年处理决定数量", 1, 3)],
    ["行政处罚", ("0", 1, 3)],
    ["行政强制", ("0", 1, 3)],
    [("第二十条第（八）项", 1, 4)],
    ["信息内容", ("本年收费金额（单位：万元）", 1, 3)],
    ["行政事业性收费", ("0", 1, 3)],
]

B_FIGURES = ["0"] * 7
V2021_TABLE_B = [
    [
        ("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", 3, 3),
        ("申请人情况", 1, 7),
    ],
    [("自然人", 2, 1), ("法人或其他组织", 1, 5), ("总计", 2, 1)],
    ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"],
    [("一、本年新收政府信息公开申请数量", 1, 3), *B_FIGURES],
    [("二、上年结转政府信息公开申请数量", 1, 3), *B_FIGURES],
    [("三、本年度办理结果", 22, 1), ("（一）予以公开", 1, 2), *B_FIGURES],
    [("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", 1, 2), *B_FIGURES],
    [("（三）不予公开", 8, 1), "1.属于国家秘密", *B_FIGURES],
    ["2.其他法律行政法规禁止公开", *B_FIGURES],
    ["3.危及“三安全一稳定”", *B_FIGURES],
    ["4.保护第三方合法权益", *B_FIGURES],
    ["5.属于三类内部事务信息", *B_FIGURES],
    ["6.属于四类过程性信息", *B_FIGURES],
    ["7.属于行政执法案卷", *B_FIGURES],
    ["8.属于行政查询事项", *B_FIGURES],
    [("（四）无法提供", 3, 1), "1.本机关不掌握相关政府信息", *B_FIGURES],
    ["2.没有现成信息需要另行制作", *B_FIGURES],
    ["3.补正后申请内容仍不明确", *B_FIGURES],
    [("（五）不予处理", 5, 1), "1.信访举报投诉类申请", *B_FIGURES],
    ["2.重复申请", *B_FIGURES],
    ["3.要求提供公开出版物", *B_FIGURES],
    ["4.无正当理由大量反复申请", *B_FIGURES],
    ["5.要求行政机关确认或重新出具已获取信息", *B_FIGURES],
    [
        ("（六）其他处理", 3, 1),
        "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        *B_FIGURES,
    ],
    ["2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", *B_FIGURES],
    ["3.其他", *B_FIGURES],
    [("（七）总计", 1, 2), *B_FIGURES],
    [("四、结转下年度继续办理", 1, 3), *B_FIGURES],
]

RESULTS = ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
V2021_TABLE_C = [
    [("行政复议", 1, 5), ("行政诉讼", 1, 10)],
    [*((r, 2, 1) for r in RESULTS), ("未经复议直接起诉", 1, 5), ("复议后起诉", 1, 5)],
    RESULTS * 2,
    ["0"] * 15,
]

FORM = {"table-a": V2021_TABLE_A, "table-b": V2021_TABLE_B, "table-c": V2021_TABLE_C}


def normal(rows) -> list[list[tuple[str, int, int]]]:
    return [[(c, 1, 1) if isinstance(c, str) else tuple(c) for c in row] for row in rows]


def expanded(rows) -> list[list[str]]:
    """The form as a plain grid: a merged cell's text at its top-left, '' where it extends."""
    rows = normal(rows)
    width = sum(cols for _, _, cols in rows[0])
    grid: list[list[str | None]] = [[None] * width for _ in rows]
    for r, row in enumerate(rows):
        c = 0
        for text, rowspan, colspan in row:
            while grid[r][c] is not None:
                c += 1
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid[r + dr][c + dc] = text if dr == dc == 0 else ""
            c += colspan
    return grid


# ---- Reading the three renderings back -----------------------------------------------------------


def html_tables(html: str) -> dict[str, list[list[tuple[str, int, int]]]]:
    tree = lxml.html.fromstring(html)
    return {
        table.get("id"): [
            [
                (cell.text_content().strip(), int(cell.get("rowspan", 1)), int(cell.get("colspan", 1)))
                for cell in tr
                if cell.tag in ("th", "td")
            ]
            for tr in table.iter("tr")
        ]
        for table in tree.iter("table")
    }


def docx_rows(table) -> list[list[tuple[str, int, int]]]:
    """A Word table as HTML would write it: each cell once, in the row it begins in, with the rows
    (vMerge) and grid columns (gridSpan) it covers."""
    trs = table._tbl.tr_lst
    layout = []  # per row: [(grid column, tc)]
    for tr in trs:
        column, cells = 0, []
        for tc in tr.tc_lst:
            cells.append((column, tc))
            column += tc.grid_span
        layout.append(cells)
    rows = []
    for r, cells in enumerate(layout):
        row = []
        for column, tc in cells:
            if tc.vMerge == "continue":
                continue
            rowspan = 1
            if tc.vMerge == "restart":
                for below in layout[r + 1 :]:
                    if not any(c == column and t.vMerge == "continue" for c, t in below):
                        break
                    rowspan += 1
            text = "".join(t.text or "" for t in tc.iter(qn("w:t")))
            row.append((text, rowspan, tc.grid_span))
        rows.append(row)
    return rows


def markdown_tables(md: str) -> list[list[list[str]]]:
    tables, current = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            if not re.fullmatch(r"\|(-+:?\|)+", line):
                current.append([c.strip().strip("*") for c in line.strip("|").split(" | ")])
        else:
            current = None
    return tables


def blank_report(**inputs):
    fields = {"organisation": "楠杆镇人民政府", **inputs}
    return annual_report(
        figures(Scope(2025), {}), ReportInputs.model_validate(fields), {}, date(2025, 12, 31)
    )


# ---- The tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORM)
def test_each_html_table_has_the_forms_blocks_headers_and_merged_cells(name):
    html = report_text(blank_report(), "report.html")
    assert html_tables(html)[name] == normal(FORM[name])


def test_the_html_tables_keep_their_header_rows_as_headers():
    tree = lxml.html.fromstring(report_text(blank_report(), "report.html"))
    b = tree.get_element_by_id("table-b")
    assert [th.text_content() for th in b.find("thead").iter("th")][:3] == [
        "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）",
        "申请人情况",
        "自然人",
    ]
    assert len(tree.get_element_by_id("table-c").find("thead")) == 3


@pytest.mark.parametrize("index,name", list(enumerate(FORM)))
def test_each_word_table_has_the_forms_merged_cells(index, name):
    document = Document(io.BytesIO(report_docx(blank_report())))
    assert docx_rows(document.tables[index]) == normal(FORM[name])


def test_the_word_tables_repeat_their_header_rows_on_every_page():
    document = Document(io.BytesIO(report_docx(blank_report())))
    repeated = [
        sum(1 for tr in t._tbl.tr_lst if tr.trPr is not None and tr.trPr.find(qn("w:tblHeader")) is not None)
        for t in document.tables
    ]
    assert repeated == [0, 3, 3]


@pytest.mark.parametrize("index,name", list(enumerate(FORM)))
def test_each_markdown_table_is_the_forms_grid(index, name):
    md = report_text(blank_report(), "report.md")
    assert markdown_tables(md)[index] == expanded(FORM[name])


def test_the_word_document_is_a4_with_the_gb_t_9704_margins():
    section = Document(io.BytesIO(report_docx(blank_report()))).sections[0]
    page = [section.page_width, section.page_height]
    margins = [section.top_margin, section.bottom_margin, section.left_margin, section.right_margin]
    assert [round(x.mm, 1) for x in page] == [210.0, 297.0]
    assert [round(x.mm, 1) for x in margins] == [37.0, 35.0, 28.0, 26.0]
    assert section.footer.paragraphs[0].text == "— 1 —"  # the PAGE field, as first computed


def test_the_title_names_the_office_from_the_inputs_or_the_settings():
    named = blank_report()
    assert report_text(named, "report.md").startswith("# 楠杆镇人民政府2025年政府信息公开工作年度报告")
    from_settings = annual_report(
        figures(Scope(2025), {}), ReportInputs(), {}, date(2025, 12, 31), "楠杆镇人民政府"
    )
    assert from_settings.title == "楠杆镇人民政府2025年政府信息公开工作年度报告"
    assert [b.cell for b in unnamed(ReportInputs(), "")] == ["organisation"]
    assert unnamed(ReportInputs(), "楠杆镇人民政府") == []
    for html in (report_text(named, "report.html"),):
        assert "本机关2025" not in html and "<h1>楠杆镇人民政府2025年" in html


def test_an_entered_decision_count_is_printed_and_the_draft_shows_the_pipelines_beside_it():
    counters = {"table_a": {"decisions": {"punishment": 4}}}
    inputs = ReportInputs(organisation="楠杆镇人民政府", table_a={"decisions": {"punishment": 12}})
    draft = annual_report(figures(Scope(2025), counters), inputs, {2025: counters}, date(2025, 12, 31))
    assert draft.table_a.decisions["行政处罚"] == 12
    assert draft.table_a.decisions_counted == {"行政许可": 0, "行政处罚": 4, "行政强制": 0}
    assert draft.table_a.decisions_entered == {"行政处罚": 12}
    row = [r for r in html_tables(report_text(draft, "report.html"))["table-a"] if r[0][0] == "行政处罚"]
    assert row == [[("行政处罚", 1, 1), ("12（系统统计4）", 1, 3)]]
    final = finalised(draft, datetime(2026, 1, 20, tzinfo=UTC))
    row = [r for r in html_tables(report_text(final, "report.html"))["table-a"] if r[0][0] == "行政处罚"]
    assert row == [[("行政处罚", 1, 1), ("12", 1, 3)]]  # the form's cell holds one figure


def test_in_force_never_goes_below_zero_the_operator_is_asked_for_what_was_in_force_before():
    repealed = {
        DocumentKind.NORMATIVE: DocumentCounts(repealed=3, repealed_since_records=3, issued_since_records=1)
    }
    [broken] = check(ReportInputs(), None, repealed)
    assert broken.cell == "table_a.in_force_before_records.normative"
    assert "would be -2" in broken.rule and "at least 2" in broken.rule
    fixed = ReportInputs(table_a={"in_force_before_records": {"normative": 2}})
    assert check(fixed, None, repealed) == []
    counters = {"table_a": {"documents": {"normative": {"issued": 1, "repealed": 3}}}}
    report = annual_report(
        figures(Scope(2025), counters),
        fixed.model_copy(update={"organisation": "镇"}),
        {2025: counters},
        date(2025, 12, 31),
    )
    assert [(d.label, d.in_force) for d in report.table_a.documents] == [("规章", 0), ("行政规范性文件", 0)]


def test_a_township_cannot_have_rules_a_prefecture_can():
    entered = ReportInputs(table_a={"in_force_before_records": {"rule": 1}})
    [broken] = check(entered, None, {}, OfficeLevel.TOWNSHIP)
    assert broken.cell == "table_a.in_force_before_records.rule" and "makes no 规章" in broken.rule
    assert check(entered, None, {}, OfficeLevel.PREFECTURE) == []
    counted = {DocumentKind.RULE: DocumentCounts(issued=1, issued_since_records=1)}
    assert [b.cell for b in check(ReportInputs(), None, counted, OfficeLevel.COUNTY)] == [
        "table_a.documents.rule"
    ]


def test_a_report_can_be_final_only_after_the_year_with_section_five_written():
    empty = ReportInputs(organisation="楠杆镇人民政府")
    assert [b.cell for b in not_finalisable(empty, 2025, date(2025, 12, 31))] == [
        "year",
        "problems_and_improvements",
    ]
    blank = empty.model_copy(update={"problems_and_improvements": "  \n "})
    assert [b.cell for b in not_finalisable(blank, 2025, date(2026, 1, 5))] == ["problems_and_improvements"]
    written = empty.model_copy(update={"problems_and_improvements": "一是公开内容不够丰富。"})
    assert not_finalisable(written, 2025, date(2026, 1, 5)) == []


def test_a_draft_says_it_is_one_and_a_final_report_never_shows_a_placeholder():
    draft = blank_report()
    for rendered in (report_text(draft, "report.md"), report_text(draft, "report.html")):
        assert "草稿" in rendered and "（未填写" in rendered
    text = "\n".join(p.text for p in Document(io.BytesIO(report_docx(draft))).paragraphs)
    assert "草稿" in text
    final = finalised(
        blank_report(problems_and_improvements="一是公开内容不够丰富。"), datetime(2026, 1, 5, tzinfo=UTC)
    )
    docx_text = "\n".join(p.text for p in Document(io.BytesIO(report_docx(final))).paragraphs)
    for rendered in (report_text(final, "report.md"), report_text(final, "report.html"), docx_text):
        assert "草稿" not in rendered and "未填写" not in rendered and "一是公开内容不够丰富。" in rendered


def test_section_one_does_not_use_table_bs_term_for_refused_applications():
    overview = "".join(blank_report().overview)
    assert "不予公开" not in overview and "审查未通过0件" in overview


@pytest.mark.parametrize("placeholder", ["   ", "本机关", " 本单位 "])
def test_an_office_name_is_a_name_not_a_blank_or_a_placeholder(placeholder):
    with pytest.raises(ValueError):
        ReportInputs(organisation=placeholder)
