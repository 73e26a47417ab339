"""The three tables of the annual report laid out cell by cell as the V2021 form prints them
(国办公开办函〔2021〕30号): every block, every header row, every merged cell. Markdown, HTML and
Word are all written from these grids, so the three cannot drift from the form or from each
other. Pure: no I/O."""

from dataclasses import dataclass
from typing import Literal

from services.stats.report import (
    OUTCOMES,
    AnnualReport,
    ReportState,
    table_b_rows,
    table_c_row,
)

CellKind = Literal["head", "label", "figure"]


@dataclass(frozen=True)
class Cell:
    """One cell of the form; `rows` and `cols` are how many grid positions it covers."""

    text: str
    kind: CellKind = "figure"
    rows: int = 1
    cols: int = 1


def head(text: str, rows: int = 1, cols: int = 1) -> Cell:
    return Cell(text, "head", rows, cols)


def label(text: str, rows: int = 1, cols: int = 1) -> Cell:
    return Cell(text, "label", rows, cols)


@dataclass(frozen=True)
class FormTable:
    """A table as HTML writes it: each row lists the cells that begin in it, left to right.
    `header_rows` are the column headings (repeated on every page in Word); `label_columns` are
    the columns that hold row labels rather than figures."""

    name: str
    columns: int
    label_columns: int
    header_rows: int
    rows: tuple[tuple[Cell, ...], ...]

    def grid(self) -> list[list[Cell | None]]:
        """Every grid position: the cell that begins there, or None where a merged cell covers it.
        Raises ValueError if the cells do not tile the grid exactly."""
        taken: set[tuple[int, int]] = set()
        grid: list[list[Cell | None]] = [[None] * self.columns for _ in self.rows]
        for r, row in enumerate(self.rows):
            c = 0
            for cell in row:
                while (r, c) in taken:
                    c += 1
                for dr in range(cell.rows):
                    for dc in range(cell.cols):
                        position = (r + dr, c + dc)
                        if position in taken or c + dc >= self.columns or r + dr >= len(self.rows):
                            raise ValueError(f"{self.name}: cell {cell.text!r} overlaps or overflows")
                        taken.add(position)
                grid[r][c] = cell
                c += cell.cols
        if len(taken) != self.columns * len(self.rows):
            raise ValueError(f"{self.name}: the cells leave gaps")
        return grid

    def merges(self) -> list[tuple[int, int, Cell]]:
        """(row, column, cell) of every cell, with its top-left grid position."""
        return [
            (r, c, cell)
            for r, row in enumerate(self.grid())
            for c, cell in enumerate(row)
            if cell is not None
        ]


# ---- Table A: 主动公开政府信息情况 -------------------------------------------------------------


def _decided(report: AnnualReport, kind_label: str) -> str:
    """本年处理决定数量 as printed; a draft shows the pipeline's count beside an entered figure."""
    a = report.table_a
    figure = str(a.decisions[kind_label])
    if report.state == ReportState.DRAFT and kind_label in a.decisions_entered:
        return f"{figure}（系统统计{a.decisions_counted.get(kind_label, 0)}）"
    return figure


def table_a(report: AnnualReport) -> FormTable:
    """Four blocks, each with its 第二十条 heading over the whole width and its 信息内容 header
    row; the single figure of 第（五）（六）（八）项 spans the three figure columns."""
    a = report.table_a
    rows: list[tuple[Cell, ...]] = [
        (head("第二十条第（一）项", cols=4),),
        (head("信息内容"), head("本年制发件数"), head("本年废止件数"), head("现行有效件数")),
        *(
            (label(d.label), Cell(str(d.issued)), Cell(str(d.repealed)), Cell(str(d.in_force)))
            for d in a.documents
        ),
        (head("第二十条第（五）项", cols=4),),
        (head("信息内容"), head("本年处理决定数量", cols=3)),
        (label("行政许可"), Cell(_decided(report, "行政许可"), cols=3)),
        (head("第二十条第（六）项", cols=4),),
        (head("信息内容"), head("本年处理决定数量", cols=3)),
        (label("行政处罚"), Cell(_decided(report, "行政处罚"), cols=3)),
        (label("行政强制"), Cell(_decided(report, "行政强制"), cols=3)),
        (head("第二十条第（八）项", cols=4),),
        (head("信息内容"), head("本年收费金额（单位：万元）", cols=3)),
        (label("行政事业性收费"), Cell(str(a.fees_collected_10k_yuan), cols=3)),
    ]
    return FormTable("table_a", columns=4, label_columns=1, header_rows=0, rows=tuple(rows))


