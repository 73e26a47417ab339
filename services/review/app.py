"""Review's wiring: HTTP routes and the event consumer, both handing over to `handlers`."""

from pathlib import Path as PathLib
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from services.review import handlers
from services.review.domain.decisions import (
    Decision,
    RecordedDecision,
    ReviewState,
    ReviewTask,
    four_eyes_allow,
)
from services.review.domain.screening import published_fields
from services.review.screener import Screener
from services.review.store import TaskStore
from shared.audit import AuditEntry
from shared.auth import Principal, requires
from shared.domain import Category, Channel, Disclosure, Role, Severity, Theme
from shared.events import Attachment, Event, Redaction, ScreeningFinding
from shared.outbox import AUDIT, Relay
from shared.pages import text_size_script
from shared.problems import Problem
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

Reviewer = Annotated[Principal, Depends(requires(Role.REVIEWER))]
Reader = Annotated[Principal, Depends(requires(Role.REVIEWER, Role.OPERATOR))]
Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]


class FieldView(BaseModel):
    """A field that goes online, as screening read it: what the reviewer must see, part by part."""

    name: str  # the `field` its findings and redactions name
    label: str
    text: str
    redactable: bool  # title and body; a file goes online whole, so its parts are not


class ReviewSummary(BaseModel):
    """An item in the queue: enough to choose it, never its texts (a body may be 1 MB)."""

    submission_id: str
    revision: int
    state: ReviewState
    level: int
    levels: int
    title: str
    category: Category
    department: str
    department_name: str
    formed_on: str
    findings: list[ScreeningFinding]


class ReviewView(ReviewSummary):
    body: str
    document_number: str | None
    disclosure: Disclosure  # 公开属性: only a proactive item goes online once approved
    theme: Theme | None
    channels: list[Channel]
    attachments: list[Attachment]
    fields: list[FieldView]
    decisions: list[RecordedDecision]
    redactions: list[Redaction]


class ReviewPage(BaseModel):
    items: list[ReviewSummary]
    next_cursor: str | None = None


def summary(task: ReviewTask) -> ReviewSummary:
    c = task.content
    return ReviewSummary(
        submission_id=task.submission_id,
        revision=task.revision,
        state=task.state,
        level=task.level,
        levels=task.levels,
        title=c.title,
        category=c.category,
        department=c.department,
        department_name=c.department_name,
        formed_on=c.formed_on.isoformat(),
        findings=task.findings,
    )


