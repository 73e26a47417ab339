"""The annual report (政府信息公开工作年度报告, format V2021): what operators enter, the check rules
printed on the form, and the report written from the year's figures in the manner townships
write it. Pure: no I/O."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)

from services.stats.domain import Figures, Timeliness
from shared.domain import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    Category,
    CleanText,
    DecisionKind,
    DocumentKind,
    FilledText,
    OfficeLevel,
    document_refused,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A count on the form: bounded, so that it always fits a stored 64-bit integer.
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]


# ---- Table B: 收到和处理政府信息公开申请情况 -------------------------------------------------

APPLICANTS = {
    "natural_person": "自然人",
    "commercial": "商业企业",
    "research": "科研机构",
    "public_interest": "社会公益组织",
    "legal_services": "法律服务机构",
    "other_organisation": "其他",
}


class Totalled(Strict):
    """Counts whose `total` (总计) may be left out: it is then their sum; when given, it must
    equal that sum (the form's rule)."""

    PARTS: ClassVar[tuple[str, ...]]
    total: Count | None = None

    def parts_sum(self) -> int:
        return sum(getattr(self, part) for part in self.PARTS)

    def value(self, key: str) -> int:
        return self.parts_sum() if key == "total" and self.total is None else getattr(self, key)


class ApplicantRow(Totalled):
    """One row of Table B across its applicant columns."""

    PARTS: ClassVar[tuple[str, ...]] = tuple(APPLICANTS)
    natural_person: Count = 0
    commercial: Count = 0
    research: Count = 0
    public_interest: Count = 0
    legal_services: Count = 0
    other_organisation: Count = 0


COLUMNS = [*APPLICANTS, "total"]

# The outcome rows of 三、本年度办理结果, in the form's order: (group, label, [(key, label)]).
OUTCOMES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("disclosed", "（一）予以公开", []),
    ("partly_disclosed", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）", []),
    (
        "not_disclosed",
        "（三）不予公开",
        [
            ("state_secret", "1.属于国家秘密"),
            ("prohibited_by_law", "2.其他法律行政法规禁止公开"),
            ("security_stability", "3.危及“三安全一稳定”"),
            ("third_party_rights", "4.保护第三方合法权益"),
            ("internal_affairs", "5.属于三类内部事务信息"),
            ("process_information", "6.属于四类过程性信息"),
            ("law_enforcement_files", "7.属于行政执法案卷"),
            ("inquiry_matters", "8.属于行政查询事项"),
        ],
    ),
    (
        "unable_to_provide",
        "（四）无法提供",
        [
            ("not_held", "1.本机关不掌握相关政府信息"),
            ("needs_creation", "2.没有现成信息需要另行制作"),
            ("still_unclear", "3.补正后申请内容仍不明确"),
        ],
    ),
    (
        "not_processed",
        "（五）不予处理",
        [
            ("petitions", "1.信访举报投诉类申请"),
            ("repeated", "2.重复申请"),
            ("publications", "3.要求提供公开出版物"),
            ("excessive", "4.无正当理由大量反复申请"),
            ("confirm_or_reissue", "5.要求行政机关确认或重新出具已获取信息"),
        ],
    ),
    (
        "other",
        "（六）其他处理",
        [
            ("overdue_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
            ("unpaid_fees", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
            ("other", "3.其他"),
        ],
    ),
]


def _rows_model(name: str, keys: list[str]) -> type[Strict]:
    fields = {key: (ApplicantRow, Field(default_factory=ApplicantRow)) for key in keys}
    return create_model(name, __base__=Strict, **fields)


NotDisclosed = _rows_model("NotDisclosed", [k for k, _ in OUTCOMES[2][2]])
UnableToProvide = _rows_model("UnableToProvide", [k for k, _ in OUTCOMES[3][2]])
NotProcessed = _rows_model("NotProcessed", [k for k, _ in OUTCOMES[4][2]])
OtherHandling = _rows_model("OtherHandling", [k for k, _ in OUTCOMES[5][2]])


class Results(Strict):
    """三、本年度办理结果. `total` (（七）总计) may be left out; when given it is checked."""

    disclosed: ApplicantRow = Field(default_factory=ApplicantRow)
    partly_disclosed: ApplicantRow = Field(default_factory=ApplicantRow)
    not_disclosed: NotDisclosed = Field(default_factory=NotDisclosed)
    unable_to_provide: UnableToProvide = Field(default_factory=UnableToProvide)
    not_processed: NotProcessed = Field(default_factory=NotProcessed)
    other: OtherHandling = Field(default_factory=OtherHandling)
    total: ApplicantRow | None = None

    def outcome_rows(self) -> list[tuple[str, str, ApplicantRow]]:
        """(path, label, row) of every outcome row that is counted, in the form's order."""
        rows = []
        for group, label, items in OUTCOMES:
            if not items:
                rows.append((group, label, getattr(self, group)))
            for key, item_label in items:
                rows.append((f"{group}.{key}", f"{label} {item_label}", getattr(getattr(self, group), key)))
        return rows

    def outcome_sum(self, column: str) -> int:
        return sum(row.value(column) for _, _, row in self.outcome_rows())

    def total_of(self, column: str) -> int:
        return self.outcome_sum(column) if self.total is None else self.total.value(column)


class TableB(Strict):
    new_applications: ApplicantRow = Field(default_factory=ApplicantRow)  # 一、本年新收
    carried_over: ApplicantRow = Field(default_factory=ApplicantRow)  # 二、上年结转
    results: Results = Field(default_factory=Results)  # 三、本年度办理结果
    carried_forward: ApplicantRow = Field(default_factory=ApplicantRow)  # 四、结转下年度继续办理


# ---- Table C: 政府信息公开行政复议、行政诉讼情况 -------------------------------------------------

PROCEEDINGS = {
    "reconsideration": "行政复议",
    "lawsuit_direct": "行政诉讼（未经复议直接起诉）",
    "lawsuit_after_reconsideration": "行政诉讼（复议后起诉）",
}
RESULTS = {"upheld": "结果维持", "corrected": "结果纠正", "other": "其他结果", "pending": "尚未审结"}


class ProceedingCounts(Totalled):
    PARTS: ClassVar[tuple[str, ...]] = tuple(RESULTS)
    upheld: Count = 0
    corrected: Count = 0
    other: Count = 0
    pending: Count = 0


class TableC(Strict):
    reconsideration: ProceedingCounts = Field(default_factory=ProceedingCounts)
    lawsuit_direct: ProceedingCounts = Field(default_factory=ProceedingCounts)
    lawsuit_after_reconsideration: ProceedingCounts = Field(default_factory=ProceedingCounts)


# ---- What operators enter --------------------------------------------------------------------


# An amount of up to 8 digits and 4 decimals, as the schema says it (pydantic's own admits any
# string), given as a number or as a string.
AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 99999999.9999, "multipleOf": 0.0001},
        {"type": "string", "pattern": r"^[0-9]{1,8}(\.[0-9]{1,4})?$"},
    ]
}


