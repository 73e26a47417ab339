"""The outbox without multi-document transactions.

A state change and the event announcing it are one single-document write: the event waits in
the owning document's `pending_events` array. The relay publishes each waiting event with a
confirm and only then removes it, so an event is never lost if a process dies in between; it is
at worst sent twice, which every consumer tolerates.

So that the relay need not scan whole collections, each writer first marks the document on a
hint board (`<collection>_outbox`, shared.hints) and only then stages its events; the relay
reads the board, fetches each document by id, and clears the hint once it has sent them.
"""

import structlog
from faststream.rabbit import RabbitPublisher
from pymongo.asynchronous.collection import AsyncCollection

from shared.broker import publish_event
from shared.events import Envelope, parse_event
from shared.hints import HintBoard
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


def board_of(collection: AsyncCollection) -> HintBoard:
    return HintBoard(collection.database[f"{collection.name}_outbox"])


async def hint(collection: AsyncCollection, document_id: str) -> None:
    """Tell the relay that events will wait in this document; call it before writing them."""
    await board_of(collection).mark(document_id)


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
            board = board_of(collection)
            while hints := await board.due(BATCH):
                for h in hints:
                    sent += await self._relay(collection, h)
                    await board.clear(h)
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
        return sent
