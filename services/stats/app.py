"""Stats' wiring: the figures API, the annual report, the dashboard and the event consumer."""

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from services.stats import handlers
from services.stats.domain import EARLIEST_YEAR, LATEST_YEAR, Figures, RateRules, Scope
from services.stats.rendering import dashboard_html
from services.stats.report import AnnualReport, ReportInputs
from services.stats.store import StatsStore
from shared import problems
from shared.auth import Principal, requires
from shared.domain import DEPARTMENT_CODE, Category, Role, china_date
from shared.events import utcnow
from shared.pages import text_size_script
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
Year = Annotated[
    int | None, Query(ge=EARLIEST_YEAR, le=LATEST_YEAR, description="Default: this year (China)")
]
ReportYear = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
REPORT_MEDIA_TYPES = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}


class PublishedReport(BaseModel):
    year: int
    organisation: str
    title: str
    finalised_at: datetime
    formats: dict[str, str]  # format → path of the frozen report in it


class PublishedReports(BaseModel):
    items: list[PublishedReport]
    next_cursor: str | None = None  # one report a year: never more than one page


FORMATS = ("html", "docx", "md", "json")
# Events handled at once: those that arrive while a batch is written are counted in the next one.
CONSUMER_PREFETCH = 512


def _answer(report: AnnualReport, fmt: str, body: str | bytes | None, public: bool):
    if fmt == "json":
        return report
    headers = {"Cache-Control": "public, max-age=3600"} if public else {"Cache-Control": "no-store"}
    if fmt == "docx":
        name = quote(f"{report.title}.docx")
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
        return Response(body, media_type=DOCX, headers=headers)
    return Response(body, media_type=REPORT_MEDIA_TYPES[fmt], headers=headers)


def store_of(request: Request) -> StatsStore:
    return request.app.state.store


def rules_of(request: Request) -> RateRules:
    settings: Settings = request.app.state.settings
    return RateRules(
        on_time_working_days=settings.stats_on_time_working_days,
        deadlines={category.value: days for category, days in settings.stats_deadlines.items()},
        disclosure_base=settings.stats_disclosure_rate_base,
    )


def office_of(request: Request) -> handlers.Office:
    settings: Settings = request.app.state.settings
    return handlers.Office(settings.office_name, settings.office_level)


Store = Annotated[StatsStore, Depends(store_of)]
Rules = Annotated[RateRules, Depends(rules_of)]
OfficeOf = Annotated[handlers.Office, Depends(office_of)]


def _this_year() -> int:
    return china_date(utcnow()).year


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["statistics"])

    @router.get("/stats", response_model=Figures)
    async def stats(
        store: Store,
        rules: Rules,
        year: Year = None,
        month: Annotated[int | None, Query(ge=1, le=12)] = None,
        department: Annotated[str | None, Query(pattern=DEPARTMENT_CODE)] = None,
        category: Category | None = None,
    ) -> Figures:
        """The year's figures (public read), optionally narrowed to a month, a department and a
        category. An item counts in the year (and month) it was published."""
        scope = Scope(year or _this_year(), month, department, category.value if category else None)
        return await handlers.figures_of(store, scope, rules)

    @router.get(
        "/reports/annual",
        response_model=AnnualReport,
        responses={200: {"content": {"text/markdown": {}, "text/html": {}, DOCX: {}}}},
        openapi_extra={problems.ALSO_ANSWERS: [409]},
    )
    async def annual_report(
        store: Store,
        rules: Rules,
        office: OfficeOf,
        _: Operator,
        year: Year = None,
        format: handlers.Format = "json",
    ):
        """The annual report (政府信息公开工作年度报告, V2021) as JSON, Markdown, HTML or Word: the
        final one as it was frozen, else a draft written from today's figures (`state`). A draft
        is refused with 409, naming each cell and rule, while the year's inputs break a check rule
        (last year's, or the figures, may have changed since) or the office has no name."""
        today = china_date(utcnow())
        report, body = await handlers.annual(store, year or _this_year(), format, rules, today, office)
        return _answer(report, format, body, public=False)

    @router.get("/reports/annual/{year}/inputs", response_model=ReportInputs)
    async def report_inputs(store: Store, _: Operator, year: ReportYear) -> ReportInputs:
        """What the operator entered for the year (defaults where nothing was entered)."""
        return await handlers.inputs_of(store, year)

    @router.put("/reports/annual/{year}/inputs", response_model=ReportInputs)
    async def put_report_inputs(
        store: Store, rules: Rules, office: OfficeOf, _: Operator, year: ReportYear, inputs: ReportInputs
    ) -> ReportInputs:
        """Tables B and C, fees, 本年处理决定数量 as the office counts it, the narrative sections: what
        the pipeline cannot know. Every check rule of the form is enforced, and rows the office
        cannot have (规章 below the prefecture level) are refused: 422 naming the cell. Once the
        year's report is final, 409."""
        return await handlers.save_inputs(store, year, inputs, rules, office)

    @router.post("/reports/annual/{year}/final", response_model=AnnualReport)
    async def finalise_report(
        store: Store, rules: Rules, office: OfficeOf, operator: Operator, year: ReportYear
    ) -> AnnualReport:
        """Make the year's report final (定稿): once the year is over, every check rule is kept,
        the office is named and section 五 is written (else 409 naming each). It is frozen as
        rendered and published at `GET /v1/reports/annual/{year}/final` for the portal's 年报
        page; a second attempt is 409."""
        now = utcnow()
        return await handlers.finalise(store, year, operator.name, rules, china_date(now), now, office)

    @router.get(
        "/reports/annual/{year}/final",
        response_model=AnnualReport,
        responses={200: {"content": {"text/markdown": {}, "text/html": {}, DOCX: {}}}},
    )
    async def final_report(store: Store, year: ReportYear, format: handlers.Format = "json"):
        """A final annual report exactly as it was frozen (public: it is what the portal's 年报 page
        publishes); 404 while the year has none."""
        report, body = await handlers.final_report(store, year, format)
        return _answer(report, format, body, public=True)

    @router.get("/reports/published", response_model=PublishedReports)
    async def published_reports(store: Store) -> PublishedReports:
        """Every final annual report, newest year first (public): what the portal's 年报 page lists."""
        return PublishedReports(
            items=[
                PublishedReport(
                    **meta,
                    formats={f: f"/v1/reports/annual/{meta['year']}/final?format={f}" for f in FORMATS},
                )
                for meta in await handlers.final_reports(store)
            ]
        )

    return router


def dashboard() -> APIRouter:
    router = APIRouter(tags=["dashboard"])

    @router.get("/dashboard", response_class=HTMLResponse)
    async def page(store: Store, rules: Rules, year: Year = None) -> HTMLResponse:
        """The year's figures as charts. They are what `/v1/stats` answers to anyone, so the
        page asks for no token."""
        figures = await handlers.figures_of(store, Scope(year or _this_year()), rules)
        return HTMLResponse(dashboard_html(figures))

    @router.get("/dashboard/static/textsize.js", include_in_schema=False)
    async def text_size():
        return text_size_script()

    return router


def build(settings: Settings) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="stats",
            settings=settings,
            store=StatsStore,
            routers=[routes(), dashboard()],
            outbox=lambda db: [db.report_inputs],  # a final report's report.published
            handle=lambda app, event: handlers.on_event(app.state.store, event),
            prefetch=CONSUMER_PREFETCH,
        )
    )