# ---- Table B: 收到和处理政府信息公开申请情况 ------------------------------------------------------

CHECK_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
ORGANISATION_COLUMNS = ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")


def table_b(report: AnnualReport) -> FormTable:
    """Three header rows under the 勾稽 note: 申请人情况 over all seven columns; 自然人, 法人或其他
    组织 over its five, 总计; the five kinds of organisation. Three label columns: 一 to 四, the
    outcome groups （一）to（七） under 三, and the numbered reasons under a group."""
    figures = dict(table_b_rows(report.table_b))

    def numbers(key: str) -> tuple[Cell, ...]:
        return tuple(Cell(str(v)) for v in figures[key])

    rows: list[tuple[Cell, ...]] = [
        (head(CHECK_NOTE, rows=3, cols=3), head("申请人情况", cols=7)),
        (head("自然人", rows=2), head("法人或其他组织", cols=5), head("总计", rows=2)),
        tuple(head(name) for name in ORGANISATION_COLUMNS),
        (label("一、本年新收政府信息公开申请数量", cols=3), *numbers("一、本年新收政府信息公开申请数量")),
        (label("二、上年结转政府信息公开申请数量", cols=3), *numbers("二、上年结转政府信息公开申请数量")),
    ]
    outcomes: list[tuple[Cell, ...]] = []
    for _, group, items in OUTCOMES:
        if not items:
            outcomes.append((label(group, cols=2), *numbers(f"三、{group}")))
        for n, (_, item) in enumerate(items):
            grouped = (label(group, rows=len(items)),) if n == 0 else ()
            outcomes.append((*grouped, label(item), *numbers(f"三、{group} {item}")))
    outcomes.append((label("（七）总计", cols=2), *numbers("三、（七）总计")))
    outcomes[0] = (label("三、本年度办理结果", rows=len(outcomes)), *outcomes[0])
    rows += outcomes
    rows.append((label("四、结转下年度继续办理", cols=3), *numbers("四、结转下年度继续办理")))
    return FormTable("table_b", columns=10, label_columns=3, header_rows=3, rows=tuple(rows))


# ---- Table C: 政府信息公开行政复议、行政诉讼情况 -----------------------------------------------------

RESULT_HEADS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")


def table_c(report: AnnualReport) -> FormTable:
    """行政复议 over five columns and 行政诉讼 over ten, the latter split into 未经复议直接起诉 and
    复议后起诉; the five results under each; one row of fifteen figures."""
    rows: list[tuple[Cell, ...]] = [
        (head("行政复议", cols=5), head("行政诉讼", cols=10)),
        (
            *(head(name, rows=2) for name in RESULT_HEADS),
            head("未经复议直接起诉", cols=5),
            head("复议后起诉", cols=5),
        ),
        tuple(head(name) for name in RESULT_HEADS * 2),
        tuple(Cell(str(v)) for v in table_c_row(report.table_c)),
    ]
    return FormTable("table_c", columns=15, label_columns=0, header_rows=3, rows=tuple(rows))


def tables(report: AnnualReport) -> dict[str, FormTable]:
    return {"table_a": table_a(report), "table_b": table_b(report), "table_c": table_c(report)}
