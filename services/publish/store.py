"""Publish's MongoDB adapter: one `publications` document per (item, channel), the portal's
`portal_items`, and the `withdrawals` that must win over approvals arriving late."""

import asyncio
from datetime import datetime, timedelta
from functools import partial

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.publish.channels import ChannelError
from services.publish.domain import (
    Attempt,
    Publication,
    dead_letter,
    feed_entry,
    index_year,
    reapproved,
    settled,
    withdrawal_wanted,
)
from services.publish.items import (
    Item,
    WithdrawnItem,
    applied,
    channel_change,
    new_item,
    resource_of,
    standing_change,
)
from services.publish.subscriptions import DeliveryRecord, Subscription, SubscriptionState
from shared.documents import Change, change_document
from shared.domain import CATEGORY_CODES, ON_CHANNEL, Category
from shared.events import ReportPublishedData, ReviewApproved, utcnow
from shared.hints import HintBoard
from shared.ledger import Ledger
from shared.outbox import DEAD_LETTERS, FEED, ITEMS
from shared.settings import Settings, get_settings

STANDING_DONE = "~standing-publications-known"  # in `items`: the upgrade below has been done
BACKFILL_DONE = "~backfilled"  # in `index_numbers`: items published before numbers have theirs
LEASE = timedelta(seconds=60)  # a claim outlives any push; a crashed worker's claim simply expires


def _fields(pub: Publication) -> dict:
    return {**pub.model_dump(mode="json"), "next_attempt_at": pub.next_attempt_at}


def _id(submission_id: str, channel: str) -> str:
    return f"{submission_id}:{channel}"


