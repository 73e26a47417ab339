"""A hint board: the ids of the documents that need a background worker's attention, kept in a
small collection of their own so that the worker never scans a large one (FerretDB's SQLite
backend has no index for anything but `_id`).

A writer marks a document *before* writing the change that needs attention, so a hint exists
whenever there is work; a hint that points at a document not written yet is kept until it is
stale (its writer died), then dropped. Each mark carries a fresh nonce: a worker clears only the
hint it read, never one set again since. Every step is one single-document write, atomic on the
store (shared.mongo), so writers and workers on any number of replicas need no lock: a mark is an
upsert, a clear a delete conditional on the nonce. Nothing holds a mark and its write together,
so a worker may read the document between the two: the write records the mark's nonce in the
document (`mark_field`), and a worker drops a hint only once it has read the write of that very
mark (`landed`).

A worker that must attend to a document alone (the outbox relay: one at a time delivers a
document's items, in order) claims its hint for a lease first: one conditional write, won by one
worker of all replicas, held while it works and taken over by another once it runs out (its
worker died).
"""

import uuid
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.events import utcnow

STALE_AFTER = timedelta(minutes=2)  # a hint whose document is still missing by then was abandoned
UNCLAIMED = {"claimed_by": "", "claimed_until": ""}  # what `$unset` removes to release a claim


def stale(hint: dict) -> bool:
    """A hint set so long ago that a document, or a write, still missing will not come (its writer died)."""
    return hint["at"] < utcnow() - STALE_AFTER


class HintBoard:
    def __init__(self, collection: AsyncCollection, mark_field: str):
        """`mark_field`: where a hinted document's write records the nonce of its mark."""
        self.collection, self.mark_field = collection, mark_field

    async def mark(self, document_id: str, at: datetime | None = None) -> str:
        """Ask for attention to the document, from `at` on (now when not given); the mark's nonce.
        A claim on the hint stays: its worker will not clear a hint marked again since it read it."""
        nonce = uuid.uuid4().hex
        await self.collection.update_one(
            {"_id": document_id}, {"$set": {"nonce": nonce, "at": at or utcnow()}}, upsert=True
        )
        return nonce

    def landed(self, hint: dict, doc: dict | None) -> bool:
        """Whether `doc`, as read, holds the write made under the hint's very mark, or the hint is
        stale (its writer died): only then may the hint go once the document has been attended to."""
        return stale(hint) or (doc or {}).get(self.mark_field) == hint["nonce"]

    async def due(self, limit: int) -> list[dict]:
        return await self.collection.find({"at": {"$lte": utcnow()}}).sort("at", 1).limit(limit).to_list()

    async def clear(self, hint: dict) -> bool:
        """Drop the hint as it was read (and claimed, if it was); one marked again since stays.
        True when it was dropped."""
        current = {"_id": hint["_id"], "nonce": hint["nonce"], "claimed_by": hint.get("claimed_by")}
        return (await self.collection.delete_one(current)).deleted_count == 1

    async def claim(self, document_id: str, lease: timedelta) -> dict | None:
        """The hint, claimed for `lease` by this caller alone; None when another worker holds it
        (or it is gone). A claim whose lease ran out is taken over."""
        now = utcnow()
        free = {"$or": [{"claimed_until": None}, {"claimed_until": {"$lte": now}}]}
        return await self.collection.find_one_and_update(
            {"_id": document_id, **free},
            {"$set": {"claimed_by": uuid.uuid4().hex, "claimed_until": now + lease}},
            return_document=ReturnDocument.AFTER,
        )

    async def hold(self, hint: dict, lease: timedelta) -> bool:
        """Keep a claim for `lease` more once half of it is gone (one write per half lease, not per
        step); False when it was lost (it ran out and another worker took it over)."""
        now = utcnow()
        if hint["claimed_until"] - now > lease / 2:
            return True
        held = await self.collection.update_one(
            {"_id": hint["_id"], "claimed_by": hint["claimed_by"]}, {"$set": {"claimed_until": now + lease}}
        )
        hint["claimed_until"] = now + lease
        return held.matched_count == 1

    async def postpone(self, document_id, delay: timedelta) -> None:
        """Attend to the document again only after `delay`, counting the failures in a row (a
        hint is dropped once its work is done, and its count with it)."""
        await self.collection.update_one(
            {"_id": document_id}, {"$set": {"at": utcnow() + delay}, "$inc": {"failures": 1}}
        )

    async def release(self, hint: dict) -> None:
        """Let a claimed hint go, still marked: any worker may claim it again at once."""
        await self.collection.update_one(
            {"_id": hint["_id"], "claimed_by": hint["claimed_by"]}, {"$unset": UNCLAIMED}
        )
