"""Ingest's pure domain: what a valid submission is, and how a submission's status follows the
events of review and publication — idempotent, and never moved backwards by a late event."""

from datetime import date
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from shared.domain import (
    DECISIONS_OF_CATEGORY,
    EACH_ONCE,
    Category,
    Channel,
    CleanText,
    FilledText,
    SubmissionStatus,
    china_date,
    each_once,
)
from shared.events import (
    Decisions,
    Event,
    PublicationFailed,
    PublicationPublished,
    PublicationUpdated,
    PublicationWithdrawn,
    RegulatoryDocument,
    ReviewApproved,
    ReviewQueued,
    ReviewRejected,
    ReviewReturned,
    utcnow,
)

MAX_BODY_CHARS = 1_000_000
MAX_ATTACHMENTS = 10


def _category_is(categories: set[Category]) -> dict:
    return {"properties": {"category": {"enum": sorted(categories)}}, "required": ["category"]}


def _what_the_category_allows() -> list[dict]:
    """The validators below as JSON Schema conditions: the category decides whether an item may
    report a regulatory document and which kind of decisions, and clients see it before they send."""
    nothing = {"type": "null"}
    others = set(Category) - {Category.REGULATION}
    rules = [{"if": _category_is(others), "then": {"properties": {"regulatory_document": nothing}}}]
    for category in Category:
        kinds = DECISIONS_OF_CATEGORY.get(category)
        decisions = (
            {"anyOf": [nothing, {"properties": {"kind": {"enum": sorted(kinds)}}}]} if kinds else nothing
        )
        rules.append({"if": _category_is({category}), "then": {"properties": {"decisions": decisions}}})
    return rules


