import io
from datetime import UTC, date, datetime

import pytest
from docx import Document
from pydantic import ValidationError

from services.stats.domain import Scope, aggregate, figures, nested
from services.stats.history import parse_history, read_rows
from services.stats.rendering import dashboard_html, report_docx, report_text
from services.stats.report import ReportInputs, annual_report, check, table_b_rows, table_c_row
from shared.domain import OfficeLevel


def inputs(**table_b) -> ReportInputs:
    return ReportInputs.model_validate({"organisation": "楠杆镇", "table_b": table_b})


def row(**columns) -> dict:
    return columns


def test_a_consistent_table_b_keeps_every_rule():
    b = inputs(
        new_applications=row(natural_person=3, commercial=1),
        carried_over=row(natural_person=1),
        results={
            "disclosed": row(natural_person=2, total=2),
            "not_disclosed": {"state_secret": row(commercial=1)},
            "total": row(natural_person=2, commercial=1, total=3),
        },
        carried_forward=row(natural_person=2),
    )
    assert check(b, None) == []
    printed = dict(table_b_rows(b.table_b))
    assert printed["三、（七）总计"] == [2, 1, 0, 0, 0, 0, 3]
    assert printed["四、结转下年度继续办理"] == [2, 0, 0, 0, 0, 0, 2]


def test_received_must_equal_handled_plus_carried_forward_in_every_column():
    broken = check(
        inputs(new_applications=row(natural_person=2), results={"disclosed": row(natural_person=1)}), None
    )
    assert [b.cell for b in broken] == [
        "table_b.carried_forward.natural_person",
        "table_b.carried_forward.total",
    ]
    assert "一 + 二 (2) must equal 三（七）总计 + 四 (1)" in broken[0].rule


def test_a_total_column_must_be_the_sum_of_the_applicant_columns():
    broken = check(inputs(new_applications=row(natural_person=2, total=3)), None)
    assert broken[0].cell == "table_b.new_applications.total"
    assert "总计 (3) must equal the sum of the applicant columns (2)" in broken[0].rule


def test_the_outcome_total_must_be_the_sum_of_the_outcome_rows():
    given = inputs(
        new_applications=row(commercial=2),
        results={"disclosed": row(commercial=1), "total": row(commercial=2)},
    )
    cells = [b.cell for b in check(given, None)]
    assert "table_b.results.total.commercial" in cells


def test_carried_over_must_equal_last_years_carried_forward():
    last = inputs(new_applications=row(research=1), carried_forward=row(research=1))
    this = inputs(new_applications=row(research=1), results={"disclosed": row(research=1)})
    broken = check(this, last)
    assert [b.cell for b in broken] == ["table_b.carried_over.research", "table_b.carried_over.total"]
    assert "last year's 四、结转下年度继续办理 (1)" in broken[0].rule


def test_table_c_totals_are_checked():
    given = ReportInputs.model_validate({"table_c": {"reconsideration": {"upheld": 1, "total": 2}}})
    assert [b.cell for b in check(given, None)] == ["table_c.reconsideration.total"]
    fine = ReportInputs.model_validate({"table_c": {"lawsuit_direct": {"corrected": 1, "pending": 1}}})
    assert check(fine, None) == [] and table_c_row(fine.table_c)[5:10] == [0, 1, 0, 1, 2]


def seed_year_events():
    """A year shaped like the seed report: 443 publications, 372 on the platform, 71 on the portal."""
    rows = [
        {
            "item_id": f"nangan-{i}",
            "title": f"信息{i}",
            "category": "village_affairs" if i < 300 else "work_news",
            "department": "nangan",
            "department_name": "楠杆镇",
            "channel": "platform",
            "published_at": f"2018-{1 + i % 12:02d}-15",
        }
        for i in range(372)
    ]
    rows += [{**rows[i], "channel": "portal", "published_at": "2018-06-20"} for i in range(300, 371)]
    events, errors = parse_history(rows)
    assert errors == []
    return events


def seed_report(inputs: ReportInputs | None = None):
    counters = nested(aggregate(seed_year_events()).counters[Scope(2018)])
    inputs = inputs or ReportInputs(organisation="楠杆镇")
    return annual_report(figures(Scope(2018), counters), inputs, {2018: counters}, date(2018, 12, 31))


