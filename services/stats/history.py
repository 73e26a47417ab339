"""A past year's published items, imported so that a township starts with its history: each row
one publication on one channel, turned into the `publication.published` event it would have
been, so that imported history is archived and counted exactly as live events are. Pure."""

import csv
import io
import json
import uuid
from datetime import date, datetime, time

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.stats.domain import EARLIEST_YEAR
from shared.domain import (
    CHINA,
    DEPARTMENT_CODE,
    Category,
    Channel,
    DecisionKind,
    DocumentAction,
    DocumentKind,
    OfficeLevel,
    document_refused,
)
from shared.events import (
    Decisions,
    PublicationPublished,
    PublicationPublishedData,
    PublishedItem,
    RegulatoryDocument,
    new_event,
    utcnow,
)

PRODUCER = "import"
# Event ids derive from (item, channel): importing the same file twice counts nothing twice.
IMPORT_NAMESPACE = uuid.UUID("6f1d3c2e-9a43-4b5e-8d0a-2f7c1e6b9a10")
COLUMNS = {
    "item_id": "the item's id in the old system; rows of one item on two channels share it",
    "title": "标题",
    "category": "a category code of DOMAIN.md (budget, notice, …)",
    "department": "department code (lowercase letters, digits, - and _)",
    "department_name": "部门名称 (optional)",
    "channel": "platform (统一平台) or portal (政府门户网站)",
    "published_at": "publication day (2018-03-05) or moment (2018-03-05T10:00:00+08:00); days are China's",
    "formed_on": "成文日期 (optional; default: the publication day)",
    "url": "where it was published (optional)",
    "document_number": "文号 (optional)",
    "document_kind": "regulation items: rule (规章, not below GONGKAI_OFFICE_LEVEL=prefecture) or normative (行政规范性文件) (optional)",
    "document_action": "with document_kind: issued or repealed",
    "decisions_kind": "license, punishment or coercion (optional)",
    "decisions_count": "with decisions_kind: how many decisions the item discloses",
}


class HistoricalPublication(BaseModel):
    """One row of an import file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    category: Category
    department: str = Field(pattern=DEPARTMENT_CODE)
    department_name: str = Field("", max_length=100)
    channel: Channel
    published_at: datetime
    formed_on: date | None = None
    url: str = Field("", max_length=2000)
    document_number: str | None = Field(None, max_length=100)
    document_kind: DocumentKind | None = None
    document_action: DocumentAction | None = None
    decisions_kind: DecisionKind | None = None
    decisions_count: int | None = Field(None, ge=1, le=1_000_000)

    @field_validator("published_at", mode="before")
    @classmethod
    def _a_day_is_a_china_day(cls, value):
        """A bare day is noon in China, so that it stays that day in any time zone's reading."""
        if isinstance(value, str) and len(value.strip()) == 10:
            return datetime.combine(date.fromisoformat(value.strip()), time(12), CHINA)
        return value

    @field_validator("published_at")
    @classmethod
    def _aware_and_past(cls, value: datetime) -> datetime:
        value = value if value.tzinfo else value.replace(tzinfo=CHINA)
        if value.year < EARLIEST_YEAR or value > utcnow():
            raise ValueError(f"must lie between {EARLIEST_YEAR} and now")
        return value

    @model_validator(mode="after")
    def _pairs_complete(self) -> "HistoricalPublication":
        if (self.document_kind is None) != (self.document_action is None):
            raise ValueError("document_kind and document_action go together")
        if (self.decisions_kind is None) != (self.decisions_count is None):
            raise ValueError("decisions_kind and decisions_count go together")
        return self

    def event(self) -> PublicationPublished:
        item = PublishedItem(
            title=self.title,
            category=self.category,
            department=self.department,
            department_name=self.department_name or self.department,
            formed_on=self.formed_on or self.published_at.astimezone(CHINA).date(),
            regulatory_document=RegulatoryDocument(kind=self.document_kind, action=self.document_action)
            if self.document_kind
            else None,
            decisions=Decisions(kind=self.decisions_kind, count=self.decisions_count)
            if self.decisions_kind
            else None,
        )
        data = PublicationPublishedData(
            channel=self.channel,
            url=self.url,
            remote_id=self.item_id,
            published_at=self.published_at,
            item=item,
        )
        event = new_event(PublicationPublished, f"import:{self.item_id}", PRODUCER, data)
        return event.model_copy(
            update={
                "event_id": uuid.uuid5(IMPORT_NAMESPACE, f"{self.item_id}:{self.channel}"),
                "occurred_at": self.published_at,
            }
        )


class RowError(BaseModel):
    row: int  # 1 is the first data row
    field: str
    reason: str


def read_rows(text: str, kind: str) -> list[dict]:
    """The rows of a CSV (header line first) or JSON (an array of objects) import file."""
    if kind == "json":
        rows = json.loads(text)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("a JSON import file is an array of objects")
        return rows
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))  # Excel writes a BOM
    return [{k: v for k, v in row.items() if v not in ("", None)} for row in reader]


def parse_history(
    rows: list[dict], level: OfficeLevel = OfficeLevel.TOWNSHIP
) -> tuple[list[PublicationPublished], list[RowError]]:
    """Every row's event, or every row's errors: a file is imported whole or not at all. A row
    the office of `level` cannot have (a township's 规章) is an error, as it is at submission."""
    events, errors = [], []
    for number, row in enumerate(rows, start=1):
        try:
            publication = HistoricalPublication.model_validate(row)
        except ValidationError as invalid:
            errors += [
                RowError(row=number, field=".".join(map(str, e["loc"])) or "row", reason=e["msg"])
                for e in invalid.errors()
            ]
            continue
        refused = publication.document_kind and document_refused(level, publication.document_kind)
        if refused:
            errors.append(RowError(row=number, field="document_kind", reason=refused))
        else:
            events.append(publication.event())
    return events, errors
