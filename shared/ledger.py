"""A ledger: an append-only log whose entries are numbered without gaps and hash-linked, each
hash covering the entry's content and the previous entry's hash. A `head` document names the
last entry, so an altered, inserted or deleted entry — in the middle or at the end — is found by
`verify`. Appends are idempotent by the entry's `record_id`, so a relay may deliver one twice.

Appenders on any number of replicas race without a lock: entry N is inserted under its number
(a unique `_id`, so one record of all takes each place, linked to the hash of the entry the head
named), and the head moves by compare-and-swap from N-1 to N only, so it never goes back and
never names two entries at once: the chain cannot fork. An appender that loses a place moves the
head to the winner's entry and raises DuplicateKeyError; its relay delivers the record again.

Reading in order must stay fast however long the ledger grows, on FerretDB too, whose SQLite
backend uses an index for one thing only: a string or ObjectId `_id` looked up by equality
(ranges, `$in`, sorts and other fields scan the whole collection). So an entry is stored under its
number as a fixed-width string, and runs of entries are also copied, once complete, into page
documents (`<collection>_pages`) of 100 and of 10 entries: a read of 1,000 entries is ten pages
of 100 and at most nine of 10 and nine single entries, each looked up by key. FerretDB's cost
grows with the stored fields and bytes it decodes, so a page holds its entries as compressed
JSON in one binary field (ten times faster to read than the same entries as documents).

Used for the audit trail (shared.audit) and for the feed of what is published (publish)."""

import asyncio
import contextlib
import hashlib
import json
import zlib
from dataclasses import dataclass

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

GENESIS = "0" * 64
HEAD = "head"
PAGES = (100, 10)  # entries per page document, largest first, each a multiple of the next


def entry_key(seq: int) -> str:
    """An entry's `_id`: its number, zero-padded so that keys sort as numbers do."""
    return f"{seq:012d}"


def page_key(size: int, number: int) -> str:
    """Page `number` of `size` entries holds entries number*size+1 … (number+1)*size."""
    return f"{size}:{number:012d}"


def entry_hash(entry: dict) -> str:
    """The hash of an entry as stored: all of it but its own hash and id, in canonical JSON (values
    are strings, numbers and nested documents only, so they read back exactly as written)."""
    content = {k: v for k, v in entry.items() if k not in ("hash", "_id")}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def link(record: dict, seq: int, prev_hash: str) -> dict:
    """Entry `seq` of a ledger: the record, numbered, linked to the entry before it, hashed."""
    entry = {"_id": entry_key(seq), **record, "seq": seq, "prev_hash": prev_hash}
    return {**entry, "hash": entry_hash(entry)}


@dataclass(frozen=True)
class Verdict:
    verified: int
    broken_at: int | None = None  # the sequence number of the first broken link
    reason: str = ""
    appended: int = 0  # entries beyond the head read first: appended while the check ran

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(entries: list[dict], head: dict | None) -> Verdict:
    """Check every link, in sequence order, of the entries as stored, against a head read BEFORE
    them: entries are appended while a check runs (entry first, head after), so entries beyond
    that head are new ones, checked like the rest and counted, never a broken end."""
    prev_hash, expected_seq, at_head = GENESIS, 1, GENESIS
    head_seq = head["seq"] if head is not None else None
    for entry in entries:
        seq = entry.get("seq")
        if seq != expected_seq:
            return Verdict(expected_seq - 1, expected_seq, f"entry {expected_seq} is missing")
        if entry.get("prev_hash") != prev_hash:
            return Verdict(seq - 1, seq, "does not link to the entry before it")
        if entry["_id"] != entry_key(seq) or entry_hash(entry) != entry.get("hash"):
            return Verdict(seq - 1, seq, "its content does not match its hash")
        prev_hash, expected_seq = entry["hash"], seq + 1
        if seq == head_seq:
            at_head = prev_hash
    last = expected_seq - 1
    if head_seq is None:
        return Verdict(last)
    if head_seq > last:
        return Verdict(last, last + 1, f"the chain ends at {last} but its head names entry {head_seq}")
    if at_head != head["hash"]:
        return Verdict(head_seq - 1, head_seq, "it is not the entry its head names")
    return Verdict(last, appended=last - head_seq)


