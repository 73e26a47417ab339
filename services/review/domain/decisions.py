"""The review of one item as a state machine: screened, then decided level by level.

Pure: `screened`, `decide` and friends take the task and return the next task together with
the events that announce it; they never touch storage. A refusal is a `DecisionRefused`.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.review.domain.screening import UNREAD_PART_RULE, blocks
from shared.audit import AuditRecord
from shared.domain import RejectionReason, Severity, holder_of
from shared.events import (
    Approval,
    Envelope,
    ItemContent,
    ItemSubject,
    Redaction,
    ReviewApproved,
    ReviewApprovedData,
    ReviewQueued,
    ReviewQueuedData,
    ReviewRejected,
    ReviewRejectedData,
    ReviewReturned,
    ReviewReturnedData,
    ScreeningFinding,
    new_event,
)

PRODUCER = "review"
SCREENING = "screening"  # the actor of automatic screening in the audit trail
REDACTED = "■"  # one per redacted character, so that later spans keep their offsets


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"


class AcceptedFlag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    finding_id: str
    reason: str = Field(min_length=1, max_length=500)


class Decision(BaseModel):
    """The body of `POST /v1/reviews/{submission_id}/decisions`. Which fields a decision needs
    depends on the decision: said in its JSON Schema (if/then), checked per field so that a
    refusal names the field (`reason`, `comment`), never the body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"decision": {"const": "reject"}}, "required": ["decision"]},
                    "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
                },
                {
                    "if": {"properties": {"decision": {"const": "return"}}, "required": ["decision"]},
                    "then": {"required": ["comment"], "properties": {"comment": {"pattern": "\\S"}}},
                },
                {
                    "if": {"properties": {"reason": {"const": "other"}}, "required": ["reason"]},
                    "then": {"required": ["comment"], "properties": {"comment": {"pattern": "\\S"}}},
                },
            ]
        },
    )

    decision: DecisionKind
    # validate_default: the checks below run when the field is left out too
    reason: RejectionReason | None = Field(None, validate_default=True)
    comment: str = Field("", max_length=2000, validate_default=True)
    redactions: list[Redaction] = []
    accepted_flags: list[AcceptedFlag] = []

    @field_validator("reason")
    @classmethod
    def _reasoned(cls, reason: RejectionReason | None, info: ValidationInfo) -> RejectionReason | None:
        if info.data.get("decision") == DecisionKind.REJECT and reason is None:
            raise ValueError("不予公开须选择理由 (required when rejecting)")
        return reason

    @field_validator("comment")
    @classmethod
    def _explained(cls, comment: str, info: ValidationInfo) -> str:
        if info.data.get("reason") == RejectionReason.OTHER and not comment.strip():
            raise ValueError("理由为“其他”时须填写意见 (required when the reason is 'other')")
        if info.data.get("decision") == DecisionKind.RETURN and not comment.strip():
            raise ValueError("退回修改须说明修改意见 (say what to revise)")
        return comment


@dataclass(frozen=True)
class Reviewer:
    """Who decides: `id` is the stable principal id (the token's holder) that four eyes keys
    on; `name` is only shown."""

    id: str
    name: str
    level: int


class RecordedDecision(BaseModel):
    level: int
    reviewer: str  # the display name
    reviewer_id: str = ""  # the holder; decisions stored before it existed get it from the name
    decision: DecisionKind
    comment: str = ""
    reason: RejectionReason | None = None
    redactions: list[Redaction] = []
    accepted_flags: list[AcceptedFlag] = []
    decided_at: datetime

    @model_validator(mode="after")
    def _identified(self) -> "RecordedDecision":
        self.reviewer_id = self.reviewer_id or holder_of(self.reviewer)
        return self


class Decider(BaseModel):
    """A principal who decided a level of the item, in any revision of it."""

    holder: str
    level: int


class ReviewTask(BaseModel):
    submission_id: str
    revision: int
    content: ItemContent
    levels: int
    state: ReviewState
    level: int  # the level the item waits at (meaningful while pending)
    findings: list[ScreeningFinding] = []
    decisions: list[RecordedDecision] = []  # this revision's
    redactions: list[Redaction] = []
    # Four eyes across revisions: everyone who decided a level of the item, in any revision.
    deciders: list[Decider] = []

    @model_validator(mode="after")
    def _every_decider(self) -> "ReviewTask":
        """Tasks stored before `deciders` existed know theirs from this revision's decisions."""
        for d in self.decisions:
            if not any(k.holder == d.reviewer_id and k.level == d.level for k in self.deciders):
                self.deciders.append(Decider(holder=d.reviewer_id, level=d.level))
        return self


