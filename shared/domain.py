"""Vocabulary every service shares: categories, channels, statuses, rejection reasons."""

import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, StringConstraints

CHINA = ZoneInfo("Asia/Shanghai")  # the calendar the users' days, months and years are counted in


def china_date(at: datetime) -> date:
    """The day a moment falls on in China, whatever time zone it was recorded in."""
    return at.astimezone(CHINA).date()


# A department's short code, as operators register it ('finance', 'village-3').
DEPARTMENT_CODE = r"^[a-z0-9][a-z0-9_-]{0,39}$"


def each_once(values: list) -> list:
    """For list fields whose entries are a set (channels, attachments, events)."""
    if len(set(values)) != len(values):
        raise ValueError("each value at most once")
    return values


# Control characters other than tab and line breaks never belong in a text (NUL breaks storage,
# and Word files cannot hold them), nor do the noncharacters U+FFFE and U+FFFF, which are not XML
# characters either (a Word file cannot hold them: the report's rendering was a 500).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("contains control characters; only tabs and line breaks are allowed")
    return value


# The same rules as patterns in the OpenAPI document, so that clients see them before they send:
# no control characters, and for a text that must not be empty, something beside the white
# space that is stripped (str.strip's, which is not a regular expression's \s).
_CONTROLS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff"
_STRIPPED = "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace())
CleanText = Annotated[
    str, AfterValidator(_no_control_characters), Field(json_schema_extra={"pattern": f"^[^{_CONTROLS}]*$"})
]
FilledText = Annotated[
    CleanText,
    StringConstraints(strip_whitespace=True),
    Field(
        min_length=1,
        json_schema_extra={"pattern": f"^[^{_CONTROLS}]*[^{_CONTROLS}{_STRIPPED}][^{_CONTROLS}]*$"},
    ),
]


# each_once as its schema says it, so that clients see the rule before they send.
EACH_ONCE = Field(json_schema_extra={"uniqueItems": True})


class Category(StrEnum):
    """DOMAIN.md "Categories": what an item is, by Art. 20/21 and township practice."""

    ORGANIZATION = "organization"
    REGULATION = "regulation"
    PLANNING = "planning"
    STATISTICS = "statistics"
    LICENSE = "license"
    PENALTY = "penalty"
    BUDGET = "budget"
    FEES = "fees"
    PROCUREMENT = "procurement"
    PROJECTS = "projects"
    LIVELIHOOD = "livelihood"
    EMERGENCY = "emergency"
    SUPERVISION = "supervision"
    PERSONNEL = "personnel"
    RURAL = "rural"
    WORK_NEWS = "work_news"
    NOTICE = "notice"
    VILLAGE_AFFAIRS = "village_affairs"
    OTHER = "other"


CATEGORY_LABELS: dict[Category, str] = {
    Category.ORGANIZATION: "机构职能",
    Category.REGULATION: "政策文件",
    Category.PLANNING: "规划计划",
    Category.STATISTICS: "统计信息",
    Category.LICENSE: "行政许可",
    Category.PENALTY: "行政处罚、行政强制",
    Category.BUDGET: "财政预决算",
    Category.FEES: "行政事业性收费",
    Category.PROCUREMENT: "政府采购",
    Category.PROJECTS: "重大建设项目",
    Category.LIVELIHOOD: "民生保障",
    Category.EMERGENCY: "应急管理",
    Category.SUPERVISION: "监督检查",
    Category.PERSONNEL: "人事信息",
    Category.RURAL: "乡镇职责事项",
    Category.WORK_NEWS: "工作动态",
    Category.NOTICE: "通知公告",
    Category.VILLAGE_AFFAIRS: "村务公开",
    Category.OTHER: "其他",
}


class Channel(StrEnum):
    PLATFORM = "platform"  # 统一平台: the external unified disclosure platform, pushed to over HTTP
    PORTAL = "portal"  # 门户网站: the government portal website


CHANNEL_LABELS: dict[Channel, str] = {Channel.PLATFORM: "统一平台", Channel.PORTAL: "政府门户网站"}


