"""Stats' MongoDB adapter: the archive of every event (once), the counters of every scope, each
item's firsts (its first publication ever, …), and the operators' inputs to the annual report.

Counting is exactly once on single-document atomicity alone, with any number of replicas, and
with filters on `_id` alone in the hot path (FerretDB scans a whole collection for any other):

- A replica counts in a *lane* it holds (a lease in `lanes`; another replica takes it over once
  the lease has run out) and counts its events in batches, numbered one after another in the lane:
  batch `n` is written, with its events, as one document before anything is counted.
- The archive holds each event once, under its `_id`, naming the batch that counts it: the first
  batch to insert it. Whoever completes a batch (its lane's holder, or the one that took the lane
  over after a crash) counts exactly the events that name it.
- A first (FirstOccurrence) keeps its candidates in arrival order (`$addToSet` of the event id,
  and the candidate under it), in one document per submission: what a candidate moved follows
  from those before it, so it is the same however often it is asked. (Firsts kept one document
  per key, before, are not read: after upgrading, `gongkai stats rebuild` once.)
- Each window (a year, a month) has a few counter documents per lane (one for the whole window,
  one for its departments, one for its categories, one for both), holding for every scope in it
  the lane's running sums of increments and of decrements after batch `seq`: batch `n` writes
  them with `$max`, which a replay (seq already `n`) or a process still writing after its lane
  was taken over can never move back or add twice. A scope's figures are its rebuilt base plus
  every lane's sums. A batch writes at most four documents per window it touches, however many
  events and scopes it counts, and replicas never write the same counter document (each writes
  its lane's).
"""

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta
from uuid import uuid4

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.stats.domain import (
    EARLIEST_YEAR,
    Aggregate,
    FirstOccurrence,
    Scope,
    Tally,
    change_in_history,
    flattened,
    holder_of,
    nested,
    tally,
)
from shared.domain import china_date
from shared.events import Envelope, Event, parse_event, utcnow
from shared.outbox import EVENTS, hint, staged_list

REBUILD_BATCH = 5_000
MAX_BATCH = 1_000  # events counted in one batch
# A batch document holds its events: well under MongoDB's 16 MB a document, however large each
# event is (an approval carries the item's text); one larger than this is a batch of its own.
MAX_BATCH_BYTES = 4 * 2**20
MAX_LANES = 64  # at most this many replicas count at once
# A batch takes milliseconds; a lane whose holder has not started one for this long is free
# again (one that takes it over meanwhile changes nothing: every write of a batch is idempotent).
LANE_LEASE = timedelta(seconds=10)
POLL_SECONDS = 0.05
COUNTED_BEFORE = ""  # the batch an event archived before batches existed is counted in
WHOLE = "all"  # the part of a window's document that counts the whole window


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


def _first_change(entry: dict, token: str) -> dict[Scope, dict[str, int]]:
    """What the candidate kept under `token` moved: its change after the candidates logged before it."""
    history = [_first_of(entry["candidates"][t], FirstOccurrence(None, {})) for t in entry["log"]]
    return change_in_history(history, entry["log"].index(token))


def _rebuilt_first(first: FirstOccurrence) -> dict:
    """A first as rebuilt: its one candidate kept, where later ones are logged after it."""
    return {"log": [first.event_id], "candidates": {first.event_id: _first_record(first)}}


def _logged(holder: str, candidates: list[tuple[str, FirstOccurrence]]) -> UpdateOne:
    """One write for every candidate first of one submission in a batch."""
    tokens: dict[str, list[str]] = defaultdict(list)
    for key, c in candidates:
        tokens[f"firsts.{key}.log"].append(c.event_id)
    records = {f"firsts.{key}.candidates.{c.event_id}": _first_record(c) for key, c in candidates}
    added = {path: {"$each": each} for path, each in tokens.items()}
    return UpdateOne({"_id": holder}, {"$addToSet": added, "$set": records}, upsert=True)


def _part(scope: Scope) -> str:
    """Where a scope's counts are in its window's document: "all", or "d=…", "c=…", "d=…|c=…"."""
    parts = [f"d={scope.department}"] if scope.department else []
    parts += [f"c={scope.category}"] if scope.category else []
    return "|".join(parts) or WHOLE


