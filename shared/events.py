"""The event contract: one envelope, one typed `data` per routing key (DESIGN.md "Events").

Routing keys are extended, never renamed. Every event names its submission, so one item can be
traced end to end through `correlation_id`.
"""

from datetime import UTC, date, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator

from shared.domain import (
    AttachmentPartKind,
    Category,
    Channel,
    DecisionKind,
    Disclosure,
    DocumentAction,
    DocumentKind,
    RejectionReason,
    Severity,
    Theme,
    ValidityStatus,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every message body: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RegulatoryDocument(Contract):
    """A regulation item's document as Table A counts it (第二十条第（一）项)."""

    kind: DocumentKind
    action: DocumentAction


class Decisions(Contract):
    """How many licence, punishment or coercion decisions an item discloses (第（五）（六）项)."""

    kind: DecisionKind
    count: int = Field(ge=1, le=1_000_000)


def _needs_day(status: ValidityStatus, field: str) -> dict:
    day = {"type": "string", "format": "date"}
    return {
        "if": {"properties": {"status": {"const": status.value}}, "required": ["status"]},
        "then": {"required": [field], "properties": {field: day}},
    }


class Validity(Contract):
    """有效性 of a 行政规范性文件 and the dates of its changes: in force from `effective_from`, until
    `expires_on` (its period, if it has one; the day it lapsed once 失效), or repealed (废止) on
    `repealed_on`. A change of validity is a revision of the item (Art. 18, 动态调整)."""

    # The validators' rules on which day a status needs, as the schema says them.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "allOf": [
                _needs_day(ValidityStatus.EXPIRED, "expires_on"),
                _needs_day(ValidityStatus.REPEALED, "repealed_on"),
                {
                    "if": {"properties": {"status": {"not": {"const": ValidityStatus.REPEALED.value}}}},
                    "then": {"properties": {"repealed_on": {"type": "null"}}},
                },
            ]
        },
    )

    status: ValidityStatus
    effective_from: date | None = Field(None, description="施行日期")
    expires_on: date | None = Field(
        None, validate_default=True, description="有效期至; for an expired document, the day it lapsed"
    )
    repealed_on: date | None = Field(
        None, validate_default=True, description="废止日期; required when the status is repealed"
    )

    @field_validator("expires_on")
    @classmethod
    def _expiry(cls, expires_on: date | None, info: ValidationInfo) -> date | None:
        if expires_on is None and info.data.get("status") == ValidityStatus.EXPIRED:
            raise ValueError("an expired (失效) document says the day it lapsed")
        _not_before_effect(expires_on, info)
        return expires_on

    @field_validator("repealed_on")
    @classmethod
    def _repeal(cls, repealed_on: date | None, info: ValidationInfo) -> date | None:
        status = info.data.get("status")
        if repealed_on is None and status == ValidityStatus.REPEALED:
            raise ValueError("a repealed (废止) document says the day it was repealed")
        if repealed_on is not None and status != ValidityStatus.REPEALED:
            raise ValueError("only a repealed (废止) document has a day of repeal")
        _not_before_effect(repealed_on, info)
        return repealed_on


def _not_before_effect(day: date | None, info: ValidationInfo) -> None:
    start = info.data.get("effective_from")
    if day is not None and start is not None and day < start:
        raise ValueError(f"cannot be before the document took effect ({start.isoformat()})")


class ItemFacts(Contract):
    """What an item is, beyond its text: what statistics and the annual report count it by."""

    category: Category
    department: str
    department_name: str
    formed_on: date
    submitted_at: AwareDatetime | None = None  # first submission; None for imported history
    regulatory_document: RegulatoryDocument | None = None
    decisions: Decisions | None = None


class AttachmentPart(Contract):
    """Text read from one part of a file (its body, its page headers, its comments…): every part
    that goes online with the file is screened, and shown to the reviewer, on its own."""

    kind: AttachmentPartKind
    text: str


