"""Review's wiring: HTTP routes and the event consumer, both handing over to `handlers`."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel

from services.review import handlers
from services.review.domain.decisions import Decision, RecordedDecision, ReviewState, ReviewTask
from services.review.store import TaskStore
from shared.auth import Principal, requires
from shared.domain import Category, Channel, Role
from shared.events import ScreeningFinding
from shared.problems import Problem
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

Reviewer = Annotated[Principal, Depends(requires(Role.REVIEWER))]
Reader = Annotated[Principal, Depends(requires(Role.REVIEWER, Role.OPERATOR))]


class ReviewView(BaseModel):
    submission_id: str
    revision: int
    state: ReviewState
    level: int
    levels: int
    title: str
    body: str
    category: Category
    channels: list[Channel]
    department: str
    department_name: str
    formed_on: str
    findings: list[ScreeningFinding]
    decisions: list[RecordedDecision]


class ReviewPage(BaseModel):
    items: list[ReviewView]
    next_cursor: str | None = None


def view(task: ReviewTask) -> ReviewView:
    c = task.content
    return ReviewView(
        submission_id=task.submission_id,
        revision=task.revision,
        state=task.state,
        level=task.level,
        levels=task.levels,
        title=c.title,
        body=c.body,
        category=c.category,
        channels=list(c.channels),
        department=c.department,
        department_name=c.department_name,
        formed_on=c.formed_on.isoformat(),
        findings=task.findings,
        decisions=task.decisions,
    )


def store_of(request: Request) -> TaskStore:
    return request.app.state.store


Store = Annotated[TaskStore, Depends(store_of)]


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

    @router.get("", response_model=ReviewPage)
    async def queue(
        reviewer: Reviewer,
        store: Store,
        state: Literal["pending"] = "pending",
        limit: Annotated[int, Query(ge=1, le=200)] = 100,
    ) -> ReviewPage:
        """The items waiting at the caller's level, oldest first, with their automated findings."""
        tasks = await store.pending_at(reviewer.level, limit)
        mine = [t for t in tasks if all(d.reviewer != reviewer.name for d in t.decisions)]
        return ReviewPage(items=[view(t) for t in mine])

    @router.get("/{submission_id}", response_model=ReviewView)
    async def review(submission_id: str, _: Reader, store: Store) -> ReviewView:
        task = await store.get(submission_id)
        if task is None:
            raise Problem(404, "Not found", f"No review of submission {submission_id}.")
        return view(task)

    @router.post("/{submission_id}/decisions", response_model=ReviewView)
    async def decide(
        request: Request, submission_id: str, decision: Decision, reviewer: Reviewer, store: Store
    ) -> ReviewView:
        task = await handlers.record_decision(store, reviewer, submission_id, decision)
        request.app.state.relay.wake()
        return view(task)

    return router


def build(settings: Settings) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="review",
            settings=settings,
            store=TaskStore,
            routers=[routes()],
            outbox=lambda db: [db.tasks],
            handle=lambda app, event: handlers.on_event(app.state.store, settings.review_levels, event),
        )
    )
