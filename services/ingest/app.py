"""Ingest's wiring: HTTP routes and the event consumer, both handing over to `handlers`."""

import asyncio
import math
import time
from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, FastAPI, File, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from services.ingest import attachments, handlers
from services.ingest.domain import (
    ATTACHMENT_ID,
    MAX_ATTACHMENTS,
    MAX_BODY_CHARS,
    ChannelReceipt,
    RateLimiter,
    SubmissionDraft,
    TimelineEntry,
)
from services.ingest.reader import AttachmentReader
from services.ingest.store import SubmissionStore
from shared import tracing
from shared.auth import Principal, bearer_principal, requires
from shared.domain import (
    ATTACHMENT_PART_LABELS,
    AttachmentPartKind,
    Category,
    Channel,
    Disclosure,
    Role,
    SubmissionStatus,
    Theme,
)
from shared.events import Attachment, Decisions, RegulatoryDocument, Validity
from shared.problems import Problem
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

# A body holds up to 1,000,000 characters of text: as JSON, up to 6 bytes each (\uXXXX escapes).
MAX_REQUEST_BYTES = 6 * MAX_BODY_CHARS + 64_000


async def writing_clerk(
    request: Request, clerk: Annotated[Principal, Depends(requires(Role.DEPARTMENT))]
) -> Principal:
    """A department making a write, within its rate (429 with Retry-After beyond it)."""
    wait = request.app.state.rate_limiter.take(clerk.department, time.monotonic())
    if wait:
        seconds = math.ceil(wait)
        raise Problem(
            429,
            "Too many requests",
            f"Department {clerk.department} may write again in {seconds} s.",
            {"Retry-After": str(seconds)},
        )
    return clerk


Clerk = Annotated[Principal, Depends(writing_clerk)]
# The days a submission can have been made on, and the same bound as the schema says it.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
DAY_BOUND = Query(ge=EARLIEST, le=LATEST, json_schema_extra={"pattern": "^20[0-9]{2}-"})
SWEEP_SECONDS = 3600  # expired idempotency keys and never-attached uploads go within the hour
Reader = Annotated[Principal, Depends(requires(Role.DEPARTMENT, Role.OPERATOR))]


class PartView(BaseModel):
    """One part of a file that was read (its body, its footnotes, its sheet names…)."""

    kind: AttachmentPartKind
    label: str  # the part's name, as the reviewer's console shows it
    chars: int  # characters read of it, each screened with the item


class AttachmentView(BaseModel):
    """An uploaded file as a clerk sees it: what it is and what of it could be read."""

    id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    text_chars: int  # characters read for screening, all parts together
    parts: list[PartView] = []  # what was read, part by part ('unread': what could not be)
    unread: str | None = None  # why some of it could not be read: a reviewer will look

    @classmethod
    def of(cls, attachment: dict) -> "AttachmentView":
        read = Attachment.model_validate(attachment).readable_parts()
        parts = [PartView(kind=p.kind, label=ATTACHMENT_PART_LABELS[p.kind], chars=len(p.text)) for p in read]
        fields = {k: v for k, v in attachment.items() if k not in ("text", "parts")}
        return cls(**fields, parts=parts, text_chars=sum(p.chars for p in parts))


class Uploaded(BaseModel):
    items: list[AttachmentView]


class SubmissionView(BaseModel):
    id: str
    status: SubmissionStatus
    title: str
    category: Category
    channels: list[Channel]
    formed_on: str
    department: str
    document_number: str | None = None
    regulatory_document: RegulatoryDocument | None = None
    decisions: Decisions | None = None
    disclosure: Disclosure = Disclosure.PROACTIVE
    disclosure_ground: str | None = None
    theme: Theme | None = None
    validity: Validity | None = None
    keywords: list[str] = []
    summary: str | None = None
    attachments: list[AttachmentView] = []
    created_at: datetime
    publications: list[ChannelReceipt] = []
    review: dict = {}
    timeline: list[TimelineEntry] = []


