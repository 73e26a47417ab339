"""Publish's wiring: the portal and republishing routes, the event consumer, the publication and
subscription workers, and the relays of the feed and of given-up approvals."""

import httpx
from fastapi import FastAPI

from services.publish import handlers, portal, republishing
from services.publish.channels import configured_channels
from services.publish.store import PublicationStore
from shared.broker import dead_letter
from shared.observability import Figure
from shared.outbox import DEAD_LETTERS, FEED, ITEMS, Relay
from shared.service import ServiceSpec, create_app
from shared.settings import Settings
from shared.wakeup import Wakeup


def build(settings: Settings) -> FastAPI:
    wake = Wakeup(1.0)
    deliveries_due = Wakeup(1.0)

    async def publication_worker(app: FastAPI) -> None:
        """Brings each due publication to where it is wanted, through the channels configured."""
        async with httpx.AsyncClient(timeout=settings.platform_timeout_seconds) as http:
            channels = configured_channels(settings, http, app.state.store.portal_items)
            await handlers.work(app.state.store, channels, settings, wake, lambda: settled(app))

    async def subscription_worker(app: FastAPI) -> None:
        """Delivers the feed to every webhook subscription, signed, retried, logged."""
        async with httpx.AsyncClient(timeout=settings.platform_timeout_seconds) as http:
            await handlers.deliver_to_subscribers(app.state.store, http, settings, deliveries_due)

    def settled(app: FastAPI) -> None:
        app.state.relay.wake()
        app.state.item_relay.wake()
        app.state.feed_relay.wake()
        app.state.dead_letter_relay.wake()

    async def create_relays(app: FastAPI) -> None:
        """Beside the events: each channel's change to its item, feed entries (of publications and
        of items) to the ledger, given-up approvals to the DLQ."""

        async def append(entry: dict) -> None:
            await app.state.store.feed.append(entry)
            deliveries_due.set()  # subscribers hear of it at once

        async def give_up(staged: dict) -> None:
            await dead_letter(app.state.broker, settings, "publish", staged["message"], staged["reason"])

        async def fold(change: dict) -> None:
            await app.state.store.items.apply(change)
            app.state.feed_relay.wake()  # the item's own entry, if the change announced one

        publications, items = [app.state.db.publications], [app.state.db.items]
        app.state.item_relay = Relay(ITEMS, fold, publications, settings.outbox_poll_seconds)
        app.state.feed_relay = Relay(FEED, append, publications + items, settings.outbox_poll_seconds)
        app.state.dead_letter_relay = Relay(DEAD_LETTERS, give_up, publications, settings.outbox_poll_seconds)

    async def subscriber_lag(app: FastAPI) -> list[Figure]:
        return await handlers.subscriber_lag(app.state.store)

    async def item_relay(app: FastAPI) -> None:
        await app.state.item_relay.run()

    async def feed_relay(app: FastAPI) -> None:
        await app.state.feed_relay.run()

    async def dead_letter_relay(app: FastAPI) -> None:
        await app.state.dead_letter_relay.run()

    app = create_app(
        ServiceSpec(
            name="publish",
            settings=settings,
            store=lambda db: PublicationStore(db, settings),
            routers=[
                portal.routes(),
                republishing.item_routes(),
                republishing.routes(),
                republishing.subscription_routes(),
            ],
            outbox=lambda db: [db.publications],
            prepare=create_relays,
            workers=[item_relay, feed_relay, dead_letter_relay, publication_worker, subscription_worker],
            handle=lambda app, event: handlers.on_event(app.state.store, settings, wake, event),
            figures=[subscriber_lag],
        )
    )
    republishing.document_webhooks(app)
    return app