class Ledger:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection
        self.pages = collection.database[f"{collection.name}_pages"]

    async def prepare(self) -> None:
        """Entries of a ledger written before entries were keyed by string get their key now
        (their hashes do not cover `_id`, so the chain verifies as before)."""
        async for entry in self.collection.find({"_id": {"$type": "number"}}):
            try:
                await self.collection.insert_one({**entry, "_id": entry_key(entry["seq"])})
            except DuplicateKeyError:
                pass  # copied before a crash, or by another replica
            await self.collection.delete_one({"_id": entry["_id"]})

    async def append(self, record: dict) -> None:
        """Append a record (JSON values, with a `record_id`) once."""
        head = await self.head() or {"seq": 0, "hash": GENESIS, "record_id": None}
        if head["record_id"] == record["record_id"]:
            return
        seq = head["seq"] + 1
        entry = link(record, seq, head["hash"])
        try:
            await self.collection.insert_one(entry)
        except DuplicateKeyError:
            # Another appender took place `seq`, or this one died before moving the head: move it now.
            entry = await self.collection.find_one({"_id": entry_key(seq)})
            await self._move_head(entry)
            if entry["record_id"] != record["record_id"]:
                raise  # somebody else's record took the place; the relay retries this one
            return
        await self._move_head(entry)
        for size in reversed(PAGES):  # the smaller first: a larger page is copied from them
            if seq % size == 0:
                await self._page(size, seq // size - 1)  # now complete; readers would copy it otherwise

    async def _move_head(self, entry: dict) -> None:
        """Name `entry` the last one, if the head names the entry before it (compare-and-swap: a
        late appender never moves it back)."""
        head = {"seq": entry["seq"], "hash": entry["hash"], "record_id": entry["record_id"]}
        if entry["seq"] > 1:
            await self.collection.update_one({"_id": HEAD, "seq": entry["seq"] - 1}, {"$set": head})
            return
        with contextlib.suppress(DuplicateKeyError):  # the first entry's head is there already
            await self.collection.insert_one({"_id": HEAD, **head})

    async def head(self) -> dict | None:
        return await self.collection.find_one({"_id": HEAD})

    async def _entries(self, first: int, last: int) -> list[dict | None]:
        """Entries `first`..`last`, each by its key, concurrently (each is an index lookup)."""
        keys = [entry_key(n) for n in range(first, last + 1)]
        return list(await asyncio.gather(*(self.collection.find_one({"_id": k}) for k in keys)))

    async def _read(self, first: int, last: int, complete: int, sizes: tuple[int, ...] = PAGES) -> list:
        """Entries `first`..`last`, all at most `complete` (the head), each run taken from the
        largest complete page that holds it, the rest one by one."""
        found, n = [], first
        while n <= last:
            size = next((s for s in sizes if ((n - 1) // s + 1) * s <= complete), None)
            if size is None:
                return found + await self._entries(n, last)
            number = (n - 1) // size
            end = min(last, (number + 1) * size)
            found += (await self._page(size, number))[n - number * size - 1 : end - number * size]
            n = end + 1
        return found

    async def _page(self, size: int, number: int) -> list[dict]:
        """A complete page's entries, copied into its page document on first use (from the next
        smaller pages); entries never change, so a copy made twice is the same copy."""
        page = await self.pages.find_one({"_id": page_key(size, number)})
        if page is not None:
            return json.loads(zlib.decompress(page["entries"]))
        first, last = number * size + 1, (number + 1) * size
        entries = await self._read(first, last, last, tuple(s for s in PAGES if s < size))
        if len(entries) != size or None in entries:
            raise LookupError(f"page {page_key(size, number)} of {self.collection.full_name} is incomplete")
        packed = zlib.compress(json.dumps(entries, ensure_ascii=False).encode())
        with contextlib.suppress(DuplicateKeyError):
            await self.pages.insert_one({"_id": page_key(size, number), "entries": Binary(packed)})
        return entries

    async def after(self, seq: int, limit: int) -> list[dict]:
        """Up to `limit` entries after `seq`, in order. The head bounds what is read, so an entry
        written but not yet announced by it is not served before the ones before it."""
        head = await self.head()
        complete = head["seq"] if head else 0
        return await self._read(seq + 1, min(complete, seq + limit), complete)

    async def verify(self) -> tuple[Verdict, dict | None]:
        """The verdict, and the head it was checked against: read first, since the entries are
        written before the head moves (read the other way, new entries look like a broken end)."""
        head = await self.head()
        entries = await self.collection.find({"_id": {"$ne": HEAD}}).to_list()
        return verify(sorted(entries, key=lambda e: str(e["_id"])), head), head