def _document_of(scope: Scope, lane: int) -> str:
    """A lane's document holding the scope's counts: one per window and kind of narrowing (none,
    by department, by category, by both), so that the figures most read (a whole year or month)
    come from a small document."""
    kind = ("d" if scope.department else "") + ("c" if scope.category else "")
    return f"{scope.window.key}#{kind or WHOLE}#{lane}"


def _narrowed(window: Scope, part: str) -> Scope:
    named = dict(p.split("=", 1) for p in part.split("|") if part != WHOLE)
    return Scope(window.year, window.month, named.get("d"), named.get("c"))


def _lane_counts(part: dict) -> Counter:
    """A scope's counts in a lane's document: its increments less its decrements."""
    counts = Counter(flattened(part.get("up", {})))
    counts.subtract(flattened(part.get("down", {})))
    return counts


def _running_sums(stored: dict[str, int], changes: dict[str, Counter], seq: int) -> dict | None:
    """The `$max` that adds batch `seq`'s `changes` (by part of the window) to a lane's document
    as `stored` (flattened; None when the batch is in it already): the sums after the batch,
    which only ever grow."""
    if stored.get("seq", 0) >= seq:
        return None
    sums: dict[str, int] = {"seq": seq}
    for part, change in changes.items():
        for name, n in change.items():
            if n:
                path = f"scopes.{part}.{'up' if n > 0 else 'down'}.{name}"
                sums[path] = stored.get(path, 0) + abs(n)
    return sums


def _fitting(waiting: list[tuple[Event, asyncio.Future]]) -> int:
    """How many of the first waiting events make one batch: at most MAX_BATCH, and at most
    MAX_BATCH_BYTES of them as stored, but never none."""
    size = 0
    for taken, (event, _) in enumerate(waiting[:MAX_BATCH]):
        size += len(event.model_dump_json())
        if size > MAX_BATCH_BYTES and taken:
            return taken
    return min(len(waiting), MAX_BATCH)


def _archived(event: Event, counted: Tally | None, batch: str) -> dict:
    return {
        "_id": str(event.event_id),
        "type": event.type,
        "submission_id": event.submission_id,
        "occurred_at": event.occurred_at,
        "year": counted.year if counted else china_date(event.occurred_at).year,  # the year it counts in
        "event": event.model_dump(mode="json"),
        "batch": batch,
    }


def _changes(tallies: Iterable[Tally]) -> dict[Scope, Counter]:
    changes: dict[Scope, Counter] = defaultdict(Counter)
    for counted in tallies:
        for scope in counted.scopes():
            changes[scope].update(counted.increments)
    return changes


async def _upserted(collection, updates: list[UpdateOne]) -> None:
    """Upserts sent together; those that raced another's insert of a new `_id` sent again."""
    while updates:
        try:
            await collection.bulk_write(updates, ordered=False)
            return
        except BulkWriteError as error:
            if any(e["code"] != 11000 for e in error.details["writeErrors"]):
                raise
            updates = [updates[e["index"]] for e in error.details["writeErrors"]]


class LaneLost(Exception):
    """Another replica took this one's lane over (its lease ran out): the batch is counted again."""


