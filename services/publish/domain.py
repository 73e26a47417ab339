"""Publish's pure domain: when an approval may be published, and the life of one publication
(one item on one channel) from claim to receipt, failure or withdrawal."""

import random
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel

from shared.domain import Channel
from shared.events import (
    Approval,
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


class PublicationState(StrEnum):
    PENDING = "pending"  # approved, not yet on the channel
    PUBLISHED = "published"
    FAILED = "failed"  # the retry budget is spent
    WITHDRAWN = "withdrawn"


class ChannelReceipt(BaseModel):
    url: str
    remote_id: str
    published_at: AwareDatetime


class Publication(BaseModel):
    """One item on one channel. `wanted` is where it should be; the worker closes the gap."""

    submission_id: str
    channel: Channel
    content: ItemContent
    state: PublicationState = PublicationState.PENDING
    wanted: PublicationState = PublicationState.PUBLISHED
    attempts: int = 0
    next_attempt_at: AwareDatetime
    last_error: str | None = None
    receipt: ChannelReceipt | None = None
    approval: ReviewApproved | None = None  # what asked for it: dead-lettered if it fails for good
    revision: int = 1  # the approved revision of `content`
    published_revision: int | None = None  # the revision the channel shows

    @property
    def outdated(self) -> bool:
        """On the channel, but a corrected revision has been approved since."""
        on_channel = self.state == self.wanted == PublicationState.PUBLISHED
        return on_channel and (self.published_revision or 0) < self.revision

    @property
    def due(self) -> bool:
        return (self.state != self.wanted and self.state != PublicationState.FAILED) or self.outdated


def reapproved(pub: Publication, approval: ReviewApproved, at: datetime) -> Publication | None:
    """The publication after its item is approved again: a corrected revision replaces the
    content (the channel is updated, or tried afresh if it had failed); the same approval again
    (from the DLQ) retries what failed for good; anything else changes nothing."""
    if pub.wanted == PublicationState.WITHDRAWN or approval.data.revision < pub.revision:
        return None
    if approval.data.revision == pub.revision:
        return retried(pub, at)
    update = {"content": approval.data.content, "revision": approval.data.revision, "approval": approval}
    if pub.state == PublicationState.FAILED:
        update |= {"state": PublicationState.PENDING, "attempts": 0, "last_error": None}
    return pub.model_copy(update={**update, "next_attempt_at": at})


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


def published(pub: Publication, receipt: ChannelReceipt) -> tuple[Publication, Envelope]:
    data = PublicationPublishedData(
        channel=pub.channel,
        url=receipt.url,
        remote_id=receipt.remote_id,
        published_at=receipt.published_at,
        item=PublishedItem.of(pub.content),
    )
    return _on_channel(pub, receipt), new_event(PublicationPublished, pub.submission_id, PRODUCER, data)


def updated(pub: Publication, receipt: ChannelReceipt, at: datetime) -> tuple[Publication, Envelope]:
    """The channel shows the corrected revision (更正)."""
    data = PublicationUpdatedData(
        channel=pub.channel,
        url=receipt.url,
        remote_id=receipt.remote_id,
        updated_at=at,
        revision=pub.revision,
        item=PublishedItem.of(pub.content),
    )
    return _on_channel(pub, receipt), new_event(PublicationUpdated, pub.submission_id, PRODUCER, data)


def _on_channel(pub: Publication, receipt: ChannelReceipt) -> Publication:
    update = {
        "state": PublicationState.PUBLISHED,
        "receipt": receipt,
        "last_error": None,
        "attempts": 0,
        "published_revision": pub.revision,
    }
    return pub.model_copy(update=update)


def withdrawn(pub: Publication, at: datetime) -> tuple[Publication, Envelope | None]:
    """Off the channel; announced only if it had been on it."""
    was_public = pub.state == PublicationState.PUBLISHED
    pub = pub.model_copy(update={"state": PublicationState.WITHDRAWN, "last_error": None})
    if not was_public:
        return pub, None
    data = PublicationWithdrawnData(channel=pub.channel, withdrawn_at=at, subject=ItemSubject.of(pub.content))
    return pub, new_event(PublicationWithdrawn, pub.submission_id, PRODUCER, data)


def attempt_failed(
    pub: Publication,
    error: str,
    at: datetime,
    max_attempts: int,
    retry_after: float | None = None,
    retryable: bool = True,
) -> tuple[Publication, Envelope | None]:
    """Schedule the next try, or give up (publication.failed) once the budget is spent."""
    attempts = pub.attempts + 1
    if retryable and attempts < max_attempts:
        delay = max(retry_after or 0.0, backoff(attempts))
        update = {"attempts": attempts, "last_error": error, "next_attempt_at": at + timedelta(seconds=delay)}
        return pub.model_copy(update=update), None
    if pub.wanted == PublicationState.WITHDRAWN:
        # A withdrawal that cannot reach the channel stays due: it must never be forgotten.
        update = {"attempts": attempts, "last_error": error, "next_attempt_at": at + timedelta(seconds=300)}
        return pub.model_copy(update=update), None
    pub = pub.model_copy(update={"state": PublicationState.FAILED, "attempts": attempts, "last_error": error})
    data = PublicationFailedData(
        channel=pub.channel, attempts=attempts, error=error, subject=ItemSubject.of(pub.content)
    )
    return pub, new_event(PublicationFailed, pub.submission_id, PRODUCER, data)


def retried(pub: Publication, at: datetime) -> Publication | None:
    """A publication that failed for good, tried again from the start (its approval replayed
    from the DLQ once the channel is back); None when there is nothing to retry."""
    if pub.state != PublicationState.FAILED or pub.wanted != PublicationState.PUBLISHED:
        return None
    return pub.model_copy(
        update={"state": PublicationState.PENDING, "attempts": 0, "next_attempt_at": at, "last_error": None}
    )


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
