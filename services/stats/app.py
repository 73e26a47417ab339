"""Stats' wiring: the figures API, the annual report, the dashboard and the event consumer."""

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.stats import handlers
from services.stats.domain import EARLIEST_YEAR, LATEST_YEAR, Figures, RateRules, Scope
from services.stats.rendering import dashboard_html, report_docx, report_text
from services.stats.report import AnnualReport, ReportInputs
from services.stats.store import StatsStore
from shared.auth import Principal, requires
from shared.domain import DEPARTMENT_CODE, Category, Role, china_date
from shared.events import utcnow
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
Year = Annotated[
    int | None, Query(ge=EARLIEST_YEAR, le=LATEST_YEAR, description="Default: this year (China)")
]
ReportYear = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
REPORT_FORMATS = {
    "md": ("report.md", "text/markdown; charset=utf-8"),
    "html": ("report.html", "text/html; charset=utf-8"),
}


def store_of(request: Request) -> StatsStore:
    return request.app.state.store


def rules_of(request: Request) -> RateRules:
    settings: Settings = request.app.state.settings
    return RateRules(
        on_time_working_days=settings.stats_on_time_working_days,
        deadlines={category.value: days for category, days in settings.stats_deadlines.items()},
        disclosure_base=settings.stats_disclosure_rate_base,
    )


Store = Annotated[StatsStore, Depends(store_of)]
Rules = Annotated[RateRules, Depends(rules_of)]


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
    )
    async def annual_report(
        store: Store,
        rules: Rules,
        _: Operator,
        year: Year = None,
        format: Literal["json", "md", "html", "docx"] = "json",
    ):
        """The annual report (政府信息公开工作年度报告, V2021) as JSON, Markdown, HTML or Word. Refused
        with 422, naming each cell and rule, while the year's inputs break a check rule."""
        report = await handlers.annual(store, year or _this_year(), rules, china_date(utcnow()))
        if format == "json":
            return report
        if format == "docx":
            name = quote(f"{report.organisation}{report.year}年政府信息公开工作年度报告.docx")
            return Response(
                report_docx(report),
                media_type=DOCX,
                headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
            )
        template, media_type = REPORT_FORMATS[format]
        return Response(report_text(report, template), media_type=media_type)

    @router.get("/reports/annual/{year}/inputs", response_model=ReportInputs)
    async def report_inputs(store: Store, _: Operator, year: ReportYear) -> ReportInputs:
        """What the operator entered for the year (defaults where nothing was entered)."""
        return await handlers.inputs_of(store, year)

    @router.put("/reports/annual/{year}/inputs", response_model=ReportInputs)
    async def put_report_inputs(
        store: Store, _: Operator, year: ReportYear, inputs: ReportInputs
    ) -> ReportInputs:
        """Tables B and C, fees, the narrative sections: what the pipeline cannot know. Every
        check rule of the form is enforced; a broken one is answered 422 naming the cell."""
        return await handlers.save_inputs(store, year, inputs)

    return router


def dashboard() -> APIRouter:
    router = APIRouter(tags=["dashboard"])

    @router.get("/dashboard", response_class=HTMLResponse)
    async def page(store: Store, rules: Rules, year: Year = None) -> HTMLResponse:
        """The year's figures as charts. They are what `/v1/stats` answers to anyone, so the
        page asks for no token."""
        figures = await handlers.figures_of(store, Scope(year or _this_year()), rules)
        return HTMLResponse(dashboard_html(figures))

    return router


def build(settings: Settings) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="stats",
            settings=settings,
            store=StatsStore,
            routers=[routes(), dashboard()],
            handle=lambda app, event: handlers.on_event(app.state.store, event),
        )
    )