def view(task: ReviewTask) -> ReviewView:
    c = task.content
    return ReviewView(
        **summary(task).model_dump(),
        body=c.body,
        document_number=c.document_number,
        disclosure=c.disclosure,
        theme=c.theme,
        channels=list(c.channels),
        attachments=list(c.attachments),
        fields=[
            FieldView(name=f.name, label=f.label, text=f.text, redactable=f.redactable)
            for f in published_fields(c)
        ],
        decisions=task.decisions,
        redactions=task.redactions,
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
        mine = [t for t in tasks if four_eyes_allow(t, reviewer.holder, reviewer.level)]
        return ReviewPage(items=[summary(t) for t in mine])

    @router.get("/{submission_id}", response_model=ReviewView)
    async def review(submission_id: str, _: Reader, store: Store) -> ReviewView:
        task = await store.get(submission_id)
        if task is None:
            raise Problem(404, "Not found", f"No review of submission {submission_id}.")
        return view(task)

    @router.get(
        "/{submission_id}/attachments/{number}", response_class=Response, responses={404: {}, 502: {}}
    )
    async def attachment(
        request: Request,
        submission_id: str,
        number: Annotated[int, Path(ge=0, le=99)],
        _: Reader,
        store: Store,
    ) -> Response:
        """The file itself, for the reviewer to look at (an image, a page screening could not
        read): fetched from ingest with the reviewer's own token, never from its database."""
        task = await store.get(submission_id)
        if task is None or number >= len(task.content.attachments):
            raise Problem(404, "Not found", f"No attachment {number} of submission {submission_id}.")
        attachment = task.content.attachments[number]
        url = f"{request.app.state.settings.attachments_base_url.rstrip('/')}/v1/attachments/{attachment.id}"
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                fetched = await http.get(url, headers={"Authorization": request.headers["authorization"]})
        except httpx.HTTPError as error:
            raise Problem(502, "Ingest unreachable", f"The file could not be fetched: {error}") from error
        if fetched.status_code != 200:
            raise Problem(502, "File not fetched", f"Ingest answered {fetched.status_code} for the file.")
        headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
        return Response(fetched.content, media_type=attachment.media_type, headers=headers)

    @router.post("/{submission_id}/decisions", response_model=ReviewView)
    async def decide(
        request: Request, submission_id: str, decision: Decision, reviewer: Reviewer, store: Store
    ) -> ReviewView:
        task = await handlers.record_decision(store, reviewer, submission_id, decision)
        request.app.state.relay.wake()
        request.app.state.audit_relay.wake()
        return view(task)

    return router


class WordEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str = Field(min_length=1, max_length=100)
    severity: Severity = Severity.FLAG
    note: str = Field("", max_length=200)


class WordListBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[WordEntry] = Field(max_length=100_000)


class WordListView(WordListBody):
    scope: str
    version: int


SCOPE = Path(pattern=r"^(deployment|department:[a-z0-9][a-z0-9_-]{0,39})$")


def wordlist_routes() -> APIRouter:
    router = APIRouter(prefix="/v1/wordlists", tags=["word lists"])

    def view_of(doc: dict) -> WordListView:
        return WordListView(scope=doc["_id"], version=doc["version"], entries=doc["entries"])

    @router.get("/{scope}", response_model=WordListView)
    async def word_list(scope: Annotated[str, SCOPE], _: Operator, store: Store) -> WordListView:
        """`deployment`, or `department:CODE`: the terms every item (of that department) is screened for."""
        return view_of(await store.word_list(scope))

    @router.put("/{scope}", response_model=WordListView)
    async def replace_word_list(
        scope: Annotated[str, SCOPE], body: WordListBody, operator: Operator, store: Store
    ) -> WordListView:
        """Replace a word list; every replica screens with it from the next item on."""
        entries = [e.model_dump(mode="json") for e in body.entries]
        return view_of(await store.replace_word_list(scope, entries, operator.name))

    return router


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = None


def audit_routes() -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("", response_model=AuditPage)
    async def audit(
        submission_id: Annotated[str, Query(max_length=64)], _: Reader, store: Store
    ) -> AuditPage:
        """Every screening result and decision on the item — who, when, what, on what basis."""
        entries = await store.audit.of_submission(submission_id)
        return AuditPage(items=[AuditEntry.model_validate(e) for e in entries])

    return router


WEB = PathLib(__file__).parent / "web"


def console_routes() -> APIRouter:
    router = APIRouter(tags=["console"])

    @router.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def console() -> HTMLResponse:
        """The review console: the page signs in with a reviewer token and calls the API above."""
        return HTMLResponse((WEB / "console.html").read_text(encoding="utf-8"))

    @router.get("/console/static/{name}", include_in_schema=False)
    async def static(
        name: Annotated[str, Path(pattern=r"^(console\.(js|css)|textsize\.js)$")],
    ) -> FileResponse:
        return text_size_script() if name == "textsize.js" else FileResponse(WEB / name)

    return router


def build(settings: Settings) -> FastAPI:
    async def audit_relay(app: FastAPI) -> None:
        await app.state.audit_relay.run()

    async def prepare(app: FastAPI) -> None:
        """Before the first event arrives: the screener, and the audit relay it wakes."""
        app.state.screener = Screener()
        app.state.audit_relay = Relay(
            AUDIT, app.state.store.audit.append, [app.state.db.tasks], settings.outbox_poll_seconds
        )

    async def on_event(app: FastAPI, event: Event) -> None:
        await handlers.on_event(app.state.store, settings.review_levels, app.state.screener, event)
        app.state.audit_relay.wake()  # its screening's audit record (the events' relay is woken for all)

    return create_app(
        ServiceSpec(
            name="review",
            settings=settings,
            store=TaskStore,
            routers=[routes(), wordlist_routes(), audit_routes(), console_routes()],
            outbox=lambda db: [db.tasks],
            workers=[audit_relay],
            prepare=prepare,
            teardown=lambda app: app.state.screener.close(),
            handle=on_event,
        )
    )
