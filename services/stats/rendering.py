"""How the annual report and the dashboard are written out: Markdown and HTML from templates
(HTML autoescaped, so operators' text stays text), charts as plain HTML bars. Pure."""

import io
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.stats.domain import Figures
from services.stats.report import APPLICANTS, PROCEEDINGS, RESULTS, AnnualReport, table_b_rows, table_c_row
from shared.domain import CATEGORY_LABELS, CHANNEL_LABELS, Category

_TEMPLATES = Path(__file__).parent / "web" / "templates"
_ENV = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined,
    trim_blocks=False,
)
MONTHS = [f"{m:02d}" for m in range(1, 13)]
PRINTABLE_CM = 15.9  # A4 less Word's default margins


def _tables(report: AnnualReport) -> dict:
    """Tables B and C as the form prints them: labels and figures."""
    return {
        "applicant_labels": [*APPLICANTS.values(), "总计"],
        "table_b": table_b_rows(report.table_b),
        "proceeding_labels": [
            f"{name} {label}" for name in PROCEEDINGS.values() for label in [*RESULTS.values(), "总计"]
        ],
        "table_c": table_c_row(report.table_c),
    }


def report_text(report: AnnualReport, template: str) -> str:
    """The report as `report.md` or `report.html` writes it."""
    return _ENV.get_template(template).render(r=report, **_tables(report))


def report_docx(report: AnnualReport) -> bytes:
    """The report as a Word document in the official manner (仿宋 body, 黑体 headings, ruled
    tables), for the office to finish and print."""
    tables = _tables(report)
    document = Document()
    _title(document, f"{report.organisation}{report.year}年政府信息公开工作年度报告")
    _heading(document, "一、总体情况")
    for paragraph in report.overview:
        _paragraph(document, paragraph)
    _heading(document, "二、主动公开政府信息情况")
    _table(
        document,
        ["第二十条第（一）项", "本年制发件数", "本年废止件数", "现行有效件数"],
        [[d.label, d.issued, d.repealed, d.in_force] for d in report.table_a.documents],
    )
    _table(
        document,
        ["第二十条第（五）、（六）项", "本年处理决定数量"],
        list(map(list, report.table_a.decisions.items())),
    )
    _table(
        document,
        ["第二十条第（八）项", "本年收费金额（单位：万元）"],
        [["行政事业性收费", report.table_a.fees_collected_10k_yuan]],
    )
    _heading(document, "三、收到和处理政府信息公开申请情况")
    _paragraph(document, report.applications_summary)
    _table(
        document, ["", *tables["applicant_labels"]], [[label, *values] for label, values in tables["table_b"]]
    )
    _heading(document, "四、政府信息公开行政复议、行政诉讼情况")
    _paragraph(document, report.proceedings_summary)
    figures = tables["table_c"]
    by_proceeding = [[name, *figures[i * 5 : i * 5 + 5]] for i, name in enumerate(PROCEEDINGS.values())]
    _table(document, ["", *RESULTS.values(), "总计"], by_proceeding)  # the form's one row, as three
    _heading(document, "五、存在的主要问题及改进情况")
    for paragraph in (report.problems_and_improvements or "（未填写）").splitlines():
        _paragraph(document, paragraph)
    _heading(document, "六、其他需要报告的事项")
    for paragraph in (report.other_matters or "无。").splitlines():
        _paragraph(document, paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _styled(run, font: str, points: float, bold: bool = False) -> None:
    run.font.name, run.font.size, run.font.bold = font, Pt(points), bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)  # Chinese glyphs too


def _title(document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _styled(paragraph.add_run(text), "宋体", 18, bold=True)


def _heading(document, text: str) -> None:
    _styled(document.add_paragraph().add_run(text), "黑体", 16)


def _paragraph(document, text: str) -> None:
    if text.strip():
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.first_line_indent = Pt(32)  # two characters
        _styled(paragraph.add_run(text), "仿宋", 16)


def _table(document, header: list[str], rows: list[list], first_column_cm: float = 6.0) -> None:
    """A ruled table across the printable width: labels in a wide first column, figures centred."""
    table = document.add_table(rows=1 + len(rows), cols=len(header))
    table.style = "Table Grid"
    table.autofit = False
    other = Cm((PRINTABLE_CM - first_column_cm) / (len(header) - 1))
    for column, grid in enumerate(table.columns):  # the grid, which Word and LibreOffice lay out by
        grid.width = Cm(first_column_cm) if column == 0 else other
    for number, (row, values) in enumerate(zip(table.rows, [header, *rows], strict=True)):
        for column, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
            cell.width = Cm(first_column_cm) if column == 0 else other
            paragraph = cell.paragraphs[0]
            if column:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _styled(paragraph.add_run(str(value)), "仿宋" if number else "黑体", 9)
    document.add_paragraph()


def _share(part: int, largest: int) -> float:
    return round(100 * part / largest, 1) if largest else 0.0


def dashboard_html(f: Figures) -> str:
    """The year's figures as charts: by month and channel, by category, timeliness."""
    months = f.published.by_month_and_channel
    tallest = max((sum(months.get(m, {}).values()) for m in MONTHS), default=0)
    by_month = [
        {
            "month": int(m),
            "bars": [
                {
                    "channel": c,
                    "label": CHANNEL_LABELS[c],
                    "n": months.get(m, {}).get(c, 0),
                    "height": _share(months.get(m, {}).get(c, 0), tallest),
                }
                for c in CHANNEL_LABELS
            ],
            "total": sum(months.get(m, {}).values()),
        }
        for m in MONTHS
    ]
    ranked = sorted(f.published.by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    widest = ranked[0][1] if ranked else 0
    by_category = [
        {"label": CATEGORY_LABELS[Category(c)], "n": n, "width": _share(n, widest)} for c, n in ranked
    ]
    return _ENV.get_template("dashboard.html").render(
        f=f,
        by_month=by_month,
        by_category=by_category,
        channels=CHANNEL_LABELS,
        on_time_share=_share(f.timeliness.on_time, f.timeliness.on_time + f.timeliness.late),
        deadlines=_deadlines(f),
    )


def _deadlines(f: Figures) -> list[dict]:
    """Categories with a deadline of their own, grouped by it: 行政许可、行政处罚、行政强制 7."""
    return [
        {"days": days, "labels": "、".join(CATEGORY_LABELS[Category(c)] for c in categories)}
        for days, categories in f.timeliness.own_deadlines().items()
    ]
