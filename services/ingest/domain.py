"""Ingest's pure domain: what a valid submission is, and the life of a submission as one state
machine — review's stage of its newest revision, what each channel shows, withdrawal — driven by
its clerk's commands and by review's and publish's events: idempotent, and never moved backwards
or forwards wrongly by a late, repeated or out-of-order event."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.domain import (
    DECISIONS_OF_CATEGORY,
    DISCLOSURE_LABELS,
    EACH_ONCE,
    ON_CHANNEL,
    THEME_OF_CATEGORY,
    Category,
    Channel,
    ChannelState,
    CleanText,
    Disclosure,
    DocumentAction,
    DocumentKind,
    FilledText,
    SubmissionStatus,
    Theme,
    ValidityStatus,
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
    Validity,
    utcnow,
)

MAX_BODY_CHARS = 1_000_000
MAX_ATTACHMENTS = 10
MAX_KEYWORDS = 10
MAX_SUMMARY_CHARS = 500
# An attachment's id: 128 random bits in hex; 24 hex digits for files stored before (ObjectIds).
ATTACHMENT_ID = r"^([0-9a-f]{32}|[0-9a-f]{24})$"


def _category_is(categories: set[Category]) -> dict:
    return {"properties": {"category": {"enum": sorted(categories)}}, "required": ["category"]}


def _what_the_category_allows() -> list[dict]:
    """The validators below as JSON Schema conditions: the category decides whether an item may
    report a regulatory document and which kind of decisions, and clients see it before they send."""
    nothing = {"type": "null"}
    others = set(Category) - {Category.REGULATION}
    not_regulation = {"properties": {"regulatory_document": nothing, "validity": nothing}}
    rules = [{"if": _category_is(others), "then": not_regulation}]
    # Not proactive: the legal ground is required (the validator below says the same).
    not_proactive = {
        "properties": {"disclosure": {"enum": sorted(set(Disclosure) - {Disclosure.PROACTIVE})}},
        "required": ["disclosure"],
    }
    grounded = {"properties": {"disclosure_ground": {"type": "string", "minLength": 1}}}
    rules.append({"if": not_proactive, "then": {**grounded, "required": ["disclosure_ground"]}})
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
        list[Annotated[str, Field(pattern=ATTACHMENT_ID)]], AfterValidator(each_once), EACH_ONCE
    ] = Field(
        [],
        max_length=MAX_ATTACHMENTS,
        description="Ids of files uploaded beforehand with POST /v1/attachments; screened with the item",
    )
    # The catalogue (政府信息公开目录, DOMAIN.md): what every item carries beside its text.
    disclosure: Disclosure = Field(
        Disclosure.PROACTIVE,
        description="公开属性, marked at drafting: proactive (主动公开) items go online; on_request (依申请公开) "
        "and withheld (不予公开) items are reviewed and counted but never published",
    )
    disclosure_ground: CleanText | None = Field(
        None,
        max_length=200,
        validate_default=True,
        description="The legal ground of the 公开属性, required unless proactive "
        "(e.g. 《中华人民共和国政府信息公开条例》第十六条: 过程性信息)",
    )
    theme: Theme | None = Field(
        None,
        description="主题分类 (the State Council's list); when left out, the usual theme of the category",
    )
    validity: Validity | None = Field(
        None,
        description="有效性 of a normative document (regulation items only); when left out for a 行政规范性文件, "
        "valid from formed_on if issued, repealed on formed_on if repealed",
    )
    keywords: Annotated[
        list[Annotated[FilledText, Field(max_length=20)]], AfterValidator(each_once), EACH_ONCE
    ] = Field([], max_length=MAX_KEYWORDS, description="关键词")
    summary: CleanText | None = Field(
        None,
        max_length=MAX_SUMMARY_CHARS,
        description="内容概述; the catalogue shows the text's beginning without it",
    )

    @field_validator("disclosure_ground")
    @classmethod
    def _grounded(cls, ground: str | None, info: ValidationInfo) -> str | None:
        ground = ground or None
        disclosure = info.data.get("disclosure")
        if ground is None and disclosure not in (None, Disclosure.PROACTIVE):
            raise ValueError(
                "an item not disclosed proactively states its legal ground "
                "(e.g. 《中华人民共和国政府信息公开条例》第十四条、第十五条或第十六条)"
            )
        return ground

    @model_validator(mode="after")
    def _catalogued(self) -> "SubmissionDraft":
        """Every item carries a theme and every normative document a validity, named or derived."""
        if self.theme is None:
            self.theme = THEME_OF_CATEGORY[self.category]
        if self.validity is None and self.regulatory_document is not None:
            self.validity = default_validity(self.regulatory_document, self.formed_on)
        return self

    @field_validator("regulatory_document", "validity")
    @classmethod
    def _regulation_only(cls, value: RegulatoryDocument | Validity | None, info: ValidationInfo):
        if value and info.data.get("category") != Category.REGULATION:
            raise ValueError("belongs to items of category regulation only")
        return value

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


def catalogue_defaults(draft: SubmissionDraft) -> list[str]:
    """The catalogue fields of `draft` that hold what they would hold had the clerk left them out."""
    implied = {
        "disclosure": Disclosure.PROACTIVE,
        "disclosure_ground": None,
        "theme": THEME_OF_CATEGORY[draft.category],
        "validity": default_validity(draft.regulatory_document, draft.formed_on)
        if draft.regulatory_document
        else None,
        "keywords": [],
        "summary": None,
    }
    return [name for name, value in implied.items() if getattr(draft, name) == value]


def default_validity(document: RegulatoryDocument, formed_on: date) -> Validity | None:
    """A normative document's validity when its clerk names none: in force from the day it was
    formed if issued, repealed that day if the item announces its repeal."""
    if document.kind != DocumentKind.NORMATIVE:
        return None
    if document.action == DocumentAction.REPEALED:
        return Validity(status=ValidityStatus.REPEALED, repealed_on=formed_on)
    return Validity(status=ValidityStatus.VALID, effective_from=formed_on)


class ReviewStage(StrEnum):
    """Where review is with the item's newest revision."""

    RECEIVED = "received"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    REJECTED = "rejected"
    APPROVED = "approved"


