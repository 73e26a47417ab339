"""A ledger: an append-only log whose entries are numbered without gaps and hash-linked, each
hash covering the entry's content and the previous entry's hash. A `head` document names the
last entry, so an altered, inserted or deleted entry — in the middle or at the end — is found by
`verify`. Appends are idempotent by the entry's `record_id`, so a relay may deliver one twice.

Used for the audit trail (shared.audit) and for the feed of what is published (publish)."""

import hashlib
import json
from dataclasses import dataclass

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.locks import document_lock

GENESIS = "0" * 64
HEAD = "head"


def entry_hash(entry: dict) -> str:
    """The hash of an entry as stored: all of it but its own hash and id, in canonical JSON (values
    are strings, numbers and nested documents only, so they read back exactly as written)."""
    content = {k: v for k, v in entry.items() if k not in ("hash", "_id")}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
        seq = entry["_id"]
        if seq != expected_seq:
            return Verdict(expected_seq - 1, expected_seq, f"entry {expected_seq} is missing")
        if entry.get("prev_hash") != prev_hash:
            return Verdict(seq - 1, seq, "does not link to the entry before it")
        if entry.get("seq") != seq or entry_hash(entry) != entry.get("hash"):
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

    async def append(self, record: dict) -> None:
        """Append a record (JSON values, with a `record_id`) once."""
        async with document_lock(self.collection, HEAD):
            head = await self.head() or {"seq": 0, "hash": GENESIS, "record_id": None}
            if head["record_id"] == record["record_id"]:
                return
            seq = head["seq"] + 1
            entry = {"_id": seq, **record, "seq": seq, "prev_hash": head["hash"]}
            entry["hash"] = entry_hash(entry)
            try:
                await self.collection.insert_one(entry)
            except DuplicateKeyError:
                # The process died after writing entry `seq` and before moving the head: move it now.
                entry = await self.collection.find_one({"_id": seq})
                await self._move_head(entry)
                if entry["record_id"] != record["record_id"]:
                    raise  # somebody else's record took the place; the relay retries this one
                return
            await self._move_head(entry)

    async def _move_head(self, entry: dict) -> None:
        head = {"seq": entry["_id"], "hash": entry["hash"], "record_id": entry["record_id"]}
        await self.collection.update_one({"_id": HEAD}, {"$set": head}, upsert=True)

    async def head(self) -> dict | None:
        return await self.collection.find_one({"_id": HEAD})

    async def after(self, seq: int, limit: int) -> list[dict]:
        """The entries after `seq`, in order, each fetched by its number (FerretDB indexes only _id)."""
        head = await self.head()
        last = min(head["seq"] if head else 0, seq + limit)
        return [await self.collection.find_one({"_id": n}) for n in range(seq + 1, last + 1)]

    async def verify(self) -> tuple[Verdict, dict | None]:
        """The verdict, and the head it was checked against: read first, since the entries are
        written before the head moves (read the other way, new entries look like a broken end)."""
        head = await self.head()
        entries = await self.collection.find({"_id": {"$ne": HEAD}}).to_list()
        return verify(sorted(entries, key=lambda e: e["_id"]), head), head
