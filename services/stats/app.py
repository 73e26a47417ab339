"""Stats' wiring: the figures API and the event consumer."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request

from services.stats import handlers
from services.stats.domain import YearFigures
from services.stats.store import StatsStore
from shared.broker import create_broker
from shared.service import ServiceSpec, create_app, subscribe
from shared.settings import Settings


def routes() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["statistics"])

    @router.get("/stats", response_model=YearFigures)
    async def stats(
        request: Request, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
    ) -> YearFigures:
        """The year's figures (public read). An item counts in the year it was published."""
        return await handlers.year_figures(request.app.state.store, year or date.today().year)

    return router


def build(settings: Settings) -> FastAPI:
    async def prepare(app: FastAPI) -> None:
        app.state.store = StatsStore(app.state.db)
        await app.state.store.prepare()

    spec = ServiceSpec(name="stats", settings=settings, routers=[routes()], prepare=prepare)
    broker = create_broker(settings)
    app = create_app(spec, broker)
    subscribe(broker, "stats", settings, lambda event: handlers.on_event(app.state.store, event))
    return app
