"""Stats' MongoDB adapter: the archive of every event (once), the counters of every scope, each
item's firsts (its first publication ever, …), and the operators' inputs to the annual report.

The archive, firsts and counters rely on single-document atomicity alone, so that any number of
replicas count correctly: an event is archived once under its unique `_id` with a lease on
counting it (taken over only once it has run out); a first is inserted once under its unique `_id`, or replaced only by a guarded
update on the `version` it was read at (a loser reads again and retries); counters take `$inc`
upserts, which commute, so a first moved to another window by one replica while another still
adds the counts of what it replaced ends with the same figures."""

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta

from pymongo import ASCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.stats.domain import (
    EARLIEST_YEAR,
    Aggregate,
    FirstOccurrence,
    Scope,
    Tally,
    first_change,
    nested,
)
from shared.domain import china_date
from shared.events import Envelope, Event, parse_event, utcnow
from shared.outbox import EVENTS, hint, staged_list

REBUILD_BATCH = 5_000
# Counting one event takes milliseconds; a lease this long runs out only when its holder died.
COUNTING_LEASE = timedelta(seconds=60)
CLAIM_POLL_SECONDS = 0.05


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


def _first_record(first: FirstOccurrence) -> dict:
    return {
        "year": first.year,  # where its counts are (None: not yet published): a year's rebuild replaces its own
        "at": first.at,
        "event_id": first.event_id,
        "counts": _stored_counts(first.counts),
        "scopes": [_scope_fields(s) for s in first.scopes],
        "marks": sorted(first.marks),
    }


def _first_of(doc: dict, candidate: FirstOccurrence) -> FirstOccurrence:
    """A stored first. One stored before firsts kept their scopes (a window's, by the older
    keys) counted in the scopes the candidate names in that window."""
    scopes = tuple(Scope(**s) for s in doc["scopes"]) if "scopes" in doc else candidate.scopes
    counts = {c["counter"]: c["n"] for c in doc["counts"]}
    marks = frozenset(doc.get("marks", ()))
    return FirstOccurrence(doc["at"], counts, scopes, doc.get("event_id", ""), marks)


def _upserts(changes: dict[Scope, Counter]) -> list[UpdateOne]:
    updates = []
    for scope, counts in changes.items():
        increments = {k: v for k, v in counts.items() if v}
        if increments:
            update = {"$inc": increments, "$setOnInsert": {"scope": _scope_fields(scope)}}
            updates.append(UpdateOne({"_id": scope.key}, update, upsert=True))
    return updates


class StatsStore:
    def __init__(self, db: AsyncDatabase):
        self.events = db.events
        self.counters = db.counters
        self.first_publications = db.first_publications  # every kind of first (the name is older)
        self.report_inputs = db.report_inputs

    async def prepare(self) -> None:
        await self.events.create_index([("year", ASCENDING)])

    async def record(self, event: Event, tally: Tally | None) -> bool:
        """Archive the event and count it, once, however often and by however many replicas it
        is delivered. False when it was archived and counted before (a duplicate). A delivery
        that finds another one counting the same event waits for it (or for its lease to run
        out, when that one's process died) instead of acknowledging what may yet be lost."""
        event_id = str(event.event_id)
        while not await self._claim(event, tally):
            earlier = await self.events.find_one({"_id": event_id}, {"counted": 1})
            if earlier["counted"]:
                return False
            await asyncio.sleep(CLAIM_POLL_SECONDS)
        if tally is not None:
            await self._count(tally)
        await self.events.update_one(
            {"_id": event_id}, {"$set": {"counted": True}, "$unset": {"counting_until": ""}}
        )
        return True

    async def _claim(self, event: Event, tally: Tally | None) -> bool:
        """Archive the event with a lease on counting it, or take over the lease of one archived
        but never counted (its process died): one insert on the unique `_id`, or one guarded
        update. False when it is counted, or being counted, by someone else."""
        now = utcnow()
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
                    "counting_until": now + COUNTING_LEASE,
                }
            )
            return True
        except DuplicateKeyError:
            unowned = [{"counting_until": {"$lt": now}}, {"counting_until": {"$exists": False}}]
            taken = await self.events.find_one_and_update(
                {"_id": str(event.event_id), "counted": False, "$or": unowned},
                {"$set": {"counting_until": now + COUNTING_LEASE}},
            )
            return taken is not None

    async def _count(self, tally: Tally) -> None:
        """One `$inc` upsert per scope the event or a moved first touches, sent together."""
        changes: dict[Scope, Counter] = defaultdict(Counter)
        for scope in tally.scopes():
            changes[scope].update(tally.increments)
        for key, candidate in tally.firsts.items():
            for scope, counts in (await self._first(key, candidate)).items():
                changes[scope].update(counts)  # update, not +: a change may be negative
        updates = _upserts(changes)
        while updates:
            try:
                await self.counters.bulk_write(updates, ordered=False)
                return
            except BulkWriteError as error:  # racing upserts of a new scope: one inserts, the rest retry
                failed = [e for e in error.details["writeErrors"] if e["code"] != 11000]
                if failed:
                    raise
                updates = [updates[e["index"]] for e in error.details["writeErrors"]]

    async def _first(self, key: str, candidate: FirstOccurrence) -> dict[Scope, dict[str, int]]:
        """Keep `candidate` as the item's first when it is earlier than the stored one, and say
        which counters move: one insert on the unique `_id`, or one update guarded by the
        version read; whoever loses a race reads again."""
        while True:
            doc = await self.first_publications.find_one({"_id": key})
            change, keep = first_change(_first_of(doc, candidate) if doc else None, candidate)
            if keep is None:
                return change
            if doc is None:
                try:
                    await self.first_publications.insert_one(
                        {"_id": key, **_first_record(keep), "version": 1}
                    )
                    return change
                except DuplicateKeyError:
                    continue
            version = doc.get("version")
            guard = {"_id": key, "version": version if version is not None else {"$exists": False}}
            replaced = await self.first_publications.update_one(
                guard, {"$set": {**_first_record(keep), "version": (version or 0) + 1}}
            )
            if replaced.matched_count:
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
                ReplaceOne({"_id": key}, {**_first_record(f), "version": 1}, upsert=True)
                for key, f in result.firsts.items()
                if f.year in (each, None)  # None: marks of an item not yet published, wherever it will be
            ]
            if kept:  # replaced, not inserted: an item's first may have been kept in another year
                await self.first_publications.bulk_write(kept, ordered=False)
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

    async def finalise_report(self, year: int, version: int | None, final: dict, event: Envelope) -> bool:
        """Freeze the report rendered from inputs of `version`, with the event that publishes it
        staged in the same write; False when they changed meanwhile or it was made final already."""
        mark = await hint(self.report_inputs, year)
        frozen = await self.report_inputs.update_one(
            {"_id": year, "version": version, "state": {"$ne": FINAL}},
            {
                "$set": {"state": FINAL, "final": final, **mark},
                "$push": {EVENTS: {"$each": staged_list(event)}},
            },
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
