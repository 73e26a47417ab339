"""Publish's pure domain: when an approval may be published, and the life of one publication
(one item on one channel) as a state machine.

A publication's `state` says what the channel shows (never_published, live, live_stale, gone);
`wanted` and `revision` say what should be there. Approvals and withdrawals change what is
wanted (`reapproved`, `withdrawal_wanted`); the worker takes the step due (`attempt_of`) and its
outcome is applied to the publication as stored by then (`settled`). A withdrawal reaches every
channel that shows any revision, even one whose update failed for good."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, model_validator

from shared.domain import ON_CHANNEL, Channel, ChannelState, Disclosure, china_date
from shared.events import (
    Approval,
    Contract,
    Envelope,
    ItemContent,
    ItemSubject,
    PublicationFailed,
    PublicationFailedData,
    PublicationPublished,
    PublicationPublishedData,
    PublicationUpdated,
    PublicationUpdatedData,
    PublicationWithdrawn,
    PublicationWithdrawnData,
    PublishedItem,
    ReviewApproved,
    new_event,
)

PRODUCER = "publish"


def complete_approval(approvals: tuple[Approval, ...], levels: int) -> bool:
    """先审查、后发布: every configured level signed, each by a different person."""
    signed = {a.level for a in approvals}
    people = {a.reviewer for a in approvals}
    return signed >= set(range(1, levels + 1)) and len(people) == len(approvals)


def goes_online(content: ItemContent) -> bool:
    """公开属性 decides: only an item marked 主动公开 (proactive) is ever put on a channel. One marked
    依申请公开 or 不予公开 is reviewed and counted like any other, and stays off every channel
    whatever it asked for; a correction that marks a published item so takes it off them."""
    return content.disclosure == Disclosure.PROACTIVE


def index_year(first_published_at: datetime) -> int:
    """The 年份 of an 索引号: the year, in China, of the item's first publication."""
    return china_date(first_published_at).year


class Wanted(StrEnum):
    """Where the item should be on the channel; a withdrawal is final."""

    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class Step(StrEnum):
    """What the worker does next to close the gap between what is shown and what is wanted."""

    PUBLISH = "publish"
    UPDATE = "update"
    WITHDRAW = "withdraw"


class ChannelReceipt(BaseModel):
    url: str
    remote_id: str
    published_at: AwareDatetime


# Stored states before the channel's state was kept apart from the worker's progress.
_LEGACY_STATES = {"pending", "published", "failed", "withdrawn"}


class Publication(BaseModel):
    """One item on one channel: what it shows (`state`, `live_revision`), what is wanted
    (`wanted`, `revision`), and the worker's progress towards it. Every change is a pure
    transition below; each event announcing one carries the channel's next `sequence`."""

    submission_id: str
    channel: Channel
    content: ItemContent  # the newest approved revision's content
    state: ChannelState = ChannelState.NEVER_PUBLISHED
    wanted: Wanted = Wanted.PUBLISHED
    revision: int = 1  # the newest approved revision
    live_revision: int | None = None  # the revision the channel shows (None unless live)
    given_up: bool = False  # the retry budget is spent: waits for a newer approval or a replay
    attempts: int = 0
    next_attempt_at: AwareDatetime
    last_error: str | None = None
    receipt: ChannelReceipt | None = None
    approval: ReviewApproved | None = None  # what asked for it: dead-lettered if it fails for good
    sequence: int = 0  # events announced about this publication so far

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data):
        """A publication stored with the former `state` (pending/published/failed/withdrawn)."""
        if not isinstance(data, dict) or data.get("state") not in _LEGACY_STATES:
            return data
        data = dict(data)
        shown = data.pop("published_revision", None)
        if shown is None and data.get("receipt") and data["state"] in ("published", "withdrawn"):
            shown = 1
        revision = data.get("revision", 1)
        match data["state"]:
            case "published":
                shown = shown or 1
                data["state"] = ChannelState.LIVE if shown >= revision else ChannelState.LIVE_STALE
            case "failed":
                data["given_up"] = True
                data["state"] = ChannelState.LIVE_STALE if shown else ChannelState.NEVER_PUBLISHED
            case "withdrawn":
                data["state"] = ChannelState.GONE if shown else ChannelState.NEVER_PUBLISHED
                shown = None
            case _:
                data["state"] = ChannelState.NEVER_PUBLISHED
        data["live_revision"] = shown if data["state"] in ON_CHANNEL else None
        return data

    @property
    def next_step(self) -> Step | None:
        if self.wanted == Wanted.WITHDRAWN:
            return Step.WITHDRAW if self.state in ON_CHANNEL else None
        if self.given_up:
            return None
        if not goes_online(self.content):  # never pushed, whatever was asked
            return None
        if self.state == ChannelState.NEVER_PUBLISHED:
            return Step.PUBLISH
        if self.state == ChannelState.LIVE_STALE:
            return Step.UPDATE
        return None

    @property
    def due(self) -> bool:
        return self.next_step is not None

    @property
    def on_channel(self) -> bool:
        return self.state in ON_CHANNEL


