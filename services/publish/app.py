"""Publish's wiring: the portal routes, the event consumer, and the publication worker."""

import httpx
from fastapi import FastAPI

from services.publish import handlers, portal
from services.publish.channels import HttpPush, PortalSite
from services.publish.store import PublicationStore
from shared.broker import create_broker
from shared.service import ServiceSpec, create_app, subscribe
from shared.settings import Settings
from shared.wakeup import Wakeup


def build(settings: Settings) -> FastAPI:
    wake = Wakeup(1.0)

    async def prepare(app: FastAPI) -> None:
        app.state.store = store = PublicationStore(app.state.db)
        await store.prepare()
        app.state.http = httpx.AsyncClient(timeout=settings.platform_timeout_seconds)
        app.state.channels = {
            "portal": PortalSite(store.portal_items, settings.portal_base_url),
            "platform": HttpPush(app.state.http, settings.platform_url, settings.platform_secret, "platform"),
        }

    async def publication_worker(app: FastAPI) -> None:
        try:
            await handlers.work(app.state.store, app.state.channels, settings, wake, app.state.relay.wake)
        finally:
            await app.state.http.aclose()

    spec = ServiceSpec(
        name="publish",
        settings=settings,
        routers=[portal.routes()],
        prepare=prepare,
        outbox=lambda db: [db.publications],
        workers=[publication_worker],
    )
    broker = create_broker(settings)
    app = create_app(spec, broker)
    subscribe(
        broker, "publish", settings, lambda event: handlers.on_event(app.state.store, settings, wake, event)
    )
    return app