DECIDED = {ReviewStage.RETURNED, ReviewStage.REJECTED, ReviewStage.APPROVED}  # final for a revision


class ChannelReceipt(BaseModel):
    """One channel of the item, as publish's events tell it: what the channel shows (`state`,
    `revision`), applied in the order publish announced (`sequence`), whatever order the
    events arrive in."""

    channel: Channel
    status: str = "pending"  # pending | published | failed | withdrawn (HTTP contract v1)
    state: ChannelState = ChannelState.NEVER_PUBLISHED
    revision: int | None = None  # the revision the channel shows (while live)
    failed: bool = False  # publish gave up bringing the newest approved revision here
    url: str | None = None
    remote_id: str | None = None
    published_at: AwareDatetime | None = None
    error: str | None = None
    sequence: int = 0  # the last of publish's events about this channel applied

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data):
        """A receipt stored with a status only (published | failed | withdrawn)."""
        if isinstance(data, dict) and "state" not in data:
            legacy = {
                "published": ChannelState.LIVE,
                "withdrawn": ChannelState.GONE,
            }.get(data.get("status"), ChannelState.NEVER_PUBLISHED)
            data = {**data, "state": legacy, "failed": data.get("status") == "failed"}
        return data

    @property
    def on_channel(self) -> bool:
        return self.state in ON_CHANNEL


class TimelineEntry(BaseModel):
    at: AwareDatetime
    event: str
    detail: str = ""


