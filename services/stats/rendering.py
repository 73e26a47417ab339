"""How the annual report and the dashboard are written out: Markdown and HTML from templates
(HTML autoescaped, so operators' text stays text), Word with python-docx, each table from the
form's own grid (`services.stats.form`); charts as plain HTML bars. Pure."""

import io
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.stats.domain import Figures
from services.stats.form import FormTable, tables
from services.stats.report import AnnualReport, ReportState
from shared.domain import CATEGORY_LABELS, CHANNEL_LABELS, Category

_TEMPLATES = Path(__file__).parent / "web" / "templates"
_ENV = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined,
    trim_blocks=False,
)
MONTHS = [f"{m:02d}" for m in range(1, 13)]

# GB/T 9704-2012 (党政机关公文格式) 5.2: A4 paper; 天头 (top margin) 37 mm and 订口 (left
# margin) 28 mm around a 156 mm × 225 mm 版心, which leaves 35 mm at the bottom and 26 mm on the
# right; 22 lines a page (a fixed line pitch of 28.95 pt for 三号 type).
PAGE = {"width": 210, "height": 297, "top": 37, "bottom": 35, "left": 28, "right": 26}
PRINTABLE_MM = PAGE["width"] - PAGE["left"] - PAGE["right"]  # 156
LINE_PITCH_PT = 28.95
# Column widths (mm) of each table across the 版心: wide label columns, even figure columns.
COLUMN_MM = {
    "table_a": [57, 33, 33, 33],
    "table_b": [20, 30, 43] + [9] * 7,
    "table_c": [10.4] * 15,
}
DRAFT_NOTE = "草稿：按当前数据生成，定稿前仍会变化；定稿后冻结，并在门户网站年报栏目发布。"
UNWRITTEN = "（未填写：定稿前必须填写本部分）"


def _sections(report: AnnualReport) -> dict:
    """Sections 五 and 六 as printed: a draft says what is still to be written; a final report is
    never without section 五 (it cannot become final so)."""
    problems = report.problems_and_improvements.strip() or UNWRITTEN
    return {
        "problems": [p for p in problems.splitlines() if p.strip()],
        "other": [p for p in (report.other_matters.strip() or "无。").splitlines() if p.strip()],
        "draft_note": DRAFT_NOTE if report.state == ReportState.DRAFT else None,
    }


def report_text(report: AnnualReport, template: str) -> str:
    """The report as `report.md` or `report.html` writes it."""
    forms = tables(report)
    markdown = {name: markdown_table(table) for name, table in forms.items()}
    widths = {name: [round(100 * w / PRINTABLE_MM, 2) for w in COLUMN_MM[name]] for name in forms}
    return _ENV.get_template(template).render(
        r=report, forms=forms, md=markdown, widths=widths, **_sections(report)
    )


def markdown_table(table: FormTable) -> str:
    """A form table in GitHub-flavoured Markdown, which has no merged cells. Written as the grid
    the form prints — the same columns in the same places, each merged cell's text in its top-left
    position and the positions it covers left empty, headings below the first row in bold — which
    is how a spreadsheet shows merged cells once they are unmerged. Chosen over one flat header of
    joined names (法人或其他组织·商业企业…) because a reader comparing the report with the form, cell
    by cell, finds every figure in the same row and column as on the form; the group headings
    (申请人情况, 法人或其他组织, 行政诉讼…) still stand over the columns they group."""
    grid = table.grid()

    def text(r: int, cell) -> str:
        if cell is None:
            return ""
        escaped = cell.text.replace("|", "\\|")
        return f"**{escaped}**" if cell.kind == "head" and r > 0 else escaped

    lines = ["| " + " | ".join(text(0, cell) for cell in grid[0]) + " |"]
    lines.append("|" + "".join("---|" if c < table.label_columns else "---:|" for c in range(table.columns)))
    lines += ["| " + " | ".join(text(r, cell) for cell in row) + " |" for r, row in enumerate(grid) if r]
    return "\n".join(lines)