class SubmissionDraft(BaseModel):
    """The body of `POST /v1/submissions`: what a department clerk submits."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"allOf": _what_the_category_allows()}
    )

    title: FilledText = Field(max_length=200)
    body: FilledText = Field(max_length=MAX_BODY_CHARS)
    category: Category
    channels: Annotated[list[Channel], AfterValidator(each_once), EACH_ONCE] = Field(
        min_length=1, max_length=len(Channel)
    )
    formed_on: date = Field(description="The day the information was formed or changed (Art. 26)")
    document_number: CleanText | None = Field(None, max_length=100, description="文号")
    regulatory_document: RegulatoryDocument | None = Field(
        None,
        description="Regulation items only: a 规章 (rule) or 行政规范性文件 (normative) issued or repealed (Table A)",
    )
    decisions: Decisions | None = Field(
        None,
        description="Licence and penalty items only: how many 许可/处罚/强制 decisions the item discloses (Table A)",
    )
    attachments: Annotated[
        list[Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")]], AfterValidator(each_once), EACH_ONCE
    ] = Field(
        [],
        max_length=MAX_ATTACHMENTS,
        description="Ids of files uploaded beforehand with POST /v1/attachments; screened with the item",
    )

    @field_validator("regulatory_document")
    @classmethod
    def _regulation_only(cls, document: RegulatoryDocument | None, info: ValidationInfo):
        if document and info.data.get("category") != Category.REGULATION:
            raise ValueError("belongs to items of category regulation only")
        return document

    @field_validator("decisions")
    @classmethod
    def _decisions_fit_the_category(cls, decisions: Decisions | None, info: ValidationInfo):
        allowed = DECISIONS_OF_CATEGORY.get(info.data.get("category"), set())
        if decisions and decisions.kind not in allowed:
            raise ValueError(
                "license items report kind license, penalty items punishment or coercion; other categories none"
            )
        return decisions

    @field_validator("formed_on")
    @classmethod
    def _not_future(cls, formed_on: date, info: ValidationInfo) -> date:
        now = (info.context or {}).get("now") or utcnow()  # a test passes its own instant
        if formed_on > china_date(now):
            raise ValueError("cannot be in the future (days are China's, UTC+8)")
        return formed_on


class ChannelReceipt(BaseModel):
    channel: Channel
    status: str  # published | failed | withdrawn
    url: str | None = None
    remote_id: str | None = None
    published_at: AwareDatetime | None = None
    error: str | None = None


class TimelineEntry(BaseModel):
    at: AwareDatetime
    event: str
    detail: str = ""


class Submission(BaseModel):
    """A submission as ingest projects it from its own writes and downstream events."""

    id: str
    department: str
    status: SubmissionStatus
    revision: int = 1
    channels: list[Channel]
    publications: dict[str, ChannelReceipt] = {}
    review: dict = {}
    timeline: list[TimelineEntry] = []
    seen_events: list[str] = []


# A submission's status never moves to an earlier stage, whatever order events arrive in.
_STAGE = {
    SubmissionStatus.RECEIVED: 0,
    SubmissionStatus.IN_REVIEW: 1,
    SubmissionStatus.RETURNED: 2,
    SubmissionStatus.APPROVED: 3,
    SubmissionStatus.FAILED: 4,
    SubmissionStatus.PUBLISHED: 5,
    SubmissionStatus.REJECTED: 6,
    SubmissionStatus.WITHDRAWN: 7,
}
FINAL = {SubmissionStatus.REJECTED, SubmissionStatus.WITHDRAWN}


def _advance(current: SubmissionStatus, proposed: SubmissionStatus) -> SubmissionStatus:
    if current in FINAL:
        return current
    if current == SubmissionStatus.RETURNED and proposed == SubmissionStatus.IN_REVIEW:
        return current  # a queueing of the old revision; the revision check handles new ones
    return proposed if _STAGE[proposed] >= _STAGE[current] else current


def _channel_status(submission: Submission) -> SubmissionStatus:
    receipts = submission.publications
    if all(receipts.get(c) and receipts[c].status == "published" for c in submission.channels):
        return SubmissionStatus.PUBLISHED
    if any(r.status == "failed" for r in receipts.values()):
        return SubmissionStatus.FAILED
    return SubmissionStatus.APPROVED


def project(submission: Submission, event: Event) -> Submission | None:
    """The submission after `event`, or None when the event changes nothing (a duplicate, or a
    review outcome of an earlier revision)."""
    event_id = str(event.event_id)
    if event_id in submission.seen_events:
        return None
    revision = getattr(event.data, "revision", submission.revision)
    if revision < submission.revision:
        return None
    s = submission.model_copy(deep=True)
    s.seen_events.append(event_id)
    detail = ""
    match event:
        case ReviewQueued():
            proposed = SubmissionStatus.IN_REVIEW
            detail = f"第{event.data.level}级审核"
        case ReviewApproved():
            proposed = SubmissionStatus.APPROVED
            s.review = {"approvals": [a.model_dump(mode="json") for a in event.data.approvals]}
        case ReviewRejected():
            proposed = SubmissionStatus.REJECTED
            s.review = {
                "reason": event.data.reason,
                "automatic": event.data.automatic,
                "comment": event.data.comment,
                "findings": [f.model_dump(mode="json") for f in event.data.findings],
            }
            detail = event.data.reason
        case ReviewReturned():
            proposed = SubmissionStatus.RETURNED
            s.review = {"returned_by_level": event.data.level, "comment": event.data.comment}
            detail = event.data.comment
        case PublicationPublished():
            d = event.data
            s.publications[d.channel] = ChannelReceipt(
                channel=d.channel,
                status="published",
                url=d.url,
                remote_id=d.remote_id,
                published_at=d.published_at,
            )
            proposed, detail = _channel_status(s), d.channel
        case PublicationUpdated():
            d = event.data
            receipt = s.publications.get(d.channel)
            s.publications[d.channel] = ChannelReceipt(
                channel=d.channel,
                status="published",
                url=d.url,
                remote_id=d.remote_id,
                published_at=receipt.published_at if receipt else None,
            )
            proposed, detail = _channel_status(s), f"{d.channel}（更正）"
        case PublicationFailed():
            d = event.data
            if s.publications.get(d.channel, None) is None:
                s.publications[d.channel] = ChannelReceipt(channel=d.channel, status="failed", error=d.error)
            proposed, detail = _channel_status(s), d.channel
        case PublicationWithdrawn():
            receipt = s.publications.get(event.data.channel)
            if receipt is not None:
                receipt.status = "withdrawn"
            proposed, detail = SubmissionStatus.WITHDRAWN, event.data.channel
        case _:
            return None
    s.status = _advance(s.status, proposed)
    s.timeline.append(TimelineEntry(at=event.occurred_at, event=event.type, detail=str(detail)))
    return s


def correction_dated_before(status: SubmissionStatus, formed_on: date, previous: date) -> str | None:
    """Why a revision's formed_on is refused, if it is. Correcting a published item is a change
    (变更, Art. 26): its formed_on is the day it was changed, from which the update's deadline
    counts, so it cannot precede the day the item was formed. A returned item, not yet
    published, may have its date put right either way."""
    if status == SubmissionStatus.PUBLISHED and formed_on < previous:
        return (
            f"a correction's formed_on is the day the item was changed (变更), which cannot be "
            f"before the day it was formed ({previous.isoformat()})"
        )
    return None


def can_withdraw(status: SubmissionStatus) -> bool:
    return status not in FINAL


class RateLimiter:
    """Token buckets per department: `burst` writes at once, refilled at `per_minute`. Pure: the
    caller passes the clock, so that tests need not wait."""

    def __init__(self, per_minute: float, burst: int):
        self.rate, self.burst = per_minute / 60.0, burst
        self._buckets: dict[str, tuple[float, float]] = {}  # department → (tokens, at)

    def take(self, department: str, now: float) -> float:
        """0 when the write may go ahead; otherwise the seconds until it may."""
        tokens, at = self._buckets.get(department, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[department] = (tokens - 1, now)
            return 0.0
        self._buckets[department] = (tokens, now)
        return (1 - tokens) / self.rate
