"""The audit trail (谁审查、谁负责): every screening result and decision — who, when, what, on
what basis — appended to a hash chain, so that any alteration, insertion or deletion of an entry
is detected by `verify`.

Each entry's hash covers its own content and the previous entry's hash. Entries are numbered
without gaps (`_id` = sequence number) and a `head` document names the last one, so a removed
entry in the middle breaks the numbering or the links, and one removed at the end disagrees
with the head.
"""

import hashlib
import json
from dataclasses import dataclass

from pydantic import AwareDatetime, BaseModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.locks import document_lock

GENESIS = "0" * 64
HEAD = "head"


class AuditRecord(BaseModel):
    """What happened, as the service that did it states it."""

    record_id: str  # unique per record: a redelivered record is appended once
    at: AwareDatetime
    actor: str  # a reviewer's name, or "screening"
    action: str  # screened, approve, reject, return, withdrawn, …
    submission_id: str
    level: int | None = None
    basis: dict = {}  # the findings, reason, comment, redactions, accepted flags


class AuditEntry(AuditRecord):
    seq: int
    prev_hash: str
    hash: str


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

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(entries: list[dict], head: dict | None) -> Verdict:
    """Check every link, in sequence order, of the entries as stored."""
    prev_hash, expected_seq = GENESIS, 1
    for entry in entries:
        seq = entry["_id"]
        if seq != expected_seq:
            return Verdict(expected_seq - 1, expected_seq, f"entry {expected_seq} is missing")
        if entry.get("prev_hash") != prev_hash:
            return Verdict(seq - 1, seq, "does not link to the entry before it")
        if entry.get("seq") != seq or entry_hash(entry) != entry.get("hash"):
            return Verdict(seq - 1, seq, "its content does not match its hash")
        prev_hash, expected_seq = entry["hash"], seq + 1
    last = expected_seq - 1
    if head is not None and (head["seq"], head["hash"]) != (last, prev_hash if last else GENESIS):
        return Verdict(last, last + 1, f"the chain ends at {last} but its head names entry {head['seq']}")
    return Verdict(last)


class AuditChain:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def append(self, raw: dict) -> None:
        """Append a record once (a redelivered one is recognised by its record_id)."""
        record = AuditRecord.model_validate(raw).model_dump(mode="json")
        async with document_lock(self.collection, HEAD):
            head = await self.collection.find_one({"_id": HEAD}) or {
                "seq": 0,
                "hash": GENESIS,
                "record_id": None,
            }
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

    async def of_submission(self, submission_id: str) -> list[dict]:
        entries = self.collection.find({"submission_id": submission_id})
        return sorted(await entries.to_list(), key=lambda e: e["_id"])

    async def verify(self) -> Verdict:
        entries = await self.collection.find({"_id": {"$ne": HEAD}}).to_list()
        return verify(sorted(entries, key=lambda e: e["_id"]), await self.collection.find_one({"_id": HEAD}))