class PublicationStore:
    def __init__(self, db: AsyncDatabase, settings: Settings | None = None):
        self.publications = db.publications
        self.portal_items = db.portal_items
        self.annual_reports = db.annual_reports
        self.withdrawals = db.withdrawals
        self.refusals = db.refusals
        # Publications that need the worker: small, so the worker never scans `publications`.
        self.due = HintBoard(db.publications_due, "due_hint")
        self.feed = Ledger(db.published_feed)  # what republishing platforms pull, in order
        self.held = db.held  # approved items not disclosed proactively: never on a channel
        self.subscriptions = SubscriptionStore(db)
        self.items = ItemStore(db)
        self.index_numbers = IndexNumbers(db, settings)

    async def prepare(self) -> None:
        # One publication per (item, channel): a duplicate approval can never publish twice.
        await self.publications.create_index(
            [("submission_id", ASCENDING), ("channel", ASCENDING)], unique=True
        )
        await self.portal_items.create_index([("state", ASCENDING), ("published_at", DESCENDING)])
        await self.feed.prepare()
        await self.items.know_standing(self.publications)
        await self.index_numbers.backfill(self.items.items, self.portal_items)

    async def create(self, pub: Publication) -> bool:
        doc = {
            "_id": _id(pub.submission_id, pub.channel),
            **_fields(pub),
            "lease_until": utcnow(),
            "version": 1,
        }
        # The hint first: a worker that finds it before the document keeps it until it comes.
        doc[self.due.mark_field] = await self.due.mark(doc["_id"])
        try:
            await self.publications.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def record_withdrawal(self, submission_id: str, at: datetime) -> None:
        await self.withdrawals.update_one({"_id": submission_id}, {"$setOnInsert": {"at": at}}, upsert=True)

    async def is_withdrawn(self, submission_id: str) -> bool:
        return await self.withdrawals.find_one({"_id": submission_id}) is not None

    async def record_refusal(self, submission_id: str, event_id: str, reason: str) -> None:
        update = {"$setOnInsert": {"submission_id": submission_id, "reason": reason, "at": utcnow()}}
        await self.refusals.update_one({"_id": event_id}, update, upsert=True)

    async def record_held(self, submission_id: str, revision: int, disclosure: str) -> None:
        update = {"$set": {"revision": revision, "disclosure": disclosure, "at": utcnow()}}
        await self.held.update_one({"_id": submission_id}, update, upsert=True)

    async def of_submission(self, submission_id: str) -> list[Publication]:
        docs = await self.publications.find({"submission_id": submission_id}).to_list()
        return [to_publication(d) for d in docs]

    async def claim_due(self) -> tuple[Publication, dict] | None:
        """Take one due publication for `LEASE`, with the hint that led to it. The claim is one
        guarded write (shared.documents): of all workers on all replicas, one holds it; one
        leased by another, or not yet time to try again, is left alone; a hint that leads to
        nothing due is dropped."""
        now = utcnow()
        for hint in await self.due.due(64):
            seen: dict = {}
            claimed = await change_document(self.publications, hint["_id"], partial(_claim, now, seen))
            if claimed is not None:
                return to_publication(claimed), hint
            if not seen.get("due") and self.due.landed(hint, seen.get("doc")):
                await self.due.clear(hint)  # nothing due as its writer wrote it, or its writer died
        return None

    async def settle(self, attempt: Attempt | None, hint: dict, max_attempts: int) -> bool:
        """Apply the worker's attempt to the publication as stored now (domain.settled) and release
        it; the event announcing the change goes in the same write. True when something was
        announced."""
        announced = []

        def compute(doc: dict) -> Change:
            pub = to_publication(doc)
            event = None
            if attempt is not None:
                pub, event = settled(pub, attempt, utcnow(), max_attempts)
            announced[:] = [event] if event else []
            entry, given_up = feed_entry(event), dead_letter(pub, event)
            item = channel_change(attempt.revision, attempt.content, event) if attempt else None
            staged = {
                FEED: [entry] if entry else [],
                DEAD_LETTERS: [given_up] if given_up else [],
                ITEMS: [item] if item else [],
            }
            # The hint goes on the board before the lease is released, from when the next attempt
            # is due, so a due one is never lost; if nothing is due, the worker's next pass drops it.
            at = pub.next_attempt_at if pub.due and pub.next_attempt_at > utcnow() else None
            return Change({**_fields(pub), "lease_until": utcnow()}, announced[:], staged, [(self.due, at)])

        await change_document(self.publications, hint["_id"], compute)
        return bool(announced)

    async def reapprove(self, submission_id: str, channel: str, approval: ReviewApproved) -> bool:
        """A publication approved again (domain.reapproved); False when that changes nothing."""
        key = _id(submission_id, channel)

        def compute(doc: dict) -> Change | None:
            pub = reapproved(to_publication(doc), approval, utcnow())
            return Change(_fields(pub), marks=[(self.due, None)]) if pub else None

        return await change_document(self.publications, key, compute) is not None

    async def want_withdrawn(self, submission_id: str, channel: str) -> None:
        """Take the item off the channel (domain.withdrawal_wanted)."""

        def compute(doc: dict) -> Change | None:
            pub = withdrawal_wanted(to_publication(doc), utcnow())
            return Change(_fields(pub), marks=[(self.due, None)]) if pub else None

        await change_document(self.publications, _id(submission_id, channel), compute)

    async def portal_page(self, query: dict, skip: int, limit: int) -> list[dict]:
        cursor = self.portal_items.find({**query, "state": "public"}).sort("published_at", DESCENDING)
        return await cursor.skip(skip).limit(limit).to_list()

    async def keep_report(self, report: ReportPublishedData) -> None:
        """A final annual report for the 年报 page: frozen once, so a redelivery writes the same."""
        await self.annual_reports.replace_one({"_id": report.year}, report.model_dump(), upsert=True)

    async def annual_report(self, year: int) -> ReportPublishedData | None:
        doc = await self.annual_reports.find_one({"_id": year}, {"_id": 0})
        return ReportPublishedData.model_validate(doc) if doc else None

    async def annual_report_list(self) -> list[dict]:
        """Each final report's year, title and when it was made final, newest year first."""
        found = self.annual_reports.find({}, {"year": 1, "title": 1, "finalised_at": 1}).sort(
            "_id", DESCENDING
        )
        return await found.to_list()

    async def portal_count(self, query: dict) -> int:
        return await self.portal_items.count_documents({**query, "state": "public"})

    async def portal_departments(self) -> dict[str, str]:
        """Every department with a public item, and its name as last published."""
        cursor = self.portal_items.find({"state": "public"}, {"department": 1, "department_name": 1})
        return {d["department"]: d["department_name"] async for d in cursor}

    async def portal_first_published(self) -> datetime | None:
        oldest = (
            await self.portal_items.find({"state": "public"}, {"published_at": 1})
            .sort("published_at", ASCENDING)
            .limit(1)
            .to_list()
        )
        return oldest[0]["published_at"] if oldest else None

    async def portal_item(self, submission_id: str) -> dict | None:
        return await self.portal_items.find_one({"_id": submission_id})

    async def portal_changed_at(self) -> datetime | None:
        """When the portal last changed: an item published or corrected, or one withdrawn (which
        changes every listing it was in without changing any item still listed)."""
        moments = []
        for field, query in (("updated_at", {}), ("withdrawn_at", {"state": "withdrawn"})):
            newest = (
                await self.portal_items.find(query, {field: 1}).sort(field, DESCENDING).limit(1).to_list()
            )
            moments += [d[field] for d in newest if d.get(field)]
        return max(moments, default=None)


