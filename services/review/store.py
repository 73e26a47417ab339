"""Review's MongoDB adapter: one `tasks` document per submission with its decisions, the word
lists operators manage, and the audit chain."""

from collections.abc import Callable

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.review.domain.decisions import Outcome, ReviewState, ReviewTask
from shared.audit import AuditChain
from shared.documents import Change, change_document
from shared.events import utcnow
from shared.outbox import AUDIT, EVENTS, insert_staged, staged_list

DEPLOYMENT = "deployment"  # the word list every item is screened against; departments add their own


class TaskStore:
    def __init__(self, db: AsyncDatabase):
        self.tasks = db.tasks
        self.wordlists = db.wordlists
        self.audit = AuditChain(db.audit)

    async def prepare(self) -> None:
        # every lookup is by _id; the queue is read through its level (see pending_at)
        await self.audit.prepare()

    async def create(self, outcome: Outcome) -> bool:
        """Store a screened task with its event and audit record; False when already screened."""
        document = {
            "_id": outcome.task.submission_id,
            **outcome.task.model_dump(mode="json"),
            "version": 1,
            EVENTS: staged_list(outcome.event),
            AUDIT: [outcome.audit.model_dump(mode="json")],
        }
        try:
            await insert_staged(self.tasks, document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, submission_id: str) -> ReviewTask | None:
        doc = await self.tasks.find_one({"_id": submission_id}, {EVENTS: 0, AUDIT: 0})
        return to_task(doc) if doc else None

    async def pending_at(self, level: int, limit: int) -> list[ReviewTask]:
        query = {"state": ReviewState.PENDING.value, "level": level}
        cursor = self.tasks.find(query, {EVENTS: 0, AUDIT: 0}).sort("_id", 1).limit(limit)
        return [to_task(d) for d in await cursor.to_list()]

    async def change(
        self, submission_id: str, transition: Callable[[ReviewTask], Outcome | None]
    ) -> ReviewTask | None:
        """Apply a pure transition; the task, its event and its audit record are one write."""

        def compute(doc: dict) -> Change | None:
            outcome = transition(to_task(doc))
            if outcome is None:
                return None
            events = [outcome.event] if outcome.event else []
            audit = {AUDIT: [outcome.audit.model_dump(mode="json")]}
            return Change(outcome.task.model_dump(mode="json"), events, audit)

        doc = await change_document(self.tasks, submission_id, compute)
        return to_task(doc) if doc else None

    async def word_list(self, scope: str) -> dict:
        return await self.wordlists.find_one({"_id": scope}) or {"_id": scope, "entries": [], "version": 0}

    async def replace_word_list(self, scope: str, entries: list[dict], by: str) -> dict:
        update = {
            "$set": {"entries": entries, "updated_by": by, "updated_at": utcnow()},
            "$inc": {"version": 1},
        }
        # one atomic upsert: replicas replacing a list at once each get a version of their own
        return await self.wordlists.find_one_and_update(
            {"_id": scope}, update, upsert=True, return_document=ReturnDocument.AFTER
        )

    async def word_entries_for(self, department: str) -> tuple[tuple, list[tuple[str, str, str]]]:
        """The deployment's and the department's lists as (word, severity, note), with a key that
        changes whenever either does (screening workers compile a list once per key)."""
        lists = [await self.word_list(DEPLOYMENT), await self.word_list(f"department:{department}")]
        key = (department, *(wl["version"] for wl in lists))
        return key, [(e["word"], e["severity"], e.get("note", "")) for wl in lists for e in wl["entries"]]


def to_task(doc: dict) -> ReviewTask:
    return ReviewTask.model_validate({k: v for k, v in doc.items() if k in ReviewTask.model_fields})