class Submission(BaseModel):
    """A submission as ingest projects it from its own writes and downstream events: one state
    machine — review's stage of the newest revision, each channel's state, and withdrawal —
    from which the status everyone sees is derived (`status_of`)."""

    id: str
    department: str
    status: SubmissionStatus
    revision: int = 1
    channels: list[Channel]
    stage: ReviewStage = ReviewStage.RECEIVED
    review_level: int = 0  # the level the newest revision waits at (in review)
    approved_revision: int | None = None  # the newest approved revision, live or on its way
    approved_channels: list[Channel] = []  # the channels it asked for
    withdrawn: bool = False
    files: dict[str, list[str]] = {}  # revision → the attachments it carries
    publications: dict[str, ChannelReceipt] = {}
    review: dict = {}
    timeline: list[TimelineEntry] = []
    seen_events: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data):
        """A submission stored with a status only, before the stage was kept."""
        if not isinstance(data, dict) or "stage" in data:
            return data
        status = SubmissionStatus(data["status"])
        data = {**data, "withdrawn": status == SubmissionStatus.WITHDRAWN}
        if status.value in {stage.value for stage in ReviewStage}:
            data["stage"] = ReviewStage(status.value)
        elif status != SubmissionStatus.WITHDRAWN or data.get("publications"):
            data["stage"] = ReviewStage.APPROVED
        if data.get("stage") == ReviewStage.APPROVED:
            data["approved_revision"] = data.get("revision", 1)
            data["approved_channels"] = data.get("channels", [])
        elif _legacy_live(data) and data.get("revision", 1) > 1:  # a correction under way
            data["approved_revision"] = data["revision"] - 1
        data["publications"] = {
            channel: {**receipt, "revision": receipt.get("revision") or data.get("approved_revision")}
            if isinstance(receipt, dict) and receipt.get("status") == "published"
            else receipt
            for channel, receipt in data.get("publications", {}).items()
        }
        return data

    def on_channels(self) -> list[ChannelReceipt]:
        """The channels that show some revision of the item."""
        return [r for r in self.publications.values() if r.on_channel]

    def live_revisions(self) -> set[int]:
        return {r.revision for r in self.on_channels() if r.revision is not None}


def _legacy_live(data: dict) -> bool:
    receipts = data.get("publications", {}).values()
    return any(isinstance(r, dict) and r.get("status") == "published" for r in receipts)


def status_of(s: Submission) -> SubmissionStatus:
    """The status everyone sees. A correction in review shows its review; a correction rejected
    leaves the item as its approved revision is on the channels (published, as a rule)."""
    if s.withdrawn:
        return SubmissionStatus.WITHDRAWN
    if s.stage == ReviewStage.APPROVED or (s.stage == ReviewStage.REJECTED and s.approved_revision):
        wanted = s.approved_channels or s.channels
        receipts = [s.publications.get(c) for c in wanted]
        if all(r is not None and r.state == ChannelState.LIVE for r in receipts):
            return SubmissionStatus.PUBLISHED
        if any(r is not None and r.failed for r in receipts):
            return SubmissionStatus.FAILED
        return SubmissionStatus.APPROVED
    return SubmissionStatus(s.stage.value)


def _staleness(s: Submission) -> None:
    """A channel that shows an older revision than the newest approved one is live but stale."""
    for receipt in s.on_channels():
        current = (receipt.revision or 0) >= (s.approved_revision or 0)
        receipt.state = ChannelState.LIVE if current else ChannelState.LIVE_STALE


def _receipt_status(receipt: ChannelReceipt) -> str:
    if receipt.on_channel:
        return "published"
    if receipt.state == ChannelState.GONE:
        return "withdrawn"
    return "failed" if receipt.failed else "pending"


def _approvals(event: ReviewApproved) -> dict:
    approvals = [a.model_dump(mode="json") for a in event.data.approvals]
    return {"approvals": approvals, "revision": event.data.revision}


def _recorded(s: Submission, event: ReviewApproved) -> bool:
    return "approvals" in s.review and s.review.get("revision") == event.data.revision


def _kept_offline(event: ReviewApproved) -> str:
    """What the timeline says of an approval: an item not disclosed proactively stays offline."""
    disclosure = event.data.content.disclosure
    return (
        "" if disclosure == Disclosure.PROACTIVE else f"{DISCLOSURE_LABELS[disclosure]}：登记备查，不上网发布"
    )