def _restart(**update) -> dict:
    """A new goal: its own retry budget, tried at once."""
    return {"given_up": False, "attempts": 0, "last_error": None, **update}


def reapproved(pub: Publication, approval: ReviewApproved, at: datetime) -> Publication | None:
    """The publication after its item is approved again: a corrected revision replaces the
    content (a live channel becomes stale until updated); the same approval again (replayed from
    the DLQ) retries what was given up; an older one, or any after a withdrawal, changes nothing."""
    revision = approval.data.revision
    if pub.wanted == Wanted.WITHDRAWN or revision < pub.revision:
        return None
    if revision == pub.revision:
        return retried(pub, at)
    state = ChannelState.LIVE_STALE if pub.state == ChannelState.LIVE else pub.state
    update = _restart(content=approval.data.content, revision=revision, approval=approval, state=state)
    return pub.model_copy(update={**update, "next_attempt_at": at})


def withdrawal_wanted(pub: Publication, at: datetime) -> Publication | None:
    """Take the item off the channel, whatever it shows (None: asked already). A channel that
    never showed it has nothing to take off; one that shows any revision is sent a withdrawal."""
    if pub.wanted == Wanted.WITHDRAWN:
        return None
    return pub.model_copy(update={"wanted": Wanted.WITHDRAWN, **_restart(), "next_attempt_at": at})


def retried(pub: Publication, at: datetime) -> Publication | None:
    """A publication given up on, tried again from the start (its approval replayed from the DLQ
    once the channel is back); None when there is nothing to retry."""
    if not pub.given_up or pub.wanted != Wanted.PUBLISHED:
        return None
    return pub.model_copy(update={**_restart(), "next_attempt_at": at})


def _announced(pub: Publication, event_type: type[Envelope], data: Contract) -> Envelope:
    return new_event(event_type, pub.submission_id, PRODUCER, data)


@dataclass(frozen=True)
class Attempt:
    """One step the worker took on the channel: what it sent, and what the channel answered."""

    step: Step
    revision: int
    content: ItemContent
    receipt: ChannelReceipt | None = None
    error: str | None = None  # None: the step succeeded
    retryable: bool = True
    retry_after: float | None = None


def attempt_of(pub: Publication) -> Attempt | None:
    """The step due for the publication as the worker claimed it (None: nothing is due)."""
    step = pub.next_step
    return Attempt(step=step, revision=pub.revision, content=pub.content) if step else None


def settled(
    pub: Publication, attempt: Attempt, at: datetime, max_attempts: int
) -> tuple[Publication, Envelope | None]:
    """The publication as stored now, after the worker's attempt: an approval or a withdrawal
    may have come while it was on its way, so the outcome is applied to the present, never
    written over it."""
    if attempt.error is None:
        return step_succeeded(pub, attempt, at)
    return step_failed(pub, attempt, at, max_attempts)


def step_succeeded(pub: Publication, attempt: Attempt, at: datetime) -> tuple[Publication, Envelope | None]:
    """What the channel shows after the attempt succeeded. Reported twice, it changes nothing
    the second time."""
    step, revision = attempt.step, attempt.revision
    if step == Step.WITHDRAW:
        if not pub.on_channel:
            return pub, None
        gone = {"state": ChannelState.GONE, "live_revision": None, "last_error": None, "attempts": 0}
        pub = pub.model_copy(update={**gone, "sequence": pub.sequence + 1})
        data = PublicationWithdrawnData(
            channel=pub.channel, withdrawn_at=at, subject=ItemSubject.of(pub.content), sequence=pub.sequence
        )
        return pub, _announced(pub, PublicationWithdrawn, data)
    if pub.on_channel and (pub.live_revision or 0) >= revision:
        return pub, None
    first = not pub.on_channel
    receipt = attempt.receipt or pub.receipt
    if not first and pub.receipt is not None:  # a correction keeps the day it was first published
        receipt = receipt.model_copy(update={"published_at": pub.receipt.published_at})
    state = ChannelState.LIVE if revision >= pub.revision else ChannelState.LIVE_STALE
    pub = pub.model_copy(
        update={
            "state": state,
            "live_revision": revision,
            "receipt": receipt,
            "last_error": None,
            "attempts": 0,
            "sequence": pub.sequence + 1,
        }
    )
    item = PublishedItem.of(attempt.content)
    if first:
        data = PublicationPublishedData(
            channel=pub.channel,
            url=receipt.url,
            remote_id=receipt.remote_id,
            published_at=receipt.published_at,
            item=item,
            revision=revision,
            sequence=pub.sequence,
        )
        return pub, _announced(pub, PublicationPublished, data)
    data = PublicationUpdatedData(
        channel=pub.channel,
        url=receipt.url,
        remote_id=receipt.remote_id,
        updated_at=at,
        revision=revision,
        item=item,
        sequence=pub.sequence,
    )
    return pub, _announced(pub, PublicationUpdated, data)


