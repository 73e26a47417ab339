"""What ingest does: one function per command or event."""

import hashlib
import json
from datetime import date, datetime, timedelta

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.ingest import attachments
from services.ingest.domain import (
    ReviewStage,
    Submission,
    SubmissionDraft,
    TimelineEntry,
    can_revise,
    can_withdraw,
    catalogue_defaults,
    correction_dated_before,
    dropped_channels,
    project,
    public_files,
    revised,
    status_of,
    withdrawn,
)
from services.ingest.reader import AttachmentReader
from services.ingest.store import SubmissionStore, to_submission
from shared.auth import Principal
from shared.domain import CHINA, Category, OfficeLevel, Role, SubmissionStatus, document_refused
from shared.events import (
    Attachment,
    AttachmentPart,
    Event,
    ItemContent,
    ItemSubject,
    SubmissionReceived,
    SubmissionReceivedData,
    SubmissionRevised,
    SubmissionWithdrawn,
    SubmissionWithdrawnData,
    new_event,
    utcnow,
)
from shared.outbox import staged_list
from shared.problems import FieldError, Problem

PRODUCER = "ingest"


def _fingerprint(draft: SubmissionDraft) -> str:
    """The body an Idempotency-Key was first used with. Catalogue fields that say what a body
    without them means are left out, so that a key used before they existed still matches."""
    body = draft.model_dump(mode="json")
    for name in catalogue_defaults(draft):
        body.pop(name)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def upload_attachments(
    store: SubmissionStore,
    reader: AttachmentReader,
    clerk: Principal,
    files: list[tuple[str | None, bytes]],
    quota_mb: int,
) -> list[dict]:
    """Store the department's files, each judged by its content and read, part by part, for
    screening; a request with one file refused (not a type accepted, too large, a zip bomb)
    stores none (problem+json naming each refused file and why)."""
    refused, accepted = [], []
    for number, (name, data) in enumerate(files):
        try:
            attachments.check_size(len(data))
            accepted.append((name, data, attachments.media_type_of(data, reader.limits)))
        except attachments.AttachmentRefused as why:
            refused.append(
                FieldError(field=f"files.{number}", reason=f"{attachments.safe_filename(name)}: {why}")
            )
    if refused:
        raise Problem(422, "Attachment refused", "No file of this request was stored.", errors=refused)
    await _within_quota(store, clerk.department, sum(len(data) for _, data, _ in accepted), quota_mb)
    stored = []
    for name, data, media_type in accepted:
        read = await reader.read(data, media_type)
        metadata = {
            "department": clerk.department,
            "media_type": media_type,
            "sha256": hashlib.sha256(data).hexdigest(),
            "text": "",
            "parts": [{"kind": kind.value, "text": text} for kind, text in read.parts],
            "unread": read.unread,
            "submission_id": None,
        }
        filename = attachments.safe_filename(name)
        attachment_id = await store.store_attachment(data, filename, metadata)
        stored.append(_attachment(attachment_id, filename, len(data), metadata))
    return [a.model_dump(mode="json") for a in stored]


async def _within_quota(store: SubmissionStore, department: str, incoming: int, quota_mb: int) -> None:
    """A department's files not yet attached stay within its quota (concurrent uploads may each
    pass the check: the overshoot is bounded by one request's files per upload in flight)."""
    used = await store.unattached_bytes(department)
    if used + incoming > quota_mb * 2**20:
        reason = (
            f"{incoming / 2**20:.1f} MB would take the department's files not yet attached to "
            f"{(used + incoming) / 2**20:.1f} MB, beyond its quota of {quota_mb} MB: attach or let "
            "expire what was uploaded before"
        )
        raise Problem(
            413,
            "Storage quota exceeded",
            "No file of this request was stored.",
            errors=[FieldError(field="files", reason=reason)],
        )


def _attachment(attachment_id: str, filename: str, size: int, metadata: dict) -> Attachment:
    """An upload as it travels with its item (uploads stored before parts were read: their text)."""
    fields = {k: metadata[k] for k in ("media_type", "sha256", "text", "unread")}
    return Attachment(
        id=attachment_id, filename=filename, size=size, parts=metadata.get("parts", []), **fields
    )