ReviewEvent = ReviewQueued | ReviewApproved | ReviewRejected | ReviewReturned


def _reviewed(s: Submission, event: ReviewEvent) -> str | None:
    """Review's outcome for the newest revision; None when it is stale or already decided."""
    if event.data.revision != s.revision:
        return None
    if isinstance(event, ReviewApproved) and s.stage == ReviewStage.APPROVED and not _recorded(s, event):
        # Its publication arrived first and told of the approval; this says who approved.
        s.approved_channels = list(event.data.content.channels)
        s.review = _approvals(event)
        return ""
    if s.stage in DECIDED:
        return None
    match event:
        case ReviewQueued():
            if s.stage == ReviewStage.IN_REVIEW and event.data.level <= s.review_level:
                return None  # a late queueing at a level passed already
            s.stage, s.review_level = ReviewStage.IN_REVIEW, event.data.level
            return f"第{event.data.level}级审核"
        case ReviewApproved():
            s.stage, s.approved_revision = ReviewStage.APPROVED, event.data.revision
            s.approved_channels = list(event.data.content.channels)
            s.review = _approvals(event)
            return _kept_offline(event)
        case ReviewRejected():
            s.stage = ReviewStage.REJECTED
            s.review = {
                "reason": event.data.reason,
                "automatic": event.data.automatic,
                "comment": event.data.comment,
                "findings": [f.model_dump(mode="json") for f in event.data.findings],
                "revision": event.data.revision,
            }
            if s.approved_revision:  # a correction refused: the approved revision stays online
                s.review |= {"correction_rejected": True, "live_revision": s.approved_revision}
                return (
                    f"第{event.data.revision}稿（更正）不予公开：{event.data.reason}；"
                    f"第{s.approved_revision}稿继续公开"
                )
            return str(event.data.reason)
        case ReviewReturned():
            s.stage = ReviewStage.RETURNED
            s.review = {
                "returned_by_level": event.data.level,
                "comment": event.data.comment,
                "revision": event.data.revision,
            }
            return event.data.comment
    return None


ChannelEvent = PublicationPublished | PublicationUpdated | PublicationFailed | PublicationWithdrawn


def _on_channel(s: Submission, event: ChannelEvent) -> str | None:
    """A channel's news, applied only if newer than what was applied of that channel."""
    d = event.data
    receipt = s.publications.get(d.channel) or ChannelReceipt(channel=d.channel)
    if d.sequence is not None and d.sequence <= receipt.sequence:
        return None  # late or repeated
    if d.sequence is None and receipt.state == ChannelState.GONE:
        return None  # an event from before sequences, after the withdrawal
    receipt = receipt.model_copy(update={"sequence": d.sequence or receipt.sequence})
    detail = d.channel.value
    shown = getattr(d, "revision", None)
    if isinstance(event, PublicationPublished | PublicationUpdated) and shown == s.revision:
        if s.stage not in DECIDED:  # published before review's approval arrived: it was approved
            s.stage, s.approved_revision, s.approved_channels = ReviewStage.APPROVED, shown, list(s.channels)
    match event:
        case PublicationPublished():
            update = {
                "state": ChannelState.LIVE,
                "revision": d.revision or s.approved_revision or s.revision,
                "published_at": d.published_at,
            }
            receipt = _shown(receipt, d.url, d.remote_id, update)
        case PublicationUpdated():
            update = {"state": ChannelState.LIVE, "revision": d.revision}
            receipt = _shown(receipt, d.url, d.remote_id, update)
            receipt.published_at = receipt.published_at or d.updated_at
            detail = f"{d.channel}（更正）"
        case PublicationFailed():
            update: dict = {"failed": True, "error": d.error}
            if d.live_revision is not None:
                update |= {"state": ChannelState.LIVE, "revision": d.live_revision}
            elif d.sequence is not None and not receipt.on_channel:
                update |= {"state": ChannelState.NEVER_PUBLISHED, "revision": None}
            # Without a sequence (an older event) a channel known to be live stays live: a failed
            # update leaves the old revision online.
            receipt = receipt.model_copy(update=update)
        case PublicationWithdrawn():
            receipt = receipt.model_copy(update={"state": ChannelState.GONE, "revision": None})
    s.publications[d.channel] = receipt
    return detail