class TableAInputs(Strict):
    """What the pipeline cannot know of Table A, and what the office counts better than it."""

    fees_collected_10k_yuan: Annotated[Decimal, WithJsonSchema(AMOUNT_SCHEMA)] = Field(
        Decimal(0), ge=0, max_digits=12, decimal_places=4, description="行政事业性收费 本年收费金额（万元）"
    )
    in_force_before_records: dict[DocumentKind, Count] = Field(
        default_factory=dict,
        description="规章 / 行政规范性文件 in force before the system's records begin (added to 现行有效件数)",
    )
    decisions: dict[DecisionKind, Count] = Field(
        default_factory=dict,
        description="本年处理决定数量 as the office counts it, per kind (license, punishment, coercion); it "
        "replaces the pipeline's count, which only sees decisions published as items (Art. 20(六) asks only "
        "for those with 一定社会影响). The draft shows the pipeline's count beside it.",
    )


PLACEHOLDERS = frozenset({"本机关", "本单位", "本部门", "本镇", "本级"})


def _a_name(name: str) -> str:
    if name in PLACEHOLDERS:
        raise ValueError(f"{name} is not a name: write the office's own, e.g. 楠杆镇人民政府")
    return name


OfficeName = Annotated[FilledText, Field(max_length=100), AfterValidator(_a_name)]


