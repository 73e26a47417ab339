"""The outbox without multi-document transactions.

A state change and the event announcing it are one single-document write: the event waits in
the owning document's `pending_events` array. The relay publishes each waiting event with a
confirm and only then removes it, so an event is never lost if a process dies in between; it is
at worst sent twice, which every consumer tolerates.

So that the relay need not scan whole collections (FerretDB has no index for that query), each
writer first leaves a hint — the document's id in `<collection>_outbox` — and only then writes
the document. A hint therefore exists whenever an event waits; the relay reads the hints,
fetches each document by id, and drops the hint once the document has nothing left to send.
"""

import uuid

import structlog
from faststream.rabbit import RabbitPublisher
from pymongo.asynchronous.collection import AsyncCollection

from shared.broker import publish_event
from shared.events import Envelope, parse_event
from shared.locks import document_lock
from shared.metrics import EVENTS_PUBLISHED
from shared.settings import Settings
from shared.wakeup import Wakeup

log = structlog.get_logger(__name__)

WAITING = {"pending_events.0": {"$exists": True}}
BATCH = 100


def staged(*events: Envelope) -> dict:
    """The `$push` that stages events in the same update as the state change they announce."""
    return {"pending_events": {"$each": staged_list(*events)}}


def staged_list(*events: Envelope) -> list[dict]:
    """The `pending_events` of a document inserted together with its events."""
    return [e.model_dump(mode="json") for e in events]


def hints_of(collection: AsyncCollection) -> AsyncCollection:
    return collection.database[f"{collection.name}_outbox"]


async def hint(collection: AsyncCollection, document_id: str) -> None:
    """Tell the relay that events will wait in this document; call it before writing them."""
    hints = hints_of(collection)
    async with document_lock(hints, document_id):
        await hints.update_one({"_id": document_id}, {"$set": {"nonce": uuid.uuid4().hex}}, upsert=True)


async def insert_with_events(collection: AsyncCollection, document: dict) -> None:
    """Insert a document whose `pending_events` announce it (raises DuplicateKeyError as usual)."""
    if document.get("pending_events"):
        await hint(collection, document["_id"])
    await collection.insert_one(document)


class OutboxRelay:
    def __init__(
        self, publishers: dict[str, RabbitPublisher], settings: Settings, collections: list[AsyncCollection]
    ):
        self._publishers = publishers
        self._collections = collections
        self._wakeup = Wakeup(settings.outbox_poll_seconds)

    def wake(self) -> None:
        """Called after a write that staged events, so they leave without waiting for the poll."""
        self._wakeup.set()

    async def run(self) -> None:
        await self.recover_hints()
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("outbox relay pass failed; retrying")
            await self._wakeup.wait()

    async def recover_hints(self) -> None:
        """Once at start: hint any document whose events wait without one (written before hints)."""
        for collection in self._collections:
            async for doc in collection.find(WAITING, {"_id": 1}):
                await hint(collection, doc["_id"])

    async def drain(self) -> int:
        """Publish every waiting event once; returns how many were sent."""
        sent = 0
        for collection in self._collections:
            while hints := await hints_of(collection).find({}).limit(BATCH).to_list():
                for h in hints:
                    sent += await self._relay(collection, h)
        return sent

    async def _relay(self, collection: AsyncCollection, h: dict) -> int:
        """Publish a document's waiting events in order, clearing each once the broker confirmed it."""
        sent = 0
        async with document_lock(collection, h["_id"]):
            doc = await collection.find_one({"_id": h["_id"]}, {"pending_events": 1})
            for raw in (doc or {}).get("pending_events", []):
                event = parse_event(raw)
                await publish_event(self._publishers, event)
                # By exact value: FerretDB ignores conditions on sub-documents in $pull.
                await collection.update_one({"_id": h["_id"]}, {"$pull": {"pending_events": raw}})
                EVENTS_PUBLISHED.labels(event.type).inc()
                log.debug("event published", event_type=event.type, submission_id=event.submission_id)
                sent += 1
        hints = hints_of(collection)
        async with document_lock(hints, h["_id"]):
            # Only the hint as read: a writer that hinted again since then keeps its hint.
            await hints.delete_one({"_id": h["_id"], "nonce": h["nonce"]})
        return sent
