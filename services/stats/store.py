"""Stats' MongoDB adapter: the archive of every event (once), year counters, first publications."""

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.stats.domain import FirstPublication, Tally, aggregate, first_publication_change
from shared.domain import china_date
from shared.events import Event, parse_event
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
            if await self._archive(event, tally) and tally is not None:
                await self._count(event, tally)

    async def _archive(self, event: Event, tally: Tally | None) -> bool:
        """Keep the event once; False when it was archived and counted before (a duplicate)."""
        try:
            await self.events.insert_one(
                {
                    "_id": str(event.event_id),
                    "type": event.type,
                    "submission_id": event.submission_id,
                    "occurred_at": event.occurred_at,
                    "year": tally.year
                    if tally
                    else china_date(event.occurred_at).year,  # the year it counts in
                    "event": event.model_dump(mode="json"),
                    "counted": False,
                }
            )
        except DuplicateKeyError:
            earlier = await self.events.find_one({"_id": str(event.event_id)}, {"counted": 1})
            return not earlier["counted"]  # archived, but the process died before counting it
        return True

    async def _count(self, event: Event, tally: Tally) -> None:
        increments = dict(tally.increments)
        if tally.publication:
            increments.update(
                await self._first_publication(tally.year, event.submission_id, tally.publication)
            )
        increments = {k: v for k, v in increments.items() if v}
        if increments:
            await update_document(self.counters, str(tally.year), {"$inc": increments}, upsert=True)
        await self.events.update_one({"_id": str(event.event_id)}, {"$set": {"counted": True}})  # lock held

    async def _first_publication(self, year: int, submission_id: str, candidate: FirstPublication) -> dict:
        key = f"{year}:{submission_id}"
        async with document_lock(self.first_publications, key):
            doc = await self.first_publications.find_one({"_id": key})
            earlier = FirstPublication(doc["at"], doc["timeliness"]) if doc else None
            change, keep = first_publication_change(earlier, candidate)
            if keep:
                record = {"year": year, "at": keep.at, "timeliness": keep.timeliness}
                await self.first_publications.update_one({"_id": key}, {"$set": record}, upsert=True)
        return change

    async def rebuild(self, year: int | None = None, progress=lambda done, total: None) -> dict[int, dict]:
        """Recompute every year's counters (or one year's) from the archive and replace them.
        Run it while the stats service is stopped: events counted meanwhile would be overwritten."""
        query = {"year": year} if year else {}
        total = await self.events.count_documents(query)
        events = []
        async for doc in self.events.find(query, {"event": 1}):
            events.append(parse_event(doc["event"]))
            if len(events) % 10_000 == 0:
                progress(len(events), total)
        progress(len(events), total)
        counters, firsts = aggregate(events)
        for each in [year] if year else sorted(counters):
            await self.first_publications.delete_many({"year": each})
            kept = [
                {"_id": f"{y}:{sid}", "year": y, "at": f.at, "timeliness": f.timeliness}
                for (y, sid), f in firsts.items()
                if y == each
            ]
            if kept:
                await self.first_publications.insert_many(kept)
            async with document_lock(self.counters, str(each)):
                await self.counters.replace_one({"_id": str(each)}, counters.get(each, {}), upsert=True)
        return counters

    async def counters_of(self, year: int) -> dict:
        return await self.counters.find_one({"_id": str(year)}) or {}