class ReportInputs(Strict):
    """`PUT /v1/reports/annual/{year}/inputs`: what the operator enters for the year's report."""

    organisation: OfficeName | None = Field(
        None,
        description="The office's name as the report's title writes it, e.g. 楠杆镇人民政府; "
        "when left out, GONGKAI_OFFICE_NAME",
    )
    overview: CleanText = Field(
        "", max_length=20_000, description="Further text for 一、总体情况, after the figures"
    )
    table_a: TableAInputs = Field(default_factory=TableAInputs)
    table_b: TableB = Field(default_factory=TableB)
    table_c: TableC = Field(default_factory=TableC)
    problems_and_improvements: CleanText = Field(
        "", max_length=20_000, description="五、存在的主要问题及改进情况"
    )
    other_matters: CleanText = Field("", max_length=20_000, description="六、其他需要报告的事项")


class RuleBroken(BaseModel):
    """A cell of the report that breaks a check rule of the form."""

    cell: str
    rule: str


# ---- Table A as the pipeline counted it ---------------------------------------------------------


class DocumentCounts(BaseModel):
    """One kind of document (规章, 行政规范性文件) as the published items recorded it."""

    issued: int = 0  # this year
    repealed: int = 0  # this year
    issued_since_records: int = 0  # every year up to this one
    repealed_since_records: int = 0

    def in_force(self, before_records: int) -> int:
        return before_records + self.issued_since_records - self.repealed_since_records


def document_counts(figures: Figures, years: dict[int, dict]) -> dict[DocumentKind, DocumentCounts]:
    """规章 and 行政规范性文件 issued and repealed in the year (`figures`) and in every year up to it
    (`years`, each year's whole-year counters)."""
    counts = {}
    for kind in DocumentKind:
        this_year = figures.table_a.documents.get(kind, {})
        every_year = [c.get("table_a", {}).get("documents", {}).get(kind, {}) for c in years.values()]
        counts[kind] = DocumentCounts(
            issued=this_year.get("issued", 0),
            repealed=this_year.get("repealed", 0),
            issued_since_records=sum(d.get("issued", 0) for d in every_year),
            repealed_since_records=sum(d.get("repealed", 0) for d in every_year),
        )
    return counts


def check(
    inputs: ReportInputs,
    last_year: ReportInputs | None,
    documents: dict[DocumentKind, DocumentCounts] | None = None,
    level: OfficeLevel = OfficeLevel.TOWNSHIP,
) -> list[RuleBroken]:
    """Every check rule of the V2021 form that `inputs` break (none: the report may be produced),
    and every Table A row the office cannot have or that would go below zero. `documents` are
    the pipeline's counts of Table A's first block (None: not known here, not checked)."""
    return [
        *_table_a_rules(inputs, documents or {}, level),
        *_table_b_rules(inputs, last_year),
        *_table_c_rules(inputs),
    ]


def _table_a_rules(
    inputs: ReportInputs, documents: dict[DocumentKind, DocumentCounts], level: OfficeLevel
) -> list[RuleBroken]:
    broken = []
    before = inputs.table_a.in_force_before_records
    for kind in DocumentKind:
        refused = document_refused(level, kind)
        counts = documents.get(kind, DocumentCounts())
        if refused and before.get(kind, 0):
            broken.append(RuleBroken(cell=f"table_a.in_force_before_records.{kind}", rule=refused))
        if refused and (counts.issued_since_records or counts.repealed_since_records):
            broken.append(
                RuleBroken(
                    cell=f"table_a.documents.{kind}",
                    rule=f"{counts.issued_since_records} issued and {counts.repealed_since_records} repealed "
                    f"{DOCUMENT_LABELS[kind]} were counted from published items, but {refused}. Set "
                    "GONGKAI_OFFICE_LEVEL to the office's real level, or correct the archived events and "
                    "run gongkai stats rebuild",
                )
            )
        in_force = counts.in_force(before.get(kind, 0))
        if in_force < 0 and not refused:
            broken.append(
                RuleBroken(
                    cell=f"table_a.in_force_before_records.{kind}",
                    rule=f"现行有效件数 of {DOCUMENT_LABELS[kind]} would be {in_force}: "
                    f"{counts.repealed_since_records} repealed since the records began, "
                    f"{counts.issued_since_records} issued; enter how many were in force before the "
                    f"records began (at least {before.get(kind, 0) - in_force})",
                )
            )
    return broken