class SubmissionPage(BaseModel):
    items: list[SubmissionView]
    next_cursor: str | None


class Withdrawal(BaseModel):
    reason: str = Field("", max_length=500)


def view(doc: dict) -> SubmissionView:
    content = doc["content"]
    return SubmissionView(
        id=doc["_id"],
        status=doc["status"],
        title=content["title"],
        category=content["category"],
        channels=content["channels"],
        formed_on=content["formed_on"],
        department=doc["department"],
        document_number=content.get("document_number"),
        regulatory_document=content.get("regulatory_document"),
        decisions=content.get("decisions"),
        disclosure=content.get("disclosure", Disclosure.PROACTIVE),
        disclosure_ground=content.get("disclosure_ground"),
        theme=content.get("theme"),
        validity=content.get("validity"),
        keywords=content.get("keywords", []),
        summary=content.get("summary"),
        attachments=[AttachmentView.of(a) for a in content.get("attachments", [])],
        created_at=doc["created_at"],
        publications=list(doc.get("publications", {}).values()),
        review=doc.get("review", {}),
        timeline=doc.get("timeline", []),
    )


def store_of(request: Request) -> SubmissionStore:
    return request.app.state.store


Store = Annotated[SubmissionStore, Depends(store_of)]


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1/submissions", tags=["submissions"])

    @router.post("", status_code=202, response_model=SubmissionView)
    async def submit(
        request: Request,
        draft: SubmissionDraft,
        clerk: Clerk,
        store: Store,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ):
        handlers.within_the_office(draft, request.app.state.settings.office_level)
        doc, created = await handlers.submit(
            store, clerk, draft, idempotency_key, request.app.state.settings.idempotency_hours
        )
        tracing.tag(doc["_id"])
        if created:
            request.app.state.relay.wake()
        replayed = {} if created else {"Idempotent-Replayed": "true"}
        return JSONResponse(view(doc).model_dump(mode="json"), status_code=202, headers=replayed)

    @router.get("", response_model=SubmissionPage)
    async def list_submissions(
        caller: Reader,
        store: Store,
        status: SubmissionStatus | None = None,
        category: Category | None = None,
        submitted_from: Annotated[date | None, DAY_BOUND, Query(description="First day (China time)")] = None,
        submitted_to: Annotated[date | None, DAY_BOUND, Query(description="Last day (China time)")] = None,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> SubmissionPage:
        """Newest first; `next_cursor` continues after the last item, stable while new ones arrive."""
        query = handlers.listing(caller, status, category, submitted_from, submitted_to)
        docs = await store.page(query, cursor, limit)
        next_cursor = docs[-1]["_id"] if len(docs) == limit else None
        return SubmissionPage(items=[view(d) for d in docs], next_cursor=next_cursor)

    @router.get("/{submission_id}", response_model=SubmissionView)
    async def get_submission(submission_id: str, caller: Reader, store: Store) -> SubmissionView:
        return view(await handlers.visible(store, caller, submission_id))

    @router.put("/{submission_id}", response_model=SubmissionView)
    async def revise(
        request: Request, submission_id: str, draft: SubmissionDraft, clerk: Clerk, store: Store
    ) -> SubmissionView:
        """Revise an item that review returned, or correct a published one (更正, also after a
        correction was rejected): it is screened again and reviewed from level 1. A correction
        keeps every channel that shows the item (422 otherwise); anything else is 409."""
        handlers.within_the_office(draft, request.app.state.settings.office_level)
        doc = await handlers.revise(store, clerk, submission_id, draft)
        request.app.state.relay.wake()
        return view(doc)

    @router.post("/{submission_id}/withdraw", response_model=SubmissionView)
    async def withdraw(
        request: Request,
        submission_id: str,
        caller: Reader,
        store: Store,
        withdrawal: Annotated[Withdrawal | None, Body()] = None,
    ) -> SubmissionView:
        """Withdraw the item: taken off every channel that shows any revision of it (a channel
        whose update failed included). 409 only once withdrawn, or for an item rejected with
        nothing of it ever approved."""
        reason = withdrawal.reason if withdrawal else ""
        doc = await handlers.withdraw(store, caller, submission_id, reason)
        request.app.state.relay.wake()
        return view(doc)

    return router


def attachment_routes() -> APIRouter:
    router = APIRouter(prefix="/v1/attachments", tags=["attachments"])

    @router.post("", status_code=201, response_model=Uploaded)
    async def upload(
        request: Request,
        response: Response,
        clerk: Clerk,
        store: Store,
        files: Annotated[
            list[UploadFile],
            File(
                min_length=1,
                max_length=MAX_ATTACHMENTS,
                description=f"Up to {MAX_ATTACHMENTS} files: PDF, DOCX, XLSX, JPEG or PNG, 20 MB each",
            ),
        ],
    ) -> Uploaded:
        """Upload files to attach to a submission (name their ids in its `attachments`). Each is
        judged by its content, never its name; every part of a PDF, DOCX or XLSX that carries
        text (body, headers, notes, comments, tracked changes, sheet names, annotations, form
        fields, properties…) is read and screened with the item, and listed in `parts`. A zip
        bomb, or an archive over the limits, is refused (422)."""
        if len(files) > MAX_ATTACHMENTS:
            raise Problem(422, "Too many files", f"At most {MAX_ATTACHMENTS} files at once.")
        read = [(f.filename, await f.read(attachments.MAX_BYTES + 1)) for f in files]
        quota = request.app.state.settings.attachment_quota_mb
        stored = await handlers.upload_attachments(store, request.app.state.reader, clerk, read, quota)
        uploaded = Uploaded(items=[AttachmentView.of(a) for a in stored])
        if len(uploaded.items) == 1:  # the one resource created (several files have no one URL)
            response.headers["Location"] = f"/v1/attachments/{uploaded.items[0].id}"
        return uploaded

    @router.get("/{attachment_id}", response_class=StreamingResponse, responses={404: {}})
    async def download(
        request: Request, store: Store, attachment_id: Annotated[str, PathParam(pattern=ATTACHMENT_ID)]
    ) -> StreamingResponse:
        """The file: to its department, reviewers and operators, and to anyone while a revision of
        its item that carries it is live on some channel."""
        caller = await bearer_principal(request)
        stream = await handlers.visible_attachment(store, caller, attachment_id)
        meta = stream.metadata
        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stream.filename)}",
            "Content-Length": str(stream.length),
            "ETag": f'"{meta["sha256"]}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        }
        return StreamingResponse(stream, media_type=meta["media_type"], headers=headers)

    return router


def build(settings: Settings) -> FastAPI:
    async def prepare(app: FastAPI) -> None:
        app.state.rate_limiter = RateLimiter(settings.ingest_writes_per_minute, settings.ingest_write_burst)
        app.state.reader = AttachmentReader(settings)

    async def key_expiry(app: FastAPI) -> None:
        while True:
            await app.state.store.forget_expired_keys()
            await asyncio.sleep(SWEEP_SECONDS)

    async def upload_expiry(app: FastAPI) -> None:
        while True:
            await app.state.store.forget_unattached(settings.attachment_unattached_hours)
            await asyncio.sleep(SWEEP_SECONDS)

    return create_app(
        ServiceSpec(
            name="ingest",
            settings=settings,
            store=SubmissionStore,
            routers=[routes(), attachment_routes()],
            outbox=lambda db: [db.submissions],
            handle=lambda app, event: handlers.on_event(app.state.store, event),
            max_body_size=MAX_REQUEST_BYTES,
            uploads={"/v1/attachments": MAX_ATTACHMENTS * (attachments.MAX_BYTES + 64_000)},
            rate_limited=True,
            prepare=prepare,
            teardown=lambda app: app.state.reader.close(),
            workers=[key_expiry, upload_expiry],
        )
    )