async def _attachments_of(
    store: SubmissionStore, clerk: Principal, draft: SubmissionDraft
) -> list[Attachment]:
    """The draft's attachments: each an upload of the clerk's own department, their parts cut
    fairly to the item's text budget (what is cut is said, for a reviewer)."""
    found, missing = [], []
    for number, attachment_id in enumerate(draft.attachments):
        record = await store.attachment_record(attachment_id)
        if record is None or record["metadata"]["department"] != clerk.department:
            missing.append(
                FieldError(field=f"attachments.{number}", reason="no such upload of your department")
            )
            continue
        found.append(_attachment(attachment_id, record["filename"], record["length"], record["metadata"]))
    if missing:
        raise Problem(
            422, "Invalid request", "Upload each attachment first: POST /v1/attachments.", errors=missing
        )
    budgeted = attachments.within_item_budget([[(p.kind, p.text) for p in a.readable_parts()] for a in found])
    return [
        a.model_copy(
            update={
                "text": "",
                "parts": tuple(AttachmentPart(kind=kind, text=text) for kind, text in parts),
                "unread": a.unread or attachments.ITEM_BUDGET_NOTE,
            }
        )
        if cut
        else a
        for a, (parts, cut) in zip(found, budgeted, strict=True)
    ]


async def _bind(store: SubmissionStore, attachments_found: list[Attachment], submission_id: str) -> None:
    taken = [
        FieldError(
            field=f"attachments.{n}",
            reason="attached to another submission already, or deleted as never attached",
        )
        for n, a in enumerate(attachments_found)
        if not await store.attach(a.id, submission_id)
    ]
    if taken:
        raise Problem(409, "Attachment taken", "Upload the file again for this submission.", errors=taken)


async def visible_attachment(store: SubmissionStore, caller: Principal | None, attachment_id: str):
    """A file its caller may have: its department, reviewers and operators always, anyone while
    a revision that carries it is live on some channel (and the item is not withdrawn)."""
    record = await store.attachment_record(attachment_id)
    if record is not None:
        meta = record["metadata"]
        if caller and (
            caller.role in (Role.OPERATOR, Role.REVIEWER) or caller.department == meta["department"]
        ):
            return await store.open_attachment(attachment_id)
        submission = await store.get(meta["submission_id"]) if meta.get("submission_id") else None
        if submission and attachment_id in _public_files(submission):
            return await store.open_attachment(attachment_id)
    raise Problem(404, "Not found", f"No attachment {attachment_id} is visible to you.")


def _public_files(doc: dict) -> set[str]:
    carried = [a["id"] for a in doc["content"].get("attachments", [])]
    return public_files(to_submission(doc), carried)


def within_the_office(draft: SubmissionDraft, level: OfficeLevel) -> None:
    """Refuse what the office cannot have issued at all: a township or county makes no 规章, so
    an item recording one would put a row into Table A that its report must not have."""
    document = draft.regulatory_document
    refused = document_refused(level, document.kind) if document else None
    if refused:
        raise Problem(
            422,
            "Invalid request",
            "One or more fields are invalid.",
            errors=[FieldError(field="regulatory_document.kind", reason=refused)],
        )


async def submit(
    store: SubmissionStore,
    clerk: Principal,
    draft: SubmissionDraft,
    idempotency_key: str | None,
    key_hours: float,
) -> tuple[dict, bool]:
    """Store the submission and its `submission.received` in one write. Returns the stored
    document and whether it was created now (False: the answer to an earlier request, replayed)."""
    fingerprint = _fingerprint(draft)
    files = await _attachments_of(store, clerk, draft)
    submission_id = str(ObjectId())
    if idempotency_key:
        key = f"{clerk.department}:{idempotency_key}"
        claimed = await store.claim_idempotency_key(key, submission_id, fingerprint, key_hours)
        if claimed["fingerprint"] != fingerprint:
            raise Problem(
                409,
                "Idempotency key reused",
                "This Idempotency-Key was already used with a different request body.",
            )
        if claimed["submission_id"] != submission_id:
            earlier = await store.get(claimed["submission_id"])
            if earlier is not None:
                return earlier, False
            submission_id = claimed["submission_id"]  # the first attempt died before storing it: store it now
    await _bind(store, files, submission_id)
    content = _content(draft, clerk, submission_id, files)
    received = new_event(SubmissionReceived, submission_id, PRODUCER, SubmissionReceivedData(content=content))
    document = {
        "_id": submission_id,
        "department": clerk.department,
        "content": content.model_dump(mode="json"),
        "status": SubmissionStatus.RECEIVED.value,
        "revision": 1,
        "stage": ReviewStage.RECEIVED.value,
        "files": {"1": [a.id for a in files]},
        "publications": {},
        "review": {},
        "timeline": [TimelineEntry(at=received.occurred_at, event=received.type).model_dump(mode="json")],
        "seen_events": [],
        "version": 1,
        "created_at": received.occurred_at,
        "pending_events": staged_list(received),
    }
    try:
        await store.insert(document)
    except DuplicateKeyError:  # a concurrent retry of the same keyed request stored it first
        return await store.get(submission_id), False
    return document, True


def _content(
    draft: SubmissionDraft, clerk: Principal, submission_id: str, files: list[Attachment]
) -> ItemContent:
    return ItemContent(
        **draft.model_dump(exclude={"attachments"}),
        attachments=tuple(files),
        department=clerk.department,
        department_name=clerk.department_name or "",
        submitted_at=ObjectId(submission_id).generation_time,  # the first submission, kept by revisions
    )