def _table_b_rules(inputs: ReportInputs, last_year: ReportInputs | None) -> list[RuleBroken]:
    broken: list[RuleBroken] = []
    b = inputs.table_b
    named_rows = [
        ("table_b.new_applications", b.new_applications),
        ("table_b.carried_over", b.carried_over),
        *((f"table_b.results.{path}", row) for path, _, row in b.results.outcome_rows()),
        *([("table_b.results.total", b.results.total)] if b.results.total else []),
        ("table_b.carried_forward", b.carried_forward),
    ]
    for path, row in named_rows:
        if row.total is not None and row.total != row.parts_sum():
            broken.append(
                RuleBroken(
                    cell=f"{path}.total",
                    rule=f"总计 ({row.total}) must equal the sum of the applicant columns ({row.parts_sum()})",
                )
            )
    for column in COLUMNS:
        if b.results.total is not None and b.results.total.value(column) != b.results.outcome_sum(column):
            broken.append(
                RuleBroken(
                    cell=f"table_b.results.total.{column}",
                    rule=f"三（七）总计 ({b.results.total.value(column)}) must equal the sum of the outcome rows "
                    f"（一）to（六） ({b.results.outcome_sum(column)})",
                )
            )
        received = b.new_applications.value(column) + b.carried_over.value(column)
        handled = b.results.total_of(column) + b.carried_forward.value(column)
        if received != handled:
            broken.append(
                RuleBroken(
                    cell=f"table_b.carried_forward.{column}",
                    rule=f"一 + 二 ({received}) must equal 三（七）总计 + 四 ({handled}) in column {column}",
                )
            )
        if last_year is not None:
            expected = last_year.table_b.carried_forward.value(column)
            if b.carried_over.value(column) != expected:
                broken.append(
                    RuleBroken(
                        cell=f"table_b.carried_over.{column}",
                        rule=f"二、上年结转 ({b.carried_over.value(column)}) must equal last year's "
                        f"四、结转下年度继续办理 ({expected})",
                    )
                )
    return broken


def _table_c_rules(inputs: ReportInputs) -> list[RuleBroken]:
    broken = []
    for key in PROCEEDINGS:
        counts: ProceedingCounts = getattr(inputs.table_c, key)
        if counts.total is not None and counts.total != counts.parts_sum():
            broken.append(
                RuleBroken(
                    cell=f"table_c.{key}.total",
                    rule=f"总计 ({counts.total}) must equal 维持 + 纠正 + 其他 + 尚未审结 ({counts.parts_sum()})",
                )
            )
    return broken


def organisation_of(inputs: ReportInputs, office_name: str) -> str | None:
    """The office the report is of: the operator's `organisation`, else GONGKAI_OFFICE_NAME."""
    return inputs.organisation or office_name.strip() or None


def unnamed(inputs: ReportInputs, office_name: str) -> list[RuleBroken]:
    """The report's title names the office, never a placeholder such as 本机关."""
    if organisation_of(inputs, office_name):
        return []
    return [
        RuleBroken(
            cell="organisation",
            rule="the report's title names the office (e.g. 楠杆镇人民政府): enter organisation, or set "
            "GONGKAI_OFFICE_NAME",
        )
    ]


def not_finalisable(inputs: ReportInputs, year: int, today: date) -> list[RuleBroken]:
    """What keeps a report that keeps every check rule from becoming final."""
    broken = []
    if today <= date(year, 12, 31):
        broken.append(
            RuleBroken(
                cell="year",
                rule=f"{year} is not over (China time): its report can be made final from {year + 1}-01-01",
            )
        )
    if not inputs.problems_and_improvements.strip():
        broken.append(
            RuleBroken(
                cell="problems_and_improvements",
                rule="五、存在的主要问题及改进情况 must be written before the report can be final",
            )
        )
    return broken


# ---- The report -------------------------------------------------------------------------------


class ReportState(StrEnum):
    DRAFT = "draft"  # written afresh from the figures whenever it is asked for
    FINAL = "final"  # frozen as rendered when it was made final; published on the portal's 年报 page


class DocumentsRow(BaseModel):
    label: str
    issued: int
    repealed: int
    in_force: int