class Attachment(Contract):
    """A file that travels with an item: its bytes stay in ingest (GridFS), its text is screened."""

    id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    text: str = ""  # events written before parts were read: the body's text alone; empty since
    parts: tuple[AttachmentPart, ...] = ()  # what could be read of it (PDF, DOCX, XLSX), part by part
    unread: str | None = None  # why some or all of it could not be read: a reviewer must look

    def readable_parts(self) -> tuple[AttachmentPart, ...]:
        """Its parts, also for an attachment recorded before they were read one by one."""
        if self.parts or not self.text:
            return self.parts
        return (AttachmentPart(kind=AttachmentPartKind.DOCUMENT, text=self.text),)


class ItemContent(ItemFacts):
    """What a department submitted, as it travels between services."""

    title: str
    body: str
    channels: tuple[Channel, ...]
    document_number: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # The catalogue (政府信息公开目录, DOMAIN.md): events written before it parse with these defaults.
    disclosure: Disclosure = Disclosure.PROACTIVE  # 公开属性: only proactive items go online
    disclosure_ground: str | None = None  # its legal ground when not proactive (Art. 14, 15, 16…)
    theme: Theme | None = None  # 主题分类; None in events from before it was kept
    validity: Validity | None = None  # 有效性, for normative documents
    keywords: tuple[str, ...] = ()  # 关键词
    summary: str | None = None  # 内容概述
    index_number: str | None = None  # 索引号: assigned by publish at first publication, never by a clerk


class ScreeningFinding(Contract):
    id: str
    rule: str
    severity: Severity
    # A published field: title, body, document_number, the catalogue's texts; of the Nth attachment, its filename or a
    # part of its text (attachments.N.<part kind>), or the file as a whole (attachments.N: unread).
    field: str = Field(
        pattern=r"^(title|body|document_number|summary|keywords|disclosure_ground|attachments\.[0-9]+(\.[a-z_]+)?)$"
    )
    start: int
    end: int
    excerpt: str
    message: str


class Redaction(Contract):
    field: Literal["title", "body"]
    start: int = Field(ge=0)
    end: int = Field(gt=0)


class Approval(Contract):
    level: int
    reviewer: str  # the display name
    reviewer_id: str | None = None  # the stable principal id (the token's holder) four eyes keys on
    decided_at: AwareDatetime
    comment: str = ""


class SubmissionReceivedData(Contract):
    revision: int = 1
    content: ItemContent


class ItemSubject(Contract):
    """Whose item an event is about, so that it counts by department and category on its own."""

    category: Category
    department: str

    @classmethod
    def of(cls, facts: ItemFacts) -> "ItemSubject":
        return cls(category=facts.category, department=facts.department)


class SubmissionWithdrawnData(Contract):
    withdrawn_by: str
    reason: str = ""
    subject: ItemSubject | None = None


class ReviewApprovedData(Contract):
    revision: int
    content: ItemContent  # with the redactions applied: this is what every channel publishes
    redactions: tuple[Redaction, ...] = ()
    approvals: tuple[Approval, ...]


class ReviewRejectedData(Contract):
    revision: int
    automatic: bool
    reason: RejectionReason
    comment: str = ""
    level: int | None = None
    reviewer: str | None = None
    reviewer_id: str | None = None
    findings: tuple[ScreeningFinding, ...] = ()
    subject: ItemSubject | None = None


class ReviewQueuedData(Contract):
    revision: int
    level: int
    findings: tuple[ScreeningFinding, ...] = ()


class ReviewReturnedData(Contract):
    revision: int
    level: int
    reviewer: str
    reviewer_id: str | None = None
    comment: str
    subject: ItemSubject | None = None


class PublishedItem(ItemFacts):
    """What statistics need to know of a publication without reading another service's data."""

    title: str
    index_number: str | None = None  # 索引号; None in events from before it was assigned

    @classmethod
    def of(cls, content: ItemContent) -> "PublishedItem":
        return cls(**content.model_dump(include=set(cls.model_fields)))


# Every event about one item on one channel carries its place in that channel's history
# (`sequence`, 1, 2, …), so that a receiver applies the newest and ignores a late or repeated
# one; events written before it had none.
class PublicationPublishedData(Contract):
    channel: Channel
    url: str
    remote_id: str
    published_at: AwareDatetime
    item: PublishedItem
    revision: int | None = None  # the revision the channel now shows
    sequence: int | None = Field(None, ge=1)


