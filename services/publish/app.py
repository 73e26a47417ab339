"""Publish's wiring: the portal routes, the event consumer, and the publication worker."""

import httpx
from fastapi import FastAPI

from services.publish import handlers, portal
from services.publish.channels import HttpPush, PortalSite
from services.publish.store import PublicationStore
from shared.service import ServiceSpec, create_app
from shared.settings import Settings
from shared.wakeup import Wakeup


def build(settings: Settings) -> FastAPI:
    wake = Wakeup(1.0)

    async def connect_channels(app: FastAPI) -> None:
        app.state.http = httpx.AsyncClient(timeout=settings.platform_timeout_seconds)
        app.state.channels = {
            "portal": PortalSite(app.state.store.portal_items, settings.portal_base_url),
            "platform": HttpPush(app.state.http, settings.platform_url, settings.platform_secret, "platform"),
        }

    async def publication_worker(app: FastAPI) -> None:
        try:
            await handlers.work(app.state.store, app.state.channels, settings, wake, app.state.relay.wake)
        finally:
            await app.state.http.aclose()

    return create_app(
        ServiceSpec(
            name="publish",
            settings=settings,
            store=PublicationStore,
            routers=[portal.routes()],
            prepare=connect_channels,
            outbox=lambda db: [db.publications],
            workers=[publication_worker],
            handle=lambda app, event: handlers.on_event(app.state.store, settings, wake, event),
        )
    )
