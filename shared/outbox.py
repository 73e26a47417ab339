"""The outbox without multi-document transactions.

A state change and what announces it are one single-document write: the announcement waits in
a field of the owning document (`pending_events` for events, `pending_audit` for audit records).
A relay delivers each waiting item — an event published with a broker confirm, an audit record
appended to the chain — and only then removes it, so nothing is lost if a process dies in
between; it is at worst delivered twice, which every receiver tolerates.

So that a relay need not scan whole collections, each writer first marks the document on a hint
board (`<collection>_<field>`, shared.hints) and only then stages its items; the relay reads the
board, fetches each document by id, and clears the hint once it has delivered them. With no lock
between a writer's mark and its write, a relay may read the document between the two: the write
that stages items therefore records the nonce of its mark (`<field>_hint`), and a relay clears a
hint only once it has read the write of that very mark (or the hint is stale: its writer died).

Every replica runs a relay. One document's items must leave one at a time and in order (a
document's events announce its successive states), so a relay first claims the document's hint
with a lease (one conditional write: one relay of all replicas wins it) and holds it while it
delivers; a relay that died is taken over once its lease runs out. Two relays deliver one
document's items at once only if a single delivery outlasts half a lease.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from faststream.rabbit import RabbitPublisher
from pymongo.asynchronous.collection import AsyncCollection

from shared.broker import publish_event
from shared.events import Envelope, parse_event
from shared.hints import HintBoard, stale
from shared.metrics import EVENTS_PUBLISHED
from shared.wakeup import Wakeup

log = structlog.get_logger(__name__)

EVENTS = "pending_events"
AUDIT = "pending_audit"  # records for the audit chain (review)
FEED = "pending_feed"  # entries for the feed of what is published (publish)
DEAD_LETTERS = "pending_dead_letters"  # messages given up on, for the service's DLQ (publish)
ITEMS = "pending_items"  # a channel's change of a published item, for the item it belongs to (publish)
STAGED = (EVENTS, AUDIT, FEED, DEAD_LETTERS, ITEMS)
BATCH = 100
MAX_POSTPONE_SECONDS = 300  # a document whose item keeps failing is tried at least this often
LEASE = timedelta(seconds=60)  # a relay's claim on a document: far beyond any one delivery


def staged_list(*events: Envelope) -> list[dict]:
    """The `pending_events` of a document inserted together with its events."""
    return [e.model_dump(mode="json") for e in events]


def board_of(collection: AsyncCollection, field: str = EVENTS) -> HintBoard:
    return HintBoard(collection.database[f"{collection.name}_{field}"], f"{field}_hint")


async def hint(collection: AsyncCollection, document_id: str, field: str = EVENTS) -> dict:
    """Tell the relay that items will wait in this document's `field`; call it before writing them,
    and `$set` what it returns in the same write."""
    board = board_of(collection, field)
    return {board.mark_field: await board.mark(document_id)}


async def insert_staged(collection: AsyncCollection, document: dict) -> None:
    """Insert a document together with what it stages (raises DuplicateKeyError as usual). The
    hints go first, so the items never wait without one; a relay that finds a hint before its
    document keeps the hint until the document comes or the hint goes stale."""
    marks = {}
    for field in STAGED:
        if document.get(field):
            marks |= await hint(collection, document["_id"], field)
    await collection.insert_one({**document, **marks})


class Relay:
    """Delivers what waits in `field` of the given collections' documents, in order."""

    def __init__(
        self,
        field: str,
        deliver: Callable[[dict], Awaitable[None]],
        collections: list[AsyncCollection],
        poll_seconds: float,
    ):
        self._field, self._deliver, self._collections = field, deliver, collections
        self._wakeup = Wakeup(poll_seconds)

    def wake(self) -> None:
        """Called after a write that staged items, so they leave without waiting for the poll."""
        self._wakeup.set()

    async def run(self) -> None:
        await self.recover_hints()
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("relay pass failed; retrying", field=self._field)
            await self._wakeup.wait()

    async def recover_hints(self) -> None:
        """Once at start: hint any document whose items wait without one (written before hints);
        the mark is recorded as any staging write's is, so the hint is cleared once delivered."""
        for collection in self._collections:
            async for doc in collection.find({f"{self._field}.0": {"$exists": True}}, {"_id": 1}):
                await collection.update_one(
                    {"_id": doc["_id"]}, {"$set": await hint(collection, doc["_id"], self._field)}
                )

    async def drain(self) -> int:
        """Deliver every waiting item once; returns how many were delivered."""
        delivered = 0
        for collection in self._collections:
            board = board_of(collection, self._field)
            while True:
                hints = await board.due(BATCH)
                settled = 0
                for listed in hints:
                    count = await self._attend_or_postpone(collection, board, listed)
                    if count is not None:
                        delivered += count
                        settled += 1
                if len(hints) < BATCH or not settled:
                    break
        return delivered

    async def _attend_or_postpone(
        self, collection: AsyncCollection, board: HintBoard, listed: dict
    ) -> int | None:
        """Attend to one hinted document; one whose item cannot be delivered now (the broker
        refuses it, the ledger is down) is tried again later, after a backoff, and never holds
        up the documents behind it."""
        try:
            return await self._attend(collection, board, listed["_id"])
        except Exception:
            failures = listed.get("failures", 0) + 1
            delay = min(2**failures, MAX_POSTPONE_SECONDS)
            log.exception(
                "delivery failed; postponed", field=self._field, document=str(listed["_id"]), seconds=delay
            )
            await board.postpone(listed["_id"], timedelta(seconds=delay))
            return None

    async def _attend(self, collection: AsyncCollection, board: HintBoard, document_id: str) -> int | None:
        """Deliver the document's items under a claim on its hint, then clear the hint (or let it
        go, if it was marked again meanwhile); None when another relay holds it, or the hint is kept."""
        h = await board.claim(document_id, LEASE)
        if h is None:
            return None
        count, landed = None, False
        try:
            count, landed = await self._relay(collection, board, h)
        finally:
            if not landed or not await board.clear(h):
                await board.release(h)
        return count

    async def _relay(self, collection: AsyncCollection, board: HintBoard, h: dict) -> tuple[int | None, bool]:
        """How many items of the hinted document were delivered (None when it is not there yet:
        its writer, in another process, may still be writing it), and whether the write of the
        hint's mark was among what was read, so that the hint may go."""
        doc = await collection.find_one({"_id": h["_id"]}, {self._field: 1, board.mark_field: 1})
        landed = board.landed(h, doc)
        if doc is None and not stale(h):
            return None, False
        delivered = 0
        items = (doc or {}).get(self._field, [])
        for raw in items:
            if not await board.hold(h, LEASE):
                break  # another relay took the document over: it delivers the rest, in order
            await self._deliver(raw)
            # By exact value: FerretDB ignores conditions on sub-documents in $pull.
            await collection.update_one({"_id": h["_id"]}, {"$pull": {self._field: raw}})
            delivered += 1
        return delivered, landed and delivered == len(items)


def event_relay(
    publishers: dict[str, RabbitPublisher], collections: list[AsyncCollection], poll_seconds: float
) -> Relay:
    """The relay that publishes staged events with broker confirms."""

    async def publish(raw: dict) -> None:
        event = parse_event(raw)
        await publish_event(publishers, event)
        EVENTS_PUBLISHED.labels(event.type).inc()
        log.debug("event published", event_type=event.type, submission_id=event.submission_id)

    return Relay(EVENTS, publish, collections, poll_seconds)
