"""The portal website channel (门户网站), served from this service's database so that any number
of publish replicas serve one site. Templates autoescape: a title is text, never markup; a body
is rendered and sanitised (rendering.py) before it is marked safe."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from shared.domain import CATEGORY_LABELS, Category
from shared.events import utcnow
from shared.problems import Problem
from shared.rendering import body_html

PAGE_SIZE = 20
FEED_SIZE = 50
SITE_NAME = "政府信息公开门户"
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(Path(__file__).parent / "web" / "templates"), autoescape=True)
)
Page = Annotated[int, Query(ge=1, le=10_000)]


def routes() -> APIRouter:
    router = APIRouter(prefix="/portal", tags=["portal"])

    def context(request: Request, **extra) -> dict:
        base_url = request.app.state.settings.portal_base_url.rstrip("/")
        categories = [(c.value, label) for c, label in CATEGORY_LABELS.items()]
        return {"site_name": SITE_NAME, "base_url": base_url, "categories": categories, **extra}

    async def listing(request: Request, query: dict, page: int, heading: str) -> HTMLResponse:
        items = await request.app.state.store.portal_page(query, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        return templates.TemplateResponse(
            request,
            "index.html",
            context(
                request,
                items=items[:PAGE_SIZE],
                page=page,
                has_next=len(items) > PAGE_SIZE,
                heading=heading,
            ),
        )

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request, page: Page = 1):
        return await listing(request, {}, page, "主动公开信息")

    @router.get("/categories/{category}", response_class=HTMLResponse)
    async def by_category(request: Request, category: Category, page: Page = 1):
        return await listing(request, {"category": category.value}, page, CATEGORY_LABELS[category])

    @router.get("/departments/{department}", response_class=HTMLResponse)
    async def by_department(
        request: Request,
        department: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")],
        page: Page = 1,
    ):
        items = await request.app.state.store.portal_page({"department": department}, 0, 1)
        name = items[0]["department_name"] if items else department
        return await listing(request, {"department": department}, page, f"{name} · 主动公开信息")

    @router.get("/items/{submission_id}", response_class=HTMLResponse)
    async def item(request: Request, submission_id: str):
        doc = await request.app.state.store.portal_item(submission_id)
        if doc is None:
            raise Problem(404, "Not found", "No such item on the portal.")
        if doc["state"] == "withdrawn":
            withdrawn_at = doc["withdrawn_at"].strftime("%Y-%m-%d")
            return templates.TemplateResponse(
                request, "gone.html", context(request, withdrawn_at=withdrawn_at), 410
            )
        return templates.TemplateResponse(
            request,
            "item.html",
            context(
                request,
                item=doc,
                body=body_html(doc["body"]),
                category=CATEGORY_LABELS[Category(doc["category"])],
            ),
        )

    @router.get(
        "/feed.json", response_class=JSONResponse, responses={200: {"content": {"application/feed+json": {}}}}
    )
    async def feed_json(request: Request) -> JSONResponse:
        """JSON Feed 1.1 of the newest public items."""
        base = context(request)["base_url"]
        items = await request.app.state.store.portal_page({}, 0, FEED_SIZE)
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
                        "content_html": str(body_html(doc["body"])),
                        "content_text": doc["body"],
                        "date_published": doc["published_at"].isoformat(),
                        "date_modified": doc["updated_at"].isoformat(),
                        "tags": [CATEGORY_LABELS[Category(doc["category"])]],
                        "authors": [{"name": doc["department_name"]}],
                    }
                    for doc in items
                ],
            },
            media_type="application/feed+json",
        )

    @router.get(
        "/feed.atom", response_class=Response, responses={200: {"content": {"application/atom+xml": {}}}}
    )
    async def feed_atom(request: Request) -> Response:
        """Atom (RFC 4287) feed of the newest public items."""
        items = await request.app.state.store.portal_page({}, 0, FEED_SIZE)
        entries = [
            {
                "id": doc["_id"],
                "title": doc["title"],
                "author": doc["department_name"],
                "published": doc["published_at"].isoformat(),
                "updated": doc["updated_at"].isoformat(),
                "category": doc["category"],
                "category_label": CATEGORY_LABELS[Category(doc["category"])],
                "html": str(body_html(doc["body"])),
            }
            for doc in items
        ]
        updated = entries[0]["updated"] if entries else utcnow().isoformat()
        return templates.TemplateResponse(
            request,
            "feed.atom.xml",
            context(request, entries=entries, updated=updated),
            media_type="application/atom+xml",
        )

    @router.get(
        "/sitemap.xml", response_class=Response, responses={200: {"content": {"application/xml": {}}}}
    )
    async def sitemap(request: Request) -> Response:
        items = await request.app.state.store.portal_page({}, 0, 50_000)
        return templates.TemplateResponse(
            request, "sitemap.xml", context(request, items=items), media_type="application/xml"
        )

    return router