def step_failed(
    pub: Publication, attempt: Attempt, at: datetime, max_attempts: int
) -> tuple[Publication, Envelope | None]:
    """Schedule the next try, or give up (publication.failed, saying what the channel still
    shows) once the budget is spent. A withdrawal is never given up. A failure of a step that is
    no longer the one due (a newer approval or a withdrawal came meanwhile) counts for nothing."""
    step, revision, error = attempt.step, attempt.revision, attempt.error or ""
    retryable, retry_after = attempt.retryable, attempt.retry_after
    if step != pub.next_step or (step != Step.WITHDRAW and revision != pub.revision):
        return pub, None
    attempts = pub.attempts + 1
    if pub.wanted == Wanted.WITHDRAWN and not (retryable and attempts < max_attempts):
        # A withdrawal that cannot reach the channel stays due: it must never be forgotten.
        update = {"attempts": attempts, "last_error": error, "next_attempt_at": at + timedelta(seconds=300)}
        return pub.model_copy(update=update), None
    if retryable and attempts < max_attempts:
        delay = max(retry_after or 0.0, backoff(attempts))
        update = {"attempts": attempts, "last_error": error, "next_attempt_at": at + timedelta(seconds=delay)}
        return pub.model_copy(update=update), None
    pub = pub.model_copy(
        update={"given_up": True, "attempts": attempts, "last_error": error, "sequence": pub.sequence + 1}
    )
    data = PublicationFailedData(
        channel=pub.channel,
        attempts=attempts,
        error=error,
        subject=ItemSubject.of(pub.content),
        revision=revision,
        live_revision=pub.live_revision,
        sequence=pub.sequence,
    )
    return pub, _announced(pub, PublicationFailed, data)


def public_content(content: ItemContent, files_url: str) -> dict:
    """The item as a channel publishes it: its attachments as links to the files (served by
    ingest once the item is public), not the text screening read of them."""
    files = [
        {
            "filename": a.filename,
            "media_type": a.media_type,
            "size": a.size,
            "sha256": a.sha256,
            "url": f"{files_url.rstrip('/')}/v1/attachments/{a.id}",
        }
        for a in content.attachments
    ]
    return {**content.model_dump(mode="json"), "attachments": files}


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter: spreads retries of many items over time."""
    return random.uniform(0, min(cap, base * 2**attempt))


def dead_letter(pub: Publication, event: Envelope | None) -> dict | None:
    """For a publication that has just failed for good, its approval for the DLQ, with why."""
    if not isinstance(event, PublicationFailed) or pub.approval is None:
        return None
    reason = f"publication on {pub.channel} failed after {pub.attempts} attempts: {pub.last_error}"
    return {"message": pub.approval.model_dump(mode="json"), "reason": reason[:500]}


def _on_channel_entry(
    event: PublicationPublished | PublicationUpdated, kind: str, **moment: datetime
) -> dict:
    d = event.data
    return {
        "record_id": str(event.event_id),
        "kind": kind,
        "submission_id": event.submission_id,
        "channel": d.channel.value,
        "url": d.url,
        **{name: at.isoformat() for name, at in moment.items()},
        "title": d.item.title,
        "category": d.item.category.value,
        "department": d.item.department,
        "department_name": d.item.department_name,
        "index_number": d.item.index_number,
    }


def feed_entry(event: Envelope | None) -> dict | None:
    """What republishing platforms read at /v1/published for a publication's event: each item on
    each channel once when published, again when corrected, and again when withdrawn."""
    match event:
        case PublicationPublished():
            return _on_channel_entry(event, "published", published_at=event.data.published_at)
        case PublicationUpdated():
            return _on_channel_entry(event, "updated", updated_at=event.data.updated_at)
        case PublicationWithdrawn():
            return {
                "record_id": str(event.event_id),
                "kind": "withdrawn",
                "submission_id": event.submission_id,
                "channel": event.data.channel.value,
                "withdrawn_at": event.data.withdrawn_at.isoformat(),
            }
    return None