class TableAReport(BaseModel):
    documents: list[DocumentsRow]  # 第二十条第（一）项: 规章, 行政规范性文件
    decisions: dict[
        str, int
    ]  # 第（五）项 行政许可, 第（六）项 行政处罚 / 行政强制: 本年处理决定数量 as printed
    decisions_counted: dict[str, int] = {}  # the pipeline's count, from published items
    decisions_entered: dict[str, int] = {}  # the operator's figure, where one was entered
    fees_collected_10k_yuan: Decimal  # 第（八）项


class AnnualReport(BaseModel):
    year: int
    organisation: str
    state: ReportState = ReportState.DRAFT
    finalised_at: datetime | None = None
    as_of: date
    overview: list[str]  # 一、总体情况, paragraph by paragraph
    table_a: TableAReport
    table_b: TableB
    table_c: TableC
    applications_summary: str
    proceedings_summary: str
    problems_and_improvements: str
    other_matters: str
    figures: Figures

    @property
    def title(self) -> str:
        return f"{self.organisation}{self.year}年政府信息公开工作年度报告"


DOCUMENT_LABELS = {DocumentKind.RULE: "规章", DocumentKind.NORMATIVE: "行政规范性文件"}
DECISION_LABELS = {
    DecisionKind.LICENSE: "行政许可",
    DecisionKind.PUNISHMENT: "行政处罚",
    DecisionKind.COERCION: "行政强制",
}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _overview(org: str, f: Figures, as_of: date) -> list[str]:
    p = f.published
    channels = "，".join(
        f"{'在' if channel == 'platform' else ''}{CHANNEL_LABELS[channel]}发布{count}条"
        for channel, count in p.by_channel.items()
    )
    paragraphs = [
        f"{f.year}年，{org}严格按照《中华人民共和国政府信息公开条例》规定，坚持“先审查、后发布”和"
        f"“涉密信息不上网，上网信息不涉密”的原则，稳步推进政府信息公开工作。截至{as_of.year}年"
        f"{as_of.month}月{as_of.day}日，共更新和发布信息{p.total}条，其中，{channels}；"
        f"涉及政府信息{p.items}件。"
    ]
    if p.by_category:
        ranked = sorted(p.by_category.items(), key=lambda kv: (-kv[1], kv[0]))
        by_category = "、".join(f"{CATEGORY_LABELS[Category(c)]}{n}条" for c, n in ranked)
        paragraphs.append(f"按类别分：{by_category}。")
    s, r, t = f.submissions, f.review, f.timeliness
    # Not 不予公开: that is Table B's outcome for refused applications, not for drafts held back.
    paragraphs.append(
        f"全年共收到各部门报送的公开信息{s.received}件，经保密审查和发布审核"
        # The 公开属性 of the approved: those not proactive are recorded, never put online.
        + (
            f"同意{s.approved}件（其中主动公开{s.approved - s.held}件，依申请公开等不主动公开的{s.held}件不上网发布）"
            if s.held
            else f"同意公开{s.approved}件"
        )
        + f"，审查未通过{s.rejected}件（其中自动拦截涉密标识{r.auto_blocked}件），退回修改{s.returned}件，"
        f"撤回{s.withdrawn}件。"
    )
    changes = t.changes.on_time + t.changes.late
    paragraphs.append(
        f"{_deadlines(t)}公开的{t.on_time}件，超期公开的{t.late}件"
        + (
            f"；已公开信息变更后在时限内更新的{t.changes.on_time}件，超期更新的{t.changes.late}件"
            if changes
            else ""
        )
        + f"。信息公开“三率”：公开率{_percent(f.rates.disclosure)}，"
        f"及时率{_percent(f.rates.timeliness)}，准确率{_percent(f.rates.accuracy)}。"
    )
    return paragraphs


def _deadlines(t: Timeliness) -> str:
    """The deadlines the timeliness figures were judged by, as the sentence that states them."""
    own = t.own_deadlines()
    if not own:
        return f"按照条例第二十六条，在信息形成或者变更之日起{t.working_days_limit}个工作日内"
    limits = "，".join(
        f"{'、'.join(CATEGORY_LABELS[Category(c)] for c in categories)}信息{days}个工作日"
        for days, categories in own.items()
    )
    return (
        f"按照条例第二十六条及有关规定的公开时限（{limits}，其他信息{t.working_days_limit}个工作日），"
        f"在信息形成或者变更之日起规定时限内"
    )


