"""The ledger against the real server: a check that runs while entries are appended."""

import asyncio
import contextlib

from pymongo import AsyncMongoClient, monitoring

from shared.ledger import GENESIS, HEAD, PAGES, Ledger, link
from shared.mongo import connect, database_of

PAGE, SMALL = PAGES


async def test_verify_while_entries_are_appended_is_never_broken(settings):
    client = connect(settings)
    try:
        ledger = Ledger(database_of(client, settings, "review").audit)
        await ledger.append({"record_id": "r0", "n": 0})
        appending = asyncio.create_task(_append(ledger, 80))
        verdicts = []
        while not appending.done():
            verdict, head = await ledger.verify()
            verdicts.append(verdict)
            assert verdict.intact, verdict
            assert verdict.verified == head["seq"] + verdict.appended
        await appending
        final, head = await ledger.verify()
        assert final.intact and final.verified == head["seq"] == 81 and final.appended == 0
        assert len(verdicts) > 1
    finally:
        await client.close()


async def _append(ledger: Ledger, count: int) -> None:
    for n in range(1, count + 1):
        await ledger.append({"record_id": f"r{n}", "n": n})
        await asyncio.sleep(0)


class Finds(monitoring.CommandListener):
    """The filter of every `find` the client sends."""

    def __init__(self):
        self.filters = []

    def started(self, event):
        if event.command_name == "find":
            self.filters.append(event.command.get("filter", {}))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@contextlib.asynccontextmanager
async def watched_ledger(settings, entries: int):
    """A ledger of `entries` records in the test's namespace, and the finds it sends."""
    finds = Finds()
    client = AsyncMongoClient(settings.mongodb_url, event_listeners=[finds])
    try:
        ledger = Ledger(database_of(client, settings, "publish").published_feed)
        for n in range(1, entries + 1):
            await ledger.append({"record_id": f"r{n}", "n": n})
        finds.filters.clear()
        yield ledger, finds
    finally:
        await client.close()


async def test_a_long_read_takes_whole_pages_each_by_an_indexed_key(settings):
    """FerretDB's SQLite backend uses an index for a string _id looked up by equality only: a
    read of 1,000 entries is a few such lookups, not a thousand, nor a scan."""
    async with watched_ledger(settings, 2 * PAGE + 5 * SMALL + 7) as (ledger, finds):
        read = await ledger.after(0, 1000)
        assert [e["n"] for e in read] == list(range(1, 2 * PAGE + 5 * SMALL + 8))
        assert len(finds.filters) == 1 + 2 + 5 + 7  # the head, two large pages, five small, seven entries
        assert all(list(f) == ["_id"] and isinstance(f["_id"], str) for f in finds.filters), finds.filters


async def test_reads_from_any_cursor_across_page_boundaries(settings):
    async with watched_ledger(settings, 2 * PAGE + 5) as (ledger, _):
        for cursor, limit in [(0, 3), (PAGE - 2, 5), (PAGE, PAGE), (PAGE + 7, 1000), (2 * PAGE + 5, 10)]:
            expected = list(range(cursor + 1, min(cursor + limit, 2 * PAGE + 5) + 1))
            assert [e["n"] for e in await ledger.after(cursor, limit)] == expected, (cursor, limit)
        assert await ledger.pages.count_documents({}) == 2 + 2 * PAGE // SMALL


async def test_a_ledger_keyed_by_numbers_is_rekeyed_and_still_verifies(settings):
    """Ledgers written before entries were keyed by string keep working after an upgrade."""
    client = connect(settings)
    try:
        collection = database_of(client, settings, "review").audit
        prev, old = GENESIS, []
        for n in range(1, 4):
            entry = link({"record_id": f"r{n}", "n": n}, n, prev)
            old.append({**entry, "_id": n})
            prev = entry["hash"]
        await collection.insert_many(old)
        await collection.insert_one({"_id": HEAD, "seq": 3, "hash": prev, "record_id": "r3"})
        ledger = Ledger(collection)
        await ledger.prepare()
        verdict, _ = await ledger.verify()
        assert verdict.intact and verdict.verified == 3
        assert [e["n"] for e in await ledger.after(1, 10)] == [2, 3]
    finally:
        await client.close()
