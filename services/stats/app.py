"""Stats' wiring: the figures API and the event consumer."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request

from services.stats import handlers
from services.stats.domain import YearFigures
from services.stats.store import StatsStore
from shared.domain import china_date
from shared.events import utcnow
from shared.service import ServiceSpec, create_app
from shared.settings import Settings


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["statistics"])

    @router.get("/stats", response_model=YearFigures)
    async def stats(
        request: Request, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
    ) -> YearFigures:
        """The year's figures (public read). An item counts in the year it was published."""
        return await handlers.year_figures(request.app.state.store, year or china_date(utcnow()).year)

    return router


def build(settings: Settings) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="stats",
            settings=settings,
            store=StatsStore,
            routers=[routes()],
            handle=lambda app, event: handlers.on_event(app.state.store, event),
        )
    )
