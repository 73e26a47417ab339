"""Replicas need no lock of their own: what two processes of one service do at once is made safe
by the store alone (shared.mongo, DESIGN.md "Storage"). Here separate OS processes, each with its
own client, race as replicas would: writers staging items while two outbox relays deliver them,
and two appenders on one audit chain. The assertions are about what was delivered and stored,
never about time.
"""

import asyncio
import uuid

import pymongo
import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from shared.documents import Change, change_document
from shared.ledger import Ledger
from shared.outbox import Relay, board_of
from tests.support import at_once

pytestmark = pytest.mark.integration

FIELD = "pending_race"  # an outbox field of the test's own
DOCUMENTS = 6
CHANGES = 15  # per writer and document
WRITERS = 2
RELAYS = 2
APPENDERS = 3
RECORDS = 40  # per appender


# --- the racers: each runs in a process of its own -----------------------------------------------


def _racer(index: int, ready, target, url: str, db: str):
    return asyncio.run(_connected(target, url, db, index, ready))


async def _connected(target, url: str, db: str, index: int, ready):
    client = AsyncMongoClient(url, tz_aware=True)
    try:
        await client[db].command("ping")
        ready()
        return await target(client[db], index)
    finally:
        await client.close()


async def _write_or_relay(db, index: int):
    return await (_write(db) if index < WRITERS else _relay(db))


async def _write(db) -> int:
    """Stage one item per change of each document, numbered by the version it changes."""
    for _ in range(CHANGES):
        for d in range(DOCUMENTS):
            await change_document(db.docs, f"d{d}", _staging)
    await db.writers_done.insert_one({})
    return 0


def _staging(doc: dict) -> Change:
    item = {"doc": doc["_id"], "n": doc["version"]}
    return Change({"last": doc["version"]}, staged={FIELD: [item]})


async def _relay(db) -> int:
    """Drain until the writers are done and nothing waits; how many items this relay delivered."""
    token = uuid.uuid4().hex

    async def deliver(raw: dict) -> None:
        # A delivery in flight holds a marker under its document's id, which a second delivery of
        # that document at the same time cannot insert.
        try:
            await db.in_flight.insert_one({"_id": raw["doc"], "by": token})
        except DuplicateKeyError:
            await db.overlaps.insert_one({"doc": raw["doc"], "n": raw["n"]})
        await asyncio.sleep(0.003)  # a delivery takes a while, as a broker confirm does
        await db.delivered.update_one({"_id": raw["doc"]}, {"$push": {"n": raw["n"]}}, upsert=True)
        await db.in_flight.delete_one({"_id": raw["doc"], "by": token})

    relay = Relay(FIELD, deliver, [db.docs], poll_seconds=0.05)
    delivered = 0
    while True:
        writers_done = await db.writers_done.count_documents({}) == WRITERS
        delivered += await relay.drain()
        if writers_done and await board_of(db.docs, FIELD).collection.count_documents({}) == 0:
            return delivered
        await asyncio.sleep(0.01)


async def _append(db, index: int) -> int:
    """Append this appender's records, each again until it lands (as a relay does)."""
    ledger = Ledger(db.audit)
    lost = 0
    for n in range(RECORDS):
        while True:
            try:
                await ledger.append({"record_id": f"a{index}-{n}", "by": index, "n": n})
                break
            except DuplicateKeyError:
                lost += 1  # another appender took the place: this record goes after it
    return lost


# --- the tests --------------------------------------------------------------------------------------


@pytest.fixture
def store(servers):
    """A database of this test's own on the suite's server."""
    name = "t" + uuid.uuid4().hex[:12] + "_replicas"
    yield servers.mongodb_url, name
    client = pymongo.MongoClient(servers.mongodb_url)
    client.drop_database(name)
    client.close()


def race(store, target, processes: int) -> list:
    """Run `target` in `processes` processes at once; their results, in process order."""
    url, db = store
    return at_once(_racer, processes, target, url, db)


async def _database(store):
    url, name = store
    client = AsyncMongoClient(url, tz_aware=True)
    return client, client[name]


async def test_two_relays_deliver_every_item_in_order_and_never_one_document_at_once(store):
    client, db = await _database(store)
    try:
        await db.docs.insert_many([{"_id": f"d{d}", "version": 1} for d in range(DOCUMENTS)])
        delivered = race(store, _write_or_relay, WRITERS + RELAYS)
        overlaps = await db.overlaps.find({}, {"_id": 0}).to_list()
        assert overlaps == [], "two relays delivered one document's items at once"
        expected = list(range(1, WRITERS * CHANGES + 1))  # the versions each document's changes wrote
        logs = {d["_id"]: d["n"] for d in await db.delivered.find({}).to_list()}
        assert sorted(logs) == [f"d{d}" for d in range(DOCUMENTS)]
        for doc, log in logs.items():
            assert sorted(set(log)) == expected, f"{doc}: an item was never delivered"
            assert log == sorted(log), f"{doc}: items delivered out of order"
        assert sum(delivered[WRITERS:]) >= DOCUMENTS * len(expected)
        assert await db.docs.count_documents({f"{FIELD}.0": {"$exists": True}}) == 0, "items left staged"
    finally:
        await client.close()


async def test_appenders_racing_on_one_ledger_never_fork_it(store):
    client, db = await _database(store)
    try:
        lost = race(store, _append, APPENDERS)
        ledger = Ledger(db.audit)
        verdict, head = await ledger.verify()
        assert verdict.intact, verdict
        assert head["seq"] == verdict.verified == APPENDERS * RECORDS
        entries = await db.audit.find({"_id": {"$ne": "head"}}).to_list()
        records = sorted(e["record_id"] for e in entries)
        assert records == sorted(f"a{i}-{n}" for i in range(APPENDERS) for n in range(RECORDS)), (
            "a record was appended twice or lost"
        )
        for i in range(APPENDERS):  # each appender's records are in its order
            mine = sorted((e["seq"], e["n"]) for e in entries if e["by"] == i)
            assert [n for _, n in mine] == list(range(RECORDS))
        assert sum(lost) > 0, "the appenders never raced: the test proves nothing"
    finally:
        await client.close()