class DecisionRefused(Exception):
    def __init__(self, status: Literal[403, 409, 422], title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class Outcome(NamedTuple):
    """A transition's result: the task, the event announcing it, the record for the audit chain."""

    task: ReviewTask
    event: Envelope | None
    audit: AuditRecord


def screened(
    submission_id: str,
    revision: int,
    content: ItemContent,
    levels: int,
    findings: list[ScreeningFinding],
    deciders: list[Decider] = (),
) -> Outcome:
    """A task with screening's findings (screening.screen_content): rejected at once when it
    carries a marking, else queued at level 1. A revision passes the earlier revisions'
    `deciders` on: nobody who decided one level of the item decides another level of it."""
    task = ReviewTask(
        submission_id=submission_id,
        revision=revision,
        content=content,
        levels=levels,
        state=ReviewState.PENDING,
        level=1,
        findings=findings,
        deciders=list(deciders),
    )
    if blocks(findings):
        task.state = ReviewState.REJECTED
        blocking = tuple(f for f in findings if f.severity == Severity.BLOCK)
        # A secrecy or internal-material marking (not a listed word, not a part that went unread).
        marked = any(f.rule not in ("word-list", UNREAD_PART_RULE) for f in blocking)
        data = ReviewRejectedData(
            revision=revision,
            automatic=True,
            reason=RejectionReason.CLASSIFIED if marked else RejectionReason.OTHER,
            findings=blocking,
            comment="；".join(sorted({f.message for f in blocking})),
            subject=ItemSubject.of(content),
        )
        event = new_event(ReviewRejected, submission_id, PRODUCER, data)
    else:
        event = _queued(task)
    basis = {"findings": [f.model_dump(mode="json") for f in findings]}
    return Outcome(task, event, _record(task, event, SCREENING, "screened", None, basis))


def revised(
    task: ReviewTask, revision: int, content: ItemContent, levels: int, findings: list[ScreeningFinding]
) -> Outcome | None:
    """A revision after `review.returned`, or a correction of an approved item (also after an
    earlier correction was rejected: ingest revises only what may be), is screened again and
    starts over at level 1; whoever decided a level of an earlier revision stays bound to it.
    None for a revision already seen, or while the current one is still pending."""
    revisable = (ReviewState.RETURNED, ReviewState.APPROVED, ReviewState.REJECTED)
    if task.state not in revisable or revision <= task.revision:
        return None
    return screened(task.submission_id, revision, content, levels, findings, task.deciders)


def _record(task: ReviewTask, event: Envelope, actor: str, action: str, level: int | None, basis: dict):
    return AuditRecord(
        record_id=str(event.event_id),
        at=event.occurred_at,
        actor=actor,
        action=action,
        submission_id=task.submission_id,
        level=level,
        basis={"revision": task.revision, "outcome": event.type, **basis},
    )


def _queued(task: ReviewTask) -> Envelope:
    data = ReviewQueuedData(revision=task.revision, level=task.level, findings=tuple(task.findings))
    return new_event(ReviewQueued, task.submission_id, PRODUCER, data)


def levels_decided_by(task: ReviewTask, holder: str) -> set[int]:
    """The levels of the item (in any of its revisions) that `holder` has decided."""
    return {d.level for d in task.deciders if d.holder == holder}


def four_eyes_allow(task: ReviewTask, holder: str, level: int) -> bool:
    """Whether `holder` may decide `level` of the item: not if they decided another level of it."""
    return not levels_decided_by(task, holder) - {level}


def decide(task: ReviewTask, by: Reviewer, decision: Decision, at: datetime) -> Outcome:
    """The task after `by` decides at their level, the event announcing it, and its audit record.

    Four eyes: a principal (by holder, never by display name) who decided one level of the item,
    in this revision or an earlier one, decides no other level of it; deciding the same level
    again (a revision after a return) is their job."""
    reviewer, level = by.name, by.level
    if task.state != ReviewState.PENDING:
        raise DecisionRefused(409, "Already decided", f"该事项已处理（{task.state.value}），无需再作决定。")
    if level != task.level:
        raise DecisionRefused(403, "Wrong level", f"该事项正等待第{task.level}级审核，您负责第{level}级。")
    if not four_eyes_allow(task, by.id, level):
        raise DecisionRefused(
            403, "Same reviewer", "同一人不得对同一事项作出两级审核决定（含该事项的各次修改）。"
        )
    _check_redactions(task.content, decision.redactions)
    recorded = RecordedDecision(
        level=level,
        reviewer=reviewer,
        reviewer_id=by.id,
        decision=decision.decision,
        comment=decision.comment,
        reason=decision.reason,
        redactions=decision.redactions,
        accepted_flags=decision.accepted_flags,
        decided_at=at,
    )
    task = task.model_copy(
        deep=True,
        update={
            "decisions": [*task.decisions, recorded],
            "redactions": [*task.redactions, *decision.redactions],
            "deciders": [*task.deciders, Decider(holder=by.id, level=level)]
            if level not in levels_decided_by(task, by.id)
            else task.deciders,
        },
    )
    match decision.decision:
        case DecisionKind.REJECT:
            event = _rejected(task, decision, by)
        case DecisionKind.RETURN:
            task.state = ReviewState.RETURNED
            data = ReviewReturnedData(
                revision=task.revision,
                level=level,
                reviewer=reviewer,
                reviewer_id=by.id,
                comment=decision.comment,
                subject=ItemSubject.of(task.content),
            )
            event = new_event(ReviewReturned, task.submission_id, PRODUCER, data)
        case DecisionKind.APPROVE:
            event = _approved(task)
    basis = {"reviewer_id": by.id, **decision.model_dump(mode="json", exclude={"decision"})}
    return Outcome(task, event, _record(task, event, reviewer, decision.decision.value, level, basis))


def _rejected(task: ReviewTask, decision: Decision, by: Reviewer) -> Envelope:
    task.state = ReviewState.REJECTED
    data = ReviewRejectedData(
        revision=task.revision,
        automatic=False,
        reason=decision.reason,
        comment=decision.comment,
        level=by.level,
        reviewer=by.name,
        reviewer_id=by.id,
        findings=tuple(task.findings),
        subject=ItemSubject.of(task.content),
    )
    return new_event(ReviewRejected, task.submission_id, PRODUCER, data)


def _approved(task: ReviewTask) -> Envelope:
    """Onward to the next level, or approved with the redacted text once the last level signs."""
    unresolved = unresolved_flags(task)
    if unresolved:
        raise DecisionRefused(
            422,
            "Unresolved flags",
            "同意公开前，请遮盖每处提示内容，或填写理由予以接受：" + "、".join(unresolved),
        )
    if task.level < task.levels:
        task.level += 1
        return _queued(task)
    task.state = ReviewState.APPROVED
    approvals = tuple(
        Approval(
            level=d.level,
            reviewer=d.reviewer,
            reviewer_id=d.reviewer_id,
            decided_at=d.decided_at,
            comment=d.comment,
        )
        for d in task.decisions
        if d.decision == DecisionKind.APPROVE
    )
    data = ReviewApprovedData(
        revision=task.revision,
        content=redacted(task.content, task.redactions),
        redactions=tuple(task.redactions),
        approvals=approvals,
    )
    return new_event(ReviewApproved, task.submission_id, PRODUCER, data)


def _check_redactions(content: ItemContent, redactions: list[Redaction]) -> None:
    for r in redactions:
        length = len(getattr(content, r.field))
        if not r.start < r.end <= length:
            raise DecisionRefused(
                422,
                "Invalid redaction",
                f"遮盖范围 {r.field} [{r.start}, {r.end}) 超出该字段（共{length}字）。",
            )


def _covered(finding: ScreeningFinding, redactions: list[Redaction]) -> bool:
    """Every character of the finding lies in some redaction of its field."""
    spans = [(r.start, r.end) for r in redactions if r.field == finding.field]
    return all(any(s <= i < e for s, e in spans) for i in range(finding.start, finding.end))


def unresolved_flags(task: ReviewTask) -> list[str]:
    """The flags that are neither redacted nor accepted, with a reason, by some decision."""
    accepted = {a.finding_id for d in task.decisions for a in d.accepted_flags}
    return [
        f.id
        for f in task.findings
        if f.severity == Severity.FLAG and f.id not in accepted and not _covered(f, task.redactions)
    ]


def redacted(content: ItemContent, redactions: list[Redaction]) -> ItemContent:
    """The content every channel publishes: each redacted character replaced, lengths kept."""
    fields = {"title": list(content.title), "body": list(content.body)}
    for r in redactions:
        fields[r.field][r.start : r.end] = REDACTED * (r.end - r.start)
    return content.model_copy(update={name: "".join(chars) for name, chars in fields.items()})


def withdrawn(task: ReviewTask, by: str, reason: str, at: datetime, record_id: str) -> Outcome | None:
    """A withdrawn item leaves every queue; a decided one stays as it was decided."""
    if task.state != ReviewState.PENDING:
        return None
    task = task.model_copy(update={"state": ReviewState.WITHDRAWN})
    record = AuditRecord(
        record_id=record_id,
        at=at,
        actor=by,
        action="withdrawn",
        submission_id=task.submission_id,
        basis={"revision": task.revision, "reason": reason},
    )
    return Outcome(task, None, record)