class PublicationUpdatedData(Contract):
    """A published item corrected on a channel (更正): the channel now shows `revision`."""

    channel: Channel
    url: str
    remote_id: str
    updated_at: AwareDatetime
    revision: int
    item: PublishedItem
    sequence: int | None = Field(None, ge=1)


class PublicationFailedData(Contract):
    """A push given up on: `revision` did not reach the channel, which still shows `live_revision`
    (None: nothing of the item) — an update that fails leaves the old revision online."""

    channel: Channel
    attempts: int
    error: str
    subject: ItemSubject | None = None
    revision: int | None = None
    live_revision: int | None = None
    sequence: int | None = Field(None, ge=1)


class PublicationWithdrawnData(Contract):
    channel: Channel
    withdrawn_at: AwareDatetime
    subject: ItemSubject | None = None
    sequence: int | None = Field(None, ge=1)


class ReportPublishedData(Contract):
    """A final annual report (年报), exactly as stats froze it, for the portal's 年报 page."""

    year: int = Field(ge=2008, le=2100)
    title: str
    organisation: str
    finalised_at: AwareDatetime
    html: str  # the frozen report as a whole HTML document
    markdown: str
    docx: str  # the frozen Word file, base64


class Envelope(Contract):
    event_id: UUID = Field(default_factory=uuid4)
    schema_version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    producer: str
    correlation_id: str
    submission_id: str


class SubmissionReceived(Envelope):
    type: Literal["submission.received"] = "submission.received"
    data: SubmissionReceivedData


class SubmissionRevised(Envelope):
    type: Literal["submission.revised"] = "submission.revised"
    data: SubmissionReceivedData


class SubmissionWithdrawn(Envelope):
    type: Literal["submission.withdrawn"] = "submission.withdrawn"
    data: SubmissionWithdrawnData


class ReviewApproved(Envelope):
    type: Literal["review.approved"] = "review.approved"
    data: ReviewApprovedData


class ReviewRejected(Envelope):
    type: Literal["review.rejected"] = "review.rejected"
    data: ReviewRejectedData


class ReviewQueued(Envelope):
    """An item waits for a reviewer at `level` (an extension: DESIGN.md's keys plus this one)."""

    type: Literal["review.queued"] = "review.queued"
    data: ReviewQueuedData


class ReviewReturned(Envelope):
    type: Literal["review.returned"] = "review.returned"
    data: ReviewReturnedData


class PublicationPublished(Envelope):
    type: Literal["publication.published"] = "publication.published"
    data: PublicationPublishedData


class PublicationUpdated(Envelope):
    """A published item corrected on a channel (an extension: DESIGN.md's keys plus this one)."""

    type: Literal["publication.updated"] = "publication.updated"
    data: PublicationUpdatedData


class PublicationFailed(Envelope):
    type: Literal["publication.failed"] = "publication.failed"
    data: PublicationFailedData


class PublicationWithdrawn(Envelope):
    type: Literal["publication.withdrawn"] = "publication.withdrawn"
    data: PublicationWithdrawnData


class ReportPublished(Envelope):
    """A year's annual report made final (an extension: its `submission_id` is `report-<year>`,
    since a report belongs to no submission)."""

    type: Literal["report.published"] = "report.published"
    data: ReportPublishedData


Event = Annotated[
    SubmissionReceived
    | SubmissionRevised
    | SubmissionWithdrawn
    | ReviewApproved
    | ReviewRejected
    | ReviewReturned
    | ReviewQueued
    | PublicationPublished
    | PublicationUpdated
    | PublicationFailed
    | PublicationWithdrawn
    | ReportPublished,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def new_event(event_type: type[Envelope], submission_id: str, producer: str, data: Contract) -> Envelope:
    """An event about one submission, correlated by the submission's id."""
    return event_type(producer=producer, correlation_id=submission_id, submission_id=submission_id, data=data)


def parse_event(raw: dict) -> Event:
    return EVENT_ADAPTER.validate_python(raw)