def report_docx(report: AnnualReport) -> bytes:
    """The report as a Word document in the manner of GB/T 9704 (A4 with its margins, 小标宋 title,
    黑体 headings, 仿宋 body at 22 lines a page, page numbers), each table with the form's merged
    cells and its header rows repeated on every page."""
    forms = tables(report)
    sections = _sections(report)
    document = Document()
    _page(document)
    _title(document, report.title)
    if sections["draft_note"]:
        _centred(document, sections["draft_note"], "楷体", 14)
    _heading(document, "一、总体情况")
    for paragraph in report.overview:
        _paragraph(document, paragraph)
    _heading(document, "二、主动公开政府信息情况")
    _table(document, forms["table_a"])
    _heading(document, "三、收到和处理政府信息公开申请情况")
    _paragraph(document, report.applications_summary)
    _table(document, forms["table_b"])
    _heading(document, "四、政府信息公开行政复议、行政诉讼情况")
    _paragraph(document, report.proceedings_summary)
    _table(document, forms["table_c"])
    _heading(document, "五、存在的主要问题及改进情况")
    for paragraph in sections["problems"]:
        _paragraph(document, paragraph)
    _heading(document, "六、其他需要报告的事项")
    for paragraph in sections["other"]:
        _paragraph(document, paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _page(document) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(PAGE["width"]), Mm(PAGE["height"])
    section.top_margin, section.bottom_margin = Mm(PAGE["top"]), Mm(PAGE["bottom"])
    section.left_margin, section.right_margin = Mm(PAGE["left"]), Mm(PAGE["right"])
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _styled(footer.add_run("— "), "宋体", 14)
    _page_number(footer.add_run())
    _styled(footer.runs[-1], "宋体", 14)
    _styled(footer.add_run(" —"), "宋体", 14)


def _page_number(run) -> None:
    """A PAGE field, which Word and LibreOffice fill in with the page's number."""
    for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        elif text == "PAGE":
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        else:
            element = OxmlElement("w:t")
            element.text = text
        run._r.append(element)


def _styled(run, font: str, points: float, bold: bool = False) -> None:
    run.font.name, run.font.size, run.font.bold = font, Pt(points), bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)  # Chinese glyphs too


def _title(document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _styled(paragraph.add_run(text), "方正小标宋简体", 22)  # 二号小标宋体 (GB/T 9704 7.3.1)


def _centred(document, text: str, font: str, points: float) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _styled(paragraph.add_run(text), font, points)


def _pitched(paragraph) -> None:
    paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph.paragraph_format.line_spacing = Pt(LINE_PITCH_PT)
    paragraph.paragraph_format.space_before = paragraph.paragraph_format.space_after = Pt(0)


def _heading(document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.paragraph_format.first_line_indent = Pt(32)  # two characters, as the body
    _pitched(paragraph)
    _styled(paragraph.add_run(text), "黑体", 16)  # 一级标题 三号黑体


def _paragraph(document, text: str) -> None:
    if text.strip():
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.first_line_indent = Pt(32)  # two characters
        _pitched(paragraph)
        _styled(paragraph.add_run(text), "仿宋", 16)  # 三号仿宋


def _table(document, form: FormTable) -> None:
    """A ruled table across the 版心 with the form's merged cells: each merged cell is its
    top-left cell merged with its bottom-right one (Word's gridSpan and vMerge)."""
    widths = [Mm(w) for w in COLUMN_MM[form.name]]
    table = document.add_table(rows=len(form.rows), cols=form.columns)
    table.style = "Table Grid"
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):  # the grid Word lays out by
        column.width = width
    # The cells taken once, before merging: python-docx's table.cell() and row.cells walk the
    # whole table each time, which made Table B alone take seconds. Merged regions never
    # overlap, so each region's corner cells are still in the table when their turn comes.
    grid = [[_Cell(tc, table) for tc in tr.tc_lst] for tr in table._tbl.tr_lst]
    for number, row in enumerate(grid):
        for cell, width in zip(row, widths, strict=True):
            cell.width = width
        if number < form.header_rows:  # the column headings again at the top of every page
            header = OxmlElement("w:tblHeader")
            header.set(qn("w:val"), "true")
            table._tbl.tr_lst[number].get_or_add_trPr().append(header)
    for r, c, cell in form.merges():
        target = grid[r][c]
        if cell.rows > 1 or cell.cols > 1:
            target = target.merge(grid[r + cell.rows - 1][c + cell.cols - 1])
        target.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        paragraph = target.paragraphs[0]
        if cell.kind != "label":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _styled(paragraph.add_run(cell.text), "黑体" if cell.kind == "head" else "仿宋", 9)
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
