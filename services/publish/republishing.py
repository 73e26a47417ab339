"""What external platforms republish from: `GET /v1/published?cursor=`, the feed of every
publication and withdrawal in the order they happened. Entries are numbered without gaps when
they are appended (shared.ledger), so a cursor — the last number a platform saw — never misses
or repeats an entry, however many arrive while it pages."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel


class FeedEntry(BaseModel):
    seq: int
    kind: str  # published | withdrawn
    submission_id: str
    channel: str
    url: str | None = None
    published_at: str | None = None
    withdrawn_at: str | None = None
    title: str | None = None
    category: str | None = None
    department: str | None = None
    department_name: str | None = None
    hash: str  # the ledger's hash of this entry: a platform can keep it as a receipt


class FeedPage(BaseModel):
    items: list[FeedEntry]
    next_cursor: str  # pass it back to read on; the same cursor when nothing new has arrived


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1/published", tags=["republishing"])

    @router.get("", response_model=FeedPage)
    async def published(
        request: Request,
        cursor: Annotated[
            str, Query(pattern=r"^[0-9]{1,12}$", description="The next_cursor of the last page")
        ] = "0",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> FeedPage:
        entries = await request.app.state.store.feed.after(int(cursor), limit)
        items = [FeedEntry.model_validate(e) for e in entries]
        return FeedPage(items=items, next_cursor=str(items[-1].seq if items else int(cursor)))

    return router
