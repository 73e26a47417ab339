"""Stats' MongoDB adapter: the archive of every event (once), the counters of every scope, the
first publication of each item per window, and the operators' inputs to the annual report."""

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import AsyncExitStack

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.stats.domain import (
    EARLIEST_YEAR,
    Aggregate,
    FirstOccurrence,
    Scope,
    Tally,
    first_change,
    first_key,
    nested,
    year_of_key,
)
from shared.domain import china_date
from shared.events import Event, parse_event
from shared.locks import document_lock

REBUILD_BATCH = 5_000


def _stored_counts(counts: dict[str, int]) -> list[dict]:
    """Counter names hold dots, which stored keys must not: kept as a list of pairs."""
    return [{"counter": name, "n": n} for name, n in counts.items()]


def _scope_fields(scope: Scope) -> dict:
    return {
        "year": scope.year,
        "month": scope.month,
        "department": scope.department,
        "category": scope.category,
    }


class StatsStore:
    def __init__(self, db: AsyncDatabase):
        self.events = db.events
        self.counters = db.counters
        self.first_publications = db.first_publications  # every kind of first (the name is older)
        self.report_inputs = db.report_inputs

    async def prepare(self) -> None:
        await self.events.create_index([("year", ASCENDING)])

    async def record(self, event: Event, tally: Tally | None) -> bool:
        """Archive the event and count it, once, however often it is delivered. False when it was
        archived and counted before (a duplicate)."""
        async with document_lock(self.events, str(event.event_id)):
            if not await self._archive(event, tally):
                return False
            if tally is not None:
                await self._count(event.submission_id, tally)
            await self.events.update_one({"_id": str(event.event_id)}, {"$set": {"counted": True}})
            return True

    async def _archive(self, event: Event, tally: Tally | None) -> bool:
        """Keep the event once; False when it was archived and counted before."""
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

    async def _count(self, submission_id: str, tally: Tally) -> None:
        """One `$inc` per scope, sent together, with every scope's document locked (in one order,
        so that concurrent events never wait on each other in a circle)."""
        scopes = tally.scopes()
        changes: dict[Scope, Counter] = defaultdict(Counter)
        for kind, candidate in tally.firsts.items():
            for window in {s.window for s in scopes}:
                changes[window].update(
                    await self._first(first_key(window, submission_id, kind), window, candidate)
                )
        updates = {}
        for scope in scopes:
            counts = Counter(tally.increments)
            counts.update(changes.get(scope.window, {}))  # update, not +: a change may be negative
            increments = {k: v for k, v in counts.items() if v}
            if increments:
                update = {"$inc": increments, "$setOnInsert": {"scope": _scope_fields(scope)}}
                updates[scope.key] = UpdateOne({"_id": scope.key}, update, upsert=True)
        async with AsyncExitStack() as locks:
            for key in sorted(updates):
                await locks.enter_async_context(document_lock(self.counters, key))
            if updates:
                await self.counters.bulk_write(list(updates.values()), ordered=False)

    async def _first(self, key: str, window: Scope, candidate: FirstOccurrence) -> dict:
        async with document_lock(self.first_publications, key):
            doc = await self.first_publications.find_one({"_id": key})
            earlier = (
                FirstOccurrence(doc["at"], {c["counter"]: c["n"] for c in doc["counts"]}) if doc else None
            )
            change, keep = first_change(earlier, candidate)
            if keep:
                record = {"year": window.year, "at": keep.at, "counts": _stored_counts(keep.counts)}
                await self.first_publications.update_one({"_id": key}, {"$set": record}, upsert=True)
        return change

    async def archived(
        self, year: int | None = None, progress: Callable[[int, int], None] = lambda d, t: None
    ):
        """The archived events (of one year, or all), read in batches."""
        query = {"year": year} if year else {}
        total = await self.events.count_documents(query)
        done = 0
        async for doc in self.events.find(query, {"event": 1}, batch_size=REBUILD_BATCH):
            yield parse_event(doc["event"])
            done += 1
            if done % REBUILD_BATCH == 0:
                progress(done, total)
        progress(done, total)

    async def replace_counts(self, result: Aggregate, year: int | None = None) -> None:
        """Replace the counters and first publications of every year in `result` (or of `year`)
        with those rebuilt from the archive. Run it while the stats service is stopped: events
        counted meanwhile would be overwritten."""
        years = {year} if year else {scope.year for scope in result.counters}
        for each in sorted(years):
            await self.first_publications.delete_many({"year": each})
            kept = [
                {"_id": key, "year": year_of_key(key), "at": f.at, "counts": _stored_counts(f.counts)}
                for key, f in result.firsts.items()
                if year_of_key(key) == each
            ]
            if kept:
                await self.first_publications.insert_many(kept)
            await self.counters.delete_many({"scope.year": each})
            docs = [
                {"_id": scope.key, "scope": _scope_fields(scope), **nested(counts)}
                for scope, counts in result.counters.items()
                if scope.year == each
            ]
            if docs:
                await self.counters.insert_many(docs)

    async def counters_of(self, scope: Scope) -> dict:
        return await self.counters.find_one({"_id": scope.key}) or {}

    async def counters_of_years(self, last_year: int) -> dict[int, dict]:
        """Every year's whole-year counters up to `last_year` (what stays in force accumulates),
        each read by `_id`: FerretDB uses its index for nothing else, not even `$in`."""
        years = range(EARLIEST_YEAR, last_year + 1)
        found = await asyncio.gather(*(self.counters_of(Scope(year)) for year in years))
        return {year: counters for year, counters in zip(years, found, strict=True) if counters}

    # One document per year holds the operator's inputs, their version, the report's state and,
    # once final, the report frozen as rendered: making it final and changing the inputs are each
    # one guarded write to it, so two operators (or replicas) can never freeze one version while
    # another is saved.

    async def report_of(self, year: int) -> dict | None:
        """The year's document: `inputs`, `version`, `state` and, when final, `final`."""
        return await self.report_inputs.find_one({"_id": year})

    async def save_report_inputs(self, year: int, inputs: dict) -> None:
        """Replace the year's inputs, unless its report is final (ReportFinal)."""
        try:
            await self.report_inputs.update_one(
                {"_id": year, "state": {"$ne": FINAL}},
                {"$set": {"inputs": inputs}, "$inc": {"version": 1}},
                upsert=True,
            )
        except DuplicateKeyError:  # the year's document exists and is final: the filter left it out
            raise ReportFinal(year) from None

    async def finalise_report(self, year: int, version: int | None, final: dict) -> bool:
        """Freeze the report rendered from inputs of `version`; False when they changed meanwhile
        or it was made final already."""
        frozen = await self.report_inputs.update_one(
            {"_id": year, "version": version, "state": {"$ne": FINAL}},
            {"$set": {"state": FINAL, "final": final}},
        )
        return frozen.matched_count == 1

    async def final_reports(self) -> list[dict]:
        """What each final report is (year, title, when), newest year first, without its bodies."""
        found = self.report_inputs.find({"state": FINAL}, {"final.meta": 1}).sort("_id", -1)
        return [doc["final"]["meta"] async for doc in found]


FINAL = "final"


class ReportFinal(Exception):
    """The year's report is final: its inputs no longer change."""

    def __init__(self, year: int):
        super().__init__(f"the {year} report is final")
        self.year = year
