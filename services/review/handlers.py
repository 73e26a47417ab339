"""What review does: one function per event or command."""

from services.review.domain.decisions import (
    Decision,
    DecisionRefused,
    Reviewer,
    ReviewTask,
    decide,
    revised,
    screened,
    withdrawn,
)
from services.review.screener import Screener
from services.review.store import TaskStore
from shared.auth import Principal
from shared.events import (
    Event,
    ItemContent,
    ScreeningFinding,
    SubmissionReceived,
    SubmissionRevised,
    SubmissionWithdrawn,
    utcnow,
)
from shared.problems import Problem


async def on_event(store: TaskStore, levels: int, screener: Screener, event: Event) -> None:
    match event:
        case SubmissionReceived():
            content = event.data.content
            findings = await _screen(store, screener, content)
            await store.create(screened(event.submission_id, event.data.revision, content, levels, findings))
        case SubmissionRevised():
            findings = await _screen(store, screener, event.data.content)
            await store.change(event.submission_id, lambda t: _revised(t, event, levels, findings))
        case SubmissionWithdrawn():
            data = event.data
            await store.change(
                event.submission_id,
                lambda t: withdrawn(
                    t, data.withdrawn_by, data.reason, event.occurred_at, str(event.event_id)
                ),
            )


async def _screen(store: TaskStore, screener: Screener, content: ItemContent) -> list[ScreeningFinding]:
    """Screening's findings, against the word lists in force now (an operator's change applies
    from the next item on, on every replica)."""
    words_key, entries = await store.word_entries_for(content.department)
    return await screener.findings(content, words_key, entries)


def _revised(task: ReviewTask, event: SubmissionRevised, levels: int, findings: list[ScreeningFinding]):
    return revised(task, event.data.revision, event.data.content, levels, findings)


async def record_decision(
    store: TaskStore, reviewer: Principal, submission_id: str, decision: Decision
) -> ReviewTask:
    def transition(task: ReviewTask):
        try:
            by = Reviewer(id=reviewer.holder, name=reviewer.name, level=reviewer.level)
            return decide(task, by, decision, utcnow())
        except DecisionRefused as refused:
            raise Problem(refused.status, refused.title, refused.detail) from refused

    task = await store.change(submission_id, transition)  # None only when there is no such review
    if task is None:
        raise Problem(404, "Not found", f"No review of submission {submission_id}.")
    return task
