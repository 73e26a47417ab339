"""The portal website channel (门户网站), served from this service's database so that any number
of publish replicas serve one site. Templates autoescape: a title is text, never markup; a body
is rendered and sanitised (rendering.py) before it is marked safe.

Pages and feeds answer ETag and Last-Modified, and 304 to a conditional GET (caching.py). The
feeds are paged (Atom: RFC 5005 `next`/`previous` links; JSON Feed: `next_url`), and an Atom id is
a tag URI (RFC 4151) made of GONGKAI_PORTAL_TAG_AUTHORITY, the day the item was first published
and its id: the site may move (GONGKAI_PORTAL_BASE_URL) and no reader sees an entry as new."""

import base64
import string
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from services.publish.caching import conditional
from services.publish.catalogue import CatalogueQuery
from services.publish.items import plain_text
from shared.domain import (
    CATEGORY_LABELS,
    THEME_LABELS,
    VALIDITY_LABELS,
    Category,
    Theme,
    ValidityStatus,
    china_date,
)
from shared.events import utcnow
from shared.pages import text_size_script
from shared.problems import Problem
from shared.rendering import body_html
from shared.settings import Settings

PAGE_SIZE = 20
FEED_SIZE = 50
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(Path(__file__).parent / "web" / "templates"), autoescape=True)
)
templates.env.filters["china_day"] = lambda at: china_date(
    at
).isoformat()  # the day a reader's calendar shows
# The column's sections, as county portals' 政府信息公开 columns order them.
SCHEME_NAMES = {"organisation": "机构代码", "category": "类别代码", "year": "年份", "serial": "流水号"}
SECTIONS = (
    ("", "政府信息公开"),
    ("guide", "政府信息公开指南"),
    ("catalogue", "政府信息公开目录"),
    ("reports", "政府信息公开年报"),
)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ReportYear = Annotated[int, PathParam(ge=2008, le=2100)]
Page = Annotated[int, Query(ge=1, le=10_000)]
FEED_TAG_DATE = "2019-05-15"  # the feed's own tag date: the day the revised Regulations took effect


def tag_uri(authority: str, day: str, specific: str) -> str:
    """A tag URI (RFC 4151): tag:<authority>,<day>:<specific>, independent of where the site lives."""
    return f"tag:{authority},{day}:{specific}"


def site_name(settings: Settings) -> str:
    return settings.office_name or "政府信息公开门户"


def index_scheme(template: str) -> str:
    """The 索引号 scheme as the guide explains it, e.g. 机构代码-类别代码-年份-流水号."""
    parts = string.Formatter().parse(template)
    return "".join(literal + (SCHEME_NAMES[name] if name else "") for literal, name, _, _ in parts)


def validity_text(validity: dict | None) -> str | None:
    """有效性 as the 信息索引 table writes it: the status, and the day of its last change."""
    if not validity:
        return None
    status = ValidityStatus(validity["status"])
    day = {
        ValidityStatus.VALID: ("effective_from", "起施行"),
        ValidityStatus.EXPIRED: ("expires_on", ""),
        ValidityStatus.REPEALED: ("repealed_on", ""),
    }[status]
    when = validity.get(day[0])
    text = VALIDITY_LABELS[status] + (f"（{when}{day[1]}）" if when else "")
    if status == ValidityStatus.VALID and validity.get("expires_on"):
        text += f"，有效期至{validity['expires_on']}"
    return text