def _applications_summary(org: str, b: TableB, year: int) -> str:
    new, total = b.new_applications.value("total"), b.results.total_of("total")
    if new == 0 and b.carried_over.value("total") == 0:
        return f"{year}年，{org}没有收到要求公开信息的申请。"
    return (
        f"{year}年，{org}新收政府信息公开申请{new}件，上年结转{b.carried_over.value('total')}件，"
        f"办结{total}件，其中予以公开{b.results.disclosed.value('total')}件，"
        f"部分公开{b.results.partly_disclosed.value('total')}件；结转下年度继续办理"
        f"{b.carried_forward.value('total')}件。"
    )


def _proceedings_summary(org: str, c: TableC, year: int) -> str:
    reconsiderations = c.reconsideration.value("total")
    lawsuits = c.lawsuit_direct.value("total") + c.lawsuit_after_reconsideration.value("total")
    if reconsiderations == 0 and lawsuits == 0:
        return (
            f"{year}年，{org}没有发生针对政府信息公开事务的行政复议案，"
            "没有发生针对政府信息公开事务的行政诉讼案。"
        )
    return f"{year}年，{org}发生政府信息公开行政复议{reconsiderations}件，行政诉讼{lawsuits}件。"


def annual_report(
    figures: Figures,
    inputs: ReportInputs,
    years: dict[int, dict],
    as_of: date,
    office_name: str = "",
) -> AnnualReport:
    """The year's draft report from its figures, every year's counters up to it (for 现行有效件数)
    and the operator's inputs, checked beforehand with `check` and `unnamed`."""
    org = organisation_of(inputs, office_name)
    if org is None:
        raise ValueError("the report names its office: check `unnamed` first")
    counts = document_counts(figures, years)
    documents = [
        DocumentsRow(
            label=DOCUMENT_LABELS[kind],
            issued=counts[kind].issued,
            repealed=counts[kind].repealed,
            in_force=max(counts[kind].in_force(inputs.table_a.in_force_before_records.get(kind, 0)), 0),
        )
        for kind in DocumentKind
    ]
    entered = inputs.table_a.decisions
    counted = {k: figures.table_a.decisions.get(k, 0) for k in DecisionKind}
    return AnnualReport(
        year=figures.year,
        organisation=org,
        as_of=as_of,
        overview=[*_overview(org, figures, as_of), *(p for p in inputs.overview.splitlines() if p.strip())],
        table_a=TableAReport(
            documents=documents,
            decisions={DECISION_LABELS[k]: entered.get(k, counted[k]) for k in DecisionKind},
            decisions_counted={DECISION_LABELS[k]: counted[k] for k in DecisionKind},
            decisions_entered={DECISION_LABELS[k]: entered[k] for k in DecisionKind if k in entered},
            fees_collected_10k_yuan=inputs.table_a.fees_collected_10k_yuan,
        ),
        table_b=inputs.table_b,
        table_c=inputs.table_c,
        applications_summary=_applications_summary(org, inputs.table_b, figures.year),
        proceedings_summary=_proceedings_summary(org, inputs.table_c, figures.year),
        problems_and_improvements=inputs.problems_and_improvements,
        other_matters=inputs.other_matters,
        figures=figures,
    )


def finalised(report: AnnualReport, at: datetime) -> AnnualReport:
    """The report as it is frozen: the same figures, marked final."""
    return report.model_copy(update={"state": ReportState.FINAL, "finalised_at": at})


def table_b_rows(b: TableB) -> list[tuple[str, list[int]]]:
    """Table B's figures row by row: each row's label and its seven columns."""
    rows = [
        ("一、本年新收政府信息公开申请数量", b.new_applications),
        ("二、上年结转政府信息公开申请数量", b.carried_over),
    ]
    rows += [(f"三、{label}", row) for _, label, row in b.results.outcome_rows()]
    printed = [(label, [row.value(c) for c in COLUMNS]) for label, row in rows]
    printed.append(("三、（七）总计", [b.results.total_of(c) for c in COLUMNS]))
    printed.append(("四、结转下年度继续办理", [b.carried_forward.value(c) for c in COLUMNS]))
    return printed


def table_c_row(c: TableC) -> list[int]:
    """Table C's one row of 15 figures."""
    return [getattr(c, key).value(r) for key in PROCEEDINGS for r in [*RESULTS, "total"]]
