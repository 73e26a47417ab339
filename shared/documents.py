"""Changing one document safely without transactions: read it, compute the change in pure code,
write it back only if nobody wrote in between, together with the events that announce the change
(the outbox). Within a process the document lock rules out anybody writing in between; across
replicas on MongoDB, the `version` guard does (see shared.mongo.isolates_updates)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pymongo.asynchronous.collection import AsyncCollection

from shared.events import Envelope
from shared.locks import document_lock
from shared.mongo import isolates_updates
from shared.outbox import EVENTS, hint, staged_list


@dataclass(frozen=True)
class Change:
    fields: dict
    events: Sequence[Envelope] = field(default_factory=tuple)
    staged: dict[str, Sequence[dict]] = field(default_factory=dict)  # other outbox fields: AUDIT, FEED


async def change_document(
    collection: AsyncCollection, document_id: str, compute: Callable[[dict], Change | None]
) -> dict | None:
    """Apply `compute` to the stored document until it lands; None if absent or unchanged."""
    async with document_lock(collection, document_id):
        return await _change(collection, document_id, compute)


async def _change(collection: AsyncCollection, document_id: str, compute: Callable[[dict], Change | None]):
    while True:
        doc = await collection.find_one({"_id": document_id}, {"pending_events": 0})
        if doc is None:
            return None
        change = compute(doc)
        if change is None:
            return None
        update: dict = {"$set": change.fields, "$inc": {"version": 1}}
        staged = {EVENTS: staged_list(*change.events), **change.staged}
        for name, items in staged.items():
            if items:
                await hint(collection, document_id, name)
                update.setdefault("$push", {})[name] = {"$each": list(items)}
        guard = {"_id": document_id}
        if await isolates_updates(collection.database.client):
            guard["version"] = doc.get("version", 0)  # another replica may have written meanwhile
        result = await collection.update_one(guard, update)
        if result.matched_count:
            return {**doc, **change.fields, "version": doc.get("version", 0) + 1}