def routes() -> APIRouter:
    router = APIRouter(prefix="/portal", tags=["portal"])

    def context(request: Request, section: str = "", **extra) -> dict:
        settings = request.app.state.settings
        return {
            "site_name": site_name(settings),
            "office_name": settings.office_name,
            "contact": settings.office_contact,
            "identity": settings.site_identity,
            "base_url": settings.portal_base_url.rstrip("/"),
            "categories": [(c.value, label) for c, label in CATEGORY_LABELS.items()],
            "sections": SECTIONS,
            "section": section,
            **extra,
        }

    async def listing(request: Request, query: dict, page: int, heading: str) -> Response:
        store = request.app.state.store
        items = await store.portal_page(query, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        response = templates.TemplateResponse(
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
        return conditional(request, response, await store.portal_changed_at())

    @router.get("/static/textsize.js", include_in_schema=False)
    async def text_size():
        return text_size_script()

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

    @router.get("/guide", response_class=HTMLResponse)
    async def guide(request: Request):
        """政府信息公开指南 (Art. 12): the office's contact from settings, its deadlines and 索引号 scheme."""
        settings = request.app.state.settings
        deadlines = [(CATEGORY_LABELS[c], days) for c, days in settings.stats_deadlines.items()]
        page = context(
            request,
            "guide",
            trail=[("", "政府信息公开指南")],
            default_deadline=settings.stats_on_time_working_days,
            deadlines=deadlines,
            index_scheme=index_scheme(settings.index_number_format),
        )
        return templates.TemplateResponse(request, "guide.html", page)

    @router.get("/catalogue", response_class=HTMLResponse)
    async def catalogue(request: Request, query: Annotated[CatalogueQuery, Query()]):
        """政府信息公开目录: the public items narrowed by category, theme, department and year of
        publication, and searched in title, text, 文号 and 索引号."""
        store = request.app.state.store
        found, page = query.filter(), query.page
        items = await store.portal_page(found, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        first = await store.portal_first_published()
        years = range(china_date(utcnow()).year, china_date(first).year - 1, -1) if first else ()
        departments = sorted((await store.portal_departments()).items(), key=lambda d: d[1])
        response = templates.TemplateResponse(
            request,
            "catalogue.html",
            context(
                request,
                "catalogue",
                trail=[("", "政府信息公开目录")],
                query=query,
                items=items[:PAGE_SIZE],
                total=await store.portal_count(found),
                page=page,
                has_next=len(items) > PAGE_SIZE,
                themes=[(t.value, label) for t, label in THEME_LABELS.items()],
                departments=departments,
                years=years,
            ),
        )
        return conditional(request, response, await store.portal_changed_at())

    @router.get("/reports", response_class=HTMLResponse)
    async def reports(request: Request):
        """政府信息公开年报: every final annual report, newest year first, as stats made it final."""
        found = await request.app.state.store.annual_report_list()
        page = context(request, "reports", trail=[("", "政府信息公开年报")], reports=found)
        return templates.TemplateResponse(request, "reports.html", page)

    @router.get(
        "/reports/{year}",
        response_class=HTMLResponse,
        responses={200: {"content": {"text/markdown": {}, DOCX: {}}}},
    )
    async def report(request: Request, year: ReportYear, format: Literal["html", "md", "docx"] = "html"):
        """A year's final report exactly as it was frozen: the HTML document (A4 print style), its
        Markdown, or its Word file."""
        found = await request.app.state.store.annual_report(year)
        if found is None:
            raise Problem(404, "Not found", f"No annual report for {year} has been published.")
        if format == "docx":
            headers = {"Content-Disposition": f"attachment; filename={year}-annual-report.docx"}
            return Response(base64.b64decode(found.docx), media_type=DOCX, headers=headers)
        if format == "md":
            return Response(found.markdown, media_type="text/markdown; charset=utf-8")
        return HTMLResponse(found.html)

    @router.get("/items/{submission_id}", response_class=HTMLResponse)
    async def item(request: Request, submission_id: str):
        doc = await request.app.state.store.portal_item(submission_id)
        if doc is None:
            raise Problem(404, "Not found", "No such item on the portal.")
        if doc["state"] == "withdrawn":
            withdrawn_at = china_date(doc["withdrawn_at"]).isoformat()
            return templates.TemplateResponse(
                request, "gone.html", context(request, withdrawn_at=withdrawn_at), 410
            )
        page = templates.TemplateResponse(
            request,
            "item.html",
            context(
                request,
                "catalogue",
                trail=[
                    ("catalogue", "政府信息公开目录"),
                    (f"catalogue?category={doc['category']}", CATEGORY_LABELS[Category(doc["category"])]),
                    ("", "正文"),
                ],
                item=doc,
                body=body_html(doc["body"]),
                category=CATEGORY_LABELS[Category(doc["category"])],
                theme=THEME_LABELS[Theme(doc["theme"])] if doc.get("theme") else None,
                validity=validity_text(doc.get("validity")),
            ),
        )
        return conditional(request, page, doc["updated_at"])

    async def feed_page(request: Request, page: int) -> tuple[list[dict], bool]:
        """A feed page's items, newest first, and whether an older page follows."""
        items = await request.app.state.store.portal_page({}, (page - 1) * FEED_SIZE, FEED_SIZE + 1)
        return items[:FEED_SIZE], len(items) > FEED_SIZE

    @router.get(
        "/feed.json", response_class=JSONResponse, responses={200: {"content": {"application/feed+json": {}}}}
    )
    async def feed_json(request: Request, page: Page = 1) -> Response:
        """JSON Feed 1.1 of the public items, newest first, 50 a page (`next_url` to the next)."""
        base = context(request)["base_url"]
        items, has_next = await feed_page(request, page)
        feed = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": site_name(request.app.state.settings),
            "home_page_url": f"{base}/portal/",
            "feed_url": f"{base}/portal/feed.json",
            "language": "zh-CN",
            "items": [
                {
                    "id": doc["_id"],
                    "url": f"{base}/portal/items/{doc['_id']}",
                    "title": doc["title"],
                    "content_html": str(body_html(doc["body"])),
                    "content_text": plain_text(doc["body"]),
                    "date_published": doc["published_at"].isoformat(),
                    "date_modified": doc["updated_at"].isoformat(),
                    "tags": [CATEGORY_LABELS[Category(doc["category"])]],
                    "authors": [{"name": doc["department_name"]}],
                }
                for doc in items
            ],
        }
        if has_next:
            feed["next_url"] = f"{base}/portal/feed.json?page={page + 1}"
        response = JSONResponse(feed, media_type="application/feed+json")
        return conditional(request, response, await request.app.state.store.portal_changed_at())

    @router.get(
        "/feed.atom", response_class=Response, responses={200: {"content": {"application/atom+xml": {}}}}
    )
    async def feed_atom(request: Request, page: Page = 1) -> Response:
        """Atom (RFC 4287) feed of the public items, newest first, 50 a page, paged as RFC 5005
        says (`first`, `next`, `previous` links); entry ids are tag URIs that never change."""
        authority = request.app.state.settings.portal_tag_authority
        items, has_next = await feed_page(request, page)
        entries = [
            {
                "id": tag_uri(
                    authority, doc["published_at"].strftime("%Y-%m-%d"), f"portal/items/{doc['_id']}"
                ),
                "link": doc["_id"],
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
        changed = await request.app.state.store.portal_changed_at()
        updated = (changed or utcnow()).isoformat()  # a withdrawal changes the feed too
        response = templates.TemplateResponse(
            request,
            "feed.atom.xml",
            context(
                request,
                feed_id=tag_uri(authority, FEED_TAG_DATE, "portal"),
                entries=entries,
                updated=updated,
                page=page,
                has_next=has_next,
            ),
            media_type="application/atom+xml",
        )
        return conditional(request, response, changed)

    @router.get(
        "/sitemap.xml", response_class=Response, responses={200: {"content": {"application/xml": {}}}}
    )
    async def sitemap(request: Request) -> Response:
        items = await request.app.state.store.portal_page({}, 0, 50_000)
        response = templates.TemplateResponse(
            request, "sitemap.xml", context(request, items=items), media_type="application/xml"
        )
        return conditional(request, response, await request.app.state.store.portal_changed_at())

    return router
