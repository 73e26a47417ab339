"""What review does: one function per event or command."""

from services.review.domain.decisions import (
    Decision,
    DecisionRefused,
    ReviewState,
    ReviewTask,
    decide,
    screened,
    withdrawn,
)
from services.review.store import TaskStore
from shared.auth import Principal
from shared.events import Event, SubmissionReceived, SubmissionRevised, SubmissionWithdrawn, utcnow
from shared.problems import Problem


async def on_event(store: TaskStore, levels: int, event: Event) -> None:
    match event:
        case SubmissionReceived():
            content = event.data.content
            words = await store.words_for(content.department)
            await store.create(screened(event.submission_id, event.data.revision, content, levels, words))
        case SubmissionRevised():
            words = await store.words_for(event.data.content.department)
            await store.change(event.submission_id, lambda t: _revised(t, event, levels, words))
        case SubmissionWithdrawn():
            data = event.data
            await store.change(
                event.submission_id,
                lambda t: withdrawn(
                    t, data.withdrawn_by, data.reason, event.occurred_at, str(event.event_id)
                ),
            )


def _revised(task: ReviewTask, event: SubmissionRevised, levels: int, words):
    """A revision after `review.returned`, or a correction of an approved item, is screened again
    and starts over at level 1."""
    if task.state not in (ReviewState.RETURNED, ReviewState.APPROVED) or event.data.revision <= task.revision:
        return None
    return screened(event.submission_id, event.data.revision, event.data.content, levels, words)


async def record_decision(
    store: TaskStore, reviewer: Principal, submission_id: str, decision: Decision
) -> ReviewTask:
    def transition(task: ReviewTask):
        try:
            return decide(task, reviewer.name, reviewer.level, decision, utcnow())
        except DecisionRefused as refused:
            raise Problem(refused.status, refused.title, refused.detail) from refused

    task = await store.change(submission_id, transition)  # None only when there is no such review
    if task is None:
        raise Problem(404, "Not found", f"No review of submission {submission_id}.")
    return task
