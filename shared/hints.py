"""A hint board: the ids of the documents that need a background worker's attention, kept in a
small collection of their own so that the worker never scans a large one (FerretDB's SQLite
backend has no index for anything but `{_id: …}`).

A writer marks a document *before* writing the change that needs attention, holding the
document's lock from the mark to the write, so a hint exists whenever there is work; a hint that
points at a document not written yet is kept until it is stale (its writer died), then dropped. Each mark
carries a fresh nonce: a worker clears only the hint it read, never one set again since.
"""

import uuid
from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection

from shared.events import utcnow
from shared.locks import document_lock

STALE_AFTER = timedelta(minutes=2)  # a hint whose document is still missing by then was abandoned


def stale(hint: dict) -> bool:
    """A hint set so long ago that a missing document will not come (its writer died)."""
    return hint["at"] < utcnow() - STALE_AFTER


class HintBoard:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def mark(self, document_id: str, at: datetime | None = None) -> None:
        """Ask for attention to the document, from `at` on (now when not given)."""
        async with document_lock(self.collection, document_id):
            await self.collection.update_one(
                {"_id": document_id}, {"$set": {"nonce": uuid.uuid4().hex, "at": at or utcnow()}}, upsert=True
            )

    async def due(self, limit: int) -> list[dict]:
        return await self.collection.find({"at": {"$lte": utcnow()}}).sort("at", 1).limit(limit).to_list()

    async def clear(self, hint: dict) -> None:
        """Drop the hint as it was read; one marked again since then stays."""
        async with document_lock(self.collection, hint["_id"]):
            await self.collection.delete_one({"_id": hint["_id"], "nonce": hint["nonce"]})
