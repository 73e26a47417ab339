"""Review's MongoDB adapter: one `tasks` document per submission, with its decisions."""

from collections.abc import Callable

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.review.domain.decisions import ReviewState, ReviewTask
from shared.documents import Change, change_document
from shared.events import Envelope
from shared.outbox import insert_with_events, staged_list

_TASK_FIELDS = set(ReviewTask.model_fields)


class TaskStore:
    def __init__(self, db: AsyncDatabase):
        self.tasks = db.tasks

    async def prepare(self) -> None:
        await self.tasks.create_index([("state", ASCENDING), ("level", ASCENDING)])

    async def create(self, task: ReviewTask, event: Envelope) -> bool:
        """Store a screened task with its event; False when the submission was already screened."""
        document = {
            "_id": task.submission_id,
            **task.model_dump(mode="json"),
            "version": 1,
            "pending_events": staged_list(event),
        }
        try:
            await insert_with_events(self.tasks, document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, submission_id: str) -> ReviewTask | None:
        doc = await self.tasks.find_one({"_id": submission_id}, {"pending_events": 0})
        return to_task(doc) if doc else None

    async def pending_at(self, level: int, limit: int) -> list[ReviewTask]:
        cursor = self.tasks.find({"state": ReviewState.PENDING.value, "level": level}, {"pending_events": 0})
        return [to_task(d) for d in await cursor.sort("_id", ASCENDING).limit(limit).to_list()]

    async def change(
        self, submission_id: str, change: Callable[[ReviewTask], tuple[ReviewTask, Envelope] | None]
    ) -> ReviewTask | None:
        """Apply a pure transition; the task and its announcing event are written together."""

        def compute(doc: dict) -> Change | None:
            outcome = change(to_task(doc))
            if outcome is None:
                return None
            task, event = outcome
            return Change(task.model_dump(mode="json"), [event] if event else [])

        doc = await change_document(self.tasks, submission_id, compute)
        return to_task(doc) if doc else None


def to_task(doc: dict) -> ReviewTask:
    return ReviewTask.model_validate({k: v for k, v in doc.items() if k in _TASK_FIELDS})