class SubmissionStatus(StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    REJECTED = "rejected"
    APPROVED = "approved"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class ChannelState(StrEnum):
    """What a channel shows of an item: the fact a withdrawal acts on, whatever was wanted."""

    NEVER_PUBLISHED = "never_published"  # nothing of the item ever reached it
    LIVE = "live"  # it shows the newest approved revision
    LIVE_STALE = "live_stale"  # it shows an older revision: an update is due, or failed for good
    GONE = "gone"  # it showed the item and has taken it off


ON_CHANNEL = frozenset({ChannelState.LIVE, ChannelState.LIVE_STALE})  # what a withdrawal takes down


class RejectionReason(StrEnum):
    CLASSIFIED = "classified"  # 涉密
    PRIVACY = "privacy"  # 个人隐私
    TRADE_SECRET = "trade_secret"  # 商业秘密
    SECURITY_STABILITY = "security_stability"  # 三安全一稳定
    INTERNAL_AFFAIRS = "internal_affairs"  # 内部事务信息
    PROCESS_INFORMATION = "process_information"  # 过程性信息
    INACCURATE = "inaccurate"  # 内容不准确
    OTHER = "other"  # 其他 (a comment is required)


class DocumentKind(StrEnum):
    """Table A, Art. 20 (一): the two kinds of regulatory document counted."""

    RULE = "rule"  # 规章
    NORMATIVE = "normative"  # 行政规范性文件


class DocumentAction(StrEnum):
    ISSUED = "issued"  # 制发
    REPEALED = "repealed"  # 废止


class OfficeLevel(StrEnum):
    """The level of the office whose disclosure work this deployment runs: it decides which rows
    of Table A the office can have at all."""

    TOWNSHIP = "township"  # 乡镇人民政府、街道办事处
    COUNTY = "county"  # 县级人民政府及其部门
    PREFECTURE = "prefecture"  # 设区的市、自治州人民政府及其部门
    PROVINCE = "province"  # 省、自治区、直辖市人民政府及其部门
    MINISTRY = "ministry"  # 国务院部门


OFFICE_LEVEL_LABELS: dict[OfficeLevel, str] = {
    OfficeLevel.TOWNSHIP: "乡镇级",
    OfficeLevel.COUNTY: "县级",
    OfficeLevel.PREFECTURE: "设区的市级",
    OfficeLevel.PROVINCE: "省级",
    OfficeLevel.MINISTRY: "国务院部门",
}

# 规章 are made by State Council departments (立法法 Art. 91) and by the people's governments of
# provinces, prefecture-level cities and autonomous prefectures (Art. 93); a township or county has
# no power to make one, so Table A's 规章 row stays 0 for it.
RULE_MAKING_LEVELS = frozenset({OfficeLevel.PREFECTURE, OfficeLevel.PROVINCE, OfficeLevel.MINISTRY})


def document_refused(level: OfficeLevel, kind: DocumentKind) -> str | None:
    """Why an office of `level` cannot record a document of `kind` (None: it can)."""
    if kind == DocumentKind.RULE and level not in RULE_MAKING_LEVELS:
        return (
            f"a {level.value}-level office ({OFFICE_LEVEL_LABELS[level]}) makes no 规章 (rules): only State "
            "Council departments and the governments of provinces, prefecture-level cities and autonomous "
            "prefectures do (立法法 Art. 91, 93); a document of this office is a 行政规范性文件 (normative)"
        )
    return None


class DecisionKind(StrEnum):
    """Table A, Art. 20 (五) and (六): decisions counted by number."""

    LICENSE = "license"  # 行政许可
    PUNISHMENT = "punishment"  # 行政处罚
    COERCION = "coercion"  # 行政强制


# Which decisions an item of a category may report (the Table A block it counts in).
DECISIONS_OF_CATEGORY: dict[Category, set[DecisionKind]] = {
    Category.LICENSE: {DecisionKind.LICENSE},
    Category.PENALTY: {DecisionKind.PUNISHMENT, DecisionKind.COERCION},
}


class AttachmentPartKind(StrEnum):
    """The parts of a file that carry text. A file goes online whole, so each is screened."""

    DOCUMENT = "document"  # the body (DOCX), the cells (XLSX), the pages' text (PDF)
    HEADERS = "headers"  # page headers, watermarks in them included
    FOOTERS = "footers"
    FOOTNOTES = "footnotes"
    ENDNOTES = "endnotes"
    COMMENTS = "comments"  # reviewers' comments and their authors
    DELETIONS = "deletions"  # tracked deletions: still in the file
    FIELD_CODES = "field_codes"
    TEXT_BOXES = "text_boxes"  # text boxes, shapes, WordArt, SmartArt, charts
    ALT_TEXT = "alt_text"  # descriptions of pictures and objects
    SHEET_NAMES = "sheet_names"  # and defined names
    ANNOTATIONS = "annotations"  # PDF annotations, bookmarks
    FORM_FIELDS = "form_fields"
    PROPERTIES = "properties"  # title, author, subject, keywords…: metadata anyone can read
    EMBEDDED = "embedded"  # the text of documents embedded in it (a DOCX inside a DOCX, a PDF's)
    OTHER = "other"  # text found anywhere else in the file (attribute values, custom XML…)
    UNREAD = "unread"  # what is in the file but could not be read (an OLE object, an attached
    # file, a part over budget): its text says what; screening blocks the item, since it cannot
    # be known to be free of markings


ATTACHMENT_PART_LABELS: dict[AttachmentPartKind, str] = {
    AttachmentPartKind.DOCUMENT: "正文",
    AttachmentPartKind.HEADERS: "页眉（含水印）",
    AttachmentPartKind.FOOTERS: "页脚",
    AttachmentPartKind.FOOTNOTES: "脚注",
    AttachmentPartKind.ENDNOTES: "尾注",
    AttachmentPartKind.COMMENTS: "批注",
    AttachmentPartKind.DELETIONS: "修订中删除的文字",
    AttachmentPartKind.FIELD_CODES: "域代码",
    AttachmentPartKind.TEXT_BOXES: "文本框、图形和图表中的文字",
    AttachmentPartKind.ALT_TEXT: "图片和对象的说明文字",
    AttachmentPartKind.SHEET_NAMES: "工作表和名称",
    AttachmentPartKind.ANNOTATIONS: "注释和书签",
    AttachmentPartKind.FORM_FIELDS: "表单域",
    AttachmentPartKind.PROPERTIES: "文档属性",
    AttachmentPartKind.EMBEDDED: "嵌入的文档",
    AttachmentPartKind.OTHER: "文件其他位置的文字",
    AttachmentPartKind.UNREAD: "未能读取的内容",
}


class Role(StrEnum):
    DEPARTMENT = "department"
    REVIEWER = "reviewer"
    OPERATOR = "operator"


class Severity(StrEnum):
    BLOCK = "block"  # never published, whatever a reviewer does
    FLAG = "flag"  # shown to the reviewer, who redacts or accepts it


def holder_of(name: str) -> str:
    """The principal id a display name stands for when none is given: NFKC-folded, case-folded,
    whitespace collapsed, so that "Alice", "alice" and "ａｌｉｃｅ" are one person. Two people
    with one name then share an id (refused as one by four eyes, the safe side): give them
    `--holder` ids of their own."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# Each category's two-digit code in an index number (索引号 机构代码-类别-年份-流水号): its place in
# DOMAIN.md's table. Append new categories at the end; a code once used is never given to another.
CATEGORY_CODES: dict[Category, int] = {category: number for number, category in enumerate(Category, 1)}


class Disclosure(StrEnum):
    """公开属性 (Art. 19–21, 27; DOMAIN.md "The catalogue"): marked on every document at drafting.
    Only proactive items go online; the others are recorded, reviewed and counted, never published."""

    PROACTIVE = "proactive"  # 主动公开
    ON_REQUEST = "on_request"  # 依申请公开
    WITHHELD = "withheld"  # 不予公开 (Art. 14, 15 or 16)


DISCLOSURE_LABELS: dict[Disclosure, str] = {
    Disclosure.PROACTIVE: "主动公开",
    Disclosure.ON_REQUEST: "依申请公开",
    Disclosure.WITHHELD: "不予公开",
}


class Theme(StrEnum):
    """主题分类: the State Council's subject classification of government information, the
    vocabulary of the 国务院政策文件库 and of the 政府信息公开目录 of provincial, municipal and county
    portals (its 21 first-level subjects)."""

    GENERAL_AFFAIRS = "general_affairs"  # 综合政务
    ECONOMY = "economy"  # 国民经济管理、国有资产监管
    FINANCE = "finance"  # 财政、金融、审计
    LAND_ENERGY = "land_energy"  # 国土资源、能源
    AGRICULTURE = "agriculture"  # 农业、林业、水利
    INDUSTRY_TRANSPORT = "industry_transport"  # 工业、交通
    COMMERCE = "commerce"  # 商贸、海关、旅游
    MARKET_SAFETY = "market_safety"  # 市场监管、安全生产监管
    URBAN_ENVIRONMENT = "urban_environment"  # 城乡建设、环境保护
    SCIENCE_EDUCATION = "science_education"  # 科技、教育
    CULTURE_MEDIA = "culture_media"  # 文化、广电、新闻出版
    HEALTH_SPORTS = "health_sports"  # 卫生、体育
    POPULATION_FAMILY = "population_family"  # 人口与计划生育、妇女儿童工作
    LABOUR_PERSONNEL = "labour_personnel"  # 劳动、人事、监察
    SECURITY_JUSTICE = "security_justice"  # 公安、安全、司法
    CIVIL_AFFAIRS = "civil_affairs"  # 民政、扶贫、救灾
    ETHNICITY_RELIGION = "ethnicity_religion"  # 民族、宗教
    FOREIGN_AFFAIRS = "foreign_affairs"  # 对外事务
    HMT_OVERSEAS = "hmt_overseas"  # 港澳台侨工作
    DEFENCE = "defence"  # 国防
    OTHER = "other"  # 其他


THEME_LABELS: dict[Theme, str] = {
    Theme.GENERAL_AFFAIRS: "综合政务",
    Theme.ECONOMY: "国民经济管理、国有资产监管",
    Theme.FINANCE: "财政、金融、审计",
    Theme.LAND_ENERGY: "国土资源、能源",
    Theme.AGRICULTURE: "农业、林业、水利",
    Theme.INDUSTRY_TRANSPORT: "工业、交通",
    Theme.COMMERCE: "商贸、海关、旅游",
    Theme.MARKET_SAFETY: "市场监管、安全生产监管",
    Theme.URBAN_ENVIRONMENT: "城乡建设、环境保护",
    Theme.SCIENCE_EDUCATION: "科技、教育",
    Theme.CULTURE_MEDIA: "文化、广电、新闻出版",
    Theme.HEALTH_SPORTS: "卫生、体育",
    Theme.POPULATION_FAMILY: "人口与计划生育、妇女儿童工作",
    Theme.LABOUR_PERSONNEL: "劳动、人事、监察",
    Theme.SECURITY_JUSTICE: "公安、安全、司法",
    Theme.CIVIL_AFFAIRS: "民政、扶贫、救灾",
    Theme.ETHNICITY_RELIGION: "民族、宗教",
    Theme.FOREIGN_AFFAIRS: "对外事务",
    Theme.HMT_OVERSEAS: "港澳台侨工作",
    Theme.DEFENCE: "国防",
    Theme.OTHER: "其他",
}

# The theme an item gets when its clerk names none: the subject its category usually falls under.
THEME_OF_CATEGORY: dict[Category, Theme] = {
    Category.ORGANIZATION: Theme.GENERAL_AFFAIRS,
    Category.REGULATION: Theme.GENERAL_AFFAIRS,
    Category.PLANNING: Theme.ECONOMY,
    Category.STATISTICS: Theme.ECONOMY,
    Category.LICENSE: Theme.GENERAL_AFFAIRS,
    Category.PENALTY: Theme.MARKET_SAFETY,
    Category.BUDGET: Theme.FINANCE,
    Category.FEES: Theme.FINANCE,
    Category.PROCUREMENT: Theme.FINANCE,
    Category.PROJECTS: Theme.URBAN_ENVIRONMENT,
    Category.LIVELIHOOD: Theme.CIVIL_AFFAIRS,
    Category.EMERGENCY: Theme.SECURITY_JUSTICE,
    Category.SUPERVISION: Theme.MARKET_SAFETY,
    Category.PERSONNEL: Theme.LABOUR_PERSONNEL,
    Category.RURAL: Theme.AGRICULTURE,
    Category.WORK_NEWS: Theme.GENERAL_AFFAIRS,
    Category.NOTICE: Theme.GENERAL_AFFAIRS,
    Category.VILLAGE_AFFAIRS: Theme.CIVIL_AFFAIRS,
    Category.OTHER: Theme.OTHER,
}


class ValidityStatus(StrEnum):
    """有效性 of a 行政规范性文件 (Art. 18's 动态调整: documents are reviewed and marked)."""

    VALID = "valid"  # 有效
    EXPIRED = "expired"  # 失效 (its period ran out, or it was superseded)
    REPEALED = "repealed"  # 废止


VALIDITY_LABELS: dict[ValidityStatus, str] = {
    ValidityStatus.VALID: "有效",
    ValidityStatus.EXPIRED: "失效",
    ValidityStatus.REPEALED: "废止",
}