class ItemStore:
    """One document per published item (services.publish.items): what every channel shows of it,
    folded into the one resource republishers read, with the item's own feed entries staged."""

    def __init__(self, db: AsyncDatabase):
        self.items = db.items

    async def apply(self, change: dict) -> None:
        """Fold a channel's change into its item (idempotent: a change known already is no change)."""
        try:
            await self.items.insert_one({**new_item(change["submission_id"]), "version": 1})
        except DuplicateKeyError:
            pass

        def compute(doc: dict) -> Change | None:
            result = applied(doc, change)
            if result is None:
                return None
            fields, entry = result
            return Change(fields, staged={FEED: [entry]} if entry else {})

        await change_document(self.items, change["submission_id"], compute)

    async def get(self, submission_id: str) -> dict | None:
        return await self.items.find_one({"_id": submission_id}, {"pending_feed": 0})

    async def know_standing(self, publications) -> None:
        """Once, after an upgrade: every publication on its channel before items were kept makes
        its item known (idempotent, so replicas starting together do it twice harmlessly)."""
        if await self.items.find_one({"_id": STANDING_DONE}) is not None:
            return
        async for doc in publications.find({}):
            pub = to_publication(doc)  # older documents are read in today's terms
            if pub.state not in ON_CHANNEL or pub.receipt is None:
                continue
            revision = pub.live_revision or pub.revision
            change = standing_change(
                pub.submission_id,
                pub.channel,
                revision,
                pub.content,
                pub.receipt.url,
                pub.receipt.published_at,
            )
            await self.apply(change)
        await self.items.update_one({"_id": STANDING_DONE}, {"$set": {"at": utcnow()}}, upsert=True)

    async def resource(self, submission_id: str, files_url: str) -> Item | WithdrawnItem | None:
        doc = await self.get(submission_id)
        return resource_of(doc, files_url) if doc else None


class IndexNumberPending(ChannelError):
    """Another worker is assigning the item's 索引号 right now: the step is tried again shortly."""

    def __init__(self, submission_id: str):
        super().__init__(
            f"the 索引号 of {submission_id} is being assigned by another worker", retry_after=1.0
        )