def _shown(receipt: ChannelReceipt, url: str, remote_id: str, update: dict) -> ChannelReceipt:
    fields = {"failed": False, "error": None, "url": url, "remote_id": remote_id}
    return receipt.model_copy(update={**fields, **update})


def project(submission: Submission, event: Event) -> Submission | None:
    """The submission after `event`, or None when the event changes nothing (a duplicate, a late
    or stale one, or one about an earlier revision's review)."""
    event_id = str(event.event_id)
    if event_id in submission.seen_events:
        return None
    s = submission.model_copy(deep=True)
    match event:
        case ReviewQueued() | ReviewApproved() | ReviewRejected() | ReviewReturned():
            detail = _reviewed(s, event)
        case PublicationPublished() | PublicationUpdated() | PublicationFailed() | PublicationWithdrawn():
            detail = _on_channel(s, event)
        case _:
            return None
    if detail is None:
        return None
    return _settled(s, TimelineEntry(at=event.occurred_at, event=event.type, detail=detail), event_id)


def _settled(s: Submission, entry: TimelineEntry | None, event_id: str | None = None) -> Submission:
    _staleness(s)
    for receipt in s.publications.values():
        receipt.status = _receipt_status(receipt)
    s.status = status_of(s)
    if event_id:
        s.seen_events.append(event_id)
    if entry:
        s.timeline.append(entry)
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


def can_withdraw(s: Submission) -> bool:
    """Withdrawal works while anything may still go online or is online; only a withdrawn item,
    or one rejected with nothing of it ever approved, has nothing to take down."""
    if s.withdrawn:
        return False
    return status_of(s) != SubmissionStatus.REJECTED or bool(s.on_channels())


def withdrawn(s: Submission, at: datetime, reason: str) -> Submission:
    """Withdrawn, and so final: publish takes it off every channel that shows any revision."""
    s = s.model_copy(deep=True, update={"withdrawn": True})
    return _settled(s, TimelineEntry(at=at, event="submission.withdrawn", detail=reason))


def can_revise(s: Submission) -> bool:
    """A returned item is revised; a published one corrected (更正), also after a correction was
    rejected; either is screened and reviewed again."""
    return not s.withdrawn and status_of(s) in (SubmissionStatus.RETURNED, SubmissionStatus.PUBLISHED)


def dropped_channels(s: Submission, channels: list[Channel]) -> list[str]:
    """The channels that show the item but a revision would leave out."""
    return sorted(r.channel.value for r in s.on_channels() if r.channel not in channels)


def revised(s: Submission, at: datetime, channels: list[Channel], files: list[str]) -> Submission:
    """The next revision, waiting for screening and review."""
    what = "更正" if s.approved_revision else "修改"
    revision = s.revision + 1
    s = s.model_copy(
        deep=True,
        update={
            "revision": revision,
            "stage": ReviewStage.RECEIVED,
            "review_level": 0,
            "channels": list(channels),
            "files": {**s.files, str(revision): list(files)},
        },
    )
    entry = TimelineEntry(at=at, event="submission.revised", detail=f"第{revision}稿（{what}）")
    return _settled(s, entry)


def public_files(s: Submission, carried: list[str]) -> set[str]:
    """The attachments anyone may download: those of a revision some channel shows, while the
    item is not withdrawn. `carried`: the attachments of an item stored before each revision
    kept its own (counted as its newest approved revision's)."""
    if s.withdrawn:
        return set()
    live = s.live_revisions()
    files = {f for r in live for f in s.files.get(str(r), [])}
    if not s.files and s.approved_revision in live:
        files |= set(carried)
    return files


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
