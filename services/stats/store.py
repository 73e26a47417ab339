"""Stats' MongoDB adapter: the archive of every event (once), year counters, first publications."""

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.stats.domain import Tally
from shared.events import Event
from shared.locks import document_lock, update_document


class StatsStore:
    def __init__(self, db: AsyncDatabase):
        self.events = db.events
        self.counters = db.counters
        self.first_publications = db.first_publications

    async def prepare(self) -> None:
        await self.events.create_index([("type", ASCENDING), ("occurred_at", ASCENDING)])

    async def record(self, event: Event, tally: Tally | None) -> None:
        """Archive the event and count it, once, however often it is delivered."""
        async with document_lock(self.events, str(event.event_id)):
            if await self._archive(event) and tally is not None:
                await self._count(event, tally)

    async def _archive(self, event: Event) -> bool:
        """Keep the event once; False when it was archived and counted before (a duplicate)."""
        try:
            await self.events.insert_one(
                {
                    "_id": str(event.event_id),
                    "type": event.type,
                    "submission_id": event.submission_id,
                    "occurred_at": event.occurred_at,
                    "event": event.model_dump(mode="json"),
                    "counted": False,
                }
            )
        except DuplicateKeyError:
            earlier = await self.events.find_one({"_id": str(event.event_id)}, {"counted": 1})
            return not earlier["counted"]  # archived, but the process died before counting it
        return True

    async def _count(self, event: Event, tally: Tally) -> None:
        key = str(tally.year)
        increments = dict(tally.increments)
        if tally.first_publication and await self._first_publication(tally.year, event.submission_id):
            increments.update(tally.first_publication)
        await update_document(self.counters, key, {"$inc": increments}, upsert=True)
        await self.events.update_one({"_id": str(event.event_id)}, {"$set": {"counted": True}})  # lock held

    async def _first_publication(self, year: int, submission_id: str) -> bool:
        try:
            await self.first_publications.insert_one({"_id": f"{year}:{submission_id}"})
        except DuplicateKeyError:
            return False
        return True

    async def counters_of(self, year: int) -> dict:
        return await self.counters.find_one({"_id": str(year)}) or {}