def test_the_seed_shaped_year_reads_as_the_seed_report_does():
    report = seed_report()
    text = report_text(report, "report.md")
    assert (
        "截至2018年12月31日，共更新和发布信息443条，其中，在统一平台发布372条，政府门户网站发布71条" in text
    )
    assert "2018年，楠杆镇没有收到要求公开信息的申请。" in text
    assert "没有发生针对政府信息公开事务的行政复议案" in text
    assert report.figures.published.items == 372
    assert (
        "<td" not in text and "| 一、本年新收政府信息公开申请数量 |  |  | 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in text
    )


def test_operators_text_stays_text_in_the_html_report_and_the_dashboard():
    hostile = ReportInputs(
        organisation="<script>alert(1)</script>镇", other_matters="<img src=x onerror=alert(1)>"
    )
    report = seed_report(hostile)
    html = report_text(report, "report.html")
    assert "<script>alert" not in html and "&lt;img src=x" in html
    assert 'id="published-total">443<' in dashboard_html(report.figures)


def test_an_import_file_with_errors_names_every_bad_row():
    text = "item_id,title,category,department,channel,published_at\n1,标题,budget,nangan,platform,2018-01-02\n2,,nope,nangan,fax,2018-13-01\n"
    _, errors = parse_history(read_rows(text, "csv"))
    assert {(e.row, e.field) for e in errors} == {
        (2, "title"),
        (2, "category"),
        (2, "channel"),
        (2, "published_at"),
    }


def test_importing_the_same_publication_twice_gives_the_same_event():
    row = {
        "item_id": "a",
        "title": "t",
        "category": "budget",
        "department": "x",
        "channel": "portal",
        "published_at": "2018-01-02",
    }
    (first,), _ = parse_history([row])
    (again,), _ = parse_history([row])
    assert first.event_id == again.event_id
    assert first.occurred_at == datetime(2018, 1, 2, 4, tzinfo=UTC)  # noon in China


def test_the_word_document_holds_the_same_report():
    report = seed_report()
    document = Document(io.BytesIO(report_docx(report)))
    text = "\n".join(p.text for p in document.paragraphs)
    assert text.startswith("楠杆镇2018年政府信息公开工作年度报告")
    assert "共更新和发布信息443条，其中，在统一平台发布372条，政府门户网站发布71条" in text
    assert [h for h in text.splitlines() if h[:2] in ("一、", "二、", "三、", "四、", "五、", "六、")][
        :6
    ] == [
        "一、总体情况",
        "二、主动公开政府信息情况",
        "三、收到和处理政府信息公开申请情况",
        "四、政府信息公开行政复议、行政诉讼情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    ]
    table_b = document.tables[1]  # Table A is one table of four blocks, as on the form
    assert table_b.rows[1].cells[3].text == "自然人" and len(table_b.rows) == 3 + len(
        table_b_rows(report.table_b)
    )
    table_c = [[c.text for c in row.cells] for row in document.tables[2].rows]
    assert table_c[0][:6] == ["行政复议"] * 5 + ["行政诉讼"]  # a merged cell, as python-docx lists it
    assert table_c[-1] == ["0"] * 15


def test_an_import_file_recording_a_townships_rule_names_the_row():
    rows = [
        {
            "item_id": "r",
            "title": "某办法",
            "category": "regulation",
            "department": "nangan",
            "channel": "portal",
            "published_at": "2018-03-01",
            "document_kind": kind,
            "document_action": "issued",
        }
        for kind in ("normative", "rule")
    ]
    events, errors = parse_history(rows)
    assert [(e.row, e.field) for e in errors] == [(2, "document_kind")] and "makes no 规章" in errors[
        0
    ].reason
    events, errors = parse_history(rows, OfficeLevel.PROVINCE)
    assert errors == [] and len(events) == 2


@pytest.mark.parametrize("text", ["一是\ufffe不足。", "一是\uffff不足。"])
def test_a_noncharacter_no_word_file_can_hold_is_refused_like_a_control_character(text):
    """U+FFFE and U+FFFF are not XML characters: accepted, they made every Word rendering of the
    draft, and making the report final, a 500 (lxml: 'All strings must be XML compatible')."""
    with pytest.raises(ValidationError) as refused:
        ReportInputs(problems_and_improvements=text)
    assert refused.value.errors()[0]["loc"] == ("problems_and_improvements",)