def listing(
    caller: Principal,
    status: SubmissionStatus | None,
    category: Category | None,
    submitted_from: date | None,
    submitted_to: date | None,
) -> dict:
    """The query for a listing: a department sees its own items only. Ids begin with their
    creation time, so a range of days is a range of ids."""
    query: dict = {"department": caller.department} if caller.role == Role.DEPARTMENT else {}
    if status:
        query["status"] = status.value
    if category:
        query["content.category"] = category.value
    ids = {}
    if submitted_from:
        ids["$gte"] = _first_id_of(submitted_from)
    if submitted_to:
        ids["$lt"] = _first_id_of(submitted_to + timedelta(days=1))
    return query | ({"_id": ids} if ids else {})


def _first_id_of(day: date) -> str:
    return str(ObjectId.from_datetime(datetime(day.year, day.month, day.day, tzinfo=CHINA)))


async def visible(store: SubmissionStore, caller: Principal, submission_id: str) -> dict:
    """A submission its caller may see: its own department's, or any for an operator."""
    doc = await store.get(submission_id)
    if doc is None or (caller.role == Role.DEPARTMENT and doc["department"] != caller.department):
        raise Problem(404, "Not found", f"No submission {submission_id} is visible to you.")
    return doc


async def withdraw(store: SubmissionStore, caller: Principal, submission_id: str, reason: str) -> dict:
    """Withdraw the item from every channel that shows any revision of it, whatever its status."""
    subject = ItemSubject.of(ItemContent(**(await visible(store, caller, submission_id))["content"]))

    def withdrawal(s: Submission) -> Submission:
        if not can_withdraw(s):
            raise Problem(
                409, "Cannot withdraw", f"The submission is {s.status}: nothing of it can go online."
            )
        return withdrawn(s, utcnow(), reason)

    def announce(s: Submission):
        data = SubmissionWithdrawnData(withdrawn_by=caller.name, reason=reason, subject=subject)
        return [new_event(SubmissionWithdrawn, s.id, PRODUCER, data)]

    return await store.change(submission_id, withdrawal, announce)


def _not_revisable(s: Submission) -> Problem:
    return Problem(
        409,
        "Not revisable",
        "Only an item returned for revision, or a published one to be corrected, can be revised; "
        f"this one is {s.status}.",
    )


def _keeps_channels(s: Submission, channels: list) -> None:
    """A correction is published where the item is: one that leaves out a channel showing it
    would leave the old revision there, so it is refused (withdraw the item to take it down)."""
    left_out = dropped_channels(s, channels)
    if left_out:
        reason = (
            "leaves out " + ", ".join(left_out) + ", which shows the item: a correction keeps its channels"
        )
        raise Problem(
            422,
            "Invalid request",
            "A correction updates the item on every channel it is on; withdraw it to take it off.",
            errors=[FieldError(field="channels", reason=reason)],
        )


def _dated_from_the_item(s: Submission, formed_on: date, previous: date) -> None:
    if why := correction_dated_before(status_of(s), formed_on, previous):
        raise Problem(
            422,
            "Correction dated before the item",
            f"formed_on {formed_on.isoformat()} is refused: {why}.",
            errors=[FieldError(field="formed_on", reason=why)],
        )


async def revise(
    store: SubmissionStore, clerk: Principal, submission_id: str, draft: SubmissionDraft
) -> dict:
    """A returned item's revision, or a published item's correction (also after a correction was
    rejected), goes back to screening as a new revision; a correction, once approved, updates the
    channels that show the item. Its files become public only once it is live."""
    stored = await visible(store, clerk, submission_id)
    if not can_revise(current := to_submission(stored)):
        raise _not_revisable(current)  # before binding any file to it
    _keeps_channels(current, draft.channels)
    _dated_from_the_item(current, draft.formed_on, date.fromisoformat(stored["content"]["formed_on"]))
    files = await _attachments_of(store, clerk, draft)
    await _bind(store, files, submission_id)
    content = _content(draft, clerk, submission_id, files)

    def revision(s: Submission) -> Submission:
        if not can_revise(s):
            raise _not_revisable(s)
        _keeps_channels(s, list(content.channels))
        return revised(s, utcnow(), list(content.channels), [a.id for a in files])

    def announce(s: Submission):
        data = SubmissionReceivedData(revision=s.revision, content=content)
        return [new_event(SubmissionRevised, s.id, PRODUCER, data)]

    return await store.change(submission_id, revision, announce, content.model_dump(mode="json"))


async def on_event(store: SubmissionStore, event: Event) -> None:
    """Project a downstream event onto the submission's status (idempotent, order-tolerant)."""
    await store.change(event.submission_id, lambda s: project(s, event))