class StatsStore:
    def __init__(self, db: AsyncDatabase):
        self.events = db.events
        self.batches = db.batches
        self.lanes = db.lanes
        self.counters = db.counters
        self.first_publications = db.first_publications  # every kind of first (the name is older)
        self.report_inputs = db.report_inputs
        self.owner = uuid4().hex
        self._lane: int | None = None
        self._waiting: list[tuple[Event, asyncio.Future]] = []
        self._counting: asyncio.Task | None = None
        self._written: dict[str, dict] = {}  # the held lane's counter documents, as last written

    async def prepare(self) -> None:
        await self.events.create_index([("year", ASCENDING)])

    async def record(self, event: Event) -> bool:
        """Archive the event and count it, once, however often and by however many replicas it
        is delivered; it returns once the count is durable. False when it was counted before (a
        duplicate). Events arriving together are counted in one batch."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((event, done))
        if self._counting is None or self._counting.done():
            self._counting = asyncio.create_task(self._count_waiting())
        counted_in = await done
        if isinstance(counted_in, str):  # another batch's: it returns once that one is counted
            await self._settled(counted_in)
            return False
        return counted_in

    async def _count_waiting(self) -> None:
        """Count what waits, a batch at a time; each delivery learns the batch it is counted in."""
        while self._waiting:
            taken = _fitting(self._waiting)
            batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
            try:
                outcome = await self._count_batch([event for event, _ in batch])
            except Exception as error:  # each delivery fails with it, and is requeued
                outcome = [error] * len(batch)
                self._lane = None  # taken again, its unfinished batch completed first: batches stay in order
            for (_, done), result in zip(batch, outcome, strict=True):
                if done.done():
                    continue
                if isinstance(result, Exception):
                    done.set_exception(result)
                else:
                    done.set_result(result)

    async def _count_batch(self, events: list[Event]) -> list[bool | str]:
        """Count the events as the lane's next batch: for each delivery, True when this batch
        counts it, False for a second delivery of it in the batch, else the batch counting it."""
        lane, seq = await self._next_batch()
        batch = f"{lane}:{seq}"
        unique = list({str(e.event_id): e for e in events}.values())
        try:
            await self.batches.insert_one(
                {"_id": batch, "events": [e.model_dump(mode="json") for e in unique], "done": False}
            )
        except DuplicateKeyError:  # the lane was taken over, and this batch closed, meanwhile
            self._lane = None
            raise LaneLost(batch) from None
        counted_in = await self._complete(lane, seq, unique, self._written)
        outcome, seen = [], set()
        for event in events:
            event_id = str(event.event_id)
            outcome.append(
                False if event_id in seen else counted_in[event_id] == batch or counted_in[event_id]
            )
            seen.add(event_id)
        return outcome

    async def _next_batch(self) -> tuple[int, int]:
        """The lane held and the number of its next batch, taking a lane when none is held."""
        while True:
            if self._lane is None:
                self._lane = await self._take_lane()
            held = await self.lanes.find_one_and_update(
                {"_id": self._lane, "owner": self.owner},
                {"$inc": {"seq": 1}, "$set": {"until": utcnow() + LANE_LEASE}},
                return_document=ReturnDocument.AFTER,
            )
            if held is not None:
                return self._lane, held["seq"]
            self._lane = None

    async def _take_lane(self) -> int:
        """A free lane (never used, or its holder's lease ran out), its last batch completed."""
        while True:
            for lane in range(MAX_LANES):
                if await self._took(lane):
                    return lane
            await asyncio.sleep(POLL_SECONDS)

    async def _took(self, lane: int) -> bool:
        self._written = {}  # whoever held the lane meanwhile wrote its documents
        now = utcnow()
        taken = await self.lanes.find_one_and_update(
            {"_id": lane, "$or": [{"until": {"$lt": now}}, {"owner": self.owner}]},
            {"$set": {"owner": self.owner, "until": now + LANE_LEASE}},
            return_document=ReturnDocument.AFTER,
        )
        if taken is not None:
            await self._complete_last(lane, taken["seq"])
            return True
        try:
            await self.lanes.insert_one(
                {"_id": lane, "owner": self.owner, "until": now + LANE_LEASE, "seq": 0}
            )
            return True
        except DuplicateKeyError:  # held by a live replica
            return False

    async def _complete_last(self, lane: int, seq: int) -> None:
        """Complete the lane's last batch, or close it empty when its holder died before writing it."""
        if seq == 0:
            return
        batch = f"{lane}:{seq}"
        doc = await self.batches.find_one({"_id": batch})
        if doc is None:
            try:
                await self.batches.insert_one({"_id": batch, "events": [], "done": True})
                return
            except DuplicateKeyError:  # its holder wrote it just now
                doc = await self.batches.find_one({"_id": batch})
        if not doc["done"]:
            await self._complete(lane, seq, [parse_event(e) for e in doc["events"]])

    async def _settled(self, batch: str) -> None:
        """Wait until `batch` (another's) is counted: completing it when its lane's holder died."""
        lane = int(batch.split(":")[0]) if batch != COUNTED_BEFORE else None
        while lane is not None:
            doc = await self.batches.find_one({"_id": batch}, {"done": 1})
            if doc is not None and doc["done"]:
                return
            now = utcnow()
            rescued = await self.lanes.find_one_and_update(
                {"_id": lane, "until": {"$lt": now}},
                {"$set": {"owner": self.owner, "until": now + LANE_LEASE}},
                return_document=ReturnDocument.AFTER,
            )
            if rescued is not None:
                await self._complete_last(lane, rescued["seq"])
                await self.lanes.update_one({"_id": lane, "owner": self.owner}, {"$set": {"until": now}})
                if self._lane == lane:
                    self._lane = None
                return
            await asyncio.sleep(POLL_SECONDS)

    async def _complete(
        self, lane: int, seq: int, events: list[Event], known: dict[str, dict] | None = None
    ) -> dict[str, str]:
        """Count batch `seq` of `lane`: the events that name it in the archive. Every step can be
        done again, by anyone, to the same effect. The batch each event is counted in, by id."""
        batch = f"{lane}:{seq}"
        counted_in = await self._archive(events, batch)
        tallies = [t for e in events if counted_in[str(e.event_id)] == batch and (t := tally(e))]
        changes = await self._firsts(tallies)  # first: what a moved first leaves goes before what it adds
        for scope, counts in _changes(tallies).items():
            changes[scope].update(counts)
        await self._add(lane, seq, changes, {} if known is None else known)
        await self.batches.update_one({"_id": batch}, {"$set": {"done": True}, "$unset": {"events": ""}})
        return counted_in

    async def _archive(self, events: list[Event], batch: str) -> dict[str, str]:
        """Archive each event, once: the batch each one is counted in, by id (this one, when it
        is the first to archive it)."""
        docs = {str(e.event_id): _archived(e, tally(e), batch) for e in events}
        counted_in = dict.fromkeys(docs, batch)
        try:
            await self.events.insert_many(list(docs.values()), ordered=False)
        except BulkWriteError as error:
            if any(e["code"] != 11000 for e in error.details["writeErrors"]):
                raise
            known = [e["op"]["_id"] for e in error.details["writeErrors"]]
            found = await asyncio.gather(*(self.events.find_one({"_id": i}, {"batch": 1}) for i in known))
            counted_in.update(
                {i: doc.get("batch", COUNTED_BEFORE) for i, doc in zip(known, found, strict=True)}
            )
        return counted_in

    async def _firsts(self, tallies: list[Tally]) -> dict[Scope, Counter]:
        """Log each candidate first under its event id, then read what each moved: one document
        per submission holds its firsts, so a batch writes and reads it once."""
        candidates = [(key, c) for t in tallies for key, c in t.firsts.items()]
        by_holder: dict[str, list[tuple[str, FirstOccurrence]]] = defaultdict(list)
        for key, c in candidates:
            by_holder[holder_of(key)].append((key, c))
        await _upserted(self.first_publications, [_logged(h, each) for h, each in by_holder.items()])
        holders = list(by_holder)
        docs = await asyncio.gather(*(self.first_publications.find_one({"_id": h}) for h in holders))
        stored = dict(zip(holders, docs, strict=True))
        changes: dict[Scope, Counter] = defaultdict(Counter)
        for key, c in candidates:
            for scope, counts in _first_change(stored[holder_of(key)]["firsts"][key], c.event_id).items():
                changes[scope].update(counts)
        return changes

    async def _add(self, lane: int, seq: int, changes: dict[Scope, Counter], known: dict[str, dict]) -> None:
        """Add batch `seq`'s changes to the lane's documents of every window (a year, a month)
        they are in, once: a handful of writes however many events and scopes. `known`: the
        lane's documents as this replica last wrote them, kept up to date."""
        documents: dict[str, dict[str, Counter]] = defaultdict(dict)
        windows: dict[str, Scope] = {}
        for scope, counts in changes.items():
            if any(counts.values()):
                doc_id = _document_of(scope, lane)
                documents[doc_id][_part(scope)] = counts
                windows[doc_id] = scope.window
        stored = await self._stored(list(documents), known)
        updates, written = [], {}
        for doc_id, doc in stored.items():
            sums = _running_sums(doc, documents[doc_id], seq)
            if sums is not None:
                on_insert = {"scope": _scope_fields(windows[doc_id]), "lane": lane}
                updates.append(
                    UpdateOne({"_id": doc_id}, {"$max": sums, "$setOnInsert": on_insert}, upsert=True)
                )
                written[doc_id] = {**doc, **sums}
        await _upserted(self.counters, updates)
        known.update(written)

    async def _stored(self, ids: list[str], known: dict[str, dict]) -> dict[str, dict]:
        """The lane's documents as stored (flattened): those it wrote itself since it took the lane
        from what it remembers (nobody else writes them meanwhile but with lower sums), the rest read."""
        unknown = [i for i in ids if i not in known]
        found = await asyncio.gather(*(self.counters.find_one({"_id": i}) for i in unknown))
        read = {i: flattened(doc or {}) for i, doc in zip(unknown, found, strict=True)}
        return {i: known.get(i) or read[i] for i in ids}

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
            kept: dict[str, dict] = defaultdict(dict)
            for key, f in result.firsts.items():
                if f.year in (each, None):  # None: marks of an item not yet published, wherever it will be
                    kept[holder_of(key)][f"firsts.{key}"] = _rebuilt_first(f)
            replaced = [UpdateOne({"_id": h}, {"$set": firsts}, upsert=True) for h, firsts in kept.items()]
            if replaced:  # an item's firsts in other years stay as they are
                await self.first_publications.bulk_write(replaced, ordered=False)
            await self.counters.delete_many({"scope.year": each})  # every lane's too
            docs = [
                {"_id": scope.key, "scope": _scope_fields(scope), **nested(counts)}
                for scope, counts in result.counters.items()
                if scope.year == each
            ]
            if docs:
                await self.counters.insert_many(docs)

    async def counters_of(self, scope: Scope) -> dict:
        """A scope's counters: its rebuilt base plus what every lane counted since."""
        return await self._counters_of(scope, await self._lanes())

    async def counters_of_years(self, last_year: int) -> dict[int, dict]:
        """Every year's whole-year counters up to `last_year` (what stays in force accumulates),
        each read by `_id`: FerretDB uses its index for nothing else, not even `$in`."""
        years, lanes = range(EARLIEST_YEAR, last_year + 1), await self._lanes()
        found = await asyncio.gather(*(self._counters_of(Scope(year), lanes) for year in years))
        return {year: counters for year, counters in zip(years, found, strict=True) if counters}

    async def scopes(self) -> set[Scope]:
        """Every scope with counters (a scan: for the operator's check, not for answers)."""
        found = set()
        async for doc in self.counters.find({}, {"scope": 1, "scopes": 1}):
            window = Scope(**doc["scope"])
            found |= {_narrowed(window, part) for part in doc["scopes"]} if "scopes" in doc else {window}
        return found

    async def _lanes(self) -> list[int]:
        return [doc["_id"] async for doc in self.lanes.find({}, {"_id": 1})]

    async def _counters_of(self, scope: Scope, lanes: list[int]) -> dict:
        part = _part(scope)
        base, *counted = await asyncio.gather(
            self.counters.find_one({"_id": scope.key}),
            *(
                self.counters.find_one({"_id": _document_of(scope, lane)}, {f"scopes.{part}": 1})
                for lane in lanes
            ),
        )
        parts = [doc["scopes"][part] for doc in counted if doc and part in doc.get("scopes", {})]
        if base is None and not parts:
            return {}
        counts = Counter(flattened({k: v for k, v in (base or {}).items() if k != "scope"}))
        for counts_of_lane in map(_lane_counts, parts):
            counts.update(counts_of_lane)
        return nested(counts)

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