class IndexNumbers:
    """索引号 (机构代码-类别-年份-流水号), one per item, assigned at its first publication on any
    channel and kept for good (across corrections and withdrawal; a withdrawn item's number is
    never given to another).

    The 流水号 comes from one counter document per (category, year), advanced by a single `$inc`
    (findAndModify): the server's single-document atomicity hands every caller, on every replica,
    a value of its own. So that two channels of one item first published at the same moment do
    not both take a serial (leaving a gap), the item's number document is claimed first by
    inserting it (its `_id` is the item's id, so one insert wins); the winner takes the serial
    and writes it into its claim. A claim whose worker died is taken over once its lease
    expires; the serial that worker may have taken is skipped, never reused."""

    LEASE = timedelta(seconds=30)

    def __init__(self, db: AsyncDatabase, settings: Settings | None = None):
        self.counters = db.index_counters
        self.numbers = db.index_numbers
        self.settings = settings or get_settings()

    async def backfill(self, items, portal_items) -> None:
        """Once, after an upgrade: every item published before numbers were assigned gets its
        索引号, in the order and the year of its first publication, on its resource and on the
        portal (an external channel gets it with the item's next update). Idempotent: replicas
        starting together assign each item one number."""
        if await self.numbers.find_one({"_id": BACKFILL_DONE}) is not None:
            return
        query = {"state": {"$in": ["published", "withdrawn"]}, "content.index_number": None}
        async for doc in items.find(query, {"content.category": 1, "first_published_at": 1}).sort(
            "first_published_at", ASCENDING
        ):
            at = doc["first_published_at"]
            at = datetime.fromisoformat(at) if isinstance(at, str) else at
            number = await self.assign(doc["_id"], doc["content"]["category"], at)
            # one atomic write each; the version moves, so a guarded writer of the item reads it again
            await items.update_one(
                {"_id": doc["_id"]}, {"$set": {"content.index_number": number}, "$inc": {"version": 1}}
            )
            await portal_items.update_one({"_id": doc["_id"]}, {"$set": {"index_number": number}})
        await self.numbers.update_one({"_id": BACKFILL_DONE}, {"$set": {"at": utcnow()}}, upsert=True)

    async def of(self, submission_id: str) -> str | None:
        doc = await self.numbers.find_one({"_id": submission_id})
        return doc.get("index_number") if doc else None

    async def assign(self, submission_id: str, category: Category, at: datetime) -> str:
        """The item's 索引号, assigned now if it has none yet."""
        doc = await self.numbers.find_one({"_id": submission_id})
        if doc and doc.get("index_number"):
            return doc["index_number"]
        claim = str(ObjectId())
        now = utcnow()
        if doc is None:
            try:
                await self.numbers.insert_one(
                    {"_id": submission_id, "claim": claim, "lease_until": now + self.LEASE}
                )
            except DuplicateKeyError:
                return await self._awaited(submission_id)
        else:  # a claim left by a worker that died: take it over once its lease is over
            taken = await self.numbers.find_one_and_update(
                {
                    "_id": submission_id,
                    "index_number": None,
                    "claim": doc.get("claim"),
                    "lease_until": {"$lt": now},
                },
                {"$set": {"claim": claim, "lease_until": now + self.LEASE}},
            )
            if taken is None:
                return await self._awaited(submission_id)
        code, year = CATEGORY_CODES[Category(category)], index_year(at)
        serial = await self.next_serial(code, year)
        number = self.settings.index_number(code, year, serial)
        fields = {
            "index_number": number,
            "category_code": code,
            "year": year,
            "serial": serial,
            "assigned_at": at,
        }
        written = await self.numbers.update_one({"_id": submission_id, "claim": claim}, {"$set": fields})
        if written.matched_count == 0:  # our lease ran out and another took over: its number stands
            return await self._awaited(submission_id)
        return number

    async def next_serial(self, category_code: int, year: int) -> int:
        """The next 流水号 of (category, year): one atomic `$inc` of its counter document."""
        key = f"{category_code:02d}-{year}"
        for _ in range(5):
            try:
                doc = await self.counters.find_one_and_update(
                    {"_id": key},
                    {"$inc": {"serial": 1}, "$setOnInsert": {"category_code": category_code, "year": year}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                return doc["serial"]
            except DuplicateKeyError:  # two upserts created it at once: the other won, $inc again
                continue
        raise RuntimeError(f"the 索引号 counter {key} could not be advanced")

    async def _awaited(self, submission_id: str) -> str:
        """The number another worker is assigning, once it has written it."""
        for _ in range(20):
            if number := await self.of(submission_id):
                return number
            await asyncio.sleep(0.1)
        raise IndexNumberPending(submission_id)


class SubscriptionStore:
    """The webhook subscriptions of republishing platforms, and the log of every delivery."""

    def __init__(self, db: AsyncDatabase):
        self.subscriptions = db.subscriptions
        self.deliveries = db.subscription_deliveries

    async def create(self, subscription: Subscription) -> None:
        await self.subscriptions.insert_one(
            {
                "_id": subscription.id,
                **_subscription_fields(subscription),
                "lease_until": utcnow(),
                "version": 1,
            }
        )

    async def get(self, subscription_id: str) -> Subscription | None:
        doc = await self.subscriptions.find_one({"_id": subscription_id})
        return to_subscription(doc) if doc else None

    async def all(self) -> list[Subscription]:
        """Every subscription (a deployment has a handful: scanning them is fine)."""
        return [to_subscription(d) for d in await self.subscriptions.find().sort("created_at", 1).to_list()]

    async def delete(self, subscription_id: str) -> bool:
        return (await self.subscriptions.delete_one({"_id": subscription_id})).deleted_count == 1

    async def due(self) -> list[Subscription]:
        now = utcnow()
        found = self.subscriptions.find(
            {"state": SubscriptionState.ACTIVE.value, "next_attempt_at": {"$lte": now}}
        )
        return [to_subscription(d) for d in await found.to_list()]

    async def claim(self, subscription_id: str) -> Subscription | None:
        """Hold the subscription for `LEASE`, so that one worker of all replicas delivers it."""
        now = utcnow()

        def compute(doc: dict) -> Change | None:
            return None if doc["lease_until"] > now else Change({"lease_until": now + LEASE})

        doc = await change_document(self.subscriptions, subscription_id, compute)
        return to_subscription(doc) if doc else None

    async def release(self, subscription: Subscription) -> None:
        """Keep where the worker got to, and let the subscription go."""
        fields = {**_subscription_fields(subscription), "lease_until": utcnow()}
        await change_document(self.subscriptions, subscription.id, lambda doc: Change(fields))

    async def change(self, subscription_id: str, compute) -> Subscription | None:
        """An operator's change (`compute`: Subscription → Subscription); None when it is gone."""
        doc = await change_document(
            self.subscriptions,
            subscription_id,
            lambda doc: Change(_subscription_fields(compute(to_subscription(doc)))),
        )
        return to_subscription(doc) if doc else None

    async def log(self, record: DeliveryRecord) -> None:
        await self.deliveries.insert_one({"_id": str(ObjectId()), **record.model_dump(mode="json")})

    async def deliveries_of(self, subscription_id: str, before: str | None, limit: int) -> list[dict]:
        """The newest deliveries first (ids grow with time), before the cursor `before`."""
        query = {"subscription_id": subscription_id} | ({"_id": {"$lt": before}} if before else {})
        return await self.deliveries.find(query).sort("_id", DESCENDING).limit(limit).to_list()


def _claim(now: datetime, seen: dict[str, bool], doc: dict) -> Change | None:
    """The lease on a due publication that nobody holds and whose time has come (`seen`: whether
    it was due at all, and the document as read)."""
    seen["due"], seen["doc"] = to_publication(doc).due, doc
    if not seen["due"] or doc["lease_until"] > now or doc["next_attempt_at"] > now:
        return None
    return Change({"lease_until": now + LEASE})


def _subscription_fields(subscription: Subscription) -> dict:
    return {**subscription.model_dump(mode="json"), "next_attempt_at": subscription.next_attempt_at}


def to_subscription(doc: dict) -> Subscription:
    return Subscription.model_validate({k: v for k, v in doc.items() if k in Subscription.model_fields})


def to_publication(doc: dict) -> Publication:
    return Publication.model_validate({k: v for k, v in doc.items() if k in Publication.model_fields})
