"""The outbox without multi-document transactions.

A state change and the event announcing it are one single-document write: the event waits in
the owning document's `pending_events` array. The relay publishes each waiting event with a
confirm and only then removes it, so an event is never lost if a process dies in between; it is
at worst sent twice, which every consumer tolerates.
"""

import structlog
from faststream.rabbit import RabbitPublisher
from pymongo.asynchronous.collection import AsyncCollection

from shared.broker import publish_event
from shared.events import Envelope, parse_event
from shared.locks import update_document
from shared.metrics import EVENTS_PUBLISHED
from shared.settings import Settings
from shared.wakeup import Wakeup

log = structlog.get_logger(__name__)

WAITING = {"pending_events.0": {"$exists": True}}


def staged(*events: Envelope) -> dict:
    """The `$push` that stages events in the same update as the state change they announce."""
    return {"pending_events": {"$each": [e.model_dump(mode="json") for e in events]}}


def staged_list(*events: Envelope) -> list[dict]:
    """The `pending_events` of a document inserted together with its events."""
    return [e.model_dump(mode="json") for e in events]


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
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("outbox relay pass failed; retrying")
            await self._wakeup.wait()

    async def drain(self) -> int:
        """Publish every waiting event once; returns how many were sent."""
        sent = 0
        for collection in self._collections:
            async for doc in collection.find(WAITING, {"pending_events": 1}):
                for raw in doc["pending_events"]:
                    event = parse_event(raw)
                    await publish_event(self._publishers, event)
                    # By exact value: FerretDB ignores conditions on sub-documents in $pull.
                    await update_document(collection, doc["_id"], {"$pull": {"pending_events": raw}})
                    EVENTS_PUBLISHED.labels(event.type).inc()
                    log.info("event published", event_type=event.type, submission_id=event.submission_id)
                    sent += 1
        return sent
