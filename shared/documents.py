"""Changing one document safely without transactions: read it, compute the change in pure code,
write it back only if nobody wrote in between, together with the events that announce the change
(the outbox). "Nobody wrote in between" is the `version` guard: the write's filter names the
version read, and the store applies a write only while its filter holds (atomic per document,
shared.mongo), so of writers racing on any number of replicas one wins and the others read
again and recompute."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from shared.events import Envelope
from shared.hints import HintBoard
from shared.outbox import EVENTS, hint, staged_list


@dataclass(frozen=True)
class Change:
    fields: dict
    events: Sequence[Envelope] = field(default_factory=tuple)
    staged: dict[str, Sequence[dict]] = field(default_factory=dict)  # other outbox fields: AUDIT, FEED
    # hint boards to mark (from when; None: now) before the write, which records each mark
    marks: Sequence[tuple[HintBoard, datetime | None]] = ()


async def change_document(
    collection: AsyncCollection, document_id: str, compute: Callable[[dict], Change | None]
) -> dict | None:
    """Apply `compute` to the stored document until it lands; None if absent or unchanged."""
    while True:
        doc = await collection.find_one({"_id": document_id}, {"pending_events": 0})
        if doc is None:
            return None
        change = compute(doc)
        if change is None:
            return None
        update: dict = {"$set": dict(change.fields), "$inc": {"version": 1}}
        staged = {EVENTS: staged_list(*change.events), **change.staged}
        for name, items in staged.items():
            if items:
                # before the items, so a hint exists whenever they do; the write records the mark
                update["$set"] |= await hint(collection, document_id, name)
                update.setdefault("$push", {})[name] = {"$each": list(items)}
        for board, at in change.marks:
            update["$set"][board.mark_field] = await board.mark(document_id, at)
        version = doc.get("version")  # None matches a document written before versions, as read
        result = await collection.update_one({"_id": document_id, "version": version}, update)
        if result.matched_count:
            return {**doc, **change.fields, "version": (version or 0) + 1}
