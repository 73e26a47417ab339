"""Ingest's MongoDB adapter: the `submissions` of its own database and their idempotency keys."""

import secrets
from collections.abc import Callable
from datetime import timedelta

from bson import ObjectId
from gridfs import AsyncGridFSBucket as GridFS
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.ingest.domain import Submission
from shared.documents import Change, change_document
from shared.events import Envelope, utcnow
from shared.outbox import insert_staged

# What the projection owns in a stored submission; the rest (content, idempotency) never changes.
_PROJECTED = {
    "status",
    "revision",
    "stage",
    "review_level",
    "approved_revision",
    "approved_channels",
    "withdrawn",
    "files",
    "publications",
    "review",
    "timeline",
    "seen_events",
}


class SubmissionStore:
    def __init__(self, db: AsyncDatabase):
        self.submissions = db.submissions
        self.idempotency_keys = db.idempotency_keys
        # Attachments' bytes in GridFS: `attachments.files` (with what was read of each in its
        # metadata) and `attachments.chunks`.
        self.attachment_files = GridFS(db, bucket_name="attachments")
        self.attachment_records = db["attachments.files"]
        self.attachment_chunks = db["attachments.chunks"]

    async def store_attachment(self, data: bytes, filename: str, metadata: dict) -> str:
        """Stored under an id of 128 random bits: knowing one public file's id tells nothing of
        another's (ObjectIds, which files had before, count up)."""
        attachment_id = new_attachment_id()
        await self.attachment_files.upload_from_stream_with_id(
            attachment_id, filename, data, metadata=metadata
        )
        return attachment_id

    async def attachment_record(self, attachment_id: str) -> dict | None:
        return await self.attachment_records.find_one({"_id": _file_id(attachment_id)})

    async def attach(self, attachment_id: str, submission_id: str) -> bool:
        """Bind an attachment to one submission; False when it belongs to another already, or was
        deleted meanwhile as never attached. One guarded write: an expiry sweep or a second
        submission racing it on any replica either loses or makes it lose."""
        bound = await self.attachment_records.update_one(
            {"_id": _file_id(attachment_id), "metadata.submission_id": {"$in": [None, submission_id]}},
            {"$set": {"metadata.submission_id": submission_id}},
        )
        return bound.matched_count == 1

    async def unattached_bytes(self, department: str) -> int:
        """What the department holds uploaded and not yet attached (its quota bounds this: attached
        files are part of the record and must be kept)."""
        unattached = {"metadata.department": department, "metadata.submission_id": None}
        return sum(
            r["length"] for r in await self.attachment_records.find(unattached, {"length": 1}).to_list()
        )

    async def forget_unattached(self, hours: float) -> int:
        """Delete the files uploaded more than `hours` ago and never attached: the record first,
        conditionally (an attach that wins keeps it), then its bytes."""
        cutoff = utcnow() - timedelta(hours=hours)
        stale = {"uploadDate": {"$lt": cutoff}, "metadata.submission_id": None}
        forgotten = 0
        for record in await self.attachment_records.find(stale, {"_id": 1}).to_list():
            gone = await self.attachment_records.delete_one({"_id": record["_id"], **stale})
            if gone.deleted_count:
                await self.attachment_chunks.delete_many({"files_id": record["_id"]})
                forgotten += 1
        return forgotten

    async def open_attachment(self, attachment_id: str):
        return await self.attachment_files.open_download_stream(_file_id(attachment_id))

    async def prepare(self) -> None:
        await self.submissions.create_index([("department", ASCENDING), ("_id", DESCENDING)])

    async def insert(self, document: dict) -> None:
        """One write: the submission and its `submission.received`, acknowledged before 202."""
        await insert_staged(self.submissions, document)

    async def get(self, submission_id: str) -> dict | None:
        return await self.submissions.find_one({"_id": submission_id}, {"pending_events": 0})

    async def claim_idempotency_key(
        self, key: str, submission_id: str, fingerprint: str, hours: float
    ) -> dict:
        """The record of `key` (department:key): a new one for this submission, or the earlier one
        while it lasts. Written before the submission, so a retry finds the id to store it under.
        Of requests racing with one key on any replica, one takes it: the key is inserted under its
        `_id`, or an expired record replaced only while it is still expired."""
        now = utcnow()
        record = {
            "submission_id": submission_id,
            "fingerprint": fingerprint,
            "expires_at": now + timedelta(hours=hours),
        }
        while True:
            earlier = await self.idempotency_keys.find_one({"_id": key})
            if earlier is not None and earlier["expires_at"] > now:
                return earlier
            if await self._take_key(key, record, expired=earlier is not None, now=now):
                return record

    async def _take_key(self, key: str, record: dict, expired: bool, now) -> bool:
        """Write the record of a key that is free (absent, or expired as read); False when another
        request took it first."""
        if expired:
            taken = await self.idempotency_keys.update_one(
                {"_id": key, "expires_at": {"$lte": now}}, {"$set": record}
            )
            return taken.matched_count == 1
        try:
            await self.idempotency_keys.insert_one({"_id": key, **record})
        except DuplicateKeyError:
            return False
        return True

    async def forget_expired_keys(self) -> int:
        """Expiry by the code: FerretDB has no TTL indexes."""
        result = await self.idempotency_keys.delete_many({"expires_at": {"$lte": utcnow()}})
        return result.deleted_count

    async def page(self, query: dict, after: str | None, limit: int) -> list[dict]:
        if after:
            ids = dict(query.get("_id", {}))
            ids["$lt"] = min(after, ids.get("$lt", after))
            query = {**query, "_id": ids}
        cursor = self.submissions.find(query, {"pending_events": 0, "seen_events": 0})
        return await cursor.sort("_id", DESCENDING).limit(limit).to_list()

    async def change(
        self,
        submission_id: str,
        change: Callable[[Submission], Submission | None],
        announce: Callable[[Submission], list[Envelope]] = lambda s: [],
        content: dict | None = None,
    ) -> dict | None:
        """Apply a pure change to the submission (and, for a revision, its new content); the events
        it announces go in the same write."""

        def compute(doc: dict) -> Change | None:
            changed = change(to_submission(doc))
            if changed is None:
                return None
            fields = changed.model_dump(mode="json", include=_PROJECTED)
            return Change(fields | ({"content": content} if content else {}), announce(changed))

        return await change_document(self.submissions, submission_id, compute)


def new_attachment_id() -> str:
    return secrets.token_hex(16)


def _file_id(attachment_id: str) -> str | ObjectId:
    """The stored id of an attachment: 32 hex digits, or an ObjectId for files stored before."""
    return ObjectId(attachment_id) if len(attachment_id) == 24 else attachment_id


def to_submission(doc: dict) -> Submission:
    return Submission(
        id=doc["_id"],
        department=doc["department"],
        channels=doc["content"]["channels"],
        **{k: doc[k] for k in _PROJECTED if k in doc},
    )
