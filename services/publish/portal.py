"""The portal website channel (门户网站), served from this service's database so that any number
of publish replicas serve one site. Templates autoescape: a title is text, never markup."""

from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from services.publish.store import PublicationStore
from shared.domain import CATEGORY_LABELS, Category
from shared.problems import Problem

PAGE_SIZE = 20
SITE_NAME = "政府信息公开门户"
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(Path(__file__).parent / "web" / "templates"), autoescape=True)
)


def paragraphs(body: str) -> list[str]:
    return [line.strip() for line in body.splitlines() if line.strip()]


def routes() -> APIRouter:
    router = APIRouter(prefix="/portal", tags=["portal"])

    def context(request: Request, **extra) -> dict:
        base_url = request.app.state.settings.portal_base_url.rstrip("/")
        return {"site_name": SITE_NAME, "base_url": base_url, **extra}

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request, page: int = Query(1, ge=1, le=10_000)):
        store: PublicationStore = request.app.state.store
        items = await store.portal_page((page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        return templates.TemplateResponse(
            request,
            "index.html",
            context(
                request,
                items=items[:PAGE_SIZE],
                page=page,
                has_next=len(items) > PAGE_SIZE,
            ),
        )

    @router.get("/items/{submission_id}", response_class=HTMLResponse)
    async def item(request: Request, submission_id: str):
        doc = await request.app.state.store.portal_item(submission_id)
        if doc is None:
            raise Problem(404, "Not found", "No such item on the portal.")
        if doc["state"] == "withdrawn":
            return templates.TemplateResponse(
                request,
                "gone.html",
                context(request, withdrawn_at=doc["withdrawn_at"].strftime("%Y-%m-%d")),
                status_code=410,
            )
        return templates.TemplateResponse(
            request,
            "item.html",
            context(
                request,
                item=doc,
                paragraphs=paragraphs(doc["body"]),
                category=CATEGORY_LABELS[Category(doc["category"])],
            ),
        )

    @router.get("/feed.json")
    async def feed(request: Request) -> JSONResponse:
        """JSON Feed 1.1 of the newest public items."""
        base = context(request)["base_url"]
        items = await request.app.state.store.portal_page(0, 50)
        return JSONResponse(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": SITE_NAME,
                "home_page_url": f"{base}/portal/",
                "feed_url": f"{base}/portal/feed.json",
                "language": "zh-CN",
                "items": [
                    {
                        "id": doc["_id"],
                        "url": f"{base}/portal/items/{doc['_id']}",
                        "title": doc["title"],
                        "content_text": doc["body"],
                        "date_published": doc["published_at"].isoformat(),
                        "tags": [CATEGORY_LABELS[Category(doc["category"])]],
                        "authors": [{"name": doc["department_name"]}],
                    }
                    for doc in items
                ],
            },
            media_type="application/feed+json",
        )

    return router
